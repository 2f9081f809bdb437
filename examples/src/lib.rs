//! Weir's examples, ready to deploy: the order pipeline's processors and the test
//! guests as embedded `wasm32-wasip2` components, and the order generator.
//!
//! `build.rs` builds the guest crates (`examples/processors/*`, `examples/guests/*`)
//! with a nested cargo into `target/wasm-guests` and this crate embeds the results,
//! so the broker and the runtime's tests get components with a plain dependency.
//!
//! Layout:
//! - [`wasm`]: the components' bytes, one constant per guest.
//! - [`pipeline()`]: the five deployments of the order pipeline (name, input,
//!   outputs, config, component).
//! - [`generator`]: deterministic `OrderPlaced` events for the `orders` topic, and a
//!   pacer.
//!
//! The events' schema is the crate `weir-order-events` (re-exported as [`events`]).

pub mod generator;
mod pipeline;
pub mod wasm;

pub use pipeline::{Deployment, pipeline};
pub use weir_order_events as events;
