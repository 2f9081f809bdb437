//! `weir processor ...` against a real `weir serve` child: output and exit codes
//! (0 done, 1 the server refused, 2 usage, 3 unreachable). The data directory
//! gets its topics and input records before the server starts, through the
//! storage API. Every wait is bounded; the server is stopped at the end.

use crate::cli_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use cli_support::{Outcome, PATIENCE, Running, Server, closed_port, weir};
use serde_json::Value;
use weir_broker::log::record::{BatchBuilder, Compression};
use weir_broker::storage::{Storage, StorageOptions};
use weir_broker::topic::TopicSpec;
use weir_examples::wasm::MISBEHAVE;

/// A data directory with topics `orders` (2 partitions, 3 records in partition 0)
/// and `copies`.
fn prepare(data: &Path) {
    let storage = Storage::open(data, StorageOptions::default()).unwrap();
    for (name, partitions) in [("orders", 2), ("copies", 1)] {
        let spec = TopicSpec { name: name.into(), partitions, configs: BTreeMap::new() };
        storage.create_topic(spec).unwrap();
    }
    let mut batch = BatchBuilder::new(0, Compression::None);
    for i in 0..3 {
        batch.push(1_700_000_000_000 + i, None, Some(format!("v{i}").as_bytes()), &[]);
    }
    storage.partition("orders", 0).unwrap().append(&batch.build().unwrap()).unwrap();
    storage.close().unwrap();
}

/// `weir processor --http URL args...`, expecting exit code `code`.
fn processor(url: &str, args: &[&str], code: i32) -> Outcome {
    let all: Vec<&str> = ["processor", "--http", url].iter().chain(args).copied().collect();
    let outcome = weir(&all, b"");
    assert_eq!(outcome.code, Some(code), "weir {all:?}: {outcome:#?}");
    outcome
}

/// Polls `status --output json` until `done` holds.
fn wait_for(url: &str, name: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let out = processor(url, &["status", name, "--output", "json"], 0);
        let info: Value = serde_json::from_str(&out.stdout).expect("status prints JSON");
        if done(&info) {
            return info;
        }
        assert!(Instant::now() < deadline, "waited too long for {what}: {info:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn records_in(info: &Value) -> u64 {
    info["status"]["partitions"]
        .as_array()
        .map_or(0, |ps| ps.iter().filter_map(|p| p["records_in"].as_u64()).sum())
}

#[test]
fn processors_through_the_cli() {
    let server = Server::start_with(prepare);
    let module: PathBuf = server.dir.path().join("misbehave.wasm");
    std::fs::write(&module, MISBEHAVE).unwrap();
    let module = module.to_str().unwrap();
    assert!(server.kafka.starts_with("127.0.0.1:"), "{}", server.kafka);
    let url = server.http.clone();

    let out = processor(&url, &["list"], 0);
    assert!(out.stdout.contains("no processors deployed"), "{out:#?}");
    assert_eq!(processor(&url, &["list", "--output", "json"], 0).stdout.trim(), "[]");
    // `--format` is the old name of the global `--output`, still understood.
    assert_eq!(processor(&url, &["list", "--format", "json"], 0).stdout.trim(), "[]");

    // Deploy a processor that logs one line per record and copies it.
    let deploy = [
        "deploy",
        module,
        "--name",
        "chatty",
        "--input",
        "orders",
        "--output-topic",
        "copies",
        "--start",
        "earliest",
        "--on-error",
        "pause",
        "--config",
        "mode=log-flood",
        "--config",
        "lines=1",
        "--config",
        "output=copies",
        "--memory-mb",
        "32",
        "--timeout-ms",
        "500",
        "--batch",
        "10",
    ];
    let out = processor(&url, &deploy, 0);
    assert!(out.stdout.starts_with("deployed chatty (version 1): reads orders"), "{out:#?}");
    let out = processor(&url, &deploy, 1);
    assert!(out.stderr.contains("already exists"), "{out:#?}");

    let info = wait_for(&url, "chatty", "3 records in", |i| records_in(i) == 3);
    assert_eq!(info["manifest"]["limits"]["memory_bytes"], 32 << 20);
    assert_eq!(info["manifest"]["on_error"], "pause");
    let out = processor(&url, &["list"], 0);
    let mut lines = out.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "INPUT", "STATE", "LAG", "IN", "OUT", "ERRORS", "DEAD-LETTERED"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row, ["chatty", "orders", "running", "0", "3", "3", "0", "0"], "{out:#?}");

    let out = processor(&url, &["status", "chatty"], 0);
    assert!(out.stdout.contains("name:      chatty"), "{out:#?}");
    assert!(out.stdout.contains("on error:  pause"), "{out:#?}");
    let table: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("PARTITION"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(table.len(), 3, "{out:#?}");
    assert_eq!(table[1][..3], ["0", "running", "3"], "{out:#?}");
    assert_eq!(table[2][..2], ["1", "running"], "{out:#?}");

    let out = processor(&url, &["logs", "chatty"], 0);
    let flood: Vec<&str> =
        out.stdout.lines().filter(|l| l.contains("misbehave: log line")).collect();
    assert_eq!(flood.len(), 3, "{out:#?}");
    assert!(flood[2].contains(" INFO  p0 #") && flood[2].ends_with("for offset 2"), "{out:#?}");
    let out = processor(&url, &["logs", "chatty", "--limit", "1"], 0);
    assert_eq!(out.stdout.lines().count(), 1, "{out:#?}");
    assert!(out.stdout.contains("for offset 2"), "{out:#?}");
    let out = processor(&url, &["logs", "chatty", "--output", "json"], 0);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(json.as_array().is_some_and(|lines| lines.len() >= 3), "{out:#?}");

    // --follow prints what is there, then what comes: the pause's note.
    let follow =
        Running::start(&["processor", "--http", &url, "logs", "chatty", "-f"], Stdio::null());
    follow.line_with("for offset 2");
    let out = processor(&url, &["pause", "chatty"], 0);
    assert_eq!(out.stdout.trim(), "paused chatty");
    follow.line_with("paused by the operator");
    drop(follow);
    wait_for(&url, "chatty", "paused", |i| i["status"]["state"] == "paused");
    let out = processor(&url, &["resume", "chatty"], 0);
    assert_eq!(out.stdout.trim(), "resumed chatty");

    let upgrade = ["upgrade", "chatty", module, "--config", "mode=ok", "--config", "output=copies"];
    let out = processor(&url, &upgrade, 0);
    assert!(out.stdout.starts_with("upgraded chatty to version 2"), "{out:#?}");

    let out = processor(&url, &["delete", "chatty"], 0);
    assert_eq!(out.stdout.trim(), "deleted chatty");
    for args in [&["status", "chatty"][..], &["pause", "chatty"], &["delete", "chatty"]] {
        let out = processor(&url, args, 1);
        assert!(out.stderr.contains("processor \"chatty\" does not exist"), "{out:#?}");
    }
    let out = processor(&url, &["upgrade", "chatty", module], 1);
    assert!(out.stderr.contains("does not exist"), "{out:#?}");
    let out = processor(&url, &["deploy", "/no/such.wasm", "--name", "x", "--input", "orders"], 2);
    assert!(out.stderr.contains("cannot read module /no/such.wasm"), "{out:#?}");

    assert_eq!(server.stop(), Some(0));
}

#[test]
fn unreachable_servers_and_bad_arguments() {
    // Nothing listens on a port just released.
    let url = format!("http://127.0.0.1:{}", closed_port());
    let out = processor(&url, &["list"], 3);
    assert!(
        out.stderr.contains(&format!("no Weir HTTP API at {url}: is `weir serve` running?")),
        "{out:#?}"
    );
    let out = weir(&["processor", "--http", "https://127.0.0.1:1", "list"], b"");
    assert_eq!(out.code, Some(2), "{out:#?}");

    for args in [
        &["processor", "deploy", "m.wasm", "--input", "orders"][..],
        &["processor", "deploy", "m.wasm", "--name", "a", "--input", "b", "--start", "first"],
        &["processor", "deploy", "m.wasm", "--name", "a", "--input", "b", "--config", "novalue"],
        &["processor", "logs", "a", "--limit", "0"],
        &["processor", "status"],
        &["processor", "list", "--output", "yaml"],
        &["processor", "deploy", "m.wasm", "--name", "a", "--input", "b", "--output", "copies"],
        &["processor", "frobnicate"],
    ] {
        let out = weir(args, b"");
        assert_eq!(out.code, Some(2), "weir {args:?}: {out:#?}");
    }

    for sub in ["deploy", "list", "status", "pause", "resume", "upgrade", "delete", "logs"] {
        let out = weir(&["processor", sub, "--help"], b"");
        assert_eq!(out.code, Some(0), "{sub}: {out:#?}");
        assert!(out.stdout.contains("Example"), "weir processor {sub} --help: {}", out.stdout);
        assert!(out.stdout.contains("--http <URL>"), "{sub}: {}", out.stdout);
    }
}
