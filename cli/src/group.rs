//! `weir group ...`: list, describe, reset and delete consumer groups (processors
//! included) through the HTTP API of a running `weir serve`.

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};
use weir_runtime::StartPosition;

use super::client::{CliError, Client, Format, GlobalArgs, Method, segment};
use super::output::{print_json, table};
use super::topic::view;

/// `weir group`: what to do.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  weir group list
  weir group describe audit
  weir group reset audit --topic orders --to earliest")]
pub struct GroupArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: GroupCommand,
}

/// The subcommands of `weir group`.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List consumer groups with their state, members and total lag.
    #[command(after_help = "Examples:\n  weir group list\n  weir group list --output json")]
    List,
    /// Show a group: its members, and per partition the committed offset and lag.
    #[command(after_help = "Example:\n  weir group describe audit")]
    Describe(IdArg),
    /// Move a group's committed offsets (the group must have no members).
    #[command(after_help = "Examples:
  weir group reset audit --topic orders --to earliest
  weir group reset audit --topic orders --to offset:100 --partition 2
  weir group reset audit --topic orders --to timestamp:1700000000000")]
    Reset(ResetArgs),
    /// Delete a group without members, with its committed offsets.
    #[command(after_help = "Example:\n  weir group delete audit")]
    Delete(IdArg),
}

/// A group's id.
#[derive(Debug, Args)]
pub struct IdArg {
    /// The group's id
    pub id: String,
}

/// `weir group reset`.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The group's id
    pub id: String,
    /// The topic whose offsets move
    #[arg(long, short, value_name = "TOPIC")]
    pub topic: String,
    /// Where to: earliest, latest, offset:N or timestamp:MS
    #[arg(long, value_name = "POSITION")]
    pub to: StartPosition,
    /// Only this partition [default: all of the topic's]
    #[arg(long, short, value_name = "N")]
    pub partition: Option<u32>,
}

/// Runs a `weir group` subcommand; see [`super::client`] for exit codes.
pub async fn run(args: GroupArgs, global: GlobalArgs) -> anyhow::Result<()> {
    // The client blocks; keep it off the async workers.
    tokio::task::spawn_blocking(move || run_blocking(args, &global)).await??;
    Ok(())
}

fn run_blocking(args: GroupArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let client = Client::new(&global.http)?;
    let format = global.output;
    match args.command {
        GroupCommand::List => {
            let list: Value = client.json(Method::Get, "/v1/groups", None)?;
            if format == Format::Json {
                return print_json(&list);
            }
            let groups: Vec<SummaryView> = view(&client, list)?;
            if groups.is_empty() {
                println!("no consumer groups");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    let kind = if g.processor { "processor" } else { "consumer" };
                    vec![
                        g.group_id.clone(),
                        g.state.clone(),
                        g.members.to_string(),
                        g.lag.to_string(),
                        kind.to_string(),
                    ]
                })
                .collect();
            print!("{}", table(&["GROUP", "STATE", "MEMBERS", "LAG", "KIND"], &rows));
            Ok(())
        }
        GroupCommand::Describe(IdArg { id }) => {
            let group: Value = client.json(Method::Get, &path(&id, ""), None)?;
            if format == Format::Json {
                return print_json(&group);
            }
            print!("{}", describe_text(&view(&client, group)?));
            Ok(())
        }
        GroupCommand::Reset(reset) => {
            let to = match reset.to {
                StartPosition::Earliest => json!("earliest"),
                StartPosition::Latest => json!("latest"),
                StartPosition::Offset(offset) => json!({ "offset": offset }),
                StartPosition::Timestamp(ms) => json!({ "timestamp": ms }),
            };
            let mut body = json!({ "topic": reset.topic, "to": to });
            if let Some(partition) = reset.partition {
                body["partitions"] = json!([partition]);
            }
            let answer: Value =
                client.json(Method::Post, &path(&reset.id, "/offsets"), Some(&body))?;
            if format == Format::Json {
                return print_json(&answer);
            }
            let done: ResetView = view(&client, answer)?;
            println!("reset group {} on {} to {}", reset.id, reset.topic, reset.to);
            let rows: Vec<Vec<String>> = done
                .offsets
                .iter()
                .map(|o| {
                    let previous = o.previous.map_or("-".to_string(), |p| p.to_string());
                    vec![o.partition.to_string(), previous, o.offset.to_string()]
                })
                .collect();
            print!("{}", table(&["PARTITION", "BEFORE", "NOW"], &rows));
            Ok(())
        }
        GroupCommand::Delete(IdArg { id }) => {
            client.send(Method::Delete, &path(&id, ""), None)?;
            if format == Format::Text {
                println!("deleted group {id}");
            }
            Ok(())
        }
    }
}

/// `/v1/groups/{id}{rest}`.
fn path(id: &str, rest: &str) -> String {
    format!("/v1/groups/{}{rest}", segment(id))
}

/// What the CLI reads of a group in the listing.
#[derive(Debug, Deserialize)]
struct SummaryView {
    /// Its id.
    group_id: String,
    /// Its state: Empty, Stable, PreparingRebalance...
    state: String,
    /// How many members it has.
    members: usize,
    /// Records between its committed offsets and the log ends, summed.
    lag: u64,
    /// Whether it is a processor's group.
    #[serde(default)]
    processor: bool,
}

/// What the CLI reads of a reset's answer.
#[derive(Debug, Deserialize)]
struct ResetView {
    /// The partitions moved.
    offsets: Vec<ResetOffsetView>,
}

/// One partition moved.
#[derive(Debug, Deserialize)]
struct ResetOffsetView {
    /// The partition.
    partition: u32,
    /// The offset committed before, if any.
    previous: Option<i64>,
    /// The offset committed now.
    offset: i64,
}

/// What the CLI reads of a group described; the rest is passed through in JSON.
#[derive(Debug, Deserialize)]
struct GroupView {
    /// Its id.
    group_id: String,
    /// Its state: Empty, Stable, PreparingRebalance...
    #[serde(default)]
    state: String,
    /// Its protocol type (`consumer`), empty for groups that only store offsets.
    #[serde(default)]
    protocol_type: String,
    /// Whether it is a processor's group.
    #[serde(default)]
    processor: bool,
    /// Its members.
    #[serde(default)]
    members: Vec<MemberView>,
    /// Its committed offsets with their lag.
    #[serde(default)]
    offsets: Vec<OffsetView>,
}

/// What the CLI reads of a member.
#[derive(Debug, Deserialize)]
struct MemberView {
    /// The member id.
    member_id: String,
    /// The client id it joined with.
    #[serde(default)]
    client_id: String,
    /// Where it connects from.
    #[serde(default)]
    client_host: String,
}

/// What the CLI reads of a committed offset.
#[derive(Debug, Deserialize)]
struct OffsetView {
    /// The topic.
    topic: String,
    /// The partition.
    partition: i32,
    /// The committed offset.
    committed_offset: i64,
    /// The partition's end; None when it no longer exists.
    #[serde(default)]
    log_end_offset: Option<u64>,
    /// Records between the two; None when the partition no longer exists.
    #[serde(default)]
    lag: Option<u64>,
}

fn describe_text(g: &GroupView) -> String {
    let protocol = match (g.processor, g.protocol_type.as_str()) {
        (true, _) => "processor (`weir processor status` shows more)",
        (false, "") => "-",
        (false, protocol) => protocol,
    };
    let mut out = format!(
        "group:     {}\nstate:     {}\nprotocol:  {protocol}\nmembers:   {}\n",
        g.group_id,
        g.state,
        g.members.len()
    );
    if !g.members.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = g
            .members
            .iter()
            .map(|m| vec![m.member_id.clone(), m.client_id.clone(), m.client_host.clone()])
            .collect();
        out.push_str(&table(&["MEMBER", "CLIENT", "HOST"], &rows));
    }
    out.push('\n');
    if g.offsets.is_empty() {
        out.push_str("no committed offsets\n");
        return out;
    }
    let dash = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let rows: Vec<Vec<String>> = g
        .offsets
        .iter()
        .map(|o| {
            vec![
                o.topic.clone(),
                o.partition.to_string(),
                o.committed_offset.to_string(),
                dash(o.log_end_offset),
                dash(o.lag),
            ]
        })
        .collect();
    out.push_str(&table(&["TOPIC", "PARTITION", "COMMITTED", "END", "LAG"], &rows));
    out
}
