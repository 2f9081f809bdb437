//! The Kafka listener: accepts connections and runs each one's request loop.
//!
//! One connection reads top to bottom: read a frame, parse its header, check the
//! API and version, decode, dispatch to the handler, encode, write. Requests on a
//! connection are answered in order, one at a time, as Kafka does. Each request's
//! latency and its response's error codes are counted per API (`metrics`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, FetchResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, debug, debug_span, info, info_span, warn};

use super::connection::{Connection, FrameError};
use super::handlers::{self, Api, Reply, api_versions};
use super::response::{Response, SpliceBuf};
use crate::broker::Broker;
use crate::log::FileSlice;
use crate::metrics::ApiMetrics;

/// Kafka's socket.request.max.bytes default: 100 MiB.
pub const DEFAULT_MAX_FRAME: usize = 100 * 1024 * 1024;

/// Limits of the Kafka listener.
#[derive(Debug, Clone, Copy)]
pub struct ListenerOptions {
    /// Connections served at once (Kafka: max.connections); a connection beyond
    /// it is closed as soon as it is accepted.
    pub max_connections: usize,
    /// How long a shutdown waits for the requests in flight to be answered
    /// before it closes their connections.
    pub drain: Duration,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        ListenerOptions { max_connections: 10_000, drain: Duration::from_secs(5) }
    }
}

/// Why a connection was closed by the broker.
#[derive(Debug, Error)]
pub enum RequestError {
    /// Framing failed (size, torn frame, socket).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A frame too short for a request header.
    #[error("frame of {0} bytes is too short for a request header")]
    Short(usize),
    /// An API key Weir does not know or serve.
    #[error("unsupported API key {0}")]
    UnknownApi(i16),
    /// A served API at a version Weir does not serve.
    #[error("unsupported version {version} of {api:?}")]
    UnsupportedVersion {
        /// The API.
        api: ApiKey,
        /// The version asked for.
        version: i16,
    },
    /// The header or body did not decode.
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed {
        /// The API.
        api: ApiKey,
        /// Its version.
        version: i16,
        /// The decoder's message.
        reason: String,
    },
    /// Encoding the response failed (a bug: logged, connection closed).
    #[error("encoding the {api:?} response failed: {reason}")]
    Encode {
        /// The API.
        api: ApiKey,
        /// The encoder's message.
        reason: String,
    },
    /// Writing the response failed.
    #[error("writing the response failed: {0}")]
    Write(#[from] std::io::Error),
}

impl RequestError {
    /// True when the client hung up (reset, broken pipe, closed mid-frame): its own
    /// doing, not worth a warning.
    pub fn is_disconnect(&self) -> bool {
        let io = match self {
            RequestError::Write(e) | RequestError::Frame(FrameError::Io(e)) => e,
            RequestError::Frame(FrameError::Torn) => return true,
            _ => return false,
        };
        matches!(
            io.kind(),
            std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::UnexpectedEof
        )
    }
}

/// Accepts connections on `listener` until `shutdown` completes, at most
/// `options.max_connections` at a time. Then it stops accepting, lets every
/// connection finish the request it is answering (up to `options.drain`), and
/// returns once all are closed.
pub async fn run(
    listener: TcpListener,
    broker: Arc<Broker>,
    options: ListenerOptions,
    shutdown: impl Future<Output = ()>,
) {
    broker.metrics.serve(handlers::APIS.iter().map(|api| api.key));
    tokio::pin!(shutdown);
    let (closing, closed) = watch::channel(false);
    let mut connections = JoinSet::new();
    // Set while connections are refused, so a flood is logged once.
    let mut refusing = false;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) if full(&mut connections, options.max_connections) => {
                    broker.metrics.connection_refused();
                    if !std::mem::replace(&mut refusing, true) {
                        warn!(%peer, max = options.max_connections, "too many connections: closing new ones until some end (raise --max-connections)");
                    }
                    drop(socket);
                }
                Ok((socket, peer)) => {
                    refusing = false;
                    let broker = Arc::clone(&broker);
                    let closed = closed.clone();
                    let connection = async move {
                        let _open = broker.metrics.connection();
                        let mut conn = Connection::new(socket, peer, DEFAULT_MAX_FRAME);
                        match serve(&broker, &mut conn, closed).await {
                            Ok(()) => debug!("client disconnected"),
                            Err(e) if e.is_disconnect() => debug!(error = %e, "client went away"),
                            Err(e) => warn!(error = %e, "closing connection"),
                        }
                    };
                    let connection = handlers::PEER.scope(peer, connection);
                    connections.spawn(connection.instrument(info_span!("connection", %peer)));
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = closing.send(true);
    info!(connections = connections.len(), "kafka listener stopping");
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(options.drain, drain).await.is_err() {
        warn!(
            connections = connections.len(),
            "closing connections whose requests were not answered in {:?}", options.drain
        );
        connections.shutdown().await;
    }
}

/// True when `max` connections are still open (those that ended are reaped
/// first, so one that just closed frees its place).
fn full(connections: &mut JoinSet<()>, max: usize) -> bool {
    while connections.try_join_next().is_some() {}
    connections.len() >= max
}

/// The request loop of one connection, until the client hangs up or `closing`
/// turns true (checked between requests: one being answered is finished first).
pub async fn serve(
    broker: &Arc<Broker>,
    conn: &mut Connection,
    mut closing: watch::Receiver<bool>,
) -> Result<(), RequestError> {
    loop {
        let frame = tokio::select! {
            frame = conn.read_frame() => frame?,
            _ = closing.wait_for(|closing| *closing) => return Ok(()),
        };
        let Some(frame) = frame else { return Ok(()) };
        if let Some(response) = process(broker, frame).await? {
            conn.write_response(response).await?;
        }
    }
}

/// One request: parse, check, decode, dispatch, encode. Ok(None) for requests
/// that get no response (acks=0); Err when the connection must close. (Also the
/// entry point of the request fuzz target, `broker/fuzz`.)
pub async fn process(broker: &Arc<Broker>, frame: Bytes) -> Result<Option<Response>, RequestError> {
    if frame.len() < 8 {
        return Err(RequestError::Short(frame.len()));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(key).map_err(|()| RequestError::UnknownApi(key))?;
    let api = handlers::find(api_key).ok_or(RequestError::UnknownApi(key))?;
    let started = Instant::now();
    let metrics = broker.metrics.api(api_key);
    let span = debug_span!("request", api = ?api_key, version, correlation_id);
    let answered =
        answer(broker, api, version, correlation_id, frame, metrics).instrument(span).await;
    metrics.observe(started.elapsed());
    match &answered {
        Err(RequestError::UnsupportedVersion { .. }) => {
            metrics.error(ResponseError::UnsupportedVersion.code())
        }
        Err(RequestError::Malformed { .. }) => metrics.error(ResponseError::InvalidRequest.code()),
        Err(_) => metrics.error(ResponseError::UnknownServerError.code()),
        Ok(_) => {}
    }
    answered
}

/// The part of [`process`] after the API is known: check the version, decode the
/// header, dispatch (which decodes the body and counts the answer's error codes),
/// encode.
async fn answer(
    broker: &Arc<Broker>,
    api: &Api,
    version: i16,
    correlation_id: i32,
    mut frame: Bytes,
    metrics: &ApiMetrics,
) -> Result<Option<Response>, RequestError> {
    let api_key = api.key;
    if !api.serves(version) {
        if api_key == ApiKey::ApiVersions {
            debug!(version, "ApiVersions at an unserved version: answering v0");
            metrics.error(ResponseError::UnsupportedVersion.code());
            let header = ResponseHeader::default().with_correlation_id(correlation_id);
            return encode(api_key, 0, 0, &header, &api_versions::unsupported()).map(Some);
        }
        return Err(RequestError::UnsupportedVersion { api: api_key, version });
    }
    let malformed = |e: anyhow::Error| RequestError::Malformed {
        api: api_key,
        version,
        reason: format!("{e:#}"),
    };
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(malformed)?;
    let reply =
        handlers::dispatch(broker, &header, &mut frame, metrics).await.map_err(malformed)?;
    let response_header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = api_key.response_header_version(version);
    match reply {
        Reply::Nothing => Ok(None),
        Reply::Message(body) => {
            let mut buf = BytesMut::new();
            let encoded = response_header
                .encode(&mut buf, header_version)
                .and_then(|()| body.encode(&mut buf, version));
            encoded.map_err(|e| RequestError::Encode { api: api_key, reason: format!("{e:#}") })?;
            Ok(Some(Response::plain(buf)))
        }
        Reply::Fetch(body, slices) => {
            encode_fetch(&response_header, header_version, body, slices, version).map(Some)
        }
    }
}

fn encode<M: Encodable>(
    api: ApiKey,
    header_version: i16,
    version: i16,
    header: &ResponseHeader,
    body: &M,
) -> Result<Response, RequestError> {
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, header_version)
        .and_then(|()| body.encode(&mut buf, version))
        .map_err(|e| RequestError::Encode { api, reason: format!("{e:#}") })?;
    Ok(Response::plain(buf))
}

/// Encodes a Fetch response whose records fields hold placeholders (see
/// `response`), splicing each slice from its segment file.
fn encode_fetch(
    header: &ResponseHeader,
    header_version: i16,
    body: FetchResponse,
    slices: Vec<FileSlice>,
    version: i16,
) -> Result<Response, RequestError> {
    let err =
        |e: anyhow::Error| RequestError::Encode { api: ApiKey::Fetch, reason: format!("{e:#}") };
    let mut buf = SpliceBuf::new();
    for slice in slices {
        buf.expect(slice);
    }
    header.encode(buf.bytes_mut(), header_version).map_err(err)?;
    body.encode(&mut buf, version).map_err(err)?;
    Response::spliced(buf).map_err(RequestError::Write)
}
