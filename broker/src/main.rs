//! The `weir` binary: parses flags, sets up logging, runs a subcommand.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use weir_broker::cli::{Cli, Command, serve};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Demo(args) => weir_broker::cli::demo::run(args).await,
            #[cfg(feature = "perf")]
            Command::Perf(args) => weir_broker::cli::perf::run(args).await,
            Command::Processor(args) => weir_broker::cli::processor::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // 1 by default; the API subcommands tell "refused" from "unreachable".
            std::process::ExitCode::from(weir_broker::cli::client::exit_code(&e))
        }
    }
}
