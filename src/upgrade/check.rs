//! `pre-upgrade-check`'s questions, pure: is the ensemble healthy enough to upgrade, in
//! which order do the units go, and how is a failed upgrade's stack repaired for the
//! rollback.

use crate::peers::upgrade::{UnitState, UpgradeState};
use crate::snapshot::Snapshot;

/// Why it is not safe to upgrade now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("no ZooKeeper server answered; check that the units are active")]
    NoServerAnswered,
    #[error("unit {0} is not a voting member of the quorum yet; wait until every unit is active")]
    NotAVoter(u32),
    #[error("unit {0} is still syncing with the quorum leader")]
    Syncing(u32),
    #[error("unit {0} is not serving requests; fix it before upgrading")]
    NotServing(u32),
    #[error("no ZooKeeper quorum leader was found")]
    NoLeader,
    #[error("some quorum members are still syncing data")]
    PendingSyncs,
    #[error("unit {0} is still joining the ensemble")]
    Joining(u32),
    #[error("a rolling restart is in progress")]
    Restarting,
}

/// Every unit a serving voting member, a quorum leader with nothing to sync, and no unit
/// joining or restarting.
pub fn ensemble_ready(s: &Snapshot) -> Result<(), NotReady> {
    let voters = s.ensemble.voter_units();
    if s.ensemble.config.is_none() {
        return Err(NotReady::NoServerAnswered);
    }
    for id in s.members() {
        if !voters.contains(&id) {
            return Err(NotReady::NotAVoter(id));
        }
        match s.ensemble.health.get(&id) {
            Some(h) if h.synced() => {}
            Some(h) if h.serving => return Err(NotReady::Syncing(id)),
            _ => return Err(NotReady::NotServing(id)),
        }
    }
    let Some(leader) = s.ensemble.leader_unit() else {
        return Err(NotReady::NoLeader);
    };
    if s.ensemble
        .health
        .get(&leader)
        .and_then(|h| h.pending_syncs)
        .unwrap_or(0)
        > 0
    {
        return Err(NotReady::PendingSyncs);
    }
    if let Some(n) = s.starting() {
        return Err(NotReady::Joining(n));
    }
    if s.restart
        .as_ref()
        .is_some_and(|r| r.app.grants.keys().any(|id| r.app.granted(*id)))
    {
        return Err(NotReady::Restarting);
    }
    Ok(())
}

/// The upgrade order: the ZooKeeper quorum leader at index 0 (it upgrades last), then the
/// other units by descending id, so the lowest id (last element) upgrades first.
pub fn build_stack(s: &Snapshot) -> Vec<u32> {
    let leader = s.ensemble.leader_unit();
    let mut stack: Vec<u32> = leader.into_iter().collect();
    stack.extend(
        s.members()
            .into_iter()
            .rev()
            .filter(|id| Some(*id) != leader),
    );
    stack
}

/// The stack for rolling back a failed upgrade: the failed unit (on top of the stack, or,
/// when the stack cannot be read, the lowest failed unit) rolls back first, then the units
/// already upgraded, which are put back just below it.
pub fn recovery_stack(s: &Snapshot) -> Vec<u32> {
    let Some(up) = &s.upgrade else {
        return Vec::new();
    };
    let mut repaired = up.app.stack.units().to_vec();
    let top = repaired.pop().or_else(|| {
        up.units
            .iter()
            .find(|(_, u)| u.state == UnitState::Known(UpgradeState::Failed))
            .map(|(id, _)| *id)
    });
    for id in s.members() {
        if !repaired.contains(&id) && Some(id) != top {
            repaired.push(id);
        }
    }
    repaired.extend(top);
    repaired
}
