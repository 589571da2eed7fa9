//! Sampling a model's ZooKeeper servers from outside the charm: after each hook (chaos) or
//! every period in a background thread ([`ProcessWatch`], the integration tests). Each
//! sample feeds the [`ServingInvariants`] checker; the background watch also keeps each
//! unit's timeline, from which [`Restart`]s are read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zk_sim::state::Life;
use zk_sim::Model;
use zookeeper_charm::zk::four;

use crate::background::Background;
use crate::invariants::{ServingInvariants, UnitSample, Violation};
use crate::members::MembershipReader;
use crate::model::unit_number;
use crate::server::{live_server, ServerProcess};

/// How long a `srvr` probe may take.
const PROBE: Duration = Duration::from_millis(800);

/// Whether the server at `address` answers `srvr` as a serving member.
pub fn serving(address: &str) -> bool {
    four::srvr_within(address, PROBE).is_ok_and(|s| {
        matches!(
            s.mode,
            four::Mode::Leader
                | four::Mode::Follower
                | four::Mode::Observer
                | four::Mode::Standalone
        )
    })
}

/// One sample of every live (not dying) unit, by unit name, and the voting members (unit
/// names) as the serving servers report them (read through `members`, the first serving
/// one preferred).
pub fn sample(
    model: &Model,
    members: &mut MembershipReader,
) -> (BTreeMap<String, UnitSample>, Option<BTreeSet<String>>) {
    let Ok(st) = model.state() else {
        return (BTreeMap::new(), None);
    };
    let app = st.default_app().unwrap_or_default().to_string();
    let mut samples = BTreeMap::new();
    let mut serving_hosts = Vec::new();
    for u in st
        .units
        .values()
        .filter(|u| u.life == Life::Alive && u.app == app)
    {
        let machine = st.machine_of(&u.name);
        let server = live_server(&machine);
        // Serving counts for this process only if it is still the live one after the probe.
        let serving = server.is_some() && serving(&u.address) && live_server(&machine) == server;
        if serving {
            serving_hosts.push(u.address.clone());
        }
        samples.insert(u.name.clone(), UnitSample { server, serving });
    }
    let voters = (!serving_hosts.is_empty())
        .then(|| {
            members
                .read(model, &serving_hosts, Duration::from_secs(1))
                .ok()
        })
        .flatten()
        .map(|cfg| {
            cfg.voters()
                .into_iter()
                .map(|id| format!("{}/{}", app, id.saturating_sub(1)))
                .collect()
        });
    (samples, voters)
}

/// What the background watch saw of one unit, in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The live server became this one (`None`: no live server).
    Process(Option<ServerProcess>),
    /// This process answered `srvr` as serving for the first time.
    Serving(ServerProcess),
    /// The unit's workload status became `<status>: <message>` (as `juju status` shows it).
    Status(String),
}

/// One unit's timeline: (time since the watch started, what was observed).
pub type Timeline = Vec<(Duration, Observed)>;

/// A restart of one unit as seen from outside: the old process was gone from `down_from`
/// (the first sample without it); the new one first served at `up_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    pub unit: u32,
    pub old: ServerProcess,
    pub new: ServerProcess,
    pub down_from: Duration,
    /// `None`: the new process never served while watched.
    pub up_at: Option<Duration>,
}

/// Samples every unit's server and workload status every `period` in a background thread.
pub struct ProcessWatch(Background<Watched>);

/// What a [`ProcessWatch`] saw.
#[derive(Debug, Default)]
pub struct Watched {
    /// Every watched unit's timeline, by unit number.
    pub timelines: BTreeMap<u32, Timeline>,
    /// The first broken safety invariant, if any.
    pub violation: Option<Violation>,
}

impl ProcessWatch {
    /// Starts watching the model in `model_dir` (through a handle of its own).
    pub fn start(model_dir: &Path, period: Duration) -> ProcessWatch {
        let model_dir = model_dir.to_path_buf();
        ProcessWatch(Background::spawn("process-watch", move |stop| {
            watch(model_dir, period, stop)
        }))
    }

    /// Stops sampling (after one last round) and returns what it saw.
    pub fn finish(self) -> Watched {
        self.0.finish()
    }
}

fn watch(model_dir: PathBuf, period: Duration, stop: Arc<AtomicBool>) -> Watched {
    // A second handle on the model (dropping it leaves the model alone).
    let model = Model::open(&model_dir).expect("open the watched model");
    let t0 = Instant::now();
    let mut out = Watched::default();
    let mut invariants = ServingInvariants::default();
    // Per unit: (current process, whether it was seen serving).
    let mut current: BTreeMap<u32, (Option<ServerProcess>, bool)> = BTreeMap::new();
    let mut statuses: BTreeMap<u32, String> = BTreeMap::new();
    let app = model.app_name().unwrap_or_default();
    let mut members = MembershipReader::new();
    loop {
        let last_round = stop.load(Ordering::Relaxed);
        let round = Instant::now();
        // The watched application's units only (a client stub has its own numbers).
        for u in model
            .status()
            .unwrap_or_default()
            .into_iter()
            .filter(|u| u.app == app)
        {
            let Some(id) = unit_number(&u.unit) else {
                continue;
            };
            let text = format!("{}: {}", u.workload, u.message);
            if statuses.get(&id) != Some(&text) {
                out.timelines
                    .entry(id)
                    .or_default()
                    .push((t0.elapsed(), Observed::Status(text.clone())));
                statuses.insert(id, text);
            }
        }
        let (samples, voters) = sample(&model, &mut members);
        invariants.context = format!("at {:.1}s", t0.elapsed().as_secs_f64());
        invariants.update(&samples, voters);
        let at = t0.elapsed();
        for (name, s) in &samples {
            let Some(id) = unit_number(name) else {
                continue;
            };
            let timeline = out.timelines.entry(id).or_default();
            let first = !current.contains_key(&id);
            let entry = current.entry(id).or_insert((None, false));
            if first || entry.0 != s.server {
                timeline.push((at, Observed::Process(s.server)));
                *entry = (s.server, false);
            }
            if let (Some(p), true, false) = (s.server, s.serving, entry.1) {
                timeline.push((at, Observed::Serving(p)));
                entry.1 = true;
            }
        }
        if last_round {
            out.violation = invariants.violation().cloned();
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
            Observed::Status(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// The distinct processes a timeline went through, in order.
pub fn processes(t: &Timeline) -> Vec<ServerProcess> {
    let mut seq: Vec<ServerProcess> = Vec::new();
    for (_, s) in t {
        if let Observed::Process(Some(p)) = s {
            if seq.last() != Some(p) {
                seq.push(*p);
            }
        }
    }
    seq
}

/// The restarts of one unit: for each change of process, from the first sample without
/// the old one to the first `srvr` the new one served.
pub fn restarts(unit: u32, t: &Timeline) -> Vec<Restart> {
    let procs = processes(t);
    let mut out = Vec::new();
    for pair in procs.windows(2) {
        let (old, new) = (pair[0], pair[1]);
        // The old process was last seen in the event before this first non-old one.
        let last_old = t
            .iter()
            .rposition(
                |(_, s)| matches!(s, Observed::Process(Some(p)) | Observed::Serving(p) if *p == old),
            )
            .expect("the old process is in the timeline");
        let down_from = t[last_old + 1..]
            .iter()
            .find(|(_, s)| matches!(s, Observed::Process(p) if *p != Some(old)))
            .map(|(at, _)| *at)
            .expect("a change follows the old process");
        let up_at = t
            .iter()
            .find(|(_, s)| matches!(s, Observed::Serving(p) if *p == new))
            .map(|(at, _)| *at);
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

impl Watched {
    /// Every restart of every unit, ordered by when the old process went away.
    pub fn restarts(&self) -> Vec<Restart> {
        let mut all: Vec<Restart> = self
            .timelines
            .iter()
            .flat_map(|(u, t)| restarts(*u, t))
            .collect();
        all.sort_by_key(|r| r.down_from);
        all
    }

    /// The units in the order they restarted.
    pub fn restart_order(&self) -> Vec<u32> {
        self.restarts().iter().map(|r| r.unit).collect()
    }

    /// Whether some unit was seen without a live server at any sample.
    pub fn any_unit_seen_down(&self) -> bool {
        self.timelines
            .values()
            .flatten()
            .any(|(_, o)| *o == Observed::Process(None))
    }

    /// Panics unless the restarts went one at a time: every new server served, each before
    /// the next unit's server went down, and the safety invariants held throughout.
    pub fn assert_one_down_at_a_time(&self, what: &str) {
        let all = self.restarts();
        if let Some(v) = &self.violation {
            panic!("{what}: {v}; all restarts: {all:#?}");
        }
        for r in &all {
            assert!(
                r.up_at.is_some(),
                "{what}: unit {}: process {:?} never served: {:?}",
                r.unit,
                r.new,
                self.timelines.get(&r.unit)
            );
        }
        for pair in all.windows(2) {
            assert!(
                pair[0].up_at < Some(pair[1].down_from),
                "{what}: unit {} went down at {:?} before unit {} served again at {:?}; all restarts: {all:#?}",
                pair[1].unit,
                pair[1].down_from,
                pair[0].unit,
                pair[0].up_at
            );
        }
    }

    /// One line: every restart's unit and down window.
    pub fn summary(&self) -> String {
        let all = self.restarts();
        let mut s = format!("{} restarts", all.len());
        for r in &all {
            let up = r
                .up_at
                .map_or("never".to_string(), |t| format!("{:.1}s", t.as_secs_f64()));
            s += &format!(
                "; unit {} down {:.1}s..{up}",
                r.unit,
                r.down_from.as_secs_f64()
            );
        }
        if let Some(v) = &self.violation {
            s += &format!("; VIOLATION {v}");
        }
        s
    }
}
