//! Config changes as admin clients ask for them: set a key, delete it (back to
//! the level below), add items to or remove them from a list config, or replace
//! the whole set (Kafka's AlterConfigs). The same rules for a topic's overrides
//! and a layer of the broker-wide defaults, whichever protocol asked.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use super::keys::{self, ConfigType};

/// One requested change of a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set it to this value.
    Set(String),
    /// Back to the level below.
    Delete,
    /// Add these items (comma-separated) to a list config.
    Append(String),
    /// Remove these items (comma-separated) from a list config.
    Subtract(String),
}

/// The changes asked of one resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// True for AlterConfigs: what is not named returns to the level below.
    pub replace: bool,
    /// Each config named, with its change, in request order.
    pub ops: Vec<(String, Op)>,
}

/// Why changes cannot be applied, before any value is looked at.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ChangeError {
    /// One request names a key twice (Kafka: INVALID_REQUEST).
    #[error("{0} is named twice in one resource")]
    NamedTwice(String),
    /// APPEND or SUBTRACT on a config that is not a list (Kafka: INVALID_CONFIG).
    #[error(
        "{0}: APPEND and SUBTRACT are for list configs, and {0} is not one: SET the whole value"
    )]
    NotAList(String),
}

impl Changes {
    /// `current` values with the changes applied; `in_force` gives the value a
    /// list config has before an APPEND or SUBTRACT when `current` does not
    /// hold it. Keys are topic-level names.
    pub fn apply(
        &self,
        current: &BTreeMap<String, String>,
        in_force: impl Fn(&str) -> String,
    ) -> Result<BTreeMap<String, String>, ChangeError> {
        let mut next = match self.replace {
            true => BTreeMap::new(),
            false => current.clone(),
        };
        let mut seen = BTreeSet::new();
        for (key, op) in &self.ops {
            if !seen.insert(key.as_str()) {
                return Err(ChangeError::NamedTwice(key.clone()));
            }
            match op {
                Op::Set(value) => {
                    next.insert(key.clone(), value.clone());
                }
                Op::Delete => {
                    next.remove(key);
                }
                Op::Append(items) | Op::Subtract(items) => {
                    if keys::key(key).is_none_or(|k| k.kind != ConfigType::List) {
                        return Err(ChangeError::NotAList(key.clone()));
                    }
                    let before = current.get(key).cloned().unwrap_or_else(|| in_force(key));
                    let mut list = split(&before);
                    for item in split(items) {
                        match op {
                            Op::Append(_) if !list.contains(&item) => list.push(item),
                            Op::Subtract(_) => list.retain(|i| *i != item),
                            _ => {}
                        }
                    }
                    next.insert(key.clone(), list.join(","));
                }
            }
        }
        Ok(next)
    }
}

/// A list config's items.
fn split(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn set_delete_append_subtract_and_replace() {
        let current = map(&[("retention.ms", "1000"), ("segment.bytes", "4096")]);
        let ops = vec![
            ("retention.ms".to_string(), Op::Delete),
            ("flush.ms".to_string(), Op::Set("5".into())),
            ("cleanup.policy".to_string(), Op::Append("compact, delete".into())),
        ];
        let next = Changes { replace: false, ops }.apply(&current, |_| "delete".into()).unwrap();
        let want = map(&[
            ("cleanup.policy", "delete,compact"),
            ("flush.ms", "5"),
            ("segment.bytes", "4096"),
        ]);
        assert_eq!(next, want);
        let subtract = vec![("cleanup.policy".to_string(), Op::Subtract("compact".into()))];
        let next =
            Changes { replace: true, ops: subtract }.apply(&next, |_| unreachable!()).unwrap();
        assert_eq!(next, map(&[("cleanup.policy", "delete")]));

        let not_a_list = vec![("retention.ms".to_string(), Op::Append("5".into()))];
        let e = Changes { replace: false, ops: not_a_list }.apply(&current, |_| String::new());
        assert_eq!(e, Err(ChangeError::NotAList("retention.ms".into())));
        assert!(e.unwrap_err().to_string().contains("SET the whole value"));
        let twice = vec![
            ("flush.ms".to_string(), Op::Set("5".into())),
            ("flush.ms".to_string(), Op::Delete),
        ];
        let e = Changes { replace: false, ops: twice }.apply(&current, |_| String::new());
        assert_eq!(e, Err(ChangeError::NamedTwice("flush.ms".into())));
    }
}
