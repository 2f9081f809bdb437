//! Passthrough: emits every input record unchanged (key, value, headers) to the
//! topic named by the config's `output` (required). The SDK overhead benchmark.
//! With `keep = input` it also keeps each record's partition (else the key picks
//! it), and sets the timestamp explicitly (else the SDK's default gives the
//! input's).

use weir_sdk::{Config, Context, Error, OutputRecord, Processor, Record};

/// The passthrough processor.
#[derive(Debug)]
pub struct Passthrough {
    /// Where every record goes.
    output: String,
    /// Whether outputs keep the input's timestamp and partition.
    keep_input: bool,
}

impl Processor for Passthrough {
    fn init(config: &Config) -> Result<Self, Error> {
        let keep_input = match config.get("keep") {
            None => false,
            Some("input") => true,
            Some(other) => return Err(Error::msg(format!("keep must be `input`, not {other:?}"))),
        };
        Ok(Self { output: config.require("output")?.to_owned(), keep_input })
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        if self.keep_input {
            let out = OutputRecord::copy_of(&self.output, record)
                .timestamp(record.timestamp)
                .partition(record.partition);
            return Ok(ctx.emit_record(&out)?);
        }
        Ok(ctx.forward(&self.output, record)?)
    }
}

weir_sdk::export!(Passthrough);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestContext;
    use weir_sdk::{EmitError, Header};

    use super::*;

    #[test]
    fn forwards_key_value_and_headers() {
        let mut passthrough =
            Passthrough::init(&[("output", "out")].into_iter().collect()).unwrap();
        let mut test = TestContext::new().with_output("out");
        let record = Record::new("k", "v").with_header("trace", "1");
        let tombstone = Record { value: None, key: None, ..Record::new("", "") };
        test.process_batch(&mut passthrough, [record, tombstone]).unwrap();
        let [first, second] = test.emitted() else { panic!("expected two records") };
        assert_eq!(
            (first.key.as_deref(), first.value.as_deref()),
            (Some(&b"k"[..]), Some(&b"v"[..]))
        );
        assert_eq!(first.headers, [Header { key: "trace".into(), value: Some(b"1".to_vec()) }]);
        assert_eq!((second.key.as_deref(), second.value.as_deref()), (None, None));
    }

    #[test]
    fn output_is_required_and_must_be_declared() {
        assert!(Passthrough::init(&Config::default()).is_err());
        let mut passthrough =
            Passthrough::init(&[("output", "out")].into_iter().collect()).unwrap();
        let mut test = TestContext::new();
        let error = test.process_batch(&mut passthrough, [Record::new("k", "v")]).unwrap_err();
        assert_eq!(error.message, EmitError::UndeclaredTopic.to_string());
    }
}
