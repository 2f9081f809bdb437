//! The CLI's client of the HTTP API: the global options (`--http`, `--bootstrap`,
//! `--output`), requests and their failures, and exit codes.
//!
//! Exit codes: 0 done, 1 the server refused (it answered 4xx or 5xx, and its
//! message is printed), 2 a usage error (clap's, or a file that cannot be read),
//! 3 the server cannot be reached or does not answer like Weir.

use std::io::Read;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::de::DeserializeOwned;
use thiserror::Error;
use ureq::Agent;

/// Where `weir serve` listens for HTTP unless told otherwise.
pub const DEFAULT_HTTP: &str = "http://127.0.0.1:8080";

/// How long connecting may take; the API is usually on loopback.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take: deploying compiles the module.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// The largest answer read.
const MAX_ANSWER_BYTES: u64 = 256 << 20;

/// Where `weir serve` listens for Kafka clients unless told otherwise.
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";

/// Where `--help` lists the [`GlobalArgs`], apart from a subcommand's own.
const GLOBAL: &str = "Global options";

/// Options every subcommand takes, before or after its name.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The Weir HTTP API the client commands talk to (`weir serve --http-addr`)
    #[arg(
        long = "http",
        help_heading = GLOBAL,
        global = true,
        env = "WEIR_HTTP",
        default_value = DEFAULT_HTTP,
        value_name = "URL"
    )]
    pub http: String,
    /// The Kafka listener (`weir serve --kafka-addr`), for `weir perf`: HOST:PORT,
    /// or several separated by commas
    #[arg(
        long,
        help_heading = GLOBAL,
        global = true,
        env = "WEIR_BOOTSTRAP",
        default_value = DEFAULT_BOOTSTRAP,
        value_name = "HOST:PORT",
        value_parser = parse_bootstrap
    )]
    pub bootstrap: String,
    /// How answers are printed: `text` for people, `json` for programs
    // `--format` is what `weir processor` called it first.
    #[arg(
        long = "output",
        help_heading = GLOBAL,
        alias = "format",
        global = true,
        env = "WEIR_OUTPUT",
        value_name = "FORMAT",
        value_enum,
        default_value_t = Format::Text
    )]
    pub output: Format,
}

/// How answers are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables and sentences.
    Text,
    /// The API's JSON as it answered; records one object per line.
    Json,
}

/// Why a command did not do what it was asked.
#[derive(Debug, Error)]
pub enum CliError {
    /// The server answered with an error; its message says what to do.
    #[error("{message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// Nothing answered at the URL.
    #[error(
        "no Weir HTTP API at {url}: is `weir serve` running? (set --http or WEIR_HTTP; {reason})"
    )]
    Unreachable {
        /// The API's base URL.
        url: String,
        /// What failed: connection refused, timeout, unknown host...
        reason: String,
    },
    /// Something answered, but not like Weir's API.
    #[error("the server at {url} did not answer like a Weir HTTP API: {reason}")]
    NotWeir {
        /// The API's base URL.
        url: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// The command line names something unusable (a file that cannot be read, a
    /// manifest that does not parse, a URL that is not http).
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Refused { .. } => 1,
            CliError::Usage(_) => 2,
            CliError::Unreachable { .. } | CliError::NotWeir { .. } => 3,
        }
    }
}

/// The exit code for an error a subcommand returned: a [`CliError`]'s own code,
/// 1 for anything else.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    error.downcast_ref::<CliError>().map_or(1, CliError::exit_code)
}

/// A request's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Read.
    Get,
    /// Create or act.
    Post,
    /// Replace.
    Put,
    /// Change part of.
    Patch,
    /// Remove.
    Delete,
}

/// A connection to one Weir HTTP API.
#[derive(Debug)]
pub struct Client {
    /// The API's base URL, without a trailing slash.
    base: String,
    /// ureq's connection pool and settings.
    agent: Agent,
}

impl Client {
    /// A client of the API at `url` (`http://HOST:PORT`).
    pub fn new(url: &str) -> Result<Client, CliError> {
        let base = url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            return Err(CliError::Usage(format!(
                "--http {url} is not supported: give a plain http:// URL, such as {DEFAULT_HTTP}"
            )));
        }
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client { base, agent: Agent::new_with_config(config) })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Sends a request with an optional JSON body; the answer's body if it is a
    /// success (empty for 204).
    pub fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, CliError> {
        let uri = format!("{}{path}", self.base);
        let json = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| CliError::Usage(format!("encoding the request: {e}")))?;
        const JSON: &str = "application/json";
        let sent = match (method, json) {
            (Method::Get, _) => self.agent.get(&uri).call(),
            (Method::Delete, _) => self.agent.delete(&uri).call(),
            (Method::Post, None) => self.agent.post(&uri).send_empty(),
            (Method::Put, None) => self.agent.put(&uri).send_empty(),
            (Method::Patch, None) => self.agent.patch(&uri).send_empty(),
            (Method::Post, Some(json)) => self.agent.post(&uri).content_type(JSON).send(&json[..]),
            (Method::Put, Some(json)) => self.agent.put(&uri).content_type(JSON).send(&json[..]),
            (Method::Patch, Some(json)) => {
                self.agent.patch(&uri).content_type(JSON).send(&json[..])
            }
        };
        let mut response = sent.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .reader()
            .read_to_end(&mut bytes)
            .map_err(|e| self.not_weir(format!("reading the answer: {e}")))?;
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let message = match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Object(map)) => match map.get("error") {
                Some(serde_json::Value::String(message)) => message.clone(),
                _ => format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
            },
            _ => format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes).trim()),
        };
        Err(CliError::Refused { status, message })
    }

    /// Sends a request and decodes the JSON answer.
    pub fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, CliError> {
        let bytes = self.send(method, path, body)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.not_weir(format!("{method:?} {path} answered unexpected JSON: {e}")))
    }

    fn transport_error(&self, error: ureq::Error) -> CliError {
        match error {
            ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Timeout(_) => {
                CliError::Unreachable { url: self.base.clone(), reason: error.to_string() }
            }
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
                CliError::Usage(format!("--http {} does not make a valid URL: {error}", self.base))
            }
            other => self.not_weir(other.to_string()),
        }
    }

    fn not_weir(&self, reason: String) -> CliError {
        CliError::NotWeir { url: self.base.clone(), reason }
    }
}

/// `name` as one path segment: everything but unreserved characters
/// percent-encoded.
pub fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `HOST:PORT[,HOST:PORT...]` with a port from 1 to 65535, for clap.
pub fn parse_bootstrap(s: &str) -> Result<String, String> {
    for server in s.split(',') {
        let (host, port) = server
            .rsplit_once(':')
            .ok_or_else(|| format!("'{server}' is not HOST:PORT (e.g. 127.0.0.1:9092)"))?;
        if host.is_empty() {
            return Err(format!("'{server}' has no host: use HOST:PORT (e.g. 127.0.0.1:9092)"));
        }
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(format!("'{port}' in '{server}' is not a port from 1 to 65535")),
        }
    }
    Ok(s.to_string())
}

/// `KEY=VALUE` with a non-empty key, for clap.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_path_segments() {
        assert_eq!(segment("orders.v2_x-y"), "orders.v2_x-y");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn refuses_urls_it_cannot_speak_to() {
        let e = Client::new("https://example.com").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(Client::new("http://127.0.0.1:8080/").unwrap().url().ends_with(":8080"));
    }

    #[test]
    fn reports_unreachable_servers_with_what_to_do() {
        // Bind and drop: nothing listens on that port afterwards.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = Client::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let e = client.send(Method::Get, "/v1/processors", None).unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(e.to_string().contains("is `weir serve` running?"), "{e}");
    }
}
