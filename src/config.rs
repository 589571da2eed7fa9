//! Charm config, validated into a typed struct.
//!
//! Invalid values never crash a hook: [`CharmConfig::from_juju`] returns a [`ConfigError`]
//! that names the option and the allowed values, and the charm turns it into `blocked`.

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
}

impl Default for CharmConfig {
    fn default() -> Self {
        CharmConfig {
            init_limit: 5,
            sync_limit: 2,
            tick_time: 2000,
            log_level: ZkLogLevel::Info,
            keep_plaintext_client_port: false,
        }
    }
}

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

impl CharmConfig {
    /// Validates what `config-get --format=json` returned. Unset options take the defaults of
    /// `config.yaml`; unknown keys are ignored.
    pub fn from_juju(map: &Map<String, Value>) -> Result<CharmConfig, ConfigError> {
        let init_limit = int_option(map, "init-limit", 5, 1, 1000)?;
        let sync_limit = int_option(map, "sync-limit", 2, 1, 1000)?;
        let tick_time = int_option(map, "tick-time", 2000, 1, 60_000)?;
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
        Ok(CharmConfig {
            init_limit,
            sync_limit,
            tick_time,
            log_level,
            keep_plaintext_client_port,
        })
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
        let c = parse(
            json!({"init-limit": 10, "sync-limit": 5, "tick-time": 3000, "log-level": "WARNING"}),
        )
        .unwrap();
        assert_eq!(
            c,
            CharmConfig {
                init_limit: 10,
                sync_limit: 5,
                tick_time: 3000,
                log_level: ZkLogLevel::Warning,
                keep_plaintext_client_port: false,
            }
        );
        assert!(
            parse(json!({"keep-plaintext-client-port": true}))
                .unwrap()
                .keep_plaintext_client_port
        );
        assert_eq!(c.log_level.java_level(), "WARN");
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
