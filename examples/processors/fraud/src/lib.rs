//! Fraud: flags customers who order too fast and orders that are too large.
//!
//! Input `orders-by-customer` ([`OrderPlaced`] keyed by customer id, so all of a
//! customer's orders come to one instance); output `fraud-alerts`, keyed by order id: a
//! [`FraudAlert`] when the customer placed more than `max_orders` (default 5)
//! orders within `window_ms` (default 10000) of event time, this one included
//! (rule `velocity`), or the total is above `amount_threshold_cents` (default
//! 100000; rule `amount`). Other orders emit nothing. State: `recent/{customer_id}`
//! holds the customer's order timestamps within the window, newest last, at most
//! `max_orders + 1` of them (so `orders_in_window` counts up to that).

use weir_order_events::{FRAUD_ALERTS, FraudAlert, OrderPlaced};
use weir_sdk::{Config, Context, Error, Processor, Record};

/// The fraud processor.
#[derive(Debug)]
pub struct Fraud {
    /// More orders than this within the window is the `velocity` rule.
    max_orders: u32,
    /// The velocity window, ms of event time.
    window_ms: i64,
    /// A total above this is the `amount` rule.
    amount_threshold_cents: u64,
}

impl Processor for Fraud {
    fn init(config: &Config) -> Result<Self, Error> {
        let fraud = Self {
            max_orders: config.parse_or("max_orders", 5)?,
            window_ms: config.parse_or("window_ms", 10_000)?,
            amount_threshold_cents: config.parse_or("amount_threshold_cents", 100_000)?,
        };
        if fraud.window_ms <= 0 {
            return Err(Error::msg("config: `window_ms` must be positive"));
        }
        Ok(fraud)
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        let order: OrderPlaced = record.value_json()?;
        let key = format!("recent/{}", order.customer_id).into_bytes();
        let mut recent: Vec<i64> = ctx.state_get_json(&key)?.unwrap_or_default();
        // Events may arrive out of order: keep whatever is within the window of this one.
        recent.retain(|&ts| ts > order.ts - self.window_ms);
        let at = recent.partition_point(|&ts| ts <= order.ts);
        recent.insert(at, order.ts);
        let keep = self.max_orders as usize + 1;
        if recent.len() > keep {
            recent.drain(..recent.len() - keep);
        }
        ctx.state_put_json(&key, &recent)?;

        let orders_in_window = recent.len() as u32;
        let mut rules = Vec::new();
        if orders_in_window > self.max_orders {
            rules.push("velocity".to_owned());
        }
        if order.total_cents > self.amount_threshold_cents {
            rules.push("amount".to_owned());
        }
        if rules.is_empty() {
            return Ok(());
        }
        let alert = FraudAlert {
            order_id: order.order_id.clone(),
            customer_id: order.customer_id,
            rules,
            orders_in_window,
            total_cents: order.total_cents,
            ts: order.ts,
        };
        ctx.emit_json(FRAUD_ALERTS, &order.order_id, &alert)
    }
}

weir_sdk::export!(Fraud);

#[cfg(test)]
mod tests {
    use weir_order_events::Item;
    use weir_sdk::testing::TestContext;

    use super::*;

    fn setup() -> (Fraud, TestContext) {
        let config =
            [("max_orders", "2"), ("window_ms", "1000"), ("amount_threshold_cents", "500")];
        (
            Fraud::init(&config.into_iter().collect()).unwrap(),
            TestContext::new().with_output(FRAUD_ALERTS),
        )
    }

    fn order(id: &str, customer: &str, cents: u64, ts: i64) -> Record {
        Record::new(
            id,
            OrderPlaced::new(id, customer, vec![Item::new("sku-1", 1, cents)], ts).to_json(),
        )
    }

    fn alerts(test: &TestContext) -> Vec<(String, Vec<String>, u32)> {
        let alert = |a: FraudAlert| (a.order_id, a.rules, a.orders_in_window);
        test.emitted().iter().map(|e| alert(e.value_json())).collect()
    }

    #[test]
    fn velocity_within_the_window_per_customer() {
        let (mut fraud, mut test) = setup();
        let batch = [
            order("o-1", "c-1", 10, 0),
            order("o-2", "c-2", 10, 100),
            order("o-3", "c-1", 10, 500),
            order("o-4", "c-1", 10, 999), // third of c-1 within 1000 ms
            order("o-5", "c-1", 10, 2_500), // the window has moved on
        ];
        test.process_batch(&mut fraud, batch).unwrap();
        assert_eq!(alerts(&test), [("o-4".to_owned(), vec!["velocity".to_owned()], 3)]);
        assert_eq!(test.state_get(b"recent/c-1"), Some(&b"[2500]"[..]));
    }

    #[test]
    fn amount_rule_and_both_rules() {
        let (mut fraud, mut test) = setup();
        let batch =
            [order("o-1", "c-1", 501, 0), order("o-2", "c-1", 1, 1), order("o-3", "c-1", 900, 2)];
        test.process_batch(&mut fraud, batch).unwrap();
        let both = vec!["velocity".to_owned(), "amount".to_owned()];
        assert_eq!(
            alerts(&test),
            [("o-1".to_owned(), vec!["amount".to_owned()], 1), ("o-3".to_owned(), both, 3)]
        );
    }

    #[test]
    fn state_stays_bounded_in_a_burst() {
        let (mut fraud, mut test) = setup();
        let burst = (0..50).map(|i| order(&format!("o-{i}"), "c-1", 1, i));
        test.process_batch(&mut fraud, burst).unwrap();
        assert_eq!(test.state_get(b"recent/c-1"), Some(&b"[47,48,49]"[..]));
        assert_eq!(test.emitted().len(), 48);
    }

    #[test]
    fn invalid_json_is_an_error() {
        let (mut fraud, mut test) = setup();
        assert!(test.process_batch(&mut fraud, [Record::new("o-1", "nope")]).is_err());
    }
}
