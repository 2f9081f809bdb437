//! `weir topic ...`: list, describe, create, alter and delete topics through the
//! HTTP API of a running `weir serve`.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{CliError, Client, Format, GlobalArgs, Method, key_value, segment};
use super::output::{human_bytes, print_json, table};

/// `weir topic`: what to do.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  weir topic create orders --partitions 3 --config retention.ms=604800000
  weir topic list
  weir topic describe orders --output json")]
pub struct TopicArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TopicCommand,
}

/// The subcommands of `weir topic`.
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// List topics with their partitions, records and size.
    #[command(after_help = "Examples:\n  weir topic list\n  weir topic list --output json")]
    List,
    /// Show a topic: each partition's offsets and size, and the config it runs with.
    #[command(after_help = "Example:\n  weir topic describe orders")]
    Describe(NameArg),
    /// Create a topic.
    #[command(after_help = "Examples:
  weir topic create orders --partitions 3
  weir topic create audit --config retention.ms=-1 --config durability=sync")]
    Create(CreateArgs),
    /// Change a topic's config: retention, segment size, durability...
    #[command(after_help = "Examples:
  weir topic alter orders --config retention.ms=86400000
  weir topic alter orders --config retention.bytes=1073741824 --config segment.bytes=67108864
  weir topic alter orders --delete-config retention.ms       # back to the default
  weir topic alter orders --partitions 6                     # add partitions (never fewer)")]
    Alter(AlterArgs),
    /// Delete a topic and all its records.
    #[command(after_help = "Example:\n  weir topic delete orders")]
    Delete(NameArg),
    /// Delete the oldest records of partitions: each starts at the offset given
    /// from then on (Kafka's DeleteRecords; the start never moves back).
    #[command(after_help = "Examples:
  weir topic delete-records orders --before 0=4200          # partition 0 starts at 4200
  weir topic delete-records orders --before 0=end --before 1=end   # empty both")]
    DeleteRecords(DeleteRecordsArgs),
}

/// `weir topic delete-records`.
#[derive(Debug, Args)]
pub struct DeleteRecordsArgs {
    /// The topic's name
    pub name: String,
    /// PARTITION=OFFSET: delete that partition's records before OFFSET (`end`:
    /// all of them); repeat for more partitions
    #[arg(long = "before", value_name = "PARTITION=OFFSET", value_parser = partition_offset,
          required = true)]
    pub before: Vec<(u32, i64)>,
}

/// `PARTITION=OFFSET`, `end` for -1 (the high watermark).
fn partition_offset(s: &str) -> Result<(u32, i64), String> {
    let (partition, offset) = key_value(s)?;
    let partition =
        partition.parse().map_err(|_| format!("{partition:?} is not a partition number"))?;
    let offset = match offset.as_str() {
        "end" => -1,
        o => match o.parse::<i64>() {
            Ok(n) if n >= 0 => n,
            _ => return Err(format!("{o:?} is not an offset: give 0 or more, or `end`")),
        },
    };
    Ok((partition, offset))
}

/// A topic's name.
#[derive(Debug, Args)]
pub struct NameArg {
    /// The topic's name
    pub name: String,
}

/// `weir topic create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The topic's name: letters, digits, '.', '_' or '-'
    pub name: String,
    /// How many partitions it has [default: the broker's --default-partitions]
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub partitions: Option<u32>,
    /// A config entry such as retention.ms=86400000 (repeat for more; `weir topic
    /// describe` lists the keys)
    #[arg(long = "config", short, value_name = "KEY=VALUE", value_parser = key_value)]
    pub configs: Vec<(String, String)>,
}

/// `weir topic alter`.
#[derive(Debug, Args)]
pub struct AlterArgs {
    /// The topic's name
    pub name: String,
    /// A config entry to set (repeat for more); the others are kept
    #[arg(long = "config", short, value_name = "KEY=VALUE", value_parser = key_value,
          required_unless_present_any = ["delete_configs", "partitions"])]
    pub configs: Vec<(String, String)>,
    /// The new partition count: partitions are added (records keep theirs;
    /// groups rebalance, processors start workers); never fewer
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub partitions: Option<u32>,
    /// A config key to return to its default (repeat for more)
    #[arg(long = "delete-config", short, value_name = "KEY")]
    pub delete_configs: Vec<String>,
}

/// Runs a `weir topic` subcommand; see [`super::client`] for exit codes.
pub async fn run(args: TopicArgs, global: GlobalArgs) -> anyhow::Result<()> {
    // The client blocks; keep it off the async workers.
    tokio::task::spawn_blocking(move || run_blocking(args, &global)).await??;
    Ok(())
}

fn run_blocking(args: TopicArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let client = Client::new(&global.http)?;
    let format = global.output;
    match args.command {
        TopicCommand::List => {
            let list: Value = client.json(Method::Get, "/v1/topics", None)?;
            if format == Format::Json {
                return print_json(&list);
            }
            let topics: Vec<TopicView> = view(&client, list)?;
            if topics.is_empty() {
                println!("no topics (create one with `weir topic create NAME`)");
                return Ok(());
            }
            print!("{}", list_table(&topics));
            Ok(())
        }
        TopicCommand::Describe(NameArg { name }) => {
            let topic: Value = client.json(Method::Get, &path(&name, ""), None)?;
            if format == Format::Json {
                return print_json(&topic);
            }
            print!("{}", describe_text(&view(&client, topic)?));
            Ok(())
        }
        TopicCommand::Create(create) => {
            let configs: BTreeMap<_, _> = create.configs.into_iter().collect();
            let mut body = json!({ "name": create.name, "configs": configs });
            if let Some(partitions) = create.partitions {
                body["partitions"] = json!(partitions);
            }
            let topic: Value = client.json(Method::Post, "/v1/topics", Some(&body))?;
            if format == Format::Json {
                return print_json(&topic);
            }
            let topic: TopicView = view(&client, topic)?;
            let count = topic.partitions.len();
            let plural = if count == 1 { "" } else { "s" };
            println!("created topic {} with {count} partition{plural}", topic.name);
            Ok(())
        }
        TopicCommand::Alter(alter) => {
            if let Some(count) = alter.partitions {
                let body = json!({ "count": count });
                let topic: Value =
                    client.json(Method::Post, &path(&alter.name, "/partitions"), Some(&body))?;
                if alter.configs.is_empty() && alter.delete_configs.is_empty() {
                    if format == Format::Json {
                        return print_json(&topic);
                    }
                    println!("altered topic {}: {count} partitions", alter.name);
                    return Ok(());
                }
            }
            let mut changes: BTreeMap<String, Value> =
                alter.configs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            for key in alter.delete_configs {
                changes.insert(key, Value::Null);
            }
            let body = json!({ "configs": changes });
            let topic: Value =
                client.json(Method::Patch, &path(&alter.name, "/configs"), Some(&body))?;
            if format == Format::Json {
                return print_json(&topic);
            }
            let done: Vec<String> = changes
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(v) => format!("{k}={v}"),
                    None => format!("{k} back to its default"),
                })
                .collect();
            println!("altered topic {}: {}", alter.name, done.join(", "));
            Ok(())
        }
        TopicCommand::DeleteRecords(args) => {
            let offsets: BTreeMap<String, i64> =
                args.before.iter().map(|(p, o)| (p.to_string(), *o)).collect();
            let body = json!({ "offsets": offsets });
            let topic: Value =
                client.json(Method::Post, &path(&args.name, "/delete-records"), Some(&body))?;
            if format == Format::Json {
                return print_json(&topic);
            }
            let topic: TopicView = view(&client, topic)?;
            for p in
                topic.partitions.iter().filter(|p| offsets.contains_key(&p.partition.to_string()))
            {
                println!(
                    "{}-{} starts at offset {} (high watermark {})",
                    topic.name, p.partition, p.log_start_offset, p.high_watermark
                );
            }
            Ok(())
        }
        TopicCommand::Delete(NameArg { name }) => {
            client.send(Method::Delete, &path(&name, ""), None)?;
            if format == Format::Text {
                println!("deleted topic {name}");
            }
            Ok(())
        }
    }
}

/// `/v1/topics/{name}{rest}`.
pub(super) fn path(name: &str, rest: &str) -> String {
    format!("/v1/topics/{}{rest}", segment(name))
}

/// The topic `name`, for the commands that read or write its records; 404 when
/// it does not exist, or when `partition` is given and it has no such partition.
pub(super) fn describe(
    client: &Client,
    name: &str,
    partition: Option<u32>,
) -> Result<TopicView, CliError> {
    let topic: TopicView = view(client, client.json(Method::Get, &path(name, ""), None)?)?;
    match partition {
        Some(p) if !topic.partitions.iter().any(|q| q.partition == p) => {
            let last = topic.partitions.len().saturating_sub(1);
            let message =
                format!("topic {name:?} has no partition {p}: its partitions are 0 to {last}");
            Err(CliError::Refused { status: 404, message })
        }
        _ => Ok(topic),
    }
}

/// What the CLI reads of a topic; the rest is passed through in JSON.
#[derive(Debug, Deserialize)]
pub(super) struct TopicView {
    /// The topic's name.
    pub name: String,
    /// Its partitions.
    pub partitions: Vec<PartitionView>,
    /// Every config key with the value the topic runs with.
    #[serde(default)]
    pub configs: Vec<ConfigView>,
}

/// What the CLI reads of a partition.
#[derive(Debug, Deserialize)]
pub(super) struct PartitionView {
    /// Its index.
    pub partition: u32,
    /// The first offset still stored.
    pub log_start_offset: u64,
    /// The offset the next record gets.
    pub high_watermark: u64,
    /// Bytes on disk.
    #[serde(default)]
    pub size_bytes: u64,
}

/// One config entry.
#[derive(Debug, Deserialize)]
pub(super) struct ConfigView {
    /// Its key.
    pub name: String,
    /// The value in force.
    pub value: String,
    /// Where the value comes from: `topic`, `broker` or `default`.
    #[serde(default)]
    pub source: String,
}

/// Reads the fields the CLI shows out of an answer.
pub(super) fn view<T: serde::de::DeserializeOwned>(
    client: &Client,
    value: Value,
) -> Result<T, CliError> {
    serde_json::from_value(value).map_err(|e| CliError::NotWeir {
        url: client.url().to_string(),
        reason: format!("unexpected answer: {e}"),
    })
}

fn list_table(topics: &[TopicView]) -> String {
    let rows: Vec<Vec<String>> = topics
        .iter()
        .map(|t| {
            let records: u64 = t
                .partitions
                .iter()
                .map(|p| p.high_watermark.saturating_sub(p.log_start_offset))
                .sum();
            let size: u64 = t.partitions.iter().map(|p| p.size_bytes).sum();
            vec![
                t.name.clone(),
                t.partitions.len().to_string(),
                records.to_string(),
                human_bytes(size),
            ]
        })
        .collect();
    table(&["NAME", "PARTITIONS", "RECORDS", "SIZE"], &rows)
}

fn describe_text(t: &TopicView) -> String {
    let mut out = format!("name:        {}\npartitions:  {}\n\n", t.name, t.partitions.len());
    let rows: Vec<Vec<String>> = t
        .partitions
        .iter()
        .map(|p| {
            vec![
                p.partition.to_string(),
                p.log_start_offset.to_string(),
                p.high_watermark.to_string(),
                (p.high_watermark.saturating_sub(p.log_start_offset)).to_string(),
                human_bytes(p.size_bytes),
            ]
        })
        .collect();
    out.push_str(&table(&["PARTITION", "START", "END", "RECORDS", "SIZE"], &rows));
    if !t.configs.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = t
            .configs
            .iter()
            .map(|c| vec![c.name.clone(), c.value.clone(), c.source.clone()])
            .collect();
        out.push_str(&table(&["CONFIG", "VALUE", "SOURCE"], &rows));
    }
    out
}
