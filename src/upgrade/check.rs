//! `pre-upgrade-check`'s questions, pure: is the ensemble healthy enough to upgrade, in
//! which order do the units go, and how is a failed upgrade's stack repaired for the
//! rollback.

use crate::ghost::Ghost;
use crate::peers::upgrade::{UnitState, UpgradeState};
use crate::snapshot::Snapshot;

/// Why it is not safe to upgrade now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("no ZooKeeper server answered; check that the units are active")]
    NoServerAnswered,
    #[error("{ghost}: the voters must be exactly the serving units, or upgrading one could leave a minority serving; {}", .ghost.remedy())]
    ExtraVoter { ghost: Ghost },
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

/// The voters exactly the units, every unit a serving voting member, a quorum leader with
/// nothing to sync, and no unit joining or restarting.
pub fn ensemble_ready(s: &Snapshot) -> Result<(), NotReady> {
    let voters = s.ensemble.voter_units();
    if s.ensemble.config.is_none() {
        return Err(NotReady::NoServerAnswered);
    }
    if let Some(ghost) = s.ghost_voters().into_iter().next() {
        return Err(NotReady::ExtraVoter { ghost });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use crate::zk::ensemble::ServerHealth;

    /// Unit 0 (the Juju leader) of a healthy three-unit ensemble, edited by `edit`.
    fn ready(edit: impl FnOnce(World) -> World) -> Result<(), NotReady> {
        ensemble_ready(&edit(healthy3(0).leader()).snapshot())
    }

    fn health(w: World, id: u32, h: ServerHealth) -> World {
        let mut w = w;
        w.s.ensemble.health.insert(id, h);
        w
    }

    #[test]
    fn a_healthy_ensemble_is_ready_and_each_problem_is_named() {
        assert_eq!(ready(|w| w), Ok(()));
        let mut no_config = healthy3(0).leader();
        no_config.s.ensemble.config = None;
        let syncing = ServerHealth {
            peer_state: Some("following - synchronization".into()),
            ..following()
        };
        let busy_leader = ServerHealth {
            pending_syncs: Some(1),
            ..leading()
        };
        let table: [(&str, World, NotReady); 7] = [
            ("no config", no_config, NotReady::NoServerAnswered),
            (
                "unit 2 not a voter",
                healthy3(0).ensemble(
                    &[0, 1],
                    &[(0, leading()), (1, following()), (2, following())],
                ),
                NotReady::NotAVoter(2),
            ),
            (
                "unit 1 syncing",
                health(healthy3(0), 1, syncing),
                NotReady::Syncing(1),
            ),
            (
                "unit 2 down",
                health(healthy3(0), 2, down()),
                NotReady::NotServing(2),
            ),
            (
                "no quorum leader",
                health(healthy3(0), 0, following()),
                NotReady::NoLeader,
            ),
            (
                "the leader has syncs pending",
                health(healthy3(0), 0, busy_leader),
                NotReady::PendingSyncs,
            ),
            (
                "unit 2 joining",
                healthy3(0).app("starting", "2"),
                NotReady::Joining(2),
            ),
        ];
        for (what, w, expected) in table {
            assert_eq!(ensemble_ready(&w.snapshot()), Err(expected), "{what}");
        }
        // A unit whose server was never asked counts as not serving.
        let mut unasked = healthy3(0);
        unasked.s.ensemble.health.remove(&1);
        assert_eq!(
            ensemble_ready(&unasked.snapshot()),
            Err(NotReady::NotServing(1))
        );
    }

    /// `w` with server `id` at `host` as a voter in the live config.
    fn with_voter(mut w: World, id: u32, host: &str) -> World {
        let cfg = w.s.ensemble.config.as_mut().unwrap();
        cfg.members.insert(
            id,
            crate::zk::ServerSpec {
                id,
                host: host.into(),
                role: crate::zk::Role::Participant,
            },
        );
        w
    }

    #[test]
    fn a_voter_no_unit_stands_behind_is_refused_and_named() {
        use crate::ghost::Why;
        // A server no unit has, even though every unit serves and is a voter.
        let extra = with_voter(healthy3(0).leader(), 10, "127.0.0.99");
        let err = ensemble_ready(&extra.snapshot()).unwrap_err();
        assert!(
            matches!(&err, NotReady::ExtraVoter { ghost } if ghost.server_id == 10 && ghost.why == Why::NoUnit),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with("voter server.10 at 127.0.0.99 has no unit behind it"),
            "{text}"
        );
        assert!(text.contains("exactly the serving units"), "{text}");
        // Unit 1's seat held by a server at another address (an earlier deployment's).
        let squatted = with_voter(healthy3(0).leader(), 2, "127.0.0.99");
        let err = ensemble_ready(&squatted.snapshot()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("voter server.2 at 127.0.0.99 is not unit 1's server"),
            "{err}"
        );
        // A unit that left while its server kept its seat.
        let mut left = healthy3(0).leader();
        left.cluster.units.remove(&2);
        let err = ensemble_ready(&left.snapshot()).unwrap_err();
        assert!(
            matches!(&err, NotReady::ExtraVoter { ghost } if ghost.server_id == 3),
            "{err:?}"
        );
    }

    #[test]
    fn voters_named_by_the_fqdns_charmed_zookeeper_published_are_the_units() {
        // After a refresh from Charmed ZooKeeper, its server lines name the units by FQDN.
        let mut w = healthy3(0).leader();
        for (id, spec) in w.s.ensemble.config.as_mut().unwrap().members.iter_mut() {
            spec.host = format!("juju-{}.lxd", id - 1);
        }
        for id in 0..3 {
            w = w
                .cluster_unit(id, "hostname", &format!("juju-{id}"))
                .cluster_unit(id, "fqdn", &format!("juju-{id}.lxd"));
        }
        assert_eq!(ensemble_ready(&w.snapshot()), Ok(()));
        // Another name in unit 2's seat is not unit 2's server.
        w.s.ensemble
            .config
            .as_mut()
            .unwrap()
            .members
            .get_mut(&3)
            .unwrap()
            .host = "juju-9.lxd".into();
        let err = ensemble_ready(&w.snapshot()).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "voter server.3 at juju-9.lxd is not unit 2's server (the unit's address is 127.0.0.13, juju-2, juju-2.lxd)"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_held_restart_lock_is_a_restart_in_progress_and_an_idle_marker_is_not() {
        assert_eq!(
            ready(|w| w.restart_app("zookeeper/1", "granted")),
            Err(NotReady::Restarting)
        );
        assert_eq!(ready(|w| w.restart_app("zookeeper/1", "idle")), Ok(()));
    }

    #[test]
    fn the_quorum_leader_upgrades_last_and_the_others_from_the_lowest_id() {
        // (the ZooKeeper leader's unit, members, stack: last element first)
        let table: [(u32, &[u32], Vec<u32>); 4] = [
            (0, &[0, 1, 2], vec![0, 2, 1]),
            (1, &[0, 1, 2], vec![1, 2, 0]),
            (2, &[0, 1, 2, 10], vec![2, 10, 1, 0]),
            (0, &[0], vec![0]),
        ];
        for (zk_leader, units, expected) in table {
            let mut w = World::unit(0, units).started(units).added(units);
            let health: Vec<(u32, ServerHealth)> = units
                .iter()
                .map(|u| {
                    (
                        *u,
                        if *u == zk_leader {
                            leading()
                        } else {
                            following()
                        },
                    )
                })
                .collect();
            w = w.ensemble(units, &health);
            assert_eq!(build_stack(&w.snapshot()), expected, "leader {zk_leader}");
        }
        // Without a quorum leader, every unit goes by id.
        let w = healthy3(0).ensemble(&[0, 1, 2], &[(0, following()), (1, following())]);
        assert_eq!(build_stack(&w.snapshot()), vec![2, 1, 0]);
    }

    #[test]
    fn the_rollback_puts_the_failed_unit_first_then_the_upgraded_ones() {
        // Stack [0, 2] with unit 2 on top (failed); unit 1 completed and was popped.
        let w = healthy3(0)
            .leader()
            .with_upgrade(&[0, 2], &[(0, "ready"), (1, "completed"), (2, "failed")]);
        assert_eq!(recovery_stack(&w.snapshot()), vec![0, 1, 2]);
        // An unreadable stack: the failed unit still goes first, the others below it.
        let w = healthy3(0)
            .leader()
            .with_stack("[0, 2", &[(0, "ready"), (1, "failed"), (2, "completed")]);
        assert_eq!(recovery_stack(&w.snapshot()), vec![0, 2, 1]);
        // No upgrade relation: nothing to repair.
        assert!(recovery_stack(&healthy3(0).snapshot()).is_empty());
    }
}
