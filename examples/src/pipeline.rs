//! The order pipeline's topics and deployments.

use weir_order_events as events;

use crate::wasm;

/// One processor deployment: what the broker needs to deploy it.
#[derive(Debug, Clone, Copy)]
pub struct Deployment {
    /// The processor's name (and consumer group).
    pub name: &'static str,
    /// The input topic.
    pub input: &'static str,
    /// The output topics it may emit to.
    pub outputs: &'static [&'static str],
    /// Its configuration, passed to `init`.
    pub config: &'static [(&'static str, &'static str)],
    /// The component.
    pub wasm: &'static [u8],
}

impl Deployment {
    /// The value of config `key`, if set.
    pub fn config_value(&self, key: &str) -> Option<&'static str> {
        self.config.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// Partitions of [`events::ORDERS`], and of each topic keyed by something the
/// stages keep state about.
pub const PARTITIONS: u32 = 3;

/// Every topic of the pipeline with its partition count: the input, the
/// re-keyed topics in between and the outputs. `minute-partials` has one
/// partition, so that one instance adds up every orders partition's minutes.
pub const TOPICS: [(&str, u32); 11] = [
    (events::ORDERS, PARTITIONS),
    (events::STOCK_REQUESTS, PARTITIONS),
    (events::STOCK_DECISIONS, PARTITIONS),
    (events::INVENTORY_EVENTS, PARTITIONS),
    (events::ORDERS_BY_CUSTOMER, PARTITIONS),
    (events::MINUTE_PARTIALS, 1),
    (events::PAYMENTS, 1),
    (events::NOTIFICATIONS, 1),
    (events::ANALYTICS, 1),
    (events::LATE_ORDERS, 1),
    (events::FRAUD_ALERTS, 1),
];

/// The topics a later stage writes to although they feed an earlier one: the
/// releases of partly reserved orders go back to the inventory (a pipeline
/// declares such a loop, so that an accidental one is refused).
pub const FEEDBACK: [&str; 1] = [events::STOCK_REQUESTS];

/// The eight processors of the order pipeline, upstream first (the table of
/// `weir_order_events` says what each reads and writes).
///
/// The configurations suit [`crate::generator`]'s defaults: SKUs start selling out
/// after about 10,000 orders (1,000 units each), payments above EUR 250 are
/// declined, and fraud alerts are raised for its suspicious orders only.
pub fn pipeline() -> [Deployment; 8] {
    let deploy =
        |name, input, outputs, config, wasm| Deployment { name, input, outputs, config, wasm };
    [
        deploy(
            "router",
            events::ORDERS,
            &[events::STOCK_REQUESTS, events::ORDERS_BY_CUSTOMER],
            &[],
            wasm::ROUTER,
        ),
        deploy(
            "inventory",
            events::STOCK_REQUESTS,
            &[events::STOCK_DECISIONS],
            &[("initial_stock", "1000")],
            wasm::INVENTORY,
        ),
        deploy(
            "reservation",
            events::STOCK_DECISIONS,
            &[events::INVENTORY_EVENTS, events::STOCK_REQUESTS],
            &[],
            wasm::RESERVATION,
        ),
        deploy(
            "payment",
            events::INVENTORY_EVENTS,
            &[events::PAYMENTS],
            &[("max_amount_cents", "25000")],
            wasm::PAYMENT,
        ),
        deploy(
            "notification",
            events::ORDERS,
            &[events::NOTIFICATIONS],
            &[("domain", "example.com")],
            wasm::NOTIFICATION,
        ),
        deploy(
            "minutes",
            events::ORDERS,
            &[events::MINUTE_PARTIALS, events::LATE_ORDERS],
            &[("grace_ms", "5000")],
            wasm::MINUTES,
        ),
        deploy(
            "analytics",
            events::MINUTE_PARTIALS,
            &[events::ANALYTICS],
            &[("partitions", "3")],
            wasm::ANALYTICS,
        ),
        deploy(
            "fraud",
            events::ORDERS_BY_CUSTOMER,
            &[events::FRAUD_ALERTS],
            &[("max_orders", "5"), ("window_ms", "10000"), ("amount_threshold_cents", "100000")],
            wasm::FRAUD,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_a_processor_touches_is_declared() {
        for d in pipeline() {
            for topic in std::iter::once(&d.input).chain(d.outputs) {
                assert!(TOPICS.iter().any(|(t, _)| t == topic), "{}: {topic} undeclared", d.name);
            }
        }
        let analytics = pipeline().into_iter().find(|d| d.name == "analytics").unwrap();
        assert_eq!(analytics.config_value("partitions"), Some(&*PARTITIONS.to_string()));
    }
}
