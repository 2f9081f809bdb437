//! One broker node, started and stopped in one order by one type: storage, the
//! group coordinator, the processors, then the Kafka and HTTP listeners; at
//! shutdown the listeners first (connections drained), then the processors (at a
//! batch boundary), the coordinator, and storage (closed cleanly). `weir serve`,
//! `weir demo` and the integration tests all run a [`Node`].

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::broker::{Advertised, AdvertisedError, Broker, BrokerError, BrokerOptions};
use crate::http::{self, AppState};
use crate::kafka::server::{self, ListenerOptions};
use crate::processors::{ProcessorError, Processors};
use crate::storage::{Storage, StorageError, StorageOptions};

/// Everything a node is started with.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where topics, offsets and deployments live.
    pub data_dir: PathBuf,
    /// Where the Kafka listener binds; port 0 picks a free port.
    pub kafka_addr: SocketAddr,
    /// What clients are told to connect to; None: the bound address (refused
    /// when that is a wildcard such as 0.0.0.0).
    pub advertised: Option<Advertised>,
    /// Where the HTTP API binds; None: no HTTP listener. Needs `processors`.
    pub http_addr: Option<SocketAddr>,
    /// Connection limits of the Kafka listener.
    pub listener: ListenerOptions,
    /// Settings clients see.
    pub broker: BrokerOptions,
    /// Topic config defaults and storage settings.
    pub storage: StorageOptions,
    /// Host Wasm processors (their deployments restart at start).
    pub processors: bool,
    /// Where compiled components are cached; None: `<data-dir>/processors/.cache`
    /// (tests share one cache across their brokers).
    pub component_cache: Option<PathBuf>,
}

impl NodeConfig {
    /// A node on `data_dir` serving Kafka on `127.0.0.1:0` with processors and no
    /// HTTP listener, every other setting at its default.
    pub fn local(data_dir: impl Into<PathBuf>) -> NodeConfig {
        NodeConfig {
            data_dir: data_dir.into(),
            kafka_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertised: None,
            http_addr: None,
            listener: ListenerOptions::default(),
            broker: BrokerOptions::default(),
            storage: StorageOptions::default(),
            processors: true,
            component_cache: None,
        }
    }
}

/// Why a node did not start or stop cleanly.
#[derive(Debug, Error)]
pub enum NodeError {
    /// The data directory could not be opened or closed.
    #[error("data directory {dir}: {source}")]
    Storage {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        source: StorageError,
    },
    /// A listener could not bind.
    #[error(
        "binding the {what} to {addr}: {source} (is another broker running there? \
         choose another address with {flag}, or port 0 for any free port)"
    )]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The flag that sets its address.
        flag: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The advertised address is unusable.
    #[error(transparent)]
    Advertised(#[from] AdvertisedError),
    /// The group or transaction coordinator could not open.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The processors could not be opened.
    #[error("opening the processors: {0}")]
    Processors(#[from] ProcessorError),
    /// The HTTP API serves processors, so it needs them.
    #[error("the HTTP API needs processors: set processors = true or no http_addr")]
    HttpWithoutProcessors,
    /// A start or stop step panicked.
    #[error("{0} panicked")]
    Panicked(&'static str),
}

/// A running node. Stop it with [`Node::shutdown`]; dropping it leaves its tasks
/// to the async runtime and its data to recovery.
#[derive(Debug)]
pub struct Node {
    /// Topics and partitions.
    storage: Arc<Storage>,
    /// What the protocol handlers share.
    broker: Arc<Broker>,
    /// The deployed processors, when hosted.
    processors: Option<Arc<Processors>>,
    /// Where the Kafka listener is bound.
    kafka_addr: SocketAddr,
    /// Where the HTTP API is bound, when it runs.
    http_addr: Option<SocketAddr>,
    /// Set to true to stop both listeners.
    stop: watch::Sender<bool>,
    /// The Kafka listener's task; ends once its connections are drained.
    kafka: JoinHandle<()>,
    /// The HTTP API's task.
    http: Option<JoinHandle<()>>,
}

impl Node {
    /// Opens storage, the group coordinator and the processors (restarting
    /// their deployments), binds the listeners and serves; prints `kafka
    /// listening on HOST:PORT` (and `http ...`) on stdout once bound. Blocking
    /// work runs on the blocking pool.
    pub async fn start(config: NodeConfig) -> Result<Node, NodeError> {
        if config.http_addr.is_some() && !config.processors {
            return Err(NodeError::HttpWithoutProcessors);
        }
        // A wildcard with nothing to advertise is refused before anything binds.
        Advertised::resolve(config.advertised.as_ref(), config.kafka_addr)?;
        let bind = |what, flag, addr| async move {
            let bound = TcpListener::bind(addr).await;
            bound.map_err(|source| NodeError::Bind { what, flag, addr, source })
        };
        let kafka = bind("Kafka listener", "--kafka-addr", config.kafka_addr).await?;
        let http = match config.http_addr {
            Some(addr) => Some(bind("HTTP API", "--http-addr", addr).await?),
            None => None,
        };
        let kafka_addr = local_addr(&kafka, config.kafka_addr);
        let advertised = Advertised::resolve(config.advertised.as_ref(), kafka_addr)?;
        let http_addr = http.as_ref().zip(config.http_addr).map(|(l, asked)| local_addr(l, asked));

        let (dir, options) = (config.data_dir.clone(), config.storage.clone());
        let storage = blocking("opening storage", move || Storage::open(&dir, options))
            .await?
            .map_err(|source| NodeError::Storage { dir: config.data_dir.clone(), source })?;
        let broker = {
            let (storage, options) = (Arc::clone(&storage), config.broker.clone());
            blocking("opening the group coordinator", move || {
                Broker::new(storage, options, advertised)
            })
            .await??
        };
        let processors = match config.processors {
            true => Some(Arc::new(open_processors(&broker, &config).await?)),
            false => None,
        };

        let (stop, stopped) = watch::channel(false);
        let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        tokio::spawn(abort_expired_transactions(
            Arc::clone(&broker),
            until_stopped(stopped.clone()),
        ));
        let kafka = tokio::spawn(server::run(
            kafka,
            Arc::clone(&broker),
            config.listener,
            until_stopped(stopped.clone()),
        ));
        let http = match (http, &processors) {
            (Some(listener), Some(processors)) => {
                let state =
                    AppState { broker: Arc::clone(&broker), processors: Arc::clone(processors) };
                Some(tokio::spawn(http::run(listener, state, until_stopped(stopped))))
            }
            _ => None,
        };
        println!("kafka listening on {kafka_addr}");
        if let Some(addr) = http_addr {
            println!("http listening on {addr}");
        }
        let _ = std::io::stdout().flush();
        info!(
            data_dir = %config.data_dir.display(),
            kafka = %kafka_addr,
            advertised = %broker.advertised,
            http = ?http_addr,
            "weir serving"
        );
        Ok(Node { storage, broker, processors, kafka_addr, http_addr, stop, kafka, http })
    }

    /// Where the Kafka listener is bound.
    pub fn kafka_addr(&self) -> SocketAddr {
        self.kafka_addr
    }

    /// Where the HTTP API is bound, when it runs.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// What the protocol handlers share: storage, groups, options, metrics.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Topics and partitions.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// The processors; None when the node was started without them.
    pub fn processors(&self) -> Option<&Arc<Processors>> {
        self.processors.as_ref()
    }

    /// Stops the listeners (letting requests in flight finish), the processors
    /// at a batch boundary and the group coordinator, then closes storage.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let _ = self.stop.send(true);
        if self.kafka.await.is_err() {
            warn!("the Kafka listener ended abnormally");
        }
        if let Some(http) = self.http
            && http.await.is_err()
        {
            warn!("the HTTP API ended abnormally");
        }
        if let Some(processors) = self.processors {
            blocking("stopping the processors", move || processors.shutdown()).await?;
        }
        self.broker.shutdown();
        let storage = Arc::clone(&self.storage);
        blocking("closing storage", move || storage.close())
            .await?
            .map_err(|source| NodeError::Storage { dir: self.storage.dir().to_owned(), source })?;
        info!("clean shutdown");
        Ok(())
    }
}

/// The processors of the node's data directory, their deployments restarted
/// (modules compile once; later starts load them from the cache).
async fn open_processors(
    broker: &Arc<Broker>,
    config: &NodeConfig,
) -> Result<Processors, NodeError> {
    let (broker, dir) = (Arc::clone(broker), config.data_dir.clone());
    let cache = config.component_cache.clone();
    blocking("opening the processors", move || Processors::open_in(broker, &dir, cache))
        .await?
        .map_err(NodeError::from)
}

/// Runs `work` on the blocking pool.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NodeError> {
    tokio::task::spawn_blocking(work).await.map_err(|_| NodeError::Panicked(what))
}

fn local_addr(listener: &TcpListener, asked: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(asked)
}

/// How often open transactions are checked against their timeouts (Kafka's
/// `transaction.abort.timed.out.transaction.cleanup.interval.ms` is 10 s).
const TRANSACTION_EXPIRY_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Aborts transactions past their `transaction.timeout.ms` until `stop`.
async fn abort_expired_transactions(
    broker: Arc<Broker>,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(TRANSACTION_EXPIRY_CHECK);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {
                let broker = Arc::clone(&broker);
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                let _ = tokio::task::spawn_blocking(move || {
                    broker.txns.abort_expired(now, broker.groups.offsets())
                })
                .await;
            }
        }
    }
}
