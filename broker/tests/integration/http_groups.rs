//! Consumer groups over the HTTP API of a real broker on `127.0.0.1:0`: groups made
//! by real Kafka requests (OffsetCommit, JoinGroup, SyncGroup) are listed with
//! their members and lag, reset and deleted; a processor's group is listed and
//! protected; bad requests are refused with a 4xx that says what to do.

use crate::http_support;
use crate::support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{BufMut, Bytes, BytesMut};
use http_support::Server;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as Assigned;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use serde_json::{Value, json};
use support::RawClient;
use weir_examples::wasm::PASSTHROUGH;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

/// A runtime for the raw Kafka client, on the test's thread.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// `orders` with 2 partitions: 10 records in partition 0 (timestamps 1000, 1010,
/// ...) and 4 in partition 1.
fn orders(server: &Server) {
    let body = json!({ "name": "orders", "partitions": 2 });
    server.expect("POST", "/v1/topics", Some(body), 201);
    for (partition, count) in [(0, 10), (1, 4)] {
        let records: Vec<Value> = (0..count)
            .map(|i| json!({ "value": "v", "partition": partition, "timestamp": 1000 + i * 10 }))
            .collect();
        let body = json!({ "records": records });
        server.expect("POST", "/v1/topics/orders/records", Some(body), 200);
    }
}

/// Commits offsets for `group` as a simple consumer would (generation -1).
async fn commit(client: &mut RawClient, group: &str, offsets: &[(i32, i64)]) {
    let partitions = offsets
        .iter()
        .map(|&(index, offset)| {
            OffsetCommitRequestPartition::default()
                .with_partition_index(index)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(s("from kafka")))
        })
        .collect();
    let topic = OffsetCommitRequestTopic::default()
        .with_name(TopicName(s("orders")))
        .with_partitions(partitions);
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![topic]);
    let r: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, 2, &request).await;
    assert!(r.topics[0].partitions.iter().all(|p| p.error_code == 0), "{r:?}");
}

/// Joins `group` as a consumer and takes both partitions of `orders`; returns
/// the member id.
async fn join(client: &mut RawClient, group: &str) -> String {
    let join = |member_id: &str| {
        let protocol = JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"subscription"));
        JoinGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(60_000)
            .with_member_id(s(member_id))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![protocol])
    };
    let first: JoinGroupResponse = client.call(ApiKey::JoinGroup, 5, &join("")).await;
    assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
    let member_id = first.member_id.to_string();
    let joined: JoinGroupResponse = client.call(ApiKey::JoinGroup, 5, &join(&member_id)).await;
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
        Assigned::default().with_topic(TopicName(s("orders"))).with_partitions(vec![0, 1]),
    ]);
    let mut bytes = BytesMut::new();
    bytes.put_i16(1);
    assignment.encode(&mut bytes, 1).unwrap();
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(1)
        .with_member_id(s(&member_id))
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(s(&member_id))
                .with_assignment(bytes.freeze()),
        ]);
    let synced: SyncGroupResponse = client.call(ApiKey::SyncGroup, 4, &sync).await;
    assert_eq!(synced.error_code, 0);
    member_id
}

async fn leave(client: &mut RawClient, group: &str, member_id: &str) {
    let leaving = MemberIdentity::default().with_member_id(s(member_id));
    let request =
        LeaveGroupRequest::default().with_group_id(GroupId(s(group))).with_members(vec![leaving]);
    let left: LeaveGroupResponse = client.call(ApiKey::LeaveGroup, 4, &request).await;
    assert_eq!(left.error_code, 0);
}

/// The committed offset of each partition of a described group.
fn committed(group: &Value) -> Vec<(i64, i64)> {
    let offsets = group["offsets"].as_array().unwrap().iter();
    offsets
        .map(|o| (o["partition"].as_i64().unwrap(), o["committed_offset"].as_i64().unwrap()))
        .collect()
}

fn reset(server: &Server, group: &str, body: Value) -> Value {
    server.expect("POST", &format!("/v1/groups/{group}/offsets"), Some(body), 200)
}

#[test]
fn groups_from_a_kafka_commit_to_delete() {
    let server = Server::start();
    let runtime = runtime();
    let mut client = runtime.block_on(RawClient::connect(server.kafka));
    orders(&server);
    assert_eq!(server.expect("GET", "/v1/groups", None, 200), json!([]));
    runtime.block_on(commit(&mut client, "billing", &[(0, 6), (1, 4)]));

    let list = server.expect("GET", "/v1/groups", None, 200);
    assert_eq!(
        list,
        json!([{ "group_id": "billing", "state": "Empty", "protocol_type": "", "members": 0,
                 "lag": 4, "processor": false }])
    );
    let group = server.expect("GET", "/v1/groups/billing", None, 200);
    assert_eq!(group["lag"], 4);
    assert_eq!(
        group["offsets"][0],
        json!({ "topic": "orders", "partition": 0, "committed_offset": 6, "log_end_offset": 10,
                "lag": 4, "metadata": "from kafka" })
    );
    assert_eq!(group["offsets"][1]["lag"], 0);

    // Resets: earliest, an offset (clamped), a time, one partition to the end.
    let answer = reset(&server, "billing", json!({ "topic": "orders", "to": "earliest" }));
    assert_eq!(
        answer["offsets"],
        json!([{ "partition": 0, "previous": 6, "offset": 0 },
               { "partition": 1, "previous": 4, "offset": 0 }])
    );
    let listed = server.expect("GET", "/v1/groups", None, 200);
    assert_eq!(listed[0]["lag"], 14);
    reset(&server, "billing", json!({ "topic": "orders", "to": { "offset": 100 } }));
    let group = server.expect("GET", "/v1/groups/billing", None, 200);
    assert_eq!((committed(&group), &group["lag"]), (vec![(0, 10), (1, 4)], &json!(0)));
    reset(&server, "billing", json!({ "topic": "orders", "to": { "timestamp": 1025 } }));
    let group = server.expect("GET", "/v1/groups/billing", None, 200);
    assert_eq!(committed(&group), [(0, 3), (1, 3)]);
    let body = json!({ "topic": "orders", "to": "latest", "partitions": [1] });
    let answer = reset(&server, "billing", body);
    assert_eq!(answer["offsets"], json!([{ "partition": 1, "previous": 3, "offset": 4 }]));
    let group = server.expect("GET", "/v1/groups/billing", None, 200);
    assert_eq!(committed(&group), [(0, 3), (1, 4)]);

    // A consumer joins: it is listed with its assignment, and the group can be
    // neither reset nor deleted.
    let member_id = runtime.block_on(join(&mut client, "billing"));
    let group = server.expect("GET", "/v1/groups/billing", None, 200);
    assert_eq!((&group["state"], &group["protocol_type"]), (&json!("Stable"), &json!("consumer")));
    let member = &group["members"][0];
    assert_eq!(
        (&member["member_id"], &member["client_id"]),
        (&json!(member_id), &json!("weir-test"))
    );
    assert_eq!(member["assignment"], json!([{ "topic": "orders", "partitions": [0, 1] }]));
    assert_eq!(server.expect("GET", "/v1/groups", None, 200)[0]["members"], 1);
    let body = Some(json!({ "topic": "orders", "to": "earliest" }));
    server.refused("POST", "/v1/groups/billing/offsets", body, 409, "has active members");
    server.refused("DELETE", "/v1/groups/billing", None, 409, "stop its consumers");
    assert_eq!(committed(&server.expect("GET", "/v1/groups/billing", None, 200)), [(0, 3), (1, 4)]);

    // Once it leaves, the group goes.
    runtime.block_on(leave(&mut client, "billing", &member_id));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match server.call("DELETE", "/v1/groups/billing", None) {
            (204, _) => break,
            (409, _) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            (status, answer) => panic!("{status}: {answer}"),
        }
    }
    server.refused("GET", "/v1/groups/billing", None, 404, "GET /v1/groups lists the groups");
    server.refused("DELETE", "/v1/groups/billing", None, 404, "does not exist");
    assert_eq!(server.expect("GET", "/v1/groups", None, 200), json!([]));
}

#[test]
fn a_processors_group_is_listed_and_left_to_the_processor() {
    let server = Server::start();
    orders(&server);
    server.expect("POST", "/v1/topics", Some(json!({ "name": "copies" })), 201);
    let manifest = json!({ "name": "copier", "input": "orders", "outputs": ["copies"],
                           "config": { "output": "copies" } });
    let body = json!({ "manifest": manifest, "module": STANDARD.encode(PASSTHROUGH) });
    server.expect("POST", "/v1/processors", Some(body), 201);

    // Its commits are mirrored to its group: lag falls to 0 once it has caught up.
    let deadline = Instant::now() + Duration::from_secs(120);
    let group = loop {
        let group = server.expect("GET", "/v1/groups/copier", None, 200);
        if group["offsets"].as_array().map(Vec::len) == Some(2) && group["lag"] == 0 {
            break group;
        }
        assert!(Instant::now() < deadline, "the processor never caught up: {group:#}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(group["processor"], true);
    assert_eq!(committed(&group), [(0, 10), (1, 4)]);
    let list = server.expect("GET", "/v1/groups", None, 200);
    assert_eq!((&list[0]["group_id"], &list[0]["processor"]), (&json!("copier"), &json!(true)));

    let body = Some(json!({ "topic": "orders", "to": "earliest" }));
    server.refused("POST", "/v1/groups/copier/offsets", body, 409, "state changelog");
    server.refused("DELETE", "/v1/groups/copier", None, 409, "weir processor delete copier");
    server.expect("DELETE", "/v1/processors/copier", None, 204);
    server.refused("GET", "/v1/groups/copier", None, 404, "does not exist");
}

#[test]
fn group_requests_that_are_refused() {
    let server = Server::start();
    orders(&server);
    let refused = |body: Value, status: u16, hint: &str| {
        server.refused("POST", "/v1/groups/g/offsets", Some(body), status, hint);
    };
    refused(json!({ "topic": "orders", "to": "first" }), 400, "unknown variant `first`");
    refused(json!({ "topic": "orders", "to": { "offset": -1 } }), 400, "expected u64");
    refused(json!({ "topic": "orders", "to": { "timestamp": -1 } }), 400, "to.timestamp");
    refused(json!({ "topic": "orders" }), 400, "missing field `to`");
    refused(json!({ "topic": "nope", "to": "latest" }), 404, "does not exist");
    let body = json!({ "topic": "orders", "to": "latest", "partitions": [9] });
    refused(body, 400, "has partitions 0 to 1");
    let body = json!({ "topic": "orders", "to": "latest", "partitions": [] });
    refused(body, 400, "`partitions` is empty");
    let (status, answer) =
        server.raw("POST", "/v1/groups/g/offsets", Some("application/json"), Some(b"{".to_vec()));
    assert_eq!(status, 400, "{answer}");
    server.refused("GET", "/v1/groups/nope", None, 404, "does not exist");
    server.refused("DELETE", "/v1/groups/nope", None, 404, "does not exist");
    assert_eq!(server.expect("GET", "/v1/groups", None, 200), json!([]), "nothing was committed");
}
