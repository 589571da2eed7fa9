//! The scheduler: which unit runs next (the seeded PRNG among units with work), and one
//! hook or action run from start to record, as the uniter does it:
//!
//! 1. [`Model::begin_run`]: the uniter's bookkeeping before the hook (relation membership,
//!    the statuses Juju sets itself, swapping the charm on `upgrade-charm`), the hook's
//!    context and environment; the model is saved and unlocked.
//! 2. [`Model::run_process`]: the process runs without the lock (its hook tools need it).
//! 3. [`Model::finish_run`]: the outcome, the commit of the context's buffered writes, the
//!    bookkeeping after the hook (scope, errors, removal, action results).
//! 4. [`log_run`]: the debug-log lines and the hook-log record.
//!
//! One unit runs one hook at a time; `settle` (see `settle.rs`) keeps up to K units' runs in
//! flight at once, as Juju's unit agents do. Sequence numbers and context ids are taken
//! under the model lock in step 1, and each commit is one locked step in 3.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::commit::{commit, finish_removal};
use super::env::{find_handler, hook_env, unit_mounts};
use super::records::{HookRecord, RunOutcome};
use super::{Model, STOP_GRACE};
use crate::charm;
use crate::machine::{Machine, Mount};
use crate::process::{self, Finished, HookProcess};
use crate::rng::{mix, SplitMix64};
use crate::snap::service;
use crate::state::{
    retry_backoff_ms, ActionStatus, Context, FailedHook, Guard, HookKind, HookSpec, ModelState,
    Pending, RunnerLock, StatusRecord,
};
use crate::{logs, SimError};

/// The process bound of a run nobody waits on (`step`): none, in effect. Juju never kills a
/// hook; only `settle` giving up interrupts one (see [`RunOutcome::Interrupted`]).
pub(super) const UNBOUNDED: Duration = Duration::from_secs(365 * 86_400);

/// What the scheduler picked to run next.
pub(super) enum Work {
    Action(u64),
    /// A hook and its attempt (1 for the first run; 2, 3, ... for retries).
    Hook(HookSpec, u32),
}

/// One hook or action run, as prepared before its process starts.
#[derive(Debug, Clone)]
pub(super) struct Run {
    unit: String,
    seq: u64,
    /// The hook's name, or the action's.
    name: String,
    hook: Option<HookSpec>,
    action: Option<u64>,
    attempt: u32,
    ctx_id: String,
    /// Set when the uniter skips the hook (a `leader-elected` after leadership moved on).
    skip_reason: Option<String>,
    /// The handler: `None` for a hook the charm does not have; `Err` when it cannot run.
    program: Result<Option<PathBuf>, String>,
    charm_dir: PathBuf,
    env: Vec<(String, String)>,
    /// Past this the process is killed as in an agent shutdown, and the run is
    /// [`RunOutcome::Interrupted`].
    pub(super) deadline: Duration,
    /// The unit's namespace: its machine's paths and its storage.
    mounts: Vec<Mount>,
    /// Where the process's output files go (the unit's agent directory).
    scratch: PathBuf,
}

impl Run {
    fn what(&self) -> &'static str {
        if self.hook.is_some() {
            "hook"
        } else {
            "action"
        }
    }
}

/// How a run's process ended: `Ok(None)` when none ran, `Err` when it could not.
pub(super) type Ended = Result<Option<Finished>, String>;

impl Run {
    pub(super) fn unit(&self) -> &str {
        &self.unit
    }

    /// `zookeeper/1 cluster-relation-changed`, for progress lines.
    pub(super) fn describe(&self) -> String {
        format!("{} {}", self.unit, self.name)
    }

    /// Whether a process must run (else [`Run::run_process`] is not needed).
    pub(super) fn has_process(&self) -> bool {
        matches!(self.program, Ok(Some(_)))
    }

    /// Runs the process (plainly, without measuring): what a thread of a parallel settle
    /// does.
    pub(super) fn run_process(&self) -> Ended {
        match &self.program {
            Ok(Some(p)) => process::run(&HookProcess {
                program: p,
                cwd: &self.charm_dir,
                env: &self.env,
                scratch: &self.scratch,
                timeout: self.deadline,
                mounts: &self.mounts,
            })
            .map(Some)
            .map_err(|e| format!("cannot start {}: {e}", p.display())),
            Ok(None) => Ok(None),
            Err(reason) => Err(reason.clone()),
        }
    }
}

impl Model {
    /// Runs the next scheduled hook or action (a unit picked by the seeded PRNG among units
    /// with work; per unit, actions first, then its queue in order; units in error run only
    /// actions). Retries are not run here (see `settle`). None when nothing is runnable.
    pub fn step(&mut self) -> Result<Option<HookRecord>, SimError> {
        let _runner = self.runner()?;
        self.step_inner()
    }

    /// Takes the runner lock and puts back work a previous runner left half done (it was
    /// killed while a hook ran): the hook goes back to the front of its unit's queue and an
    /// action back to pending, as Juju re-queues a hook interrupted by an agent shutdown.
    pub(super) fn runner(&mut self) -> Result<RunnerLock, SimError> {
        crate::machine::require_root()?;
        let lock = self.store.runner_lock()?;
        let mut g = self.lock()?;
        if g.st.contexts.is_empty() {
            return Ok(lock);
        }
        let stale: Vec<Context> = std::mem::take(&mut g.st.contexts).into_values().collect();
        for ctx in stale {
            let Some(u) = g.st.units.get_mut(&ctx.unit) else {
                continue;
            };
            u.executing = None;
            match (ctx.hook, ctx.action) {
                (Some(h), _) => {
                    let is_retry = u.error.as_ref().is_some_and(|e| e.hook == h);
                    if !is_retry {
                        u.queue.push_front(h);
                    }
                }
                (None, Some(id)) => {
                    u.actions.push_front(id);
                    if let Some(a) = g.st.actions.get_mut(&id) {
                        a.status = ActionStatus::Pending;
                    }
                }
                (None, None) => {}
            }
        }
        g.save()?;
        Ok(lock)
    }

    pub(super) fn step_inner(&mut self) -> Result<Option<HookRecord>, SimError> {
        let mut g = self.lock()?;
        let st = &mut g.st;
        let mut picked = pick_work(st, &Default::default(), false);
        if picked.is_none() {
            // Nothing to run but a leader to elect: let the lease lapse (model time only).
            if let Some(due) = st.next_election_due() {
                st.clock_skip_ms += due.saturating_sub(st.now_ms());
                picked = pick_work(st, &Default::default(), false);
            }
        }
        let Some((unit, work)) = picked else {
            g.save()?;
            return Ok(None);
        };
        self.execute(g, &unit, work).map(Some)
    }

    /// Runs one hook or action on `unit` (`g` holds the model locked).
    pub(super) fn execute(
        &mut self,
        g: Guard,
        unit: &str,
        work: Work,
    ) -> Result<HookRecord, SimError> {
        let run = self.begin_run(g, unit, work, UNBOUNDED)?;
        let started = Instant::now();
        let ended: Ended = match &run.program {
            Ok(Some(p)) => self
                .run_process(&HookProcess {
                    program: p,
                    cwd: &run.charm_dir,
                    env: &run.env,
                    scratch: &run.scratch,
                    timeout: run.deadline,
                    mounts: &run.mounts,
                })
                .map(Some)
                .map_err(|e| format!("cannot start {}: {e}", p.display())),
            Ok(None) => Ok(None),
            Err(reason) => Err(reason.clone()),
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        self.end_run(run, ended, duration_ms)
    }

    /// The end of a run: its outcome, commit and record (`finish_run`), the workload
    /// processes of a removed unit stopped, the `on_hook` callback.
    pub(super) fn end_run(
        &mut self,
        run: Run,
        ended: Ended,
        duration_ms: u64,
    ) -> Result<HookRecord, SimError> {
        let (record, to_stop) = self.finish_run(run, ended, duration_ms)?;
        for machine in to_stop {
            service::stop_all(&machine, STOP_GRACE);
        }
        if let Some(f) = self.on_hook.as_mut() {
            f(&record);
        }
        Ok(record)
    }

    /// The uniter's bookkeeping before a run, and its context; saves and unlocks the model.
    /// `deadline` bounds the process (see [`Run::deadline`]).
    pub(super) fn begin_run(
        &mut self,
        mut g: Guard,
        unit: &str,
        work: Work,
        deadline: Duration,
    ) -> Result<Run, SimError> {
        let dir = self.dir().to_path_buf();
        let st = &mut g.st;
        st.hook_seq += 1;
        let seq = st.hook_seq;
        let (name, hook, action, attempt) = match work {
            Work::Hook(mut h, attempt) => {
                h.departing_unit = st.departing_unit(unit, &h);
                (h.name.clone(), Some(h), None, attempt)
            }
            Work::Action(id) => (st.actions[&id].name.clone(), None, Some(id), 1),
        };
        let ctx_id = format!(
            "{unit}-{name}-{}",
            mix(st.seed ^ seq.wrapping_mul(0x9E37_79B9)) >> 1
        );
        let skip_reason = match &hook {
            Some(h) => before_hook(st, unit, h)?,
            None => None,
        };
        if let Some(id) = action {
            st.actions.get_mut(&id).expect("action exists").status = ActionStatus::Running;
        }

        let u = &st.units[unit];
        let charm_dir = u.charm_dir();
        let env = hook_env(st, &dir, unit, &ctx_id, hook.as_ref(), action);
        let mounts = unit_mounts(st, unit);
        let program = if skip_reason.is_some() {
            Ok(None)
        } else {
            find_handler(
                &charm_dir,
                hook.as_ref().map(|h| h.name.as_str()),
                action.map(|_| name.as_str()),
                unit,
            )
        };
        let u = st.units.get_mut(unit).expect("unit exists");
        u.executing = Some(match &hook {
            Some(h) => format!("running {} hook", h.name),
            None => format!("running action {name}"),
        });
        let scratch = u.dir.clone();
        st.contexts.insert(
            ctx_id.clone(),
            Context {
                id: ctx_id.clone(),
                unit: unit.to_string(),
                hook: hook.clone(),
                action,
                pending: Pending::default(),
                snapshots: BTreeMap::new(),
                config: None,
                leader_settings: None,
            },
        );
        g.save()?;
        Ok(Run {
            unit: unit.to_string(),
            seq,
            name,
            hook,
            action,
            attempt,
            ctx_id,
            skip_reason,
            program,
            charm_dir,
            env,
            deadline,
            mounts,
            scratch,
        })
    }

    /// The outcome and commit of a run, the bookkeeping after it, and its logs. Returns its
    /// record and the machines whose services must now be stopped (removed units).
    fn finish_run(
        &mut self,
        run: Run,
        ended: Ended,
        duration_ms: u64,
    ) -> Result<(HookRecord, Vec<Machine>), SimError> {
        let dir = self.dir().to_path_buf();
        let mut g = self.lock()?;
        let st = &mut g.st;
        let ctx = st.contexts.remove(&run.ctx_id);
        let (mut outcome, mut reason, exit_code) = outcome(&run, &ended);
        if outcome == RunOutcome::Ok {
            if let Some(ctx) = &ctx {
                if let Err(e) = commit(st, ctx) {
                    outcome = RunOutcome::CommitFailed;
                    reason = Some(e);
                }
            }
        }
        let to_stop = match &run.hook {
            Some(h) => after_hook(st, &run.unit, h, run.attempt, outcome, &reason),
            None => Vec::new(),
        };
        if let (None, Some(id), RunOutcome::Interrupted) = (&run.hook, run.action, outcome) {
            // Interrupted like an agent shutdown: the action runs again.
            if let Some(u) = st.units.get_mut(&run.unit) {
                u.executing = None;
                u.actions.push_front(id);
            }
            if let Some(a) = st.actions.get_mut(&id) {
                a.status = ActionStatus::Pending;
            }
        }
        // Principals that entered a container-scoped relation get their subordinate unit.
        for (app, principal) in g.st.missing_subordinates() {
            self.new_unit(&mut g, &app, Some(&principal))?;
        }
        let st = &mut g.st;
        if let (Some(id), false) = (run.action, outcome == RunOutcome::Interrupted) {
            after_action(st, &run.unit, id, &ended, outcome, &reason);
        }
        let record = HookRecord {
            seq: run.seq,
            unit: run.unit.clone(),
            hook: run.name.clone(),
            kind: run.what().to_string(),
            relation_id: run.hook.as_ref().and_then(|h| {
                h.relation_id
                    .map(|id| format!("{}:{id}", h.endpoint.clone().unwrap_or_default()))
            }),
            remote_unit: run.hook.as_ref().and_then(|h| h.remote_unit.clone()),
            departing_unit: run.hook.as_ref().and_then(|h| h.departing_unit.clone()),
            action_id: run.action,
            context_id: run.ctx_id.clone(),
            attempt: run.attempt,
            outcome,
            exit_code,
            reason,
            duration_ms,
            env: run
                .env
                .iter()
                .filter(|(k, _)| k.starts_with("JUJU_"))
                .cloned()
                .collect(),
        };
        log_run(&dir, &run, &ended, &record)?;
        g.save()?;
        Ok((record, to_stop))
    }
}

/// The next run: a unit picked by the seeded PRNG among those with work that are not
/// `busy` (in unit-number order), then its work: a pending action first (also while in
/// error), else the retry of its failed hook once the back-off passed (`retries`), else its
/// next queued hook. Due elections are held first and stale hooks dropped.
pub(super) fn pick_work(
    st: &mut ModelState,
    busy: &BTreeSet<String>,
    retries: bool,
) -> Option<(String, Work)> {
    st.hold_due_elections();
    st.drop_stale_hooks();
    let now = st.now_ms();
    let max = st.switches.hook_retries;
    let candidates: Vec<String> = st
        .units_by_number()
        .into_iter()
        .filter(|n| !busy.contains(n))
        .filter(|n| {
            let u = &st.units[n];
            !u.actions.is_empty()
                || match &u.error {
                    None => !u.queue.is_empty(),
                    Some(e) => retries && e.failures <= max && e.retry_at_ms <= now,
                }
        })
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let mut rng = SplitMix64::new(st.rng);
    let unit = candidates[rng.below(candidates.len())].clone();
    st.rng = rng.state;
    let u = st.units.get_mut(&unit).expect("unit exists");
    let work = if let Some(id) = u.actions.pop_front() {
        Work::Action(id)
    } else if let Some(e) = &u.error {
        Work::Hook(e.hook.clone(), e.failures + 1)
    } else {
        Work::Hook(st.take_next_hook(&unit).expect("queue not empty"), 1)
    };
    Some((unit, work))
}

/// The uniter's bookkeeping before a hook runs: relation membership, the statuses Juju
/// sets itself, the new charm on `upgrade-charm`. Returns why the hook is skipped, if it is.
fn before_hook(st: &mut ModelState, unit: &str, h: &HookSpec) -> Result<Option<String>, SimError> {
    let is_leader = st.is_leader(unit);
    let app = st.units[unit].app.clone();
    let charm = st.applications[&app].charm.clone();
    let u = st.units.get_mut(unit).expect("unit exists");
    match h.kind {
        HookKind::RelationJoined | HookKind::RelationChanged | HookKind::RelationDeparted => {
            if let (Some(id), Some(remote)) = (h.relation_id, &h.remote_unit) {
                if let Some(s) = u.scope.get_mut(&id) {
                    s.member_cache.remove(remote);
                    match h.kind {
                        HookKind::RelationJoined => {
                            s.members.insert(remote.clone());
                        }
                        HookKind::RelationDeparted => {
                            s.members.remove(remote);
                        }
                        _ => {}
                    }
                }
            }
        }
        HookKind::Install if !u.status_set => {
            u.workload = StatusRecord::new("maintenance", "installing charm software");
        }
        HookKind::Stop => u.workload = StatusRecord::new("maintenance", "stopping charm software"),
        HookKind::Remove => {
            u.workload = StatusRecord::new("maintenance", "cleaning up prior to charm deletion")
        }
        HookKind::LeaderElected if !is_leader => {
            return Ok(Some("leadership lost before the hook ran".into()));
        }
        HookKind::UpgradeCharm if u.charm_revision != charm.revision => {
            let files = charm::deploy_to_unit(&charm.dir, &u.charm_dir(), &u.charm_files)?;
            u.charm_files = files;
            u.charm_revision = charm.revision;
        }
        _ => {}
    }
    Ok(None)
}

/// The outcome of a run before its commit, why it failed, and its exit code.
fn outcome(run: &Run, ended: &Ended) -> (RunOutcome, Option<String>, Option<i32>) {
    match ended {
        Err(r) => (RunOutcome::Failed, Some(r.clone()), None),
        Ok(None) => (
            RunOutcome::Skipped,
            run.skip_reason
                .clone()
                .or(Some("no handler in the charm".into())),
            None,
        ),
        Ok(Some(f)) if f.success() => (RunOutcome::Ok, None, f.code),
        Ok(Some(f)) if f.timed_out => (
            RunOutcome::Interrupted,
            Some(format!(
                "interrupted after {:.0}s: the settle gave up (an agent shutdown); it runs again",
                f.duration.as_secs_f64()
            )),
            f.code,
        ),
        Ok(Some(f)) => (RunOutcome::Failed, Some(f.reason(run.deadline)), f.code),
    }
}

/// The uniter's bookkeeping after a hook: the unit enters scope after `install` (or after
/// the `-relation-created` of a relation integrated later), leaves a relation after its
/// `-relation-broken`, its storage is detached after `-storage-detaching`, it leaves the
/// model after `remove` (a principal's machine is returned, for its services to be
/// stopped), or it stays in error until a retry succeeds.
fn after_hook(
    st: &mut ModelState,
    unit: &str,
    h: &HookSpec,
    attempt: u32,
    outcome: RunOutcome,
    reason: &Option<String>,
) -> Vec<Machine> {
    let mut to_stop = Vec::new();
    let now = st.now_ms();
    let u = st.units.get_mut(unit).expect("unit exists");
    u.executing = None;
    if outcome == RunOutcome::Interrupted {
        // As after an agent shutdown: the hook runs again (a retry stays a retry).
        if u.error.is_none() {
            u.queue.push_front(h.clone());
        }
        return to_stop;
    }
    if !outcome.succeeded() {
        u.error = Some(FailedHook {
            hook: h.clone(),
            failures: attempt,
            reason: reason.clone().unwrap_or_default(),
            retry_at_ms: now + retry_backoff_ms(attempt),
        });
        return to_stop;
    }
    u.error = None;
    match h.kind {
        HookKind::Install => {
            u.installed = true;
            st.enter_scope(unit);
        }
        HookKind::RelationCreated => {
            let id = h.relation_id.expect("relation hook");
            if u.awaiting_created.remove(&id) && u.installed {
                st.enter_relation_scope(unit, id);
            }
        }
        HookKind::RelationBroken => {
            u.scope.remove(&h.relation_id.expect("relation hook"));
            st.reap_relations();
        }
        HookKind::Start if !u.status_set => u.workload = StatusRecord::new("unknown", ""),
        HookKind::Remove => {
            // A subordinate leaves its principal's machine (and its services) running.
            if u.principal.is_none() {
                to_stop.push(st.machine_of(unit));
            }
            finish_removal(st, unit);
        }
        HookKind::StorageDetaching => {
            if let Some(id) = &h.storage_id {
                u.storage.retain(|s| s != id);
                if let Some(s) = st.storage.get_mut(id) {
                    s.attached_to = None;
                }
            }
        }
        _ => {}
    }
    to_stop
}

/// An action's status, message and output once its process ended.
fn after_action(
    st: &mut ModelState,
    unit: &str,
    id: u64,
    ended: &Ended,
    outcome: RunOutcome,
    reason: &Option<String>,
) {
    if let Some(u) = st.units.get_mut(unit) {
        u.executing = None;
    }
    let rec = st.actions.get_mut(&id).expect("action exists");
    if let Ok(Some(f)) = ended {
        rec.return_code = f.code;
        rec.stdout = f.stdout.clone();
        rec.stderr = f.stderr.clone();
    }
    match outcome {
        RunOutcome::Ok if !rec.failed_by_charm => rec.status = ActionStatus::Completed,
        RunOutcome::Ok => rec.status = ActionStatus::Failed,
        _ => {
            rec.status = ActionStatus::Failed;
            if !rec.failed_by_charm || outcome == RunOutcome::CommitFailed {
                rec.message = reason.clone().unwrap_or_default();
            }
        }
    }
}

/// The debug-log lines of a run (its output, then the uniter's own line) and its record in
/// the hook log.
fn log_run(
    dir: &std::path::Path,
    run: &Run,
    ended: &Ended,
    record: &HookRecord,
) -> Result<(), SimError> {
    let (unit, name, what) = (&run.unit, &run.name, run.what());
    let module = format!("unit.{unit}.{name}");
    let mut text = String::new();
    if let Ok(Some(f)) = ended {
        for l in f.stdout.lines() {
            text += &logs::line(unit, "DEBUG", &module, l);
        }
        for l in f.stderr.lines() {
            text += &logs::line(unit, "WARNING", &module, l);
        }
    }
    let outcome = record.outcome;
    text += &if outcome.succeeded() {
        logs::line(
            unit,
            "INFO",
            "juju.worker.uniter.operation",
            &format!("ran {name:?} {what} ({outcome:?})"),
        )
    } else {
        logs::line(
            unit,
            "ERROR",
            "juju.worker.uniter.operation",
            &format!(
                "{what} {name:?} failed: {}",
                record.reason.clone().unwrap_or_default()
            ),
        )
    };
    logs::append(dir, &text)?;
    logs::append_hook_record(dir, record)
}
