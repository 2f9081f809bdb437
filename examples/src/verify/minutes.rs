//! Minutes: each orders partition's minutes replayed with its watermark, the
//! partials and late orders that gives, and one total per minute closed everywhere.

use std::collections::BTreeMap;

use weir_order_events::{self as events, LateOrder, MinutePartial, MinuteStats, OrderPlaced};

use super::{Numbers, Partitions, Problems, Report, decode};

const MINUTE_MS: i64 = 60_000;

pub(super) fn verify(
    topics: &BTreeMap<String, Partitions>,
    orders: &[(u32, OrderPlaced)],
    numbers: Numbers,
    report: &mut Report,
) {
    // Per partition, in its order: the newest ts so far, less the grace, is the
    // watermark; an order whose minute ended at or before it is late.
    let mut newest: BTreeMap<u32, i64> = BTreeMap::new();
    let mut open: BTreeMap<(u32, i64), (u64, u64)> = BTreeMap::new();
    let mut late: BTreeMap<String, (u32, i64)> = BTreeMap::new();
    let mut all: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for (p, order) in orders {
        let minute = order.ts.div_euclid(MINUTE_MS) * MINUTE_MS;
        let total = all.entry(minute).or_default();
        *total = (total.0 + 1, total.1 + order.total_cents);
        let time = newest.entry(*p).or_insert(order.ts);
        *time = (*time).max(order.ts);
        let watermark = *time - numbers.grace_ms;
        if minute + MINUTE_MS <= watermark {
            late.insert(order.order_id.clone(), (*p, watermark));
        } else {
            let sum = open.entry((*p, minute)).or_default();
            *sum = (sum.0 + 1, sum.1 + order.total_cents);
        }
    }
    // What closed on each partition, and up to where.
    let mut partials = BTreeMap::new();
    let mut through: BTreeMap<u32, i64> = BTreeMap::new();
    for (&(p, minute), &sums) in &open {
        if minute + MINUTE_MS <= newest[&p] - numbers.grace_ms {
            partials.insert((p, minute), sums);
            through.insert(p, minute + MINUTE_MS);
        }
    }

    let mut problems = Problems::default();
    let got: Vec<(u32, Option<String>, MinutePartial)> =
        decode(topics, events::MINUTE_PARTIALS, &mut problems);
    let mut seen = BTreeMap::new();
    for (_, key, partial) in &got {
        let id = (partial.partition, partial.minute);
        if key.as_deref() != Some(&partial.minute.to_string()) {
            problems.push(format!("the partial {id:?} is keyed {key:?}"));
        }
        let got_sums = (partial.orders, partial.revenue_cents);
        match partials.get(&id) {
            Some(want) if *want == got_sums => {}
            want => problems.push(format!("partial {id:?}: {got_sums:?}, expected {want:?}")),
        }
        if seen.insert(id, ()).is_some() {
            problems.push(format!("partial {id:?} twice"));
        }
    }
    for id in partials.keys().filter(|id| !seen.contains_key(*id)) {
        problems.push(format!("partition {} closed minute {} but emitted no partial", id.0, id.1));
    }
    let late_got: Vec<(u32, Option<String>, LateOrder)> =
        decode(topics, events::LATE_ORDERS, &mut problems);
    let mut late_want = late.clone();
    for (_, _, l) in &late_got {
        match late_want.remove(&l.order_id) {
            Some(want) if want == (l.partition, l.watermark) => {}
            want => problems.push(format!(
                "late order {}: {:?}, expected {want:?}",
                l.order_id,
                (l.partition, l.watermark)
            )),
        }
    }
    for id in late_want.keys() {
        problems.push(format!("order {id} is late but not in {}", events::LATE_ORDERS));
    }
    let summary = format!("{} partials, {} late orders", got.len(), late_got.len());
    report
        .checks
        .push(problems.check("minutes: a partial per minute closed on a partition", summary));

    // One total per minute closed on every partition that has orders, oldest first.
    let mut problems = Problems::default();
    let closed = if through.len() == numbers.partitions as usize {
        through.values().min().copied()
    } else {
        None
    };
    let mut want: Vec<MinuteStats> = Vec::new();
    for (&(_, minute), &(n, cents)) in &open {
        if closed.is_some_and(|c| minute + MINUTE_MS <= c) {
            match want.iter_mut().find(|s| s.minute == minute) {
                Some(s) => (s.orders, s.revenue_cents) = (s.orders + n, s.revenue_cents + cents),
                None => want.push(MinuteStats { minute, orders: n, revenue_cents: cents }),
            }
        }
    }
    want.sort_by_key(|s| s.minute);
    let got: Vec<MinuteStats> =
        decode(topics, events::ANALYTICS, &mut problems).into_iter().map(|(_, _, s)| s).collect();
    for (i, stats) in got.iter().enumerate() {
        match want.get(i) {
            Some(w) if w == stats => {}
            w => problems.push(format!("total #{i}: {stats:?}, expected {w:?}")),
        }
        let of_orders = all.get(&stats.minute).copied().unwrap_or_default();
        if late.is_empty() && of_orders != (stats.orders, stats.revenue_cents) {
            problems.push(format!(
                "minute {}: {stats:?}, its orders add up to {of_orders:?}",
                stats.minute
            ));
        }
    }
    for w in want.iter().skip(got.len()) {
        problems.push(format!("minute {} closed everywhere but has no total", w.minute));
    }
    let still_open = all.len().saturating_sub(got.len());
    let equal = if late.is_empty() { "each equal to its orders" } else { "late orders left out" };
    let summary = format!("{} minutes totalled, {equal}; {still_open} still open", got.len());
    report.checks.push(problems.check("analytics: one total per closed minute", summary));
}
