//! This unit's own server: passwords, first start, bootstrap, status, leaving.

use super::*;

#[test]
fn leader_without_passwords_creates_the_internal_secret_once_and_waits() {
    let plan = World::unit(0, &[0, 1]).no_passwords().leader().plan();
    assert_eq!(
        plan.secret,
        Some(SecretWrite::Create {
            content: Credentials::default()
        })
    );
    assert_eq!(status(&plan).kind, StatusKind::Waiting);
    assert!(plan.workload.is_empty());
    // Once the secret is there, nothing more.
    let plan = World::unit(0, &[0, 1]).leader().app("starting", "0").plan();
    assert_eq!(plan.secret, None);
}

#[test]
fn non_leader_without_passwords_waits_and_generates_nothing() {
    let plan = World::unit(1, &[0, 1]).no_passwords().plan();
    assert_eq!(plan.secret, None);
    assert_eq!(
        status(&plan),
        Status::waiting("waiting for the leader to generate the internal passwords")
    );
}

#[test]
fn the_leader_moves_an_earlier_revisions_passwords_into_the_secret_and_out_of_the_bag() {
    let w = World::unit(0, &[0, 1])
        .no_passwords()
        .leader()
        .app("super-password", "legacy-super-1")
        .app("sync-password", "legacy-sync-1");
    let plan = w.plan();
    match &plan.secret {
        Some(SecretWrite::Create { content }) => {
            assert_eq!(
                content.super_password.as_ref().unwrap().as_str(),
                "legacy-super-1"
            );
            assert_eq!(
                content.sync_password.as_ref().unwrap().as_str(),
                "legacy-sync-1"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(plan.cluster_app.drop_legacy);
    let bag = plan.cluster_app.to_bag();
    assert_eq!(bag["super-password"], "");
    // A non-leader can start with them meanwhile.
    let w = World::unit(1, &[0, 1])
        .no_passwords()
        .app("super-password", "legacy-super-1")
        .app("sync-password", "legacy-sync-1")
        .app("starting", "1")
        .ensemble(&[0], &[(0, leading())]);
    let plan = w.plan();
    assert!(
        matches!(plan.workload[..], [WorkloadOp::Start { .. }]),
        "{plan:?}"
    );
    assert!(plan.rendered.unwrap().jaas.contains("legacy-sync-1"));
}

#[test]
fn a_leader_whose_read_passwords_are_unusable_says_why_and_does_not_ask_for_them_again() {
    // Moved into the secret already, an earlier revision's copy still in the bag, and the
    // secret gone: the round has read the passwords, and there is nothing to merge.
    let w = healthy3(0)
        .leader()
        .app("super-password", "legacy-super-1")
        .app("sync-password", "legacy-sync-1");
    let mut s = w.snapshot();
    s.credentials = Some(Err(format!(
        "the internal secret {SECRET_URI} (the cluster relation's `internal_secret`) does not exist"
    )));
    let plan = decide(&s, &paths());
    assert!(!plan.need_credentials, "{plan:?}");
    assert!(!plan.cluster_app.drop_legacy, "{plan:?}");
    assert_eq!(plan.secret, None);
    let st = status(&plan);
    assert_eq!(st.kind, StatusKind::Blocked);
    assert!(st.message.contains("does not exist"), "{st:?}");
    // Or a value in the secret breaks the rule: the same, without the value.
    let plan = w.secret("super-password", "pa${x}ss-word").plan();
    assert!(!plan.need_credentials, "{plan:?}");
    let st = status(&plan);
    assert_eq!(st.kind, StatusKind::Blocked);
    assert!(!st.message.contains("pa$"), "{st:?}");
}

#[test]
fn a_round_that_writes_files_reads_the_passwords_first_and_a_steady_one_never() {
    let plan = World::unit(0, &[0, 1, 2])
        .app("starting", "0")
        .not_loaded()
        .plan();
    assert!(plan.need_credentials);
    assert!(plan.rendered.is_none());
    let plan = healthy3(1).not_loaded().plan();
    assert!(!plan.need_credentials);
    assert!(plan.is_idle(), "{plan:?}");
}

#[test]
fn passwords_that_break_the_rule_start_nothing_and_block_with_what_to_do() {
    let w = World::unit(0, &[0, 1, 2])
        .app("starting", "0")
        .secret("sync-password", "pa${user.name}ss");
    let plan = w.plan();
    assert!(plan.workload.is_empty(), "{plan:?}");
    let st = status(&plan);
    assert_eq!(st.kind, StatusKind::Blocked);
    assert!(st.message.contains("set-password"), "{st:?}");
    assert!(!st.message.contains("user.name"), "{st:?}");
}

#[test]
fn the_named_unit_bootstraps_alone_when_nobody_was_ever_added() {
    let plan = World::unit(0, &[0, 1, 2]).app("starting", "0").plan();
    let own = ServerSpec {
        id: 1,
        host: addr(0),
        role: Role::Participant,
    };
    assert_eq!(
        plan.workload,
        vec![WorkloadOp::Start {
            initial_members: Some(vec![own])
        }]
    );
}

#[test]
fn a_unit_waiting_its_turn_names_the_unit_it_waits_for() {
    let plan = World::unit(2, &[0, 1, 2])
        .app("starting", "1")
        .started(&[0])
        .added(&[0])
        .plan();
    assert!(plan.workload.is_empty());
    assert_eq!(
        status(&plan),
        Status::waiting("waiting for unit 1 to join the quorum")
    );
}

#[test]
fn a_joiner_never_starts_alone_when_a_quorum_exists_but_does_not_answer() {
    // Unit 2's turn, units 0 and 1 are added, but no server answered this hook.
    let plan = World::unit(2, &[0, 1, 2])
        .app("starting", "2")
        .started(&[0, 1])
        .added(&[0, 1])
        .plan();
    assert!(plan.workload.is_empty(), "{:?}", plan.workload);
    assert_eq!(status(&plan).kind, StatusKind::Waiting);
}

#[test]
fn a_joiner_starts_with_the_live_voters_and_itself() {
    let plan = World::unit(2, &[0, 1, 2])
        .app("starting", "2")
        .started(&[0, 1])
        .added(&[0, 1])
        .ensemble(&[0, 1], &[(0, leading()), (1, following())])
        .plan();
    let ids: Vec<u32> = match &plan.workload[..] {
        [WorkloadOp::Start {
            initial_members: Some(m),
        }] => m.iter().map(|s| s.id).collect(),
        other => panic!("expected a first start, got {other:?}"),
    };
    assert_eq!(ids, vec![1, 2, 3]);
}

#[test]
fn a_started_joiner_records_started_only_once_synced() {
    let w = World::unit(1, &[0, 1])
        .app("starting", "1")
        .started(&[0])
        .added(&[0]);
    let syncing = ServerHealth {
        serving: false,
        ..Default::default()
    };
    let plan = w.clone().running(syncing).plan();
    assert!(!plan.cluster_unit.started);
    let plan = w.running(following()).plan();
    assert!(plan.cluster_unit.started);
}

#[test]
fn a_departing_voter_steps_out_of_the_quorum_itself_then_stops() {
    let mut w = healthy3(2);
    w.s.event.departing = Some(2);
    w.s.event.dying = true;
    let plan = w.plan();
    assert_eq!(plan.membership, vec![MembershipOp::Remove { server_id: 3 }]);
    assert!(
        plan.workload.is_empty(),
        "it stops in the stop hook, not while departing"
    );
    // Stopping too (stop, or the data storage detaching): it steps out first, stops once
    // it is out (the next round), and in `remove` stops whatever happens.
    w.s.event.stopping = true;
    let plan = w.plan();
    assert_eq!(plan.membership, vec![MembershipOp::Remove { server_id: 3 }]);
    assert!(
        plan.workload.is_empty(),
        "its vote is needed for its removal"
    );
    let mut out = w.clone().ensemble(
        &[0, 1],
        &[(0, leading()), (1, following()), (2, following())],
    );
    out.s.event.stopping = true;
    let plan = out.plan();
    assert!(plan.membership.is_empty());
    assert_eq!(plan.workload, vec![WorkloadOp::Stop]);
    w.s.event.removing = true;
    assert_eq!(w.plan().workload, vec![WorkloadOp::Stop]);
}

#[test]
fn a_departing_voter_stays_when_the_rest_would_lose_their_majority() {
    let mut w = healthy3(2).ensemble(&[0, 1, 2], &[(0, leading()), (1, down()), (2, following())]);
    w.s.event.departing = Some(2);
    w.s.event.dying = true;
    assert!(
        w.plan().membership.is_empty(),
        "0 and 1 remain, only 0 serves"
    );
}

#[test]
fn steady_state_does_nothing_and_reports_the_role() {
    let plan = healthy3(1).plan();
    assert!(plan.is_idle(), "{plan:?}");
    assert_eq!(status(&plan), Status::active("follower"));
    let plan = healthy3(0).leader().plan();
    assert!(plan.is_idle(), "{plan:?}");
    assert_eq!(status(&plan), Status::active("leader"));
}

#[test]
fn a_server_without_quorum_is_blocked_with_the_reason() {
    let plan = healthy3(1).running(down()).plan();
    let st = status(&plan);
    assert_eq!(st.kind, StatusKind::Blocked);
    assert!(st.message.contains("not serving"), "{}", st.message);
}

#[test]
fn invalid_config_blocks_and_names_the_option() {
    let mut w = healthy3(1);
    w.s.config = CharmConfig::from_juju(serde_json::json!({"tick-time": 0}).as_object().unwrap());
    let plan = w.plan();
    assert!(plan.workload.is_empty());
    let st = status(&plan);
    assert_eq!(st.kind, StatusKind::Blocked);
    assert!(st.message.contains("tick-time"), "{}", st.message);
}

#[test]
fn a_stopped_member_is_started_again_with_its_own_config() {
    let mut w = healthy3(1);
    w.s.workload.running = false;
    w.s.workload.health = None;
    assert_eq!(
        w.plan().workload,
        vec![WorkloadOp::Start {
            initial_members: None
        }]
    );
}

#[test]
fn a_changed_address_is_published_and_an_unchanged_one_is_not_rewritten() {
    let mut w = healthy3(1);
    assert_eq!(w.plan().cluster_unit, cluster::UnitPatch::default());
    w.s.address = Some("127.0.0.99".parse().unwrap());
    assert_eq!(
        w.plan().cluster_unit.ip,
        Some("127.0.0.99".parse().unwrap())
    );
}

#[test]
fn a_joiner_starts_without_observers_and_lists_itself_once() {
    // The live config has an observer (server 4) and already names this unit's server.
    let mut w = World::unit(2, &[0, 1, 2])
        .app("starting", "2")
        .started(&[0, 1])
        .added(&[0, 1])
        .ensemble(&[0, 1, 2], &[(0, leading()), (1, following())]);
    let cfg = w.s.ensemble.config.as_mut().unwrap();
    cfg.members.insert(
        4,
        ServerSpec {
            id: 4,
            host: "127.0.0.99".into(),
            role: Role::Observer,
        },
    );
    let ids: Vec<u32> = match &w.plan().workload[..] {
        [WorkloadOp::Start {
            initial_members: Some(m),
        }] => m.iter().map(|s| s.id).collect(),
        other => panic!("expected a first start, got {other:?}"),
    };
    assert_eq!(ids, vec![1, 2, 3]);
}

#[test]
fn a_unit_reports_its_sync_rotation_phase_only_once_it_runs_the_current_files_synced() {
    // A rotation in its first phase; the unit's own bag says nothing yet.
    let rotating = |w: World| {
        w.app("sync-password-new", &"N".repeat(32))
            .app("sync-rotation", "relax")
    };
    let phase = |w: World| w.plan().cluster_unit.sync_phase;
    let current = rotating(
        World::unit(1, &[0, 1, 2])
            .started(&[0, 1, 2])
            .added(&[0, 1, 2]),
    )
    .running(following())
    .ensemble(
        &[0, 1, 2],
        &[(0, leading()), (1, following()), (2, following())],
    );
    assert_eq!(
        phase(current.clone()),
        Some(Some(cluster::SyncRotation::Relax))
    );
    // Still on the files from before the rotation (not restarted yet): not in the phase.
    let mut old_files = current.clone();
    old_files.s.local.started_with = Some("the files before the rotation".into());
    assert_eq!(phase(old_files), None);
    // Restarted but not synced yet.
    let mut syncing = current;
    syncing.s.workload.health = Some(ServerHealth {
        peer_state: Some("following - synchronization".into()),
        ..following()
    });
    assert_eq!(phase(syncing), None);
}

#[test]
fn the_leader_restricts_the_root_acls_once_every_server_runs_the_current_files() {
    let mut w = healthy3(0).leader();
    w.cluster.app.remove("root-acl");
    let plan = w.plan();
    assert!(plan.protect_root, "{plan:?}");
    // It needs super: read first.
    assert!(w.clone().not_loaded().plan().need_credentials);
    // Not while a unit is behind (it restarts next), nor on a non-leader.
    let behind = w.clone().restart_unit(2, "inputs", "old");
    assert!(!behind.plan().protect_root);
    let mut other = healthy3(1);
    other.cluster.app.remove("root-acl");
    assert!(!other.plan().protect_root);
}
