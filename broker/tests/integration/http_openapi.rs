//! The OpenAPI document against the running API: every documented operation is
//! served (never the 404 or 405 fallback, never a 5xx for the probe), every
//! other method on a documented path is a 405, and the operations of the API are
//! all in it.

use crate::http_support;

use http_support::{Server, message};
use serde_json::{Value, json};

/// What each path parameter is replaced with: names nothing that exists, so no
/// probe changes anything.
fn probe_path(path: &str) -> String {
    path.replace("{name}", "openapi-probe")
        .replace("{id}", "openapi-probe")
        .replace("{partition}", "0")
}

/// True for the fallback's answer to an unknown path.
fn is_fallback(status: u16, answer: &Value) -> bool {
    status == 404 && answer["error"].as_str().is_some_and(|m| m.starts_with("no such endpoint"))
}

#[test]
fn the_document_and_the_router_agree() {
    let server = Server::start();
    let document = server.expect("GET", "/openapi.json", None, 200);
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["info"]["title"].is_string());
    let paths = document["paths"].as_object().expect("paths");

    let mut documented = Vec::new();
    for (path, item) in paths {
        assert!(!path.contains(':'), "{path}: OpenAPI and axum both write {{param}}");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let probe = probe_path(path);
            let body = (method != "GET" && method != "DELETE").then(|| json!({}));
            let (status, answer) = server.call(method, &probe, body);
            if item.get(method.to_lowercase()).is_some() {
                documented.push(format!("{method} {path}"));
                assert!(!is_fallback(status, &answer), "{method} {probe}: not routed: {answer}");
                assert_ne!(status, 405, "{method} {probe}: documented but not allowed");
                assert!(status < 500, "{method} {probe}: {status} {answer}");
            } else {
                assert_eq!(status, 405, "{method} {probe} is served but not documented: {answer}");
                assert!(message(&answer).contains("is not allowed"), "{answer}");
            }
        }
    }

    // The operations of the API, all documented (and so all served).
    for operation in [
        "GET /healthz",
        "GET /readyz",
        "GET /openapi.json",
        "GET /v1/topics",
        "POST /v1/topics",
        "GET /v1/topics/{name}",
        "DELETE /v1/topics/{name}",
        "PATCH /v1/topics/{name}/configs",
        "POST /v1/topics/{name}/delete-records",
        "POST /v1/topics/{name}/partitions",
        "POST /v1/topics/{name}/records",
        "GET /v1/topics/{name}/partitions/{partition}/records",
        "GET /v1/broker/configs",
        "PATCH /v1/broker/configs",
        "GET /v1/groups",
        "GET /v1/groups/{id}",
        "POST /v1/groups/{id}/offsets",
        "DELETE /v1/groups/{id}",
        "GET /v1/processors",
        "POST /v1/processors",
        "GET /v1/processors/{name}",
        "DELETE /v1/processors/{name}",
        "POST /v1/processors/{name}/pause",
        "POST /v1/processors/{name}/resume",
        "PUT /v1/processors/{name}/module",
        "GET /v1/processors/{name}/logs",
    ] {
        assert!(documented.iter().any(|d| d == operation), "{operation} is not documented");
    }

    // Parameters and answers are described.
    let read = &paths["/v1/topics/{name}/partitions/{partition}/records"]["get"];
    let params: Vec<&str> = read["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["name", "partition", "offset", "timestamp", "from", "limit", "format"]);
    let create = &paths["/v1/topics"]["post"];
    assert!(create["requestBody"]["content"]["application/json"]["schema"].is_object());
    assert_eq!(create["responses"]["409"]["$ref"], "#/components/responses/409");
    assert!(document["components"]["schemas"]["Error"].is_object());
}
