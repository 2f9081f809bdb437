//! Analytics: orders and revenue per minute of event time.
//!
//! Input `orders` ([`OrderPlaced`]); output `analytics`: for every order, the
//! updated [`MinuteStats`] of the order's minute, keyed by the minute's start (ms,
//! decimal), so a compacted topic keeps the latest per minute. State:
//! `minute/{start:020}` holds the minute's stats as JSON.

use weir_order_events::{ANALYTICS, MinuteStats, OrderPlaced};
use weir_sdk::{Config, Context, Error, Processor, Record};

/// The analytics processor.
#[derive(Debug)]
pub struct Analytics;

/// One minute in ms.
const MINUTE_MS: i64 = 60_000;

impl Processor for Analytics {
    fn init(_config: &Config) -> Result<Self, Error> {
        Ok(Self)
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        let order: OrderPlaced = record.value_json()?;
        let minute = order.ts - order.ts.rem_euclid(MINUTE_MS);
        let key = format!("minute/{minute:020}").into_bytes();
        let mut stats =
            ctx.state_get_json(&key)?.unwrap_or(MinuteStats { minute, ..Default::default() });
        stats.orders += 1;
        stats.revenue_cents = stats.revenue_cents.saturating_add(order.total_cents);
        ctx.state_put_json(&key, &stats)?;
        ctx.emit_json(ANALYTICS, minute.to_string(), &stats)
    }
}

weir_sdk::export!(Analytics);

#[cfg(test)]
mod tests {
    use weir_order_events::Item;
    use weir_sdk::testing::TestContext;

    use super::*;

    fn order(id: &str, cents: u64, ts: i64) -> Record {
        Record::new(
            id,
            OrderPlaced::new(id, "c-0001", vec![Item::new("sku-1", 1, cents)], ts).to_json(),
        )
    }

    #[test]
    fn counts_per_minute_of_event_time() {
        let mut analytics = Analytics::init(&Default::default()).unwrap();
        let mut test = TestContext::new().with_output(ANALYTICS);
        let batch =
            [order("o-1", 100, 120_000), order("o-2", 250, 179_999), order("o-3", 7, 180_000)];
        test.process_batch(&mut analytics, batch).unwrap();

        let stats: Vec<(String, MinuteStats)> =
            test.emitted().iter().map(|e| (e.key_str(), e.value_json())).collect();
        let at = |minute, orders, revenue_cents| MinuteStats { minute, orders, revenue_cents };
        assert_eq!(
            stats,
            [
                ("120000".to_owned(), at(120_000, 1, 100)),
                ("120000".to_owned(), at(120_000, 2, 350)),
                ("180000".to_owned(), at(180_000, 1, 7)),
            ]
        );
        assert_eq!(test.state().len(), 2);
    }

    #[test]
    fn invalid_json_is_an_error() {
        let mut analytics = Analytics::init(&Default::default()).unwrap();
        let mut test = TestContext::new().with_output(ANALYTICS);
        let bad = Record::new("o-1", r#"{"type":"OrderPlaced"}"#).with_offset(11);
        assert_eq!(test.process_batch(&mut analytics, [bad]).unwrap_err().offset, Some(11));
    }
}
