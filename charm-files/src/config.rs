//! `config.yaml`: the charm's options, and Juju's rules for their values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::CharmFile;

/// `config.yaml`. A missing or empty file means no options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigYaml {
    #[serde(default)]
    pub options: BTreeMap<String, ConfigOption>,
}

/// One option. After [`ConfigYaml::parse`] the default has its option's type (a YAML
/// `default: 5` of a string option reads as `"5"`, as Juju reads it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigOption {
    #[serde(rename = "type")]
    pub kind: ConfigType,
    #[serde(default)]
    pub default: Option<Value>,
    #[serde(default)]
    pub description: Option<String>,
}

/// The type of a config option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigType {
    String,
    Int,
    Float,
    Boolean,
    Secret,
}

/// A `juju config key=value` value that does not fit the option's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("option {key:?} expected {expected}, got {got:?}")]
pub struct ConfigValueError {
    pub key: String,
    pub expected: &'static str,
    pub got: String,
}

impl CharmFile for ConfigYaml {
    const NAME: &'static str = "config.yaml";

    fn check(mut self) -> Result<Self, String> {
        for (key, opt) in &mut self.options {
            if let Some(d) = &opt.default {
                opt.default = opt
                    .kind
                    .coerce(d)
                    .map_err(|e| format!("default of {key:?}: {e}"))?;
            }
        }
        Ok(self)
    }
}

impl ConfigType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigType::String => "string",
            ConfigType::Int => "int",
            ConfigType::Float => "float",
            ConfigType::Boolean => "boolean",
            ConfigType::Secret => "secret",
        }
    }

    /// A YAML default as a value of this type (`None` for a null default).
    fn coerce(self, v: &Value) -> Result<Option<Value>, String> {
        use ConfigType::*;
        Ok(Some(match (self, v) {
            (_, Value::Null) => return Ok(None),
            (String | Secret, Value::String(_)) => v.clone(),
            (String | Secret, Value::Number(n)) => Value::String(n.to_string()),
            (String | Secret, Value::Bool(b)) => Value::String(b.to_string()),
            (Int, Value::Number(n)) if n.is_i64() || n.is_u64() => v.clone(),
            (Float, Value::Number(n)) => Value::from(n.as_f64().unwrap_or(0.0)),
            (Boolean, Value::Bool(_)) => v.clone(),
            _ => return Err(format!("{v} is not a valid {} value", self.as_str())),
        }))
    }

    /// Parses a `juju config key=value` value as this type.
    pub fn parse_value(self, key: &str, raw: &str) -> Result<Value, ConfigValueError> {
        let bad = |expected| ConfigValueError {
            key: key.to_string(),
            expected,
            got: raw.to_string(),
        };
        match self {
            ConfigType::String | ConfigType::Secret => Ok(Value::String(raw.to_string())),
            ConfigType::Int => raw
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| bad("int")),
            ConfigType::Float => raw
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| bad("float")),
            ConfigType::Boolean => match raw.trim() {
                "true" | "True" | "TRUE" | "yes" | "on" => Ok(Value::Bool(true)),
                "false" | "False" | "FALSE" | "no" | "off" => Ok(Value::Bool(false)),
                _ => Err(bad("boolean")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_take_their_option_type_and_bad_ones_are_refused() {
        let c = ConfigYaml::parse(
            "options:\n  a: {type: string, default: 5}\n  b: {type: float, default: 1}\n  \
             c: {type: int, default: ~}\n  d: {type: boolean, default: true, description: d}\n",
        )
        .unwrap();
        assert_eq!(c.options["a"].default, Some(Value::from("5")));
        assert_eq!(c.options["b"].default, Some(Value::from(1.0)));
        assert_eq!(c.options["c"].default, None);
        assert_eq!(c.options["d"].description.as_deref(), Some("d"));
        let err = ConfigYaml::parse("options:\n  n: {type: int, default: x}\n").unwrap_err();
        assert!(err.to_string().contains("default of \"n\""), "{err}");
        assert!(ConfigYaml::parse("options:\n  n: {type: integer}\n").is_err());
        assert_eq!(ConfigYaml::parse("").unwrap(), ConfigYaml::default());
    }

    #[test]
    fn config_values_are_typed_by_the_option_type() {
        assert_eq!(
            ConfigType::Int.parse_value("k", "5").unwrap(),
            Value::from(5)
        );
        let err = ConfigType::Int.parse_value("k", "five").unwrap_err();
        assert_eq!(err.to_string(), "option \"k\" expected int, got \"five\"");
        assert_eq!(
            ConfigType::Boolean.parse_value("k", "true").unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            ConfigType::Float.parse_value("k", "0.5").unwrap(),
            Value::from(0.5)
        );
        assert_eq!(
            ConfigType::String.parse_value("k", "5").unwrap(),
            Value::from("5")
        );
    }
}
