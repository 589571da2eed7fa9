//! `settle`: run hooks until the model is quiet, within bounds, up to K units at a time.
//!
//! The model keeps a clock (the wall clock plus the waits it simulates, see
//! [`ModelState::now_ms`](crate::state::ModelState::now_ms)): a failed hook is retried after
//! Juju's back-off, a leader that left is replaced once its lease lapses, and each
//! `update-status` round is 5 minutes. None of these is free: the model clock moves by the
//! whole wait (real time only by `time_scale` of it), and the report says what happened.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::records::HookRecord;
use super::scheduler::{pick_work, Ended, Run};
use super::Model;
use crate::rng::mix;
use crate::state::{HookKind, HookSpec, Life};
use crate::{logs, SimError};

/// Model time between two `update-status` rounds (Juju's default
/// `update-status-hook-interval`).
pub const UPDATE_STATUS_INTERVAL: Duration = Duration::from_secs(300);

/// Bounds and pacing of [`Model::settle`].
#[derive(Debug, Clone, PartialEq)]
pub struct SettleLimits {
    /// Give up after this many hook/action runs.
    pub max_hooks: usize,
    /// Give up after this much wall time (hooks still running then are interrupted, as by
    /// an agent shutdown, and run again by the next settle).
    pub timeout: Duration,
    /// Real time slept before each simulated 5-minute `update-status` round, so the
    /// workload (a JVM starting, an election) gets time to move between rounds.
    pub tick_interval: Duration,
    /// Real seconds slept per model second of the model's other waits: the retry back-off
    /// (5 s, doubling, at most 5 min) and the leadership lease. 0 sleeps not at all; the
    /// model clock moves by the whole wait either way.
    pub time_scale: f64,
    /// Keep ticking until every unit's workload status is `active` (or the timeout).
    pub until_active: bool,
    /// How many units may run a hook at the same time (each unit runs one at a time, as a
    /// Juju unit agent does). 1 runs one hook at a time in the whole model, so that a seed
    /// replays exactly; more lets hooks of different units overlap, as on Juju, the units
    /// still picked with the seeded PRNG (see [`parallel_for_seed`]).
    pub parallel: usize,
}

impl Default for SettleLimits {
    fn default() -> Self {
        SettleLimits {
            max_hooks: 2000,
            timeout: Duration::from_secs(600),
            tick_interval: Duration::from_secs(1),
            time_scale: 0.2,
            until_active: false,
            parallel: 1,
        }
    }
}

impl SettleLimits {
    /// No real-time pacing: for charms whose hooks do not wait on a workload.
    pub fn fast() -> Self {
        SettleLimits {
            tick_interval: Duration::ZERO,
            time_scale: 0.0,
            timeout: Duration::from_secs(60),
            ..SettleLimits::default()
        }
    }
}

/// A number of units running hooks at once for a seed: 2, 3 or 4.
pub fn parallel_for_seed(seed: u64) -> usize {
    2 + (mix(seed ^ 0x0C0C_0C0C) % 3) as usize
}

/// What a `settle` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettleReport {
    /// Hook and action runs (including retries and update-status).
    pub hooks: usize,
    /// Runs that retried a failed hook.
    pub retries: usize,
    pub update_status_rounds: usize,
    pub elapsed: Duration,
    /// How far the model clock moved: the elapsed time plus every simulated wait (retry
    /// back-offs, leadership leases, 5 minutes per update-status round).
    pub model_time: Duration,
    /// Units left in error (`zookeeper/1: hook failed: "start"`), when settle gave up.
    pub units_in_error: Vec<String>,
    /// Every run that did not succeed (failed, commit refused, interrupted).
    pub failed: Vec<String>,
    /// Runs longer than [`crate::Switches::slow_hook_secs`].
    pub slow: Vec<String>,
    /// The longest run.
    pub longest: Duration,
    /// Hooks other than `update-status` that ran after an update-status round queued them
    /// (or queued what queued them): progress that waits for a 5-minute tick on Juju.
    pub after_tick: Vec<String>,
    /// Workload statuses an update-status round changed (`unit: before -> after`): a status
    /// that lags by up to 5 minutes on Juju.
    pub status_by_tick: Vec<String>,
    /// The most runs in flight at once.
    pub max_parallel: usize,
}

impl SettleReport {
    /// Nothing that a healthy run should show: no failed run, no retry, no run over the
    /// slow bound, no progress that waited on an update-status round. Returns what went
    /// wrong.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.retries > 0 {
            out.push(format!("{} retries", self.retries));
        }
        out.extend(self.failed.iter().map(|f| format!("failed: {f}")));
        out.extend(self.slow.iter().map(|h| format!("slow: {h}")));
        out.extend(self.after_tick.iter().map(|h| format!("after a tick: {h}")));
        out
    }
}

impl fmt::Display for SettleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hooks in {:.1}s (model time {:.0}s, longest hook {:.1}s, up to {} at once)",
            self.hooks,
            self.elapsed.as_secs_f64(),
            self.model_time.as_secs_f64(),
            self.longest.as_secs_f64(),
            self.max_parallel
        )?;
        if self.retries > 0 {
            write!(f, ", {} retries", self.retries)?;
        }
        if !self.failed.is_empty() {
            write!(f, ", {} failed runs", self.failed.len())?;
        }
        if !self.after_tick.is_empty() {
            write!(f, ", {} hooks after a tick", self.after_tick.len())?;
        }
        if !self.slow.is_empty() {
            write!(f, ", {} slow hooks", self.slow.len())?;
        }
        if self.units_in_error.is_empty() {
            write!(f, ", all units idle")
        } else {
            write!(f, ", in error: {}", self.units_in_error.join("; "))
        }
    }
}

/// What a quiet `update-status` tick must leave unchanged.
#[derive(Debug, PartialEq)]
struct TickSnapshot {
    enqueued: u64,
    units: Vec<(String, String, String)>,
    apps: Vec<(String, String, String)>,
}

/// A run whose process is running in a thread.
struct Flight {
    run: Run,
    started: Instant,
    noted_slow: bool,
}

/// What one `drain` is for: ordinary work, or what an update-status round brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Work,
    Tick,
}

impl Model {
    /// Runs hooks until the model is quiet: every queued hook run (up to
    /// `limits.parallel` units at a time), failed hooks retried after their back-off
    /// (bounded by `Switches::hook_retries`), pending elections held, then `update-status`
    /// rounds until a whole round queued nothing new, left no unit in error and changed no
    /// status.
    pub fn settle(&mut self, limits: SettleLimits) -> Result<SettleReport, SimError> {
        let _runner = self.runner()?;
        let start = Instant::now();
        let clock0 = self.lock()?.st.now_ms();
        let mut report = SettleReport::default();
        let gave_up = self.settle_loop(&limits, start, &mut report)?;
        report.elapsed = start.elapsed();
        report.model_time = Duration::from_millis(self.lock()?.st.now_ms().saturating_sub(clock0));
        match gave_up {
            None => Ok(report),
            Some(reason) => {
                report.units_in_error = self.error_units()?.1;
                Err(SimError::Unsettled {
                    reason,
                    report: Box::new(report),
                })
            }
        }
    }

    /// The settle proper: None once quiet, or why it gave up.
    fn settle_loop(
        &mut self,
        limits: &SettleLimits,
        start: Instant,
        report: &mut SettleReport,
    ) -> Result<Option<String>, SimError> {
        loop {
            if let Some(r) = self.drain(limits, start, report, Phase::Work)? {
                return Ok(Some(r));
            }
            // Nothing runnable now: a retry or an election due later?
            if let Some(due) = self.next_due()? {
                self.wait_until(due, limits, start)?;
                if let Some(r) = self.limit_reason(limits, start, report)? {
                    return Ok(Some(r));
                }
                continue;
            }
            let (_, stuck) = self.error_units()?;
            if !stuck.is_empty() {
                return Ok(Some(format!("retries exhausted: {}", stuck.join("; "))));
            }
            let before = self.tick_snapshot()?;
            sleep(limits.tick_interval);
            {
                let mut g = self.lock()?;
                let real = limits.tick_interval.min(UPDATE_STATUS_INTERVAL);
                g.st.clock_skip_ms += (UPDATE_STATUS_INTERVAL - real).as_millis() as u64;
                for u in g.st.units_by_number() {
                    let unit = &g.st.units[&u];
                    if unit.life == Life::Alive && unit.error.is_none() {
                        g.st.enqueue(&u, HookSpec::plain(HookKind::UpdateStatus));
                    }
                }
                g.save()?;
            }
            report.update_status_rounds += 1;
            if let Some(r) = self.drain(limits, start, report, Phase::Tick)? {
                return Ok(Some(r));
            }
            let after = self.tick_snapshot()?;
            for (b, a) in before.units.iter().zip(&after.units) {
                if b.0 == a.0 && (b.1 != a.1 || b.2 != a.2) {
                    report
                        .status_by_tick
                        .push(format!("{}: {} {:?} -> {} {:?}", a.0, b.1, b.2, a.1, a.2));
                }
            }
            let (retryable, stuck) = self.error_units()?;
            let quiet = before == after && retryable.is_empty() && stuck.is_empty();
            if quiet && (!limits.until_active || self.all_active()?) {
                return Ok(None);
            }
            if let Some(r) = self.limit_reason(limits, start, report)? {
                return Ok(Some(r));
            }
        }
    }

    /// Runs whatever is runnable (queued hooks, actions, retries past their back-off) until
    /// nothing is, up to `limits.parallel` units at a time: each run's process in a thread
    /// of its own, its start and end (sequence number, context, commit) under the model
    /// lock here. Returns why it gave up, if it did (the runs in flight then end first).
    fn drain(
        &mut self,
        limits: &SettleLimits,
        start: Instant,
        report: &mut SettleReport,
        phase: Phase,
    ) -> Result<Option<String>, SimError> {
        let k = limits.parallel.max(1);
        let deadline = start + limits.timeout;
        let slow = Duration::from_secs(self.lock()?.st.switches.slow_hook_secs);
        let (tx, rx) = mpsc::channel::<(String, Ended, u64)>();
        let mut flying: BTreeMap<String, Flight> = BTreeMap::new();
        let mut gave_up: Option<String> = None;
        loop {
            while gave_up.is_none() && flying.len() < k {
                let mut g = self.lock()?;
                let busy: BTreeSet<String> = flying.keys().cloned().collect();
                let Some((unit, work)) = pick_work(&mut g.st, &busy, true) else {
                    g.save()?;
                    break;
                };
                let left = deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1));
                let run = self.begin_run(g, &unit, work, left)?;
                if !run.has_process() {
                    let ended = run.run_process();
                    let rec = self.end_run(run, ended, 0)?;
                    account(report, &rec, phase, slow);
                    gave_up = self.limit_reason(limits, start, report)?;
                    continue;
                }
                let copy = run.clone();
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let t = Instant::now();
                    let ended = copy.run_process();
                    let _ = tx.send((
                        copy.unit().to_string(),
                        ended,
                        t.elapsed().as_millis() as u64,
                    ));
                });
                flying.insert(
                    unit,
                    Flight {
                        run,
                        started: Instant::now(),
                        noted_slow: false,
                    },
                );
                report.max_parallel = report.max_parallel.max(flying.len());
            }
            if flying.is_empty() {
                return Ok(gave_up);
            }
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok((unit, ended, ms)) => {
                    let f = flying.remove(&unit).expect("a run in flight");
                    let rec = self.end_run(f.run, ended, ms)?;
                    account(report, &rec, phase, slow);
                }
                Err(RecvTimeoutError::Timeout) => self.note_slow(&mut flying, slow)?,
                Err(RecvTimeoutError::Disconnected) => unreachable!("the sender is held here"),
            }
            if gave_up.is_none() {
                gave_up = self.limit_reason(limits, start, report)?;
            }
        }
    }

    /// Says in the debug-log, once, that a run is past the slow bound (Juju never kills a
    /// hook; a test sees it in the report).
    fn note_slow(
        &self,
        flying: &mut BTreeMap<String, Flight>,
        slow: Duration,
    ) -> Result<(), SimError> {
        for f in flying.values_mut() {
            if f.noted_slow || f.started.elapsed() < slow {
                continue;
            }
            f.noted_slow = true;
            logs::append(
                self.dir(),
                &logs::line(
                    f.run.unit(),
                    "WARNING",
                    "juju.worker.uniter",
                    &format!(
                        "{} has run for over {}s (Juju never kills a hook)",
                        f.run.describe(),
                        slow.as_secs()
                    ),
                ),
            )?;
        }
        Ok(())
    }

    /// When (model clock) the next retry or election is due, if any is pending.
    fn next_due(&self) -> Result<Option<u64>, SimError> {
        let g = self.lock()?;
        let max = g.st.switches.hook_retries;
        let retry =
            g.st.units
                .values()
                .filter_map(|u| u.error.as_ref())
                .filter(|e| e.failures <= max)
                .map(|e| e.retry_at_ms)
                .min();
        Ok(match (retry, g.st.next_election_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Lets the model clock reach `due`: sleeps `time_scale` of the wait (within the settle's
    /// timeout) and skips the rest.
    fn wait_until(
        &mut self,
        due: u64,
        limits: &SettleLimits,
        start: Instant,
    ) -> Result<(), SimError> {
        let wait = {
            let g = self.lock()?;
            due.saturating_sub(g.st.now_ms())
        };
        let left = (start + limits.timeout).saturating_duration_since(Instant::now());
        let real = Duration::from_millis(wait)
            .mul_f64(limits.time_scale.max(0.0))
            .min(left);
        sleep(real);
        let mut g = self.lock()?;
        let now = g.st.now_ms();
        g.st.clock_skip_ms += due.saturating_sub(now);
        g.save()
    }

    /// Why the settle must give up now (a bound reached), if it must.
    fn limit_reason(
        &self,
        limits: &SettleLimits,
        start: Instant,
        report: &SettleReport,
    ) -> Result<Option<String>, SimError> {
        if report.hooks >= limits.max_hooks {
            return Ok(Some(format!(
                "ran {} hooks, the --max-hooks bound",
                report.hooks
            )));
        }
        if start.elapsed() < limits.timeout {
            return Ok(None);
        }
        let mut r = format!("not settled after {}s", limits.timeout.as_secs());
        if limits.until_active {
            let waiting: Vec<String> = self
                .status()?
                .into_iter()
                .filter(|u| u.workload != "active")
                .map(|u| format!("{} {}: {}", u.unit, u.workload, u.message))
                .collect();
            if !waiting.is_empty() {
                r += &format!(" (not active: {})", waiting.join("; "));
            }
        }
        Ok(Some(r))
    }

    /// (units in error with retries left, descriptions of units out of retries).
    fn error_units(&self) -> Result<(Vec<String>, Vec<String>), SimError> {
        let g = self.lock()?;
        let max = g.st.switches.hook_retries;
        let mut retryable = Vec::new();
        let mut stuck = Vec::new();
        for u in g.st.units.values() {
            if let Some(e) = &u.error {
                if e.failures <= max {
                    retryable.push(u.name.clone());
                } else {
                    stuck.push(format!(
                        "{}: hook failed: {:?} after {} attempts ({})",
                        u.name, e.hook.name, e.failures, e.reason
                    ));
                }
            }
        }
        Ok((retryable, stuck))
    }

    /// What a quiet tick must leave unchanged.
    fn tick_snapshot(&self) -> Result<TickSnapshot, SimError> {
        let g = self.lock()?;
        let units =
            g.st.units
                .values()
                .map(|u| {
                    (
                        u.name.clone(),
                        u.workload.status.clone(),
                        u.workload.message.clone(),
                    )
                })
                .collect();
        let apps =
            g.st.applications
                .values()
                .map(|a| {
                    (
                        a.name.clone(),
                        a.status.status.clone(),
                        a.status.message.clone(),
                    )
                })
                .collect();
        Ok(TickSnapshot {
            enqueued: g.st.enqueued,
            units,
            apps,
        })
    }

    fn all_active(&self) -> Result<bool, SimError> {
        Ok(self.status()?.iter().all(|u| u.workload == "active"))
    }
}

/// Counts one finished run in the report.
fn account(report: &mut SettleReport, rec: &HookRecord, phase: Phase, slow: Duration) {
    report.hooks += 1;
    if rec.attempt > 1 {
        report.retries += 1;
    }
    if !rec.succeeded() {
        report.failed.push(rec.to_string());
    }
    let took = Duration::from_millis(rec.duration_ms);
    report.longest = report.longest.max(took);
    if took >= slow {
        report.slow.push(rec.to_string());
    }
    if phase == Phase::Tick && rec.kind == "hook" && rec.hook != "update-status" {
        report.after_tick.push(rec.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_picks_two_to_four_units_at_once_and_every_one_of_them() {
        let ks: BTreeSet<usize> = (0..64).map(parallel_for_seed).collect();
        assert_eq!(ks, [2, 3, 4].into_iter().collect());
        assert_eq!(parallel_for_seed(7), parallel_for_seed(7));
    }

    #[test]
    fn a_healthy_report_has_no_problems_and_a_retry_or_a_tick_driven_hook_is_one() {
        let mut r = SettleReport::default();
        assert!(r.problems().is_empty());
        r.after_tick
            .push("zookeeper/1 config-changed: ok in 0.10s".into());
        r.retries = 1;
        assert_eq!(r.problems().len(), 2, "{:?}", r.problems());
    }
}
