//! Cluster formation and quorum membership on a real ensemble (issue 4): the charm binary
//! runs on the local model (`zk-sim`) with real ZooKeeper servers on loopback addresses; a
//! real client writes a znode before each step and reads every earlier one
//! after it.
//!
//! The model runs several units' hooks at once, draws the Juju leader and the relation order
//! from the seed, and every settle must be healthy (no failed hook, no retry, nothing that
//! waited for update-status); a background `srvr` watch checks the quorum throughout the
//! scaling scenarios.
//!
//! `ZK_TEST_SEEDS=1,2,3` overrides the event-order seeds (default: 20 seeds for the
//! formation test, one for the scaling scenarios).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use testkit::watch::ProcessWatch;
use testkit::writes::{lost, read_children, Writer};
use testkit::{seeds, test_charm, Cluster};
use zk_sim::state::{HookKind, HookSpec};
use zk_sim::{HookRecord, Model, Switches};

fn set(ids: &[u32]) -> BTreeSet<u32> {
    ids.iter().copied().collect()
}

/// The model is healthy: every unit active, no unit in error, exactly one ZooKeeper leader,
/// and the voters are exactly `units`.
fn assert_ensemble(c: &Cluster, units: &[u32], step: &str) {
    let seed = c.seed;
    let status = c.status();
    let names: BTreeSet<u32> = status
        .iter()
        .filter_map(|u| u.unit.rsplit('/').next()?.parse().ok())
        .collect();
    assert_eq!(
        names,
        set(units),
        "seed {seed}, {step}: units\n{}",
        c.describe()
    );
    assert!(
        c.all_active(),
        "seed {seed}, {step}: not all active\n{}",
        c.describe()
    );
    for u in &status {
        assert_eq!(
            u.ports,
            ["2181/tcp"],
            "seed {seed}, {step}: {}'s opened ports",
            u.unit
        );
    }
    assert_eq!(
        c.voters(),
        set(units),
        "seed {seed}, {step}: voters\n{}",
        c.describe()
    );
    assert_eq!(
        c.zk_leaders().len(),
        1,
        "seed {seed}, {step}: one ZooKeeper leader\n{}",
        c.describe()
    );
}

/// In a settled, healthy model, `update-status` changes nothing and reads little: no `snap`
/// command, no `relation-set`, no `status-set`, no `relation-ids` (the peer relation ids are
/// remembered); a non-leader reads only its own and the app bags (at most 8 hook-tool calls
/// in all); the leader reads every unit's cluster and restart bags but, with no upgrade
/// prepared, not the other units' upgrade bags, and the internal secret (the membership is
/// read as `super`).
fn assert_steady_update_status(c: &mut Cluster, units: usize, step: &str) {
    let status = c.status();
    let leader = status.iter().find(|u| u.leader).unwrap().unit.clone();
    let other = status.iter().find(|u| !u.leader).unwrap().unit.clone();
    for (unit, is_leader) in [(other, false), (leader, true)] {
        let m = c
            .model
            .run_hook_measured(&unit, HookSpec::plain(HookKind::UpdateStatus))
            .unwrap();
        assert!(m.record.succeeded(), "{step}: {}", m.record);
        let calls = |tool: &str| m.tool_calls.get(tool).copied().unwrap_or(0);
        let what = format!("{step}: update-status on {unit}: {:?}", m.tool_calls);
        // Whether the snap is installed and its server runs is read locally: no `snap`.
        assert_eq!(m.workload_calls(), 0, "{what}");
        for tool in ["relation-set", "status-set", "relation-ids", "goal-state"] {
            assert_eq!(calls(tool), 0, "{what}");
        }
        if is_leader {
            // is-leader, config-get; cluster and restart: own, list, the others, app;
            // upgrade: own and app; the internal secret, to read the membership as super.
            let others = units as u32 - 1;
            assert_eq!(calls("relation-list"), 2, "{what}");
            assert_eq!(calls("relation-get"), 2 * (others + 2) + 2, "{what}");
            assert_eq!(calls("secret-get"), 1, "{what}");
            assert_eq!(m.total_tool_calls(), 2 * others + 11, "{what}");
        } else {
            assert_eq!(calls("relation-list"), 0, "{what}");
            assert!(m.total_tool_calls() <= 8, "{what}");
        }
        // Nothing to do, so nothing queued.
        assert_eq!(
            c.model.step().unwrap().map(|r| r.to_string()),
            None,
            "{what}"
        );
    }
}

/// Deploys 3 units with `seed` and checks the formation; returns the Juju leader.
fn form_three(charm: &std::path::Path, seed: u64) -> String {
    form_three_with(charm, seed, Switches::default())
}

fn form_three_with(charm: &std::path::Path, seed: u64, switches: Switches) -> String {
    let mut c = Cluster::create_with(charm, seed, switches);
    c.model.deploy(3).unwrap();
    let leader = c.model.leader().unwrap().expect("a leader");
    c.settle("deploy 3");
    assert_ensemble(&c, &[0, 1, 2], "deploy 3");
    // The lowest unit bootstrapped alone; the others joined one at a time, in id order.
    let log = std::fs::read_to_string(c.model.dir().join("debug-log")).unwrap();
    let firsts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("plan: first start"))
        .collect();
    assert_eq!(
        firsts.len(),
        3,
        "seed {seed}: three first starts:\n{}",
        firsts.join("\n")
    );
    assert!(
        firsts[0].contains("zookeeper/0") && firsts[0].ends_with("servers [1]"),
        "seed {seed}: {}",
        firsts[0]
    );
    assert!(
        firsts[1].contains("zookeeper/1") && firsts[1].ends_with("servers [1, 2]"),
        "seed {seed}: {}",
        firsts[1]
    );
    assert!(
        firsts[2].contains("zookeeper/2") && firsts[2].ends_with("servers [1, 2, 3]"),
        "seed {seed}: {}",
        firsts[2]
    );
    c.model.destroy().unwrap();
    leader
}

#[test]
fn three_units_form_one_quorum_whatever_the_event_order() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    let default: Vec<u64> = (1..=20).collect();
    let all = seeds(&default);
    // Two models at a time (each in its own loopback block): the hooks mostly wait on
    // process starts, so this halves the wall time on two cores.
    let (even, odd): (Vec<u64>, Vec<u64>) = all.iter().partition(|s| *s % 2 == 0);
    let leaders = std::sync::Mutex::new(BTreeSet::new());
    std::thread::scope(|scope| {
        for chunk in [even, odd] {
            let (charm, leaders) = (&charm, &leaders);
            scope.spawn(move || {
                for seed in chunk {
                    let leader = form_three(charm, seed);
                    leaders.lock().unwrap().insert(leader);
                }
            });
        }
    });
    // The seeds put the Juju leader on every unit.
    let leaders = leaders.into_inner().unwrap();
    assert!(
        all.len() < 6 || leaders.len() == 3,
        "the seeds put the first leader on every unit: {leaders:?}"
    );
}

#[test]
fn three_units_form_one_quorum_when_the_leader_gets_no_hook_for_its_own_app_bag_writes() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    let switches = Switches {
        leader_sees_own_app_change: false,
        ..Switches::default()
    };
    for seed in seeds(&[21, 22]) {
        form_three_with(&charm, seed, switches.clone());
    }
}

#[test]
fn scaling_up_down_and_back_keeps_quorum_and_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    for seed in seeds(&[7]) {
        let mut c = Cluster::create(&charm, seed);
        let mut written: Vec<String> = Vec::new();
        let step = |c: &Cluster, name: &str, written: &mut Vec<String>| {
            c.write_znode(name);
            written.push(name.to_string());
        };
        let check = |c: &Cluster, written: &[String], after: &str| {
            let have = c.znodes();
            for w in written {
                assert!(
                    have.contains(w),
                    "seed {}: znode {w} lost after {after}; have {have:?}",
                    c.seed
                );
            }
        };

        c.model.deploy(3).unwrap();
        c.settle("deploy 3");
        assert_ensemble(&c, &[0, 1, 2], "deploy 3");
        assert_steady_update_status(&mut c, 3, "deploy 3");
        // `srvr` on every unit every 100 ms from here on: at most one server out through
        // the charm, and no quorum lost through it.
        let watch = ProcessWatch::start(c.model.dir(), Duration::from_millis(100));

        step(&c, "before-add", &mut written);
        c.model.add_unit().unwrap();
        c.model.add_unit().unwrap();
        c.settle("add 2");
        assert_ensemble(&c, &[0, 1, 2, 3, 4], "add 2");
        assert_steady_update_status(&mut c, 5, "add 2");
        check(&c, &written, "add 2");

        step(&c, "before-remove-zk-leader", &mut written);
        let zk_leader = c.zk_leaders()[0];
        c.model
            .remove_unit(&format!("zookeeper/{zk_leader}"))
            .unwrap();
        c.settle("remove the ZooKeeper leader's unit");
        let rest: Vec<u32> = (0..5).filter(|u| *u != zk_leader).collect();
        assert_ensemble(&c, &rest, "remove the ZooKeeper leader's unit");
        assert_ne!(c.zk_leaders(), vec![zk_leader]);
        check(&c, &written, "remove the ZooKeeper leader's unit");

        // Down to one unit, one removal at a time, the Juju leader last.
        let mut remaining = rest.clone();
        while remaining.len() > 1 {
            step(
                &c,
                &format!("before-shrink-to-{}", remaining.len() - 1),
                &mut written,
            );
            let juju_leader = c
                .model
                .leader()
                .unwrap()
                .and_then(|l| l.rsplit('/').next()?.parse::<u32>().ok());
            let victim = *remaining
                .iter()
                .rev()
                .find(|u| Some(**u) != juju_leader)
                .unwrap();
            c.model.remove_unit(&format!("zookeeper/{victim}")).unwrap();
            remaining.retain(|u| *u != victim);
            c.settle(&format!("shrink to {}", remaining.len()));
            assert_ensemble(&c, &remaining, &format!("shrink to {}", remaining.len()));
            check(&c, &written, &format!("shrink to {}", remaining.len()));
        }

        step(&c, "before-regrow", &mut written);
        c.model.add_unit().unwrap();
        c.assert_leaving_units_only_left();

        c.model.add_unit().unwrap();
        c.settle("back to 3");
        let units: Vec<u32> = c
            .status()
            .iter()
            .filter_map(|u| u.unit.rsplit('/').next()?.parse().ok())
            .collect();
        assert_eq!(units.len(), 3);
        assert_ensemble(&c, &units, "back to 3");
        check(&c, &written, "back to 3");
        let seen = watch.finish();
        assert!(seen.violation.is_none(), "seed {seed}: {}", seen.summary());
        c.model.destroy().unwrap();
    }
}

fn unit(n: u32) -> String {
    format!("zookeeper/{n}")
}

/// Every `-departed` since `mark`, per (unit, relation, remote unit), after checking its
/// departing unit: the unit itself when it is one of `leaving`, else the remote unit.
fn departures(
    log: &[HookRecord],
    mark: u64,
    leaving: &[String],
) -> BTreeMap<(String, String, String), usize> {
    let mut out = BTreeMap::new();
    for r in log.iter().filter(|r| r.seq > mark) {
        if !r.hook.ends_with("-relation-departed") {
            continue;
        }
        let remote = r.remote_unit.clone().expect("a remote unit");
        let departing = if leaving.contains(&r.unit) {
            &r.unit
        } else {
            &remote
        };
        assert_eq!(
            r.env.get("JUJU_DEPARTING_UNIT"),
            Some(departing),
            "{r}: the departing unit"
        );
        *out.entry((r.unit.clone(), r.hook.clone(), remote))
            .or_default() += 1;
    }
    out
}

#[test]
fn removing_two_units_at_once_keeps_the_quorum_and_each_unit_departs_every_member_once() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    for seed in seeds(&[31]) {
        let mut c = Cluster::create(&charm, seed);
        c.parallel = 3;
        c.model.deploy(5).unwrap();
        c.settle("deploy 5");
        assert_ensemble(&c, &[0, 1, 2, 3, 4], "deploy 5");
        c.write_znode("before-two-removals");
        let leader = c.model.leader().unwrap().expect("a leader");
        let victims: Vec<u32> = (0..5)
            .rev()
            .filter(|u| unit(*u) != leader)
            .take(2)
            .collect();
        let stay: Vec<u32> = (0..5).filter(|u| !victims.contains(u)).collect();
        let leaving: Vec<String> = victims.iter().map(|v| unit(*v)).collect();

        // Both leavers' self-removals race: each is held at its plan to reconfigure itself
        // away (the Juju leader at any removal of its own) until both are held, then both
        // go at once with the config version they read.
        let held: Vec<u64> = victims
            .iter()
            .map(|v| {
                let text = format!("reconfig remove server {}", v + 1);
                c.model
                    .pause_at_matching(&unit(*v), "juju-log", 1, &text)
                    .unwrap()
            })
            .collect();
        let leader_held = c
            .model
            .pause_at_matching(&leader, "juju-log", 1, "reconfig remove server")
            .unwrap();
        let watch = ProcessWatch::start(c.model.dir(), Duration::from_millis(100));
        let addresses = c.addresses();
        let hosts: Vec<String> = stay.iter().map(|u| addresses[u].clone()).collect();
        let password = c.super_password();
        let writer = Writer::start(hosts.clone(), "/two", &password, Duration::from_millis(50));
        let mark = c.model.hook_log().unwrap().last().map_or(0, |r| r.seq);
        for u in &leaving {
            c.model.remove_unit(u).unwrap();
        }
        let model_dir = c.model.dir().to_path_buf();
        let releaser = std::thread::spawn(move || {
            let h = Model::open(&model_dir).unwrap();
            let both = held
                .iter()
                .all(|p| h.wait_paused(*p, Duration::from_secs(90)).unwrap());
            for p in &held {
                h.release(*p).unwrap();
            }
            std::thread::sleep(Duration::from_secs(1));
            h.release(leader_held).unwrap();
            both
        });
        c.settle("remove two units at once");
        let both = releaser.join().unwrap();
        let writes = writer.finish();
        let seen = watch.finish();
        assert!(
            both,
            "seed {seed}: both leavers were held at their self-removal"
        );

        assert_ensemble(&c, &stay, "remove two units at once");
        c.assert_leaving_units_only_left();
        assert!(seen.violation.is_none(), "seed {seed}: {}", seen.summary());
        assert!(
            writes.max_gap < Duration::from_secs(20),
            "seed {seed}: no write acknowledged for {:?}: {:?}",
            writes.max_gap,
            writes.errors
        );
        let have = read_children(&hosts, &password, "/two", Duration::from_secs(10)).unwrap();
        let lost = lost(&writes.acked, &have);
        assert!(lost.is_empty(), "seed {seed}: writes lost: {lost:?}");
        assert!(c.znodes().contains("before-two-removals"));
        // The version guard turned the second self-removal away; it was done again later.
        let debug = std::fs::read_to_string(c.model.dir().join("debug-log")).unwrap();
        let refused = debug.lines().any(|l| {
            l.contains("reconfig: cannot remove server")
                && (l.contains("bad version") || l.contains("already in progress"))
        });
        assert!(refused, "seed {seed}: no reconfig was refused as stale");
        // A leaver that stepped out is never added back (the leader reads goal-state).
        let since: Vec<&str> = debug
            .lines()
            .skip_while(|l| !l.contains("plan: reconfig remove server"))
            .collect();
        for v in &victims {
            let again = format!("reconfig: add server {} ", v + 1);
            let readded: Vec<&&str> = since.iter().filter(|l| l.contains(&again)).collect();
            assert!(
                readded.is_empty(),
                "seed {seed}: leaving unit {v} was added back: {readded:?}"
            );
        }

        // One -departed per unit, relation and member, with the departing unit as Juju sets
        // it.
        let log = c.model.hook_log().unwrap();
        let per = departures(&log, mark, &leaving);
        assert!(
            per.values().all(|n| *n == 1),
            "seed {seed}: a member departed twice: {per:?}"
        );
        let endpoints = ["cluster", "restart", "upgrade"];
        let mut expected = BTreeSet::new();
        for ep in endpoints {
            let hook = format!("{ep}-relation-departed");
            for s in &stay {
                for v in &leaving {
                    expected.insert((unit(*s), hook.clone(), v.clone()));
                }
            }
            for v in &leaving {
                for o in (0..5).map(unit).filter(|o| o != v) {
                    expected.insert((v.clone(), hook.clone(), o));
                }
            }
        }
        let got: BTreeSet<(String, String, String)> = per.into_keys().collect();
        assert_eq!(got, expected, "seed {seed}: departures");
        c.model.destroy().unwrap();
    }
}
