//! The events of the example order pipeline, as JSON, defined once for the
//! processors (`examples/processors/*`), the generator and the verifying model
//! (`weir_examples::{generator, verify}`).
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
//! A processor's state is scoped to its input partition, so each stage reads a
//! topic keyed by what it keeps state about; the stages in between re-key:
//!
//! | processor    | reads                  | writes (key)                                          |
//! |--------------|------------------------|-------------------------------------------------------|
//! | router       | [`ORDERS`]             | [`STOCK_REQUESTS`]: [`StockRequest::Reserve`] (SKU); [`ORDERS_BY_CUSTOMER`]: the order (customer id) |
//! | inventory    | [`STOCK_REQUESTS`]     | [`STOCK_DECISIONS`]: [`LineDecision`] (order id)      |
//! | reservation  | [`STOCK_DECISIONS`]    | [`INVENTORY_EVENTS`]: [`InventoryEvent`] (order id); [`STOCK_REQUESTS`]: [`StockRequest::Release`] (SKU) |
//! | payment      | [`INVENTORY_EVENTS`]   | [`PAYMENTS`]: [`PaymentEvent`] (order id), reserved orders only |
//! | notification | [`ORDERS`]             | [`NOTIFICATIONS`]: [`Notification`] (order id)        |
//! | minutes      | [`ORDERS`]             | [`MINUTE_PARTIALS`]: [`MinutePartial`] (minute); [`LATE_ORDERS`]: [`LateOrder`] (order id) |
//! | analytics    | [`MINUTE_PARTIALS`]    | [`ANALYTICS`]: [`MinuteStats`] (the minute's start, ms, in decimal) |
//! | fraud        | [`ORDERS_BY_CUSTOMER`] | [`FRAUD_ALERTS`]: [`FraudAlert`] (order id)           |

use serde::{Deserialize, Serialize};

/// The input topic of the pipeline.
pub const ORDERS: &str = "orders";
/// Stock requests of order lines, keyed by SKU: the inventory's input.
pub const STOCK_REQUESTS: &str = "stock-requests";
/// The inventory's decision on each order line, keyed by order id.
pub const STOCK_DECISIONS: &str = "stock-decisions";
/// The verdict on each order's stock, keyed by order id.
pub const INVENTORY_EVENTS: &str = "inventory-events";
/// The payment processor's output topic.
pub const PAYMENTS: &str = "payments";
/// The notification processor's output topic.
pub const NOTIFICATIONS: &str = "notifications";
/// Each orders partition's totals of a minute, once the minute closed there.
pub const MINUTE_PARTIALS: &str = "minute-partials";
/// Orders that came after their minute had closed.
pub const LATE_ORDERS: &str = "late-orders";
/// One total per minute of event time, when the minute has closed.
pub const ANALYTICS: &str = "analytics";
/// The orders again, keyed by customer id: the fraud processor's input.
pub const ORDERS_BY_CUSTOMER: &str = "orders-by-customer";
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

/// What the join back of an order's lines needs of the order, carried by each of
/// its stock requests and decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRef {
    /// The order.
    pub order_id: String,
    /// Its customer.
    pub customer_id: String,
    /// Its total.
    pub total_cents: u64,
    /// Its currency.
    pub currency: String,
    /// How many stock requests the order made: one per distinct SKU.
    pub lines: u32,
    /// The order's `ts`.
    pub ts: i64,
}

/// A change asked of one SKU's stock (topic [`STOCK_REQUESTS`], key: the SKU).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum StockRequest {
    /// Take `qty` units for one line of `order` (an order's lines of one SKU summed).
    Reserve {
        /// The order the line belongs to.
        order: OrderRef,
        /// The product.
        sku: String,
        /// How many units.
        qty: u32,
    },
    /// Give back `qty` units reserved for an order that could not be reserved whole.
    Release {
        /// The order that gave up its reservation.
        order_id: String,
        /// The product.
        sku: String,
        /// How many units.
        qty: u32,
    },
}

/// The inventory's answer to a [`StockRequest::Reserve`] (topic
/// [`STOCK_DECISIONS`], key: the order id); its `type` is written, not checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "LineDecision")]
pub struct LineDecision {
    /// The order the line belongs to.
    pub order: OrderRef,
    /// The product, the quantity asked and the stock after the reservation, or
    /// the stock there was when short.
    pub line: StockLine,
    /// Whether the units were taken.
    pub reserved: bool,
}

/// The verdict on an order's stock (topic [`INVENTORY_EVENTS`], key: the order id),
/// once every line has its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum InventoryEvent {
    /// Every line was in stock and is now reserved.
    StockReserved {
        /// The order.
        order_id: String,
        /// Who pays.
        customer_id: String,
        /// The order's total.
        total_cents: u64,
        /// The order's currency.
        currency: String,
        /// Each SKU with the quantity reserved and the stock left after it.
        reserved: Vec<StockLine>,
        /// The order's `ts`.
        ts: i64,
    },
    /// Some line was short: the order is not reserved, and the lines that were
    /// reserved are released.
    OutOfStock {
        /// The order.
        order_id: String,
        /// Its customer.
        customer_id: String,
        /// Each short SKU with the quantity asked for and the stock there was.
        missing: Vec<StockLine>,
        /// The lines that had been reserved and are given back.
        released: Vec<StockLine>,
        /// The order's `ts`.
        ts: i64,
    },
}

/// A quantity of one SKU and the stock beside it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StockLine {
    /// The product.
    pub sku: String,
    /// The quantity reserved or asked for.
    pub qty: u32,
    /// The stock after the reservation, or available when short.
    pub stock: u32,
}

/// The payment processor's verdict on a reserved order (topic [`PAYMENTS`]).
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

/// Orders and revenue in one minute of event time (topic [`ANALYTICS`]), emitted
/// once, when the minute has closed on every orders partition; its `type` is
/// written, not checked when decoding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "MinuteStats")]
pub struct MinuteStats {
    /// The minute's start, ms since the Unix epoch.
    pub minute: i64,
    /// Orders placed in it.
    pub orders: u64,
    /// Their total, in cents of any currency (the examples use one).
    pub revenue_cents: u64,
}

/// One orders partition's totals of a minute, emitted when the minute closes
/// there (topic [`MINUTE_PARTIALS`], key: the minute's start, in decimal); its
/// `type` is written, not checked when decoding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "MinutePartial")]
pub struct MinutePartial {
    /// The orders partition.
    pub partition: u32,
    /// The minute's start, ms since the Unix epoch.
    pub minute: i64,
    /// Orders placed in it, on that partition.
    pub orders: u64,
    /// Their total.
    pub revenue_cents: u64,
}

/// An order that came after its minute had closed on its partition (topic
/// [`LATE_ORDERS`], key: the order id): counted in no total; its `type` is
/// written, not checked when decoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "LateOrder")]
pub struct LateOrder {
    /// The order.
    pub order_id: String,
    /// The orders partition.
    pub partition: u32,
    /// The order's `ts`.
    pub ts: i64,
    /// The watermark it missed: its partition's newest `ts` minus the grace period.
    pub watermark: i64,
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
        let event = StockRequest::Release { order_id: "o-1".into(), sku: "sku-001".into(), qty: 2 };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(json, r#"{"type":"Release","order_id":"o-1","sku":"sku-001","qty":2}"#);
    }
}
