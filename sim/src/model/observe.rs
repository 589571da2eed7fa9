//! Observation: statuses as `juju status` shows them (applications, units, relations),
//! logs, databags, secrets (as `juju show-secret` shows them), unit directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::records::{HookRecord, UnitStatus};
use super::Model;
use crate::machine::Machine;
use crate::secrets::{self, Secret};
use crate::snap::{self, service, state::ServiceProcess};
use crate::state::{Databag, Life, ModelState, Relation};
use crate::{fourlw, logs, SimError};

/// Asks a unit's ZooKeeper for its role (`srvr` on `<address>:2181`, 1 s timeout).
pub fn zk_role(address: &str) -> Option<String> {
    fourlw::srvr_mode(address, 2181, Duration::from_secs(1))
}

/// An application as `juju status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppStatus {
    pub name: String,
    /// The charm's name.
    pub charm: String,
    /// The revision `juju status` shows (see [`crate::state::CharmRecord::shown_revision`]).
    pub charm_rev: u64,
    /// Application status (derived from the units when the leader never set one).
    pub status: String,
    pub message: String,
    pub since: u64,
    /// `application-version-set`.
    pub version: String,
    /// Units, dying ones included (as Juju counts them).
    pub scale: usize,
    pub leader: Option<String>,
    pub subordinate: bool,
    /// A built-in scripted stub.
    pub stub: bool,
    /// The applications a subordinate is attached to.
    pub subordinate_to: Vec<String>,
}

/// One end of a relation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationEndStatus {
    pub app: String,
    pub endpoint: String,
    /// `peer`, `provider` or `requirer`.
    pub role: String,
}

/// A relation as `juju status --relations` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationStatus {
    pub id: u32,
    /// Juju's relation key (`kafka:zookeeper zookeeper:zookeeper`).
    pub key: String,
    pub interface: String,
    /// `peer`, `regular` or `subordinate`.
    pub kind: String,
    /// `alive` or `dying`.
    pub life: String,
    pub ends: Vec<RelationEndStatus>,
}

impl RelationStatus {
    /// The end with that role (`provider`, `requirer`, `peer`).
    pub fn end(&self, role: &str) -> Option<&RelationEndStatus> {
        self.ends.iter().find(|e| e.role == role)
    }
}

/// A secret as `juju show-secret` shows it, with what the sim knows besides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretView {
    pub id: String,
    /// `secret://<model-uuid>/<id>`.
    pub uri: String,
    /// The owning application or unit.
    pub owner: String,
    /// `application` or `unit`.
    pub owner_kind: String,
    pub label: Option<String>,
    pub description: Option<String>,
    /// The latest revision.
    pub revision: u32,
    /// Every revision still stored.
    pub revisions: Vec<u32>,
    pub rotation: Option<String>,
    pub expiry: Option<String>,
    pub created: u64,
    pub updated: u64,
    /// Grants: (subject tag, relation key).
    pub grants: Vec<(String, String)>,
    /// Consumer units: (their label, the revision they track).
    pub consumers: BTreeMap<String, (Option<String>, u32)>,
    /// The latest revision's content, when revealed.
    pub content: Option<Databag>,
}

impl Model {
    /// Every unit of every application (by application in deploy order, then number), as
    /// `juju status` shows it (no ZooKeeper role).
    pub fn status(&self) -> Result<Vec<UnitStatus>, SimError> {
        let g = self.lock()?;
        let st = &g.st;
        Ok(st
            .units_by_number()
            .into_iter()
            .map(|n| {
                let u = &st.units[&n];
                let error = u
                    .error
                    .as_ref()
                    .map(|e| format!("hook failed: {:?}", e.hook.name));
                UnitStatus {
                    unit: n.clone(),
                    app: u.app.clone(),
                    machine: u.machine,
                    principal: u.principal.clone(),
                    ports: u.ports.iter().cloned().collect(),
                    workload: if error.is_some() {
                        "error".into()
                    } else {
                        u.workload.status.clone()
                    },
                    message: error.clone().unwrap_or_else(|| u.workload.message.clone()),
                    since: u.workload.since,
                    agent: if error.is_some() {
                        "error".into()
                    } else if u.executing.is_some() {
                        "executing".into()
                    } else {
                        "idle".into()
                    },
                    leader: st.is_leader(&n),
                    address: u.address.clone(),
                    life: if u.life == Life::Alive {
                        "alive".into()
                    } else {
                        "dying".into()
                    },
                    error,
                    queued: u.queue.len(),
                    role: None,
                }
            })
            .collect())
    }

    /// [`Model::status`] plus each principal unit's ZooKeeper role (queried in parallel, 1 s
    /// timeout).
    pub fn status_with_roles(&self) -> Result<Vec<UnitStatus>, SimError> {
        let mut units = self.status()?;
        let handles: Vec<_> = units
            .iter()
            .map(|u| {
                let addr = u.address.clone();
                let principal = u.principal.is_none();
                std::thread::spawn(move || principal.then(|| zk_role(&addr)).flatten())
            })
            .collect();
        for (u, h) in units.iter_mut().zip(handles) {
            u.role = h.join().ok().flatten();
        }
        Ok(units)
    }

    /// The default application's status, message and workload version (see
    /// [`Model::applications`] for how the status is derived).
    pub fn app_status(&self) -> Result<(String, String, String), SimError> {
        let app = self.app_name()?;
        let a = self
            .applications()?
            .into_iter()
            .find(|a| a.name == app)
            .ok_or_else(|| SimError::not_found("application", &app))?;
        Ok((a.status, a.message, a.version))
    }

    /// Every application, in deploy order. When the leader never set an application status,
    /// it is derived from the units as Juju does: the most severe unit status (error >
    /// blocked > maintenance > waiting > active > unknown) and its message.
    pub fn applications(&self) -> Result<Vec<AppStatus>, SimError> {
        let units = self.status()?;
        let g = self.lock()?;
        let st = &g.st;
        let rank = |s: &str| match s {
            "error" => 5,
            "blocked" => 4,
            "maintenance" => 3,
            "waiting" => 2,
            "active" => 1,
            _ => 0,
        };
        Ok(st
            .app_order
            .iter()
            .map(|name| {
                let a = &st.applications[name];
                let mine: Vec<&UnitStatus> = units.iter().filter(|u| u.app == *name).collect();
                let (mut status, mut message, mut since) = (
                    a.status.status.clone(),
                    a.status.message.clone(),
                    a.status.since,
                );
                if status == "unknown" {
                    // The first unit (by number) among the most severe.
                    let worst = mine
                        .iter()
                        .fold(None::<&&UnitStatus>, |best, u| match best {
                            Some(b) if rank(&b.workload) >= rank(&u.workload) => Some(b),
                            _ => Some(u),
                        });
                    if let Some(u) = worst {
                        status = u.workload.clone();
                        message = u.message.clone();
                        since = u.since;
                    }
                }
                let subordinate_to = if a.subordinate() {
                    let mut v: Vec<String> = st
                        .relations
                        .values()
                        .filter(|r| r.container && !r.peer() && r.involves(name))
                        .map(|r| r.remote_app(name))
                        .collect();
                    v.sort();
                    v.dedup();
                    v
                } else {
                    Vec::new()
                };
                AppStatus {
                    name: name.clone(),
                    charm: a.charm.meta.name.clone(),
                    charm_rev: a.charm.shown_revision(),
                    status,
                    message,
                    since,
                    version: a.version.clone(),
                    scale: mine.len(),
                    leader: a.leader.clone(),
                    subordinate: a.subordinate(),
                    stub: a.stub,
                    subordinate_to,
                }
            })
            .collect())
    }

    /// Every relation, by id.
    pub fn relations(&self) -> Result<Vec<RelationStatus>, SimError> {
        let g = self.lock()?;
        Ok(g.st.relations.values().map(relation_status).collect())
    }

    /// Every hook and action run so far, in the order they started (their sequence
    /// numbers; runs of different units that overlap end, and are logged, in another order).
    pub fn hook_log(&self) -> Result<Vec<HookRecord>, SimError> {
        let mut log = logs::read_hook_log(self.dir())?;
        log.sort_by_key(|r| r.seq);
        Ok(log)
    }

    pub fn debug_log(
        &self,
        unit: Option<&str>,
        lines: Option<usize>,
    ) -> Result<Vec<String>, SimError> {
        logs::read_debug_log(self.dir(), unit, lines)
    }

    /// The relation an endpoint spec names: `endpoint` or `app:endpoint`; without an
    /// application, the default application's (or else the only relation on that endpoint).
    fn relation_by_endpoint<'a>(
        st: &'a ModelState,
        spec: &str,
    ) -> Result<(&'a Relation, String), SimError> {
        let (app, endpoint) = match spec.split_once(':') {
            Some((a, e)) => (Some(a.to_string()), e),
            None => (None, spec),
        };
        let on = |r: &&Relation, app: &str| r.end_of(app).is_some_and(|e| e.endpoint == endpoint);
        let wanted = app.or_else(|| {
            let default = st.default_app()?;
            st.relations
                .values()
                .any(|r| on(&r, default))
                .then(|| default.to_string())
        });
        let found: Vec<(&Relation, String)> = st
            .relations
            .values()
            .filter_map(|r| {
                let end = r.ends.iter().find(|e| {
                    e.endpoint == endpoint && wanted.as_ref().is_none_or(|w| *w == e.app)
                })?;
                Some((r, end.app.clone()))
            })
            .collect();
        match found.len() {
            1 => Ok(found.into_iter().next().expect("one")),
            0 => Err(SimError::not_found("relation on endpoint", spec)),
            _ => Err(SimError::Refused(format!(
                "several relations on {spec}: use the relation id (relation_unit_bags, relation_app_bag)"
            ))),
        }
    }

    /// Committed unit bags of the relation on `endpoint` (or `app:endpoint`), by unit
    /// (units that left keep their last bag, as Juju keeps it readable).
    pub fn unit_databags(&self, endpoint: &str) -> Result<BTreeMap<String, Databag>, SimError> {
        let g = self.lock()?;
        let (r, _) = Self::relation_by_endpoint(&g.st, endpoint)?;
        Ok(r.units
            .iter()
            .map(|(k, v)| (k.clone(), v.bag.clone()))
            .collect())
    }

    /// The committed application bag on `endpoint` (or `app:endpoint`): that application's
    /// bag in that relation.
    pub fn app_databag(&self, endpoint: &str) -> Result<Databag, SimError> {
        let g = self.lock()?;
        let (r, app) = Self::relation_by_endpoint(&g.st, endpoint)?;
        Ok(r.app_bag(&app))
    }

    /// The committed bag of application `app` in relation `id`.
    pub fn relation_app_bag(&self, id: u32, app: &str) -> Result<Databag, SimError> {
        let g = self.lock()?;
        let r =
            g.st.relations
                .get(&id)
                .ok_or_else(|| SimError::not_found("relation", id))?;
        if !r.involves(app) {
            return Err(SimError::Refused(format!(
                "application {app:?} is not in relation {}",
                r.key()
            )));
        }
        Ok(r.app_bag(app))
    }

    /// The committed unit bags of relation `id`, by unit.
    pub fn relation_unit_bags(&self, id: u32) -> Result<BTreeMap<String, Databag>, SimError> {
        let g = self.lock()?;
        let r =
            g.st.relations
                .get(&id)
                .ok_or_else(|| SimError::not_found("relation", id))?;
        Ok(r.units
            .iter()
            .map(|(k, v)| (k.clone(), v.bag.clone()))
            .collect())
    }

    /// The default application's leader settings (`leader-set`).
    pub fn leader_settings(&self) -> Result<Databag, SimError> {
        let app = self.app_name()?;
        Ok(self.lock()?.st.applications[&app].leader_settings.clone())
    }

    /// Every secret, by id, without content.
    pub fn secrets(&self) -> Result<Vec<SecretView>, SimError> {
        let g = self.lock()?;
        Ok(g.st
            .secrets
            .values()
            .map(|s| secret_view(&g.st, s, false))
            .collect())
    }

    /// `juju show-secret <uri|id|label> [--reveal]`: a secret by URI, id or owner label;
    /// with `reveal`, the latest revision's content.
    pub fn show_secret(&self, reference: &str, reveal: bool) -> Result<SecretView, SimError> {
        let g = self.lock()?;
        let s =
            g.st.find_secret(reference)
                .ok_or_else(|| SimError::not_found("secret", reference))?;
        Ok(secret_view(&g.st, s, reveal))
    }

    /// A unit's agent directory (`<model>/units/<app>-<n>`).
    pub fn unit_dir(&self, unit: &str) -> Result<PathBuf, SimError> {
        let g = self.lock()?;
        match g.st.units.get(unit) {
            Some(u) => Ok(u.dir.clone()),
            None => {
                let (app, n) = unit.split_once('/').unwrap_or((unit, ""));
                let d = self.dir().join("units").join(format!("{app}-{n}"));
                if d.is_dir() {
                    Ok(d)
                } else {
                    Err(SimError::not_found("unit", unit))
                }
            }
        }
    }

    /// A unit's machine (its own `/snap`, `/var/snap`, ...; a subordinate's is its
    /// principal's; see [`crate::machine`]), also after the unit was removed.
    pub fn machine(&self, unit: &str) -> Result<Machine, SimError> {
        {
            let g = self.lock()?;
            if g.st.units.contains_key(unit) {
                return Ok(g.st.machine_of(unit));
            }
        }
        Ok(Machine::of_unit(&self.unit_dir(unit)?))
    }

    /// Where `inside` (a path as `unit` sees it) is in the model: in storage attached on
    /// its machine, else in its machine's own paths (see [`Machine::host_path`]); `None` for a path
    /// that is the host's.
    pub fn host_path(&self, unit: &str, inside: &Path) -> Result<Option<PathBuf>, SimError> {
        let g = self.lock()?;
        if !g.st.units.contains_key(unit) {
            return Err(SimError::not_found("unit", unit));
        }
        let in_storage = g.st.machine_storage(unit).into_iter().find_map(|s| {
            let rest = inside.strip_prefix(&s.location).ok()?;
            Some(s.dir.join(rest))
        });
        Ok(in_storage.or_else(|| g.st.machine_of(unit).host_path(inside)))
    }

    /// The ZooKeeper server the snap on `unit`'s machine runs, if one runs.
    pub fn server(&self, unit: &str) -> Result<Option<ServiceProcess>, SimError> {
        Ok(service::server(&self.machine(unit)?))
    }

    /// Makes the next `snap refresh charmed-zookeeper` on `unit`'s machine fail once, as a
    /// download that fails does.
    pub fn fail_next_snap_refresh(&self, unit: &str) -> Result<(), SimError> {
        let path =
            snap::state::snapd_dir(&self.machine(unit)?).join(snap::state::FAIL_NEXT_REFRESH);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(SimError::io("create", dir))?;
        }
        std::fs::write(&path, "").map_err(SimError::io("write", &path))
    }
}

pub(crate) fn relation_status(r: &Relation) -> RelationStatus {
    RelationStatus {
        id: r.id,
        key: r.key(),
        interface: r
            .ends
            .first()
            .map(|e| e.interface.clone())
            .unwrap_or_default(),
        kind: if r.peer() {
            "peer"
        } else if r.container {
            "subordinate"
        } else {
            "regular"
        }
        .to_string(),
        life: if r.alive() { "alive" } else { "dying" }.to_string(),
        ends: r
            .ends
            .iter()
            .map(|e| RelationEndStatus {
                app: e.app.clone(),
                endpoint: e.endpoint.clone(),
                role: e.role.juju_name().to_string(),
            })
            .collect(),
    }
}

fn secret_view(st: &ModelState, s: &Secret, reveal: bool) -> SecretView {
    SecretView {
        id: s.id.clone(),
        uri: secrets::uri(&st.model_uuid, &s.id),
        owner: s.owner.name().to_string(),
        owner_kind: s.owner.kind().to_string(),
        label: s.label.clone(),
        description: s.description.clone(),
        revision: s.latest,
        revisions: s.revisions.keys().copied().collect(),
        rotation: s.rotate.clone(),
        expiry: s.expire.clone(),
        created: s.created,
        updated: s.updated,
        grants: s
            .grants
            .iter()
            .map(|g| {
                let key = st
                    .relations
                    .get(&g.relation)
                    .map(|r| r.key())
                    .unwrap_or_else(|| g.relation.to_string());
                (g.subject.tag(), key)
            })
            .collect(),
        consumers: s
            .consumers
            .iter()
            .map(|(u, c)| (u.clone(), (c.label.clone(), c.revision)))
            .collect(),
        content: reveal.then(|| s.latest_content()),
    }
}
