//! Running one scenario on a fresh model: each event, then a settle, then the checks of a
//! settled model (all active and serving, voters = units, no upgrade left half done, every
//! acknowledged write still there).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use testkit::live_server;
use testkit::model::{
    addresses, check_settle, create_model, describe_units, drain, jvm_settle_limits,
    super_password, Allow,
};
use testkit::server::signal_server;
use testkit::watch::serving;
use testkit::writes::{read_children, write_once};
use zk_sim::rng::SplitMix64;
use zk_sim::{Chain, Model, ModelOptions, Switches};

use super::clients::Clients;
use super::scenario::{Event, Scenario, MAX_UNITS};
use super::watch::Tracker;
use crate::artifacts::Artifacts;

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

pub(super) struct Run<'a> {
    art: &'a Artifacts,
    seed: u64,
    /// How many units' hooks a settle runs at once.
    parallel: usize,
    pub(super) m: Model,
    pub(super) tracker: Rc<RefCell<Tracker>>,
    pub(super) step: usize,
    /// The charm the next upgrade refreshes to (alternates between the revisions).
    next_rev2: bool,
    acked: BTreeSet<String>,
    writes: usize,
    /// The client applications `client-add` deployed.
    clients: Clients,
    log: bool,
    _dir: tempfile::TempDir,
}

pub(super) fn fail(step: usize, kind: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        step,
        kind,
        message: message.into(),
    }
}

impl Run<'_> {
    pub(super) fn err(&self, kind: &'static str, message: impl Into<String>) -> Failure {
        let mut message = message.into();
        message.push('\n');
        message.push_str(&describe_units(&self.m));
        fail(self.step, kind, message)
    }

    pub(super) fn sim<T>(&self, what: &str, r: Result<T, zk_sim::SimError>) -> Result<T, Failure> {
        r.map_err(|e| self.err("sim", format!("{what}: {}", Chain(&e))))
    }

    /// The charm's live units (not the client applications').
    pub(super) fn alive(&self) -> Vec<String> {
        let app = self.m.app_name().unwrap_or_default();
        self.m
            .status()
            .unwrap_or_default()
            .into_iter()
            .filter(|u| u.life == "alive" && u.app == app)
            .map(|u| u.unit)
            .collect()
    }

    pub(super) fn pick(&self, k: u32) -> Option<String> {
        let alive = self.alive();
        if alive.is_empty() {
            return None;
        }
        Some(alive[k as usize % alive.len()].clone())
    }

    pub(super) fn checkpoint(&self) -> Result<(), Failure> {
        match self.tracker.borrow().invariants.violation() {
            Some(v) => Err(self.err(v.kind.as_str(), v.message.clone())),
            None => Ok(()),
        }
    }

    pub(super) fn note(&self, text: String) {
        if self.log {
            log::info!("  {text}");
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
                    let machine = self.sim("machine", self.m.machine(&u))?;
                    if live_server(&machine).is_some() {
                        self.tracker.borrow_mut().invariants.mark_killed(&u);
                    }
                    match signal_server(&machine, libc::SIGKILL, Duration::from_secs(10)) {
                        Some(p) => self.note(format!("killed {u}'s ZooKeeper (pid {})", p.pid)),
                        None => self.note(format!("kill skipped: {u} has no live ZooKeeper")),
                    }
                }
            }
            Event::FailTool { unit, tool, times } => {
                if let Some(u) = self.pick(*unit) {
                    self.disarm(&u)?;
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
            Event::ClientAdd => {
                let r = self.clients.add(&mut self.m);
                let done = r.map_err(|e| self.err("sim", e))?;
                self.note(done);
            }
            Event::ClientRemove(k) => {
                let r = self.clients.remove(&mut self.m, *k, self.step);
                let done = r.map_err(|e| self.err("sim", e))?;
                self.note(done);
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
            Event::Fault(f) => self.apply_fault(f)?,
        }
        Ok(())
    }

    /// The live units' addresses.
    fn hosts(&self) -> Vec<String> {
        addresses(&self.m)
            .unwrap_or_default()
            .into_values()
            .collect()
    }

    /// Tries to write one znode; Ok means acknowledged.
    pub(super) fn write(&mut self, name: &str, timeout: Duration) -> Result<(), String> {
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

    /// Settles, then checks that the settle was healthy: no failed hook or retry unless
    /// `allow`ed (a step that injects a tool failure), no hook over 60 s, and no progress
    /// that waited for an update-status round unless allowed (a killed server is noticed
    /// only by update-status, on Juju too).
    fn settle(&mut self, allow: Allow) -> Result<(), Failure> {
        // Shorter than the benchmark's bound: a healthy step settles in well under a
        // minute, and a failing seed is re-run while shrinking.
        let limits = zk_sim::SettleLimits {
            timeout: Duration::from_secs(150),
            parallel: self.parallel,
            ..jvm_settle_limits()
        };
        let r = self.m.settle(limits);
        self.checkpoint()?;
        match r {
            Ok(report) => {
                self.note(format!("settled: {report}"));
                check_settle(&report, allow).map_err(|e| self.err("unhealthy", e))
            }
            Err(e) => Err(self.err("settle", format!("did not settle: {}", Chain(&e)))),
        }
    }

    /// Drops the failures an earlier step armed on unit `u` and that no call has met yet
    /// (a status that did not change calls no `status-set`), before arming new ones: stacked,
    /// they would fail more runs in a row than the model's retries, where Juju retries on.
    pub(super) fn disarm(&mut self, u: &str) -> Result<(), Failure> {
        let r = self.m.clear_tool_failures(u);
        let dropped = self.sim("clear-failures", r)?;
        if dropped > 0 {
            self.note(format!(
                "{u}: {dropped} armed tool failure(s) of an earlier step dropped"
            ));
        }
        Ok(())
    }

    /// Whether an injected hook-tool failure is still armed.
    fn failure_armed(&self) -> bool {
        self.m
            .state()
            .is_ok_and(|st| st.tool_failures.iter().any(|f| f.remaining > 0))
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
        let app = self.sim("app", self.m.app_name())?;
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
            .filter(|u| u.app == app)
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
        let want: BTreeSet<String> = units.keys().cloned().collect();
        let r = Self::eventually(20, || {
            let hosts: Vec<String> = units.values().cloned().collect();
            let cfg = testkit::members::live_config(&self.m, &hosts, Duration::from_secs(2))?;
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
            .filter(|u| testkit::model::upgrade_pending(&self.m, u))
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
        let pw = super_password(&self.m);
        let t = Instant::now();
        let r = self
            .clients
            .check_settled(&mut self.m, self.step, pw.as_deref());
        r.map_err(|(kind, e)| self.err(kind, e))?;
        if let Some(summary) = self.clients.summary() {
            self.note(format!(
                "{summary}, checked in {:.2} s",
                t.elapsed().as_secs_f64()
            ));
        }
        Ok(())
    }

    fn step_through(&mut self, i: usize, ev: &Event) -> Result<(), Failure> {
        self.step = i + 1;
        if self.log {
            log::info!("seed {} step {}: {ev}", self.seed, self.step);
        }
        // Failures while an injected one is armed (it may fire in a later step), and
        // whatever the event itself causes.
        let armed_before = self.failure_armed();
        self.apply(ev)?;
        self.tracker.borrow_mut().sample();
        self.checkpoint()?;
        // A write in the middle of the change: it may fail (not acknowledged), but if it
        // succeeds it must survive.
        let _ = self.write(&format!("step-{}-mid", self.step), Duration::from_secs(3));
        self.clients.mid_writes(self.step);
        let mut allow = allow_for(ev);
        if armed_before || self.failure_armed() {
            allow = Allow {
                failures: true,
                tick_progress: true,
            };
        }
        self.settle(allow)?;
        self.check_settled()?;
        if matches!(ev, Event::Fault(super::faults::Fault::FailSecret { .. })) {
            self.check_no_password_leak()?;
        }
        Ok(())
    }
}

/// What an event itself may cause in the settle after it (see [`Run::settle`]).
fn allow_for(ev: &Event) -> Allow {
    match ev {
        Event::FailTool { .. } => Allow {
            failures: true,
            tick_progress: true,
        },
        Event::Kill(_) => Allow {
            failures: false,
            tick_progress: true,
        },
        Event::Upgrade {
            interrupt: Some(e), ..
        } => allow_for(e),
        Event::Fault(f) => f.allow(),
        _ => Allow::default(),
    }
}

/// Runs one scenario on a fresh model; `log` prints each step.
pub fn run_scenario(art: &Artifacts, seed: u64, sc: &Scenario, log: bool) -> Result<Ran, Failure> {
    let setup = |e: &(dyn std::error::Error + 'static)| fail(0, "setup", Chain(e).to_string());
    let dir = tempfile::Builder::new()
        .prefix("xtask-chaos-")
        .tempdir()
        .map_err(|e| setup(&e))?;
    let mut rng = SplitMix64::new(zk_sim::rng::mix(seed));
    let opts = ModelOptions {
        jujuc: Some(art.jujuc.clone()),
        switches: Switches {
            seeded_leadership: rng.below(2) == 0,
            leader_sees_own_app_change: rng.below(2) == 0,
            ..Switches::default()
        },
        ..ModelOptions::default()
    };
    let parallel = zk_sim::parallel_for_seed(seed);
    let opts_switches = opts.switches.clone();
    let mut m =
        create_model(&dir.path().join("model"), &art.rev1, seed, opts).map_err(|e| setup(&e))?;
    let observer = Model::open(m.dir()).map_err(|e| setup(&e))?;
    let tracker = Rc::new(RefCell::new(Tracker::new(observer)));
    let t = tracker.clone();
    m.on_hook(move |rec| {
        let mut t = t.borrow_mut();
        t.hooks += 1;
        t.invariants.context = format!("after hook {rec}");
        if let Some(slow) = super::faults::over_bound(rec) {
            t.over_bound.push(slow);
        }
        t.sample();
    });
    if log {
        log::info!(
            "seed {seed}: up to {parallel} units' hooks at once, switches {:?}",
            opts_switches
        );
    }
    let mut run = Run {
        art,
        seed,
        parallel,
        m,
        tracker,
        step: 0,
        next_rev2: true,
        acked: BTreeSet::new(),
        writes: 0,
        clients: Clients::default(),
        log,
        _dir: dir,
    };
    if log {
        log::info!("seed {seed}: deploy {}", sc.units);
    }
    let r = run.m.deploy(sc.units);
    run.sim("deploy", r)?;
    run.settle(Allow::default())?;
    run.check_settled()?;
    for (i, ev) in sc.events.iter().enumerate() {
        run.step_through(i, ev)?;
    }
    let hooks = run.tracker.borrow().hooks;
    let _ = run.m.destroy();
    Ok(Ran {
        hooks,
        writes: run.writes + run.clients.writes(),
    })
}
