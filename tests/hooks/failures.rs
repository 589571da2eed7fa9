//! What goes wrong: a failed upgrade (the plan's on-failure write marks the unit failed), an
//! upgraded server that does not rejoin, hook tools that fail, workload operations that
//! fail, a server that exits right after it starts, and reconfigs ZooKeeper refuses.
//! Recoverable trouble ends the hook with a status saying what and what to do; only a real
//! fault (a tool or the workload failing outright) fails the hook.

use zookeeper_charm::charm::MAX_ROUNDS;
use zookeeper_charm::peers::upgrade::UpgradeState;
use zookeeper_charm::status::{Status, StatusKind};
use zookeeper_charm::workload::mem::{Op, WorkloadCall};
use zookeeper_charm::zk::ensemble::ServerHealth;
use zookeeper_charm::zk::fake::Fault;

use crate::scenario::*;

/// Unit 1 on top of a prepared upgrade `[0, 2, 1]`, every unit ready, refreshed.
fn upgrading(me: u32) -> Hook {
    Hook::upgrade_charm().steady(me, 3).with(|w| {
        w.set_stack(&[0, 2, 1]);
        for id in 0..3 {
            w.set_upgrade_state(id, UpgradeState::Ready);
        }
        w.pinned = "3.9.3".into();
    })
}

const ROLL_BACK: &str = "roll back: run `juju run zookeeper/leader pre-upgrade-check`, then `juju refresh zookeeper` to the previous revision (`--revision N` or `--path <previous .charm>`)";

#[test]
fn a_failed_upgrade_marks_the_unit_failed_and_keeps_serving_the_old_version() {
    let out = upgrading(1)
        .with(|w| w.workload_faults.push(Op::Refresh))
        .run();
    out.ok();
    // Marked upgrading, then failed by the plan's on-failure write.
    let states: Vec<_> = out
        .tools
        .calls()
        .iter()
        .filter(|c| c.tool == "relation-set" && c.args[1] == UPGRADE)
        .map(|c| c.stdin.clone().unwrap())
        .collect();
    assert_eq!(
        states,
        [r#"{"state":"upgrading"}"#, r#"{"state":"failed"}"#],
        "{}",
        out.describe()
    );
    assert_eq!(out.upgrade_state(), Some(UpgradeState::Failed));
    // The server runs again, on the version it had.
    assert_eq!(out.lifecycle(), [WorkloadCall::Stop, WorkloadCall::Start]);
    assert!(out.workload.runs());
    assert_eq!(
        out.workload.installed_version().as_deref(),
        Some(zookeeper_charm::deps::ZOOKEEPER_VERSION)
    );
    let cause = "cannot upgrade ZooKeeper: `mem-workload refresh` failed with exit code 1: error: refresh failed (injected)";
    assert_eq!(out.local().upgrade_failure.as_deref(), Some(cause));
    assert_eq!(
        out.status(),
        Some(Status::blocked(format!(
            "upgrade failed: {cause}; {ROLL_BACK}"
        )))
    );
}

#[test]
fn after_a_failed_upgrade_nobody_retries_and_everyone_says_why() {
    let failed = |me: u32, leader: bool| {
        Hook::update_status()
            .steady(me, 3)
            .leader(leader)
            .with(|w| {
                w.set_stack(&[0, 2, 1]);
                w.set_upgrade_state(0, UpgradeState::Ready);
                w.set_upgrade_state(1, UpgradeState::Failed);
                w.set_upgrade_state(2, UpgradeState::Ready);
                w.upgrade_pending = true;
            })
    };
    let out = failed(1, false)
        .with(|w| w.upgrade_failure = Some("cannot upgrade ZooKeeper: it broke".into()))
        .run();
    out.ok();
    assert!(out.lifecycle().is_empty(), "{}", out.describe());
    assert_eq!(
        out.status(),
        Some(Status::blocked(format!(
            "upgrade failed: cannot upgrade ZooKeeper: it broke; {ROLL_BACK}"
        )))
    );
    for (me, leader) in [(2, false), (0, true)] {
        let out = failed(me, leader).run();
        out.ok();
        assert!(out.lifecycle().is_empty(), "{}", out.describe());
        assert_eq!(
            out.status(),
            Some(Status::waiting(
                "upgrade stopped: unit 1 failed to upgrade; see its status to roll back"
            ))
        );
        assert_eq!(out.ran("relation-set"), 0, "{}", out.describe());
    }
}

#[test]
fn an_upgraded_server_that_does_not_rejoin_fails_unless_the_quorum_is_out_of_reach() {
    // Its server serves but never syncs; the others are fine: the upgrade failed.
    let out = upgrading(1)
        .with(|w| {
            w.servers.insert(1, ServerHealth::syncing());
        })
        .run();
    out.ok();
    assert_eq!(
        out.upgrade_state(),
        Some(UpgradeState::Failed),
        "{}",
        out.describe()
    );
    assert_eq!(
        out.status(),
        Some(Status::blocked(format!(
            "upgrade failed: ZooKeeper did not rejoin the quorum after the upgrade; {ROLL_BACK}"
        )))
    );
    // The other voters are down: not this upgrade's fault; it waits, still upgrading.
    let out = upgrading(1)
        .with(|w| {
            w.servers.insert(1, ServerHealth::syncing());
            w.servers
                .insert(0, ServerHealth::down("connection refused"));
            w.servers
                .insert(2, ServerHealth::down("connection refused"));
        })
        .run();
    out.ok();
    assert_eq!(
        out.upgrade_state(),
        Some(UpgradeState::Upgrading),
        "{}",
        out.describe()
    );
    assert_eq!(
        out.status(),
        Some(Status::waiting(
            "upgraded, waiting for a quorum to rejoin: zookeeper/0, zookeeper/2 not serving"
        ))
    );
}

#[test]
fn a_failing_hook_tool_fails_the_hook_with_its_command_and_stderr() {
    // (tool, hook, leader) where the tool's failure is a real fault.
    let steady = |hook: Hook, leader: bool| hook.steady(u32::from(!leader), 3).leader(leader);
    // The version is set only when the workload changed: at install, say.
    let install = Hook::install().fresh(0, 1).leader(true).with(|w| {
        w.related = false;
        w.installed = None;
    });
    let cases = [
        ("is-leader", steady(Hook::update_status(), false)),
        ("relation-get", steady(Hook::update_status(), true)),
        ("config-get", steady(Hook::config_changed(), false)),
        ("application-version-set", install),
    ];
    for (tool, hook) in cases {
        let out = hook.fail_tool(tool).run();
        let err = out.result.clone().unwrap_err();
        assert!(
            err.starts_with(&format!("`{tool} "))
                && err.ends_with("failed with exit code 1: ERROR injected failure"),
            "{tool}: {err}"
        );
        assert_eq!(out.ran("relation-set"), 0, "{tool}: {}", out.describe());
    }
}

#[test]
fn a_failing_write_fails_the_hook_so_that_juju_retries_it() {
    // The leader must record a departed unit's removal: the write fails, the hook fails.
    let out = Hook::relation("cluster", "departed")
        .steady(0, 3)
        .leader(true)
        .departing(2)
        .fail_tool("relation-set")
        .run();
    let err = out.result.clone().unwrap_err();
    assert!(
        err.starts_with("`relation-set -r cluster:0 --app --file - (keys: 2)` failed"),
        "{err}"
    );
    // A status that cannot be set fails the hook too.
    let out = Hook::update_status()
        .steady(1, 3)
        .with(|w| w.last_status = None)
        .fail_tool("status-set")
        .run();
    assert!(out.result.is_err(), "{}", out.describe());
}

#[test]
fn a_failing_goal_state_or_network_get_is_not_fatal() {
    // goal-state: the leader of a new application still names the lowest unit.
    let out = Hook::start()
        .fresh(0, 3)
        .leader(true)
        .fail_tool("goal-state")
        .with(|w| {
            w.servers.insert(0, ServerHealth::leading());
            w.voters.insert(0);
        })
        .run();
    out.ok();
    assert_eq!(out.lifecycle(), [WorkloadCall::Start], "{}", out.describe());
    // network-get: the address comes from unit-get.
    let out = Hook::config_changed()
        .steady(1, 3)
        .fail_tool("network-get")
        .run();
    out.ok();
    assert_eq!(out.ran("unit-get"), 1, "{}", out.describe());
    assert_eq!(
        out.ran("relation-set"),
        0,
        "the same address: nothing to write"
    );
}

#[test]
fn a_failing_workload_operation_blocks_with_what_failed_and_the_hook_succeeds() {
    let out = Hook::install()
        .fresh(0, 1)
        .with(|w| {
            w.related = false;
            w.installed = None;
            w.workload_faults.push(Op::Install);
        })
        .run();
    out.ok();
    assert_eq!(
        out.status(),
        Some(Status::blocked(
            "cannot install ZooKeeper: `mem-workload install` failed with exit code 1: error: install failed (injected)"
        )),
        "{}",
        out.describe()
    );
    let out = Hook::update_status()
        .steady(1, 3)
        .with(|w| {
            w.running = false;
            w.workload_faults.push(Op::Start);
        })
        .run();
    out.ok();
    assert_eq!(
        out.status().map(|s| s.message),
        Some(
            "cannot start ZooKeeper: `mem-workload start` failed with exit code 1: error: start failed (injected)"
                .into()
        )
    );
    // A workload that cannot even be asked whether it runs is a fault.
    let out = Hook::update_status()
        .steady(1, 3)
        .with(|w| w.workload_faults.push(Op::IsRunning))
        .run();
    assert!(out.result.is_err(), "{}", out.describe());
    // A steady hook never asks the version (a subprocess on a machine).
    let out = Hook::update_status()
        .steady(1, 3)
        .with(|w| w.workload_faults.push(Op::Version))
        .run();
    out.ok();
}

#[test]
fn a_server_that_exits_right_after_start_is_started_again_at_most_once_per_round() {
    let out = Hook::update_status()
        .steady(1, 3)
        .with(|w| {
            w.running = false;
            w.exits_after_start = true;
        })
        .run();
    out.ok();
    assert_eq!(
        out.lifecycle(),
        vec![WorkloadCall::Start; MAX_ROUNDS],
        "the rounds are bounded: {}",
        out.describe()
    );
    assert_eq!(
        out.status(),
        Some(Status::maintenance(
            "starting ZooKeeper (it was not running)"
        ))
    );
}

#[test]
fn a_server_that_exits_at_start_is_started_once_and_the_hook_ends_blocked_with_its_cause() {
    let out = Hook::update_status()
        .steady(1, 3)
        .with(|w| {
            w.running = false;
            w.exits_after_start = true;
            w.exit_cause = Some("Unable to create snap directory /mem/data/version-2".into());
            w.servers
                .insert(1, ServerHealth::down("connection refused"));
        })
        .run();
    out.ok();
    assert_eq!(out.lifecycle(), [WorkloadCall::Start], "{}", out.describe());
    let status = out.status().unwrap();
    assert_eq!(status.kind, StatusKind::Blocked, "{status:?}");
    assert!(
        status.message.starts_with(
            "ZooKeeper exits at start: Unable to create snap directory /mem/data/version-2; fix it"
        ),
        "{status:?}"
    );
}

#[test]
fn a_reconfig_zookeeper_refuses_ends_the_hook_waiting_to_retry() {
    for (fault, said) in [
        (
            Fault::BadVersion,
            "the ensemble config changed meanwhile (bad version)",
        ),
        (
            Fault::ConnectionLoss,
            "connection lost or timed out: session expired",
        ),
        (
            Fault::Refused("no quorum".into()),
            "zookeeper refused the reconfig: no quorum",
        ),
    ] {
        let out = Hook::relation("cluster", "departed")
            .steady(0, 3)
            .leader(true)
            .departing(2)
            .with(|w| w.ensemble_faults.push(fault.clone()))
            .run();
        out.ok();
        assert_eq!(
            out.reconfigs().len(),
            1,
            "one try per hook: {}",
            out.describe()
        );
        assert_eq!(
            out.status(),
            Some(Status::waiting(format!(
                "cannot remove server 3 yet: {said}; will retry"
            )))
        );
        assert!(
            out.cluster_app().recorded_voters().contains(&2),
            "not recorded as removed"
        );
    }
}

#[test]
fn a_leaving_voter_whose_reconfig_fails_keeps_serving_in_stop_and_stops_in_remove() {
    // Its vote is needed to commit its removal: it stops only once it is out, except in
    // `remove`, its last hook, where it stops whatever happens.
    let out = Hook::stop()
        .steady(2, 3)
        .with(|w| w.ensemble_faults.push(Fault::BadVersion))
        .run();
    out.ok();
    assert_eq!(out.reconfigs().len(), 1, "{}", out.describe());
    assert!(out.reconfigs()[0].result.is_err());
    assert!(out.lifecycle().is_empty(), "{}", out.describe());
    // Leaving outranks the waiting the refused reconfig adds.
    assert_eq!(out.status().map(|s| s.kind), Some(StatusKind::Maintenance));

    let out = Hook::remove()
        .steady(2, 3)
        .with(|w| w.ensemble_faults.push(Fault::BadVersion))
        .run();
    out.ok();
    assert_eq!(out.lifecycle(), [WorkloadCall::Stop], "{}", out.describe());
    assert_eq!(out.status().map(|s| s.kind), Some(StatusKind::Maintenance));
}
