//! Topics and records over the HTTP API of a real broker on `127.0.0.1:0`: create,
//! describe, alter and delete topics; produce JSON, text, binary and headers,
//! then read them back by offset, time and limit; and the requests that must be
//! refused with a 4xx that says what to do; the broker's configs changed at run
//! time and reaching the topics without their own.

use crate::http_support;

use http_support::{Server, message};
use serde_json::{Value, json};
use weir_broker::log::batch;
use weir_broker::log::record::decode_batches;
use weir_runtime::partitioner::partition_for_key;

/// Creates `name` with `partitions` and `configs`.
fn create(server: &Server, name: &str, partitions: u32, configs: Value) -> Value {
    let body = json!({ "name": name, "partitions": partitions, "configs": configs });
    server.expect("POST", "/v1/topics", Some(body), 201)
}

/// The config `name` of a described topic: (value, source).
fn config(topic: &Value, name: &str) -> (String, String) {
    let configs = topic["configs"].as_array().expect("configs");
    let found = configs.iter().find(|c| c["name"] == name).expect(name);
    (found["value"].as_str().unwrap().into(), found["source"].as_str().unwrap().into())
}

fn produce(server: &Server, topic: &str, records: Value) -> Vec<(u64, u64)> {
    let path = format!("/v1/topics/{topic}/records");
    let answer = server.expect("POST", &path, Some(json!({ "records": records })), 200);
    assert_eq!(answer["topic"], topic);
    let offsets = answer["offsets"].as_array().unwrap().iter();
    offsets.map(|o| (o["partition"].as_u64().unwrap(), o["offset"].as_u64().unwrap())).collect()
}

fn read(server: &Server, topic: &str, partition: u64, query: &str) -> Value {
    let path = format!("/v1/topics/{topic}/partitions/{partition}/records?{query}");
    server.expect("GET", &path, None, 200)
}

fn values(answer: &Value) -> Vec<Value> {
    answer["records"].as_array().unwrap().iter().map(|r| r["value"].clone()).collect()
}

#[test]
fn a_topic_from_create_to_delete() {
    let server = Server::start();
    assert_eq!(server.expect("GET", "/v1/topics", None, 200), json!([]));
    let all = server.expect("GET", "/v1/topics?internal=true", None, 200);
    assert_eq!(all[0]["name"], "__consumer_offsets", "{all}");
    assert_eq!(all[0]["internal"], true);

    // Numbers are taken as their text.
    let configs = json!({ "retention.ms": 86400000, "durability": "sync" });
    let topic = create(&server, "orders", 3, configs);
    assert_eq!((&topic["name"], &topic["internal"]), (&json!("orders"), &json!(false)));
    let partitions = topic["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 3);
    assert_eq!(
        partitions[2],
        json!({ "partition": 2, "log_start_offset": 0, "high_watermark": 0, "size_bytes": 0,
                "segments": 1 })
    );
    assert_eq!(config(&topic, "retention.ms"), ("86400000".into(), "topic".into()));
    assert_eq!(config(&topic, "retention.bytes"), ("-1".into(), "default".into()));
    server.refused("POST", "/v1/topics", Some(json!({ "name": "orders" })), 409, "already exists");

    // The listing shows partitions but not configs; a topic made without a
    // partition count gets the broker's default.
    server.expect("POST", "/v1/topics", Some(json!({ "name": "small" })), 201);
    let list = server.expect("GET", "/v1/topics", None, 200);
    let names: Vec<&str> =
        list.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["orders", "small"]);
    assert_eq!(list[1]["partitions"].as_array().unwrap().len(), 1);
    assert!(list[0].get("configs").is_none(), "{list}");

    produce(&server, "orders", json!([{ "value": "a", "partition": 1 }]));
    let described = server.expect("GET", "/v1/topics/orders", None, 200);
    let p1 = &described["partitions"][1];
    assert_eq!(p1["high_watermark"], 1);
    assert!(p1["size_bytes"].as_u64().unwrap() > 0, "{p1}");

    // Change retention; null returns a key to its default; the others stay.
    let change = json!({ "retention.ms": "3600000", "durability": null });
    let altered = server.expect("PATCH", "/v1/topics/orders/configs", Some(change), 200);
    assert_eq!(config(&altered, "retention.ms"), ("3600000".into(), "topic".into()));
    assert_eq!(config(&altered, "durability"), ("interval".into(), "default".into()));
    let log = server.broker.storage.partition("orders", 2).unwrap();
    assert_eq!(log.config().retention_age, Some(std::time::Duration::from_secs(3600)));
    let wrapped = json!({ "configs": { "segment.ms": 60000 } });
    let altered = server.expect("PATCH", "/v1/topics/orders/configs", Some(wrapped), 200);
    assert_eq!(config(&altered, "segment.ms"), ("60000".into(), "topic".into()));
    assert_eq!(config(&altered, "retention.ms").0, "3600000");

    assert_eq!(server.call("DELETE", "/v1/topics/orders", None), (204, Value::Null));
    server.refused("GET", "/v1/topics/orders", None, 404, "does not exist");
    server.refused("DELETE", "/v1/topics/orders", None, 404, "GET /v1/topics lists the topics");
    assert!(server.broker.storage.partition("orders", 0).is_none());
}

#[test]
fn topic_requests_that_are_refused() {
    let server = Server::start();
    let create = |body: Value| server.call("POST", "/v1/topics", Some(body));
    let refused = |body: Value, status: u16, hint: &str| {
        let (got, answer) = create(body.clone());
        assert_eq!(got, status, "{body}: {answer}");
        assert!(message(&answer).contains(hint), "{body}: {answer}");
    };
    refused(json!({ "name": "__mine" }), 400, "reserved for internal topics");
    refused(json!({ "name": "a b" }), 400, "invalid topic name");
    refused(json!({ "name": "t", "partitions": 0 }), 400, "invalid partition count 0");
    refused(json!({ "name": "t", "partitions": -1 }), 400, "partitions");
    refused(json!({ "name": "t", "configs": { "retention.ms": "soon" } }), 400, "retention.ms");
    refused(json!({ "name": "t", "configs": { "retention.hours": 1 } }), 400, "supported configs");
    refused(json!({ "name": "t", "configs": { "retention.ms": true } }), 400, "as a string");
    refused(json!({ "name": "t", "replicas": 3 }), 400, "unknown field `replicas`");
    refused(json!({ "partitions": 1 }), 400, "missing field `name`");
    let (status, answer) =
        server.raw("POST", "/v1/topics", Some("application/json"), Some(b"{".to_vec()));
    assert_eq!(status, 400, "{answer}");
    assert!(message(&answer).contains("not valid JSON"), "{answer}");
    let (status, answer) = server.raw("POST", "/v1/topics", None, Some(b"{}".to_vec()));
    assert_eq!(status, 415, "{answer}");

    let offsets = "/v1/topics/__consumer_offsets";
    server.refused("DELETE", offsets, None, 403, "clients cannot delete it");
    let change = Some(json!({ "retention.ms": "1" }));
    server.refused("PATCH", &format!("{offsets}/configs"), change, 403, "cannot alter it");
    let record = Some(json!({ "records": [{ "value": "x" }] }));
    server.refused("POST", &format!("{offsets}/records"), record, 403, "cannot produce to it");

    server.refused("GET", "/v1/topics/nope", None, 404, "GET /v1/topics lists the topics");
    server.refused("PATCH", "/v1/topics/nope/configs", Some(json!({ "flush.ms": 5 })), 404, "nope");
    server.refused("GET", "/v1/topics?internal=maybe", None, 400, "query string");
    let topic = self::create(&server, "t", 1, json!({}));
    assert_eq!(topic["name"], "t");
    server.refused("PATCH", "/v1/topics/t/configs", Some(json!({})), 400, "no config to change");
    let bad = Some(json!({ "segment.bytes": "12" }));
    server.refused("PATCH", "/v1/topics/t/configs", bad, 400, "from 1024");
    server.refused("PUT", "/v1/topics/t", None, 405, "PUT is not allowed");
    server.refused("GET", "/v1/topic", None, 404, "/openapi.json");
    assert_eq!(server.expect("GET", "/v1/topics", None, 200).as_array().unwrap().len(), 1);
}

#[test]
fn records_round_trip_as_text_json_binary_and_headers() {
    let server = Server::start();
    create(&server, "orders", 3, json!({}));
    let records = json!([
        { "key": "alice", "value": { "amount": 5 } },
        { "key": "bob", "value": "plain text", "headers": { "trace": "t1" } },
        { "value": { "base64": "AP8=" }, "partition": 2,
          "headers": [["h", "1"], ["h", null], ["bin", { "base64": "AAE=" }]] },
        { "key": null, "value": null, "partition": 2, "timestamp": 1234 },
    ]);
    let offsets = produce(&server, "orders", records);
    let alice = u64::from(partition_for_key(b"alice", 3));
    assert_eq!(offsets[0].0, alice, "by the key's murmur2, as Kafka clients");
    assert_eq!(offsets[1].0, u64::from(partition_for_key(b"bob", 3)));
    assert_eq!(&offsets[2..], [(2, 0), (2, 1)], "one batch, offsets in order");

    let read_alice = read(&server, "orders", alice, "");
    let first = &read_alice["records"][0];
    assert_eq!((&first["key"], &first["value"]), (&json!("alice"), &json!(r#"{"amount":5}"#)));
    let p2 = read(&server, "orders", 2, "offset=0");
    assert_eq!((&p2["high_watermark"], &p2["next_offset"]), (&json!(2), &json!(2)));
    let binary = &p2["records"][0];
    assert_eq!(binary["value"], json!({ "base64": "AP8=" }), "not UTF-8: base64");
    assert_eq!(binary["key"], Value::Null);
    assert_eq!(binary["headers"], json!([["h", "1"], ["h", null], ["bin", "\u{0}\u{1}"]]));
    let tombstone = &p2["records"][1];
    assert_eq!((&tombstone["value"], &tombstone["timestamp"]), (&Value::Null, &json!(1234)));

    // The stored batch is what a Kafka consumer fetches.
    let log = server.broker.storage.partition("orders", 2).unwrap();
    let stored = decode_batches(&log.read(0, 1 << 20).unwrap().slice.unwrap().read().unwrap());
    let stored = stored.unwrap();
    assert_eq!(stored[0].value.as_deref(), Some(&[0u8, 0xff][..]));
    assert_eq!(stored[0].headers.len(), 3);

    // What a read answers can be produced again, byte for byte.
    create(&server, "copy", 1, json!({}));
    let all = read(&server, "orders", 2, "format=base64");
    let again: Vec<Value> = all["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            json!({ "key": r["key"], "value": r["value"], "headers": r["headers"],
                         "timestamp": r["timestamp"] })
        })
        .collect();
    assert!(again[0]["value"]["base64"].is_string(), "{again:?}");
    produce(&server, "copy", Value::Array(again));
    let copied = read(&server, "copy", 0, "format=base64");
    let strip = |a: &Value| -> Vec<Value> {
        a["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| json!([r["key"], r["value"], r["headers"], r["timestamp"]]))
            .collect()
    };
    assert_eq!(strip(&copied), strip(&all));

    // Records without key or partition go to one partition per request.
    let keyless = produce(&server, "orders", json!([{ "value": "x" }, { "value": "y" }, {}]));
    assert!(keyless.iter().all(|(p, _)| *p == keyless[0].0), "{keyless:?}");
}

#[test]
fn reads_page_by_limit_and_start_by_offset_time_or_end() {
    let server = Server::start();
    create(&server, "events", 1, json!({}));
    let records: Vec<Value> =
        (0..25).map(|i| json!({ "value": format!("e{i}"), "timestamp": 1000 + i * 10 })).collect();
    produce(&server, "events", Value::Array(records));
    // A second batch: reads continue across batches.
    produce(&server, "events", json!([{ "value": "late", "timestamp": 5000 }]));

    let page = read(&server, "events", 0, "limit=10");
    assert_eq!(values(&page).len(), 10);
    assert_eq!((&page["records"][0]["offset"], &page["next_offset"]), (&json!(0), &json!(10)));
    let page = read(&server, "events", 0, "offset=20&limit=100");
    assert_eq!(values(&page), ["e20", "e21", "e22", "e23", "e24", "late"]);
    assert_eq!(page["next_offset"], 26);
    let page = read(&server, "events", 0, "offset=3&limit=2");
    assert_eq!((values(&page), &page["next_offset"]), (vec![json!("e3"), json!("e4")], &json!(5)));

    let page = read(&server, "events", 0, "timestamp=1095&limit=2");
    assert_eq!(values(&page), ["e10", "e11"]);
    let page = read(&server, "events", 0, "timestamp=4000");
    assert_eq!(values(&page), ["late"]);
    let page = read(&server, "events", 0, "timestamp=9999");
    assert_eq!((values(&page).len(), &page["next_offset"]), (0, &json!(26)));
    let page = read(&server, "events", 0, "from=end");
    assert_eq!((values(&page).len(), &page["next_offset"]), (0, &json!(26)));
    let page = read(&server, "events", 0, "from=beginning&limit=1");
    assert_eq!(values(&page), ["e0"]);
    let page = read(&server, "events", 0, "offset=26");
    assert_eq!((values(&page).len(), &page["high_watermark"]), (0, &json!(26)));
    let page = read(&server, "events", 0, "limit=10000");
    assert_eq!(values(&page).len(), 26);
}

#[test]
fn a_damaged_batch_ends_reads_before_it_and_is_an_error_at_it() {
    let server = Server::start();
    create(&server, "events", 1, json!({}));
    for first in [0, 2, 4] {
        let records: Vec<Value> = (first..first + 2).map(|i| json!({ "value": i })).collect();
        produce(&server, "events", Value::Array(records));
    }
    // A byte of the second batch flipped on disk, behind the broker's back.
    let log = server.broker.storage.partition("events", 0).unwrap();
    let path = log.dir().join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&path).unwrap();
    let first = batch::BatchHeader::parse(&bytes).unwrap().total_len();
    let second = batch::BatchHeader::parse(&bytes[first..]).unwrap().total_len();
    bytes[first + second - 2] ^= 0x10;
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &bytes, 0).unwrap();

    let page = read(&server, "events", 0, "");
    assert_eq!((values(&page), &page["next_offset"]), (vec![json!("0"), json!("1")], &json!(2)));
    let path = "/v1/topics/events/partitions/0/records?offset=2";
    let answer = server.expect("GET", path, None, 500);
    assert!(message(&answer).contains("offset 2 is damaged"), "{answer}");
    assert_eq!(values(&read(&server, "events", 0, "offset=4")), ["4", "5"]);
}

#[test]
fn record_requests_that_are_refused() {
    let server = Server::start();
    create(&server, "orders", 3, json!({}));
    create(&server, "tiny", 1, json!({ "max.message.bytes": 1024 }));
    produce(&server, "orders", json!([{ "value": "v", "partition": 0 }]));

    let read = |query: &str, status: u16, hint: &str| {
        let path = format!("/v1/topics/orders/partitions/0/records?{query}");
        server.refused("GET", &path, None, status, hint);
    };
    read("offset=-1", 400, "query string");
    read("offset=5", 400, "out of range: the partition holds offsets 0 to 0");
    read("limit=0", 400, "1 to 10000");
    read("limit=10001", 400, "1 to 10000");
    read("offset=0&from=end", 400, "give one of offset=N, timestamp=MS or from");
    read("from=middle", 400, "unknown variant `middle`");
    read("format=xml", 400, "unknown variant `xml`");
    read("timestamp=-5", 400, "negative");
    server.refused("GET", "/v1/topics/nope/partitions/0/records", None, 404, "does not exist");
    let path = "/v1/topics/orders/partitions/9/records";
    server.refused("GET", path, None, 404, "has partitions 0 to 2");
    server.refused("GET", "/v1/topics/orders/partitions/-1/records", None, 400, "path");

    let produce = |records: Value, status: u16, hint: &str| {
        let body = Some(json!({ "records": records }));
        server.refused("POST", "/v1/topics/orders/records", body, status, hint);
    };
    produce(json!([]), 400, "`records` is empty");
    produce(json!([{ "value": "v", "partition": 7 }]), 400, "records[0].partition is 7");
    produce(
        json!([{}, { "value": { "base64": "%%" } }]),
        400,
        "records[1].value.base64 is not valid",
    );
    produce(json!([{ "headers": "a=b" }]), 400, "records[0].headers is \"a=b\"");
    produce(json!([{ "headers": [["a"]] }]), 400, "records[0].headers[0]");
    produce(json!([{ "timestamp": -1 }]), 400, "records[0].timestamp is -1");
    produce(json!([{ "valeu": 1 }]), 400, "unknown field `valeu`");
    produce(json!([{ "partition": -1 }]), 400, "records[0].partition");
    let body = Some(json!({ "records": [{ "value": "x" }] }));
    server.refused("POST", "/v1/topics/nope/records", body, 404, "does not exist");
    let big = "x".repeat(2000);
    let body = Some(json!({ "records": [{ "value": big }] }));
    server.refused("POST", "/v1/topics/tiny/records", body, 413, "max.message.bytes of 1024");
    let (status, answer) = server.raw(
        "POST",
        "/v1/topics/orders/records",
        Some("application/json"),
        Some(b"[".to_vec()),
    );
    assert_eq!(status, 400, "{answer}");

    // Nothing refused was written.
    let hwms: Vec<u64> = (0..3)
        .map(|p| server.broker.storage.partition("orders", p).unwrap().high_watermark())
        .collect();
    assert_eq!(hwms, [1, 0, 0]);
    assert_eq!(server.broker.storage.partition("tiny", 0).unwrap().high_watermark(), 0);
}

#[test]
fn deleting_records_moves_the_log_start_that_reads_then_see() {
    let server = Server::start();
    create(&server, "events", 2, json!({}));
    let records: Vec<Value> =
        (0..6).map(|i| json!({ "value": format!("v{i}"), "partition": 0 })).collect();
    produce(&server, "events", json!(records));
    let path = "/v1/topics/events/delete-records";
    let topic = server.expect("POST", path, Some(json!({ "offsets": { "0": 4 } })), 200);
    assert_eq!(topic["partitions"][0]["log_start_offset"], 4);
    assert_eq!(topic["partitions"][1]["log_start_offset"], 0);
    assert_eq!(values(&read(&server, "events", 0, "from=beginning")), [json!("v4"), json!("v5")]);
    server.refused("POST", path, Some(json!({ "offsets": { "0": 7 } })), 400, "out of range");
    server.refused(
        "POST",
        path,
        Some(json!({ "offsets": { "9": 1 } })),
        404,
        "events-9 does not exist",
    );
    server.refused(
        "POST",
        path,
        Some(json!({ "offsets": { "x": 1 } })),
        400,
        "not a partition number",
    );
    server.refused("POST", path, Some(json!({ "offsets": { "0": -3 } })), 400, "not an offset");
    server.refused("POST", path, Some(json!({ "offsets": {} })), 400, "no partition given");
    let internal = "/v1/topics/__consumer_offsets/delete-records";
    server.refused("POST", internal, Some(json!({ "offsets": { "0": 0 } })), 403, "internal topic");
    let topic = server.expect("POST", path, Some(json!({ "offsets": { "0": -1, "1": -1 } })), 200);
    assert_eq!(topic["partitions"][0]["log_start_offset"], 6);
}

#[test]
fn the_brokers_configs_change_at_run_time_and_reach_topics_without_their_own() {
    let server = Server::start();
    create(&server, "plain", 1, json!({}));
    create(&server, "own", 1, json!({ "retention.ms": "1000" }));
    let listed = server.expect("GET", "/v1/broker/configs", None, 200);
    let find = |configs: &Value, name: &str| {
        configs.as_array().unwrap().iter().find(|c| c["name"] == name).expect(name).clone()
    };
    let retention = find(&listed, "log.retention.ms");
    assert_eq!(
        (&retention["value"], &retention["source"]),
        (&json!("604800000"), &json!("default"))
    );
    assert_eq!((&retention["type"], &retention["read_only"]), (&json!("long"), &json!(false)));
    assert_eq!(find(&listed, "broker.id")["read_only"], true);

    let body = json!({ "log.retention.ms": 86_400_000, "log.segment.bytes": "1048576" });
    let changed = server.expect("PATCH", "/v1/broker/configs", Some(body), 200);
    assert_eq!(find(&changed, "log.retention.ms")["source"], "node");
    let plain = server.expect("GET", "/v1/topics/plain", None, 200);
    assert_eq!(config(&plain, "retention.ms"), ("86400000".into(), "node".into()));
    let own = server.expect("GET", "/v1/topics/own", None, 200);
    assert_eq!(config(&own, "retention.ms"), ("1000".into(), "topic".into()));
    let log = server.broker.storage.partition("plain", 0).unwrap();
    assert_eq!(log.config().segment_bytes, 1_048_576, "in force at once");

    let path = "/v1/broker/configs";
    server.refused("PATCH", path, Some(json!({ "num.partitions": "3" })), 400, "read-only");
    server.refused("PATCH", path, Some(json!({ "colour": "red" })), 400, "log.retention.ms");
    server.refused("PATCH", path, Some(json!({ "log.retention.ms": "soon" })), 400, "retention.ms");
    server.refused("PATCH", path, Some(json!({})), 400, "no config to change");
    let back = server.expect("PATCH", path, Some(json!({ "log.retention.ms": null })), 200);
    assert_eq!(find(&back, "log.retention.ms")["source"], "default");
}
