//! Test databases and event builders for the store suite.

use brygga::changes::{AuditEntry, CaseCommit};
use brygga::domain::case::{CaseId, CoordinationCase};
use brygga::domain::event::{Event, EventId, EventKind, EventSource, Person, PersonName};
use brygga::domain::identifiers::{HsaId, Kommunkod, PersonId, Personnummer};
use brygga::domain::party::Party;
use brygga::domain::sensitive::Sensitive;
use brygga::store::Store;
use jiff::Timestamp;
use sqlx::{AnyConnection, Connection, Executor};

pub const HOW_TO_START_POSTGRES: &str = "the PostgreSQL half of the store suite needs a server: \
run the tests with scripts/test.sh, which starts a throwaway cluster, or start one yourself with \
`eval \"$(scripts/test-postgres.sh start)\"` and run cargo test again (BRYGGA_TEST_POSTGRES_URL must be set)";

/// A fresh, migrated database and a store on it.
pub struct TestDb {
    pub url: String,
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("brygga.db").display());
        let store = Store::connect(&url, 4).await.expect("open SQLite");
        TestDb {
            url,
            store,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> TestDb {
        let admin = std::env::var("BRYGGA_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| panic!("{HOW_TO_START_POSTGRES}"));
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {admin}: {e}; {HOW_TO_START_POSTGRES}"));
        let name = format!("brygga_test_{}", uuid::Uuid::new_v4().simple());
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        let base = admin
            .rsplit_once('/')
            .map(|(base, _)| base)
            .unwrap_or(&admin);
        let url = format!("{base}/{name}");
        let store = Store::connect(&url, 8).await.expect("open PostgreSQL");
        TestDb {
            url,
            store,
            _dir: None,
        }
    }

    /// A second store on the same database: another gateway instance.
    pub async fn second_instance(&self) -> Store {
        Store::connect(&self.url, 4).await.expect("second instance")
    }

    /// A raw connection, for tests that try to go around the store.
    pub async fn raw(&self) -> AnyConnection {
        let url = if self.url.starts_with("sqlite://") {
            format!("sqlite:{}", &self.url["sqlite://".len()..])
        } else {
            self.url.clone()
        };
        AnyConnection::connect(&url).await.expect("raw connection")
    }

    /// PostgreSQL: ends every other session of the database (each waited for), the store's
    /// among them, as a server restart would.
    pub async fn end_other_sessions(&self) {
        let mut raw = self.raw().await;
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut raw)
        .await
        .expect("end the other sessions");
        assert!(!ended.is_empty() && ended.iter().all(|e| *e), "{ended:?}");
    }

    pub async fn migrated(&self) -> &Store {
        self.store.migrate().await.expect("migrate");
        &self.store
    }

    pub async fn count(&self, table: &str) -> u64 {
        self.store
            .table_counts()
            .await
            .expect("counts")
            .into_iter()
            .find(|(t, _)| *t == table)
            .map(|(_, n)| n)
            .unwrap_or_else(|| panic!("no table {table}"))
    }
}

pub fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

pub fn person(n: &str) -> PersonId {
    PersonId::Personnummer(Personnummer::parse(n).expect("personnummer"))
}

pub fn ward() -> HsaId {
    HsaId::parse("SE2321000214-E1AV").unwrap()
}

pub fn ostersund() -> Party {
    Party::Municipality {
        kommunkod: Kommunkod::parse("2380").unwrap(),
        unit: None,
    }
}

pub fn event(occurred_at: &str, kind: EventKind) -> Event {
    Event {
        id: EventId::new(),
        occurred_at: at(occurred_at),
        source: EventSource {
            local_codes: Default::default(),
            format: "api".into(),
            message_id: EventId::new().to_string(),
            sender: None,
        },
        kind,
    }
}

pub fn admission(person_id: &PersonId) -> Event {
    event(
        "2026-11-20T08:00:00Z",
        EventKind::AdmissionNotice {
            person: Person {
                id: person_id.clone(),
                name: PersonName {
                    given: Sensitive::new("Astrid".into()),
                    family: Sensitive::new("Lindqvist".into()),
                },
                registered_address: None,
                protected_identity: false,
            },
            ward: ward(),
            admitted_at: at("2026-11-20T08:00:00Z"),
            assessed_at: None,
            estimated_discharge: None,
            psychiatric: false,
            recipients: vec![ostersund()],
        },
    )
}

pub fn audit(action: &str, person: &PersonId) -> AuditEntry {
    AuditEntry {
        actor: "SE2321000214-E1AV".into(),
        organisation: Some("SE2321000214-1000".into()),
        action: action.into(),
        person: Some(person.clone()),
        purpose: "discharge planning".into(),
        legal_basis: Some("Lag (2017:612)".into()),
        details: serde_json::json!({ "recipient": "2380" }),
    }
}

/// A new admitted case and the commit that stores it.
pub fn new_case(person_id: &PersonId) -> (CoordinationCase, CaseCommit) {
    let mut case = CoordinationCase::new(CaseId::new(), person_id.clone());
    case.apply(admission(person_id)).expect("admission");
    let commit = CaseCommit::from_case(&case, 0, at("2026-11-20T08:00:05Z"));
    (case, commit)
}

/// A new case for `person_id`, as received from the API in message `m-{n}` (receipt `{"n": n}`).
pub fn new_case_received(person_id: &PersonId, n: usize) -> CaseCommit {
    let (_, mut commit) = new_case(person_id);
    commit.received = Some(brygga::changes::ReceivedMessage {
        source: "api".into(),
        message_id: format!("m-{n}"),
        receipt: serde_json::json!({ "n": n }),
    });
    commit
}

/// An outbox row for `event` to `party`, through the disclosure decision (the only way to make
/// one), for a subscription named after the party. `event` must be one that goes without
/// consent, such as an admission notice.
pub fn outbox_entry(event: &Event, party: Party) -> brygga::changes::OutboxEntry {
    let subscription = brygga::domain::delivery::recipient_key(&party);
    outbox_entry_for(event, party, &subscription)
}

/// As `outbox_entry`, for the subscription `subscription`.
pub fn outbox_entry_for(
    event: &Event,
    party: Party,
    subscription: &str,
) -> brygga::changes::OutboxEntry {
    use brygga::decide::{CaseFacts, Request, decide};
    let recipient = brygga::domain::consent::Recipient {
        organisation: None,
        party,
    };
    let decision = decide(&Request {
        event,
        recipient: &recipient,
        consents: &[],
        legal_basis: None,
        sender: None,
        facts: CaseFacts {
            protected_identity: false,
        },
        at: event.occurred_at,
    });
    let released = decision
        .disclosure()
        .expect("the event goes without consent")
        .release(event)
        .expect("the decided event");
    let reference = brygga::formats::canonical::CaseReference {
        issuer: "SE2321000214-1000".into(),
        value: "SA-2026-004711".into(),
    };
    let person = match &event.kind {
        EventKind::AdmissionNotice { person, .. } => person.id.clone(),
        _ => panic!("an admission notice"),
    };
    brygga::changes::OutboxEntry::deliver(
        &released,
        &reference,
        &person,
        subscription,
        at("2026-11-20T08:00:05Z"),
    )
    .unwrap()
}

/// Unit `i` of Östersund (a distinct destination per `i`).
pub fn ostersund_unit(i: usize) -> Party {
    Party::Municipality {
        kommunkod: brygga::domain::identifiers::Kommunkod::parse("2380").unwrap(),
        unit: Some(HsaId::parse(&format!("SE2321000214-K{i:03}")).unwrap()),
    }
}
