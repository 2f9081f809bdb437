//! Minutes: the orders and revenue of each minute of event time, per orders
//! partition, emitted once the minute has closed there.
//!
//! Input `orders` ([`OrderPlaced`]); event time is the order's `ts`. A minute
//! closes on a partition once the partition's newest `ts`, less the config's
//! `grace_ms` (default 5000), reaches the minute's end. Outputs: `minute-partials`,
//! keyed by the minute's start: a [`MinutePartial`] for each minute that closed
//! with orders in it, oldest first; `late-orders`, keyed by order id: a
//! [`LateOrder`] for an order whose minute had already closed (counted nowhere
//! else). The `analytics` processor adds the partitions' partials up. State: the
//! SDK's tumbling windows (`weir_sdk::window`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weir_order_events::{LATE_ORDERS, LateOrder, MINUTE_PARTIALS, MinutePartial, OrderPlaced};
use weir_sdk::window::{Added, Combine, Windows};
use weir_sdk::{Config, Context, Error, Processor, Record};

/// The minutes processor.
#[derive(Debug)]
pub struct Minutes {
    /// One window per minute of event time.
    windows: Windows,
}

/// What a minute adds up.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Totals {
    orders: u64,
    revenue_cents: u64,
}

impl Combine for Totals {
    fn combine(self, later: Self) -> Self {
        Self {
            orders: self.orders.saturating_add(later.orders),
            revenue_cents: self.revenue_cents.saturating_add(later.revenue_cents),
        }
    }
}

/// One minute in ms.
const MINUTE: Duration = Duration::from_secs(60);

impl Processor for Minutes {
    fn init(config: &Config) -> Result<Self, Error> {
        let grace = Duration::from_millis(config.parse_or("grace_ms", 5_000)?);
        Ok(Self { windows: Windows::tumbling("minutes", MINUTE)?.grace(grace) })
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        let order: OrderPlaced = record.value_json()?;
        let totals = Totals { orders: 1, revenue_cents: order.total_cents };
        match self.windows.add(ctx, b"orders", order.ts, totals)? {
            Added::InTime(closed) => {
                for minute in closed {
                    let partial = MinutePartial {
                        partition: record.partition,
                        minute: minute.start,
                        orders: minute.value.orders,
                        revenue_cents: minute.value.revenue_cents,
                    };
                    ctx.emit_json(MINUTE_PARTIALS, minute.start.to_string(), &partial)?;
                }
                Ok(())
            }
            Added::Late(late) => {
                let late = LateOrder {
                    order_id: order.order_id.clone(),
                    partition: record.partition,
                    ts: order.ts,
                    watermark: late.watermark,
                };
                ctx.emit_json(LATE_ORDERS, &order.order_id, &late)
            }
        }
    }
}

weir_sdk::export!(Minutes);

#[cfg(test)]
mod tests {
    use weir_order_events::Item;
    use weir_sdk::testing::TestContext;

    use super::*;

    fn order(id: &str, cents: u64, ts: i64) -> Record {
        let order = OrderPlaced::new(id, "c-0001", vec![Item::new("sku-1", 1, cents)], ts);
        Record::new(id, order.to_json()).with_partition(2)
    }

    #[test]
    fn a_minute_is_emitted_once_it_closes_and_late_orders_go_aside() {
        let config = [("grace_ms", "1000")].into_iter().collect();
        let mut minutes = Minutes::init(&config).unwrap();
        let mut test = TestContext::new().with_output(MINUTE_PARTIALS).with_output(LATE_ORDERS);
        let batch = [
            order("o-1", 100, 120_000),
            order("o-2", 250, 179_999),
            // The minute [120 s, 180 s) closes once the watermark reaches 180 s.
            order("o-3", 7, 180_999),
            order("o-4", 1, 181_000),
            order("o-5", 3, 179_000),
        ];
        test.process_batch(&mut minutes, batch).unwrap();
        let emitted = test.take_emitted();
        assert_eq!(emitted.len(), 2, "{emitted:?}");
        assert_eq!(emitted[0].key_str(), "120000");
        let partial: MinutePartial = emitted[0].value_json();
        let want = MinutePartial { partition: 2, minute: 120_000, orders: 2, revenue_cents: 350 };
        assert_eq!(partial, want);
        let late: LateOrder = emitted[1].value_json();
        assert_eq!((late.order_id.as_str(), late.watermark), ("o-5", 180_000));
    }
}
