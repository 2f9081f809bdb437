//! A real broker serving Kafka and the HTTP API in-process on `127.0.0.1:0`, for
//! the HTTP API tests (and the console's), and a blocking client that answers
//! (status, JSON).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use weir_broker::broker::Broker;
use weir_broker::node::{Node, NodeConfig};
use weir_broker::processors::Processors;

use crate::support::agent;

/// The longest any request of these tests may take.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A broker serving Kafka and HTTP on its own runtime, stopped when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The Kafka listener.
    pub kafka: SocketAddr,
    /// For looking behind the API's back.
    pub broker: Arc<Broker>,
    /// The processors the API serves.
    pub processors: Arc<Processors>,
    /// How long the start and each request may take.
    patience: Duration,
    /// Set to true to stop both listeners.
    stop: watch::Sender<bool>,
    /// The runtime's thread; joined after a clean shutdown.
    thread: Option<JoinHandle<()>>,
    /// The data directory.
    _dir: tempfile::TempDir,
}

impl Server {
    /// A broker with no topics but its internal ones.
    pub fn start() -> Server {
        Server::start_with(PATIENCE, |_| {})
    }

    /// A real node serving Kafka and HTTP; `prepare` runs on a blocking thread
    /// once it started, before the tests call it (to create topics and deploy);
    /// `patience` bounds the start and every request. Components compile into a
    /// cache shared by every test.
    pub fn start_with(patience: Duration, prepare: impl FnOnce(&Node) + Send + 'static) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = NodeConfig {
            http_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            component_cache: Some(
                std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("processor-cache"),
            ),
            ..NodeConfig::local(dir.path())
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, mut stopped) = watch::channel(false);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let node = Arc::new(Node::start(config).await.expect("the node starts"));
                let prepared = Arc::clone(&node);
                tokio::task::spawn_blocking(move || prepare(&prepared)).await.unwrap();
                let url = format!("http://{}", node.http_addr().unwrap());
                let processors = Arc::clone(node.processors().unwrap());
                let ready = (url, node.kafka_addr(), Arc::clone(node.broker()), processors);
                ready_tx.send(ready).unwrap();
                let _ = stopped.wait_for(|s| *s).await;
                let node = Arc::into_inner(node).expect("nothing else holds the node");
                node.shutdown().await.expect("a clean shutdown");
            });
        });
        let (url, kafka, broker, processors) =
            ready_rx.recv_timeout(patience).expect("the server starts");
        Server { url, kafka, broker, processors, patience, stop, thread: Some(thread), _dir: dir }
    }

    /// A request with an optional JSON body: the status and the JSON answer
    /// (`null` for an empty one, a string for one that is not JSON).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string().into_bytes());
        self.raw(method, path, Some("application/json"), body)
    }

    /// A request with any bytes and content type.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let agent = agent(self.patience);
        let url = format!("{}{path}", self.url);
        let response = match (method, body) {
            ("GET", _) => agent.get(&url).call(),
            ("DELETE", _) => agent.delete(&url).call(),
            (_, body) => {
                let mut request = match method {
                    "POST" => agent.post(&url),
                    "PUT" => agent.put(&url),
                    "PATCH" => agent.patch(&url),
                    _ => panic!("unsupported method {method}"),
                };
                if let Some(content_type) = content_type {
                    request = request.content_type(content_type);
                }
                match body {
                    Some(body) => request.send(&body[..]),
                    None => request.send_empty(),
                }
            }
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    /// Asserts a request is answered `status`, and returns the answer.
    #[track_caller]
    pub fn expect(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        let (got, answer) = self.call(method, path, body);
        assert_eq!(got, status, "{method} {path}: {answer:#}");
        answer
    }

    /// Asserts a request is refused with `status` and a message containing
    /// `hint`; returns the message.
    #[track_caller]
    pub fn refused(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        status: u16,
        hint: &str,
    ) -> String {
        let answer = self.expect(method, path, body, status);
        let message = message(&answer).to_owned();
        assert!(message.contains(hint), "{method} {path}: {message:?} lacks {hint:?}");
        message
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
            && !std::thread::panicking()
        {
            panic!("the server thread panicked while stopping");
        }
    }
}

/// The error message of an error answer.
#[track_caller]
pub fn message(answer: &Value) -> &str {
    answer["error"].as_str().unwrap_or_else(|| panic!("not an error answer: {answer}"))
}
