//! The deployment's configuration, as `init` receives it.

use std::str::FromStr;

use crate::Error;

/// Key-value pairs from the deployment, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The pairs; a repeated key is allowed, [`Config::get`] returns the last.
    pairs: Vec<(String, String)>,
}

impl Config {
    /// A configuration of these pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// The value of `key`, the last one if it is repeated.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or an error naming the missing key.
    pub fn require(&self, key: &str) -> Result<&str, Error> {
        self.get(key).ok_or_else(|| Error::msg(format!("config: `{key}` is required")))
    }

    /// The value of `key` parsed as `T`, `default` when absent; an error names the key.
    pub fn parse_or<T>(&self, key: &str, default: T) -> Result<T, Error>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => {
                raw.parse().map_err(|e| Error::msg(format!("config: `{key}` = {raw:?}: {e}")))
            }
        }
    }

    /// All pairs, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Config {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        Self { pairs: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_value_wins_and_errors_name_the_key() {
        let config: Config = [("n", "1"), ("n", "2"), ("bad", "x")].into_iter().collect();
        assert_eq!(config.get("n"), Some("2"));
        assert_eq!(config.parse_or("n", 0u32).unwrap(), 2);
        assert_eq!(config.parse_or("absent", 9u32).unwrap(), 9);
        let error = config.parse_or("bad", 0u32).unwrap_err();
        assert!(error.message().contains("`bad`"), "{error}");
        assert!(config.require("absent").unwrap_err().message().contains("`absent`"));
    }
}
