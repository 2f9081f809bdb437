//! A real broker in-process on 127.0.0.1:0, a raw Kafka client that speaks
//! `kafka-protocol` messages over TCP, and the HTTP tests' blocking client. The
//! CLI's tests include this module too.
#![allow(dead_code)]

pub mod pipeline;
pub mod requests;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_broker::broker::{Broker, BrokerOptions};
use weir_broker::node::{Node, NodeConfig};
use weir_broker::storage::Storage;

/// A broker serving on loopback until dropped (or `stop`ped): a real [`Node`]
/// without processors or HTTP.
pub struct TestBroker {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its storage, closed cleanly by `stop`.
    pub storage: Arc<Storage>,
    /// The broker the server runs (for tests that drive it in-process too).
    pub broker: Arc<Broker>,
    /// The node, shut down by `stop`.
    node: Node,
}

impl TestBroker {
    /// Starts a broker on `dir` with the given options.
    pub async fn start(dir: &Path, options: BrokerOptions) -> TestBroker {
        let config = NodeConfig { broker: options, processors: false, ..NodeConfig::local(dir) };
        TestBroker::start_node(config).await
    }

    /// Starts a node with `config` (tests that set listener limits or processors).
    pub async fn start_node(config: NodeConfig) -> TestBroker {
        let node = Node::start(config).await.expect("the node starts");
        let (addr, storage, broker) =
            (node.kafka_addr(), Arc::clone(node.storage()), Arc::clone(node.broker()));
        TestBroker { addr, storage, broker, node }
    }

    /// The node (its processors, when started with them).
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Stops the node: listeners drained, storage closed cleanly.
    pub async fn stop(self) {
        self.node.shutdown().await.expect("a clean shutdown");
    }
}

/// A connection that sends one request at a time.
pub struct RawClient {
    /// The socket.
    pub stream: TcpStream,
    /// The next correlation id.
    correlation: i32,
}

impl RawClient {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> RawClient {
        RawClient { stream: TcpStream::connect(addr).await.expect("connect"), correlation: 1 }
    }

    /// Sends `request` at `version` and decodes the response as `R`.
    pub async fn call<Q: Encodable, R: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Q,
    ) -> R {
        let correlation = self.send(key, version, request).await;
        let mut frame = self.read_frame().await.expect("a response");
        let header = ResponseHeader::decode(&mut frame, key.response_header_version(version))
            .expect("response header");
        assert_eq!(header.correlation_id, correlation);
        let response = R::decode(&mut frame, version).expect("response body");
        assert!(
            !frame.has_remaining(),
            "{} bytes left after the {key:?} response",
            frame.remaining()
        );
        response
    }

    /// Sends a request without reading the answer; returns its correlation id.
    pub async fn send<Q: Encodable>(&mut self, key: ApiKey, version: i16, request: &Q) -> i32 {
        let correlation = self.correlation;
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_static_str("weir-test")));
        let mut body = BytesMut::new();
        header.encode(&mut body, key.request_header_version(version)).expect("encode header");
        request.encode(&mut body, version).expect("encode request");
        self.send_frame(&body).await;
        correlation
    }

    /// Writes raw bytes with a size prefix.
    pub async fn send_frame(&mut self, body: &[u8]) {
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(body.len() as i32);
        frame.put_slice(body);
        self.stream.write_all(&frame).await.expect("write");
    }

    /// The next response frame, or None if the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let read = async {
            let mut size = [0u8; 4];
            self.stream.read_exact(&mut size).await.ok()?;
            let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
            self.stream.read_exact(&mut frame).await.ok()?;
            Some(Bytes::from(frame))
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("the broker answers within 10 s")
    }

    /// True once the broker has closed this connection.
    pub async fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut byte)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// A blocking client that answers every status rather than failing on 4xx and
/// 5xx, each request bounded by `patience`.
pub fn agent(patience: Duration) -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(patience))
            .build(),
    )
}
