//! The pure decision: `decide(&Snapshot) -> Plan`.
//!
//! No I/O happens here. The hook runner executes the plan, observes the world again and
//! decides again, until a plan has nothing left to do; the statuses of the last plan are
//! the unit's status. So every rule below is written as "given what is true now, what is
//! the next safe step", never as "after event X do Y".
//!
//! Safety rules (see issue 4 and `zookeeper-operator.md` §2 for the bugs not to copy):
//! - exactly one unit ever bootstraps a new ensemble alone: the one the Juju leader names
//!   in the app bag (`starting`), and only while no member is recorded as added and no
//!   server is reachable;
//! - any other unit starts with the live voting members plus itself, never alone;
//! - one unit is in transition at a time: joining (`starting`), restarting (holding the
//!   restart lock), or upgrading; the leader starts nothing new while another is;
//! - a member is removed (by the leader, or by the departing unit itself) only when the
//!   remaining voters keep a serving majority, and the last voter is never removed.

use std::collections::BTreeSet;

use crate::hooktools::Databag;
use crate::render::Rendered;
use crate::snapshot::{
    PeerRelation, Snapshot, STARTING_KEY, SYNC_PASSWORD_KEY, SYNC_PASSWORD_NEW_KEY, SYNC_PHASE_KEY,
    SYNC_ROTATION_KEY, SYNC_USER_KEY,
};
use crate::status::Status;
use crate::upgrade_flow::Gate;
use crate::zk::ServerSpec;

/// Restart relation: unit-bag key of the lock request, and its values (rolling-ops v0).
pub const LOCK_STATE_KEY: &str = "state";
/// Restart relation: unit-bag key of when the request was made (orders the queue).
pub const LOCK_REQUESTED_AT_KEY: &str = "requested-at";
/// Restart relation: unit-bag key of the app-wide inputs ([`shared_inputs`]) this unit's
/// running server is up to date with. The leader restarts itself only once every other
/// started unit reports the current ones, so that it restarts last.
pub const LOCK_INPUTS_KEY: &str = "inputs";

/// Something to do to the workload, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadOp {
    Install,
    /// Write the rendered files and start the server. `initial_members` is the dynamic
    /// config of a first start; `None` keeps the dynamic config ZooKeeper maintains.
    Start {
        initial_members: Option<Vec<ServerSpec>>,
    },
    /// Write the rendered files and restart (holding the restart lock).
    Restart,
    /// This unit's turn in an upgrade: stop, install the pinned workload, write the files,
    /// start, wait until synced.
    Upgrade,
    Stop,
}

/// A change to the voting membership, made through reconfig as `super`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipOp {
    Add(ServerSpec),
    Remove { server_id: u32 },
}

/// What one round of a hook does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Plan {
    /// Generate and share the internal passwords (leader, once).
    pub generate_passwords: bool,
    pub cluster_unit: Databag,
    pub cluster_app: Databag,
    pub restart_unit: Databag,
    pub restart_app: Databag,
    pub upgrade_unit: Databag,
    pub upgrade_app: Databag,
    /// Record this unit's upgrade as failed, with the cause.
    pub upgrade_failure: Option<String>,
    pub workload: Vec<WorkloadOp>,
    pub membership: Vec<MembershipOp>,
    /// The rendered files, when a workload op writes them.
    pub rendered: Option<Rendered>,
    /// Candidate statuses; the highest wins at the end of the hook.
    pub statuses: Vec<Status>,
}

impl Plan {
    /// True when executing this plan would change nothing.
    pub fn is_idle(&self) -> bool {
        !self.generate_passwords
            && self.cluster_unit.is_empty()
            && self.cluster_app.is_empty()
            && self.restart_unit.is_empty()
            && self.restart_app.is_empty()
            && self.upgrade_unit.is_empty()
            && self.upgrade_app.is_empty()
            && self.upgrade_failure.is_none()
            && self.workload.is_empty()
            && self.membership.is_empty()
    }
}

/// A one-line account of what a plan does, for the unit log. Values of keys that hold
/// secrets are not shown.
pub fn summary(plan: &Plan) -> String {
    let bag = |name: &str, b: &Databag| -> Option<String> {
        if b.is_empty() {
            return None;
        }
        let items: Vec<String> = b
            .iter()
            .map(|(k, v)| {
                if k.contains("password") {
                    format!("{k}=<redacted>")
                } else {
                    format!("{k}={v:?}")
                }
            })
            .collect();
        Some(format!("{name} {{{}}}", items.join(", ")))
    };
    let mut parts: Vec<String> = [
        bag("cluster unit", &plan.cluster_unit),
        bag("cluster app", &plan.cluster_app),
        bag("restart unit", &plan.restart_unit),
        bag("restart app", &plan.restart_app),
        bag("upgrade unit", &plan.upgrade_unit),
        bag("upgrade app", &plan.upgrade_app),
    ]
    .into_iter()
    .flatten()
    .collect();
    if plan.generate_passwords {
        parts.push("generate the internal passwords".into());
    }
    for op in &plan.workload {
        parts.push(match op {
            WorkloadOp::Start {
                initial_members: Some(m),
            } => {
                format!(
                    "first start with servers {:?}",
                    m.iter().map(|s| s.id).collect::<Vec<_>>()
                )
            }
            other => format!("{other:?}").to_lowercase(),
        });
    }
    for op in &plan.membership {
        parts.push(match op {
            MembershipOp::Add(spec) => format!("reconfig add {}", spec.line()),
            MembershipOp::Remove { server_id } => format!("reconfig remove server {server_id}"),
        });
    }
    if plan.upgrade_failure.is_some() {
        parts.push("record the upgrade failure".into());
    }
    format!("plan: {}", parts.join("; "))
}

/// Writes `value` under `key` into `bag` unless `current` already holds it: a write of an
/// equal value is no change, and skipping it keeps idle hooks write-free (no hook loops).
fn set_if_changed(bag: &mut Databag, current: Option<&Databag>, key: &str, value: &str) {
    let now = current
        .and_then(|b| b.get(key))
        .map(String::as_str)
        .unwrap_or("");
    if now != value {
        bag.insert(key.to_string(), value.to_string());
    }
}

/// A majority of `n` voters.
fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// The next safe step. See the module docs.
pub fn decide(s: &Snapshot) -> Plan {
    let mut plan = Plan::default();

    if s.event.dying {
        leave(s, &mut plan);
        return plan;
    }

    if !s.workload.installed {
        plan.workload.push(WorkloadOp::Install);
        plan.statuses
            .push(Status::maintenance("installing ZooKeeper"));
        return plan;
    }

    let config = match &s.config {
        Ok(c) => c.clone(),
        Err(e) => {
            plan.statuses
                .push(Status::blocked(format!("{e}; fix it with `juju config`")));
            return plan;
        }
    };

    let Some(cluster) = &s.cluster else {
        plan.statuses
            .push(Status::waiting("waiting for the cluster peer relation"));
        return plan;
    };

    let Some(passwords) = s.passwords() else {
        if s.leader {
            plan.generate_passwords = true;
        }
        plan.statuses.push(Status::waiting(
            "waiting for the leader to generate the internal passwords",
        ));
        return plan;
    };

    if let Some(addr) = &s.address {
        set_if_changed(&mut plan.cluster_unit, cluster.unit(s.unit_id), "ip", addr);
    }

    let rendered = Rendered::new(&config, &s.paths, s.unit_id, &passwords);
    let fingerprint = rendered.fingerprint();
    plan.rendered = Some(rendered);
    let inputs = shared_inputs(&config, &passwords);

    let gate = crate::upgrade_flow::decide_upgrade(s, &s.upgrade_facts, &mut plan);
    lifecycle(s, cluster, &fingerprint, &inputs, gate, &mut plan);
    if s.leader {
        let lock_busy = leader_restart_lock(s, &inputs, &mut plan);
        leader_membership(s, lock_busy, &mut plan);
    }
    plan
}

/// A digest of what every unit's server reads only at start, whatever the unit: the files
/// rendered for one fixed unit and layout. It changes exactly when a restart-relevant
/// option or an internal password (or the sync-rotation phase) changes.
fn shared_inputs(
    config: &crate::config::CharmConfig,
    passwords: &crate::render::Passwords,
) -> String {
    let fixed = crate::workload::Paths {
        conf_dir: "/".into(),
        data_dir: "/".into(),
        data_log_dir: "/".into(),
        log_dir: "/".into(),
        charm_state_dir: "/".into(),
    };
    Rendered::new(config, &fixed, 0, passwords).fingerprint()
}

/// This unit is leaving: step out of the voting members while that is safe, and stop the
/// server in `stop`/`remove`.
fn leave(s: &Snapshot, plan: &mut Plan) {
    let voters = s.ensemble.voter_units();
    if s.workload.running && voters.contains(&s.unit_id) {
        let remaining: BTreeSet<u32> = voters.iter().copied().filter(|v| *v != s.unit_id).collect();
        let serving = remaining
            .iter()
            .filter(|v| s.ensemble.health.get(v).is_some_and(|h| h.serving))
            .count();
        if !remaining.is_empty() && serving >= majority(remaining.len()) {
            plan.membership.push(crate::decide::MembershipOp::Remove {
                server_id: s.unit_id + 1,
            });
        }
    }
    if s.event.stopping && s.workload.running {
        plan.workload.push(WorkloadOp::Stop);
    }
    plan.statuses.push(Status::maintenance(
        "leaving the ensemble: this unit is being removed",
    ));
}

/// This unit's own server: first start in its turn, recovery start, restart under the lock,
/// and its status.
fn lifecycle(
    s: &Snapshot,
    cluster: &PeerRelation,
    fingerprint: &str,
    inputs: &str,
    gate: Gate,
    plan: &mut Plan,
) {
    let me = s.unit_id;
    let health = s.workload.health.clone().unwrap_or_default();

    if !s.started(me) {
        match s.starting() {
            Some(n) if n == me => {
                if s.workload.running {
                    if health.synced() {
                        set_if_changed(
                            &mut plan.cluster_unit,
                            cluster.unit(me),
                            "state",
                            "started",
                        );
                        plan.statuses.push(Status::waiting(
                            "started, waiting to be added to the quorum",
                        ));
                    } else {
                        plan.statuses
                            .push(Status::waiting("starting: syncing with the ensemble"));
                    }
                    return;
                }
                let Some(own) = s.server_spec(me) else {
                    plan.statuses.push(Status::waiting(
                        "waiting for this unit's address on the cluster binding",
                    ));
                    return;
                };
                let members = match &s.ensemble.config {
                    // Join the quorum as it is now: its voters plus this unit.
                    Some(cfg) => {
                        let mut m: Vec<ServerSpec> = cfg
                            .members
                            .values()
                            .filter(|m| m.id != own.id)
                            .cloned()
                            .collect();
                        m.retain(|m| m.role == crate::zk::Role::Participant);
                        if m.is_empty() {
                            plan.statuses
                                .push(Status::waiting("waiting for the ensemble's voting members"));
                            return;
                        }
                        m.push(own);
                        m
                    }
                    // Bootstrap: nobody was ever added and no server answers.
                    None if s.added().is_empty() => vec![own],
                    None => {
                        plan.statuses.push(Status::waiting(
                            "waiting to reach the ensemble's voting members before starting",
                        ));
                        return;
                    }
                };
                plan.workload.push(WorkloadOp::Start {
                    initial_members: Some(members),
                });
                plan.statuses
                    .push(Status::maintenance("starting ZooKeeper"));
            }
            Some(n) => plan.statuses.push(Status::waiting(format!(
                "waiting for unit {n} to join the quorum"
            ))),
            None => plan.statuses.push(Status::waiting(
                "waiting for the leader to schedule this unit's start",
            )),
        }
        return;
    }

    if !s.workload.running {
        plan.workload.push(WorkloadOp::Start {
            initial_members: None,
        });
        plan.statuses.push(Status::maintenance(
            "starting ZooKeeper (it was not running)",
        ));
        return;
    }

    if gate == Gate::Proceed {
        unit_restart_lock(s, &health, fingerprint, inputs, plan);
    }

    // Tell the leader which sync-rotation phase this server runs with, once it does.
    let phase = s.sync_rotation().map(|p| p.as_str()).unwrap_or("");
    if s.workload.started_with.as_deref() == Some(fingerprint) && health.synced() {
        set_if_changed(
            &mut plan.cluster_unit,
            cluster.unit(me),
            SYNC_PHASE_KEY,
            phase,
        );
    }

    let voters = s.ensemble.voter_units();
    if health.serving {
        let role = health.state.clone().unwrap_or_else(|| "serving".into());
        if s.ensemble.config.is_some() && !voters.contains(&me) {
            plan.statuses.push(Status::waiting(format!(
                "{role}, waiting to be added to the quorum"
            )));
        } else {
            plan.statuses.push(Status::active(role));
        }
    } else {
        let why = health.error.clone().unwrap_or_else(|| "no reply".into());
        plan.statuses.push(Status::blocked(format!(
            "ZooKeeper is running but not serving ({why}): it has no quorum; check the other units"
        )));
    }
}

/// The status of a unit that waits for the restart lock.
const WAITING_FOR_LOCK: &str = "waiting for restart lock";

/// Unit side of the restart lock: request it when the running server was started with
/// other files than the ones rendered now; restart when granted; release once back in the
/// quorum and synced, and then report the app-wide `inputs` it is up to date with.
fn unit_restart_lock(
    s: &Snapshot,
    health: &crate::snapshot::ServerHealth,
    fingerprint: &str,
    inputs: &str,
    plan: &mut Plan,
) {
    let needs_restart = s.workload.started_with.as_deref() != Some(fingerprint);
    let Some(restart) = &s.restart else {
        if needs_restart {
            plan.statuses.push(Status::waiting(
                "restart needed, waiting for the restart peer relation",
            ));
        }
        return;
    };
    let own = restart.unit(s.unit_id);
    let own_state = own
        .and_then(|b| b.get(LOCK_STATE_KEY))
        .map(String::as_str)
        .unwrap_or("");
    let granted = restart.app_value(&s.unit_name) == Some("granted");
    if !needs_restart && health.synced() {
        set_if_changed(&mut plan.restart_unit, own, LOCK_INPUTS_KEY, inputs);
    }

    if needs_restart {
        if granted {
            plan.workload.push(WorkloadOp::Restart);
            plan.statuses.push(Status::maintenance("restarting"));
        } else {
            if own_state != "acquire" {
                plan.restart_unit
                    .insert(LOCK_STATE_KEY.into(), "acquire".into());
                plan.restart_unit
                    .insert(LOCK_REQUESTED_AT_KEY.into(), s.event.now.clone());
            }
            plan.statuses.push(Status::waiting(WAITING_FOR_LOCK));
        }
    } else if granted {
        if own_state != "release" {
            if health.synced() {
                plan.restart_unit
                    .insert(LOCK_STATE_KEY.into(), "release".into());
            } else {
                plan.statuses.push(Status::waiting(
                    "restarted, waiting to sync with the quorum",
                ));
            }
        }
    } else if own_state == "acquire" {
        // Nothing to do any more (the config went back): withdraw the request.
        plan.restart_unit
            .insert(LOCK_STATE_KEY.into(), String::new());
        plan.restart_unit
            .insert(LOCK_REQUESTED_AT_KEY.into(), String::new());
    }
}

/// Leader side of the restart lock: clear released and departed grants, then grant the
/// earliest request while nobody holds the lock and nobody else is in transition. The
/// leader's own request goes last: after the other requests, and only once every other
/// started unit reports that it runs with the current `inputs` (a unit that has not seen a
/// change yet has not requested either). Returns whether the lock is held after this round.
fn leader_restart_lock(s: &Snapshot, inputs: &str, plan: &mut Plan) -> bool {
    let Some(restart) = &s.restart else {
        return false;
    };
    let members = s.members();
    let mut held = false;
    for (key, value) in &restart.app {
        let Some(id) =
            crate::env::unit_number(key).filter(|_| key.starts_with(&format!("{}/", s.app_name)))
        else {
            continue;
        };
        let present = members.contains(&id);
        if !present {
            // A departed unit's grant or idle marker is dropped.
            plan.restart_app.insert(key.clone(), String::new());
            continue;
        }
        if value == "granted" {
            if restart.unit_value(id, LOCK_STATE_KEY) == Some("release") {
                plan.restart_app.insert(key.clone(), "idle".into());
            } else {
                held = true;
            }
        }
    }
    if held || s.starting().is_some() || s.upgrade_in_progress() {
        return held;
    }
    let mut queue: Vec<(bool, String, u32)> = members
        .iter()
        .filter(|id| restart.unit_value(**id, LOCK_STATE_KEY) == Some("acquire"))
        .filter(|id| restart.app_value(&s.unit_name_of(**id)) != Some("granted"))
        .map(|id| {
            let at = restart
                .unit_value(*id, LOCK_REQUESTED_AT_KEY)
                .unwrap_or("")
                .to_string();
            (*id == s.unit_id, at, *id)
        })
        .collect();
    queue.sort();
    if let Some((_, _, id)) = queue.first() {
        if *id == s.unit_id {
            let behind: Vec<String> = members
                .iter()
                .filter(|m| {
                    **m != s.unit_id
                        && s.started(**m)
                        && restart.unit_value(**m, LOCK_INPUTS_KEY) != Some(inputs)
                })
                .map(|m| s.unit_name_of(*m))
                .collect();
            if !behind.is_empty() {
                // Says whom the leader waits for, in place of the unit side's generic status.
                let waiting = Status::waiting(format!(
                    "{WAITING_FOR_LOCK}: the leader restarts last, after {}",
                    behind.join(", ")
                ));
                match plan
                    .statuses
                    .iter_mut()
                    .find(|st| st.message == WAITING_FOR_LOCK)
                {
                    Some(generic) => *generic = waiting,
                    None => plan.statuses.push(waiting),
                }
                return false;
            }
        }
        plan.restart_app
            .insert(s.unit_name_of(*id), "granted".into());
        return true;
    }
    false
}

/// Leader side of the membership: keep the `"<id>": added|removed` records in step with
/// the live config, schedule the next unit to start, add it once synced, and remove
/// members whose units left.
fn leader_membership(s: &Snapshot, lock_busy: bool, plan: &mut Plan) {
    let Some(cluster) = &s.cluster else { return };
    let members = s.members();
    let added = s.added();
    let voters = s.ensemble.voter_units();
    let config_known = s.ensemble.config.is_some();

    if config_known {
        for v in &voters {
            if members.contains(v) && !added.contains(v) {
                set_if_changed(
                    &mut plan.cluster_app,
                    Some(&cluster.app),
                    &v.to_string(),
                    "added",
                );
            }
        }
        for a in &added {
            if !voters.contains(a) && !members.contains(a) {
                set_if_changed(
                    &mut plan.cluster_app,
                    Some(&cluster.app),
                    &a.to_string(),
                    "removed",
                );
            }
        }
    }

    // A sync rotation moves to its next phase once every unit runs with the current one.
    if let Some(phase) = s.sync_rotation() {
        let all_there = members
            .iter()
            .all(|m| cluster.unit_value(*m, SYNC_PHASE_KEY) == Some(phase.as_str()));
        if all_there && !lock_busy {
            match phase.next() {
                Some(next) => {
                    plan.cluster_app
                        .insert(SYNC_ROTATION_KEY.into(), next.as_str().into());
                }
                None => {
                    let new = cluster
                        .app_value(SYNC_PASSWORD_NEW_KEY)
                        .unwrap_or_default()
                        .to_string();
                    plan.cluster_app.insert(SYNC_PASSWORD_KEY.into(), new);
                    plan.cluster_app
                        .insert(SYNC_USER_KEY.into(), s.next_sync_user().into());
                    plan.cluster_app
                        .insert(SYNC_PASSWORD_NEW_KEY.into(), String::new());
                    plan.cluster_app
                        .insert(SYNC_ROTATION_KEY.into(), String::new());
                }
            }
        }
    }

    match s.starting() {
        Some(x) if !members.contains(&x) || voters.contains(&x) => {
            // Gone before it joined, or joined: the turn is over.
            plan.cluster_app.insert(STARTING_KEY.into(), String::new());
        }
        Some(x) => {
            let synced = s.ensemble.health.get(&x).is_some_and(|h| h.synced());
            if s.started(x) && synced && config_known {
                let leader_ready = s
                    .ensemble
                    .leader_unit()
                    .and_then(|l| s.ensemble.health.get(&l))
                    .is_some_and(|h| h.synced() && h.pending_syncs.unwrap_or(0) == 0);
                if let (true, Some(spec)) = (leader_ready, s.server_spec(x)) {
                    plan.membership.push(MembershipOp::Add(spec));
                }
            }
        }
        None if !lock_busy && !s.upgrade_in_progress() => {
            schedule_next_start(s, &members, &voters, plan)
        }
        None => {}
    }

    // Remove voters whose units left, one per round, only while the rest keep a majority.
    if config_known {
        let extras: Vec<u32> = voters
            .iter()
            .copied()
            .filter(|v| !members.contains(v))
            .collect();
        // Guard against a leader that sees no peers at all (juju LP#2053055): only remove
        // a unit it was told is departing, or when it does see other units.
        let sees_peers = members.len() > 1;
        for v in extras {
            if !(sees_peers || s.event.departing == Some(v)) {
                continue;
            }
            let remaining: Vec<u32> = voters.iter().copied().filter(|r| *r != v).collect();
            let serving = remaining
                .iter()
                .filter(|r| s.ensemble.health.get(r).is_some_and(|h| h.serving))
                .count();
            if !remaining.is_empty() && serving >= majority(remaining.len()) {
                plan.membership
                    .push(MembershipOp::Remove { server_id: v + 1 });
                break;
            }
        }
    }
}

/// Names the next unit to start: the lowest id that is not a voter. A brand-new ensemble
/// is bootstrapped by the lowest unit once every planned unit is related.
fn schedule_next_start(
    s: &Snapshot,
    members: &BTreeSet<u32>,
    voters: &BTreeSet<u32>,
    plan: &mut Plan,
) {
    let config_known = s.ensemble.config.is_some();
    let candidate = members.iter().copied().find(|m| !voters.contains(m));
    let Some(next) = candidate else { return };
    if !config_known {
        let anyone_started = members.iter().any(|m| s.started(*m));
        if !s.added().is_empty() || anyone_started {
            // An ensemble exists but does not answer now: starting someone alone would
            // split it.
            return;
        }
        if let Some(planned) = &s.planned {
            if !planned.iter().all(|p| members.contains(p)) {
                return; // not every planned unit is related yet: the lowest may be missing
            }
        }
    }
    if let Some(planned) = &s.planned {
        // Units join in id order: a planned lower unit that has not joined the relation yet
        // goes first (ZooKeeper cannot add a joiner below an existing voter's id).
        if planned
            .iter()
            .any(|p| *p < next && !members.contains(p) && !voters.contains(p))
        {
            return;
        }
    }
    if s.unit_address(next).is_none() {
        return;
    }
    plan.cluster_app
        .insert(STARTING_KEY.into(), next.to_string());
}

#[cfg(test)]
mod tests;
