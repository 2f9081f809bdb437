//! Notification: an order confirmation e-mail per order.
//!
//! Input `orders` ([`OrderPlaced`]); output `notifications`, keyed by order id:
//! [`Notification::OrderConfirmation`] to `{customer_id}@{domain}`, where `domain`
//! comes from the config (default `example.com`). No state.

use weir_order_events::{NOTIFICATIONS, Notification, OrderPlaced};
use weir_sdk::{Config, Context, Error, Processor, Record};

/// The notification processor.
#[derive(Debug)]
pub struct Notifier {
    /// The e-mail domain of every customer.
    domain: String,
}

impl Processor for Notifier {
    fn init(config: &Config) -> Result<Self, Error> {
        Ok(Self { domain: config.get("domain").unwrap_or("example.com").to_owned() })
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        let order: OrderPlaced = record.value_json()?;
        let count: u32 = order.items.iter().map(|item| item.qty).sum();
        let total = format!(
            "{}.{:02} {}",
            order.total_cents / 100,
            order.total_cents % 100,
            order.currency
        );
        let event = Notification::OrderConfirmation {
            to: format!("{}@{}", order.customer_id, self.domain),
            subject: format!("Your order {}", order.order_id),
            body: format!(
                "Thank you! We received your order {} of {count} item(s), total {total}.",
                order.order_id
            ),
            order_id: order.order_id.clone(),
            ts: order.ts,
        };
        ctx.emit_json(NOTIFICATIONS, &order.order_id, &event)
    }
}

weir_sdk::export!(Notifier);

#[cfg(test)]
mod tests {
    use weir_order_events::Item;
    use weir_sdk::testing::TestContext;

    use super::*;

    #[test]
    fn confirms_each_order_by_mail() {
        let mut notifier =
            Notifier::init(&[("domain", "shop.test")].into_iter().collect()).unwrap();
        let mut test = TestContext::new().with_output(NOTIFICATIONS);
        let order = OrderPlaced::new("o-000123", "c-0042", vec![Item::new("sku-007", 2, 1999)], 9);
        test.process_batch(&mut notifier, [Record::new("o-000123", order.to_json())]).unwrap();

        let emitted = &test.emitted()[0];
        assert_eq!(emitted.key_str(), "o-000123");
        let Notification::OrderConfirmation { to, subject, body, .. } = emitted.value_json();
        assert_eq!(to, "c-0042@shop.test");
        assert_eq!(subject, "Your order o-000123");
        assert!(body.ends_with("of 2 item(s), total 39.98 EUR."), "{body}");
    }

    #[test]
    fn invalid_json_is_an_error() {
        let mut notifier = Notifier::init(&Default::default()).unwrap();
        let mut test = TestContext::new().with_output(NOTIFICATIONS);
        let error = test.process_batch(&mut notifier, [Record::new("o-1", "").with_offset(2)]);
        assert_eq!(error.unwrap_err().offset, Some(2));
    }
}
