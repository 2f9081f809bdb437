//! The Weir guest SDK: what a processor author writes against.
//!
//! It compiles for `wasm32-wasip2` and, with the host imports stubbed, on the host,
//! so that processor logic can be unit-tested with `cargo test`. The bindings come
//! from the WIT package in `runtime/wit/`.
