//! `weir consume TOPIC`: print a topic's records, from the beginning, an offset, a
//! time or the end, through the HTTP API; with `--group`, from and to that
//! group's committed offsets.
//!
//! Partitions are read in turn, a page each, until every one is at its end (or,
//! with `--follow`, forever). With `--group` the next offset of each partition is
//! committed after every page printed, through the API's offsets endpoint (the
//! broker's `reset_offsets`: a commit without membership, as a simple Kafka
//! consumer makes, refused while the group has members).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{CliError, Client, Format, GlobalArgs, Method, segment};
use super::topic::{describe, path, view};

/// Records asked for per request.
const PAGE: u64 = 1000;
/// How long `--follow` waits before asking again once every partition is at its end.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// `weir consume`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  weir consume orders --from-beginning
  weir consume orders --partition 1 --offset 42 --limit 10 --print-key
  weir consume orders --timestamp 1700000000000 --output json
  weir consume orders --group audit --follow       # resumes where the group left off

Without --from-beginning, --offset or --timestamp, reading starts at the group's
committed offsets (with --group) or at the end: only records produced from now on.")]
pub struct ConsumeArgs {
    /// The topic to read
    pub topic: String,
    /// Read only this partition [default: all]
    #[arg(long, short, value_name = "N")]
    pub partition: Option<u32>,
    /// Start at the oldest record held
    #[arg(long, group = "start")]
    pub from_beginning: bool,
    /// Start at this offset (needs --partition)
    #[arg(long, short, group = "start", requires = "partition", value_name = "N")]
    pub offset: Option<u64>,
    /// Start at the first record at or after this time, in ms since the epoch
    #[arg(long, short, group = "start", value_name = "MS")]
    pub timestamp: Option<i64>,
    /// Stop after N records
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<u64>,
    /// Keep waiting for new records at the end, until ctrl-c (or --limit)
    #[arg(long, short)]
    pub follow: bool,
    /// Start from this group's committed offsets and commit what was printed
    #[arg(long, short, value_name = "GROUP")]
    pub group: Option<String>,
    /// Print `KEY<TAB>VALUE` rather than the value alone (text output)
    #[arg(long, short = 'k')]
    pub print_key: bool,
}

/// Runs `weir consume`; see [`super::client`] for exit codes.
pub async fn run(args: ConsumeArgs, global: GlobalArgs) -> anyhow::Result<()> {
    // The client blocks; keep it off the async workers.
    tokio::task::spawn_blocking(move || run_blocking(args, &global)).await??;
    Ok(())
}

/// Where a partition's reading is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// At the first record at or after this time (before the first page).
    Timestamp(i64),
    /// At the oldest record held (before the first page).
    Beginning,
    /// At this offset.
    Offset(u64),
}

/// One partition being read.
#[derive(Debug)]
struct Reader {
    /// Its index.
    partition: u32,
    /// Where the next page starts.
    next: Next,
    /// True once a page reached the high watermark: nothing more until new
    /// records come.
    at_end: bool,
    /// The offset last committed for the group.
    committed: Option<u64>,
}

fn run_blocking(args: ConsumeArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let client = Client::new(&global.http)?;
    let topic = describe(&client, &args.topic, args.partition)?;
    let partitions: Vec<u32> = match args.partition {
        Some(p) => vec![p],
        None => topic.partitions.iter().map(|p| p.partition).collect(),
    };
    let committed = match &args.group {
        Some(group) => committed_offsets(&client, group, &args.topic)?,
        None => BTreeMap::new(),
    };
    let mut readers: Vec<Reader> = partitions
        .iter()
        .map(|&partition| {
            let held = topic.partitions.iter().find(|p| p.partition == partition);
            let (start, end) = held.map_or((0, 0), |p| (p.log_start_offset, p.high_watermark));
            let next = if args.from_beginning {
                Next::Beginning
            } else if let Some(offset) = args.offset {
                Next::Offset(offset)
            } else if let Some(ts) = args.timestamp {
                Next::Timestamp(ts)
            } else {
                // A committed offset retention has passed reads from the oldest held.
                Next::Offset(committed.get(&partition).map_or(end, |&o| o.clamp(start, end)))
            };
            Reader { partition, next, at_end: false, committed: committed.get(&partition).copied() }
        })
        .collect();

    let mut printed = 0u64;
    let mut out = std::io::stdout().lock();
    'reading: loop {
        for reader in &mut readers {
            let want = match args.limit {
                Some(limit) if printed >= limit => break 'reading,
                Some(limit) => (limit - printed).min(PAGE),
                None => PAGE,
            };
            let page = fetch(&client, &args.topic, reader, want)?;
            reader.at_end = page.next_offset >= page.high_watermark;
            for record in &page.records {
                let line = match global.output {
                    Format::Json => json_line(&args.topic, reader.partition, record),
                    Format::Text => text_line(record, args.print_key),
                };
                if writeln!(out, "{line}").is_err() {
                    // stdout closed (`| head`): done, quietly.
                    break 'reading;
                }
                printed += 1;
            }
            // Past the records printed, and past control batches.
            reader.next = Next::Offset(page.next_offset);
            if out.flush().is_err() {
                break 'reading;
            }
            if let Some(group) = &args.group {
                commit(&client, group, &args.topic, reader)?;
            }
        }
        if readers.iter().all(|r| r.at_end) {
            if !args.follow {
                break;
            }
            std::thread::sleep(FOLLOW_EVERY);
        }
    }
    drop(out);
    if printed == 0 && global.output == Format::Text && !args.follow {
        let start = if args.from_beginning || args.offset.is_some() || args.timestamp.is_some() {
            "no records there"
        } else {
            "no records after the end (or the group's offsets): pass --from-beginning, --offset N \
             or --timestamp MS to read older ones, or --follow to wait for new ones"
        };
        eprintln!("{}: {start}", args.topic);
    }
    Ok(())
}

/// A page of records, as the API answers.
#[derive(Debug, Deserialize)]
struct PageView {
    /// The records, in offset order.
    records: Vec<RecordView>,
    /// Where the next page starts.
    next_offset: u64,
    /// The offset the next record appended gets.
    high_watermark: u64,
}

/// A record, as the API answers.
#[derive(Debug, Deserialize)]
struct RecordView {
    /// Its offset.
    offset: u64,
    /// The rest, passed through (`timestamp`, `key`, `value`, `headers`).
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

fn fetch(client: &Client, topic: &str, reader: &Reader, limit: u64) -> Result<PageView, CliError> {
    let from = match reader.next {
        Next::Beginning => "from=beginning".to_string(),
        Next::Offset(offset) => format!("offset={offset}"),
        Next::Timestamp(ms) => format!("timestamp={ms}"),
    };
    let rest = format!("/partitions/{}/records?{from}&limit={limit}", reader.partition);
    view(client, client.json(Method::Get, &path(topic, &rest), None)?)
}

/// A record as one line of JSON, with its topic and partition.
fn json_line(topic: &str, partition: u32, record: &RecordView) -> String {
    let mut object = serde_json::Map::new();
    object.insert("topic".into(), json!(topic));
    object.insert("partition".into(), json!(partition));
    object.insert("offset".into(), json!(record.offset));
    object.extend(record.rest.clone());
    Value::Object(object).to_string()
}

/// A record's value, after its key and a tab with `print_key`.
fn text_line(record: &RecordView, print_key: bool) -> String {
    let value = text(record.rest.get("value"));
    if print_key { format!("{}\t{value}", text(record.rest.get("key"))) } else { value }
}

/// Bytes as the API gives them, for a terminal: text as is, base64 decoded
/// (lossily, if not UTF-8), anything else as JSON; nothing for null.
fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) if o.len() == 1 && o.get("base64").is_some_and(Value::is_string) => {
            let encoded = o["base64"].as_str().unwrap_or_default();
            match STANDARD.decode(encoded) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => encoded.to_string(),
            }
        }
        Some(other) => other.to_string(),
    }
}

/// The offsets `group` committed for `topic`, by partition; none when the group
/// does not exist yet.
fn committed_offsets(
    client: &Client,
    group: &str,
    topic: &str,
) -> Result<BTreeMap<u32, u64>, CliError> {
    let answer: Value = match client.json(Method::Get, &group_path(group, ""), None) {
        Ok(answer) => answer,
        Err(CliError::Refused { status: 404, .. }) => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let offsets = answer["offsets"].as_array().cloned().unwrap_or_default();
    Ok(offsets
        .iter()
        .filter(|o| o["topic"] == topic)
        .filter_map(|o| Some((o["partition"].as_u64()? as u32, o["committed_offset"].as_u64()?)))
        .collect())
}

/// Commits where `reader` is for `group`, unless already committed.
fn commit(client: &Client, group: &str, topic: &str, reader: &mut Reader) -> Result<(), CliError> {
    let Next::Offset(next) = reader.next else { return Ok(()) };
    if reader.committed == Some(next) {
        return Ok(());
    }
    let body =
        json!({ "topic": topic, "partitions": [reader.partition], "to": { "offset": next } });
    client.send(Method::Post, &group_path(group, "/offsets"), Some(&body))?;
    reader.committed = Some(next);
    Ok(())
}

/// `/v1/groups/{id}{rest}`.
fn group_path(group: &str, rest: &str) -> String {
    format!("/v1/groups/{}{rest}", segment(group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_bytes_for_a_terminal() {
        assert_eq!(text(Some(&json!("héllo"))), "héllo");
        assert_eq!(text(Some(&json!({ "base64": "aGk=" }))), "hi");
        assert_eq!(text(Some(&json!({ "base64": "/w==" }))), "\u{fffd}");
        assert_eq!(text(Some(&json!({ "id": 7 }))), r#"{"id":7}"#);
        assert_eq!(text(Some(&Value::Null)), "");
        assert_eq!(text(None), "");
    }
}
