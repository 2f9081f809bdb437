//! Deterministic `OrderPlaced` events for the `orders` topic.
//!
//! The same [`GeneratorConfig`] (seed included) gives the same events. Customers
//! come from a pool, each order has 1–4 lines from a SKU catalogue, and event time
//! advances by `interval_ms` per order. A fraction of orders start something
//! suspicious, half of them each: a large order (above 100000 cents, so payment
//! declines it and fraud's amount rule fires), or a burst of 6–9 orders from one
//! customer (fraud's velocity rule, 5 per 10 s by default, fires from the sixth).
//!
//! ```
//! use weir_examples::generator::{GeneratorConfig, OrderGenerator};
//!
//! let orders = OrderGenerator::new(GeneratorConfig { seed: 7, ..Default::default() });
//! for (key, value) in orders.take(3) {
//!     assert!(key.starts_with(b"o-") && value.starts_with(br#"{"type":"OrderPlaced""#));
//! }
//! ```

use std::time::{Duration, Instant};

use weir_order_events::{Item, OrderPlaced};

/// What the generator makes.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// Seeds every random choice.
    pub seed: u64,
    /// Customers `c-0001` to `c-{customers}`.
    pub customers: u32,
    /// SKUs `sku-001` to `sku-{skus}`, each with a price from 1.99 to 49.99.
    pub skus: u32,
    /// The fraction of orders that start a large order or a burst, 0 to 1.
    pub suspicious: f64,
    /// The first order's `ts`, ms since the Unix epoch.
    pub start_ts: i64,
    /// Event time between two orders, ms.
    pub interval_ms: i64,
    /// The first order's number: ids are `o-{n:06}`.
    pub first_order: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            customers: 1_000,
            skus: 50,
            suspicious: 0.02,
            start_ts: 1_764_370_000_000,
            interval_ms: 10,
            first_order: 1,
        }
    }
}

/// A large order's minimum total: above the pipeline's thresholds.
const LARGE_CENTS: u64 = 100_001;

/// An endless, deterministic stream of orders; as an iterator it yields (key,
/// value) pairs ready to produce: the order id and the event's JSON.
#[derive(Debug)]
pub struct OrderGenerator {
    /// What to make.
    config: GeneratorConfig,
    /// All randomness, seeded by `config.seed`.
    rng: fastrand::Rng,
    /// The unit price of each SKU, by index.
    prices: Vec<u64>,
    /// The next order's number.
    next_order: u64,
    /// The next order's `ts`.
    ts: i64,
    /// A burst in progress: its customer and the orders it still has to place.
    burst: Option<(u32, u32)>,
}

impl OrderGenerator {
    /// A generator of `config`'s orders.
    pub fn new(config: GeneratorConfig) -> Self {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let prices = (0..config.skus.max(1)).map(|_| rng.u64(1..=49) * 100 + 99).collect();
        Self {
            next_order: config.first_order,
            ts: config.start_ts,
            rng,
            prices,
            burst: None,
            config,
        }
    }

    /// The next order.
    pub fn next_order(&mut self) -> OrderPlaced {
        let order_id = format!("o-{:06}", self.next_order);
        let ts = self.ts;
        self.next_order += 1;
        self.ts += self.config.interval_ms;

        if let Some((customer, left)) = self.burst.take() {
            self.burst = (left > 1).then_some((customer, left - 1));
            return OrderPlaced::new(&order_id, &customer_id(customer), self.items(), ts);
        }
        let customer = self.rng.u32(1..=self.config.customers.max(1));
        if self.rng.f64() >= self.config.suspicious {
            return OrderPlaced::new(&order_id, &customer_id(customer), self.items(), ts);
        }
        if self.rng.bool() {
            // This order is the burst's first.
            self.burst = Some((customer, self.rng.u32(5..=8)));
            OrderPlaced::new(&order_id, &customer_id(customer), self.items(), ts)
        } else {
            let sku = self.rng.usize(..self.prices.len());
            let price = self.prices[sku];
            let qty = (LARGE_CENTS.div_ceil(price) + self.rng.u64(0..20)) as u32;
            OrderPlaced::new(
                &order_id,
                &customer_id(customer),
                vec![Item::new(&sku_id(sku), qty, price)],
                ts,
            )
        }
    }

    /// 1–4 lines of 1–3 units each.
    fn items(&mut self) -> Vec<Item> {
        (0..self.rng.usize(1..=4))
            .map(|_| {
                let sku = self.rng.usize(..self.prices.len());
                Item::new(&sku_id(sku), self.rng.u32(1..=3), self.prices[sku])
            })
            .collect()
    }
}

impl Iterator for OrderGenerator {
    type Item = (Vec<u8>, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        let order = self.next_order();
        Some((order.order_id.clone().into_bytes(), order.to_json()))
    }
}

fn customer_id(n: u32) -> String {
    format!("c-{n:04}")
}

fn sku_id(index: usize) -> String {
    format!("sku-{:03}", index + 1)
}

/// Paces sends at a steady rate: `delay()` before each send says how long to wait.
///
/// ```no_run
/// # use weir_examples::generator::Pacer;
/// let mut pacer = Pacer::new(500);
/// loop {
///     std::thread::sleep(pacer.delay()); // or tokio::time::sleep(pacer.delay()).await
///     // send one
/// }
/// ```
#[derive(Debug)]
pub struct Pacer {
    /// Sends per second.
    per_second: u32,
    /// When the first send was due.
    start: Instant,
    /// Sends paced so far.
    sent: u64,
}

impl Pacer {
    /// A pacer of `per_second` sends per second (at least 1), starting now.
    pub fn new(per_second: u32) -> Self {
        Self { per_second: per_second.max(1), start: Instant::now(), sent: 0 }
    }

    /// How long to wait until the next send is due (zero when behind); counts it.
    pub fn delay(&mut self) -> Duration {
        let due =
            self.start + Duration::from_secs_f64(self.sent as f64 / f64::from(self.per_second));
        self.sent += 1;
        due.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders(config: GeneratorConfig, n: usize) -> Vec<OrderPlaced> {
        let mut generator = OrderGenerator::new(config);
        (0..n).map(|_| generator.next_order()).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_orders() {
        let a: Vec<_> = OrderGenerator::new(GeneratorConfig::default()).take(200).collect();
        let b: Vec<_> = OrderGenerator::new(GeneratorConfig::default()).take(200).collect();
        let c: Vec<_> = OrderGenerator::new(GeneratorConfig { seed: 1, ..Default::default() })
            .take(200)
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn orders_are_well_formed() {
        for (i, order) in orders(GeneratorConfig::default(), 2_000).into_iter().enumerate() {
            assert_eq!(order.order_id, format!("o-{:06}", i + 1));
            assert_eq!(order.ts, 1_764_370_000_000 + 10 * i as i64);
            assert!(!order.items.is_empty() && order.items.len() <= 4);
            assert_eq!(order.total_cents, order.items.iter().map(Item::line_cents).sum::<u64>());
            assert_eq!(OrderPlaced::from_json(&order.to_json()).unwrap(), order);
        }
    }

    #[test]
    fn suspicious_orders_come_at_about_the_configured_rate() {
        let config = GeneratorConfig { suspicious: 0.1, ..Default::default() };
        let orders = orders(config, 10_000);
        let large = orders.iter().filter(|o| o.total_cents >= LARGE_CENTS).count();
        // Half of 10% start a large order, but burst orders draw no start: ~4.4%.
        assert!((250..700).contains(&large), "{large} large orders");
        let runs = orders
            .windows(6)
            .filter(|w| w.iter().all(|o| o.customer_id == w[0].customer_id))
            .count();
        assert!(runs > 100, "{runs} runs of 6 orders by one customer");

        let none = self::orders(GeneratorConfig { suspicious: 0.0, ..Default::default() }, 10_000);
        assert!(none.iter().all(|o| o.total_cents < LARGE_CENTS));
    }

    #[test]
    fn the_pacer_spaces_sends() {
        let mut pacer = Pacer::new(1_000);
        assert_eq!(pacer.delay(), Duration::ZERO);
        let later = (0..9).map(|_| pacer.delay()).last().unwrap();
        assert!(later > Duration::from_millis(5) && later <= Duration::from_millis(9), "{later:?}");
    }
}
