//! One hook or action, end to end: snapshot -> decide -> execute, repeated until the plan
//! is idle, then one status computed from the whole picture.
//!
//! [`run`] takes its four boundaries as traits: Juju ([`HookTools`]), the workload
//! ([`Workload`]), the ZooKeeper ensemble ([`Ensemble`]) and the hook's environment
//! ([`HookEnv`]), so a whole hook can run in-process against in-memory ones.

use crate::actions::{self, ActionCmd, ActionOutcome};
use crate::decide::decide;
use crate::dispatch::{Action, Event, EventFacts, StorageHook};
use crate::env::HookEnv;
use crate::execute::{execute, ExecError, RoundEnd};
use crate::hooktools::{HookTools, ToolError};
use crate::local_state;
use crate::observe::{observe, ObserveError};
use crate::plan::WorkloadOp;
use crate::status::{Status, StatusCollector};
use crate::workload::{Workload, WorkloadError};
use crate::zk::ensemble::Ensemble;

/// Rounds of observe -> decide -> execute one hook may run. Each round moves one step
/// (e.g. start, then record `started`, then add to the quorum); the bound only guards
/// against a plan that never settles.
pub const MAX_ROUNDS: usize = 8;

/// A fault that fails the hook (non-zero exit). Recoverable conditions are statuses, not
/// errors.
#[derive(Debug, thiserror::Error)]
pub enum CharmError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error(transparent)]
    Observe(#[from] ObserveError),
    #[error(transparent)]
    Execute(#[from] ExecError),
}

/// Runs the hook or action named by `env` against Juju (`tools`), the workload and the
/// ensemble.
///
/// # Errors
/// Only real faults (a hook tool or the workload failing in a way the charm cannot turn into
/// a status). The caller exits non-zero so that Juju retries the hook.
pub fn run(
    env: &HookEnv,
    tools: &dyn HookTools,
    workload: &dyn Workload,
    ensemble: &dyn Ensemble,
) -> Result<(), CharmError> {
    let event = Event::from_env(env);
    let facts = EventFacts::now(&event, env);
    match &event {
        Event::UnknownHook(name) => {
            log::warn!("ignoring unknown hook {name:?}");
            Ok(())
        }
        Event::UnknownAction(name) => {
            tools.action_fail(&format!(
                "unknown action {name:?}: this charm has no such action"
            ))?;
            Ok(())
        }
        Event::Action(action) => run_action(*action, env, &facts, tools, workload, ensemble),
        Event::Storage {
            kind: StorageHook::Attached,
            ..
        } => {
            storage_attached(env, workload);
            Ok(())
        }
        _ => {
            if event == Event::SecretRemove {
                remove_obsolete_revision(env, tools);
            }
            if event == Event::Install {
                // A unit is installed once: any private state on this machine is another
                // unit's leftover, never this one's.
                if let Err(e) = workload.clear_private_state() {
                    log::warn!(
                        "cannot clear leftover private state: {}",
                        crate::report::chain(&e)
                    );
                }
            }
            if facts.charm_refreshed {
                // New charm code runs now; its workload is rolled out unit by unit.
                local_state::mark_upgrade_pending(workload)?;
            }
            let done = match reconcile_hook(env, &facts, tools, workload, ensemble) {
                Ok(done) => done,
                Err(e) => {
                    // Juju discards this hook's port changes: forget what was recorded of
                    // them, so that the next hook declares the ports again.
                    let _ = local_state::record_opened_ports(workload, None);
                    return Err(e);
                }
            };
            set_status(tools, workload, &done.status)?;
            if done.workload_changed {
                if let Ok(Some(version)) = workload.version() {
                    tools.application_version_set(&version)?;
                }
            }
            if event == Event::Remove {
                // Nothing of this unit may outlive it on the machine (the passwords are in
                // the workload's files, which go with the snap).
                if let Err(e) = workload.clear_private_state() {
                    log::warn!(
                        "cannot remove the private state: {}",
                        crate::report::chain(&e)
                    );
                }
            }
            Ok(())
        }
    }
}

/// `secret-remove`: the owner drops the revision Juju says nobody reads any more (a
/// rotation leaves one per password change). Best effort: leadership may have moved.
fn remove_obsolete_revision(env: &HookEnv, tools: &dyn HookTools) {
    let id = env
        .secret_id
        .as_deref()
        .and_then(crate::hooktools::SecretId::parse);
    let revision = env.secret_revision.as_deref().and_then(|r| r.parse().ok());
    if let (Some(id), Some(revision)) = (id, revision) {
        match tools.secret_remove(&id, Some(revision)) {
            Ok(()) => log::info!("removed revision {revision} of {id}: nobody reads it"),
            Err(e) => log::warn!(
                "cannot remove revision {revision} of {id}: {}",
                crate::report::chain(&e)
            ),
        }
    }
}

/// `data-storage-attached` (before `install` on a new unit): the storage Juju mounted,
/// root-owned, at the server's data location becomes the server user's, mode 0750. Nothing
/// else runs: the workload is not installed yet, and `install` follows.
fn storage_attached(env: &HookEnv, workload: &dyn Workload) {
    let expected = workload
        .paths()
        .data_dir
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    if let Some(location) = &env.storage_location {
        if std::path::Path::new(location) != expected {
            log::warn!(
                "the data storage is at {location}, not at {} where ZooKeeper keeps its data",
                expected.display()
            );
        }
    }
    match workload.prepare_data_dirs() {
        Ok(()) => log::info!(
            "data storage at {} prepared for ZooKeeper",
            expected.display()
        ),
        // Every start prepares it again; the status follows from the next hooks.
        Err(e) => log::warn!(
            "cannot prepare the data storage yet: {}",
            crate::report::chain(&e)
        ),
    }
}

/// What a hook's reconcile ended with.
struct Reconciled {
    status: Status,
    /// The workload was installed or upgraded: its version may have changed.
    workload_changed: bool,
}

/// The reconcile loop. Returns the unit status to set.
///
/// # Errors
/// See [`run`].
pub fn reconcile(
    env: &HookEnv,
    facts: &EventFacts,
    tools: &dyn HookTools,
    workload: &dyn Workload,
    ensemble: &dyn Ensemble,
) -> Result<Status, CharmError> {
    reconcile_hook(env, facts, tools, workload, ensemble).map(|r| r.status)
}

fn reconcile_hook(
    env: &HookEnv,
    facts: &EventFacts,
    tools: &dyn HookTools,
    workload: &dyn Workload,
    ensemble: &dyn Ensemble,
) -> Result<Reconciled, CharmError> {
    let mut workload_changed = false;
    let mut statuses = StatusCollector::new();
    // The internal passwords are read only once a round needs them; later rounds of the
    // hook have them from the hook tools' cache.
    let mut with_credentials = false;
    for _ in 0..MAX_ROUNDS {
        let mut snapshot = observe(env, facts, tools, workload, ensemble)?;
        if with_credentials {
            crate::observe::load_credentials(tools, &mut snapshot)?;
        }
        let mut plan = decide(&snapshot, workload.paths());
        if plan.need_credentials && snapshot.credentials.is_none() {
            with_credentials = true;
            crate::observe::load_credentials(tools, &mut snapshot)?;
            plan = decide(&snapshot, workload.paths());
        }
        statuses = StatusCollector::new();
        for s in &plan.statuses {
            statuses.add(s.clone());
        }
        if plan.is_idle() {
            break;
        }
        log::info!("{}", plan.summary(&snapshot));
        if plan.workload.contains(&WorkloadOp::Restart) {
            // A restart takes seconds: show it while it happens (status-set is immediate).
            set_status(tools, workload, &statuses.resolve())?;
        }
        let changes = plan
            .workload
            .iter()
            .any(|op| matches!(op, WorkloadOp::Install | WorkloadOp::Upgrade { .. }));
        match execute(&snapshot, &plan, tools, workload, ensemble)? {
            RoundEnd::Done => workload_changed |= changes,
            RoundEnd::Stop(status) => {
                statuses.add(status);
                break;
            }
        }
    }
    Ok(Reconciled {
        status: statuses.resolve(),
        workload_changed,
    })
}

/// Runs one action: parse its parameters, observe what it needs, run it, carry out its
/// writes, and set its results (or fail it).
fn run_action(
    action: Action,
    env: &HookEnv,
    facts: &EventFacts,
    tools: &dyn HookTools,
    workload: &dyn Workload,
    ensemble: &dyn Ensemble,
) -> Result<(), CharmError> {
    let params = if ActionCmd::takes_params(action) {
        tools.action_get()?
    } else {
        serde_json::Map::new()
    };
    let cmd = match ActionCmd::parse(action, params) {
        Ok(cmd) => cmd,
        Err(e) => {
            tools.action_fail(&crate::report::chain(&e))?;
            return Ok(());
        }
    };
    // The password readers need only the cluster app bag and the secret: no snapshot.
    if let ActionCmd::GetPassword(user) = cmd {
        let creds = match crate::observe::cluster_app(env, tools)? {
            Some(app) => crate::observe::credentials(tools, &app)?,
            None => None,
        };
        let creds = creds.as_ref().map(|c| c.as_ref().map_err(String::as_str));
        return finish_action(actions::get_password::run(user, creds), tools);
    }
    let mut snapshot = observe(env, facts, tools, workload, ensemble)?;
    if matches!(cmd, ActionCmd::SetPassword(_)) {
        crate::observe::load_credentials(tools, &mut snapshot)?;
    }
    let outcome = cmd
        .run(&snapshot)
        .map_err(|e| CharmError::Execute(e.into()))?;
    if outcome.result.is_ok() && !outcome.plan.is_idle() {
        if let RoundEnd::Stop(status) =
            execute(&snapshot, &outcome.plan, tools, workload, ensemble)?
        {
            tools.action_fail(&status.message)?;
            return Ok(());
        }
    }
    // The results go last: if anything before fails, the hook fails, Juju discards its
    // writes, and no result (a password that never took effect) was shown.
    if outcome.then_reconcile && outcome.result.is_ok() {
        let status = reconcile(env, facts, tools, workload, ensemble)?;
        set_status(tools, workload, &status)?;
    }
    finish_action(outcome, tools)
}

/// Sets the action's results, or fails it.
fn finish_action(outcome: ActionOutcome, tools: &dyn HookTools) -> Result<(), CharmError> {
    match outcome.result {
        Ok(results) => tools.action_set(&results)?,
        Err(message) => tools.action_fail(&message)?,
    }
    Ok(())
}

/// Sets the unit status, skipping the `status-set` call when the status is the one this
/// unit set last (a steady hook then changes nothing in Juju).
///
/// # Errors
/// When `status-set` fails.
pub fn set_status(
    tools: &dyn HookTools,
    workload: &dyn Workload,
    status: &Status,
) -> Result<(), ToolError> {
    if local_state::is_last_status(workload, status) {
        return Ok(());
    }
    tools.status_set(status, false)?;
    local_state::record_status(workload, status);
    Ok(())
}
