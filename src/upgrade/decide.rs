//! The upgrade part of the decision: pure, from the snapshot, adding to the round's plan.
//!
//! Flow: `pre-upgrade-check` (leader) checks the ensemble and writes the stack (the
//! ZooKeeper quorum leader at index 0, so it upgrades last; the last element goes first);
//! every unit then marks itself `ready`. `juju refresh` runs `upgrade-charm` everywhere;
//! each unit notes locally that it runs new charm code whose workload is not rolled out
//! yet. The unit on top of the stack, once every unit is `ready` (or done) and nobody is
//! `upgrading`, stops ZooKeeper, installs the new workload, restarts, waits until synced and
//! marks itself `completed` (or `failed`); the leader pops it and the next unit goes.
//!
//! Guards the lib lacks: a leader change (the pop is level-triggered, any leader does it in
//! any hook); units added mid-upgrade (they run the new code already: `completed`); units
//! removed mid-upgrade (the leader drops them from the stack); a single unit (it is its own
//! "every unit"); a refresh before `pre-upgrade-check` (blocked with what to run, instead of
//! silently running new code on the old workload); an unreadable stack (an upgrade in an
//! unknown state: everything that waits for upgrades waits, and the status says so); a
//! unit whose data disk has no room for the snapshot its server writes when it comes back
//! (it keeps serving the old version, blocked, until the disk has room).

use crate::peers::upgrade::{cluster_state, Stack, UnitState, UpgradeState};
use crate::plan::{Plan, UpgradeFailed, WorkloadOp};
use crate::snapshot::Snapshot;
use crate::status::Status;

/// Whether the normal lifecycle (joins, restart-lock grants) may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Proceed,
    Hold,
}

/// What the operator runs to roll back `app`.
pub fn roll_back(app: &str) -> String {
    format!(
        "roll back: run `juju run {app}/leader pre-upgrade-check`, then `juju refresh {app}` to the previous revision (`--revision N` or `--path <previous .charm>`)"
    )
}

fn prepared(app: &str) -> String {
    format!("upgrade prepared: run `juju refresh {app}` to start it")
}

/// The status of a unit whose upgrade failed: the cause and how to roll back.
fn failed_status(s: &Snapshot) -> Status {
    let cause = s
        .local
        .upgrade_failure
        .as_deref()
        .unwrap_or("the upgrade failed");
    Status::blocked(format!(
        "upgrade failed: {cause}; {}",
        roll_back(&s.app_name)
    ))
}

/// Sets this unit's upgrade state unless it already is `to`.
fn set_own(plan: &mut Plan, own: Option<UpgradeState>, to: UpgradeState) {
    if own != Some(to) {
        plan.upgrade_unit.state = Some(to);
    }
}

/// The upgrade part of the decision. Adds relation writes, workload ops and statuses to
/// `plan`.
pub fn decide_upgrade(s: &Snapshot, plan: &mut Plan) -> Gate {
    let Some(up) = &s.upgrade else {
        return Gate::Proceed;
    };
    let facts = &s.upgrade_facts;
    let pending = s.local.upgrade_pending;
    let me = s.unit_id;
    // This unit writes its own state: one this charm cannot read is reset like a missing one.
    let own = up.unit(me).and_then(|u| u.state.known());

    if s.leader && up.app.dependencies.is_none() {
        plan.upgrade_app.dependencies = Some(facts.compiled_dependencies.clone());
    }

    let stack = match &up.app.stack {
        Stack::Empty => {
            if matches!(
                own,
                None | Some(
                    UpgradeState::Ready | UpgradeState::Upgrading | UpgradeState::Completed
                )
            ) {
                set_own(plan, own, UpgradeState::Idle);
            }
            if own == Some(UpgradeState::Failed) {
                plan.statuses.push(failed_status(s));
                return Gate::Hold;
            }
            if pending {
                plan.statuses.push(Status::blocked(format!(
                    "charm refreshed without pre-upgrade-check, ZooKeeper not upgraded yet: run `juju run {}/leader pre-upgrade-check` to roll it out",
                    s.app_name
                )));
            } else if s.leader
                && facts.compatible.is_ok()
                && up
                    .app
                    .dependencies
                    .as_ref()
                    .is_some_and(|d| *d != facts.compiled_dependencies)
            {
                // The upgrade finished (or this revision changed nothing): record the new model.
                plan.upgrade_app.dependencies = Some(facts.compiled_dependencies.clone());
            }
            return Gate::Proceed;
        }
        Stack::Invalid(_) => {
            plan.statuses.push(Status::blocked(format!(
                "upgrade in an unknown state: the upgrade relation's upgrade-stack is not a list of unit ids, so restarts wait; if no upgrade runs, `juju run {}/leader pre-upgrade-check` prepares a new one",
                s.app_name
            )));
            return Gate::Hold;
        }
        Stack::Units(ids) => ids,
    };

    let members = s.members();
    if s.leader {
        let kept: Vec<u32> = stack
            .iter()
            .copied()
            .filter(|id| members.contains(id))
            .collect();
        if kept != *stack {
            plan.upgrade_app.stack = Some(kept);
        }
    }

    // A unit added mid-upgrade runs the new code already.
    if own.is_none() && !stack.contains(&me) {
        set_own(plan, own, UpgradeState::Completed);
        return Gate::Hold;
    }

    let cluster = cluster_state(up.units.values());
    if matches!(cluster, Some(UpgradeState::Failed | UpgradeState::Recovery)) {
        // Only in `upgrade-charm`: the pending marker outlives a failed upgrade, and the
        // failed unit's next hook of the same refresh must not retry it.
        if s.event.charm_refreshed
            && pending
            && own != Some(UpgradeState::Upgrading)
            && facts.compatible.is_ok()
        {
            // Refreshed again (the rollback): take part in the new round.
            set_own(plan, own, UpgradeState::Ready);
            return Gate::Hold;
        }
        match own {
            Some(UpgradeState::Failed) => plan.statuses.push(failed_status(s)),
            Some(UpgradeState::Recovery) => plan.statuses.push(Status::blocked(format!(
                "ready to rollback application: run `juju refresh {}` to the previous revision",
                s.app_name
            ))),
            _ => {
                let failed = up
                    .units
                    .iter()
                    .find(|(_, u)| u.state == UnitState::Known(UpgradeState::Failed))
                    .map(|(id, _)| *id);
                plan.statuses.push(Status::waiting(match failed {
                    Some(id) => format!(
                        "upgrade stopped: unit {id} failed to upgrade; see its status to roll back"
                    ),
                    None => "upgrade stopped, ready to roll back".to_string(),
                }));
            }
        }
        return Gate::Hold;
    }

    if pending {
        if let Err(why) = &facts.compatible {
            set_own(plan, own, UpgradeState::Failed);
            plan.upgrade_failure = Some(why.to_string());
            plan.statuses.push(Status::blocked(format!(
                "upgrade refused: {why}; {}",
                roll_back(&s.app_name)
            )));
            return Gate::Hold;
        }
    }

    if matches!(own, None | Some(UpgradeState::Idle)) && stack.contains(&me) {
        set_own(plan, own, UpgradeState::Ready);
        plan.statuses.push(Status::waiting(prepared(&s.app_name)));
        return Gate::Hold;
    }

    let top = up.app.stack.next().expect("a stack of units is not empty");
    let top_state = up.unit(top).and_then(|u| u.state.known());
    if s.leader && top_state == Some(UpgradeState::Completed) {
        plan.upgrade_app.stack = Some(stack[..stack.len() - 1].to_vec());
    }

    match own {
        Some(UpgradeState::Upgrading) if !pending => {
            let synced = s.workload.health.as_ref().is_some_and(|h| h.synced());
            if synced {
                set_own(plan, own, UpgradeState::Completed);
                plan.statuses.push(Status::maintenance("upgrade completed"));
            } else if let Some(down) = quorum_out_of_reach(s) {
                // Not this upgrade's fault: the other voters cannot make a majority with
                // this server. Stay `upgrading` and look again in the next hook.
                plan.statuses.push(Status::waiting(format!(
                    "upgraded, waiting for a quorum to rejoin: {down} not serving"
                )));
            } else {
                set_own(plan, own, UpgradeState::Failed);
                plan.upgrade_failure =
                    Some("ZooKeeper did not rejoin the quorum after the upgrade".into());
                plan.statuses.push(Status::blocked(format!(
                    "upgrade failed: ZooKeeper did not rejoin the quorum after the upgrade; {}",
                    roll_back(&s.app_name)
                )));
            }
        }
        Some(UpgradeState::Ready | UpgradeState::Upgrading) if top == me => {
            let others_ok = up.units.iter().filter(|(id, _)| **id != me).all(|(_, u)| {
                matches!(
                    u.state.known(),
                    Some(UpgradeState::Ready | UpgradeState::Completed)
                )
            });
            let fits = s.workload.machine.new_snapshot_fits();
            if !pending {
                plan.statuses.push(Status::waiting(prepared(&s.app_name)));
            } else if let (true, Err(no_room)) = (others_ok, fits) {
                // The server would not come back: it keeps serving the old version.
                plan.statuses.push(Status::blocked(format!(
                    "upgrade held back: {no_room}; {}",
                    crate::machine::GROW_THE_DISK
                )));
            } else if others_ok {
                set_own(plan, own, UpgradeState::Upgrading);
                plan.workload.push(WorkloadOp::Upgrade {
                    if_it_fails: UpgradeFailed {
                        upgrade_unit: crate::peers::upgrade::UnitPatch {
                            state: Some(UpgradeState::Failed),
                        },
                        roll_back: roll_back(&s.app_name),
                    },
                });
                plan.statuses.push(Status::maintenance("upgrading"));
            } else {
                plan.statuses.push(Status::waiting(
                    "waiting for every unit to be refreshed before upgrading",
                ));
            }
        }
        Some(UpgradeState::Ready) => {
            let msg = if pending {
                format!("other units upgrading first: waiting for unit {top}")
            } else {
                prepared(&s.app_name)
            };
            plan.statuses.push(Status::waiting(msg));
        }
        Some(UpgradeState::Completed) => plan.statuses.push(Status::maintenance(
            "upgrade completed, waiting for the other units",
        )),
        _ => {}
    }
    Gate::Hold
}

/// The other voters that do not serve, when too few of them serve to make a majority with
/// this unit's server: then this server cannot rejoin whatever version it runs. The voters
/// are the live ensemble's when a server answered, else the ones the leader recorded.
fn quorum_out_of_reach(s: &Snapshot) -> Option<String> {
    let mut voters = s.ensemble.voter_units();
    if voters.is_empty() {
        voters = s.recorded_voters();
    }
    let down = crate::quorum::out_of_reach_without(&voters, s.unit_id, |id| s.ensemble.serves(id))?;
    Some(
        down.iter()
            .map(|id| s.unit_name_of(*id))
            .collect::<Vec<_>>()
            .join(", "),
    )
}
