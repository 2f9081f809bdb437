//! `weir produce TOPIC [FILE]`: one record per line, from a file or standard input,
//! sent to the HTTP API in batches.
//!
//! Through the HTTP API rather than the Kafka protocol: one address for every
//! command, the broker picks partitions as it does for Kafka clients, and a refusal
//! comes back as a sentence that says what to do. At a thousand records a request
//! that is tens of thousands of records a second, plenty for a shell tool; `weir
//! perf` measures the Kafka path.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use super::client::{CliError, Client, Format, GlobalArgs, Method, key_value};
use super::output::print_json;
use super::topic::{describe, path};

/// At most this many bytes of keys, values and headers in one request: the broker
/// appends a request's records for one partition as one batch, which must stay
/// under the default `max.message.bytes` (1 MiB) whatever `--batch` says.
const MAX_REQUEST_PAYLOAD: usize = 512 << 10;

/// `weir produce`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  echo 'hello' | weir produce greetings
  weir produce orders orders.txt --key-separator ':'      # lines like  customer-7:{\"total\": 12}
  weir produce orders --partition 0 --header source=import < orders.txt")]
pub struct ProduceArgs {
    /// The topic to produce to
    pub topic: String,
    /// A file with one record per line (blank lines are skipped) [default: standard input]
    pub file: Option<PathBuf>,
    /// Split each line at the first SEP into key and value, as kcat -K does; lines
    /// without SEP get no key
    #[arg(long, short = 'K', value_name = "SEP", value_parser = non_empty)]
    pub key_separator: Option<String>,
    /// Send every record to this partition [default: by key hash; keyless records
    /// are spread]
    #[arg(long, short, value_name = "N")]
    pub partition: Option<u32>,
    /// A header on every record (repeat for more)
    #[arg(long = "header", short = 'H', value_name = "KEY=VALUE", value_parser = key_value)]
    pub headers: Vec<(String, String)>,
    /// Records per request
    #[arg(long, default_value_t = 1000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch: u64,
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.is_empty() { Err("the separator cannot be empty".to_string()) } else { Ok(s.to_string()) }
}

/// Runs `weir produce`; see [`super::client`] for exit codes.
pub async fn run(args: ProduceArgs, global: GlobalArgs) -> anyhow::Result<()> {
    // The client and the reading block; keep them off the async workers.
    tokio::task::spawn_blocking(move || run_blocking(args, &global)).await??;
    Ok(())
}

fn run_blocking(args: ProduceArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let client = Client::new(&global.http)?;
    let (input, progress): (Box<dyn Read>, ProgressBar) = match &args.file {
        Some(file) => {
            let cannot = |e| CliError::Usage(format!("cannot read {}: {e}", file.display()));
            let opened = File::open(file).map_err(cannot)?;
            let len = opened.metadata().map_err(cannot)?.len();
            (Box::new(opened), progress_bar(len))
        }
        None => (Box::new(std::io::stdin()), ProgressBar::hidden()),
    };
    // Fail before reading anything if the topic or partition is not there.
    describe(&client, &args.topic, args.partition)?;
    let mut sender = Sender { client: &client, args: &args, batch: Vec::new(), bytes: 0, sent: 0 };
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(|e| {
            let from =
                args.file.as_ref().map_or("standard input".into(), |f| f.display().to_string());
            CliError::Usage(format!("cannot read {from}: {e}"))
        })?;
        if read == 0 {
            break;
        }
        progress.inc(read as u64);
        let record = strip_newline(&line);
        if record.is_empty() {
            continue;
        }
        sender.push(record)?;
    }
    sender.flush()?;
    progress.finish_and_clear();
    let sent = sender.sent;
    match global.output {
        Format::Json => print_json(&json!({ "topic": args.topic, "records": sent })),
        Format::Text => {
            let plural = if sent == 1 { "" } else { "s" };
            println!("produced {sent} record{plural} to {}", args.topic);
            Ok(())
        }
    }
}

/// A bar on stderr for a file of `len` bytes, drawn only when stderr is a
/// terminal (never into a pipe or a log).
fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// A line without its `\n` (or `\r\n`).
fn strip_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Records waiting to be sent, and how many went.
struct Sender<'a> {
    /// The API.
    client: &'a Client,
    /// What to send and where.
    args: &'a ProduceArgs,
    /// The next request's records, as the API takes them.
    batch: Vec<Value>,
    /// Bytes of keys and values in `batch`.
    bytes: usize,
    /// Records the broker acknowledged.
    sent: u64,
}

impl Sender<'_> {
    /// Adds a line as a record, sending the batch when it is full.
    fn push(&mut self, line: &[u8]) -> Result<(), CliError> {
        let (key, value) = match &self.args.key_separator {
            Some(sep) => match find(line, sep.as_bytes()) {
                Some(at) => (Some(&line[..at]), &line[at + sep.len()..]),
                None => (None, line),
            },
            None => (None, line),
        };
        let headers: usize = self.args.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
        let size = key.map_or(0, <[u8]>::len) + value.len() + headers;
        if !self.batch.is_empty() && self.bytes + size > MAX_REQUEST_PAYLOAD {
            self.flush()?;
        }
        let mut record = json!({ "value": bytes_json(value) });
        if let Some(key) = key {
            record["key"] = bytes_json(key);
        }
        if let Some(partition) = self.args.partition {
            record["partition"] = json!(partition);
        }
        if !self.args.headers.is_empty() {
            // [name, value] pairs keep their order, and repeated names.
            let headers: Vec<Value> =
                self.args.headers.iter().map(|(k, v)| json!([k, v])).collect();
            record["headers"] = Value::Array(headers);
        }
        self.batch.push(record);
        self.bytes += size;
        if self.batch.len() as u64 >= self.args.batch {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends what is waiting.
    fn flush(&mut self) -> Result<(), CliError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let body = json!({ "records": std::mem::take(&mut self.batch) });
        let count = body["records"].as_array().map_or(0, Vec::len) as u64;
        self.bytes = 0;
        let topic = &self.args.topic;
        match self.client.send(Method::Post, &path(topic, "/records"), Some(&body)) {
            Ok(_) => {
                self.sent += count;
                Ok(())
            }
            Err(CliError::Refused { status, message }) if self.sent > 0 => {
                let message =
                    format!("{message} ({} records were produced before this)", self.sent);
                Err(CliError::Refused { status, message })
            }
            Err(e) => Err(e),
        }
    }
}

/// Bytes as the API takes them: a JSON string when they are UTF-8, otherwise
/// `{"base64": "..."}`.
fn bytes_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => json!(text),
        Err(_) => json!({ "base64": STANDARD.encode(bytes) }),
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_like_kcat() {
        assert_eq!(strip_newline(b"a\r\n"), b"a");
        assert_eq!(strip_newline(b"a"), b"a");
        assert_eq!(find(b"k::v::w", b"::"), Some(1));
        assert_eq!(find(b"kv", b"::"), None);
    }
}
