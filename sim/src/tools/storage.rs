//! `storage-get` and `storage-list`: the storage instances attached to the unit, as jujuc
//! answers (`kind` and `location`; in a storage hook the hook's instance is the default).

use serde_json::{Map, Value};

use super::args::{self, value};
use super::format::Format;
use super::{Out, Tool, ToolFail, FORMAT};

impl Tool<'_> {
    /// Storage ids attached to this unit, in attachment order.
    fn attached_storage(&self) -> Vec<String> {
        self.unit().storage.clone()
    }

    pub(super) fn storage_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, value(&["s"])])?;
        let f = Format::parse(a.value("format"))?;
        let id = match a.value("s") {
            Some(id) => {
                let valid = id.split_once('/').is_some_and(|(name, n)| {
                    !name.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
                });
                if !valid {
                    return Err(ToolFail::usage(format!(
                        "invalid value {id:?} for option -s: invalid storage ID {id:?}"
                    )));
                }
                if !self.st().storage.contains_key(id) {
                    return Err(ToolFail::usage(format!(
                        "invalid value {id:?} for option -s: storage {id:?} not found"
                    )));
                }
                id.to_string()
            }
            None => self
                .ctx()
                .hook
                .as_ref()
                .and_then(|h| h.storage_id.clone())
                .ok_or_else(|| ToolFail::usage("no storage instance specified"))?,
        };
        a.no_more(1)?;
        let storage = self
            .st()
            .storage
            .get(&id)
            .ok_or_else(|| ToolFail::runtime(format!("storage {id:?} not found")))?;
        let mut values = Map::new();
        values.insert("kind".into(), Value::String(storage.kind.clone()));
        values.insert(
            "location".into(),
            Value::String(storage.location.to_string_lossy().into_owned()),
        );
        match a.positional.first() {
            None => Ok(Out::value(f, &Value::Object(values))),
            Some(k) => match values.get(k.as_str()) {
                Some(v) => Ok(Out::value(f, v)),
                None => Err(ToolFail::runtime(format!(
                    "invalid storage attribute {k:?}"
                ))),
            },
        }
    }

    pub(super) fn storage_list(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(1)?;
        let name = a.positional.first().cloned();
        let ids: Vec<Value> = self
            .attached_storage()
            .into_iter()
            .filter(|id| {
                name.as_deref()
                    .is_none_or(|n| id.split('/').next() == Some(n))
            })
            .map(Value::String)
            .collect();
        Ok(Out::value(f, &Value::Array(ids)))
    }
}
