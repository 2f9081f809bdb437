//! Payment: authorizes or declines each order, by a deterministic rule.
//!
//! Input `orders` ([`OrderPlaced`]); output `payments`, keyed by order id:
//! [`PaymentEvent::PaymentDeclined`] when the total is above the config's
//! `max_amount_cents` (default 100000) or does not match the items, else
//! [`PaymentEvent::PaymentAuthorized`]. State: `spent/{customer_id}` holds the
//! customer's authorized total as a JSON number.

use weir_order_events::{OrderPlaced, PAYMENTS, PaymentEvent};
use weir_sdk::{Config, Context, Error, Processor, Record};

/// The payment processor.
#[derive(Debug)]
pub struct Payment {
    /// Orders above this total are declined.
    max_amount_cents: u64,
}

impl Processor for Payment {
    fn init(config: &Config) -> Result<Self, Error> {
        Ok(Self { max_amount_cents: config.parse_or("max_amount_cents", 100_000)? })
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        let order: OrderPlaced = record.value_json()?;
        let event = match self.decline_reason(&order) {
            Some(reason) => PaymentEvent::PaymentDeclined {
                order_id: order.order_id.clone(),
                customer_id: order.customer_id,
                amount_cents: order.total_cents,
                currency: order.currency,
                reason,
                ts: order.ts,
            },
            None => {
                let key = format!("spent/{}", order.customer_id).into_bytes();
                let spent: u64 = ctx.state_get_json(&key)?.unwrap_or(0);
                let customer_total_cents = spent.saturating_add(order.total_cents);
                ctx.state_put_json(&key, &customer_total_cents)?;
                PaymentEvent::PaymentAuthorized {
                    order_id: order.order_id.clone(),
                    customer_id: order.customer_id,
                    amount_cents: order.total_cents,
                    currency: order.currency,
                    customer_total_cents,
                    ts: order.ts,
                }
            }
        };
        ctx.emit_json(PAYMENTS, &order.order_id, &event)
    }
}

impl Payment {
    /// Why `order` is declined, or `None` to authorize it.
    fn decline_reason(&self, order: &OrderPlaced) -> Option<String> {
        let items: u64 = order.items.iter().map(|item| item.line_cents()).sum();
        if items != order.total_cents {
            Some(format!("total {} does not match the items' {items}", order.total_cents))
        } else if order.total_cents > self.max_amount_cents {
            Some(format!("amount above {} cents", self.max_amount_cents))
        } else {
            None
        }
    }
}

weir_sdk::export!(Payment);

#[cfg(test)]
mod tests {
    use weir_order_events::Item;
    use weir_sdk::testing::TestContext;

    use super::*;

    fn setup() -> (Payment, TestContext) {
        let config = [("max_amount_cents", "5000")].into_iter().collect();
        (Payment::init(&config).unwrap(), TestContext::new().with_output(PAYMENTS))
    }

    fn order(id: &str, price_cents: u64) -> OrderPlaced {
        OrderPlaced::new(id, "c-0001", vec![Item::new("sku-1", 2, price_cents)], 7)
    }

    #[test]
    fn authorizes_small_orders_and_sums_per_customer() {
        let (mut payment, mut test) = setup();
        let orders = [order("o-1", 1000), order("o-2", 1500)];
        test.process_batch(
            &mut payment,
            orders.map(|o| Record::new(o.order_id.clone(), o.to_json())),
        )
        .unwrap();
        let last = test.emitted()[1].value_json::<PaymentEvent>();
        let PaymentEvent::PaymentAuthorized { customer_total_cents, amount_cents, .. } = last
        else {
            panic!("expected an authorization: {last:?}");
        };
        assert_eq!((amount_cents, customer_total_cents), (3000, 5000));
        assert_eq!(test.state_get(b"spent/c-0001"), Some(&b"5000"[..]));
    }

    #[test]
    fn declines_large_or_inconsistent_orders() {
        let (mut payment, mut test) = setup();
        let large = order("o-1", 2501);
        let mut forged = order("o-2", 10);
        forged.total_cents = 1;
        let batch = [large, forged].map(|o| Record::new(o.order_id.clone(), o.to_json()));
        test.process_batch(&mut payment, batch).unwrap();
        let reasons: Vec<String> = test
            .emitted()
            .iter()
            .map(|e| match e.value_json() {
                PaymentEvent::PaymentDeclined { reason, .. } => reason,
                other => panic!("expected a decline: {other:?}"),
            })
            .collect();
        assert_eq!(reasons, ["amount above 5000 cents", "total 1 does not match the items' 20"]);
        assert!(test.state().is_empty());
    }

    #[test]
    fn invalid_json_is_an_error() {
        let (mut payment, mut test) = setup();
        let error = test.process_batch(&mut payment, [Record::new("o-1", "[]").with_offset(4)]);
        assert_eq!(error.unwrap_err().offset, Some(4));
    }
}
