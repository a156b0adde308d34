//! What the benchmarks share: a new case with its admission notice.

use brygga::domain::case::{CaseId, CoordinationCase};
use brygga::domain::event::{Event, EventId, EventKind, EventSource, Person, PersonName};
use brygga::domain::identifiers::{HsaId, Kommunkod, PersonId, Personnummer};
use brygga::domain::party::Party;
use brygga::domain::sensitive::Sensitive;
use jiff::Timestamp;

/// A new case of the example person, admitted at `now`, and the admission notice's id.
pub fn admitted_case(now: Timestamp) -> (CoordinationCase, EventId) {
    let person = PersonId::Personnummer(Personnummer::parse("19811218-9876").unwrap());
    let mut case = CoordinationCase::new(CaseId::new(), person.clone());
    let admission = Event {
        id: EventId::new(),
        occurred_at: now,
        source: EventSource {
            local_codes: Default::default(),
            format: "bench".into(),
            message_id: EventId::new().to_string(),
            sender: None,
        },
        kind: EventKind::AdmissionNotice {
            person: Person {
                id: person,
                name: PersonName {
                    given: Sensitive::new("Astrid".into()),
                    family: Sensitive::new("Lindqvist".into()),
                },
                registered_address: None,
                protected_identity: false,
            },
            ward: HsaId::parse("SE2321000214-E1AV").unwrap(),
            admitted_at: now,
            assessed_at: None,
            estimated_discharge: None,
            psychiatric: false,
            recipients: vec![Party::Municipality {
                kommunkod: Kommunkod::parse("2380").unwrap(),
                unit: None,
            }],
        },
    };
    let id = admission.id;
    case.apply(admission).unwrap();
    (case, id)
}
