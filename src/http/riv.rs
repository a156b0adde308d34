//! The producer of the national platform's GetCarePlans 2 (RIV-TA Basic Profile 2.1, SOAP 1.1):
//! `POST /riv/clinicalprocess/logistics/logistics/GetCarePlans/2/rivtabp21`.
//!
//! The consumer is known by its client certificate alone: issued under the platform's trust
//! anchors (`riv.trust_anchors_file`), its subject naming the consuming system's HSA-id
//! (`serialNumber`, else `CN`), which the clients file registers (`hsa_id`) with the
//! organisation it reads as and its scopes (`CarePlan` search). The request is checked as the
//! schema has it and addressed to the gateway (`LogicalAddress` = `riv.hsa_id`); the person's
//! cases are read as that organisation may read them — the same disclosure decision and audit
//! as `GET /fhir/CarePlan` — and what is answered is audited once more, under the `logId` the
//! response carries. A person with protected identity gets no plans through the contract;
//! plans the decision withholds (no consent, an objection) are left out and the result says
//! so (`INFO`), as the platform tells of blocked information. Everything the consumer must
//! correct is a SOAP fault (`soap:Client`, HTTP 500 as SOAP 1.1 has it).
//!
//! A consumer may call directly, or through the national service platform: a client marked
//! `platform` (known by its own certificate the same way) names the consuming system in
//! `x-rivta-original-serviceconsumer-hsaid`, and the read is that consumer's. No one else may
//! name a consumer.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use x509_cert::der::{Decode, Tag, Tagged};

use super::router::AppState;
use super::tls::Peer;
use crate::auth::Interaction;
use crate::changes::AuditEntry;
use crate::config::RivSettings;
use crate::domain::identifiers::HsaId;
use crate::formats::riv;

/// The RIV-TA header in which the national service platform names the consumer it calls for.
pub const ORIGINAL_CONSUMER: &str = "x-rivta-original-serviceconsumer-hsaid";

/// Where the contract is served.
pub const PATH: &str = "/riv/clinicalprocess/logistics/logistics/GetCarePlans/2/rivtabp21";

/// The producer: the gateway's HSA-id and the verifier of consumer certificates.
#[derive(Clone)]
pub struct Producer {
    pub hsa_id: HsaId,
    /// Unset (`riv.trust_anchors_file` missing, which `check-config` refuses): no consumer
    /// is admitted.
    anchors: Option<Arc<dyn ClientCertVerifier>>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("hsa_id", &self.hsa_id)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// The producer `settings` configure, if the contract is served; files resolved with
    /// `resolve`.
    pub fn new(
        settings: &RivSettings,
        resolve: impl Fn(&std::path::Path) -> std::path::PathBuf,
    ) -> Result<Option<Producer>, String> {
        let Some(hsa_id) = settings.producer() else {
            return Ok(None);
        };
        let Some(file) = settings.trust_anchors_file.as_deref().map(resolve) else {
            return Ok(Some(Producer {
                hsa_id,
                anchors: None,
            }));
        };
        let mut roots = rustls::RootCertStore::empty();
        super::tls::trust_anchors(&file)
            .and_then(|anchors| super::tls::root_store(anchors, &mut roots, &file))
            .map_err(|e| format!("riv.trust_anchors_file {e}"))?;
        let anchors = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .build()
        .map_err(|e| format!("riv.trust_anchors_file {}: {e}", file.display()))?;
        Ok(Some(Producer {
            hsa_id,
            anchors: Some(anchors),
        }))
    }

    /// The consuming system's HSA-id, from a certificate chain issued under the platform's
    /// trust anchors.
    fn consumer(&self, chain: &[CertificateDer<'static>]) -> Result<HsaId, String> {
        let (end_entity, intermediates) = chain
            .split_first()
            .ok_or("no client certificate was presented; the contract is served over mutual TLS")?;
        let anchors = self
            .anchors
            .as_ref()
            .ok_or("no consumer is admitted: riv.trust_anchors_file is not configured")?;
        anchors
            .verify_client_cert(end_entity, intermediates, UnixTime::now())
            .map_err(|e| {
                format!("the client certificate is not one of the national platform's: {e}")
            })?;
        subject_hsa_id(end_entity)
    }
}

/// The HSA-id a certificate's subject names: its `serialNumber` (as the platform's function
/// certificates carry it), else its `CN`.
pub fn subject_hsa_id(der: &[u8]) -> Result<HsaId, String> {
    const SERIAL_NUMBER: x509_cert::der::oid::ObjectIdentifier =
        x509_cert::der::oid::ObjectIdentifier::new_unwrap("2.5.4.5");
    const COMMON_NAME: x509_cert::der::oid::ObjectIdentifier =
        x509_cert::der::oid::ObjectIdentifier::new_unwrap("2.5.4.3");
    let certificate = x509_cert::Certificate::from_der(der)
        .map_err(|e| format!("the client certificate cannot be read: {e}"))?;
    let attribute = |oid| {
        certificate
            .tbs_certificate
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .filter(|atv| atv.oid == oid)
            .filter(|atv| {
                matches!(
                    atv.value.tag(),
                    Tag::PrintableString | Tag::Utf8String | Tag::Ia5String
                )
            })
            .find_map(|atv| std::str::from_utf8(atv.value.value()).ok())
    };
    for text in [attribute(SERIAL_NUMBER), attribute(COMMON_NAME)]
        .into_iter()
        .flatten()
    {
        if let Ok(id) = HsaId::parse(text.trim()) {
            return Ok(id);
        }
    }
    Err("the client certificate's subject names no HSA-id (serialNumber or CN)".to_owned())
}

fn fault(client: bool, message: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        )],
        riv::encode_fault(client, message),
    )
        .into_response()
}

/// A consumer refused before anything was read: audited (who, as far as the certificate says,
/// and why), then answered with a fault.
async fn refused(state: &AppState, who: Option<&HsaId>, problem: String) -> Response {
    let entry = AuditEntry {
        actor: format!(
            "riv:{}",
            who.map(HsaId::as_str).unwrap_or("unknown certificate")
        ),
        organisation: None,
        action: "refused GetCarePlans".to_owned(),
        person: None,
        purpose: "åtkomstkontroll".to_owned(),
        legal_basis: None,
        details: serde_json::json!({ "reason": problem }),
    };
    if let Err(error) = super::auth::record(state, entry).await {
        tracing::error!(%error, "a refused GetCarePlans request could not be audited");
    }
    fault(true, &problem)
}

/// `POST` of a GetCarePlans request.
pub async fn get_care_plans(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<Peer>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(producer) = state.riv.clone() else {
        return fault(
            false,
            "GetCarePlans is not served by this gateway (riv.hsa_id is not configured)",
        );
    };
    let action = headers
        .get("soapaction")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_matches('"'));
    if action != Some(riv::SOAP_ACTION) {
        return fault(
            true,
            &format!(
                "the SOAPAction header must be \"{}\" (SOAP 1.1); it was {}",
                riv::SOAP_ACTION,
                match action {
                    Some(a) => format!("{a:?}"),
                    None => "missing".to_owned(),
                }
            ),
        );
    }
    let chain = peer
        .and_then(|Extension(ConnectInfo(p))| p.chain)
        .unwrap_or_default();
    let certified = match producer.consumer(&chain) {
        Ok(consumer) => consumer,
        Err(problem) => return refused(&state, None, problem).await,
    };
    let original = match headers.get(ORIGINAL_CONSUMER) {
        None => None,
        Some(value) => match value.to_str().ok().map(|v| HsaId::parse(v.trim())) {
            Some(Ok(id)) => Some(id),
            _ => {
                let problem = format!("the {ORIGINAL_CONSUMER} header is no HSA-id");
                return refused(&state, Some(&certified), problem).await;
            }
        },
    };
    let caller = match state.auth.platform_consumer(&certified, original.as_ref()) {
        Ok(caller) => caller,
        Err(problem) => return refused(&state, Some(&certified), problem.to_string()).await,
    };
    let consumer = original.unwrap_or(certified);
    if let Err(problem) = caller.require("CarePlan", Interaction::Search) {
        return refused(&state, Some(&consumer), problem.to_string()).await;
    }
    let pipeline = &state.pipeline;
    let charset = super::cosmic_link::charset(&headers);
    let request = match riv::decode_sent_request(&body, charset, pipeline.clock.today()) {
        Ok(request) => request,
        Err(problem) => return fault(true, &problem.to_string()),
    };
    if request.logical_address != producer.hsa_id.as_str() {
        return fault(
            true,
            &format!(
                "/Envelope/Header/LogicalAddress: {:?} is not this producer's address; GetCarePlans is answered here for {}",
                request.logical_address, producer.hsa_id
            ),
        );
    }
    let read = pipeline
        .get_care_plans(&producer.hsa_id, &caller, &consumer, &request)
        .await;
    match read {
        Ok(read) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/xml; charset=utf-8"),
            )],
            riv::encode_response(&read.plans, &read.result),
        )
            .into_response(),
        Err(problem) => {
            tracing::error!(error = %problem, "GetCarePlans could not be answered");
            fault(false, "the plans could not be read; try again later")
        }
    }
}

/// The contract's service description and schemas, as shipped in `mappings/riv/schemas/`.
const WSDL: &str = include_str!(
    "../../mappings/riv/schemas/interactions/GetCarePlansInteraction/GetCarePlansInteraction_2.0_RIVTABP21.wsdl"
);
const SCHEMAS: [(&str, &str); 4] = [
    (
        "GetCarePlansResponder_2.0.xsd",
        include_str!(
            "../../mappings/riv/schemas/interactions/GetCarePlansInteraction/GetCarePlansResponder_2.0.xsd"
        ),
    ),
    (
        "clinicalprocess_logistics_logistics_3.0.xsd",
        include_str!(
            "../../mappings/riv/schemas/core_components/clinicalprocess_logistics_logistics_3.0.xsd"
        ),
    ),
    (
        "clinicalprocess_logistics_logistics_enum_3.0.xsd",
        include_str!(
            "../../mappings/riv/schemas/core_components/clinicalprocess_logistics_logistics_enum_3.0.xsd"
        ),
    ),
    (
        "itintegration_registry_1.0.xsd",
        include_str!("../../mappings/riv/schemas/core_components/itintegration_registry_1.0.xsd"),
    ),
];

/// Every `schemaLocation` of `text` pointed at this endpoint's `?xsd=<file>`, and the
/// service's address at the endpoint itself.
fn addressed(text: &str, endpoint: &str) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut rest = text;
    while let Some(at) = rest.find("schemaLocation=") {
        let value = &rest[at + "schemaLocation=".len()..];
        let Some(quote) = value.chars().next().filter(|q| *q == '"' || *q == '\'') else {
            out.push_str(&rest[..at + "schemaLocation=".len()]);
            rest = value;
            continue;
        };
        let Some(end) = value[1..].find(quote) else {
            break;
        };
        let location = &value[1..1 + end];
        let file = location.rsplit('/').next().unwrap_or(location);
        out.push_str(&rest[..at]);
        out.push_str(&format!(
            "schemaLocation={quote}{endpoint}?xsd={file}{quote}"
        ));
        rest = &value[end + 2..];
    }
    out.push_str(rest);
    out.replace(
        "location='http://tempuri.org'",
        &format!("location='{endpoint}'"),
    )
}

/// `GET …/rivtabp21?wsdl` (and `?xsd=<file>`): the service description a SOAP toolkit builds
/// its client from, with the service's address and the schemas' locations at this gateway.
/// Open: it holds the contract, nothing of anyone.
pub async fn describe(base: super::Base, uri: axum::http::Uri) -> Response {
    let endpoint = base.url(PATH);
    let query = uri.query().unwrap_or("");
    let document = if query.eq_ignore_ascii_case("wsdl") {
        Some(addressed(WSDL, &endpoint))
    } else if let Some(file) = query.strip_prefix("xsd=") {
        SCHEMAS
            .iter()
            .find(|(name, _)| *name == file)
            .map(|(_, text)| addressed(text, &endpoint))
    } else {
        None
    };
    match document {
        Some(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/xml; charset=utf-8"),
            )],
            text,
        )
            .into_response(),
        None => super::ApiError::BadRequest {
            diagnostics: format!(
                "GetCarePlans 2 is described at {endpoint}?wsdl (schemas: {}); the service itself is a SOAP POST",
                SCHEMAS
                    .iter()
                    .map(|(name, _)| format!("?xsd={name}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            expression: None,
        }
        .into_response(),
    }
}
