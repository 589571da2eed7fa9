//! The pure decision: `decide(&Snapshot, &Paths) -> Plan`.
//!
//! No I/O happens here. The hook runner executes the plan, observes the world again and
//! decides again, until a plan has nothing left to do; the statuses of the last plan are
//! the unit's status. So every rule below is written as "given what is true now, what is
//! the next safe step", never as "after event X do Y".
//!
//! Safety rules (Charmed ZooKeeper's start and membership bugs are not repeated):
//! - exactly one unit ever bootstraps a new ensemble alone: the one the Juju leader names
//!   in the app bag (`starting`), and only while no member is recorded as added and no
//!   server is reachable;
//! - any other unit starts with the live voting members plus itself, never alone;
//! - one unit is in transition at a time: joining (`starting`), restarting (holding the
//!   restart lock), or upgrading; the leader starts nothing new while another is;
//! - a member is removed (by the leader, or by the departing unit itself) only when the
//!   remaining voters keep a serving majority, and the last voter is never removed.
//!
//! - this module: the order of the parts, this unit's own server (`lifecycle`) and
//!   leaving;
//! - `disk`: the data disk's watchdog (purge, then `blocked`) and the swap warning;
//! - `restart_lock`: both sides of the rolling-restart lock;
//! - `membership`: the leader's start order, quorum membership and `sync` rotation;
//! - `tls`: the `certificates` relation, the unit's TLS files and the plaintext/TLS switch;
//! - [`ports`]: the client ports this unit opens while its server serves;
//! - `crate::upgrade::decide`: the upgrade;
//! - `clients`: what the client relations' decision ([`crate::client::decide`]) needs
//!   from the rest, and where its writes go.

mod clients;
mod disk;
mod membership;
pub mod ports;
mod restart_lock;
mod tls;

pub use tls::{client_ca, client_tls};

use crate::passwords::Credentials;
use crate::plan::{Plan, SecretWrite, WorkloadOp};
use crate::render::{Rendered, Sizing, TlsConfig};
use crate::snapshot::Snapshot;
use crate::status::Status;
use crate::upgrade::decide::Gate;
use crate::workload::Paths;
use crate::zk::ensemble::MembershipOp;
use crate::zk::{Role, ServerSpec};

/// The next safe step. See the module docs. `paths` is where the workload keeps its files
/// (they appear in the rendered files).
pub fn decide(s: &Snapshot, paths: &Paths) -> Plan {
    let mut plan = Plan::default();
    decide_into(s, paths, &mut plan);
    with_passwords(s, paths, &mut plan);
    plan.ports = Some(ports::wanted(s));
    cos_agent(s, &mut plan);
    plan.drop_unchanged(s);
    if let Some(warning) = disk::swap_warning(s).filter(|_| !s.event.dying) {
        for status in &mut plan.statuses {
            status.message = if status.message.is_empty() {
                warning.clone()
            } else {
                format!("{}; {warning}", status.message)
            };
        }
    }
    plan
}

fn decide_into(s: &Snapshot, paths: &Paths, plan: &mut Plan) {
    if s.event.dying {
        leave(s, plan);
        return;
    }

    if !s.workload.installed {
        plan.workload.push(WorkloadOp::Install);
        plan.statuses
            .push(Status::maintenance("installing ZooKeeper"));
        return;
    }

    let config = match &s.config {
        Ok(c) => c.clone(),
        Err(e) => {
            plan.statuses
                .push(Status::blocked(format!("{e}; fix it with `juju config`")));
            return;
        }
    };
    disk::watchdog(s, &config, plan);

    if s.cluster.is_none() {
        plan.statuses
            .push(Status::waiting("waiting for the cluster peer relation"));
        return;
    }

    if s.leader {
        secret_bookkeeping(s, plan);
    }
    let Some(app) = s.cluster.as_ref().map(|c| &c.app) else {
        return;
    };
    if !s.passwords_shared() {
        plan.statuses.push(Status::waiting(
            "waiting for the leader to generate the internal passwords",
        ));
        return;
    }

    // Written only when it changed, like every patch (see `Plan::drop_unchanged`).
    plan.cluster_unit.ip = s.address;

    let tls = tls::unit_side(s, paths, app, plan);
    let exporters = &s.workload.exporters;
    let sizing = Sizing::for_machine(&config, &s.workload.machine);
    let fingerprint = crate::render::fingerprint(
        &config,
        paths,
        s.unit_id,
        app,
        exporters,
        &sizing,
        &tls.config,
    );
    let inputs = crate::render::shared_inputs(&config, app, exporters);
    plan.fingerprint = Some(fingerprint.clone());
    plan.tls_config = Some(tls.config);

    let gate = crate::upgrade::decide::decide_upgrade(s, plan);
    lifecycle(s, &fingerprint, &inputs, gate, tls.may_start, plan);
    if s.leader {
        let lock_busy = restart_lock::leader_side(s, &inputs, plan);
        membership::leader_side(s, lock_busy, plan);
        tls::leader_side(s, plan);
        protect_root(s, &fingerprint, &inputs, lock_busy, plan);
    }
    clients::decide(s, &fingerprint, &inputs, plan);
}

/// Every unit publishes the COS agent's config in its own `cos-agent` bag, whatever state
/// its server is in (a unit that does not serve is what the alerts are for). It is the same
/// value on every hook, so it is written only when the bag does not hold it yet (the plan
/// drops an unchanged write).
fn cos_agent(s: &Snapshot, plan: &mut Plan) {
    if s.cos_agent.is_some() {
        plan.cos_agent_unit.config = Some(crate::cos::agent_config(&s.topology));
    }
}

/// The leader keeps the internal passwords in their secret: creates it (taking over the
/// passwords an earlier revision kept in the bag), and deletes those from the bag.
fn secret_bookkeeping(s: &Snapshot, plan: &mut Plan) {
    let Some(app) = s.cluster.as_ref().map(|c| &c.app) else {
        return;
    };
    if app.internal_secret.is_none() {
        match Credentials::from_legacy(app) {
            Ok(content) => {
                plan.secret = Some(SecretWrite::Create { content });
                plan.cluster_app.drop_legacy = !app.legacy.is_empty();
                plan.cluster_app.drop_legacy_clients = app.legacy.clients.keys().copied().collect();
            }
            Err(e) => plan.statuses.push(Status::blocked(format!(
                "cannot move the internal passwords into a Juju secret: {e}; set new ones with `juju run {}/leader set-password`",
                s.app_name
            ))),
        }
    } else if !app.legacy.is_empty() {
        // Moved already: merge what only the bag has, then delete it from the bag.
        match (
            &s.credentials,
            Credentials::from_legacy(app),
            &app.internal_secret,
        ) {
            (None, _, _) => plan.need_credentials = true,
            // Read, but unusable (the secret is gone, or a value in it breaks the rule; a
            // bag copy that breaks it only goes unused): there is nothing to merge into, and
            // asking for them again would only repeat the round (found by fuzzing). The bag
            // keeps them; say why.
            (Some(Err(why)), _, _) => plan.statuses.push(Status::blocked(format!(
                "cannot use the internal passwords: {why}; set new ones with `juju run {}/leader set-password`",
                s.app_name
            ))),
            (Some(Ok(creds)), Ok(legacy), Some(id)) => {
                let merged = creds.clone().or(&legacy);
                if merged != *creds {
                    plan.secret = Some(SecretWrite::Update {
                        id: id.clone(),
                        content: merged,
                    });
                }
                plan.cluster_app.drop_legacy = true;
                plan.cluster_app.drop_legacy_clients = app.legacy.clients.keys().copied().collect();
            }
            (Some(_), _, _) => {
                plan.cluster_app.drop_legacy = true;
                plan.cluster_app.drop_legacy_clients = app.legacy.clients.keys().copied().collect();
            }
        }
    }
}

/// Once the ensemble runs with the current files everywhere and nothing moves, the leader
/// restricts the ACLs of `/`, `/zookeeper` and `/zookeeper/quota` (once: it records that it
/// did).
fn protect_root(s: &Snapshot, fingerprint: &str, inputs: &str, lock_busy: bool, plan: &mut Plan) {
    let (Some(cluster), Some(restart)) = (&s.cluster, &s.restart) else {
        return;
    };
    if cluster.app.root_acl_restricted
        || lock_busy
        || s.starting().is_some()
        || s.upgrade_in_progress()
        || s.sync_rotation().is_some()
        || s.ensemble.config.is_none()
        || !plan.workload.is_empty()
        || !plan.membership.is_empty()
        || s.local.started_with.as_deref() != Some(fingerprint)
    {
        return;
    }
    let members = s.members();
    let current = members.iter().all(|m| {
        s.started(*m)
            && s.ensemble.serves(*m)
            && (*m == s.unit_id
                || restart.unit(*m).and_then(|u| u.inputs.as_deref()) == Some(inputs))
    });
    if current {
        plan.protect_root = true;
    }
}

/// What needs the passwords themselves gets them: the files a start writes, and `super`
/// for reconfigs and ACLs. They are read only in a round that needs them
/// (`need_credentials`); if they cannot be used, nothing that needs them happens.
fn with_passwords(s: &Snapshot, paths: &Paths, plan: &mut Plan) {
    let files = plan.workload.iter().any(|op| {
        matches!(
            op,
            WorkloadOp::Start { .. } | WorkloadOp::Restart | WorkloadOp::Upgrade { .. }
        )
    });
    let needed = files || !plan.membership.is_empty() || plan.protect_root;
    if !needed {
        return;
    }
    let Some(app) = s.cluster.as_ref().map(|c| &c.app) else {
        return;
    };
    let why = match &s.credentials {
        None => {
            plan.need_credentials = true;
            return;
        }
        Some(Err(why)) => why.clone(),
        Some(Ok(creds)) => match crate::passwords::in_effect(app, creds) {
            Ok(passwords) => {
                if let (true, Ok(config)) = (files, &s.config) {
                    let tls = plan.tls_config.clone().unwrap_or_else(TlsConfig::plaintext);
                    let sizing = Sizing::for_machine(config, &s.workload.machine);
                    plan.rendered = Some(
                        Rendered::new(config, paths, s.unit_id, &passwords, &sizing)
                            .with_exporters(&s.workload.exporters, paths)
                            .with_tls(tls),
                    );
                }
                return;
            }
            Err(e) => e.to_string(),
        },
    };
    plan.workload.retain(|op| {
        !matches!(
            op,
            WorkloadOp::Start { .. } | WorkloadOp::Restart | WorkloadOp::Upgrade { .. }
        )
    });
    plan.membership.clear();
    plan.protect_root = false;
    plan.statuses.push(Status::blocked(format!(
        "cannot use the internal passwords: {why}; set new ones with `juju run {}/leader set-password`",
        s.app_name
    )));
}

/// This unit is leaving: step out of the voting members while that is safe, and stop the
/// server in `stop`/`remove`/storage detaching, once it is out: a voter that stops first
/// takes its vote from the quorum that must commit its removal (with two voters, the
/// remaining one would be left without a quorum for good). In `remove`, the last hook, it
/// stops in any case.
fn leave(s: &Snapshot, plan: &mut Plan) {
    let voters = s.ensemble.voter_units();
    let step_out = s.workload.running
        && voters.contains(&s.unit_id)
        && crate::quorum::keeps_majority_without(&voters, s.unit_id, |v| s.ensemble.serves(v));
    if step_out {
        plan.membership.push(MembershipOp::Remove {
            server_id: s.unit_id + 1,
        });
    }
    if s.event.stopping && s.workload.running && (!step_out || s.event.removing) {
        plan.workload.push(WorkloadOp::Stop);
    }
    plan.statuses.push(Status::maintenance(
        "leaving the ensemble: this unit is being removed",
    ));
}

/// This unit's own server: first start in its turn, recovery start, restart under the lock,
/// and its status. `may_start`: the server may be started (not: it waits for its TLS
/// certificate).
fn lifecycle(
    s: &Snapshot,
    fingerprint: &str,
    inputs: &str,
    gate: Gate,
    may_start: bool,
    plan: &mut Plan,
) {
    let me = s.unit_id;
    let health = s.workload.health.clone().unwrap_or_default();

    if !s.started(me) {
        match s.starting() {
            Some(n) if n == me && !may_start && !s.workload.running => {}
            Some(n) if n == me => first_start(s, &health, plan),
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
        if !may_start {
            return;
        }
        plan.workload.push(WorkloadOp::Start {
            initial_members: None,
        });
        plan.statuses.push(Status::maintenance(
            "starting ZooKeeper (it was not running)",
        ));
        return;
    }

    if gate == Gate::Proceed {
        restart_lock::unit_side(s, &health, fingerprint, inputs, plan);
    }

    // Tell the leader which sync-rotation phase this server runs with, once it does.
    if s.local.started_with.as_deref() == Some(fingerprint) && health.synced() {
        plan.cluster_unit.sync_phase = Some(s.sync_rotation());
    }

    // Restarting now: the old server's health (say, not serving while the ensemble elects
    // after another unit's restart) says nothing about the new one; the status is
    // "restarting".
    if plan.workload.contains(&WorkloadOp::Restart) {
        return;
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

/// This unit's turn to start for the first time: join the live voters, or bootstrap alone
/// when nobody was ever added and no server answers; once running and synced, record
/// `started`.
fn first_start(s: &Snapshot, health: &crate::zk::ensemble::ServerHealth, plan: &mut Plan) {
    let me = s.unit_id;
    if s.workload.running {
        if health.synced() {
            plan.cluster_unit.started = true;
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
                .filter(|m| m.id != own.id && m.role == Role::Participant)
                .cloned()
                .collect();
            if m.is_empty() {
                plan.statuses
                    .push(Status::waiting("waiting for the ensemble's voting members"));
                return;
            }
            m.push(own);
            m
        }
        // Bootstrap: nobody was ever added and no server answers.
        None if s.recorded_voters().is_empty() => vec![own],
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

#[cfg(test)]
mod tests;
