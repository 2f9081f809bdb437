//! Crash test for the partition log: appends run in a child process that is killed
//! with SIGKILL at a random moment, over and over on the same directory, and after
//! every kill the log must hold every append that had returned, intact.
//!
//! The test binary is its own child: it re-executes itself to run the ignored
//! `log_crash::child_appender` test with `WEIR_CRASH_CHILD_DIR` set. The child opens the
//! partition (recovering the previous round's crash), then appends batches of random
//! sizes and reports each one that returned on stdout:
//!
//! ```text
//! ready <high watermark after recovery>
//! writing <bytes>        (before a big request, so the parent can aim a kill at it)
//! acked <base offset> <last offset> <bytes> <crc32c of the request, offsets assigned>
//! ```
//!
//! The parent kills the child a random 5..150 ms after `ready` (or at the first big
//! write after that), then opens a copy of the directory and checks it: every
//! acknowledged request is there byte for byte, the whole log reads back from offset
//! 0 to the high watermark with valid CRCs and dense offsets, and what the previous
//! round's recovery kept is still there. The original is left as the kill left it,
//! for the next child to recover. Rounds alternate interval and sync durability; one
//! round in three also tears the last segment's tail, as a write cut short would.
//!
//! SIGKILL ends the process, not the machine: whatever `write` put in the page cache
//! survives it, fsynced or not. So under `Durability::Interval` as much as under
//! `Durability::Sync`, every acknowledged append must be there after the kill; what
//! the two policies change is only how much recovery may trust (the recovery point
//! the flusher writes) and where a kill tends to land (in a write or in an fsync).
//! Losing data that was never fsynced is a power-loss concern this test cannot see.
//!
//! The seed comes from the clock and is printed; set `WEIR_CRASH_SEED` to replay the
//! same batches and kill delays (the moments a kill lands still vary).

use crate::log_support;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use log_support::{StoredBatch, as_stored, scan_log};
use weir_broker::log::record::{BatchBuilder, Compression};
use weir_broker::log::{Durability, Flusher, LogConfig, Partition};

/// Set in the child's environment: the partition directory to append to.
const CHILD_DIR: &str = "WEIR_CRASH_CHILD_DIR";
/// Set in the child's environment: the seed of its batches.
const CHILD_SEED: &str = "WEIR_CRASH_CHILD_SEED";
/// Set in the child's environment: "sync" or "interval".
const CHILD_DURABILITY: &str = "WEIR_CRASH_CHILD_DURABILITY";
/// Kill-and-recover rounds.
const ROUNDS: usize = 24;
/// How long a child may take to open the partition and say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Appends one child makes at most, should a kill come late; it then idles.
const MAX_CHILD_APPENDS: usize = 50_000;
/// The largest batch the child writes: close to 32 KiB, so that a kill can land in
/// the middle of writing one.
const BIG_BATCH: usize = 32 * 1024 - 512;

/// Small segments and a dense index, so that rolls and index entries happen all the
/// time within one round.
fn config(durability: Durability) -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024,
        index_interval_bytes: 512,
        durability,
        ..LogConfig::default()
    }
}

/// One append the child reported as returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ack {
    /// Offset of the first record of the request.
    base: u64,
    /// Offset of its last record.
    last: u64,
    /// Bytes of the request (one or more batches).
    len: usize,
    /// CRC-32C of the request's bytes after the log assigned offsets.
    crc: u32,
}

impl Ack {
    fn parse(line: &str) -> Option<Ack> {
        let mut words = line.strip_prefix("acked ")?.split(' ');
        let mut next = || words.next();
        Some(Ack {
            base: next()?.parse().ok()?,
            last: next()?.parse().ok()?,
            len: next()?.parse().ok()?,
            crc: u32::from_str_radix(next()?, 16).ok()?,
        })
    }
}

/// One request of one to three batches of random shape, about one in twelve of them
/// a big one.
fn random_request(rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut request = Vec::new();
    let batches = if rng.u8(..6) == 0 { rng.usize(2..=3) } else { 1 };
    for _ in 0..batches {
        let (count, value_len) = if rng.u8(..12) == 0 {
            let count = rng.usize(1..=4);
            (count, (BIG_BATCH - 100) / count - rng.usize(0..64))
        } else {
            (rng.usize(1..=20), rng.usize(0..=200))
        };
        let mut b = BatchBuilder::new(0, Compression::None);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        for _ in 0..count {
            let mut value = vec![0u8; value_len];
            rng.fill(&mut value);
            b.push(now as i64, Some(&rng.u64(..).to_be_bytes()), Some(&value), &[]);
        }
        request.extend_from_slice(&b.build().expect("a random batch encodes"));
    }
    request
}

/// The child half: does nothing unless the crash test started it.
#[test]
#[ignore = "the child process of sigkill_during_appends_loses_no_acknowledged_append"]
fn child_appender() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    let seed: u64 = std::env::var(CHILD_SEED).expect("seed").parse().expect("numeric seed");
    let mut rng = fastrand::Rng::with_seed(seed);
    let durability = match std::env::var(CHILD_DURABILITY).as_deref() {
        Ok("sync") => Durability::Sync,
        _ => Durability::Interval(Duration::from_millis(rng.u64(5..50))),
    };
    // The flusher moves the recovery point mid-run, so the next open trusts some
    // segments and rescans the rest, and a kill can land in a flush or a checkpoint.
    let flusher = Flusher::start(Duration::from_millis(5));
    let p = Arc::new(Partition::open(&dir, config(durability)).expect("child: open"));
    flusher.register(&p);
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {}", p.high_watermark()).expect("child: stdout");
    out.flush().expect("child: stdout");
    for _ in 0..MAX_CHILD_APPENDS {
        let request = random_request(&mut rng);
        if request.len() >= BIG_BATCH / 2 {
            writeln!(out, "writing {}", request.len()).expect("child: stdout");
            out.flush().expect("child: stdout");
        }
        let info = p.append(&request).expect("child: append");
        let crc = crc32c::crc32c(&as_stored(&request, info.base_offset));
        writeln!(
            out,
            "acked {} {} {} {crc:08x}",
            info.base_offset,
            info.last_offset,
            request.len()
        )
        .expect("child: stdout");
        out.flush().expect("child: stdout");
    }
    // Out of appends before the kill: wait for it (the parent never waits this long).
    thread::sleep(Duration::from_secs(60));
}

/// What one child reported before it was killed.
#[derive(Debug)]
struct ChildRun {
    /// The high watermark the child's open recovered.
    ready_hwm: u64,
    /// Appends that returned, in order.
    acks: Vec<Ack>,
}

/// When to kill a child.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// This long after it said it was ready.
    After(Duration),
    /// As soon as it announces a big write, once this long has passed since it was
    /// ready: the kill then lands in or near that write rather than, most likely, in
    /// an fsync or in building the next batch.
    AtBigWriteAfter(Duration),
}

/// Runs one child on `dir` and SIGKILLs it as `kill` says.
fn run_child(dir: &Path, seed: u64, durability: &str, kill: Kill) -> ChildRun {
    let stderr_path = dir.with_extension("child-stderr");
    let stderr = File::create(&stderr_path).expect("creating the child's stderr file");
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "log_crash::child_appender",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_SEED, seed.to_string())
        .env(CHILD_DURABILITY, durability)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("spawning the child");
    let stdout = child.stdout.take().expect("the child's stdout");
    let (tx, rx) = mpsc::channel::<String>();
    // Forwards whole report lines only: a line cut short by the kill was never fully
    // reported, so the append it names does not count as acknowledged.
    let reader = thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        while stdout.read_line(&mut line).is_ok_and(|n| n > 0) && line.ends_with('\n') {
            // libtest's "test log_crash::child_appender ... " may precede the first line.
            let report = ["ready ", "acked ", "writing "].iter().find_map(|m| line.find(m));
            if let Some(at) = report
                && tx.send(line[at..].trim_end().to_string()).is_err()
            {
                break;
            }
            line.clear();
        }
    });
    let ready_hwm = match rx.recv_timeout(START_TIMEOUT) {
        Ok(line) if line.starts_with("ready ") => line[6..].parse::<u64>().expect("ready <hwm>"),
        other => {
            let _ = child.kill();
            let status = child.wait();
            let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
            panic!("the child did not start ({other:?}; status {status:?}); its stderr:\n{stderr}");
        }
    };
    let mut lines = Vec::new();
    match kill {
        Kill::After(delay) => thread::sleep(delay),
        Kill::AtBigWriteAfter(delay) => {
            thread::sleep(delay);
            lines.extend(rx.try_iter());
            // The next announcement, not one already queued; bounded by the child's
            // appends, and by the timeout should it stop announcing.
            for _ in 0..MAX_CHILD_APPENDS * 2 {
                match rx.recv_timeout(Duration::from_secs(2)) {
                    Ok(line) if line.starts_with("writing ") => break,
                    Ok(line) => lines.push(line),
                    Err(_) => break,
                }
            }
        }
    }
    child.kill().expect("killing the child");
    let status = child.wait().expect("waiting for the child");
    reader.join().expect("the stdout reader");
    lines.extend(rx.try_iter());
    if status.signal() != Some(libc::SIGKILL) {
        let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
        panic!("the child ended before the kill ({status}); its stderr:\n{stderr}");
    }
    let acks = lines
        .iter()
        .filter(|l| l.starts_with("acked "))
        .map(|l| Ack::parse(l).unwrap_or_else(|| panic!("a malformed line from the child: {l:?}")));
    ChildRun { ready_hwm, acks: acks.collect() }
}

/// What [`tear_tail`] appended.
#[derive(Debug, Clone, Copy)]
struct Tear {
    /// Base offset of the segment whose log got the torn batch.
    segment: u64,
    /// The log's length before.
    at: u64,
    /// Bytes appended: a strict prefix of a batch.
    len: u64,
}

/// Appends the first bytes of a batch to the last segment's log, as a write cut
/// short by the kill would leave them. Linux does not tear page-cache writes of this
/// size on SIGKILL in practice (the kill lands before or after the copy), so without
/// this the torn-tail path would almost never run here.
fn tear_tail(dir: &Path, rng: &mut fastrand::Rng) -> Tear {
    let segment = fs::read_dir(dir)
        .expect("listing the partition")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".log")?.parse::<u64>().ok()
        })
        .max()
        .expect("at least one segment");
    let path = dir.join(format!("{segment:020}.log"));
    let at = fs::metadata(&path).expect("the last segment's log").len();
    let batch = log_support::make_batch(0, rng.usize(1..=20), rng.usize(0..=2_000));
    // Sometimes inside the 61-byte header, sometimes in the records.
    let len = if rng.bool() { rng.usize(1..61) } else { rng.usize(61..batch.len()) };
    let mut file = fs::OpenOptions::new().append(true).open(&path).expect("opening the log");
    file.write_all(&batch[..len]).expect("tearing the tail");
    Tear { segment, at, len: len as u64 }
}

/// Copies a partition directory for checking, leaving the original as the kill left
/// it. The logs of all but the last segment are hard links: recovery only reads them
/// (cutting one would be damage the check fails on anyway), and copies would cost an
/// fsync of every byte when the copy is opened.
fn snapshot(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("creating the copy");
    let mut names: Vec<_> = fs::read_dir(from)
        .expect("listing the partition")
        .map(|e| e.expect("a directory entry").file_name().into_string().expect("a name"))
        .collect();
    names.sort();
    let last_log = names.iter().rfind(|n| n.ends_with(".log")).cloned();
    for name in names {
        let (src, dst) = (from.join(&name), to.join(&name));
        let done = if name.ends_with(".log") && Some(&name) != last_log.as_ref() {
            fs::hard_link(&src, &dst)
        } else {
            fs::copy(&src, &dst).map(drop)
        };
        done.unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
    }
}

/// Checks that `ack` is in the log: the batches from its base offset, concatenated up
/// to its last offset, are the request's bytes exactly.
fn assert_acked_present(ack: &Ack, by_base: &BTreeMap<u64, &StoredBatch>) {
    let mut request = Vec::new();
    let mut next = ack.base;
    // A request holds at most three batches.
    for _ in 0..3 {
        let b = by_base.get(&next).unwrap_or_else(|| {
            panic!("acked {}..={}: no batch starts at {next} after recovery", ack.base, ack.last)
        });
        request.extend_from_slice(&b.bytes);
        next = b.last + 1;
        if b.last >= ack.last {
            break;
        }
    }
    assert_eq!(next, ack.last + 1, "acked {}..={}: batches end elsewhere", ack.base, ack.last);
    assert_eq!(request.len(), ack.len, "acked {}..={}: length differs", ack.base, ack.last);
    assert_eq!(
        crc32c::crc32c(&request),
        ack.crc,
        "acked {}..={}: bytes differ",
        ack.base,
        ack.last
    );
}

#[test]
fn sigkill_during_appends_loses_no_acknowledged_append() {
    let seed =
        std::env::var("WEIR_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("log_crash: seed {seed} (set WEIR_CRASH_SEED to replay)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let root = tempfile::tempdir().expect("a temporary directory");
    let dir = root.path().join("crash-0");
    // Every acknowledged append so far, by base offset.
    let mut acked: BTreeMap<u64, Ack> = BTreeMap::new();
    // The log as the previous round's recovery left it: (base, last, crc) per batch.
    let mut previous: Vec<(u64, u64, u32)> = Vec::new();
    let mut previous_hwm = 0;
    let mut total_truncations = 0;
    for round in 0..ROUNDS {
        let durability = if round % 2 == 0 { "interval" } else { "sync" };
        let delay = Duration::from_millis(rng.u64(5..150));
        let kill = if round % 4 < 2 { Kill::After(delay) } else { Kill::AtBigWriteAfter(delay) };
        let run = run_child(&dir, rng.u64(..), durability, kill);
        let tear = (round % 3 == 2).then(|| tear_tail(&dir, &mut rng));
        assert_eq!(
            run.ready_hwm, previous_hwm,
            "round {round}: the child recovered a different log than the last check did"
        );
        // One appender's acknowledged offsets run on from the recovered high
        // watermark, which is past every earlier acknowledgement: none is reused.
        let mut next = run.ready_hwm;
        for ack in &run.acks {
            assert_eq!(ack.base, next, "round {round}: {ack:?} does not follow on");
            assert!(ack.base <= ack.last, "round {round}: {ack:?}");
            next = ack.last + 1;
            acked.insert(ack.base, *ack);
        }

        // Check a copy, so that the next child recovers this crash itself.
        let copy = root.path().join(format!("check-{round}"));
        snapshot(&dir, &copy);
        let p = Partition::open(&copy, config(Durability::Interval(Duration::from_secs(60))))
            .unwrap_or_else(|e| panic!("round {round}: reopening after the kill failed: {e}"));
        let log = scan_log(&p);
        let hwm = p.high_watermark();
        assert_eq!(p.log_start_offset(), 0, "round {round}: nothing may be deleted");
        if let Some(last) = acked.values().next_back() {
            assert!(hwm > last.last, "round {round}: hwm {hwm} is below the last ack {last:?}");
        }
        let by_base: BTreeMap<u64, &StoredBatch> = log.iter().map(|b| (b.base, b)).collect();
        for ack in acked.values() {
            assert_acked_present(ack, &by_base);
        }
        // Acknowledged or not, what one recovery kept, the next keeps.
        let summary: Vec<(u64, u64, u32)> =
            log.iter().map(|b| (b.base, b.last, crc32c::crc32c(&b.bytes))).collect();
        assert!(
            summary.starts_with(&previous),
            "round {round}: batches kept by the previous recovery changed or vanished"
        );
        // And a read from inside each acknowledged request serves its first batch.
        for ack in acked.values().filter(|a| a.base >= previous_hwm) {
            let b = log_support::batch_at(&p, ack.base + (ack.last - ack.base) / 2);
            assert!(b.base >= ack.base && b.last <= ack.last, "round {round}: {ack:?}");
        }
        if let Some(tear) = tear {
            // One cut, in that segment, dropping the torn bytes (and, should the kill
            // itself have torn a write, what that left before them).
            let cuts = p.truncations();
            assert_eq!(cuts.len(), 1, "round {round}: after {tear:?}, cuts {cuts:?}");
            let (segment, cut) = cuts[0];
            assert_eq!(segment, tear.segment, "round {round}: {tear:?}, cuts {cuts:?}");
            assert!(cut.position <= tear.at, "round {round}: {tear:?}, cuts {cuts:?}");
            assert_eq!(cut.position + cut.dropped, tear.at + tear.len, "round {round}: {tear:?}");
        }
        total_truncations += p.truncations().len();
        eprintln!(
            "round {:2}/{ROUNDS} {durability:>8}, kill {kill:?}{}: {:4} acked ({:5} in all), \
             hwm {hwm:6}, {:3} segments, truncations {:?}",
            round + 1,
            if tear.is_some() { ", torn tail" } else { "" },
            run.acks.len(),
            acked.len(),
            p.segment_count(),
            p.truncations(),
        );
        drop(p);
        fs::remove_dir_all(&copy).expect("removing the copy");
        previous = summary;
        previous_hwm = hwm;
    }
    eprintln!(
        "log_crash: {ROUNDS} rounds, {} acknowledged appends all present, hwm {previous_hwm}, \
         {total_truncations} truncations",
        acked.len()
    );
    assert!(!acked.is_empty(), "no append was acknowledged in {ROUNDS} rounds");
}
