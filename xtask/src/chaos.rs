//! `cargo xtask chaos`: seeded random scenarios over the local model (`zk-sim`) with real
//! ZooKeeper servers, checking the charm's safety invariants after every hook and after
//! every step.
//!
//! A scenario is a deployment size and a list of events: add or remove a unit (keeping 1..5),
//! move Juju leadership, SIGKILL a unit's ZooKeeper, make a hook tool fail, change a config
//! option that restarts every unit, and an upgrade (`pre-upgrade-check`, then `refresh` to
//! the other packed revision, possibly interrupted by another event a few hooks in). The
//! seed also seeds the sim's scheduler, so the hook interleaving is random too.
//!
//! Checked after every hook (sampling each unit's ZooKeeper process and `srvr`):
//! - at most one unit is out of service because the charm stopped or restarted it;
//! - the voting members never lose their majority through a charm action (quorum loss while
//!   the scenario killed a server or removed a unit is excused).
//!
//! Checked once each step has settled: every unit is active; every unit's ZooKeeper serves;
//! the voting members are exactly the units; no upgrade is left half done; a client write
//! succeeds; every write acknowledged so far (also those made mid-step) reads back.
//!
//! A failing seed prints its event list, then the runner shrinks it (re-running with events
//! removed, within `--shrink-secs`) and prints the shortest list that still fails the same
//! way, as a `--replay` command.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use testkit::invariants::ServingInvariants;
use testkit::model::{create_model, describe_units, drain, jvm_settle_limits, super_password};
use testkit::server::signal_server;
use testkit::watch::{sample, serving};
use testkit::writes::{read_children, write_once};
use testkit::{live_server, require_zookeeper};
use zk_sim::rng::SplitMix64;
use zk_sim::tools::ToolName;
use zk_sim::{Model, ModelOptions, Switches};
use zookeeper_charm::zk::four;

use crate::artifacts::{self, Artifacts};

pub const USAGE: &str = "\
  chaos --seeds N [--start S] [--seed-list A,B,..] [--steps K] [--shrink-secs T]
        [--debug] [--replay \"EVENTS\"]
        Random scenarios on the local model with real ZooKeeper: seeds S..S+N (default
        S = 1) or the seeds listed, K events each (default 8). After every hook: at most
        one unit restarting, no quorum lost through a charm action. After every step: all active and serving,
        voters = units, no acknowledged write lost. A failure prints the seed and the
        shortest event list that reproduces it (shrinking for at most T s, default 600).
        --debug runs debug builds of the charm (quicker to build; overflow checks on)
        instead of the packed release charm. --replay runs one given list with seed S, e.g.
        --replay \"deploy 3; kill 1; upgrade 2 [leader 0]\".
";

/// The tools the charm calls in most hooks: the ones a failure is injected into.
const TOOLS: [ToolName; 7] = [
    ToolName::RelationGet,
    ToolName::RelationSet,
    ToolName::RelationList,
    ToolName::StatusSet,
    ToolName::ConfigGet,
    ToolName::IsLeader,
    ToolName::NetworkGet,
];

/// Options that restart every unit when changed, and values to pick from.
const CONFIG: [(&str, [u32; 3]); 3] = [
    ("tick-time", [2000, 2500, 3000]),
    ("init-limit", [5, 7, 10]),
    ("sync-limit", [2, 3, 5]),
];

const MAX_UNITS: usize = 5;

/// One event of a scenario. Units are named by position among the live units (by unit
/// number, modulo their count), so that a scenario stays meaningful when shrinking removes
/// events before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    AddUnit,
    RemoveUnit(u32),
    Leader(u32),
    Kill(u32),
    FailTool {
        unit: u32,
        tool: ToolName,
        times: u32,
    },
    Config {
        key: String,
        value: u32,
    },
    /// `pre-upgrade-check` on the leader, `refresh` to the other revision, `after` hooks,
    /// then the interrupting event if any.
    Upgrade {
        after: u32,
        interrupt: Option<Box<Event>>,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::AddUnit => write!(f, "add-unit"),
            Event::RemoveUnit(k) => write!(f, "remove-unit {k}"),
            Event::Leader(k) => write!(f, "leader {k}"),
            Event::Kill(k) => write!(f, "kill {k}"),
            Event::FailTool { unit, tool, times } => write!(f, "fail-tool {unit} {tool} {times}"),
            Event::Config { key, value } => write!(f, "config {key} {value}"),
            Event::Upgrade { after, interrupt } => {
                write!(f, "upgrade {after}")?;
                if let Some(e) = interrupt {
                    write!(f, " [{e}]")?;
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for Event {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Event> {
        let text = text.trim();
        let (head, bracket) = match text.split_once('[') {
            Some((h, rest)) => (
                h.trim(),
                Some(
                    rest.strip_suffix(']')
                        .with_context(|| format!("{text:?}: missing ]"))?,
                ),
            ),
            None => (text, None),
        };
        let words: Vec<&str> = head.split_whitespace().collect();
        let num = |i: usize| -> Result<u32> {
            words
                .get(i)
                .with_context(|| format!("{text:?}: missing argument {i}"))?
                .parse()
                .with_context(|| format!("{text:?}: argument {i} is not a number"))
        };
        let arity = |n: usize| -> Result<()> {
            if words.len() != n {
                bail!("{text:?}: expected {} arguments", n - 1);
            }
            Ok(())
        };
        let ev = match words.first().copied() {
            Some("add-unit") => {
                arity(1)?;
                Event::AddUnit
            }
            Some("remove-unit") => {
                arity(2)?;
                Event::RemoveUnit(num(1)?)
            }
            Some("leader") => {
                arity(2)?;
                Event::Leader(num(1)?)
            }
            Some("kill") => {
                arity(2)?;
                Event::Kill(num(1)?)
            }
            Some("fail-tool") => {
                arity(4)?;
                let tool = ToolName::from_name(words[2])
                    .with_context(|| format!("{text:?}: unknown hook tool {:?}", words[2]))?;
                Event::FailTool {
                    unit: num(1)?,
                    tool,
                    times: num(3)?,
                }
            }
            Some("config") => {
                arity(3)?;
                let key = words[1].to_string();
                if !CONFIG.iter().any(|(k, _)| *k == key) {
                    bail!("{text:?}: config key must be one of tick-time, init-limit, sync-limit");
                }
                Event::Config {
                    key,
                    value: num(2)?,
                }
            }
            Some("upgrade") => {
                arity(2)?;
                let interrupt = match bracket {
                    Some(inner) => {
                        let e: Event = inner.parse()?;
                        if matches!(e, Event::Upgrade { .. }) {
                            bail!("{text:?}: an upgrade cannot interrupt an upgrade");
                        }
                        Some(Box::new(e))
                    }
                    None => None,
                };
                Event::Upgrade {
                    after: num(1)?,
                    interrupt,
                }
            }
            _ => bail!("unknown event {text:?}"),
        };
        if bracket.is_some() && !matches!(ev, Event::Upgrade { .. }) {
            bail!("{text:?}: only an upgrade takes an interrupting event");
        }
        Ok(ev)
    }
}

/// A deployment size and the events that follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub units: u32,
    pub events: Vec<Event>,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "deploy {}", self.units)?;
        for e in &self.events {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Scenario {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Scenario> {
        let mut parts = text.split(';').map(str::trim).filter(|p| !p.is_empty());
        let first = parts.next().context("an empty scenario")?;
        let units = first
            .strip_prefix("deploy ")
            .and_then(|n| n.trim().parse::<u32>().ok())
            .filter(|n| (1..=MAX_UNITS as u32).contains(n))
            .with_context(|| format!("a scenario starts with `deploy N` (1..5), not {first:?}"))?;
        let events = parts.map(str::parse).collect::<Result<Vec<Event>>>()?;
        Ok(Scenario { units, events })
    }
}

fn random_event(rng: &mut SplitMix64, allow_upgrade: bool) -> Event {
    let pick = |rng: &mut SplitMix64, n: u32| rng.below(n as usize) as u32;
    loop {
        let e = match rng.below(100) {
            0..=14 => Event::AddUnit,
            15..=29 => Event::RemoveUnit(pick(rng, 5)),
            30..=44 => Event::Leader(pick(rng, 5)),
            45..=59 => Event::Kill(pick(rng, 5)),
            60..=72 => Event::FailTool {
                unit: pick(rng, 5),
                tool: TOOLS[rng.below(TOOLS.len())],
                times: 1 + pick(rng, 3),
            },
            73..=84 => {
                let (key, values) = CONFIG[rng.below(CONFIG.len())];
                Event::Config {
                    key: key.to_string(),
                    value: values[rng.below(values.len())],
                }
            }
            _ if allow_upgrade => {
                let interrupt = if rng.below(2) == 0 {
                    Some(Box::new(random_event(rng, false)))
                } else {
                    None
                };
                Event::Upgrade {
                    after: pick(rng, 12),
                    interrupt,
                }
            }
            _ => continue,
        };
        return e;
    }
}

/// The scenario of a seed: 1 to 3 units (3 half of the time), then `steps` events.
pub fn generate(seed: u64, steps: usize) -> Scenario {
    let mut rng = SplitMix64::new(zk_sim::rng::mix(seed ^ 0xC4A0_5EED));
    let units = match rng.below(6) {
        0 => 1,
        1 | 2 => 2,
        _ => 3,
    };
    let events = (0..steps).map(|_| random_event(&mut rng, true)).collect();
    Scenario { units, events }
}

// --- options ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct ChaosOptions {
    pub seeds: u64,
    pub start: u64,
    pub steps: usize,
    pub shrink_secs: u64,
    pub replay: Option<Scenario>,
    /// `--seed-list`: these seeds instead of `start..start + seeds`.
    pub list: Option<Vec<u64>>,
    /// `--debug`: debug builds of the charm instead of the packed release charm.
    pub debug: bool,
}

pub fn parse(args: &[String]) -> Result<ChaosOptions> {
    let mut o = ChaosOptions {
        seeds: 1,
        start: 1,
        steps: 8,
        shrink_secs: 600,
        replay: None,
        list: None,
        debug: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{a} needs a value\n\n{USAGE}"))
        };
        let mut number = |what: &str| -> Result<u64> {
            let v = value()?;
            v.parse()
                .with_context(|| format!("{what}: {v:?} is not a number"))
        };
        match a.as_str() {
            "--seeds" => o.seeds = number("--seeds")?.max(1),
            "--start" => o.start = number("--start")?,
            "--steps" => o.steps = number("--steps")? as usize,
            "--shrink-secs" => o.shrink_secs = number("--shrink-secs")?,
            "--replay" => o.replay = Some(value()?.parse()?),
            "--debug" => o.debug = true,
            "--seed-list" => {
                let v = value()?;
                o.list = Some(
                    v.split(',')
                        .map(|s| s.trim().parse::<u64>())
                        .collect::<Result<Vec<_>, _>>()
                        .ok()
                        .filter(|l| !l.is_empty())
                        .with_context(|| {
                            format!("--seed-list: {v:?} is not a list of seeds like 4,5,8")
                        })?,
                );
            }
            other => bail!("unknown option {other:?} for chaos\n\n{USAGE}"),
        }
    }
    Ok(o)
}

/// `cargo xtask chaos ...`.
pub fn main(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("usage: cargo xtask chaos [options]\n\n{USAGE}");
        return Ok(());
    }
    chaos(&parse(args)?)
}

// --- watching ZooKeeper between hooks --------------------------------------------------------

/// Samples every unit's server after each hook (through a second handle on the model).
struct Tracker {
    model: Model,
    invariants: ServingInvariants,
    hooks: usize,
}

impl Tracker {
    fn new(model: Model) -> Tracker {
        Tracker {
            model,
            invariants: ServingInvariants::default(),
            hooks: 0,
        }
    }

    fn sample(&mut self) {
        let (samples, voters) = sample(&self.model);
        self.invariants.update(&samples, voters);
    }
}

// --- running one scenario ------------------------------------------------------------------

/// Why a scenario failed, and at which step (0 = the deployment).
#[derive(Debug, Clone)]
pub struct Failure {
    pub step: usize,
    pub kind: &'static str,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: [{}] {}", self.step, self.kind, self.message)
    }
}

/// What a passing run did.
#[derive(Debug, Clone, Default)]
pub struct Ran {
    pub hooks: usize,
    pub writes: usize,
}

struct Run<'a> {
    art: &'a Artifacts,
    seed: u64,
    m: Model,
    tracker: Rc<RefCell<Tracker>>,
    step: usize,
    /// The charm the next upgrade refreshes to (alternates between the revisions).
    next_rev2: bool,
    acked: BTreeSet<String>,
    writes: usize,
    log: bool,
    _dir: tempfile::TempDir,
}

fn fail(step: usize, kind: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        step,
        kind,
        message: message.into(),
    }
}

impl Run<'_> {
    fn err(&self, kind: &'static str, message: impl Into<String>) -> Failure {
        let mut message = message.into();
        message.push('\n');
        message.push_str(&describe_units(&self.m));
        fail(self.step, kind, message)
    }

    fn sim<T>(&self, what: &str, r: Result<T, zk_sim::SimError>) -> Result<T, Failure> {
        r.map_err(|e| self.err("sim", format!("{what}: {e}")))
    }

    fn alive(&self) -> Vec<String> {
        self.m
            .status()
            .unwrap_or_default()
            .into_iter()
            .filter(|u| u.life == "alive")
            .map(|u| u.unit)
            .collect()
    }

    fn pick(&self, k: u32) -> Option<String> {
        let alive = self.alive();
        if alive.is_empty() {
            return None;
        }
        Some(alive[k as usize % alive.len()].clone())
    }

    fn checkpoint(&self) -> Result<(), Failure> {
        match self.tracker.borrow().invariants.violation() {
            Some(v) => Err(self.err(v.kind.as_str(), v.message.clone())),
            None => Ok(()),
        }
    }

    fn note(&self, text: String) {
        if self.log {
            eprintln!("chaos:   {text}");
        }
    }

    fn apply(&mut self, ev: &Event) -> Result<(), Failure> {
        match ev {
            Event::AddUnit => {
                if self.alive().len() >= MAX_UNITS {
                    self.note("add-unit skipped: 5 units already".into());
                } else {
                    let r = self.m.add_unit();
                    let u = self.sim("add-unit", r)?;
                    self.note(format!("added {u}"));
                }
            }
            Event::RemoveUnit(k) => {
                if self.alive().len() <= 1 {
                    self.note("remove-unit skipped: one unit left".into());
                } else if let Some(u) = self.pick(*k) {
                    let r = self.m.remove_unit(&u);
                    self.sim("remove-unit", r)?;
                    self.note(format!("removing {u}"));
                }
            }
            Event::Leader(k) => {
                if let Some(u) = self.pick(*k) {
                    let r = self.m.set_leader(&u);
                    self.sim("leader", r)?;
                    self.note(format!("leader -> {u}"));
                }
            }
            Event::Kill(k) => {
                if let Some(u) = self.pick(*k) {
                    let root = self.sim("workload root", self.m.workload_root(&u))?;
                    if live_server(&root).is_some() {
                        self.tracker.borrow_mut().invariants.mark_killed(&u);
                    }
                    match signal_server(&root, libc::SIGKILL, Duration::from_secs(10)) {
                        Some(p) => self.note(format!("killed {u}'s ZooKeeper (pid {})", p.pid)),
                        None => self.note(format!("kill skipped: {u} has no live ZooKeeper")),
                    }
                }
            }
            Event::FailTool { unit, tool, times } => {
                if let Some(u) = self.pick(*unit) {
                    let r = self.m.inject_tool_failures(&u, tool.as_str(), *times);
                    self.sim("inject-failure", r)?;
                    self.note(format!("{tool} fails {times}x on {u}"));
                }
            }
            Event::Config { key, value } => {
                let v = value.to_string();
                let r = self.m.set_config(&[(key.as_str(), v.as_str())]);
                let changed = self.sim("config", r)?;
                self.note(format!(
                    "config {key}={value}{}",
                    if changed { "" } else { " (unchanged)" }
                ));
            }
            Event::Upgrade { after, interrupt } => {
                let Some(leader) = self.sim("leader", self.m.leader())? else {
                    self.note("upgrade skipped: no leader".into());
                    return Ok(());
                };
                let r = self.m.run_action(&leader, "pre-upgrade-check", &[]);
                let r = self.sim("pre-upgrade-check", r)?;
                if !r.completed() {
                    self.note(format!(
                        "pre-upgrade-check on {leader} refused, no refresh: {}",
                        r.message
                    ));
                    return Ok(());
                }
                let r = drain(&mut self.m);
                self.sim("drain", r)?;
                let charm = if self.next_rev2 {
                    self.art.rev2.clone()
                } else {
                    self.art.rev1.clone()
                };
                self.next_rev2 = !self.next_rev2;
                let r = self.m.refresh(&charm);
                let rev = self.sim("refresh", r)?;
                self.note(format!(
                    "pre-upgrade-check, refresh to {} (sim revision {rev})",
                    charm.display()
                ));
                for _ in 0..*after {
                    let r = self.m.step();
                    if self.sim("step", r)?.is_none() {
                        break;
                    }
                }
                if let Some(e) = interrupt {
                    self.note(format!("interrupted after {after} hooks by: {e}"));
                    self.apply(e)?;
                }
            }
        }
        Ok(())
    }

    fn hosts(&self) -> Vec<String> {
        self.m
            .status()
            .unwrap_or_default()
            .into_iter()
            .filter(|u| u.life == "alive")
            .map(|u| u.address)
            .collect()
    }

    /// Tries to write one znode; Ok means acknowledged.
    fn write(&mut self, name: &str, timeout: Duration) -> Result<(), String> {
        let pw = super_password(&self.m).ok_or("no super password yet")?;
        let parent = format!("/chaos-{}", self.seed);
        write_once(&self.hosts(), &pw, &parent, name, timeout)?;
        self.acked.insert(name.to_string());
        self.writes += 1;
        Ok(())
    }

    fn read_back(&self) -> Result<BTreeSet<String>, String> {
        let pw = super_password(&self.m).ok_or("no super password")?;
        let parent = format!("/chaos-{}", self.seed);
        read_children(&self.hosts(), &pw, &parent, Duration::from_secs(10))
    }

    fn settle(&mut self) -> Result<(), Failure> {
        // Shorter than the benchmark's bound: a healthy step settles in well under a
        // minute, and a failing seed is re-run while shrinking.
        let limits = zk_sim::SettleLimits {
            timeout: Duration::from_secs(150),
            ..jvm_settle_limits()
        };
        let r = self.m.settle(limits);
        self.checkpoint()?;
        match r {
            Ok(_) => Ok(()),
            Err(e) => Err(self.err("settle", format!("did not settle: {e}"))),
        }
    }

    /// Polls `f` for up to `secs` seconds; the last error if it never passes.
    fn eventually(secs: u64, mut f: impl FnMut() -> Result<(), String>) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            match f() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }

    /// The invariants of a settled model.
    fn check_settled(&mut self) -> Result<(), Failure> {
        let status = self.sim("status", self.m.status())?;
        let not_active: Vec<String> = status
            .iter()
            .filter(|u| u.workload != "active" || u.error.is_some())
            .map(|u| format!("{} {} {:?}", u.unit, u.workload, u.message))
            .collect();
        if !not_active.is_empty() {
            return Err(self.err(
                "not-active",
                format!("settled, but not active: {}", not_active.join("; ")),
            ));
        }
        let units: BTreeMap<String, String> = status
            .iter()
            .map(|u| (u.unit.clone(), u.address.clone()))
            .collect();
        let r = Self::eventually(20, || {
            let down: Vec<&String> = units
                .iter()
                .filter(|(_, a)| !serving(a))
                .map(|(u, _)| u)
                .collect();
            if down.is_empty() {
                Ok(())
            } else {
                Err(format!("active, but ZooKeeper not serving on {down:?}"))
            }
        });
        r.map_err(|e| self.err("not-serving", e))?;
        let app = self.sim("app", self.m.app_name())?;
        let want: BTreeSet<String> = units.keys().cloned().collect();
        let r = Self::eventually(20, || {
            let addr = units.values().next().ok_or("no units")?;
            let cfg = four::conf_within(addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
            let voters: BTreeSet<String> = cfg
                .voters()
                .into_iter()
                .map(|id| format!("{app}/{}", id.saturating_sub(1)))
                .collect();
            if voters == want {
                Ok(())
            } else {
                Err(format!("voting members {voters:?}, units {want:?}"))
            }
        });
        r.map_err(|e| self.err("voters", e))?;
        let stack = self
            .m
            .app_databag("upgrade")
            .ok()
            .and_then(|b| b.get("upgrade-stack").cloned())
            .unwrap_or_default();
        let pending: Vec<&String> = units
            .keys()
            .filter(|u| {
                self.m
                    .workload_root(u)
                    .is_ok_and(|r| r.join("upgrade-pending").exists())
            })
            .collect();
        if !(stack.is_empty() || stack == "[]") || !pending.is_empty() {
            return Err(self.err(
                "upgrade-unfinished",
                format!("all active, but the upgrade is not done: stack {stack:?}, pending on {pending:?}"),
            ));
        }
        let name = format!("step-{}-settled", self.step);
        let mut last = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(e) = self.write(&name, Duration::from_secs(5)) {
            last = e;
            if Instant::now() >= deadline {
                return Err(self.err(
                    "write-failed",
                    format!("a settled ensemble refused a write: {last}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let _ = last;
        let seen = self.read_back().map_err(|e| self.err("read-failed", e))?;
        let lost: Vec<&String> = self.acked.iter().filter(|w| !seen.contains(*w)).collect();
        if !lost.is_empty() {
            return Err(self.err("write-lost", format!("acknowledged writes lost: {lost:?}")));
        }
        Ok(())
    }

    fn step_through(&mut self, i: usize, ev: &Event) -> Result<(), Failure> {
        self.step = i + 1;
        if self.log {
            eprintln!("chaos: seed {} step {}: {ev}", self.seed, self.step);
        }
        self.apply(ev)?;
        self.tracker.borrow_mut().sample();
        self.checkpoint()?;
        // A write in the middle of the change: it may fail (not acknowledged), but if it
        // succeeds it must survive.
        let _ = self.write(&format!("step-{}-mid", self.step), Duration::from_secs(3));
        self.settle()?;
        self.check_settled()
    }
}

/// Runs one scenario on a fresh model; `log` prints each step.
pub fn run_scenario(art: &Artifacts, seed: u64, sc: &Scenario, log: bool) -> Result<Ran, Failure> {
    let setup = |e: &dyn fmt::Display| fail(0, "setup", e.to_string());
    let dir = tempfile::Builder::new()
        .prefix("xtask-chaos-")
        .tempdir()
        .map_err(|e| setup(&e))?;
    let mut rng = SplitMix64::new(zk_sim::rng::mix(seed));
    let opts = ModelOptions {
        jujuc: Some(art.jujuc.clone()),
        switches: Switches {
            seeded_election: rng.below(2) == 0,
            ..Switches::default()
        },
        ..ModelOptions::default()
    };
    let mut m =
        create_model(&dir.path().join("model"), &art.rev1, seed, opts).map_err(|e| setup(&e))?;
    let observer = Model::open(m.dir()).map_err(|e| setup(&e))?;
    let tracker = Rc::new(RefCell::new(Tracker::new(observer)));
    let t = tracker.clone();
    m.on_hook(move |rec| {
        let mut t = t.borrow_mut();
        t.hooks += 1;
        t.invariants.context = format!("after hook {rec}");
        t.sample();
    });
    let mut run = Run {
        art,
        seed,
        m,
        tracker,
        step: 0,
        next_rev2: true,
        acked: BTreeSet::new(),
        writes: 0,
        log,
        _dir: dir,
    };
    if log {
        eprintln!("chaos: seed {seed}: deploy {}", sc.units);
    }
    let r = run.m.deploy(sc.units);
    run.sim("deploy", r)?;
    run.settle()?;
    run.check_settled()?;
    for (i, ev) in sc.events.iter().enumerate() {
        run.step_through(i, ev)?;
    }
    let hooks = run.tracker.borrow().hooks;
    let _ = run.m.destroy();
    Ok(Ran {
        hooks,
        writes: run.writes,
    })
}

/// Removes events while the scenario still fails the same way, within `budget`.
fn shrink(
    art: &Artifacts,
    seed: u64,
    sc: &Scenario,
    first: &Failure,
    budget: Duration,
) -> (Scenario, Failure, bool) {
    let deadline = Instant::now() + budget;
    let mut best = sc.clone();
    let mut best_failure = first.clone();
    // Events after the failing step never ran.
    best.events.truncate(first.step);
    let mut complete = true;
    let mut i = 0;
    while i < best.events.len() {
        if Instant::now() >= deadline {
            complete = false;
            break;
        }
        let mut candidate = best.clone();
        let removed = candidate.events.remove(i);
        eprintln!(
            "chaos: shrink: without step {} ({removed}): {candidate}",
            i + 1
        );
        match run_scenario(art, seed, &candidate, false) {
            Err(f) if f.kind == first.kind => {
                eprintln!("chaos: shrink:   still fails ({})", f.kind);
                best_failure = f.clone();
                best = candidate;
                best.events.truncate(f.step);
            }
            Err(f) => {
                eprintln!(
                    "chaos: shrink:   fails differently ({}), keeping the step",
                    f.kind
                );
                i += 1;
            }
            Ok(_) => {
                eprintln!("chaos: shrink:   passes, keeping the step");
                i += 1;
            }
        }
    }
    (best, best_failure, complete)
}

pub fn chaos(o: &ChaosOptions) -> Result<()> {
    require_zookeeper()?;
    let art = if o.debug {
        artifacts::debug()?
    } else {
        artifacts::packed()?
    };
    let started = Instant::now();
    let seeds: Vec<u64> = if o.replay.is_some() {
        vec![o.start]
    } else if let Some(list) = &o.list {
        list.clone()
    } else {
        (o.start..o.start + o.seeds).collect()
    };
    let mut failed = Vec::new();
    let (mut hooks, mut writes) = (0usize, 0usize);
    for &seed in &seeds {
        let sc = o.replay.clone().unwrap_or_else(|| generate(seed, o.steps));
        eprintln!("chaos: seed {seed}: {sc}");
        let t = Instant::now();
        match run_scenario(&art, seed, &sc, true) {
            Ok(ran) => {
                hooks += ran.hooks;
                writes += ran.writes;
                println!(
                    "seed {seed}: ok, {} steps, {} hooks, {} writes kept, {:.0} s",
                    sc.events.len(),
                    ran.hooks,
                    ran.writes,
                    t.elapsed().as_secs_f64()
                );
            }
            Err(f) => {
                println!("seed {seed}: FAILED at {f}");
                println!("seed {seed}: events: {sc}");
                let (min, min_failure, complete) = if o.shrink_secs > 0 && f.step > 0 {
                    eprintln!(
                        "chaos: seed {seed}: shrinking for at most {} s",
                        o.shrink_secs
                    );
                    shrink(&art, seed, &sc, &f, Duration::from_secs(o.shrink_secs))
                } else {
                    let mut min = sc.clone();
                    min.events.truncate(f.step);
                    (min, f.clone(), false)
                };
                println!(
                    "seed {seed}: {} event list that reproduces it: {min}",
                    if complete {
                        "shortest"
                    } else {
                        "shortest found (shrinking stopped early)"
                    }
                );
                println!("seed {seed}: reproduced failure: {min_failure}");
                println!(
                    "seed {seed}: rerun with: cargo xtask chaos{} --start {seed} --replay \"{min}\"",
                    if o.debug { " --debug" } else { "" }
                );
                failed.push(seed);
            }
        }
    }
    println!(
        "chaos: {} seeds, {} failed{}, {hooks} hooks, {writes} writes checked, {:.0} s",
        seeds.len(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" ({failed:?})")
        },
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!("chaos found {} failing seeds: {failed:?}", failed.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_print_as_they_parse() {
        for seed in 0..200 {
            let sc = generate(seed, 12);
            let text = sc.to_string();
            let back: Scenario = text.parse().unwrap();
            assert_eq!(back, sc, "{text}");
        }
        let sc: Scenario =
            "deploy 3; kill 1; upgrade 4 [fail-tool 2 relation-set 1]; config tick-time 2500"
                .parse()
                .unwrap();
        assert_eq!(sc.units, 3);
        assert_eq!(sc.events.len(), 3);
        assert_eq!(
            sc.events[1],
            Event::Upgrade {
                after: 4,
                interrupt: Some(Box::new(Event::FailTool {
                    unit: 2,
                    tool: ToolName::RelationSet,
                    times: 1
                }))
            }
        );
    }

    #[test]
    fn bad_scenarios_are_refused() {
        for bad in [
            "kill 1",
            "deploy 0",
            "deploy 6",
            "deploy 3; kill",
            "deploy 3; kill x",
            "deploy 3; leader 1 [kill 2]",
            "deploy 3; upgrade 1 [upgrade 2]",
            "deploy 3; fail-tool 1 no-such-tool 1",
            "deploy 3; config log-level 3",
            "deploy 3; dance",
        ] {
            assert!(bad.parse::<Scenario>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_seed_always_gives_the_same_scenario_and_seeds_differ() {
        assert_eq!(generate(7, 10), generate(7, 10));
        let distinct: BTreeSet<String> = (0..50).map(|s| generate(s, 10).to_string()).collect();
        assert!(distinct.len() > 45, "{}", distinct.len());
        // Every kind of event shows up across seeds.
        let all: String = (0..50).map(|s| generate(s, 10).to_string()).collect();
        for word in [
            "add-unit",
            "remove-unit",
            "leader",
            "kill",
            "fail-tool",
            "config",
            "upgrade",
            "[",
        ] {
            assert!(all.contains(word), "{word}");
        }
    }

    #[test]
    fn options_parse() {
        let o = parse(&["--seeds".into(), "3".into(), "--steps".into(), "2".into()]).unwrap();
        assert_eq!((o.seeds, o.start, o.steps), (3, 1, 2));
        let o = parse(&[
            "--replay".into(),
            "deploy 2; kill 0".into(),
            "--start".into(),
            "9".into(),
        ])
        .unwrap();
        assert_eq!(o.replay.unwrap().events, [Event::Kill(0)]);
        assert!(parse(&["--seeds".into()]).is_err());
        let o = parse(&["--seed-list".into(), "4, 5,8".into()]).unwrap();
        assert_eq!(o.list, Some(vec![4, 5, 8]));
        assert!(!o.debug);
        assert!(parse(&["--debug".into()]).unwrap().debug);
        assert!(parse(&["--seed-list".into(), "4,x".into()]).is_err());
        assert!(parse(&["--seed-list".into(), "".into()]).is_err());
        assert!(parse(&["--replay".into(), "kill 0".into()]).is_err());
    }
}
