//! Settings as `relation-set`, `leader-set` and `state-set` take them: `key=value`
//! arguments, and with `--file` a JSON or YAML map from a file or stdin.

use super::args::Args;
use super::{Tool, ToolFail};
use crate::state::Databag;

pub(super) fn split_kv(arg: &str) -> Option<(String, String)> {
    match arg.split_once('=') {
        Some((k, v)) if !k.is_empty() => Some((k.to_string(), v.to_string())),
        _ => None,
    }
}

/// Parses a settings map as `relation-set --file` and `state-set --file` accept it: JSON or
/// YAML, values stringified, null meaning "delete" (empty string).
fn parse_settings(text: &str) -> Result<Databag, ToolFail> {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
        .map_err(|e| ToolFail::runtime(format!("cannot parse settings: {e}")))?;
    match v {
        serde_yaml_ng::Value::Null => Ok(Databag::new()),
        serde_yaml_ng::Value::Mapping(m) => Ok(m
            .iter()
            .map(|(k, v)| (yaml_scalar_string(k), yaml_scalar_string(v)))
            .collect()),
        _ => Err(ToolFail::runtime(
            "cannot parse settings: expected a map of keys to values",
        )),
    }
}

/// A YAML scalar as text (`true`, `5`, `abc`); `~` is the empty string.
fn yaml_scalar_string(v: &serde_yaml_ng::Value) -> String {
    match v {
        serde_yaml_ng::Value::Null => String::new(),
        serde_yaml_ng::Value::Bool(b) => b.to_string(),
        serde_yaml_ng::Value::Number(n) => n.to_string(),
        serde_yaml_ng::Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
    }
}

impl Tool<'_> {
    fn read_file_arg(&mut self, path: &str) -> Result<String, ToolFail> {
        if path == "-" {
            let mut s = String::new();
            self.stdin
                .read_to_string(&mut s)
                .map_err(|e| ToolFail::runtime(format!("cannot read settings from stdin: {e}")))?;
            Ok(s)
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| ToolFail::runtime(format!("cannot read {path}: {e}")))
        }
    }

    /// `key=value` arguments, after those of `--file` (a path, or `-` for stdin) when
    /// `file` is set.
    pub(super) fn kv_args(&mut self, a: &Args, file: bool) -> Result<Databag, ToolFail> {
        let mut kv = Databag::new();
        if file {
            if let Some(path) = a.value("file").map(str::to_string) {
                let text = self.read_file_arg(&path)?;
                kv.extend(parse_settings(&text)?);
            }
        }
        for p in &a.positional {
            let (k, v) = split_kv(p)
                .ok_or_else(|| ToolFail::usage(format!("expected \"key=value\", got {p:?}")))?;
            kv.insert(k, v);
        }
        Ok(kv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_accept_json_and_yaml_with_null_as_delete() {
        let b = parse_settings("{\"myid\":\"2\",\"stale\":\"\"}").unwrap();
        assert_eq!(b.get("myid").map(String::as_str), Some("2"));
        assert_eq!(b.get("stale").map(String::as_str), Some(""));
        let y = parse_settings("port: 2181\ngone: ~\n").unwrap();
        assert_eq!(y.get("port").map(String::as_str), Some("2181"));
        assert_eq!(y.get("gone").map(String::as_str), Some(""));
        assert!(parse_settings("- a\n- b\n").is_err());
    }
}
