//! Replaying scenarios (`brygga replay`): the scenario format (`scenario`), running one
//! in-process on a virtual clock against a fresh embedded store (`runner`), comparing each step
//! with its expectations (`compare`), and the reports (`report`). See
//! `fixtures/scenarios/README.md`.

mod compare;
mod record;
mod remote;
mod report;
mod runner;
mod scenario;

pub use compare::{ABSENT, Observed, ObservedDelivery, ObservedEvent, at_path, compare};
pub use record::{Pending, Recorder};
pub use remote::{Target, run as run_remote};
pub use report::{junit, text};
pub use runner::{ScenarioReport, StepReport, run, run_with_progress};
pub use scenario::{Expect, Offset, Outcome, Scenario, Step, load};

/// The scenario files at `path`: the file itself, or every `*.toml` in the folder (sorted).
pub fn scenario_files(path: &std::path::Path) -> Result<Vec<std::path::PathBuf>, String> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no scenario (*.toml) in it", path.display()));
    }
    Ok(files)
}
