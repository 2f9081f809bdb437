//! Router: re-keys each order for the stages that keep state about something
//! other than the order.
//!
//! Input `orders` ([`OrderPlaced`], keyed by order id). Outputs:
//! - `stock-requests`, keyed by SKU: one [`StockRequest::Reserve`] per distinct SKU
//!   of the order (its lines of that SKU summed), each carrying what the join back
//!   needs ([`OrderRef`], with the number of requests the order made);
//! - `orders-by-customer`, keyed by customer id: the order itself, unchanged.
//!
//! The host places each keyed output on the partition Kafka's partitioner would,
//! so every request of one SKU reaches the inventory instance that owns its stock,
//! and every order of one customer reaches one fraud instance. No state.

use std::collections::BTreeMap;

use weir_order_events::{ORDERS_BY_CUSTOMER, OrderPlaced, OrderRef, STOCK_REQUESTS, StockRequest};
use weir_sdk::{Config, Context, Error, Processor, Record};

/// The router.
#[derive(Debug)]
pub struct Router;

impl Processor for Router {
    fn init(_config: &Config) -> Result<Self, Error> {
        Ok(Self)
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        let order: OrderPlaced = record.value_json()?;
        if order.items.is_empty() {
            return Err(Error::msg(format!("order {} has no items", order.order_id)));
        }
        let mut wanted: BTreeMap<&str, u32> = BTreeMap::new();
        for item in &order.items {
            let qty = wanted.entry(&item.sku).or_default();
            *qty = qty.checked_add(item.qty).ok_or_else(|| {
                Error::msg(format!("order {}: too many units of {}", order.order_id, item.sku))
            })?;
        }
        let reference = OrderRef {
            order_id: order.order_id.clone(),
            customer_id: order.customer_id.clone(),
            total_cents: order.total_cents,
            currency: order.currency.clone(),
            lines: wanted.len() as u32,
            ts: order.ts,
        };
        for (sku, qty) in wanted {
            let request =
                StockRequest::Reserve { order: reference.clone(), sku: sku.to_owned(), qty };
            ctx.emit_json(STOCK_REQUESTS, sku, &request)?;
        }
        let value = record.value.as_deref().unwrap_or_default();
        ctx.emit(ORDERS_BY_CUSTOMER, &order.customer_id, value)?;
        Ok(())
    }
}

weir_sdk::export!(Router);

#[cfg(test)]
mod tests {
    use weir_order_events::Item;
    use weir_sdk::testing::TestContext;

    use super::*;

    #[test]
    fn one_request_per_sku_and_the_order_by_customer() {
        let mut router = Router::init(&Config::default()).unwrap();
        let mut test =
            TestContext::new().with_output(STOCK_REQUESTS).with_output(ORDERS_BY_CUSTOMER);
        let items =
            vec![Item::new("sku-2", 2, 100), Item::new("sku-1", 1, 50), Item::new("sku-2", 1, 100)];
        let order = OrderPlaced::new("o-1", "c-0007", items, 1_000);
        test.process_batch(&mut router, [Record::new("o-1", order.to_json())]).unwrap();

        let emitted = test.take_emitted();
        let requests: Vec<(String, StockRequest)> = emitted
            .iter()
            .filter(|e| e.topic == STOCK_REQUESTS)
            .map(|e| (e.key_str(), e.value_json()))
            .collect();
        let reference = |lines| OrderRef {
            order_id: "o-1".into(),
            customer_id: "c-0007".into(),
            total_cents: 350,
            currency: "EUR".into(),
            lines,
            ts: 1_000,
        };
        let reserve =
            |sku: &str, qty| StockRequest::Reserve { order: reference(2), sku: sku.into(), qty };
        assert_eq!(
            requests,
            [("sku-1".to_owned(), reserve("sku-1", 1)), ("sku-2".to_owned(), reserve("sku-2", 3))]
        );
        let by_customer: Vec<&_> =
            emitted.iter().filter(|e| e.topic == ORDERS_BY_CUSTOMER).collect();
        assert_eq!(by_customer.len(), 1);
        assert_eq!(by_customer[0].key_str(), "c-0007");
        assert_eq!(by_customer[0].value.as_deref(), Some(&order.to_json()[..]));
    }

    #[test]
    fn an_order_without_items_is_an_error_for_that_record() {
        let mut router = Router::init(&Config::default()).unwrap();
        let mut test =
            TestContext::new().with_output(STOCK_REQUESTS).with_output(ORDERS_BY_CUSTOMER);
        let empty = OrderPlaced::new("o-1", "c-0001", vec![], 1);
        let result =
            test.process_batch(&mut router, [Record::new("o-1", empty.to_json()).with_offset(3)]);
        assert_eq!(result.unwrap_err().offset, Some(3));
        assert!(test.emitted().is_empty());
    }
}
