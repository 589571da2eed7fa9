//! Juju's verbs on applications and units: deploy, add-unit, remove-unit, config, refresh,
//! leader, and the sim's own fault injection.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{absolute, make_dir, Model};
use crate::charm::{self, Charm, Role, StubSpec};
use crate::machine::Machine;
use crate::state::{
    AppBag, Application, CharmRecord, Guard, HookKind, HookSpec, Life, ModelState, Relation,
    RelationEnd, StatusRecord, StorageDirective, StorageInstance, StoragePool, ToolFailure, Unit,
    DEFAULT_TMPFS_MIB,
};
use crate::tools::ToolName;
use crate::SimError;

/// Where an application's charm comes from.
enum CharmSource<'a> {
    Path(&'a Path),
    Stub(&'a StubSpec),
}

/// Juju's application name rule: lowercase letters, digits and single hyphens, starting
/// with a letter, no hyphen before a digit-only part or at the end.
pub(super) fn valid_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part.bytes().any(|c| c.is_ascii_lowercase())
        })
        && name.as_bytes()[0].is_ascii_lowercase()
}

impl Model {
    /// `juju deploy -n N` of the model's default application (created with the model):
    /// creates N units and queues their start-up hooks. One of them leads (see
    /// [`crate::Switches::seeded_leadership`]).
    pub fn deploy(&mut self, n: u32) -> Result<Vec<String>, SimError> {
        let mut g = self.lock()?;
        let app =
            g.st.default_app()
                .ok_or_else(|| SimError::Refused("no application in the model".into()))?
                .to_string();
        if g.st.applications[&app].next_unit > 0 {
            return Err(SimError::Refused(
                "the application is already deployed; use add-unit".into(),
            ));
        }
        let names = self.new_units(&mut g, &app, n)?;
        g.save()?;
        Ok(names)
    }

    /// `juju deploy <charm> [app] -n N`: a new application from a `.charm` zip or a charm
    /// directory, named `app` (default: the charm's name), with N units. A subordinate
    /// charm takes no units: they come with its relations to principals.
    pub fn deploy_app(
        &mut self,
        charm: impl AsRef<Path>,
        app: Option<&str>,
        n: u32,
    ) -> Result<Vec<String>, SimError> {
        let name = self.add_application(charm.as_ref(), app)?;
        let mut g = self.lock()?;
        let names = self.new_units(&mut g, &name, n)?;
        g.save()?;
        Ok(names)
    }

    /// Deploys a built-in scripted stub named `app` with N units (see [`StubSpec`]).
    pub fn deploy_stub(
        &mut self,
        app: &str,
        spec: &StubSpec,
        n: u32,
    ) -> Result<Vec<String>, SimError> {
        let mut g = self.lock()?;
        self.add_app(&mut g, app, CharmSource::Stub(spec))?;
        let names = self.new_units(&mut g, app, n)?;
        g.save()?;
        Ok(names)
    }

    /// Adds an application without units; returns its name.
    pub(super) fn add_application(
        &mut self,
        charm: &Path,
        app: Option<&str>,
    ) -> Result<String, SimError> {
        let charm = absolute(charm)?;
        let mut g = self.lock()?;
        let name = match app {
            Some(a) => a.to_string(),
            None => {
                // The charm's own name, read before unpacking it for good.
                let tmp = self.dir().join("charms").join(".incoming");
                let _ = fs::remove_dir_all(&tmp);
                charm::unpack(&charm, &tmp)?;
                let meta = Charm::load(&tmp);
                let _ = fs::remove_dir_all(&tmp);
                meta?.name
            }
        };
        self.add_app(&mut g, &name, CharmSource::Path(&charm))?;
        g.save()?;
        Ok(name)
    }

    fn add_app(&self, g: &mut Guard, name: &str, source: CharmSource) -> Result<(), SimError> {
        if !valid_app_name(name) {
            return Err(SimError::Refused(format!(
                "invalid application name {name:?}"
            )));
        }
        if g.st.applications.contains_key(name) {
            return Err(SimError::Refused(format!(
                "cannot add application {name:?}: application already exists"
            )));
        }
        let dest = self.dir().join("charms").join(name).join("0");
        let _ = fs::remove_dir_all(&dest);
        let (source_path, stub) = match source {
            CharmSource::Path(p) => {
                charm::unpack(p, &dest)?;
                (p.to_path_buf(), false)
            }
            CharmSource::Stub(spec) => {
                spec.write(name, &dest)?;
                (dest.clone(), true)
            }
        };
        let meta = Charm::load(&dest)?;
        let st = &mut g.st;
        for ep in meta.endpoints.iter().filter(|e| e.role == Role::Peer) {
            let id = st.next_relation;
            st.next_relation += 1;
            st.relations.insert(
                id,
                Relation {
                    id,
                    ends: vec![RelationEnd {
                        app: name.to_string(),
                        endpoint: ep.name.clone(),
                        role: Role::Peer,
                        interface: ep.interface.clone(),
                    }],
                    container: false,
                    life: Life::Alive,
                    app_bags: [(name.to_string(), AppBag::default())].into(),
                    units: BTreeMap::new(),
                },
            );
        }
        st.applications.insert(
            name.to_string(),
            Application {
                name: name.to_string(),
                charm: CharmRecord {
                    revision: 0,
                    source: source_path,
                    dir: dest,
                    meta,
                },
                config: BTreeMap::new(),
                next_unit: 0,
                leader: None,
                leader_settings: Default::default(),
                status: StatusRecord::new("unknown", ""),
                version: String::new(),
                stub,
                storage: BTreeMap::new(),
            },
        );
        st.app_order.push(name.to_string());
        Ok(())
    }

    /// N new units of `app`, their start-up hooks queued. An application without a leader
    /// (and no election pending) gets one among them (see [`ModelState::first_leader`]).
    fn new_units(&self, g: &mut Guard, app: &str, n: u32) -> Result<Vec<String>, SimError> {
        if n > 0 && g.st.applications[app].subordinate() {
            return Err(SimError::Refused(format!(
                "{app} is a subordinate application: its units come with its relations to principals"
            )));
        }
        let names = (0..n)
            .map(|_| self.create_unit(g, app, None))
            .collect::<Result<Vec<String>, SimError>>()?;
        self.start_units(g, app, &names);
        Ok(names)
    }

    /// `juju deploy --storage <name>=<directive>` for the units of `app` created from now on
    /// (`tmpfs,40M`: each gets a 40 MiB tmpfs of its own; see
    /// [`StorageDirective::parse`]). The charm's `minimum-size` is not enforced, so that a
    /// test can fill a small one.
    pub fn set_storage(&mut self, app: &str, name: &str, directive: &str) -> Result<(), SimError> {
        let directive = StorageDirective::parse(directive).map_err(SimError::Refused)?;
        let mut g = self.lock()?;
        let a =
            g.st.applications
                .get_mut(app)
                .ok_or_else(|| SimError::not_found("application", app))?;
        if !a.charm.meta.storage.iter().any(|s| s.name == name) {
            return Err(SimError::Refused(format!(
                "charm storage {name:?} not found in {app}'s charm"
            )));
        }
        a.storage.insert(name.to_string(), directive);
        g.save()
    }

    /// Gives the machine of `unit` `total_mib` of memory and `swap_mib` of swap (its
    /// `/proc/meminfo`); the unit's next hooks see it.
    pub fn set_machine_memory(
        &mut self,
        unit: &str,
        total_mib: u64,
        swap_mib: u64,
    ) -> Result<(), SimError> {
        self.machine(unit)?.set_memory(total_mib, swap_mib)
    }

    /// `juju add-unit` of the default application: one more unit; the others will see it
    /// join once it is installed.
    pub fn add_unit(&mut self) -> Result<String, SimError> {
        let app = self.app_name()?;
        Ok(self.add_units(&app, 1)?.remove(0))
    }

    /// `juju add-unit <app> -n N`.
    pub fn add_units(&mut self, app: &str, n: u32) -> Result<Vec<String>, SimError> {
        let mut g = self.lock()?;
        if !g.st.applications.contains_key(app) {
            return Err(SimError::not_found("application", app));
        }
        let names = self.new_units(&mut g, app, n)?;
        g.save()?;
        Ok(names)
    }

    /// A new unit of `app` on a new machine, or beside `principal` for a subordinate, its
    /// start-up hooks queued.
    pub(super) fn new_unit(
        &self,
        g: &mut Guard,
        app: &str,
        principal: Option<&str>,
    ) -> Result<String, SimError> {
        let name = self.create_unit(g, app, principal)?;
        self.start_units(g, app, std::slice::from_ref(&name));
        Ok(name)
    }

    /// Leadership for an application that has none (and no election pending), then the
    /// start-up hooks of its new units.
    fn start_units(&self, g: &mut Guard, app: &str, names: &[String]) {
        let st = &mut g.st;
        if st.applications[app].leader.is_none() && !st.elections.contains_key(app) {
            let leader = st.first_leader(names);
            st.applications
                .get_mut(app)
                .expect("application exists")
                .leader = leader;
        }
        for name in names {
            st.queue_new_unit(name);
        }
    }

    /// A unit of `app` on a new machine, or beside `principal` for a subordinate; nothing
    /// queued yet.
    fn create_unit(
        &self,
        g: &mut Guard,
        app: &str,
        principal: Option<&str>,
    ) -> Result<String, SimError> {
        let st = &mut g.st;
        let machine = match principal {
            Some(p) => st.units[p].machine,
            None => {
                if st.next_machine > 243 {
                    return Err(SimError::Refused(format!(
                        "out of loopback addresses ({p}11-{p}254)",
                        p = st.address_prefix
                    )));
                }
                st.next_machine += 1;
                st.next_machine - 1
            }
        };
        let n = st.applications[app].next_unit;
        let name = format!("{app}/{n}");
        let dir = self.dir().join("units").join(format!("{app}-{n}"));
        make_dir(&dir, 0o755)?;
        // A principal unit gets a new machine; a subordinate lives on its principal's.
        let host = match principal {
            Some(p) => Machine::of_unit(&st.units[p].dir),
            None => {
                let m = Machine::of_unit(&dir);
                m.create()?;
                m
            }
        };
        let storage = self.attach_new_storage(st, app, &name, &host)?;
        let a = st.applications.get_mut(app).expect("application exists");
        let files = charm::deploy_to_unit(&a.charm.dir, &dir.join("charm"), &[])?;
        a.next_unit += 1;
        let charm_revision = a.charm.revision;
        let address = format!("{}{}", st.address_prefix, 11 + machine);
        st.units.insert(
            name.clone(),
            Unit {
                name: name.clone(),
                app: app.to_string(),
                number: n,
                machine,
                principal: principal.map(str::to_string),
                address,
                dir,
                life: Life::Alive,
                queue: Default::default(),
                changed_follows: None,
                actions: Default::default(),
                error: None,
                workload: StatusRecord::new("waiting", "waiting for machine"),
                status_set: false,
                executing: None,
                scope: BTreeMap::new(),
                installed: false,
                awaiting_created: Default::default(),
                state: BTreeMap::new(),
                ports: Default::default(),
                charm_revision,
                charm_files: files,
                storage,
            },
        );
        Ok(name)
    }

    /// Creates and attaches one instance of each storage `app`'s charm declares (Juju
    /// gives each its minimum), as Juju does for a new machine unit: the instance's
    /// directory in the model, and its mount point on the unit's machine, root's. Returns
    /// their ids.
    fn attach_new_storage(
        &self,
        st: &mut ModelState,
        app: &str,
        unit: &str,
        machine: &Machine,
    ) -> Result<Vec<String>, SimError> {
        let mut ids = Vec::new();
        for spec in st.applications[app].charm.meta.storage.clone() {
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
            let directive = st.applications[app].storage.get(&spec.name).copied();
            let tmpfs_mib = match directive {
                Some(StorageDirective {
                    pool: StoragePool::Tmpfs,
                    size_mib,
                }) => {
                    let mib = size_mib.unwrap_or(DEFAULT_TMPFS_MIB);
                    mount_tmpfs(&dir, mib)?;
                    Some(mib)
                }
                _ => None,
            };
            st.storage.insert(
                id.clone(),
                StorageInstance {
                    id: id.clone(),
                    kind: spec.kind.clone(),
                    location,
                    dir,
                    attached_to: Some(unit.to_string()),
                    tmpfs_mib,
                },
            );
            ids.push(id);
        }
        Ok(ids)
    }

    /// `juju remove-unit`: the unit departs its relations, stops and is removed (its
    /// subordinates with it); if it led, another unit is elected once it is gone.
    pub fn remove_unit(&mut self, unit: &str) -> Result<(), SimError> {
        let mut g = self.lock()?;
        match g.st.units.get(unit) {
            None => return Err(SimError::not_found("unit", unit)),
            Some(u) if u.life == Life::Dying => return Ok(()),
            Some(u) if u.principal.is_some() => {
                return Err(SimError::Refused(format!(
                    "{unit} is a subordinate unit: remove its relation or its principal instead"
                )))
            }
            Some(_) => {}
        }
        g.st.begin_removal(unit);
        g.save()
    }

    /// `juju config k=v ...` of the default application (`k=` resets to the default).
    /// Queues `config-changed` on every unit when the effective config changed; returns
    /// whether it did.
    pub fn set_config(&mut self, pairs: &[(&str, &str)]) -> Result<bool, SimError> {
        let app = self.app_name()?;
        self.set_app_config(&app, pairs)
    }

    /// `juju config <app> k=v ...`.
    pub fn set_app_config(&mut self, app: &str, pairs: &[(&str, &str)]) -> Result<bool, SimError> {
        let mut g = self.lock()?;
        let st = &mut g.st;
        let a = st
            .applications
            .get_mut(app)
            .ok_or_else(|| SimError::not_found("application", app))?;
        let before = a.charm.meta.effective_config(&a.config, true);
        for (k, v) in pairs {
            let opt = a
                .charm
                .meta
                .options
                .get(*k)
                .ok_or_else(|| SimError::not_found("option", k))?;
            if v.is_empty() {
                a.config.remove(*k);
            } else {
                let value = opt.kind.parse_value(k, v)?;
                a.config.insert(k.to_string(), value);
            }
        }
        let after = a.charm.meta.effective_config(&a.config, true);
        let changed = before != after;
        if changed {
            for u in st.app_units(app) {
                if st.is_alive(&u) {
                    st.enqueue(&u, HookSpec::plain(HookKind::ConfigChanged));
                }
            }
        }
        g.save()?;
        Ok(changed)
    }

    /// The default application's effective config (set values, else defaults; null for
    /// options without either).
    pub fn config(&self) -> Result<serde_json::Map<String, Value>, SimError> {
        let app = self.app_name()?;
        self.app_config(&app)
    }

    /// An application's effective config.
    pub fn app_config(&self, app: &str) -> Result<serde_json::Map<String, Value>, SimError> {
        let g = self.lock()?;
        let a =
            g.st.applications
                .get(app)
                .ok_or_else(|| SimError::not_found("application", app))?;
        Ok(a.charm.meta.effective_config(&a.config, true))
    }

    /// `juju refresh --path` of the default application.
    pub fn refresh(&mut self, charm_path: impl AsRef<Path>) -> Result<u64, SimError> {
        let app = self.app_name()?;
        self.refresh_app(&app, charm_path)
    }

    /// `juju refresh <app> --path`: a new charm revision; each unit runs `upgrade-charm`
    /// before its pending config and relation hooks (swapping its charm dir then), then
    /// `config-changed` on the new code (non-leaders also `leader-settings-changed`).
    /// Returns the new revision.
    pub fn refresh_app(
        &mut self,
        app: &str,
        charm_path: impl AsRef<Path>,
    ) -> Result<u64, SimError> {
        let charm_path = absolute(charm_path.as_ref())?;
        let mut g = self.lock()?;
        let a =
            g.st.applications
                .get(app)
                .ok_or_else(|| SimError::not_found("application", app))?;
        if a.stub {
            return Err(SimError::Refused(format!(
                "{app} is a stub; it has no charm to refresh"
            )));
        }
        let rev = a.charm.revision + 1;
        let old_name = a.charm.meta.name.clone();
        let dest = self.dir().join("charms").join(app).join(rev.to_string());
        let _ = fs::remove_dir_all(&dest);
        charm::unpack(&charm_path, &dest)?;
        let meta = Charm::load(&dest)?;
        if meta.name != old_name {
            let _ = fs::remove_dir_all(&dest);
            return Err(SimError::Refused(format!(
                "cannot refresh {app} to a charm named {:?}",
                meta.name
            )));
        }
        let st = &mut g.st;
        st.applications.get_mut(app).expect("exists").charm = CharmRecord {
            revision: rev,
            source: charm_path,
            dir: dest,
            meta,
        };
        for u in st.app_units(app) {
            if st.is_alive(&u) {
                st.queue_refresh(&u);
            }
        }
        g.save()?;
        Ok(rev)
    }

    /// Moves leadership of the unit's application to `unit` (`leader-elected` there,
    /// `leader-settings-changed` on the others; the old leader gets no "deposed" hook, as in
    /// Juju).
    pub fn set_leader(&mut self, unit: &str) -> Result<(), SimError> {
        let mut g = self.lock()?;
        if !g.st.is_alive(unit) {
            return Err(SimError::Refused(format!(
                "unit {unit:?} not found or dying"
            )));
        }
        if g.st.is_leader(unit) {
            return Ok(());
        }
        g.st.elect(unit);
        g.save()
    }

    /// The default application's leader.
    pub fn leader(&self) -> Result<Option<String>, SimError> {
        let app = self.app_name()?;
        self.app_leader(&app)
    }

    /// An application's leader.
    pub fn app_leader(&self, app: &str) -> Result<Option<String>, SimError> {
        let g = self.lock()?;
        Ok(g.st
            .applications
            .get(app)
            .ok_or_else(|| SimError::not_found("application", app))?
            .leader
            .clone())
    }

    /// `unit`'s update-status timer fires now: on Juju every unit has its own 5-minute timer,
    /// so update-status may run while other units are in the middle of anything (settle
    /// only ticks once the whole model is quiet). Returns whether it was queued (not for a
    /// dying unit, or one in error).
    pub fn queue_update_status(&mut self, unit: &str) -> Result<bool, SimError> {
        let mut g = self.lock()?;
        let u =
            g.st.units
                .get(unit)
                .ok_or_else(|| SimError::not_found("unit", unit))?;
        if u.life != Life::Alive || u.error.is_some() {
            return Ok(false);
        }
        let queued = g.st.enqueue(unit, HookSpec::plain(HookKind::UpdateStatus));
        g.save()?;
        Ok(queued)
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

    /// Drops the injected failures still armed on `unit` (of every tool); returns how many
    /// calls would still have failed.
    pub fn clear_tool_failures(&mut self, unit: &str) -> Result<u32, SimError> {
        let mut g = self.lock()?;
        let dropped =
            g.st.tool_failures
                .iter()
                .filter(|f| f.unit == unit)
                .map(|f| f.remaining)
                .sum();
        g.st.tool_failures.retain(|f| f.unit != unit);
        g.save()?;
        Ok(dropped)
    }
}

/// Mounts a tmpfs of `mib` MiB (root's, 0755) on `dir`, in the host's namespace: every
/// unit's namespace then binds it like any storage directory, and it lives until the model
/// is destroyed ([`super::unmount_storage`]).
fn mount_tmpfs(dir: &Path, mib: u64) -> Result<(), SimError> {
    super::faults::mount_tmpfs(dir, mib * 1024, 0o755)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_names_follow_jujus_rule() {
        for (n, ok) in [
            ("zookeeper", true),
            ("kafka-2", false),
            ("my-app", true),
            ("app1", true),
            ("1app", false),
            ("App", false),
            ("a--b", false),
            ("a-", false),
            ("", false),
        ] {
            assert_eq!(valid_app_name(n), ok, "{n}");
        }
    }
}
