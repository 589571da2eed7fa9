//! Builds the [`Snapshot`] a hook decides from: Juju's view through the hook tools (cached
//! for the hook), the workload's facts, and — only where a decision needs it — the live
//! ensemble through 4-letter words.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use crate::config::CharmConfig;
use crate::dispatch::{Action, Event, RelationHook};
use crate::env::{unit_number, HookEnv};
use crate::hooktools::{Bag, HookTools, ToolError};
use crate::snapshot::{
    EnsembleView, EventFacts, PeerRelation, ServerHealth, Snapshot, WorkloadFacts,
};
use crate::workload::{Workload, WorkloadError};
use crate::zk;

/// File in the charm's private state: the fingerprint the running server was started with.
pub const STARTED_WITH_FILE: &str = "started-with";

/// Timeout of one 4-letter-word exchange.
pub const FOUR_LETTER_TIMEOUT: Duration = Duration::from_millis(1500);

/// Errors while observing: the hook tools or the workload failed.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error("JUJU_UNIT_NAME {0:?} is not a unit name")]
    UnitName(String),
}

/// The event-specific facts of this hook.
pub fn event_facts(env: &HookEnv, event: &Event) -> EventFacts {
    let departing = match event {
        Event::Relation {
            kind: RelationHook::Departed,
            ..
        } => env.departing_unit.as_deref().and_then(unit_number),
        _ => None,
    };
    let stopping = matches!(event, Event::Stop | Event::Remove);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    EventFacts {
        departing,
        dying: stopping || (departing.is_some() && departing == env.unit_id()),
        stopping,
        upgrade_charm: matches!(event, Event::UpgradeCharm),
        // Fixed width so that text order is time order.
        now: format!("{now:020}"),
    }
}

/// Reads one peer relation. Other units' bags are read only when `all_units` is set (the
/// leader needs them; a non-leader mostly needs its own bag and the app bag).
fn read_peer(
    tools: &dyn HookTools,
    ids: &PeerIds,
    endpoint: &str,
    env: &HookEnv,
    unit_id: u32,
    all_units: bool,
) -> Result<Option<PeerRelation>, ToolError> {
    let Some(id) = ids.get(tools, endpoint)? else {
        return Ok(None);
    };
    let mut units = BTreeMap::new();
    units.insert(
        unit_id,
        tools.relation_get(&id, &Bag::Unit(env.unit_name.clone()))?,
    );
    if all_units {
        for name in tools.relation_list(&id)? {
            if let Some(n) = unit_number(&name) {
                units.insert(n, tools.relation_get(&id, &Bag::Unit(name))?);
            }
        }
    }
    let app = tools.relation_get(&id, &Bag::App(env.app_name().to_string()))?;
    Ok(Some(PeerRelation { id, app, units }))
}

/// Adds the other units' bags to a relation read with only this unit's bag.
fn add_other_units(tools: &dyn HookTools, rel: &mut PeerRelation) -> Result<(), ToolError> {
    for name in tools.relation_list(&rel.id)? {
        if let Some(n) = unit_number(&name) {
            if let std::collections::btree_map::Entry::Vacant(e) = rel.units.entry(n) {
                e.insert(tools.relation_get(&rel.id, &Bag::Unit(name))?);
            }
        }
    }
    Ok(())
}

/// File in the charm's private state: the peer relations' ids (`cluster:0`, ...).
pub const PEER_IDS_FILE: &str = "peer-relation-ids";

/// Peer relation ids, remembered across hooks: a peer relation lives as long as the
/// application, so its id never changes once Juju created it, and steady hooks need not
/// ask `relation-ids` again.
#[derive(Debug)]
pub struct PeerIds {
    known: std::cell::RefCell<BTreeMap<String, String>>,
    dirty: std::cell::Cell<bool>,
}

impl PeerIds {
    /// Loads the remembered ids.
    pub fn load(workload: &dyn Workload) -> PeerIds {
        let path = workload.paths().charm_state_dir.join(PEER_IDS_FILE);
        let known = workload
            .read_file(&path)
            .ok()
            .flatten()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        PeerIds {
            known: std::cell::RefCell::new(known),
            dirty: std::cell::Cell::new(false),
        }
    }

    /// The relation id of `endpoint`, from memory or `relation-ids`.
    pub fn get(&self, tools: &dyn HookTools, endpoint: &str) -> Result<Option<String>, ToolError> {
        if let Some(id) = self.known.borrow().get(endpoint) {
            return Ok(Some(id.clone()));
        }
        let id = tools.relation_ids(endpoint)?.into_iter().next();
        if let Some(id) = &id {
            self.known
                .borrow_mut()
                .insert(endpoint.to_string(), id.clone());
            self.dirty.set(true);
        }
        Ok(id)
    }

    /// Remembers newly learnt ids (best effort: without them the next hook asks again).
    pub fn save(&self, workload: &dyn Workload) {
        if self.dirty.get() {
            let path = workload.paths().charm_state_dir.join(PEER_IDS_FILE);
            if let Ok(text) = serde_json::to_string(&*self.known.borrow()) {
                let _ = workload.write_file(&path, text.as_bytes(), 0o600);
            }
        }
    }

    /// Forgets every remembered id (after Juju said a relation is not found).
    pub fn forget(workload: &dyn Workload) {
        let path = workload.paths().charm_state_dir.join(PEER_IDS_FILE);
        let _ = workload.write_file(&path, b"{}", 0o600);
    }
}

/// The three peer relations: cluster, restart, upgrade.
type Peers = (
    Option<PeerRelation>,
    Option<PeerRelation>,
    Option<PeerRelation>,
);

/// Reads the peer relations. A started non-leader needs the other units' cluster bags only
/// to join, to leave, or during an upgrade; in steady state its own bag and the app bag are
/// enough. Other units' upgrade states matter only while an upgrade is prepared or running
/// (to every unit) and to the leader's `pre-upgrade-check`; the leader always reads every
/// unit's cluster and restart bags (membership and the restart lock).
fn read_peers(
    tools: &dyn HookTools,
    ids: &PeerIds,
    env: &HookEnv,
    unit_id: u32,
    leader: bool,
    checking_upgrade: bool,
    facts: &EventFacts,
) -> Result<Peers, ToolError> {
    let restart = read_peer(tools, ids, "restart", env, unit_id, leader)?;
    let mut upgrade = read_peer(tools, ids, "upgrade", env, unit_id, false)?;
    let upgrading = upgrade
        .as_ref()
        .is_some_and(|u| u.app_value("upgrade-stack").is_some_and(|s| s != "[]"));
    if let Some(up) = &mut upgrade {
        if upgrading || (leader && checking_upgrade) {
            add_other_units(tools, up)?;
        }
    }
    let mut cluster = read_peer(
        tools,
        ids,
        "cluster",
        env,
        unit_id,
        leader || facts.dying || upgrading,
    )?;
    if let Some(c) = &mut cluster {
        let own_started = c.unit_value(unit_id, "state") == Some("started");
        if !leader && !own_started && !facts.dying && !upgrading {
            add_other_units(tools, c)?;
        }
    }
    Ok((cluster, restart, upgrade))
}

/// This unit's address on the `cluster` binding (network-get), `unit-get` as a fallback.
fn address(tools: &dyn HookTools) -> Option<String> {
    if let Ok(info) = tools.network_get("cluster") {
        if let Some(a) = info
            .ingress_addresses
            .first()
            .or(info.bind_addresses.first())
        {
            return Some(a.clone());
        }
    }
    tools
        .unit_get("private-address")
        .ok()
        .filter(|a| !a.is_empty())
}

/// One server's health from `mntr` (and the error text when it does not serve).
pub fn server_health(host: &str) -> ServerHealth {
    match zk::four::mntr_within(host, FOUR_LETTER_TIMEOUT) {
        Ok(m) => ServerHealth {
            serving: true,
            state: Some(m.server_state.clone()),
            peer_state: m.peer_state.clone(),
            pending_syncs: m.pending_syncs,
            error: None,
        },
        Err(e) => ServerHealth {
            serving: false,
            error: Some(crate::report::chain(&e)),
            ..ServerHealth::default()
        },
    }
}

/// Reads everything [`crate::decide::decide`] needs.
///
/// # Errors
/// When a hook tool or the workload fails outright.
pub fn observe(
    env: &HookEnv,
    event: &Event,
    facts: &EventFacts,
    tools: &dyn HookTools,
    workload: &dyn Workload,
) -> Result<Snapshot, ObserveError> {
    let unit_id = env
        .unit_id()
        .ok_or_else(|| ObserveError::UnitName(env.unit_name.clone()))?;
    let leader = tools.is_leader()?;
    let config = CharmConfig::from_juju(&tools.config_get()?);

    let ids = PeerIds::load(workload);
    // Of the actions, only pre-upgrade-check looks at the other units' upgrade states.
    let checking_upgrade = matches!(event, Event::Action(Action::PreUpgradeCheck));
    let peers = read_peers(tools, &ids, env, unit_id, leader, checking_upgrade, facts);
    if let Err(e) = &peers {
        if e.is_relation_not_found() {
            PeerIds::forget(workload);
        }
    }
    let (cluster, restart, upgrade) = peers?;
    ids.save(workload);

    // The published address is reused except where Juju may have changed it.
    let published = cluster
        .as_ref()
        .and_then(|c| c.unit_value(unit_id, "ip"))
        .filter(|a| !a.is_empty());
    let refresh_address = matches!(
        event,
        Event::Install
            | Event::Start
            | Event::ConfigChanged
            | Event::UpgradeCharm
            | Event::LeaderElected
    );
    let address = match published {
        Some(a) if !refresh_address => Some(a.to_string()),
        _ => address(tools),
    };

    let paths = workload.paths().clone();
    let installed = workload.version()?.is_some();
    let running = installed && workload.is_running()?;
    let started_with = workload
        .read_file(&paths.charm_state_dir.join(STARTED_WITH_FILE))?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let dynamic_config_file = workload
        .read_file(&paths.zoo_cfg())?
        .as_deref()
        .and_then(crate::render::dynamic_config_file);
    let health = match (&address, running) {
        (Some(a), true) => Some(server_health(a)),
        _ => None,
    };
    let workload_facts = WorkloadFacts {
        installed,
        running,
        health,
        started_with,
        dynamic_config_file,
        version: None,
    };

    let read_state = |name: &str| -> Result<Option<String>, WorkloadError> {
        Ok(workload
            .read_file(&paths.charm_state_dir.join(name))?
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty()))
    };
    let compiled_dependencies = crate::upgrade_flow::compiled_dependencies();
    let stored = upgrade
        .as_ref()
        .and_then(|u| u.app_value(crate::upgrade_flow::DEPENDENCIES_KEY))
        .map(str::to_string);
    let upgrade_facts = crate::upgrade_flow::UpgradeFacts {
        pending: read_state(crate::upgrade_flow::PENDING_FILE)?.is_some(),
        failure: read_state(crate::upgrade_flow::FAILURE_FILE)?,
        compatible: crate::upgrade_flow::compatible(stored.as_deref()),
        compiled_dependencies,
    };

    let mut snap = Snapshot {
        unit_id,
        unit_name: env.unit_name.clone(),
        app_name: env.app_name().to_string(),
        leader,
        paths,
        config,
        address,
        cluster,
        restart,
        upgrade,
        planned: None,
        workload: workload_facts,
        ensemble: EnsembleView::default(),
        event: facts.clone(),
        upgrade_facts,
    };

    // Before the first start, the leader must know every unit Juju plans, so that the
    // lowest one bootstraps even if it has not joined the relation yet.
    // Later, ZooKeeper can add a joiner only if its server id is above every voter's (a
    // voter with a higher id cannot call back a server it does not know), so the leader
    // also waits for lower planned units before it lets a higher one start.
    let someone_waits = snap.members().iter().any(|id| !snap.started(*id));
    if leader && someone_waits && snap.cluster.is_some() {
        snap.planned = tools.goal_state_units().ok().map(|units| {
            units
                .iter()
                .filter(|(_, status)| status.as_str() != "dying" && status.as_str() != "dead")
                .filter_map(|(name, _)| unit_number(name))
                .collect()
        });
    }

    let my_turn = !snap.started(unit_id) && snap.starting() == Some(unit_id);
    if leader || my_turn || (facts.dying && running) || snap.upgrade_in_progress() {
        snap.ensemble = ensemble_view(&snap);
    }
    Ok(snap)
}

/// Asks every started unit's server (and this one, when running) for its health, and a
/// serving one — the quorum leader first — for the membership.
pub fn ensemble_view(s: &Snapshot) -> EnsembleView {
    let mut ids: BTreeSet<u32> = s
        .cluster
        .as_ref()
        .map(|c| {
            c.units
                .keys()
                .copied()
                .filter(|id| s.started(*id))
                .collect()
        })
        .unwrap_or_default();
    if s.workload.running {
        ids.insert(s.unit_id);
    }
    let mut health = BTreeMap::new();
    let mut ask = Vec::new();
    for id in ids {
        let own = if id == s.unit_id {
            s.workload.health.clone()
        } else {
            None
        };
        match (own, s.unit_address(id)) {
            (Some(h), _) => {
                health.insert(id, h);
            }
            (None, Some(addr)) => ask.push((id, addr)),
            (None, None) => {}
        }
    }
    health.extend(healths(ask));
    let mut order: Vec<u32> = health
        .iter()
        .filter(|(_, h)| h.serving)
        .map(|(id, _)| *id)
        .collect();
    order.sort_by_key(|id| !health[id].is_leader());
    let config = order
        .iter()
        .filter_map(|id| s.unit_address(*id))
        .find_map(|addr| zk::four::conf_within(&addr, FOUR_LETTER_TIMEOUT).ok());
    // Voters this unit does not see in the relation (it is leaving, so every other unit
    // departs from its view; or they left): ask them at the address the ensemble has, so
    // that a leaving unit can tell whether the rest keep a majority without it.
    if let Some(cfg) = &config {
        let unseen: Vec<(u32, String)> = cfg
            .members
            .values()
            .filter(|spec| spec.role == zk::Role::Participant)
            .filter_map(|spec| Some((spec.id.checked_sub(1)?, spec.host.clone())))
            .filter(|(id, _)| !health.contains_key(id))
            .collect();
        health.extend(healths(unseen));
    }
    EnsembleView { config, health }
}

/// The health of several servers, asked at the same time (one thread each), so that a
/// hook waits for the slowest server rather than for the sum of them.
fn healths(servers: Vec<(u32, String)>) -> BTreeMap<u32, ServerHealth> {
    if servers.len() <= 1 {
        return servers
            .into_iter()
            .map(|(id, addr)| (id, server_health(&addr)))
            .collect();
    }
    std::thread::scope(|scope| {
        let asks: Vec<_> = servers
            .iter()
            .map(|(id, addr)| (*id, scope.spawn(move || server_health(addr))))
            .collect();
        asks.into_iter()
            .map(|(id, ask)| {
                let h = ask.join().unwrap_or_else(|_| ServerHealth {
                    serving: false,
                    error: Some("the health query panicked".into()),
                    ..ServerHealth::default()
                });
                (id, h)
            })
            .collect()
    })
}

/// Where the started-with fingerprint lives.
pub fn started_with_path(workload: &dyn Workload) -> PathBuf {
    workload.paths().charm_state_dir.join(STARTED_WITH_FILE)
}
