//! Analytics: one total of orders and revenue per minute of event time, emitted
//! once, when the minute has closed on every orders partition.
//!
//! Input `minute-partials` ([`MinutePartial`]; one partition, so every partial
//! comes to one instance, each orders partition's in the order they closed).
//! Config: `partitions`, the orders topic's partition count (required). A
//! partition's partial for a minute also says that every earlier minute has
//! closed there; once every partition has closed a minute, its total is final.
//! Output `analytics`, keyed by the minute's start (ms, decimal): a
//! [`MinuteStats`] per minute with orders, oldest first. A partial for a minute
//! already emitted is an error (it goes to the dead-letter topic): it would
//! change a total that was final. State: `sum/{minute:020}` each open minute's
//! sum so far, `through/{partition}` the end of the newest minute closed there,
//! `emitted` the end of the newest minute emitted.

use weir_order_events::{ANALYTICS, MinutePartial, MinuteStats};
use weir_sdk::{Config, Context, Error, Processor, Record};

/// The analytics processor.
#[derive(Debug)]
pub struct Analytics {
    /// The orders topic's partition count: how many partials a minute waits for.
    partitions: u32,
}

/// One minute in ms.
const MINUTE_MS: i64 = 60_000;

impl Processor for Analytics {
    fn init(config: &Config) -> Result<Self, Error> {
        let partitions = config.require("partitions")?.parse().ok().filter(|&p: &u32| p > 0);
        let partitions = partitions.ok_or_else(|| {
            Error::msg(
                "config: `partitions` must be the orders topic's partition count (1 or more)",
            )
        })?;
        Ok(Self { partitions })
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        let partial: MinutePartial = record.value_json()?;
        if partial.partition >= self.partitions {
            return Err(Error::msg(format!(
                "a partial of partition {} but the orders topic has {} (config `partitions`)",
                partial.partition, self.partitions
            )));
        }
        let emitted: i64 = ctx.state_get_json(b"emitted")?.unwrap_or(i64::MIN);
        if partial.minute < emitted {
            return Err(Error::msg(format!(
                "partition {}'s partial for minute {} came after that minute's total was emitted",
                partial.partition, partial.minute
            )));
        }
        let sum_key = format!("sum/{:020}", partial.minute).into_bytes();
        let mut sum = ctx
            .state_get_json(&sum_key)?
            .unwrap_or(MinuteStats { minute: partial.minute, ..Default::default() });
        sum.orders = sum.orders.saturating_add(partial.orders);
        sum.revenue_cents = sum.revenue_cents.saturating_add(partial.revenue_cents);
        ctx.state_put_json(&sum_key, &sum)?;
        let through_key = format!("through/{}", partial.partition).into_bytes();
        let through: i64 = ctx.state_get_json(&through_key)?.unwrap_or(i64::MIN);
        ctx.state_put_json(&through_key, &through.max(partial.minute + MINUTE_MS))?;

        // Every partition has closed up to `closed`: those minutes are final.
        let mut closed = i64::MAX;
        for p in 0..self.partitions {
            let key = format!("through/{p}").into_bytes();
            closed = closed.min(ctx.state_get_json(&key)?.unwrap_or(i64::MIN));
        }
        if closed <= emitted {
            return Ok(());
        }
        while let Some((key, value)) = ctx.state_scan(b"sum/", None, 1).pop() {
            let stats: MinuteStats = serde_json::from_slice(&value)
                .map_err(|e| Error::msg(format!("state {key:?} is not a minute's sum: {e}")))?;
            if stats.minute + MINUTE_MS > closed {
                break;
            }
            ctx.emit_json(ANALYTICS, stats.minute.to_string(), &stats)?;
            ctx.state_delete(&key);
        }
        ctx.state_put_json(b"emitted", &closed)
    }
}

weir_sdk::export!(Analytics);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestContext;

    use super::*;

    fn partial(partition: u32, minute: i64, orders: u64) -> Record {
        let p = MinutePartial { partition, minute, orders, revenue_cents: orders * 10 };
        Record::new(minute.to_string(), serde_json::to_vec(&p).unwrap())
    }

    fn setup() -> (Analytics, TestContext) {
        let config = [("partitions", "2")].into_iter().collect();
        (Analytics::init(&config).unwrap(), TestContext::new().with_output(ANALYTICS))
    }

    #[test]
    fn a_minute_is_emitted_once_every_partition_closed_it() {
        let (mut analytics, mut test) = setup();
        let batch = [partial(0, 0, 3), partial(0, 60_000, 4), partial(1, 0, 5)];
        test.process_batch(&mut analytics, batch).unwrap();
        let stats: Vec<MinuteStats> = test.take_emitted().iter().map(|e| e.value_json()).collect();
        assert_eq!(stats, [MinuteStats { minute: 0, orders: 8, revenue_cents: 80 }]);

        // Partition 1 had nothing in minute 1: its partial for minute 2 closes it too.
        test.process_batch(&mut analytics, [partial(1, 120_000, 1)]).unwrap();
        let stats: Vec<MinuteStats> = test.take_emitted().iter().map(|e| e.value_json()).collect();
        assert_eq!(stats, [MinuteStats { minute: 60_000, orders: 4, revenue_cents: 40 }]);
    }

    #[test]
    fn a_partial_after_its_total_is_an_error() {
        let (mut analytics, mut test) = setup();
        test.process_batch(&mut analytics, [partial(0, 60_000, 1), partial(1, 60_000, 1)]).unwrap();
        let late = test.process_batch(&mut analytics, [partial(0, 0, 1).with_offset(9)]);
        assert_eq!(late.unwrap_err().offset, Some(9));
    }

    #[test]
    fn partitions_is_required() {
        let error = Analytics::init(&Config::default()).unwrap_err();
        assert!(error.message().contains("partitions"), "{}", error.message());
    }
}
