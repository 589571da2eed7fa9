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
    let (samples, voters, _) = sample_timed(model, members);
    (samples, voters)
}

/// Every unit's sample, the voters, and when each unit was read ([`sample_timed`]).
type TimedSample = (
    BTreeMap<String, UnitSample>,
    Option<BTreeSet<String>>,
    BTreeMap<String, Instant>,
);

/// [`sample`], and for each unit the instant its live server was read, just before its
/// `srvr` probe: what the sample saw of that unit held at that instant or later in the
/// round (a round can last seconds), not at the round's end.
fn sample_timed(model: &Model, members: &mut MembershipReader) -> TimedSample {
    let Ok(st) = model.state() else {
        return (BTreeMap::new(), None, BTreeMap::new());
    };
    let mut probed = BTreeMap::new();
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
        probed.insert(u.name.clone(), Instant::now());
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
    (samples, voters, probed)
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
///
/// Samples are only as dense as the probes allow (a round that waits on unanswered `srvr`
/// probes can take seconds on a loaded machine), so the unit was down for certain only
/// from `started` (the new process's start, from the kernel's clock, when the old one was
/// already gone) or the first read that saw it down, whichever is first, to the last such
/// read (`seen_down`). Outside that span the watch does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    pub unit: u32,
    pub old: ServerProcess,
    pub new: ServerProcess,
    pub down_from: Duration,
    /// `None`: the new process never served while watched.
    pub up_at: Option<Duration>,
    /// When the new process started, on the watch's clock (`None`: before the watch).
    pub started: Option<Duration>,
    /// When the unit was read in the first and the last round, from `down_from` on, that saw
    /// it not serving (`None`: the first round without the old process already saw the new
    /// one serving). A read, not its round's end: a round can last seconds.
    pub seen_down: Option<(Duration, Duration)>,
}

/// How late past its estimate a process's start time may be: the kernel counts clock ticks
/// (10 ms), the boot clock is read once; a JVM does not serve this soon after it starts.
const START_SLACK: Duration = Duration::from_millis(30);

impl Restart {
    /// The span in which the unit certainly served no one: from the first instant known to
    /// be down to the last one.
    pub fn surely_down(&self) -> Option<(Duration, Duration)> {
        let started = self.started.map(|s| s + START_SLACK);
        let known = [
            started,
            self.seen_down.map(|(first, _)| first),
            self.seen_down.map(|(_, last)| last),
        ];
        let from = known.iter().flatten().min()?;
        let to = known.iter().flatten().max()?;
        Some((*from, *to))
    }
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
    /// When each sample (round) ended (every unit is sampled in each one).
    pub samples: Vec<Duration>,
    /// Per unit, for each round: when it ended, and when that unit's live server was read
    /// (its `srvr` probe followed).
    pub probes: BTreeMap<u32, Vec<(Duration, Duration)>>,
    /// The kernel's boot clock when the watch started, in clock ticks (as process start
    /// times are given), and the ticks per second.
    pub boot_ticks_at_start: f64,
    pub ticks_per_sec: u64,
}

/// The boot clock (`CLOCK_BOOTTIME`, which `/proc/<pid>/stat` start times count on) in
/// clock ticks, and the ticks per second.
fn boot_clock_ticks() -> (f64, u64) {
    // SAFETY: sysconf and clock_gettime only write the timespec passed.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    let secs = ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9;
    (secs * hz as f64, hz)
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
    let (boot_ticks_at_start, ticks_per_sec) = boot_clock_ticks();
    let mut out = Watched {
        boot_ticks_at_start,
        ticks_per_sec,
        ..Watched::default()
    };
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
        let (samples, voters, probed) = sample_timed(&model, &mut members);
        invariants.context = format!("at {:.1}s", t0.elapsed().as_secs_f64());
        invariants.update(&samples, voters);
        let at = t0.elapsed();
        out.samples.push(at);
        for (name, s) in &samples {
            let Some(id) = unit_number(name) else {
                continue;
            };
            if let Some(p) = probed.get(name) {
                out.probes
                    .entry(id)
                    .or_default()
                    .push((at, p.saturating_duration_since(t0)));
            }
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
/// the old one to the first `srvr` the new one served. `probes` are the unit's rounds (when
/// each ended, when the unit was read in it); `started` places a process's start on the
/// watch's clock.
pub fn restarts(
    unit: u32,
    t: &Timeline,
    probes: &[(Duration, Duration)],
    started: impl Fn(&ServerProcess) -> Option<Duration>,
) -> Vec<Restart> {
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
        // The rounds that saw the unit without its old server and not serving: it was down
        // from the instant it was read in them (gone stays gone; down lasts until it serves).
        let reads = || {
            probes
                .iter()
                .filter(|(end, _)| *end >= down_from && up_at.is_none_or(|up| *end < up))
                .map(|(_, read)| *read)
        };
        let seen_down = reads().min().zip(reads().max());
        out.push(Restart {
            unit,
            old,
            new,
            down_from,
            up_at,
            started: started(&new),
            seen_down,
        });
    }
    out
}

impl Watched {
    /// Where process `p`'s start falls on the watch's clock (`None`: before the watch).
    pub fn started(&self, p: &ServerProcess) -> Option<Duration> {
        if self.ticks_per_sec == 0 {
            return None;
        }
        let secs = (p.start_ticks as f64 - self.boot_ticks_at_start) / self.ticks_per_sec as f64;
        (secs >= 0.0).then(|| Duration::from_secs_f64(secs))
    }

    /// Every restart of every unit, ordered by when the new process started (the kernel's
    /// start times: samples taken seconds apart on a loaded machine can see two units
    /// change in the same one).
    pub fn restarts(&self) -> Vec<Restart> {
        let mut all: Vec<Restart> = self
            .timelines
            .iter()
            .flat_map(|(u, t)| {
                let probes = self.probes.get(u).map_or(&[][..], Vec::as_slice);
                restarts(*u, t, probes, |p| self.started(p))
            })
            .collect();
        all.sort_by_key(|r| (r.new.start_ticks, r.down_from));
        all
    }

    /// The longest time between two samples.
    pub fn longest_gap(&self) -> Duration {
        self.samples
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]))
            .max()
            .unwrap_or_default()
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

    /// Panics unless the restarts went one at a time: every new server served, the old
    /// servers were seen gone in the order the new ones started, no two units were certainly
    /// down at once ([`Restart::surely_down`]), and the safety invariants held throughout.
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
        let gap = self.longest_gap();
        for pair in all.windows(2) {
            assert!(
                pair[0].down_from <= pair[1].down_from,
                "{what}: unit {} was seen down at {:?}, before unit {} at {:?}, though its new server started later; longest gap between samples {gap:?}; all restarts: {all:#?}",
                pair[1].unit,
                pair[1].down_from,
                pair[0].unit,
                pair[0].down_from,
            );
        }
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                let (Some((a0, a1)), Some((b0, b1))) = (a.surely_down(), b.surely_down()) else {
                    continue;
                };
                assert!(
                    a0.max(b0) > a1.min(b1),
                    "{what}: units {} and {} were both down from {:?} to {:?}; longest gap between samples {gap:?}; all restarts: {all:#?}",
                    a.unit,
                    b.unit,
                    a0.max(b0),
                    a1.min(b1)
                );
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, start_ticks: u64) -> ServerProcess {
        ServerProcess { pid, start_ticks }
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    /// A watch that started at boot tick 1000 (100 ticks a second), sampling at `samples`,
    /// each unit read at the end of each round.
    fn watched(samples: &[f64], timelines: Vec<(u32, Timeline)>) -> Watched {
        let samples: Vec<Duration> = samples.iter().map(|t| s(*t)).collect();
        Watched {
            probes: timelines
                .iter()
                .map(|(u, _)| (*u, samples.iter().map(|t| (*t, *t)).collect()))
                .collect(),
            timelines: timelines.into_iter().collect(),
            violation: None,
            samples,
            boot_ticks_at_start: 1000.0,
            ticks_per_sec: 100,
        }
    }

    /// A unit whose server `old` was replaced by `new`: seen gone at `down`, serving at `up`.
    fn restarted(old: ServerProcess, new: ServerProcess, down: f64, up: f64) -> Timeline {
        let mut t = vec![
            (s(0.0), Observed::Process(Some(old))),
            (s(0.0), Observed::Serving(old)),
        ];
        if down < up {
            t.push((s(down), Observed::Process(Some(new))));
            t.push((s(up), Observed::Serving(new)));
        } else {
            t.push((s(down), Observed::Process(Some(new))));
            t.push((s(down), Observed::Serving(new)));
        }
        t
    }

    fn every_tenth(from: f64, to: f64) -> Vec<f64> {
        (0..)
            .map(|i| from + f64::from(i) * 0.1)
            .take_while(|t| *t <= to + 1e-9)
            .collect()
    }

    #[test]
    fn two_changes_in_one_late_sample_are_ordered_by_start_time_and_are_not_an_overlap() {
        // Sampling stalled from 4.5 s to 6.5 s. Unit 3 restarted inside the gap (its new
        // server started at 4.8 s and served before 6.5 s); unit 2 went down late in the
        // gap (new server at 6.4 s) and served at 7.5 s. Both changes show in the 6.5 s
        // sample, unit 2's restart first in unit order.
        let mut samples = every_tenth(0.0, 4.5);
        samples.extend(every_tenth(6.5, 8.0));
        let w = watched(
            &samples,
            vec![
                (0, restarted(p(10, 900), p(11, 1000 + 270), 3.0, 3.9)),
                (2, restarted(p(20, 900), p(21, 1000 + 640), 6.5, 7.5)),
                (3, restarted(p(30, 900), p(31, 1000 + 480), 6.5, 6.5)),
            ],
        );
        assert_eq!(w.restart_order(), vec![0, 3, 2]);
        assert_eq!(w.longest_gap(), s(6.5) - s(4.5));
        let r3 = &w.restarts()[1];
        assert_eq!(r3.seen_down, None);
        w.assert_one_down_at_a_time("stalled sampling");
    }

    #[test]
    fn a_unit_read_early_in_a_slow_round_is_down_only_when_it_was_read() {
        // From CI: unit 0's new server started at 2.86 s. One round read it at 3.1 s (not
        // serving yet) but ended only at 5.18 s; the next, at 5.21 s, saw it serve. Unit 3's
        // new server started at 4.77 s. Unit 0 was surely down until 3.1 s, not 5.18 s.
        let mut samples = every_tenth(0.0, 3.0);
        samples.extend([5.18, 5.21, 5.3, 5.4]);
        let mut w = watched(
            &samples,
            vec![
                (0, restarted(p(10, 900), p(11, 1000 + 286), 3.0, 5.21)),
                (3, restarted(p(30, 900), p(31, 1000 + 477), 5.21, 5.3)),
            ],
        );
        for (end, read) in w.probes.get_mut(&0).unwrap() {
            if *end == s(5.18) {
                *read = s(3.1);
            }
        }
        let r0 = &w.restarts()[0];
        assert_eq!((r0.unit, r0.seen_down), (0, Some((s(3.0), s(3.1)))));
        w.assert_one_down_at_a_time("slow round");
        // Read at the round's end instead, it would be an overlap.
        for (end, read) in w.probes.get_mut(&0).unwrap() {
            *read = *end;
        }
        let overlap = std::panic::catch_unwind(|| w.assert_one_down_at_a_time("late read"));
        assert!(overlap.is_err());
    }

    #[test]
    fn the_round_that_first_sees_a_unit_down_counts_from_its_read_too() {
        // The same, but that slow round is also the first without unit 0's old server: its
        // end (5.18 s) is not an instant unit 0 was surely down either.
        let mut samples = every_tenth(0.0, 2.9);
        samples.extend([5.18, 5.21, 5.3, 5.4]);
        let mut w = watched(
            &samples,
            vec![
                (0, restarted(p(10, 900), p(11, 1000 + 286), 5.18, 5.21)),
                (3, restarted(p(30, 900), p(31, 1000 + 477), 5.21, 5.3)),
            ],
        );
        for (end, read) in w.probes.get_mut(&0).unwrap() {
            if *end == s(5.18) {
                *read = s(3.1);
            }
        }
        assert_eq!(w.restarts()[0].seen_down, Some((s(3.1), s(3.1))));
        w.assert_one_down_at_a_time("slow first round");
    }

    #[test]
    #[should_panic(expected = "units 2 and 3 were both down")]
    fn two_units_seen_down_in_the_same_samples_fail() {
        let w = watched(
            &every_tenth(0.0, 8.0),
            vec![
                (2, restarted(p(20, 900), p(21, 1000 + 640), 6.5, 7.5)),
                (3, restarted(p(30, 900), p(31, 1000 + 660), 6.7, 7.2)),
            ],
        );
        w.assert_one_down_at_a_time("overlap");
    }

    #[test]
    #[should_panic(expected = "both down")]
    fn a_start_inside_another_units_down_span_fails_even_between_samples() {
        // Unit 3 went down and came back between two samples, but its new server started
        // (kernel clock) while unit 2 was seen down on both sides.
        let mut samples = every_tenth(0.0, 6.0);
        samples.extend([7.0, 7.5, 8.0]);
        let w = watched(
            &samples,
            vec![
                (2, restarted(p(20, 900), p(21, 1000 + 580), 5.9, 8.0)),
                (3, restarted(p(30, 900), p(31, 1000 + 650), 7.0, 7.0)),
            ],
        );
        w.assert_one_down_at_a_time("start inside");
    }

    #[test]
    #[should_panic(expected = "though its new server started later")]
    fn old_servers_seen_gone_out_of_start_order_fail() {
        let w = watched(
            &every_tenth(0.0, 8.0),
            vec![
                (1, restarted(p(10, 900), p(11, 1000 + 300), 5.0, 5.1)),
                (2, restarted(p(20, 900), p(21, 1000 + 200), 6.0, 6.1)),
            ],
        );
        w.assert_one_down_at_a_time("out of order");
    }

    #[test]
    fn back_to_back_restarts_with_dense_samples_pass() {
        // Unit 1 served at 4.0 s; unit 2's old server is gone in that same sample (it
        // stopped after 3.9 s) and its new one started at 3.95 s.
        let w = watched(
            &every_tenth(0.0, 8.0),
            vec![
                (1, restarted(p(10, 900), p(11, 1000 + 300), 3.0, 4.0)),
                (2, restarted(p(20, 900), p(21, 1000 + 396), 4.0, 5.0)),
            ],
        );
        w.assert_one_down_at_a_time("back to back");
        assert_eq!(w.restart_order(), vec![1, 2]);
    }
}
