//! The unit's own hooks: install, start, config-changed, update-status, the leader hooks,
//! upgrade-charm, stop, remove, and the storage hooks; each on the leader and on a
//! non-leader.

use std::collections::BTreeMap;

use zookeeper_charm::deps;
use zookeeper_charm::peers::cluster;
use zookeeper_charm::peers::restart::{self, LockRequest};
use zookeeper_charm::peers::upgrade::UpgradeState;
use zookeeper_charm::status::{Status, StatusKind};
use zookeeper_charm::workload::mem::WorkloadCall;
use zookeeper_charm::workload::Workload;
use zookeeper_charm::zk::ensemble::{MembershipOp, ServerHealth};

use crate::scenario::*;

/// A fresh unit: Juju runs `install` before the unit joins any relation.
fn fresh_install(leader: bool) -> Outcome {
    Hook::install()
        .fresh(0, 1)
        .leader(leader)
        .with(|w| {
            w.related = false;
            w.installed = None;
        })
        .run()
}

#[test]
fn install_installs_the_workload_and_waits_for_the_peer_relation_without_reading_peer_data() {
    for leader in [false, true] {
        let out = fresh_install(leader);
        out.ok();
        assert_eq!(
            out.lifecycle(),
            [WorkloadCall::Install],
            "{}",
            out.describe()
        );
        assert_eq!(
            out.status(),
            Some(Status::waiting("waiting for the cluster peer relation"))
        );
        assert_eq!(
            out.tools.application_version().as_deref(),
            Some(deps::ZOOKEEPER_VERSION)
        );
        // No relation yet: the ids are asked (and are none); no bag is read or written.
        assert_eq!(out.ran("relation-ids"), 3, "{}", out.describe());
        for tool in [
            "relation-get",
            "relation-set",
            "relation-list",
            "goal-state",
        ] {
            assert_eq!(out.ran(tool), 0, "{tool}: {}", out.describe());
        }
        assert!(out.health_asked().is_empty());
        assert!(
            out.local().peer_ids.is_empty(),
            "no id learnt, none remembered"
        );
    }
}

#[test]
fn start_on_a_new_application_bootstraps_the_lowest_unit_alone_and_names_the_next() {
    // The leader, unit 0 of three new units: no passwords, nobody started, no server
    // answers. Its own server answers once it runs, as the only voter.
    let out = Hook::start()
        .fresh(0, 3)
        .leader(true)
        .with(|w| {
            w.servers.insert(0, ServerHealth::leading());
            w.voters.insert(0);
        })
        .run();
    out.ok();
    let app = out.cluster_app();
    // The passwords are in the internal secret, with Charmed ZooKeeper's label; the bag
    // holds its URI and nothing password-like.
    let creds = out.credentials().expect("the internal secret");
    assert!(creds.complete(), "{creds:?}");
    let secret = out
        .tools
        .secret_state(app.internal_secret.as_ref().unwrap().as_str())
        .unwrap();
    assert_eq!(secret.owner_label(), Some(SECRET_LABEL));
    let pw = creds.super_password.as_ref().unwrap().as_str().to_string();
    let bag = out.app_bag(CLUSTER);
    assert!(!bag.values().any(|v| v.contains(&pw)), "{bag:?}");
    assert_eq!(out.ran("secret-add"), 1);
    // It bootstrapped alone with the initial dynamic config of itself.
    assert_eq!(out.lifecycle(), [WorkloadCall::Start], "{}", out.describe());
    let dynamic = out
        .workload
        .file(&out.workload.paths().initial_dynamic())
        .unwrap();
    assert_eq!(dynamic.lines().count(), 1, "{dynamic}");
    assert!(dynamic.starts_with("server.1=127.0.0.11:"), "{dynamic}");
    assert!(out.reconfigs().is_empty(), "a bootstrap needs no reconfig");
    // Recorded as started and added; unit 1 goes next.
    assert!(cluster::Unit::from_bag(&out.own_bag(CLUSTER)).started);
    assert_eq!(
        app.recorded.get(&0),
        Some(&cluster::Recorded::Added),
        "{app:?}"
    );
    assert_eq!(app.starting, Some(1));
    assert_eq!(out.ran("goal-state"), 1, "the leader asks whom Juju plans");
    assert_eq!(out.status(), Some(Status::active("leader")));
    // It learnt the peer relation ids once, and that no client relation exists, for the
    // hooks that follow.
    assert_eq!(out.ran("relation-ids"), 4);
    assert_eq!(out.local().peer_ids.len(), 3);
    assert_eq!(out.local().client_relations, Some(BTreeMap::new()));
}

#[test]
fn start_on_a_new_non_leader_waits_for_its_turn_and_starts_nothing() {
    let out = Hook::start()
        .fresh(1, 3)
        .with(|w| w.share_passwords())
        .run();
    out.ok();
    assert!(out.lifecycle().is_empty(), "{}", out.describe());
    assert_eq!(
        out.status(),
        Some(Status::waiting(
            "waiting for the leader to schedule this unit's start"
        ))
    );
    assert!(out.health_asked().is_empty());
    // It marks itself idle in upgrades; its address is published already.
    assert_eq!(
        out.written_keys(),
        [(UPGRADE.to_string(), false, vec!["state".to_string()])]
    );
    assert_eq!(out.upgrade_state(), Some(UpgradeState::Idle));
}

#[test]
fn a_joiner_in_its_turn_starts_with_the_live_voters_and_itself_never_alone() {
    // Unit 2's turn; units 0 and 1 are voters.
    let joining = |voters_answer: bool| {
        Hook::start()
            .steady(2, 3)
            .with(move |w| {
                w.cluster_units.insert(
                    2,
                    cluster::UnitPatch {
                        ip: Some(addr(2).parse().unwrap()),
                        ..Default::default()
                    }
                    .to_bag(),
                );
                w.cluster_app.extend(
                    cluster::AppPatch {
                        starting: Some(Some(2)),
                        ..Default::default()
                    }
                    .to_bag(),
                );
                w.cluster_app.remove("2");
                w.voters.remove(&2);
                w.running = false;
                w.started_with = None;
                w.last_status = None;
                if !voters_answer {
                    w.servers
                        .insert(0, ServerHealth::down("connection refused"));
                    w.servers
                        .insert(1, ServerHealth::down("connection refused"));
                }
            })
            .run()
    };
    let out = joining(true);
    out.ok();
    assert_eq!(out.lifecycle(), [WorkloadCall::Start], "{}", out.describe());
    let dynamic = out
        .workload
        .file(&out.workload.paths().initial_dynamic())
        .unwrap();
    let servers: Vec<&str> = dynamic.lines().map(|l| &l[..8]).collect();
    assert_eq!(servers, ["server.1", "server.2", "server.3"], "{dynamic}");
    assert!(cluster::Unit::from_bag(&out.own_bag(CLUSTER)).started);

    // Voters exist but none answers: it must not start alone (a second ensemble).
    let out = joining(false);
    out.ok();
    assert!(out.lifecycle().is_empty(), "{}", out.describe());
    assert_eq!(out.status().map(|s| s.kind), Some(StatusKind::Waiting));
}

#[test]
fn config_changed_with_a_restart_relevant_option_asks_for_the_restart_lock() {
    let out = Hook::config_changed()
        .steady(1, 3)
        .with(|w| {
            w.config.insert("tick-time".into(), 3000.into());
        })
        .run();
    out.ok();
    let own = restart::Unit::from_bag(&out.own_bag(RESTART));
    assert_eq!(
        own.request,
        Some(LockRequest::Acquire),
        "{}",
        out.describe()
    );
    assert!(own.requested_at.is_some());
    assert!(out.lifecycle().is_empty(), "no restart without the lock");
    assert_eq!(
        out.status(),
        Some(Status::waiting("waiting for restart lock"))
    );
    assert!(out.writes(CLUSTER, false).is_empty());
    assert_eq!(out.ran("secret-get"), 0, "no file written, no secret read");
}

#[test]
fn config_changed_on_the_leader_restarts_it_last_and_says_after_whom() {
    let out = Hook::config_changed()
        .steady(0, 3)
        .leader(true)
        .with(|w| {
            w.config.insert("tick-time".into(), 3000.into());
        })
        .run();
    out.ok();
    assert!(out.lifecycle().is_empty(), "{}", out.describe());
    assert!(
        out.app_bag(RESTART).is_empty(),
        "no grant while the others run the old files"
    );
    assert_eq!(
        out.status(),
        Some(Status::waiting(
            "waiting for restart lock: the leader restarts last, after zookeeper/1, zookeeper/2"
        ))
    );
}

#[test]
fn config_changed_with_an_invalid_option_blocks_and_changes_nothing() {
    for leader in [false, true] {
        let out = Hook::config_changed()
            .steady(u32::from(!leader), 3)
            .leader(leader)
            .with(|w| {
                w.config.insert("log-level".into(), "LOUD".into());
            })
            .run();
        out.ok();
        let status = out.status().unwrap();
        assert_eq!(status.kind, StatusKind::Blocked, "{}", out.describe());
        assert!(status.message.contains("juju config"), "{status:?}");
        assert_eq!(out.ran("relation-set"), 0);
        assert!(out.lifecycle().is_empty());
    }
}

#[test]
fn a_granted_unit_restarts_with_the_new_files_then_releases_the_lock() {
    let out = Hook::named("restart-relation-changed")
        .steady(1, 3)
        .with(|w| {
            w.config.insert("tick-time".into(), 3000.into());
            w.restart_units.get_mut(&1).unwrap().extend(
                restart::UnitPatch {
                    request: Some(Some(LockRequest::Acquire)),
                    requested_at: Some(Some("00000000000000000001".into())),
                    ..Default::default()
                }
                .to_bag(),
            );
            w.restart_app = restart::AppPatch {
                grants: [(1, Some(restart::Grant::Granted))].into(),
            }
            .to_bag(APP);
        })
        .run();
    out.ok();
    assert_eq!(
        out.lifecycle(),
        [WorkloadCall::Stop, WorkloadCall::Start],
        "{}",
        out.describe()
    );
    let zoo_cfg = out.workload.file(&out.workload.paths().zoo_cfg()).unwrap();
    assert!(zoo_cfg.contains("tickTime=3000"), "{zoo_cfg}");
    let own = restart::Unit::from_bag(&out.own_bag(RESTART));
    assert_eq!(own.request, Some(LockRequest::Release));
    assert_eq!(own.inputs.as_deref(), Some(out.world.inputs().as_str()));
    // The restart showed while it happened, and the unit is active again.
    let shown: Vec<StatusKind> = out
        .tools
        .status_calls()
        .iter()
        .map(|c| c.status.kind)
        .collect();
    assert_eq!(shown, [StatusKind::Maintenance, StatusKind::Active]);
    // The files need the passwords: one read of the secret, by its URI.
    assert_eq!(out.ran("secret-get"), 1, "{}", out.describe());
    let jaas = out.workload.file(&out.workload.paths().jaas()).unwrap();
    assert!(
        jaas.contains(&format!("user_super=\"{}\"", "S".repeat(32))),
        "{jaas}"
    );
    // The fingerprint recorded and reported holds no password.
    assert!(!own.inputs.unwrap().contains("SSSS"));
    assert_eq!(
        out.local().started_with.as_deref(),
        Some(out.world.rendered_now().0.as_str())
    );
}

#[test]
fn upgrade_charm_on_the_leader_moves_an_earlier_revisions_passwords_into_the_secret() {
    let out = Hook::upgrade_charm()
        .steady(0, 3)
        .leader(true)
        .with(|w| {
            w.secret = None;
            w.cluster_app.remove("internal_secret");
            w.cluster_app
                .insert("super-password".into(), "S".repeat(32));
            w.cluster_app.insert("sync-password".into(), "Y".repeat(32));
        })
        .run();
    out.ok();
    let app = out.cluster_app();
    assert!(app.legacy.is_empty(), "{}", out.describe());
    let creds = out.credentials().expect("the secret");
    assert_eq!(creds.super_password.unwrap().as_str(), "S".repeat(32));
    assert_eq!(creds.sync_password.unwrap().as_str(), "Y".repeat(32));
    let secret = out
        .tools
        .secret_state(app.internal_secret.unwrap().as_str())
        .unwrap();
    assert_eq!(secret.owner_label(), Some(SECRET_LABEL));
    // The same passwords, the same files: no restart (a refresh rolls out by the upgrade).
    assert!(out.lifecycle().is_empty(), "{}", out.describe());
    let bag = out.app_bag(CLUSTER);
    assert!(
        !bag.values()
            .any(|v| v.contains("SSSS") || v.contains("YYYY")),
        "{bag:?}"
    );
}

#[test]
fn a_leftover_bag_password_that_breaks_the_rule_is_deleted_not_a_block() {
    // The secret is fine; the bag still holds an earlier revision's copy that the rule
    // refuses (too short). The leader deletes it; no unit is blocked by it.
    for leader in [true, false] {
        let out = Hook::update_status()
            .steady(0, 3)
            .leader(leader)
            .with(|w| {
                w.cluster_app
                    .insert("super-password".into(), "short".into());
            })
            .run();
        out.ok();
        assert!(
            out.tools
                .status_calls()
                .iter()
                .all(|c| c.status.kind == StatusKind::Active),
            "leader {leader}: {}",
            out.describe()
        );
        assert_eq!(
            out.cluster_app().legacy.is_empty(),
            leader,
            "leader {leader}"
        );
        if leader {
            assert!(out.credentials().expect("the secret").complete());
            assert!(
                !out.app_bag(CLUSTER).contains_key("super-password"),
                "{}",
                out.describe()
            );
        }
    }
}

#[test]
fn a_leader_with_charmed_zookeepers_secret_keeps_it_and_reads_it_only_to_act_as_super() {
    // Charmed ZooKeeper's bag: the secret's URI and nothing of this charm's.
    let out = Hook::update_status()
        .steady(0, 3)
        .leader(true)
        .with(|w| {
            w.cluster_app.remove("root-acl");
        })
        .run();
    out.ok();
    assert_eq!(out.ran("secret-add"), 0);
    assert_eq!(out.ran("secret-set"), 0);
    // Restricting the root ACL needs super: one read.
    assert_eq!(out.ran("secret-get"), 1, "{}", out.describe());
    assert!(out.ensemble.root_protected());
    assert!(out.cluster_app().root_acl_restricted);
}

#[test]
fn update_status_on_a_steady_unit_changes_nothing_and_asks_little() {
    for (me, leader) in [(1, false), (0, true)] {
        let out = Hook::update_status().steady(me, 3).leader(leader).run();
        out.ok();
        assert_eq!(out.status(), None, "unchanged: no status-set");
        assert_eq!(
            out.shown_status(),
            Some(Status::active(if me == 0 { "leader" } else { "follower" }))
        );
        for tool in [
            "relation-set",
            "relation-ids",
            "network-get",
            "goal-state",
            "application-version-set",
            "action-set",
        ] {
            assert_eq!(out.ran(tool), 0, "{tool}: {}", out.describe());
        }
        assert!(out.lifecycle().is_empty() && out.reconfigs().is_empty());
    }
}

#[test]
fn update_status_reports_a_running_server_without_quorum_as_blocked() {
    let out = Hook::update_status()
        .steady(1, 3)
        .with(|w| {
            w.servers.insert(
                1,
                ServerHealth::down("This ZooKeeper instance is not currently serving requests"),
            );
        })
        .run();
    out.ok();
    let status = out.status().unwrap();
    assert_eq!(status.kind, StatusKind::Blocked);
    assert!(
        status
            .message
            .starts_with("ZooKeeper is running but not serving (This ZooKeeper"),
        "{status:?}"
    );
    assert!(
        out.lifecycle().is_empty(),
        "no restart of a server without quorum"
    );
}

#[test]
fn update_status_restarts_a_started_server_that_is_not_running() {
    for (me, leader) in [(1, false), (0, true)] {
        let out = Hook::update_status()
            .steady(me, 3)
            .leader(leader)
            .with(|w| w.running = false)
            .run();
        out.ok();
        assert_eq!(out.lifecycle(), [WorkloadCall::Start], "{}", out.describe());
        assert_eq!(out.shown_status().map(|s| s.kind), Some(StatusKind::Active));
    }
}

#[test]
fn leader_elected_and_leader_settings_changed_reconcile_like_any_hook() {
    for (hook, run) in [
        ("leader-elected", Hook::leader_elected as fn() -> Hook),
        ("leader-settings-changed", Hook::leader_settings_changed),
    ] {
        for (me, leader) in [(1, false), (0, true)] {
            let out = run().steady(me, 3).leader(leader).run();
            out.ok();
            assert_eq!(out.ran("relation-set"), 0, "{}", out.describe());
            assert_eq!(out.status(), None);
            assert_eq!(
                out.ran("network-get"),
                usize::from(hook == "leader-elected"),
                "only leader-elected looks at the address again"
            );
        }
    }
}

#[test]
fn a_new_leader_takes_over_a_membership_change_its_predecessor_left() {
    // Unit 2 left while unit 0 led; unit 1 is the new leader and removes its server.
    let out = Hook::leader_elected()
        .steady(1, 3)
        .leader(true)
        .with(|w| {
            w.units.remove(&2);
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
    assert_eq!(
        out.cluster_app().recorded.get(&2),
        Some(&cluster::Recorded::Removed)
    );
}

#[test]
fn upgrade_charm_without_pre_upgrade_check_blocks_with_what_to_run() {
    for (me, leader) in [(1, false), (0, true)] {
        let out = Hook::upgrade_charm().steady(me, 3).leader(leader).run();
        out.ok();
        assert!(out.local().upgrade_pending, "new charm code runs now");
        assert!(out.lifecycle().is_empty(), "{}", out.describe());
        assert_eq!(
            out.status(),
            Some(Status::blocked(
                "charm refreshed without pre-upgrade-check, ZooKeeper not upgraded yet: run `juju run zookeeper/leader pre-upgrade-check` to roll it out"
            ))
        );
        // The workload did not change: its version is not asked again.
        assert_eq!(out.ran("application-version-set"), 0);
    }
}

/// An upgrade prepared with stack `[0, 2, 1]` (unit 1 goes first), every unit ready.
fn prepared(me: u32, leader: bool) -> Hook {
    Hook::upgrade_charm()
        .steady(me, 3)
        .leader(leader)
        .with(|w| {
            w.set_stack(&[0, 2, 1]);
            for id in 0..3 {
                w.set_upgrade_state(id, UpgradeState::Ready);
            }
            w.pinned = "3.9.3".into();
        })
}

#[test]
fn upgrade_charm_upgrades_the_unit_on_top_of_the_stack_and_the_others_wait() {
    let out = prepared(1, false).run();
    out.ok();
    assert_eq!(
        out.lifecycle(),
        [
            WorkloadCall::Stop,
            WorkloadCall::Refresh,
            WorkloadCall::Start
        ],
        "{}",
        out.describe()
    );
    assert_eq!(out.workload.installed_version().as_deref(), Some("3.9.3"));
    assert_eq!(out.upgrade_state(), Some(UpgradeState::Completed));
    assert!(!out.local().upgrade_pending);
    assert_eq!(out.tools.application_version().as_deref(), Some("3.9.3"));

    // Unit 2 is next but one: it waits for unit 1.
    let out = prepared(2, false).run();
    out.ok();
    assert!(out.lifecycle().is_empty(), "{}", out.describe());
    assert!(out.local().upgrade_pending);
    assert_eq!(
        out.status(),
        Some(Status::waiting(
            "other units upgrading first: waiting for unit 1"
        ))
    );
    // The leader (last in line) waits too, and keeps the stack.
    let out = prepared(0, true).run();
    out.ok();
    assert!(out.lifecycle().is_empty(), "{}", out.describe());
    assert!(out.writes(UPGRADE, true).is_empty());
}

#[test]
fn stop_steps_out_of_the_quorum_while_the_rest_keep_a_majority_then_stops() {
    for (me, leader) in [(2, false), (0, true)] {
        let out = Hook::stop().steady(me, 3).leader(leader).run();
        out.ok();
        let ops: Vec<MembershipOp> = out.reconfigs().into_iter().map(|r| r.op).collect();
        assert_eq!(
            ops,
            [MembershipOp::Remove { server_id: me + 1 }],
            "{}",
            out.describe()
        );
        assert_eq!(out.lifecycle(), [WorkloadCall::Stop]);
        assert_eq!(
            out.status(),
            Some(Status::maintenance(
                "leaving the ensemble: this unit is being removed"
            ))
        );
        assert_eq!(out.ran("relation-set"), 0, "a leaving unit writes nothing");
    }
}

#[test]
fn stop_keeps_the_voter_when_the_others_could_not_make_a_majority_without_it() {
    // Unit 2 stops while unit 1's server is down: 0 alone of {0, 1} is no majority.
    let out = Hook::stop()
        .steady(2, 3)
        .with(|w| {
            w.servers
                .insert(1, ServerHealth::down("connection refused"));
        })
        .run();
    out.ok();
    assert!(out.reconfigs().is_empty(), "{}", out.describe());
    assert_eq!(out.lifecycle(), [WorkloadCall::Stop]);
}

#[test]
fn remove_after_stop_has_nothing_left_to_do() {
    for (me, leader) in [(2, false), (0, true)] {
        let out = Hook::remove()
            .steady(me, 3)
            .leader(leader)
            .with(|w| {
                w.running = false;
                w.voters.remove(&w.me.clone());
            })
            .run();
        out.ok();
        assert!(out.reconfigs().is_empty(), "{}", out.describe());
        assert!(out.lifecycle().is_empty());
        assert_eq!(
            out.status(),
            Some(Status::maintenance(
                "leaving the ensemble: this unit is being removed"
            ))
        );
    }
}

#[test]
fn storage_attached_before_install_prepares_the_data_storage_and_does_nothing_else() {
    for leader in [false, true] {
        let out = Hook::storage_attached()
            .fresh(0, 1)
            .leader(leader)
            .with(|w| {
                w.related = false;
                w.installed = None;
            })
            .run();
        out.ok();
        assert_eq!(
            out.workload.calls(),
            [WorkloadCall::PrepareDataDirs],
            "install follows in its own hook: {}",
            out.describe()
        );
        assert_eq!(out.total_calls(), 0, "{}", out.describe());
        assert_eq!(out.status(), None);
    }
}

#[test]
fn storage_detaching_leaves_and_stops_as_stop_does() {
    // Juju's first hook of a removal: the data goes away, so the server leaves and stops.
    for (me, leader) in [(2, false), (0, true)] {
        let detaching = Hook::storage_detaching().steady(me, 3).leader(leader).run();
        detaching.ok();
        let stop = Hook::stop().steady(me, 3).leader(leader).run();
        let ops = |o: &Outcome| -> Vec<MembershipOp> {
            o.reconfigs().into_iter().map(|r| r.op).collect()
        };
        assert_eq!(
            ops(&detaching),
            [MembershipOp::Remove { server_id: me + 1 }],
            "{}",
            detaching.describe()
        );
        assert_eq!(ops(&detaching), ops(&stop));
        assert_eq!(detaching.lifecycle(), [WorkloadCall::Stop]);
        assert_eq!(detaching.lifecycle(), stop.lifecycle());
        assert_eq!(detaching.status(), stop.status());
        assert_eq!(
            detaching.ran("relation-set"),
            0,
            "a leaving unit writes nothing"
        );
    }
}

#[test]
fn an_unknown_hook_is_ignored_without_a_tool_call() {
    let out = Hook::named("secret-rotate").steady(1, 3).run();
    out.ok();
    assert_eq!(out.total_calls(), 0, "{}", out.describe());
}

#[test]
fn secret_changed_reconciles_like_a_steady_hook_without_reading_the_secret() {
    let out = Hook::named("secret-changed").steady(1, 3).run();
    out.ok();
    assert_eq!(out.total_calls(), 8, "{}", out.describe());
    assert_eq!(out.ran("secret-get"), 0);
}

#[test]
fn secret_remove_on_the_leader_drops_the_obsolete_revision_and_changes_nothing_else() {
    let out = Hook::secret_remove(2).steady(0, 3).leader(true).run();
    out.ok();
    let lines = out.lines();
    assert!(
        lines.contains(&format!("secret-remove {SECRET_URI} --revision 2")),
        "{lines:?}"
    );
    assert!(out.lifecycle().is_empty());
    assert_eq!(out.ran("relation-set"), 0);
    // A unit that is not the leader (any more) cannot: the hook still succeeds.
    let out = Hook::secret_remove(2).steady(1, 3).leader(false).run();
    out.ok();
}

#[test]
fn a_serving_unit_opens_its_client_port_once_and_a_leaving_one_closes_it() {
    use std::collections::BTreeSet;
    // A serving server whose unit has no port open yet (a refresh from a revision that
    // opened none): the first hook opens 2181, and remembers it.
    for leader in [false, true] {
        let out = Hook::named("update-status")
            .steady(u32::from(!leader), 3)
            .leader(leader)
            .with(|w| {
                w.ports.clear();
                w.ports_remembered = None;
            })
            .run();
        out.ok();
        assert_eq!(out.ran("opened-ports"), 1, "{}", out.describe());
        assert_eq!(
            out.tools.ports_now(),
            BTreeSet::from(["2181/tcp".to_string()]),
            "{}",
            out.describe()
        );
        assert_eq!(out.local().opened_ports, Some(BTreeSet::from([2181])));
    }
    // Open and remembered: nothing asked, nothing changed (the budgets' steady hooks).
    let out = Hook::named("update-status").steady(1, 3).run();
    out.ok();
    assert_eq!(out.ran("opened-ports") + out.ran("open-port"), 0);
    // Leaving: closed in its first teardown hook, quorum and election ports never opened.
    let out = Hook::stop().steady(2, 3).run();
    out.ok();
    assert!(out.tools.ports_now().is_empty(), "{}", out.describe());
    assert_eq!(out.local().opened_ports, Some(BTreeSet::new()));
    let lines = out.lines();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("2888") || l.contains("3888")),
        "{lines:?}"
    );
}

#[test]
fn a_server_between_elections_keeps_the_client_port_and_a_failed_hook_forgets_what_it_opened() {
    use std::collections::BTreeSet;
    let out = Hook::named("update-status")
        .steady(1, 3)
        .with(|w| {
            w.servers.insert(1, ServerHealth::down("no quorum"));
            w.servers.insert(0, ServerHealth::down("gone"));
            w.servers.insert(2, ServerHealth::down("gone"));
        })
        .run();
    out.ok();
    assert_eq!(out.tools.ports_now().len(), 1, "{}", out.describe());
    // A hook that fails after opening: Juju discards the open, and the charm forgets it.
    let out = Hook::named("update-status")
        .steady(1, 3)
        .with(|w| {
            w.ports.clear();
            w.ports_remembered = None;
            w.failing_tools.push("status-set".into());
            w.last_status = None;
        })
        .run();
    assert!(out.result.is_err(), "{}", out.describe());
    assert_eq!(out.ran("open-port"), 1, "{}", out.describe());
    assert_eq!(out.local().opened_ports, None::<BTreeSet<u16>>);
}
