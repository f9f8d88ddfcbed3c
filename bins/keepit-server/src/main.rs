//! `keepit-server`: serve keepit-watch's HTTP API, and manage its users and tokens.
//!
//! This binary parses the command line, sets up logging, opens the store (running the
//! migrations) and calls `keepit_http::router`. Exit codes: 0 ok, 1 failed, 64 usage
//! error.

#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line program reports on stdout and stderr.

/// What `--version` prints: the version, the git commit and the build date.
pub(crate) const VERSION: &str = env!("KEEPIT_VERSION");

mod cli;
mod commands;
mod config;
mod psa;
#[path = "../../state.rs"]
mod state;

use std::process::ExitCode;

use clap::Parser as _;
use clap::error::ErrorKind;

use crate::cli::{Cli, LogFormat};
use crate::config::UsageError;

/// Exit code for command-line usage errors (BSD's EX_USAGE).
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(EXIT_USAGE),
            };
        }
    };
    init_logging(cli.log_format);
    config::set_state_dir(cli.state_dir.clone());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.downcast_ref::<UsageError>().is_some() => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "warn,keepit_http=info,keepit_server=info,tower_http=info",
        )
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
