//! Inventory: keeps each SKU's stock and decides each stock request.
//!
//! Input `stock-requests` ([`StockRequest`], keyed by SKU, so all of one SKU's
//! requests come to one instance, in order). Output `stock-decisions`, keyed by
//! order id: a [`LineDecision`] for each [`StockRequest::Reserve`] (reserved: the
//! units are taken; short: nothing changed). A [`StockRequest::Release`] gives the
//! units back and emits nothing. State: `stock/{sku}` holds the SKU's stock as a
//! JSON number, starting at the config's `initial_stock` (default 100) the first
//! time the SKU is asked for.

use weir_order_events::{LineDecision, STOCK_DECISIONS, StockLine, StockRequest};
use weir_sdk::{Config, Context, Error, Processor, Record};

/// The inventory processor.
#[derive(Debug)]
pub struct Inventory {
    /// The stock of a SKU never seen before.
    initial_stock: u32,
}

impl Processor for Inventory {
    fn init(config: &Config) -> Result<Self, Error> {
        Ok(Self { initial_stock: config.parse_or("initial_stock", 100)? })
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        match record.value_json()? {
            StockRequest::Reserve { order, sku, qty } => {
                let key = stock_key(&sku);
                let stock = ctx.state_get_json(&key)?.unwrap_or(self.initial_stock);
                let (reserved, stock) = match stock.checked_sub(qty) {
                    Some(left) => {
                        ctx.state_put_json(&key, &left)?;
                        (true, left)
                    }
                    None => (false, stock),
                };
                let order_id = order.order_id.clone();
                let decision =
                    LineDecision { order, line: StockLine { sku, qty, stock }, reserved };
                ctx.emit_json(STOCK_DECISIONS, &order_id, &decision)
            }
            StockRequest::Release { order_id, sku, qty } => {
                let key = stock_key(&sku);
                let stock: u32 = ctx.state_get_json(&key)?.unwrap_or(self.initial_stock);
                let back = stock.checked_add(qty).ok_or_else(|| {
                    Error::msg(format!("order {order_id} releases {qty} of {sku}: stock overflows"))
                })?;
                ctx.state_put_json(&key, &back)
            }
        }
    }
}

/// The state key of a SKU's stock.
fn stock_key(sku: &str) -> Vec<u8> {
    format!("stock/{sku}").into_bytes()
}

weir_sdk::export!(Inventory);

#[cfg(test)]
mod tests {
    use weir_order_events::OrderRef;
    use weir_sdk::testing::TestContext;

    use super::*;

    fn setup(initial_stock: &str) -> (Inventory, TestContext) {
        let config = [("initial_stock", initial_stock)].into_iter().collect();
        (Inventory::init(&config).unwrap(), TestContext::new().with_output(STOCK_DECISIONS))
    }

    fn order(id: &str) -> OrderRef {
        OrderRef {
            order_id: id.into(),
            customer_id: "c-0001".into(),
            total_cents: 100,
            currency: "EUR".into(),
            lines: 1,
            ts: 1_000,
        }
    }

    fn reserve(id: &str, sku: &str, qty: u32) -> Record {
        let request = StockRequest::Reserve { order: order(id), sku: sku.into(), qty };
        Record::new(sku, serde_json::to_vec(&request).unwrap())
    }

    fn release(id: &str, sku: &str, qty: u32) -> Record {
        let request = StockRequest::Release { order_id: id.into(), sku: sku.into(), qty };
        Record::new(sku, serde_json::to_vec(&request).unwrap())
    }

    #[test]
    fn reserves_runs_short_and_takes_releases_back() {
        let (mut inventory, mut test) = setup("5");
        let batch = [
            reserve("o-1", "sku-1", 3),
            reserve("o-2", "sku-1", 3),
            release("o-1", "sku-1", 3),
            reserve("o-3", "sku-1", 4),
        ];
        test.process_batch(&mut inventory, batch).unwrap();

        let decisions: Vec<(String, bool, u32)> = test
            .take_emitted()
            .iter()
            .map(|e| {
                let d: LineDecision = e.value_json();
                assert_eq!(e.key_str(), d.order.order_id);
                (d.order.order_id, d.reserved, d.line.stock)
            })
            .collect();
        let expected = [("o-1".into(), true, 2), ("o-2".into(), false, 2), ("o-3".into(), true, 1)];
        assert_eq!(decisions, expected);
        assert_eq!(test.state_get(b"stock/sku-1"), Some(&b"1"[..]));
    }

    #[test]
    fn invalid_json_is_an_error_for_that_record() {
        let (mut inventory, mut test) = setup("5");
        let good = reserve("o-1", "sku-1", 1);
        let bad = Record::new("sku-1", "{not json").with_offset(1);
        let error = test.process_batch(&mut inventory, [good, bad]).unwrap_err();
        assert_eq!(error.offset, Some(1));
        assert!(test.emitted().is_empty() && test.state().is_empty(), "the batch is discarded");
    }

    #[test]
    fn bad_config_fails_init() {
        let config = [("initial_stock", "lots")].into_iter().collect();
        assert!(Inventory::init(&config).unwrap_err().message().contains("initial_stock"));
    }
}
