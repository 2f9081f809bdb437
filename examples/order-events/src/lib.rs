//! The events of the example order pipeline, as JSON, defined once for the
//! processors (`examples/processors/*`) and the generator (`weir_examples::generator`).
//!
//! Every event is a JSON object whose `type` field names it. The input topic
//! [`ORDERS`] carries [`OrderPlaced`] keyed by order id:
//!
//! ```json
//! {"type":"OrderPlaced","order_id":"o-000123","customer_id":"c-0042",
//!  "items":[{"sku":"sku-007","qty":2,"price_cents":1999}],
//!  "total_cents":3998,"currency":"EUR","ts":1764370000000}
//! ```
//!
//! | processor    | output topic         | events (key)                                  |
//! |--------------|----------------------|-----------------------------------------------|
//! | inventory    | [`INVENTORY_EVENTS`] | [`InventoryEvent`]: `StockReserved`, `OutOfStock` (order id) |
//! | payment      | [`PAYMENTS`]         | [`PaymentEvent`]: `PaymentAuthorized`, `PaymentDeclined` (order id) |
//! | notification | [`NOTIFICATIONS`]    | [`Notification`]: `OrderConfirmation` (order id) |
//! | analytics    | [`ANALYTICS`]        | [`MinuteStats`] (the minute's start, ms, in decimal) |
//! | fraud        | [`FRAUD_ALERTS`]     | [`FraudAlert`] (order id)                     |

use serde::{Deserialize, Serialize};

/// The input topic of the pipeline.
pub const ORDERS: &str = "orders";
/// The inventory processor's output topic.
pub const INVENTORY_EVENTS: &str = "inventory-events";
/// The payment processor's output topic.
pub const PAYMENTS: &str = "payments";
/// The notification processor's output topic.
pub const NOTIFICATIONS: &str = "notifications";
/// The analytics processor's output topic.
pub const ANALYTICS: &str = "analytics";
/// The fraud processor's output topic.
pub const FRAUD_ALERTS: &str = "fraud-alerts";

/// A customer placed an order (topic [`ORDERS`], key: `order_id`); made with
/// [`OrderPlaced::new`] or decoded, which checks the `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    /// Always `"OrderPlaced"`: another event type in `orders` is an error, not an
    /// order (a `#[serde(tag)]` on a struct would write it but not check it).
    #[serde(rename = "type")]
    kind: OrderPlacedType,
    /// `o-` and six or more digits.
    pub order_id: String,
    /// `c-` and four or more digits.
    pub customer_id: String,
    /// What was ordered, at least one line.
    pub items: Vec<Item>,
    /// The sum of `qty * price_cents` over the items.
    pub total_cents: u64,
    /// ISO 4217 code.
    pub currency: String,
    /// When the order was placed, ms since the Unix epoch.
    pub ts: i64,
}

/// The one value of [`OrderPlaced`]'s `type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
enum OrderPlacedType {
    #[default]
    OrderPlaced,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The product, `sku-` and three or more digits.
    pub sku: String,
    /// How many, at least 1.
    pub qty: u32,
    /// The unit price.
    pub price_cents: u64,
}

impl OrderPlaced {
    /// An order in EUR whose total is the sum of its items.
    pub fn new(order_id: &str, customer_id: &str, items: Vec<Item>, ts: i64) -> Self {
        let total_cents = items.iter().map(Item::line_cents).sum();
        Self {
            kind: OrderPlacedType::OrderPlaced,
            order_id: order_id.to_owned(),
            customer_id: customer_id.to_owned(),
            items,
            total_cents,
            currency: "EUR".to_owned(),
            ts,
        }
    }

    /// Decodes an event from a record value.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Encodes the event for a record value.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an OrderPlaced always encodes")
    }
}

impl Item {
    /// An order line.
    pub fn new(sku: &str, qty: u32, price_cents: u64) -> Self {
        Self { sku: sku.to_owned(), qty, price_cents }
    }

    /// `qty * price_cents`.
    pub fn line_cents(&self) -> u64 {
        u64::from(self.qty) * self.price_cents
    }
}

/// The inventory processor's verdict on an order (topic [`INVENTORY_EVENTS`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum InventoryEvent {
    /// Every item was in stock and is now reserved.
    StockReserved {
        /// The order.
        order_id: String,
        /// Each SKU with the quantity reserved and the stock left.
        reserved: Vec<StockLine>,
        /// The order's `ts`.
        ts: i64,
    },
    /// Some item was short; nothing was reserved.
    OutOfStock {
        /// The order.
        order_id: String,
        /// Each short SKU with the quantity asked for and the stock there is.
        missing: Vec<StockLine>,
        /// The order's `ts`.
        ts: i64,
    },
}

/// A quantity of one SKU and the stock beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLine {
    /// The product.
    pub sku: String,
    /// The quantity reserved or asked for.
    pub qty: u32,
    /// The stock after the reservation, or available when short.
    pub stock: u32,
}

/// The payment processor's verdict on an order (topic [`PAYMENTS`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PaymentEvent {
    /// The order's total was authorized.
    PaymentAuthorized {
        /// The order.
        order_id: String,
        /// Who pays.
        customer_id: String,
        /// The order's total.
        amount_cents: u64,
        /// The order's currency.
        currency: String,
        /// What the customer has had authorized so far, this order included.
        customer_total_cents: u64,
        /// The order's `ts`.
        ts: i64,
    },
    /// The order's total was declined.
    PaymentDeclined {
        /// The order.
        order_id: String,
        /// Who would have paid.
        customer_id: String,
        /// The order's total.
        amount_cents: u64,
        /// The order's currency.
        currency: String,
        /// Why, for people.
        reason: String,
        /// The order's `ts`.
        ts: i64,
    },
}

/// A message to a customer (topic [`NOTIFICATIONS`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Notification {
    /// "We got your order."
    OrderConfirmation {
        /// The e-mail address.
        to: String,
        /// The order.
        order_id: String,
        /// The e-mail's subject.
        subject: String,
        /// The e-mail's text.
        body: String,
        /// The order's `ts`.
        ts: i64,
    },
}

/// Orders and revenue in one minute of event time (topic [`ANALYTICS`]); its
/// `type` is written, not checked when decoding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "MinuteStats")]
pub struct MinuteStats {
    /// The minute's start, ms since the Unix epoch.
    pub minute: i64,
    /// Orders placed in it so far.
    pub orders: u64,
    /// Their total, in cents of any currency (the examples use one).
    pub revenue_cents: u64,
}

/// A suspicious order (topic [`FRAUD_ALERTS`]); its `type` is written, not checked
/// when decoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "FraudAlert")]
pub struct FraudAlert {
    /// The order.
    pub order_id: String,
    /// Its customer.
    pub customer_id: String,
    /// The rules it broke: `velocity`, `amount`.
    pub rules: Vec<String>,
    /// The customer's orders in the window, this one included.
    pub orders_in_window: u32,
    /// The order's total.
    pub total_cents: u64,
    /// The order's `ts`.
    pub ts: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"type":"OrderPlaced","order_id":"o-000123","customer_id":"c-0042","items":[{"sku":"sku-007","qty":2,"price_cents":1999}],"total_cents":3998,"currency":"EUR","ts":1764370000000}"#;

    #[test]
    fn order_placed_round_trips_the_documented_json() {
        let order = OrderPlaced::from_json(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(order.items[0].qty, 2);
        assert_eq!(String::from_utf8(order.to_json()).unwrap(), EXAMPLE);
    }

    #[test]
    fn the_type_field_is_checked() {
        let other = EXAMPLE.replace("OrderPlaced", "OrderShipped");
        assert!(OrderPlaced::from_json(other.as_bytes()).is_err());
        let untyped = EXAMPLE.replace(r#""type":"OrderPlaced","#, "");
        assert!(OrderPlaced::from_json(untyped.as_bytes()).is_err());
    }

    #[test]
    fn enums_are_tagged_by_type() {
        let event = InventoryEvent::OutOfStock { order_id: "o-1".into(), missing: vec![], ts: 5 };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(json, r#"{"type":"OutOfStock","order_id":"o-1","missing":[],"ts":5}"#);
    }
}
