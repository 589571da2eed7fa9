//! Every action, on the leader and on a non-leader, with its refusals: what it returns or
//! why it fails, what it writes (and what it must not), and the reconcile that follows the
//! ones that change something.

use serde_json::json;
use zookeeper_charm::peers::cluster::{self, SyncRotation};
use zookeeper_charm::peers::restart::{self, LockRequest};
use zookeeper_charm::peers::upgrade::{self, UpgradeState};
use zookeeper_charm::status::Status;
use zookeeper_charm::zk::ensemble::ServerHealth;

use crate::scenario::*;

#[test]
fn the_password_getters_answer_on_any_unit_from_the_secret_with_four_calls_and_nothing_else() {
    for (action, key, value) in [
        ("get-super-password", "super-password", "S".repeat(32)),
        ("get-sync-password", "sync-password", "Y".repeat(32)),
    ] {
        for (me, leader) in [(1, false), (0, true)] {
            let out = Hook::action(action).steady(me, 3).leader(leader).run();
            out.ok();
            assert_eq!(
                out.action_results(),
                [(key.to_string(), value.clone())].into(),
                "{}",
                out.describe()
            );
            assert_eq!(out.action_failure(), None);
            assert_eq!(
                out.lines(),
                [
                    "relation-ids --format=json cluster",
                    "relation-get --format=json -r cluster:0 --app - zookeeper",
                    &format!("secret-get --format=json {SECRET_URI}"),
                    &format!("action-set {key}={value}"),
                ]
            );
            assert!(out.health_asked().is_empty() && out.lifecycle().is_empty());
        }
    }
}

#[test]
fn the_password_getters_fail_before_the_passwords_exist() {
    for action in ["get-super-password", "get-sync-password"] {
        let out = Hook::action(action)
            .fresh(0, 1)
            .with(|w| w.related = false)
            .run();
        out.ok();
        assert_eq!(
            out.action_failure().as_deref(),
            Some("the password is not set yet: the leader generates it once the cluster peer relation exists"),
            "{}",
            out.describe()
        );
        assert!(out.action_results().is_empty());
    }
}

#[test]
fn set_password_on_the_leader_writes_the_new_super_password_and_starts_the_roll() {
    let out = Hook::action("set-password")
        .steady(0, 3)
        .leader(true)
        .params(json!({"password": "Abc-1234"}))
        .run();
    out.ok();
    assert_eq!(
        out.action_results(),
        [("super-password".to_string(), "Abc-1234".to_string())].into(),
        "{}",
        out.describe()
    );
    let creds = out.credentials().unwrap();
    assert_eq!(creds.super_password.unwrap().as_str(), "Abc-1234");
    assert_eq!(out.cluster_app().secret_generation, 1);
    // The results come last: after the secret, the bag and the status.
    let lines = out.lines();
    assert!(lines.last().unwrap().starts_with("action-set"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("secret-set")),
        "{lines:?}"
    );
    // The reconcile that follows: the leader's own files changed, it asks for the lock and
    // waits for the others (which run the old password) to restart first.
    assert_eq!(
        restart::Unit::from_bag(&out.own_bag(RESTART)).request,
        Some(LockRequest::Acquire)
    );
    assert_eq!(
        out.status(),
        Some(Status::waiting(
            "waiting for restart lock: the leader restarts last, after zookeeper/1, zookeeper/2"
        ))
    );
    // The password is never on a command line.
    assert!(
        out.tools
            .calls()
            .iter()
            .filter(|c| c.tool == "relation-set")
            .all(|c| !c.args.join(" ").contains("Abc-1234")),
        "{:?}",
        out.lines()
    );
}

#[test]
fn set_password_for_sync_generates_a_password_and_starts_a_three_phase_rotation() {
    let out = Hook::action("set-password")
        .steady(0, 3)
        .leader(true)
        .params(json!({"username": "sync"}))
        .run();
    out.ok();
    let new = out.action_results()["sync-password"].clone();
    assert_eq!(new.len(), 32, "{}", out.describe());
    let app = out.cluster_app();
    let creds = out.credentials().unwrap();
    assert_eq!(creds.sync_password_new.unwrap().as_str(), new);
    assert_eq!(app.sync_rotation, Some(SyncRotation::Relax));
    assert_eq!(creds.sync_password.unwrap().as_str(), "Y".repeat(32));
}

#[test]
fn set_password_refusals_fail_the_action_and_write_nothing() {
    // (where it runs, params, the failure's text)
    let leader = |me| (me, me == 0);
    let table: Vec<((u32, bool), serde_json::Value, &str)> = vec![
        (
            leader(1),
            json!({}),
            "set-password must run on the leader unit: `juju run zookeeper/leader set-password ...`",
        ),
        (
            leader(0),
            json!({"username": "root"}),
            "set-password changes only the charm's internal users `super` and `sync`, not \"root\"",
        ),
        (
            leader(0),
            json!({"password": "has space"}),
            "the password is refused: character 4 is not allowed; a password has only A-Z, a-z, 0-9 and ._~+@%^-; nothing was changed",
        ),
        (
            leader(0),
            json!({"username": "sync", "password": "pa${user.name}ss"}),
            "the password is refused: character 3 is not allowed; a password has only A-Z, a-z, 0-9 and ._~+@%^-; nothing was changed",
        ),
        (
            leader(0),
            json!({"user": "sync"}),
            "invalid parameters for set-password: unknown field `user`, expected `username` or `password`",
        ),
    ];
    for ((me, is_leader), params, expected) in table {
        let out = Hook::action("set-password")
            .steady(me, 3)
            .leader(is_leader)
            .params(params.clone())
            .run();
        out.ok();
        assert_eq!(
            out.action_failure().as_deref(),
            Some(expected),
            "{params}: {}",
            out.describe()
        );
        assert_eq!(out.ran("relation-set"), 0, "{params}");
        assert_eq!(out.ran("action-set"), 0, "{params}");
        assert_eq!(
            out.ran("status-set"),
            0,
            "{params}: no reconcile after a refusal"
        );
    }
}

#[test]
fn set_password_is_refused_while_a_rotation_or_an_upgrade_runs() {
    let out = Hook::action("set-password")
        .steady(0, 3)
        .leader(true)
        .params(json!({"username": "sync"}))
        .with(|w| {
            w.secret
                .as_mut()
                .unwrap()
                .insert("sync-password-new".into(), "N".repeat(32));
            w.cluster_app.extend(
                cluster::AppPatch {
                    sync_rotation: Some(Some(SyncRotation::Switch)),
                    ..Default::default()
                }
                .to_bag(),
            );
        })
        .run();
    out.ok();
    assert_eq!(
        out.action_failure().as_deref(),
        Some("a sync password rotation is in its switch phase: servers (some) log in with its new password already, so it can only finish; it does once every unit restarted with it (see `juju status`), then run set-password again")
    );
    assert_eq!(out.ran("relation-set"), 0, "{}", out.describe());
    assert_eq!(out.ran("secret-set"), 0, "{}", out.describe());

    let out = Hook::action("set-password")
        .steady(0, 3)
        .leader(true)
        .with(|w| w.set_stack(&[0, 2, 1]))
        .run();
    out.ok();
    assert_eq!(
        out.action_failure().as_deref(),
        Some("cannot change a password while an upgrade is prepared or running (upgrade-stack [0,2,1]); finish or roll back the upgrade first")
    );
    assert_eq!(out.ran("relation-set"), 0, "{}", out.describe());
}

#[test]
fn pre_upgrade_check_on_the_leader_writes_the_stack_with_the_quorum_leader_last() {
    let out = Hook::action("pre-upgrade-check")
        .steady(0, 3)
        .leader(true)
        .run();
    out.ok();
    let results = out.action_results();
    assert_eq!(results["upgrade-stack"], "[0,2,1]", "{}", out.describe());
    assert!(results["message"].contains("units will upgrade in this order: [1, 2, 0]"));
    assert_eq!(
        upgrade::App::from_bag(&out.app_bag(UPGRADE)).stack.units(),
        [0, 2, 1]
    );
    // The reconcile that follows marks the leader ready and says what to run.
    assert_eq!(out.upgrade_state(), Some(UpgradeState::Ready));
    assert_eq!(
        out.status(),
        Some(Status::waiting(
            "upgrade prepared: run `juju refresh zookeeper` to start it"
        ))
    );
    assert_eq!(
        out.ran("relation-list"),
        3,
        "every unit's upgrade state is read"
    );
}

#[test]
fn pre_upgrade_check_refusals_fail_the_action_and_write_nothing() {
    let down = |w: &mut World| {
        w.servers
            .insert(2, ServerHealth::down("connection refused"));
    };
    let syncing = |w: &mut World| {
        w.servers.insert(1, ServerHealth::syncing());
    };
    let not_voter = |w: &mut World| {
        w.voters.remove(&1);
    };
    let joining = |w: &mut World| {
        w.cluster_app.extend(
            cluster::AppPatch {
                starting: Some(Some(2)),
                ..Default::default()
            }
            .to_bag(),
        );
    };
    let restarting = |w: &mut World| {
        w.restart_app = restart::AppPatch {
            grants: [(1, Some(restart::Grant::Granted))].into(),
        }
        .to_bag(APP);
    };
    let prepared = |w: &mut World| {
        w.set_stack(&[0, 2, 1]);
        w.set_upgrade_state(1, UpgradeState::Ready);
    };
    let no_leader = |w: &mut World| {
        w.servers.insert(0, ServerHealth::following());
    };
    type Edit = Box<dyn Fn(&mut World)>;
    let table: Vec<(&str, Edit, bool, &str)> = vec![
        ("a non-leader", Box::new(|_: &mut World| {}), false, "pre-upgrade-check must run on the leader: `juju run zookeeper/leader pre-upgrade-check`"),
        ("a server down", Box::new(down), true, "pre-upgrade check failed, it is not safe to upgrade: unit 2 is not serving requests; fix it before upgrading"),
        ("a server syncing", Box::new(syncing), true, "pre-upgrade check failed, it is not safe to upgrade: unit 1 is still syncing with the quorum leader"),
        ("a unit not a voter", Box::new(not_voter), true, "pre-upgrade check failed, it is not safe to upgrade: unit 1 is not a voting member of the quorum yet; wait until every unit is active"),
        ("no quorum leader", Box::new(no_leader), true, "pre-upgrade check failed, it is not safe to upgrade: no ZooKeeper quorum leader was found"),
        ("a unit joining", Box::new(joining), true, "pre-upgrade check failed, it is not safe to upgrade: unit 2 is still joining the ensemble"),
        ("a restart going on", Box::new(restarting), true, "pre-upgrade check failed, it is not safe to upgrade: a rolling restart is in progress"),
        ("an upgrade prepared", Box::new(prepared), true, "an upgrade is already prepared or running (upgrade-stack [0,2,1]); let it finish, or roll back a failed unit"),
    ];
    for (what, edit, leader, expected) in table {
        let out = Hook::action("pre-upgrade-check")
            .steady(u32::from(!leader), 3)
            .leader(leader)
            .with(|w| edit(w))
            .run();
        out.ok();
        assert_eq!(
            out.action_failure().as_deref(),
            Some(expected),
            "{what}: {}",
            out.describe()
        );
        assert_eq!(out.ran("relation-set"), 0, "{what}");
        assert_eq!(out.ran("status-set"), 0, "{what}");
    }
}

#[test]
fn pre_upgrade_check_after_a_failed_upgrade_prepares_the_rollback() {
    let out = Hook::action("pre-upgrade-check")
        .steady(0, 3)
        .leader(true)
        .with(|w| {
            w.set_stack(&[0, 2]);
            w.set_upgrade_state(0, UpgradeState::Ready);
            w.set_upgrade_state(1, UpgradeState::Completed);
            w.set_upgrade_state(2, UpgradeState::Failed);
        })
        .run();
    out.ok();
    assert_eq!(
        out.action_results()["upgrade-stack"],
        "[0,1,2]",
        "{}",
        out.describe()
    );
    assert_eq!(out.upgrade_state(), Some(UpgradeState::Recovery));
    assert_eq!(
        upgrade::App::from_bag(&out.app_bag(UPGRADE)).stack.units(),
        [0, 1, 2]
    );
}

#[test]
fn resume_upgrade_reports_where_the_upgrade_is_on_any_unit_and_writes_nothing() {
    for (me, leader) in [(1, false), (0, true)] {
        let out = Hook::action("resume-upgrade")
            .steady(me, 3)
            .leader(leader)
            .run();
        out.ok();
        assert_eq!(
            out.action_results()["message"],
            "no upgrade is in progress; on machines an upgrade needs no resume: run pre-upgrade-check, then juju refresh",
            "{}",
            out.describe()
        );
        assert_eq!(out.ran("relation-set"), 0);

        let out = Hook::action("resume-upgrade")
            .steady(me, 3)
            .leader(leader)
            .with(|w| {
                w.set_stack(&[0, 2, 1]);
                for id in 0..3 {
                    w.set_upgrade_state(id, UpgradeState::Ready);
                }
            })
            .run();
        out.ok();
        assert!(
            out.action_results()["message"].contains("next to upgrade: unit 1"),
            "{}",
            out.describe()
        );
        assert_eq!(out.ran("relation-set"), 0);
    }
}

#[test]
fn an_unknown_action_fails_with_one_call() {
    let out = Hook::action("make-coffee").steady(1, 3).run();
    out.ok();
    assert_eq!(
        out.lines(),
        ["action-fail -- unknown action \"make-coffee\": this charm has no such action"]
    );
}

#[test]
fn the_password_getters_read_an_earlier_revisions_bag_until_the_leader_moved_it() {
    let out = Hook::action("get-sync-password")
        .steady(1, 3)
        .with(|w| {
            w.secret = None;
            w.cluster_app.remove("internal_secret");
            w.cluster_app
                .insert("sync-password".into(), "legacy-sync-pw".into());
            w.cluster_app
                .insert("super-password".into(), "legacy-super-pw".into());
        })
        .run();
    out.ok();
    assert_eq!(
        out.action_results(),
        [("sync-password".to_string(), "legacy-sync-pw".to_string())].into(),
        "{}",
        out.describe()
    );
    assert_eq!(out.ran("secret-get"), 0);
}

#[test]
fn set_password_reports_nothing_when_the_hook_then_fails() {
    // The reconcile after the change fails (a tool breaks): Juju discards the hook's writes,
    // and no password was shown.
    let out = Hook::action("set-password")
        .steady(0, 3)
        .leader(true)
        .params(json!({"password": "Abc-1234"}))
        .fail_tool("status-set")
        .run();
    assert!(out.result.is_err(), "{}", out.describe());
    assert_eq!(out.ran("action-set"), 0, "{}", out.describe());
    assert!(out.action_results().is_empty());
}

#[test]
fn a_sync_rotation_stuck_in_its_first_phase_is_superseded_by_a_new_set_password() {
    // The wedge of a bad new password: unit 1 restarted into `relax` and never came back.
    let out = Hook::action("set-password")
        .steady(0, 3)
        .leader(true)
        .params(json!({"username": "sync", "password": "Fixed-pw-123"}))
        .with(|w| {
            w.secret
                .as_mut()
                .unwrap()
                .insert("sync-password-new".into(), "first-new-pw".into());
            w.cluster_app.extend(
                cluster::AppPatch {
                    sync_rotation: Some(Some(SyncRotation::Relax)),
                    secret_generation: Some(1),
                    ..Default::default()
                }
                .to_bag(),
            );
            w.servers
                .insert(1, ServerHealth::down("connection refused"));
        })
        .run();
    out.ok();
    assert_eq!(out.action_failure(), None, "{}", out.describe());
    let creds = out.credentials().unwrap();
    assert_eq!(creds.sync_password_new.unwrap().as_str(), "Fixed-pw-123");
    assert_eq!(creds.sync_password.unwrap().as_str(), "Y".repeat(32));
    let app = out.cluster_app();
    assert_eq!(app.sync_rotation, Some(SyncRotation::Relax));
    assert_eq!(app.secret_generation, 2);
}
