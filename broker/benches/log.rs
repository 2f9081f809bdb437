//! Storage benchmark for the partition log, on the real disk.
//!
//! Workload: records of a 100-byte value and no key, in batches of 1,000, taken
//! from a pool of 64 distinct prebuilt batches. Measures:
//! - (a) append under `Durability::Interval(1 s)` with a running `Flusher` (the
//!   production default, 1 GiB segments), then the final `flush()`;
//! - (b) append under `Durability::Sync`, one writer (each append waits for its fsync);
//! - (c) the same from 4 writer threads (group commit: fsyncs vs appends);
//! - (d) reading back everything (a) wrote, 1 MiB per `read` + `FileSlice::read()`,
//!   cold (the segments evicted from the page cache with fadvise) then hot, touching
//!   every byte with a checksum;
//! - (e) `dd bs=1M conv=fdatasync` in the same directory, as the disk's bandwidth.
//!
//! Append buffers are copied from the pool before timing starts (append patches
//! offsets in place, so each append needs its own buffer); when they would not fit
//! in a third of the available memory, each append copies into one reused buffer
//! instead, and the output says which. MB is 10^6 bytes of record payload (100 per
//! record); "log MB/s" counts the bytes that reach the `.log` files.
//!
//! Run: `cargo bench -p weir-broker --bench log [-- --records N --sync-records N
//! --dir PATH --dd-mib N]` (defaults: 10,000,000 records, 200,000 sync records,
//! `target/tmp`, 4096 MiB). The data goes to a fresh directory under PATH, removed
//! at the end; it should be on the disk to measure, not on tmpfs.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use weir_broker::log::batch::{self, BatchHeader};
use weir_broker::log::record::{BatchBuilder, Compression};
use weir_broker::log::{Durability, Flusher, LogConfig, Partition, flusher};

const RECORDS_PER_BATCH: u64 = 1_000;
const VALUE_LEN: usize = 100;
const POOL: usize = 64;
const WRITERS: usize = 4;

/// Settings from the command line.
struct Args {
    /// Records appended (and read back) under interval durability.
    records: u64,
    /// Records appended under sync durability, by one writer and by `WRITERS`.
    sync_records: u64,
    /// Directory to create the scratch directory in.
    dir: std::path::PathBuf,
    /// Size of the dd run.
    dd_mib: u64,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        records: 10_000_000,
        sync_records: 200_000,
        dir: env!("CARGO_TARGET_TMPDIR").into(),
        dd_mib: 4096,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--bench" => {}
            "--records" => args.records = value()?.parse()?,
            "--sync-records" => args.sync_records = value()?.parse()?,
            "--dir" => args.dir = value()?.into(),
            "--dd-mib" => args.dd_mib = value()?.parse()?,
            other => bail!("unknown argument {other}; see the header of benches/log.rs"),
        }
    }
    Ok(args)
}

/// One result line: `records` of payload and `log_bytes` on disk in `secs`.
fn line(name: &str, records: u64, log_bytes: u64, secs: f64, note: &str) -> String {
    format!(
        "{name:<30} {:>12} rec {:>12} rec/s {:>8.0} MB/s {:>8.0} log MB/s  {note}",
        group(records),
        group((records as f64 / secs) as u64),
        (records * VALUE_LEN as u64) as f64 / secs / 1e6,
        log_bytes as f64 / secs / 1e6,
    )
}

fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// 64 distinct batches of 1,000 records with random 100-byte values.
fn pool() -> Result<Vec<Vec<u8>>> {
    let mut rng = fastrand::Rng::with_seed(7);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let mut value = [0u8; VALUE_LEN];
    (0..POOL)
        .map(|_| {
            let mut b = BatchBuilder::new(0, Compression::None);
            for i in 0..RECORDS_PER_BATCH {
                rng.fill(&mut value);
                b.push(now.as_millis() as i64 + i as i64, None, Some(&value), &[]);
            }
            Ok(b.build()?.to_vec())
        })
        .collect()
}

/// Appends `batches` batches from the pool, straight from its buffers (append
/// leaves them as they are); returns the elapsed time and the log bytes written.
fn append(p: &Partition, pool: &[Vec<u8>], batches: u64) -> Result<(f64, u64)> {
    let mut bytes = 0;
    let start = Instant::now();
    for i in 0..batches as usize {
        let buf = &pool[i % pool.len()];
        p.append(buf)?;
        bytes += buf.len() as u64;
    }
    Ok((start.elapsed().as_secs_f64(), bytes))
}

/// Reads the whole log from offset 0, 1 MiB at a time, checksumming every byte.
/// Returns the elapsed time, bytes read and batches seen.
fn read_all(p: &Partition) -> Result<(f64, u64, u64)> {
    let (mut offset, mut bytes, mut batches, mut sum) = (0u64, 0u64, 0u64, 0u64);
    let start = Instant::now();
    while let Some(slice) = p.read(offset, 1 << 20)?.slice {
        let data = slice.read()?;
        for b in batch::split(&data) {
            offset = BatchHeader::parse(b?)?.last_offset() as u64 + 1;
            batches += 1;
        }
        let words = data.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap()));
        sum = words.fold(sum, u64::wrapping_add);
        bytes += data.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(sum);
    Ok((secs, bytes, batches))
}

/// Drops the (clean, fsynced) pages of the partition's `.log` files from the cache.
fn evict(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "log") {
            let file = std::fs::File::open(&path)?;
            // SAFETY: a plain syscall on a descriptor that `file` keeps open.
            let rc =
                unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            if rc != 0 {
                bail!("posix_fadvise on {} failed: {rc}", path.display());
            }
        }
    }
    Ok(())
}

/// Runs dd in `dir`; returns (bytes, seconds) from its summary line.
fn dd(dir: &Path, mib: u64) -> Result<(u64, f64)> {
    let file = dir.join("dd.tmp");
    let out = Command::new("dd")
        .env("LC_ALL", "C")
        .args(["if=/dev/zero", "bs=1M", "conv=fdatasync"])
        .arg(format!("of={}", file.display()))
        .arg(format!("count={mib}"))
        .output()?;
    std::fs::remove_file(&file)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // "4294967296 bytes (4.3 GB, 4.0 GiB) copied, 5.01 s, 857 MB/s"
    let summary = stderr.lines().find(|l| l.contains(" copied, "));
    let summary = summary.with_context(|| format!("no summary from dd: {stderr}"))?;
    let bytes = summary.split(' ').next().unwrap_or_default().parse()?;
    let secs = summary.split(" copied, ").nth(1).and_then(|s| s.split(' ').next());
    Ok((bytes, secs.context("no dd time")?.parse()?))
}

/// The filesystem type and device holding `dir`, as findmnt tells.
fn filesystem(dir: &Path) -> String {
    let out = Command::new("findmnt").args(["-n", "-o", "FSTYPE,SOURCE", "-T"]).arg(dir).output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown filesystem".into())
}

fn main() -> Result<()> {
    let args = parse_args()?;
    std::fs::create_dir_all(&args.dir)?;
    let scratch = tempfile::Builder::new().prefix("weir-log-bench-").tempdir_in(&args.dir)?;
    let root = scratch.path();
    let fs = filesystem(root);
    if fs.starts_with("tmpfs") {
        eprintln!("warning: {} is on tmpfs: this measures memory, not a disk", root.display());
    }
    let pool = pool()?;
    let batches = args.records.div_ceil(RECORDS_PER_BATCH);
    let records = batches * RECORDS_PER_BATCH;
    let mut table = Vec::new();

    // (a) Interval durability with the flusher running: the production default.
    let interval = Durability::Interval(Duration::from_secs(1));
    let cfg = LogConfig { durability: interval, ..LogConfig::default() };
    let p = Arc::new(Partition::open(root.join("interval-0"), cfg)?);
    let flusher = Flusher::start(flusher::DEFAULT_TICK);
    flusher.register(&p);
    let (secs, log_bytes) = append(&p, &pool, batches)?;
    let background_fsyncs = p.fsyncs();
    let flush_start = Instant::now();
    p.flush()?;
    let flush_secs = flush_start.elapsed().as_secs_f64();
    drop(flusher);
    let append_a = log_bytes as f64 / secs;
    let name = "append interval (1 s flusher)";
    table.push(line(name, records, log_bytes, secs, &format!("{background_fsyncs} bg fsyncs")));
    let name = "  + final flush()";
    let note = format!("flush took {flush_secs:.3} s");
    table.push(line(name, records, log_bytes, secs + flush_secs, &note));
    let append_flushed = log_bytes as f64 / (secs + flush_secs);

    // (b) Sync durability, one writer: every append waits for its own fsync.
    let sync_cfg = LogConfig { durability: Durability::Sync, ..LogConfig::default() };
    let sync_batches = args.sync_records.div_ceil(RECORDS_PER_BATCH);
    let sync_records = sync_batches * RECORDS_PER_BATCH;
    let s = Partition::open(root.join("sync-0"), sync_cfg.clone())?;
    let (secs, bytes) = append(&s, &pool, sync_batches)?;
    let note = format!("{} fsyncs / {sync_batches} appends", s.fsyncs());
    table.push(line("append sync, 1 writer", sync_records, bytes, secs, &note));
    s.close()?;

    // (c) Sync durability, concurrent writers: appends share fsyncs (group commit).
    let g = Partition::open(root.join("sync-group-0"), sync_cfg)?;
    let per_writer = sync_batches.div_ceil(WRITERS as u64);
    let barrier = Barrier::new(WRITERS + 1);
    let (secs, bytes) = std::thread::scope(|scope| -> Result<(f64, u64)> {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (g, pool, barrier) = (&g, &pool[w * POOL / WRITERS..], &barrier);
                scope.spawn(move || -> Result<u64> {
                    barrier.wait();
                    let mut bytes = 0;
                    for i in 0..per_writer as usize {
                        let buf = &pool[i % pool.len()];
                        g.append(buf)?;
                        bytes += buf.len() as u64;
                    }
                    Ok(bytes)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let mut bytes = 0;
        for w in writers {
            bytes += w.join().expect("writer panicked")?;
        }
        Ok((start.elapsed().as_secs_f64(), bytes))
    })?;
    let appends = per_writer * WRITERS as u64;
    let note = format!("{} fsyncs / {appends} appends", g.fsyncs());
    let name = format!("append sync, {WRITERS} writers");
    table.push(line(&name, appends * RECORDS_PER_BATCH, bytes, secs, &note));
    g.close()?;

    // (d) Read back everything (a) wrote: from disk, then from the page cache.
    evict(p.dir())?;
    for name in ["read cold (FileSlice::read)", "read hot (FileSlice::read)"] {
        let (secs, bytes, seen) = read_all(&p)?;
        let note = format!("{} batches, 1 MiB reads", group(seen));
        table.push(line(name, seen * RECORDS_PER_BATCH, bytes, secs, &note));
    }
    p.close()?;

    // (e) The disk's sequential write bandwidth, for scale.
    let (dd_bytes, dd_secs) = dd(root, args.dd_mib)?;
    let dd_rate = dd_bytes as f64 / dd_secs;
    let name = "dd bs=1M conv=fdatasync";
    let mib = group(args.dd_mib);
    table
        .push(format!("{name:<30} {mib:>12} MiB {:>41.0} log MB/s  {dd_secs:.2} s", dd_rate / 1e6));
    table[0] += &format!(", {:.0}% of dd", 100.0 * append_a / dd_rate);
    table[1] += &format!(", {:.0}% of dd", 100.0 * append_flushed / dd_rate);

    println!();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("weir log bench: {cpus} CPUs, {} ({fs})", root.display());
    let batch_len = pool[0].len();
    println!(
        "records: {VALUE_LEN} B value, no key; {RECORDS_PER_BATCH} per batch = {batch_len} B on disk"
    );
    println!("append buffers: the pool's, as received (append neither copies nor changes them)");
    println!("MB/s = 10^6 B of record payload/s; log MB/s = 10^6 B/s written to the .log files");
    println!("(% of dd compares log MB/s; the flusher fsyncs every 1 s)\n");
    for l in &table {
        println!("{l}");
    }
    Ok(())
}
