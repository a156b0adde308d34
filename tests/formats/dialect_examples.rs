//! What a dialect's examples must survive before the gateway starts with it, and how a step
//! that selects among repeated elements is written so that its example survives: read,
//! written back in the dialect and read again as the same message.

use brygga::formats::canonical::UnplacedMessage;
use brygga::formats::municipal::{Dialects, decode, encode};

use crate::dialect_engine::{DIALECT, INVITATION, INVITED, MEETING, TODAY, invitation, load};

/// A SIP answer per participant, whose attending function is the one of the participant
/// the vendor marks as leading (`Deltagare[@ledare='ja']`).
const ANSWER: &str = r#"
kind = "sip_response"
direction = "both"
detect = "Svar"
context = "Svar"

[[rule]]
xml = "@kallelse"
field = "event.invitation_id"
required = true

[[rule]]
field = "event.responder"
copy = "event.source.sender"

[[rule]]
each = "Deltagare"
field = "event.participants"
rules = [
  { xml = "@funktion", field = "function", required = true },
  { field = "answer", const = "accepted" },
  { xml = "Namn", field = "name" },
]

[[rule]]
xml = "Deltagare[@ledare='ja']/@funktion"
field = "event.attending_function"
"#;

const HEAD: &str = r#"<Msg><Id>M-9</Id><Sent>2026-12-01T09:00:00</Sent><Case issuer="SE2321000214-1000">SA-1</Case><Pnr>19811218-9876</Pnr><From hsa="SE2321000214-E2VC"/>"#;

/// Three participants, the curator marked as leading.
const THREE: &str = "<Svar kallelse=\"K-1\"><Deltagare funktion=\"Läkare\"/>\
     <Deltagare funktion=\"Kurator\" ledare=\"ja\"><Namn>Eva Lund</Namn></Deltagare>\
     <Deltagare funktion=\"Arbetsterapeut\"/></Svar>";

/// `ANSWER` with `from` replaced by `to`, loaded.
fn answer_with(from: &str, to: &str) -> brygga::formats::municipal::Dialect {
    let kind = ANSWER.replace(from, to);
    assert_ne!(kind, ANSWER, "{from:?} is not in the answer's rules");
    load(DIALECT, "svar.toml", &kind).unwrap()
}

/// `THREE` read in `dialect` (the curator attending), written back with the mark on the
/// curator's element and no other, and read again as the same message, which is returned.
fn curator_marked_when_written_back(
    dialect: &brygga::formats::municipal::Dialect,
) -> serde_json::Value {
    let document = format!("{HEAD}{THREE}</Msg>");
    let first = decode(dialect, document.as_bytes(), TODAY).unwrap();
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    let read = serde_json::to_value(&first.message).unwrap();
    assert_eq!(read["event"]["attending_function"], "Kurator");
    // The participant whose function it is carries the mark; no element is added for the
    // attending function alone.
    let written = encode(dialect, &first.message, TODAY).unwrap();
    assert_eq!(written.matches("<Deltagare").count(), 3, "{written}");
    assert!(
        written.contains("<Deltagare funktion=\"Kurator\" ledare=\"ja\">"),
        "{written}"
    );
    assert_eq!(written.matches("ledare=").count(), 1, "{written}");
    let again = decode(dialect, written.as_bytes(), TODAY)
        .unwrap_or_else(|e| panic!("the written document does not read: {e}\n{written}"));
    assert_eq!(serde_json::to_value(&again.message).unwrap(), read);
    read
}

/// The message `read` with `function` as its attending function.
fn attending(read: &serde_json::Value, function: &str) -> UnplacedMessage {
    let mut message = read.clone();
    message["event"]["attending_function"] = function.into();
    serde_json::from_value(message).unwrap()
}

/// The message `read` without an attending function.
fn no_attending_function(read: &serde_json::Value) -> UnplacedMessage {
    let mut message = read.clone();
    message["event"]
        .as_object_mut()
        .unwrap()
        .remove("attending_function");
    serde_json::from_value(message).unwrap()
}

#[test]
fn a_selecting_step_marks_the_element_already_written_that_holds_its_value() {
    let dialect = load(DIALECT, "svar.toml", ANSWER).unwrap();
    let read = curator_marked_when_written_back(&dialect);
    assert_eq!(read["event"]["participants"].as_array().unwrap().len(), 3);

    // An attending function that is no participant's cannot be written: an element of its
    // own would be read back as one more participant.
    let error = encode(&dialect, &attending(&read, "Biståndshandläggare"), TODAY)
        .unwrap_err()
        .to_string();
    assert!(error.contains("event.attending_function"), "{error}");
    assert!(
        error.contains("Deltagare[@ledare='ja']/@funktion"),
        "{error}"
    );
    assert!(error.contains("none of the list's items"), "{error}");
    assert!(!error.contains("Biståndshandläggare"), "{error}");

    // Nor can one when the list is empty.
    let mut none = read.clone();
    none["event"]["participants"] = serde_json::json!([]);
    let none: UnplacedMessage = serde_json::from_value(none).unwrap();
    let error = encode(&dialect, &none, TODAY).unwrap_err().to_string();
    assert!(error.contains("none of the list's items"), "{error}");
}

#[test]
fn a_group_selecting_an_item_marks_the_item_that_holds_what_it_writes() {
    // The same answer, the attending function read by a group on the marked participant.
    let dialect = answer_with(
        "xml = \"Deltagare[@ledare='ja']/@funktion\"\nfield = \"event.attending_function\"",
        "xml = \"Deltagare[@ledare='ja']\"\nrules = [ { xml = \"@funktion\", field = \"event.attending_function\" } ]",
    );
    let read = curator_marked_when_written_back(&dialect);

    // No participant of that function: not written, rather than one participant more.
    let error = encode(&dialect, &attending(&read, "Biståndshandläggare"), TODAY)
        .unwrap_err()
        .to_string();
    assert!(error.contains("Deltagare[@ledare='ja']"), "{error}");
    assert!(error.contains("none of the list's items"), "{error}");

    // No attending function: nothing marked, nothing added.
    let none = no_attending_function(&read);
    let written = encode(&dialect, &none, TODAY).unwrap();
    assert_eq!(written.matches("<Deltagare").count(), 3, "{written}");
    assert!(!written.contains("ledare"), "{written}");
}

#[test]
fn a_constant_on_a_selected_item_goes_on_that_item() {
    // The vendor's leading participant always says it comes: a constant on the item marked.
    let dialect = answer_with(
        "field = \"event.attending_function\"\n",
        "field = \"event.attending_function\"\n\n[[rule]]\nxml = \"Deltagare[@ledare='ja']/@kommer\"\nfixed = \"1\"\n",
    );
    let document = format!(
        "{HEAD}{}</Msg>",
        THREE.replace("ledare=\"ja\"", "ledare=\"ja\" kommer=\"1\"")
    );
    let first = decode(&dialect, document.as_bytes(), TODAY).unwrap();
    let read = serde_json::to_value(&first.message).unwrap();
    let written = encode(&dialect, &first.message, TODAY).unwrap();
    assert_eq!(written.matches("<Deltagare").count(), 3, "{written}");
    assert!(
        written.contains("<Deltagare funktion=\"Kurator\" ledare=\"ja\" kommer=\"1\">"),
        "{written}"
    );
    let again = decode(&dialect, written.as_bytes(), TODAY)
        .unwrap_or_else(|e| panic!("the written document does not read: {e}\n{written}"));
    assert_eq!(serde_json::to_value(&again.message).unwrap(), read);

    // With no participant marked, the constant has no item to go on: refused, rather than
    // written on an element the reader would take for one more participant.
    let none = no_attending_function(&read);
    let error = encode(&dialect, &none, TODAY).unwrap_err().to_string();
    assert!(error.contains("a constant"), "{error}");
    assert!(error.contains("Deltagare[@ledare='ja']/@kommer"), "{error}");
    assert!(error.contains("none of the list's items"), "{error}");
}

#[test]
fn a_step_selecting_an_item_before_its_list_is_refused_at_load() {
    // Written first, the attending function would find no participant to mark.
    let (before, after) = ANSWER.split_once("[[rule]]\neach").unwrap();
    let (each, last) = after
        .split_once("[[rule]]\nxml = \"Deltagare[@ledare")
        .unwrap();
    let reordered =
        format!("{before}[[rule]]\nxml = \"Deltagare[@ledare{last}\n[[rule]]\neach{each}");
    assert_ne!(reordered, ANSWER);
    let error = load(DIALECT, "svar.toml", &reordered).unwrap_err();
    assert!(error.contains("svar.toml"), "{error}");
    assert!(error.contains("selects among the items rule 4"), "{error}");
    assert!(error.contains("put it after that rule"), "{error}");
}

#[test]
fn an_element_already_selected_otherwise_is_not_marked() {
    // Participants that carry the attribute the step selects by, with another value, are
    // other participants than the one it selects.
    let dialect = answer_with(
        "{ xml = \"Namn\", field = \"name\" },",
        "{ xml = \"@ledare\", field = \"name\" },",
    );
    let document = format!(
        "{HEAD}<Svar kallelse=\"K-1\"><Deltagare funktion=\"Kurator\" ledare=\"nej\"/>\
         <Deltagare funktion=\"Läkare\"/></Svar></Msg>"
    );
    let mut message = decode(&dialect, document.as_bytes(), TODAY)
        .unwrap()
        .message;
    let mut value = serde_json::to_value(&message).unwrap();
    value["event"]["attending_function"] = "Kurator".into();
    message = serde_json::from_value(value).unwrap();
    // The participant marked otherwise is another one: none holds the attending function.
    let error = encode(&dialect, &message, TODAY).unwrap_err().to_string();
    assert!(error.contains("none of the list's items"), "{error}");

    // Among the participants written without the attribute, the one of that function is.
    let mut value = serde_json::to_value(&message).unwrap();
    value["event"]["attending_function"] = "Läkare".into();
    message = serde_json::from_value(value).unwrap();
    let written = encode(&dialect, &message, TODAY).unwrap();
    assert!(
        written.contains("<Deltagare funktion=\"Kurator\" ledare=\"nej\"/>"),
        "{written}"
    );
    assert!(
        written.contains("<Deltagare funktion=\"Läkare\" ledare=\"ja\"/>"),
        "{written}"
    );
    assert_eq!(written.matches("<Deltagare").count(), 2, "{written}");
}

/// A dialect folder `test-dialect` of `DIALECT`, the message kind `kind` and one example.
fn load_with_example(kind: &str, example: &str) -> Result<usize, String> {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("test-dialect");
    std::fs::create_dir_all(folder.join("messages")).unwrap();
    std::fs::create_dir_all(folder.join("examples")).unwrap();
    std::fs::write(folder.join("dialect.toml"), DIALECT).unwrap();
    std::fs::write(folder.join("messages/kallelse.toml"), kind).unwrap();
    std::fs::write(folder.join("examples/01-kallelse.xml"), example).unwrap();
    Dialects::load(dir.path())
        .map(|d| d.get("test-dialect").map(|_| 1).unwrap_or(0))
        .map_err(|e| e.to_string())
}

#[test]
fn an_example_that_does_not_survive_being_written_back_stops_the_load() {
    let plain = format!("{INVITATION}{MEETING}{INVITED}");
    let example = encode(
        &load(DIALECT, "kallelse.toml", &plain).unwrap(),
        &invitation(&[("SE2321000214-E3HC", "Läkare")]),
        TODAY,
    )
    .unwrap();
    assert_eq!(load_with_example(&plain, &example), Ok(1));

    // The vendor marks an SPU with an attribute the dialect reads only as a condition and
    // otherwise ignores: read, the example is an SPU; written back, nothing says so, and it
    // reads again as a SIP.
    let marked = plain.replace(
        "[[rule]]\nfield = \"event.plan_type\"\nconst = \"SIP\"\n",
        "[[rule]]\nfield = \"event.plan_type\"\nconst = \"SPU\"\nwhen = \"@spu\"\n\n\
         [[rule]]\nfield = \"event.plan_type\"\nconst = \"SIP\"\nunless = \"@spu\"\n\n\
         [[rule]]\nignore = [\"@spu\"]\n",
    );
    assert_ne!(marked, plain);
    let spu = example.replacen("<Kallelse ", "<Kallelse spu=\"1\" ", 1);
    assert_ne!(spu, example);
    let error = load_with_example(&marked, &spu).unwrap_err();
    assert!(
        error.contains("examples/01-kallelse.xml: written back and read again, it differs at event.plan_type (`brygga dialect check` shows both values)"),
        "{error}"
    );
    // The example's values are for the dialect's author, not for the log.
    assert!(!error.contains("SPU"), "{error}");
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(folder.path().join("examples")).unwrap();
    std::fs::write(folder.path().join("examples/01-kallelse.xml"), &spu).unwrap();
    let checks = brygga::formats::municipal::check_examples(
        &load(DIALECT, "kallelse.toml", &marked).unwrap(),
        folder.path(),
        TODAY,
    );
    let differs = checks[0].differs.as_ref().unwrap();
    assert_eq!(
        differs.to_string(),
        "event.plan_type: read \"SPU\", read again \"SIP\""
    );

    // A document the dialect refuses once written: the first writing succeeds, the reading
    // of what it wrote does not (the check needs the mark the dialect never writes).
    let strict = format!(
        "{plain}\n[[rule]]\nignore = [\"@spu\"]\n\n[[rule]]\ncheck = \"@spu\"\nmessage = \"the export marks every invitation\"\n"
    );
    let error = load_with_example(&strict, &spu).unwrap_err();
    assert!(
        error.contains("examples/01-kallelse.xml: written back, it does not read:")
            && error.contains("the export marks every invitation"),
        "{error}"
    );
}

#[test]
fn a_value_that_does_not_read_names_the_rule_the_field_and_the_place() {
    let dialect = load(DIALECT, "svar.toml", ANSWER).unwrap();
    let document = format!(
        "{}<Svar kallelse=\"K-1\"><Deltagare funktion=\"Läkare\"/></Svar></Msg>",
        HEAD.replace("2026-12-01T09:00:00", "2027-02-29T09:00:00")
    );
    let error = decode(&dialect, document.as_bytes(), TODAY)
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("/Msg/Sent (line 1, column "), "{error}");
    assert!(error.contains("February 2027 has 28 days"), "{error}");
    assert!(
        error.contains("(read by dialect.toml envelope 2 (xml = \"Sent\"), field sent_at)"),
        "{error}"
    );
}
