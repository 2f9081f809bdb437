//! A deployment's manifest: what a processor is called, what it reads and may
//! write, where it starts, its limits and what happens when it fails.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::limits::Limits;

/// Where a processor starts reading a partition it has never committed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase", tag = "kind", content = "value")]
pub enum StartPosition {
    /// The log start.
    #[default]
    Earliest,
    /// The high watermark at the time the worker starts.
    Latest,
    /// This offset (clamped to the log's bounds).
    Offset(u64),
    /// The first record with a timestamp at or after this (ms since the epoch).
    Timestamp(i64),
}

impl fmt::Display for StartPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartPosition::Earliest => f.write_str("earliest"),
            StartPosition::Latest => f.write_str("latest"),
            StartPosition::Offset(o) => write!(f, "offset:{o}"),
            StartPosition::Timestamp(t) => write!(f, "timestamp:{t}"),
        }
    }
}

impl std::str::FromStr for StartPosition {
    type Err = ManifestError;

    /// `earliest`, `latest`, `offset:N` or `timestamp:MS`.
    fn from_str(s: &str) -> Result<Self, ManifestError> {
        let bad = || ManifestError::BadStart(s.to_string());
        match s {
            "earliest" => Ok(StartPosition::Earliest),
            "latest" => Ok(StartPosition::Latest),
            _ => match s.split_once(':') {
                Some(("offset", n)) => n.parse().map(StartPosition::Offset).map_err(|_| bad()),
                Some(("timestamp", n)) => {
                    n.parse().map(StartPosition::Timestamp).map_err(|_| bad())
                }
                _ => Err(bad()),
            },
        }
    }
}

/// What happens to a record that keeps failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorPolicy {
    /// Append it to the dead-letter topic with the error and source offset in
    /// headers, and go on.
    #[default]
    DeadLetter,
    /// Stop the processor's worker for that partition, with the reason visible
    /// in its status, until it is resumed (or upgraded).
    Pause,
}

/// A deployment's description, as given by the operator.
///
/// In JSON and TOML one input is written `input = "orders"` and several
/// `inputs = ["orders", "customers"]`; either spelling reads into `inputs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ManifestRepr", into = "ManifestRepr")]
pub struct Manifest {
    /// The processor's name: also its consumer group id. Kafka topic-name rules
    /// apply (ASCII letters, digits, `.`, `_`, `-`; at most 200 characters).
    pub name: String,
    /// The topics it consumes, one at least. Several must be co-partitioned
    /// (the same partition count): the worker of partition index `p` reads
    /// partition `p` of each, merged by timestamp.
    pub inputs: Vec<String>,
    /// The topics it may emit to.
    pub outputs: Vec<String>,
    /// Milliseconds the watermark stays behind the least of the inputs' newest
    /// timestamps, so that records that much out of order across inputs are
    /// still in time for event-time timers.
    pub allowed_lateness_ms: u64,
    /// Where it starts on partitions it has never committed for.
    pub start: StartPosition,
    /// Sandbox limits.
    pub limits: Limits,
    /// What happens to records that keep failing.
    pub on_error: ErrorPolicy,
    /// Passed to the processor's `init`.
    pub config: BTreeMap<String, String>,
}

/// A manifest as written: `input` or `inputs`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestRepr {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    inputs: Vec<String>,
    #[serde(default)]
    outputs: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    allowed_lateness_ms: u64,
    #[serde(default)]
    start: StartPosition,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    on_error: ErrorPolicy,
    #[serde(default)]
    config: BTreeMap<String, String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TryFrom<ManifestRepr> for Manifest {
    type Error = String;

    fn try_from(r: ManifestRepr) -> Result<Self, String> {
        let inputs = match (r.input, r.inputs) {
            (Some(_), more) if !more.is_empty() => {
                return Err("give either `input` or `inputs`, not both".into());
            }
            (Some(one), _) => vec![one],
            (None, inputs) => inputs,
        };
        Ok(Manifest {
            name: r.name,
            inputs,
            outputs: r.outputs,
            allowed_lateness_ms: r.allowed_lateness_ms,
            start: r.start,
            limits: r.limits,
            on_error: r.on_error,
            config: r.config,
        })
    }
}

impl From<Manifest> for ManifestRepr {
    fn from(m: Manifest) -> Self {
        let (input, inputs) = match <[String; 1]>::try_from(m.inputs) {
            Ok([one]) => (Some(one), Vec::new()),
            Err(several) => (None, several),
        };
        ManifestRepr {
            name: m.name,
            input,
            inputs,
            outputs: m.outputs,
            allowed_lateness_ms: m.allowed_lateness_ms,
            start: m.start,
            limits: m.limits,
            on_error: m.on_error,
            config: m.config,
        }
    }
}

/// Why a manifest is not acceptable.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ManifestError {
    /// The name breaks the naming rules.
    #[error(
        "processor name {0:?} is not valid: use 1 to 200 ASCII letters, digits, '.', '_' or '-'"
    )]
    BadName(String),
    /// No input topic.
    #[error("no input topic: name the topic (or topics) the processor consumes")]
    NoInput,
    /// An input topic name is empty or repeated.
    #[error("input topic {0:?} is empty or listed twice")]
    BadInput(String),
    /// An output topic name is empty or repeated.
    #[error("output topic {0:?} is empty or listed twice")]
    BadOutput(String),
    /// The processor would consume what it produces.
    #[error("output topic {0:?} is an input topic: a processor cannot feed itself")]
    OutputIsInput(String),
    /// A start position that does not parse.
    #[error("start position {0:?} is not valid: use earliest, latest, offset:N or timestamp:MS")]
    BadStart(String),
    /// A limit out of range.
    #[error("{0}")]
    BadLimit(String),
}

/// The longest processor name (leaves room for the suffixes of its internal topics).
pub const MAX_NAME_LEN: usize = 200;

impl Manifest {
    /// Its inputs as one line: `orders` or `orders + customers`.
    pub fn inputs_label(&self) -> String {
        self.inputs.join(" + ")
    }

    /// The topic its dead letters go to.
    pub fn dead_letter_topic(&self) -> String {
        dead_letter_topic(&self.name)
    }

    /// Checks names and limits.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if self.name.is_empty()
            || self.name.len() > MAX_NAME_LEN
            || !self.name.chars().all(legal)
            || self.name == "."
            || self.name == ".."
        {
            return Err(ManifestError::BadName(self.name.clone()));
        }
        if self.inputs.is_empty() {
            return Err(ManifestError::NoInput);
        }
        for (i, input) in self.inputs.iter().enumerate() {
            if input.is_empty() || self.inputs[..i].contains(input) {
                return Err(ManifestError::BadInput(input.clone()));
            }
        }
        for (i, out) in self.outputs.iter().enumerate() {
            if out.is_empty() || self.outputs[..i].contains(out) {
                return Err(ManifestError::BadOutput(out.clone()));
            }
            if self.inputs.contains(out) {
                return Err(ManifestError::OutputIsInput(out.clone()));
            }
        }
        self.limits.validate().map_err(ManifestError::BadLimit)
    }
}

/// The dead-letter topic of the processor `name`.
pub fn dead_letter_topic(name: &str) -> String {
    format!("{name}.dead-letter")
}

/// The partition count every `(topic, partitions)` shares, or the counts as one
/// line (`orders: 3, customers: 1`) when they differ.
pub fn co_partitioned(counts: &[(&str, u32)]) -> Result<u32, String> {
    let first = counts.first().map_or(0, |(_, n)| *n);
    if counts.iter().all(|(_, n)| *n == first) {
        return Ok(first);
    }
    let listed: Vec<String> = counts.iter().map(|(t, n)| format!("{t}: {n}")).collect();
    Err(listed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            name: "inventory".into(),
            inputs: vec!["orders".into()],
            outputs: vec!["inventory-events".into()],
            allowed_lateness_ms: 0,
            start: StartPosition::Earliest,
            limits: Limits::default(),
            on_error: ErrorPolicy::DeadLetter,
            config: BTreeMap::new(),
        }
    }

    #[test]
    fn accepts_a_good_manifest_and_round_trips_json() {
        let m = manifest();
        m.validate().unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), m);
        assert_eq!(m.dead_letter_topic(), "inventory.dead-letter");
    }

    #[test]
    fn rejects_bad_names_outputs_and_self_feeding() {
        for name in ["", "a b", "ü", ".", "..", &"x".repeat(201)] {
            let m = Manifest { name: name.to_string(), ..manifest() };
            assert!(matches!(m.validate(), Err(ManifestError::BadName(_))), "{name}");
        }
        let m = Manifest { inputs: Vec::new(), ..manifest() };
        assert_eq!(m.validate(), Err(ManifestError::NoInput));
        for inputs in [vec![""], vec!["a", "a"]] {
            let m =
                Manifest { inputs: inputs.iter().map(|s| s.to_string()).collect(), ..manifest() };
            assert!(matches!(m.validate(), Err(ManifestError::BadInput(_))), "{inputs:?}");
        }
        let m = Manifest { outputs: vec!["a".into(), "a".into()], ..manifest() };
        assert_eq!(m.validate(), Err(ManifestError::BadOutput("a".into())));
        let m = Manifest { outputs: vec!["orders".into()], ..manifest() };
        assert_eq!(m.validate(), Err(ManifestError::OutputIsInput("orders".into())));
    }

    #[test]
    fn one_input_is_written_input_and_several_inputs() {
        let one = serde_json::to_value(manifest()).unwrap();
        assert_eq!((one["input"].as_str(), one.get("inputs")), (Some("orders"), None));
        let m = Manifest { inputs: vec!["orders".into(), "customers".into()], ..manifest() };
        let several = serde_json::to_value(&m).unwrap();
        assert_eq!(several["inputs"], serde_json::json!(["orders", "customers"]));
        assert_eq!(serde_json::from_value::<Manifest>(several).unwrap(), m);
        let both = serde_json::json!({"name": "a", "input": "x", "inputs": ["y"]});
        let error = serde_json::from_value::<Manifest>(both).unwrap_err().to_string();
        assert!(error.contains("either `input` or `inputs`"), "{error}");
        let unknown = serde_json::json!({"name": "a", "input": "x", "inptus": ["y"]});
        assert!(serde_json::from_value::<Manifest>(unknown).is_err());
    }

    #[test]
    fn parses_start_positions() {
        assert_eq!("earliest".parse(), Ok(StartPosition::Earliest));
        assert_eq!("latest".parse(), Ok(StartPosition::Latest));
        assert_eq!("offset:42".parse(), Ok(StartPosition::Offset(42)));
        assert_eq!("timestamp:-1".parse(), Ok(StartPosition::Timestamp(-1)));
        for bad in ["", "first", "offset:", "offset:-1", "timestamp:x"] {
            assert!(bad.parse::<StartPosition>().is_err(), "{bad}");
        }
        for s in ["earliest", "latest", "offset:7", "timestamp:100"] {
            assert_eq!(s.parse::<StartPosition>().unwrap().to_string(), s);
        }
    }
}
