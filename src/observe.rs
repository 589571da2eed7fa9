//! Builds the [`Snapshot`] a hook decides from: Juju's view through the hook tools (cached
//! for the hook), the workload's facts and the charm's private state, and — only where a
//! decision needs it — the live ensemble.
//!
//! Every bag is parsed here, once, into its relation's types ([`crate::peers`]). What is
//! read depends only on the [`EventFacts`] and on what the bags say, never on the hook's
//! name.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::config::CharmConfig;
use crate::cos::relation::{self as cos_agent, CosAgent};
use crate::cos::Topology;
use crate::dispatch::EventFacts;
use crate::env::{unit_number, HookEnv};
use crate::hooktools::{Bag, HookTools, SecretRead, SecretRef, ToolError};
use crate::local_state::{self, CertificatesRecord, LocalState};
use crate::passwords::Credentials;
use crate::peers::{cluster, restart, upgrade, RawRelation};
use crate::snapshot::{
    CertificatesView, EnsembleView, Snapshot, TlsFacts, UpgradeFacts, WorkloadFacts,
};
use crate::tls::files::{KEYSTORE_FILE, TRUSTSTORE_FILE};
use crate::tls::relation::{CERTIFICATES_KEY, REQUESTS_KEY};
use crate::tls::{Certificate, ProviderBag, Requests};
use crate::workload::{Workload, WorkloadError};
use crate::zk::ensemble::Ensemble;
use crate::zk::Role;

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

/// Peer relation ids: remembered across hooks in the charm's state (a peer relation lives
/// as long as the application, so its id never changes once Juju created it, and steady
/// hooks need not ask `relation-ids` again).
struct PeerIds {
    known: RefCell<BTreeMap<String, String>>,
    learnt: RefCell<bool>,
}

impl PeerIds {
    fn new(known: BTreeMap<String, String>) -> PeerIds {
        PeerIds {
            known: RefCell::new(known),
            learnt: RefCell::new(false),
        }
    }

    /// The relation id of `endpoint`, from memory or `relation-ids`.
    fn get(&self, tools: &dyn HookTools, endpoint: &str) -> Result<Option<String>, ToolError> {
        if let Some(id) = self.known.borrow().get(endpoint) {
            return Ok(Some(id.clone()));
        }
        let id = tools.relation_ids(endpoint)?.into_iter().next();
        if let Some(id) = &id {
            self.known
                .borrow_mut()
                .insert(endpoint.to_string(), id.clone());
            *self.learnt.borrow_mut() = true;
        }
        Ok(id)
    }

    /// Remembers newly learnt ids.
    fn save(&self, workload: &dyn Workload) {
        if *self.learnt.borrow() {
            local_state::save_peer_ids(workload, &self.known.borrow());
        }
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
) -> Result<Option<RawRelation>, ToolError> {
    let Some(id) = ids.get(tools, endpoint)? else {
        return Ok(None);
    };
    let mut units = BTreeMap::new();
    units.insert(
        unit_id,
        tools.relation_get(&id, &Bag::Unit(env.unit_name.clone()))?,
    );
    let mut rel = RawRelation {
        app: tools.relation_get(&id, &Bag::App(env.app_name().to_string()))?,
        id,
        units,
    };
    if all_units {
        add_other_units(tools, &mut rel)?;
    }
    Ok(Some(rel))
}

/// Adds the other units' bags to a relation read with only this unit's bag.
fn add_other_units(tools: &dyn HookTools, rel: &mut RawRelation) -> Result<(), ToolError> {
    for name in tools.relation_list(&rel.id)? {
        if let Some(n) = unit_number(&name) {
            if let std::collections::btree_map::Entry::Vacant(e) = rel.units.entry(n) {
                e.insert(tools.relation_get(&rel.id, &Bag::Unit(name))?);
            }
        }
    }
    Ok(())
}

/// The three peer relations, parsed.
struct Peers {
    cluster: Option<cluster::Cluster>,
    restart: Option<restart::Restart>,
    upgrade: Option<upgrade::Upgrade>,
}

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
    facts: &EventFacts,
) -> Result<Peers, ToolError> {
    let app = env.app_name();
    let restart = read_peer(tools, ids, restart::ENDPOINT, env, unit_id, leader)?
        .map(|raw| restart::parse(raw, unit_id, app));
    let mut upgrade_raw = read_peer(tools, ids, upgrade::ENDPOINT, env, unit_id, false)?;
    let upgrading = upgrade_raw
        .as_ref()
        .is_some_and(|raw| upgrade::App::from_bag(&raw.app).stack.is_active());
    if let Some(raw) = &mut upgrade_raw {
        if upgrading || (leader && facts.read_upgrade_bags) {
            add_other_units(tools, raw)?;
        }
    }
    let upgrade = upgrade_raw.map(|raw| upgrade::parse(raw, unit_id));
    let mut cluster_raw = read_peer(
        tools,
        ids,
        cluster::ENDPOINT,
        env,
        unit_id,
        leader || facts.dying || upgrading,
    )?;
    if let Some(raw) = &mut cluster_raw {
        let own_started = raw
            .units
            .get(&unit_id)
            .is_some_and(|b| cluster::Unit::from_bag(b).started);
        if !leader && !own_started && !facts.dying && !upgrading {
            add_other_units(tools, raw)?;
        }
    }
    let cluster = cluster_raw.map(|raw| cluster::parse(raw, unit_id));
    Ok(Peers {
        cluster,
        restart,
        upgrade,
    })
}

/// The `cos-agent` relation and this unit's own bag in it, if it exists (it has `limit:
/// 1`). Other units' bags are never needed: each unit publishes its own.
fn read_cos_agent(tools: &dyn HookTools, env: &HookEnv) -> Result<Option<CosAgent>, ToolError> {
    let Some(id) = tools.relation_ids(cos_agent::ENDPOINT)?.into_iter().next() else {
        return Ok(None);
    };
    let own = tools.relation_get(&id, &Bag::Unit(env.unit_name.clone()))?;
    Ok(Some(CosAgent::new(id, own)))
}

/// This unit's address on the `cluster` binding (network-get), `unit-get` as a fallback;
/// the first one that is an IP address.
fn address(tools: &dyn HookTools) -> Option<IpAddr> {
    if let Ok(info) = tools.network_get(cluster::ENDPOINT) {
        if let Some(a) = info
            .ingress_addresses
            .iter()
            .chain(&info.bind_addresses)
            .find_map(|a| a.parse().ok())
        {
            return Some(a);
        }
    }
    tools
        .unit_get("private-address")
        .ok()
        .and_then(|a| a.parse().ok())
}

/// Learns the `certificates` relation from Juju: its id (none in its `-broken` hook, the
/// only one the endpoint allows) and its provider application (once a unit of it joined).
fn learn_certificates(
    tools: &dyn HookTools,
    facts: &EventFacts,
) -> Result<Option<CertificatesRecord>, ToolError> {
    if facts.certificates_broken {
        return Ok(None);
    }
    let Some(id) = tools
        .relation_ids(crate::dispatch::CERTIFICATES)?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let provider = tools
        .relation_list(&id)?
        .first()
        .and_then(|unit| unit.split_once('/'))
        .map(|(app, _)| app.to_string());
    Ok(Some(CertificatesRecord { id, provider }))
}

/// The `certificates` relation's bags, as remembered or (in that relation's hooks, after a
/// refresh, or when the remembered id is gone) as learnt again.
fn certificates(
    env: &HookEnv,
    facts: &EventFacts,
    tools: &dyn HookTools,
    workload: &dyn Workload,
    local: &LocalState,
) -> Result<Option<CertificatesView>, ToolError> {
    let read = |record: &CertificatesRecord| -> Result<CertificatesView, ToolError> {
        let own = tools.relation_get(&record.id, &Bag::Unit(env.unit_name.clone()))?;
        let issued = match &record.provider {
            Some(app) => tools.relation_get(&record.id, &Bag::App(app.clone()))?,
            None => Default::default(),
        };
        Ok(CertificatesView {
            id: record.id.clone(),
            provider: record.provider.clone(),
            requests: Requests::parse(own.get(REQUESTS_KEY).map(String::as_str)),
            issued: ProviderBag::parse(issued.get(CERTIFICATES_KEY).map(String::as_str)),
        })
    };
    let mut record = local.certificates.clone();
    if facts.certificates_changed {
        record = learn_certificates(tools, facts)?;
    }
    let view = match &record {
        None => None,
        Some(r) => match read(r) {
            Ok(view) => Some(view),
            // Gone since it was remembered (a hook of it that this unit missed).
            Err(e) if e.is_relation_not_found() => {
                record = learn_certificates(tools, facts)?;
                record.as_ref().map(read).transpose()?
            }
            Err(e) => return Err(e),
        },
    };
    if record != local.certificates {
        if let Err(e) = local_state::save_certificates(workload, record.as_ref()) {
            log::warn!(
                "cannot remember the certificates relation: {}",
                crate::report::chain(&e)
            );
        }
    }
    Ok(view)
}

/// What this unit sees of TLS: the `certificates` relation, its key (read only while the
/// relation exists) and the certificate in ZooKeeper's PEM stores.
fn tls_facts(
    env: &HookEnv,
    facts: &EventFacts,
    tools: &dyn HookTools,
    workload: &dyn Workload,
    local: &LocalState,
) -> Result<TlsFacts, ObserveError> {
    let relation = certificates(env, facts, tools, workload, local)?;
    let key = match relation {
        Some(_) => local_state::load_tls_key(workload)?.map(|k| k.map_err(|e| e.to_string())),
        None => None,
    };
    let conf = &workload.paths().conf_dir;
    // The key store holds the key too: its text is zeroed once read.
    let keystore = workload
        .read_file(&conf.join(KEYSTORE_FILE))?
        .map(zeroize::Zeroizing::new);
    let truststore = workload.read_file(&conf.join(TRUSTSTORE_FILE))?;
    let installed = match (&keystore, &truststore) {
        // The leaf is the first certificate in the key store.
        (Some(ks), Some(_)) => Certificate::all_from_pem(ks)
            .ok()
            .and_then(|certs| certs.into_iter().next()),
        _ => None,
    };
    Ok(TlsFacts {
        relation,
        key,
        installed,
        any_file: keystore.is_some() || truststore.is_some(),
    })
}

/// Reads everything the decision needs.
///
/// # Errors
/// When a hook tool or the workload fails outright.
pub fn observe(
    env: &HookEnv,
    facts: &EventFacts,
    tools: &dyn HookTools,
    workload: &dyn Workload,
    ensemble: &dyn Ensemble,
) -> Result<Snapshot, ObserveError> {
    let unit_id = env
        .unit_id()
        .ok_or_else(|| ObserveError::UnitName(env.unit_name.clone()))?;
    let leader = tools.is_leader()?;
    let config = CharmConfig::from_juju(&tools.config_get()?);

    let local = LocalState::load(workload)?;
    let mut ids = PeerIds::new(local.peer_ids.clone());
    let mut peers = read_peers(tools, &ids, env, unit_id, leader, facts);
    if matches!(&peers, Err(e) if e.is_relation_not_found()) && !local.peer_ids.is_empty() {
        // A remembered id Juju does not know (state left by an earlier deployment, or a
        // relation that went away): forget them all and ask Juju again.
        local_state::forget_peer_ids(workload);
        ids = PeerIds::new(BTreeMap::new());
        peers = read_peers(tools, &ids, env, unit_id, leader, facts);
    }
    let Peers {
        cluster,
        restart,
        upgrade,
    } = peers?;
    ids.save(workload);

    // The published address is reused except where Juju may have changed it.
    let published = cluster
        .as_ref()
        .and_then(|c| c.unit(unit_id))
        .and_then(|u| u.ip);
    let address = match published {
        Some(a) if !facts.refresh_address => Some(a),
        _ => address(tools),
    };

    let installed = workload.installed()?;
    let running = installed && workload.is_running()?;
    let dynamic_config_file = workload
        .read_file(&workload.paths().zoo_cfg())?
        .as_deref()
        .and_then(crate::render::dynamic_config_file);
    let exporters = if installed {
        workload.exporters()?
    } else {
        crate::cos::Capabilities::none()
    };
    let health = match (&address, running) {
        (Some(a), true) => Some(ensemble.health(&a.to_string())),
        _ => None,
    };
    let upgrade_facts =
        UpgradeFacts::for_stored(upgrade.as_ref().and_then(|u| u.app.dependencies.as_deref()));
    let tls = tls_facts(env, facts, tools, workload, &local)?;
    let cos_agent = if facts.refresh_cos_agent {
        read_cos_agent(tools, env)?
    } else {
        None
    };

    let mut snap = Snapshot {
        unit_id,
        unit_name: env.unit_name.clone(),
        app_name: env.app_name().to_string(),
        leader,
        config,
        address,
        cluster,
        restart,
        upgrade,
        planned: None,
        workload: WorkloadFacts {
            installed,
            running,
            health,
            dynamic_config_file,
            exporters,
            machine: workload.machine(),
        },
        local,
        ensemble: EnsembleView::default(),
        event: facts.clone(),
        upgrade_facts,
        credentials: None,
        tls,
        clients: Default::default(),
        topology: Topology::new(&env.model_name, &env.model_uuid, env.app_name()),
        cos_agent,
        purged: false,
    };
    // The client relations need the peer relation (no peer data in `install`).
    if snap.cluster.is_some() {
        snap.clients = observe_clients(env, facts, tools, workload, &snap)?;
    }

    // The relation-list of a hook is this unit's own view: a unit that entered the relation
    // shows there only once this unit ran its `-joined`, which may queue behind many other
    // hooks. Its bag is readable from the moment it entered (juju-hook-contract.md 3.1,
    // 4.2), so where a deploy would wait on that view, the units Juju already has in the
    // relation are read too: on the leader, every planned unit while some unit has not
    // started, a unit planned at its last look has not shown up, or the unit whose turn it
    // is has not (it names the next one to start, and a turn ends when its unit is gone);
    // on the unit whose turn it is, the recorded voters (it joins them).
    let members = snap.members();
    let waiting = members.iter().any(|id| !snap.started(*id))
        || snap.local.planned_unseen(&members)
        || snap.starting().is_some_and(|x| !members.contains(&x));
    if leader && snap.cluster.is_some() && waiting {
        snap.planned = planned_units(tools);
        if let Some(planned) = &snap.planned {
            if *planned != snap.local.planned_units {
                local_state::record_planned(workload, planned);
            }
            let planned = planned.clone();
            add_units_in_scope(tools, env, &mut snap, &planned);
        }
    }
    let my_turn = !snap.started(unit_id) && snap.starting() == Some(unit_id);
    if my_turn {
        let voters = snap.recorded_voters();
        add_units_in_scope(tools, env, &mut snap, &voters);
    }
    if leader || my_turn || (facts.dying && running) || snap.upgrade_in_progress() {
        // The membership is read as `super`.
        load_credentials(tools, &mut snap)?;
        snap.ensemble = ensemble_view(&snap, ensemble);
    }

    // Before the first start, the leader must know every unit Juju plans, so that the
    // lowest one bootstraps even if it has not joined the relation yet.
    // Later, ZooKeeper can add a joiner only if its server id is above every voter's (a
    // voter with a higher id cannot call back a server it does not know), so the leader
    // also waits for lower planned units before it lets a higher one start.
    // And a member outside the voters may be leaving: it steps out of the quorum in its
    // own hooks, possibly before its `-departed` reaches the leader, and only goal-state
    // (`dying`) tells the leader not to start or add it again.
    let someone_waits = snap.members().iter().any(|id| !snap.started(*id));
    let voters = snap.ensemble.voter_units();
    let someone_outside =
        snap.ensemble.config.is_some() && snap.members().iter().any(|id| !voters.contains(id));
    if leader
        && snap.planned.is_none()
        && (someone_waits || someone_outside)
        && snap.cluster.is_some()
    {
        snap.planned = planned_units(tools);
    }
    Ok(snap)
}

/// The units Juju plans for the application (goal-state), dying and dead ones left out;
/// `None` when goal-state cannot be read.
fn planned_units(tools: &dyn HookTools) -> Option<BTreeSet<u32>> {
    tools.goal_state_units().ok().map(|units| {
        units
            .iter()
            .filter(|(_, status)| status.as_str() != "dying" && status.as_str() != "dead")
            .filter_map(|(name, _)| unit_number(name))
            .collect()
    })
}

/// Adds to the `cluster` relation the bags of the units in `ids` this hook's relation-list
/// does not show yet but Juju already has in the relation. A unit that has not entered it
/// (its bag cannot be read) is left out: it shows up later.
fn add_units_in_scope(
    tools: &dyn HookTools,
    env: &HookEnv,
    snap: &mut Snapshot,
    ids: &BTreeSet<u32>,
) {
    let app = env.app_name().to_string();
    let Some(c) = snap.cluster.as_mut() else {
        return;
    };
    for id in ids {
        if c.units.contains_key(id) || snap.event.departing == Some(*id) {
            continue;
        }
        let name = format!("{app}/{id}");
        match tools.relation_get(&c.id, &Bag::Unit(name)) {
            Ok(bag) => {
                c.units.insert(*id, cluster::Unit::from_bag(&bag));
            }
            Err(e) => log::debug!("unit {id} is not in the cluster relation yet: {e}"),
        }
    }
}

/// The client relations (see [`crate::client::observe`]).
fn observe_clients(
    env: &HookEnv,
    facts: &EventFacts,
    tools: &dyn HookTools,
    workload: &dyn Workload,
    snap: &Snapshot,
) -> Result<crate::client::ClientView, ToolError> {
    let client_facts = crate::client::observe::Facts {
        relation_event: facts.client_relation.is_some(),
        broken: facts.client_broken,
        relation: facts.client_relation,
        refresh_addresses: facts.refresh_address,
        refreshed: facts.charm_refreshed,
        juju_version: env.juju_version.clone(),
    };
    let own = snap.cluster.as_ref().and_then(|c| c.unit(snap.unit_id));
    crate::client::observe::observe(
        tools,
        workload,
        &client_facts,
        snap.leader,
        &snap.app_name,
        own,
        snap.address,
        snap.local.client_relations.as_ref(),
    )
}

/// Asks every started unit's server (and this one, when running; on the leader, the one of
/// the unit whose turn it is to start, which may be synced before the leader has seen its
/// `started`; on that unit, every member's) for its health, and a serving one — the quorum leader first — for
/// the membership, as `super` when the passwords could be read.
fn ensemble_view(s: &Snapshot, ensemble: &dyn Ensemble) -> EnsembleView {
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
    if let (true, Some(x)) = (s.leader, s.starting()) {
        if s.members().contains(&x) {
            ids.insert(x);
        }
    }
    // In its turn to join, a unit asks every member: which ones started reaches it only
    // with their `-relation-changed`, which may queue behind many other hooks.
    if s.starting() == Some(s.unit_id) && !s.started(s.unit_id) {
        ids.extend(s.members());
    }
    // This unit's own server answers only when it runs (`s.workload.health`).
    if !s.workload.running {
        ids.remove(&s.unit_id);
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
            (None, Some(addr)) => ask.push((id, addr.to_string())),
            (None, None) => {}
        }
    }
    health.extend(ensemble.health_of_all(&ask));
    let mut order: Vec<u32> = health
        .iter()
        .filter(|(_, h)| h.serving)
        .map(|(id, _)| *id)
        .collect();
    order.sort_by_key(|id| !health[id].is_leader());
    let super_password = s
        .credentials()
        .and_then(|c| c.super_password.as_ref())
        .map(|p| p.as_str());
    let config = order
        .iter()
        .filter_map(|id| s.unit_address(*id))
        .find_map(
            |addr| match ensemble.members(&addr.to_string(), super_password) {
                Ok(config) => Some(config),
                Err(e) => {
                    log::info!(
                        "cannot read the membership from {addr}: {}",
                        crate::report::chain(&e)
                    );
                    None
                }
            },
        );
    // Voters this unit does not see in the relation (it is leaving, so every other unit
    // departs from its view; or they left): ask them at the address the ensemble has, so
    // that a leaving unit can tell whether the rest keep a majority without it.
    if let Some(cfg) = &config {
        let unseen: Vec<(u32, String)> = cfg
            .members
            .values()
            .filter(|spec| spec.role == Role::Participant)
            .filter_map(|spec| Some((spec.id.checked_sub(1)?, spec.host.clone())))
            .filter(|(id, _)| !health.contains_key(id))
            .collect();
        health.extend(ensemble.health_of_all(&unseen));
    }
    EnsembleView { config, health }
}

/// The `cluster` app bag alone (for the actions that need only the passwords): two tool
/// calls, no workload and no ensemble.
///
/// # Errors
/// When a hook tool fails.
pub fn cluster_app(
    env: &HookEnv,
    tools: &dyn HookTools,
) -> Result<Option<cluster::App>, ToolError> {
    let Some(id) = tools.relation_ids(cluster::ENDPOINT)?.into_iter().next() else {
        return Ok(None);
    };
    let bag = tools.relation_get(&id, &Bag::App(env.app_name().to_string()))?;
    Ok(Some(cluster::App::from_bag(&bag)))
}

/// The internal passwords `app` points at: the internal secret's content (one `secret-get`,
/// by the URI in the bag), or the passwords an earlier revision kept in the bag; `None`
/// when there are none yet. Each is checked against the password rule; `Err` inside says
/// why they cannot be used (never a value).
///
/// # Errors
/// When `secret-get` fails for another reason than a missing secret.
pub fn credentials(
    tools: &dyn HookTools,
    app: &cluster::App,
) -> Result<Option<Result<Credentials, String>>, ToolError> {
    let Some(id) = &app.internal_secret else {
        let legacy = Credentials::from_legacy(app).map_err(|e| e.to_string());
        return Ok((!app.legacy.is_empty()).then_some(legacy));
    };
    let content = match tools.secret_get(&SecretRef::Id(id.clone()), SecretRead::Tracked) {
        Ok(c) => c,
        Err(e) if e.is_secret_not_found() => {
            return Ok(Some(Err(format!(
                "the internal secret {id} (the cluster relation's `internal_secret`) does not exist"
            ))))
        }
        Err(e) => return Err(e),
    };
    Ok(Some(Credentials::with_leftovers(&content, app)))
}

/// Reads the internal passwords into the snapshot (see [`credentials`]).
///
/// # Errors
/// When `secret-get` fails for another reason than a missing secret.
pub fn load_credentials(tools: &dyn HookTools, s: &mut Snapshot) -> Result<(), ToolError> {
    let Some(app) = s.cluster.as_ref().map(|c| &c.app) else {
        return Ok(());
    };
    s.credentials = Some(
        credentials(tools, app)?
            .unwrap_or_else(|| Err("the leader has not generated them yet".to_string())),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::Event;
    use crate::hooktools::fake::{FakeHookTools, FakeRelation};
    use crate::workload::snap::{Layout, ProcessRunner, SnapWorkload};
    use crate::zk::ensemble::ZkEnsemble;
    use std::time::Duration;

    #[test]
    fn peer_ids_left_by_an_earlier_deployment_are_forgotten_not_a_failed_hook() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let layout = Layout {
            snap_mount: root.join("snap"),
            data_root: root.join("var-snap"),
            environment_file: root.join("environment"),
            state_root: root.join("state"),
        };
        let state = layout.state_dir(Some("model"), "zookeeper/0");
        let workload = SnapWorkload::with_parts(Box::new(ProcessRunner), layout, state, None);
        // An earlier application on this machine had its peer relations under other ids.
        local_state::save_peer_ids(
            &workload,
            &BTreeMap::from([
                ("cluster".to_string(), "cluster:7".to_string()),
                ("restart".to_string(), "restart:9".to_string()),
            ]),
        );
        let tools = FakeHookTools::new("zookeeper/0")
            .relation("cluster:0", FakeRelation::peer())
            .relation("restart:2", FakeRelation::peer())
            .relation("upgrade:1", FakeRelation::peer());
        let env = HookEnv {
            unit_name: "zookeeper/0".into(),
            dispatch_path: Some("hooks/update-status".into()),
            ..HookEnv::default()
        };
        let facts = EventFacts::new(&Event::UpdateStatus, &env, 1);
        let ensemble = ZkEnsemble {
            four_letter_timeout: Duration::from_millis(100),
            reconfig_timeout: Duration::from_millis(100),
            read_timeout: Duration::from_millis(100),
        };
        let snap = observe(&env, &facts, &tools, &workload, &ensemble).unwrap();
        assert_eq!(snap.cluster.map(|c| c.id).as_deref(), Some("cluster:0"));
        assert_eq!(snap.restart.map(|r| r.id).as_deref(), Some("restart:2"));
        let remembered = LocalState::load(&workload).unwrap().peer_ids;
        assert_eq!(remembered["cluster"], "cluster:0");
        assert_eq!(remembered["restart"], "restart:2");
    }
}
