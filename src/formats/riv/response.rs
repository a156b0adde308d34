//! Writing a GetCarePlans response: the plans as `CarePlanType` (header and body in the
//! schema's order), the `result`, the SOAP envelope; and SOAP faults for requests that cannot
//! be answered.

use base64::Engine;
use jiff::Timestamp;
use quick_xml::escape::partial_escape;

use super::{CORE, HSA_ID_ROOT, RESPONDER, SOAP_ENVELOPE, person_types};
use crate::domain::event::PlanType;
use crate::domain::identifiers::{HsaId, PersonId, systems};
use crate::domain::time::stockholm;

/// Who wrote a plan (`accountableHealthcareProfessional`).
#[derive(Debug, Clone, PartialEq)]
pub struct Author {
    pub time: Timestamp,
    pub hsa_id: Option<HsaId>,
    pub name: Option<String>,
    pub care_unit: Option<HsaId>,
    pub care_giver: Option<HsaId>,
}

/// A plan's content (`MultimediaType`): its media type and the bytes, written in base64.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub id: Option<String>,
    /// One of the contract's `MediaTypeEnum` values (`text/plain`, `text/xml`, …).
    pub media_type: &'static str,
    pub value: Vec<u8>,
}

/// One plan as the contract carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct CarePlan {
    pub document_id: String,
    pub source_system: HsaId,
    pub title: Option<String>,
    pub document_time: Option<Timestamp>,
    pub patient: PersonId,
    pub author: Author,
    pub approved_for_patient: bool,
    /// A plan withdrawn after it was made (its later version, or the case cancelled).
    pub nullified: Option<String>,
    pub care_contact_id: Option<String>,
    pub content: Vec<Content>,
    pub participating_care_units: Vec<HsaId>,
    pub plan_type: Option<PlanType>,
}

/// `ResultCodeEnum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCode {
    Ok,
    Info,
    Error,
}

/// The response's `result`.
#[derive(Debug, Clone, PartialEq)]
pub struct RivResult {
    pub code: ResultCode,
    /// `INVALID_REQUEST`, the contract's only error code, for an `Error` the consumer caused.
    pub invalid_request: bool,
    /// The audit record's id, so both sides can find the read.
    pub log_id: String,
    pub sub_code: Option<String>,
    pub message: Option<String>,
}

struct Writer {
    out: String,
}

impl Writer {
    fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    fn text(&mut self, name: &str, text: &str) {
        self.open(name);
        self.out.push_str(&partial_escape(text));
        self.close(name);
    }

    fn optional(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.text(name, text);
        }
    }
}

/// `TimeStampType`: `YYYYMMDDhhmmss`, Swedish time.
fn timestamp(at: Timestamp) -> String {
    at.to_zoned_datetime(stockholm())
        .strftime("%Y%m%d%H%M%S")
        .to_string()
}

fn person(w: &mut Writer, name: &str, id: &PersonId) {
    let (digits, kind) = match id {
        PersonId::Personnummer(p) => (p.as_digits(), person_types::PERSONNUMMER),
        PersonId::Samordningsnummer(s) => (s.as_digits(), person_types::SAMORDNINGSNUMMER),
        // Not asked for by the contract's consumers; the reserve number's own system.
        PersonId::ReserveNumber(r) => (
            r.as_str().to_owned(),
            systems::NATIONAL_RESERVE_NUMBER.trim_start_matches("urn:oid:"),
        ),
    };
    w.open(name);
    w.text("c:id", &digits);
    w.text("c:type", kind);
    w.close(name);
}

fn plan_type(plan_type: PlanType) -> &'static str {
    match plan_type {
        PlanType::Sip => "SIP",
        PlanType::Spu => "SPU",
        PlanType::Splptlrv => "SPLPTLRV",
    }
}

fn care_plan(w: &mut Writer, plan: &CarePlan) {
    w.open("r:carePlan");
    w.open("c:carePlanHeader");
    w.text("c:documentId", &plan.document_id);
    w.text("c:sourceSystemHSAId", plan.source_system.as_str());
    w.optional("c:documentTitle", plan.title.as_deref());
    if let Some(at) = plan.document_time {
        w.text("c:documentTime", &timestamp(at));
    }
    person(w, "c:patientId", &plan.patient);
    let author = &plan.author;
    w.open("c:accountableHealthcareProfessional");
    w.text("c:authorTime", &timestamp(author.time));
    w.optional(
        "c:healthcareProfessionalHSAId",
        author.hsa_id.as_ref().map(HsaId::as_str),
    );
    w.optional("c:healthcareProfessionalName", author.name.as_deref());
    w.optional(
        "c:healthcareProfessionalCareUnitHSAId",
        author.care_unit.as_ref().map(HsaId::as_str),
    );
    w.optional(
        "c:healthcareProfessionalCareGiverHSAId",
        author.care_giver.as_ref().map(HsaId::as_str),
    );
    w.close("c:accountableHealthcareProfessional");
    w.text(
        "c:approvedForPatient",
        if plan.approved_for_patient {
            "true"
        } else {
            "false"
        },
    );
    if let Some(reason) = &plan.nullified {
        w.text("c:nullified", "true");
        w.text("c:nullifiedReason", reason);
    }
    w.optional("c:careContactId", plan.care_contact_id.as_deref());
    w.close("c:carePlanHeader");
    w.open("c:carePlanBody");
    for content in &plan.content {
        w.open("c:content");
        w.optional("c:id", content.id.as_deref());
        w.text("c:mediaType", content.media_type);
        w.text(
            "c:value",
            &base64::engine::general_purpose::STANDARD.encode(&content.value),
        );
        w.close("c:content");
    }
    for unit in &plan.participating_care_units {
        w.open("c:participatingCareUnitHSAId");
        w.text("c:root", HSA_ID_ROOT);
        w.text("c:extension", unit.as_str());
        w.close("c:participatingCareUnitHSAId");
    }
    if let Some(kind) = plan.plan_type {
        w.text("c:typeOfCarePlanEnum", plan_type(kind));
    }
    w.close("c:carePlanBody");
    w.close("r:carePlan");
}

/// The `GetCarePlansResponse` element alone, declaring its namespaces (what the schema
/// validates).
pub fn response_body(plans: &[CarePlan], result: &RivResult) -> String {
    let mut w = Writer {
        out: String::with_capacity(1024 + 1024 * plans.len()),
    };
    w.out.push_str(&format!(
        "<r:GetCarePlansResponse xmlns:r=\"{RESPONDER}\" xmlns:c=\"{CORE}\">"
    ));
    for plan in plans {
        care_plan(&mut w, plan);
    }
    w.open("r:result");
    w.text(
        "c:resultCode",
        match result.code {
            ResultCode::Ok => "OK",
            ResultCode::Info => "INFO",
            ResultCode::Error => "ERROR",
        },
    );
    if result.invalid_request {
        w.text("c:errorCode", "INVALID_REQUEST");
    }
    w.text("c:logId", &result.log_id);
    w.optional("c:subCode", result.sub_code.as_deref());
    w.optional("c:message", result.message.as_deref());
    w.close("r:result");
    w.close("r:GetCarePlansResponse");
    w.out
}

/// A whole SOAP 1.1 response carrying `plans` and `result`.
pub fn encode_response(plans: &[CarePlan], result: &RivResult) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"{SOAP_ENVELOPE}\"><soap:Body>{}</soap:Body></soap:Envelope>",
        response_body(plans, result)
    )
}

/// A SOAP 1.1 fault: `client` for a request the consumer must correct, otherwise a fault of
/// the producer (`Server`).
pub fn encode_fault(client: bool, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"{SOAP_ENVELOPE}\"><soap:Body><soap:Fault><faultcode>soap:{}</faultcode><faultstring>{}</faultstring></soap:Fault></soap:Body></soap:Envelope>",
        if client { "Client" } else { "Server" },
        partial_escape(message)
    )
}
