//! Misbehave: a guest that misbehaves on purpose, to test the host's sandbox
//! limits and error policies. The config's `mode` picks what `process` does with
//! each record:
//!
//! | mode         | behaviour                                                          |
//! |--------------|--------------------------------------------------------------------|
//! | `ok`         | emits the record unchanged to `output` (a passthrough)             |
//! | `spin`       | loops forever (the CPU deadline must stop it)                      |
//! | `hog`        | allocates and touches 1 MiB after 1 MiB without end (memory cap)   |
//! | `panic`      | panics (a trap)                                                    |
//! | `undeclared` | emits to `not-declared` and returns the host's error               |
//! | `huge`       | emits a 10 MiB record, then `count` (default 1000000) 1 KiB records, to `output`; returns the first emit error |
//! | `fail-on`    | returns an error for a record whose value is `poison`, else `ok`    |
//! | `trap-on`    | panics for a record whose value is `poison`, else `ok`              |
//! | `log-flood`  | writes `lines` (default 10000) log lines, then `ok`                 |
//!
//! `output` is required by every mode that emits; `poison` by `fail-on` and `trap-on`.

use std::hint::black_box;

use weir_sdk::{Config, Context, Error, Processor, Record};

/// The misbehaving processor.
#[derive(Debug)]
pub struct Misbehave {
    /// What to do with each record.
    mode: Mode,
    /// The output topic (empty for the modes that do not emit).
    output: String,
}

/// The behaviours; see the crate docs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Ok,
    Spin,
    Hog,
    Panic,
    Undeclared,
    Huge { count: u64 },
    FailOn { poison: Vec<u8> },
    TrapOn { poison: Vec<u8> },
    LogFlood { lines: u32 },
}

/// The size of the huge record.
const HUGE_BYTES: usize = 10 << 20;

impl Processor for Misbehave {
    fn init(config: &Config) -> Result<Self, Error> {
        let poison = || config.require("poison").map(|p| p.as_bytes().to_vec());
        let mode = match config.require("mode")? {
            "ok" => Mode::Ok,
            "spin" => Mode::Spin,
            "hog" => Mode::Hog,
            "panic" => Mode::Panic,
            "undeclared" => Mode::Undeclared,
            "huge" => Mode::Huge { count: config.parse_or("count", 1_000_000)? },
            "fail-on" => Mode::FailOn { poison: poison()? },
            "trap-on" => Mode::TrapOn { poison: poison()? },
            "log-flood" => Mode::LogFlood { lines: config.parse_or("lines", 10_000)? },
            other => return Err(Error::msg(format!("config: unknown `mode` {other:?}"))),
        };
        let emits = !matches!(mode, Mode::Spin | Mode::Hog | Mode::Panic | Mode::Undeclared);
        let output = if emits { config.require("output")?.to_owned() } else { String::new() };
        Ok(Self { mode, output })
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        match &self.mode {
            Mode::Ok => {}
            Mode::Spin => spin(),
            Mode::Hog => hog(),
            Mode::Panic => panic!("misbehave: panic at offset {}", record.offset),
            Mode::Undeclared => return Ok(ctx.forward("not-declared", record)?),
            Mode::Huge { count } => {
                ctx.emit(&self.output, b"huge", vec![b'x'; HUGE_BYTES])?;
                let value = [b'y'; 1024];
                for i in 0..*count {
                    ctx.emit(&self.output, i.to_be_bytes(), value)?;
                }
                return Ok(());
            }
            Mode::FailOn { poison } if record.value() == Some(poison) => {
                return Err(Error::msg(format!(
                    "misbehave: poison record at offset {}",
                    record.offset
                )));
            }
            Mode::TrapOn { poison } if record.value() == Some(poison) => {
                panic!("misbehave: poison record at offset {}", record.offset)
            }
            Mode::FailOn { .. } | Mode::TrapOn { .. } => {}
            Mode::LogFlood { lines } => {
                for line in 0..*lines {
                    ctx.info(format!("misbehave: log line {line} for offset {}", record.offset));
                }
            }
        }
        Ok(ctx.forward(&self.output, record)?)
    }
}

/// Loops forever, doing work the optimizer cannot remove.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Allocates and touches memory until the allocator fails (an abort, so a trap).
fn hog() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        for page in chunk.chunks_mut(4096) {
            page[0] = 1;
        }
        hoard.push(black_box(chunk));
    }
}

weir_sdk::export!(Misbehave);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::{LogLine, TestContext};
    use weir_sdk::{EmitError, LogLevel};

    use super::*;

    fn setup(pairs: &[(&str, &str)]) -> (Misbehave, TestContext) {
        let config = pairs.iter().copied().chain([("output", "out")]).collect();
        (Misbehave::init(&config).unwrap(), TestContext::new().with_output("out"))
    }

    #[test]
    fn init_checks_the_mode_and_its_settings() {
        let init = |pairs: &[(&str, &str)]| Misbehave::init(&pairs.iter().copied().collect());
        assert!(init(&[("mode", "sulk")]).unwrap_err().message().contains("sulk"));
        assert!(
            init(&[("mode", "fail-on"), ("output", "o")]).unwrap_err().message().contains("poison")
        );
        assert!(init(&[("mode", "ok")]).unwrap_err().message().contains("output"));
        assert_eq!(init(&[("mode", "spin")]).unwrap().mode, Mode::Spin);
        assert_eq!(init(&[("mode", "hog")]).unwrap().mode, Mode::Hog);
    }

    #[test]
    fn fail_on_errors_for_the_poison_only() {
        let (mut guest, mut test) = setup(&[("mode", "fail-on"), ("poison", "bad")]);
        test.process_batch(&mut guest, [Record::new("k", "good")]).unwrap();
        let batch =
            [Record::new("k", "good").with_offset(1), Record::new("k", "bad").with_offset(2)];
        let error = test.process_batch(&mut guest, batch).unwrap_err();
        assert_eq!(error.offset, Some(2));
        assert_eq!(test.emitted().len(), 1, "the failed batch's emit is discarded");
    }

    #[test]
    #[should_panic(expected = "poison record at offset 3")]
    fn trap_on_panics_for_the_poison() {
        let (mut guest, mut test) = setup(&[("mode", "trap-on"), ("poison", "bad")]);
        test.process_batch(
            &mut guest,
            [Record::new("k", "ok"), Record::new("k", "bad").with_offset(3)],
        )
        .unwrap();
    }

    #[test]
    #[should_panic(expected = "misbehave: panic")]
    fn panic_panics() {
        let (mut guest, mut test) = setup(&[("mode", "panic")]);
        let _ = test.process_batch(&mut guest, [Record::new("k", "v")]);
    }

    #[test]
    fn undeclared_returns_the_hosts_error() {
        let (mut guest, mut test) = setup(&[("mode", "undeclared")]);
        let error = test.process_batch(&mut guest, [Record::new("k", "v")]).unwrap_err();
        assert_eq!(error.message, EmitError::UndeclaredTopic.to_string());
    }

    #[test]
    fn huge_stops_at_the_output_limit() {
        let (mut guest, test) = setup(&[("mode", "huge"), ("count", "10")]);
        let mut test = test.with_output_limit(5);
        let error = test.process_batch(&mut guest, [Record::new("k", "v")]).unwrap_err();
        assert_eq!(error.message, EmitError::OutputLimit.to_string());

        let (mut guest, mut test) = setup(&[("mode", "huge"), ("count", "3")]);
        test.process_batch(&mut guest, [Record::new("k", "v")]).unwrap();
        let sizes: Vec<usize> =
            test.emitted().iter().map(|e| e.value.as_ref().unwrap().len()).collect();
        assert_eq!(sizes, [HUGE_BYTES, 1024, 1024, 1024]);
    }

    #[test]
    fn log_flood_logs_then_passes_through() {
        let (mut guest, mut test) = setup(&[("mode", "log-flood"), ("lines", "3")]);
        test.process_batch(&mut guest, [Record::new("k", "v")]).unwrap();
        assert_eq!(test.logs().len(), 3);
        let first =
            LogLine { level: LogLevel::Info, message: "misbehave: log line 0 for offset 0".into() };
        assert_eq!(test.logs()[0], first);
        assert_eq!(test.emitted().len(), 1);
    }
}
