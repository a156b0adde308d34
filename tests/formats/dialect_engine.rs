//! The dialect engine on small dialects written for each test, the way a vendor writes one:
//! what the writer must never do (write an attribute twice, write alternatives side by side,
//! write an element of the context twice) and what the loader must refuse (two rules writing
//! one place).

use brygga::formats::canonical::{CanonicalMessage, UnplacedMessage};
use brygga::formats::municipal::{Dialect, Dialects, decode, encode};
use jiff::civil::date;

pub(crate) const DIALECT: &str = r#"
description = "a dialect written for a test"
root = "Msg"

[[envelope]]
xml = "Id"
field = "event.source.message_id"
required = true

[[envelope]]
xml = "Sent"
field = "sent_at"
type = "datetime"
required = true

[[envelope]]
xml = "Case"
field = "case.value"
required = true

[[envelope]]
xml = "Case/@issuer"
field = "case.issuer"
required = true

[[envelope]]
xml = "Pnr"
field = "person"
type = "person-id"
required = true

[[envelope]]
xml = "From"
field = "event.source.sender"
rules = [
  { field = "type", const = "region_unit" },
  { xml = "@hsa", field = "hsa_id", type = "hsa-id" },
]

[receipt]
root = "Kvitto"

[error]
root = "Fel"
"#;

/// The head of an invitation kind: what every test's kind shares.
pub(crate) const INVITATION: &str = r#"
kind = "sip_invitation"
direction = "both"
detect = "Kallelse"
context = "Kallelse"

[[rule]]
xml = "@id"
field = "event.invitation_id"
required = true

[[rule]]
field = "event.plan_type"
const = "SIP"

[[rule]]
field = "event.from"
copy = "event.source.sender"

[[rule]]
field = "event.place.type"
const = "link"

[[rule]]
xml = "Lank"
field = "event.place.url"
"#;

/// The meeting's time, which every invitation has.
pub(crate) const MEETING: &str = r#"
[[rule]]
xml = "Tid"
field = "event.meeting_at"
type = "datetime"
required = true
"#;

/// Invited functions, each naming its unit.
pub(crate) const INVITED: &str = r#"
[[rule]]
each = "Kallad"
field = "event.invited"
rules = [
  { xml = "@hsa", field = "party.hsa_id", type = "hsa-id" },
  { field = "party.type", const = "region_unit" },
  { xml = "Funktion", field = "function" },
]
"#;

/// The dialect of `DIALECT` with the message kind `kind`; or the loader's error.
fn dialect(kind: &str) -> Result<Dialect, String> {
    load(DIALECT, "kallelse.toml", kind)
}

/// The dialect folder `test-dialect` of `dialect_toml` and one message kind in
/// `messages/<file>`, loaded as the gateway loads it; or the loader's error.
pub(crate) fn load(dialect_toml: &str, file: &str, kind: &str) -> Result<Dialect, String> {
    load_kinds(dialect_toml, &[(file, kind)])
}

/// As [`load`], with several message kinds (file, kind).
pub(crate) fn load_kinds(dialect_toml: &str, kinds: &[(&str, &str)]) -> Result<Dialect, String> {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("test-dialect");
    std::fs::create_dir_all(folder.join("messages")).unwrap();
    std::fs::write(folder.join("dialect.toml"), dialect_toml).unwrap();
    for (file, kind) in kinds {
        std::fs::write(folder.join("messages").join(file), kind).unwrap();
    }
    let dialects = Dialects::load(dir.path()).map_err(|e| e.to_string())?;
    Ok(dialects.get("test-dialect").unwrap().clone())
}

/// An invitation from psychiatry to the units `invited` (HSA-id, function).
pub(crate) fn invitation(invited: &[(&str, &str)]) -> CanonicalMessage {
    let invited: Vec<serde_json::Value> = invited
        .iter()
        .map(|(hsa_id, function)| {
            serde_json::json!({
                "party": { "type": "region_unit", "hsa_id": hsa_id },
                "function": function,
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "case": { "issuer": "SE2321000214-1000", "value": "SA-1" },
        "person": { "system": "personnummer", "value": "198112189876" },
        "sent_at": "2026-12-01T08:00:00Z",
        "event": {
            "id": "6f1c7b6e-2a39-4a51-9d43-0c6f3b1f9a10",
            "occurred_at": "2026-12-01T08:00:00Z",
            "source": {
                "format": "municipal:test-dialect",
                "message_id": "M-1",
                "sender": { "type": "region_unit", "hsa_id": "SE2321000214-E2VC" },
            },
            "kind": "sip_invitation",
            "invitation_id": "K-1",
            "plan_type": "SIP",
            "from": { "type": "region_unit", "hsa_id": "SE2321000214-E2VC" },
            "meeting_at": "2026-12-10T12:00:00Z",
            "place": { "type": "link", "url": "https://meet.example/sip" },
            "invited": invited,
        }
    }))
    .unwrap()
}

pub(crate) const TODAY: jiff::civil::Date = date(2026, 12, 1);

/// Writes `message`, reads it back: the written document, and the message read.
pub(crate) fn round_trip(
    dialect: &Dialect,
    message: &CanonicalMessage,
) -> (String, UnplacedMessage) {
    let written = encode(dialect, message, TODAY).unwrap();
    let back = decode(dialect, written.as_bytes(), TODAY)
        .unwrap_or_else(|e| panic!("the written document does not read: {e}\n{written}"));
    assert!(back.warnings.is_empty(), "{:?}\n{written}", back.warnings);
    (written, back.message)
}

#[test]
fn an_absolute_path_in_every_item_of_a_list_is_written_once() {
    // The vendor names the one invited unit once, in the header; each invited function
    // reads its party from there.
    let kind = format!(
        "{INVITATION}{MEETING}\n{}",
        r#"

[[rule]]
each = "Kallad"
field = "event.invited"
rules = [
  { xml = "/Msg/Till/@hsa", field = "party.hsa_id", type = "hsa-id" },
  { field = "party.type", const = "region_unit" },
  { xml = "Funktion", field = "function" },
]
"#
    );
    let dialect = dialect(&kind).unwrap();
    let message = invitation(&[
        ("SE2321000214-E3HC", "Läkare"),
        ("SE2321000214-E3HC", "Sjuksköterska"),
    ]);
    let (written, back) = round_trip(&dialect, &message);
    assert_eq!(
        written.matches("hsa=\"SE2321000214-E3HC\"").count(),
        1,
        "{written}"
    );
    assert_eq!(
        serde_json::to_value(&back.event.kind).unwrap()["invited"],
        serde_json::to_value(&message.event.kind).unwrap()["invited"]
    );
    // Two units cannot be named in the one place: an error, not a broken document.
    let two = invitation(&[
        ("SE2321000214-E3HC", "Läkare"),
        ("SE2321000214-E3KR", "Sjuksköterska"),
    ]);
    let error = encode(&dialect, &two, TODAY).unwrap_err().to_string();
    assert!(
        error.contains("Till/@hsa") && error.contains("written twice with different values"),
        "{error}"
    );
}

#[test]
fn when_and_unless_decide_which_alternative_is_written() {
    // Version 2 of the vendor's format keeps the time in <Tid>, version 1 in <Motestid>.
    let kind = format!(
        "{INVITATION}\n{}",
        r#"
[[rule]]
xml = "@version"
fixed = "2"

[[rule]]
xml = "Tid"
field = "event.meeting_at"
type = "datetime"
when = "@version = '2'"

[[rule]]
xml = "Motestid"
field = "event.meeting_at"
type = "datetime"
unless = "@version = '2'"
"#
    ) + INVITED;
    let dialect = dialect(&kind).unwrap();
    let message = invitation(&[("SE2321000214-E3HC", "Läkare")]);
    let (written, back) = round_trip(&dialect, &message);
    assert!(written.contains("<Tid>"), "{written}");
    assert!(!written.contains("Motestid"), "{written}");
    assert_eq!(back.event.kind, message.event.kind);
}

#[test]
fn two_unconditional_rules_writing_one_place_are_refused_at_load() {
    let kind = format!(
        "{INVITATION}\n{}",
        r#"
[[rule]]
xml = "Tid"
field = "event.meeting_at"
type = "datetime"

[[rule]]
xml = "Tid"
field = "event.invitation_id"
"#
    );
    let error = dialect(&kind).unwrap_err();
    assert!(
        error.contains("messages/kallelse.toml")
            && error.contains("rule 7")
            && error.contains("rule 6")
            && error.contains("both write Tid"),
        "{error}"
    );
}

#[test]
fn what_the_envelope_wrote_into_the_context_element_is_not_written_again() {
    // The vendor repeats the case number inside the message's own element.
    let kind = format!(
        "{INVITATION}{MEETING}\n{}",
        r#"

[[rule]]
xml = "Arende"
field = "case.value"
"#
    ) + INVITED;
    let with_case = DIALECT.replace(
        "[receipt]",
        "[[envelope]]\nxml = \"Kallelse/Arende\"\nfield = \"case.value\"\n\n[receipt]",
    );
    let dialect = &load(&with_case, "kallelse.toml", &kind).unwrap();
    let message = invitation(&[("SE2321000214-E3HC", "Läkare")]);
    let (written, _) = round_trip(dialect, &message);
    assert_eq!(written.matches("<Arende>").count(), 1, "{written}");
    assert_eq!(written.matches("<Kallelse").count(), 1, "{written}");
}

/// A vendor whose every element and attribute is in its namespace, with the prefix `v`.
const PREFIXED: &str = r#"
description = "prefixed attributes everywhere"
root = "v:Msg"

[namespaces]
v = "urn:vendor:msg:1"

[[envelope]]
xml = "v:Head/@v:id"
field = "event.source.message_id"
required = true

[[envelope]]
xml = "v:Head/@v:sent"
field = "sent_at"
type = "datetime"
required = true

[[envelope]]
xml = "v:Head/@v:case"
field = "case.value"
required = true

[[envelope]]
xml = "v:Head/@v:issuer"
field = "case.issuer"
required = true

[[envelope]]
xml = "v:Head/@v:pnr"
field = "person"
type = "person-id"
required = true

[[envelope]]
xml = "v:Head/v:From"
field = "event.source.sender"
rules = [
  { field = "type", const = "region_unit" },
  { xml = "@v:hsa", field = "hsa_id", type = "hsa-id" },
]

[receipt]
root = "v:Receipt"

[error]
root = "v:Fault"
"#;

const PREFIXED_INVITATION: &str = r#"
kind = "sip_invitation"
direction = "both"
detect = "v:Invitation"
context = "v:Invitation"

[[rule]]
xml = "@v:id"
field = "event.invitation_id"
required = true

[[rule]]
field = "event.plan_type"
const = "SIP"

[[rule]]
field = "event.from"
copy = "event.source.sender"

[[rule]]
xml = "@v:at"
field = "event.meeting_at"
type = "datetime"
required = true

[[rule]]
field = "event.place.type"
const = "link"

[[rule]]
xml = "@v:link"
field = "event.place.url"

[[rule]]
each = "v:Invited"
field = "event.invited"
rules = [
  { xml = "@v:hsa", field = "party.hsa_id", type = "hsa-id" },
  { field = "party.type", const = "region_unit" },
  { xml = "@v:function", field = "function" },
]
"#;

#[test]
fn namespaced_attributes_are_read_and_written_in_their_namespace() {
    let dialect = &load(PREFIXED, "invitation.toml", PREFIXED_INVITATION).unwrap();
    let message = invitation(&[("SE2321000214-E3HC", "Läkare")]);
    let (written, back) = round_trip(dialect, &message);
    assert!(
        written.contains("v:pnr=\"19811218-9876\"") && written.contains("<v:Invited v:hsa="),
        "{written}"
    );
    assert_eq!(back.event.kind, message.event.kind);

    // An attribute of another namespace with the same local name is another attribute: never
    // taken for the vendor's, and reported as not mapped.
    let foreign = written.replacen("<v:Msg ", "<v:Msg xmlns:x=\"urn:somebody:else\" ", 1);
    let with_both = foreign.replacen("v:pnr=", "x:pnr=\"19121212-1212\" v:pnr=", 1);
    let read = decode(dialect, with_both.as_bytes(), TODAY).unwrap();
    assert_eq!(read.message.person, message.person);
    assert!(
        read.warnings.iter().any(|w| w.contains("@x:pnr")),
        "{:?}",
        read.warnings
    );
    let only_foreign = foreign.replacen("v:pnr=", "x:pnr=", 1);
    let error = decode(dialect, only_foreign.as_bytes(), TODAY)
        .unwrap_err()
        .to_string();
    assert!(error.contains("v:pnr"), "{error}");
}

#[test]
fn an_undeclared_attribute_prefix_is_refused_at_load() {
    let kind = PREFIXED_INVITATION.replace("@v:link", "@w:link");
    let error = load(PREFIXED, "invitation.toml", &kind).unwrap_err();
    assert!(
        error.contains("invitation.toml") && error.contains("prefix \"w\" is not declared"),
        "{error}"
    );
}

#[test]
fn what_a_dialect_ignores_is_read_without_a_warning_and_never_written() {
    let base = format!("{INVITATION}{MEETING}");
    let ignore = "\n[[rule]]\nignore = [\"@intern\", \"Behandlare\", \"//@rad\"]\n";
    let dialect = dialect(&format!("{base}{ignore}{INVITED}")).unwrap();
    let message = invitation(&[
        ("SE2321000214-E3HC", "Läkare"),
        ("SE2321000214-E3KR", "Kurator"),
    ]);
    let (written, _) = round_trip(&dialect, &message);
    assert!(
        !written.contains("intern") && !written.contains("Behandlare"),
        "{written}"
    );
    // The vendor's document carries its own bookkeeping: read, not reported.
    let vendors = written
        .replacen("<Kallelse ", "<Kallelse intern=\"4711\" ", 1)
        .replacen(
            "<Tid>",
            "<Behandlare><Id>77</Id><Namn>Handläggare</Namn></Behandlare>\n    <Tid>",
            1,
        )
        .replace("<Kallad ", "<Kallad rad=\"1\" ")
        // `//@rad`: at any depth below the context, the context included.
        .replace("<Funktion>", "<Funktion rad=\"2\">")
        .replacen("<Kallelse ", "<Kallelse rad=\"0\" ", 1);
    let read = decode(&dialect, vendors.as_bytes(), TODAY).unwrap();
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    // Not above the context: the envelope's elements are not the kind's to ignore.
    let above = vendors.replacen("<From ", "<From rad=\"9\" ", 1);
    let read = decode(&dialect, above.as_bytes(), TODAY).unwrap();
    assert_eq!(read.warnings.len(), 1, "{:?}", read.warnings);
    assert!(
        read.warnings[0].contains("/Msg/From/@rad"),
        "{:?}",
        read.warnings
    );
    let error = self::dialect(&format!(
        "{base}\n[[rule]]\nignore = [\"///Msg/x\"]\n{INVITED}"
    ))
    .unwrap_err();
    assert!(error.contains("at any depth"), "{error}");
    assert_eq!(read.message.event.kind, message.event.kind);
    // Without the rule, each is input no rule reads.
    let plain = self::dialect(&format!("{base}{INVITED}")).unwrap();
    let read = decode(&plain, vendors.as_bytes(), TODAY).unwrap();
    let warnings = read.warnings.join("\n");
    assert!(
        warnings.contains("@intern")
            && warnings.contains("Behandlare")
            && warnings.contains("@rad"),
        "{warnings}"
    );
}

#[test]
fn a_copy_in_a_list_fills_every_item_from_the_message() {
    // Every function invited is of the municipality the message is addressed to: the vendor
    // names it once, as the receiver.
    let kind = format!(
        "{INVITATION}{MEETING}\n{}",
        r#"

[[rule]]
xml = "/Msg/Till"
field = "recipient"
rules = [
  { field = "type", const = "municipality" },
  { xml = "@kommun", field = "kommunkod", type = "kommunkod" },
]

[[rule]]
each = "Kallad"
field = "event.invited"
rules = [
  { field = "party", copy = "recipient" },
  { xml = "Funktion", field = "function" },
]
"#
    );
    let dialect = dialect(&kind).unwrap();
    let mut message = invitation(&[]);
    let ostersund: brygga::domain::party::Party =
        serde_json::from_value(serde_json::json!({ "type": "municipality", "kommunkod": "2380" }))
            .unwrap();
    message.recipient = Some(ostersund.clone());
    if let brygga::domain::event::EventKind::SipInvitation { invited, .. } = &mut message.event.kind
    {
        for function in ["Biståndshandläggare", "Sjuksköterska"] {
            invited.push(brygga::domain::event::InvitedFunction {
                party: ostersund.clone(),
                function: function.to_owned(),
            });
        }
    }
    let (written, back) = round_trip(&dialect, &message);
    assert_eq!(written.matches("2380").count(), 1, "{written}");
    assert_eq!(back.event.kind, message.event.kind);
}

#[test]
fn a_step_selects_one_of_repeated_elements_by_its_attribute_and_writes_it_so() {
    // The vendor lists everyone as <Deltagare>: the one who invites and those invited, told
    // apart by @roll.
    let kind = r#"
kind = "sip_invitation"
direction = "both"
detect = "Kallelse"
context = "Kallelse"

[[rule]]
xml = "@id"
field = "event.invitation_id"
required = true

[[rule]]
field = "event.plan_type"
const = "SIP"

[[rule]]
xml = "Tid"
field = "event.meeting_at"
type = "datetime"
required = true

[[rule]]
field = "event.place.type"
const = "link"

[[rule]]
xml = "Lank"
field = "event.place.url"

[[rule]]
xml = "Deltagare[@roll='kallande']"
field = "event.from"
rules = [
  { field = "type", const = "region_unit" },
  { xml = "@hsa", field = "hsa_id", type = "hsa-id" },
]

[[rule]]
each = "Deltagare[@roll='kallad']"
field = "event.invited"
rules = [
  { xml = "@hsa", field = "party.hsa_id", type = "hsa-id" },
  { field = "party.type", const = "region_unit" },
  { xml = "Funktion", field = "function" },
]
"#;
    let dialect = dialect(kind).unwrap();
    let message = invitation(&[
        ("SE2321000214-E3HC", "Läkare"),
        ("SE2321000214-E3KR", "Kurator"),
    ]);
    let (written, back) = round_trip(&dialect, &message);
    assert_eq!(written.matches("roll=\"kallad\"").count(), 2, "{written}");
    assert_eq!(written.matches("roll=\"kallande\"").count(), 1, "{written}");
    assert_eq!(back.event.kind, message.event.kind);
    // Read in any order: the inviter listed between those invited.
    let reordered = written.replacen(
        "<Deltagare roll=\"kallande\" hsa=\"SE2321000214-E2VC\"/>\n",
        "",
        1,
    );
    let reordered = reordered.replacen(
        "<Deltagare roll=\"kallad\" hsa=\"SE2321000214-E3KR\">",
        "<Deltagare roll=\"kallande\" hsa=\"SE2321000214-E2VC\"/>\n    <Deltagare roll=\"kallad\" hsa=\"SE2321000214-E3KR\">",
        1,
    );
    assert_ne!(reordered, written, "{written}");
    let read = decode(&dialect, reordered.as_bytes(), TODAY).unwrap();
    assert_eq!(read.message.event.kind, message.event.kind);
}

/// A municipality's local code (one of several for a national service type) is kept through a
/// round trip in its dialect; a dialect that does not know it writes its own code.
#[test]
fn a_local_code_is_written_back_as_it_was_read() {
    let mappings =
        brygga::formats::Mappings::load(&crate::golden::repo().join("mappings")).unwrap();
    let combine = mappings.municipal.get("combine-like").unwrap();
    let example = std::fs::read_to_string(
        crate::golden::repo()
            .join("mappings/municipal/combine-like/examples/11-beviljade-insatser.xml"),
    )
    .unwrap()
    .replace(
        "<ct:Insatskod>HT01</ct:Insatskod>",
        "<ct:Insatskod>HT03</ct:Insatskod>",
    );
    let read = decode(combine, example.as_bytes(), TODAY).unwrap();
    let json = serde_json::to_value(&read.message).unwrap();
    assert_eq!(json["event"]["services"][0]["service_type"], "HTJ");
    assert_eq!(
        json["event"]["source"]["local_codes"],
        serde_json::json!({"event.services.0.service_type": "HT03"})
    );
    let written = encode(combine, &read.message, TODAY).unwrap();
    assert!(
        written.contains("<ct:Insatskod>HT03</ct:Insatskod>"),
        "{written}"
    );
    assert!(!written.contains("HT01"), "{written}");
    assert_eq!(
        decode(combine, written.as_bytes(), TODAY).unwrap().message,
        read.message
    );
    // Another dialect's table does not know HT03: it writes its own code for home help.
    let treserva = mappings.municipal.get("treserva-like").unwrap();
    let other = encode(treserva, &read.message, TODAY).unwrap();
    assert!(!other.contains("HT03"), "{other}");
    let back = decode(treserva, other.as_bytes(), TODAY).unwrap();
    assert_eq!(
        serde_json::to_value(&back.message).unwrap()["event"]["services"][0]["service_type"],
        "HTJ"
    );
}

#[test]
fn the_xml_prefix_is_bound_without_a_declaration_and_never_to_another_namespace() {
    let kind = format!(
        "{INVITATION}{MEETING}\n{}{INVITED}",
        r#"

[[rule]]
xml = "@xml:lang"
fixed = "sv"

[[rule]]
ignore = ["Lank/@xml:space"]
"#
    );
    let dialect = dialect(&kind).unwrap();
    let message = invitation(&[("SE2321000214-E3HC", "Läkare")]);
    let (written, _) = round_trip(&dialect, &message);
    assert!(
        written.contains("<Kallelse id=\"K-1\" xml:lang=\"sv\">") && !written.contains("xmlns:xml"),
        "{written}"
    );
    let vendors = written.replacen("<Lank>", "<Lank xml:space=\"preserve\">", 1);
    let read = decode(&dialect, vendors.as_bytes(), TODAY).unwrap();
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    // The language is checked as every fixed value is.
    let english = written.replacen("xml:lang=\"sv\"", "xml:lang=\"en\"", 1);
    let error = decode(&dialect, english.as_bytes(), TODAY)
        .unwrap_err()
        .to_string();
    assert!(error.contains("xml:lang"), "{error}");

    for (namespaces, expected) in [
        ("xml = \"urn:mine\"", "the prefix xml is bound to"),
        ("xmlns = \"urn:mine\"", "only declares namespaces"),
        (
            "x = \"http://www.w3.org/XML/1998/namespace\"",
            "is reserved by XML",
        ),
    ] {
        let declared = DIALECT.replacen(
            "root = \"Msg\"",
            &format!("root = \"Msg\"\n\n[namespaces]\n{namespaces}"),
            1,
        );
        let error = load(&declared, "kallelse.toml", &kind).unwrap_err();
        assert!(error.contains(expected), "{namespaces}: {error}");
    }
    // Declared as XML binds it, it changes nothing.
    let declared = DIALECT.replacen(
        "root = \"Msg\"",
        "root = \"Msg\"\n\n[namespaces]\nxml = \"http://www.w3.org/XML/1998/namespace\"",
        1,
    );
    let same = load(&declared, "kallelse.toml", &kind).unwrap();
    assert_eq!(round_trip(&same, &message).0, written);
}

#[test]
fn a_dialect_that_writes_latin_1_writes_what_latin_1_lacks_as_references_and_reads_it_back() {
    let latin1 = DIALECT.replacen(
        "root = \"Msg\"",
        "root = \"Msg\"\nencoding = \"ISO-8859-1\"",
        1,
    );
    let kind = format!("{INVITATION}{MEETING}{INVITED}");
    let dialect = load(&latin1, "kallelse.toml", &kind).unwrap();
    assert_eq!(dialect.media_type(), "application/xml; charset=ISO-8859-1");
    let mut message = invitation(&[("SE2321000214-E3HC", "Läkare")]);
    message.event.source.message_id = "M-€1".to_owned();
    let written = encode(&dialect, &message, TODAY).unwrap();
    let sent = dialect.sent(&written).unwrap();
    assert!(sent.starts_with(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"));
    let text = String::from_utf8_lossy(&sent);
    assert!(text.contains("<Id>M-&#8364;1</Id>"), "{text}");
    assert!(
        sent.windows(6).any(|w| w == b"L\xE4kare"),
        "ä as one byte: {text}"
    );
    let back = decode(&dialect, &sent, TODAY).unwrap();
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    // The same message (its event id is the message id's own).
    assert_eq!(back.message.event.kind, message.event.kind);
    assert_eq!(back.message.event.source, message.event.source);
    assert_eq!(back.message.person, message.person);

    // The case system may say nothing of its encoding: bytes that are not UTF-8 are read in
    // the dialect's; UTF-8 stays UTF-8.
    let silent = &sent[sent.iter().position(|b| *b == b'\n').unwrap()..];
    let back = decode(&dialect, silent, TODAY).unwrap();
    assert_eq!(back.message.event.kind, message.event.kind);
    assert_eq!(back.message.event.source, message.event.source);
    let utf8 = written.split_once('\n').unwrap().1;
    let back = decode(&dialect, utf8.as_bytes(), TODAY).unwrap();
    assert_eq!(back.message.event.source, message.event.source);

    // A name deep in a kind that the encoding cannot hold is refused at load, by its example.
    let ascii = DIALECT.replacen(
        "root = \"Msg\"",
        "root = \"Msg\"\nencoding = \"US-ASCII\"",
        1,
    );
    let umlaut = kind.replace("xml = \"Funktion\"", "xml = \"Funktiön\"");
    let utf8_dialect = load(DIALECT, "kallelse.toml", &umlaut).unwrap();
    let example = encode(&utf8_dialect, &message, TODAY).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("test-dialect");
    std::fs::create_dir_all(folder.join("messages")).unwrap();
    std::fs::create_dir_all(folder.join("examples")).unwrap();
    std::fs::write(folder.join("dialect.toml"), &ascii).unwrap();
    std::fs::write(folder.join("messages/kallelse.toml"), &umlaut).unwrap();
    std::fs::write(folder.join("examples/01.xml"), &example).unwrap();
    let error = Dialects::load(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("01.xml: cannot be written back:")
            && error.contains("the name \"Funktiön\" cannot be written in US-ASCII"),
        "{error}"
    );

    // What no document in the encoding can hold, and encodings no document is written in.
    let ascii_root = DIALECT.replacen(
        "root = \"Msg\"",
        "root = \"Ärende\"\nencoding = \"US-ASCII\"",
        1,
    );
    let error = load(&ascii_root, "kallelse.toml", &kind).unwrap_err();
    assert!(
        error.contains("encoding: the name \"Ärende\" cannot be written in US-ASCII"),
        "{error}"
    );
    for (label, expected) in [
        ("UTF-16", "UTF-16 cannot be written"),
        ("EBCDIC", "\"EBCDIC\" is not an encoding name"),
    ] {
        let spec = DIALECT.replacen(
            "root = \"Msg\"",
            &format!("root = \"Msg\"\nencoding = \"{label}\""),
            1,
        );
        let error = load(&spec, "kallelse.toml", &kind).unwrap_err();
        assert!(error.contains(expected), "{label}: {error}");
    }
}

/// Kinds told apart by one attribute's value are found by it: the value names the kind, a
/// value no kind has is refused naming the values there are, and two kinds that claim one
/// document are refused naming both.
#[test]
fn a_document_is_of_the_one_kind_its_detection_names() {
    let kind = |value: &str, extra: &str| {
        INVITATION.replacen(
            r#"detect = "Kallelse""#,
            &format!(r#"detect = ["@typ = '{value}'"{extra}]"#),
            1,
        ) + MEETING
            + INVITED
    };
    let document = |typ: &str| {
        format!(
            r#"<Msg typ="{typ}"><Id>M-1</Id><Sent>2026-11-23T10:00:00</Sent>
            <Case issuer="SE2321000230-1">C-1</Case><Pnr>191212121212</Pnr>
            <From hsa="SE2321000230-1000"/>
            <Kallelse id="K-1"><Tid>2026-11-25T13:00:00</Tid><Lank>https://mote.example/1</Lank>
            <Kallad hsa="SE2321000230-2000"><Funktion>Läkare</Funktion></Kallad></Kallelse></Msg>"#
        )
    };
    let today = date(2026, 11, 23);
    let dialect = load_kinds(
        DIALECT,
        &[
            ("kallelse.toml", &kind("Kallelse", "")),
            ("ny-kallelse.toml", &kind("NyKallelse", "")),
        ],
    )
    .unwrap();
    assert!(
        dialect.detection.is_some(),
        "one attribute tells the kinds apart"
    );
    let read = decode(&dialect, document("NyKallelse").as_bytes(), today).unwrap();
    assert_eq!(read.kind, "ny-kallelse");
    let read = decode(&dialect, document("Kallelse").as_bytes(), today).unwrap();
    assert_eq!(read.kind, "kallelse");
    let refused = decode(&dialect, document("Inbjudan").as_bytes(), today)
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains(r#"is "Inbjudan", which is not a message kind"#)
            && refused.contains("expected one of Kallelse, NyKallelse"),
        "{refused}"
    );

    // Two kinds that both take a document: refused, naming both.
    let dialect = load_kinds(
        DIALECT,
        &[
            ("kallelse.toml", &kind("Kallelse", "")),
            (
                "kallelse-med-tid.toml",
                &kind("Kallelse", r#", "Kallelse/Tid""#),
            ),
        ],
    );
    let refused = match dialect {
        Ok(dialect) => decode(&dialect, document("Kallelse").as_bytes(), today)
            .unwrap_err()
            .to_string(),
        Err(load_error) => load_error,
    };
    assert!(
        refused.contains("matches two message kinds")
            && refused.contains("kallelse (")
            && refused.contains("kallelse-med-tid ("),
        "{refused}"
    );
}
