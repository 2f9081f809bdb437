//! FindCoordinator (key 10): this broker coordinates every group (and answers for
//! transactional ids too, which InitProducerId then refuses). v0-3 ask for one key;
//! v4+ ask for a batch in `coordinator_keys` and get one answer per key.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use crate::broker::Broker;

/// Key types a coordinator is found for: 0 = group, 1 = transaction.
const KNOWN_KEY_TYPES: [i8; 2] = [0, 1];

/// Answers a FindCoordinator request.
pub async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let version = header.request_api_version;
    let error =
        (!KNOWN_KEY_TYPES.contains(&request.key_type)).then_some(ResponseError::InvalidRequest);
    let host = StrBytes::from_string(broker.advertised.host.clone());
    let port = i32::from(broker.advertised.port);
    let node = BrokerId(broker.options.node_id);
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| match error {
                Some(e) => Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_static_str("unknown key type"))),
                None => Coordinator::default()
                    .with_key(key)
                    .with_node_id(node)
                    .with_host(host.clone())
                    .with_port(port),
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match error {
        Some(e) => FindCoordinatorResponse::default()
            .with_error_code(e.code())
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_message(
                (version >= 1).then(|| StrBytes::from_static_str("unknown key type")),
            ),
        None => {
            FindCoordinatorResponse::default().with_node_id(node).with_host(host).with_port(port)
        }
    }
}

impl ErrorCodes for FindCoordinatorResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code);
        self.coordinators.iter().for_each(|c| each(c.error_code));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_key_types_are_invalid_requests() {
        let dir = tempfile::tempdir().unwrap();
        let storage = crate::storage::Storage::open(dir.path(), Default::default()).unwrap();
        let addr: std::net::SocketAddr = "127.0.0.1:9092".parse().unwrap();
        let broker = Broker::new(storage, Default::default(), addr).unwrap();
        let single = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g"));
        let v3 = RequestHeader::default().with_request_api_version(3);
        let answer = handle(&broker, &v3, single.clone()).await;
        assert_eq!((answer.error_code, answer.node_id.0, answer.port), (0, 0, 9092));
        assert_eq!(&*answer.host, "127.0.0.1");
        let answer = handle(&broker, &v3, single.with_key_type(2)).await;
        assert_eq!(answer.error_code, ResponseError::InvalidRequest.code());

        let keys = vec![StrBytes::from_static_str("a"), StrBytes::from_static_str("b")];
        let batch = FindCoordinatorRequest::default().with_coordinator_keys(keys);
        let v4 = RequestHeader::default().with_request_api_version(4);
        let answer = handle(&broker, &v4, batch).await;
        let found: Vec<_> = answer.coordinators.iter().map(|c| (&*c.key, c.port)).collect();
        assert_eq!(found, [("a", 9092), ("b", 9092)]);
    }
}
