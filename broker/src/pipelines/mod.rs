//! Pipelines: topics and processors declared together and applied as one unit.
//!
//! A [`Pipeline`] lists the topics it needs (with partitions and configs) and the
//! processors that read and write them (each a [`Manifest`] and its component).
//! The declaration is the source of truth, as with `kubectl apply -f`: the broker
//! keeps no copy of it. [`plan`] compares it with what runs and says what
//! [`apply`] would do, or every reason it cannot; `apply` changes nothing unless
//! the whole plan is sound (names, partition counts, topics that exist, modules
//! that compile, no cycle unless declared), then creates the missing topics,
//! sets changed configs, deploys the missing processors upstream first and
//! upgrades those whose module or config changed, keeping their offsets and
//! state (the runtime swaps modules at a batch boundary). [`status`] reports each
//! declared part as it runs; [`delete`] removes the processors (and, if asked,
//! the topics).
//!
//! A cycle through topics (a stage feeding an earlier one, as the order
//! pipeline's stock releases do) must be declared with `feedback = true` on a
//! topic of the loop, so that an accidental loop is refused rather than run
//! forever.

mod plan;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use weir_runtime::Manifest;

use crate::broker::Broker;
use crate::processors::{ProcessorError, Processors};
use crate::topic::TopicSpec;
use crate::topics::TopicsError;

pub use plan::{Change, plan};

/// A pipeline's declaration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// The pipeline's name, for people (topic-name rules).
    pub name: String,
    /// The topics it needs.
    #[serde(default)]
    pub topics: Vec<TopicDecl>,
    /// Its processors.
    #[serde(default)]
    pub processors: Vec<ProcessorDecl>,
}

/// A topic of a pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicDecl {
    /// The topic's name.
    pub name: String,
    /// Its partition count.
    pub partitions: u32,
    /// Config overrides; those not named are left as they are.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    /// A processor of the pipeline writes to it although it is upstream of that
    /// processor: the loop is meant.
    #[serde(default)]
    pub feedback: bool,
}

/// A processor of a pipeline: its manifest and its component.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessorDecl {
    /// The deployment's manifest.
    #[serde(flatten)]
    pub manifest: Manifest,
    /// The component's bytes (standard base64 in JSON).
    #[serde(with = "base64_bytes")]
    pub module: Vec<u8>,
}

/// Why a pipeline was not applied, or was applied only in part.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// The declaration cannot be applied; nothing was changed.
    #[error("the pipeline cannot be applied, nothing was changed:\n- {}", .0.join("\n- "))]
    Invalid(Vec<String>),
    /// A change failed after others were made (storage, say).
    #[error(
        "{failed} failed ({source}) after these changes were made: {}",
        if .applied.is_empty() { "none".to_owned() } else { .applied.join("; ") }
    )]
    Partial {
        /// What was applied, for people.
        applied: Vec<String>,
        /// What failed.
        failed: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Applies `pipeline`: the [`plan`]'s changes, in order. Blocks while compiling.
pub fn apply(
    broker: &Broker,
    processors: &Processors,
    pipeline: &Pipeline,
) -> Result<Vec<Change>, PipelineError> {
    let changes = plan(broker, processors, pipeline)?;
    let mut applied = Vec::with_capacity(changes.len());
    for change in changes {
        let result = run(broker, processors, pipeline, &change);
        if let Err(source) = result {
            let applied = applied.iter().map(Change::to_string).collect();
            return Err(PipelineError::Partial { applied, failed: change.to_string(), source });
        }
        applied.push(change);
    }
    Ok(applied)
}

/// Makes one change.
fn run(
    broker: &Broker,
    processors: &Processors,
    pipeline: &Pipeline,
    change: &Change,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let processor = |name: &str| {
        pipeline.processors.iter().find(|p| p.manifest.name == name).expect("planned from it")
    };
    match change {
        Change::CreateTopic { name, partitions, configs } => {
            let spec =
                TopicSpec { name: name.clone(), partitions: *partitions, configs: configs.clone() };
            broker.create_topic(spec, false).map(drop).map_err(|e: TopicsError| e.into())
        }
        Change::SetConfigs { name, configs } => {
            let changes = configs.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
            broker.alter_topic_configs(name, &changes).map(drop).map_err(Into::into)
        }
        Change::Deploy { name, .. } => {
            let decl = processor(name);
            processors.deploy(decl.manifest.clone(), &decl.module).map(drop).map_err(Into::into)
        }
        Change::Upgrade { name, .. } => {
            let decl = processor(name);
            let config = Some(decl.manifest.config.clone());
            processors.upgrade(name, &decl.module, config).map(drop).map_err(Into::into)
        }
    }
}

/// A declared topic as it is.
#[derive(Debug, Clone, Serialize)]
pub struct TopicStatus {
    /// Its name.
    pub name: String,
    /// Its partitions, if it exists.
    pub partitions: Option<u32>,
    /// Records in it (the sum of its partitions' high watermarks).
    pub records: u64,
}

/// A declared processor as it runs.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessorStatus {
    /// Its name.
    pub name: String,
    /// Deployed at all.
    pub deployed: bool,
    /// Its version, 1 at deployment and +1 per upgrade.
    pub version: Option<u32>,
    /// Paused by the operator.
    pub paused: bool,
    /// Records read, over all partitions.
    pub records_in: u64,
    /// Records emitted.
    pub records_out: u64,
    /// Records not yet read.
    pub lag: u64,
    /// Failed calls.
    pub errors: u64,
}

/// What a pipeline's parts are doing, and what applying it would change.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The pipeline's name.
    pub name: String,
    /// Each declared topic.
    pub topics: Vec<TopicStatus>,
    /// Each declared processor.
    pub processors: Vec<ProcessorStatus>,
    /// What `apply` would do now (empty: everything is as declared).
    pub pending: Vec<Change>,
    /// Why `apply` could not, if it could not (then `pending` is empty).
    pub problems: Vec<String>,
}

/// The status of `pipeline`'s parts. Blocks while compiling (for the plan).
pub fn status(broker: &Broker, processors: &Processors, pipeline: &Pipeline) -> Status {
    let topics = pipeline
        .topics
        .iter()
        .map(|t| {
            let partitions = broker.storage.topic(&t.name).map(|s| s.partitions);
            let records = (0..partitions.unwrap_or(0))
                .filter_map(|p| broker.storage.partition(&t.name, p))
                .map(|log| log.high_watermark())
                .sum();
            TopicStatus { name: t.name.clone(), partitions, records }
        })
        .collect();
    let processors_status = pipeline
        .processors
        .iter()
        .map(|decl| {
            let name = decl.manifest.name.clone();
            match processors.get(&name) {
                Ok(info) => {
                    let p = &info.status.partitions;
                    ProcessorStatus {
                        name,
                        deployed: true,
                        version: Some(info.version),
                        paused: info.paused,
                        records_in: p.iter().map(|s| s.records_in).sum(),
                        records_out: p.iter().map(|s| s.records_out).sum(),
                        lag: p.iter().map(|s| s.lag).sum(),
                        errors: p.iter().map(|s| s.errors).sum(),
                    }
                }
                Err(_) => ProcessorStatus {
                    name,
                    deployed: false,
                    version: None,
                    paused: false,
                    records_in: 0,
                    records_out: 0,
                    lag: 0,
                    errors: 0,
                },
            }
        })
        .collect();
    let (pending, problems) = match plan(broker, processors, pipeline) {
        Ok(changes) => (changes, Vec::new()),
        Err(PipelineError::Invalid(problems)) => (Vec::new(), problems),
        Err(e) => (Vec::new(), vec![e.to_string()]),
    };
    let name = pipeline.name.clone();
    Status { name, topics, processors: processors_status, pending, problems }
}

/// Deletes the pipeline's processors that are deployed, downstream first, and
/// with `topics` its topics too; returns what it deleted.
pub fn delete(
    broker: &Broker,
    processors: &Processors,
    pipeline: &Pipeline,
    topics: bool,
) -> Result<Vec<String>, PipelineError> {
    let mut deleted = Vec::new();
    let fail =
        |deleted: &Vec<String>, what: String, source: Box<dyn std::error::Error + Send + Sync>| {
            let applied = deleted.iter().map(|d| format!("deleted {d}")).collect();
            PipelineError::Partial { applied, failed: what, source }
        };
    for decl in pipeline.processors.iter().rev() {
        let name = &decl.manifest.name;
        match processors.delete(name) {
            Ok(()) => deleted.push(format!("processor {name}")),
            Err(ProcessorError::NotFound(_)) => {}
            Err(e) => return Err(fail(&deleted, format!("deleting processor {name}"), e.into())),
        }
    }
    if topics {
        for t in pipeline.topics.iter().filter(|t| broker.storage.topic(&t.name).is_some()) {
            match broker.delete_topic(&t.name) {
                Ok(()) => deleted.push(format!("topic {}", t.name)),
                Err(e) => {
                    return Err(fail(&deleted, format!("deleting topic {}", t.name), e.into()));
                }
            }
        }
    }
    Ok(deleted)
}

/// `Vec<u8>` as standard base64 in JSON.
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        let packed: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        STANDARD.decode(packed).map_err(|e| {
            serde::de::Error::custom(format!(
                "`module` is not standard padded base64 ({e}): send the component's bytes"
            ))
        })
    }
}
