//! Convergence: hooks and time from one operator command until its goal holds.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use testkit::model::{all_active, drain};
use testkit::{live_server, ServerProcess};
use zk_sim::{Model, SettleReport};

use super::{leader_and_other, new_model, settle};
use crate::artifacts::Artifacts;

/// From one operator command to the goal.
#[derive(Debug, Clone)]
pub(super) struct Converged {
    pub(super) what: String,
    pub(super) units: u32,
    /// Hook runs until the goal held (update-status included) ...
    pub(super) hooks: usize,
    /// ... of which update-status (each is a simulated 5-minute tick on one unit).
    pub(super) update_status: usize,
    /// Update-status rounds (ticks) needed.
    pub(super) ticks: usize,
    pub(super) wall: Duration,
    /// Hooks and time until the model was quiet.
    pub(super) settle_hooks: usize,
    pub(super) settle_wall: Duration,
    pub(super) retries: usize,
    /// Changed unit bags (one commit changing one relation's bag of one unit), per unit
    /// on average, until the goal held ...
    pub(super) unit_writes: f64,
    /// ... and changed application bags (the leader's).
    pub(super) app_writes: usize,
    pub(super) note: String,
}

impl Converged {
    pub(super) fn cells(&self) -> Vec<String> {
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
            format!("{:.1}", self.unit_writes),
            self.app_writes.to_string(),
            self.note.clone(),
        ]
    }
}

pub(super) const CONVERGENCE_HEADERS: [&str; 12] = [
    "from -> to",
    "units",
    "hooks (excl. update-status)",
    "update-status runs",
    "ticks",
    "wall time",
    "hooks to quiet",
    "time to quiet",
    "retries",
    "unit bag writes per unit",
    "leader's app bag writes",
    "notes",
];

/// Progress seen from the hook callback.
#[derive(Default)]
pub(super) struct Progress {
    pub(super) hooks: usize,
    pub(super) update_status: usize,
    pub(super) ticks: usize,
    /// Changed unit bags and changed app bags so far.
    pub(super) unit_writes: usize,
    pub(super) app_writes: usize,
    pub(super) reached: Option<(usize, usize, usize, Duration)>,
    /// The bag writes when the goal first held.
    pub(super) writes_reached: (usize, usize),
}

/// Settles `m`, recording when `goal` first holds (checked after every hook on a second
/// handle of the same model).
pub(super) fn settle_until(
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
        let app = rec.writes.iter().filter(|w| w.app).count();
        p.app_writes += app;
        p.unit_writes += rec.writes.len() - app;
        if p.reached.is_none() && goal(&observer) {
            p.reached = Some((p.hooks, p.update_status, p.ticks, start.elapsed()));
            p.writes_reached = (p.unit_writes, p.app_writes);
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

pub(super) fn converged(
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
        unit_writes: p.writes_reached.0 as f64 / f64::from(n.max(1)),
        app_writes: p.writes_reached.1,
        note,
    })
}

/// The live ZooKeeper server of each unit.
pub(super) fn zk_servers(m: &Model) -> BTreeMap<String, ServerProcess> {
    let mut out = BTreeMap::new();
    for u in m.status().unwrap_or_default() {
        if let Some(p) = m.machine(&u.unit).ok().and_then(|r| live_server(&r)) {
            out.insert(u.unit, p);
        }
    }
    out
}

pub(super) fn upgrade_done(m: &Model) -> bool {
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
    let no_pending = st
        .iter()
        .all(|u| !testkit::model::upgrade_pending(m, &u.unit));
    stack_empty && idle && no_pending
}

/// A new model in `dir` with `n` units queued.
fn deployed(dir: &Path, art: &Artifacts, n: u32, seed: u64) -> Result<Model> {
    let mut m = new_model(dir, art, seed)?;
    m.deploy(n)?;
    Ok(m)
}

pub(super) fn deploy_convergence(
    art: &Artifacts,
    n: u32,
    seed: u64,
    tmp: &Path,
) -> Result<Converged> {
    log::info!("deploy -n {n} until all active");
    let mut m = deployed(&tmp.join(format!("deploy-{n}")), art, n, seed)?;
    let (p, r) = settle_until(&mut m, "zookeeper/0", |o| all_active(o).unwrap_or(false))?;
    let c = converged("deploy -> all active", n, &p, &r, String::new())?;
    m.destroy()?;
    Ok(c)
}

pub(super) fn upgrade_convergence(
    art: &Artifacts,
    n: u32,
    seed: u64,
    tmp: &Path,
) -> Result<Converged> {
    log::info!("deploy -n {n}, pre-upgrade-check, refresh until the upgrade is done");
    let mut m = deployed(&tmp.join(format!("upgrade-{n}")), art, n, seed)?;
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
