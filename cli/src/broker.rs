//! `weir broker ...`: the broker's own configs through the HTTP API of a running
//! `weir serve`: list them, and change the broker-wide defaults of topic configs
//! at run time (as `kafka-configs --entity-type brokers --entity-name 0` does).

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{CliError, Client, Format, GlobalArgs, Method, key_value};
use super::output::{print_json, table};
use super::topic::view;

/// `weir broker`: what to do.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  weir broker configs
  weir broker alter --config log.retention.ms=86400000
  weir broker alter --delete-config log.retention.ms")]
pub struct BrokerArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: BrokerCommand,
}

/// The subcommands of `weir broker`.
#[derive(Debug, Subcommand)]
pub enum BrokerCommand {
    /// List the broker's configs: value, where it comes from, whether it
    /// changes at run time.
    #[command(after_help = "Examples:\n  weir broker configs\n  weir broker configs --output json")]
    Configs,
    /// Change broker-wide defaults of topic configs on this node; topics
    /// without an override of their own run under them at once, and they hold
    /// across restarts.
    #[command(after_help = "Examples:
  weir broker alter --config log.retention.ms=86400000 --config log.segment.bytes=268435456
  weir broker alter --delete-config log.retention.ms")]
    Alter(AlterArgs),
}

/// `weir broker alter`.
#[derive(Debug, Args)]
pub struct AlterArgs {
    /// A broker config to set, by Kafka's broker-level name (repeat for more);
    /// `weir broker configs` lists them
    #[arg(long = "config", short, value_name = "KEY=VALUE", value_parser = key_value,
          required_unless_present = "delete_configs")]
    pub configs: Vec<(String, String)>,
    /// A broker config to return to the level below (repeat for more)
    #[arg(long = "delete-config", short, value_name = "KEY")]
    pub delete_configs: Vec<String>,
}

/// A config as the API answers it.
#[derive(Debug, Deserialize)]
struct ConfigView {
    name: String,
    value: String,
    source: String,
    read_only: bool,
}

/// Runs a `weir broker` subcommand; see [`super::client`] for exit codes.
pub async fn run(args: BrokerArgs, global: GlobalArgs) -> anyhow::Result<()> {
    // The client blocks; keep it off the async workers.
    tokio::task::spawn_blocking(move || run_blocking(args, &global)).await??;
    Ok(())
}

fn run_blocking(args: BrokerArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let client = Client::new(&global.http)?;
    let (answer, done) = match args.command {
        BrokerCommand::Configs => (client.json(Method::Get, "/v1/broker/configs", None)?, None),
        BrokerCommand::Alter(alter) => {
            let mut changes: BTreeMap<String, Value> =
                alter.configs.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            for key in alter.delete_configs {
                changes.insert(key, Value::Null);
            }
            let body = json!(changes);
            let answer = client.json(Method::Patch, "/v1/broker/configs", Some(&body))?;
            let done: Vec<String> = changes
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(v) => format!("{k}={v}"),
                    None => format!("{k} back to the level below"),
                })
                .collect();
            (answer, Some(done))
        }
    };
    if global.output == Format::Json {
        return print_json(&answer);
    }
    if let Some(done) = done {
        println!("altered the broker: {}", done.join(", "));
        return Ok(());
    }
    let configs: Vec<ConfigView> = view(&client, answer)?;
    let rows: Vec<Vec<String>> = configs
        .into_iter()
        .map(|c| {
            let changes = if c.read_only { "restart" } else { "at run time" };
            vec![c.name, c.value, c.source, changes.to_string()]
        })
        .collect();
    print!("{}", table(&["NAME", "VALUE", "SOURCE", "CHANGES"], &rows));
    Ok(())
}
