//! Leadership: `is-leader`, and the leader settings (`leader-get`, `leader-set`), which
//! apply at once and wake the other units.

use serde_json::Value;

use super::args;
use super::format::Format;
use super::{key_or_all, overlay, Out, Tool, ToolFail, FORMAT};

impl Tool<'_> {
    pub(super) fn is_leader_tool(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(0)?;
        Ok(Out::value(f, &Value::Bool(self.is_leader())))
    }

    pub(super) fn leader_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(1)?;
        let key = a.positional.first().filter(|k| *k != "-").cloned();
        if let Some(k) = &key {
            if k.contains('=') {
                return Err(ToolFail::usage(format!("invalid key {k:?}")));
            }
        }
        let settings = match &self.ctx().leader_settings {
            Some(s) => s.clone(),
            None => {
                let s = self.st().leader_settings.clone();
                self.ctx_mut().leader_settings = Some(s.clone());
                s
            }
        };
        Ok(Out::value(f, &key_or_all(&settings, key.as_deref())))
    }

    pub(super) fn leader_set(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[])?;
        let kv = self.kv_args(&a, false)?;
        if !self.is_leader() {
            return Err(ToolFail::runtime(
                "cannot write leadership settings: cannot write settings: not the leader",
            ));
        }
        let before = self.st().leader_settings.clone();
        let after = overlay(before.clone(), Some(&kv));
        if after != before {
            self.g.st.leader_settings = after;
            self.g.st.fan_out_leader_settings();
        }
        // Re-read after our own write.
        self.ctx_mut().leader_settings = None;
        Ok(Out::default())
    }
}
