//! Restart cost of a processor's state before and after compaction.
//!
//! Builds a processor's state changelog the way its worker does (one commit per
//! batch through `BrokerStore::commit`: changed keys plus the input offset, as one
//! batch), until the changelog holds `--mib` MiB, over `--keys` distinct keys with
//! `--value-bytes` values (100 changes per commit). Then measures:
//! - (a) a restart's replay of the whole changelog (`load_checkpoint`), as before
//!   compaction;
//! - (b) the cleaner's passes until nothing is due, with the bytes before and after;
//! - (c) the same replay after compaction, which must give the same checkpoint
//!   (checked, so the figure is of a correct result).
//!
//! The page cache is warm for both replays (the log was just written or cleaned):
//! the figures compare work, not disk reads.
//!
//! Run: `cargo bench -p weir-broker --bench compaction [-- --mib N --keys N
//! --value-bytes N --dir PATH]` (defaults: 1024 MiB, 100,000 keys, 200 bytes,
//! `target/tmp`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use weir_broker::broker::{Broker, BrokerOptions};
use weir_broker::processors::store::create_state_topic;
use weir_broker::processors::{BrokerStore, state_topic};
use weir_broker::storage::{Storage, StorageOptions};
use weir_runtime::{Commit, LogStore};

const CHANGES_PER_COMMIT: usize = 100;
const PROCESSOR: &str = "bench";

struct Args {
    mib: u64,
    keys: u64,
    value_bytes: usize,
    dir: PathBuf,
}

fn args() -> Result<Args> {
    let mut args = Args { mib: 1024, keys: 100_000, value_bytes: 200, dir: "target/tmp".into() };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--mib" => args.mib = value()?.parse()?,
            "--keys" => args.keys = value()?.parse()?,
            "--value-bytes" => args.value_bytes = value()?.parse()?,
            "--dir" => args.dir = value()?.into(),
            // cargo bench passes --bench; libtest-style filters are not used here.
            "--bench" => {}
            other => bail!("unknown argument {other}: see the module docs for the flags"),
        }
    }
    Ok(args)
}

fn open(dir: &std::path::Path) -> Result<(Arc<Broker>, BrokerStore)> {
    // The background cleaner stays out of the way: the bench runs the passes.
    let options = StorageOptions {
        cleaner_check: Duration::from_secs(24 * 3600),
        ..StorageOptions::default()
    };
    let storage = Storage::open(dir, options)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], 9092));
    let broker = Broker::new(storage, BrokerOptions::default(), addr)?;
    Ok((Arc::clone(&broker), BrokerStore::new(broker)))
}

fn main() -> Result<()> {
    let args = args()?;
    std::fs::create_dir_all(&args.dir)?;
    let scratch = tempfile::tempdir_in(&args.dir)?;
    let (broker, store) = open(scratch.path())?;
    create_state_topic(&broker.storage, PROCESSOR, 1)?;
    let log = broker.storage.partition(&state_topic(PROCESSOR), 0).context("the changelog")?;

    let mut rng = fastrand::Rng::with_seed(7);
    let target = args.mib << 20;
    let started = Instant::now();
    let mut commits = 0u64;
    while log.size_bytes() < target {
        let mut state = BTreeMap::new();
        for _ in 0..CHANGES_PER_COMMIT {
            let key = format!("key-{:012}", rng.u64(..args.keys)).into_bytes();
            let mut value = vec![0u8; args.value_bytes];
            rng.fill(&mut value);
            state.insert(key, Some(value));
        }
        commits += 1;
        store.commit(PROCESSOR, 0, &Commit { next_offsets: vec![commits], state })?;
    }
    let built = started.elapsed();
    let before_bytes = log.size_bytes();
    println!(
        "changelog: {commits} commits, {:.0} MiB, {} segments, built in {:.1} s",
        before_bytes as f64 / (1 << 20) as f64,
        log.segment_count(),
        built.as_secs_f64()
    );

    let started = Instant::now();
    let before = store.load_checkpoint(PROCESSOR, 0)?;
    let replay_before = started.elapsed();
    println!(
        "(a) replay before compaction: {:.2} s ({} keys, {:.0} MiB/s)",
        replay_before.as_secs_f64(),
        before.state.len(),
        before_bytes as f64 / (1 << 20) as f64 / replay_before.as_secs_f64()
    );

    let started = Instant::now();
    let mut passes = 0;
    while broker.storage.clean_compacted() > 0 {
        passes += 1;
    }
    let cleaning = started.elapsed();
    let after_bytes = log.size_bytes();
    println!(
        "(b) compaction: {passes} passes in {:.2} s, {:.0} MiB -> {:.0} MiB ({:.0} MiB/s cleaned)",
        cleaning.as_secs_f64(),
        before_bytes as f64 / (1 << 20) as f64,
        after_bytes as f64 / (1 << 20) as f64,
        before_bytes as f64 / (1 << 20) as f64 / cleaning.as_secs_f64()
    );

    let started = Instant::now();
    let after = store.load_checkpoint(PROCESSOR, 0)?;
    let replay_after = started.elapsed();
    if after != before {
        bail!("the checkpoint after compaction differs from the one before");
    }
    println!(
        "(c) replay after compaction: {:.2} s, the same checkpoint ({:.1}x faster)",
        replay_after.as_secs_f64(),
        replay_before.as_secs_f64() / replay_after.as_secs_f64()
    );
    broker.storage.close()?;
    Ok(())
}
