//! The rolling in-place upgrade (issue 5) on the local model (`zk-sim`) with real ZooKeeper:
//! `pre-upgrade-check`, `refresh` to a charm built as another revision, the rollout one unit
//! at a time with the ZooKeeper quorum leader last, a forced failure and its rollback, and a
//! revision that refuses the deployed version.
//!
//! The other revisions are this crate built again with build-time overrides, into their own
//! target dir (`<target>/upgrade-revisions`, so the main build lock and artifacts are left
//! alone), once per test binary run:
//! * "new": `ZK_CHARM_REVISION=2`, `ZK_CHARM_VERSION=0.2.0` (so the recorded dependency
//!   model visibly changes when the upgrade finishes);
//! * "refusing": `ZK_CHARM_VERSION=9.0.0`, `ZK_CHARM_UPGRADE_SUPPORTED=>=9`.
//!
//! While a rollout runs, a background thread samples every unit's ZooKeeper process (pid
//! from `<workload>/zookeeper.pid` and its start time from `/proc`) every 100 ms, and
//! another writes a znode every 50 ms; the assertions are on what they saw.
//!
//! `ZK_TEST_SEEDS=1,2` overrides the event-order seed of each scenario.

mod simkit;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use simkit::{charm_dir_with, limits, test_charm, Cluster};
use zk_sim::SettleLimits;
use zookeeper_charm::zk::admin::Admin;
use zookeeper_charm::zk::ZkError;

// --- charm revisions built for these tests ---------------------------------------------------

/// Serialises the extra builds: they share one target dir, and each copies its binary out
/// before the next build overwrites it.
static BUILD_LOCK: Mutex<()> = Mutex::new(());
static NEW_REVISION: OnceLock<PathBuf> = OnceLock::new();
static REFUSING_REVISION: OnceLock<PathBuf> = OnceLock::new();

/// `<target>` of the running `cargo test` (the charm binary is `<target>/<profile>/...`).
fn target_dir() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_zookeeper-charm"));
    exe.parent()
        .and_then(Path::parent)
        .expect("the charm binary lives in <target>/<profile>/")
        .to_path_buf()
}

/// Builds the charm binary with `vars` set at build time and returns a copy of it named
/// after `name` (kept across runs; cargo rebuilds only what changed).
fn build_charm_binary(name: &str, vars: &[(&str, &str)]) -> PathBuf {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = target_dir().join("upgrade-revisions");
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--bin",
        "zookeeper-charm",
        "--message-format=json",
        "--manifest-path",
    ])
    .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&dir);
    for var in [
        "ZK_CHARM_REVISION",
        "ZK_CHARM_VERSION",
        "ZK_CHARM_UPGRADE_SUPPORTED",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(vars.iter().copied());
    let out = cmd.output().expect("run cargo build");
    assert!(
        out.status.success(),
        "building the {name} revision failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The binary's path, as cargo reports it (it depends on the profile and any --target).
    let built = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "zookeeper-charm")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported the zookeeper-charm executable");
    let copy = dir.join(format!("zookeeper-charm-{name}"));
    std::fs::copy(&built, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
    eprintln!(
        "built the {name} revision ({vars:?}) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    copy
}

/// The same charm as revision 2, charm version 0.2.0 (upgrade_supported unchanged: `>=0.1`).
fn new_revision_binary() -> &'static Path {
    NEW_REVISION.get_or_init(|| {
        build_charm_binary(
            "new",
            &[("ZK_CHARM_REVISION", "2"), ("ZK_CHARM_VERSION", "0.2.0")],
        )
    })
}

/// A revision that only upgrades from charm versions `>=9`: the deployed 0.1.0 is refused.
fn refusing_revision_binary() -> &'static Path {
    REFUSING_REVISION.get_or_init(|| {
        build_charm_binary(
            "refusing",
            &[
                ("ZK_CHARM_REVISION", "3"),
                ("ZK_CHARM_VERSION", "9.0.0"),
                ("ZK_CHARM_UPGRADE_SUPPORTED", ">=9"),
            ],
        )
    })
}

// --- ZooKeeper process sampling -----------------------------------------------------------------

/// A running server's identity: pid and start time (clock ticks since boot), so that a
/// restart is seen even if the pid were reused.
type ProcId = (i32, u64);

/// The live ZooKeeper process of a unit, from its pidfile and `/proc`.
fn zk_process(workload_root: &Path) -> Option<ProcId> {
    let pid: i32 = std::fs::read_to_string(workload_root.join("zookeeper.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces):
    // state is field 3, starttime field 22.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    let start: u64 = fields.get(19)?.parse().ok()?;
    Some((pid, start))
}

/// Every unit's process, by unit number.
fn processes(roots: &BTreeMap<u32, PathBuf>) -> BTreeMap<u32, Option<ProcId>> {
    roots.iter().map(|(u, r)| (*u, zk_process(r))).collect()
}

struct Sample {
    at: Duration,
    procs: BTreeMap<u32, Option<ProcId>>,
}

/// Samples every unit's ZooKeeper process every 100 ms until stopped.
struct ProcWatch {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<Sample>>>,
}

impl ProcWatch {
    fn start(c: &Cluster) -> ProcWatch {
        let roots: BTreeMap<u32, PathBuf> = c
            .addresses()
            .keys()
            .map(|u| {
                (
                    *u,
                    c.model.workload_root(&format!("zookeeper/{u}")).unwrap(),
                )
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                samples.push(Sample {
                    at: t0.elapsed(),
                    procs: processes(&roots),
                });
                std::thread::sleep(Duration::from_millis(100));
            }
            samples.push(Sample {
                at: t0.elapsed(),
                procs: processes(&roots),
            });
            samples
        });
        ProcWatch {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> Restarts {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self
            .handle
            .take()
            .expect("finished once")
            .join()
            .expect("sampler thread");
        Restarts::from_samples(&samples)
    }
}

impl Drop for ProcWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One unit's server replaced by another: the old one was last seen at `last_old`, the
/// new one first seen at `first_new` (the unit was down in between).
#[derive(Debug, Clone)]
struct Restart {
    unit: u32,
    last_old: Duration,
    first_new: Duration,
}

/// What the sampler saw.
#[derive(Debug)]
struct Restarts {
    samples: usize,
    /// The most units without a live server in one sample.
    max_down: usize,
    /// A sample where that many were down, for the failure message.
    max_down_at: Option<(Duration, Vec<u32>)>,
    /// Every replacement, ordered by when the old server was last seen.
    restarts: Vec<Restart>,
}

impl Restarts {
    fn from_samples(samples: &[Sample]) -> Restarts {
        let mut max_down = 0;
        let mut max_down_at = None;
        let mut restarts = Vec::new();
        // Per unit: the current server identity and when it was last seen.
        let mut current: BTreeMap<u32, (ProcId, Duration)> = BTreeMap::new();
        for s in samples {
            let down: Vec<u32> = s
                .procs
                .iter()
                .filter(|(_, p)| p.is_none())
                .map(|(u, _)| *u)
                .collect();
            if down.len() > max_down {
                max_down = down.len();
                max_down_at = Some((s.at, down.clone()));
            }
            for (unit, p) in &s.procs {
                let Some(p) = p else { continue };
                match current.get(unit) {
                    Some((old, last)) if old != p => restarts.push(Restart {
                        unit: *unit,
                        last_old: *last,
                        first_new: s.at,
                    }),
                    _ => {}
                }
                current.insert(*unit, (*p, s.at));
            }
        }
        restarts.sort_by_key(|r| r.last_old);
        Restarts {
            samples: samples.len(),
            max_down,
            max_down_at,
            restarts,
        }
    }

    fn order(&self) -> Vec<u32> {
        self.restarts.iter().map(|r| r.unit).collect()
    }

    /// No two replacements overlap: each unit's new server was up before the next unit's
    /// old server was last seen.
    fn assert_one_at_a_time(&self, what: &str) {
        assert!(
            self.max_down <= 1,
            "{what}: {} units down at once: {:?}",
            self.max_down,
            self.max_down_at
        );
        for pair in self.restarts.windows(2) {
            assert!(
                pair[0].first_new <= pair[1].last_old,
                "{what}: unit {} went down before unit {} was back: {:?}",
                pair[1].unit,
                pair[0].unit,
                self.restarts
            );
        }
    }

    fn summary(&self) -> String {
        let mut s = format!("{} samples, max down {}", self.samples, self.max_down);
        for r in &self.restarts {
            s += &format!(
                "; unit {} down {:.1}s..{:.1}s",
                r.unit,
                r.last_old.as_secs_f64(),
                r.first_new.as_secs_f64()
            );
        }
        s
    }
}

// --- a client writing all along ------------------------------------------------------------------

struct WriterReport {
    /// Znodes whose create was acknowledged (or found existing on a retry).
    acked: Vec<String>,
    /// Connection losses (each followed by a reconnect and a retry of the same znode).
    losses: usize,
    /// The longest time between two acknowledged writes.
    longest_gap: Duration,
}

/// Creates `/charm-test/<prefix>-<n>` every 50 ms until stopped.
struct Writer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<WriterReport>>,
}

impl Writer {
    fn start(c: &Cluster, prefix: &str) -> Writer {
        c.write_znode(&format!("{prefix}-start"));
        let hosts: Vec<String> = c.addresses().into_values().collect();
        let password = c.super_password();
        let prefix = prefix.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let connect = || loop {
                match Admin::connect(&hosts, &password, Duration::from_secs(4)) {
                    Ok(a) => return Some(a),
                    Err(_) if flag.load(Ordering::Relaxed) => return None,
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            };
            let mut report = WriterReport {
                acked: Vec::new(),
                losses: 0,
                longest_gap: Duration::ZERO,
            };
            let mut last_ack = Instant::now();
            let mut client = connect();
            let mut n = 0u32;
            'writes: while !flag.load(Ordering::Relaxed) {
                let name = format!("{prefix}-{n:05}");
                let path = format!("/charm-test/{name}");
                let mut retried = false;
                loop {
                    let Some(c) = client.as_mut() else {
                        break 'writes;
                    };
                    match c.create(&path, name.as_bytes()) {
                        Ok(()) => break,
                        // Our own earlier attempt went through before the connection dropped.
                        Err(ZkError::Client(m)) if retried && m.contains("exists") => break,
                        Err(ZkError::ConnectionLoss(_)) => {
                            report.losses += 1;
                            retried = true;
                            client = connect();
                        }
                        Err(e) => panic!("writer: create {path}: {e}"),
                    }
                }
                report.longest_gap = report.longest_gap.max(last_ack.elapsed());
                last_ack = Instant::now();
                report.acked.push(name);
                n += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            report
        });
        Writer {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> WriterReport {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .expect("finished once")
            .join()
            .expect("writer thread")
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

// --- model helpers -------------------------------------------------------------------------------

fn seed(default: u64) -> u64 {
    std::env::var("ZK_TEST_SEEDS")
        .ok()
        .and_then(|s| s.split(',').next()?.trim().parse().ok())
        .unwrap_or(default)
}

fn unit(n: u32) -> String {
    format!("zookeeper/{n}")
}

/// Settles until quiet, whatever the statuses (an upgrade in progress or stopped is not
/// `active`).
fn settle_quiet(c: &mut Cluster, what: &str) {
    let quiet = SettleLimits {
        until_active: false,
        ..limits()
    };
    match c.model.settle(quiet) {
        Ok(report) => eprintln!("seed {}: {what}: {report}", c.seed),
        Err(e) => panic!(
            "seed {}: {what}: settle failed: {e}\n{}",
            c.seed,
            c.describe()
        ),
    }
}

fn deploy(charm: &Path, n: u32, seed: u64) -> Cluster {
    let t = Instant::now();
    let mut c = Cluster::create(charm, seed);
    c.model.deploy(n).unwrap();
    c.settle(&format!("deploy {n}"));
    assert_eq!(c.voters().len(), n as usize, "{}", c.describe());
    eprintln!("deploy {n}: {:.1}s", t.elapsed().as_secs_f64());
    c
}

fn juju_leader(c: &Cluster) -> String {
    c.model.leader().unwrap().expect("a Juju leader")
}

/// The only unit whose server says `Mode: leader`.
fn zk_leader(c: &Cluster) -> u32 {
    let leaders = c.zk_leaders();
    assert_eq!(
        leaders.len(),
        1,
        "one ZooKeeper leader expected:\n{}",
        c.describe()
    );
    leaders[0]
}

fn upgrade_stack(c: &Cluster) -> Vec<u32> {
    c.model
        .app_databag("upgrade")
        .unwrap()
        .get("upgrade-stack")
        .map(|s| serde_json::from_str(s).expect("upgrade-stack is a JSON list of ids"))
        .unwrap_or_default()
}

/// Each unit's upgrade `state`, by unit number.
fn upgrade_states(c: &Cluster) -> BTreeMap<u32, String> {
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
fn recorded_charm_version(c: &Cluster) -> String {
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
    let root = c.model.workload_root(&unit(old)).unwrap();
    let (pid, _) = zk_process(&root).expect("the quorum leader's server runs");
    // SAFETY: a plain kill(2) of a ZooKeeper this test's model started, by its pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
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
fn zk_leader_in_the_middle(c: &mut Cluster) -> u32 {
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
fn upgrade_plans(c: &Cluster) -> Vec<u32> {
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
fn pre_upgrade_check(c: &mut Cluster) -> Vec<u32> {
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
    settle_quiet(c, "after pre-upgrade-check");
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

fn assert_no_write_lost(c: &Cluster, report: &WriterReport, what: &str) {
    let have = c.znodes();
    let lost: Vec<&String> = report.acked.iter().filter(|w| !have.contains(*w)).collect();
    assert!(
        lost.is_empty(),
        "{what}: {} acknowledged writes lost: {lost:?}",
        lost.len()
    );
}

// --- the scenarios -------------------------------------------------------------------------------

/// pre-upgrade-check, refresh to the new revision, and everything the rollout must keep.
fn rollout(n: u32, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let old = test_charm(&dir.path().join("old"));
    let mut c = deploy(&old, n, seed);
    assert_eq!(recorded_charm_version(&c), "0.1.0");
    let zk = zk_leader_in_the_middle(&mut c);
    eprintln!("{n} units: the quorum leader is now unit {zk}");
    // Built after the deploy, so that the first build overlaps another test's deploy.
    let new = charm_dir_with(new_revision_binary(), &dir.path().join("new"));

    let t = Instant::now();
    let stack = pre_upgrade_check(&mut c);
    eprintln!(
        "{n} units: pre-upgrade-check {:.1}s, stack {stack:?}",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(stack[0], zk);

    let watch = ProcWatch::start(&c);
    let writer = Writer::start(&c, &format!("rollout{n}"));
    let before = processes(&roots(&c));
    let t = Instant::now();
    c.model.refresh(&new).unwrap();
    c.settle(&format!("refresh {n} units"));
    let rollout_time = t.elapsed();
    // Let the writer see the end state for a moment.
    std::thread::sleep(Duration::from_millis(500));
    let writes = writer.finish();
    let seen = watch.finish();
    eprintln!(
        "{n} units: rollout {:.1}s; {}; {} writes acknowledged, {} connection losses, longest gap {:.1}s",
        rollout_time.as_secs_f64(),
        seen.summary(),
        writes.acked.len(),
        writes.losses,
        writes.longest_gap.as_secs_f64()
    );

    // One restart per unit, in the stack's order (last element first), never overlapping,
    // and the ZooKeeper leader's unit last.
    let expected: Vec<u32> = stack.iter().rev().copied().collect();
    assert_eq!(
        seen.order(),
        expected,
        "restart order (from the processes) follows the stack: {}",
        seen.summary()
    );
    assert_eq!(seen.order().last(), Some(&zk));
    seen.assert_one_at_a_time(&format!("{n} units"));
    assert_eq!(
        upgrade_plans(&c),
        expected,
        "the `upgrade` workload op ran once per unit, in stack order"
    );
    let after = processes(&roots(&c));
    for (u, p) in &after {
        assert!(p.is_some(), "unit {u} runs ZooKeeper after the upgrade");
        assert_ne!(p, &before[u], "unit {u} runs a new server process");
    }

    // Finished: every unit idle and active, the stack empty, the new model recorded.
    assert!(upgrade_stack(&c).is_empty(), "{:?}", upgrade_stack(&c));
    let states = upgrade_states(&c);
    assert!(
        states.values().all(|s| s == "idle"),
        "every unit idle after the upgrade: {states:?}"
    );
    assert!(c.all_active(), "{}", c.describe());
    assert_eq!(recorded_charm_version(&c), "0.2.0");
    assert_eq!(c.voters().len(), n as usize, "{}", c.describe());
    zk_leader(&c);

    // No acknowledged write lost, and writes went on during the rollout.
    assert!(
        writes.acked.len() >= 20,
        "the writer made progress: {} writes",
        writes.acked.len()
    );
    assert_no_write_lost(&c, &writes, &format!("{n} units"));
    c.model.destroy().unwrap();
}

fn roots(c: &Cluster) -> BTreeMap<u32, PathBuf> {
    c.addresses()
        .keys()
        .map(|u| (*u, c.model.workload_root(&unit(*u)).unwrap()))
        .collect()
}

#[test]
fn three_units_upgrade_one_at_a_time_with_the_zookeeper_leader_last_and_lose_no_write() {
    rollout(3, seed(11));
}

#[test]
fn five_units_upgrade_one_at_a_time_with_the_zookeeper_leader_last_and_lose_no_write() {
    rollout(5, seed(12));
}

#[test]
fn pre_upgrade_check_fails_on_a_non_leader_and_on_an_unhealthy_ensemble_saying_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm(&dir.path().join("charm"));
    let mut c = deploy(&charm, 3, seed(13));
    let leader = juju_leader(&c);

    let other = (0..3).map(unit).find(|u| *u != leader).unwrap();
    let r = c
        .model
        .run_action(&other, "pre-upgrade-check", &[])
        .unwrap();
    assert!(!r.completed(), "a non-leader refuses: {r:?}");
    assert!(r.message.contains("leader"), "{}", r.message);
    assert!(upgrade_stack(&c).is_empty());

    // One server killed outright just before the check (a follower, so the quorum stays).
    let zk = zk_leader(&c);
    let victim = (0..3).find(|u| *u != zk).unwrap();
    let root = c.model.workload_root(&unit(victim)).unwrap();
    let (pid, _) = zk_process(&root).expect("the victim's server runs");
    // SAFETY: a plain kill(2) of a ZooKeeper this test's model started, by its pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let gone = Instant::now() + Duration::from_secs(10);
    while zk_process(&root).is_some() {
        assert!(Instant::now() < gone, "pid {pid} survived SIGKILL");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = c
        .model
        .run_action(&leader, "pre-upgrade-check", &[])
        .unwrap();
    assert!(!r.completed(), "an unhealthy ensemble refuses: {r:?}");
    assert!(
        r.message.contains(&format!("unit {victim}")) && r.message.contains("not serving"),
        "the failure names the unit and what is wrong: {}",
        r.message
    );
    assert!(
        upgrade_stack(&c).is_empty(),
        "no stack written on a failure"
    );
    assert!(
        upgrade_states(&c).values().all(|s| s == "idle"),
        "{:?}",
        upgrade_states(&c)
    );

    // The charm restarts the server; then the check passes.
    c.settle("the killed server restarted");
    assert!(zk_process(&root).is_some());
    pre_upgrade_check(&mut c);
    c.model.destroy().unwrap();
}

#[test]
fn a_failed_unit_stops_the_rollout_blocked_with_rollback_instructions_and_the_rollback_completes() {
    failure_and_rollback(seed(14), false);
}

/// The failed unit is also the Juju leader: it enters recovery itself and, being on top of
/// the repaired stack, must start the rollback with no other unit's data changing (the
/// upgrade lib's PR #176 case).
#[test]
fn the_rollback_completes_when_the_failed_unit_is_the_juju_leader() {
    failure_and_rollback(seed(16), true);
}

fn failure_and_rollback(seed: u64, juju_leader_fails: bool) {
    let dir = tempfile::tempdir().unwrap();
    let old = test_charm(&dir.path().join("old"));
    let mut c = deploy(&old, 3, seed);
    let new = charm_dir_with(new_revision_binary(), &dir.path().join("new"));
    if juju_leader_fails {
        // The lowest unit that is not the quorum leader upgrades first.
        let zk = zk_leader(&c);
        let first = (0..3).find(|u| *u != zk).unwrap();
        c.model.set_leader(&unit(first)).unwrap();
        settle_quiet(&mut c, "Juju leadership moved");
    }
    let stack = pre_upgrade_check(&mut c);
    let first = *stack.last().unwrap();
    assert_eq!(
        juju_leader(&c) == unit(first),
        juju_leader_fails,
        "{stack:?}"
    );
    std::fs::write(
        c.model
            .workload_root(&unit(first))
            .unwrap()
            .join("fail-next-refresh"),
        "",
    )
    .unwrap();

    let watch = ProcWatch::start(&c);
    let writer = Writer::start(&c, "failure");
    let before = processes(&roots(&c));
    let t = Instant::now();
    c.model.refresh(&new).unwrap();
    settle_quiet(&mut c, "refresh with a failing unit");
    let failed_time = t.elapsed();
    let seen = watch.finish();
    eprintln!(
        "failed rollout settled in {:.1}s; {}",
        failed_time.as_secs_f64(),
        seen.summary()
    );

    // The rollout stopped at the failed unit: it is blocked with the rollback steps, and no
    // other server was restarted.
    let status = c.status();
    let failed = status.iter().find(|u| u.unit == unit(first)).unwrap();
    assert_eq!(failed.workload, "blocked", "{}", c.describe());
    for what in [
        "upgrade failed",
        "fail-next-refresh",
        "pre-upgrade-check",
        "juju refresh",
    ] {
        assert!(
            failed.message.contains(what),
            "the blocked message says {what:?}: {}",
            failed.message
        );
    }
    assert_eq!(upgrade_states(&c)[&first], "failed");
    assert_eq!(
        upgrade_stack(&c).last(),
        Some(&first),
        "the failed unit stays on top"
    );
    let after = processes(&roots(&c));
    for (u, p) in &after {
        assert!(p.is_some(), "unit {u} serves with the old ZooKeeper");
        if *u != first {
            assert_eq!(
                p, &before[u],
                "unit {u} was not restarted after the failure"
            );
        }
    }
    assert!(
        seen.order().iter().all(|u| *u == first),
        "only the failed unit restarted: {}",
        seen.summary()
    );
    assert_eq!(upgrade_plans(&c), vec![first]);
    assert_eq!(recorded_charm_version(&c), "0.1.0", "the old model is kept");

    // Rollback: pre-upgrade-check again (recovery), then refresh to the original charm.
    let leader = juju_leader(&c);
    let r = c
        .model
        .run_action(&leader, "pre-upgrade-check", &[])
        .unwrap();
    assert!(
        r.completed(),
        "recovery check: {}\n{}",
        r.message,
        c.describe()
    );
    let repaired = upgrade_stack(&c);
    assert_eq!(
        repaired.last(),
        Some(&first),
        "the failed unit rolls back first"
    );
    assert_eq!(repaired.len(), 3, "{repaired:?}");
    settle_quiet(&mut c, "recovery");

    let watch = ProcWatch::start(&c);
    let t = Instant::now();
    c.model.refresh(&old).unwrap();
    c.settle("rollback refresh");
    let rollback_time = t.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let writes = writer.finish();
    let seen = watch.finish();
    eprintln!(
        "rollback {:.1}s; {}; {} writes, {} losses, longest gap {:.1}s",
        rollback_time.as_secs_f64(),
        seen.summary(),
        writes.acked.len(),
        writes.losses,
        writes.longest_gap.as_secs_f64()
    );
    seen.assert_one_at_a_time("rollback");
    assert_eq!(seen.order().first(), Some(&first));
    assert!(c.all_active(), "{}", c.describe());
    assert!(upgrade_stack(&c).is_empty());
    assert!(
        upgrade_states(&c).values().all(|s| s == "idle"),
        "{:?}",
        upgrade_states(&c)
    );
    assert_eq!(recorded_charm_version(&c), "0.1.0");
    assert_no_write_lost(&c, &writes, "failure and rollback");
    c.model.destroy().unwrap();
}

#[test]
fn a_revision_that_refuses_the_deployed_version_is_refused_before_anything_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let old = test_charm(&dir.path().join("old"));
    let mut c = deploy(&old, 3, seed(15));
    let refusing = charm_dir_with(refusing_revision_binary(), &dir.path().join("refusing"));
    pre_upgrade_check(&mut c);

    let watch = ProcWatch::start(&c);
    let before = processes(&roots(&c));
    c.model.refresh(&refusing).unwrap();
    settle_quiet(&mut c, "refresh to a refusing revision");
    let seen = watch.finish();

    assert!(
        seen.restarts.is_empty(),
        "nothing restarted: {}",
        seen.summary()
    );
    assert_eq!(seen.max_down, 0, "{}", seen.summary());
    assert_eq!(processes(&roots(&c)), before);
    assert!(upgrade_plans(&c).is_empty());
    let status = c.status();
    let blocked: Vec<_> = status.iter().filter(|u| u.workload == "blocked").collect();
    assert!(!blocked.is_empty(), "{}", c.describe());
    for u in &blocked {
        for what in [
            "Versions incompatible",
            "charm 0.1.0 can not be upgraded to 9.0.0",
            "requirement >=9",
            "pre-upgrade-check",
        ] {
            assert!(
                u.message.contains(what),
                "{} says {what:?}: {}",
                u.unit,
                u.message
            );
        }
    }
    assert_eq!(recorded_charm_version(&c), "0.1.0");
    assert!(
        upgrade_states(&c).values().any(|s| s == "failed"),
        "{:?}",
        upgrade_states(&c)
    );

    // The refused refresh rolls back like a failed one: recovery, then the original charm.
    let leader = juju_leader(&c);
    let r = c
        .model
        .run_action(&leader, "pre-upgrade-check", &[])
        .unwrap();
    assert!(
        r.completed(),
        "recovery check: {}\n{}",
        r.message,
        c.describe()
    );
    settle_quiet(&mut c, "recovery");
    let watch = ProcWatch::start(&c);
    let t = Instant::now();
    c.model.refresh(&old).unwrap();
    c.settle("rollback from the refused revision");
    let seen = watch.finish();
    eprintln!(
        "rollback from the refused revision {:.1}s; {}",
        t.elapsed().as_secs_f64(),
        seen.summary()
    );
    seen.assert_one_at_a_time("rollback from the refused revision");
    assert!(upgrade_stack(&c).is_empty());
    assert!(
        upgrade_states(&c).values().all(|s| s == "idle"),
        "{:?}",
        upgrade_states(&c)
    );
    assert_eq!(recorded_charm_version(&c), "0.1.0");
    c.model.destroy().unwrap();
}
