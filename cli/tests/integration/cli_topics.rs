//! `weir topic ...`, the global options and the exit codes, against a real `weir
//! serve` child: 0 done, 1 the server refused, 2 bad arguments, 3 unreachable.

use crate::cli_support;

use cli_support::{Server, closed_port, weir, weir_env};
use serde_json::{Value, json};

/// The value and source of config `name` in a `topic describe --output json`.
fn config(topic: &Value, name: &str) -> (String, String) {
    let configs = topic["configs"].as_array().expect("configs listed");
    let found = configs.iter().find(|c| c["name"] == name).expect("config listed");
    (found["value"].as_str().unwrap().into(), found["source"].as_str().unwrap().into())
}

#[test]
fn topics_through_the_cli() {
    let server = Server::start();
    let out = server.run(&["topic", "list"], 0);
    assert!(
        out.stdout.contains("no topics (create one with `weir topic create NAME`)"),
        "{out:#?}"
    );
    assert_eq!(server.run(&["topic", "list", "--output", "json"], 0).json(), json!([]));

    let create =
        ["topic", "create", "orders", "--partitions", "3", "--config", "retention.ms=3600000"];
    let out = server.run(&create, 0);
    assert_eq!(out.stdout.trim(), "created topic orders with 3 partitions");
    let out = server.run(&["topic", "create", "audit"], 0);
    assert_eq!(out.stdout.trim(), "created topic audit with 1 partition");
    let out = server.run(&create, 1);
    assert!(out.stderr.contains("already exists"), "{out:#?}");
    let out = server.run(&["topic", "create", "bad", "--config", "retention.ms=soon"], 1);
    assert!(out.stderr.contains("retention.ms"), "{out:#?}");
    let out = server.run(&["topic", "create", "__mine"], 1);
    assert!(out.stderr.contains("reserved for internal topics"), "{out:#?}");

    let out = server.run(&["topic", "list"], 0);
    assert_eq!(
        out.rows(),
        [
            vec!["NAME", "PARTITIONS", "RECORDS", "SIZE"],
            vec!["audit", "1", "0", "0", "B"],
            vec!["orders", "3", "0", "0", "B"],
        ],
        "{out:#?}"
    );

    let out = server.run(&["topic", "describe", "orders"], 0);
    assert!(out.stdout.starts_with("name:        orders\npartitions:  3\n"), "{out:#?}");
    let rows = out.rows();
    assert!(rows.contains(&vec!["PARTITION", "START", "END", "RECORDS", "SIZE"]), "{out:#?}");
    for p in ["0", "1", "2"] {
        assert!(rows.contains(&vec![p, "0", "0", "0", "0", "B"]), "{out:#?}");
    }
    assert!(rows.contains(&vec!["retention.ms", "3600000", "topic"]), "{out:#?}");
    assert!(rows.contains(&vec!["retention.bytes", "-1", "default"]), "{out:#?}");
    let topic = server.run(&["topic", "describe", "orders", "--output", "json"], 0).json();
    assert_eq!(topic["partitions"].as_array().map(Vec::len), Some(3));
    assert_eq!(config(&topic, "retention.ms"), ("3600000".into(), "topic".into()));

    let alter = [
        "topic",
        "alter",
        "orders",
        "--config",
        "retention.ms=7200000",
        "-c",
        "retention.bytes=1048576",
    ];
    let out = server.run(&alter, 0);
    assert_eq!(
        out.stdout.trim(),
        "altered topic orders: retention.bytes=1048576, retention.ms=7200000"
    );
    let topic = server.run(&["topic", "describe", "orders", "--output", "json"], 0).json();
    assert_eq!(config(&topic, "retention.ms"), ("7200000".into(), "topic".into()));
    assert_eq!(config(&topic, "retention.bytes"), ("1048576".into(), "topic".into()));
    let out = server.run(&["topic", "alter", "orders", "--delete-config", "retention.ms"], 0);
    assert_eq!(out.stdout.trim(), "altered topic orders: retention.ms back to its default");
    let topic = server.run(&["topic", "describe", "orders", "--output", "json"], 0).json();
    assert_eq!(config(&topic, "retention.ms").1, "default");
    let out = server.run(&["topic", "alter", "orders", "--config", "retention.ms=soon"], 1);
    assert!(out.stderr.contains("\"soon\""), "{out:#?}");
    let out = server.run(&["topic", "alter", "orders", "--config", "colour=blue"], 1);
    assert!(out.stderr.contains("colour"), "{out:#?}");

    // Deleting the oldest records: partition 0 of orders starts at 3, then at its end.
    server.run_with_stdin(&["produce", "orders", "-p", "0"], b"a\nb\nc\nd\ne\n", 0);
    let out = server.run(&["topic", "delete-records", "orders", "--before", "0=3"], 0);
    assert_eq!(out.stdout.trim(), "orders-0 starts at offset 3 (high watermark 5)");
    let out = server.run(&["consume", "orders", "-p", "0", "--from-beginning"], 0);
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), ["d", "e"], "{out:#?}");
    let out = server.run(&["topic", "delete-records", "orders", "--before", "0=end"], 0);
    assert_eq!(out.stdout.trim(), "orders-0 starts at offset 5 (high watermark 5)");
    let out = server.run(&["topic", "delete-records", "orders", "--before", "0=9"], 1);
    assert!(out.stderr.contains("out of range"), "{out:#?}");
    let out = server.run(&["topic", "delete-records", "orders", "--before", "7=1"], 1);
    assert!(out.stderr.contains("orders-7 does not exist"), "{out:#?}");
    let out = server.run(&["topic", "delete-records", "orders", "--before", "0=-2"], 2);
    assert!(out.stderr.contains("not an offset"), "{out:#?}");
    let out = server.run(&["topic", "delete-records", "orders"], 2);
    assert!(out.stderr.contains("--before"), "{out:#?}");

    // Adding partitions: more is taken, fewer refused with why.
    let out = server.run(&["topic", "alter", "audit", "--partitions", "3"], 0);
    assert_eq!(out.stdout.trim(), "altered topic audit: 3 partitions");
    let topic = server.run(&["topic", "describe", "audit", "--output", "json"], 0).json();
    assert_eq!(topic["partitions"].as_array().map(Vec::len), Some(3));
    let out = server.run(&["topic", "alter", "audit", "--partitions", "2"], 1);
    assert!(out.stderr.contains("never removed"), "{out:#?}");

    let out = server.run(&["topic", "delete", "audit"], 0);
    assert_eq!(out.stdout.trim(), "deleted topic audit");
    for args in [
        &["topic", "describe", "audit"][..],
        &["topic", "delete", "audit"],
        &["topic", "alter", "audit", "--config", "retention.ms=1"],
        &["produce", "audit"],
        &["consume", "audit"],
    ] {
        let out = server.run(args, 1);
        assert!(out.stderr.contains("topic \"audit\" does not exist"), "{args:?}: {out:#?}");
    }

    // The global options go before or after the subcommand, or in the environment.
    let out = weir(&["--output", "json", "--http", &server.http, "topic", "list"], b"");
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(out.json()[0]["name"], "orders");
    let env = [("WEIR_HTTP", server.http.as_str()), ("WEIR_OUTPUT", "json")];
    let out = weir_env(&["topic", "describe", "orders"], &env, b"");
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(out.json()["name"], "orders");

    assert_eq!(server.stop(), Some(0));
}

#[test]
fn unreachable_servers_and_bad_arguments() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    for args in [
        &["topic", "list"][..],
        &["topic", "create", "t"],
        &["produce", "t"],
        &["consume", "t", "--from-beginning"],
        &["group", "list"],
        &["group", "reset", "g", "--topic", "t", "--to", "earliest"],
    ] {
        let all: Vec<&str> = ["--http", url.as_str()].iter().chain(args).copied().collect();
        let out = weir(&all, b"");
        assert_eq!(out.code, Some(3), "weir {all:?}: {out:#?}");
        let wanted = format!("no Weir HTTP API at {url}: is `weir serve` running?");
        assert!(out.stderr.contains(&wanted), "{out:#?}");
    }

    let file = tempfile::NamedTempFile::new().unwrap();
    let file = file.path().to_str().unwrap();
    for args in [
        &["topic"][..],
        &["topic", "create"],
        &["topic", "create", "t", "--partitions", "0"],
        &["topic", "create", "t", "--config", "novalue"],
        &["topic", "alter", "t"],
        &["topic", "frobnicate"],
        &["produce"],
        &["produce", "t", "--batch", "0"],
        &["produce", "t", "--key-separator", ""],
        &["produce", "t", "/no/such/file"],
        &["produce", "t", file, "--header", "novalue"],
        &["consume", "t", "--offset", "5"],
        &["consume", "t", "--from-beginning", "--timestamp", "5"],
        &["consume", "t", "--limit", "ten"],
        &["group", "describe"],
        &["group", "reset", "g", "--topic", "t", "--to", "first"],
        &["group", "reset", "g", "--to", "earliest"],
        &["--output", "yaml", "topic", "list"],
        &["--bootstrap", "nohost", "topic", "list"],
        &["--http", "https://127.0.0.1:1", "topic", "list"],
    ] {
        let out = weir(args, b"");
        assert_eq!(out.code, Some(2), "weir {args:?}: {out:#?}");
        assert!(!out.stderr.is_empty(), "weir {args:?} says nothing: {out:#?}");
    }
    // A wildcard listener with no address to advertise: refused, saying what to set.
    let data = tempfile::tempdir().unwrap();
    let data = data.path().to_str().unwrap();
    let serve = ["serve", "--kafka-addr", "0.0.0.0:0", "--http-addr", "127.0.0.1:0"];
    let out = weir(&[&serve[..], &["--data-dir", data]].concat(), b"");
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stderr.contains("set --advertised-addr"), "{out:#?}");
    for bad in ["--advertised-addr=:1", "--max-connections=0"] {
        let out = weir(&["serve", bad, "--data-dir", data], b"");
        assert!(matches!(out.code, Some(1 | 2)), "{bad}: {out:#?}");
        assert!(out.stderr.contains("advertised") || out.stderr.contains("max-connections"));
    }
    let out = weir(&["produce", "t", "/no/such/file"], b"");
    assert!(out.stderr.contains("cannot read /no/such/file"), "{out:#?}");

    for sub in [
        &["topic"][..],
        &["topic", "list"],
        &["topic", "describe"],
        &["topic", "create"],
        &["topic", "alter"],
        &["topic", "delete"],
        &["produce"],
        &["consume"],
        &["group"],
        &["group", "list"],
        &["group", "describe"],
        &["group", "reset"],
        &["group", "delete"],
    ] {
        let args: Vec<&str> = sub.iter().copied().chain(["--help"]).collect();
        let out = weir(&args, b"");
        assert_eq!(out.code, Some(0), "{args:?}: {out:#?}");
        assert!(out.stdout.contains("Example"), "weir {args:?}: {}", out.stdout);
        assert!(out.stdout.contains("--http <URL>"), "{args:?}: {}", out.stdout);
        assert!(out.stdout.contains("--output <FORMAT>"), "{args:?}: {}", out.stdout);
    }
}

#[test]
fn the_brokers_configs_through_the_cli() {
    let server = Server::start();
    server.run(&["topic", "create", "plain"], 0);
    let listed = server.run(&["broker", "configs"], 0);
    let rows = listed.rows();
    assert_eq!(rows[0], ["NAME", "VALUE", "SOURCE", "CHANGES"]);
    assert!(rows.contains(&vec!["log.retention.ms", "604800000", "default", "at", "run", "time"]));
    assert!(rows.contains(&vec!["broker.id", "0", "broker", "restart"]), "{rows:?}");

    let out = server.run(&["broker", "alter", "--config", "log.retention.ms=86400000"], 0);
    assert_eq!(out.stdout.trim(), "altered the broker: log.retention.ms=86400000");
    let topic = server.run(&["topic", "describe", "plain", "--output", "json"], 0).json();
    assert_eq!(config(&topic, "retention.ms"), ("86400000".into(), "node".into()));
    let out = server.run(&["broker", "alter", "--config", "num.partitions=3"], 1);
    assert!(
        out.stderr.contains("read-only") && out.stderr.contains("--default-partitions"),
        "{out:#?}"
    );
    server.run(&["broker", "alter"], 2);
    let out = server.run(&["broker", "alter", "--delete-config", "log.retention.ms"], 0);
    assert!(out.stdout.contains("log.retention.ms back to the level below"), "{out:#?}");
    let listed = server.run(&["broker", "configs", "--output", "json"], 0).json();
    let retention = listed.as_array().unwrap().iter().find(|c| c["name"] == "log.retention.ms");
    assert_eq!(retention.unwrap()["source"], "default");
}
