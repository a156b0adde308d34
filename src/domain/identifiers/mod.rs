//! Swedish identifiers used by both principals, each a newtype built only by parsing.

mod hsa_id;
mod kommunkod;
mod luhn;
mod organisation_number;
mod person;
mod reserve_number;

pub use hsa_id::{HsaId, HsaIdError};
pub use kommunkod::{Kommunkod, KommunkodError};
pub use organisation_number::{OrganisationNumber, OrganisationNumberError};
pub use person::{CivicNumberError, PersonId, Personnummer, Samordningsnummer};
pub use reserve_number::{ReserveNumber, ReserveNumberError};

/// OID/URI identifier systems used when these identifiers travel in FHIR or RIV-TA.
pub mod systems {
    /// Personnummer in FHIR (HL7 Sweden base profiles).
    pub const PERSONNUMMER: &str = "http://electronichealth.se/identifier/personnummer";
    /// Samordningsnummer in FHIR (HL7 Sweden base profiles).
    pub const SAMORDNINGSNUMMER: &str = "http://electronichealth.se/identifier/samordningsnummer";
    /// National reserve identity (NRID), OID of the national person-data service.
    pub const NATIONAL_RESERVE_NUMBER: &str = "urn:oid:1.2.752.74.9.1";
    /// HSA-id as used in HL7 Sweden profiles.
    pub const HSA_ID: &str = "urn:oid:1.2.752.29.4.19";
    /// HSA-id as used by the national platform (accepted as an alias).
    pub const HSA_ID_NATIONAL_PLATFORM: &str = "urn:oid:1.2.752.129.2.1.4.1";
    /// Swedish organisation number.
    pub const ORGANISATION_NUMBER: &str = "urn:oid:2.5.4.97";
    /// Municipality code (SCB).
    pub const KOMMUNKOD: &str = "urn:oid:1.2.752.129.2.2.1.17";
}
