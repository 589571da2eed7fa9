//! Observing and driving an upgrade: each unit's server, the upgrade relation's data, the
//! ZooKeeper quorum leader, `pre-upgrade-check`, and a refresh under the process watch
//! and the writer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use testkit::server::signal_server;
use testkit::watch::{ProcessWatch, Watched};
use testkit::writes::{lost, read_children, WriteReport, Writer};
use testkit::{live_server, seeds, Cluster, ServerProcess};
use zk_sim::Switches;

/// How often the writer writes.
const WRITE_EVERY: Duration = Duration::from_millis(50);

/// Every unit's live server, by unit number.
pub fn servers(c: &Cluster) -> BTreeMap<u32, Option<ServerProcess>> {
    c.addresses()
        .into_keys()
        .map(|u| (u, live_server(&c.machine(u))))
        .collect()
}

/// Starts writing `<parent>/w<n>` as `super` every 50 ms.
pub fn start_writer(c: &Cluster, parent: &str) -> Writer {
    let hosts: Vec<String> = c.addresses().into_values().collect();
    Writer::start(hosts, parent, &c.super_password(), WRITE_EVERY)
}

/// Refreshes to `charm` and settles until every unit is active while `watch` and `writer`
/// run, then stops both (the writer half a second later, to see the end state) and says
/// what they saw.
pub fn refresh_watched(
    c: &mut Cluster,
    charm: &Path,
    what: &str,
    watch: ProcessWatch,
    writer: Writer,
) -> (Watched, WriteReport) {
    let t = Instant::now();
    c.model.refresh(charm).unwrap();
    c.settle(what);
    let took = t.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let writes = writer.finish();
    let seen = watch.finish();
    eprintln!(
        "{what}: {:.1}s; {}; {} writes acknowledged, {} connection losses, longest gap {:.1}s",
        took.as_secs_f64(),
        seen.summary(),
        writes.acked.len(),
        writes.failures,
        writes.max_gap.as_secs_f64()
    );
    (seen, writes)
}

pub fn seed(default: u64) -> u64 {
    seeds(&[default])[0]
}

pub fn unit(n: u32) -> String {
    format!("zookeeper/{n}")
}

pub fn deploy(charm: &Path, n: u32, seed: u64) -> Cluster {
    deploy_with(charm, n, seed, Switches::default())
}

pub fn deploy_with(charm: &Path, n: u32, seed: u64, switches: Switches) -> Cluster {
    let t = Instant::now();
    let mut c = Cluster::create_with(charm, seed, switches);
    c.model.deploy(n).unwrap();
    c.settle(&format!("deploy {n}"));
    assert_eq!(c.voters().len(), n as usize, "{}", c.describe());
    eprintln!("deploy {n}: {:.1}s", t.elapsed().as_secs_f64());
    c
}

pub fn juju_leader(c: &Cluster) -> String {
    c.model.leader().unwrap().expect("a Juju leader")
}

/// The only unit whose server says `Mode: leader`.
pub fn zk_leader(c: &Cluster) -> u32 {
    let leaders = c.zk_leaders();
    assert_eq!(
        leaders.len(),
        1,
        "one ZooKeeper leader expected:\n{}",
        c.describe()
    );
    leaders[0]
}

pub fn upgrade_stack(c: &Cluster) -> Vec<u32> {
    c.model
        .app_databag("upgrade")
        .unwrap()
        .get("upgrade-stack")
        .map(|s| serde_json::from_str(s).expect("upgrade-stack is a JSON list of ids"))
        .unwrap_or_default()
}

/// Each unit's upgrade `state`, by unit number.
pub fn upgrade_states(c: &Cluster) -> BTreeMap<u32, String> {
    c.model
        .unit_databags("upgrade")
        .unwrap()
        .into_iter()
        .filter_map(|(name, bag)| {
            let n = name.rsplit('/').next()?.parse().ok()?;
            Some((n, bag.get("state").cloned().unwrap_or_default()))
        })
        .collect()
}

/// The charm version in the app's recorded dependency model.
pub fn recorded_charm_version(c: &Cluster) -> String {
    let deps = c
        .model
        .app_databag("upgrade")
        .unwrap()
        .get("dependencies")
        .cloned()
        .expect("dependencies recorded");
    let v: serde_json::Value = serde_json::from_str(&deps).expect("dependencies is JSON");
    v["charm"]["version"]
        .as_str()
        .unwrap_or_else(|| panic!("no charm version in {deps}"))
        .to_string()
}

/// Stops the ZooKeeper quorum leader's server (SIGTERM, by pid) until another unit leads,
/// then lets the charm start it again. Returns the new quorum leader.
fn move_zk_leadership(c: &mut Cluster) -> u32 {
    let old = zk_leader(c);
    signal_server(&c.machine(old), libc::SIGTERM, Duration::ZERO)
        .expect("the quorum leader's server runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let leaders = c.zk_leaders();
        if leaders.len() == 1 && leaders[0] != old {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no new quorum leader after stopping unit {old}'s server:\n{}",
            c.describe()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    c.settle("the old quorum leader's server restarted");
    let new = zk_leader(c);
    assert_ne!(new, old, "{}", c.describe());
    new
}

/// Moves the quorum leadership until neither the lowest nor the highest unit leads, so that
/// "the quorum leader upgrades last" differs from any order by unit number. (ZooKeeper
/// elects the highest server id among the most up to date: 0 -> n-1 -> n-2.)
pub fn zk_leader_in_the_middle(c: &mut Cluster) -> u32 {
    let units: Vec<u32> = c.addresses().into_keys().collect();
    let (lowest, highest) = (units[0], units[units.len() - 1]);
    let mut leader = zk_leader(c);
    for _ in 0..4 {
        if leader != lowest && leader != highest {
            return leader;
        }
        leader = move_zk_leadership(c);
    }
    panic!(
        "the quorum leader stays at the edge (unit {leader}):\n{}",
        c.describe()
    );
}

/// Units whose hooks ran the workload `upgrade` op, in order, from the `plan:` log lines.
pub fn upgrade_plans(c: &Cluster) -> Vec<u32> {
    let log = std::fs::read_to_string(c.model.dir().join("debug-log")).unwrap_or_default();
    log.lines()
        .filter_map(|l| {
            let (head, plan) = l.split_once("plan: ")?;
            if !plan.split("; ").any(|p| p == "upgrade") {
                return None;
            }
            let tag = head.split_whitespace().find(|w| w.starts_with("unit-"))?;
            tag.trim_end_matches(':').rsplit('-').next()?.parse().ok()
        })
        .collect()
}

/// Runs `pre-upgrade-check` on the Juju leader and checks its outcome: a stack of every
/// unit with the ZooKeeper leader at index 0, and every unit `ready` once settled.
pub fn pre_upgrade_check(c: &mut Cluster) -> Vec<u32> {
    let leader = juju_leader(c);
    let zk = zk_leader(c);
    let r = c
        .model
        .run_action(&leader, "pre-upgrade-check", &[])
        .unwrap();
    assert!(
        r.completed(),
        "pre-upgrade-check failed: {}\n{}",
        r.message,
        c.describe()
    );
    c.settle_quiet("after pre-upgrade-check");
    let stack = upgrade_stack(c);
    let units: BTreeSet<u32> = c.addresses().into_keys().collect();
    assert_eq!(
        stack.iter().copied().collect::<BTreeSet<u32>>(),
        units,
        "the stack holds every unit once: {stack:?}"
    );
    assert_eq!(stack.len(), units.len(), "{stack:?}");
    assert_eq!(
        stack[0], zk,
        "the ZooKeeper leader (unit {zk}) is at index 0, so it upgrades last: {stack:?}"
    );
    assert_eq!(
        r.get("upgrade-stack"),
        Some(serde_json::to_string(&stack).unwrap().as_str())
    );
    let states = upgrade_states(c);
    assert!(
        states.values().all(|s| s == "ready"),
        "every unit ready after pre-upgrade-check: {states:?}\n{}",
        c.describe()
    );
    stack
}

/// `pre-upgrade-check` on the Juju leader after a failed or refused upgrade: it must pass
/// (recovery) so that the refresh back can start.
pub fn recovery_check(c: &mut Cluster) {
    let r = c
        .model
        .run_action(&juju_leader(c), "pre-upgrade-check", &[])
        .unwrap();
    assert!(
        r.completed(),
        "recovery check: {}\n{}",
        r.message,
        c.describe()
    );
}

/// The upgrade is over: no stack, every unit idle, and `charm_version` recorded.
pub fn assert_no_upgrade_left(c: &Cluster, charm_version: &str) {
    assert!(upgrade_stack(c).is_empty(), "{:?}", upgrade_stack(c));
    let states = upgrade_states(c);
    assert!(
        states.values().all(|s| s == "idle"),
        "every unit idle after the upgrade: {states:?}"
    );
    assert_eq!(recorded_charm_version(c), charm_version);
}

pub fn assert_no_write_lost(c: &Cluster, report: &WriteReport, parent: &str, what: &str) {
    let hosts: Vec<String> = c.addresses().into_values().collect();
    let have = read_children(&hosts, &c.super_password(), parent, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{what}: reading {parent} back: {e}\n{}", c.describe()));
    let lost = lost(&report.acked, &have);
    assert!(
        lost.is_empty(),
        "{what}: {} acknowledged writes lost: {lost:?}",
        lost.len()
    );
}
