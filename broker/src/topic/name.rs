//! Topic names, checked as Kafka checks them: a topic name becomes a directory name
//! (`orders-0/`) and a metric name, so only a small ASCII alphabet is allowed.

use super::TopicError;

/// Kafka's limit: 255 (a common file-name limit) minus room for the partition suffix.
pub const MAX_NAME_LEN: usize = 249;

/// The characters a topic name may use, for error messages.
const ALLOWED: &str = "ASCII letters, digits, '.', '_' and '-'";

/// Checks `name` against Kafka's rules: non-empty, not `.` or `..`, at most 249
/// characters, only ASCII letters, digits, `.`, `_` and `-`. The error says which
/// rule is broken and what is allowed.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let invalid = |reason: String| Err(TopicError::InvalidTopicName(reason));
    if name.is_empty() {
        return invalid(format!("the name is empty; use 1 to {MAX_NAME_LEN} {ALLOWED}"));
    }
    if name == "." || name == ".." {
        return invalid(format!("{name:?} is reserved (it names a directory); use {ALLOWED}"));
    }
    // Characters before length, so a long non-ASCII name is told about its real
    // problem and the length below counts characters (all ASCII by then).
    if let Some((at, c)) = name.char_indices().find(|&(_, c)| !is_allowed(c)) {
        return invalid(format!(
            "{name:?} contains {c:?} at byte {at}; only {ALLOWED} are allowed"
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return invalid(format!(
            "the name is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        ));
    }
    Ok(())
}

/// Whether `name` is an internal topic (`__consumer_offsets`, ...): by Kafka's
/// convention those start with `__`; clients hide them and users may not write to them.
pub fn is_internal(name: &str) -> bool {
    name.starts_with("__")
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str) -> String {
        match validate_topic_name(name) {
            Err(TopicError::InvalidTopicName(reason)) => reason,
            other => panic!("{name:?} should be rejected, got {other:?}"),
        }
    }

    #[test]
    fn accepts_the_whole_alphabet() {
        for name in ["orders", "a", "Orders-2024_v1.json", "__consumer_offsets", "...", "-"] {
            assert!(validate_topic_name(name).is_ok(), "{name:?}");
        }
        let alphabet: String = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
        assert!(validate_topic_name(&format!("{alphabet}._-")).is_ok());
    }

    #[test]
    fn empty_is_rejected() {
        assert!(reason("").contains("empty"));
    }

    #[test]
    fn dot_and_dot_dot_are_rejected() {
        assert!(reason(".").contains("reserved"));
        assert!(reason("..").contains("reserved"));
    }

    #[test]
    fn length_limit_is_249() {
        assert!(validate_topic_name(&"a".repeat(249)).is_ok());
        let r = reason(&"a".repeat(250));
        assert!(r.contains("250 characters") && r.contains("249"), "{r}");
    }

    #[test]
    fn space_is_rejected_and_named() {
        let r = reason("my topic");
        assert!(r.contains("' '") && r.contains("byte 2") && r.contains("ASCII letters"), "{r}");
    }

    #[test]
    fn unicode_is_rejected_even_when_long() {
        let r = reason("café");
        assert!(r.contains("'é'"), "{r}");
        assert!(reason(&"é".repeat(200)).contains("'é'"));
    }

    #[test]
    fn other_punctuation_is_rejected() {
        for name in ["a/b", "a\\b", "a:b", "a*b", "a\nb", "a+b"] {
            reason(name);
        }
    }

    #[test]
    fn internal_names_start_with_two_underscores() {
        assert!(is_internal("__consumer_offsets"));
        assert!(is_internal("__transaction_state"));
        assert!(!is_internal("_private"));
        assert!(!is_internal("orders__"));
    }

    #[test]
    fn error_message_reads_as_a_sentence() {
        let err = validate_topic_name("a b").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid topic name: \"a b\" contains ' ' at byte 1; only ASCII letters, digits, \
             '.', '_' and '-' are allowed"
        );
    }
}
