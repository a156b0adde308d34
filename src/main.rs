//! The `brygga` binary: parses the command line and runs the command.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the gateway allocates and frees many small buffers on every thread (request
/// bodies, JSON, statement parameters), where the system allocator's locks and consolidation
/// showed up in profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = brygga::cli::Cli::parse();
    if cli.command.prints_for_a_pipe() {
        // A command whose output is piped (`brygga audit extract … | head`) ends quietly when
        // the reader goes away, as Unix tools do, instead of failing on a closed stdout. The
        // servers keep SIGPIPE ignored: a closed socket must be an error, not the end.
        #[cfg(unix)]
        // SAFETY: called before any other thread that could be writing exists; SIG_DFL is a
        // valid disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match brygga::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
