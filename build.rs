//! Rebuilds when a migration changes (`sqlx::migrate!` embeds the migrations at compile time),
//! and names the build's git commit for `brygga_build_info` (`BUILD_GIT_COMMIT`, unless the
//! build sets it; `unknown` outside a git checkout).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=BUILD_GIT_COMMIT");
    if std::env::var_os("BUILD_GIT_COMMIT").is_some() {
        return;
    }
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if let Some(commit) = commit {
        println!("cargo:rustc-env=BUILD_GIT_COMMIT={commit}");
        // A new commit changes HEAD (or the branch it points at).
        println!("cargo:rerun-if-changed=.git/HEAD");
        if let Ok(head) = std::fs::read_to_string(".git/HEAD")
            && let Some(reference) = head.trim().strip_prefix("ref: ")
        {
            println!("cargo:rerun-if-changed=.git/{reference}");
        }
    }
}
