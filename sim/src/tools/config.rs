//! `config-get`: the effective config, read once per context.

use serde_json::Value;

use super::args::{self, boolean};
use super::format::Format;
use super::{Out, Tool, ToolFail, FORMAT};

impl Tool<'_> {
    pub(super) fn config_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, boolean(&["a", "all"])])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(1)?;
        let all = a.flag("a");
        if let (true, Some(k)) = (all, a.positional.first()) {
            return Err(ToolFail::usage(format!(
                "cannot use argument --all together with key {k:?}"
            )));
        }
        let cfg = match &self.ctx().config {
            Some(c) => c.clone(),
            None => {
                let c = self
                    .st()
                    .charm
                    .meta
                    .effective_config(&self.st().config, true);
                self.ctx_mut().config = Some(c.clone());
                c
            }
        };
        let v = match a.positional.first() {
            Some(k) => cfg.get(k).cloned().unwrap_or(Value::Null),
            None => Value::Object(
                cfg.into_iter()
                    .filter(|(_, v)| all || !v.is_null())
                    .collect(),
            ),
        };
        Ok(Out::value(f, &v))
    }
}
