//! Crash test for compaction: a child process appends keyed records (tombstones
//! among them) to a compacted partition while a second thread cleans it without
//! pause, and is killed with SIGKILL, half the rounds just after a cleaning pass
//! starts. After each kill the parent opens the partition (recovering it, and
//! finishing or discarding the interrupted cleaning) and checks it against its own
//! model of what the child appended:
//!
//! - every record in the log is one the child appended at that offset;
//! - replaying the log gives each key's latest value, as the model has it (the
//!   append in flight at the kill counts if the log holds it);
//! - nothing is truncated but the tail of the active segment.
//!
//! The child is this test binary, re-executed to run the ignored
//! `log_compaction_crash::child` test. It reports on stdout:
//!
//! ```text
//! ready <high watermark after recovery>
//! try <key>=<value or -> ...   (the records of the next append, before it)
//! acked <base offset>
//! clean-start / clean-end      (around each cleaning pass)
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use weir_broker::log::cleaner::CleanerOptions;
use weir_broker::log::record::{BatchBuilder, Compression};
use weir_broker::log::{Cleanup, LogConfig, Partition, Reader};

const CHILD_DIR: &str = "WEIR_COMPACTION_CHILD_DIR";
const CHILD_SEED: &str = "WEIR_COMPACTION_CHILD_SEED";
const ROUNDS: usize = 20;
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Appends one child makes at most, should a kill come late.
const MAX_APPENDS: usize = 20_000;

/// Small segments, every byte dirty worth cleaning, tombstones gone at once.
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 8 * 1024,
        index_interval_bytes: 512,
        retention_age: None,
        cleanup: Cleanup {
            delete: false,
            compact: true,
            min_dirty_ppm: 0,
            delete_retention: Duration::ZERO,
            ..Cleanup::default()
        },
        ..LogConfig::default()
    }
}

/// One record: key and value (None: a tombstone).
type Row = (String, Option<String>);

fn encode(rows: &[Row]) -> String {
    let each = rows.iter().map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("-")));
    each.collect::<Vec<_>>().join(" ")
}

fn decode(text: &str) -> Vec<Row> {
    text.split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k.to_owned(), (v != "-").then(|| v.to_owned()))
        })
        .collect()
}

#[test]
#[ignore = "the child process of sigkill_during_compaction_loses_nothing"]
fn child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    let seed: u64 = std::env::var(CHILD_SEED).expect("seed").parse().expect("numeric seed");
    let mut rng = fastrand::Rng::with_seed(seed);
    let p = Arc::new(Partition::open(Path::new(&dir), config()).expect("opening"));
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let say = {
        let out = Arc::clone(&out);
        move |line: String| {
            let mut out = out.lock().unwrap();
            writeln!(out, "{line}").unwrap();
            out.flush().unwrap();
        }
    };
    say(format!("ready {}", p.high_watermark()));
    {
        let (p, say) = (Arc::clone(&p), say.clone());
        // Slow enough that a pass takes a while: the kill can land inside one.
        let opts = CleanerOptions { io_bytes_per_second: Some(4 << 20), ..Default::default() };
        thread::spawn(move || {
            loop {
                say("clean-start".into());
                p.clean(&opts).expect("cleaning");
                say("clean-end".into());
                thread::yield_now();
            }
        });
    }
    for n in 0..MAX_APPENDS {
        let mut b = BatchBuilder::new(0, [Compression::None, Compression::Lz4][n % 2]);
        let rows: Vec<Row> = (0..rng.usize(1..=6))
            .map(|i| {
                let key = format!("k{}", rng.u32(..60));
                let value = (rng.u8(..8) != 0).then(|| format!("{seed}.{n}.{i}"));
                (key, value)
            })
            .collect();
        for (key, value) in &rows {
            b.push(1_000, Some(key.as_bytes()), value.as_deref().map(str::as_bytes), &[]);
        }
        say(format!("try {}", encode(&rows)));
        let info = p.append(&b.build().unwrap()).expect("appending");
        say(format!("acked {}", info.base_offset));
    }
    thread::sleep(Duration::from_secs(3600));
}

/// What the child reported before its kill.
struct Round {
    /// Appends that returned: base offset and records.
    acked: Vec<(u64, Vec<Row>)>,
    /// The append in flight, if any.
    in_flight: Option<Vec<Row>>,
    /// Whether the kill came inside a cleaning pass.
    mid_clean: bool,
}

fn run_child(dir: &Path, seed: u64, rng: &mut fastrand::Rng) -> Round {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(exe)
        .args(["--exact", "log_compaction_crash::child", "--ignored", "--nocapture"])
        .args(["--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_SEED, seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning the child");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        // Whole lines only: one cut by the kill was never reported.
        while stdout.read_line(&mut line).is_ok_and(|n| n > 0) && line.ends_with('\n') {
            let marks = ["ready ", "try ", "acked ", "clean-start", "clean-end"];
            if let Some(at) = marks.iter().find_map(|m| line.find(m))
                && tx.send(line[at..].trim_end().to_owned()).is_err()
            {
                break;
            }
            line.clear();
        }
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(line) if line.starts_with("ready ") => {}
        other => {
            let _ = child.kill();
            panic!("the child did not start: {other:?}");
        }
    }
    let mut lines = Vec::new();
    let aim_at_clean = rng.bool();
    let deadline = std::time::Instant::now() + Duration::from_millis(rng.u64(30..300));
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let starts = line == "clean-start";
                lines.push(line);
                // A pass over a few segments, throttled: a kill 0-3 ms after its
                // start lands inside it.
                if aim_at_clean && starts && lines.len() > 20 {
                    thread::sleep(Duration::from_micros(rng.u64(0..3_000)));
                    break;
                }
            }
            Err(_) => break,
        }
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaping the child");
    lines.extend(rx.try_iter());
    let mut round = Round { acked: Vec::new(), in_flight: None, mid_clean: false };
    for line in lines {
        if let Some(rows) = line.strip_prefix("try ") {
            round.in_flight = Some(decode(rows));
        } else if let Some(base) = line.strip_prefix("acked ") {
            let rows = round.in_flight.take().expect("an acked append was tried first");
            round.acked.push((base.parse().expect("offset"), rows));
        } else if line == "clean-start" {
            round.mid_clean = true;
        } else if line == "clean-end" {
            round.mid_clean = false;
        }
    }
    round
}

/// Key -> latest value (None: deleted) of `appended`.
fn latest(appended: &BTreeMap<u64, Row>) -> BTreeMap<String, String> {
    let mut live = BTreeMap::new();
    for (key, value) in appended.values() {
        match value {
            Some(v) => drop(live.insert(key.clone(), v.clone())),
            None => drop(live.remove(key)),
        }
    }
    live
}

#[test]
fn sigkill_during_compaction_loses_nothing() {
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("t-0");
    let mut model: BTreeMap<u64, Row> = BTreeMap::new();
    let mut next = 0u64;
    let mut mid_clean = 0;
    let mut cleaned = 0;
    for round in 0..ROUNDS {
        let report = run_child(&log, seed.wrapping_add(round as u64), &mut rng);
        mid_clean += usize::from(report.mid_clean);
        for (base, rows) in report.acked {
            assert_eq!(base, next, "round {round}: appends follow on");
            for (i, row) in rows.into_iter().enumerate() {
                model.insert(base + i as u64, row);
            }
            next = model.keys().next_back().map_or(0, |o| o + 1);
        }
        let p = Partition::open(&log, config()).expect("recovering");
        // The append in flight counts if it made it to the log.
        if let Some(rows) = report.in_flight
            && p.high_watermark() > next
        {
            assert_eq!(p.high_watermark(), next + rows.len() as u64, "round {round}");
            for (i, row) in rows.into_iter().enumerate() {
                model.insert(next + i as u64, row);
            }
            next = p.high_watermark();
        }
        assert_eq!(p.high_watermark(), next, "round {round}: nothing acknowledged is lost");
        let mut replayed: BTreeMap<u64, Row> = BTreeMap::new();
        for r in Reader::from_log_start(&p, "t", 0).records() {
            let r = r.expect("the log reads back");
            let text = |b: Option<bytes::Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
            let row = (text(r.key).expect("a key"), text(r.value));
            assert_eq!(
                model.get(&(r.offset as u64)),
                Some(&row),
                "round {round}, offset {}",
                r.offset
            );
            replayed.insert(r.offset as u64, row);
        }
        assert_eq!(latest(&replayed), latest(&model), "round {round}: each key's latest value");
        cleaned = cleaned.max(p.cleaned_through());
        p.close().expect("closing");
    }
    eprintln!("{mid_clean} of {ROUNDS} kills inside a cleaning pass; cleaned through {cleaned}");
    assert!(cleaned > 0, "the child's cleaner never cleaned");
    assert!(mid_clean > 0, "no kill landed inside a cleaning pass");
}
