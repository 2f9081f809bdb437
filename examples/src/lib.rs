//! Weir's examples, ready to deploy: the order pipeline's processors and the test
//! guests as embedded `wasm32-wasip2` components, and the order generator.
//!
//! `build.rs` builds the guest crates (`examples/processors/*`, `examples/guests/*`)
//! with a nested cargo into `target/wasm-guests` and this crate embeds the results,
//! so the broker and the runtime's tests get components with a plain dependency.
//!
//! Layout:
//! - [`wasm`]: the components' bytes, one constant per guest.
//! - [`pipeline()`]: the eight deployments of the order pipeline (name, input,
//!   outputs, config, component), and its [`TOPICS`].
//! - [`generator`]: deterministic `OrderPlaced` events for the `orders` topic, and a
//!   pacer.
//! - [`verify`]: the model that recomputes the pipeline's outputs from its
//!   topics and says where they differ.
//!
//! The events' schema is the crate `weir-order-events` (re-exported as [`events`]).

pub mod generator;
mod pipeline;
pub mod verify;
pub mod wasm;

pub use pipeline::{Deployment, FEEDBACK, PARTITIONS, TOPICS, pipeline};
pub use weir_order_events as events;
