//! The mapping language as written: the TOML files of a dialect folder, read with serde and
//! unknown keys refused. `dialect.rs` checks and compiles them; `mappings/municipal/README.md`
//! documents every construct.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One string or a list of strings (`xml = "A"` or `xml = ["Datum", "Tid"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// One mapping rule, as written in a `[[rule]]`, `[[envelope]]` or fragment entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// XML path(s) relative to the context element.
    pub xml: Option<OneOrMany>,
    /// A repeated XML element (relative path); `field` is then a list.
    pub each: Option<String>,
    /// Canonical path(s) relative to the canonical context.
    pub field: Option<OneOrMany>,
    /// Value type: string (default), integer, boolean, date, datetime, person-id, hsa-id,
    /// kommunkod.
    #[serde(rename = "type")]
    pub value_type: Option<String>,
    /// strftime format of a date or date-time.
    pub format: Option<String>,
    /// Europe/Stockholm (the text is local Swedish time), offset (the text carries an offset)
    /// or UTC.
    pub zone: Option<String>,
    /// Personnummer layout written: YYYYMMDD-NNNC, YYYYMMDDNNNC, YYMMDD-NNNC, YYMMDDNNNC.
    pub layout: Option<String>,
    /// Code table (in `codes.toml`).
    pub table: Option<String>,
    /// Joins several XML values into one field, or splits one XML value into several fields.
    pub separator: Option<String>,
    /// A canonical constant set on reading.
    #[serde(rename = "const")]
    pub constant: Option<toml::Value>,
    /// An XML constant: checked on reading, written on writing.
    pub fixed: Option<String>,
    /// Copies another canonical field (path from the message root) on reading, into `field`
    /// (relative to the rule's context: in a group, into each item).
    pub copy: Option<String>,
    /// The canonical value when the XML has none.
    pub default: Option<toml::Value>,
    #[serde(default)]
    pub required: bool,
    /// Applies the rule only when the condition holds (on reading; on writing, against what
    /// is written before the rule).
    pub when: Option<OneOrMany>,
    /// Applies the rule only when the condition does not hold (both ways, as `when`).
    pub unless: Option<OneOrMany>,
    /// Elements or attributes the dialect knows and deliberately does not read (a version
    /// the gateway need not check, a vendor's internal id): marked as read, never reported as
    /// not mapped, and not written.
    pub ignore: Option<OneOrMany>,
    /// A condition the document must meet, with `message` saying what it means.
    pub check: Option<OneOrMany>,
    pub message: Option<String>,
    /// The least number of repeated elements.
    pub min: Option<usize>,
    pub max_length: Option<usize>,
    /// A fragment's rules, applied in this rule's context.
    #[serde(rename = "use")]
    pub fragment: Option<String>,
    /// Nested rules, applied in this rule's context (inline, or as `[[rule.rules]]` tables).
    pub rules: Option<Vec<RuleSpec>>,
}

/// `[types.<type>]` of `dialect.toml`: what a rule of that type uses unless it says otherwise.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeDefaults {
    pub format: Option<String>,
    pub zone: Option<String>,
    pub layout: Option<String>,
}

/// `[limits]` of `dialect.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    pub max_bytes: Option<usize>,
    pub max_depth: Option<usize>,
    pub max_elements: Option<usize>,
}

/// `[receipt]` and `[error]` of `dialect.toml`: documents the gateway writes in the dialect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormSpec {
    pub root: String,
    #[serde(default)]
    pub rule: Vec<RuleSpec>,
}

/// `dialect.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialectSpec {
    pub description: String,
    /// Prefix → namespace URI; the key `default` is the namespace of unprefixed names.
    #[serde(default)]
    pub namespaces: BTreeMap<String, String>,
    /// The root element of every message.
    pub root: String,
    /// The encoding the dialect's documents are written in (`ISO-8859-1` for a case system
    /// that reads nothing else); UTF-8 when absent. Documents received are read in the
    /// encoding they declare, whatever this says.
    pub encoding: Option<String>,
    pub limits: Option<LimitsSpec>,
    /// Defaults for typed values: `[types.datetime] format`, `zone`; `[types.date] format`;
    /// `[types.person-id] layout`.
    #[serde(default)]
    pub types: BTreeMap<String, TypeDefaults>,
    /// Rules every message kind shares (header, case, person).
    #[serde(default)]
    pub envelope: Vec<RuleSpec>,
    /// Named rule lists, used by `use = "name"`.
    #[serde(default)]
    pub fragment: BTreeMap<String, Vec<RuleSpec>>,
    /// The acknowledgement the gateway answers an accepted message with.
    pub receipt: FormSpec,
    /// The error document the gateway answers a refused message with.
    pub error: FormSpec,
}

/// Which way a message kind travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// To the municipality: the gateway writes it.
    Outbound,
    /// From the municipality: the gateway accepts it.
    Inbound,
    /// Both ways.
    Both,
}

impl Direction {
    pub fn inbound(self) -> bool {
        matches!(self, Direction::Inbound | Direction::Both)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
            Direction::Both => "both",
        }
    }
}

/// `messages/<name>.toml`: one message kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSpec {
    /// The canonical event kind (`admission_notice`, `services_decided`, …).
    pub kind: String,
    pub direction: Direction,
    /// How a document of this kind is recognised (and what is written to make one).
    pub detect: OneOrMany,
    /// The element the rules are relative to (default: the root).
    pub context: Option<String>,
    /// The canonical field that says when the event happened (default: `sent_at`).
    pub occurred_at: Option<String>,
    #[serde(default)]
    pub rule: Vec<RuleSpec>,
}
