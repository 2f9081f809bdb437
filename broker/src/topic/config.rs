//! Kafka-style topic config overrides (`retention.ms=86400000`, ...) parsed into the
//! `LogConfig` a partition runs under. Only overrides are stored with a topic; every
//! key left out takes `LogConfig::default()`.

use std::{collections::BTreeMap, ops::RangeInclusive, time::Duration};

use super::TopicError;
use super::keys::supported_keys;
use crate::log::config::DEFAULT_FLUSH_INTERVAL;
use crate::log::record::Compression;
use crate::log::{Durability, LogConfig};

/// One row of DescribeConfigs: a supported key and the value a topic runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The config key, e.g. `retention.ms`.
    pub name: String,
    /// The effective value, as Kafka shows it (`-1` for unlimited).
    pub value: String,
    /// True when the topic does not override the key, so the value is Weir's default.
    pub is_default: bool,
}

/// Parses and validates `overrides`, starting from `LogConfig::default()`. Errors name
/// the key, the value and what the key accepts. `flush.ms` is accepted but has no
/// effect under `durability=sync`, which fsyncs every append anyway.
pub fn parse_log_config(overrides: &BTreeMap<String, String>) -> Result<LogConfig, TopicError> {
    let mut config = LogConfig::default();
    let mut flush_interval = DEFAULT_FLUSH_INTERVAL;
    let mut sync = false;
    let mut cleanup = config.cleanup;
    for (key, value) in overrides {
        let int = |range, unit| integer(key, value, range, unit);
        let millis = |ms: i64| Duration::from_millis(ms as u64);
        match key.as_str() {
            "segment.bytes" => config.segment_bytes = int(1024..=i32::MAX as i64, "bytes")? as u64,
            "segment.ms" => config.segment_age = millis(int(1..=i64::MAX, MS)?),
            "retention.bytes" => {
                config.retention_bytes = unlimited(key, value, "bytes")?.map(|b| b as u64)
            }
            "retention.ms" => config.retention_age = unlimited(key, value, MS)?.map(millis),
            "max.message.bytes" => config.max_message_bytes = int(1..=1 << 30, "bytes")? as u32,
            "flush.ms" => flush_interval = millis(int(1..=i64::MAX, MS)?),
            "durability" => sync = one_of(key, value, &["interval", "sync"])? == "sync",
            "index.interval.bytes" => {
                config.index_interval_bytes = int(1..=i32::MAX as i64, "bytes")? as u32
            }
            "cleanup.policy" => (cleanup.delete, cleanup.compact) = cleanup_policy(key, value)?,
            "compression.type" => config.conformance.compression = compression(key, value)?,
            "message.timestamp.type" => {
                let kinds = ["CreateTime", "LogAppendTime"];
                config.conformance.log_append_time = one_of(key, value, &kinds)? == "LogAppendTime"
            }
            "delete.retention.ms" => cleanup.delete_retention = millis(int(0..=i64::MAX, MS)?),
            "min.compaction.lag.ms" => cleanup.min_lag = millis(int(0..=i64::MAX, MS)?),
            "max.compaction.lag.ms" => {
                let ms = int(1..=i64::MAX, MS)?;
                cleanup.max_lag = (ms < i64::MAX).then(|| millis(ms));
            }
            "min.cleanable.dirty.ratio" => cleanup.min_dirty_ppm = ratio(key, value)?,
            "min.insync.replicas" => {
                config.min_insync_replicas = int(1..=i32::MAX as i64, "replicas")? as u32
            }
            _ => return Err(TopicError::UnknownConfig(key.clone())),
        }
    }
    config.durability = if sync { Durability::Sync } else { Durability::Interval(flush_interval) };
    config.cleanup = cleanup;
    Ok(config)
}

/// Every supported key with the value a topic with these `overrides` runs under, for
/// DescribeConfigs. Expects overrides that passed `parse_log_config`: an override is
/// shown as stored, unknown keys are not listed.
pub fn describe(overrides: &BTreeMap<String, String>) -> Vec<ConfigEntry> {
    let defaults = LogConfig::default();
    supported_keys()
        .map(|key| {
            let (value, is_default) = match overrides.get(key) {
                Some(value) => (value.trim().to_owned(), false),
                None => (render(&defaults, key), true),
            };
            ConfigEntry { name: key.to_owned(), value, is_default }
        })
        .collect()
}

/// Weir's built-in default of `key`, written as Kafka writes it.
pub fn default_value(key: &str) -> String {
    render(&LogConfig::default(), key)
}

/// A key's value in `config`, written as Kafka writes it.
fn render(config: &LogConfig, key: &str) -> String {
    let ms = |d: Duration| d.as_millis().to_string();
    match key {
        "segment.bytes" => config.segment_bytes.to_string(),
        "segment.ms" => ms(config.segment_age),
        "retention.bytes" => config.retention_bytes.map_or("-1".into(), |b| b.to_string()),
        "retention.ms" => config.retention_age.map_or("-1".into(), ms),
        "max.message.bytes" => config.max_message_bytes.to_string(),
        "flush.ms" => match config.durability {
            Durability::Interval(interval) => ms(interval),
            Durability::Sync => ms(DEFAULT_FLUSH_INTERVAL),
        },
        "durability" => match config.durability {
            Durability::Interval(_) => "interval".into(),
            Durability::Sync => "sync".into(),
        },
        "index.interval.bytes" => config.index_interval_bytes.to_string(),
        "cleanup.policy" => match (config.cleanup.delete, config.cleanup.compact) {
            (true, true) => "compact,delete".into(),
            (false, true) => "compact".into(),
            _ => "delete".into(),
        },
        "compression.type" => match config.conformance.compression {
            None => "producer".into(),
            Some(Compression::None) => "uncompressed".into(),
            Some(codec) => codec_name(codec).into(),
        },
        "message.timestamp.type" => match config.conformance.log_append_time {
            true => "LogAppendTime".into(),
            false => "CreateTime".into(),
        },
        "min.insync.replicas" => config.min_insync_replicas.to_string(),
        "delete.retention.ms" => ms(config.cleanup.delete_retention),
        "max.compaction.lag.ms" => config.cleanup.max_lag.map_or(i64::MAX.to_string(), ms),
        "min.cleanable.dirty.ratio" => (config.cleanup.min_dirty_ppm as f64 / 1e6).to_string(),
        "min.compaction.lag.ms" => ms(config.cleanup.min_lag),
        _ => String::new(),
    }
}

/// A number from 0 to 1, in millionths.
fn ratio(key: &str, value: &str) -> Result<u32, TopicError> {
    match value.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok((r * 1e6).round() as u32),
        _ => Err(invalid(key, value, "expected a number from 0 to 1".into())),
    }
}

/// Kafka's name of a codec in `compression.type`.
fn codec_name(codec: Compression) -> &'static str {
    match codec {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

/// `compression.type`: `producer` (None) or the codec batches are stored with.
fn compression(key: &str, value: &str) -> Result<Option<Compression>, TopicError> {
    let allowed = ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"];
    Ok(match one_of(key, value, &allowed)? {
        "producer" => None,
        "uncompressed" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        _ => Some(Compression::Zstd),
    })
}

/// The unit of every `*.ms` key, spelled out in error messages.
const MS: &str = "milliseconds";

fn invalid(key: &str, value: &str, reason: String) -> TopicError {
    TopicError::InvalidConfig { key: key.to_owned(), value: value.to_owned(), reason }
}

/// An integer number of `unit`s within `range`.
fn integer(
    key: &str,
    value: &str,
    range: RangeInclusive<i64>,
    unit: &str,
) -> Result<i64, TopicError> {
    match value.trim().parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(invalid(
            key,
            value,
            format!(
                "expected an integer number of {unit} from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// A count where Kafka's `-1` means "no limit" (None).
fn unlimited(key: &str, value: &str, unit: &str) -> Result<Option<i64>, TopicError> {
    match value.trim().parse::<i64>() {
        Ok(-1) => Ok(None),
        Ok(n) if n >= 0 => Ok(Some(n)),
        _ => Err(invalid(
            key,
            value,
            format!("expected -1 (no limit) or an integer number of {unit} from 0 to {}", i64::MAX),
        )),
    }
}

fn one_of<'v>(key: &str, value: &'v str, allowed: &[&str]) -> Result<&'v str, TopicError> {
    let value = value.trim();
    if allowed.contains(&value) {
        return Ok(value);
    }
    Err(invalid(key, value, format!("expected one of: {}", allowed.join(", "))))
}

/// Kafka's `cleanup.policy`: a list of `delete` and `compact`; returns whether each
/// is in it.
fn cleanup_policy(key: &str, value: &str) -> Result<(bool, bool), TopicError> {
    let policies: Vec<&str> = value.split(',').map(str::trim).collect();
    if policies.is_empty() || policies.iter().any(|p| !matches!(*p, "delete" | "compact")) {
        let reason = "expected delete, compact or compact,delete".into();
        return Err(invalid(key, value, reason));
    }
    Ok((policies.contains(&"delete"), policies.contains(&"compact")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<LogConfig, TopicError> {
        let map = pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
        parse_log_config(&map)
    }

    /// Asserts `key=value` is rejected with an InvalidConfig naming both and `hint`.
    fn rejects(key: &str, value: &str, hint: &str) {
        let err = parse(&[(key, value)]).unwrap_err();
        assert!(matches!(&err, TopicError::InvalidConfig { key: k, .. } if k == key), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(key) && msg.contains(value) && msg.contains(hint), "{msg}");
    }

    #[test]
    fn no_overrides_is_the_default() {
        assert_eq!(parse(&[]).unwrap(), LogConfig::default());
    }

    #[test]
    fn segment_bytes() {
        assert_eq!(parse(&[("segment.bytes", "1024")]).unwrap().segment_bytes, 1024);
        assert_eq!(parse(&[("segment.bytes", "2147483647")]).unwrap().segment_bytes, 2147483647);
        rejects("segment.bytes", "1023", "from 1024 to 2147483647");
        rejects("segment.bytes", "2147483648", "from 1024 to 2147483647");
        rejects("segment.bytes", "1GB", "integer");
    }

    #[test]
    fn segment_ms() {
        let config = parse(&[("segment.ms", "60000")]).unwrap();
        assert_eq!(config.segment_age, Duration::from_secs(60));
        rejects("segment.ms", "0", "from 1 to");
        rejects("segment.ms", "-1", "from 1 to");
    }

    #[test]
    fn retention_bytes() {
        assert_eq!(parse(&[("retention.bytes", "-1")]).unwrap().retention_bytes, None);
        assert_eq!(parse(&[("retention.bytes", "0")]).unwrap().retention_bytes, Some(0));
        assert_eq!(parse(&[("retention.bytes", "5000")]).unwrap().retention_bytes, Some(5000));
        rejects("retention.bytes", "-2", "-1 (no limit)");
        rejects("retention.bytes", "", "integer number of bytes");
    }

    #[test]
    fn retention_ms() {
        assert_eq!(parse(&[("retention.ms", "-1")]).unwrap().retention_age, None);
        let config = parse(&[("retention.ms", " 86400000 ")]).unwrap();
        assert_eq!(config.retention_age, Some(Duration::from_secs(86400)));
        rejects(
            "retention.ms",
            "abc",
            "expected -1 (no limit) or an integer number of milliseconds",
        );
        rejects("retention.ms", "1.5", "integer");
        // What `kafka-topics --config retention.ms=abc` should print.
        assert_eq!(
            parse(&[("retention.ms", "abc")]).unwrap_err().to_string(),
            "invalid value \"abc\" for topic config retention.ms: expected -1 (no limit) or an \
             integer number of milliseconds from 0 to 9223372036854775807"
        );
    }

    #[test]
    fn max_message_bytes() {
        assert_eq!(parse(&[("max.message.bytes", "1")]).unwrap().max_message_bytes, 1);
        let max = parse(&[("max.message.bytes", "1073741824")]).unwrap();
        assert_eq!(max.max_message_bytes, 1 << 30);
        rejects("max.message.bytes", "0", "from 1 to 1073741824");
        rejects("max.message.bytes", "1073741825", "from 1 to 1073741824");
    }

    #[test]
    fn flush_ms_and_durability() {
        let config = parse(&[("flush.ms", "250")]).unwrap();
        assert_eq!(config.durability, Durability::Interval(Duration::from_millis(250)));
        let config = parse(&[("durability", "interval")]).unwrap();
        assert_eq!(config.durability, Durability::Interval(DEFAULT_FLUSH_INTERVAL));
        let config = parse(&[("durability", "sync"), ("flush.ms", "250")]).unwrap();
        assert_eq!(config.durability, Durability::Sync);
        rejects("flush.ms", "0", "from 1 to");
        rejects("durability", "always", "one of: interval, sync");
    }

    #[test]
    fn index_interval_bytes() {
        assert_eq!(parse(&[("index.interval.bytes", "1")]).unwrap().index_interval_bytes, 1);
        rejects("index.interval.bytes", "0", "from 1 to");
    }

    #[test]
    fn cleanup_policy_is_a_list_of_delete_and_compact() {
        let policy =
            |v| parse(&[("cleanup.policy", v)]).map(|c| (c.cleanup.delete, c.cleanup.compact));
        assert_eq!(policy("delete").unwrap(), (true, false));
        assert_eq!(policy("compact").unwrap(), (false, true));
        assert_eq!(policy(" compact, delete").unwrap(), (true, true));
        rejects("cleanup.policy", "shred", "expected delete, compact");
        rejects("cleanup.policy", "compact,", "expected delete, compact");
        let c = parse(&[
            ("cleanup.policy", "compact"),
            ("delete.retention.ms", "100"),
            ("min.compaction.lag.ms", "5"),
            ("max.compaction.lag.ms", "60000"),
            ("min.cleanable.dirty.ratio", "0.25"),
        ])
        .unwrap();
        assert_eq!(c.cleanup.delete_retention, Duration::from_millis(100));
        assert_eq!(c.cleanup.min_lag, Duration::from_millis(5));
        assert_eq!(c.cleanup.max_lag, Some(Duration::from_millis(60_000)));
        assert_eq!(c.cleanup.min_dirty_ppm, 250_000);
    }

    #[test]
    fn unknown_key_is_named_with_the_supported_list() {
        let err = parse(&[("retention.hours", "1")]).unwrap_err();
        assert!(matches!(&err, TopicError::UnknownConfig(k) if k == "retention.hours"));
        let msg = err.to_string();
        assert!(msg.contains("\"retention.hours\"") && msg.contains("retention.ms, segment.bytes"));
    }

    #[test]
    fn describe_lists_every_key_with_defaults_and_overrides() {
        let overrides = BTreeMap::from([("retention.ms".to_owned(), "1000".to_owned())]);
        let entries = describe(&overrides);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, supported_keys().collect::<Vec<_>>());
        let get = |name: &str| entries.iter().find(|e| e.name == name).unwrap().clone();
        let entry = |name: &str, value: &str, is_default| ConfigEntry {
            name: name.into(),
            value: value.into(),
            is_default,
        };
        assert_eq!(get("retention.ms"), entry("retention.ms", "1000", false));
        assert_eq!(get("retention.bytes"), entry("retention.bytes", "-1", true));
        assert_eq!(get("segment.bytes"), entry("segment.bytes", "1073741824", true));
        assert_eq!(get("segment.ms"), entry("segment.ms", "604800000", true));
        assert_eq!(get("max.message.bytes"), entry("max.message.bytes", "1048588", true));
        assert_eq!(get("flush.ms"), entry("flush.ms", "1000", true));
        assert_eq!(get("durability"), entry("durability", "interval", true));
        assert_eq!(get("index.interval.bytes"), entry("index.interval.bytes", "4096", true));
        assert_eq!(get("cleanup.policy"), entry("cleanup.policy", "delete", true));
        assert_eq!(get("compression.type"), entry("compression.type", "producer", true));
        assert_eq!(
            get("message.timestamp.type"),
            entry("message.timestamp.type", "CreateTime", true)
        );
        assert_eq!(get("min.insync.replicas"), entry("min.insync.replicas", "1", true));
    }

    #[test]
    fn compression_timestamp_type_and_min_insync_replicas() {
        let c = parse(&[("compression.type", "lz4"), ("message.timestamp.type", "LogAppendTime")]);
        let c = c.unwrap().conformance;
        assert_eq!(c.compression, Some(Compression::Lz4));
        assert!(c.log_append_time);
        let plain = parse(&[("compression.type", "uncompressed")]).unwrap();
        assert_eq!(plain.conformance.compression, Some(Compression::None));
        assert_eq!(parse(&[("compression.type", "producer")]).unwrap(), LogConfig::default());
        assert_eq!(parse(&[("min.insync.replicas", "2")]).unwrap().min_insync_replicas, 2);
        rejects("compression.type", "brotli", "one of: producer, uncompressed, gzip");
        rejects("message.timestamp.type", "Now", "one of: CreateTime, LogAppendTime");
        rejects("min.insync.replicas", "0", "from 1 to");
    }

    #[test]
    fn compaction_settings_are_validated_and_described() {
        let kept = [
            ("delete.retention.ms", "900"),
            ("min.compaction.lag.ms", "0"),
            ("max.compaction.lag.ms", "60000"),
            ("min.cleanable.dirty.ratio", "0.25"),
        ];
        let config = parse(&kept).unwrap();
        assert!(!config.cleanup.compact, "settings alone do not compact");
        for (key, value) in kept {
            assert_eq!(render(&config, key), value, "{key}");
        }
        assert_eq!(render(&LogConfig::default(), "max.compaction.lag.ms"), i64::MAX.to_string());
        rejects("delete.retention.ms", "-1", "from 0 to");
        rejects("max.compaction.lag.ms", "0", "from 1 to");
        rejects("min.cleanable.dirty.ratio", "1.5", "from 0 to 1");
    }
}
