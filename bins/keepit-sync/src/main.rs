//! `keepit-sync`: sync an MSP's Keepit account tree into keepit-watch's database.
//!
//! This binary parses the command line, sets up logging, builds the store, the Keepit
//! client and the alert hook, and calls `keepit_ingest`. Exit codes: 0 ok, 1 failed,
//! 2 partial (some accounts or rows failed), 64 usage error.

#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line program reports on stdout and stderr.

/// What `--version` prints: the version, the git commit and the build date.
pub(crate) const VERSION: &str = env!("KEEPIT_VERSION");

mod cli;
mod commands;
mod config;
#[cfg(feature = "demo")]
mod demo;
mod progress;
mod report;
#[path = "../../state.rs"]
mod state;

use std::process::ExitCode;

use clap::Parser as _;
use clap::error::ErrorKind;

use crate::cli::Cli;
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
    progress::init_logging(cli.log_format, config::no_color());
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
        Ok(code) => code,
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
