//! `weir pipeline ...`: apply, diff, show and delete a pipeline file (topics and
//! processors as one unit) through the HTTP API of a running `weir serve`.
//!
//! The file is TOML:
//!
//! ```toml
//! name = "orders"
//!
//! [[topics]]
//! name = "orders"
//! partitions = 3
//! configs = { "retention.ms" = "604800000" }   # optional
//!
//! [[topics]]
//! name = "stock-requests"
//! partitions = 3
//! feedback = true          # a later stage writes to it: the loop is meant
//!
//! [[processors]]
//! name = "router"
//! module = "router.wasm"   # relative to this file, or builtin:NAME (weir's examples)
//! input = "orders"
//! outputs = ["stock-requests", "orders-by-customer"]
//! config = { key = "value" }               # optional, passed to init
//! limits = { max_batch_records = 500 }     # optional, as in a processor manifest
//! ```
//!
//! A processor takes every field of a manifest (`start`, `limits`, `on_error`,
//! `config`, ...); one reading several co-partitioned topics (a join) says
//! `inputs = ["clicks", "users"]` instead of `input`, and may set
//! `allowed_lateness_ms`. The file is the source of truth: the broker keeps no copy,
//! so `status` and `delete` take the file too. `examples/order-pipeline.toml` is
//! the demo's order pipeline.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::client::{CliError, Client, Format, GlobalArgs, Method};
use super::output::{print_json, table};

/// `weir pipeline`: what to do.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  weir pipeline diff examples/order-pipeline.toml
  weir pipeline apply examples/order-pipeline.toml
  weir pipeline status examples/order-pipeline.toml
  weir pipeline delete examples/order-pipeline.toml --topics")]
pub struct PipelineArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: PipelineCommand,
}

/// The subcommands of `weir pipeline`.
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Create or update what differs from the file: missing topics and
    /// processors, changed configs, new modules (keeping offsets and state).
    /// Nothing changes unless all of it can.
    #[command(after_help = "Example:\n  weir pipeline apply examples/order-pipeline.toml")]
    Apply(FileArg),
    /// Show what `apply` would change, or why it cannot; changes nothing.
    #[command(after_help = "Example:\n  weir pipeline diff examples/order-pipeline.toml")]
    Diff(FileArg),
    /// Each topic and processor of the file as it runs, and what is pending.
    #[command(after_help = "Example:\n  weir pipeline status examples/order-pipeline.toml")]
    Status(FileArg),
    /// Delete the file's processors (with their state and offsets), and with
    /// --topics its topics and their records too.
    #[command(
        after_help = "Example:\n  weir pipeline delete examples/order-pipeline.toml --topics"
    )]
    Delete(DeleteArgs),
}

/// A pipeline file.
#[derive(Debug, Args)]
pub struct FileArg {
    /// The pipeline file (TOML)
    pub file: PathBuf,
}

/// `weir pipeline delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The pipeline file (TOML)
    pub file: PathBuf,
    /// Delete the file's topics too, with their records
    #[arg(long)]
    pub topics: bool,
}

/// Runs `weir pipeline`.
pub async fn run(args: PipelineArgs, global: GlobalArgs) -> anyhow::Result<()> {
    // The client blocks; keep it off the async workers.
    tokio::task::spawn_blocking(move || run_blocking(args, &global)).await??;
    Ok(())
}

fn run_blocking(args: PipelineArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let client = Client::new(&global.http)?;
    let json = global.output == Format::Json;
    match args.command {
        PipelineCommand::Apply(FileArg { file }) => {
            let answer: Value =
                client.json(Method::Post, "/v1/pipelines/apply", Some(&read(&file)?))?;
            if json {
                return print_json(&answer);
            }
            print_changes(&answer["changes"], "applied", "nothing to change: it runs as declared");
        }
        PipelineCommand::Diff(FileArg { file }) => {
            let answer: Value =
                client.json(Method::Post, "/v1/pipelines/plan", Some(&read(&file)?))?;
            if json {
                return print_json(&answer);
            }
            print_changes(&answer["changes"], "apply would", "no difference: it runs as declared");
        }
        PipelineCommand::Status(FileArg { file }) => {
            let answer: Value =
                client.json(Method::Post, "/v1/pipelines/status", Some(&read(&file)?))?;
            if json {
                return print_json(&answer);
            }
            print!("{}", status_text(&answer));
        }
        PipelineCommand::Delete(DeleteArgs { file, topics }) => {
            let path = format!("/v1/pipelines/delete?topics={topics}");
            let answer: Value = client.json(Method::Post, &path, Some(&read(&file)?))?;
            if json {
                return print_json(&answer);
            }
            let deleted = answer["deleted"].as_array().cloned().unwrap_or_default();
            if deleted.is_empty() {
                println!("nothing to delete: none of the file's processors is deployed");
            }
            for d in deleted {
                println!("deleted {}", d.as_str().unwrap_or_default());
            }
        }
    }
    Ok(())
}

/// The pipeline file as the API takes it: TOML to JSON, each processor's
/// `module` replaced by the component's bytes in base64.
pub fn read(file: &Path) -> Result<Value, CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::Usage(format!("reading {}: {e}", file.display())))?;
    let mut pipeline: Value = toml::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{} is not valid TOML: {e}", file.display())))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let processors = pipeline.get_mut("processors").and_then(Value::as_array_mut);
    for (i, p) in processors.into_iter().flatten().enumerate() {
        let name = p["name"].as_str().map_or_else(|| format!("#{}", i + 1), str::to_owned);
        let Some(module) = p.get("module").and_then(Value::as_str) else {
            return Err(CliError::Usage(format!(
                "{}: processor {name} has no `module`: give a .wasm path (relative to the \
                 file) or builtin:NAME",
                file.display()
            )));
        };
        let bytes = module_bytes(dir, module)
            .map_err(|e| CliError::Usage(format!("{}: processor {name}: {e}", file.display())))?;
        p["module"] = Value::String(STANDARD.encode(bytes));
    }
    Ok(pipeline)
}

/// The bytes of `module`: `builtin:NAME` (an example component built into
/// weir) or a path relative to `dir`.
fn module_bytes(dir: &Path, module: &str) -> Result<Vec<u8>, String> {
    if let Some(name) = module.strip_prefix("builtin:") {
        let found = weir_examples::wasm::ALL.iter().find(|(n, _)| *n == name);
        let names: Vec<&str> = weir_examples::wasm::ALL.iter().map(|(n, _)| *n).collect();
        return found.map(|(_, bytes)| bytes.to_vec()).ok_or_else(|| {
            format!("no built-in module {name:?}; there are: {}", names.join(", "))
        });
    }
    let path = dir.join(module);
    std::fs::read(&path).map_err(|e| format!("reading module {}: {e}", path.display()))
}

fn print_changes(changes: &Value, verb: &str, none: &str) {
    let changes = changes.as_array().cloned().unwrap_or_default();
    if changes.is_empty() {
        println!("{none}");
        return;
    }
    for c in &changes {
        println!("{verb}: {}", describe(c));
    }
}

/// A change as people read it.
fn describe(change: &Value) -> String {
    let name = change["name"].as_str().unwrap_or_default();
    let list = |v: &Value| {
        v.as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
    };
    let configs = |v: &Value| {
        let map = v.as_object().cloned().unwrap_or_default();
        map.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    match change["change"].as_str().unwrap_or_default() {
        "create_topic" => {
            let mut text = format!("create topic {name} ({} partitions", change["partitions"]);
            for c in configs(&change["configs"]) {
                text += &format!(", {c}");
            }
            text + ")"
        }
        "set_configs" => {
            format!("set configs of topic {name}: {}", configs(&change["configs"]).join(", "))
        }
        "deploy" => format!(
            "deploy processor {name} ({} -> {})",
            change["input"].as_str().unwrap_or_default(),
            list(&change["outputs"])
        ),
        "upgrade" => {
            let what = match (change["module"] == true, change["config"] == true) {
                (true, true) => "module and config",
                (true, false) => "module",
                _ => "config",
            };
            format!("upgrade processor {name} ({what}; offsets and state kept)")
        }
        other => format!("{other} {name}"),
    }
}

fn status_text(status: &Value) -> String {
    let mut out = format!("pipeline {}\n\n", status["name"].as_str().unwrap_or_default());
    let rows: Vec<Vec<String>> = status["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            vec![
                t["name"].as_str().unwrap_or_default().to_owned(),
                t["partitions"].as_u64().map_or("missing".to_owned(), |p| p.to_string()),
                t["records"].to_string(),
            ]
        })
        .collect();
    out += &table(&["TOPIC", "PARTITIONS", "RECORDS"], &rows);
    out.push('\n');
    let rows: Vec<Vec<String>> = status["processors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let state = match (p["deployed"] == true, p["paused"] == true) {
                (false, _) => "not deployed".to_owned(),
                (true, true) => "paused".to_owned(),
                (true, false) => "running".to_owned(),
            };
            let n = |k: &str| p[k].as_u64().unwrap_or(0).to_string();
            let version = p["version"].as_u64().map_or("-".to_owned(), |v| v.to_string());
            let name = p["name"].as_str().unwrap_or_default().to_owned();
            vec![name, state, version, n("records_in"), n("records_out"), n("lag"), n("errors")]
        })
        .collect();
    out += &table(&["PROCESSOR", "STATE", "VERSION", "IN", "OUT", "LAG", "ERRORS"], &rows);
    out.push('\n');
    let pending = status["pending"].as_array().cloned().unwrap_or_default();
    let problems = status["problems"].as_array().cloned().unwrap_or_default();
    if !problems.is_empty() {
        out += "cannot be applied as it is:\n";
        for problem in problems {
            out += &format!("  - {}\n", problem.as_str().unwrap_or_default());
        }
    } else if pending.is_empty() {
        out += "runs as declared\n";
    } else {
        out += "pending (weir pipeline apply would):\n";
        for c in pending {
            out += &format!("  {}\n", describe(&c));
        }
    }
    out
}
