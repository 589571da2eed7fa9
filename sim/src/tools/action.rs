//! Actions: `action-get`, `action-set`, `action-fail`, `action-log`; and how `juju run`
//! types its `key=value` params.

use serde_json::{json, Value};

use super::args;
use super::format::Format;
use super::{Out, Tool, ToolFail, FORMAT};
use crate::util;

impl Tool<'_> {
    pub(super) fn action_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        let id = self.action_id()?;
        let params = Value::Object(self.st().actions[&id].params.clone());
        let v = match a.positional.first() {
            None => params,
            Some(key) => {
                let mut cur = &params;
                let mut found = true;
                for part in a.positional.iter().flat_map(|k| k.split('.')) {
                    match cur.get(part) {
                        Some(next) => cur = next,
                        None => {
                            found = false;
                            break;
                        }
                    }
                }
                let _ = key;
                if found {
                    cur.clone()
                } else {
                    Value::Null
                }
            }
        };
        Ok(Out::value(f, &v))
    }

    pub(super) fn action_set(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[])?;
        // As jujuc: every argument is checked (exit 2) before the action is looked for, and
        // no argument at all sets nothing and succeeds, in an action or not.
        let pairs = a
            .positional
            .iter()
            .map(|p| action_set_pair(p))
            .collect::<Result<Vec<_>, ToolFail>>()?;
        if pairs.is_empty() {
            return Ok(Out::default());
        }
        let id = self.action_id()?;
        let rec = self.g.st.actions.get_mut(&id).expect("action exists");
        for (parts, v) in pairs {
            let mut cur = &mut rec.results;
            for part in &parts[..parts.len() - 1] {
                let slot = cur.entry(part.clone()).or_insert_with(|| json!({}));
                if !slot.is_object() {
                    *slot = json!({});
                }
                cur = slot.as_object_mut().expect("object");
            }
            cur.insert(parts[parts.len() - 1].clone(), Value::String(v));
        }
        self.dirty = true;
        Ok(Out::default())
    }

    pub(super) fn action_fail(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[])?;
        let id = self.action_id()?;
        // One optional message, as jujuc's action-fail: extra arguments are a usage error.
        a.no_more(1)?;
        let mut msg = a.positional.first().cloned().unwrap_or_default();
        if msg.is_empty() {
            msg = "action failed without reason given, check action for errors".to_string();
        }
        let rec = self.g.st.actions.get_mut(&id).expect("action exists");
        rec.failed_by_charm = true;
        rec.message = msg;
        self.dirty = true;
        Ok(Out::default())
    }

    pub(super) fn action_log(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[])?;
        let id = self.action_id()?;
        if a.positional.is_empty() {
            return Err(ToolFail::usage("no message specified"));
        }
        let msg = a.positional.join(" ");
        self.g
            .st
            .actions
            .get_mut(&id)
            .expect("action exists")
            .logs
            .push(msg.clone());
        self.dirty = true;
        let module = format!("unit.{}.action-log", self.unit_name());
        self.log("INFO", &module, &msg);
        Ok(Out::default())
    }
}

/// Keys `action-set` may not set, in any dotted part (jujuc's reserved keys).
const RESERVED_ACTION_KEYS: [&str; 4] = ["stdout", "stdout-encoding", "stderr", "stderr-encoding"];

/// One `action-set` argument as jujuc's `Init` reads it: split at its first `=` (so `=1` is
/// the key `""`), then each dotted part of the key checked in order, for the naming rule and
/// then for being reserved.
fn action_set_pair(arg: &str) -> Result<(Vec<String>, String), ToolFail> {
    let (key, value) = arg.split_once('=').ok_or_else(|| {
        ToolFail::usage(format!("argument {arg:?} must be of the form key...=value"))
    })?;
    let parts: Vec<String> = key.split('.').map(str::to_string).collect();
    for part in &parts {
        if !util::is_juju_key_part(part) {
            return Err(ToolFail::usage(format!(
                "key {part:?} must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods"
            )));
        }
        if RESERVED_ACTION_KEYS.contains(&part.as_str()) {
            return Err(ToolFail::usage(format!(
                "cannot set reserved action key {part:?}"
            )));
        }
    }
    Ok((parts, value.to_string()))
}

/// Parses YAML-typed `k=v` pairs (as `juju run` does) into a JSON map; dotted keys nest.
pub fn typed_params(
    pairs: &[(String, String)],
    string_args: bool,
) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for (k, v) in pairs {
        let value = if string_args {
            Value::String(v.clone())
        } else {
            serde_yaml_ng::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.clone()))
        };
        let parts: Vec<&str> = k.split('.').collect();
        let mut cur = &mut out;
        for part in &parts[..parts.len() - 1] {
            let slot = cur.entry(part.to_string()).or_insert_with(|| json!({}));
            if !slot.is_object() {
                *slot = json!({});
            }
            cur = slot.as_object_mut().expect("object");
        }
        cur.insert(parts[parts.len() - 1].to_string(), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_params_are_yaml_typed_unless_string_args() {
        let pairs = vec![
            ("n".to_string(), "5".to_string()),
            ("a.b".to_string(), "x".to_string()),
        ];
        let typed = typed_params(&pairs, false);
        assert_eq!(typed["n"], json!(5));
        assert_eq!(typed["a"]["b"], json!("x"));
        assert_eq!(typed_params(&pairs, true)["n"], json!("5"));
    }
}
