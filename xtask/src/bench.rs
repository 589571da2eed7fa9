//! `cargo xtask bench`: what each hook and action of the release charm costs in a steady,
//! healthy model, and how fast a model converges, on the local model (`zk-sim`) with real
//! ZooKeeper servers.
//!
//! - Hook cost: a 3-unit and a 7-unit model are deployed and settled until every unit is
//!   active. Then every hook and read-only action runs N times on the Juju leader and on a
//!   non-leader, each run through the sim's measured runner (`Model::run_hook_measured`):
//!   wall time from spawn to exit, CPU time and peak RSS from `wait4(2)`, and the hook-tool
//!   calls by tool. Whatever a run queues (it should queue nothing in a steady state) is run
//!   before the next one, unmeasured, and counted as "follow-up hooks".
//! - Convergence: hooks and wall time from `deploy -n N` until every unit is active (N = 3, 5,
//!   7), and from `refresh` (after `pre-upgrade-check`) until the upgrade is done (N = 3, 5).
//! - `--write` runs both and writes `BENCHMARKS.md` with the machine and the date.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use testkit::model::{all_active, create_model, describe_units, drain, jvm_settle_limits};
use testkit::{live_server, require_zookeeper, workspace_root, ServerProcess};
use zk_sim::state::{HookKind, HookSpec};
use zk_sim::{Measured, Model, ModelOptions, SettleReport};

use crate::artifacts::{self, Artifacts};

pub const USAGE: &str = "\
  bench [--iterations N] [--units 3,7] [--convergence] [--write] [--seed S]
        Hook cost of the release charm on the local model with real ZooKeeper: every hook
        and read-only action N times (default 30) on the leader and a non-leader of a
        3- and a 7-unit model; median/p95 wall time, CPU, peak RSS, hook-tool calls by tool;
        the packed charm size. --convergence adds hooks and time from deploy to all active
        (3, 5, 7 units) and from refresh to upgrade done (3, 5 units). --write runs
        everything and writes BENCHMARKS.md.
";

/// What `cargo xtask bench` was asked for.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub iterations: usize,
    pub sizes: Vec<u32>,
    pub convergence: bool,
    pub write: bool,
    pub seed: u64,
}

/// `cargo xtask bench ...`.
pub fn main(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("usage: cargo xtask bench [options]\n\n{USAGE}");
        return Ok(());
    }
    bench(&parse(args)?)
}

pub fn parse(args: &[String]) -> Result<BenchOptions> {
    let mut o = BenchOptions {
        iterations: 30,
        sizes: vec![3, 7],
        convergence: false,
        write: false,
        seed: 1,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{a} needs a value\n\n{USAGE}"))
        };
        match a.as_str() {
            "--iterations" | "-n" => {
                let v = value()?;
                o.iterations = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .with_context(|| format!("--iterations: {v:?} is not a positive number"))?;
            }
            "--units" => {
                let v = value()?;
                o.sizes = v
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<u32>()
                            .ok()
                            .filter(|n| (2..=20).contains(n))
                    })
                    .collect::<Option<Vec<_>>>()
                    .with_context(|| format!("--units: {v:?} is not a list like 3,7 (2..20)"))?;
            }
            "--seed" => {
                let v = value()?;
                o.seed = v
                    .parse()
                    .with_context(|| format!("--seed: {v:?} is not a number"))?;
            }
            "--convergence" => o.convergence = true,
            "--write" => {
                o.write = true;
                o.convergence = true;
            }
            other => bail!("unknown option {other:?} for bench\n\n{USAGE}"),
        }
    }
    Ok(o)
}

/// A model of the charm under test in `dir`, with the release hook tools.
fn new_model(dir: &Path, art: &Artifacts, seed: u64) -> Result<Model> {
    let opts = ModelOptions {
        jujuc: Some(art.jujuc.clone()),
        ..ModelOptions::default()
    };
    create_model(dir, &art.rev1, seed, opts)
        .with_context(|| format!("creating a model in {}", dir.display()))
}

/// Settles with the limits for JVMs; a failure says what the units were doing.
fn settle(m: &mut Model, what: &str) -> Result<SettleReport> {
    let r = m.settle(jvm_settle_limits());
    r.with_context(|| format!("{what}: the units:\n{}", describe_units(m)))
}

// --- report facts ----------------------------------------------------------------------------

/// Machine facts for the report.
pub fn machine() -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let mhz = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("cpu MHz"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| format!(" at {:.0} MHz", v.trim().parse::<f64>().unwrap_or(0.0)))
        .unwrap_or_default();
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                let kib: u64 = l
                    .strip_prefix("MemTotal:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()?;
                Some(format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)))
            })
        })
        .unwrap_or_else(|| "?".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    let cmd_line = |prog: &str, args: &[&str]| {
        Command::new(prog)
            .args(args)
            .output()
            .ok()
            .map(|o| {
                let text = if o.stdout.is_empty() {
                    o.stderr
                } else {
                    o.stdout
                };
                String::from_utf8_lossy(&text)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .unwrap_or_else(|| "?".into())
    };
    vec![
        ("CPU".into(), format!("{cpu}{mhz}")),
        ("nproc".into(), nproc),
        ("Memory".into(), mem),
        ("Kernel".into(), kernel),
        ("Java".into(), cmd_line("java", &["-version"])),
        ("rustc".into(), cmd_line("rustc", &["--version"])),
        (
            "ZooKeeper".into(),
            "Debian's 3.8.0 jars (/usr/share/java/zookeeper.jar), the charm's local workload backend"
                .into(),
        ),
    ]
}

pub fn now_utc() -> String {
    format!("{} UTC", charm_files::UtcTime::now())
}

fn git_commit() -> String {
    Command::new("git")
        .current_dir(workspace_root())
        .args(["describe", "--always", "--dirty", "--abbrev=10"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

// --- hook cost -------------------------------------------------------------------------------

/// What one row measures.
#[derive(Debug, Clone, Copy)]
enum Target {
    Hook(HookKind, Option<&'static str>),
    Action(&'static str),
}

/// A hook or action and where it runs: on the leader, on a non-leader, or both.
#[derive(Clone, Copy)]
struct Case {
    target: Target,
    leader: bool,
    non_leader: bool,
    /// Runs once, without warm-up (it changes the model: see [`cases`]).
    once: bool,
}

impl Case {
    fn name(&self) -> String {
        match self.target {
            Target::Hook(kind, Some(ep)) => HookSpec::relation(kind, ep, 0, None).name,
            Target::Hook(kind, None) => HookSpec::plain(kind).name,
            Target::Action(a) => format!("action {a}"),
        }
    }
}

/// The hooks and read-only actions, in the order they run. `leader-settings-changed` only
/// runs on non-leaders and `leader-elected` only on the leader, as in Juju;
/// `pre-upgrade-check` leaves the units prepared for an upgrade (and refuses to run again
/// while they are), so it runs once, last, on the leader, and the model is destroyed
/// afterwards.
fn cases() -> Vec<Case> {
    let both = |target| Case {
        target,
        leader: true,
        non_leader: true,
        once: false,
    };
    vec![
        both(Target::Hook(HookKind::UpdateStatus, None)),
        both(Target::Hook(HookKind::ConfigChanged, None)),
        both(Target::Hook(HookKind::RelationChanged, Some("cluster"))),
        Case {
            target: Target::Hook(HookKind::LeaderSettingsChanged, None),
            leader: false,
            non_leader: true,
            once: false,
        },
        both(Target::Hook(HookKind::RelationChanged, Some("upgrade"))),
        both(Target::Hook(HookKind::RelationChanged, Some("restart"))),
        Case {
            target: Target::Hook(HookKind::LeaderElected, None),
            leader: true,
            non_leader: false,
            once: false,
        },
        both(Target::Hook(HookKind::Start, None)),
        both(Target::Action("get-super-password")),
        both(Target::Action("get-sync-password")),
        both(Target::Action("resume-upgrade")),
        Case {
            target: Target::Action("pre-upgrade-check"),
            leader: true,
            non_leader: false,
            once: true,
        },
    ]
}

/// The measurements of one hook on one unit.
#[derive(Debug, Clone)]
struct Row {
    units: u32,
    what: String,
    role: &'static str,
    walls: Vec<Duration>,
    /// Per run: the sum of the hook-tool processes' own wall times.
    tool_walls: Vec<Duration>,
    /// Per run: CPU time of the charm process alone (wait4's total minus the tools').
    charm_cpus: Vec<Duration>,
    /// Per run: the charm process's own peak RSS.
    charm_rss_kib: Vec<u64>,
    /// The largest peak RSS of any hook-tool process.
    tool_rss_kib: u64,
    calls: Vec<u32>,
    /// By tool, from the run with the median number of calls.
    by_tool: BTreeMap<String, u32>,
    follow_ups: usize,
    failures: Vec<String>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn median(v: &[Duration]) -> Duration {
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

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

impl Row {
    fn median_wall(&self) -> Duration {
        median(&self.walls)
    }
    fn p95_wall(&self) -> Duration {
        let mut s = self.walls.clone();
        s.sort();
        percentile(&s, 0.95)
    }
    fn peak_rss(&self) -> u64 {
        self.charm_rss_kib.iter().copied().max().unwrap_or(0)
    }
    /// Wall time outside the hook tools: the charm's own work, its ZooKeeper queries, and
    /// starting the tool processes.
    fn own_times(&self) -> Vec<Duration> {
        self.walls
            .iter()
            .zip(&self.tool_walls)
            .map(|(w, t)| w.saturating_sub(*t))
            .collect()
    }
    fn calls_text(&self) -> String {
        let lo = self.calls.iter().min().copied().unwrap_or(0);
        let hi = self.calls.iter().max().copied().unwrap_or(0);
        if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}-{hi}")
        }
    }
    fn max_calls(&self) -> u32 {
        self.calls.iter().max().copied().unwrap_or(0)
    }
    fn by_tool_text(&self) -> String {
        self.by_tool
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
    fn cells(&self) -> Vec<String> {
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
            notes.join("; "),
        ]
    }
}

const HEADERS: [&str; 13] = [
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
    "notes",
];

fn text_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(headers.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

fn md_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n", headers.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        headers.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | ").replace('\n', " "));
    }
    out
}

/// The unit names of a model, leader first, then the lowest-numbered other unit.
fn leader_and_other(m: &Model) -> Result<(String, String)> {
    let st = m.status()?;
    let leader = st
        .iter()
        .find(|u| u.leader)
        .map(|u| u.unit.clone())
        .context("no leader")?;
    let other = st
        .iter()
        .find(|u| !u.leader)
        .map(|u| u.unit.clone())
        .context("no non-leader unit")?;
    Ok((leader, other))
}

fn relation_id(m: &Model, endpoint: &str) -> Result<u32> {
    let st = m.state()?;
    st.relations
        .values()
        .find(|r| r.endpoint == endpoint)
        .map(|r| r.id)
        .with_context(|| format!("no {endpoint} relation"))
}

fn measure_once(m: &mut Model, target: Target, unit: &str, other: &str) -> Result<Measured> {
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

const WARM_UP: usize = 2;

/// Costs a hook's wall time is made of, measured apart on the same machine.
#[derive(Debug, Clone, Default)]
struct Baseline {
    /// Spawning a trivial program (`/bin/true`) and reaping it, median of 50: roughly what
    /// each hook-tool process costs before its `main`.
    spawn: Duration,
    /// By model size: one `mntr` round trip to a non-leader's ZooKeeper, median of 30.
    mntr: BTreeMap<u32, Duration>,
}

fn spawn_cost() -> Duration {
    let mut v = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let _ = Command::new("/bin/true").status();
        v.push(t.elapsed());
    }
    median(&v)
}

fn mntr_rtt(address: &str) -> Option<Duration> {
    let mut v = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        zookeeper_charm::zk::four::mntr_within(address, Duration::from_millis(1500)).ok()?;
        v.push(t.elapsed());
    }
    Some(median(&v))
}

/// Deploys `n` units, settles, and measures every case.
fn hook_costs(
    art: &Artifacts,
    n: u32,
    opts: &BenchOptions,
    tmp: &Path,
    baseline: &mut Baseline,
) -> Result<Vec<Row>> {
    require_zookeeper()?;
    let mut m = new_model(&tmp.join(format!("hooks-{n}")), art, opts.seed)?;
    eprintln!("xtask: bench: deploying {n} units");
    m.deploy(n)?;
    let report = settle(&mut m, &format!("deploy {n}"))?;
    if !all_active(&m)? {
        bail!(
            "deploy {n}: settled ({report}) but not all active:\n{}",
            describe_units(&m)
        );
    }
    eprintln!("xtask: bench: {n} units active ({report})");
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
        }
        let mut by_calls: Vec<&Measured> = runs.iter().collect();
        by_calls.sort_by_key(|r| r.total_tool_calls());
        if let Some(mid) = by_calls.get(by_calls.len() / 2) {
            row.by_tool = mid.tool_calls.clone();
        }
        eprintln!(
            "xtask: bench: {n} units: {} on {}: median {} p95 {}, {} tool calls{}",
            row.what,
            row.role,
            ms(row.median_wall()),
            ms(row.p95_wall()),
            row.calls_text(),
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

// --- convergence -----------------------------------------------------------------------------

/// From one operator command to the goal.
#[derive(Debug, Clone)]
struct Converged {
    what: String,
    units: u32,
    /// Hook runs until the goal held (update-status included) ...
    hooks: usize,
    /// ... of which update-status (each is a simulated 5-minute tick on one unit).
    update_status: usize,
    /// Update-status rounds (ticks) needed.
    ticks: usize,
    wall: Duration,
    /// Hooks and time until the model was quiet.
    settle_hooks: usize,
    settle_wall: Duration,
    retries: usize,
    note: String,
}

impl Converged {
    fn cells(&self) -> Vec<String> {
        vec![
            self.what.clone(),
            self.units.to_string(),
            (self.hooks - self.update_status).to_string(),
            self.update_status.to_string(),
            self.ticks.to_string(),
            format!("{:.1} s", self.wall.as_secs_f64()),
            self.settle_hooks.to_string(),
            format!("{:.1} s", self.settle_wall.as_secs_f64()),
            self.retries.to_string(),
            self.note.clone(),
        ]
    }
}

const CONVERGENCE_HEADERS: [&str; 10] = [
    "from -> to",
    "units",
    "hooks (excl. update-status)",
    "update-status runs",
    "ticks",
    "wall time",
    "hooks to quiet",
    "time to quiet",
    "retries",
    "notes",
];

/// Progress seen from the hook callback.
#[derive(Default)]
struct Progress {
    hooks: usize,
    update_status: usize,
    ticks: usize,
    reached: Option<(usize, usize, usize, Duration)>,
}

/// Settles `m`, recording when `goal` first holds (checked after every hook on a second
/// handle of the same model).
fn settle_until(
    m: &mut Model,
    tick_unit: &str,
    goal: impl Fn(&Model) -> bool + 'static,
) -> Result<(Progress, SettleReport)> {
    let observer = Model::open(m.dir())?;
    let progress = Rc::new(RefCell::new(Progress::default()));
    let p = progress.clone();
    let start = Instant::now();
    let tick_unit = tick_unit.to_string();
    m.on_hook(move |rec| {
        let mut p = p.borrow_mut();
        p.hooks += 1;
        if rec.hook == "update-status" {
            p.update_status += 1;
            if rec.unit == tick_unit {
                p.ticks += 1;
            }
        }
        if p.reached.is_none() && goal(&observer) {
            p.reached = Some((p.hooks, p.update_status, p.ticks, start.elapsed()));
        }
    });
    let report = settle(m, "settle");
    m.on_hook(|_| {});
    let report = report?;
    let progress = Rc::try_unwrap(progress)
        .map(RefCell::into_inner)
        .unwrap_or_default();
    Ok((progress, report))
}

fn converged(
    what: &str,
    n: u32,
    p: &Progress,
    r: &SettleReport,
    note: String,
) -> Result<Converged> {
    let Some((hooks, update_status, ticks, wall)) = p.reached else {
        bail!("{what} ({n} units): settled ({r}) but the goal was never reached");
    };
    Ok(Converged {
        what: what.to_string(),
        units: n,
        hooks,
        update_status,
        ticks,
        wall,
        settle_hooks: r.hooks,
        settle_wall: r.elapsed,
        retries: r.retries,
        note,
    })
}

/// The live ZooKeeper server of each unit.
fn zk_servers(m: &Model) -> BTreeMap<String, ServerProcess> {
    let mut out = BTreeMap::new();
    for u in m.status().unwrap_or_default() {
        if let Some(p) = m.workload_root(&u.unit).ok().and_then(|r| live_server(&r)) {
            out.insert(u.unit, p);
        }
    }
    out
}

fn upgrade_done(m: &Model) -> bool {
    let Ok(st) = m.status() else { return false };
    if !st
        .iter()
        .all(|u| u.workload == "active" && u.error.is_none())
    {
        return false;
    }
    let stack_empty = m.app_databag("upgrade").is_ok_and(|b| {
        b.get("upgrade-stack")
            .is_none_or(|s| s.trim().is_empty() || s.trim() == "[]")
    });
    let idle = m.unit_databags("upgrade").is_ok_and(|bags| {
        st.iter().all(|u| {
            bags.get(&u.unit)
                .and_then(|b| b.get("state"))
                .is_some_and(|s| s == "idle")
        })
    });
    let no_pending = st.iter().all(|u| {
        m.workload_root(&u.unit)
            .is_ok_and(|r| !r.join("upgrade-pending").exists())
    });
    stack_empty && idle && no_pending
}

fn deploy_convergence(art: &Artifacts, n: u32, seed: u64, tmp: &Path) -> Result<Converged> {
    let mut m = new_model(&tmp.join(format!("deploy-{n}")), art, seed)?;
    eprintln!("xtask: bench: deploy -n {n} until all active");
    m.deploy(n)?;
    let (p, r) = settle_until(&mut m, "zookeeper/0", |o| all_active(o).unwrap_or(false))?;
    let c = converged("deploy -> all active", n, &p, &r, String::new())?;
    m.destroy()?;
    Ok(c)
}

fn upgrade_convergence(art: &Artifacts, n: u32, seed: u64, tmp: &Path) -> Result<Converged> {
    let mut m = new_model(&tmp.join(format!("upgrade-{n}")), art, seed)?;
    eprintln!("xtask: bench: deploy -n {n}, pre-upgrade-check, refresh until the upgrade is done");
    m.deploy(n)?;
    settle(&mut m, &format!("deploy {n}"))?;
    let (leader, _) = leader_and_other(&m)?;
    let before = zk_servers(&m);
    let check = m.run_action(&leader, "pre-upgrade-check", &[])?;
    if !check.completed() {
        bail!("pre-upgrade-check failed: {}", check.message);
    }
    let (prepare_hooks, failed) = drain(&mut m)?;
    if !failed.is_empty() {
        bail!("after pre-upgrade-check: {}", failed.join("; "));
    }
    m.refresh(&art.rev2)?;
    let (p, r) = settle_until(&mut m, &leader, upgrade_done)?;
    let after = zk_servers(&m);
    let restarted = before
        .iter()
        .filter(|(u, pid)| after.get(*u).is_some_and(|a| a != *pid))
        .count();
    if restarted != before.len() {
        bail!(
            "upgrade of {n} units: only {restarted} ZooKeeper servers restarted ({before:?} -> {after:?})"
        );
    }
    let note = format!(
        "{prepare_hooks} hooks after pre-upgrade-check before refresh; {restarted} servers restarted"
    );
    let c = converged("refresh -> upgrade done", n, &p, &r, note)?;
    m.destroy()?;
    Ok(c)
}

// --- the task --------------------------------------------------------------------------------

pub fn bench(opts: &BenchOptions) -> Result<()> {
    require_zookeeper()?;
    let started = Instant::now();
    let art = artifacts::packed()?;
    let sizes: Vec<(String, u64)> = art
        .charms
        .iter()
        .map(|p| {
            let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, size)
        })
        .collect();
    let tmp = tempfile::Builder::new()
        .prefix("xtask-bench-")
        .tempdir()
        .context("creating a temp dir")?;

    let mut baseline = Baseline {
        spawn: spawn_cost(),
        ..Baseline::default()
    };
    let mut rows = Vec::new();
    for &n in &opts.sizes {
        rows.extend(hook_costs(&art, n, opts, tmp.path(), &mut baseline)?);
    }
    let mut conv = Vec::new();
    if opts.convergence {
        for n in [3, 5, 7] {
            conv.push(deploy_convergence(&art, n, opts.seed, tmp.path())?);
        }
        for n in [3, 5] {
            conv.push(upgrade_convergence(&art, n, opts.seed, tmp.path())?);
        }
    }
    let elapsed = started.elapsed();

    // Text output.
    println!();
    for &n in &opts.sizes {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .filter(|r| r.units == n)
            .map(Row::cells)
            .collect();
        println!(
            "hook cost, {n} units, {} runs each after {WARM_UP} warm-up runs:",
            opts.iterations
        );
        print!("{}", text_table(&HEADERS, &cells));
        println!();
    }
    for line in verdicts(&rows) {
        println!("{line}");
    }
    println!();
    for line in where_the_time_goes(&rows, &baseline) {
        println!("{line}");
    }
    println!();
    for (name, size) in &sizes {
        println!(
            "packed charm: {name} {size} bytes ({:.2} MB)",
            *size as f64 / 1e6
        );
    }
    if !conv.is_empty() {
        println!();
        println!(
            "convergence (update-status ticks every {} ms):",
            jvm_settle_limits().tick_interval.as_millis()
        );
        let cells: Vec<Vec<String>> = conv.iter().map(Converged::cells).collect();
        print!("{}", text_table(&CONVERGENCE_HEADERS, &cells));
        for line in growth(&conv) {
            println!("{line}");
        }
    }
    if opts.write {
        let path = workspace_root().join("BENCHMARKS.md");
        let text = report(opts, &rows, &baseline, &sizes, &conv, elapsed);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

/// The targets, checked against the rows.
fn verdicts(rows: &[Row]) -> Vec<String> {
    let ok = |b: bool| if b { "met" } else { "NOT met" };
    let over = |f: &dyn Fn(&Row) -> Duration| -> Vec<String> {
        rows.iter()
            .filter(|r| f(r) >= Duration::from_millis(10))
            .map(|r| format!("{} ({} units, {}) {}", r.what, r.units, r.role, ms(f(r))))
            .collect()
    };
    let slow = over(&|r: &Row| r.median_wall());
    let slow_outside = over(&|r: &Row| median(&r.own_times()));
    let slow_cpu = over(&|r: &Row| median(&r.charm_cpus));
    let fat: Vec<String> = rows
        .iter()
        .filter(|r| r.peak_rss() as f64 * 1024.0 >= 10e6)
        .map(|r| {
            format!(
                "{} ({} units, {}) {}",
                r.what,
                r.units,
                r.role,
                mb(r.peak_rss())
            )
        })
        .collect();
    let chatty: Vec<String> = rows
        .iter()
        .filter(|r| {
            (r.what == "update-status" || r.what == "cluster-relation-changed") && r.max_calls() > 8
        })
        .map(|r| {
            format!(
                "{} ({} units, {}) {}",
                r.what,
                r.units,
                r.role,
                r.calls_text()
            )
        })
        .collect();
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.failures.is_empty())
        .map(|r| {
            format!(
                "{} ({} units, {}): {}",
                r.what, r.units, r.role, r.failures[0]
            )
        })
        .collect();
    let unsteady: Vec<String> = rows
        .iter()
        .filter(|r| r.follow_ups > 0)
        .map(|r| {
            format!(
                "{} ({} units, {}): {} follow-up hooks",
                r.what, r.units, r.role, r.follow_ups
            )
        })
        .collect();
    let list = |v: &[String]| {
        if v.is_empty() {
            String::new()
        } else {
            format!(": {}", v.join("; "))
        }
    };
    let mut out = vec![
        format!(
            "target median < 10 ms per hook, whole wall time (ZooKeeper waits and hook tools included): {}{}",
            ok(slow.is_empty()),
            list(&slow)
        ),
        format!(
            "target median < 10 ms per hook, wall time outside the hook tools (ZooKeeper waits still included): {}{}",
            ok(slow_outside.is_empty()),
            list(&slow_outside)
        ),
        format!(
            "target median < 10 ms per hook, charm CPU time (a lower bound: no waiting at all): {}{}",
            ok(slow_cpu.is_empty()),
            list(&slow_cpu)
        ),
        format!(
            "target peak RSS < 10 MB per hook (the charm process's own): {}{}",
            ok(fat.is_empty()),
            list(&fat)
        ),
        format!(
            "target <= 8 hook-tool calls for update-status and cluster-relation-changed: {}{}",
            ok(chatty.is_empty()),
            list(&chatty)
        ),
    ];
    if !failed.is_empty() {
        out.push(format!("failed runs{}", list(&failed)));
    }
    if !unsteady.is_empty() {
        out.push(format!(
            "runs that queued more hooks (not a steady state){}",
            list(&unsteady)
        ));
    }
    out
}

/// How convergence grows with N, as ratios to the smallest N of each kind.
fn growth(conv: &[Converged]) -> Vec<String> {
    let mut out = Vec::new();
    let kinds: BTreeSet<&str> = conv.iter().map(|c| c.what.as_str()).collect();
    for kind in kinds {
        let of: Vec<&Converged> = conv.iter().filter(|c| c.what == kind).collect();
        let Some(base) = of.first() else { continue };
        let parts: Vec<String> = of
            .iter()
            .map(|c| {
                let hooks = c.hooks - c.update_status;
                format!(
                    "N={}: {} hooks ({:.1}/unit), {:.1} s ({:.1} s/unit)",
                    c.units,
                    hooks,
                    hooks as f64 / c.units as f64,
                    c.wall.as_secs_f64(),
                    c.wall.as_secs_f64() / c.units as f64
                )
            })
            .collect();
        let last = of.last().expect("not empty");
        out.push(format!(
            "{kind}: {}; from N={} to N={}: hooks x{:.2}, time x{:.2} (units x{:.2})",
            parts.join("; "),
            base.units,
            last.units,
            (last.hooks - last.update_status) as f64
                / (base.hooks - base.update_status).max(1) as f64,
            last.wall.as_secs_f64() / base.wall.as_secs_f64().max(1e-9),
            last.units as f64 / base.units as f64
        ));
    }
    out
}

/// The wall time of a steady non-leader's `update-status`, taken apart with the baselines.
fn where_the_time_goes(rows: &[Row], b: &Baseline) -> Vec<String> {
    let mut out = vec![format!(
        "On this machine, spawning and reaping a trivial program (`/bin/true`) takes {} \
         (median of 50): each hook-tool process pays about that before its `main`.",
        ms(b.spawn)
    )];
    for r in rows
        .iter()
        .filter(|r| r.what == "update-status" && r.role == "non-leader")
    {
        let Some(mntr) = b.mntr.get(&r.units) else {
            continue;
        };
        let wall = r.median_wall();
        let tools = median(&r.tool_walls);
        let calls = r.calls.iter().copied().max().unwrap_or(0);
        let spawns = b.spawn * calls;
        let cpu = median(&r.charm_cpus);
        let known = tools + spawns + *mntr + cpu;
        let rest = if wall >= known {
            ms(wall - known)
        } else {
            format!("-{}", ms(known - wall))
        };
        out.push(format!(
            "{} units, update-status on a non-leader: median {} = {} in its {calls} tools \
             + about {} starting them ({calls} x {}) + {} for its server's `mntr` (one round \
             trip, measured apart) + {} of the charm's own CPU + {rest} for the rest (the \
             charm's own exec and start-up, file reads, scheduling).",
            r.units,
            ms(wall),
            ms(tools),
            ms(spawns),
            ms(b.spawn),
            ms(*mntr),
            ms(cpu),
        ));
    }
    out
}

fn report(
    opts: &BenchOptions,
    rows: &[Row],
    baseline: &Baseline,
    sizes: &[(String, u64)],
    conv: &[Converged],
    elapsed: Duration,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Generated by `cargo xtask bench --write` on {} at commit `{}` (the run took {:.0} s). \
         Every number below comes from that run; rerun the command to refresh them.\n",
        now_utc(),
        git_commit(),
        elapsed.as_secs_f64()
    );
    let _ = writeln!(s, "## Machine\n");
    for (k, v) in machine() {
        let _ = writeln!(s, "- {k}: {v}");
    }
    let _ = writeln!(s, "\n## Hook cost\n");
    let _ = writeln!(
        s,
        "The release charm (`cargo xtask pack`) on the local model (`zk-sim`) with real ZooKeeper \
         servers, one per unit on loopback. Each model is deployed and settled until every unit is \
         active; then each hook and read-only action runs {} times (after {WARM_UP} warm-up runs) \
         on the Juju leader and on a non-leader, in rounds that run every case once (so that a \
         burst of noise on the machine spreads over all rows), through \
         `Model::run_hook_measured`: the same \
         environment, hook tools, commit and fan-out as any hook, timed from spawn to exit with a \
         blocking `wait4(2)`.\n",
        opts.iterations
    );
    let _ = writeln!(
        s,
        "- **median / p95**: wall time of the hook process from spawn to exit, including its \
         hook-tool calls and every ZooKeeper query it makes (4-letter words, client sessions).\n\
         - **in tools**: the summed wall time of its hook-tool processes, as each measured \
         itself (from `main`, so process start-up is not in it). The sim's tools \
         (`sim-jujuc`, release build) each lock and parse the model file; Juju's `jujuc` \
         makes an RPC to the unit agent instead.\n\
         - **outside tools**: median minus in tools: the charm's own work, starting the tool \
         processes, and waiting for ZooKeeper. The issue's target excludes ZooKeeper network \
         waits; they cannot be told apart from outside the process, so this column is an \
         upper bound of that figure and **charm CPU** a lower bound.\n\
         - **charm CPU**: CPU time of the charm process alone, without its tool processes: \
         its run time from `/proc/<pid>/schedstat`, read after it exited and before it was \
         reaped. It includes the charm's side of spawning each tool, not the tools' \
         start-up or work, nor the leader's health queries, which run on short-lived threads \
         (a 4-letter word's send, read and parse each).\n\
         - **charm peak RSS**: the charm process's own high-water mark (`VmHWM`, sampled every \
         millisecond while it runs). **tool peak RSS**: the largest `VmHWM` of its tool \
         processes. (`ru_maxrss` is not used: Linux counts in it the pages the spawning \
         process shared with the child before `exec`.)\n\
         - **tool calls**: hook-tool processes the hook ran (the charm caches reads within a \
         hook, so every one is a real invocation); `by tool` is the run with the median count.\n\
         - **follow-up hooks**: hooks the measured runs queued (run unmeasured before the next \
         run). In a steady state this is 0, except after `pre-upgrade-check`, which prepares an \
         upgrade (every unit marks itself ready); it refuses to run again while an upgrade is \
         prepared, so it runs once, last.\n\
         - `leader-settings-changed` runs only on non-leaders and `leader-elected` only on the \
         leader, as Juju runs them. Relation hooks name the other measured unit as the remote \
         unit.\n\
         - Not measured here: `install`, `stop`, `remove`, `-relation-joined`/`-departed`, \
         `upgrade-charm` and `set-password` change the model (they start, stop, add or remove \
         servers, or roll a restart through every unit); their cost is in the convergence \
         figures below. The `zookeeper` client relation has no data of its own yet.\n"
    );
    for &n in &opts.sizes {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .filter(|r| r.units == n)
            .map(Row::cells)
            .collect();
        let _ = writeln!(s, "### {n} units\n");
        s.push_str(&md_table(&HEADERS, &cells));
        s.push('\n');
    }
    let _ = writeln!(s, "### Against the targets\n");
    for line in verdicts(rows) {
        let _ = writeln!(s, "- {line}");
    }
    let _ = writeln!(
        s,
        "\nWhere the hook-tool calls go: every hook asks `is-leader` and `config-get`, and reads \
         its own bag and the app bag of each peer relation (`cluster`, `restart`, `upgrade`): \
         8 calls, which is all a steady non-leader does (it writes nothing, and `status-set` \
         runs only when the status changes). The leader also reads every other unit's `cluster` \
         and `restart` bags (one `relation-list` and one `relation-get` per unit each), so it \
         makes 2N + 10 calls with N units: it decides membership and the restart lock from a \
         current view of every unit, read in the hook, rather than from a cache kept across \
         hooks that Juju's relation-changed events would have to keep right. Other units' \
         `upgrade` bags are read only while an upgrade is prepared or running."
    );
    let _ = writeln!(s, "\n### Where the time goes\n");
    for line in where_the_time_goes(rows, baseline) {
        let _ = writeln!(s, "- {line}");
    }
    let _ = writeln!(
        s,
        "- The leader also asks every other unit's server for its health (`mntr`, all at \
         once, one thread each) and one server for the voting members (`conf`), and runs \
         2N + 10 tools instead of 8."
    );
    let _ = writeln!(s, "\n## Packed charm\n");
    for (name, size) in sizes {
        let _ = writeln!(s, "- `{name}`: {size} bytes ({:.2} MB)", *size as f64 / 1e6);
    }
    if !conv.is_empty() {
        let _ = writeln!(s, "\n## Convergence\n");
        let _ = writeln!(
            s,
            "Fresh models on the same sim and ZooKeeper. `deploy -> all active`: from `deploy -n N` \
             until every unit's status is active. `refresh -> upgrade done`: after \
             `pre-upgrade-check` on the leader and the hooks it queues, from `refresh` to a \
             revision-2 charm (`cargo xtask pack --revision 2`) until every unit is active, idle \
             in the upgrade relation, with no upgrade pending and every ZooKeeper server \
             restarted. The sim runs one hook at a time (the unit picked by a seeded PRNG, seed \
             {}); when nothing is queued it fires an update-status round on every unit (a \
             simulated 5-minute tick) after {} ms of real time, so that ZooKeeper can start and \
             elect between rounds. `ticks` counts those rounds: on Juju each one is 5 minutes, \
             so it is the figure to read for a real deployment's convergence time. `to quiet` \
             runs on until a whole round changes nothing.\n",
            opts.seed,
            jvm_settle_limits().tick_interval.as_millis()
        );
        let cells: Vec<Vec<String>> = conv.iter().map(Converged::cells).collect();
        s.push_str(&md_table(&CONVERGENCE_HEADERS, &cells));
        s.push('\n');
        let _ = writeln!(s, "How it grows with N:\n");
        for line in growth(conv) {
            let _ = writeln!(s, "- {line}");
        }
    }
    s
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

    #[test]
    fn options_parse_and_write_implies_convergence() {
        let o = parse(&["--write".into(), "--units".into(), "3,5".into()]).unwrap();
        assert!(o.write && o.convergence);
        assert_eq!(o.sizes, [3, 5]);
        assert!(parse(&["--units".into(), "1".into()]).is_err());
        assert!(parse(&["--iterations".into(), "0".into()]).is_err());
        assert!(parse(&["--bogus".into()]).is_err());
    }

    #[test]
    fn the_hook_tool_target_flags_only_update_status_and_relation_changed() {
        let row = |what: &str, calls: u32| Row {
            units: 3,
            what: what.into(),
            role: "leader",
            walls: vec![Duration::from_millis(1)],
            tool_walls: vec![Duration::ZERO],
            charm_cpus: vec![Duration::from_millis(1)],
            charm_rss_kib: vec![1000],
            tool_rss_kib: 1000,
            calls: vec![calls],
            by_tool: BTreeMap::new(),
            follow_ups: 0,
            failures: vec![],
        };
        let v = verdicts(&[row("config-changed", 20), row("update-status", 8)]);
        assert!(v[4].ends_with(": met"), "{v:?}");
        let v = verdicts(&[row("cluster-relation-changed", 9)]);
        assert!(v[4].contains("NOT met") && v[4].contains("9"), "{v:?}");
    }
}
