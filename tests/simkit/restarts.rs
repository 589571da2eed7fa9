//! Observing rolling restarts from outside the charm (issue 6): a [`ProcessWatch`] samples
//! each unit's ZooKeeper process (pid and start time from `/proc`) and whether it serves,
//! and a [`Writer`] keeps writing znodes through a real client, so that tests can check how
//! many times each server really restarted, that no two were down at once, and that no
//! acknowledged write was lost.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zookeeper_charm::zk::admin::Admin;
use zookeeper_charm::zk::{four, ZkError};

use super::Cluster;

/// Which process: a pid and its start time (clock ticks since boot, `/proc/<pid>/stat`
/// field 22), so that a reused pid is a different process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Proc {
    pub pid: i32,
    pub start_ticks: u64,
}

/// The live ZooKeeper server of a workload root: the pidfile's pid if that process is alive
/// (not a zombie) and runs `QuorumPeerMain`.
pub fn live_server(pidfile: &std::path::Path) -> Option<Proc> {
    let pid: i32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if !cmdline
        .split(|b| *b == 0)
        .any(|a| a == b"org.apache.zookeeper.server.quorum.QuorumPeerMain")
    {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name start at field 3 (the state).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    let start_ticks = fields.get(22 - 3)?.parse().ok()?;
    Some(Proc { pid, start_ticks })
}

/// What the watcher saw of one unit, in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The live server became this one (`None`: no live server).
    Process(Option<Proc>),
    /// This process answered `srvr` as serving for the first time.
    Serving(Proc),
    /// The unit's workload status became `<status>: <message>` (as `juju status` shows it).
    Status(String),
}

/// One unit's timeline: (time since the watch started, event).
pub type Timeline = Vec<(Duration, Seen)>;

/// A restart of one unit as seen from outside: the old process was last seen at
/// `down_from` (the first sample without it), the new one first served at `up_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    pub unit: u32,
    pub old: Proc,
    pub new: Proc,
    pub down_from: Duration,
    pub up_at: Duration,
}

/// Samples every unit's ZooKeeper process and workload status every `period` in a
/// background thread.
pub struct ProcessWatch {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<BTreeMap<u32, Timeline>>>,
}

impl ProcessWatch {
    /// Starts watching the units of `c` (unit number -> pidfile, address) as they are now.
    pub fn start(c: &Cluster, period: Duration) -> ProcessWatch {
        let units: Vec<(u32, PathBuf, String)> = c
            .addresses()
            .into_iter()
            .map(|(id, addr)| {
                let root = c.model.workload_root(&format!("zookeeper/{id}")).unwrap();
                (id, root.join("zookeeper.pid"), addr)
            })
            .collect();
        let model_dir = c.model.dir().to_path_buf();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("process-watch".into())
            .spawn(move || watch(model_dir, units, period, flag))
            .unwrap();
        ProcessWatch {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops sampling (after one last round) and returns every unit's timeline.
    pub fn finish(mut self) -> BTreeMap<u32, Timeline> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

impl Drop for ProcessWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn watch(
    model_dir: PathBuf,
    units: Vec<(u32, PathBuf, String)>,
    period: Duration,
    stop: Arc<AtomicBool>,
) -> BTreeMap<u32, Timeline> {
    // A second handle on the model (dropping it leaves the model alone).
    let model = zk_sim::Model::open(&model_dir).unwrap();
    let t0 = Instant::now();
    let mut out: BTreeMap<u32, Timeline> = BTreeMap::new();
    // (current process, whether it was seen serving)
    let mut state: BTreeMap<u32, (Option<Proc>, bool)> = BTreeMap::new();
    let mut statuses: BTreeMap<u32, String> = BTreeMap::new();
    loop {
        let last_round = stop.load(Ordering::Relaxed);
        let round = Instant::now();
        for u in model.status().unwrap_or_default() {
            let Some(id) = u.unit.rsplit('/').next().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let text = format!("{}: {}", u.workload, u.message);
            if statuses.get(&id) != Some(&text) {
                out.entry(id)
                    .or_default()
                    .push((t0.elapsed(), Seen::Status(text.clone())));
                statuses.insert(id, text);
            }
        }
        for (id, pidfile, addr) in &units {
            let now = live_server(pidfile);
            let at = t0.elapsed();
            let timeline = out.entry(*id).or_default();
            let first = !state.contains_key(id);
            let entry = state.entry(*id).or_insert((None, false));
            if first || entry.0 != now {
                timeline.push((at, Seen::Process(now)));
                *entry = (now, false);
            }
            if let (Some(p), false) = (now, entry.1) {
                if four::srvr_within(addr, Duration::from_millis(500)).is_ok()
                    && live_server(pidfile) == Some(p)
                {
                    timeline.push((t0.elapsed(), Seen::Serving(p)));
                    entry.1 = true;
                }
            }
        }
        if last_round {
            return out;
        }
        if let Some(rest) = period.checked_sub(round.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}

/// The distinct workload statuses (`<status>: <message>`) a timeline went through.
pub fn statuses(t: &Timeline) -> Vec<&str> {
    t.iter()
        .filter_map(|(_, s)| match s {
            Seen::Status(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// The distinct processes a timeline went through, in order.
pub fn processes(t: &Timeline) -> Vec<Proc> {
    let mut seq: Vec<Proc> = Vec::new();
    for (_, s) in t {
        if let Seen::Process(Some(p)) = s {
            if seq.last() != Some(p) {
                seq.push(*p);
            }
        }
    }
    seq
}

/// The restarts of one unit: for each change of process, from the first sample without
/// the old one to the first `srvr` the new one served. Panics (with the timeline) when a
/// new process never served.
pub fn restarts(unit: u32, t: &Timeline) -> Vec<Restart> {
    let procs = processes(t);
    let mut out = Vec::new();
    for pair in procs.windows(2) {
        let (old, new) = (pair[0], pair[1]);
        // The old process was last seen in the event before this first non-old one.
        let last_old = t
            .iter()
            .rposition(|(_, s)| matches!(s, Seen::Process(Some(p)) | Seen::Serving(p) if *p == old))
            .expect("the old process is in the timeline");
        let down_from = t[last_old + 1..]
            .iter()
            .find(|(_, s)| matches!(s, Seen::Process(p) if *p != Some(old)))
            .map(|(at, _)| *at)
            .expect("a change follows the old process");
        let up_at = t
            .iter()
            .find(|(_, s)| matches!(s, Seen::Serving(p) if *p == new))
            .map(|(at, _)| *at)
            .unwrap_or_else(|| panic!("unit {unit}: process {new:?} never served: {t:?}"));
        out.push(Restart {
            unit,
            old,
            new,
            down_from,
            up_at,
        });
    }
    out
}

/// Every restart of every unit, ordered by when the old process went away.
pub fn all_restarts(timelines: &BTreeMap<u32, Timeline>) -> Vec<Restart> {
    let mut all: Vec<Restart> = timelines
        .iter()
        .flat_map(|(u, t)| restarts(*u, t))
        .collect();
    all.sort_by_key(|r| r.down_from);
    all
}

/// Panics when two down windows overlap: a unit went down before the previous one served
/// again.
pub fn assert_one_down_at_a_time(restarts: &[Restart], what: &str) {
    for pair in restarts.windows(2) {
        assert!(
            pair[0].up_at < pair[1].down_from,
            "{what}: unit {} went down at {:?} before unit {} served again at {:?}; all restarts: {restarts:#?}",
            pair[1].unit,
            pair[1].down_from,
            pair[0].unit,
            pair[0].up_at
        );
    }
}

/// What a [`Writer`] got done.
#[derive(Debug, Default)]
pub struct WriteReport {
    /// Names of the znodes whose create was acknowledged (directly, or `NodeExists` when a
    /// create lost on the connection was retried).
    pub acked: Vec<String>,
    /// Creates that failed (each retried).
    pub failures: usize,
    /// The longest time between two acknowledged writes.
    pub max_gap: Duration,
    /// The first few errors, for the report.
    pub errors: Vec<String>,
}

/// Writes `<parent>/w<n>` every `period` in a background thread, through one client
/// session to every unit's address, retrying each create until it is acknowledged.
pub struct Writer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<WriteReport>>,
}

impl Writer {
    /// Creates `parent` and starts writing under it as `super` with `password`.
    pub fn start(c: &Cluster, parent: &str, password: &str, period: Duration) -> Writer {
        let hosts: Vec<String> = c.addresses().into_values().collect();
        let mut admin = connect(&hosts, password, Instant::now() + Duration::from_secs(30))
            .expect("the writer connects");
        match admin.create(parent, b"") {
            Ok(()) => {}
            Err(e) if is_node_exists(&e) => {}
            Err(e) => panic!("cannot create {parent}: {e}"),
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (parent, password) = (parent.to_string(), password.to_string());
        let handle = std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || write_loop(admin, hosts, parent, password, period, flag))
            .unwrap();
        Writer {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops writing (a create still unacknowledged is abandoned) and reports.
    pub fn finish(mut self) -> WriteReport {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn is_node_exists(e: &ZkError) -> bool {
    matches!(e, ZkError::Client(m) if m.contains("exists"))
}

fn connect(hosts: &[String], password: &str, deadline: Instant) -> Option<Admin> {
    loop {
        match Admin::connect(hosts, password, Duration::from_secs(5)) {
            Ok(a) => return Some(a),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(_) => return None,
        }
    }
}

fn write_loop(
    admin: Admin,
    hosts: Vec<String>,
    parent: String,
    password: String,
    period: Duration,
    stop: Arc<AtomicBool>,
) -> WriteReport {
    let mut report = WriteReport::default();
    let mut admin = Some(admin);
    let mut last_ack = Instant::now();
    let mut n = 0u64;
    'writes: while !stop.load(Ordering::Relaxed) {
        let name = format!("w{n:06}");
        let path = format!("{parent}/{name}");
        let mut retried = false;
        loop {
            if stop.load(Ordering::Relaxed) {
                break 'writes;
            }
            let Some(a) = admin.as_mut() else {
                admin = connect(&hosts, &password, Instant::now() + Duration::from_secs(1));
                continue;
            };
            match a.create(&path, name.as_bytes()) {
                Ok(()) => break,
                // A retried create whose first attempt was applied behind a lost connection.
                Err(e) if retried && is_node_exists(&e) => break,
                Err(e) => {
                    report.failures += 1;
                    if report.errors.len() < 10 {
                        report.errors.push(format!("{path}: {e}"));
                    }
                    assert!(
                        matches!(e, ZkError::ConnectionLoss(_)),
                        "create {path}: unexpected error {e}"
                    );
                    retried = true;
                    // A fresh session: the old one may be on a server that went away.
                    admin = None;
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        let now = Instant::now();
        report.max_gap = report.max_gap.max(now - last_ack);
        last_ack = now;
        report.acked.push(name);
        n += 1;
        std::thread::sleep(period);
    }
    report
}
