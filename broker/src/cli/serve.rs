//! `weir serve`: a single-node broker.
//!
//! Settings come from flags, then `WEIR_*` environment variables, then a TOML config
//! file (`--config`), then defaults: data in `./weir-data`, Kafka on
//! `127.0.0.1:9092`.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;
use tokio::net::TcpListener;
use tracing::info;

use crate::broker::{Broker, BrokerOptions};
use crate::kafka::server;
use crate::storage::{Storage, StorageOptions};

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
}

/// The config file's shape: every field optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    kafka_addr: Option<SocketAddr>,
    auto_create_topics: Option<bool>,
    default_partitions: Option<u32>,
    max_message_bytes: Option<u32>,
    durability: Option<String>,
    flush_ms: Option<u64>,
}

/// Settings after flags, environment, file and defaults are merged.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where data lives.
    pub data_dir: PathBuf,
    /// Where the Kafka listener binds.
    pub kafka_addr: SocketAddr,
    /// Broker options.
    pub broker: BrokerOptions,
    /// Storage options, topic config defaults among them.
    pub storage: StorageOptions,
}

impl ServeArgs {
    /// Merges flags and environment (already in `self`) over the config file and
    /// the defaults, and checks the result.
    pub fn resolve(self) -> anyhow::Result<ServeConfig> {
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
        crate::topic::parse_log_config(&defaults).context("invalid broker setting")?;
        let default_partitions = self.default_partitions.or(file.default_partitions).unwrap_or(1);
        if default_partitions == 0 || default_partitions > crate::topic::MAX_PARTITIONS {
            bail!(
                "--default-partitions must be from 1 to {}, not {default_partitions}",
                crate::topic::MAX_PARTITIONS
            );
        }
        Ok(ServeConfig {
            data_dir: self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("weir-data")),
            kafka_addr: self
                .kafka_addr
                .or(file.kafka_addr)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9092))),
            broker: BrokerOptions {
                auto_create_topics: self
                    .auto_create_topics
                    .or(file.auto_create_topics)
                    .unwrap_or(true),
                default_partitions,
                ..BrokerOptions::default()
            },
            storage: StorageOptions { defaults, ..StorageOptions::default() },
        })
    }
}

/// Runs the broker until ctrl-c or SIGTERM, then closes storage cleanly.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    let storage = Storage::open(&config.data_dir, config.storage.clone())
        .with_context(|| format!("opening data directory {}", config.data_dir.display()))?;
    let listener = TcpListener::bind(config.kafka_addr).await.with_context(|| {
        format!(
            "binding the Kafka listener to {} (is another broker running there?)",
            config.kafka_addr
        )
    })?;
    let bound = listener.local_addr()?;
    let broker = Broker::new(storage.clone(), config.broker.clone(), bound)
        .context("opening the group coordinator")?;
    println!("kafka listening on {bound}");
    std::io::stdout().flush()?;
    info!(data_dir = %config.data_dir.display(), %bound, "weir serving");
    server::run(listener, Arc::clone(&broker), shutdown_signal()).await;
    broker.shutdown();
    let closing = tokio::task::spawn_blocking(move || storage.close());
    closing.await?.context("closing storage")?;
    info!("clean shutdown");
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
