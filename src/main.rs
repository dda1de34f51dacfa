//! The `gestaltcam` command: a thin layer over the library (see `src/lib.rs` for the module map).
//! Errors from the library are typed; here, at the edge, they become `anyhow` messages.

mod cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cmd::Cli::parse();
    match cmd::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gestaltcam: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
