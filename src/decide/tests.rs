//! Given/when/then tests of the pure decision, on hand-built snapshots.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::*;
use crate::config::CharmConfig;
use crate::snapshot::{EnsembleView, EventFacts, PeerRelation, ServerHealth, WorkloadFacts};
use crate::status::StatusKind;
use crate::workload::Paths;
use crate::zk::{EnsembleConfig, Role};

fn addr(id: u32) -> String {
    format!("127.0.0.{}", 11 + id)
}

fn paths() -> Paths {
    Paths {
        conf_dir: PathBuf::from("/z/conf"),
        data_dir: PathBuf::from("/z/data"),
        data_log_dir: PathBuf::from("/z/data-log"),
        log_dir: PathBuf::from("/z/log"),
        charm_state_dir: PathBuf::from("/z/state"),
    }
}

fn following() -> ServerHealth {
    ServerHealth {
        serving: true,
        state: Some("follower".into()),
        peer_state: Some("following - broadcast".into()),
        ..Default::default()
    }
}

fn leading() -> ServerHealth {
    ServerHealth {
        serving: true,
        state: Some("leader".into()),
        peer_state: Some("leading - broadcast".into()),
        pending_syncs: Some(0),
        ..Default::default()
    }
}

fn down() -> ServerHealth {
    ServerHealth {
        serving: false,
        error: Some("connection refused".into()),
        ..Default::default()
    }
}

/// A snapshot builder: unit `me` of an app whose peers are `units`.
struct World {
    s: Snapshot,
}

impl World {
    fn unit(me: u32, units: &[u32]) -> World {
        let mut cluster = PeerRelation {
            id: "cluster:0".into(),
            ..Default::default()
        };
        let mut restart = PeerRelation {
            id: "restart:1".into(),
            ..Default::default()
        };
        for u in units {
            cluster
                .units
                .insert(*u, BTreeMap::from([("ip".to_string(), addr(*u))]));
            restart.units.insert(*u, BTreeMap::new());
        }
        cluster.app.insert("super-password".into(), "S".repeat(32));
        cluster.app.insert("sync-password".into(), "Y".repeat(32));
        World {
            s: Snapshot {
                unit_id: me,
                unit_name: format!("zookeeper/{me}"),
                app_name: "zookeeper".into(),
                leader: false,
                paths: paths(),
                config: Ok(CharmConfig::default()),
                address: Some(addr(me)),
                cluster: Some(cluster),
                restart: Some(restart),
                upgrade: None,
                planned: None,
                workload: WorkloadFacts {
                    installed: true,
                    ..Default::default()
                },
                ensemble: EnsembleView::default(),
                event: EventFacts {
                    now: "00000000000000000100".into(),
                    ..Default::default()
                },
                upgrade_facts: Default::default(),
            },
        }
    }
    fn leader(mut self) -> Self {
        self.s.leader = true;
        self
    }
    fn app(mut self, k: &str, v: &str) -> Self {
        self.s
            .cluster
            .as_mut()
            .unwrap()
            .app
            .insert(k.into(), v.into());
        self
    }
    fn no_passwords(mut self) -> Self {
        let c = self.s.cluster.as_mut().unwrap();
        c.app.remove("super-password");
        c.app.remove("sync-password");
        self
    }
    fn started(mut self, ids: &[u32]) -> Self {
        for id in ids {
            self.s
                .cluster
                .as_mut()
                .unwrap()
                .units
                .get_mut(id)
                .unwrap()
                .insert("state".into(), "started".into());
        }
        self
    }
    fn added(mut self, ids: &[u32]) -> Self {
        for id in ids {
            self = self.app(&id.to_string(), "added");
        }
        self
    }
    /// This unit's server runs with the current files and has `health`.
    fn running(mut self, health: ServerHealth) -> Self {
        let fp = self.current_fingerprint();
        self.s.workload.running = true;
        self.s.workload.health = Some(health);
        self.s.workload.started_with = Some(fp);
        self
    }
    fn current_fingerprint(&self) -> String {
        Rendered::new(
            &CharmConfig::default(),
            &paths(),
            self.s.unit_id,
            &self.s.passwords().unwrap(),
        )
        .fingerprint()
    }
    /// The live ensemble: `voters` as participants, and each unit's health.
    fn ensemble(mut self, voters: &[u32], health: &[(u32, ServerHealth)]) -> Self {
        let mut cfg = EnsembleConfig {
            version: 0x1_0000_0003,
            ..Default::default()
        };
        for v in voters {
            cfg.members.insert(
                v + 1,
                ServerSpec {
                    id: v + 1,
                    host: addr(*v),
                    role: Role::Participant,
                },
            );
        }
        self.s.ensemble = EnsembleView {
            config: Some(cfg),
            health: health.iter().cloned().collect(),
        };
        self
    }
    fn restart_unit(mut self, id: u32, k: &str, v: &str) -> Self {
        self.s
            .restart
            .as_mut()
            .unwrap()
            .units
            .get_mut(&id)
            .unwrap()
            .insert(k.into(), v.into());
        self
    }
    /// Units `ids` report that their servers run with the current app-wide inputs.
    fn up_to_date(mut self, ids: &[u32]) -> Self {
        let inputs = shared_inputs(
            self.s.config.as_ref().unwrap(),
            &self.s.passwords().unwrap(),
        );
        for id in ids {
            self = self.restart_unit(*id, LOCK_INPUTS_KEY, &inputs);
        }
        self
    }
    fn restart_app(mut self, k: &str, v: &str) -> Self {
        self.s
            .restart
            .as_mut()
            .unwrap()
            .app
            .insert(k.into(), v.into());
        self
    }
    fn plan(&self) -> Plan {
        decide(&self.s)
    }
}

fn status(plan: &Plan) -> Status {
    let mut c = crate::status::StatusCollector::new();
    for s in &plan.statuses {
        c.add(s.clone());
    }
    c.resolve()
}

/// A fully formed, healthy 3-unit ensemble seen from unit `me`, unit 0 leading.
fn healthy3(me: u32) -> World {
    let h = if me == 0 { leading() } else { following() };
    World::unit(me, &[0, 1, 2])
        .started(&[0, 1, 2])
        .added(&[0, 1, 2])
        .running(h)
        .ensemble(
            &[0, 1, 2],
            &[(0, leading()), (1, following()), (2, following())],
        )
        .up_to_date(&[0, 1, 2])
}

#[test]
fn leader_without_passwords_generates_them_once_and_waits() {
    let plan = World::unit(0, &[0, 1]).no_passwords().leader().plan();
    assert!(plan.generate_passwords);
    assert_eq!(status(&plan).kind, StatusKind::Waiting);
    assert!(plan.workload.is_empty());
}

#[test]
fn non_leader_without_passwords_waits_and_generates_nothing() {
    let plan = World::unit(1, &[0, 1]).no_passwords().plan();
    assert!(!plan.generate_passwords);
    assert_eq!(
        status(&plan),
        Status::waiting("waiting for the leader to generate the internal passwords")
    );
}

#[test]
fn leader_names_the_lowest_unit_to_bootstrap_a_new_ensemble() {
    let plan = World::unit(2, &[0, 1, 2]).leader().plan();
    assert_eq!(
        plan.cluster_app.get(STARTING_KEY).map(String::as_str),
        Some("0")
    );
}

#[test]
fn leader_waits_for_every_planned_unit_before_bootstrapping() {
    let mut w = World::unit(2, &[1, 2]).leader();
    w.s.planned = Some(BTreeSet::from([0, 1, 2]));
    assert!(
        !w.plan().cluster_app.contains_key(STARTING_KEY),
        "unit 0 is planned but not related yet"
    );
}

#[test]
fn the_named_unit_bootstraps_alone_when_nobody_was_ever_added() {
    let plan = World::unit(0, &[0, 1, 2]).app(STARTING_KEY, "0").plan();
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
        .app(STARTING_KEY, "1")
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
        .app(STARTING_KEY, "2")
        .started(&[0, 1])
        .added(&[0, 1])
        .plan();
    assert!(plan.workload.is_empty(), "{:?}", plan.workload);
    assert_eq!(status(&plan).kind, StatusKind::Waiting);
}

#[test]
fn a_joiner_starts_with_the_live_voters_and_itself() {
    let plan = World::unit(2, &[0, 1, 2])
        .app(STARTING_KEY, "2")
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
        .app(STARTING_KEY, "1")
        .started(&[0])
        .added(&[0]);
    let syncing = ServerHealth {
        serving: false,
        ..Default::default()
    };
    assert!(w.s.clone().cluster.is_some());
    let plan = World { s: w.s.clone() }.running(syncing).plan();
    assert!(!plan.cluster_unit.contains_key("state"));
    let plan = World { s: w.s }.running(following()).plan();
    assert_eq!(
        plan.cluster_unit.get("state").map(String::as_str),
        Some("started")
    );
}

#[test]
fn leader_adds_a_synced_joiner_through_reconfig() {
    let plan = World::unit(0, &[0, 1, 2])
        .leader()
        .app(STARTING_KEY, "1")
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
        .app(STARTING_KEY, "1")
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
        .app(STARTING_KEY, "1")
        .started(&[0, 1])
        .added(&[0])
        .running(leading())
        .ensemble(&[0, 1], &[(0, leading()), (1, following())])
        .plan();
    assert_eq!(plan.cluster_app.get("1").map(String::as_str), Some("added"));
    assert_eq!(
        plan.cluster_app.get(STARTING_KEY).map(String::as_str),
        Some("")
    );
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
    assert_eq!(
        plan.cluster_app.get(STARTING_KEY).map(String::as_str),
        Some("2")
    );
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
    w.s.event.stopping = true;
    assert_eq!(w.plan().workload, vec![WorkloadOp::Stop]);
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
fn a_unit_whose_files_changed_requests_the_restart_lock_once() {
    let mut w = healthy3(1);
    w.s.config = Ok(CharmConfig {
        tick_time: 3000,
        ..CharmConfig::default()
    });
    let plan = w.plan();
    assert!(plan.workload.is_empty(), "no restart without the lock");
    assert_eq!(
        plan.restart_unit.get(LOCK_STATE_KEY).map(String::as_str),
        Some("acquire")
    );
    assert_eq!(status(&plan), Status::waiting("waiting for restart lock"));
    // Already requested: no new write (no hook loop).
    let plan = w.restart_unit(1, LOCK_STATE_KEY, "acquire").plan();
    assert!(plan.restart_unit.is_empty(), "{:?}", plan.restart_unit);
}

#[test]
fn a_granted_unit_restarts_then_releases_once_synced() {
    let mut w = healthy3(1)
        .restart_unit(1, LOCK_STATE_KEY, "acquire")
        .restart_app("zookeeper/1", "granted");
    w.s.config = Ok(CharmConfig {
        tick_time: 3000,
        ..CharmConfig::default()
    });
    assert_eq!(w.plan().workload, vec![WorkloadOp::Restart]);
    // After the restart the server runs with the new files.
    let fp = Rendered::new(
        w.s.config.as_ref().unwrap(),
        &paths(),
        1,
        &w.s.passwords().unwrap(),
    )
    .fingerprint();
    w.s.workload.started_with = Some(fp);
    assert_eq!(
        w.plan()
            .restart_unit
            .get(LOCK_STATE_KEY)
            .map(String::as_str),
        Some("release")
    );
    w.s.workload.health = Some(down());
    assert!(
        w.plan().restart_unit.is_empty(),
        "not synced yet: keep the lock"
    );
}

#[test]
fn leader_grants_the_earliest_request_and_itself_last() {
    let w = healthy3(0)
        .leader()
        .restart_unit(0, LOCK_STATE_KEY, "acquire")
        .restart_unit(0, LOCK_REQUESTED_AT_KEY, "00000000000000000001")
        .restart_unit(1, LOCK_STATE_KEY, "acquire")
        .restart_unit(1, LOCK_REQUESTED_AT_KEY, "00000000000000000009")
        .restart_unit(2, LOCK_STATE_KEY, "acquire")
        .restart_unit(2, LOCK_REQUESTED_AT_KEY, "00000000000000000005");
    let plan = w.plan();
    assert_eq!(
        plan.restart_app,
        Databag::from([("zookeeper/2".to_string(), "granted".to_string())])
    );
}

#[test]
fn a_unit_reports_the_inputs_it_runs_with_once_restarted_and_synced() {
    let mut w = healthy3(1)
        .restart_unit(1, LOCK_STATE_KEY, "acquire")
        .restart_app("zookeeper/1", "granted");
    w.s.config = Ok(CharmConfig {
        tick_time: 3000,
        ..CharmConfig::default()
    });
    assert!(!w.plan().restart_unit.contains_key(LOCK_INPUTS_KEY));
    w.s.workload.started_with = Some(
        Rendered::new(
            w.s.config.as_ref().unwrap(),
            &paths(),
            1,
            &w.s.passwords().unwrap(),
        )
        .fingerprint(),
    );
    let plan = w.plan();
    let new_inputs = shared_inputs(w.s.config.as_ref().unwrap(), &w.s.passwords().unwrap());
    assert_eq!(
        plan.restart_unit.get(LOCK_INPUTS_KEY),
        Some(&new_inputs),
        "{:?}",
        plan.restart_unit
    );
    assert_ne!(
        new_inputs,
        shared_inputs(&CharmConfig::default(), &w.s.passwords().unwrap())
    );
}

#[test]
fn the_leader_restarts_itself_only_after_every_other_unit_caught_up() {
    // The leader saw the change first: nobody else requested yet, but units 1 and 2 still
    // run with the old inputs, so they will request: the leader must not go first.
    let mut w = healthy3(0)
        .leader()
        .restart_unit(0, LOCK_STATE_KEY, "acquire");
    w.s.config = Ok(CharmConfig {
        tick_time: 3000,
        ..CharmConfig::default()
    });
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
        w.plan().restart_app,
        Databag::from([("zookeeper/0".to_string(), "granted".to_string())])
    );
}

#[test]
fn a_unit_that_never_started_does_not_hold_back_the_leaders_restart() {
    let mut w = World::unit(0, &[0, 1, 2, 3])
        .leader()
        .started(&[0, 1, 2])
        .added(&[0, 1, 2])
        .running(leading())
        .ensemble(
            &[0, 1, 2],
            &[(0, leading()), (1, following()), (2, following())],
        )
        .restart_unit(0, LOCK_STATE_KEY, "acquire");
    w.s.config = Ok(CharmConfig {
        tick_time: 3000,
        ..CharmConfig::default()
    });
    w = w.up_to_date(&[1, 2]);
    assert_eq!(
        w.plan().restart_app.get("zookeeper/0").map(String::as_str),
        Some("granted")
    );
}

#[test]
fn leader_grants_nobody_while_the_lock_is_held() {
    let plan = healthy3(0)
        .leader()
        .restart_app("zookeeper/2", "granted")
        .restart_unit(2, LOCK_STATE_KEY, "acquire")
        .restart_unit(1, LOCK_STATE_KEY, "acquire")
        .plan();
    assert!(plan.restart_app.is_empty(), "{:?}", plan.restart_app);
}

#[test]
fn leader_clears_a_released_grant_and_a_departed_holder() {
    let plan = healthy3(0)
        .leader()
        .restart_app("zookeeper/2", "granted")
        .restart_unit(2, LOCK_STATE_KEY, "release")
        .restart_app("zookeeper/7", "granted")
        .plan();
    assert_eq!(
        plan.restart_app.get("zookeeper/2").map(String::as_str),
        Some("idle")
    );
    assert_eq!(
        plan.restart_app.get("zookeeper/7").map(String::as_str),
        Some("")
    );
}

#[test]
fn leader_grants_no_restart_while_a_unit_is_joining() {
    let plan = healthy3(0)
        .leader()
        .app(STARTING_KEY, "3")
        .restart_unit(1, LOCK_STATE_KEY, "acquire")
        .plan();
    assert!(plan.restart_app.is_empty());
}

#[test]
fn a_sync_rotation_relaxes_then_switches_then_enforces() {
    let rel = healthy3(1)
        .app("sync-password-new", "N")
        .app("sync-rotation", "relax");
    let old = ("sync".to_string(), "Y".repeat(32));
    let new = ("sync2".to_string(), "N".to_string());
    // Every server also accepts the new user, and still logs in as the old one.
    let p = rel.s.passwords().unwrap();
    assert_eq!(p.sync_login, old);
    assert_eq!(p.sync_accepted, vec![old.clone(), new.clone()]);
    let sw = healthy3(1)
        .app("sync-password-new", "N")
        .app("sync-rotation", "switch");
    // Every server logs in as the new user; both are accepted.
    let p = sw.s.passwords().unwrap();
    assert_eq!(p.sync_login, new);
    assert_eq!(p.sync_accepted, vec![old.clone(), new.clone()]);
    let en = healthy3(1)
        .app("sync-password-new", "N")
        .app("sync-rotation", "enforce");
    // Only the new user is accepted.
    let p = en.s.passwords().unwrap();
    assert_eq!(p.sync_login, new);
    assert_eq!(p.sync_accepted, vec![new.clone()]);
    // The next rotation goes back to the first user name.
    let again = healthy3(1)
        .app("sync-user", "sync2")
        .app("sync-password-new", "M")
        .app("sync-rotation", "switch");
    let p = again.s.passwords().unwrap();
    assert_eq!(p.sync_login, ("sync".to_string(), "M".to_string()));
    assert_eq!(
        p.sync_accepted,
        vec![
            ("sync2".to_string(), "Y".repeat(32)),
            ("sync".to_string(), "M".to_string())
        ]
    );
    // Each phase changes the files: a restart through the lock.
    assert_eq!(
        rel.plan()
            .restart_unit
            .get(LOCK_STATE_KEY)
            .map(String::as_str),
        Some("acquire")
    );
}

#[test]
fn leader_moves_the_rotation_on_only_when_every_unit_runs_the_phase() {
    let mut w = healthy3(0)
        .leader()
        .app("sync-password-new", "N")
        .app("sync-rotation", "relax");
    for id in [0, 1] {
        w.s.cluster
            .as_mut()
            .unwrap()
            .units
            .get_mut(&id)
            .unwrap()
            .insert("sync-phase".into(), "relax".into());
    }
    assert!(
        !w.plan().cluster_app.contains_key("sync-rotation"),
        "unit 2 is not there yet"
    );
    w.s.cluster
        .as_mut()
        .unwrap()
        .units
        .get_mut(&2)
        .unwrap()
        .insert("sync-phase".into(), "relax".into());
    assert_eq!(
        w.plan()
            .cluster_app
            .get("sync-rotation")
            .map(String::as_str),
        Some("switch")
    );
}

#[test]
fn the_last_phase_makes_the_new_sync_password_the_current_one() {
    let mut w = healthy3(0)
        .leader()
        .app("sync-password-new", "N")
        .app("sync-rotation", "enforce");
    for id in [0, 1, 2] {
        w.s.cluster
            .as_mut()
            .unwrap()
            .units
            .get_mut(&id)
            .unwrap()
            .insert("sync-phase".into(), "enforce".into());
    }
    let plan = w.plan();
    assert_eq!(
        plan.cluster_app.get("sync-password").map(String::as_str),
        Some("N")
    );
    assert_eq!(
        plan.cluster_app.get("sync-user").map(String::as_str),
        Some("sync2")
    );
    // The servers already run with what the completed rotation renders: no restart.
    let mut done = World { s: w.s.clone() };
    for (k, v) in &plan.cluster_app {
        done = done.app(k, v);
    }
    assert_eq!(
        done.s.passwords().unwrap().sync_login,
        w.s.passwords().unwrap().sync_login
    );
    assert_eq!(
        done.s.passwords().unwrap().sync_accepted,
        w.s.passwords().unwrap().sync_accepted
    );
    assert_eq!(
        plan.cluster_app
            .get("sync-password-new")
            .map(String::as_str),
        Some("")
    );
    assert_eq!(
        plan.cluster_app.get("sync-rotation").map(String::as_str),
        Some("")
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
    assert!(!w.plan().cluster_app.contains_key(STARTING_KEY));
    w.s.planned = Some(BTreeSet::from([0, 1, 2, 4]));
    assert_eq!(
        w.plan().cluster_app.get(STARTING_KEY).map(String::as_str),
        Some("4")
    );
}

// Upgrade guards the upgrade lib lacks (issue 5).

/// `w` with an upgrade relation: `stack`, and each unit's upgrade state.
fn with_upgrade(mut w: World, stack: &[u32], states: &[(u32, &str)]) -> World {
    let mut up = PeerRelation {
        id: "upgrade:2".into(),
        ..Default::default()
    };
    up.app.insert(
        "upgrade-stack".into(),
        serde_json::to_string(stack).unwrap(),
    );
    up.app.insert(
        "dependencies".into(),
        crate::upgrade::deps::charm_dependencies().to_json(),
    );
    for (id, st) in states {
        up.units
            .insert(*id, BTreeMap::from([("state".to_string(), st.to_string())]));
    }
    w.s.upgrade = Some(up);
    w.s.upgrade_facts.compiled_dependencies = crate::upgrade::deps::charm_dependencies().to_json();
    w
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
    w.s.upgrade_facts.pending = true;
    let plan = w.plan();
    assert_eq!(plan.workload, vec![WorkloadOp::Upgrade]);
    assert_eq!(
        plan.upgrade_unit.get("state").map(String::as_str),
        Some("upgrading")
    );
}

#[test]
fn any_leader_pops_a_completed_top_so_a_leader_change_does_not_stall_the_stack() {
    // Unit 1 (top) completed while another unit led; the new leader pops it in any hook.
    let w = with_upgrade(
        healthy3(2).leader(),
        &[0, 2, 1],
        &[(0, "ready"), (1, "completed"), (2, "ready")],
    );
    assert_eq!(
        w.plan()
            .upgrade_app
            .get("upgrade-stack")
            .map(String::as_str),
        Some("[0,2]")
    );
}

#[test]
fn a_unit_added_mid_upgrade_counts_as_upgraded() {
    let w = with_upgrade(
        World::unit(3, &[0, 1, 2, 3]),
        &[0, 2, 1],
        &[(0, "ready"), (1, "ready"), (2, "ready")],
    );
    assert_eq!(
        w.plan().upgrade_unit.get("state").map(String::as_str),
        Some("completed")
    );
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
    assert_eq!(
        w.plan()
            .upgrade_app
            .get("upgrade-stack")
            .map(String::as_str),
        Some("[0,2]")
    );
}

#[test]
fn nobody_upgrades_while_another_unit_is_still_idle() {
    let mut w = with_upgrade(
        healthy3(1),
        &[0, 2, 1],
        &[(0, "idle"), (1, "ready"), (2, "ready")],
    );
    w.s.upgrade_facts.pending = true;
    let plan = w.plan();
    assert!(
        !plan.workload.contains(&WorkloadOp::Upgrade),
        "{:?}",
        plan.workload
    );
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
    assert_eq!(
        plan.upgrade_unit.get("state"),
        None,
        "{:?}",
        plan.upgrade_unit
    );
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
    assert_eq!(
        plan.upgrade_unit.get("state").map(String::as_str),
        Some("failed")
    );
    assert!(plan.upgrade_failure.is_some());
    // Three voters, one other down, one serving: a majority with this one is possible.
    let plan = upgraded_not_serving(&[0, 1, 2], &[(1, down()), (2, leading())]).plan();
    assert_eq!(
        plan.upgrade_unit.get("state").map(String::as_str),
        Some("failed")
    );
}

#[test]
fn an_upgraded_server_that_rejoined_completes() {
    let mut w = upgraded_not_serving(&[0, 1], &[(1, leading())]);
    w.s.workload.health = Some(following());
    let plan = w.plan();
    assert_eq!(
        plan.upgrade_unit.get("state").map(String::as_str),
        Some("completed")
    );
}
