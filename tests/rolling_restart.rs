//! Rolling restarts under the restart lock (issue 6), on the local model (`zk-sim`) with
//! real ZooKeeper servers: a config change, a `super` password change and a `sync` password
//! rotation each restart every unit the expected number of times, one unit at a time, the
//! Juju leader last, while a client keeps writing and loses no acknowledged write.
//!
//! The restarts are observed from the ZooKeeper processes themselves (pid and start time
//! from `/proc`, sampled every 100 ms, plus `srvr`), never from the charm's logs.
//!
//! The model runs several units' hooks at once and draws the Juju leader from the seed; every
//! settle must be healthy (no failed hook, no retry, nothing that waited for update-status).
//! One roll runs with the leader getting no hook for its own app-bag writes, one forces
//! the leader to read the ensemble while another unit's server restarts, and one removes a
//! unit whose restart is pending (its `data-storage-detaching` hook, the first of its
//! removal, starts, restarts and requests nothing).
//!
//! `ZK_TEST_SEEDS=1,2` overrides the event-order seeds.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use testkit::model::{assert_restarts_held_the_lock, unit_number};
use testkit::watch::{processes, serving, statuses, ProcessWatch, Restart, Watched};
use testkit::writes::{lost, read_children, WriteReport, Writer};
use testkit::{seeds, test_charm, Cluster};
use zk_sim::state::PauseState;
use zk_sim::{Model, Switches};
use zookeeper_charm::zk::admin::{Admin, Auth};
use zookeeper_charm::zk::ZkError;

const SAMPLE: Duration = Duration::from_millis(100);
const WRITE_EVERY: Duration = Duration::from_millis(50);
/// The longest time without an acknowledged write that still counts as "the quorum kept
/// serving" (generous for a loaded CI machine).
const MAX_WRITE_GAP: Duration = Duration::from_secs(20);

fn juju_leader(c: &Cluster) -> u32 {
    unit_number(&c.model.leader().unwrap().expect("a leader")).expect("a unit name")
}

fn unit(id: u32) -> String {
    format!("zookeeper/{id}")
}

/// Runs `change`, then settles while watching every unit's ZooKeeper process and writing
/// under `parent` as `auth`.
fn roll(
    c: &mut Cluster,
    what: &str,
    parent: &str,
    auth: Auth,
    change: impl FnOnce(&mut Cluster),
) -> (Watched, WriteReport) {
    let started = Instant::now();
    let watch = ProcessWatch::start(c.model.dir(), SAMPLE);
    let hosts: Vec<String> = c.addresses().into_values().collect();
    let writer = Writer::start_as(hosts, parent, auth, WRITE_EVERY);
    change(c);
    c.settle(what);
    let report = writer.finish();
    let watched = watch.finish();
    eprintln!(
        "seed {}: {what}: {:.1}s, {} writes acknowledged, {} failed attempts, longest gap {:.2}s; first errors: {:?}",
        c.seed,
        started.elapsed().as_secs_f64(),
        report.acked.len(),
        report.failures,
        report.max_gap.as_secs_f64(),
        report.errors.iter().take(3).collect::<Vec<_>>()
    );
    (watched, report)
}

/// Every unit's server was replaced exactly `rounds` times; the restarts never overlapped
/// and each new server served; in each round every unit restarted once and the Juju
/// leader's unit last. Returns the restarts in order.
fn assert_rolled(c: &Cluster, watched: &Watched, rounds: usize, what: &str) -> Vec<Restart> {
    let seed = c.seed;
    let timelines = &watched.timelines;
    let units: BTreeSet<u32> = c.addresses().into_keys().collect();
    assert_eq!(
        timelines.keys().copied().collect::<BTreeSet<u32>>(),
        units,
        "seed {seed}, {what}: watched units"
    );
    for (u, t) in timelines {
        let procs = processes(t);
        assert_eq!(
            procs.len(),
            rounds + 1,
            "seed {seed}, {what}: unit {u} must run {} servers one after the other, ran {procs:?}; timeline {t:?}",
            rounds + 1
        );
        let mut distinct = procs.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            procs.len(),
            "seed {seed}, {what}: unit {u} went back to an old server: {procs:?}"
        );
    }
    let all = watched.restarts();
    eprintln!(
        "seed {seed}: {what}: restarts (unit: down -> serving), longest gap between samples {:?}",
        watched.longest_gap()
    );
    for r in &all {
        eprintln!(
            "  unit {}: {:.2}s -> {:?} (pid {} -> {})",
            r.unit,
            r.down_from.as_secs_f64(),
            r.up_at,
            r.old.pid,
            r.new.pid
        );
    }
    // Also: the old servers were seen gone in the order the new ones started (start times
    // from /proc).
    watched.assert_one_down_at_a_time(&format!("seed {seed}, {what}"));
    // And the charm's own log: one grant at a time, every restart under it.
    let held = assert_restarts_held_the_lock(&c.model, &format!("seed {seed}, {what}"));
    assert!(
        held.len() >= all.len(),
        "seed {seed}, {what}: the charm logged {} restarts, the watch saw {}",
        held.len(),
        all.len()
    );
    let leader = juju_leader(c);
    // `juju status` showed each restart while it happened, and the leader waiting its turn.
    for (u, t) in timelines {
        let seen = statuses(t);
        let restarting = seen
            .iter()
            .filter(|s| **s == "maintenance: restarting")
            .count();
        assert_eq!(
            restarting, rounds,
            "seed {seed}, {what}: unit {u} must show `restarting` once per restart; statuses {seen:?}"
        );
        let waiting = seen
            .iter()
            .filter(|s| s.starts_with("waiting: waiting for restart lock"))
            .count();
        if *u == leader {
            assert!(
                waiting >= rounds,
                "seed {seed}, {what}: the leader waits for the restart lock in each round; statuses {seen:?}"
            );
        }
    }
    for (i, round) in all.chunks(units.len()).enumerate() {
        let ids: BTreeSet<u32> = round.iter().map(|r| r.unit).collect();
        assert_eq!(
            ids, units,
            "seed {seed}, {what}: round {i} must restart every unit once: {all:#?}"
        );
        assert_eq!(
            round.last().map(|r| r.unit),
            Some(leader),
            "seed {seed}, {what}: round {i}: the Juju leader's unit restarts last: {all:#?}"
        );
    }
    all
}

/// Every acknowledged write is in `parent`, read through a fresh client.
fn assert_writes_kept(c: &Cluster, report: &WriteReport, parent: &str, password: &str) {
    assert!(
        report.acked.len() > 20,
        "seed {}: the writer made too little progress: {report:?}",
        c.seed
    );
    // The quorum kept serving: one unit down at a time never stops writes for long (a
    // leader election takes a second or two).
    assert!(
        report.max_gap < MAX_WRITE_GAP,
        "seed {}: no write acknowledged for {:?}: {:?}",
        c.seed,
        report.max_gap,
        report.errors
    );
    let hosts: Vec<String> = c.addresses().into_values().collect();
    let have = read_children(&hosts, password, parent, Duration::from_secs(10)).unwrap();
    let lost = lost(&report.acked, &have);
    assert!(
        lost.is_empty(),
        "seed {}: acknowledged writes lost under {parent}: {lost:?}",
        c.seed
    );
}

/// A value of the internal secret (`show-secret --reveal`).
fn secret_value(c: &Cluster, key: &str) -> Option<String> {
    testkit::model::internal_secret(&c.model)?.get(key).cloned()
}

/// A value of the cluster app bag.
fn app_value(c: &Cluster, key: &str) -> Option<String> {
    c.model.app_databag("cluster").unwrap().get(key).cloned()
}

fn three_units(charm: &std::path::Path, seed: u64) {
    let mut c = Cluster::create(charm, seed);
    c.model.deploy(3).unwrap();
    c.settle("deploy 3");
    let leader = juju_leader(&c);
    let other = (0..3).find(|u| *u != leader).unwrap();
    let super_pw = c.super_password();

    // 1. A config change that needs a restart rolls through the units.
    let (watched, report) = roll(
        &mut c,
        "tick-time 2000 -> 2500",
        "/tick",
        Auth::super_user(&super_pw),
        |c| {
            assert!(c.model.set_config(&[("tick-time", "2500")]).unwrap());
        },
    );
    assert_rolled(&c, &watched, 1, "tick-time 2000 -> 2500");
    assert_writes_kept(&c, &report, "/tick", &super_pw);
    for u in 0..3 {
        let cfg = c.zoo_cfg(u);
        let text = std::fs::read_to_string(&cfg).unwrap();
        assert!(
            text.lines().any(|l| l.trim() == "tickTime=2500"),
            "seed {seed}: unit {u}: {}:\n{text}",
            cfg.display()
        );
    }

    // 2. Refusals: not the leader, not an internal user. Nothing changes.
    let r = c
        .model
        .run_action(&unit(other), "set-password", &[("username", "super")])
        .unwrap();
    assert!(
        !r.completed(),
        "seed {seed}: set-password on a non-leader: {r:?}"
    );
    assert!(
        r.message.contains("leader") && r.message.contains("zookeeper/leader"),
        "seed {seed}: the refusal says where to run it: {:?}",
        r.message
    );
    match c
        .model
        .run_action(&unit(leader), "set-password", &[("username", "admin")])
    {
        // The action's schema (an enum) refuses it before the charm runs...
        Err(e) => assert!(e.to_string().contains("username"), "seed {seed}: {e}"),
        // ...or the charm does.
        Ok(r) => assert!(!r.completed(), "seed {seed}: set-password admin: {r:?}"),
    }
    assert_eq!(
        secret_value(&c, "super-password").as_deref(),
        Some(&*super_pw)
    );

    // 3. A sync password rotation: three rolling phases, each restarting every unit once.
    let old_sync = secret_value(&c, "sync-password").expect("a sync password");
    let mut new_sync = String::new();
    let (watched, report) = roll(
        &mut c,
        "sync password rotation",
        "/sync",
        Auth::super_user(&super_pw),
        |c| {
            let r = c
                .model
                .run_action(&unit(leader), "set-password", &[("username", "sync")])
                .unwrap();
            assert!(r.completed(), "seed {seed}: set-password sync: {r:?}");
            new_sync = r
                .get("sync-password")
                .expect("the new password")
                .to_string();
        },
    );
    assert_ne!(new_sync, old_sync);
    assert_rolled(&c, &watched, 3, "sync password rotation");
    assert_writes_kept(&c, &report, "/sync", &super_pw);
    let r = c
        .model
        .run_action(&unit(other), "get-sync-password", &[])
        .unwrap();
    assert_eq!(
        r.get("sync-password"),
        Some(&*new_sync),
        "seed {seed}: {r:?}"
    );
    assert_eq!(app_value(&c, "sync-rotation").unwrap_or_default(), "");
    assert_not_leaked(&c, &new_sync, "new sync password");
    assert_not_leaked(&c, &old_sync, "old sync password");

    // 4. Refused while an upgrade is prepared (last: the units stay ready to upgrade).
    let r = c
        .model
        .run_action(&unit(leader), "pre-upgrade-check", &[])
        .unwrap();
    assert!(r.completed(), "seed {seed}: pre-upgrade-check: {r:?}");
    let stack = c.model.app_databag("upgrade").unwrap();
    assert!(
        stack.get("upgrade-stack").is_some_and(|s| s.len() > 2),
        "seed {seed}: an upgrade stack: {stack:?}"
    );
    let r = c
        .model
        .run_action(&unit(leader), "set-password", &[("username", "super")])
        .unwrap();
    assert!(
        !r.completed(),
        "seed {seed}: set-password during an upgrade: {r:?}"
    );
    assert!(
        r.message.contains("upgrade"),
        "seed {seed}: {:?}",
        r.message
    );
    assert_eq!(
        secret_value(&c, "super-password").as_deref(),
        Some(&*super_pw)
    );
    c.model.destroy().unwrap();
}

#[test]
fn on_three_units_a_config_change_and_a_sync_rotation_restart_one_unit_at_a_time_and_bad_requests_are_refused(
) {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    for seed in seeds(&[3]) {
        three_units(&charm, seed);
    }
}

/// The secret appears nowhere an operator or another process reads it.
fn assert_not_leaked(c: &Cluster, secret: &str, what: &str) {
    let dir = c.model.dir();
    for file in ["debug-log", "hooks.jsonl"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        assert!(!text.is_empty(), "{file} is empty");
    }
    let leaks = testkit::model::leaks(&c.model, secret);
    assert!(
        leaks.is_empty(),
        "seed {}: the {what} appears in {leaks:?}",
        c.seed
    );
}

fn five_units(charm: &std::path::Path, seed: u64) {
    let mut c = Cluster::create(charm, seed);
    c.model.deploy(5).unwrap();
    c.settle("deploy 5");
    let leader = juju_leader(&c);
    let old = c.super_password();

    let mut new = String::new();
    // The writer is a digest user: its session outlives the super password it was made with.
    let writer = Auth::Digest {
        user: "writer".into(),
        password: "writer-pw-1".into(),
    };
    c.client().create("/super", b"").unwrap();
    let (watched, report) = roll(&mut c, "set-password super", "/super", writer, |c| {
        let r = c
            .model
            .run_action(&unit(leader), "set-password", &[("username", "super")])
            .unwrap();
        assert!(r.completed(), "seed {seed}: set-password super: {r:?}");
        new = r
            .get("super-password")
            .expect("the new password")
            .to_string();
    });
    assert_ne!(new, old);
    assert_eq!(secret_value(&c, "super-password").as_deref(), Some(&*new));
    assert_rolled(&c, &watched, 1, "set-password super");
    assert_writes_kept(&c, &report, "/super", &new);

    // Only the new password authenticates and reconfigs. The change re-adds a voter with
    // its own spec.
    let hosts: Vec<String> = c.addresses().into_values().collect();
    let err = Admin::connect(&hosts, &old, Duration::from_secs(10)).unwrap_err();
    assert!(matches!(err, ZkError::NoAuth(_)), "seed {seed}: {err:?}");
    let mut with_new = Admin::connect(&hosts, &new, Duration::from_secs(10)).unwrap();
    let before = with_new.get_config().unwrap();
    let spec = before.members.values().next().unwrap().clone();
    let after = with_new
        .add_member(&spec, Some(before.version))
        .unwrap_or_else(|e| panic!("seed {seed}: reconfig with the new password: {e}"));
    assert!(after.version > before.version, "{before:?} -> {after:?}");
    assert_eq!(after.members, before.members);

    assert_not_leaked(&c, &new, "new super password");
    assert_not_leaked(&c, &old, "old super password");
    c.model.destroy().unwrap();
}

#[test]
fn on_five_units_a_super_password_change_restarts_one_unit_at_a_time_and_only_the_new_password_reconfigs(
) {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    for seed in seeds(&[5]) {
        five_units(&charm, seed);
    }
}

/// A config change rolls through three units; `switches` says how the model behaves.
fn config_roll(charm: &std::path::Path, seed: u64, switches: Switches) {
    let mut c = Cluster::create_with(charm, seed, switches);
    c.model.deploy(3).unwrap();
    c.settle("deploy 3");
    let super_pw = c.super_password();
    let (watched, report) = roll(
        &mut c,
        "tick-time 2000 -> 3000",
        "/tick",
        Auth::super_user(&super_pw),
        |c| {
            assert!(c.model.set_config(&[("tick-time", "3000")]).unwrap());
        },
    );
    assert_rolled(&c, &watched, 1, "tick-time 2000 -> 3000");
    assert_writes_kept(&c, &report, "/tick", &super_pw);
    c.model.destroy().unwrap();
}

#[test]
fn a_roll_completes_one_unit_at_a_time_when_the_leader_gets_no_hook_for_its_own_app_bag_writes() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    let switches = Switches {
        leader_sees_own_app_change: false,
        ..Switches::default()
    };
    for seed in seeds(&[6]) {
        config_roll(&charm, seed, switches.clone());
    }
}

/// Holds the first non-leader that is about to restart, fires the Juju leader's
/// update-status timer, lets the restart go, and lets the leader's hook go on only once the
/// restarting server is out of service. Returns when (since `t0`) the leader was let go and
/// which unit was restarting.
fn leader_reads_mid_restart(
    model_dir: std::path::PathBuf,
    leader: u32,
    held: Vec<(u32, u64, String)>,
    t0: Instant,
) -> (Duration, u32) {
    let h = Model::open(&model_dir).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let (x, pause, address) = loop {
        let hit = held
            .iter()
            .find(|(_, p, _)| h.pause_point(*p).unwrap().state == PauseState::Holding);
        if let Some(hit) = hit {
            break hit.clone();
        }
        assert!(Instant::now() < deadline, "no unit came to restart");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut h = h;
    let on_leader = h.pause_at(&unit(leader), "is-leader", 1).unwrap();
    assert!(h.queue_update_status(&unit(leader)).unwrap());
    h.release(pause).unwrap();
    assert!(
        h.wait_paused(on_leader, Duration::from_secs(60)).unwrap(),
        "the leader ran no hook"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while serving(&address) {
        assert!(
            Instant::now() < deadline,
            "unit {x}'s server never went down"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let at = t0.elapsed();
    h.release(on_leader).unwrap();
    for (_, p, _) in &held {
        h.release(*p).unwrap();
    }
    (at, x)
}

/// `n` units deployed and settled (three units' hooks at once), each unit but the Juju
/// leader to be paused at its first "restarting" status: the leader, and each held unit
/// with its pause.
fn deployed_with_restarts_held(
    charm: &std::path::Path,
    seed: u64,
    n: u32,
) -> (Cluster, u32, Vec<(u32, u64)>) {
    let mut c = Cluster::create(charm, seed);
    c.parallel = 3;
    c.model.deploy(n).unwrap();
    c.settle(&format!("deploy {n}"));
    let leader = juju_leader(&c);
    let held = (0..n)
        .filter(|u| *u != leader)
        .map(|u| {
            let p = c
                .model
                .pause_at_matching(&unit(u), "status-set", 1, "restarting")
                .unwrap();
            (u, p)
        })
        .collect();
    (c, leader, held)
}

#[test]
fn the_leader_reading_the_ensemble_while_a_server_restarts_grants_no_second_restart() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    for seed in seeds(&[4]) {
        let (mut c, leader, held) = deployed_with_restarts_held(&charm, seed, 3);
        let addresses = c.addresses();
        let held: Vec<(u32, u64, String)> = held
            .into_iter()
            .map(|(u, p)| (u, p, addresses[&u].clone()))
            .collect();
        let super_pw = c.super_password();
        let model_dir = c.model.dir().to_path_buf();
        let t0 = Instant::now();
        let mut orchestrator = None;
        let (watched, report) = roll(
            &mut c,
            "tick-time 2000 -> 2200",
            "/mid",
            Auth::super_user(&super_pw),
            |c| {
                assert!(c.model.set_config(&[("tick-time", "2200")]).unwrap());
                orchestrator = Some(std::thread::spawn(move || {
                    leader_reads_mid_restart(model_dir, leader, held, t0)
                }));
            },
        );
        let (let_go, x) = orchestrator.unwrap().join().unwrap();
        // The leader went on once unit x stopped serving and before its new server served
        // (from the process watch).
        let restart = watched
            .restarts()
            .into_iter()
            .find(|r| r.unit == x)
            .expect("unit x restarted");
        assert!(
            restart.up_at.is_some_and(|up| let_go < up),
            "seed {seed}: the leader went on at {let_go:?}, unit {x} was out {restart:?}"
        );
        assert_rolled(&c, &watched, 1, "tick-time 2000 -> 2200");
        assert_writes_kept(&c, &report, "/mid", &super_pw);
        c.model.destroy().unwrap();
    }
}

/// Holds the first non-leader granted the restart lock (before it restarts), waits until
/// another non-leader asks for the lock, removes that one, and lets the held restart go
/// only once the removed unit's `data-storage-detaching` hook ran. Returns the restarting
/// unit and the removed one.
fn remove_while_its_restart_is_pending(
    model_dir: std::path::PathBuf,
    held: Vec<(u32, u64)>,
) -> (u32, u32) {
    let mut h = Model::open(&model_dir).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let x = loop {
        let hit = held
            .iter()
            .find(|(_, p)| h.pause_point(*p).unwrap().state == PauseState::Holding);
        if let Some((x, _)) = hit {
            break *x;
        }
        assert!(Instant::now() < deadline, "no unit came to restart");
        std::thread::sleep(Duration::from_millis(10));
    };
    let y = loop {
        let bags = h.unit_databags("restart").unwrap();
        let asking = held.iter().map(|(u, _)| *u).find(|u| {
            *u != x
                && bags
                    .get(&unit(*u))
                    .and_then(|b| b.get("state"))
                    .is_some_and(|s| s == "acquire")
        });
        if let Some(y) = asking {
            break y;
        }
        assert!(
            Instant::now() < deadline,
            "no other unit asked for the restart lock"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    h.remove_unit(&unit(y)).unwrap();
    loop {
        let detached = h
            .hook_log()
            .unwrap()
            .iter()
            .any(|r| r.unit == unit(y) && r.hook == "data-storage-detaching");
        if detached {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "unit {y}'s data-storage-detaching never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for (_, p) in &held {
        h.release(*p).unwrap();
    }
    (x, y)
}

#[test]
fn a_unit_removed_while_its_restart_is_pending_leaves_without_restarting_and_the_roll_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    for seed in seeds(&[9]) {
        let (mut c, leader, held) = deployed_with_restarts_held(&charm, seed, 4);
        let super_pw = c.super_password();
        let model_dir = c.model.dir().to_path_buf();
        let mut orchestrator = None;
        let (watched, report) = roll(
            &mut c,
            "tick-time 2000 -> 2400, one waiting unit removed",
            "/pending",
            Auth::super_user(&super_pw),
            |c| {
                assert!(c.model.set_config(&[("tick-time", "2400")]).unwrap());
                orchestrator = Some(std::thread::spawn(move || {
                    remove_while_its_restart_is_pending(model_dir, held)
                }));
            },
        );
        let (x, y) = orchestrator.unwrap().join().unwrap();
        assert_ne!(x, y);

        // The removed unit's first teardown hook was its storage detaching, and it started,
        // restarted and requested nothing there.
        c.assert_leaving_units_only_left();
        assert_eq!(
            c.model.state().unwrap().removed_units,
            vec![unit(y)],
            "seed {seed}"
        );
        // Its server was never replaced; every remaining unit's was, once, one at a time.
        let what = format!("seed {seed}: remove unit {y} while unit {x} restarts");
        assert!(watched.violation.is_none(), "{what}: {}", watched.summary());
        watched.assert_one_down_at_a_time(&what);
        assert_restarts_held_the_lock(&c.model, &what);
        for (u, t) in &watched.timelines {
            let expected = if *u == y { 1 } else { 2 };
            assert_eq!(
                processes(t).len(),
                expected,
                "{what}: unit {u}'s servers {:?}",
                processes(t)
            );
        }
        let order = watched.restart_order();
        assert_eq!(order.first(), Some(&x), "{what}: restarts {order:?}");
        assert_eq!(order.last(), Some(&leader), "{what}: restarts {order:?}");
        let stay: BTreeSet<u32> = (0..4).filter(|u| *u != y).collect();
        assert_eq!(c.voters(), stay, "{what}: voters");
        assert!(c.all_active(), "{what}:\n{}", c.describe());
        assert_writes_kept(&c, &report, "/pending", &super_pw);
        c.model.destroy().unwrap();
    }
}
