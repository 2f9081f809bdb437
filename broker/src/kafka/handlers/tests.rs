//! The registry against what derives from it: ApiVersions, dispatch, metrics.

use bytes::{BufMut, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiVersionsRequest;

use super::*;
use crate::kafka::server;

fn broker() -> (tempfile::TempDir, Arc<Broker>) {
    let dir = tempfile::tempdir().unwrap();
    let storage = crate::storage::Storage::open(dir.path(), Default::default()).unwrap();
    let addr: std::net::SocketAddr = "127.0.0.1:9092".parse().unwrap();
    let broker = Broker::new(storage, Default::default(), addr);
    (dir, broker.unwrap())
}

#[test]
fn every_served_range_is_one_the_crate_can_decode() {
    for api in APIS {
        let crate_range = api.key.valid_versions();
        assert!(api.min <= api.max, "{:?}", api.key);
        assert!(
            api.min >= crate_range.min && api.max <= crate_range.max,
            "{:?}: {}..={} vs crate {:?}",
            api.key,
            api.min,
            api.max,
            crate_range
        );
    }
    let mut keys: Vec<i16> = APIS.iter().map(|a| a.key as i16).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), APIS.len(), "an API is registered twice");
}

/// Clients infer the broker's release from these (KAFKA-COMPAT.md): a change here
/// must be deliberate. Each lies within Kafka 3.7's range.
#[test]
fn the_advertised_ranges_are_within_kafka_3_7_s() {
    let ranges: Vec<(ApiKey, i16, i16)> = APIS.iter().map(|a| (a.key, a.min, a.max)).collect();
    assert_eq!(
        ranges,
        [
            (ApiKey::Produce, 3, 9),
            (ApiKey::Fetch, 4, 16),
            (ApiKey::ListOffsets, 1, 7),
            (ApiKey::Metadata, 0, 12),
            (ApiKey::InitProducerId, 0, 4),
            (ApiKey::ApiVersions, 0, 3),
            (ApiKey::CreateTopics, 2, 7),
            (ApiKey::DeleteTopics, 1, 6),
            (ApiKey::DescribeConfigs, 1, 4),
            (ApiKey::AlterConfigs, 0, 2),
            (ApiKey::OffsetCommit, 2, 8),
            (ApiKey::OffsetFetch, 1, 8),
            (ApiKey::FindCoordinator, 0, 4),
            (ApiKey::JoinGroup, 0, 7),
            (ApiKey::Heartbeat, 0, 4),
            (ApiKey::LeaveGroup, 0, 4),
            (ApiKey::SyncGroup, 0, 5),
            (ApiKey::DescribeGroups, 0, 5),
            (ApiKey::ListGroups, 0, 4),
            (ApiKey::DeleteRecords, 0, 2),
            (ApiKey::CreatePartitions, 0, 3),
            (ApiKey::DeleteGroups, 0, 2),
            (ApiKey::OffsetDelete, 0, 0),
            (ApiKey::IncrementalAlterConfigs, 0, 1),
            // 1 names the endpoint type, which kafka-python's describe_cluster
            // reads.
            (ApiKey::DescribeCluster, 0, 1),
            (ApiKey::DescribeProducers, 0, 0),
            // 4: the batched form brokers send (KIP-890).
            (ApiKey::AddPartitionsToTxn, 0, 4),
            (ApiKey::AddOffsetsToTxn, 0, 3),
            (ApiKey::EndTxn, 0, 3),
            (ApiKey::TxnOffsetCommit, 0, 3),
            (ApiKey::DescribeTransactions, 0, 0),
            (ApiKey::ListTransactions, 0, 0),
        ]
    );
}

#[tokio::test]
async fn api_versions_advertises_the_registry_and_nothing_else() {
    let (_dir, broker) = broker();
    let expected: Vec<(i16, i16, i16)> =
        APIS.iter().map(|a| (a.key as i16, a.min, a.max)).collect();
    let listed = |keys: &[kafka_protocol::messages::api_versions_response::ApiVersion]| {
        keys.iter().map(|k| (k.api_key, k.min_version, k.max_version)).collect::<Vec<_>>()
    };
    let header = RequestHeader::default().with_request_api_version(3);
    let served = api_versions::handle(&broker, &header, ApiVersionsRequest::default()).await;
    assert_eq!((served.error_code, listed(&served.api_keys)), (0, expected.clone()));
    let refused = api_versions::unsupported();
    assert_eq!(refused.error_code, ResponseError::UnsupportedVersion.code());
    assert_eq!(listed(&refused.api_keys), expected);
}

/// A frame for `key` at `version` whose body is zeros (after a 1 in flexible
/// versions, where a compact list of length 0 is written 1): at each API's
/// lowest version that decodes as a request with empty names and lists, so
/// every handler answers without waiting.
fn zero_frame(key: ApiKey, version: i16, correlation_id: i32) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id);
    let mut frame = BytesMut::new();
    kafka_protocol::protocol::Encodable::encode(
        &header,
        &mut frame,
        key.request_header_version(version),
    )
    .unwrap();
    if key.request_header_version(version) >= 2 {
        frame.put_u8(1);
        // ListTransactions starts with two lists.
        if key == ApiKey::ListTransactions {
            frame.put_u8(1);
        }
    }
    frame.put_bytes(0, 64);
    frame.freeze()
}

#[tokio::test]
async fn every_registered_api_is_dispatched_to_its_handler() {
    let (_dir, broker) = broker();
    for (i, api) in APIS.iter().enumerate() {
        let correlation_id = i as i32 + 1;
        let frame = zero_frame(api.key, api.min, correlation_id);
        let answered = server::process(&broker, frame).await;
        let response = match answered {
            Ok(response) => response,
            Err(e) => panic!("{:?} v{} was not dispatched: {e}", api.key, api.min),
        };
        match response {
            Some(response) => assert!(!response.is_empty(), "{:?}", api.key),
            // The zero body asks for acks=0.
            None => assert_eq!(api.key, ApiKey::Produce),
        }
        let metrics = broker.metrics.api(api.key);
        assert_eq!(metrics.requests(), 1, "{:?} counted once", api.key);
    }
    // Every registered API is exposed once a listener serves them, and no other.
    broker.metrics.serve(APIS.iter().map(|api| api.key));
    let exposed: Vec<ApiKey> = broker.metrics.apis().map(|a| a.key).collect();
    let mut registered: Vec<ApiKey> = APIS.iter().map(|a| a.key).collect();
    registered.sort_by_key(|key| *key as i16);
    assert_eq!(exposed, registered);
    // The answer's error codes are counted per API, through the registry's entry.
    let init = broker.metrics.api(ApiKey::InitProducerId);
    assert_eq!(init.errors(), [("INVALID_REQUEST".to_owned(), 1)], "an empty transactional id");
}

#[tokio::test]
async fn an_unserved_version_is_refused_before_dispatch() {
    let (_dir, broker) = broker();
    let fetch = find(ApiKey::Fetch).unwrap();
    let refused = server::process(&broker, zero_frame(ApiKey::Fetch, fetch.max + 1, 1)).await;
    assert!(matches!(refused, Err(server::RequestError::UnsupportedVersion { .. })));
    // ApiVersions answers in v0 instead, with the registry.
    let frame = zero_frame(ApiKey::ApiVersions, 4, 2);
    let response = server::process(&broker, frame).await.unwrap().unwrap();
    assert!(!response.is_empty());
}
