//! The national service contract RIV-TA `clinicalprocess:logistics:logistics` GetCarePlans 2
//! (SOAP 1.1, RIV-TA Basic Profile 2.1): the request read and checked against the contract's
//! schema (`mappings/riv/schemas/`), the response and SOAP faults written. No IO; what is
//! answered and to whom is decided by the caller. `mappings/riv/README.md` has the mapping.

mod plans;
mod request;
mod response;

pub use plans::{CasePlans, Parties, wanted};
pub use request::{GetCarePlans, RequestError, decode_request, decode_sent_request};
pub use response::{
    Author, CarePlan, Content, ResultCode, RivResult, encode_fault, encode_response, response_body,
};

/// SOAP 1.1 envelope.
pub const SOAP_ENVELOPE: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The RIV-TA addressing header (`LogicalAddress`).
pub const REGISTRY: &str = "urn:riv:itintegration:registry:1";
/// The service's request and response elements.
pub const RESPONDER: &str = "urn:riv:clinicalprocess:logistics:logistics:GetCarePlansResponder:2";
/// The domain's common types (their local elements are in this namespace).
pub const CORE: &str = "urn:riv:clinicalprocess:logistics:logistics:3";
/// The SOAP action a consumer sends.
pub const SOAP_ACTION: &str =
    "urn:riv:clinicalprocess:logistics:GetCarePlansResponder:2:GetCarePlans";

/// Person identifier types of the national platform (`patientId/type`).
pub mod person_types {
    /// Personnummer.
    pub const PERSONNUMMER: &str = "1.2.752.129.2.1.3.1";
    /// Samordningsnummer.
    pub const SAMORDNINGSNUMMER: &str = "1.2.752.129.2.1.3.3";
}

/// The root of an HSA-id written as an `IIType`.
pub const HSA_ID_ROOT: &str = "1.2.752.129.2.1.4.1";
