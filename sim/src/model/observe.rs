//! Observation: statuses as `juju status` shows them, logs, databags, unit directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::records::{HookRecord, UnitStatus};
use super::Model;
use crate::machine::Machine;
use crate::snap::{self, service, state::ServiceProcess};
use crate::state::{Databag, Life, ModelState, Relation};
use crate::{fourlw, logs, SimError};

/// Asks a unit's ZooKeeper for its role (`srvr` on `<address>:2181`, 1 s timeout).
pub fn zk_role(address: &str) -> Option<String> {
    fourlw::srvr_mode(address, 2181, Duration::from_secs(1))
}

impl Model {
    /// Every unit, by unit number, as `juju status` shows it (no ZooKeeper role).
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
                    workload: if error.is_some() {
                        "error".into()
                    } else {
                        u.workload.status.clone()
                    },
                    message: error.clone().unwrap_or_else(|| u.workload.message.clone()),
                    agent: if error.is_some() {
                        "error".into()
                    } else if u.executing.is_some() {
                        "executing".into()
                    } else {
                        "idle".into()
                    },
                    leader: st.leader.as_deref() == Some(n.as_str()),
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

    /// [`Model::status`] plus each unit's ZooKeeper role (queried in parallel, 1 s timeout).
    pub fn status_with_roles(&self) -> Result<Vec<UnitStatus>, SimError> {
        let mut units = self.status()?;
        let handles: Vec<_> = units
            .iter()
            .map(|u| {
                let addr = u.address.clone();
                std::thread::spawn(move || zk_role(&addr))
            })
            .collect();
        for (u, h) in units.iter_mut().zip(handles) {
            u.role = h.join().ok().flatten();
        }
        Ok(units)
    }

    /// Application status, message and workload version. When the leader never set an
    /// application status, it is derived from the units as Juju does: the most severe unit
    /// status (error > blocked > maintenance > waiting > active > unknown) and its message.
    pub fn app_status(&self) -> Result<(String, String, String), SimError> {
        let version = self.lock()?.st.app_version;
        let (status, message) = {
            let g = self.lock()?;
            (
                g.st.app_status.status.clone(),
                g.st.app_status.message.clone(),
            )
        };
        if status != "unknown" {
            return Ok((status, message, version));
        }
        let rank = |s: &str| match s {
            "error" => 5,
            "blocked" => 4,
            "maintenance" => 3,
            "waiting" => 2,
            "active" => 1,
            _ => 0,
        };
        // The first unit (by number) among the most severe.
        let worst = self
            .status()?
            .into_iter()
            .fold(None::<UnitStatus>, |best, u| match best {
                Some(b) if rank(&b.workload) >= rank(&u.workload) => Some(b),
                _ => Some(u),
            });
        Ok(match worst {
            Some(u) => (u.workload, u.message, version),
            None => (status, message, version),
        })
    }

    pub fn hook_log(&self) -> Result<Vec<HookRecord>, SimError> {
        logs::read_hook_log(self.dir())
    }

    pub fn debug_log(
        &self,
        unit: Option<&str>,
        lines: Option<usize>,
    ) -> Result<Vec<String>, SimError> {
        logs::read_debug_log(self.dir(), unit, lines)
    }

    fn relation_by_endpoint<'a>(
        st: &'a ModelState,
        endpoint: &str,
    ) -> Result<&'a Relation, SimError> {
        st.relations
            .values()
            .find(|r| r.endpoint == endpoint)
            .ok_or_else(|| SimError::not_found("relation on endpoint", endpoint))
    }

    /// Committed unit bags of the relation on `endpoint`, by unit (units that left keep
    /// their last bag, as Juju keeps it readable).
    pub fn unit_databags(&self, endpoint: &str) -> Result<BTreeMap<String, Databag>, SimError> {
        let g = self.lock()?;
        let r = Self::relation_by_endpoint(&g.st, endpoint)?;
        Ok(r.units
            .iter()
            .map(|(k, v)| (k.clone(), v.bag.clone()))
            .collect())
    }

    /// The committed application bag of the relation on `endpoint`.
    pub fn app_databag(&self, endpoint: &str) -> Result<Databag, SimError> {
        let g = self.lock()?;
        Ok(Self::relation_by_endpoint(&g.st, endpoint)?.app_bag.clone())
    }

    /// Leader settings (`leader-set`).
    pub fn leader_settings(&self) -> Result<Databag, SimError> {
        Ok(self.lock()?.st.leader_settings)
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

    /// A unit's machine (its own `/snap`, `/var/snap`, ...; see [`crate::machine`]), also
    /// after the unit was removed.
    pub fn machine(&self, unit: &str) -> Result<Machine, SimError> {
        Ok(Machine::of_unit(&self.unit_dir(unit)?))
    }

    /// Where `inside` (a path as `unit` sees it) is in the model: in its attached storage,
    /// else in its machine's own paths (see [`Machine::host_path`]); `None` for a path
    /// that is the host's.
    pub fn host_path(&self, unit: &str, inside: &Path) -> Result<Option<PathBuf>, SimError> {
        let g = self.lock()?;
        let u =
            g.st.units
                .get(unit)
                .ok_or_else(|| SimError::not_found("unit", unit))?;
        let in_storage = u
            .storage
            .iter()
            .filter_map(|id| g.st.storage.get(id))
            .filter(|s| s.attached_to.as_deref() == Some(unit))
            .find_map(|s| {
                let rest = inside.strip_prefix(&s.location).ok()?;
                Some(s.dir.join(rest))
            });
        Ok(in_storage.or_else(|| u.machine().host_path(inside)))
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
