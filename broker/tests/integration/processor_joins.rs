//! Processors with several inputs on a real broker (127.0.0.1:0), fed by Kafka
//! Produce requests: the `joins` component's stream-table and windowed
//! stream-stream joins, checked against plain models of what each join must
//! emit (across a restart), and deployments whose inputs are not
//! co-partitioned, refused with nothing left behind.

use std::collections::BTreeMap;

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use serde_json::{Value, json};
use weir_broker::log::record::{BatchBuilder, Compression};
use weir_broker::processors::{ProcessorError, state_topic};
use weir_examples::wasm;
use weir_runtime::partitioner::partition_for_key;
use weir_runtime::{Manifest, ProcessorState};

use crate::processors::Node;
use crate::support::RawClient;

/// Two partitions everywhere: each worker joins partition p of both inputs.
const PARTITIONS: u32 = 2;

fn manifest(name: &str, inputs: &[&str], config: &[(&str, &str)]) -> Manifest {
    Manifest {
        name: name.into(),
        inputs: inputs.iter().map(|t| t.to_string()).collect(),
        allowed_lateness_ms: 0,
        outputs: vec!["joined".into()],
        start: Default::default(),
        limits: Default::default(),
        on_error: Default::default(),
        config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// A keyed record; no value is a tombstone.
#[derive(Debug, Clone)]
struct Rec {
    key: String,
    value: Option<String>,
    ts: i64,
}

fn rec(key: &str, value: Option<&str>, ts: i64) -> Rec {
    Rec { key: key.into(), value: value.map(str::to_owned), ts }
}

/// Produces `records` to `topic`, each to its key's partition (murmur2, as
/// Kafka clients place them), one batch per partition, and checks the answer.
async fn produce(c: &mut RawClient, topic: &str, records: &[Rec]) {
    let mut by_partition: BTreeMap<u32, BatchBuilder> = BTreeMap::new();
    for r in records {
        let p = partition_for_key(r.key.as_bytes(), PARTITIONS);
        let batch =
            by_partition.entry(p).or_insert_with(|| BatchBuilder::new(0, Compression::None));
        batch.push(r.ts, Some(r.key.as_bytes()), r.value.as_deref().map(str::as_bytes), &[]);
    }
    let data = by_partition
        .into_iter()
        .map(|(p, batch)| {
            PartitionProduceData::default()
                .with_index(p as i32)
                .with_records(Some(batch.build().unwrap()))
        })
        .collect();
    let name = TopicName(StrBytes::from_string(topic.to_owned()));
    let topic = TopicProduceData::default().with_name(name).with_partition_data(data);
    let request =
        ProduceRequest::default().with_acks(-1).with_timeout_ms(5_000).with_topic_data(vec![topic]);
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &request).await;
    for p in &r.responses[0].partition_responses {
        assert_eq!(p.error_code, 0, "producing to partition {}", p.index);
    }
}

/// The `joined` topic's records as (key, JSON value), by partition then offset,
/// each checked to sit in its key's partition.
fn joined(node: &Node) -> Vec<(String, Value)> {
    let records = node.records("joined");
    records
        .into_iter()
        .map(|r| {
            let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
            (key, serde_json::from_slice(&r.value.unwrap()).unwrap())
        })
        .collect()
}

fn sorted(mut v: Vec<(String, Value)>) -> Vec<(String, String)> {
    let mut flat: Vec<(String, String)> = v.drain(..).map(|(k, v)| (k, v.to_string())).collect();
    flat.sort();
    flat
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_meets_the_table_as_it_was_at_each_records_time_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await;
    for topic in ["clicks", "users", "joined"] {
        node.create(topic, PARTITIONS);
    }
    // Timestamps rise within each topic; users change, and one is deleted.
    let users = [
        rec("u1", Some("Ada"), 1_000),
        rec("u2", Some("Bo"), 1_500),
        rec("u1", Some("Ada L."), 5_000),
        rec("u3", Some("Cy"), 6_000),
        rec("u2", None, 7_000),
    ];
    let clicks: Vec<Rec> = (0..40)
        .map(|i| rec(&format!("u{}", i % 4), Some(&format!("c{i}")), 500 + i as i64 * 200))
        .collect();
    let mut c = RawClient::connect(node.broker.addr).await;
    produce(&mut c, "users", &users).await;
    produce(&mut c, "clicks", &clicks).await;
    // Everything is there before the processor starts: the merge by timestamp
    // decides what each click sees, nothing else.
    let config = [("kind", "table"), ("table", "users"), ("output", "joined")];
    node.deploy(manifest("enrich", &["clicks", "users"], &config), wasm::JOINS).await.unwrap();
    node.wait_for("joined", clicks.len() as u64).await;
    node.stop().await;

    // Restarted, it goes on from its offsets with the table it had: users
    // first (consumed before any click arrives), then clicks.
    let node = Node::start(dir.path()).await;
    let more_users = [rec("u0", Some("Di"), 20_000), rec("u3", None, 20_100)];
    let more_clicks: Vec<Rec> = (40..60)
        .map(|i| rec(&format!("u{}", i % 4), Some(&format!("c{i}")), 30_000 + i as i64))
        .collect();
    let mut c = RawClient::connect(node.broker.addr).await;
    produce(&mut c, "users", &more_users).await;
    node.wait_caught_up().await;
    produce(&mut c, "clicks", &more_clicks).await;
    let total = (clicks.len() + more_clicks.len()) as u64;
    node.wait_for("joined", total).await;

    // The model: a click sees the latest row of its key with an earlier
    // timestamp (at a tie the click, listed first, goes first); a tombstone
    // leaves no row.
    let all_users: Vec<Rec> = users.iter().chain(&more_users).cloned().collect();
    let want: Vec<(String, Value)> = clicks
        .iter()
        .chain(&more_clicks)
        .map(|click| {
            let row = all_users
                .iter()
                .rfind(|u| u.key == click.key && u.ts < click.ts)
                .and_then(|u| u.value.clone());
            (click.key.clone(), json!({ "value": click.value, "row": row }))
        })
        .collect();
    assert_eq!(sorted(joined(&node)), sorted(want));
    let info = node.processors.get("enrich").unwrap();
    assert_eq!(info.status.state, ProcessorState::Running);
    let errors: u64 = info.status.partitions.iter().map(|p| p.errors).sum();
    assert_eq!(errors, 0);
    // Both inputs' positions are reported, and committed for the group.
    let inputs: Vec<&str> =
        info.status.partitions[0].inputs.iter().map(|i| i.topic.as_str()).collect();
    assert_eq!(inputs, ["clicks", "users"]);
    assert_eq!(info.status.lag(), 0);
    node.stop().await;
}

/// The records of two inputs in the order a worker takes them when all are
/// there: repeatedly the input whose next record is oldest (a tie: the input
/// listed first).
fn merged<'a>(left: &'a [Rec], right: &'a [Rec]) -> Vec<(usize, &'a Rec)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < left.len() || j < right.len() {
        let take_left = j == right.len() || (i < left.len() && left[i].ts <= right[j].ts);
        if take_left {
            out.push((0, &left[i]));
            i += 1;
        } else {
            out.push((1, &right[j]));
            j += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_windowed_join_pairs_records_within_the_window_and_dead_letters_late_ones() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await;
    for topic in ["orders", "payments", "joined"] {
        node.create(topic, PARTITIONS);
    }
    // Order o{i} at i s; its payments arrive 0-90 s later (some outside the
    // 60 s window), a few of them out of order.
    let orders: Vec<Rec> = (0..30)
        .map(|i| rec(&format!("o{}", i % 6), Some(&format!("order{i}")), i * 1_000))
        .collect();
    let mut payments: Vec<Rec> = (0..30)
        .map(|i| {
            let delay = (i * 37 % 91) * 1_000;
            rec(&format!("o{}", i % 6), Some(&format!("pay{i}")), i * 1_000 + delay)
        })
        .collect();
    payments.sort_by_key(|p| p.ts);
    // Far behind what came before it: late (grace is 10 s).
    payments.push(rec("o1", Some("late-pay"), 5_000));
    let mut c = RawClient::connect(node.broker.addr).await;
    produce(&mut c, "orders", &orders).await;
    produce(&mut c, "payments", &payments).await;
    let config = [
        ("kind", "window"),
        ("left", "orders"),
        ("window_ms", "60000"),
        ("grace_ms", "10000"),
        ("output", "joined"),
    ];
    node.deploy(manifest("match", &["orders", "payments"], &config), wasm::JOINS).await.unwrap();

    // The model, per partition: records in the merged order; one is late when
    // older than the newest before it less the grace; in-time records of
    // opposite sides and one key at most 60 s apart pair up.
    let mut want = Vec::new();
    let mut late = 0;
    for p in 0..PARTITIONS {
        let mine = |r: &&Rec| partition_for_key(r.key.as_bytes(), PARTITIONS) == p;
        let left: Vec<Rec> = orders.iter().filter(mine).cloned().collect();
        let right: Vec<Rec> = payments.iter().filter(mine).cloned().collect();
        let mut newest = i64::MIN;
        let mut in_time = Vec::new();
        for (side, r) in merged(&left, &right) {
            newest = newest.max(r.ts);
            match r.ts >= newest - 10_000 {
                true => in_time.push((side, r)),
                false => late += 1,
            }
        }
        for (a_side, a) in &in_time {
            for (b_side, b) in &in_time {
                if *a_side == 0 && *b_side == 1 && a.key == b.key && (a.ts - b.ts).abs() <= 60_000 {
                    want.push((a.key.clone(), json!({ "left": a.value, "right": b.value })));
                }
            }
        }
    }
    assert_eq!(late, 1, "the test's input has one late payment");
    node.wait_for("joined", want.len() as u64).await;
    assert_eq!(sorted(joined(&node)), sorted(want));
    // The late payment went to the dead-letter topic with the reason.
    let dead = node.records("match.dead-letter");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].value.as_deref(), Some(&b"late-pay"[..]));
    let header = |name: &str| {
        let h = dead[0].headers.iter().find(|h| h.key == name).expect(name);
        String::from_utf8(h.value.clone().unwrap().to_vec()).unwrap()
    };
    assert!(
        header("weir.error").contains("behind the join's watermark"),
        "{}",
        header("weir.error")
    );
    assert_eq!(header("weir.source.topic"), "payments");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_that_are_not_co_partitioned_are_refused_with_nothing_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await;
    node.create("clicks", 2);
    node.create("users", 1);
    node.create("joined", 2);
    let config = [("kind", "table"), ("table", "users"), ("output", "joined")];
    let refused = node
        .deploy(manifest("enrich", &["clicks", "users"], &config), wasm::JOINS)
        .await
        .unwrap_err();
    assert!(matches!(refused, ProcessorError::NotCoPartitioned(_)), "{refused}");
    let message = refused.to_string();
    assert!(message.contains("clicks: 2, users: 1"), "{message}");
    assert!(message.contains("same partition count"), "{message}");
    assert_eq!(refused.status_code(), 400);
    assert!(node.processors.list().is_empty());
    assert!(node.broker.storage.topic(&state_topic("enrich")).is_none());
    assert!(node.broker.storage.topic("enrich.dead-letter").is_none());
    // An input listed twice is refused before any topic is looked at.
    let twice = manifest("twice", &["clicks", "clicks"], &config);
    let refused = node.deploy(twice, wasm::JOINS).await.unwrap_err();
    assert!(refused.to_string().contains("listed twice"), "{refused}");
    node.stop().await;
}
