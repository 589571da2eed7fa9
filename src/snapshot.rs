//! The typed snapshot of the world a hook decides from.
//!
//! Built once per reconcile round by the observer and read by the pure decision. Nothing
//! here does I/O. The peer relations are parsed into their types ([`crate::peers`]); the
//! helpers below answer the questions every rule asks of them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::config::{CharmConfig, ConfigError};
use crate::cos::relation::CosAgent;
use crate::cos::Topology;
use crate::deps::DepsError;
use crate::dispatch::EventFacts;
use crate::ghost::{Ghost, Published};
use crate::local_state::LocalState;
use crate::machine::MachineFacts;
use crate::passwords::Credentials;
use crate::peers::cluster::{Cluster, SyncRotation};
use crate::peers::restart::Restart;
use crate::peers::upgrade::Upgrade;
use crate::tls::{Certificate, PrivateKey, ProviderBag, Requests};
use crate::zk::ensemble::ServerHealth;
use crate::zk::{EnsembleConfig, Role, ServerSpec};

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

    /// Whether unit `id`'s server serves.
    pub fn serves(&self, id: u32) -> bool {
        self.health.get(&id).is_some_and(|h| h.serving)
    }
}

/// Facts about this unit's workload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadFacts {
    pub installed: bool,
    pub running: bool,
    /// This unit's own server, when running.
    pub health: Option<ServerHealth>,
    /// The `dynamicConfigFile` the current `zoo.cfg` points at, if the file exists.
    pub dynamic_config_file: Option<String>,
    /// The metrics exporters the installed workload ships.
    pub exporters: crate::cos::Capabilities,
    /// The machine's memory, the data filesystem and ZooKeeper's data files.
    pub machine: MachineFacts,
}

/// What the upgrade decision needs besides the relation data: whether the deployed
/// revision (its stored dependency model) may be upgraded to this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeFacts {
    /// Whether the stored `dependencies` allow upgrading to this charm's model, and why not.
    pub compatible: Result<(), DepsError>,
    /// The dependency model compiled into this charm, as JSON.
    pub compiled_dependencies: String,
}

impl Default for UpgradeFacts {
    fn default() -> Self {
        UpgradeFacts {
            compatible: Ok(()),
            compiled_dependencies: String::new(),
        }
    }
}

impl UpgradeFacts {
    /// The facts for the stored model (absent on a fresh application).
    pub fn for_stored(stored: Option<&str>) -> UpgradeFacts {
        UpgradeFacts {
            compatible: crate::deps::compatible(stored),
            compiled_dependencies: crate::deps::compiled_dependencies(),
        }
    }
}

/// The `certificates` relation, as this unit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificatesView {
    /// `certificates:5`.
    pub id: String,
    /// The provider application, once one of its units joined.
    pub provider: Option<String>,
    /// What this unit asked for (its own bag).
    pub requests: Requests,
    /// What the provider issued (its application bag).
    pub issued: ProviderBag,
}

/// What this unit sees of TLS besides the peer bags.
#[derive(Debug, Clone, Default)]
pub struct TlsFacts {
    /// The `certificates` relation, when it exists (not in its `-broken` hook).
    pub relation: Option<CertificatesView>,
    /// This unit's private key, read while the relation exists; `Err` says why the stored
    /// one cannot be read (never its content).
    pub key: Option<Result<PrivateKey, String>>,
    /// The certificate installed in ZooKeeper's PEM stores (both files there), its leaf.
    pub installed: Option<Certificate>,
    /// One of the two PEM stores exists.
    pub any_file: bool,
}

impl TlsFacts {
    /// The usable key, if any.
    pub fn key(&self) -> Option<&PrivateKey> {
        self.key.as_ref()?.as_ref().ok()
    }
}

/// The world, as one hook sees it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub unit_id: u32,
    pub unit_name: String,
    pub app_name: String,
    pub leader: bool,
    pub config: Result<CharmConfig, ConfigError>,
    /// This unit's address on the `cluster` binding.
    pub address: Option<IpAddr>,
    pub cluster: Option<Cluster>,
    pub restart: Option<Restart>,
    pub upgrade: Option<Upgrade>,
    /// Unit ids Juju plans for the application (goal-state), when known.
    pub planned: Option<BTreeSet<u32>>,
    pub workload: WorkloadFacts,
    /// The charm's private state on this unit.
    pub local: LocalState,
    pub ensemble: EnsembleView,
    pub event: EventFacts,
    /// Facts of an upgrade beyond the relation data.
    pub upgrade_facts: UpgradeFacts,
    /// The internal passwords, once read (only in rounds that write files or act as
    /// `super`): from the internal secret, or from the bag of an earlier revision; `Err`
    /// says why they cannot be used (no value in it).
    pub credentials: Option<Result<Credentials, String>>,
    /// TLS: the `certificates` relation, this unit's key and installed certificate.
    pub tls: TlsFacts,
    /// The `zookeeper` relations.
    pub clients: crate::client::ClientView,
    /// The model, application and charm, as COS labels them.
    pub topology: Topology,
    /// The `cos-agent` relation, read only when the event may need a write there
    /// ([`EventFacts::refresh_cos_agent`]); `None` otherwise or when there is none.
    pub cos_agent: Option<CosAgent>,
    /// An earlier round of this hook purged the data already: the next purge waits for the
    /// next hook (what ZooKeeper's tool kept, a snapshot being written for instance, would
    /// otherwise be purged again in every round).
    pub purged: bool,
}

impl Snapshot {
    /// Whether Juju's goal state, when read, leaves unit `id` out: it is being removed.
    pub fn leaving(&self, id: u32) -> bool {
        self.planned.as_ref().is_some_and(|p| !p.contains(&id))
    }

    /// The `sync` rotation in progress, if any.
    pub fn sync_rotation(&self) -> Option<SyncRotation> {
        crate::passwords::rotation(&self.cluster.as_ref()?.app)
    }

    /// The internal passwords, when they were read and are usable.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()?.as_ref().ok()
    }

    /// Whether the leader has shared the internal passwords: in the internal secret, or (an
    /// earlier revision) in the bag.
    pub fn passwords_shared(&self) -> bool {
        self.cluster
            .as_ref()
            .is_some_and(|c| c.app.internal_secret.is_some() || !c.app.legacy.is_empty())
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

    /// Unit ids the leader recorded as voting members (`"<id>": "added"`).
    pub fn recorded_voters(&self) -> BTreeSet<u32> {
        self.cluster
            .as_ref()
            .map(|c| c.app.recorded_voters())
            .unwrap_or_default()
    }

    /// Whether unit `id` has launched ZooKeeper (unit bag `state=started`).
    pub fn started(&self, id: u32) -> bool {
        self.cluster
            .as_ref()
            .and_then(|c| c.unit(id))
            .is_some_and(|u| u.started)
    }

    /// Unit `id`'s address as it published it (`ip`, else Juju's `private-address`).
    pub fn unit_address(&self, id: u32) -> Option<IpAddr> {
        if id == self.unit_id {
            if let Some(a) = self.address {
                return Some(a);
            }
        }
        self.cluster.as_ref()?.unit(id)?.address()
    }

    /// The voters of the live config no current member stands behind
    /// ([`crate::ghost::ghost_voters`]); none when the config is not known.
    pub fn ghost_voters(&self) -> Vec<Ghost> {
        let Some(config) = &self.ensemble.config else {
            return Vec::new();
        };
        let members = self
            .members()
            .into_iter()
            .map(|id| {
                let names = self
                    .cluster
                    .as_ref()
                    .and_then(|c| c.unit(id))
                    .map(|u| u.names.clone())
                    .unwrap_or_default();
                let published = Published {
                    ip: self.unit_address(id),
                    names,
                };
                (id, published)
            })
            .collect();
        crate::ghost::ghost_voters(config, &members)
    }

    /// The server spec of unit `id` (as a participant), if its address is known.
    pub fn server_spec(&self, id: u32) -> Option<ServerSpec> {
        Some(ServerSpec {
            id: id.checked_add(1)?,
            host: self.unit_address(id)?.to_string(),
            role: Role::Participant,
        })
    }

    /// The name of unit `id` (`zookeeper/3`).
    pub fn unit_name_of(&self, id: u32) -> String {
        format!("{}/{}", self.app_name, id)
    }

    /// The unit the leader lets start now.
    pub fn starting(&self) -> Option<u32> {
        self.cluster.as_ref()?.app.starting
    }

    /// An upgrade is prepared or running, or its stack cannot be read (an upgrade in an
    /// unknown state).
    pub fn upgrade_in_progress(&self) -> bool {
        self.upgrade
            .as_ref()
            .is_some_and(|u| u.app.stack.is_active())
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
