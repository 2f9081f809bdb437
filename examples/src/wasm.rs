//! The guest components, built by `build.rs` for `wasm32-wasip2` (release).

macro_rules! component {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".wasm"))
    };
}

/// Order pipeline: re-keys orders by SKU and by customer (`examples/processors/router`).
pub const ROUTER: &[u8] = component!("router");
/// Order pipeline: keeps each SKU's stock (`examples/processors/inventory`).
pub const INVENTORY: &[u8] = component!("inventory");
/// Order pipeline: joins line decisions back per order (`examples/processors/reservation`).
pub const RESERVATION: &[u8] = component!("reservation");
/// Order pipeline: authorizes or declines payments (`examples/processors/payment`).
pub const PAYMENT: &[u8] = component!("payment");
/// Order pipeline: order confirmations (`examples/processors/notification`).
pub const NOTIFICATION: &[u8] = component!("notification");
/// Order pipeline: each partition's minute totals (`examples/processors/minutes`).
pub const MINUTES: &[u8] = component!("minutes");
/// Order pipeline: one total per closed minute (`examples/processors/analytics`).
pub const ANALYTICS: &[u8] = component!("analytics");
/// Order pipeline: velocity and amount alerts (`examples/processors/fraud`).
pub const FRAUD: &[u8] = component!("fraud");
/// Emits every record unchanged to config `output` (`examples/guests/passthrough`).
pub const PASSTHROUGH: &[u8] = component!("passthrough");
/// Emits records whose value contains config `needle` to `output`
/// (`examples/guests/filter`).
pub const FILTER: &[u8] = component!("filter");
/// Misbehaves as config `mode` says: spin, hog, panic, undeclared, huge, fail-on,
/// trap-on, log-flood, ok (`examples/guests/misbehave`).
pub const MISBEHAVE: &[u8] = component!("misbehave");

/// Sets, cancels and handles timers as its records say (`examples/guests/timers`).
pub const TIMERS: &[u8] = component!("timers");

/// A stream-table or windowed stream-stream join of its two inputs, as config
/// `kind` says (`examples/guests/joins`).
pub const JOINS: &[u8] = component!("joins");

/// Every component by name.
pub const ALL: [(&str, &[u8]); 13] = [
    ("router", ROUTER),
    ("inventory", INVENTORY),
    ("reservation", RESERVATION),
    ("payment", PAYMENT),
    ("notification", NOTIFICATION),
    ("minutes", MINUTES),
    ("analytics", ANALYTICS),
    ("fraud", FRAUD),
    ("passthrough", PASSTHROUGH),
    ("filter", FILTER),
    ("misbehave", MISBEHAVE),
    ("timers", TIMERS),
    ("joins", JOINS),
];

#[cfg(test)]
mod tests {
    /// A component (not a core module): `\0asm`, version 0x0d, layer 1.
    const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    #[test]
    fn every_guest_is_a_component() {
        for (name, bytes) in super::ALL {
            assert_eq!(bytes.get(..8), Some(&COMPONENT_HEADER[..]), "{name} is not a component");
        }
    }
}
