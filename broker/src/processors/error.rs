//! [`ProcessorError`]: why an operation on the deployment registry failed, with
//! the HTTP status each maps to. Every message says what to do about it.

use std::io;
use std::path::PathBuf;

use thiserror::Error;
use weir_runtime::manifest::ManifestError;
use weir_runtime::store::StoreError;
use weir_runtime::{CompileError, RuntimeError};

use crate::group::GroupError;
use crate::storage::StorageError;

/// Why a deployment operation failed.
#[derive(Debug, Error)]
pub enum ProcessorError {
    /// No processor has this name.
    #[error("processor {0:?} does not exist: list the deployed processors to find its name")]
    NotFound(String),
    /// A processor has this name already.
    #[error("processor {0:?} already exists: upgrade it, or delete it first to deploy anew")]
    AlreadyExists(String),
    /// A Kafka consumer group of this name has members: a processor is the
    /// consumer group named like it, and would fight them for the offsets.
    #[error(
        "consumer group {0:?} has active members: a processor is the consumer group of its \
         name; stop those consumers or choose another processor name"
    )]
    GroupInUse(String),
    /// The manifest breaks a rule.
    #[error("invalid manifest: {0}")]
    InvalidManifest(#[from] ManifestError),
    /// The name starts with a dot, which the registry's own files use.
    #[error("processor name {0:?} is reserved: names may not start with '.'; choose another")]
    ReservedName(String),
    /// An output is an internal topic (committed offsets, processor state).
    #[error("{0} is an internal topic: processors may not write to it; choose another output")]
    InternalTopic(String),
    /// The input or an output topic does not exist.
    #[error(
        "topic {0} does not exist: create it first (kafka-topics, kcat or the HTTP API), \
         then deploy again"
    )]
    UnknownTopic(String),
    /// Inputs with different partition counts: the worker of partition index
    /// `p` reads partition `p` of every input, so they must match.
    #[error(
        "the inputs are not co-partitioned ({0}): a processor with several inputs reads \
         partition p of each, so they need the same partition count; add partitions to the \
         smaller topics, or re-key them into topics with the same count"
    )]
    NotCoPartitioned(String),
    /// The module is not a processor component.
    #[error("invalid module: {0}")]
    InvalidModule(#[from] CompileError),
    /// The runtime refused to start the processor.
    #[error("starting processor {name:?} failed: {source}")]
    Start {
        /// The processor.
        name: String,
        /// What the runtime said.
        source: StoreError,
    },
    /// The Wasm engine could not be set up.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Creating or deleting a processor's internal topics failed.
    #[error("{what}: {source} (see the broker's log)")]
    Storage {
        /// What was being done.
        what: String,
        /// The failure.
        source: StorageError,
    },
    /// Deleting the processor's consumer group offsets failed.
    #[error("deleting the offsets of consumer group {group:?}: {source}")]
    Group {
        /// The group.
        group: String,
        /// The failure.
        source: GroupError,
    },
    /// Reading or writing the deployment's files failed.
    #[error("{path}: {source} (check the data directory's permissions and free space)")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The broker is shutting down.
    #[error("the broker is shutting down: try again once it is back")]
    ShuttingDown,
}

impl ProcessorError {
    /// The HTTP status this error answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            ProcessorError::NotFound(_) => 404,
            ProcessorError::AlreadyExists(_) | ProcessorError::GroupInUse(_) => 409,
            ProcessorError::InvalidManifest(_)
            | ProcessorError::ReservedName(_)
            | ProcessorError::InternalTopic(_)
            | ProcessorError::UnknownTopic(_)
            | ProcessorError::NotCoPartitioned(_) => 400,
            ProcessorError::InvalidModule(_) => 422,
            ProcessorError::ShuttingDown => 503,
            ProcessorError::Start { .. }
            | ProcessorError::Runtime(_)
            | ProcessorError::Storage { .. }
            | ProcessorError::Group { .. }
            | ProcessorError::Io { .. } => 500,
        }
    }

    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ProcessorError {
        let path = path.into();
        move |source| ProcessorError::Io { path, source }
    }
}
