//! Juju's verbs on the model: deploy, add-unit, remove-unit, config, refresh, leader, and
//! the sim's own fault injection.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{absolute, make_dir, Model};
use crate::charm::{self, Charm};
use crate::machine::Machine;
use crate::state::{
    CharmRecord, Guard, HookKind, HookSpec, Life, StatusRecord, StorageInstance, ToolFailure, Unit,
};
use crate::tools::ToolName;
use crate::SimError;

impl Model {
    /// `juju deploy -n N`: creates N units and queues their start-up hooks. The first unit
    /// is the leader.
    pub fn deploy(&mut self, n: u32) -> Result<Vec<String>, SimError> {
        let mut g = self.lock()?;
        if g.st.next_unit > 0 {
            return Err(SimError::Refused(
                "the application is already deployed; use add-unit".into(),
            ));
        }
        let mut names = Vec::new();
        for _ in 0..n {
            names.push(self.new_unit(&mut g)?);
        }
        g.save()?;
        Ok(names)
    }

    /// `juju add-unit`: one more unit; the others will see it join once it is installed.
    pub fn add_unit(&mut self) -> Result<String, SimError> {
        let mut g = self.lock()?;
        if g.st.next_unit == 0 {
            return Err(SimError::Refused(
                "nothing deployed yet; deploy first".into(),
            ));
        }
        let name = self.new_unit(&mut g)?;
        g.save()?;
        Ok(name)
    }

    fn new_unit(&self, g: &mut Guard) -> Result<String, SimError> {
        let st = &mut g.st;
        let n = st.next_unit;
        if n > 243 {
            return Err(SimError::Refused(format!(
                "out of loopback addresses ({p}11-{p}254)",
                p = st.address_prefix
            )));
        }
        let name = format!("{}/{n}", st.app);
        let dir = self.dir().join("units").join(format!("{}-{n}", st.app));
        make_dir(&dir, 0o755)?;
        let machine = Machine::of_unit(&dir);
        machine.create()?;
        let storage = self.attach_new_storage(st, &name, &machine)?;
        let charm_dir = dir.join("charm");
        let files = charm::deploy_to_unit(&st.charm.dir, &charm_dir, &[])?;
        st.next_unit += 1;
        st.units.insert(
            name.clone(),
            Unit {
                name: name.clone(),
                number: n,
                address: format!("{}{}", st.address_prefix, 11 + n),
                dir,
                life: Life::Alive,
                queue: Default::default(),
                actions: Default::default(),
                error: None,
                workload: StatusRecord::new("waiting", "waiting for machine"),
                status_set: false,
                executing: None,
                scope: BTreeMap::new(),
                state: BTreeMap::new(),
                ports: Default::default(),
                charm_revision: st.charm.revision,
                charm_files: files,
                storage,
            },
        );
        if st.leader.is_none() {
            st.leader = Some(name.clone());
        }
        st.queue_new_unit(&name);
        Ok(name)
    }

    /// Creates and attaches one instance of each storage the charm declares (Juju gives
    /// each its minimum), as Juju does for a new machine unit: the instance's directory in
    /// the model, and its mount point on the unit's machine, root's. Returns their ids.
    fn attach_new_storage(
        &self,
        st: &mut crate::state::ModelState,
        unit: &str,
        machine: &Machine,
    ) -> Result<Vec<String>, SimError> {
        let mut ids = Vec::new();
        for spec in st.charm.meta.storage.clone() {
            let k = st.next_storage;
            st.next_storage += 1;
            let id = format!("{}/{k}", spec.name);
            let dir = self
                .dir()
                .join("storage")
                .join(format!("{}-{k}", spec.name));
            make_dir(&dir, 0o755)?;
            let location = spec.location.clone().map_or_else(
                || PathBuf::from(format!("/var/lib/juju/storage/{}/{k}", spec.name)),
                PathBuf::from,
            );
            machine.make_mount_point(&location)?;
            st.storage.insert(
                id.clone(),
                StorageInstance {
                    id: id.clone(),
                    kind: spec.kind.clone(),
                    location,
                    dir,
                    attached_to: Some(unit.to_string()),
                },
            );
            ids.push(id);
        }
        Ok(ids)
    }

    /// `juju remove-unit`: the unit departs its relations, stops and is removed; if it led,
    /// another unit is elected once it is gone.
    pub fn remove_unit(&mut self, unit: &str) -> Result<(), SimError> {
        let mut g = self.lock()?;
        match g.st.units.get(unit) {
            None => return Err(SimError::not_found("unit", unit)),
            Some(u) if u.life == Life::Dying => return Ok(()),
            Some(_) => {}
        }
        g.st.begin_removal(unit);
        g.save()
    }

    /// `juju config k=v ...` (`k=` resets to the default). Queues `config-changed` on every
    /// unit when the effective config changed; returns whether it did.
    pub fn set_config(&mut self, pairs: &[(&str, &str)]) -> Result<bool, SimError> {
        let mut g = self.lock()?;
        let st = &mut g.st;
        let before = st.charm.meta.effective_config(&st.config, true);
        for (k, v) in pairs {
            let opt = st
                .charm
                .meta
                .options
                .get(*k)
                .ok_or_else(|| SimError::not_found("option", k))?;
            if v.is_empty() {
                st.config.remove(*k);
            } else {
                let value = opt.kind.parse_value(k, v)?;
                st.config.insert(k.to_string(), value);
            }
        }
        let after = st.charm.meta.effective_config(&st.config, true);
        let changed = before != after;
        if changed {
            for u in st.units_by_number() {
                if st.is_alive(&u) {
                    st.enqueue(&u, HookSpec::plain(HookKind::ConfigChanged));
                }
            }
        }
        g.save()?;
        Ok(changed)
    }

    /// The effective config (set values, else defaults; null for options without either).
    pub fn config(&self) -> Result<serde_json::Map<String, Value>, SimError> {
        let g = self.lock()?;
        Ok(g.st.charm.meta.effective_config(&g.st.config, true))
    }

    /// `juju refresh --path`: a new charm revision; each unit swaps its charm dir when it
    /// reaches `upgrade-charm`, then runs `config-changed` (non-leaders also
    /// `leader-settings-changed`). Returns the new revision.
    pub fn refresh(&mut self, charm_path: impl AsRef<Path>) -> Result<u64, SimError> {
        let charm_path = absolute(charm_path.as_ref())?;
        let mut g = self.lock()?;
        let rev = g.st.charm.revision + 1;
        let dest = self.dir().join("charms").join(rev.to_string());
        let _ = fs::remove_dir_all(&dest);
        charm::unpack(&charm_path, &dest)?;
        let meta = Charm::load(&dest)?;
        if meta.name != g.st.app {
            let _ = fs::remove_dir_all(&dest);
            return Err(SimError::Refused(format!(
                "cannot refresh {} to a charm named {:?}",
                g.st.app, meta.name
            )));
        }
        let st = &mut g.st;
        st.charm = CharmRecord {
            revision: rev,
            source: charm_path,
            dir: dest,
            meta,
        };
        for u in st.units_by_number() {
            if !st.is_alive(&u) {
                continue;
            }
            st.enqueue(&u, HookSpec::plain(HookKind::UpgradeCharm));
            st.enqueue(&u, HookSpec::plain(HookKind::ConfigChanged));
            if st.switches.start_after_refresh {
                st.enqueue(&u, HookSpec::plain(HookKind::Start));
            }
            if st.leader.as_deref() != Some(u.as_str()) {
                st.enqueue(&u, HookSpec::plain(HookKind::LeaderSettingsChanged));
            }
        }
        g.save()?;
        Ok(rev)
    }

    /// Moves leadership to `unit` (`leader-elected` there, `leader-settings-changed` on the
    /// others; the old leader gets no "deposed" hook, as in Juju).
    pub fn set_leader(&mut self, unit: &str) -> Result<(), SimError> {
        let mut g = self.lock()?;
        if !g.st.is_alive(unit) {
            return Err(SimError::Refused(format!(
                "unit {unit:?} not found or dying"
            )));
        }
        if g.st.leader.as_deref() == Some(unit) {
            return Ok(());
        }
        g.st.elect(unit);
        g.save()
    }

    pub fn leader(&self) -> Result<Option<String>, SimError> {
        Ok(self.lock()?.st.leader)
    }

    /// Makes the hook tool `tool` fail (exit 1) the next time `unit` calls it.
    pub fn inject_tool_failure(&mut self, unit: &str, tool: &str) -> Result<(), SimError> {
        self.inject_tool_failures(unit, tool, 1)
    }

    /// As [`Model::inject_tool_failure`], for the next `times` calls.
    pub fn inject_tool_failures(
        &mut self,
        unit: &str,
        tool: &str,
        times: u32,
    ) -> Result<(), SimError> {
        if ToolName::from_name(tool).is_none() {
            return Err(SimError::not_found("hook tool", tool));
        }
        let mut g = self.lock()?;
        if !g.st.units.contains_key(unit) {
            return Err(SimError::not_found("unit", unit));
        }
        g.st.tool_failures.push(ToolFailure {
            unit: unit.to_string(),
            tool: tool.to_string(),
            remaining: times,
        });
        g.save()
    }
}
