//! The leader's side of the membership: keep the `"<id>": added|removed` records in step
//! with the live config, move a `sync` rotation on, schedule the next unit to start, add
//! it once synced, and remove members whose units left.

use std::collections::BTreeSet;

use crate::peers::cluster::Recorded;
use crate::plan::Plan;
use crate::snapshot::Snapshot;
use crate::zk::ensemble::MembershipOp;

/// Runs the leader's membership rules; `lock_busy` says a unit holds the restart lock.
pub(super) fn leader_side(s: &Snapshot, lock_busy: bool, plan: &mut Plan) {
    let Some(cluster) = &s.cluster else { return };
    let members = s.members();
    let recorded = s.recorded_voters();
    let voters = s.ensemble.voter_units();
    let config_known = s.ensemble.config.is_some();

    if config_known {
        for v in &voters {
            if members.contains(v) && !recorded.contains(v) {
                plan.cluster_app.recorded.insert(*v, Recorded::Added);
            }
        }
        for a in &recorded {
            if !voters.contains(a) && !members.contains(a) {
                plan.cluster_app.recorded.insert(*a, Recorded::Removed);
            }
        }
    }

    // A sync rotation moves to its next phase once every unit runs with the current one.
    if let Some(phase) = s.sync_rotation() {
        let all_there = members
            .iter()
            .all(|m| cluster.unit(*m).and_then(|u| u.sync_phase) == Some(phase));
        if all_there && !lock_busy {
            match crate::passwords::advance_rotation(&cluster.app, phase, s.credentials()) {
                Some((patch, content)) => {
                    plan.cluster_app.merge(patch);
                    if let (Some(content), Some(id)) = (content, &cluster.app.internal_secret) {
                        plan.secret = Some(crate::plan::SecretWrite::Update {
                            id: id.clone(),
                            content,
                        });
                    }
                }
                // The last step moves the new password in the secret: read it first.
                None if s.credentials.is_none() => plan.need_credentials = true,
                None => {}
            }
        }
    }

    match s.starting() {
        Some(x) if !members.contains(&x) || voters.contains(&x) || s.leaving(x) => {
            // Gone (or going) before it joined, or joined: the turn is over.
            plan.cluster_app.starting = Some(None);
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
        // Guard against a leader that sees no peers at all (juju LP#2053055): only remove
        // a unit it was told is departing, or when it does see other units.
        let sees_peers = members.len() > 1;
        let removable = voters.iter().copied().find(|v| {
            !members.contains(v)
                && (sees_peers || s.event.departing == Some(*v))
                && crate::quorum::keeps_majority_without(&voters, *v, |r| s.ensemble.serves(r))
        });
        if let Some(v) = removable {
            plan.membership
                .push(MembershipOp::Remove { server_id: v + 1 });
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
    // A unit on its way out (it may have just stepped out of the quorum itself) is not
    // started or added again.
    let candidate = members
        .iter()
        .copied()
        .find(|m| !voters.contains(m) && !s.leaving(*m));
    let Some(next) = candidate else { return };
    if !config_known {
        let anyone_started = members.iter().any(|m| s.started(*m));
        if !s.recorded_voters().is_empty() || anyone_started {
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
    plan.cluster_app.starting = Some(Some(next));
}
