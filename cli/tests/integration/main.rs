//! The CLI's integration tests, one binary: the real `weir` binary against real
//! `weir serve` and `weir demo` children on `127.0.0.1:0`.
//!
//! Run one subject with `cargo test -p weir-cli --test integration <module>::`.

// The broker tests' raw Kafka client and the pipeline's model, shared with them.
#[path = "../../../broker/tests/integration/support/mod.rs"]
mod broker_support;
mod cli_support;

mod cli_pipeline;
mod cli_processor;
mod cli_records;
mod cli_topics;
mod demo;
mod http_metrics;
