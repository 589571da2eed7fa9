//! The leader's start order, adds and removals.

use std::collections::BTreeSet;

use super::*;
use crate::peers::cluster::Recorded;

#[test]
fn leader_names_the_lowest_unit_to_bootstrap_a_new_ensemble() {
    let plan = World::unit(2, &[0, 1, 2]).leader().plan();
    assert_eq!(plan.cluster_app.starting, Some(Some(0)));
}

#[test]
fn leader_waits_for_every_planned_unit_before_bootstrapping() {
    let mut w = World::unit(2, &[1, 2]).leader();
    w.s.planned = Some(BTreeSet::from([0, 1, 2]));
    assert_eq!(
        w.plan().cluster_app.starting,
        None,
        "unit 0 is planned but not related yet"
    );
}

#[test]
fn leader_adds_a_synced_joiner_through_reconfig() {
    let plan = World::unit(0, &[0, 1, 2])
        .leader()
        .app("starting", "1")
        .started(&[0, 1])
        .added(&[0])
        .running(leading())
        .ensemble(&[0], &[(0, leading()), (1, following())])
        .plan();
    assert_eq!(
        plan.membership,
        vec![MembershipOp::Add(ServerSpec {
            id: 2,
            host: addr(1),
            role: Role::Participant
        })]
    );
}

#[test]
fn leader_does_not_add_a_joiner_that_is_not_synced() {
    let plan = World::unit(0, &[0, 1])
        .leader()
        .app("starting", "1")
        .started(&[0, 1])
        .added(&[0])
        .running(leading())
        .ensemble(&[0], &[(0, leading()), (1, down())])
        .plan();
    assert!(plan.membership.is_empty());
}

#[test]
fn leader_records_an_added_joiner_and_ends_its_turn() {
    let plan = World::unit(0, &[0, 1, 2])
        .leader()
        .app("starting", "1")
        .started(&[0, 1])
        .added(&[0])
        .running(leading())
        .ensemble(&[0, 1], &[(0, leading()), (1, following())])
        .plan();
    assert_eq!(plan.cluster_app.recorded.get(&1), Some(&Recorded::Added));
    assert_eq!(plan.cluster_app.starting, Some(None));
}

#[test]
fn leader_schedules_the_next_unit_by_numeric_id() {
    // Units 2 and 10 wait; 2 < 10 as numbers (as text "10" < "2").
    let plan = World::unit(0, &[0, 1, 2, 10])
        .leader()
        .started(&[0, 1])
        .added(&[0, 1])
        .running(leading())
        .ensemble(&[0, 1], &[(0, leading()), (1, following())])
        .plan();
    assert_eq!(plan.cluster_app.starting, Some(Some(2)));
}

#[test]
fn leader_removes_a_departing_voter_when_the_rest_keep_a_majority() {
    let mut w = healthy3(0).leader();
    w.s.event.departing = Some(2);
    assert_eq!(
        w.plan().membership,
        vec![MembershipOp::Remove { server_id: 3 }]
    );
}

#[test]
fn leader_never_removes_a_voter_when_the_rest_would_lose_quorum() {
    let mut w = World::unit(0, &[0, 1, 2])
        .leader()
        .started(&[0, 1, 2])
        .added(&[0, 1, 2])
        .running(leading())
        .ensemble(&[0, 1, 2], &[(0, leading()), (1, down()), (2, following())]);
    w.s.event.departing = Some(2);
    assert!(
        w.plan().membership.is_empty(),
        "0 and 1 remain, only 0 serves: 1 of 2 is no majority"
    );
}

#[test]
fn a_leader_that_sees_no_peers_removes_nobody() {
    // juju LP#2053055: leader-elected with an empty peer list.
    let w = World::unit(0, &[0])
        .leader()
        .started(&[0])
        .added(&[0, 1, 2])
        .running(leading())
        .ensemble(&[0, 1, 2], &[(0, leading())]);
    assert!(w.plan().membership.is_empty());
}

#[test]
fn a_leader_that_sees_no_peers_still_removes_the_unit_it_was_told_departs() {
    let mut w = World::unit(0, &[0])
        .leader()
        .started(&[0])
        .added(&[0, 1, 2])
        .running(leading())
        .ensemble(
            &[0, 1, 2],
            &[(0, leading()), (1, following()), (2, following())],
        );
    w.s.event.departing = Some(2);
    assert_eq!(
        w.plan().membership,
        vec![MembershipOp::Remove { server_id: 3 }]
    );
}

#[test]
fn leader_lets_a_planned_lower_unit_join_before_a_higher_one() {
    // Unit 3 is planned but not related yet; unit 4 is: 4 must wait, since ZooKeeper cannot
    // add server 4 once server 5 votes.
    let mut w = World::unit(0, &[0, 1, 2, 4])
        .leader()
        .started(&[0, 1, 2])
        .added(&[0, 1, 2])
        .running(leading())
        .ensemble(
            &[0, 1, 2],
            &[(0, leading()), (1, following()), (2, following())],
        );
    w.s.planned = Some(BTreeSet::from([0, 1, 2, 3, 4]));
    assert_eq!(w.plan().cluster_app.starting, None);
    w.s.planned = Some(BTreeSet::from([0, 1, 2, 4]));
    assert_eq!(w.plan().cluster_app.starting, Some(Some(4)));
}

#[test]
fn a_unit_whose_published_address_is_not_an_ip_address_is_not_scheduled() {
    // A comma would smuggle a second server into a reconfig's joining list.
    let w = healthy3(0).leader().cluster_unit(
        2,
        "ip",
        "127.0.0.13:2888:3888:participant;127.0.0.13:2181,server.9=6.6.6.6",
    );
    let mut w = World {
        cluster: {
            let mut c = w.cluster.clone();
            c.units
                .insert(3, BTreeMap::from([("ip".into(), "not-an-ip".into())]));
            c
        },
        ..w
    };
    w.restart.units.insert(3, BTreeMap::new());
    let s = w.snapshot();
    assert_eq!(s.unit_address(2), None);
    assert_eq!(s.server_spec(3), None);
    assert_eq!(
        w.plan().cluster_app.starting,
        None,
        "unit 3 has no usable address"
    );
}

#[test]
fn the_leader_records_voters_it_sees_and_members_that_left() {
    let w = World::unit(0, &[0, 1])
        .leader()
        .started(&[0, 1])
        .added(&[0, 2])
        .running(leading())
        .ensemble(&[0, 1], &[(0, leading()), (1, following())])
        .up_to_date(&[0, 1]);
    let plan = w.plan();
    assert_eq!(
        plan.cluster_app.recorded,
        BTreeMap::from([(1, Recorded::Added), (2, Recorded::Removed)])
    );
}

/// A new application whose servers do not answer, seen by the leader (unit 0), with the
/// bags as `edit` leaves them.
fn new_app(edit: impl FnOnce(World) -> World) -> Option<Option<u32>> {
    edit(World::unit(0, &[0, 1, 2]).leader())
        .plan()
        .cluster_app
        .starting
}

#[test]
fn only_a_brand_new_ensemble_is_bootstrapped_so_two_ensembles_never_form() {
    // (what the bags say, whom the leader names) while no server answers.
    assert_eq!(
        new_app(|w| w),
        Some(Some(0)),
        "nothing ever started: bootstrap"
    );
    assert_eq!(
        new_app(|w| w.added(&[1])),
        None,
        "a voter was recorded: an ensemble exists, it only does not answer"
    );
    assert_eq!(
        new_app(|w| w.started(&[1])),
        None,
        "a unit started its server: an ensemble exists"
    );
    assert_eq!(new_app(|w| w.added(&[1]).started(&[1])), None);
}

#[test]
fn a_new_ensemble_is_bootstrapped_once_exactly_the_planned_units_are_related() {
    let planned = |ids: &[u32]| {
        let ids: BTreeSet<u32> = ids.iter().copied().collect();
        new_app(move |mut w| {
            w.s.planned = Some(ids);
            w
        })
    };
    assert_eq!(
        planned(&[0, 1, 2]),
        Some(Some(0)),
        "every planned unit is here"
    );
    assert_eq!(
        planned(&[0, 1]),
        Some(Some(0)),
        "a related unit may be unplanned"
    );
    assert_eq!(
        planned(&[0, 1, 2, 3]),
        None,
        "a higher planned unit is missing: the lowest may not be known yet either"
    );
}

#[test]
fn a_voter_is_recorded_as_added_only_while_its_unit_is_a_member() {
    // Server 3 (unit 2) is still a voter, but unit 2 left and was never recorded.
    let w = World::unit(0, &[0, 1])
        .leader()
        .started(&[0, 1])
        .added(&[0, 1])
        .running(leading())
        .ensemble(
            &[0, 1, 2],
            &[(0, leading()), (1, following()), (2, following())],
        )
        .up_to_date(&[0, 1]);
    let plan = w.plan();
    assert_eq!(
        plan.cluster_app.recorded.get(&2),
        None,
        "{:?}",
        plan.cluster_app
    );
    // It is removed instead (the leader sees peers, so no departed event is needed).
    assert_eq!(plan.membership, vec![MembershipOp::Remove { server_id: 3 }]);
}

#[test]
fn a_voter_whose_unit_left_is_removed_in_any_hook_of_a_leader_that_sees_peers() {
    // The departed hook that should have removed it failed; update-status does it.
    let w = World::unit(0, &[0, 1])
        .leader()
        .started(&[0, 1])
        .added(&[0, 1, 2])
        .running(leading())
        .ensemble(&[0, 1, 2], &[(0, leading()), (1, following()), (2, down())])
        .up_to_date(&[0, 1]);
    assert_eq!(w.s.event.departing, None);
    assert_eq!(
        w.plan().membership,
        vec![MembershipOp::Remove { server_id: 3 }]
    );
}

#[test]
fn a_synced_joiner_waits_while_the_quorum_leader_still_has_syncs_pending() {
    let joiner = |pending: u64| {
        let busy = ServerHealth {
            pending_syncs: Some(pending),
            ..leading()
        };
        World::unit(0, &[0, 1, 2])
            .leader()
            .app("starting", "1")
            .started(&[0, 1])
            .added(&[0])
            .running(busy.clone())
            .ensemble(&[0], &[(0, busy), (1, following())])
            .plan()
            .membership
    };
    assert!(
        joiner(2).is_empty(),
        "the leader is still syncing a follower"
    );
    assert_eq!(joiner(0).len(), 1);
}

#[test]
fn a_departed_voter_stays_recorded_as_added_until_it_is_out_of_the_config() {
    // Unit 2 left, but its server cannot be removed yet (without it, only unit 0 of
    // {0, 1} serves): it is still a voter, so still recorded as added.
    let w = World::unit(0, &[0, 1])
        .leader()
        .started(&[0, 1])
        .added(&[0, 1, 2])
        .running(leading())
        .ensemble(&[0, 1, 2], &[(0, leading()), (1, down()), (2, following())])
        .up_to_date(&[0, 1]);
    let plan = w.plan();
    assert!(plan.membership.is_empty(), "{:?}", plan.membership);
    assert!(
        plan.cluster_app.recorded.is_empty(),
        "{:?}",
        plan.cluster_app
    );
    // A member the config does not list (yet) is not recorded as removed either.
    let w = World::unit(0, &[0, 1, 2])
        .leader()
        .started(&[0, 1, 2])
        .added(&[0, 1, 2])
        .running(leading())
        .ensemble(
            &[0, 1],
            &[(0, leading()), (1, following()), (2, following())],
        )
        .up_to_date(&[0, 1, 2]);
    assert_eq!(w.plan().cluster_app.recorded.get(&2), None);
}

#[test]
fn leader_does_not_start_or_add_again_a_leaving_unit_that_stepped_out_of_the_quorum() {
    // Unit 2 is being removed: it took itself out of the voters in its own hook, and the
    // leader has not run its -departed yet, so unit 2 is still a member here. Goal-state
    // (dying) keeps the leader from scheduling it and from adding it back.
    let mut w = World::unit(0, &[0, 1, 2])
        .leader()
        .started(&[0, 1, 2])
        .added(&[0, 1, 2])
        .running(leading())
        .ensemble(
            &[0, 1],
            &[(0, leading()), (1, following()), (2, following())],
        );
    let unknown = w.plan();
    assert_eq!(
        unknown.cluster_app.starting,
        Some(Some(2)),
        "without goal-state it looks like a unit to add again"
    );
    w.s.planned = Some(BTreeSet::from([0, 1]));
    let plan = w.plan();
    assert_eq!(plan.cluster_app.starting, None, "{plan:?}");
    assert!(plan.membership.is_empty(), "{plan:?}");
    // Named to start before the leader knew: its turn ends, it is not added.
    let plan = w.app("starting", "2").plan();
    assert_eq!(plan.cluster_app.starting, Some(None));
    assert!(plan.membership.is_empty(), "{plan:?}");
}
