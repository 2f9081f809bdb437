//! The order pipeline on the host: generated orders through the eight processors,
//! each instance with its own state as on the broker, their outputs placed by key
//! into the topics' partitions, the stages run in a seeded random interleaving.
//! The verifying model must agree with every run, and must notice when an output
//! is changed behind its back.

use std::collections::BTreeMap;

use weir_examples::events::{self, InventoryEvent, PaymentEvent};
use weir_examples::generator::{GeneratorConfig, OrderGenerator};
use weir_examples::verify::{self, Partitions, Rec};
use weir_examples::{Deployment, TOPICS, pipeline};
use weir_sdk::testing::TestContext;
use weir_sdk::{Config, Processor, Record};

/// A processor of any type, run a batch at a time.
trait Stage {
    fn run(&mut self, test: &mut TestContext, batch: Vec<Record>);
}

struct Of<P>(P);

impl<P: Processor> Stage for Of<P> {
    fn run(&mut self, test: &mut TestContext, batch: Vec<Record>) {
        test.process_batch(&mut self.0, batch)
            .expect("the pipeline's processors accept every order");
    }
}

fn stage(d: &Deployment) -> Box<dyn Stage> {
    let config: Config = d.config.iter().copied().collect();
    fn of<P: Processor + 'static>(config: &Config) -> Box<dyn Stage> {
        Box::new(Of(P::init(config).unwrap()))
    }
    match d.name {
        "router" => of::<weir_router::Router>(&config),
        "inventory" => of::<weir_inventory::Inventory>(&config),
        "reservation" => of::<weir_reservation::Reservation>(&config),
        "payment" => of::<weir_payment::Payment>(&config),
        "notification" => of::<weir_notification::Notifier>(&config),
        "minutes" => of::<weir_minutes::Minutes>(&config),
        "analytics" => of::<weir_analytics::Analytics>(&config),
        "fraud" => of::<weir_fraud::Fraud>(&config),
        other => panic!("no stage {other}"),
    }
}

/// Some deterministic key hash: where a key goes does not matter to the
/// pipeline, only that one key always goes to one partition.
fn place(key: &[u8], partitions: u32) -> u32 {
    let hash = key
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
    (hash % u64::from(partitions)) as u32
}

/// Runs `orders` orders through the pipeline, interleaved by `seed`; returns the
/// topics. With `disorder`, one order in a hundred is appended 1,000 orders (10 s
/// of event time) late, twice the minutes' grace period.
fn run(orders: usize, seed: u64, disorder: bool) -> BTreeMap<String, Partitions> {
    let mut topics: BTreeMap<String, Partitions> =
        TOPICS.iter().map(|(t, n)| (t.to_string(), vec![Vec::new(); *n as usize])).collect();
    let partitions: BTreeMap<&str, u32> = TOPICS.into_iter().collect();
    let mut generated: Vec<_> =
        OrderGenerator::new(GeneratorConfig { seed, ..Default::default() }).take(orders).collect();
    if disorder {
        for i in (0..orders.saturating_sub(1_000)).rev().step_by(100) {
            let order = generated.remove(i);
            generated.insert(i + 1_000, order);
        }
    }
    for (key, value) in generated {
        let p = place(&key, partitions[events::ORDERS]);
        topics.get_mut(events::ORDERS).unwrap()[p as usize]
            .push(Rec { key: Some(key), value: Some(value) });
    }
    // One instance per (processor, input partition), with its own state.
    let mut instances = Vec::new();
    for d in pipeline() {
        for p in 0..partitions[d.input] {
            let test = d
                .outputs
                .iter()
                .fold(TestContext::new(), |t, o| t.with_output_partitions(o, partitions[o]));
            instances.push((d, p, stage(&d), test, 0usize));
        }
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    loop {
        let mut moved = false;
        rng.shuffle(&mut instances);
        for (d, p, stage, test, next) in &mut instances {
            let input = &topics[d.input][*p as usize];
            let batch: Vec<Record> = input[*next..]
                .iter()
                .take(rng.usize(1..=50))
                .enumerate()
                .map(|(i, r)| Record {
                    topic: d.input,
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers: Vec::new(),
                    timestamp: 0,
                    partition: *p,
                    offset: (*next + i) as u64,
                })
                .collect();
            if batch.is_empty() {
                continue;
            }
            *next += batch.len();
            moved = true;
            stage.run(test, batch);
            for e in test.take_emitted() {
                let n = partitions[e.topic.as_str()];
                let to =
                    e.partition.unwrap_or_else(|| place(e.key.as_deref().unwrap_or_default(), n));
                topics.get_mut(&e.topic).unwrap()[to as usize]
                    .push(Rec { key: e.key, value: e.value });
            }
        }
        if !moved {
            return topics;
        }
    }
}

#[test]
fn the_model_agrees_with_the_processors_in_any_interleaving() {
    for (seed, disorder) in [(1, false), (2, false), (3, true)] {
        let topics = run(12_000, seed, disorder);
        let report = verify::verify(&topics);
        assert!(report.ok(), "seed {seed}:\n{report}");
        let text = report.to_string();
        // 12,000 orders: SKUs run short, payments are declined, alerts raised,
        // minutes closed.
        assert!(!text.contains(" 0 out of stock"), "{text}");
        assert!(!text.contains(" 0 declined"), "{text}");
        assert!(!text.contains("0 alerts"), "{text}");
        assert!(!text.contains(": 0 minutes totalled"), "{text}");
        assert_eq!(disorder, !text.contains(" 0 late orders"), "{text}");
    }
}

/// Decodes, changes and re-encodes the first record of `topic` that `change` changes.
fn tamper<T>(
    topics: &mut BTreeMap<String, Partitions>,
    topic: &str,
    change: impl Fn(&mut T) -> bool,
) where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    for rec in topics.get_mut(topic).unwrap().iter_mut().flatten() {
        let mut value: T = serde_json::from_slice(rec.value.as_deref().unwrap()).unwrap();
        if change(&mut value) {
            rec.value = Some(serde_json::to_vec(&value).unwrap());
            return;
        }
    }
    panic!("nothing in {topic} to tamper with");
}

#[test]
fn the_model_notices_wrong_outputs() {
    let clean = run(12_000, 4, true);
    assert!(verify::verify(&clean).ok());
    let fails = |topics: &BTreeMap<String, Partitions>, check: &str| {
        let report = verify::verify(topics);
        let failed: Vec<&str> =
            report.checks.iter().filter(|c| c.failures > 0).map(|c| c.name).collect();
        assert!(
            failed.iter().any(|name| name.starts_with(check)),
            "{check} should fail:\n{report}"
        );
    };

    let mut topics = clean.clone();
    tamper(&mut topics, events::INVENTORY_EVENTS, |e: &mut InventoryEvent| match e {
        InventoryEvent::OutOfStock { order_id, customer_id, released, ts, .. } => {
            *e = InventoryEvent::StockReserved {
                order_id: order_id.clone(),
                customer_id: customer_id.clone(),
                total_cents: 0,
                currency: "EUR".into(),
                reserved: released.clone(),
                ts: *ts,
            };
            true
        }
        _ => false,
    });
    fails(&topics, "reservation");

    let mut topics = clean.clone();
    let first_payment = topics[events::PAYMENTS][0][0].clone();
    topics.get_mut(events::PAYMENTS).unwrap()[0].push(first_payment);
    fails(&topics, "payments");

    let mut topics = clean.clone();
    tamper(&mut topics, events::PAYMENTS, |p: &mut PaymentEvent| match p {
        PaymentEvent::PaymentAuthorized { amount_cents, .. } => {
            *amount_cents += 1;
            true
        }
        _ => false,
    });
    fails(&topics, "payments");

    let mut topics = clean.clone();
    tamper(&mut topics, events::ANALYTICS, |s: &mut events::MinuteStats| {
        s.orders -= 1;
        true
    });
    fails(&topics, "analytics");

    let mut topics = clean.clone();
    topics.get_mut(events::LATE_ORDERS).unwrap()[0].pop();
    fails(&topics, "minutes");

    let mut topics = clean.clone();
    topics.get_mut(events::FRAUD_ALERTS).unwrap()[0].pop();
    fails(&topics, "fraud");

    let mut topics = clean.clone();
    tamper(&mut topics, events::STOCK_DECISIONS, |d: &mut events::LineDecision| {
        d.reserved = !d.reserved;
        true
    });
    fails(&topics, "inventory");

    // Every reservation kept although stock ran out: oversold.
    let mut topics = clean;
    let requests = topics.get_mut(events::STOCK_REQUESTS).unwrap();
    for partition in requests.iter_mut() {
        partition.retain(|r| !r.value.as_deref().unwrap().starts_with(br#"{"type":"Release""#));
    }
    fails(&topics, "reservation");
}
