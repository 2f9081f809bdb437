//! Timers: a test guest that sets, cancels and handles timers as its input
//! records say, to test the host's timers. Each record's value is a command:
//!
//! | value           | what it does                                                  |
//! |-----------------|---------------------------------------------------------------|
//! | `event:KEY:AT`  | sets KEY's event-time timer to AT (ms)                        |
//! | `proc:KEY:MS`   | sets KEY's processing-time timer to the host's clock + MS     |
//! | `cancel:KEY`    | cancels KEY's event-time timer                                |
//! | `hostkey`       | writes a state key of the host's (the call must fail)         |
//! | anything else   | nothing (it still moves the watermark)                        |
//!
//! A fired timer emits to `output` (required) a record keyed by the timer's key
//! with the value `{event|proc}:{at}`. A key named by the config's `fail` makes
//! `on_timer` fail.

use weir_sdk::{Config, Context, Error, Processor, Record, TimeDomain, Timer};

/// The timers guest.
#[derive(Debug)]
pub struct Timers {
    output: String,
    fail: Option<Vec<u8>>,
}

impl Processor for Timers {
    fn init(config: &Config) -> Result<Self, Error> {
        let fail = config.get("fail").map(|k| k.as_bytes().to_vec());
        Ok(Self { output: config.require("output")?.to_owned(), fail })
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        let value = record.value_str()?;
        let mut parts = value.split(':');
        let number = |s: Option<&str>| -> Result<i64, Error> {
            s.and_then(|s| s.parse().ok())
                .ok_or_else(|| Error::msg(format!("bad command {value:?}")))
        };
        match (parts.next(), parts.next()) {
            (Some("event"), Some(key)) => {
                ctx.set_timer(TimeDomain::EventTime, key, number(parts.next())?)
            }
            (Some("proc"), Some(key)) => {
                let at = ctx.now() + number(parts.next())?;
                ctx.set_timer(TimeDomain::ProcessingTime, key, at);
            }
            (Some("cancel"), Some(key)) => ctx.cancel_timer(TimeDomain::EventTime, key),
            (Some("hostkey"), None) => ctx.state_put(b"\xffweir/wm", b"0")?,
            _ => {}
        }
        Ok(())
    }

    fn on_timer(&mut self, timer: &Timer, ctx: &mut Context<'_>) -> Result<(), Error> {
        if self.fail.as_deref() == Some(&timer.key[..]) {
            return Err(Error::msg("told to fail"));
        }
        let domain = match timer.domain {
            TimeDomain::EventTime => "event",
            TimeDomain::ProcessingTime => "proc",
        };
        Ok(ctx.emit(&self.output, &timer.key, format!("{domain}:{}", timer.at))?)
    }
}

weir_sdk::export!(Timers);
