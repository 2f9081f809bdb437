//! Fraud: the orders re-keyed by customer, and the alerts replayed in the fraud
//! stage's input order.

use std::collections::BTreeMap;

use weir_order_events::{self as events, FraudAlert, OrderPlaced};

use super::{Numbers, Partitions, Problems, Report, decode};

pub(super) fn verify(
    topics: &BTreeMap<String, Partitions>,
    orders: &[(u32, OrderPlaced)],
    numbers: Numbers,
    report: &mut Report,
) {
    let mut problems = Problems::default();
    let by_customer: Vec<(u32, Option<String>, OrderPlaced)> =
        decode(topics, events::ORDERS_BY_CUSTOMER, &mut problems);
    let mut want: BTreeMap<&str, &OrderPlaced> =
        orders.iter().map(|(_, o)| (o.order_id.as_str(), o)).collect();
    let mut customer_partition: BTreeMap<&str, u32> = BTreeMap::new();
    for (p, key, order) in &by_customer {
        match want.remove(order.order_id.as_str()) {
            Some(original) if original == order => {}
            Some(_) => problems.push(format!("order {} changed on the way", order.order_id)),
            None => problems.push(format!("order {} again, or never placed", order.order_id)),
        }
        if key.as_deref() != Some(&order.customer_id) {
            problems.push(format!("order {} is keyed {key:?}", order.order_id));
        }
        if let Some(other) = customer_partition.insert(&order.customer_id, *p).filter(|o| o != p) {
            problems
                .push(format!("{} has orders on partitions {other} and {p}", order.customer_id));
        }
    }
    for id in want.keys() {
        problems.push(format!("order {id} is not in {}", events::ORDERS_BY_CUSTOMER));
    }
    let summary = format!("{} orders, {} customers", by_customer.len(), customer_partition.len());
    report.checks.push(problems.check("router: every order once, by customer", summary));

    // A customer's earlier orders (in arrival order) count toward an order's
    // window while no order since has been `window_ms` newer than them.
    let mut problems = Problems::default();
    let mut expected: BTreeMap<String, FraudAlert> = BTreeMap::new();
    let mut history: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (_, _, order) in &by_customer {
        let earlier = history.entry(&order.customer_id).or_default();
        earlier.push(order.ts);
        let mut newest = i64::MIN;
        let mut count = 0u32;
        for &ts in earlier.iter().rev() {
            newest = newest.max(ts);
            if ts > newest - numbers.window_ms {
                count += 1;
            }
        }
        let mut rules = Vec::new();
        if count > numbers.max_orders {
            rules.push("velocity".to_owned());
        }
        if order.total_cents > numbers.amount_threshold_cents {
            rules.push("amount".to_owned());
        }
        if !rules.is_empty() {
            let alert = FraudAlert {
                order_id: order.order_id.clone(),
                customer_id: order.customer_id.clone(),
                rules,
                orders_in_window: count.min(numbers.max_orders + 1),
                total_cents: order.total_cents,
                ts: order.ts,
            };
            expected.insert(order.order_id.clone(), alert);
        }
    }
    let alerts: Vec<(u32, Option<String>, FraudAlert)> =
        decode(topics, events::FRAUD_ALERTS, &mut problems);
    let mut seen = BTreeMap::new();
    for (_, _, alert) in &alerts {
        match expected.get(&alert.order_id) {
            Some(want) if want == alert => {}
            want => problems.push(format!("alert {alert:?}, expected {want:?}")),
        }
        if seen.insert(alert.order_id.clone(), ()).is_some() {
            problems.push(format!("two alerts for {}", alert.order_id));
        }
    }
    for id in expected.keys().filter(|id| !seen.contains_key(*id)) {
        problems.push(format!("order {id} should raise an alert"));
    }
    let summary = format!("{} alerts", alerts.len());
    report.checks.push(problems.check("fraud: alerts exactly as the rules flag them", summary));
}
