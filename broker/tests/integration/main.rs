//! The broker's integration tests, one binary: real brokers on `127.0.0.1:0`, real
//! Kafka requests, real Wasm components, real partition directories.
//!
//! One module a subject; the `*_support` modules and `support` hold what several
//! share. Run one subject with `cargo test -p weir-broker --test integration
//! <module>::`, for example `processors::`.

mod http_support;
mod log_support;
mod support;

mod console;
mod fuzz_seeds;
mod http_api;
mod http_groups;
mod http_openapi;
mod http_pipelines;
mod http_topics;
mod kafka_admin;
mod kafka_configs;
mod kafka_groups;
mod kafka_idempotence;
mod kafka_protocol;
mod kafka_read_committed;
mod kafka_topic_ids;
mod log_compaction_crash;
mod log_corruption;
mod log_crash;
mod processor_joins;
mod processors;
