//! The `gestaltcam` command: a thin layer over the library (see `src/lib.rs` for the module map).
//! Errors from the library are typed; here, at the edge, they become `anyhow` messages.

mod cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cmd::Cli::parse();
    match cmd::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<cmd::Exit>().is_some() => {
            let code = e.downcast_ref::<cmd::Exit>().map_or(1, |x| x.0);
            std::process::ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("gestaltcam: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks over every subcommand (two arguments with one name, a
    /// default that does not parse): a release build would instead refuse the command at run
    /// time ("required argument was not provided").
    #[test]
    fn the_command_line_is_consistent() {
        super::cmd::Cli::command().debug_assert();
    }
}
