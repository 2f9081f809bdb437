//! Payment: authorizes or declines each reserved order, by a deterministic rule.
//!
//! Input `inventory-events` ([`InventoryEvent`], keyed by order id): only
//! [`InventoryEvent::StockReserved`] orders are charged; an order out of stock
//! emits nothing. Output `payments`, keyed by order id:
//! [`PaymentEvent::PaymentDeclined`] when the total is above the config's
//! `max_amount_cents` (default 100000), else [`PaymentEvent::PaymentAuthorized`].
//! No state.

use weir_order_events::{InventoryEvent, PAYMENTS, PaymentEvent};
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
        let InventoryEvent::StockReserved {
            order_id, customer_id, total_cents, currency, ts, ..
        } = record.value_json()?
        else {
            return Ok(());
        };
        let event = if total_cents > self.max_amount_cents {
            PaymentEvent::PaymentDeclined {
                order_id: order_id.clone(),
                customer_id,
                amount_cents: total_cents,
                currency,
                reason: format!("amount above {} cents", self.max_amount_cents),
                ts,
            }
        } else {
            PaymentEvent::PaymentAuthorized {
                order_id: order_id.clone(),
                customer_id,
                amount_cents: total_cents,
                currency,
                ts,
            }
        };
        ctx.emit_json(PAYMENTS, &order_id, &event)
    }
}

weir_sdk::export!(Payment);

#[cfg(test)]
mod tests {
    use weir_order_events::StockLine;
    use weir_sdk::testing::TestContext;

    use super::*;

    fn setup() -> (Payment, TestContext) {
        let config = [("max_amount_cents", "5000")].into_iter().collect();
        (Payment::init(&config).unwrap(), TestContext::new().with_output(PAYMENTS))
    }

    fn reserved(id: &str, total_cents: u64) -> Record {
        let event = InventoryEvent::StockReserved {
            order_id: id.into(),
            customer_id: "c-0001".into(),
            total_cents,
            currency: "EUR".into(),
            reserved: vec![StockLine { sku: "sku-1".into(), qty: 1, stock: 9 }],
            ts: 7,
        };
        Record::new(id, serde_json::to_vec(&event).unwrap())
    }

    #[test]
    fn authorizes_small_orders_and_declines_large_ones() {
        let (mut payment, mut test) = setup();
        test.process_batch(&mut payment, [reserved("o-1", 5000), reserved("o-2", 5001)]).unwrap();
        let events: Vec<PaymentEvent> = test.emitted().iter().map(|e| e.value_json()).collect();
        assert!(matches!(&events[0], PaymentEvent::PaymentAuthorized { amount_cents: 5000, .. }));
        let PaymentEvent::PaymentDeclined { reason, .. } = &events[1] else {
            panic!("declined: {events:?}");
        };
        assert_eq!(reason, "amount above 5000 cents");
    }

    #[test]
    fn orders_out_of_stock_are_not_charged() {
        let (mut payment, mut test) = setup();
        let event = InventoryEvent::OutOfStock {
            order_id: "o-1".into(),
            customer_id: "c-0001".into(),
            missing: vec![],
            released: vec![],
            ts: 7,
        };
        let record = Record::new("o-1", serde_json::to_vec(&event).unwrap());
        test.process_batch(&mut payment, [record]).unwrap();
        assert!(test.emitted().is_empty());
    }

    #[test]
    fn invalid_json_is_an_error() {
        let (mut payment, mut test) = setup();
        let error = test.process_batch(&mut payment, [Record::new("o-1", "[]").with_offset(4)]);
        assert_eq!(error.unwrap_err().offset, Some(4));
    }
}
