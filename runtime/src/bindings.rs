//! Host bindings generated from the WIT package in `runtime/wit/`, the one
//! contract between Weir and its processors.

wasmtime::component::bindgen!({
    path: "wit",
    world: "processor",
});

pub use weir::processor::types::{Header, LogLevel, OutputRecord};
