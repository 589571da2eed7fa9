//! How many hooks a deploy takes until every unit is active (issue 18), on the local model
//! with real ZooKeeper servers, run the way `cargo xtask bench` measures it: one hook at a
//! time (parallel 1), seed 1 unless `ZK_TEST_SEEDS` says otherwise.
//!
//! Every bag write wakes every other unit that sees the bag (a `-relation-changed` each), so
//! the hook count is mostly the writes times the other units: the test prints each hook and
//! the bags its commit changed, which is where to look when a budget is exceeded.
//!
//! The budgets are the figures reached at seed 1 (28 and 110 hooks; seeds 2-4 gave 18, 14,
//! 23 and 123, 90, 98) with a small margin, so that a change that adds hooks fails here;
//! issue 18 asks for at most 60 and 200. A deploy is over long before its own hooks are:
//! at 3 units they are 60 (per unit: storage-attached, install, three `-relation-created`,
//! leader-elected or leader-settings-changed, config-changed, start, and a `-joined` and a
//! `-changed` per other unit in each of the three peer relations), at 7 units 308. What
//! decides the count is the start order (leader names a unit, the unit starts, the leader
//! adds it and names the next), each step waiting for its unit to be picked to run a hook;
//! no step waits for a `-joined` (see `observe`: units Juju has in the relation are read
//! before their `-joined` ran).

use std::cell::RefCell;
use std::rc::Rc;

use testkit::{seeds, test_charm, Cluster};
use zk_sim::{HookRecord, Model};

/// Hooks until every unit was first active, and every hook run until the model was quiet.
struct Deployed {
    to_active: usize,
    log: Vec<HookRecord>,
}

fn deploy(units: u32, seed: u64) -> Deployed {
    let tmp = tempfile::tempdir().unwrap();
    let charm = test_charm!(tmp.path());
    let mut c = Cluster::create(&charm, seed);
    // As the benchmark runs it: one hook at a time, so that the seed replays exactly.
    c.parallel = 1;
    let observer = Model::open(c.model.dir()).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let to_active = Rc::new(RefCell::new(None));
    let (l, t) = (log.clone(), to_active.clone());
    c.model.on_hook(move |rec| {
        let mut l = l.borrow_mut();
        l.push(rec.clone());
        let mut t = t.borrow_mut();
        if t.is_none() && testkit::model::all_active(&observer).unwrap_or(false) {
            *t = Some(l.len());
        }
    });
    c.model.deploy(units).unwrap();
    c.settle(&format!("deploy -n {units}"));
    c.model.on_hook(|_| {});
    let log = log.borrow().clone();
    let to_active = to_active
        .borrow()
        .expect("every unit was active at some point");
    for (i, rec) in log.iter().enumerate() {
        let writes: Vec<String> = rec.writes.iter().map(ToString::to_string).collect();
        eprintln!(
            "seed {seed}, {units} units: {:>3} {}{} {}",
            i + 1,
            rec,
            if i + 1 == to_active {
                " [all active]"
            } else {
                ""
            },
            writes.join("; ")
        );
    }
    Deployed { to_active, log }
}

/// Changed bags by writer: (unit bag writes of each unit, app bag writes of the leaders).
fn writes(log: &[HookRecord]) -> (std::collections::BTreeMap<String, usize>, usize) {
    let mut units = std::collections::BTreeMap::new();
    let mut app = 0;
    for rec in log {
        for w in &rec.writes {
            if w.app {
                app += 1;
            } else {
                *units.entry(rec.unit.clone()).or_insert(0) += 1;
            }
        }
    }
    (units, app)
}

fn assert_budget(units: u32, budget: usize) {
    for seed in seeds(&[1]) {
        let d = deploy(units, seed);
        let (by_unit, app) = writes(&d.log[..d.to_active]);
        eprintln!(
            "seed {seed}, {units} units: {} hooks to all active, {} to quiet; unit bag writes \
             {by_unit:?}, app bag writes {app}",
            d.to_active,
            d.log.len()
        );
        assert!(
            d.to_active <= budget,
            "seed {seed}: a {units}-unit deploy took {} hooks until every unit was active \
             (budget {budget}); the hooks and their writes are above",
            d.to_active
        );
    }
}

#[test]
fn a_three_unit_deploy_is_active_within_thirty_two_hooks() {
    assert_budget(3, 32);
}

#[test]
fn a_seven_unit_deploy_is_active_within_one_hundred_thirty_hooks() {
    assert_budget(7, 130);
}
