//! `weir serve`: a single-node broker.
//!
//! Settings come from flags, then `WEIR_*` environment variables, then a TOML config
//! file (`--config`), then defaults: data in `./weir-data`, Kafka on
//! `127.0.0.1:9092`, the HTTP API on `127.0.0.1:8080`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde::Deserialize;

use weir_broker::broker::{Advertised, BrokerOptions};
use weir_broker::kafka::server::ListenerOptions;
use weir_broker::node::{Node, NodeConfig};
use weir_broker::storage::StorageOptions;

/// Flags of `weir serve`. Each can also be set by its environment variable or in
/// the config file (same name, with underscores).
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below, e.g. `data_dir = "/var/lib/weir"`.
    #[arg(long, env = "WEIR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where topics and partitions are stored [default: ./weir-data]
    #[arg(long, env = "WEIR_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The Kafka listener's address; port 0 picks a free port, printed on stdout as
    /// `kafka listening on HOST:PORT` [default: 127.0.0.1:9092]
    #[arg(long, env = "WEIR_KAFKA_ADDR", value_name = "HOST:PORT")]
    pub kafka_addr: Option<SocketAddr>,
    /// The address Kafka clients are told to connect to (in Metadata and
    /// FindCoordinator), when it is not the bound one: a host name, a public or
    /// container address. Required when --kafka-addr is a wildcard such as
    /// 0.0.0.0; a missing port means the bound port [default: the bound address]
    #[arg(long, env = "WEIR_ADVERTISED_ADDR", value_name = "HOST[:PORT]")]
    pub advertised_addr: Option<Advertised>,
    /// Kafka connections served at once; more are closed as they arrive
    /// [default: 10000]
    #[arg(long, env = "WEIR_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// The HTTP API's address; port 0 picks a free port, printed on stdout as
    /// `http listening on HOST:PORT` [default: 127.0.0.1:8080]
    #[arg(long, env = "WEIR_HTTP_ADDR", value_name = "HOST:PORT")]
    pub http_addr: Option<SocketAddr>,
    /// Create topics the first time a client names them [default: true]
    #[arg(long, env = "WEIR_AUTO_CREATE_TOPICS", value_name = "BOOL")]
    pub auto_create_topics: Option<bool>,
    /// Partitions of an auto-created topic [default: 1]
    #[arg(long, env = "WEIR_DEFAULT_PARTITIONS", value_name = "N")]
    pub default_partitions: Option<u32>,
    /// The largest batch a producer may send, for topics that do not set
    /// max.message.bytes [default: 1048588]
    #[arg(long, env = "WEIR_MAX_MESSAGE_BYTES", value_name = "BYTES")]
    pub max_message_bytes: Option<u32>,
    /// `interval` (fsync every --flush-ms) or `sync` (fsync before acknowledging),
    /// for topics that do not set durability [default: interval]
    #[arg(long, env = "WEIR_DURABILITY", value_name = "POLICY")]
    pub durability: Option<String>,
    /// The flush interval under interval durability [default: 1000]
    #[arg(long, env = "WEIR_FLUSH_MS", value_name = "MS")]
    pub flush_ms: Option<u64>,
    /// How often compacted topics (cleanup.policy=compact) are looked at for
    /// cleaning [default: 15000]
    #[arg(long, env = "WEIR_CLEANER_BACKOFF_MS", value_name = "MS")]
    pub cleaner_backoff_ms: Option<u64>,
    /// Memory for one cleaning pass's key map; a log with more keys in its dirty
    /// part is cleaned in several passes [default: 134217728]
    #[arg(long, env = "WEIR_CLEANER_DEDUPE_BUFFER_BYTES", value_name = "BYTES")]
    pub cleaner_dedupe_buffer_bytes: Option<usize>,
    /// The most bytes per second the cleaner reads and writes [default: no limit]
    #[arg(long, env = "WEIR_CLEANER_IO_MAX_BYTES_PER_SECOND", value_name = "BYTES")]
    pub cleaner_io_max_bytes_per_second: Option<u64>,
    /// The broker's log on stderr: `text`, or `json` (one object per line);
    /// RUST_LOG picks the levels. Not read from the config file: logging starts
    /// before it is read
    #[arg(long, env = "WEIR_LOG_FORMAT", value_name = "FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
}

/// How the broker writes its log (always to stderr; stdout keeps the
/// `... listening on` lines and command output).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, fields and spans.
    Json,
}

/// The config file's shape: every field optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    kafka_addr: Option<SocketAddr>,
    advertised_addr: Option<Advertised>,
    max_connections: Option<usize>,
    http_addr: Option<SocketAddr>,
    auto_create_topics: Option<bool>,
    default_partitions: Option<u32>,
    max_message_bytes: Option<u32>,
    durability: Option<String>,
    flush_ms: Option<u64>,
    cleaner_backoff_ms: Option<u64>,
    cleaner_dedupe_buffer_bytes: Option<usize>,
    cleaner_io_max_bytes_per_second: Option<u64>,
}

impl ServeArgs {
    /// Merges flags and environment (already in `self`) over the config file and
    /// the defaults, and checks the result.
    pub fn resolve(self) -> anyhow::Result<NodeConfig> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let mut defaults = BTreeMap::new();
        if let Some(bytes) = self.max_message_bytes.or(file.max_message_bytes) {
            defaults.insert("max.message.bytes".to_string(), bytes.to_string());
        }
        if let Some(policy) = self.durability.or(file.durability) {
            defaults.insert("durability".to_string(), policy);
        }
        if let Some(ms) = self.flush_ms.or(file.flush_ms) {
            defaults.insert("flush.ms".to_string(), ms.to_string());
        }
        // The defaults must make a valid topic config on their own.
        weir_broker::topic::parse_log_config(&defaults).context("invalid broker setting")?;
        let default_partitions = self.default_partitions.or(file.default_partitions).unwrap_or(1);
        if default_partitions == 0 || default_partitions > weir_broker::topic::MAX_PARTITIONS {
            bail!(
                "--default-partitions must be from 1 to {}, not {default_partitions}",
                weir_broker::topic::MAX_PARTITIONS
            );
        }
        let max_connections = self.max_connections.or(file.max_connections);
        if max_connections == Some(0) {
            bail!("--max-connections must be at least 1");
        }
        let mut storage = StorageOptions { defaults, ..StorageOptions::default() };
        if let Some(ms) = self.cleaner_backoff_ms.or(file.cleaner_backoff_ms) {
            if ms == 0 {
                bail!("--cleaner-backoff-ms must be at least 1");
            }
            storage.cleaner_check = std::time::Duration::from_millis(ms);
        }
        let buffer = self.cleaner_dedupe_buffer_bytes.or(file.cleaner_dedupe_buffer_bytes);
        if let Some(bytes) = buffer {
            if bytes < 1 << 20 {
                bail!(
                    "--cleaner-dedupe-buffer-bytes must be at least 1048576 (1 MiB), not {bytes}"
                );
            }
            storage.cleaner.key_map_bytes = bytes;
        }
        let io = self.cleaner_io_max_bytes_per_second.or(file.cleaner_io_max_bytes_per_second);
        if io == Some(0) {
            bail!(
                "--cleaner-io-max-bytes-per-second must be at least 1 (leave it out for no limit)"
            );
        }
        storage.cleaner.io_bytes_per_second = io;
        let listener = ListenerOptions {
            max_connections: max_connections.unwrap_or(ListenerOptions::default().max_connections),
            ..ListenerOptions::default()
        };
        Ok(NodeConfig {
            data_dir: self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("weir-data")),
            kafka_addr: self
                .kafka_addr
                .or(file.kafka_addr)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9092))),
            advertised: self.advertised_addr.or(file.advertised_addr),
            http_addr: Some(
                self.http_addr
                    .or(file.http_addr)
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            ),
            listener,
            broker: BrokerOptions {
                auto_create_topics: self
                    .auto_create_topics
                    .or(file.auto_create_topics)
                    .unwrap_or(true),
                default_partitions,
                ..BrokerOptions::default()
            },
            storage,
            processors: true,
            component_cache: None,
        })
    }
}

/// Runs the broker until ctrl-c or SIGTERM, then stops the listeners and the
/// processors and closes storage cleanly.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let node = Node::start(args.resolve()?).await?;
    shutdown_signal().await;
    node.shutdown().await?;
    Ok(())
}

/// Completes on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
