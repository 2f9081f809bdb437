//! The order pipeline's outputs recomputed by a plain model of the domain, and
//! compared with what the processors wrote.
//!
//! The model shares nothing with the processors but the event types and the
//! deployments' config numbers. Where a decision depends on the order records
//! reached a stage (which orders got the last units of a SKU, which order of a
//! burst tripped the velocity rule), the model replays that stage's input topic
//! in its log order, which is a fact of the run, and recomputes every decision from
//! it; where it does not (what an order asked for, which minute it belongs to, one
//! payment per reserved order), it derives the answer from `orders` alone. Each
//! stage's input is itself checked against the stage before, so every output is
//! tied back to the orders.
//!
//! ```
//! use std::collections::BTreeMap;
//! use weir_examples::verify::{self, Rec};
//!
//! // No orders, no outputs: everything holds.
//! let report = verify::verify(&BTreeMap::new());
//! assert!(report.ok(), "{report}");
//! ```

mod fraud;
mod minutes;
mod stock;

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use weir_order_events::{self as events, OrderPlaced};

use crate::{Deployment, pipeline};

/// A record of a topic, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub value: Option<Vec<u8>>,
}

/// A topic's records, partition by partition, in offset order.
pub type Partitions = Vec<Vec<Rec>>;

/// The outcome of every check.
#[derive(Debug, Default)]
pub struct Report {
    /// In the order they were made.
    pub checks: Vec<Check>,
}

/// One property of the outputs, what was counted, and where it did not hold.
#[derive(Debug)]
pub struct Check {
    /// What holds when the check passes.
    pub name: &'static str,
    /// What was counted, for people.
    pub summary: String,
    /// Each place it did not hold (the first [`MAX_PROBLEMS`]).
    pub problems: Vec<String>,
    /// How many places it did not hold in all.
    pub failures: usize,
}

/// How many problems a check keeps to show.
pub const MAX_PROBLEMS: usize = 10;

impl Report {
    /// True when every check passed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.failures == 0)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            let mark = if check.failures == 0 { "ok  " } else { "FAIL" };
            writeln!(f, "  {mark}  {}: {}", check.name, check.summary)?;
            for problem in &check.problems {
                writeln!(f, "          - {problem}")?;
            }
            if check.failures > check.problems.len() {
                writeln!(f, "          ... {} more", check.failures - check.problems.len())?;
            }
        }
        Ok(())
    }
}

/// Collects a check's problems.
#[derive(Debug, Default)]
struct Problems {
    shown: Vec<String>,
    count: usize,
}

impl Problems {
    fn push(&mut self, problem: impl Into<String>) {
        self.count += 1;
        if self.shown.len() < MAX_PROBLEMS {
            self.shown.push(problem.into());
        }
    }

    fn check(self, name: &'static str, summary: String) -> Check {
        Check { name, summary, problems: self.shown, failures: self.count }
    }
}

/// The config numbers of the deployments (the only thing the model takes from them).
#[derive(Debug, Clone, Copy)]
struct Numbers {
    initial_stock: u32,
    max_amount_cents: u64,
    grace_ms: i64,
    partitions: u32,
    max_orders: u32,
    window_ms: i64,
    amount_threshold_cents: u64,
}

impl Numbers {
    fn of(deployments: &[Deployment]) -> Self {
        let get = |name: &str, key: &str| -> i64 {
            let deployment = deployments.iter().find(|d| d.name == name);
            let value = deployment.and_then(|d| d.config_value(key));
            value.and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name}'s {key}"))
        };
        Self {
            initial_stock: get("inventory", "initial_stock") as u32,
            max_amount_cents: get("payment", "max_amount_cents") as u64,
            grace_ms: get("minutes", "grace_ms"),
            partitions: get("analytics", "partitions") as u32,
            max_orders: get("fraud", "max_orders") as u32,
            window_ms: get("fraud", "window_ms"),
            amount_threshold_cents: get("fraud", "amount_threshold_cents") as u64,
        }
    }
}

/// A topic's values decoded as `T`, with their partition; a value that does not
/// decode is a problem of `problems`.
fn decode<T: DeserializeOwned>(
    topics: &BTreeMap<String, Partitions>,
    topic: &str,
    problems: &mut Problems,
) -> Vec<(u32, Option<String>, T)> {
    let mut out = Vec::new();
    for (p, records) in topics.get(topic).into_iter().flatten().enumerate() {
        for (offset, rec) in records.iter().enumerate() {
            let key = rec.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned());
            match rec.value.as_deref().map(serde_json::from_slice::<T>) {
                Some(Ok(value)) => out.push((p as u32, key, value)),
                Some(Err(e)) => problems.push(format!("{topic}-{p} record {offset}: {e}")),
                None => problems.push(format!("{topic}-{p} record {offset}: no value")),
            }
        }
    }
    out
}

/// Recomputes every output of the pipeline from `topics` (by name; a missing
/// topic is empty) and compares.
pub fn verify(topics: &BTreeMap<String, Partitions>) -> Report {
    verify_deployed(topics, &pipeline())
}

/// [`verify`] for the pipeline deployed with these configs (say, less stock).
pub fn verify_deployed(topics: &BTreeMap<String, Partitions>, deployed: &[Deployment]) -> Report {
    let numbers = Numbers::of(deployed);
    let mut report = Report::default();
    let mut problems = Problems::default();
    let orders: Vec<(u32, Option<String>, OrderPlaced)> =
        decode(topics, events::ORDERS, &mut problems);
    let mut ids = BTreeMap::new();
    for (_, key, order) in &orders {
        if key.as_deref() != Some(&order.order_id) {
            problems.push(format!("order {} is keyed {key:?}", order.order_id));
        }
        if ids.insert(order.order_id.clone(), ()).is_some() {
            problems.push(format!("order {} is in orders twice", order.order_id));
        }
    }
    let summary = format!("{} orders", orders.len());
    report.checks.push(problems.check("orders are well formed, each once", summary));

    let orders: Vec<(u32, OrderPlaced)> = orders.into_iter().map(|(p, _, o)| (p, o)).collect();
    stock::verify(topics, &orders, numbers, &mut report);
    notifications(topics, &orders, &mut report);
    minutes::verify(topics, &orders, numbers, &mut report);
    fraud::verify(topics, &orders, numbers, &mut report);
    report
}

/// One notification per order, to its customer.
fn notifications(
    topics: &BTreeMap<String, Partitions>,
    orders: &[(u32, OrderPlaced)],
    report: &mut Report,
) {
    let mut problems = Problems::default();
    let sent: Vec<(u32, Option<String>, events::Notification)> =
        decode(topics, events::NOTIFICATIONS, &mut problems);
    let mut by_order: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, events::Notification::OrderConfirmation { order_id, .. }) in &sent {
        *by_order.entry(order_id).or_default() += 1;
    }
    for (_, order) in orders {
        match by_order.remove(order.order_id.as_str()) {
            Some(1) => {}
            None => problems.push(format!("order {} has no notification", order.order_id)),
            Some(n) => problems.push(format!("order {} has {n} notifications", order.order_id)),
        }
    }
    for order_id in by_order.keys() {
        problems.push(format!("a notification for {order_id}, which is not an order"));
    }
    let summary = format!("{} notifications", sent.len());
    report.checks.push(problems.check("one notification per order", summary));
}
