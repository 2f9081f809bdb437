//! Host bindings generated from the WIT package in `runtime/wit/`, the one
//! contract between Weir and its processors. Every import is implemented once,
//! by the generated traits' impls in `host.rs`.

wasmtime::component::bindgen!({
    path: "wit",
    world: "processor",
    // A packed output whose spans or header ranges are out of bounds is a bug
    // of the guest's packing: `send-packed` traps rather than guess.
    imports: { "weir:processor/emit.send-packed": trappable },
});

pub use weir::processor::types::{Header, LogLevel, OutputRecord, PackedOutput};
