//! Charm config, validated into a typed struct.
//!
//! Invalid values never crash a hook: [`CharmConfig::from_juju`] returns a [`ConfigError`]
//! that names the option and the allowed values, and the charm turns it into `blocked`.
//! Options that are valid alone but not together (`sync-limit` above `init-limit`, a
//! minimum session timeout above the maximum, the disk thresholds in the wrong order) are
//! refused the same way, naming both options.

use serde_json::{Map, Value};

/// ZooKeeper log levels the `log-level` option accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZkLogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

impl ZkLogLevel {
    pub const ALLOWED: [&'static str; 4] = ["DEBUG", "INFO", "WARNING", "ERROR"];

    /// The option's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ZkLogLevel::Debug => "DEBUG",
            ZkLogLevel::Info => "INFO",
            ZkLogLevel::Warning => "WARNING",
            ZkLogLevel::Error => "ERROR",
        }
    }

    /// The log4j/slf4j level name (`WARNING` is `WARN` there).
    pub fn java_level(self) -> &'static str {
        match self {
            ZkLogLevel::Warning => "WARN",
            other => other.as_str(),
        }
    }
}

/// The validated config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharmConfig {
    pub init_limit: u32,
    pub sync_limit: u32,
    pub tick_time: u32,
    pub log_level: ZkLogLevel,
    /// Keep port 2181 declared open to clients under TLS.
    pub keep_plaintext_client_port: bool,
    /// `minSessionTimeout`, in milliseconds.
    pub min_session_timeout: u32,
    /// `maxSessionTimeout`, in milliseconds.
    pub max_session_timeout: u32,
    /// `autopurge.snapRetainCount`: the snapshots (and the logs they need) kept by every
    /// purge.
    pub snap_retain_count: u32,
    /// `autopurge.purgeInterval`, in hours; 0 turns ZooKeeper's own periodic purge off.
    pub purge_interval_hours: u32,
    /// How full the data filesystem may get, in percent, before the charm purges at once.
    pub disk_purge_threshold: u32,
    /// How full the data filesystem may get, in percent, before the unit is `blocked`.
    pub disk_blocked_threshold: u32,
    /// The JVM's maximum heap in MiB; `None` sizes it from the machine's memory.
    pub heap_size_mib: Option<u32>,
}

impl Default for CharmConfig {
    fn default() -> Self {
        CharmConfig {
            init_limit: 5,
            sync_limit: 2,
            tick_time: 2000,
            log_level: ZkLogLevel::Info,
            keep_plaintext_client_port: false,
            min_session_timeout: 4000,
            max_session_timeout: 40_000,
            snap_retain_count: 3,
            purge_interval_hours: 1,
            disk_purge_threshold: 80,
            disk_blocked_threshold: 90,
            heap_size_mib: None,
        }
    }
}

/// The smallest explicit `heap-size`, in MiB (ZooKeeper does not start in less).
pub const MIN_HEAP_SIZE_MIB: u32 = 64;
/// The largest explicit `heap-size`, in MiB.
pub const MAX_HEAP_SIZE_MIB: u32 = 65_536;

/// An option whose value is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config `{option}`: {value} is not allowed, expected {allowed}")]
pub struct ConfigError {
    pub option: &'static str,
    /// The offending value as given (never a secret: no option here holds one).
    pub value: String,
    /// The allowed values, in words.
    pub allowed: String,
}

fn int_option(
    map: &Map<String, Value>,
    option: &'static str,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, ConfigError> {
    let err = |value: String| ConfigError {
        option,
        value,
        allowed: format!("an integer from {min} to {max}"),
    };
    match map.get(option) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v >= min as i64 && v <= max as i64 => Ok(v as u32),
            _ => Err(err(n.to_string())),
        },
        Some(other) => Err(err(other.to_string())),
    }
}

/// Refuses `first` (its value `value`) because it must be at most (or below) `second`'s
/// value: the error names both options.
fn conflict(
    first: &'static str,
    value: u32,
    relation: &str,
    second: &str,
    bound: u32,
    why: &str,
) -> ConfigError {
    ConfigError {
        option: first,
        value: value.to_string(),
        allowed: format!("{relation} `{second}` ({bound}): {why}"),
    }
}

impl CharmConfig {
    /// Validates what `config-get --format=json` returned. Unset options take the defaults of
    /// `config.yaml`; unknown keys are ignored.
    pub fn from_juju(map: &Map<String, Value>) -> Result<CharmConfig, ConfigError> {
        let d = CharmConfig::default();
        let init_limit = int_option(map, "init-limit", d.init_limit, 1, 1000)?;
        let sync_limit = int_option(map, "sync-limit", d.sync_limit, 1, 1000)?;
        let tick_time = int_option(map, "tick-time", d.tick_time, 1, 60_000)?;
        let min_session_timeout = int_option(
            map,
            "min-session-timeout",
            d.min_session_timeout,
            1,
            3_600_000,
        )?;
        let max_session_timeout = int_option(
            map,
            "max-session-timeout",
            d.max_session_timeout,
            1,
            3_600_000,
        )?;
        let snap_retain_count = int_option(
            map,
            "autopurge-snap-retain-count",
            d.snap_retain_count,
            3,
            1000,
        )?;
        let purge_interval_hours = int_option(
            map,
            "autopurge-purge-interval",
            d.purge_interval_hours,
            0,
            8760,
        )?;
        let disk_purge_threshold =
            int_option(map, "disk-purge-threshold", d.disk_purge_threshold, 1, 99)?;
        let disk_blocked_threshold = int_option(
            map,
            "disk-blocked-threshold",
            d.disk_blocked_threshold,
            1,
            99,
        )?;
        let heap_size = int_option(map, "heap-size", 0, 0, MAX_HEAP_SIZE_MIB)?;
        if heap_size != 0 && heap_size < MIN_HEAP_SIZE_MIB {
            return Err(ConfigError {
                option: "heap-size",
                value: heap_size.to_string(),
                allowed: format!(
                    "0 (sized from the machine's memory) or an integer from {MIN_HEAP_SIZE_MIB} to {MAX_HEAP_SIZE_MIB} (MiB)"
                ),
            });
        }
        let log_level = match map.get("log-level") {
            None | Some(Value::Null) => ZkLogLevel::Info,
            Some(Value::String(s)) => match s.as_str() {
                "DEBUG" => ZkLogLevel::Debug,
                "INFO" => ZkLogLevel::Info,
                "WARNING" => ZkLogLevel::Warning,
                "ERROR" => ZkLogLevel::Error,
                _ => {
                    return Err(ConfigError {
                        option: "log-level",
                        value: format!("{s:?}"),
                        allowed: format!("one of {}", ZkLogLevel::ALLOWED.join(", ")),
                    })
                }
            },
            Some(other) => {
                return Err(ConfigError {
                    option: "log-level",
                    value: other.to_string(),
                    allowed: format!("one of {}", ZkLogLevel::ALLOWED.join(", ")),
                })
            }
        };
        let keep_plaintext_client_port = match map.get("keep-plaintext-client-port") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(ConfigError {
                    option: "keep-plaintext-client-port",
                    value: other.to_string(),
                    allowed: "true or false".into(),
                })
            }
        };
        let config = CharmConfig {
            init_limit,
            sync_limit,
            tick_time,
            log_level,
            keep_plaintext_client_port,
            min_session_timeout,
            max_session_timeout,
            snap_retain_count,
            purge_interval_hours,
            disk_purge_threshold,
            disk_blocked_threshold,
            heap_size_mib: (heap_size != 0).then_some(heap_size),
        };
        config.check_together()?;
        Ok(config)
    }

    /// The options that are valid alone but not together.
    fn check_together(&self) -> Result<(), ConfigError> {
        if self.sync_limit > self.init_limit {
            return Err(conflict(
                "sync-limit",
                self.sync_limit,
                "at most",
                "init-limit",
                self.init_limit,
                "a follower may not be given longer to keep up with the leader than to join it",
            ));
        }
        if self.min_session_timeout > self.max_session_timeout {
            return Err(conflict(
                "min-session-timeout",
                self.min_session_timeout,
                "at most",
                "max-session-timeout",
                self.max_session_timeout,
                "ZooKeeper refuses to start otherwise",
            ));
        }
        if self.max_session_timeout < 2 * self.tick_time {
            return Err(conflict(
                "max-session-timeout",
                self.max_session_timeout,
                "at least twice",
                "tick-time",
                self.tick_time,
                "the server checks sessions once a tick, so none could be held to a shorter timeout",
            ));
        }
        if self.disk_purge_threshold >= self.disk_blocked_threshold {
            return Err(conflict(
                "disk-purge-threshold",
                self.disk_purge_threshold,
                "below",
                "disk-blocked-threshold",
                self.disk_blocked_threshold,
                "the charm purges before it gives up",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CharmConfig, ConfigError> {
        CharmConfig::from_juju(v.as_object().unwrap())
    }

    #[test]
    fn empty_config_takes_the_defaults_of_config_yaml() {
        assert_eq!(parse(json!({})).unwrap(), CharmConfig::default());
    }

    #[test]
    fn every_option_in_range_is_taken_as_given() {
        let c = parse(json!({
            "init-limit": 10, "sync-limit": 5, "tick-time": 3000, "log-level": "WARNING",
            "min-session-timeout": 6000, "max-session-timeout": 60000,
            "autopurge-snap-retain-count": 5, "autopurge-purge-interval": 0,
            "disk-purge-threshold": 70, "disk-blocked-threshold": 85, "heap-size": 2048
        }))
        .unwrap();
        assert_eq!(
            c,
            CharmConfig {
                init_limit: 10,
                sync_limit: 5,
                tick_time: 3000,
                log_level: ZkLogLevel::Warning,
                keep_plaintext_client_port: false,
                min_session_timeout: 6000,
                max_session_timeout: 60_000,
                snap_retain_count: 5,
                purge_interval_hours: 0,
                disk_purge_threshold: 70,
                disk_blocked_threshold: 85,
                heap_size_mib: Some(2048),
            }
        );
        assert!(
            parse(json!({"keep-plaintext-client-port": true}))
                .unwrap()
                .keep_plaintext_client_port
        );
        assert_eq!(c.log_level.java_level(), "WARN");
        assert_eq!(parse(json!({"heap-size": 0})).unwrap().heap_size_mib, None);
    }

    #[test]
    fn a_heap_too_small_for_zookeeper_or_a_retention_below_three_is_refused() {
        let e = parse(json!({"heap-size": 32})).unwrap_err();
        assert_eq!(e.option, "heap-size");
        assert!(
            e.to_string()
                .contains("0 (sized from the machine's memory)"),
            "{e}"
        );
        assert!(parse(json!({"heap-size": 64})).is_ok());
        assert!(parse(json!({"heap-size": 65537})).is_err());
        let e = parse(json!({"autopurge-snap-retain-count": 2})).unwrap_err();
        assert_eq!(e.option, "autopurge-snap-retain-count");
        assert_eq!(
            parse(json!({"disk-blocked-threshold": 100}))
                .unwrap_err()
                .option,
            "disk-blocked-threshold"
        );
    }

    #[test]
    fn options_valid_alone_but_not_together_name_both() {
        for (given, first, second) in [
            (
                json!({"init-limit": 3, "sync-limit": 5}),
                "sync-limit",
                "init-limit",
            ),
            (
                json!({"min-session-timeout": 50000}),
                "min-session-timeout",
                "max-session-timeout",
            ),
            (
                json!({"tick-time": 30000}),
                "max-session-timeout",
                "tick-time",
            ),
            (
                json!({"disk-purge-threshold": 90}),
                "disk-purge-threshold",
                "disk-blocked-threshold",
            ),
            (
                json!({"disk-purge-threshold": 60, "disk-blocked-threshold": 50}),
                "disk-purge-threshold",
                "disk-blocked-threshold",
            ),
        ] {
            let e = parse(given.clone()).unwrap_err();
            assert_eq!(e.option, first, "{given}");
            let text = e.to_string();
            assert!(
                text.contains(&format!("`{first}`")) && text.contains(&format!("`{second}`")),
                "{given}: {text}"
            );
        }
        assert_eq!(
            parse(json!({"init-limit": 3, "sync-limit": 5}))
                .unwrap_err()
                .to_string(),
            "invalid config `sync-limit`: 5 is not allowed, expected at most `init-limit` (3): \
             a follower may not be given longer to keep up with the leader than to join it"
        );
        // Equal is fine where the rule says "at most".
        assert!(parse(json!({"init-limit": 4, "sync-limit": 4})).is_ok());
        assert!(parse(json!({"min-session-timeout": 40000})).is_ok());
        assert!(parse(json!({"tick-time": 20000})).is_ok());
    }

    #[test]
    fn zero_tick_time_names_the_option_and_the_range() {
        let e = parse(json!({"tick-time": 0})).unwrap_err();
        assert_eq!(e.option, "tick-time");
        assert_eq!(
            e.to_string(),
            "invalid config `tick-time`: 0 is not allowed, expected an integer from 1 to 60000"
        );
    }

    #[test]
    fn unknown_log_level_lists_the_allowed_values() {
        let e = parse(json!({"log-level": "info"})).unwrap_err();
        assert_eq!(e.option, "log-level");
        assert!(
            e.to_string().contains("one of DEBUG, INFO, WARNING, ERROR"),
            "{e}"
        );
    }

    #[test]
    fn negative_and_non_integer_limits_are_refused() {
        assert_eq!(
            parse(json!({"init-limit": -1})).unwrap_err().option,
            "init-limit"
        );
        assert_eq!(
            parse(json!({"sync-limit": 1.5})).unwrap_err().option,
            "sync-limit"
        );
        assert_eq!(
            parse(json!({"sync-limit": "2"})).unwrap_err().option,
            "sync-limit"
        );
    }
}
