//! Inventory: reserves the items of each order if every one is in stock.
//!
//! Input `orders` ([`OrderPlaced`]); output `inventory-events`, keyed by order id:
//! [`InventoryEvent::StockReserved`] (stock decremented) or
//! [`InventoryEvent::OutOfStock`] (nothing changed). State: `stock/{sku}` holds the
//! SKU's stock as a JSON number, starting at the config's `initial_stock` (default
//! 100) the first time the SKU is ordered.

use std::collections::BTreeMap;

use weir_order_events::{INVENTORY_EVENTS, InventoryEvent, OrderPlaced, StockLine};
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
        let order: OrderPlaced = record.value_json()?;
        // An order may name a SKU twice: reserve the sum.
        let mut wanted: BTreeMap<&str, u32> = BTreeMap::new();
        for item in &order.items {
            *wanted.entry(&item.sku).or_default() += item.qty;
        }
        let mut reserved = Vec::with_capacity(wanted.len());
        let mut missing = Vec::new();
        for (sku, qty) in wanted {
            let stock = ctx.state_get_json(&stock_key(sku))?.unwrap_or(self.initial_stock);
            match stock.checked_sub(qty) {
                Some(left) => reserved.push(StockLine { sku: sku.to_owned(), qty, stock: left }),
                None => missing.push(StockLine { sku: sku.to_owned(), qty, stock }),
            }
        }
        let event = if missing.is_empty() {
            for line in &reserved {
                ctx.state_put_json(&stock_key(&line.sku), &line.stock)?;
            }
            InventoryEvent::StockReserved {
                order_id: order.order_id.clone(),
                reserved,
                ts: order.ts,
            }
        } else {
            InventoryEvent::OutOfStock { order_id: order.order_id.clone(), missing, ts: order.ts }
        };
        ctx.emit_json(INVENTORY_EVENTS, &order.order_id, &event)
    }
}

/// The state key of a SKU's stock.
fn stock_key(sku: &str) -> Vec<u8> {
    format!("stock/{sku}").into_bytes()
}

weir_sdk::export!(Inventory);

#[cfg(test)]
mod tests {
    use weir_order_events::Item;
    use weir_sdk::testing::TestContext;

    use super::*;

    fn setup(initial_stock: &str) -> (Inventory, TestContext) {
        let config = [("initial_stock", initial_stock)].into_iter().collect();
        (Inventory::init(&config).unwrap(), TestContext::new().with_output(INVENTORY_EVENTS))
    }

    fn order(id: &str, items: Vec<Item>) -> Record {
        Record::new(id, OrderPlaced::new(id, "c-0001", items, 1_000).to_json())
    }

    #[test]
    fn reserves_then_runs_out() {
        let (mut inventory, mut test) = setup("5");
        let first = order("o-1", vec![Item::new("sku-1", 2, 100), Item::new("sku-1", 1, 100)]);
        let second = order("o-2", vec![Item::new("sku-1", 3, 100), Item::new("sku-2", 1, 50)]);
        test.process_batch(&mut inventory, [first, second]).unwrap();

        let events = test.take_emitted();
        assert_eq!(events[0].key_str(), "o-1");
        let reserved = vec![StockLine { sku: "sku-1".into(), qty: 3, stock: 2 }];
        let expected =
            InventoryEvent::StockReserved { order_id: "o-1".into(), reserved, ts: 1_000 };
        assert_eq!(events[0].value_json::<InventoryEvent>(), expected);
        let missing = vec![StockLine { sku: "sku-1".into(), qty: 3, stock: 2 }];
        let expected = InventoryEvent::OutOfStock { order_id: "o-2".into(), missing, ts: 1_000 };
        assert_eq!(events[1].value_json::<InventoryEvent>(), expected);
        // Out of stock reserves nothing, not even the SKU that was there.
        assert_eq!(test.state_get(b"stock/sku-1"), Some(&b"2"[..]));
        assert_eq!(test.state_get(b"stock/sku-2"), None);
    }

    #[test]
    fn invalid_json_is_an_error_for_that_record() {
        let (mut inventory, mut test) = setup("5");
        let good = order("o-1", vec![Item::new("sku-1", 1, 100)]);
        let bad = Record::new("o-2", "{not json").with_offset(1);
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
