//! Measuring one case: runs through the sim's measured runner, the statistics of a row,
//! and the baselines a hook's wall time is taken apart with.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use testkit::model::{all_active, describe_units, drain};
use testkit::require_zookeeper;
use zk_sim::state::HookSpec;
use zk_sim::{Measured, Model};

use super::cases::{cases, Case, Target};
use super::{leader_and_other, new_model, settle, BenchOptions};
use crate::artifacts::Artifacts;

/// The measurements of one hook on one unit.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) units: u32,
    pub(super) what: String,
    pub(super) role: &'static str,
    pub(super) walls: Vec<Duration>,
    /// Per run: the sum of the hook-tool processes' own wall times.
    pub(super) tool_walls: Vec<Duration>,
    /// Per run: CPU time of the charm process alone (wait4's total minus the tools').
    pub(super) charm_cpus: Vec<Duration>,
    /// Per run: the charm process's own peak RSS.
    pub(super) charm_rss_kib: Vec<u64>,
    /// The largest peak RSS of any hook-tool process.
    pub(super) tool_rss_kib: u64,
    pub(super) calls: Vec<u32>,
    /// Per run: the workload subprocesses it started (`snap` commands).
    pub(super) workload_calls: Vec<u32>,
    /// By tool, from the run with the median number of calls.
    pub(super) by_tool: BTreeMap<String, u32>,
    pub(super) follow_ups: usize,
    pub(super) failures: Vec<String>,
}

pub(super) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub(super) fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    if s.is_empty() {
        return Duration::ZERO;
    }
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2
    }
}

pub(super) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub(super) fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

impl Row {
    pub(super) fn median_wall(&self) -> Duration {
        median(&self.walls)
    }
    pub(super) fn p95_wall(&self) -> Duration {
        let mut s = self.walls.clone();
        s.sort();
        percentile(&s, 0.95)
    }
    pub(super) fn peak_rss(&self) -> u64 {
        self.charm_rss_kib.iter().copied().max().unwrap_or(0)
    }
    /// Wall time outside the hook tools: the charm's own work, its ZooKeeper queries, and
    /// starting the tool processes.
    pub(super) fn own_times(&self) -> Vec<Duration> {
        self.walls
            .iter()
            .zip(&self.tool_walls)
            .map(|(w, t)| w.saturating_sub(*t))
            .collect()
    }
    pub(super) fn calls_text(&self) -> String {
        let lo = self.calls.iter().min().copied().unwrap_or(0);
        let hi = self.calls.iter().max().copied().unwrap_or(0);
        if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}-{hi}")
        }
    }
    pub(super) fn max_calls(&self) -> u32 {
        self.calls.iter().max().copied().unwrap_or(0)
    }
    pub(super) fn max_workload_calls(&self) -> u32 {
        self.workload_calls.iter().max().copied().unwrap_or(0)
    }
    pub(super) fn workload_calls_text(&self) -> String {
        let lo = self.workload_calls.iter().min().copied().unwrap_or(0);
        let hi = self.max_workload_calls();
        if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}-{hi}")
        }
    }
    pub(super) fn by_tool_text(&self) -> String {
        self.by_tool
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
    /// The table rows of the model with `units` units.
    pub(super) fn table(rows: &[Row], units: u32) -> Vec<Vec<String>> {
        rows.iter()
            .filter(|r| r.units == units)
            .map(Row::cells)
            .collect()
    }

    pub(super) fn cells(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.follow_ups > 0 {
            notes.push(format!("{} follow-up hooks", self.follow_ups));
        }
        if !self.failures.is_empty() {
            notes.push(format!(
                "{} FAILED: {}",
                self.failures.len(),
                self.failures[0]
            ));
        }
        vec![
            self.what.clone(),
            self.role.to_string(),
            self.walls.len().to_string(),
            ms(self.median_wall()),
            ms(self.p95_wall()),
            ms(median(&self.tool_walls)),
            ms(median(&self.own_times())),
            ms(median(&self.charm_cpus)),
            mb(self.peak_rss()),
            mb(self.tool_rss_kib),
            self.calls_text(),
            self.by_tool_text(),
            self.workload_calls_text(),
            notes.join("; "),
        ]
    }
}

pub(super) const HEADERS: [&str; 14] = [
    "hook / action",
    "unit",
    "runs",
    "median",
    "p95",
    "in tools",
    "outside tools",
    "charm CPU",
    "charm peak RSS",
    "tool peak RSS",
    "tool calls",
    "by tool",
    "workload subprocesses",
    "notes",
];

pub(super) fn relation_id(m: &Model, endpoint: &str) -> Result<u32> {
    let app = m.app_name()?;
    m.relation_id(&app, endpoint)
        .with_context(|| format!("no {endpoint} relation"))
}

pub(super) fn measure_once(
    m: &mut Model,
    target: Target,
    unit: &str,
    other: &str,
) -> Result<Measured> {
    let r = match target {
        Target::Hook(kind, None) => m.run_hook_measured(unit, HookSpec::plain(kind)),
        Target::Hook(kind, Some(ep)) => {
            let id = relation_id(m, ep)?;
            m.run_hook_measured(unit, HookSpec::relation(kind, ep, id, Some(other)))
        }
        Target::Action(a) => {
            let (result, measured) = m.run_action_measured(unit, a, serde_json::Map::new())?;
            if !result.completed() {
                bail!("action {a} failed: {}", result.message);
            }
            return Ok(measured);
        }
    };
    let r = r?;
    if !r.record.succeeded() {
        bail!("{}", r.record);
    }
    if r.usage.is_none() {
        bail!("{}: no process ran", r.record);
    }
    Ok(r)
}

pub(super) const WARM_UP: usize = 2;

/// Costs a hook's wall time is made of, measured apart on the same machine.
#[derive(Debug, Clone, Default)]
pub(super) struct Baseline {
    /// Spawning a trivial program (`/bin/true`) and reaping it, median of 50: roughly what
    /// each hook-tool process costs before its `main`.
    pub(super) spawn: Duration,
    /// By model size: one `mntr` round trip to a non-leader's ZooKeeper, median of 30.
    pub(super) mntr: BTreeMap<u32, Duration>,
}

pub(super) fn spawn_cost() -> Duration {
    let mut v = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let _ = Command::new("/bin/true").status();
        v.push(t.elapsed());
    }
    median(&v)
}

pub(super) fn mntr_rtt(address: &str) -> Option<Duration> {
    let mut v = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        zookeeper_charm::zk::four::mntr_within(address, Duration::from_millis(1500)).ok()?;
        v.push(t.elapsed());
    }
    Some(median(&v))
}

/// Deploys `n` units, settles, and measures every case.
pub(super) fn hook_costs(
    art: &Artifacts,
    n: u32,
    opts: &BenchOptions,
    tmp: &Path,
    baseline: &mut Baseline,
) -> Result<Vec<Row>> {
    require_zookeeper()?;
    let mut m = new_model(&tmp.join(format!("hooks-{n}")), art, opts.seed)?;
    log::info!("deploying {n} units");
    m.deploy(n)?;
    let report = settle(&mut m, &format!("deploy {n}"))?;
    if !all_active(&m)? {
        bail!(
            "deploy {n}: settled ({report}) but not all active:\n{}",
            describe_units(&m)
        );
    }
    log::info!("{n} units active ({report})");
    let (leader, other) = leader_and_other(&m)?;
    let address = m
        .status()?
        .into_iter()
        .find(|u| u.unit == other)
        .map(|u| u.address)
        .unwrap_or_default();
    if let Some(rtt) = mntr_rtt(&address) {
        baseline.mntr.insert(n, rtt);
    }
    // Every (case, unit) pair, with its row and its measured runs.
    let mut targets: Vec<(Case, String, String, Row, Vec<Measured>)> = Vec::new();
    for case in cases() {
        let mut on = Vec::new();
        if case.leader {
            on.push(("leader", leader.clone(), other.clone()));
        }
        if case.non_leader {
            on.push(("non-leader", other.clone(), leader.clone()));
        }
        for (role, unit, remote) in on {
            let row = Row {
                units: n,
                what: case.name(),
                role,
                walls: Vec::new(),
                tool_walls: Vec::new(),
                charm_cpus: Vec::new(),
                charm_rss_kib: Vec::new(),
                tool_rss_kib: 0,
                calls: Vec::new(),
                workload_calls: Vec::new(),
                by_tool: BTreeMap::new(),
                follow_ups: 0,
                failures: Vec::new(),
            };
            targets.push((case, unit, remote, row, Vec::new()));
        }
    }
    // Round-robin: each round runs every repeated case once, so that a burst of noise on
    // the machine (another tenant, a JVM's GC) spreads over all rows instead of spoiling
    // one. The cases that change the model run once, after every round.
    let one = |m: &mut Model,
               (case, unit, remote, row, runs): &mut (Case, String, String, Row, Vec<Measured>),
               keep: bool|
     -> Result<()> {
        match measure_once(m, case.target, unit, remote) {
            Ok(r) if keep => runs.push(r),
            Ok(_) => {}
            Err(e) => row.failures.push(format!("{e:#}")),
        }
        let (ran, failed) = drain(m)?;
        row.follow_ups += ran;
        row.failures.extend(failed);
        Ok(())
    };
    for i in 0..WARM_UP + opts.iterations {
        for t in targets.iter_mut().filter(|t| !t.0.once) {
            one(&mut m, t, i >= WARM_UP)?;
        }
    }
    for t in targets.iter_mut().filter(|t| t.0.once) {
        one(&mut m, t, true)?;
    }
    let mut rows = Vec::new();
    for (_, _, _, mut row, runs) in targets {
        for r in &runs {
            let u = r.usage.expect("checked in measure_once");
            let tools_cpu: Duration = r.tool_runs.iter().map(|t| t.cpu).sum();
            row.walls.push(u.wall);
            row.tool_walls
                .push(r.tool_runs.iter().map(|t| t.wall).sum());
            // The charm's own run time where the kernel reports it; otherwise wait4's
            // total minus what the tools reported (which leaves their exec in it).
            row.charm_cpus.push(
                u.own_cpu
                    .unwrap_or_else(|| (u.user + u.system).saturating_sub(tools_cpu)),
            );
            row.charm_rss_kib.push(u.own_peak_rss_kib);
            row.tool_rss_kib = row.tool_rss_kib.max(
                r.tool_runs
                    .iter()
                    .map(|t| t.peak_rss_kib)
                    .max()
                    .unwrap_or(0),
            );
            row.calls.push(r.total_tool_calls());
            row.workload_calls.push(r.workload_calls());
        }
        let mut by_calls: Vec<&Measured> = runs.iter().collect();
        by_calls.sort_by_key(|r| r.total_tool_calls());
        if let Some(mid) = by_calls.get(by_calls.len() / 2) {
            row.by_tool = mid
                .tool_calls
                .iter()
                .filter(|(t, _)| !zk_sim::model::WORKLOAD_COMMANDS.contains(&t.as_str()))
                .map(|(t, n)| (t.clone(), *n))
                .collect();
        }
        log::info!(
            "{n} units: {} on {}: median {} p95 {}, {} tool calls, {} workload subprocesses{}",
            row.what,
            row.role,
            ms(row.median_wall()),
            ms(row.p95_wall()),
            row.calls_text(),
            row.workload_calls_text(),
            if row.failures.is_empty() {
                String::new()
            } else {
                format!(", {} failures", row.failures.len())
            }
        );
        rows.push(row);
    }
    m.destroy()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_rank_p95_of_twenty_values_is_the_nineteenth() {
        let v: Vec<Duration> = (1..=20).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.95), Duration::from_millis(19));
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(10));
        assert_eq!(median(&v), Duration::from_micros(10_500));
        assert_eq!(
            median(&[Duration::from_millis(3)]),
            Duration::from_millis(3)
        );
    }
}
