//! The API as data, and its OpenAPI 3.1 document at `GET /openapi.json`.
//!
//! Each resource lists its routes as [`Route`]s: the method and path, the handler
//! that serves them, and what the document says of them (summary, parameters,
//! body, answers). `super::router` builds the router from those lists and
//! [`document`] builds the document from the same lists, so a route cannot be
//! served without being documented, nor documented without being served.
//! `tests/integration/http_openapi.rs` requests every documented operation of a running server
//! to check that none falls through to the 404 or 405 fallback.
//!
//! Path parameters are taken from the path (`{name}`), as strings unless a route
//! says otherwise with [`Route::path_param`]. Schemas are written by hand with
//! `serde_json::json!`, next to the handlers whose answers they describe.

use std::sync::OnceLock;

use axum::Router;
use axum::handler::Handler;
use axum::http::{Method, header};
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter, on};
use serde_json::{Map, Value, json};

use super::AppState;

/// One operation of the API: what serves it and what the document says of it.
pub struct Route {
    /// The HTTP method.
    method: Method,
    /// The path, with `{param}`s as axum and OpenAPI both write them.
    path: &'static str,
    /// The handler, routed for `method` only.
    handler: MethodRouter<AppState>,
    /// The operation object of the document, but for its tags and parameters.
    operation: Map<String, Value>,
    /// Path parameters with a schema of their own, by name.
    path_params: Vec<(&'static str, Value, &'static str)>,
    /// Query parameters.
    query: Vec<Value>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Route({} {})", self.method, self.path)
    }
}

impl Route {
    /// `method path`, served by `handler`, with operation id `id` and a one-line
    /// summary.
    pub fn new<H, T>(
        method: Method,
        path: &'static str,
        handler: H,
        id: &'static str,
        summary: &'static str,
    ) -> Route
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a method axum can route");
        let mut operation = Map::new();
        operation.insert("operationId".into(), id.into());
        operation.insert("summary".into(), summary.into());
        operation.insert("responses".into(), Value::Object(Map::new()));
        Route {
            method,
            path,
            handler: on(filter, handler),
            operation,
            path_params: Vec::new(),
            query: Vec::new(),
        }
    }

    /// A GET route.
    pub fn get<H: Handler<T, AppState>, T: 'static>(
        path: &'static str,
        handler: H,
        id: &'static str,
        summary: &'static str,
    ) -> Route {
        Route::new(Method::GET, path, handler, id, summary)
    }

    /// A POST route.
    pub fn post<H: Handler<T, AppState>, T: 'static>(
        path: &'static str,
        handler: H,
        id: &'static str,
        summary: &'static str,
    ) -> Route {
        Route::new(Method::POST, path, handler, id, summary)
    }

    /// A PUT route.
    pub fn put<H: Handler<T, AppState>, T: 'static>(
        path: &'static str,
        handler: H,
        id: &'static str,
        summary: &'static str,
    ) -> Route {
        Route::new(Method::PUT, path, handler, id, summary)
    }

    /// A PATCH route.
    pub fn patch<H: Handler<T, AppState>, T: 'static>(
        path: &'static str,
        handler: H,
        id: &'static str,
        summary: &'static str,
    ) -> Route {
        Route::new(Method::PATCH, path, handler, id, summary)
    }

    /// A DELETE route.
    pub fn delete<H: Handler<T, AppState>, T: 'static>(
        path: &'static str,
        handler: H,
        id: &'static str,
        summary: &'static str,
    ) -> Route {
        Route::new(Method::DELETE, path, handler, id, summary)
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// A longer description (Markdown).
    pub fn describe(mut self, text: &str) -> Route {
        self.operation.insert("description".into(), text.into());
        self
    }

    /// Gives the path parameter `name` a schema other than a string.
    pub fn path_param(mut self, name: &'static str, schema: Value, text: &'static str) -> Route {
        self.path_params.push((name, schema, text));
        self
    }

    /// An optional query parameter.
    pub fn query(mut self, name: &str, schema: Value, text: &str) -> Route {
        let param = json!({ "name": name, "in": "query", "required": false,
                            "description": text, "schema": schema });
        self.query.push(param);
        self
    }

    /// A required JSON request body.
    pub fn body(mut self, schema: Value) -> Route {
        let body = json!({ "required": true,
                           "content": { "application/json": { "schema": schema } } });
        self.operation.insert("requestBody".into(), body);
        self
    }

    /// A JSON answer.
    pub fn json(self, status: u16, text: &str, schema: Value) -> Route {
        let content = json!({ "application/json": { "schema": schema } });
        self.response(status, json!({ "description": text, "content": content }))
    }

    /// A plain-text answer.
    pub fn text(self, status: u16, text: &str) -> Route {
        let content = json!({ "text/plain": { "schema": { "type": "string" } } });
        self.response(status, json!({ "description": text, "content": content }))
    }

    /// An answer with no body.
    pub fn empty(self, status: u16, text: &str) -> Route {
        self.response(status, json!({ "description": text }))
    }

    /// Error answers, each `{"error": "..."}`.
    pub fn errors(mut self, statuses: &[u16]) -> Route {
        for &status in statuses {
            let reference = json!({ "$ref": format!("#/components/responses/{status}") });
            self = self.response(status, reference);
        }
        self
    }

    fn response(mut self, status: u16, response: Value) -> Route {
        if let Some(Value::Object(responses)) = self.operation.get_mut("responses") {
            responses.insert(status.to_string(), response);
        }
        self
    }

    /// Adds this route to `router`.
    pub fn add_to(self, router: Router<AppState>) -> Router<AppState> {
        router.route(self.path, self.handler)
    }

    /// The operation object, tagged with `tag`.
    fn operation(&self, tag: &str) -> Value {
        let mut operation = self.operation.clone();
        operation.insert("tags".into(), json!([tag]));
        let mut parameters: Vec<Value> = path_params(self.path)
            .map(|name| {
                let (schema, text) = match self.path_params.iter().find(|(n, ..)| *n == name) {
                    Some((_, schema, text)) => (schema.clone(), *text),
                    None => (json!({ "type": "string" }), ""),
                };
                json!({ "name": name, "in": "path", "required": true,
                        "description": text, "schema": schema })
            })
            .collect();
        parameters.extend(self.query.iter().cloned());
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }
        Value::Object(operation)
    }
}

/// The `{param}` names in `path`, in order.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// The document's route.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/openapi.json", serve, "getOpenApi", "This document")
            .describe("The OpenAPI 3.1 document of every route of the API.")
            .json(200, "The document", json!({ "type": "object" })),
    ]
}

async fn serve() -> impl IntoResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let text = DOCUMENT.get_or_init(|| document(super::RESOURCES).to_string());
    ([(header::CONTENT_TYPE, "application/json")], text.as_str())
}

/// The OpenAPI document of `resources`: (tag, description, routes) each.
pub fn document(resources: &[super::Resource]) -> Value {
    let mut paths = Map::new();
    let mut tags = Vec::new();
    for resource in resources {
        tags.push(json!({ "name": resource.tag, "description": resource.description }));
        for route in (resource.routes)() {
            let item = paths.entry(route.path).or_insert_with(|| json!({}));
            item[route.method.as_str().to_lowercase()] = route.operation(resource.tag);
        }
    }
    let error_status = [
        (400, "The request is malformed: the message says which part and how to fix it"),
        (403, "The topic is internal: only the broker manages it"),
        (404, "No such topic, partition, group or processor"),
        (409, "The request conflicts with the current state (it exists, or has members)"),
        (413, "The request body, or a batch it makes, is too large"),
        (415, "The body is not sent as `Content-Type: application/json`"),
        (422, "The request is well-formed but cannot be carried out"),
        (500, "The broker failed; its log has the details"),
        (503, "The broker is not ready, or is shutting down"),
    ];
    let responses: Map<String, Value> = error_status
        .iter()
        .map(|(status, text)| {
            let content = json!({ "application/json": {
                "schema": { "$ref": "#/components/schemas/Error" } } });
            (status.to_string(), json!({ "description": text, "content": content }))
        })
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Weir HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Topics, records, consumer groups and processors of a Weir \
                broker. Every error answers `{\"error\": \"...\"}` with a message that says \
                what to do.",
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "string",
                            "description": "What went wrong and what to do",
                        },
                    },
                },
            },
            "responses": responses,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_operation_is_complete_and_unique() {
        let document = document(super::super::RESOURCES);
        assert_eq!(document["openapi"], "3.1.0");
        let mut ids = BTreeSet::new();
        let mut count = 0;
        for resource in super::super::RESOURCES {
            for route in (resource.routes)() {
                count += 1;
                let op = &document["paths"][route.path][route.method.as_str().to_lowercase()];
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
                assert!(!op["summary"].as_str().unwrap().is_empty(), "{id}");
                let responses = op["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{id} documents no success answer"
                );
                for reference in responses.values().filter_map(|r| r["$ref"].as_str()) {
                    let status = reference.rsplit('/').next().unwrap();
                    assert!(
                        document["components"]["responses"][status].is_object(),
                        "{id} refers to an undefined {reference}"
                    );
                }
                let declared: Vec<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                assert_eq!(declared, path_params(route.path).collect::<Vec<_>>(), "{id}");
                for (name, ..) in &route.path_params {
                    assert!(declared.contains(name), "{id}: no path parameter {name}");
                }
            }
        }
        let operations: usize = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(operations, count, "two routes share a method and path");
    }
}
