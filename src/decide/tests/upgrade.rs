//! Upgrade guards the upgrade lib lacks, and an unreadable stack.

use super::*;
use crate::peers::upgrade::UpgradeState;

fn with_stack(w: World, stack: &str, states: &[(u32, &str)]) -> World {
    w.with_stack(stack, states)
}

fn with_upgrade(w: World, stack: &[u32], states: &[(u32, &str)]) -> World {
    w.with_upgrade(stack, states)
}

fn upgrades(plan: &Plan) -> bool {
    plan.workload
        .iter()
        .any(|op| matches!(op, WorkloadOp::Upgrade { .. }))
}

#[test]
fn a_single_unit_upgrades_itself_once_refreshed() {
    let mut w = with_upgrade(
        World::unit(0, &[0])
            .leader()
            .started(&[0])
            .added(&[0])
            .running(leading())
            .ensemble(&[0], &[(0, leading())]),
        &[0],
        &[(0, "ready")],
    );
    w.s.local.upgrade_pending = true;
    let plan = w.plan();
    match &plan.workload[..] {
        [WorkloadOp::Upgrade { if_it_fails }] => {
            assert_eq!(if_it_fails.upgrade_unit.state, Some(UpgradeState::Failed));
            assert!(
                if_it_fails.roll_back.contains("juju refresh zookeeper"),
                "{}",
                if_it_fails.roll_back
            );
        }
        other => panic!("expected an upgrade, got {other:?}"),
    }
    assert_eq!(plan.upgrade_unit.state, Some(UpgradeState::Upgrading));
}

#[test]
fn any_leader_pops_a_completed_top_so_a_leader_change_does_not_stall_the_stack() {
    // Unit 1 (top) completed while another unit led; the new leader pops it in any hook.
    let w = with_upgrade(
        healthy3(2).leader(),
        &[0, 2, 1],
        &[(0, "ready"), (1, "completed"), (2, "ready")],
    );
    assert_eq!(w.plan().upgrade_app.stack, Some(vec![0, 2]));
}

#[test]
fn a_unit_added_mid_upgrade_counts_as_upgraded() {
    let w = with_upgrade(
        World::unit(3, &[0, 1, 2, 3]),
        &[0, 2, 1],
        &[(0, "ready"), (1, "ready"), (2, "ready")],
    );
    assert_eq!(w.plan().upgrade_unit.state, Some(UpgradeState::Completed));
}

#[test]
fn the_leader_drops_a_removed_unit_from_the_stack() {
    // Unit 1 left mid-upgrade: it is no longer a peer.
    let w = with_upgrade(
        World::unit(0, &[0, 2])
            .leader()
            .started(&[0, 2])
            .added(&[0, 2])
            .running(leading())
            .ensemble(&[0, 2], &[(0, leading()), (2, following())]),
        &[0, 2, 1],
        &[(0, "ready"), (2, "ready")],
    );
    assert_eq!(w.plan().upgrade_app.stack, Some(vec![0, 2]));
}

#[test]
fn nobody_upgrades_while_another_unit_is_still_idle() {
    let mut w = with_upgrade(
        healthy3(1),
        &[0, 2, 1],
        &[(0, "idle"), (1, "ready"), (2, "ready")],
    );
    w.s.local.upgrade_pending = true;
    let plan = w.plan();
    assert!(!upgrades(&plan), "{:?}", plan.workload);
}

/// Unit 0 of `units` just upgraded (state `upgrading`, top of the stack) and does not serve;
/// the other units' servers are as `others` says; no server answered `conf`.
fn upgraded_not_serving(units: &[u32], others: &[(u32, ServerHealth)]) -> World {
    let mut health = vec![(0, down())];
    health.extend(others.iter().cloned());
    let mut w = with_upgrade(
        World::unit(0, units)
            .started(units)
            .added(units)
            .running(down())
            .ensemble(units, &health),
        &[1, 0],
        &[(0, "upgrading"), (1, "ready")],
    );
    w.s.ensemble.config = None;
    w
}

#[test]
fn an_upgraded_server_that_cannot_make_a_majority_waits_instead_of_failing() {
    // Two voters, the other one's server is down (killed): no version could rejoin.
    let plan = upgraded_not_serving(&[0, 1], &[(1, down())]).plan();
    assert!(plan.upgrade_failure.is_none(), "{:?}", plan.upgrade_failure);
    assert_eq!(plan.upgrade_unit.state, None, "{:?}", plan.upgrade_unit);
    assert!(
        plan.statuses.contains(&Status::waiting(
            "upgraded, waiting for a quorum to rejoin: zookeeper/1 not serving"
        )),
        "{:?}",
        plan.statuses
    );
    // What the unit shows: no quorum (outranks the waiting), not a failed upgrade.
    assert!(
        !status(&plan).message.contains("upgrade failed"),
        "{:?}",
        status(&plan)
    );
    // Three voters, both others down: still out of this unit's hands.
    let plan = upgraded_not_serving(&[0, 1, 2], &[(1, down()), (2, down())]).plan();
    assert!(plan.upgrade_failure.is_none());
}

#[test]
fn an_upgraded_server_that_could_make_a_majority_and_does_not_rejoin_fails() {
    // The other voter serves: the new version is what keeps this server out.
    let plan = upgraded_not_serving(&[0, 1], &[(1, following())]).plan();
    assert_eq!(plan.upgrade_unit.state, Some(UpgradeState::Failed));
    assert!(plan.upgrade_failure.is_some());
    // Three voters, one other down, one serving: a majority with this one is possible.
    let plan = upgraded_not_serving(&[0, 1, 2], &[(1, down()), (2, leading())]).plan();
    assert_eq!(plan.upgrade_unit.state, Some(UpgradeState::Failed));
}

#[test]
fn an_upgraded_server_that_rejoined_completes() {
    let mut w = upgraded_not_serving(&[0, 1], &[(1, leading())]);
    w.s.workload.health = Some(following());
    let plan = w.plan();
    assert_eq!(plan.upgrade_unit.state, Some(UpgradeState::Completed));
}

#[test]
fn an_unreadable_stack_is_an_upgrade_in_an_unknown_state_that_holds_restarts() {
    // A restart is needed, but the stack cannot be read: the unit must not take the lock
    // as if no upgrade ran, and says why it waits.
    let w = with_stack(
        healthy3(1).new_tick_time(),
        "[1, 2",
        &[(0, "idle"), (1, "idle"), (2, "idle")],
    );
    assert!(w.snapshot().upgrade_in_progress());
    let plan = w.plan();
    assert!(plan.restart_unit.is_empty(), "{:?}", plan.restart_unit);
    assert!(plan.workload.is_empty());
    let st = status(&plan);
    assert_eq!(st.kind, StatusKind::Blocked);
    assert!(st.message.contains("unknown state"), "{}", st.message);
    assert!(
        st.message
            .contains("juju run zookeeper/leader pre-upgrade-check"),
        "{}",
        st.message
    );
}

#[test]
fn the_leader_grants_and_schedules_nothing_while_the_stack_is_unreadable() {
    let w = with_stack(
        World::unit(0, &[0, 1, 2, 3])
            .leader()
            .started(&[0, 1, 2])
            .added(&[0, 1, 2])
            .running(leading())
            .ensemble(
                &[0, 1, 2],
                &[(0, leading()), (1, following()), (2, following())],
            )
            .up_to_date(&[0, 1, 2])
            .restart_unit(1, "state", "acquire"),
        "garbage",
        &[(0, "idle"), (1, "idle"), (2, "idle")],
    );
    let plan = w.plan();
    assert!(plan.restart_app.is_empty(), "{:?}", plan.restart_app);
    assert_eq!(plan.cluster_app.starting, None, "unit 3 must not start now");
    // An empty stack is no upgrade: the same world grants and schedules.
    let w = World { upgrade: None, ..w };
    let plan = w.plan();
    assert!(!plan.restart_app.is_empty());
}

#[test]
fn a_refresh_without_pre_upgrade_check_is_blocked_with_what_to_run() {
    let mut w = with_upgrade(healthy3(1), &[], &[(0, "idle"), (1, "idle"), (2, "idle")]);
    w.s.local.upgrade_pending = true;
    let st = status(&w.plan());
    assert_eq!(st.kind, StatusKind::Blocked);
    assert!(
        st.message
            .contains("run `juju run zookeeper/leader pre-upgrade-check` to roll it out"),
        "{}",
        st.message
    );
}

#[test]
fn messages_name_the_application_as_deployed() {
    let mut w = with_upgrade(
        healthy3(1),
        &[0, 2, 1],
        &[(0, "ready"), (1, "idle"), (2, "ready")],
    );
    w.s.app_name = "zk".into();
    w.s.unit_name = "zk/1".into();
    let st = status(&w.plan());
    assert_eq!(
        st,
        Status::waiting("upgrade prepared: run `juju refresh zk` to start it")
    );
}

// ---- the upgrade rules, one by one --------------------------------------------------------

/// Unit `me` of a healthy three-unit ensemble with upgrade `stack` and unit `states`; the
/// charm was refreshed on this unit when `pending`.
fn upgrade_world(me: u32, stack: &[u32], states: &[(u32, &str)], pending: bool) -> World {
    let mut w = with_upgrade(healthy3(me), stack, states);
    w.s.local.upgrade_pending = pending;
    w
}

fn stored_dependencies(mut w: World, json: &str) -> World {
    w.upgrade
        .as_mut()
        .unwrap()
        .app
        .insert("dependencies".into(), json.into());
    w
}

const OLDER_MODEL: &str = r#"{"service":{"dependencies":{},"name":"zookeeper","upgrade_supported":"^3.5","version":"3.8.4"}}"#;

#[test]
fn only_the_leader_writes_the_dependency_model_and_only_when_it_may() {
    // Nothing stored yet: the leader stores this charm's model; a non-leader cannot.
    for (me, leader) in [(0, true), (1, false)] {
        let mut w = upgrade_world(me, &[], &[(0, "idle"), (1, "idle"), (2, "idle")], false);
        w.upgrade.as_mut().unwrap().app.remove("dependencies");
        if leader {
            w = w.leader();
        }
        let written = w.plan().upgrade_app.dependencies;
        assert_eq!(written.is_some(), leader, "leader {leader}: {written:?}");
    }
    // After an upgrade finished, the leader records the new model, once it checked out.
    let finished = |leader: bool, compatible: bool| {
        let mut w = stored_dependencies(
            upgrade_world(0, &[], &[(0, "idle"), (1, "idle"), (2, "idle")], false),
            OLDER_MODEL,
        );
        if leader {
            w = w.leader();
        }
        if !compatible {
            w.s.upgrade_facts.compatible = Err(crate::deps::DepsError::StoredJson("x".into()));
        }
        w.plan().upgrade_app.dependencies
    };
    assert_eq!(
        finished(true, true),
        Some(crate::deps::compiled_dependencies())
    );
    assert_eq!(finished(false, true), None, "a non-leader never writes it");
    assert_eq!(
        finished(true, false),
        None,
        "a stored model this charm cannot upgrade from stays as it is"
    );
}

#[test]
fn a_unit_in_the_stack_without_a_state_gets_ready_and_one_outside_it_completed() {
    let plan = upgrade_world(1, &[0, 2, 1], &[(0, "ready"), (2, "ready")], false).plan();
    assert_eq!(plan.upgrade_unit.state, Some(UpgradeState::Ready));
    assert_eq!(
        status(&plan),
        Status::waiting("upgrade prepared: run `juju refresh zookeeper` to start it")
    );
    // A unit with a state that is not in the stack keeps it.
    let plan = upgrade_world(
        1,
        &[0, 2],
        &[(0, "ready"), (1, "completed"), (2, "ready")],
        true,
    )
    .plan();
    assert_eq!(plan.upgrade_unit.state, None, "{:?}", plan.upgrade_unit);
}

#[test]
fn only_the_unit_on_top_of_the_stack_upgrades_once_every_unit_is_ready() {
    let states = [(0, "ready"), (1, "ready"), (2, "ready")];
    // Unit 1 is on top.
    assert!(upgrades(
        &upgrade_world(1, &[0, 2, 1], &states, true).plan()
    ));
    // Unit 2 is ready and refreshed too, but not on top: it waits, and says for whom.
    let plan = upgrade_world(2, &[0, 2, 1], &states, true).plan();
    assert!(!upgrades(&plan), "{:?}", plan.workload);
    assert_eq!(
        status(&plan),
        Status::waiting("other units upgrading first: waiting for unit 1")
    );
    // Before the refresh, it says what to run.
    let plan = upgrade_world(2, &[0, 2, 1], &states, false).plan();
    assert_eq!(
        status(&plan),
        Status::waiting("upgrade prepared: run `juju refresh zookeeper` to start it")
    );
}

#[test]
fn an_interrupted_upgrade_is_done_again_not_declared_complete() {
    // The hook that upgraded unit 1 died after marking it upgrading: the charm is still
    // pending, so the workload may not be the new one even if the server serves.
    let plan = upgrade_world(
        1,
        &[0, 2, 1],
        &[(0, "ready"), (1, "upgrading"), (2, "ready")],
        true,
    )
    .plan();
    assert!(upgrades(&plan), "{:?}", plan.workload);
    assert_ne!(plan.upgrade_unit.state, Some(UpgradeState::Completed));
}

#[test]
fn a_completed_unit_waits_for_the_others_and_only_the_leader_pops_it() {
    let states = [(0, "ready"), (1, "completed"), (2, "ready")];
    let plan = upgrade_world(1, &[0, 2, 1], &states, false).plan();
    assert_eq!(
        status(&plan),
        Status::maintenance("upgrade completed, waiting for the other units")
    );
    assert_eq!(
        plan.upgrade_app.stack, None,
        "a non-leader never writes the stack"
    );
    let plan = upgrade_world(0, &[0, 2, 1], &states, false).leader().plan();
    assert_eq!(plan.upgrade_app.stack, Some(vec![0, 2]));
}

#[test]
fn after_a_failure_each_unit_says_what_happened_and_whom_to_look_at() {
    let states = [(0, "ready"), (1, "completed"), (2, "failed")];
    let mut failed = upgrade_world(2, &[0, 2], &states, true);
    failed.s.local.upgrade_failure = Some("cannot upgrade ZooKeeper: boom".into());
    let st = status(&failed.plan());
    assert_eq!(st.kind, StatusKind::Blocked);
    assert!(
        st.message
            .starts_with("upgrade failed: cannot upgrade ZooKeeper: boom; roll back: run"),
        "{}",
        st.message
    );
    // The others wait, naming the failed unit.
    for me in [0, 1] {
        assert_eq!(
            status(&upgrade_world(me, &[0, 2], &states, false).plan()),
            Status::waiting(
                "upgrade stopped: unit 2 failed to upgrade; see its status to roll back"
            ),
            "unit {me}"
        );
    }
    // The leader marked itself for the rollback.
    let states = [(0, "recovery"), (1, "completed"), (2, "failed")];
    assert_eq!(
        status(&upgrade_world(0, &[0, 1, 2], &states, false).plan()),
        Status::blocked(
            "ready to rollback application: run `juju refresh zookeeper` to the previous revision"
        )
    );
}

#[test]
fn only_the_refresh_that_rolls_back_makes_a_unit_take_part_again() {
    // After unit 2 failed, the rollback refresh (upgrade-charm) makes each unit ready for
    // the new round; nothing else does.
    let states = [(0, "recovery"), (1, "completed"), (2, "failed")];
    let round = |me: u32, refreshed: bool, pending: bool, own: Option<&str>, compatible: bool| {
        let mut states: Vec<(u32, &str)> = states.to_vec();
        if let Some(own) = own {
            states.retain(|(id, _)| *id != me);
            states.push((me, own));
        }
        let mut w = upgrade_world(me, &[0, 1, 2], &states, pending);
        w.s.event.charm_refreshed = refreshed;
        if !compatible {
            w.s.upgrade_facts.compatible = Err(crate::deps::DepsError::StoredJson("x".into()));
        }
        w.plan().upgrade_unit.state
    };
    let ready = Some(UpgradeState::Ready);
    assert_eq!(round(1, true, true, None, true), ready);
    assert_eq!(
        round(2, true, true, None, true),
        ready,
        "the failed unit too"
    );
    assert_eq!(
        round(1, false, true, None, true),
        None,
        "not in another hook"
    );
    assert_eq!(
        round(1, true, false, None, true),
        None,
        "not without new code"
    );
    assert_eq!(
        round(1, true, true, Some("upgrading"), true),
        None,
        "not a unit whose upgrade is in flight"
    );
    assert_eq!(
        round(1, true, true, None, false),
        None,
        "not onto a revision it cannot upgrade from"
    );
}

#[test]
fn the_leader_that_prepared_the_rollback_says_so_in_the_reconcile_after_the_action() {
    // What `pre-upgrade-check`'s reconcile sees right after it wrote `recovery` (read your
    // writes): the leader's own status follows without waiting for another hook.
    let w = with_upgrade(
        healthy3(0).leader(),
        &[0, 1, 2],
        &[(0, "recovery"), (1, "completed"), (2, "failed")],
    );
    let plan = w.plan();
    let s = status(&plan);
    assert!(s.message.contains("ready to rollback"), "{s:?}");
    assert!(!upgrades(&plan));
}
