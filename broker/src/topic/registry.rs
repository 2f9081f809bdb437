//! The set of topics, persisted as `topics.json` in the data directory:
//!
//! ```text
//! {"version": 1, "topics": [{"name": "orders", "partitions": 3,
//!                            "configs": {"retention.ms": "86400000"},
//!                            "id": "1f0c7a52-3b7e-4f53-9a43-5e1a2c4b8d10"}]}
//! ```
//!
//! Topics are sorted by name and carry only their config overrides, and the
//! topic id Kafka clients of Fetch 13+ and Metadata 10+ name them by: a random
//! UUID given at creation, so a topic deleted and created again under the same
//! name is another topic. A file written before ids existed gets them on open
//! (and is rewritten once). Every mutation
//! rewrites the whole file atomically (`topics.json.tmp`, fsync, rename, fsync of the
//! directory) before it returns; if that fails the registry in memory is unchanged.

use std::{
    collections::BTreeMap,
    fs::{self, File},
    io::{self, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{TopicError, parse_log_config, validate_topic_name};
use crate::log::LogConfig;

/// The most partitions a topic may have; more is almost surely a typo.
pub const MAX_PARTITIONS: u32 = 10_000;
/// The registry's file name inside the data directory.
pub const TOPICS_FILE: &str = "topics.json";
/// The version of `topics.json` this code writes and reads.
const FORMAT_VERSION: u32 = 1;

/// A topic as created and as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSpec {
    /// The topic's name, valid per `validate_topic_name`; unique in the registry.
    pub name: String,
    /// How many partitions the topic has, 1 to `MAX_PARTITIONS`.
    pub partitions: u32,
    /// Kafka-style config overrides; keys left out take the defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, String>,
}

/// A topic as `topics.json` holds it: its spec and its id.
#[derive(Serialize, Deserialize)]
struct Stored<T> {
    /// Name, partitions, configs.
    #[serde(flatten)]
    spec: T,
    /// The topic id, a UUID; absent in files written before ids existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

/// The shape of `topics.json`: `T` is `Stored<TopicSpec>` to read,
/// `Stored<&TopicSpec>` to write.
#[derive(Serialize, Deserialize)]
struct TopicsFile<T> {
    /// `FORMAT_VERSION`, so a future layout is refused rather than misread.
    version: u32,
    /// Every topic, sorted by name.
    topics: Vec<T>,
}

/// Just the version, read first so an unknown version is reported as such.
#[derive(Deserialize)]
struct VersionOnly {
    /// The file's `version` field.
    version: u32,
}

/// The broker's topics, loaded from and persisted to the data directory.
#[derive(Debug)]
pub struct TopicRegistry {
    /// The data directory holding `topics.json`.
    dir: PathBuf,
    /// Topics by name; a BTreeMap so listings come sorted.
    topics: BTreeMap<String, TopicSpec>,
    /// Each topic's id, by name.
    ids: BTreeMap<String, Uuid>,
}

impl TopicRegistry {
    /// Loads the registry of `data_dir`, creating the directory if needed. A missing
    /// `topics.json` is an empty registry; an unreadable, corrupt or invalid one is an
    /// error, never an empty or partial registry.
    pub fn open(data_dir: &Path) -> Result<Self, TopicError> {
        fs::create_dir_all(data_dir).map_err(io_error(data_dir))?;
        let path = data_dir.join(TOPICS_FILE);
        let (topics, mut ids) = match fs::read(&path) {
            Ok(bytes) => load(&bytes).map_err(|reason| TopicError::Corrupt { path, reason })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(TopicError::Io { path, source: e }),
        };
        let missing: Vec<String> =
            topics.keys().filter(|n| !ids.contains_key(*n)).cloned().collect();
        for name in &missing {
            ids.insert(name.clone(), Uuid::new_v4());
        }
        if !missing.is_empty() {
            write_topics(data_dir, topics.values(), &ids)?;
            tracing::info!(
                topics = missing.len(),
                "gave topics written before topic ids their ids"
            );
        }
        tracing::debug!(dir = %data_dir.display(), topics = topics.len(), "opened topic registry");
        Ok(TopicRegistry { dir: data_dir.to_owned(), topics, ids })
    }

    /// The id of the topic called `name`.
    pub fn id(&self, name: &str) -> Option<Uuid> {
        self.ids.get(name).copied()
    }

    /// The topic whose id is `id`.
    pub fn by_id(&self, id: Uuid) -> Option<&TopicSpec> {
        let name = self.ids.iter().find(|(_, known)| **known == id)?.0;
        self.topics.get(name)
    }

    /// What `create` would refuse `spec` for, without creating anything: its
    /// name, an existing topic of that name, its partition count or configs.
    pub fn check_new(&self, spec: &TopicSpec) -> Result<(), TopicError> {
        validate_topic_name(&spec.name)?;
        if self.topics.contains_key(&spec.name) {
            return Err(TopicError::TopicAlreadyExists(spec.name.clone()));
        }
        validate_spec(spec)
    }

    /// Validates and persists a new topic and returns it as stored.
    pub fn create(&mut self, spec: TopicSpec) -> Result<&TopicSpec, TopicError> {
        self.check_new(&spec)?;
        let mut ids = self.ids.clone();
        ids.insert(spec.name.clone(), Uuid::new_v4());
        write_topics(&self.dir, self.topics.values().chain([&spec]), &ids)?;
        tracing::info!(topic = %spec.name, partitions = spec.partitions, "created topic");
        self.ids = ids;
        Ok(self.topics.entry(spec.name.clone()).or_insert(spec))
    }

    /// Removes a topic from the registry and returns it. Deleting its partitions'
    /// data is the caller's job.
    pub fn delete(&mut self, name: &str) -> Result<TopicSpec, TopicError> {
        let spec = self.topics.remove(name).ok_or_else(|| unknown(name))?;
        if let Err(e) = write_topics(&self.dir, self.topics.values(), &self.ids) {
            self.topics.insert(spec.name.clone(), spec);
            return Err(e);
        }
        self.ids.remove(name);
        tracing::info!(topic = %name, "deleted topic");
        Ok(spec)
    }

    /// Raises a topic's partition count to `partitions` (never lowers it: the
    /// caller checks). Creating the new partitions' data is the caller's job.
    pub fn set_partitions(&mut self, name: &str, partitions: u32) -> Result<(), TopicError> {
        let current = self.topics.get(name).ok_or_else(|| unknown(name))?;
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(TopicError::InvalidPartitions(partitions));
        }
        let grown = TopicSpec { partitions, ..current.clone() };
        let topics = self.topics.values().map(|t| if t.name == name { &grown } else { t });
        write_topics(&self.dir, topics, &self.ids)?;
        tracing::info!(topic = %name, partitions, "added partitions");
        self.topics.insert(grown.name.clone(), grown);
        Ok(())
    }

    /// The topic called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&TopicSpec> {
        self.topics.get(name)
    }

    /// Every topic, sorted by name.
    pub fn list(&self) -> impl Iterator<Item = &TopicSpec> {
        self.topics.values()
    }

    /// Replaces a topic's config overrides (keys left out return to their defaults),
    /// after validating them.
    pub fn alter_configs(
        &mut self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<(), TopicError> {
        let current = self.topics.get(name).ok_or_else(|| unknown(name))?;
        parse_log_config(&configs)?;
        let altered =
            TopicSpec { name: current.name.clone(), partitions: current.partitions, configs };
        let topics = self.topics.values().map(|t| if t.name == name { &altered } else { t });
        write_topics(&self.dir, topics, &self.ids)?;
        tracing::info!(topic = %name, configs = ?altered.configs, "altered topic configs");
        self.topics.insert(altered.name.clone(), altered);
        Ok(())
    }

    /// The log settings of the topic's partitions: its overrides over the defaults.
    pub fn log_config(&self, name: &str) -> Result<LogConfig, TopicError> {
        let spec = self.topics.get(name).ok_or_else(|| unknown(name))?;
        parse_log_config(&spec.configs)
    }
}

fn unknown(name: &str) -> TopicError {
    TopicError::UnknownTopic(name.to_owned())
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> TopicError + '_ {
    move |source| TopicError::Io { path: path.to_owned(), source }
}

/// Partition count and configs; the name is checked separately, before existence.
fn validate_spec(spec: &TopicSpec) -> Result<(), TopicError> {
    if !(1..=MAX_PARTITIONS).contains(&spec.partitions) {
        return Err(TopicError::InvalidPartitions(spec.partitions));
    }
    parse_log_config(&spec.configs).map(drop)
}

/// The topics of `topics.json` and the ids it holds.
type Loaded = (BTreeMap<String, TopicSpec>, BTreeMap<String, Uuid>);

/// Parses `topics.json` and checks every topic as `create` would. The error is the
/// reason the file cannot be trusted.
fn load(bytes: &[u8]) -> Result<Loaded, String> {
    let VersionOnly { version } = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if version != FORMAT_VERSION {
        return Err(format!(
            "unsupported format version {version}; this Weir reads version {FORMAT_VERSION}"
        ));
    }
    let file: TopicsFile<Stored<TopicSpec>> =
        serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let mut topics = BTreeMap::new();
    let mut ids = BTreeMap::new();
    for Stored { spec, id } in file.topics {
        let bad = |e: TopicError| format!("topic {:?}: {e}", spec.name);
        validate_topic_name(&spec.name).and_then(|()| validate_spec(&spec)).map_err(bad)?;
        if topics.contains_key(&spec.name) {
            return Err(format!("topic {:?} is listed twice", spec.name));
        }
        if let Some(id) = id {
            let id = Uuid::parse_str(&id)
                .map_err(|e| format!("topic {:?}: id {id:?} is not a UUID: {e}", spec.name))?;
            if ids.values().any(|known| *known == id) {
                return Err(format!("topic {:?}: id {id} is another topic's too", spec.name));
            }
            ids.insert(spec.name.clone(), id);
        }
        topics.insert(spec.name.clone(), spec);
    }
    Ok((topics, ids))
}

/// Atomically replaces `dir/topics.json` with `topics`. Should the final directory
/// fsync fail, the new file is in place but may not survive a crash.
fn write_topics<'a>(
    dir: &Path,
    topics: impl Iterator<Item = &'a TopicSpec>,
    ids: &BTreeMap<String, Uuid>,
) -> Result<(), TopicError> {
    let mut topics: Vec<&TopicSpec> = topics.collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let topics = topics
        .into_iter()
        .map(|spec| Stored { spec, id: ids.get(&spec.name).map(Uuid::to_string) })
        .collect();
    write_json(dir, TOPICS_FILE, &TopicsFile { version: FORMAT_VERSION, topics })
}

/// Atomically replaces `dir/name` with `value` as pretty JSON: a temporary file,
/// fsynced, renamed into place, then the directory fsynced. Should that last
/// fsync fail, the new file is in place but may not survive a crash.
pub(crate) fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> Result<(), TopicError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let write = || -> io::Result<()> {
        let mut out = File::create(&tmp)?;
        serde_json::to_writer_pretty(&mut out, value)?;
        out.write_all(b"\n")?;
        out.sync_all()
    };
    write().map_err(io_error(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_error(&path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))
}

#[cfg(test)]
mod tests;
