//! The `tessera` binary: parse the command line, run it, map errors to an exit code.

use clap::error::ErrorKind;
use clap::CommandFactory;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = match tessera::cli::Cli::parse_argv(&argv) {
        Ok(cli) => cli,
        // --help, --version and a bare command group print what clap prints.
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            let cmd = tessera::cli::Cli::command();
            let line = tessera::config::arg_error_line(&e, &cmd, &argv);
            eprintln!("tessera: error: {line}");
            return ExitCode::from(2);
        }
    };
    match tessera::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let line = format!("{e:#}").replace('\n', " ");
            eprintln!("tessera: error: {line}");
            ExitCode::FAILURE
        }
    }
}
