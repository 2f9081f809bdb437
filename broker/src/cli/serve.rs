//! `weir serve`: a single-node broker.
//!
//! Settings come from flags, then `WEIR_*` environment variables, then a TOML config
//! file (`--config`), then defaults: data in `./weir-data`, Kafka on
//! `127.0.0.1:9092`, the HTTP API on `127.0.0.1:8080`.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::broker::{Broker, BrokerOptions};
use crate::http::{self, AppState};
use crate::kafka::server;
use crate::processors::Processors;
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
    http_addr: Option<SocketAddr>,
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
    /// Where the HTTP API binds.
    pub http_addr: SocketAddr,
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
            http_addr: self
                .http_addr
                .or(file.http_addr)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
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

/// Runs the broker until ctrl-c or SIGTERM, then stops the listeners and the
/// processors and closes storage cleanly.
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
    let http_listener = TcpListener::bind(config.http_addr).await.with_context(|| {
        format!(
            "binding the HTTP API to {} (is another broker running there? set --http-addr)",
            config.http_addr
        )
    })?;
    let bound = listener.local_addr()?;
    let http_bound = http_listener.local_addr()?;
    let broker = Broker::new(storage.clone(), config.broker.clone(), bound)
        .context("opening the group coordinator")?;
    let processors = open_processors(&broker, &config.data_dir).await?;
    println!("kafka listening on {bound}");
    println!("http listening on {http_bound}");
    std::io::stdout().flush()?;
    info!(data_dir = %config.data_dir.display(), %bound, %http_bound, "weir serving");
    // One signal stops both listeners.
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let state = AppState { broker: Arc::clone(&broker), processors: Arc::clone(&processors) };
    let http_server =
        tokio::spawn(http::run(http_listener, state, stop_requested(stopped.clone())));
    server::run(listener, Arc::clone(&broker), stop_requested(stopped)).await;
    if let Err(e) = http_server.await {
        warn!(error = %e, "the HTTP API ended abnormally");
    }
    stop_processors(&processors).await;
    broker.shutdown();
    let closing = tokio::task::spawn_blocking(move || storage.close());
    closing.await?.context("closing storage")?;
    info!("clean shutdown");
    Ok(())
}

/// Opens the processors of the data directory (`<data-dir>/processors`) and
/// restarts every deployment, on the blocking pool: modules compile (once each;
/// later starts load them from `<data-dir>/processors/.cache`).
pub async fn open_processors(
    broker: &Arc<Broker>,
    data_dir: &Path,
) -> anyhow::Result<Arc<Processors>> {
    let (broker, data_dir) = (Arc::clone(broker), data_dir.to_owned());
    let opened = tokio::task::spawn_blocking(move || Processors::open_in(broker, &data_dir));
    Ok(Arc::new(opened.await?.context("opening the processors")?))
}

/// Stops every processor's workers at their batch boundaries; call it before
/// storage closes.
pub async fn stop_processors(processors: &Arc<Processors>) {
    let processors = Arc::clone(processors);
    if let Err(e) = tokio::task::spawn_blocking(move || processors.shutdown()).await {
        tracing::error!(error = %e, "stopping the processors failed");
    }
}

/// Completes once `stopped` turns true (or its sender is gone).
async fn stop_requested(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
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
