//! Both sides of the rolling-restart lock (rolling-ops v0's contract, see
//! [`crate::peers::restart`]): a unit whose files changed asks for the lock and restarts
//! once granted; the leader grants one request at a time, its own last, and none while a
//! voter of the live config has no unit behind it ([`crate::ghost`]).

use crate::ghost::Why;
use crate::peers::restart::{Grant, LockRequest};
use crate::plan::{Plan, WorkloadOp};
use crate::snapshot::Snapshot;
use crate::status::Status;
use crate::zk::ensemble::ServerHealth;

/// The status of a unit that waits for the restart lock.
const WAITING_FOR_LOCK: &str = "waiting for restart lock";

/// Unit side: request the lock when the running server was started with other files than
/// the ones rendered now; restart when granted; release once back in the quorum and synced,
/// and then report the app-wide `inputs` it is up to date with.
pub(super) fn unit_side(
    s: &Snapshot,
    health: &ServerHealth,
    fingerprint: &str,
    inputs: &str,
    plan: &mut Plan,
) {
    let needs_restart = s.local.started_with.as_deref() != Some(fingerprint);
    let Some(restart) = &s.restart else {
        if needs_restart {
            plan.statuses.push(Status::waiting(
                "restart needed, waiting for the restart peer relation",
            ));
        }
        return;
    };
    let own = restart.unit(s.unit_id).and_then(|u| u.request);
    let granted = restart.app.granted(s.unit_id);
    if !needs_restart && health.synced() {
        plan.restart_unit.inputs = Some(inputs.to_string());
    }

    if let (true, Err(no_room)) = (needs_restart, s.workload.machine.new_snapshot_fits()) {
        // The server would not come back: keep it serving, give the lock back (or do not
        // ask for it), and say why.
        if granted && own != Some(LockRequest::Release) {
            plan.restart_unit.request = Some(Some(LockRequest::Release));
        } else if !granted && own == Some(LockRequest::Acquire) {
            plan.restart_unit.request = Some(None);
            plan.restart_unit.requested_at = Some(None);
        }
        plan.statuses.push(Status::blocked(format!(
            "restart needed but held back: {no_room}; {}",
            super::disk::GROW
        )));
        return;
    }

    if needs_restart {
        if granted {
            plan.workload.push(WorkloadOp::Restart);
            plan.statuses.push(Status::maintenance("restarting"));
        } else {
            if own != Some(LockRequest::Acquire) {
                plan.restart_unit.request = Some(Some(LockRequest::Acquire));
                plan.restart_unit.requested_at = Some(Some(s.event.now.clone()));
            }
            plan.statuses.push(Status::waiting(WAITING_FOR_LOCK));
        }
    } else if granted {
        if own != Some(LockRequest::Release) {
            if health.synced() {
                plan.restart_unit.request = Some(Some(LockRequest::Release));
            } else {
                plan.statuses.push(Status::waiting(
                    "restarted, waiting to sync with the quorum",
                ));
            }
        }
    } else if own == Some(LockRequest::Acquire) {
        // Nothing to do any more (the config went back): withdraw the request.
        plan.restart_unit.request = Some(None);
        plan.restart_unit.requested_at = Some(None);
    }
}

/// Leader side: clear released and departed grants, then grant the earliest request while
/// nobody holds the lock and nobody else is in transition. The leader's own request goes
/// last: after the other requests, and only once every other started unit reports that it
/// runs with the current `inputs` (a unit that has not seen a change yet has not requested
/// either). Returns whether the lock is held after this round.
pub(super) fn leader_side(s: &Snapshot, inputs: &str, plan: &mut Plan) -> bool {
    let Some(restart) = &s.restart else {
        return false;
    };
    let members = s.members();
    let mut held = false;
    for (id, grant) in &restart.app.grants {
        if !members.contains(id) {
            // A departed unit's grant or idle marker is dropped.
            plan.restart_app.grants.insert(*id, None);
            continue;
        }
        if *grant == Grant::Granted {
            if restart.unit(*id).and_then(|u| u.request) == Some(LockRequest::Release) {
                plan.restart_app.grants.insert(*id, Some(Grant::Idle));
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
        .filter_map(|id| Some((*id, restart.unit(*id)?)))
        .filter(|(id, u)| u.request == Some(LockRequest::Acquire) && !restart.app.granted(*id))
        .map(|(id, u)| {
            let at = u.requested_at.clone().unwrap_or_default();
            (id == s.unit_id, at, id)
        })
        .collect();
    queue.sort();
    let Some((_, _, id)) = queue.first() else {
        return false;
    };
    // With a voter no unit stands behind, one restarting unit can be the majority's loss.
    if let Some(ghost) = s.ghost_voters().into_iter().next() {
        let message = format!(
            "restart of {} held back: {ghost}; {}",
            s.unit_name_of(*id),
            ghost.remedy()
        );
        plan.statuses.push(match ghost.why {
            Why::NoUnit => Status::waiting(message),
            Why::OtherAddress { .. } => Status::blocked(message),
        });
        return false;
    }
    if *id == s.unit_id {
        let behind: Vec<String> = members
            .iter()
            .filter(|m| {
                **m != s.unit_id
                    && s.started(**m)
                    && restart.unit(**m).and_then(|u| u.inputs.as_deref()) != Some(inputs)
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
    plan.restart_app.grants.insert(*id, Some(Grant::Granted));
    true
}
