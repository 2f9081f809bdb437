//! `read_committed` over the Kafka protocol: transactions written into a
//! partition (as the coordinator will write them: transactional batches, then a
//! marker), read with Fetch and ListOffsets at both isolation levels. An open
//! transaction holds the last stable offset; an aborted one is named in the
//! Fetch response for the client to skip; a client's own control batch is
//! refused.

use crate::support;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::*;
use support::requests::{create_topic, fetch_request, name, produce};
use support::{RawClient, TestBroker};
use weir_broker::broker::BrokerOptions;
use weir_broker::log::batch;
use weir_broker::log::producers::txn;
use weir_broker::log::record::{BatchBuilder, Compression, decode_batches};

/// A transactional batch of producer `pid` with `values`, from sequence `seq`.
fn txn_batch(pid: i64, seq: i32, values: &[&str]) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, Compression::None).producer(pid, 0, seq).transactional();
    for v in values {
        b.push(1_000, Some(b"k"), Some(v.as_bytes()), &[]);
    }
    b.build().unwrap().to_vec()
}

/// What a consumer at `isolation` reads from offset 0, fetching until it gets
/// nothing more (a response holds one segment's batches at most).
struct Read {
    high_watermark: i64,
    last_stable_offset: i64,
    values: Vec<String>,
    /// Aborted transactions named: producer id and first offset.
    aborted: Vec<(i64, i64)>,
}

async fn fetch(c: &mut RawClient, isolation: i8) -> Read {
    let mut read =
        Read { high_watermark: 0, last_stable_offset: 0, values: vec![], aborted: vec![] };
    let mut offset = 0;
    for _ in 0..100 {
        let request = fetch_request("t", 0, offset, 0, 0).with_isolation_level(isolation);
        let r: FetchResponse = c.call(ApiKey::Fetch, 12, &request).await;
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0);
        (read.high_watermark, read.last_stable_offset) = (p.high_watermark, p.last_stable_offset);
        for a in p.aborted_transactions.iter().flatten() {
            if !read.aborted.contains(&(a.producer_id.0, a.first_offset)) {
                read.aborted.push((a.producer_id.0, a.first_offset));
            }
        }
        let bytes = p.records.clone().unwrap_or_default();
        if bytes.is_empty() {
            return read;
        }
        for b in batch::split(&bytes) {
            let b = b.unwrap();
            offset = batch::validate(b).unwrap().last_offset() + 1;
            for r in decode_batches(b).unwrap() {
                read.values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
            }
        }
    }
    panic!("the reads did not end");
}

async fn latest(c: &mut RawClient, isolation: i8) -> i64 {
    let request = ListOffsetsRequest::default().with_isolation_level(isolation).with_topics(vec![
        ListOffsetsTopic::default().with_name(name("t")).with_partitions(vec![
            ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1),
        ]),
    ]);
    let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 5, &request).await;
    r.topics[0].partitions[0].offset
}

#[tokio::test]
async fn read_committed_stops_at_the_stable_offset_and_names_aborted_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(create_topic(&mut c, "t", 1, &[]).await, 0);
    let log = broker.storage.partition("t", 0).unwrap();

    assert_eq!(produce(&mut c, "t", 0, support::requests::batch(&["plain"], 1)).await.0, 0);
    log.append_transactional(&txn_batch(5, 0, &["aborted-1", "aborted-2"])).unwrap();
    log.write_marker(5, 0, false, 0).unwrap(); // offsets 1-2, marker 3
    log.append_transactional(&txn_batch(6, 0, &["open"])).unwrap(); // offset 4, open

    // read_uncommitted sees everything; read_committed stops at the open
    // transaction and names the aborted one.
    let r = fetch(&mut c, 0).await;
    assert_eq!((r.high_watermark, r.last_stable_offset), (5, 4));
    assert_eq!(r.values, ["plain", "aborted-1", "aborted-2", "open"]);
    assert!(r.aborted.is_empty(), "read_uncommitted is told of no aborts");
    let r = fetch(&mut c, 1).await;
    assert_eq!((r.high_watermark, r.last_stable_offset), (5, 4));
    // The client drops the aborted records with the list; the open one is not sent.
    assert_eq!(r.values, ["plain", "aborted-1", "aborted-2"]);
    assert_eq!(r.aborted, [(5, 1)]);
    assert_eq!((latest(&mut c, 0).await, latest(&mut c, 1).await), (5, 4));

    // The open transaction commits: everything is stable.
    assert_eq!(log.write_marker(6, 0, true, 0).unwrap(), 5);
    let r = fetch(&mut c, 1).await;
    assert_eq!((r.high_watermark, r.last_stable_offset), (6, 6));
    assert_eq!(r.values, ["plain", "aborted-1", "aborted-2", "open"]);
    assert_eq!(latest(&mut c, 1).await, 6);

    // A client may not write markers, nor transactional batches outside a
    // transaction.
    let marker = txn::marker(6, 0, true, 0, 1);
    let code = produce(&mut c, "t", 0, marker).await.0;
    assert_eq!(code, ResponseError::InvalidRecord.code());
    let code = produce(&mut c, "t", 0, Bytes::from(txn_batch(6, 1, &["sneaky"]))).await.0;
    assert_eq!(code, ResponseError::InvalidTxnState.code());
    assert_eq!(log.high_watermark(), 6);
    broker.stop().await;
}
