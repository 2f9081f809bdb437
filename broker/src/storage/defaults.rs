//! The broker-wide defaults a topic runs under where it has no override of its
//! own, in Kafka's three layers, the later winning: the node's static settings
//! (`weir serve`'s flags), the dynamic cluster-wide defaults, and the dynamic
//! settings of this node. The dynamic layers are what AlterConfigs and
//! IncrementalAlterConfigs change on a BROKER resource (named `""` and by node
//! id); they live in `broker-configs.json` in the data directory, replaced
//! atomically (temporary file, fsync, rename, fsync of the directory), and hold
//! across restarts. Keys are topic-level names (`retention.ms`); the Kafka layer
//! translates Kafka's broker-level names (`log.retention.ms`).
//!
//! ```json
//! { "version": 1, "cluster": { "retention.ms": "86400000" }, "node": {} }
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::topic::registry::write_json;
use crate::topic::{TopicError, parse_log_config};

/// The file of the dynamic layers, in the data directory.
pub const BROKER_CONFIGS_FILE: &str = "broker-configs.json";
/// The file's format.
const FORMAT_VERSION: u32 = 1;

/// A layer of broker-wide defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Set by the node's flags or config file when it started.
    Static,
    /// Set at run time for every broker of the cluster (Kafka's resource `""`).
    Cluster,
    /// Set at run time for this node (Kafka's resource named by its id).
    Node,
}

/// The three layers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    /// `weir serve`'s flags.
    pub fixed: BTreeMap<String, String>,
    /// Dynamic, cluster-wide.
    pub cluster: BTreeMap<String, String>,
    /// Dynamic, this node.
    pub node: BTreeMap<String, String>,
}

/// `broker-configs.json`.
#[derive(Debug, Serialize, Deserialize)]
struct DynamicFile {
    version: u32,
    #[serde(default)]
    cluster: BTreeMap<String, String>,
    #[serde(default)]
    node: BTreeMap<String, String>,
}

impl Defaults {
    /// The static layer `fixed` under the dynamic layers stored in `dir`, if any.
    pub fn load(dir: &Path, fixed: BTreeMap<String, String>) -> Result<Defaults, TopicError> {
        let path = dir.join(BROKER_CONFIGS_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Defaults { fixed, ..Defaults::default() });
            }
            Err(e) => return Err(io_error(&path)(e)),
        };
        let corrupt = |reason: String| TopicError::Corrupt { path: path.clone(), reason };
        let file: DynamicFile = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format version {} is not {FORMAT_VERSION}: written by another Weir version",
                file.version
            )));
        }
        let defaults = Defaults { fixed, cluster: file.cluster, node: file.node };
        parse_log_config(&defaults.effective()).map_err(|e| corrupt(e.to_string()))?;
        Ok(defaults)
    }

    /// Every key's value in force: the static layer, then the cluster's, then
    /// the node's.
    pub fn effective(&self) -> BTreeMap<String, String> {
        let mut merged = self.fixed.clone();
        merged.extend(self.cluster.iter().map(|(k, v)| (k.clone(), v.clone())));
        merged.extend(self.node.iter().map(|(k, v)| (k.clone(), v.clone())));
        merged
    }

    /// One layer.
    pub fn layer(&self, layer: Layer) -> &BTreeMap<String, String> {
        match layer {
            Layer::Static => &self.fixed,
            Layer::Cluster => &self.cluster,
            Layer::Node => &self.node,
        }
    }

    /// These defaults with `layer` (a dynamic one) replaced by `values`, checked:
    /// every key known and valid, alone and with the other layers.
    pub fn with_layer(
        &self,
        layer: Layer,
        values: BTreeMap<String, String>,
    ) -> Result<Defaults, TopicError> {
        parse_log_config(&values)?;
        let mut next = self.clone();
        match layer {
            Layer::Static => next.fixed = values,
            Layer::Cluster => next.cluster = values,
            Layer::Node => next.node = values,
        }
        parse_log_config(&next.effective())?;
        Ok(next)
    }

    /// Writes the dynamic layers to `dir`, replacing the file atomically.
    pub fn persist(&self, dir: &Path) -> Result<(), TopicError> {
        let file = DynamicFile {
            version: FORMAT_VERSION,
            cluster: self.cluster.clone(),
            node: self.node.clone(),
        };
        write_json(dir, BROKER_CONFIGS_FILE, &file)
    }
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> TopicError + '_ {
    move |source| TopicError::Io { path: path.to_path_buf(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn later_layers_win_and_the_dynamic_ones_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let fixed = map(&[("retention.ms", "1000"), ("segment.bytes", "4096")]);
        let defaults = Defaults::load(dir.path(), fixed.clone()).unwrap();
        assert_eq!(defaults.effective(), fixed);
        let defaults = defaults
            .with_layer(Layer::Cluster, map(&[("retention.ms", "2000"), ("flush.ms", "50")]))
            .unwrap()
            .with_layer(Layer::Node, map(&[("retention.ms", "3000")]))
            .unwrap();
        let want = map(&[("flush.ms", "50"), ("retention.ms", "3000"), ("segment.bytes", "4096")]);
        assert_eq!(defaults.effective(), want);
        defaults.persist(dir.path()).unwrap();
        let reloaded = Defaults::load(dir.path(), fixed).unwrap();
        assert_eq!(reloaded, defaults);
    }

    #[test]
    fn bad_values_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let defaults = Defaults::load(dir.path(), BTreeMap::new()).unwrap();
        let e = defaults.with_layer(Layer::Node, map(&[("retention.ms", "soon")])).unwrap_err();
        assert!(matches!(e, TopicError::InvalidConfig { .. }), "{e}");
        let e = defaults.with_layer(Layer::Node, map(&[("colour", "red")])).unwrap_err();
        assert!(matches!(e, TopicError::UnknownConfig(_)), "{e}");
        fs::write(dir.path().join(BROKER_CONFIGS_FILE), "{\"version\": 9}").unwrap();
        let e = Defaults::load(dir.path(), BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("format version 9"), "{e}");
        fs::write(dir.path().join(BROKER_CONFIGS_FILE), "not json").unwrap();
        assert!(Defaults::load(dir.path(), BTreeMap::new()).is_err());
    }
}
