//! The rolling in-place upgrade (issue 5) on the local model (`zk-sim`) with real ZooKeeper:
//! `pre-upgrade-check`, `refresh` to a charm built as another revision, the rollout one unit
//! at a time with the ZooKeeper quorum leader last, a forced failure and its rollback, and a
//! revision that refuses the deployed version.
//!
//! The other revisions are this crate built again with build-time overrides, into their own
//! target dir (`<target>/upgrade-revisions`, so the main build lock and artifacts are left
//! alone), once per test binary run:
//! * "new": `ZK_CHARM_REVISION=2`, `ZK_CHARM_VERSION=0.2.0` (so the recorded dependency
//!   model visibly changes when the upgrade finishes);
//! * "refusing": `ZK_CHARM_VERSION=9.0.0`, `ZK_CHARM_UPGRADE_SUPPORTED=>=9`.
//!
//! While a rollout runs, a background thread samples every unit's ZooKeeper process (the
//! pid its machine's snap service started and its start time from `/proc`) and whether it serves
//! every 100 ms (`testkit::watch`, which also checks that at most one server is out of
//! service through the charm), and another writes a znode every 50 ms; the assertions are
//! on what they saw.
//!
//! `ZK_TEST_SEEDS=1,2` overrides the event-order seed of each scenario.

mod layouts;
mod revisions;
mod support;

use std::time::{Duration, Instant};

use revisions::{charm_dir_with, new_revision_binary, refusing_revision_binary};
use support::{
    assert_no_upgrade_left, assert_no_write_lost, deploy, deploy_with, juju_leader,
    pre_upgrade_check, recorded_charm_version, recovery_check, refresh_watched, seed, servers,
    start_writer, unit, upgrade_plans, upgrade_stack, upgrade_states, zk_leader,
    zk_leader_in_the_middle,
};
use testkit::server::signal_server;
use testkit::watch::ProcessWatch;
use testkit::{live_server, test_charm};
use zk_sim::Switches;

/// How often the process watch samples.
const SAMPLE: Duration = Duration::from_millis(100);

/// pre-upgrade-check, refresh to the new revision, and everything the rollout must keep.
fn rollout(n: u32, seed: u64) {
    rollout_with(n, seed, Switches::default())
}

fn rollout_with(n: u32, seed: u64, switches: Switches) {
    let dir = tempfile::tempdir().unwrap();
    let old = test_charm!(&dir.path().join("old"));
    let mut c = deploy_with(&old, n, seed, switches);
    assert_eq!(recorded_charm_version(&c), "0.1.0");
    let zk = zk_leader_in_the_middle(&mut c);
    eprintln!("{n} units: the quorum leader is now unit {zk}");
    // Built after the deploy, so that the first build overlaps another test's deploy.
    let new = charm_dir_with(new_revision_binary(), &dir.path().join("new"));

    let t = Instant::now();
    let stack = pre_upgrade_check(&mut c);
    eprintln!(
        "{n} units: pre-upgrade-check {:.1}s, stack {stack:?}",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(stack[0], zk);

    let watch = ProcessWatch::start(c.model.dir(), SAMPLE);
    let parent = format!("/rollout{n}");
    let writer = start_writer(&c, &parent);
    let before = servers(&c);
    let (seen, writes) =
        refresh_watched(&mut c, &new, &format!("refresh {n} units"), watch, writer);

    // One restart per unit, in the stack's order (last element first), never overlapping,
    // and the ZooKeeper leader's unit last.
    let expected: Vec<u32> = stack.iter().rev().copied().collect();
    assert_eq!(
        seen.restart_order(),
        expected,
        "restart order (from the processes) follows the stack: {}",
        seen.summary()
    );
    assert_eq!(seen.restart_order().last(), Some(&zk));
    seen.assert_one_down_at_a_time(&format!("{n} units"));
    assert_eq!(
        upgrade_plans(&c),
        expected,
        "the `upgrade` workload op ran once per unit, in stack order"
    );
    let after = servers(&c);
    for (u, p) in &after {
        assert!(p.is_some(), "unit {u} runs ZooKeeper after the upgrade");
        assert_ne!(p, &before[u], "unit {u} runs a new server process");
    }

    // Finished: every unit idle and active, the stack empty, the new model recorded.
    assert_no_upgrade_left(&c, "0.2.0");
    assert!(c.all_active(), "{}", c.describe());
    assert_eq!(c.voters().len(), n as usize, "{}", c.describe());
    zk_leader(&c);

    // No acknowledged write lost, and writes went on during the rollout.
    assert!(
        writes.acked.len() >= 20,
        "the writer made progress: {} writes",
        writes.acked.len()
    );
    assert_no_write_lost(&c, &writes, &parent, &format!("{n} units"));
    c.model.destroy().unwrap();
}

#[test]
fn three_units_upgrade_one_at_a_time_with_the_zookeeper_leader_last_and_lose_no_write() {
    rollout(3, seed(11));
}

#[test]
fn three_units_upgrade_when_the_leader_gets_no_hook_for_its_own_app_bag_writes() {
    let switches = Switches {
        leader_sees_own_app_change: false,
        ..Switches::default()
    };
    rollout_with(3, seed(17), switches);
}

#[test]
fn five_units_upgrade_one_at_a_time_with_the_zookeeper_leader_last_and_lose_no_write() {
    rollout(5, seed(12));
}

#[test]
fn pre_upgrade_check_fails_on_a_non_leader_and_on_an_unhealthy_ensemble_saying_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    let mut c = deploy(&charm, 3, seed(13));
    let leader = juju_leader(&c);

    let other = (0..3).map(unit).find(|u| *u != leader).unwrap();
    let r = c
        .model
        .run_action(&other, "pre-upgrade-check", &[])
        .unwrap();
    assert!(!r.completed(), "a non-leader refuses: {r:?}");
    assert!(r.message.contains("leader"), "{}", r.message);
    assert!(upgrade_stack(&c).is_empty());

    // One server killed outright just before the check (a follower, so the quorum stays).
    let zk = zk_leader(&c);
    let victim = (0..3).find(|u| *u != zk).unwrap();
    let machine = c.machine(victim);
    let killed = signal_server(&machine, libc::SIGKILL, Duration::from_secs(10))
        .expect("the victim's server runs");
    assert!(
        live_server(&machine).is_none(),
        "pid {} survived SIGKILL",
        killed.pid
    );
    let r = c
        .model
        .run_action(&leader, "pre-upgrade-check", &[])
        .unwrap();
    assert!(!r.completed(), "an unhealthy ensemble refuses: {r:?}");
    assert!(
        r.message.contains(&format!("unit {victim}")) && r.message.contains("not serving"),
        "the failure names the unit and what is wrong: {}",
        r.message
    );
    assert!(
        upgrade_stack(&c).is_empty(),
        "no stack written on a failure"
    );
    assert!(
        upgrade_states(&c).values().all(|s| s == "idle"),
        "{:?}",
        upgrade_states(&c)
    );

    // The charm restarts the server; then the check passes.
    c.settle("the killed server restarted");
    assert!(live_server(&machine).is_some());
    pre_upgrade_check(&mut c);
    c.model.destroy().unwrap();
}

#[test]
fn a_failed_unit_stops_the_rollout_blocked_with_rollback_instructions_and_the_rollback_completes() {
    failure_and_rollback(seed(14), false);
}

/// The failed unit is also the Juju leader: it enters recovery itself and, being on top of
/// the repaired stack, must start the rollback with no other unit's data changing (the
/// upgrade lib's PR #176 case).
#[test]
fn the_rollback_completes_when_the_failed_unit_is_the_juju_leader() {
    failure_and_rollback(seed(16), true);
}

fn failure_and_rollback(seed: u64, juju_leader_fails: bool) {
    let dir = tempfile::tempdir().unwrap();
    let old = test_charm!(&dir.path().join("old"));
    let mut c = deploy(&old, 3, seed);
    let new = charm_dir_with(new_revision_binary(), &dir.path().join("new"));
    // The lowest unit that is not the quorum leader upgrades first: it leads in Juju when
    // it is the one to fail, else the quorum leader's unit (it upgrades last) does.
    let zk = zk_leader(&c);
    let to_lead = if juju_leader_fails {
        (0..3).find(|u| *u != zk).unwrap()
    } else {
        zk
    };
    if juju_leader(&c) != unit(to_lead) {
        c.model.set_leader(&unit(to_lead)).unwrap();
        c.settle_quiet("Juju leadership moved");
    }
    let stack = pre_upgrade_check(&mut c);
    let first = *stack.last().unwrap();
    assert_eq!(
        juju_leader(&c) == unit(first),
        juju_leader_fails,
        "{stack:?}"
    );
    let app = c.model.app_name().unwrap();
    c.model
        .fail_next_snap_refresh(&format!("{app}/{first}"))
        .unwrap();

    let watch = ProcessWatch::start(c.model.dir(), SAMPLE);
    let writer = start_writer(&c, "/failure");
    let before = servers(&c);
    let t = Instant::now();
    c.model.refresh(&new).unwrap();
    c.settle_quiet("refresh with a failing unit");
    let failed_time = t.elapsed();
    let seen = watch.finish();
    eprintln!(
        "failed rollout settled in {:.1}s; {}",
        failed_time.as_secs_f64(),
        seen.summary()
    );

    // The rollout stopped at the failed unit: it is blocked with the rollback steps, and no
    // other server was restarted.
    let status = c.status();
    let failed = status.iter().find(|u| u.unit == unit(first)).unwrap();
    assert_eq!(failed.workload, "blocked", "{}", c.describe());
    for what in [
        "upgrade failed",
        "snap refresh charmed-zookeeper",
        "fault injected by zk-sim",
        "pre-upgrade-check",
        "juju refresh",
    ] {
        assert!(
            failed.message.contains(what),
            "the blocked message says {what:?}: {}",
            failed.message
        );
    }
    assert_eq!(upgrade_states(&c)[&first], "failed");
    assert_eq!(
        upgrade_stack(&c).last(),
        Some(&first),
        "the failed unit stays on top"
    );
    let after = servers(&c);
    for (u, p) in &after {
        assert!(p.is_some(), "unit {u} serves with the old ZooKeeper");
        if *u != first {
            assert_eq!(
                p, &before[u],
                "unit {u} was not restarted after the failure"
            );
        }
    }
    assert!(
        seen.restart_order().iter().all(|u| *u == first),
        "only the failed unit restarted: {}",
        seen.summary()
    );
    assert_eq!(upgrade_plans(&c), vec![first]);
    assert_eq!(recorded_charm_version(&c), "0.1.0", "the old model is kept");

    // Rollback: pre-upgrade-check again (recovery), then refresh to the original charm.
    recovery_check(&mut c);
    let repaired = upgrade_stack(&c);
    assert_eq!(
        repaired.last(),
        Some(&first),
        "the failed unit rolls back first"
    );
    assert_eq!(repaired.len(), 3, "{repaired:?}");
    let report = c.settle_quiet("recovery");
    // Every unit says what to do next as soon as the check ran, not 5 minutes later.
    assert!(report.status_by_tick.is_empty(), "{report:?}");
    let leader_status = c.status().into_iter().find(|u| u.leader).expect("a leader");
    assert!(
        leader_status.message.contains("ready to rollback"),
        "{}",
        c.describe()
    );

    let watch = ProcessWatch::start(c.model.dir(), SAMPLE);
    let (seen, writes) = refresh_watched(&mut c, &old, "rollback refresh", watch, writer);
    seen.assert_one_down_at_a_time("rollback");
    assert_eq!(seen.restart_order().first(), Some(&first));
    assert!(c.all_active(), "{}", c.describe());
    assert_no_upgrade_left(&c, "0.1.0");
    assert_no_write_lost(&c, &writes, "/failure", "failure and rollback");
    c.model.destroy().unwrap();
}

#[test]
fn a_revision_that_refuses_the_deployed_version_is_refused_before_anything_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let old = test_charm!(&dir.path().join("old"));
    let mut c = deploy(&old, 3, seed(15));
    let refusing = charm_dir_with(refusing_revision_binary(), &dir.path().join("refusing"));
    pre_upgrade_check(&mut c);

    let watch = ProcessWatch::start(c.model.dir(), SAMPLE);
    let before = servers(&c);
    c.model.refresh(&refusing).unwrap();
    c.settle_quiet("refresh to a refusing revision");
    let seen = watch.finish();

    assert!(
        seen.restarts().is_empty(),
        "nothing restarted: {}",
        seen.summary()
    );
    assert!(!seen.any_unit_seen_down(), "{}", seen.summary());
    assert_eq!(servers(&c), before);
    assert!(upgrade_plans(&c).is_empty());
    let status = c.status();
    let blocked: Vec<_> = status.iter().filter(|u| u.workload == "blocked").collect();
    assert!(!blocked.is_empty(), "{}", c.describe());
    for u in &blocked {
        for what in [
            "Versions incompatible",
            "charm 0.1.0 can not be upgraded to 9.0.0",
            "requirement >=9",
            "pre-upgrade-check",
        ] {
            assert!(
                u.message.contains(what),
                "{} says {what:?}: {}",
                u.unit,
                u.message
            );
        }
    }
    assert_eq!(recorded_charm_version(&c), "0.1.0");
    assert!(
        upgrade_states(&c).values().any(|s| s == "failed"),
        "{:?}",
        upgrade_states(&c)
    );

    // The refused refresh rolls back like a failed one: recovery, then the original charm.
    recovery_check(&mut c);
    let report = c.settle_quiet("recovery");
    assert!(report.status_by_tick.is_empty(), "{report:?}");
    let watch = ProcessWatch::start(c.model.dir(), SAMPLE);
    let t = Instant::now();
    c.model.refresh(&old).unwrap();
    c.settle("rollback from the refused revision");
    let seen = watch.finish();
    eprintln!(
        "rollback from the refused revision {:.1}s; {}",
        t.elapsed().as_secs_f64(),
        seen.summary()
    );
    seen.assert_one_down_at_a_time("rollback from the refused revision");
    assert_no_upgrade_left(&c, "0.1.0");
    c.model.destroy().unwrap();
}
