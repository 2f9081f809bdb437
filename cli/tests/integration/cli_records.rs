//! `weir produce`, `weir consume` and `weir group` against a real `weir serve`
//! child: records from a file and from stdin, read back from the beginning, an
//! offset or a time, as text and JSON, and a group's offsets committed, shown,
//! reset and deleted.

use crate::cli_support;

use std::time::{SystemTime, UNIX_EPOCH};

use cli_support::Server;
use serde_json::json;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

#[test]
fn produce_and_consume() {
    let server = Server::start();
    server.run(&["topic", "create", "events", "--partitions", "2"], 0);

    // From a file, keyed, to partition 0: the blank line is skipped, a line
    // without the separator has no key, a value may hold the separator.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.txt");
    std::fs::write(&file, "k1:v1\nk2:v2\n\nnokey\r\nk3:v:3").unwrap();
    let file = file.to_str().unwrap();
    let produce = ["produce", "events", file, "-K", ":", "--partition", "0", "-H", "src=file"];
    let out = server.run(&produce, 0);
    assert_eq!(out.stdout.trim(), "produced 4 records to events");
    assert!(!out.stderr.contains("eta"), "no progress bar off a terminal: {out:#?}");
    // From stdin, in batches of 2, to partition 1.
    let produce = ["produce", "events", "--key-separator", "=", "-p", "1", "--batch", "2"];
    let out = server.run_with_stdin(&produce, b"a=1\nb=2\nc=3\n", 0);
    assert_eq!(out.stdout.trim(), "produced 3 records to events");
    let out = server.run_with_stdin(&["produce", "events", "--output", "json"], b"", 0);
    assert_eq!(out.json(), json!({ "topic": "events", "records": 0 }));

    let out = server.run(&["consume", "events", "-p", "0", "--from-beginning", "--print-key"], 0);
    assert_eq!(out.stdout, "k1\tv1\nk2\tv2\n\tnokey\nk3\tv:3\n");
    let out = server.run(&["consume", "events", "--from-beginning"], 0);
    let mut values: Vec<&str> = out.stdout.lines().collect();
    values.sort();
    assert_eq!(values, ["1", "2", "3", "nokey", "v1", "v2", "v:3"]);
    let out = server.run(&["consume", "events", "-p", "0", "--offset", "2"], 0);
    assert_eq!(out.stdout, "nokey\nv:3\n");
    let out = server.run(&["consume", "events", "-p", "1", "--from-beginning", "--limit", "2"], 0);
    assert_eq!(out.stdout, "1\n2\n");
    let out = server.run(&["consume", "events", "-p", "0", "--offset", "3", "--output", "json"], 0);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1, "{out:#?}");
    let record = &lines[0];
    assert_eq!((record["topic"].clone(), record["partition"].clone()), (json!("events"), json!(0)));
    assert_eq!((record["offset"].clone(), record["key"].clone()), (json!(3), json!("k3")));
    assert_eq!(record["value"], "v:3");
    assert_eq!(record["headers"], json!([["src", "file"]]));
    assert!(record["timestamp"].as_u64().is_some_and(|ts| ts <= now_ms()), "{record}");

    // By time: only what was produced after `since`, in any partition.
    let since = now_ms() + 1;
    std::thread::sleep(std::time::Duration::from_millis(20));
    server.run_with_stdin(&["produce", "events", "-p", "0"], b"late\n", 0);
    let out = server.run(&["consume", "events", "--timestamp", &since.to_string()], 0);
    assert_eq!(out.stdout, "late\n");
    let out = server.run(&["consume", "events", "-p", "1", "--timestamp", &since.to_string()], 0);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("no records there"), "{out:#?}");

    // Without a start, reading begins at the end, and says how to read more.
    let out = server.run(&["consume", "events"], 0);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("pass --from-beginning"), "{out:#?}");

    // --follow waits for records to come.
    let http = server.http.clone();
    let follow = std::thread::spawn(move || {
        let consume =
            ["consume", "events", "-p", "1", "--offset", "3", "--follow", "-n", "2", "-k"];
        cli_support::weir(&[&["--http", http.as_str()][..], &consume].concat(), b"")
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    server.run_with_stdin(&["produce", "events", "-p", "1", "-K", "="], b"d=4\ne=5\n", 0);
    let out = follow.join().unwrap();
    assert_eq!((out.code, out.stdout.as_str()), (Some(0), "d\t4\ne\t5\n"), "{out:#?}");

    let out = server.run(&["consume", "events", "-p", "7", "--from-beginning"], 1);
    assert!(out.stderr.contains("has no partition 7: its partitions are 0 to 1"), "{out:#?}");
    let out = server.run(&["consume", "events", "-p", "0", "--offset", "99"], 1);
    assert!(out.stderr.contains("out of range"), "{out:#?}");
    let out = server.run_with_stdin(&["produce", "events", "-p", "2"], b"x\n", 1);
    assert!(out.stderr.contains("has no partition 2"), "{out:#?}");

    assert_eq!(server.stop(), Some(0));
}

#[test]
fn groups_through_the_cli() {
    let server = Server::start();
    server.run(&["topic", "create", "orders"], 0);
    server.run_with_stdin(&["produce", "orders"], b"v0\nv1\nv2\nv3\nv4\n", 0);
    let out = server.run(&["group", "list"], 0);
    assert_eq!(out.stdout.trim(), "no consumer groups");

    // --group starts where the group left off and commits what it printed.
    let out = server.run(&["consume", "orders", "-g", "audit", "--from-beginning", "-n", "3"], 0);
    assert_eq!(out.stdout, "v0\nv1\nv2\n");
    let out = server.run(&["group", "list"], 0);
    assert_eq!(
        out.rows(),
        [
            vec!["GROUP", "STATE", "MEMBERS", "LAG", "KIND"],
            vec!["audit", "Empty", "0", "2", "consumer"]
        ]
    );
    let out = server.run(&["group", "describe", "audit"], 0);
    assert!(out.stdout.starts_with("group:     audit\nstate:     Empty\n"), "{out:#?}");
    assert!(out.rows().contains(&vec!["orders", "0", "3", "5", "2"]), "{out:#?}");
    let out = server.run(&["consume", "orders", "--group", "audit"], 0);
    assert_eq!(out.stdout, "v3\nv4\n");
    let group = server.run(&["group", "describe", "audit", "--output", "json"], 0).json();
    assert_eq!(group["offsets"][0]["committed_offset"], 5);
    assert_eq!(group["lag"], 0);

    for (to, offset) in
        [("earliest", "0"), ("offset:2", "2"), ("timestamp:0", "0"), ("latest", "5")]
    {
        let out = server.run(&["group", "reset", "audit", "--topic", "orders", "--to", to], 0);
        assert!(out.stdout.starts_with(&format!("reset group audit on orders to {to}\n")));
        assert_eq!(out.rows()[2][2], offset, "{to}: {out:#?}");
    }
    let reset = ["group", "reset", "audit", "-t", "orders", "--to", "offset:1", "-p", "0"];
    let answer = server.run(&[&reset[..], &["--output", "json"]].concat(), 0).json();
    assert_eq!(answer["offsets"], json!([{ "partition": 0, "previous": 5, "offset": 1 }]));
    let out = server.run(&["consume", "orders", "--group", "audit", "-n", "1"], 0);
    assert_eq!(out.stdout, "v1\n");
    let out = server.run(&["group", "reset", "audit", "--topic", "nope", "--to", "earliest"], 1);
    assert!(out.stderr.contains("topic \"nope\" does not exist"), "{out:#?}");

    let out = server.run(&["group", "delete", "audit"], 0);
    assert_eq!(out.stdout.trim(), "deleted group audit");
    for args in [&["group", "describe", "audit"][..], &["group", "delete", "audit"]] {
        let out = server.run(args, 1);
        assert!(out.stderr.contains("group \"audit\" does not exist"), "{out:#?}");
    }
    assert_eq!(server.stop(), Some(0));
}
