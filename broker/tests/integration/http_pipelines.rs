//! Pipelines over HTTP: the order pipeline of `weir-examples` declared as one
//! unit, planned, applied (twice: the second changes nothing), upgraded, reported
//! on and deleted; and declarations that cannot be applied, refused whole.

use crate::http_support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http_support::Server;
use serde_json::{Value, json};
use weir_examples::{TOPICS, events, pipeline};

/// The order pipeline as a declaration; `feedback` marks the loop of releases.
fn order_pipeline(feedback: bool) -> Value {
    let topics: Vec<Value> = TOPICS
        .iter()
        .map(|(name, partitions)| {
            json!({
                "name": name,
                "partitions": partitions,
                "feedback": feedback && *name == events::STOCK_REQUESTS,
            })
        })
        .collect();
    let processors: Vec<Value> = pipeline()
        .iter()
        .map(|d| {
            json!({
                "name": d.name,
                "input": d.input,
                "outputs": d.outputs,
                "config": d.config.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "module": STANDARD.encode(d.wasm),
            })
        })
        .collect();
    json!({ "name": "orders", "topics": topics, "processors": processors })
}

/// The changes of an answer, as their `change` and `name`.
fn changes(answer: &Value) -> Vec<(String, String)> {
    answer["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["change"].as_str().unwrap().to_owned(), c["name"].as_str().unwrap().to_owned()))
        .collect()
}

fn topic_count(server: &Server) -> usize {
    server.broker.storage.topics().len()
}

#[test]
fn the_order_pipeline_is_planned_applied_upgraded_and_deleted_as_one_unit() {
    let server = Server::start();
    let declared = order_pipeline(true);
    let plan = changes(&server.expect("POST", "/v1/pipelines/plan", Some(declared.clone()), 200));
    let creates = plan.iter().filter(|(c, _)| c == "create_topic").count();
    assert_eq!(creates, TOPICS.len(), "{plan:?}");
    let deploys: Vec<&str> =
        plan.iter().filter(|(c, _)| c == "deploy").map(|(_, n)| n.as_str()).collect();
    assert_eq!(deploys.len(), 8, "{plan:?}");
    let at = |name| deploys.iter().position(|d| *d == name).unwrap();
    // Upstream first; the releases' loop back to inventory does not count.
    assert!(at("router") < at("inventory") && at("inventory") < at("reservation"));
    assert!(at("reservation") < at("payment") && at("minutes") < at("analytics"));
    assert!(at("router") < at("fraud"));
    assert!(server.processors.list().is_empty(), "a plan changes nothing");

    let applied =
        changes(&server.expect("POST", "/v1/pipelines/apply", Some(declared.clone()), 200));
    assert_eq!(applied, plan);
    assert_eq!(server.processors.list().len(), 8);
    let again = server.expect("POST", "/v1/pipelines/apply", Some(declared.clone()), 200);
    assert_eq!(changes(&again), [], "applied twice, the second changes nothing");

    // A new config for payment: an upgrade in place, nothing else.
    let mut upgraded = declared.clone();
    let payment = upgraded["processors"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == "payment")
        .unwrap();
    payment["config"]["max_amount_cents"] = json!("30000");
    let answer = server.expect("POST", "/v1/pipelines/apply", Some(upgraded.clone()), 200);
    assert_eq!(
        answer["changes"],
        json!([{ "change": "upgrade", "name": "payment", "module": false, "config": true }])
    );
    let info = server.processors.get("payment").unwrap();
    assert_eq!((info.version, info.manifest.config["max_amount_cents"].as_str()), (2, "30000"));

    let status = server.expect("POST", "/v1/pipelines/status", Some(upgraded.clone()), 200);
    assert_eq!((&status["pending"], &status["problems"]), (&json!([]), &json!([])), "{status:#}");
    assert!(status["processors"].as_array().unwrap().iter().all(|p| p["deployed"] == true));
    assert_eq!(status["topics"][0]["partitions"], 3);

    let deleted = server.expect("POST", "/v1/pipelines/delete?topics=true", Some(upgraded), 200);
    assert_eq!(deleted["deleted"].as_array().unwrap().len(), 8 + TOPICS.len(), "{deleted}");
    assert!(server.processors.list().is_empty());
    assert!(server.broker.storage.topic(events::ORDERS).is_none());
}

#[test]
fn a_pipeline_that_cannot_be_applied_is_refused_whole() {
    let server = Server::start();
    let before = topic_count(&server);
    let refused = |declaration: Value, hint: &str| {
        for path in ["/v1/pipelines/plan", "/v1/pipelines/apply"] {
            server.refused("POST", path, Some(declaration.clone()), 422, hint);
        }
        assert_eq!(topic_count(&server), before, "nothing was created for {hint:?}");
        assert!(server.processors.list().is_empty(), "nothing was deployed for {hint:?}");
    };

    // A loop that is not declared.
    refused(order_pipeline(false), "cycle: ");
    // A topic neither declared nor existing.
    let mut missing = order_pipeline(true);
    missing["topics"].as_array_mut().unwrap().retain(|t| t["name"] != events::FRAUD_ALERTS);
    refused(missing, "uses topic fraud-alerts, which neither exists nor is declared");
    // A module that is not a component, the rest being fine.
    let mut broken = order_pipeline(true);
    broken["processors"][3]["module"] = json!(STANDARD.encode(b"\0asm not really"));
    refused(broken, "processor payment");
    // Twice the same processor.
    let mut twice = order_pipeline(true);
    let first = twice["processors"][0].clone();
    twice["processors"].as_array_mut().unwrap().push(first);
    refused(twice, "processor router is declared twice");
    // A join of topics with different partition counts.
    let mut uneven = order_pipeline(true);
    let notification = uneven["processors"][4].as_object_mut().unwrap();
    notification.remove("input");
    notification.insert("inputs".into(), json!([events::ORDERS, events::PAYMENTS]));
    refused(uneven, "not co-partitioned (orders: 3, payments: 1)");
    // Both spellings of the inputs at once.
    let mut both = order_pipeline(true);
    both["processors"][4]["inputs"] = json!([events::ORDERS]);
    server.refused("POST", "/v1/pipelines/apply", Some(both), 400, "either `input` or `inputs`");
    // A field that means nothing.
    let mut unknown = order_pipeline(true);
    unknown["topics"][0]["partitionz"] = json!(3);
    server.refused("POST", "/v1/pipelines/apply", Some(unknown), 400, "partitionz");

    // Once applied, what an upgrade cannot change is refused with what to do.
    server.expect("POST", "/v1/pipelines/apply", Some(order_pipeline(true)), 200);
    let mut moved = order_pipeline(true);
    moved["processors"][4]["input"] = json!(events::INVENTORY_EVENTS);
    let message =
        server.refused("POST", "/v1/pipelines/apply", Some(moved), 422, "another `inputs`");
    assert!(message.contains("weir processor delete notification"), "{message}");
    let mut repartitioned = order_pipeline(true);
    repartitioned["topics"][0]["partitions"] = json!(6);
    server.refused(
        "POST",
        "/v1/pipelines/plan",
        Some(repartitioned),
        422,
        "has 3 partition(s), the pipeline says 6",
    );
}
