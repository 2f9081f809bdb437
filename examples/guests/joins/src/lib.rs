//! A join of the processor's two inputs, with the SDK's helpers, as config
//! `kind` says; both emit JSON to config `output`, keyed like the input.
//!
//! - `kind = "table"`: a stream-table left join. Records of config `table` (a
//!   topic) update the table (tombstones delete rows); every other record is
//!   emitted as `{"value": V, "row": R}`, `R` the key's row as text or null.
//! - `kind = "window"`: a windowed inner join, config `window_ms` and `grace_ms`
//!   (default 0). Records of config `left` are the left side, the other
//!   input's the right; each pair is emitted as `{"left": L, "right": R}`, at
//!   the later record's timestamp. A late record fails, so the host
//!   dead-letters it with the reason.
//!
//! Event time is the record's timestamp; values are read as UTF-8 text.

use std::time::Duration;

use serde_json::json;
use weir_sdk::join::{Joined, Side, StreamJoin, Table};
use weir_sdk::{Config, Context, Error, Processor, Record};

/// What the processor joins.
#[derive(Debug)]
enum Kind {
    Table { topic: String, table: Table },
    Window { left: String, join: StreamJoin },
}

/// The joins processor.
#[derive(Debug)]
pub struct Joins {
    kind: Kind,
    output: String,
}

impl Processor for Joins {
    fn init(config: &Config) -> Result<Self, Error> {
        let kind = match config.require("kind")? {
            "table" => {
                Kind::Table { topic: config.require("table")?.to_owned(), table: Table::new("t")? }
            }
            "window" => {
                let window = Duration::from_millis(config.parse_or("window_ms", 0)?);
                let grace = Duration::from_millis(config.parse_or("grace_ms", 0)?);
                let join = StreamJoin::new("w", window)?.grace(grace);
                Kind::Window { left: config.require("left")?.to_owned(), join }
            }
            other => {
                return Err(Error::msg(format!("kind {other:?}: use \"table\" or \"window\"")));
            }
        };
        Ok(Self { kind, output: config.require("output")?.to_owned() })
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        let key = record.key().unwrap_or_default().to_vec();
        let text = |bytes: Option<&[u8]>| bytes.map(|b| String::from_utf8_lossy(b).into_owned());
        match &self.kind {
            Kind::Table { topic, table } if record.topic == topic => table.apply(ctx, record),
            Kind::Table { table, .. } => {
                let row = text(table.get(ctx, &key).as_deref());
                let joined = json!({ "value": text(record.value()), "row": row });
                ctx.emit(&self.output, &key, joined.to_string())?;
                Ok(())
            }
            Kind::Window { left, join } => {
                let side = if record.topic == left { Side::Left } else { Side::Right };
                let value = record.value().unwrap_or_default();
                match join.add(ctx, side, &key, record.timestamp, record.offset, value)? {
                    Joined::InTime(pairs) => {
                        for pair in pairs {
                            let joined = json!({
                                "left": text(Some(&pair.left.0)),
                                "right": text(Some(&pair.right.0)),
                            });
                            ctx.emit(&self.output, &key, joined.to_string())?;
                        }
                        Ok(())
                    }
                    Joined::Late(late) => Err(Error::msg(format!(
                        "late: timestamp {} is behind the join's watermark {}",
                        late.timestamp, late.watermark
                    ))),
                }
            }
        }
    }
}

weir_sdk::export!(Joins);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestContext;

    use super::*;

    #[test]
    fn stream_records_meet_the_table_as_it_is_when_they_arrive() {
        let config = [("kind", "table"), ("table", "users"), ("output", "out")];
        let mut joins = Joins::init(&config.into_iter().collect()).unwrap();
        let mut test = TestContext::new().with_output("out");
        let batch = [
            Record::new("u1", "click-1").with_topic("clicks"),
            Record::new("u1", "Ada").with_topic("users"),
            Record::new("u1", "click-2").with_topic("clicks"),
            Record::tombstone("u1").with_topic("users"),
            Record::new("u1", "click-3").with_topic("clicks"),
        ];
        test.process_batch(&mut joins, batch).unwrap();
        let rows: Vec<serde_json::Value> = test.emitted().iter().map(|e| e.value_json()).collect();
        let want: Vec<serde_json::Value> = vec![
            json!({"value": "click-1", "row": null}),
            json!({"value": "click-2", "row": "Ada"}),
            json!({"value": "click-3", "row": null}),
        ];
        assert_eq!(rows, want);
    }
}
