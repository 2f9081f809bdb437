//! `weir pipeline ...` against a real `weir serve` child, with the example file
//! `examples/order-pipeline.toml` (which must stay the demo's pipeline) and
//! files that cannot be applied.

use crate::cli_support;

use std::path::{Path, PathBuf};

use cli_support::Server;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/order-pipeline.toml")
}

#[test]
fn the_example_file_is_the_demos_pipeline() {
    let file = weir_cli::pipeline::read(&example()).unwrap();
    let topics: Vec<(String, u64)> = file["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t["partitions"].as_u64().unwrap()))
        .collect();
    let want: Vec<(String, u64)> =
        weir_examples::TOPICS.iter().map(|(t, n)| (t.to_string(), u64::from(*n))).collect();
    assert_eq!(topics, want);
    let feedback: Vec<&str> = file["topics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["feedback"] == true)
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(feedback, weir_examples::FEEDBACK);
    let processors = file["processors"].as_array().unwrap();
    assert_eq!(processors.len(), weir_examples::pipeline().len());
    for (p, d) in processors.iter().zip(weir_examples::pipeline()) {
        assert_eq!(p["name"], d.name);
        assert_eq!(p["input"], d.input);
        assert_eq!(p["outputs"], serde_json::json!(d.outputs));
        let config: Vec<(&str, &str)> = p["config"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap())).collect())
            .unwrap_or_default();
        let mut want = d.config.to_vec();
        want.sort();
        assert_eq!(config, want, "{}", d.name);
        use base64::Engine as _;
        let module =
            base64::engine::general_purpose::STANDARD.decode(p["module"].as_str().unwrap());
        assert!(module.unwrap() == d.wasm, "{}'s module", d.name);
    }
}

#[test]
fn a_pipeline_file_is_applied_shown_and_deleted() {
    let server = Server::start();
    let file = example();
    let file = file.to_str().unwrap();
    let diff = server.run(&["pipeline", "diff", file], 0);
    assert!(diff.stdout.contains("apply would: create topic orders (3 partitions)"), "{diff:#?}");
    assert!(
        diff.stdout.contains(
            "apply would: deploy processor inventory (stock-requests -> stock-decisions)"
        ),
        "{diff:#?}"
    );
    let apply = server.run(&["pipeline", "apply", file], 0);
    assert_eq!(apply.stdout.lines().count(), diff.stdout.lines().count(), "{apply:#?}");
    assert!(apply.stdout.lines().all(|l| l.starts_with("applied: ")), "{apply:#?}");
    let again = server.run(&["pipeline", "apply", file], 0);
    assert_eq!(again.stdout.trim(), "nothing to change: it runs as declared");

    let status = server.run(&["pipeline", "status", file], 0);
    assert!(status.stdout.contains("runs as declared"), "{status:#?}");
    let router = status.rows().into_iter().find(|r| r.first() == Some(&"router")).unwrap();
    assert_eq!(router[1..3], ["running", "1"], "{status:#?}");
    let json = server.run(&["pipeline", "status", file, "--output", "json"], 0).json();
    assert_eq!(json["processors"].as_array().unwrap().len(), 8);

    let delete = server.run(&["pipeline", "delete", file, "--topics"], 0);
    assert!(delete.stdout.contains("deleted processor router"), "{delete:#?}");
    assert!(delete.stdout.contains("deleted topic orders"), "{delete:#?}");
    let topics = server.run(&["topic", "list", "--output", "json"], 0).json();
    assert!(topics.as_array().unwrap().iter().all(|t| t["name"] != "orders"), "{topics}");
    server.stop();
}

#[test]
fn bad_pipeline_files_say_what_to_fix() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let missing = dir.path().join("nothing.toml");
    let out = server.run(&["pipeline", "apply", missing.to_str().unwrap()], 2);
    assert!(out.stderr.contains("nothing.toml"), "{out:#?}");
    let out = server.run(&["pipeline", "diff", &write("bad.toml", "name = [")], 2);
    assert!(out.stderr.contains("is not valid TOML"), "{out:#?}");
    let no_module = "name = \"p\"\n[[processors]]\nname = \"a\"\ninput = \"in\"\n";
    let out = server.run(&["pipeline", "apply", &write("m.toml", no_module)], 2);
    assert!(out.stderr.contains("processor a has no `module`"), "{out:#?}");
    let unknown = format!("{no_module}module = \"builtin:nope\"\n");
    let out = server.run(&["pipeline", "apply", &write("u.toml", &unknown)], 2);
    assert!(out.stderr.contains("no built-in module \"nope\"; there are: router"), "{out:#?}");
    let file = format!("{no_module}module = \"a.wasm\"\n");
    let out = server.run(&["pipeline", "apply", &write("f.toml", &file)], 2);
    assert!(out.stderr.contains("reading module"), "{out:#?}");
    // A topic the server does not have: refused by the server, nothing made.
    let loose = format!(
        "{no_module}module = \"builtin:passthrough\"\nconfig = {{ output = \"out\" }}\noutputs = [\"out\"]\n"
    );
    let out = server.run(&["pipeline", "apply", &write("t.toml", &loose)], 1);
    assert!(out.stderr.contains("uses topic in, which neither exists nor is declared"), "{out:#?}");
    assert!(out.stderr.contains("nothing was changed"), "{out:#?}");
    server.stop();
}
