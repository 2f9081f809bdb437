//! The order pipeline on the host: generated orders through the five processors,
//! each with its deployment's config and the SDK's test context.

use weir_examples::events::{self, FraudAlert, InventoryEvent, MinuteStats, PaymentEvent};
use weir_examples::generator::{GeneratorConfig, OrderGenerator};
use weir_examples::{Deployment, pipeline};
use weir_sdk::testing::{Emitted, TestContext};
use weir_sdk::{Config, Processor, Record};

const ORDERS: usize = 5_000;

/// Runs the generated orders through `P` deployed as `name`, in batches of 100.
fn run<P: Processor>(name: &str) -> Vec<Emitted> {
    let deployment: Deployment = pipeline().into_iter().find(|d| d.name == name).unwrap();
    assert_eq!(deployment.input, events::ORDERS);
    let mut processor = P::init(&deployment.config.iter().copied().collect::<Config>()).unwrap();
    let mut test =
        deployment.outputs.iter().fold(TestContext::new(), |t, topic| t.with_output(topic));
    let records: Vec<Record> = OrderGenerator::new(GeneratorConfig::default())
        .take(ORDERS)
        .enumerate()
        .map(|(offset, (key, value))| Record::new(key, value).with_offset(offset as u64))
        .collect();
    for batch in records.chunks(100) {
        test.process_batch(&mut processor, batch.to_vec()).unwrap();
    }
    test.take_emitted()
}

#[test]
fn inventory_reserves_nearly_everything() {
    let emitted = run::<weir_inventory::Inventory>("inventory");
    assert_eq!(emitted.len(), ORDERS);
    let out_of_stock = emitted
        .iter()
        .filter(|e| matches!(e.value_json(), InventoryEvent::OutOfStock { .. }))
        .count();
    assert!(out_of_stock < ORDERS / 100, "{out_of_stock} out of stock");
}

#[test]
fn payment_declines_the_large_orders_only() {
    let emitted = run::<weir_payment::Payment>("payment");
    assert_eq!(emitted.len(), ORDERS);
    let declined = emitted
        .iter()
        .filter(|e| matches!(e.value_json(), PaymentEvent::PaymentDeclined { .. }))
        .count();
    assert!((10..ORDERS / 20).contains(&declined), "{declined} declined");
}

#[test]
fn notification_confirms_every_order() {
    let emitted = run::<weir_notification::Notifier>("notification");
    assert_eq!(emitted.len(), ORDERS);
    assert!(emitted.iter().all(|e| e.topic == events::NOTIFICATIONS));
}

#[test]
fn analytics_adds_up() {
    let emitted = run::<weir_analytics::Analytics>("analytics");
    let mut last = std::collections::BTreeMap::new();
    for e in &emitted {
        let stats: MinuteStats = e.value_json();
        last.insert(stats.minute, stats.orders);
    }
    // 5,000 orders 10 ms apart span 50 s: one or two minutes.
    assert!((1..=2).contains(&last.len()));
    assert_eq!(last.values().sum::<u64>(), ORDERS as u64);
}

#[test]
fn fraud_fires_sometimes_for_both_rules() {
    let emitted = run::<weir_fraud::Fraud>("fraud");
    let alerts: Vec<FraudAlert> = emitted.iter().map(|e| e.value_json()).collect();
    assert!((20..ORDERS / 10).contains(&alerts.len()), "{} alerts", alerts.len());
    for rule in ["velocity", "amount"] {
        assert!(alerts.iter().any(|a| a.rules.iter().any(|r| r == rule)), "no {rule} alert");
    }
}
