//! Stock: the requests each order made, each SKU's stock replayed in the
//! inventory's input order, the verdict per order, releases, and payments.

use std::collections::BTreeMap;

use weir_order_events::{self as events, InventoryEvent, LineDecision, OrderPlaced, OrderRef};
use weir_order_events::{PaymentEvent, StockLine, StockRequest};

use super::{Numbers, Partitions, Problems, Report, decode};

/// An order's line of one SKU: (order id, SKU).
type LineId = (String, String);

pub(super) fn verify(
    topics: &BTreeMap<String, Partitions>,
    orders: &[(u32, OrderPlaced)],
    numbers: Numbers,
    report: &mut Report,
) {
    // What each order asks for: its lines of each SKU summed.
    let mut wanted: BTreeMap<LineId, u32> = BTreeMap::new();
    let mut by_id: BTreeMap<&str, &OrderPlaced> = BTreeMap::new();
    for (_, order) in orders {
        by_id.insert(&order.order_id, order);
        for item in &order.items {
            *wanted.entry((order.order_id.clone(), item.sku.clone())).or_default() += item.qty;
        }
    }
    let lines_of = |order_id: &str| {
        wanted.range(line(order_id, "")..).take_while(|((o, _), _)| o == order_id).count()
    };

    // The requests: each wanted line once, with its order; each SKU on one partition.
    let mut problems = Problems::default();
    let requests: Vec<(u32, Option<String>, StockRequest)> =
        decode(topics, events::STOCK_REQUESTS, &mut problems);
    let mut reserves: BTreeMap<LineId, usize> = BTreeMap::new();
    let mut releases: BTreeMap<LineId, (u32, usize)> = BTreeMap::new();
    let mut sku_partition: BTreeMap<&str, u32> = BTreeMap::new();
    for (p, key, request) in &requests {
        let (order_id, sku, qty) = match request {
            StockRequest::Reserve { order, sku, qty } => {
                let expected = by_id.get(order.order_id.as_str()).map(|o| OrderRef {
                    order_id: o.order_id.clone(),
                    customer_id: o.customer_id.clone(),
                    total_cents: o.total_cents,
                    currency: o.currency.clone(),
                    lines: lines_of(&o.order_id) as u32,
                    ts: o.ts,
                });
                if expected.as_ref() != Some(order) {
                    problems
                        .push(format!("a request for {sku} carries {order:?}, not {expected:?}"));
                }
                *reserves.entry(line(&order.order_id, sku)).or_default() += 1;
                (&order.order_id, sku, qty)
            }
            StockRequest::Release { order_id, sku, qty } => {
                releases.entry(line(order_id, sku)).or_insert((*qty, 0)).1 += 1;
                (order_id, sku, qty)
            }
        };
        if key.as_deref() != Some(sku) {
            problems.push(format!("{order_id}'s request of {qty} {sku} is keyed {key:?}"));
        }
        if let Some(other) = sku_partition.insert(sku, *p).filter(|other| other != p) {
            problems.push(format!("{sku} has requests on partitions {other} and {p}"));
        }
    }
    for (id, want) in &wanted {
        let found = reserves.remove(id).unwrap_or(0);
        if found != 1 {
            problems.push(format!("{} asks for {want} {}: {found} requests", id.0, id.1));
        }
    }
    for (id, n) in reserves {
        problems.push(format!("{n} requests for {} {}, which the order does not have", id.0, id.1));
    }
    let summary = format!("{} line requests of {} orders", wanted.len(), orders.len());
    report.checks.push(problems.check("router: one stock request per order line, by SKU", summary));

    // Each SKU's stock, replayed in the inventory's input order.
    let mut problems = Problems::default();
    let mut stock: BTreeMap<String, u32> = BTreeMap::new();
    let mut expected: BTreeMap<LineId, (bool, StockLine)> = BTreeMap::new();
    for (_, _, request) in &requests {
        match request {
            StockRequest::Reserve { order, sku, qty } => {
                let have = stock.entry(sku.clone()).or_insert(numbers.initial_stock);
                let ok = *have >= *qty;
                if ok {
                    *have -= qty;
                }
                let decided = StockLine { sku: sku.clone(), qty: *qty, stock: *have };
                expected.insert(line(&order.order_id, sku), (ok, decided));
            }
            StockRequest::Release { sku, qty, .. } => {
                *stock.entry(sku.clone()).or_insert(numbers.initial_stock) += qty;
            }
        }
    }
    let decisions: Vec<(u32, Option<String>, LineDecision)> =
        decode(topics, events::STOCK_DECISIONS, &mut problems);
    let mut decided: BTreeMap<LineId, LineDecision> = BTreeMap::new();
    for (_, key, d) in decisions {
        let id = line(&d.order.order_id, &d.line.sku);
        if key.as_deref() != Some(&d.order.order_id) {
            problems.push(format!("the decision on {} {} is keyed {key:?}", id.0, id.1));
        }
        match expected.get(&id) {
            None => problems.push(format!("a decision on {} {}, never requested", id.0, id.1)),
            Some((ok, want)) if (*ok, want) != (d.reserved, &d.line) => problems.push(format!(
                "{} {}: decided {} {:?}, the replay says {} {want:?}",
                id.0, id.1, d.reserved, d.line, ok
            )),
            Some(_) => {}
        }
        if decided.insert(id.clone(), d).is_some() {
            problems.push(format!("{} {} is decided twice", id.0, id.1));
        }
    }
    for id in expected.keys().filter(|id| !decided.contains_key(*id)) {
        problems.push(format!("{} {} has no decision", id.0, id.1));
    }
    let short = expected.values().filter(|(ok, _)| !ok).count();
    let summary = format!("{} decisions, {short} short", decided.len());
    report
        .checks
        .push(problems.check("inventory: each line decided as its SKU's stock allows", summary));

    // The verdict per order, and the releases of orders not reserved whole.
    let mut problems = Problems::default();
    let verdicts: Vec<(u32, Option<String>, InventoryEvent)> =
        decode(topics, events::INVENTORY_EVENTS, &mut problems);
    let mut verdict_of: BTreeMap<String, InventoryEvent> = BTreeMap::new();
    for (_, key, verdict) in verdicts {
        let id = match &verdict {
            InventoryEvent::StockReserved { order_id, .. }
            | InventoryEvent::OutOfStock { order_id, .. } => order_id.clone(),
        };
        if key.as_deref() != Some(&id) {
            problems.push(format!("the verdict on {id} is keyed {key:?}"));
        }
        if verdict_of.insert(id.clone(), verdict).is_some() {
            problems.push(format!("order {id} has two verdicts"));
        }
    }
    let mut reserved_units: BTreeMap<String, u64> = BTreeMap::new();
    let mut want_releases: BTreeMap<LineId, u32> = BTreeMap::new();
    let (mut reserved_orders, mut rejected_orders) = (0, 0);
    for (_, order) in orders {
        let lines: Vec<&(bool, StockLine)> = expected
            .range(line(&order.order_id, "")..)
            .take_while(|((o, _), _)| *o == order.order_id)
            .map(|(_, v)| v)
            .collect();
        let want = if lines.iter().all(|(ok, _)| *ok) {
            InventoryEvent::StockReserved {
                order_id: order.order_id.clone(),
                customer_id: order.customer_id.clone(),
                total_cents: order.total_cents,
                currency: order.currency.clone(),
                reserved: lines.iter().map(|(_, l)| l.clone()).collect(),
                ts: order.ts,
            }
        } else {
            let released: Vec<StockLine> =
                lines.iter().filter(|(ok, _)| *ok).map(|(_, l)| l.clone()).collect();
            for l in &released {
                want_releases.insert(line(&order.order_id, &l.sku), l.qty);
            }
            InventoryEvent::OutOfStock {
                order_id: order.order_id.clone(),
                customer_id: order.customer_id.clone(),
                missing: lines.iter().filter(|(ok, _)| !ok).map(|(_, l)| l.clone()).collect(),
                released,
                ts: order.ts,
            }
        };
        match verdict_of.remove(&order.order_id) {
            None => problems.push(format!("order {} has no verdict", order.order_id)),
            Some(got) if got != want => {
                problems.push(format!("order {}: {got:?}, expected {want:?}", order.order_id))
            }
            Some(InventoryEvent::StockReserved { reserved, .. }) => {
                reserved_orders += 1;
                for l in reserved {
                    *reserved_units.entry(l.sku).or_default() += u64::from(l.qty);
                }
            }
            Some(InventoryEvent::OutOfStock { .. }) => rejected_orders += 1,
        }
    }
    for id in verdict_of.keys() {
        problems.push(format!("a verdict on {id}, which is not an order"));
    }
    for (id, (qty, n)) in &releases {
        match want_releases.remove(id) {
            Some(want) if want == *qty && *n == 1 => {}
            _ => problems.push(format!("{n} releases of {qty} {} for {}", id.1, id.0)),
        }
    }
    for (id, qty) in want_releases {
        problems.push(format!("{}'s {qty} {} are never released", id.0, id.1));
    }
    let summary = format!("{reserved_orders} orders reserved, {rejected_orders} out of stock");
    report
        .checks
        .push(problems.check("reservation: an order is reserved whole or released", summary));

    // Stock: never oversold, and no unit lost on the way.
    let mut problems = Problems::default();
    let initial = u64::from(numbers.initial_stock);
    for (sku, units) in &reserved_units {
        if *units > initial {
            problems.push(format!("{sku}: {units} units reserved, {initial} in stock"));
        }
        let left = stock.get(sku).map_or(initial, |s| u64::from(*s));
        if left + units != initial {
            problems.push(format!("{sku}: {units} reserved but {left} left of {initial}"));
        }
    }
    let most = reserved_units.values().max().copied().unwrap_or(0);
    let summary =
        format!("{} SKUs, at most {most} of {initial} units reserved", reserved_units.len());
    report.checks.push(problems.check("stock: no SKU oversold, every unit accounted for", summary));

    payments(topics, orders, numbers, &by_id_reserved(orders, &expected), report);
}

/// The orders the model reserves.
fn by_id_reserved<'a>(
    orders: &'a [(u32, OrderPlaced)],
    expected: &BTreeMap<LineId, (bool, StockLine)>,
) -> Vec<&'a OrderPlaced> {
    orders
        .iter()
        .map(|(_, o)| o)
        .filter(|o| {
            let mut lines = expected
                .range(line(&o.order_id, "")..)
                .take_while(|((id, _), _)| *id == o.order_id)
                .peekable();
            lines.peek().is_some() && lines.all(|(_, (ok, _))| *ok)
        })
        .collect()
}

/// One payment per reserved order, authorized up to the limit; none for others.
fn payments(
    topics: &BTreeMap<String, Partitions>,
    orders: &[(u32, OrderPlaced)],
    numbers: Numbers,
    reserved: &[&OrderPlaced],
    report: &mut Report,
) {
    let mut problems = Problems::default();
    let paid: Vec<(u32, Option<String>, PaymentEvent)> =
        decode(topics, events::PAYMENTS, &mut problems);
    let mut by_order: BTreeMap<String, Vec<PaymentEvent>> = BTreeMap::new();
    for (_, _, payment) in paid {
        let id = match &payment {
            PaymentEvent::PaymentAuthorized { order_id, .. }
            | PaymentEvent::PaymentDeclined { order_id, .. } => order_id.clone(),
        };
        by_order.entry(id).or_default().push(payment);
    }
    let (mut authorized, mut declined) = (0, 0);
    for order in reserved {
        let got = by_order.remove(&order.order_id).unwrap_or_default();
        let ok = match got.as_slice() {
            [PaymentEvent::PaymentAuthorized { customer_id, amount_cents, .. }] => {
                authorized += 1;
                order.total_cents <= numbers.max_amount_cents
                    && *customer_id == order.customer_id
                    && *amount_cents == order.total_cents
            }
            [PaymentEvent::PaymentDeclined { customer_id, amount_cents, .. }] => {
                declined += 1;
                order.total_cents > numbers.max_amount_cents
                    && *customer_id == order.customer_id
                    && *amount_cents == order.total_cents
            }
            _ => false,
        };
        if !ok {
            problems.push(format!(
                "reserved order {} ({} cents): payments {got:?}",
                order.order_id, order.total_cents
            ));
        }
    }
    for (id, got) in by_order {
        problems.push(format!("{} payment(s) for {id}, which is not reserved", got.len()));
    }
    let summary = format!(
        "{authorized} authorized, {declined} declined, for {} reserved of {} orders",
        reserved.len(),
        orders.len()
    );
    report
        .checks
        .push(problems.check("payments: one per reserved order, none for the rest", summary));
}

fn line(order_id: &str, sku: &str) -> LineId {
    (order_id.to_owned(), sku.to_owned())
}
