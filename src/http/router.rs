//! The router: the gateway's routes and the layer stack they share.

use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Router, middleware};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::metrics::{self as http_metrics, HttpMetrics};
use super::{
    audit, audit_event, auth, canonical, careplan, consent, cosmic_link, deliveries, deviations,
    health, metadata, middleware as mw, municipal, patient, riv, stats, subscription, task,
    test_clock, transaction, translate,
};
use crate::config::ServerSettings;
use crate::pipeline::Pipeline;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Pipeline,
    pub metrics: HttpMetrics,
    pub auth: std::sync::Arc<crate::auth::Authenticator>,
    /// For subscriptions made through the API: their handshakes and putting them in force.
    pub deliverer: crate::delivery::Deliverer,
    /// Where API subscriptions may send.
    pub delivery: std::sync::Arc<crate::config::DeliverySettings>,
    /// How the county's view of the statistics suppresses small figures.
    pub statistics: crate::config::StatisticsSettings,
    /// The secret of the de-identified deviation export's pseudonyms, when one is configured.
    pub pseudonym_key: Option<std::sync::Arc<Vec<u8>>>,
    /// The clock client assertions and access tokens are judged by: the gateway's, except with
    /// a test clock (`server.test_clock`), whose moves must not expire every token.
    pub auth_clock: crate::clock::Clock,
    /// The base of the absolute URLs in answers (`server.public_base_url`, trusted proxies).
    pub public_urls: std::sync::Arc<super::PublicUrls>,
    /// Whether an update must name the version it replaces (`server.require_if_match`).
    pub require_if_match: bool,
    /// Whether elements R4 does not have are kept with a warning (`server.keep_unknown_elements`)
    /// rather than refused.
    pub keep_unknown_elements: bool,
    /// The producer of the national platform's GetCarePlans 2, when `riv.hsa_id` is set.
    pub riv: Option<super::riv::Producer>,
    /// The web console's accounts and sessions.
    pub console: std::sync::Arc<super::console::Console>,
}

impl FromRef<AppState> for Pipeline {
    fn from_ref(state: &AppState) -> Pipeline {
        state.pipeline.clone()
    }
}

/// The whole HTTP surface of the gateway: its routes inside the common layer stack.
pub fn router(state: AppState, server: &ServerSettings) -> Router {
    let metrics = state.metrics.clone();
    let test_clock = server.test_clock;
    let routes = Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", {
            let (metrics, pipeline) = (metrics.clone(), state.pipeline.clone());
            let breakers = state.deliverer.breakers.clone();
            get(move || http_metrics::render(metrics.clone(), pipeline.clone(), breakers.clone()))
        })
        .route("/auth/token", post(auth::token))
        .route(
            "/.well-known/smart-configuration",
            get(auth::smart_configuration),
        )
        .route(
            "/openapi.json",
            get(move |state, base| metadata::openapi(state, base, test_clock)),
        )
        .route("/fhir", post(transaction::transaction))
        .route("/fhir/metadata", get(metadata::metadata))
        .route("/fhir/Patient", get(patient::search).post(patient::create))
        .route(
            "/fhir/Patient/{id}",
            get(patient::read).put(patient::update),
        )
        .route("/fhir/Patient/{id}/_history", get(patient::history))
        .route("/fhir/Patient/{id}/_history/{vid}", get(patient::vread))
        .route("/fhir/Task", get(task::search).post(task::create))
        .route("/fhir/Task/{id}", get(task::read).put(task::update))
        .route("/fhir/Task/{id}/_history", get(task::history))
        .route("/fhir/Task/{id}/_history/{vid}", get(task::vread))
        .route(
            "/fhir/CarePlan",
            get(careplan::search).post(careplan::create),
        )
        .route(
            "/fhir/CarePlan/{id}",
            get(careplan::read).put(careplan::update),
        )
        .route("/fhir/CarePlan/{id}/_history", get(careplan::history))
        .route("/fhir/CarePlan/{id}/_history/{vid}", get(careplan::vread))
        .route("/fhir/Consent", post(consent::create).get(consent::search))
        .route("/fhir/AuditEvent", get(audit_event::search))
        .route("/fhir/AuditEvent/{id}", get(audit_event::read))
        .route(
            "/fhir/Subscription",
            post(subscription::create).get(subscription::search),
        )
        .route(
            "/fhir/Subscription/{id}",
            get(subscription::read)
                .put(subscription::update)
                .delete(subscription::delete),
        )
        .route("/fhir/Subscription/{id}/$status", get(subscription::status))
        .route(
            "/fhir/Consent/{id}",
            get(consent::read).put(consent::update),
        )
        .route("/fhir/Consent/{id}/_history", get(consent::history_of))
        .route("/fhir/Consent/{id}/_history/{vid}", get(consent::vread))
        .route("/cosmic-link/v1/messages", post(cosmic_link::receive))
        .route("/canonical/v1/messages", post(canonical::receive))
        .route("/municipal", get(municipal::dialects))
        .route("/municipal/{dialect}/v1/messages", post(municipal::receive))
        .route("/deviations", get(deviations::list))
        .route("/deviations/export", get(deviations::export))
        .route("/cases/{case_id}/deviations", post(deviations::report))
        .route(
            "/cases/{case_id}/deviations/{deviation_id}",
            get(deviations::read),
        )
        .route(
            "/cases/{case_id}/deviations/{deviation_id}/acknowledgement",
            post(deviations::acknowledge),
        )
        .route(
            "/cases/{case_id}/deviations/{deviation_id}/answer",
            post(deviations::answer),
        )
        .route("/deliveries", get(deliveries::list))
        .route("/deliveries/{id}", get(deliveries::read))
        .route("/deliveries/{id}/redeliver", post(deliveries::redeliver))
        .route("/cases/{case_id}/deliveries", get(deliveries::for_case))
        .route("/audit", get(audit::list))
        .route("/audit/extract", get(audit::extract))
        .route("/translate", post(translate::translate))
        .route("/stats", get(stats::stats))
        .route("/protection/lift", post(patient::lift_protection))
        .route(
            "/riv/clinicalprocess/logistics/logistics/GetCarePlans/2/rivtabp21",
            get(riv::describe).post(riv::get_care_plans),
        );
    let routes = routes.merge(super::console::routes());
    // Only in test environments (`server.test_clock`).
    let routes = if server.test_clock {
        routes.route("/test/clock", get(test_clock::read).post(test_clock::set))
    } else {
        routes
    };
    let public_urls = state.public_urls.clone();
    let routes = routes
        .layer(middleware::from_fn(super::shaping::shape))
        .layer(middleware::from_fn_with_state(
            public_urls,
            super::public_url::layer,
        ));
    with_layers(routes.with_state(state), metrics, server)
}

/// Wraps `routes` in the layer stack every endpoint shares, read top to bottom: request id →
/// trace → metrics → header limits → error bodies → FHIR format → timeout → body limit.
pub fn with_layers(routes: Router, metrics: HttpMetrics, server: &ServerSettings) -> Router {
    routes.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(mw::request_span)
                    .on_request(())
                    .on_response(mw::on_response),
            )
            .layer(middleware::from_fn_with_state(metrics, http_metrics::track))
            .layer(middleware::from_fn(mw::header_limits))
            .layer(middleware::from_fn(mw::outcome_for_bare_errors))
            .layer(middleware::from_fn(mw::fhir_format))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                server.request_timeout(),
            ))
            .layer(RequestBodyLimitLayer::new(server.body_limit_bytes)),
    )
}
