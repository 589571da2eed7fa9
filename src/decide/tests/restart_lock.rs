//! Both sides of the restart lock.

use super::*;
use crate::peers::restart::{Grant, LockRequest};

#[test]
fn a_unit_whose_files_changed_requests_the_restart_lock_once() {
    let w = healthy3(1).new_tick_time();
    let plan = w.plan();
    assert!(plan.workload.is_empty(), "no restart without the lock");
    assert_eq!(plan.restart_unit.request, Some(Some(LockRequest::Acquire)));
    assert_eq!(
        plan.restart_unit.requested_at,
        Some(Some("00000000000000000100".to_string()))
    );
    assert_eq!(status(&plan), Status::waiting("waiting for restart lock"));
    // Already requested: no new write (no hook loop).
    let plan = w.restart_unit(1, "state", "acquire").plan();
    assert!(plan.restart_unit.is_empty(), "{:?}", plan.restart_unit);
}

#[test]
fn a_granted_unit_restarts_then_releases_once_synced() {
    let mut w = healthy3(1)
        .restart_unit(1, "state", "acquire")
        .restart_app("zookeeper/1", "granted")
        .new_tick_time();
    assert_eq!(w.plan().workload, vec![WorkloadOp::Restart]);
    // After the restart the server runs with the new files.
    w.s.local.started_with = Some(w.current_fingerprint());
    assert_eq!(
        w.plan().restart_unit.request,
        Some(Some(LockRequest::Release))
    );
    w.s.workload.health = Some(down());
    assert!(
        w.plan().restart_unit.is_empty(),
        "not synced yet: keep the lock"
    );
}

#[test]
fn a_unit_whose_change_went_back_withdraws_its_request() {
    let plan = healthy3(1)
        .restart_unit(1, "state", "acquire")
        .restart_unit(1, "requested-at", "00000000000000000001")
        .plan();
    assert_eq!(plan.restart_unit.request, Some(None));
    assert_eq!(plan.restart_unit.requested_at, Some(None));
}

#[test]
fn leader_grants_the_earliest_request_and_itself_last() {
    let w = healthy3(0)
        .leader()
        .restart_unit(0, "state", "acquire")
        .restart_unit(0, "requested-at", "00000000000000000001")
        .restart_unit(1, "state", "acquire")
        .restart_unit(1, "requested-at", "00000000000000000009")
        .restart_unit(2, "state", "acquire")
        .restart_unit(2, "requested-at", "00000000000000000005");
    let plan = w.plan();
    assert_eq!(
        plan.restart_app.grants,
        BTreeMap::from([(2, Some(Grant::Granted))])
    );
}

#[test]
fn a_unit_reports_the_inputs_it_runs_with_once_restarted_and_synced() {
    let mut w = healthy3(1)
        .restart_unit(1, "state", "acquire")
        .restart_app("zookeeper/1", "granted")
        .new_tick_time();
    assert_eq!(w.plan().restart_unit.inputs, None);
    w.s.local.started_with = Some(w.current_fingerprint());
    let plan = w.plan();
    let new_inputs = shared_inputs(
        w.s.config.as_ref().unwrap(),
        &w.cluster_app(),
        &w.s.workload.exporters,
    );
    assert_eq!(
        plan.restart_unit.inputs.as_ref(),
        Some(&new_inputs),
        "{:?}",
        plan.restart_unit
    );
    assert_ne!(
        new_inputs,
        shared_inputs(
            &CharmConfig::default(),
            &w.cluster_app(),
            &w.s.workload.exporters
        )
    );
}

#[test]
fn the_leader_restarts_itself_only_after_every_other_unit_caught_up() {
    // The leader saw the change first: nobody else requested yet, but units 1 and 2 still
    // run with the old inputs, so they will request: the leader must not go first.
    let mut w = healthy3(0)
        .leader()
        .restart_unit(0, "state", "acquire")
        .new_tick_time();
    let plan = w.plan();
    assert!(plan.restart_app.is_empty(), "{:?}", plan.restart_app);
    assert_eq!(
        status(&plan),
        Status::waiting(
            "waiting for restart lock: the leader restarts last, after zookeeper/1, zookeeper/2"
        )
    );
    // Unit 1 restarted already; unit 2 still has not: still not the leader's turn.
    w = w.up_to_date(&[1]);
    let plan = w.plan();
    assert!(plan.restart_app.is_empty());
    assert_eq!(
        status(&plan),
        Status::waiting("waiting for restart lock: the leader restarts last, after zookeeper/2")
    );
    // Both caught up: the leader restarts.
    w = w.up_to_date(&[2]);
    assert_eq!(
        w.plan().restart_app.grants,
        BTreeMap::from([(0, Some(Grant::Granted))])
    );
}

#[test]
fn a_unit_that_never_started_does_not_hold_back_the_leaders_restart() {
    let w = World::unit(0, &[0, 1, 2, 3])
        .leader()
        .started(&[0, 1, 2])
        .added(&[0, 1, 2])
        .running(leading())
        .ensemble(
            &[0, 1, 2],
            &[(0, leading()), (1, following()), (2, following())],
        )
        .restart_unit(0, "state", "acquire")
        .new_tick_time()
        .up_to_date(&[1, 2]);
    assert_eq!(
        w.plan().restart_app.grants.get(&0),
        Some(&Some(Grant::Granted))
    );
}

#[test]
fn leader_grants_nobody_while_the_lock_is_held() {
    let plan = healthy3(0)
        .leader()
        .restart_app("zookeeper/2", "granted")
        .restart_unit(2, "state", "acquire")
        .restart_unit(1, "state", "acquire")
        .plan();
    assert!(plan.restart_app.is_empty(), "{:?}", plan.restart_app);
}

#[test]
fn leader_clears_a_released_grant_and_a_departed_holder() {
    let plan = healthy3(0)
        .leader()
        .restart_app("zookeeper/2", "granted")
        .restart_unit(2, "state", "release")
        .restart_app("zookeeper/7", "granted")
        .plan();
    assert_eq!(plan.restart_app.grants.get(&2), Some(&Some(Grant::Idle)));
    assert_eq!(plan.restart_app.grants.get(&7), Some(&None));
}

#[test]
fn leader_grants_no_restart_while_a_unit_is_joining() {
    let plan = healthy3(0)
        .leader()
        .app("starting", "3")
        .restart_unit(1, "state", "acquire")
        .plan();
    assert!(plan.restart_app.is_empty());
}

#[test]
fn a_granted_unit_whose_server_is_not_serving_shows_restarting_not_blocked() {
    // Granted while the ensemble still elects after the previous unit's restart: its own
    // server does not serve at that moment, and it restarts anyway.
    let mut w = healthy3(1)
        .restart_unit(1, "state", "acquire")
        .restart_app("zookeeper/1", "granted")
        .new_tick_time();
    w.s.workload.health = Some(down());
    let plan = w.plan();
    assert_eq!(plan.workload, vec![WorkloadOp::Restart]);
    assert_eq!(status(&plan), Status::maintenance("restarting"));
    // Not granted: a server that does not serve is still reported.
    let mut w = healthy3(1).new_tick_time();
    w.s.workload.health = Some(down());
    assert!(status(&w.plan()).message.contains("not serving"));
}

/// `w` with server `id` at `host` as a voter of the live config, serving.
fn with_voter(mut w: World, id: u32, host: &str) -> World {
    let cfg = w.s.ensemble.config.as_mut().unwrap();
    cfg.members.insert(
        id,
        ServerSpec {
            id,
            host: host.into(),
            role: Role::Participant,
        },
    );
    w.s.ensemble.health.insert(id - 1, following());
    w
}

#[test]
fn leader_grants_no_restart_while_a_voter_has_no_unit_and_removes_it_first() {
    let asking = healthy3(0).leader().restart_unit(1, "state", "acquire");
    let w = with_voter(asking.clone(), 10, "127.0.0.99");
    let plan = w.plan();
    assert!(plan.restart_app.is_empty(), "{:?}", plan.restart_app);
    // The membership rule takes it out in the same round (the others keep a majority)...
    assert_eq!(
        plan.membership,
        vec![MembershipOp::Remove { server_id: 10 }]
    );
    let held = plan
        .statuses
        .iter()
        .find(|st| st.message.starts_with("restart of zookeeper/1 held back"))
        .unwrap_or_else(|| panic!("{:?}", plan.statuses));
    assert_eq!(held.kind, StatusKind::Waiting);
    assert!(held
        .message
        .contains("voter server.10 at 127.0.0.99 has no unit behind it"));
    // ...and once it is out, the lock is granted: nothing waits on the other.
    assert_eq!(
        asking.plan().restart_app.grants,
        BTreeMap::from([(1, Some(Grant::Granted))])
    );
}

#[test]
fn a_stranger_in_a_units_seat_blocks_the_restart_lock_and_is_not_removed() {
    // Unit 1's seat (server 2) is held by a server at another address.
    let mut w = healthy3(0).leader().restart_unit(1, "state", "acquire");
    w.s.ensemble
        .config
        .as_mut()
        .unwrap()
        .members
        .get_mut(&2)
        .unwrap()
        .host = "127.0.0.99".into();
    let plan = w.plan();
    assert!(plan.restart_app.is_empty(), "{:?}", plan.restart_app);
    assert!(plan.membership.is_empty(), "{:?}", plan.membership);
    let st = status(&plan);
    assert_eq!(st.kind, StatusKind::Blocked, "{st:?}");
    assert!(
        st.message
            .contains("voter server.2 at 127.0.0.99 is not unit 1's server")
            && st.message.contains("reconfig -remove 2"),
        "{st:?}"
    );
}

#[test]
fn with_a_ghost_and_nobody_asking_the_leader_says_nothing_of_the_lock() {
    let plan = with_voter(healthy3(0).leader(), 10, "127.0.0.99").plan();
    assert!(!plan
        .statuses
        .iter()
        .any(|st| st.message.contains("held back")));
}
