//! The typed snapshot of the world a hook decides from.
//!
//! Built once per reconcile round by [`crate::observe`]; read by the pure
//! [`crate::decide::decide`]. Nothing here does I/O.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{CharmConfig, ConfigError};
use crate::hooktools::Databag;
use crate::render::Passwords;
use crate::zk::{EnsembleConfig, Role, ServerSpec};

/// Key in the cluster app bag of the unit the leader lets start next.
pub const STARTING_KEY: &str = "starting";
/// Cluster app-bag keys of the internal users' passwords.
pub const SUPER_PASSWORD_KEY: &str = "super-password";
pub const SYNC_PASSWORD_KEY: &str = "sync-password";
/// Cluster app-bag key of the `sync` password being rotated in.
pub const SYNC_PASSWORD_NEW_KEY: &str = "sync-password-new";
/// Cluster app-bag key of the phase of a `sync` password rotation.
pub const SYNC_ROTATION_KEY: &str = "sync-rotation";
/// Cluster unit-bag key: the rotation phase this unit's running server was started with.
pub const SYNC_PHASE_KEY: &str = "sync-phase";
/// Cluster app-bag key of the quorum user name the servers log in with ([`SYNC_USERS`];
/// absent means the first). Each `sync` rotation moves to the other name.
pub const SYNC_USER_KEY: &str = "sync-user";
/// The two quorum user names a `sync` rotation alternates between.
pub const SYNC_USERS: [&str; 2] = ["sync", "sync2"];

/// A `sync` password rotation takes three rolling restarts, because servers authenticate
/// each other on every quorum connection, and a learner whose login fails never connects
/// (even to a server that does not require authentication; one that does not authenticate
/// at all is refused by every server that does). So authentication stays required, and the
/// new password comes in under the other quorum user name: first every server also accepts
/// the other user with the new password (`Relax`), then every server logs in as that user
/// (`Switch`), then every server accepts only that user (`Enforce`). At any moment two
/// servers in adjacent phases can connect both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRotation {
    Relax,
    Switch,
    Enforce,
}

impl SyncRotation {
    pub fn parse(s: &str) -> Option<SyncRotation> {
        match s {
            "relax" => Some(SyncRotation::Relax),
            "switch" => Some(SyncRotation::Switch),
            "enforce" => Some(SyncRotation::Enforce),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SyncRotation::Relax => "relax",
            SyncRotation::Switch => "switch",
            SyncRotation::Enforce => "enforce",
        }
    }
    /// The phase after this one; `None` when the rotation is complete.
    pub fn next(self) -> Option<SyncRotation> {
        match self {
            SyncRotation::Relax => Some(SyncRotation::Switch),
            SyncRotation::Switch => Some(SyncRotation::Enforce),
            SyncRotation::Enforce => None,
        }
    }
}

/// One peer relation as this unit sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerRelation {
    /// `cluster:0`.
    pub id: String,
    /// The application bag.
    pub app: Databag,
    /// Unit bags by unit id, this unit's own included.
    pub units: BTreeMap<u32, Databag>,
}

impl PeerRelation {
    pub fn unit(&self, id: u32) -> Option<&Databag> {
        self.units.get(&id)
    }
    pub fn unit_value(&self, id: u32, key: &str) -> Option<&str> {
        self.units
            .get(&id)
            .and_then(|b| b.get(key))
            .map(String::as_str)
    }
    pub fn app_value(&self, key: &str) -> Option<&str> {
        self.app
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// What one ZooKeeper server says about itself (`mntr`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHealth {
    /// Whether it answered and serves requests (it is part of a working quorum).
    pub serving: bool,
    /// `zk_server_state`: `leader`, `follower`, `observer`, `standalone`.
    pub state: Option<String>,
    /// `zk_peer_state`, e.g. `following - broadcast`.
    pub peer_state: Option<String>,
    /// `zk_pending_syncs` (leader only).
    pub pending_syncs: Option<u64>,
    /// What went wrong when it did not answer (for status messages).
    pub error: Option<String>,
}

impl ServerHealth {
    /// Serving and in the broadcast phase (synced with the leader, or leading).
    pub fn synced(&self) -> bool {
        self.serving
            && self
                .peer_state
                .as_deref()
                .is_some_and(|p| p.contains("broadcast"))
    }
    pub fn is_leader(&self) -> bool {
        self.serving && self.state.as_deref() == Some("leader")
    }
}

/// The live ensemble, as far as this hook could see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnsembleView {
    /// The membership the quorum agreed on (read from a serving member), if any answered.
    pub config: Option<EnsembleConfig>,
    /// Health of each started unit's server, by unit id.
    pub health: BTreeMap<u32, ServerHealth>,
}

impl EnsembleView {
    /// Unit ids whose servers are voting members (server id - 1).
    pub fn voter_units(&self) -> BTreeSet<u32> {
        self.config
            .as_ref()
            // Server ids are unit ids + 1; a server 0 is not one of our units (found by fuzzing).
            .map(|c| {
                c.voters()
                    .into_iter()
                    .filter_map(|s| s.checked_sub(1))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// The unit hosting the ZooKeeper quorum leader.
    pub fn leader_unit(&self) -> Option<u32> {
        self.health
            .iter()
            .find(|(_, h)| h.is_leader())
            .map(|(id, _)| *id)
    }
}

/// Facts about this unit's workload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadFacts {
    pub installed: bool,
    pub running: bool,
    /// This unit's own server, when running.
    pub health: Option<ServerHealth>,
    /// Fingerprint of the rendered files the running server was (re)started with.
    pub started_with: Option<String>,
    /// The `dynamicConfigFile` the current `zoo.cfg` points at, if the file exists.
    pub dynamic_config_file: Option<String>,
    /// Installed ZooKeeper version.
    pub version: Option<String>,
}

/// Event-specific facts; the hook name otherwise only triggers the reconcile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFacts {
    /// The unit leaving (`JUJU_DEPARTING_UNIT` in a `-relation-departed`), by id.
    pub departing: Option<u32>,
    /// This unit is going away (`stop`/`remove`, or it is the departing unit).
    pub dying: bool,
    /// This hook is `stop` or `remove`: the server must stop.
    pub stopping: bool,
    /// This hook is `upgrade-charm` (the charm was refreshed).
    pub upgrade_charm: bool,
    /// Wall-clock time as text sortable in time order (for lock request order).
    pub now: String,
}

/// The world, as one hook sees it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub unit_id: u32,
    pub unit_name: String,
    pub app_name: String,
    pub leader: bool,
    /// Where the workload keeps its files (static per backend).
    pub paths: crate::workload::Paths,
    pub config: Result<CharmConfig, ConfigError>,
    /// This unit's address on the `cluster` binding.
    pub address: Option<String>,
    pub cluster: Option<PeerRelation>,
    pub restart: Option<PeerRelation>,
    pub upgrade: Option<PeerRelation>,
    /// Unit ids Juju plans for the application (goal-state), when known.
    pub planned: Option<BTreeSet<u32>>,
    pub workload: WorkloadFacts,
    pub ensemble: EnsembleView,
    pub event: EventFacts,
    /// Local facts of an upgrade in progress.
    pub upgrade_facts: crate::upgrade_flow::UpgradeFacts,
}

impl Snapshot {
    /// The `sync` rotation in progress, if any (it needs the new password too).
    pub fn sync_rotation(&self) -> Option<SyncRotation> {
        let c = self.cluster.as_ref()?;
        c.app_value(SYNC_PASSWORD_NEW_KEY)?;
        SyncRotation::parse(c.app_value(SYNC_ROTATION_KEY)?)
    }

    /// The quorum user name the servers log in with when no rotation is in progress.
    pub fn sync_user(&self) -> &'static str {
        let stored = self
            .cluster
            .as_ref()
            .and_then(|c| c.app_value(SYNC_USER_KEY));
        if stored == Some(SYNC_USERS[1]) {
            SYNC_USERS[1]
        } else {
            SYNC_USERS[0]
        }
    }

    /// The quorum user name a rotation brings in: the other one.
    pub fn next_sync_user(&self) -> &'static str {
        if self.sync_user() == SYNC_USERS[0] {
            SYNC_USERS[1]
        } else {
            SYNC_USERS[0]
        }
    }

    /// The internal passwords as the servers should run with them now, once the leader has
    /// shared both.
    pub fn passwords(&self) -> Option<Passwords> {
        let c = self.cluster.as_ref()?;
        let current = (
            self.sync_user().to_string(),
            c.app_value(SYNC_PASSWORD_KEY)?.to_string(),
        );
        let (login, accepted) = match self.sync_rotation() {
            None => (current.clone(), vec![current]),
            Some(phase) => {
                let next = (
                    self.next_sync_user().to_string(),
                    c.app_value(SYNC_PASSWORD_NEW_KEY)?.to_string(),
                );
                match phase {
                    SyncRotation::Relax => (current.clone(), vec![current, next]),
                    SyncRotation::Switch => (next.clone(), vec![current, next]),
                    SyncRotation::Enforce => (next.clone(), vec![next]),
                }
            }
        };
        Some(Passwords {
            super_password: c.app_value(SUPER_PASSWORD_KEY)?.to_string(),
            sync_login: login,
            sync_accepted: accepted,
        })
    }

    /// Peer unit ids (this unit included) that are not leaving.
    pub fn members(&self) -> BTreeSet<u32> {
        let mut ids: BTreeSet<u32> = self
            .cluster
            .as_ref()
            .map(|c| c.units.keys().copied().collect())
            .unwrap_or_default();
        ids.insert(self.unit_id);
        if let Some(d) = self.event.departing {
            ids.remove(&d);
        }
        if self.event.dying {
            ids.remove(&self.unit_id);
        }
        ids
    }

    /// Unit ids recorded as voting members (`"<id>": "added"`).
    pub fn added(&self) -> BTreeSet<u32> {
        self.membership_with("added")
    }

    fn membership_with(&self, value: &str) -> BTreeSet<u32> {
        self.cluster
            .as_ref()
            .map(|c| {
                c.app
                    .iter()
                    .filter(|(k, v)| {
                        v.as_str() == value
                            && !k.is_empty()
                            && k.bytes().all(|b| b.is_ascii_digit())
                    })
                    .filter_map(|(k, _)| k.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether unit `id` has launched ZooKeeper (unit bag `state=started`).
    pub fn started(&self, id: u32) -> bool {
        self.cluster
            .as_ref()
            .and_then(|c| c.unit_value(id, "state"))
            == Some("started")
    }

    /// Unit `id`'s address as it published it (`ip`, else Juju's `private-address`).
    pub fn unit_address(&self, id: u32) -> Option<String> {
        if id == self.unit_id {
            if let Some(a) = &self.address {
                return Some(a.clone());
            }
        }
        let c = self.cluster.as_ref()?;
        c.unit_value(id, "ip")
            .or_else(|| c.unit_value(id, "private-address"))
            .filter(|a| !a.is_empty())
            .map(str::to_string)
    }

    /// The server spec of unit `id` (as a participant), if its address is known.
    pub fn server_spec(&self, id: u32) -> Option<ServerSpec> {
        Some(ServerSpec {
            id: id + 1,
            host: self.unit_address(id)?,
            role: Role::Participant,
        })
    }

    /// The name of unit `id` (`zookeeper/3`).
    pub fn unit_name_of(&self, id: u32) -> String {
        format!("{}/{}", self.app_name, id)
    }

    /// The unit the leader lets start now.
    pub fn starting(&self) -> Option<u32> {
        self.cluster.as_ref()?.app_value(STARTING_KEY)?.parse().ok()
    }

    /// An upgrade is prepared or running (a non-empty `upgrade-stack`).
    pub fn upgrade_in_progress(&self) -> bool {
        self.upgrade
            .as_ref()
            .and_then(|u| u.app_value("upgrade-stack"))
            .is_some_and(|s| {
                serde_json::from_str::<Vec<u32>>(s)
                    .map(|v| !v.is_empty())
                    .unwrap_or(false)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_with_server_id_zero_does_not_underflow_the_voter_units() {
        let config = crate::zk::four::parse_config(
            "server.0=127.0.0.10:2888:3888:participant;2181\nserver.2=127.0.0.12:2888:3888:participant;2181\n",
        )
        .unwrap();
        let view = EnsembleView {
            config: Some(config),
            health: BTreeMap::new(),
        };
        assert_eq!(view.voter_units(), BTreeSet::from([1]));
    }
}
