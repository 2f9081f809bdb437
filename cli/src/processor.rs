//! `weir processor ...`: deploy, watch and steer processors through the HTTP API
//! of a running `weir serve`.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, Subcommand, ValueEnum};
use serde::Deserialize;
use serde_json::{Value, json};
use weir_runtime::{ErrorPolicy, Limits, Manifest, StartPosition};

use super::client::{CliError, Client, Format, GlobalArgs, Method, key_value, segment};
use super::output::{print_json, table, utc};

/// How often `logs --follow` asks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);
/// Lines asked for per logs request (the API's maximum).
const LOG_PAGE: usize = 10_000;

/// `weir processor`: what to do.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  weir processor deploy inventory.wasm --name inventory --input orders --output-topic inventory-events
  weir processor list
  WEIR_HTTP=http://broker-1:8080 weir processor status inventory")]
pub struct ProcessorArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ProcessorCommand,
}

/// The subcommands of `weir processor`.
#[derive(Debug, Subcommand)]
pub enum ProcessorCommand {
    /// Deploy a Wasm component as a processor.
    Deploy(DeployArgs),
    /// List processors with their lag and counters.
    #[command(after_help = "Example:\n  weir processor list --output json")]
    List,
    /// Show one processor, partition by partition.
    #[command(after_help = "Example:\n  weir processor status inventory")]
    Status(NameArg),
    /// Stop processing, keeping offsets and state, until resumed.
    #[command(after_help = "Example:\n  weir processor pause inventory")]
    Pause(NameArg),
    /// Resume a paused processor (also restarts workers paused by errors).
    #[command(after_help = "Example:\n  weir processor resume inventory")]
    Resume(NameArg),
    /// Swap a processor's module at a batch boundary, keeping offsets and state.
    Upgrade(UpgradeArgs),
    /// Stop a processor and remove its deployment.
    #[command(after_help = "Example:\n  weir processor delete inventory")]
    Delete(NameArg),
    /// Print a processor's log lines (what it logged, its errors).
    Logs(LogsArgs),
}

/// A processor's name.
#[derive(Debug, Args)]
pub struct NameArg {
    /// The processor's name
    pub name: String,
}

/// What happens to records that keep failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    /// Send them to the dead-letter topic NAME.dead-letter and go on.
    DeadLetter,
    /// Pause the partition's worker until resumed.
    Pause,
}

/// `weir processor deploy`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  weir processor deploy inventory.wasm --name inventory --input orders \\
      --output-topic inventory-events --start earliest --config threshold=10
  weir processor deploy enrich.wasm --name enrich --input clicks --input users \
      --output-topic enriched     # a join: both topics need the same partition count
  weir processor deploy inventory.wasm --manifest inventory.toml")]
pub struct DeployArgs {
    /// The component to run (built for wasm32-wasip2)
    #[arg(value_name = "FILE.wasm")]
    pub module: PathBuf,
    /// A manifest file (.toml or .json) with the whole deployment; the flags
    /// below override its fields
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// The processor's name, also its consumer group id
    #[arg(long, required_unless_present = "manifest")]
    pub name: Option<String>,
    /// A topic it consumes (repeat for several, which must have the same
    /// partition count: a join)
    #[arg(long = "input", value_name = "TOPIC", required_unless_present = "manifest")]
    pub inputs: Vec<String>,
    /// A topic it may emit to (repeat for more)
    #[arg(long = "output-topic", visible_alias = "to", value_name = "TOPIC")]
    pub outputs: Vec<String>,
    /// Where it starts on partitions it never committed for: earliest, latest,
    /// offset:N or timestamp:MS [default: earliest]
    #[arg(long, value_name = "POSITION")]
    pub start: Option<StartPosition>,
    /// What happens to records that keep failing [default: dead-letter]
    #[arg(long, value_enum)]
    pub on_error: Option<OnError>,
    /// A config entry passed to the processor's init (repeat for more)
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
    pub config: Vec<(String, String)>,
    /// Memory cap of an instance, in MiB [default: 64]
    #[arg(long, value_name = "MIB")]
    pub memory_mb: Option<u64>,
    /// CPU deadline of one call into the processor, in ms [default: 1000]
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Most records per batch [default: 1000]
    #[arg(long, value_name = "N")]
    pub batch: Option<u32>,
}

/// `weir processor upgrade`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  weir processor upgrade inventory inventory-v2.wasm --config threshold=20")]
pub struct UpgradeArgs {
    /// The processor's name
    pub name: String,
    /// The new component
    #[arg(value_name = "FILE.wasm")]
    pub module: PathBuf,
    /// A config entry for the new module's init (repeat for more); when given,
    /// the entries replace the whole config, otherwise it is kept
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
    pub config: Vec<(String, String)>,
}

/// `weir processor logs`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  weir processor logs inventory --limit 20
  weir processor logs inventory --follow")]
pub struct LogsArgs {
    /// The processor's name
    pub name: String,
    /// Keep printing new lines as they come, until ctrl-c
    #[arg(long, short)]
    pub follow: bool,
    /// Print the last N lines first
    #[arg(long, default_value_t = 100, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub limit: u64,
}

/// Runs a `weir processor` subcommand; see [`super::client`] for exit codes.
pub async fn run(args: ProcessorArgs, global: GlobalArgs) -> anyhow::Result<()> {
    // The client blocks; keep it off the async workers.
    tokio::task::spawn_blocking(move || run_blocking(args, &global)).await??;
    Ok(())
}

fn run_blocking(args: ProcessorArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let client = Client::new(&global.http)?;
    let format = global.output;
    match args.command {
        ProcessorCommand::Deploy(deploy) => {
            let manifest = deploy.manifest()?;
            let module = read_module(&deploy.module)?;
            let body = json!({ "manifest": manifest, "module": module });
            let info: Value = client.json(Method::Post, "/v1/processors", Some(&body))?;
            print_info(&client, format, info, |i| {
                let outputs = if i.manifest.outputs.is_empty() {
                    "no outputs".to_string()
                } else {
                    format!("may write {}", i.manifest.outputs.join(", "))
                };
                format!(
                    "deployed {} (version {}): reads {} from {}, {outputs}",
                    i.manifest.name,
                    i.version,
                    i.manifest.inputs_label(),
                    i.manifest.start
                )
            })
        }
        ProcessorCommand::List => {
            let list: Value = client.json(Method::Get, "/v1/processors", None)?;
            if format == Format::Json {
                return print_json(&list);
            }
            let infos: Vec<InfoView> = view(&client, list)?;
            if infos.is_empty() {
                println!("no processors deployed (deploy one with `weir processor deploy`)");
                return Ok(());
            }
            print!("{}", list_table(&infos));
            Ok(())
        }
        ProcessorCommand::Status(NameArg { name }) => {
            let info: Value = client.json(Method::Get, &path(&name, ""), None)?;
            print_info(&client, format, info, status_text)
        }
        ProcessorCommand::Pause(NameArg { name }) => {
            let info: Value = client.json(Method::Post, &path(&name, "/pause"), None)?;
            print_info(&client, format, info, |i| format!("paused {}", i.manifest.name))
        }
        ProcessorCommand::Resume(NameArg { name }) => {
            let info: Value = client.json(Method::Post, &path(&name, "/resume"), None)?;
            print_info(&client, format, info, |i| format!("resumed {}", i.manifest.name))
        }
        ProcessorCommand::Upgrade(upgrade) => {
            let module = read_module(&upgrade.module)?;
            let mut body = json!({ "module": module });
            if !upgrade.config.is_empty() {
                let config: BTreeMap<String, String> = upgrade.config.into_iter().collect();
                body["config"] = json!(config);
            }
            let info: Value =
                client.json(Method::Put, &path(&upgrade.name, "/module"), Some(&body))?;
            print_info(&client, format, info, |i| {
                format!(
                    "upgraded {} to version {} (module {})",
                    i.manifest.name,
                    i.version,
                    short_digest(&i.status.module_digest)
                )
            })
        }
        ProcessorCommand::Delete(NameArg { name }) => {
            client.send(Method::Delete, &path(&name, ""), None)?;
            if format == Format::Text {
                println!("deleted {name}");
            }
            Ok(())
        }
        ProcessorCommand::Logs(logs) => follow_logs(&client, format, &logs),
    }
}

/// `/v1/processors/{name}{rest}`.
fn path(name: &str, rest: &str) -> String {
    format!("/v1/processors/{}{rest}", segment(name))
}

impl DeployArgs {
    /// The manifest: the file's, if any, with the flags over it.
    fn manifest(&self) -> Result<Manifest, CliError> {
        let mut manifest = match &self.manifest {
            Some(file) => read_manifest(file)?,
            None => Manifest {
                name: String::new(),
                inputs: Vec::new(),
                outputs: Vec::new(),
                allowed_lateness_ms: 0,
                start: StartPosition::default(),
                limits: Limits::default(),
                on_error: ErrorPolicy::default(),
                config: BTreeMap::new(),
            },
        };
        if let Some(name) = &self.name {
            manifest.name = name.clone();
        }
        if !self.inputs.is_empty() {
            manifest.inputs = self.inputs.clone();
        }
        if !self.outputs.is_empty() {
            manifest.outputs = self.outputs.clone();
        }
        if let Some(start) = self.start {
            manifest.start = start;
        }
        match self.on_error {
            Some(OnError::DeadLetter) => manifest.on_error = ErrorPolicy::DeadLetter,
            Some(OnError::Pause) => manifest.on_error = ErrorPolicy::Pause,
            None => {}
        }
        manifest.config.extend(self.config.iter().cloned());
        if let Some(mb) = self.memory_mb {
            manifest.limits.memory_bytes = mb.saturating_mul(1 << 20);
        }
        if let Some(ms) = self.timeout_ms {
            manifest.limits.call_timeout_ms = ms;
        }
        if let Some(batch) = self.batch {
            manifest.limits.max_batch_records = batch;
        }
        Ok(manifest)
    }
}

/// A manifest file: TOML or JSON, by its extension.
fn read_manifest(file: &Path) -> Result<Manifest, CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("cannot read manifest {}: {e}", file.display())))?;
    let bad = |e: String| CliError::Usage(format!("manifest {} is not valid: {e}", file.display()));
    match file.extension().and_then(|e| e.to_str()) {
        Some("toml") => toml::from_str(&text).map_err(|e| bad(e.to_string())),
        Some("json") => serde_json::from_str(&text).map_err(|e| bad(e.to_string())),
        _ => Err(CliError::Usage(format!(
            "manifest {} must end in .toml or .json, to tell its format",
            file.display()
        ))),
    }
}

/// A module file, base64-encoded for the API.
fn read_module(file: &Path) -> Result<String, CliError> {
    let bytes = std::fs::read(file)
        .map_err(|e| CliError::Usage(format!("cannot read module {}: {e}", file.display())))?;
    Ok(STANDARD.encode(bytes))
}

/// What the CLI reads of a `ProcessorInfo`; the rest is passed through in JSON.
#[derive(Debug, Deserialize)]
struct InfoView {
    manifest: Manifest,
    paused: bool,
    version: u32,
    deployed_at_ms: i64,
    status: StatusView,
}

/// What the CLI reads of a `ProcessorStatus`.
#[derive(Debug, Deserialize)]
struct StatusView {
    state: String,
    module_digest: String,
    partitions: Vec<PartitionView>,
}

/// What the CLI reads of a `PartitionStatus`.
#[derive(Debug, Deserialize)]
struct PartitionView {
    partition: u32,
    state: WorkerStateView,
    next_offset: Option<u64>,
    high_watermark: u64,
    lag: u64,
    records_in: u64,
    records_out: u64,
    errors: u64,
    dead_lettered: u64,
    last_error: Option<String>,
}

/// A `WorkerState`: `{"state": "paused", "reason": "..."}`.
#[derive(Debug, Deserialize)]
struct WorkerStateView {
    state: String,
    #[serde(default)]
    reason: Option<String>,
}

/// A `LogLine`.
#[derive(Debug, Deserialize)]
struct LogLineView {
    seq: u64,
    partition: Option<u32>,
    timestamp_ms: i64,
    level: Value,
    message: String,
}

/// Reads the fields the CLI shows out of an answer.
fn view<T: serde::de::DeserializeOwned>(client: &Client, value: Value) -> Result<T, CliError> {
    serde_json::from_value(value).map_err(|e| CliError::NotWeir {
        url: client.url().to_string(),
        reason: format!("unexpected answer: {e}"),
    })
}

/// Prints a `ProcessorInfo` as JSON, or as `text` makes it.
fn print_info(
    client: &Client,
    format: Format,
    info: Value,
    text: impl FnOnce(&InfoView) -> String,
) -> Result<(), CliError> {
    if format == Format::Json {
        return print_json(&info);
    }
    let info: InfoView = view(client, info)?;
    println!("{}", text(&info).trim_end());
    Ok(())
}

fn list_table(infos: &[InfoView]) -> String {
    let rows: Vec<Vec<String>> = infos
        .iter()
        .map(|i| {
            let sum = |f: fn(&PartitionView) -> u64| -> String {
                i.status.partitions.iter().map(f).sum::<u64>().to_string()
            };
            vec![
                i.manifest.name.clone(),
                i.manifest.inputs_label(),
                i.status.state.clone(),
                sum(|p| p.lag),
                sum(|p| p.records_in),
                sum(|p| p.records_out),
                sum(|p| p.errors),
                sum(|p| p.dead_lettered),
            ]
        })
        .collect();
    table(&["NAME", "INPUT", "STATE", "LAG", "IN", "OUT", "ERRORS", "DEAD-LETTERED"], &rows)
}

fn status_text(i: &InfoView) -> String {
    let m = &i.manifest;
    let on_error = match m.on_error {
        ErrorPolicy::DeadLetter => format!("dead-letter (to {})", m.dead_letter_topic()),
        ErrorPolicy::Pause => "pause".to_string(),
    };
    let outputs = if m.outputs.is_empty() { "-".to_string() } else { m.outputs.join(", ") };
    let state = if i.paused && i.status.state != "paused" {
        format!("{} (pausing)", i.status.state)
    } else {
        i.status.state.clone()
    };
    let mut out = format!(
        "name:      {}\nstate:     {state}\nversion:   {} (deployed {})\ninput:     {}\n\
         outputs:   {outputs}\nstart:     {}\non error:  {on_error}\nmodule:    {}\n\n",
        m.name,
        i.version,
        utc(i.deployed_at_ms),
        m.inputs_label(),
        m.start,
        i.status.module_digest,
    );
    let rows: Vec<Vec<String>> = i
        .status
        .partitions
        .iter()
        .map(|p| {
            vec![
                p.partition.to_string(),
                p.state.state.clone(),
                p.next_offset.map_or("-".to_string(), |o| o.to_string()),
                p.high_watermark.to_string(),
                p.lag.to_string(),
                p.records_in.to_string(),
                p.records_out.to_string(),
                p.errors.to_string(),
                p.dead_lettered.to_string(),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("no partitions yet\n");
    } else {
        out.push_str(&table(
            &["PARTITION", "STATE", "NEXT", "HIGH", "LAG", "IN", "OUT", "ERRORS", "DEAD-LETTERED"],
            &rows,
        ));
    }
    for p in &i.status.partitions {
        if let Some(reason) = &p.state.reason {
            out.push_str(&format!("partition {} {}: {reason}\n", p.partition, p.state.state));
        }
        if let Some(error) = &p.last_error {
            out.push_str(&format!("partition {} last error: {error}\n", p.partition));
        }
    }
    out
}

fn short_digest(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// `logs`: the last `limit` lines, then, with `--follow`, new ones every
/// [`FOLLOW_EVERY`] until the process is interrupted.
fn follow_logs(client: &Client, format: Format, args: &LogsArgs) -> Result<(), CliError> {
    let fetch = |after: u64| -> Result<Vec<Value>, CliError> {
        let path = path(&args.name, &format!("/logs?after={after}&limit={LOG_PAGE}"));
        client.json(Method::Get, &path, None)
    };
    let seq_of = |line: &Value| line.get("seq").and_then(Value::as_u64).unwrap_or(0);
    // Page through what is there, keeping the last `limit` lines.
    let mut last = 0;
    let mut tail = VecDeque::new();
    loop {
        let page = fetch(last)?;
        let full = page.len() >= LOG_PAGE;
        for line in page {
            last = last.max(seq_of(&line));
            tail.push_back(line);
            if tail.len() as u64 > args.limit {
                tail.pop_front();
            }
        }
        if !full {
            break;
        }
    }
    if format == Format::Json && !args.follow {
        return print_json(&Value::Array(tail.into()));
    }
    let mut open = print_lines(client, format, tail)?;
    while open && args.follow {
        std::thread::sleep(FOLLOW_EVERY);
        let page = fetch(last)?;
        if let Some(line) = page.last() {
            last = last.max(seq_of(line));
        }
        open = print_lines(client, format, page)?;
    }
    Ok(())
}

/// Prints log lines, one per line: as text, or as one JSON object each. False
/// once stdout is closed (`| head`), which ends the command quietly.
fn print_lines(
    client: &Client,
    format: Format,
    lines: impl IntoIterator<Item = Value>,
) -> Result<bool, CliError> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        let text = match format {
            Format::Json => line.to_string(),
            Format::Text => {
                let l: LogLineView = view(client, line)?;
                let level = match &l.level {
                    Value::String(s) => s.to_uppercase(),
                    other => other.to_string(),
                };
                let partition = l.partition.map_or(String::new(), |p| format!(" p{p}"));
                format!("{} {level:<5}{partition} #{}: {}", utc(l.timestamp_ms), l.seq, l.message)
            }
        };
        if writeln!(stdout, "{text}").is_err() {
            return Ok(false);
        }
    }
    Ok(stdout.flush().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cli, Command};
    use clap::Parser;

    fn parse_all(args: &[&str]) -> Result<(ProcessorArgs, GlobalArgs), clap::Error> {
        let argv = ["weir", "processor"].into_iter().chain(args.iter().copied());
        match Cli::try_parse_from(argv)? {
            Cli { command: Command::Processor(processor), global } => Ok((processor, global)),
            other => panic!("parsed as another command: {other:?}"),
        }
    }

    fn parse(args: &[&str]) -> Result<ProcessorArgs, clap::Error> {
        parse_all(args).map(|(processor, _)| processor)
    }

    #[test]
    fn builds_a_manifest_from_flags() {
        let (args, global) = parse_all(&[
            "deploy",
            "m.wasm",
            "--name",
            "inv",
            "--input",
            "orders",
            "--output-topic",
            "a",
            "--to",
            "b",
            "--start",
            "offset:5",
            "--on-error",
            "pause",
            "--config",
            "k=v=w",
            "--memory-mb",
            "32",
            "--timeout-ms",
            "200",
            "--batch",
            "10",
            "--output",
            "json",
        ])
        .unwrap();
        assert_eq!(global.output, Format::Json);
        // `--format` is still understood, before the subcommand too.
        let (_, global) = parse_all(&["--format", "json", "list"]).unwrap();
        assert_eq!(global.output, Format::Json);
        let ProcessorCommand::Deploy(deploy) = args.command else { panic!("not deploy") };
        let m = deploy.manifest().unwrap();
        assert_eq!((m.name.as_str(), m.inputs_label().as_str()), ("inv", "orders"));
        assert_eq!(m.outputs, ["a", "b"]);
        assert_eq!(m.start, StartPosition::Offset(5));
        assert_eq!(m.on_error, ErrorPolicy::Pause);
        assert_eq!(m.config.get("k").map(String::as_str), Some("v=w"));
        assert_eq!(m.limits.memory_bytes, 32 << 20);
        assert_eq!(m.limits.call_timeout_ms, 200);
        assert_eq!(m.limits.max_batch_records, 10);
    }

    #[test]
    fn flags_override_a_manifest_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.toml");
        std::fs::write(
            &file,
            "name = \"a\"\ninput = \"in\"\noutputs = [\"o\"]\n[config]\nx = \"1\"\n",
        )
        .unwrap();
        let file = file.to_str().unwrap();
        let args =
            parse(&["deploy", "m.wasm", "--manifest", file, "--name", "b", "--config", "y=2"])
                .unwrap();
        let ProcessorCommand::Deploy(deploy) = args.command else { panic!("not deploy") };
        let m = deploy.manifest().unwrap();
        assert_eq!((m.name.as_str(), m.inputs_label().as_str()), ("b", "in"));
        assert_eq!(m.outputs, ["o"]);
        assert_eq!(m.config.len(), 2);
        // `--input` repeated: a processor of several inputs, over the file's one.
        let args = parse(&["deploy", "m.wasm", "--manifest", file, "--input", "x", "--input", "y"])
            .unwrap();
        let ProcessorCommand::Deploy(deploy) = args.command else { panic!("not deploy") };
        assert_eq!(deploy.manifest().unwrap().inputs, ["x", "y"]);
        // A file may list several too.
        std::fs::write(file, "name = \"j\"\ninputs = [\"clicks\", \"users\"]\n").unwrap();
        let args = parse(&["deploy", "m.wasm", "--manifest", file]).unwrap();
        let ProcessorCommand::Deploy(deploy) = args.command else { panic!("not deploy") };
        assert_eq!(deploy.manifest().unwrap().inputs_label(), "clicks + users");
    }

    #[test]
    fn refuses_bad_arguments() {
        assert!(parse(&["deploy", "m.wasm", "--input", "orders"]).is_err(), "no name");
        assert!(
            parse(&["deploy", "m.wasm", "--name", "a", "--input", "b", "--start", "first"])
                .is_err()
        );
        assert!(
            parse(&["deploy", "m.wasm", "--name", "a", "--input", "b", "--config", "k"]).is_err()
        );
        assert!(parse(&["logs", "a", "--limit", "0"]).is_err());
        assert!(parse(&["status"]).is_err());
    }
}
