//! Filter: emits, unchanged, the records whose value contains the config's `needle`
//! bytes (required; an empty needle matches every record with a value) to the topic
//! named by `output` (required). Records without a value are dropped.

use weir_sdk::{Config, Context, Error, Processor, Record};

/// The filter processor.
#[derive(Debug)]
pub struct Filter {
    /// Where matching records go.
    output: String,
    /// What a value must contain.
    needle: Vec<u8>,
}

impl Processor for Filter {
    fn init(config: &Config) -> Result<Self, Error> {
        Ok(Self {
            output: config.require("output")?.to_owned(),
            needle: config.require("needle")?.as_bytes().to_vec(),
        })
    }

    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
        match record.value() {
            Some(value) if contains(value, &self.needle) => Ok(ctx.forward(&self.output, record)?),
            _ => Ok(()),
        }
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    match needle.split_first() {
        None => true,
        Some((first, rest)) => haystack
            .iter()
            .enumerate()
            .filter(|&(_, byte)| byte == first)
            .any(|(at, _)| haystack[at + 1..].starts_with(rest)),
    }
}

weir_sdk::export!(Filter);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestContext;

    use super::*;

    #[test]
    fn contains_finds_needles_anywhere() {
        assert!(contains(b"abc", b""));
        assert!(contains(b"abc", b"abc"));
        assert!(contains(b"xxabcab", b"ab"));
        assert!(contains(b"aab", b"ab"));
        assert!(!contains(b"ab", b"abc"));
        assert!(!contains(b"", b"a"));
    }

    #[test]
    fn emits_only_matching_values() {
        let config = [("output", "out"), ("needle", "\"vip\":true")].into_iter().collect();
        let mut filter = Filter::init(&config).unwrap();
        let mut test = TestContext::new().with_output("out");
        let batch = [
            Record::new("1", r#"{"vip":true}"#),
            Record::new("2", r#"{"vip":false}"#),
            Record { value: None, ..Record::new("3", "") },
        ];
        test.process_batch(&mut filter, batch).unwrap();
        let keys: Vec<String> = test.emitted().iter().map(|e| e.key_str()).collect();
        assert_eq!(keys, ["1"]);
    }
}
