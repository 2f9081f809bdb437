//! The runtime's integration tests, one binary: real components from
//! `weir-examples` against the in-memory store.
//!
//! Run one subject with `cargo test -p weir-runtime --test integration <module>::`.

mod support;

mod hostile;
mod processing;
mod timers;
