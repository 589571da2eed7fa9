//! Each peer relation's hooks (`cluster`, `restart`, `upgrade` × created, joined, changed,
//! departed, broken) on the leader and on a non-leader: in a settled ensemble they change
//! nothing; the ones that carry news (a unit joins or leaves, a lock is asked for, an
//! upgrade step completes) move the application on by one safe step.

use std::collections::BTreeSet;

use zookeeper_charm::peers::cluster;
use zookeeper_charm::peers::restart::{self, Grant, LockRequest};
use zookeeper_charm::peers::upgrade::{self, UpgradeState};
use zookeeper_charm::status::Status;
use zookeeper_charm::zk::ensemble::{MembershipOp, ServerHealth};

use crate::scenario::*;

const ENDPOINTS: [&str; 3] = ["cluster", "restart", "upgrade"];
const KINDS: [&str; 5] = ["created", "joined", "changed", "departed", "broken"];

#[test]
fn every_peer_relation_hook_on_a_steady_ensemble_changes_nothing() {
    for endpoint in ENDPOINTS {
        for kind in KINDS {
            if kind == "departed" {
                continue; // below: a departure is news
            }
            for (me, leader) in [(1, false), (0, true)] {
                let mut hook = Hook::relation(endpoint, kind).steady(me, 3).leader(leader);
                if matches!(kind, "joined" | "changed") {
                    hook = hook.remote(2);
                }
                let out = hook.run();
                out.ok();
                let what = format!("{endpoint}-relation-{kind}, leader {leader}");
                assert_eq!(out.ran("relation-set"), 0, "{what}: {}", out.describe());
                assert_eq!(out.status(), None, "{what}");
                assert!(out.lifecycle().is_empty(), "{what}");
                assert!(out.reconfigs().is_empty(), "{what}");
            }
        }
    }
}

#[test]
fn a_departed_unit_is_removed_from_the_quorum_by_the_leader_only() {
    for endpoint in ENDPOINTS {
        // The leader, in whichever peer relation's departed hook comes first.
        let out = Hook::relation(endpoint, "departed")
            .steady(0, 3)
            .leader(true)
            .departing(2)
            .with(|w| {
                w.restart_app = restart::AppPatch {
                    grants: [(2, Some(Grant::Idle))].into(),
                }
                .to_bag(APP);
            })
            .run();
        out.ok();
        let ops: Vec<MembershipOp> = out.reconfigs().into_iter().map(|r| r.op).collect();
        assert_eq!(
            ops,
            [MembershipOp::Remove { server_id: 3 }],
            "{endpoint}: {}",
            out.describe()
        );
        assert_eq!(
            out.cluster_app().recorded.get(&2),
            Some(&cluster::Recorded::Removed),
            "the next round sees it gone and records it"
        );
        assert!(
            restart::App::from_bag(&out.app_bag(RESTART), APP)
                .grants
                .is_empty(),
            "a departed unit's lock marker is dropped"
        );

        // A non-leader sees it go and does nothing about it.
        let out = Hook::relation(endpoint, "departed")
            .steady(1, 3)
            .departing(2)
            .run();
        out.ok();
        assert!(out.reconfigs().is_empty(), "{endpoint}: {}", out.describe());
        assert_eq!(out.ran("relation-set"), 0);
        assert!(out.health_asked().len() <= 1, "only its own server");
    }
}

#[test]
fn the_departing_unit_steps_out_of_the_quorum_itself_while_the_rest_keep_a_majority() {
    for (me, leader) in [(2, false), (0, true)] {
        let out = Hook::relation("cluster", "departed")
            .steady(me, 3)
            .leader(leader)
            .departing(me)
            .run();
        out.ok();
        let ops: Vec<MembershipOp> = out.reconfigs().into_iter().map(|r| r.op).collect();
        assert_eq!(
            ops,
            [MembershipOp::Remove { server_id: me + 1 }],
            "{}",
            out.describe()
        );
        assert!(out.lifecycle().is_empty(), "it stops only in the stop hook");
        assert_eq!(
            out.status(),
            Some(Status::maintenance(
                "leaving the ensemble: this unit is being removed"
            ))
        );
    }
}

#[test]
fn a_leader_that_sees_no_peers_removes_no_live_voter() {
    // Juju LP#2053055: the leader's relation-list can come back empty while the other
    // units are alive; it must not read that as "every other unit left".
    for hook in [Hook::update_status(), Hook::relation("cluster", "changed")] {
        let out = hook
            .steady(0, 3)
            .leader(true)
            .with(|w| {
                w.units = [0].into();
            })
            .run();
        out.ok();
        assert!(out.reconfigs().is_empty(), "{}", out.describe());
        assert_eq!(
            out.cluster_app().recorded_voters(),
            [0, 1, 2].into(),
            "no record changes either"
        );
    }
    // Told that one unit departs, it removes that one only.
    let out = Hook::relation("cluster", "departed")
        .steady(0, 3)
        .leader(true)
        .departing(2)
        .with(|w| {
            w.units = [0].into();
        })
        .run();
    out.ok();
    let ops: Vec<MembershipOp> = out.reconfigs().into_iter().map(|r| r.op).collect();
    assert_eq!(
        ops,
        [MembershipOp::Remove { server_id: 3 }],
        "{}",
        out.describe()
    );
}

#[test]
fn a_departed_voter_stays_while_the_rest_could_not_keep_a_majority_without_it() {
    let out = Hook::relation("cluster", "departed")
        .steady(0, 3)
        .leader(true)
        .departing(2)
        .with(|w| {
            w.servers
                .insert(1, ServerHealth::down("connection refused"));
        })
        .run();
    out.ok();
    assert!(out.reconfigs().is_empty(), "{}", out.describe());
}

#[test]
fn a_joining_unit_is_named_to_start_next_by_the_leader_only() {
    let joined = |me: u32, leader: bool| {
        Hook::relation("cluster", "joined")
            .steady(me, 3)
            .leader(leader)
            .remote(3)
            .with(|w| {
                w.units.insert(3);
                w.cluster_units.insert(
                    3,
                    cluster::UnitPatch {
                        ip: Some(addr(3).parse().unwrap()),
                        ..Default::default()
                    }
                    .to_bag(),
                );
                w.restart_units.insert(3, Default::default());
                w.upgrade_units.insert(3, Default::default());
            })
            .run()
    };
    let out = joined(0, true);
    out.ok();
    assert_eq!(out.cluster_app().starting, Some(3), "{}", out.describe());
    assert_eq!(
        out.ran("goal-state"),
        1,
        "it checks that no lower unit is planned"
    );
    assert!(
        out.reconfigs().is_empty(),
        "it is added once it runs and is synced"
    );

    let out = joined(1, false);
    out.ok();
    assert_eq!(out.ran("relation-set"), 0, "{}", out.describe());
    assert_eq!(out.ran("goal-state"), 0);
}

#[test]
fn a_started_and_synced_joiner_is_added_to_the_quorum_and_its_turn_ends() {
    let out = Hook::relation("cluster", "changed")
        .steady(0, 3)
        .leader(true)
        .remote(2)
        .with(|w| {
            w.voters.remove(&2);
            w.cluster_app.remove("2");
            w.cluster_app.extend(
                cluster::AppPatch {
                    starting: Some(Some(2)),
                    ..Default::default()
                }
                .to_bag(),
            );
        })
        .run();
    out.ok();
    let ops: Vec<MembershipOp> = out.reconfigs().into_iter().map(|r| r.op).collect();
    assert!(
        matches!(&ops[..], [MembershipOp::Add(spec)] if spec.id == 3 && spec.host == addr(2)),
        "{}",
        out.describe()
    );
    let app = out.cluster_app();
    assert_eq!(app.starting, None, "the turn is over");
    assert_eq!(app.recorded.get(&2), Some(&cluster::Recorded::Added));
    // The reconfig was conditional on the version the hook read.
    assert_eq!(
        out.reconfigs()[0].expected_version,
        Some(out.world.version())
    );
}

#[test]
fn the_leader_grants_the_restart_lock_to_one_unit_at_a_time() {
    let asking = |at: &str| {
        restart::UnitPatch {
            request: Some(Some(LockRequest::Acquire)),
            requested_at: Some(Some(at.to_string())),
            ..Default::default()
        }
        .to_bag()
    };
    let out = Hook::relation("restart", "changed")
        .steady(0, 3)
        .leader(true)
        .remote(2)
        .with(|w| {
            w.restart_units
                .get_mut(&2)
                .unwrap()
                .extend(asking("00000000000000000002"));
            w.restart_units
                .get_mut(&1)
                .unwrap()
                .extend(asking("00000000000000000003"));
        })
        .run();
    out.ok();
    let app = restart::App::from_bag(&out.app_bag(RESTART), APP);
    assert!(app.granted(2), "{}", out.describe());
    assert!(!app.granted(1), "the later request waits");

    // A non-leader does not grant.
    let out = Hook::relation("restart", "changed")
        .steady(1, 3)
        .remote(2)
        .with(|w| {
            w.restart_units
                .get_mut(&2)
                .unwrap()
                .extend(asking("00000000000000000002"));
        })
        .run();
    out.ok();
    assert!(out.writes(RESTART, true).is_empty(), "{}", out.describe());
}

#[test]
fn the_leader_pops_a_completed_unit_off_the_upgrade_stack() {
    let out = Hook::relation("upgrade", "changed")
        .steady(0, 3)
        .leader(true)
        .remote(1)
        .with(|w| {
            w.set_stack(&[0, 2, 1]);
            w.set_upgrade_state(0, UpgradeState::Ready);
            w.set_upgrade_state(1, UpgradeState::Completed);
            w.set_upgrade_state(2, UpgradeState::Ready);
            w.upgrade_pending = true;
        })
        .run();
    out.ok();
    let app = upgrade::App::from_bag(&out.app_bag(UPGRADE));
    assert_eq!(app.stack.units(), [0, 2], "{}", out.describe());
    assert!(
        out.lifecycle().is_empty(),
        "unit 2 goes next, not the leader"
    );

    // Only the leader writes the stack.
    let out = Hook::relation("upgrade", "changed")
        .steady(2, 3)
        .remote(1)
        .with(|w| {
            w.set_stack(&[0, 2, 1]);
            w.set_upgrade_state(0, UpgradeState::Ready);
            w.set_upgrade_state(1, UpgradeState::Completed);
            w.set_upgrade_state(2, UpgradeState::Ready);
        })
        .run();
    out.ok();
    assert!(out.writes(UPGRADE, true).is_empty(), "{}", out.describe());
}

#[test]
fn the_leader_waits_for_a_planned_lower_unit_before_naming_a_higher_one() {
    // Juju plans units 3 and 4; only 4 has joined. ZooKeeper cannot add a joiner below a
    // voter's id, so 3 must go first.
    let joined = |planned: &[u32]| {
        let planned: Vec<u32> = planned.to_vec();
        Hook::relation("cluster", "joined")
            .steady(0, 3)
            .leader(true)
            .remote(4)
            .with(move |w| {
                w.units.insert(4);
                w.cluster_units.insert(
                    4,
                    cluster::UnitPatch {
                        ip: Some(addr(4).parse().unwrap()),
                        ..Default::default()
                    }
                    .to_bag(),
                );
                w.goal = Some(
                    planned
                        .iter()
                        .map(|id| (unit_name(*id), "active".to_string()))
                        .collect(),
                );
            })
            .run()
    };
    let out = joined(&[0, 1, 2, 3, 4]);
    out.ok();
    assert_eq!(out.cluster_app().starting, None, "{}", out.describe());
    assert_eq!(out.ran("relation-set"), 0);
    // Once unit 3 is no longer planned (removed before it joined), 4 goes.
    let out = joined(&[0, 1, 2, 4]);
    out.ok();
    assert_eq!(out.cluster_app().starting, Some(4), "{}", out.describe());
}

#[test]
fn the_leader_names_the_lowest_unit_once_it_is_in_the_relation_before_its_joined_hook_ran() {
    // A fresh deploy of 3 units seen by the leader, unit 1: its relation-list shows unit 2
    // only; unit 0 entered the relation too (its bag is readable), but the leader has not
    // run its `-joined` yet, which may queue behind many other hooks.
    let deploy = |zero_entered: bool| {
        Hook::relation("cluster", "changed")
            .fresh(1, 3)
            .leader(true)
            .remote(2)
            .with(move |w| {
                w.share_passwords();
                w.units.remove(&0);
                if !zero_entered {
                    w.cluster_units.remove(&0);
                }
                w.goal = Some(
                    [0, 1, 2]
                        .iter()
                        .map(|id| (unit_name(*id), "waiting".to_string()))
                        .collect(),
                );
            })
            .run()
    };
    let out = deploy(true);
    out.ok();
    assert_eq!(out.cluster_app().starting, Some(0), "{}", out.describe());
    assert_eq!(
        out.local().planned_units,
        BTreeSet::from([0, 1, 2]),
        "it remembers what Juju planned"
    );

    // Not in the relation yet: nobody starts before it (it is the lowest planned unit).
    let out = deploy(false);
    out.ok();
    assert_eq!(out.cluster_app().starting, None, "{}", out.describe());
}

#[test]
fn the_unit_whose_turn_it_is_asks_the_recorded_voters_it_has_not_seen_join_yet() {
    // Units 0 and 1 are voters; unit 2's turn. Its relation-list shows neither yet.
    let out = Hook::relation("upgrade", "changed")
        .steady(2, 3)
        .remote(1)
        .with(|w| {
            w.units = BTreeSet::from([2]);
            w.voters.remove(&2);
            w.servers.remove(&2);
            w.running = false;
            w.started_with = None;
            w.cluster_units.insert(
                2,
                cluster::UnitPatch {
                    ip: Some(addr(2).parse().unwrap()),
                    ..Default::default()
                }
                .to_bag(),
            );
            w.cluster_app.remove("2");
            w.cluster_app.insert("starting".into(), "2".into());
        })
        .run();
    out.ok();
    assert!(
        out.lifecycle()
            .iter()
            .any(|c| format!("{c:?}").contains("Start")),
        "it starts, joining the voters: {}",
        out.describe()
    );
    let asked = out.health_asked();
    assert!(
        asked.contains(&addr(0)) && asked.contains(&addr(1)),
        "{asked:?}"
    );
}

#[test]
fn a_new_leader_keeps_the_turn_of_a_unit_it_has_not_seen_join_while_juju_has_it_in_the_relation() {
    // Units 0-2 run; the previous leader named unit 3, which entered the relation, but the
    // new leader (unit 0, no memory of what Juju planned) has not run its `-joined` yet.
    let run = |planned: &[u32]| {
        let planned: Vec<u32> = planned.to_vec();
        Hook::update_status()
            .steady(0, 3)
            .leader(true)
            .with(move |w| {
                w.cluster_units.insert(
                    3,
                    cluster::UnitPatch {
                        ip: Some(addr(3).parse().unwrap()),
                        ..Default::default()
                    }
                    .to_bag(),
                );
                w.cluster_app.insert("starting".into(), "3".into());
                w.goal = Some(
                    planned
                        .iter()
                        .map(|id| (unit_name(*id), "waiting".to_string()))
                        .collect(),
                );
            })
            .run()
    };
    let out = run(&[0, 1, 2, 3]);
    out.ok();
    assert_eq!(out.cluster_app().starting, Some(3), "{}", out.describe());
    assert!(out.writes(CLUSTER, true).is_empty(), "{}", out.describe());

    // Removed before it joined: its turn ends.
    let out = run(&[0, 1, 2]);
    out.ok();
    assert_eq!(out.cluster_app().starting, None, "{}", out.describe());
}
