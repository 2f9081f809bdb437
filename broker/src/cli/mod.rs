//! The `weir` command line: flags, environment and config file, and one file per
//! subcommand.

use clap::{Parser, Subcommand};

pub mod client;
pub mod demo;
pub mod output;
#[cfg(feature = "perf")]
pub mod perf;
pub mod processor;
pub mod serve;

/// Weir: a Kafka-compatible event-streaming broker whose consumer logic runs as
/// sandboxed WebAssembly.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a single-node broker serving the Kafka protocol.
    Serve(serve::ServeArgs),
    /// Run the order pipeline demo: a broker, five Wasm processors and an order
    /// generator, with progress and a summary.
    Demo(demo::DemoArgs),
    /// Measure a broker with a real Kafka client: throughput and latency.
    #[cfg(feature = "perf")]
    Perf(perf::PerfArgs),
    /// Deploy, watch and steer processors through a running broker's HTTP API.
    Processor(processor::ProcessorArgs),
}
