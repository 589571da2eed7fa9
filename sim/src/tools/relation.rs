//! Relation data: `relation-ids`, `relation-list`, `relation-get`, `relation-set`,
//! `relation-model-get`. Reads snapshot each bag on first read in a context (a member's bag
//! through the uniter's cache when the switch is on); writes are buffered in the context
//! until the hook exits 0. Who may read and write which bag follows Juju: a unit writes its
//! own unit bag; only the leader writes its application's bag, and outside a peer relation
//! only the leader may read it; everyone reads the other side's bags.

use serde_json::{json, Value};

use super::args::{self, value};
use super::format::Format;
use super::{key_or_all, overlay, Out, Tool, ToolFail, APP, FORMAT, RELATION};
use crate::state::{Databag, ModelState};

/// Which bag of a relation a read is for.
enum BagRef {
    Unit(String),
    App(String),
}

/// `zookeeper/3` -> valid; `zookeeper`, `x/y` -> not a unit name.
pub(super) fn valid_unit_name(s: &str) -> bool {
    let Some((app, n)) = s.split_once('/') else {
        return false;
    };
    let ab = app.as_bytes();
    !ab.is_empty()
        && ab[0].is_ascii_lowercase()
        && ab
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !n.is_empty()
        && n.bytes().all(|c| c.is_ascii_digit())
}

impl Tool<'_> {
    pub(super) fn relation_ids(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(1)?;
        let name = match a.positional.first() {
            Some(n) => n.clone(),
            None => self
                .ctx()
                .hook
                .as_ref()
                .and_then(|h| h.endpoint.clone())
                .ok_or_else(|| ToolFail::usage("no endpoint name specified"))?,
        };
        let app = self.app_name();
        let mut ids: Vec<String> = self
            .known_relations()
            .into_iter()
            .filter_map(|id| self.st().relations.get(&id))
            .filter(|r| r.endpoint_of(&app) == name)
            .map(|r| r.rel_ref(&app))
            .collect();
        ids.sort();
        Ok(Out::value(f, &json!(ids)))
    }

    pub(super) fn relation_list(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, RELATION, APP])?;
        let f = Format::parse(a.value("format"))?;
        let id = self.relation(a.value("r"))?;
        a.no_more(0)?;
        if a.flag("app") {
            let remote = self.st().relations[&id].remote_app(&self.app_name());
            return Ok(Out::value(f, &Value::String(remote)));
        }
        // BTreeSet iteration is text order, as Juju sorts (zookeeper/10 < zookeeper/2).
        let members: Vec<String> = self
            .unit()
            .scope
            .get(&id)
            .map(|s| s.members.iter().cloned().collect())
            .unwrap_or_default();
        Ok(Out::value(f, &json!(members)))
    }

    fn snapshot(&mut self, key: String, committed: impl FnOnce(&ModelState) -> Databag) -> Databag {
        if let Some(b) = self.ctx().snapshots.get(&key) {
            return b.clone();
        }
        let b = committed(self.st());
        self.ctx_mut().snapshots.insert(key, b.clone());
        b
    }

    fn read_bag(&mut self, id: u32, which: &BagRef) -> Result<Databag, ToolFail> {
        let me = self.unit_name();
        let rel_key = self.rel_key(id);
        match which {
            BagRef::Unit(u) if *u == me => {
                let u = u.clone();
                let base = self.snapshot(format!("{id}/{u}"), |st| {
                    st.relations[&id]
                        .units
                        .get(&u)
                        .map(|b| b.bag.clone())
                        .unwrap_or_default()
                });
                Ok(overlay(base, self.ctx().pending.unit_bags.get(&id)))
            }
            BagRef::Unit(u) => {
                let committed = self.st().relations[&id]
                    .units
                    .get(u)
                    .map(|b| b.bag.clone())
                    .ok_or_else(|| {
                        ToolFail::runtime(format!(
                            "cannot read settings for unit {u:?} in relation {rel_key:?}: unit {u:?}: settings not found"
                        ))
                    })?;
                let member = self
                    .unit()
                    .scope
                    .get(&id)
                    .is_some_and(|s| s.members.contains(u));
                if member && self.st().switches.stale_member_cache {
                    if let Some(cached) = self.unit().scope[&id].member_cache.get(u) {
                        return Ok(cached.clone());
                    }
                    self.dirty = true;
                    let unit = self.g.st.units.get_mut(&me).expect("unit exists");
                    unit.scope
                        .get_mut(&id)
                        .expect("in scope")
                        .member_cache
                        .insert(u.clone(), committed.clone());
                    return Ok(committed);
                }
                Ok(self.snapshot(format!("{id}/{u}"), |_| committed))
            }
            BagRef::App(app) => {
                if !self.st().relations[&id].involves(app) {
                    return Err(ToolFail::runtime(format!(
                        "application {app:?} is not part of relation {rel_key:?}"
                    )));
                }
                let app = app.clone();
                let own = app == self.app_name();
                let peer = self.st().relations[&id].peer();
                if own && !peer && !self.is_leader() {
                    return Err(ToolFail::runtime("permission denied"));
                }
                let base = self.snapshot(format!("{id}/app/{app}"), |st| {
                    st.relations[&id].app_bag(&app)
                });
                if own {
                    Ok(overlay(base, self.ctx().pending.app_bags.get(&id)))
                } else {
                    Ok(base)
                }
            }
        }
    }

    pub(super) fn relation_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, RELATION, APP])?;
        let f = Format::parse(a.value("format"))?;
        let id = self.relation(a.value("r"))?;
        a.no_more(2)?;
        let key = a.positional.first().filter(|k| *k != "-").cloned();
        let app_flag = a.flag("app");
        let remote_unit = self
            .ctx()
            .hook
            .as_ref()
            .and_then(|h| h.remote_unit.clone())
            .filter(|u| !u.is_empty());
        let in_relation_hook = self
            .ctx()
            .hook
            .as_ref()
            .is_some_and(|h| h.relation_id.is_some());
        let which = match a.positional.get(1).cloned().or(remote_unit) {
            Some(t) if t.contains('/') => {
                if !valid_unit_name(&t) {
                    return Err(ToolFail::usage(format!("invalid unit name {t:?}")));
                }
                if app_flag {
                    BagRef::App(t.split('/').next().unwrap_or_default().to_string())
                } else {
                    BagRef::Unit(t)
                }
            }
            Some(t) => {
                if app_flag {
                    BagRef::App(t)
                } else {
                    return Err(ToolFail::usage(format!(
                        "expected unit name, got application name {t:?}"
                    )));
                }
            }
            // JUJU_REMOTE_APP of the hook's relation.
            None if in_relation_hook => {
                let hook_rel = self
                    .ctx()
                    .hook
                    .as_ref()
                    .and_then(|h| h.relation_id)
                    .unwrap_or(id);
                let remote = self
                    .st()
                    .relations
                    .get(&hook_rel)
                    .map(|r| r.remote_app(&self.app_name()))
                    .unwrap_or_default();
                BagRef::App(remote)
            }
            None => return Err(ToolFail::usage("no unit or application specified")),
        };
        let bag = self.read_bag(id, &which)?;
        Ok(Out::value(f, &key_or_all(&bag, key.as_deref())))
    }

    pub(super) fn relation_model_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, RELATION])?;
        let f = Format::parse(a.value("format"))?;
        self.relation(a.value("r"))?;
        a.no_more(0)?;
        Ok(Out::value(f, &json!({"uuid": self.st().model_uuid})))
    }

    pub(super) fn relation_set(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, RELATION, APP, value(&["file"])])?;
        let id = self.relation(a.value("r"))?;
        let kv = self.kv_args(&a, true)?;
        let mut out = Out::default();
        if a.value("format").is_some() {
            out.stderr = "--format flag deprecated for command \"relation-set\"\n".to_string();
        }
        if a.flag("app") {
            if !self.is_leader() {
                return Err(ToolFail::runtime("cannot write relation settings"));
            }
            self.ctx_mut()
                .pending
                .app_bags
                .entry(id)
                .or_default()
                .extend(kv);
        } else {
            self.ctx_mut()
                .pending
                .unit_bags
                .entry(id)
                .or_default()
                .extend(kv);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_need_an_application_and_a_number() {
        for (name, ok) in [
            ("zookeeper/0", true),
            ("zk-2/10", true),
            ("zookeeper", false),
            ("zookeeper/x", false),
            ("Zoo/1", false),
        ] {
            assert_eq!(valid_unit_name(name), ok, "{name}");
        }
    }
}
