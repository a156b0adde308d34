//! HTTP and command-line tests: the gateway in-process on a real socket, and the `brygga`
//! binary as a real process.

/// Runs each named test function (taking a `helpers::Backend`) once on SQLite and once on
/// PostgreSQL, as `sqlite::<name>` and `postgres::<name>`.
macro_rules! on_both_backends {
    ($($attack:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $attack() {
                    super::$attack(crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $attack() {
                    super::$attack(crate::helpers::Backend::Postgres).await;
                }
            )*
        }
    };
}

mod attacks;
mod backup;
mod beyond_discharge;
mod cli;
mod consent;
mod console;
mod console_audit;
mod console_cases;
mod console_conformance;
mod console_oidc;
mod console_pausing;
mod console_statistics;
mod contract_fuzz;
mod cosmic_link;
mod crash;
mod delivery;
mod delivery_late;
mod deviations;
mod examples;
mod fhir_audit;
mod fhir_careplan;
mod fhir_client;
mod fhir_official;
mod fhir_resources;
mod fhir_transaction;
mod helpers;
mod instances;
mod metadata;
mod monitoring;
mod municipal;
mod operations_metrics;
mod packaging;
mod placing;
mod public_urls;
mod recovery;
mod replay;
mod riv;
mod runbook;
mod search_knobs;
mod security;
mod service;
mod shutdown;
mod subscription;
mod tls;
mod traces;
mod upgrades;
mod validated_writes;
mod worklists;
