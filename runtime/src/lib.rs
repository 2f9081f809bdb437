//! Weir's WebAssembly host: runs processors — consumer groups whose logic is a
//! Wasm component — in a sandbox, feeding them records from their committed
//! offsets and committing their outputs, state and progress.
//!
//! Layout:
//! - `bindings`: host bindings generated from `wit/processor.wit`, the contract.
//! - `engine`: the [`Runtime`] (engine, epoch thread, linker, component cache)
//!   and compiled [`Module`]s.
//! - `limits`: the sandbox policy in one place (memory, CPU deadline, output
//!   caps, WASI with nothing granted).
//! - `host`: the imports' host side (emit, state, log), each import implemented
//!   once on the generated traits, and per-call bookkeeping; `packed_output`
//!   unpacks `send-packed`'s records as slices of one copy of their bytes.
//! - `instance`: one live instance and calls into it.
//! - `worker`: the per-(processor, partition) loop: read, process, append,
//!   commit; retries, splitting, dead letters.
//! - `processor`: a running processor's handle (status, pause, upgrade, stop).
//! - `store`: the [`LogStore`] trait through which the runtime reaches the log;
//!   `memory` is an in-memory implementation for tests and benchmarks.
//! - `harness`: one instance fed directly, for benchmarks.
//! - `state`, `logs`, `status`, `manifest`, `partitioner`, `guest_io`: the pieces
//!   those use.

pub mod bindings;
mod engine;
mod guest_io;
pub mod harness;
mod host;
mod instance;
pub mod limits;
mod logs;
pub mod manifest;
pub mod memory;
mod packed_output;
pub mod partitioner;
mod processor;
mod state;
pub mod status;
pub mod store;
mod timers;
mod worker;

pub use engine::{CompileError, Module, Runtime, RuntimeError, RuntimeOptions};
pub use limits::Limits;
pub use logs::{LogLevel, LogLine};
pub use manifest::{ErrorPolicy, Manifest, ManifestError, StartPosition, dead_letter_topic};
pub use processor::Processor;
pub use status::{PartitionStatus, ProcessorState, ProcessorStatus, WorkerState};
pub use store::{
    Bounds, Checkpoint, Commit, Header, InputRecord, LogStore, OutputRecord, StoreError,
};
