//! Why a dialect's document was refused (reading) or a message could not be written in a
//! dialect. Every reading error names the element path and, where there is one, the line and
//! column; none echoes a personnummer.

use crate::formats::xml::{Position, XmlError};

/// A document refused by a dialect. Nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MunicipalError {
    #[error("{0}")]
    Xml(#[from] XmlError),
    #[error("the root element is <{found}>; a {dialect} message is <{expected}>")]
    Root {
        dialect: String,
        found: String,
        expected: String,
    },
    #[error("{path} ({position}) is in namespace {found:?}; the {dialect} dialect uses {expected}")]
    Namespace {
        dialect: String,
        path: String,
        position: Position,
        found: String,
        expected: String,
    },
    #[error("{path} ({position}): missing {what}")]
    Missing {
        path: String,
        position: Position,
        what: String,
    },
    #[error("{path} ({position}): {problem}")]
    Invalid {
        path: String,
        position: Position,
        problem: String,
    },
    #[error(
        "{path} ({position}): unknown code {code:?}; expected one of {expected} (read by {rule})"
    )]
    UnknownCode {
        path: String,
        position: Position,
        code: String,
        expected: String,
        /// The rule that reads it: file, place and canonical field.
        rule: String,
    },
    #[error("{path} ({position}): {problem}")]
    UnknownKind {
        path: String,
        position: Position,
        problem: String,
    },
    /// The document follows the dialect but does not make a whole canonical event.
    #[error("the {kind} message is incomplete: {problem}")]
    Incomplete { kind: String, problem: String },
}

impl MunicipalError {
    /// The element path the error is about, when there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            MunicipalError::Namespace { path, .. }
            | MunicipalError::Missing { path, .. }
            | MunicipalError::Invalid { path, .. }
            | MunicipalError::UnknownCode { path, .. }
            | MunicipalError::UnknownKind { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Where in the document, when the error is at one place.
    pub fn position(&self) -> Option<Position> {
        match self {
            MunicipalError::Xml(e) => e.position(),
            MunicipalError::Namespace { position, .. }
            | MunicipalError::Missing { position, .. }
            | MunicipalError::Invalid { position, .. }
            | MunicipalError::UnknownCode { position, .. }
            | MunicipalError::UnknownKind { position, .. } => Some(*position),
            MunicipalError::Root { .. } | MunicipalError::Incomplete { .. } => None,
        }
    }
}

/// Why a message cannot be written in a dialect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("the {dialect} dialect has no message kind for {kind}")]
    NoKind { dialect: String, kind: String },
    #[error("the message has no {field}, which the {dialect} dialect requires at {xml}")]
    Missing {
        dialect: String,
        field: String,
        xml: String,
    },
    #[error("{field} cannot be written at {xml}: {problem}")]
    Invalid {
        field: String,
        xml: String,
        problem: String,
    },
}
