//! The `weir` command line: flags, environment and config file, and one file per
//! subcommand. It sits above the broker library (`weir-broker`): `weir serve` and
//! `weir demo` run a [`weir_broker::node::Node`]; the other subcommands are
//! clients of a running broker's HTTP API (or, for `weir perf`, its Kafka
//! listener). What only the binary needs (clap, ureq, indicatif, librdkafka) is
//! linked here and nowhere below.
//!
//! Layout:
//! - `serve`: `weir serve`: settings from flags, `WEIR_*` variables and a TOML
//!   file resolved into a `NodeConfig`, the node started and shut down on a signal;
//!   the log format.
//! - `demo`: `weir demo`: a node with the order pipeline deployed, an order
//!   generator, progress and a summary.
//! - `client`: the HTTP API client every API subcommand shares, the global flags,
//!   and the exit codes.
//! - `output`: tables, JSON and human units for what the subcommands print.
//! - `topic`, `produce`, `consume`, `group`, `processor`: one file per subcommand.
//! - `perf` (feature `perf`, default): `weir perf produce|consume|e2e`, on
//!   librdkafka.
//!
//! `main.rs` parses the flags, sets up logging and runs the subcommand.

use clap::{Parser, Subcommand};

pub mod broker;
pub mod client;
pub mod consume;
pub mod demo;
pub mod group;
pub mod output;
#[cfg(feature = "perf")]
pub mod perf;
pub mod pipeline;
pub mod processor;
pub mod produce;
pub mod serve;
pub mod topic;

/// Weir: a Kafka-compatible event-streaming broker whose consumer logic runs as
/// sandboxed WebAssembly.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about, long_about = None, after_help = "Examples:
  weir serve
  weir topic create orders --partitions 3
  weir produce orders orders.txt --key-separator ':'
  weir consume orders --from-beginning --print-key
  WEIR_HTTP=http://broker-1:8080 weir group list --output json

Exit codes: 0 done, 1 the server refused (its message is printed), 2 bad arguments,
3 no Weir server answered at --http.")]
pub struct Cli {
    /// Where the broker is and how to print, for every subcommand.
    #[command(flatten)]
    pub global: client::GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a single-node broker serving the Kafka protocol.
    Serve(serve::ServeArgs),
    /// Create, list, describe, alter and delete topics.
    Topic(topic::TopicArgs),
    /// Apply, diff, show and delete a pipeline file: topics and processors as one unit.
    Pipeline(pipeline::PipelineArgs),
    /// Produce records to a topic, one per line, from standard input or a file.
    Produce(produce::ProduceArgs),
    /// Print a topic's records, from the beginning, an offset, a time or the end.
    Consume(consume::ConsumeArgs),
    /// List, describe, reset and delete consumer groups.
    Group(group::GroupArgs),
    /// List the broker's configs and change its defaults at run time.
    Broker(broker::BrokerArgs),
    /// Run the order pipeline demo: a broker, five Wasm processors and an order
    /// generator, with progress and a summary.
    Demo(demo::DemoArgs),
    /// Measure a broker with a real Kafka client: throughput and latency.
    #[cfg(feature = "perf")]
    Perf(perf::PerfArgs),
    /// Deploy, watch and steer processors through a running broker's HTTP API.
    Processor(processor::ProcessorArgs),
}
