//! The unit's own key-value store: `state-get`, `state-set`, `state-delete` (writes
//! buffered until the hook exits 0).

use serde_json::Value;

use super::args::{self, boolean, value};
use super::format::Format;
use super::{bag_value, Out, Tool, ToolFail, FORMAT};
use crate::state::Databag;

impl Tool<'_> {
    fn state_view(&self) -> Databag {
        let mut s = self.unit().state.clone();
        for (k, v) in &self.ctx().pending.state {
            match v {
                Some(v) => {
                    s.insert(k.clone(), v.clone());
                }
                None => {
                    s.remove(k);
                }
            }
        }
        s
    }

    pub(super) fn state_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, boolean(&["strict"])])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(1)?;
        let s = self.state_view();
        let v = match a.positional.first() {
            None => bag_value(&s),
            Some(k) => match s.get(k) {
                Some(v) => Value::String(v.clone()),
                None if a.flag("strict") => {
                    return Err(ToolFail::runtime(format!("{k:?} not found")))
                }
                None => Value::String(String::new()),
            },
        };
        Ok(Out::value(f, &v))
    }

    pub(super) fn state_set(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[value(&["file"])])?;
        let kv = self.kv_args(&a, true)?;
        for (k, v) in &kv {
            if k.len() > 256 {
                return Err(ToolFail::runtime(format!(
                    "key {k:?} exceeds the 256-byte limit"
                )));
            }
            if v.len() > 64 * 1024 {
                return Err(ToolFail::runtime(format!(
                    "value of {k:?} exceeds the 65536-byte limit"
                )));
            }
        }
        let pending = &mut self.ctx_mut().pending.state;
        for (k, v) in kv {
            pending.insert(k, if v.is_empty() { None } else { Some(v) });
        }
        Ok(Out::default())
    }

    pub(super) fn state_delete(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[])?;
        let Some(k) = a.positional.first().cloned() else {
            return Err(ToolFail::usage("no key specified"));
        };
        a.no_more(1)?;
        self.ctx_mut().pending.state.insert(k, None);
        Ok(Out::default())
    }
}
