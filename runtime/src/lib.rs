//! The Weir processor runtime: the wasmtime host that runs consumer logic as
//! sandboxed WebAssembly components.
//!
//! Layout (to be filled in by the processors work, see `../shared/DESIGN.md`):
//! - `wit/`: the `weir:processor@0.1.0` WIT package, the one contract with guests.
//! - `limits.rs`: the sandbox policy (memory cap, epoch deadline, output caps).
//!
//! The runtime knows nothing of sockets or files: it reaches the log only through a
//! trait it defines, which the broker implements.
