//! The HTTP API against a real broker: Kafka and HTTP listeners on `127.0.0.1:0`,
//! the processors of a temporary data directory, and real Wasm components from
//! `weir-examples`. Requests go over TCP with a blocking client.

use crate::http_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http_support::{Server, message};
use serde_json::{Value, json};
use weir_broker::http::MAX_BODY_BYTES;
use weir_broker::log::record::{BatchBuilder, Compression};
use weir_broker::topic::TopicSpec;
use weir_examples::wasm::{MISBEHAVE, PASSTHROUGH};

/// The longest any wait in these tests lasts (deploying compiles a component).
const PATIENCE: Duration = Duration::from_secs(120);

/// A broker with the topics `orders` (2 partitions) and `copies`.
fn start() -> Server {
    Server::start_with(PATIENCE, |node| {
        for (name, partitions) in [("orders", 2), ("copies", 1)] {
            let spec = TopicSpec { name: name.into(), partitions, configs: BTreeMap::new() };
            node.storage().create_topic(spec).unwrap();
        }
    })
}

/// What these tests add to the shared server.
impl Server {
    /// Appends `count` records with value `v{i}` to `topic`'s `partition`.
    fn produce(&self, topic: &str, partition: u32, count: usize) {
        let mut batch = BatchBuilder::new(0, Compression::None);
        for i in 0..count {
            batch.push(1_700_000_000_000 + i as i64, None, Some(format!("v{i}").as_bytes()), &[]);
        }
        let p = self.broker.storage.partition(topic, partition).expect("the partition exists");
        p.append(&batch.build().unwrap()).unwrap();
    }

    fn high_watermark(&self, topic: &str, partition: u32) -> u64 {
        self.broker.storage.partition(topic, partition).unwrap().high_watermark()
    }

    /// Deploys `wasm` with `manifest`.
    fn deploy(&self, manifest: Value, wasm: &[u8]) -> (u16, Value) {
        self.call(
            "POST",
            "/v1/processors",
            Some(json!({ "manifest": manifest, "module": STANDARD.encode(wasm) })),
        )
    }

    /// Waits until `done` holds for the processor's info.
    fn wait_for(&self, name: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (status, info) = self.call("GET", &format!("/v1/processors/{name}"), None);
            assert_eq!(status, 200, "{info}");
            if done(&info) {
                return info;
            }
            assert!(Instant::now() < deadline, "waited too long for {what}: {info:#}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A counter summed over the processor's partitions.
fn total(info: &Value, counter: &str) -> u64 {
    info["status"]["partitions"]
        .as_array()
        .map_or(0, |ps| ps.iter().filter_map(|p| p[counter].as_u64()).sum())
}

fn passthrough_manifest(name: &str) -> Value {
    json!({
        "name": name,
        "input": "orders",
        "outputs": ["copies"],
        "config": { "output": "copies" },
    })
}

#[test]
fn health_and_readiness() {
    let server = start();
    assert_eq!(server.raw("GET", "/healthz", None, None), (200, Value::String("ok".into())));
    assert_eq!(server.raw("GET", "/readyz", None, None), (200, Value::String("ready".into())));
}

#[test]
fn a_processor_from_deploy_to_delete() {
    let server = start();
    let (status, list) = server.call("GET", "/v1/processors", None);
    assert_eq!((status, list), (200, json!([])));

    let (status, info) = server.deploy(passthrough_manifest("copier"), PASSTHROUGH);
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["manifest"]["name"], "copier");
    assert_eq!(info["version"], 1);
    assert_eq!(info["paused"], false);
    let (status, again) = server.deploy(passthrough_manifest("copier"), PASSTHROUGH);
    assert_eq!(status, 409, "{again}");
    assert!(message(&again).contains("already exists"), "{again}");

    // Records flow from orders to copies.
    server.produce("orders", 0, 5);
    server.produce("orders", 1, 3);
    let info = server.wait_for("copier", "8 records in", |i| total(i, "records_in") == 8);
    assert_eq!(total(&info, "records_out"), 8);
    assert_eq!(server.high_watermark("copies", 0), 8);
    let (status, list) = server.call("GET", "/v1/processors", None);
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["manifest"]["name"], "copier");

    // Paused, it reads nothing; resumed, it catches up.
    let (status, info) = server.call("POST", "/v1/processors/copier/pause", None);
    assert_eq!((status, &info["paused"]), (200, &json!(true)), "{info}");
    server.wait_for("copier", "paused", |i| i["status"]["state"] == "paused");
    server.produce("orders", 0, 2);
    // It sees the two records arrive (its lag grows) and holds them back.
    let info = server.wait_for("copier", "a lag of 2", |i| total(i, "lag") == 2);
    assert_eq!(info["status"]["state"], "paused", "{info:#}");
    assert_eq!(total(&info, "records_in"), 8, "a paused processor read: {info:#}");
    let (status, info) = server.call("POST", "/v1/processors/copier/resume", None);
    assert_eq!((status, &info["paused"]), (200, &json!(false)), "{info}");
    server.wait_for("copier", "10 records in", |i| total(i, "records_in") == 10);

    // Upgrade: a new version, the same offsets.
    let module = STANDARD.encode(PASSTHROUGH);
    let body = json!({ "module": module, "config": { "output": "copies" } });
    let (status, info) = server.call("PUT", "/v1/processors/copier/module", Some(body));
    assert_eq!((status, &info["version"]), (200, &json!(2)), "{info}");
    let (status, bad) =
        server.call("PUT", "/v1/processors/copier/module", Some(json!({ "module": "%%" })));
    assert_eq!(status, 400, "{bad}");
    assert!(message(&bad).contains("field `module`"), "{bad}");
    server.produce("orders", 1, 1);
    server.wait_for("copier", "11 records in", |i| total(i, "records_in") == 11);

    let (status, logs) = server.call("GET", "/v1/processors/copier/logs", None);
    assert_eq!(status, 200, "{logs}");
    assert!(logs.is_array(), "{logs}");

    let (status, body) = server.call("DELETE", "/v1/processors/copier", None);
    assert_eq!((status, body), (204, Value::Null));
    for (method, path) in [
        ("GET", "/v1/processors/copier"),
        ("DELETE", "/v1/processors/copier"),
        ("POST", "/v1/processors/copier/pause"),
        ("POST", "/v1/processors/copier/resume"),
        ("GET", "/v1/processors/copier/logs"),
    ] {
        let (status, answer) = server.call(method, path, None);
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert!(message(&answer).contains("does not exist"), "{answer}");
    }
    assert_eq!(server.call("GET", "/v1/processors", None), (200, json!([])));
}

#[test]
fn logs_page_by_sequence_number() {
    let server = start();
    let manifest = json!({
        "name": "chatty",
        "input": "orders",
        "outputs": ["copies"],
        "config": { "mode": "log-flood", "lines": "2", "output": "copies" },
    });
    let (status, info) = server.deploy(manifest, MISBEHAVE);
    assert_eq!(status, 201, "{info}");
    server.produce("orders", 0, 3);
    server.wait_for("chatty", "3 records in", |i| total(i, "records_in") == 3);

    let (status, all) = server.call("GET", "/v1/processors/chatty/logs?limit=10000", None);
    assert_eq!(status, 200, "{all}");
    let all = all.as_array().unwrap().clone();
    let flood: Vec<&Value> =
        all.iter().filter(|l| l["message"].as_str().unwrap().contains("misbehave: log")).collect();
    assert_eq!(flood.len(), 6, "{all:#?}");
    assert!(flood.iter().all(|l| l["level"] == "info" && l["partition"] == 0), "{flood:#?}");
    let seqs: Vec<u64> = all.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let first = seqs[0];
    let (_, after) = server.call("GET", &format!("/v1/processors/chatty/logs?after={first}"), None);
    assert_eq!(after.as_array().unwrap().len(), all.len() - 1);
    let (_, two) = server.call("GET", "/v1/processors/chatty/logs?limit=2", None);
    assert_eq!(two.as_array().unwrap().len(), 2);

    for query in ["limit=0", "limit=10001", "after=-1", "after=x", "limit=many"] {
        let (status, answer) =
            server.call("GET", &format!("/v1/processors/chatty/logs?{query}"), None);
        assert_eq!(status, 400, "{query}: {answer}");
        assert!(!message(&answer).is_empty());
    }
}

#[test]
fn bad_requests_get_a_4xx_that_says_what_to_do() {
    let server = start();
    let deploy = |content_type: Option<&str>, body: &[u8]| {
        server.raw("POST", "/v1/processors", content_type, Some(body.to_vec()))
    };
    let json = Some("application/json");

    let (status, answer) = deploy(json, b"{not json");
    assert_eq!(status, 400, "{answer}");
    assert!(message(&answer).contains("not valid JSON"), "{answer}");

    let (status, answer) =
        deploy(json, br#"{"manifest": {"name": "a", "input": 7}, "module": ""}"#);
    assert_eq!(status, 400, "{answer}");
    assert!(message(&answer).contains("manifest.input"), "{answer}");

    let (status, answer) = deploy(json, br#"{"module": "AGFzbQ=="}"#);
    assert_eq!(status, 400, "{answer}");
    assert!(message(&answer).contains("manifest"), "{answer}");

    let (status, answer) = deploy(None, b"{}");
    assert_eq!(status, 415, "{answer}");
    assert!(message(&answer).contains("Content-Type: application/json"), "{answer}");

    let manifest = passthrough_manifest("p");
    let (status, answer) = server.call(
        "POST",
        "/v1/processors",
        Some(json!({ "manifest": manifest, "module": "no!" })),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(message(&answer).contains("field `module` is not valid base64"), "{answer}");

    // Bytes that are not a component: a core module header, then text.
    for bytes in [&b"\0asm\x01\0\0\0"[..], b"hello"] {
        let (status, answer) = server.deploy(passthrough_manifest("p"), bytes);
        assert_eq!(status, 422, "{answer}");
        assert!(message(&answer).contains("invalid module"), "{answer}");
    }

    let (status, answer) = server.deploy(json!({ "name": "a b", "input": "orders" }), PASSTHROUGH);
    assert_eq!(status, 400, "{answer}");
    assert!(message(&answer).contains("is not valid"), "{answer}");
    let (status, answer) = server.deploy(json!({ "name": "p", "input": "nope" }), PASSTHROUGH);
    assert_eq!(status, 400, "{answer}");
    assert!(message(&answer).contains("does not exist"), "{answer}");

    let (status, answer) = server.call("GET", "/v2/things", None);
    assert_eq!(status, 404, "{answer}");
    assert!(message(&answer).contains("/v1"), "{answer}");
    let (status, answer) = server.call("PATCH", "/v1/processors", None);
    assert_eq!(status, 405, "{answer}");
    assert!(message(&answer).contains("PATCH is not allowed"), "{answer}");
    assert_eq!(server.call("GET", "/v1/processors", None), (200, json!([])));
}

#[test]
fn bodies_over_the_limit_get_413() {
    let server = start();
    let addr = server.url.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let len = MAX_BODY_BYTES + 1;
    let head = format!(
        "POST /v1/processors HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    // Write the body from another thread and read the answer here, so the answer
    // is read as soon as it comes even if the server stops reading the body.
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let chunk = vec![b' '; 1 << 20];
        let _ = writer.write_all(head.as_bytes());
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len());
            if writer.write_all(&chunk[..n]).is_err() {
                return;
            }
            left -= n;
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") || !answer.ends_with(b"}") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger than 64 MiB"), "{answer}");
    drop(stream);
    sending.join().unwrap();
}
