//! Reservation: joins the stock decisions of each order back into one verdict.
//!
//! Input `stock-decisions` ([`LineDecision`], keyed by order id, so all of an
//! order's decisions come to one instance). Once an order has a decision for each
//! of its `lines`, it emits to `inventory-events`, keyed by order id,
//! [`InventoryEvent::StockReserved`] when every line was reserved; otherwise
//! [`InventoryEvent::OutOfStock`], and a [`StockRequest::Release`] to
//! `stock-requests` (keyed by SKU) for each line that was reserved, so an order is
//! reserved whole or not at all. State: `pending/{order_id}` holds the decisions
//! of an order still waiting for some, as JSON; a second decision for the same
//! line is ignored.

use weir_order_events::{INVENTORY_EVENTS, InventoryEvent, LineDecision, STOCK_REQUESTS};
use weir_order_events::{StockLine, StockRequest};
use weir_sdk::{Config, Context, Error, Processor, Record};

/// The reservation processor.
#[derive(Debug)]
pub struct Reservation;

impl Processor for Reservation {
    fn init(_config: &Config) -> Result<Self, Error> {
        Ok(Self)
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        let decision: LineDecision = record.value_json()?;
        let key = format!("pending/{}", decision.order.order_id).into_bytes();
        let mut pending: Vec<LineDecision> = ctx.state_get_json(&key)?.unwrap_or_default();
        if pending.iter().any(|d| d.line.sku == decision.line.sku) {
            return Ok(());
        }
        pending.push(decision);
        if pending.len() < pending[0].order.lines as usize {
            return ctx.state_put_json(&key, &pending);
        }
        ctx.state_delete(&key);
        pending.sort_by(|a, b| a.line.sku.cmp(&b.line.sku));
        let order = pending[0].order.clone();
        let (reserved, missing): (Vec<LineDecision>, Vec<LineDecision>) =
            pending.into_iter().partition(|d| d.reserved);
        let lines = |ds: Vec<LineDecision>| ds.into_iter().map(|d| d.line).collect::<Vec<_>>();
        let event = if missing.is_empty() {
            InventoryEvent::StockReserved {
                order_id: order.order_id.clone(),
                customer_id: order.customer_id,
                total_cents: order.total_cents,
                currency: order.currency,
                reserved: lines(reserved),
                ts: order.ts,
            }
        } else {
            let released: Vec<StockLine> = lines(reserved);
            for line in &released {
                let release = StockRequest::Release {
                    order_id: order.order_id.clone(),
                    sku: line.sku.clone(),
                    qty: line.qty,
                };
                ctx.emit_json(STOCK_REQUESTS, &line.sku, &release)?;
            }
            InventoryEvent::OutOfStock {
                order_id: order.order_id.clone(),
                customer_id: order.customer_id,
                missing: lines(missing),
                released,
                ts: order.ts,
            }
        };
        ctx.emit_json(INVENTORY_EVENTS, &order.order_id, &event)
    }
}

weir_sdk::export!(Reservation);

#[cfg(test)]
mod tests {
    use weir_order_events::OrderRef;
    use weir_sdk::testing::TestContext;

    use super::*;

    fn setup() -> (Reservation, TestContext) {
        let test = TestContext::new().with_output(INVENTORY_EVENTS).with_output(STOCK_REQUESTS);
        (Reservation::init(&Config::default()).unwrap(), test)
    }

    fn decision(id: &str, lines: u32, sku: &str, reserved: bool) -> Record {
        let order = OrderRef {
            order_id: id.into(),
            customer_id: "c-0001".into(),
            total_cents: 100,
            currency: "EUR".into(),
            lines,
            ts: 7,
        };
        let line = StockLine { sku: sku.into(), qty: 2, stock: 10 };
        Record::new(id, serde_json::to_vec(&LineDecision { order, line, reserved }).unwrap())
    }

    #[test]
    fn an_order_is_reserved_when_every_line_is() {
        let (mut reservation, mut test) = setup();
        test.process_batch(&mut reservation, [decision("o-1", 2, "sku-2", true)]).unwrap();
        assert!(test.emitted().is_empty(), "waits for the second line");
        // A duplicate of the first line does not complete the order.
        test.process_batch(&mut reservation, [decision("o-1", 2, "sku-2", true)]).unwrap();
        assert!(test.emitted().is_empty());
        test.process_batch(&mut reservation, [decision("o-1", 2, "sku-1", true)]).unwrap();
        let emitted = test.take_emitted();
        assert_eq!(emitted.len(), 1);
        let InventoryEvent::StockReserved { reserved, .. } = emitted[0].value_json() else {
            panic!("reserved: {emitted:?}");
        };
        assert_eq!(reserved.iter().map(|l| l.sku.as_str()).collect::<Vec<_>>(), ["sku-1", "sku-2"]);
        assert!(test.state().is_empty(), "nothing pending");
    }

    #[test]
    fn a_short_line_releases_the_reserved_ones() {
        let (mut reservation, mut test) = setup();
        let batch = [
            decision("o-1", 3, "sku-1", true),
            decision("o-1", 3, "sku-2", false),
            decision("o-1", 3, "sku-3", true),
        ];
        test.process_batch(&mut reservation, batch).unwrap();
        let emitted = test.take_emitted();
        let releases: Vec<(String, StockRequest)> = emitted
            .iter()
            .filter(|e| e.topic == STOCK_REQUESTS)
            .map(|e| (e.key_str(), e.value_json()))
            .collect();
        let release = |sku: &str| {
            (
                sku.to_owned(),
                StockRequest::Release { order_id: "o-1".into(), sku: sku.into(), qty: 2 },
            )
        };
        assert_eq!(releases, [release("sku-1"), release("sku-3")]);
        let verdict = emitted.iter().find(|e| e.topic == INVENTORY_EVENTS).unwrap();
        let InventoryEvent::OutOfStock { missing, released, .. } = verdict.value_json() else {
            panic!("out of stock: {verdict:?}");
        };
        assert_eq!(missing.len(), 1);
        assert_eq!(released.len(), 2);
    }
}
