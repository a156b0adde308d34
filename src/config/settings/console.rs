//! `[console]`: the web console's sessions.

use serde::{Deserialize, Serialize};

/// How long a console session lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// A session ends after this many minutes without a request.
    pub idle_minutes: u32,
    /// …and this many hours after sign-in, whatever happens.
    pub absolute_hours: u32,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            idle_minutes: 30,
            absolute_hours: 8,
        }
    }
}

impl ConsoleSettings {
    /// What is wrong with these settings, each as `console.<key>: …`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.idle_minutes == 0 || self.idle_minutes > 24 * 60 {
            problems.push("console.idle_minutes: from 1 to 1440".to_owned());
        }
        if self.absolute_hours == 0 || self.absolute_hours > 7 * 24 {
            problems.push("console.absolute_hours: from 1 to 168".to_owned());
        }
        if self.idle_minutes > self.absolute_hours.saturating_mul(60) {
            problems.push(
                "console.idle_minutes: longer than console.absolute_hours, so it never applies"
                    .to_owned(),
            );
        }
        problems
    }
}
