//! The `weir` binary: parses flags, sets up logging, runs a subcommand.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use weir_cli::serve::LogFormat;
use weir_cli::{Cli, Command, serve};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let log_format = match &cli.command {
        Command::Serve(args) => args.log_format,
        Command::Demo(args) => args.log_format,
        _ => LogFormat::Text,
    };
    init_logging(log_format);
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
            Command::Demo(args) => weir_cli::demo::run(args).await,
            #[cfg(feature = "perf")]
            Command::Perf(args) => weir_cli::perf::run(args, &cli.global.bootstrap).await,
            Command::Processor(args) => weir_cli::processor::run(args, cli.global).await,
            Command::Topic(args) => weir_cli::topic::run(args, cli.global).await,
            Command::Pipeline(args) => weir_cli::pipeline::run(args, cli.global).await,
            Command::Produce(args) => weir_cli::produce::run(args, cli.global).await,
            Command::Consume(args) => weir_cli::consume::run(args, cli.global).await,
            Command::Group(args) => weir_cli::group::run(args, cli.global).await,
            Command::Broker(args) => weir_cli::broker::run(args, cli.global).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // 1 by default; the API subcommands tell "refused" from "unreachable".
            std::process::ExitCode::from(weir_cli::client::exit_code(&e))
        }
    }
}

/// Logs to stderr (stdout is for command output), at the levels RUST_LOG sets
/// (`info` by default), as text (colored on a terminal) or one JSON object per line.
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
    }
}
