//! The order pipeline's deployments.

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

/// The five processors of the order pipeline, each reading [`events::ORDERS`].
///
/// The configurations suit [`crate::generator`]'s defaults: SKUs start selling out
/// after about 10,000 orders (1,000 units each),
/// payments declined and fraud alerts raised for its suspicious orders only.
pub fn pipeline() -> [Deployment; 5] {
    let deploy = |name, outputs, config, wasm| Deployment {
        name,
        input: events::ORDERS,
        outputs,
        config,
        wasm,
    };
    [
        deploy(
            "inventory",
            &[events::INVENTORY_EVENTS],
            &[("initial_stock", "1000")],
            wasm::INVENTORY,
        ),
        deploy("payment", &[events::PAYMENTS], &[("max_amount_cents", "100000")], wasm::PAYMENT),
        deploy(
            "notification",
            &[events::NOTIFICATIONS],
            &[("domain", "example.com")],
            wasm::NOTIFICATION,
        ),
        deploy("analytics", &[events::ANALYTICS], &[], wasm::ANALYTICS),
        deploy(
            "fraud",
            &[events::FRAUD_ALERTS],
            &[("max_orders", "5"), ("window_ms", "10000"), ("amount_threshold_cents", "100000")],
            wasm::FRAUD,
        ),
    ]
}
