//! The unit's addresses: `network-get`, `unit-get`.

use serde_json::{json, Value};

use super::args::{self, boolean};
use super::format::Format;
use super::{Out, Tool, ToolFail, FORMAT, RELATION};

impl Tool<'_> {
    pub(super) fn network_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        const SELECTORS: [&str; 4] = [
            "bind-address",
            "ingress-address",
            "egress-subnets",
            "primary-address",
        ];
        let a = args::parse(
            argv,
            &[
                FORMAT,
                RELATION,
                boolean(&["bind-address"]),
                boolean(&["ingress-address"]),
                boolean(&["egress-subnets"]),
                boolean(&["primary-address"]),
            ],
        )?;
        let f = Format::parse(a.value("format"))?;
        if a.value("r").is_some() {
            self.relation(a.value("r"))?;
        }
        let Some(binding) = a.positional.first().cloned() else {
            return Err(ToolFail::usage("no arguments specified"));
        };
        a.no_more(1)?;
        if !self.st().charm.meta.bindings().any(|b| *b == binding) {
            return Err(ToolFail::runtime(format!(
                "no network config found for binding {binding:?}"
            )));
        }
        let addr = self.unit().address.clone();
        let selected: Vec<&str> = SELECTORS.iter().copied().filter(|s| a.flag(s)).collect();
        let pick = |s: &str| -> Value {
            match s {
                "egress-subnets" => Value::String(format!("{addr}/32")),
                _ => Value::String(addr.clone()),
            }
        };
        let v = match selected.as_slice() {
            [] => json!({
                "bind-addresses": [{
                    "mac-address": "",
                    "interface-name": "lo",
                    "addresses": [{"hostname": "", "value": addr, "cidr": "127.0.0.0/8"}],
                }],
                "egress-subnets": [format!("{addr}/32")],
                "ingress-addresses": [addr],
            }),
            [one] => pick(one),
            many => Value::Object(many.iter().map(|s| (s.to_string(), pick(s))).collect()),
        };
        Ok(Out::value(f, &v))
    }

    pub(super) fn unit_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        let Some(key) = a.positional.first() else {
            return Err(ToolFail::usage("no setting specified"));
        };
        a.no_more(1)?;
        match key.as_str() {
            "private-address" | "public-address" => {
                Ok(Out::value(f, &Value::String(self.unit().address.clone())))
            }
            other => Err(ToolFail::usage(format!("unknown setting {other:?}"))),
        }
    }
}
