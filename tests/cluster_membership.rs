//! Cluster formation and quorum membership on a real ensemble (issue 4): the charm binary
//! runs on the local model (`zk-sim`) with real ZooKeeper servers on loopback addresses; a
//! real client writes a znode before each step and reads every earlier one
//! after it.
//!
//! `ZK_TEST_SEEDS=1,2,3` overrides the event-order seeds (default: 20 seeds for the
//! formation test, one for the scaling scenario).

use std::collections::BTreeSet;

use testkit::{seeds, test_charm, Cluster};
use zk_sim::state::{HookKind, HookSpec};

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

/// Every removed unit's first teardown hook was `data-storage-detaching` (as on Juju), and
/// in it the unit only left: no start, restart or restart-lock request.
fn assert_leaving_units_only_left(c: &Cluster) {
    let log = std::fs::read_to_string(c.model.dir().join("debug-log")).unwrap();
    let mut detaching = 0;
    let mut hook_lines: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for line in log.lines() {
        let Some((unit, rest)) = line.split_once(": ") else {
            continue;
        };
        if rest.contains("juju.worker.uniter.operation") {
            let lines = hook_lines.remove(unit).unwrap_or_default();
            if rest.contains("\"data-storage-detaching\"") {
                detaching += 1;
                for l in lines.iter().filter(|l| l.contains("plan:")) {
                    assert!(
                        !["start", "restart", "acquire"]
                            .iter()
                            .any(|w| l.contains(w)),
                        "seed {}: {unit}'s data-storage-detaching: {l}",
                        c.seed
                    );
                }
            }
        } else {
            hook_lines.entry(unit.to_string()).or_default().push(rest);
        }
    }
    let removed = c.model.state().unwrap().removed_units;
    assert_eq!(detaching, removed.len(), "seed {}: {removed:?}", c.seed);
    for unit in &removed {
        let first_teardown = c
            .model
            .hook_log()
            .unwrap()
            .into_iter()
            .filter(|r| &r.unit == unit)
            .find(|r| {
                let own_departure =
                    r.hook.ends_with("-departed") && r.departing_unit.as_deref() == Some(unit);
                own_departure || r.hook.ends_with("-detaching") || r.hook == "stop"
            })
            .map(|r| r.hook);
        assert_eq!(
            first_teardown.as_deref(),
            Some("data-storage-detaching"),
            "seed {}: {unit}",
            c.seed
        );
    }
}

/// Deploys 3 units with `seed` and checks the formation.
fn form_three(charm: &std::path::Path, seed: u64) {
    let mut c = Cluster::create(charm, seed);
    c.model.deploy(3).unwrap();
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
    std::thread::scope(|scope| {
        for chunk in [even, odd] {
            let charm = &charm;
            scope.spawn(move || {
                for seed in chunk {
                    form_three(charm, seed);
                }
            });
        }
    });
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
        assert_leaving_units_only_left(&c);

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
        c.model.destroy().unwrap();
    }
}
