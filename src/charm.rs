//! One hook or action, end to end: snapshot -> decide -> execute, repeated until the plan
//! is idle, then one status computed from the whole picture.
//!
//! [`run`] takes its four boundaries as traits: Juju ([`HookTools`]), the workload
//! ([`Workload`]), the ZooKeeper ensemble ([`Ensemble`]) and the hook's environment
//! ([`HookEnv`]), so a whole hook can run in-process against in-memory ones.

use crate::actions::{self, ActionCmd, ActionOutcome};
use crate::cos::charm_log::{self, Outcome, UnitFacts};
use crate::decide::decide;
use crate::dispatch::{Action, Event, EventFacts, StorageHook};
use crate::env::HookEnv;
use crate::execute::{execute, ExecError, RoundEnd};
use crate::hooktools::{HookTools, ToolError};
use crate::local_state;
use crate::observe::{observe, ObserveError};
use crate::peers::restart::Grant;
use crate::plan::WorkloadOp;
use crate::snapshot::Snapshot;
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
/// ensemble, then appends its account to the charm's log ([`crate::cos::charm_log`]).
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
    let began = std::time::Instant::now();
    let event = Event::from_env(env);
    let facts = EventFacts::now(&event, env);
    let mut account = Account::default();
    let result = run_event(&event, &facts, env, tools, workload, ensemble, &mut account);
    if result.is_err() {
        // Juju discards the failed hook's `open-port`/`close-port`: ask again next time.
        local_state::forget_opened_ports(workload);
    }
    if !matches!(event, Event::UnknownHook(_) | Event::UnknownAction(_)) {
        record(env, &event, &result, account, began.elapsed(), workload);
    }
    result
}

/// What a hook or action tells the charm's log besides how it ended.
#[derive(Default)]
struct Account {
    /// The status it ended with.
    status: Option<Status>,
    /// What the last snapshot said about this unit.
    facts: Option<UnitFacts>,
    /// The message of `action-fail`.
    action_failure: Option<String>,
}

/// Appends the hook's line to the charm's log, best effort: the hook's outcome stands
/// whatever happens here.
fn record(
    env: &HookEnv,
    event: &Event,
    result: &Result<(), CharmError>,
    account: Account,
    duration: std::time::Duration,
    workload: &dyn Workload,
) {
    let outcome = match (result, account.action_failure) {
        (Err(e), _) => Outcome::Failed(crate::report::chain(e)),
        (Ok(()), Some(message)) => Outcome::ActionFailed(message),
        (Ok(()), None) => Outcome::Ok,
    };
    let name = match event {
        Event::Action(a) => a.name().to_string(),
        other => other.to_string(),
    };
    let line = charm_log::Record {
        time: std::time::SystemTime::now(),
        unit: env.unit_name.clone(),
        action: event.is_action(),
        name,
        outcome,
        duration,
        status: account.status,
        facts: account.facts,
    }
    .line();
    let path = workload.paths().charm_log();
    if let Err(e) = workload.append_line(&path, &line, charm_log::ROTATE_AT) {
        log::warn!(
            "cannot append to {}: {}",
            path.display(),
            crate::report::chain(&e)
        );
    }
}

/// What `s` says about this unit, for the charm's log.
fn unit_facts(s: &Snapshot) -> UnitFacts {
    let zk_role = match (&s.workload.health, s.workload.running) {
        (_, false) => "stopped".to_string(),
        (Some(h), true) if h.serving => h.state.clone().unwrap_or_else(|| "serving".into()),
        (_, true) => "not-serving".to_string(),
    };
    UnitFacts {
        juju_leader: s.leader,
        zk_role,
        upgrade: s
            .upgrade
            .as_ref()
            .and_then(|u| u.unit(s.unit_id))
            .and_then(|u| u.state.known()),
        upgrade_running: s.upgrade_in_progress(),
        restart_lock: s.restart.as_ref().and_then(|r| {
            r.app
                .grants
                .iter()
                .find(|(_, g)| **g == Grant::Granted)
                .map(|(id, _)| s.unit_name_of(*id))
        }),
    }
}

fn run_event(
    event: &Event,
    facts: &EventFacts,
    env: &HookEnv,
    tools: &dyn HookTools,
    workload: &dyn Workload,
    ensemble: &dyn Ensemble,
    account: &mut Account,
) -> Result<(), CharmError> {
    match event {
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
        Event::Action(action) => {
            run_action(*action, env, facts, tools, workload, ensemble, account)
        }
        Event::Storage {
            kind: StorageHook::Attached,
            ..
        } => {
            storage_attached(env, workload);
            Ok(())
        }
        _ => {
            if *event == Event::SecretRemove {
                remove_obsolete_revision(env, tools);
            }
            if *event == Event::Install {
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
            let done = reconcile_hook(env, facts, tools, workload, ensemble)?;
            account.facts = done.facts;
            set_status(tools, workload, &done.status)?;
            account.status = Some(done.status);
            if done.workload_changed {
                if let Ok(Some(version)) = workload.version() {
                    tools.application_version_set(&version)?;
                }
            }
            if *event == Event::Remove {
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
    /// What the last snapshot said about this unit.
    facts: Option<UnitFacts>,
}

/// The reconcile loop: the unit status to set, and what the last snapshot said.
///
/// # Errors
/// See [`run`].
fn reconcile_hook(
    env: &HookEnv,
    facts: &EventFacts,
    tools: &dyn HookTools,
    workload: &dyn Workload,
    ensemble: &dyn Ensemble,
) -> Result<Reconciled, CharmError> {
    let mut workload_changed = false;
    let mut statuses = StatusCollector::new();
    // The internal passwords (and the client relations' secrets) are read only once a round
    // needs them; later rounds of the hook have them from the hook tools' cache.
    let mut with_credentials = false;
    let mut with_client_secrets = false;
    let mut warnings = Vec::new();
    let mut last_facts = None;
    let mut purged = false;
    for _ in 0..MAX_ROUNDS {
        let mut snapshot = observe(env, facts, tools, workload, ensemble)?;
        snapshot.purged = purged;
        last_facts = Some(unit_facts(&snapshot));
        if with_credentials {
            crate::observe::load_credentials(tools, &mut snapshot)?;
        }
        if with_client_secrets {
            crate::client::observe::load_secrets(tools, &mut snapshot.clients)?;
        }
        let mut plan = decide(&snapshot, workload.paths());
        for _ in 0..2 {
            let mut again = false;
            if plan.need_credentials && snapshot.credentials.is_none() {
                with_credentials = true;
                crate::observe::load_credentials(tools, &mut snapshot)?;
                again = true;
            }
            if plan.client.need_secrets && snapshot.clients.secrets.is_none() {
                with_client_secrets = true;
                crate::client::observe::load_secrets(tools, &mut snapshot.clients)?;
                again = true;
            }
            if !again {
                break;
            }
            plan = decide(&snapshot, workload.paths());
        }
        warnings = plan.client.warnings.clone();
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
        purged |= plan
            .workload
            .iter()
            .any(|op| matches!(op, WorkloadOp::Purge { .. }));
        match execute(&snapshot, &plan, tools, workload, ensemble)? {
            RoundEnd::Done => workload_changed |= changes,
            RoundEnd::Stop(status) => {
                statuses.add(status);
                break;
            }
        }
    }
    // Once per hook, from its last round.
    for w in warnings {
        log::warn!("{w}");
    }
    Ok(Reconciled {
        status: statuses.resolve(),
        workload_changed,
        facts: last_facts,
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
    account: &mut Account,
) -> Result<(), CharmError> {
    let params = if ActionCmd::takes_params(action) {
        tools.action_get()?
    } else {
        serde_json::Map::new()
    };
    let cmd = match ActionCmd::parse(action, params) {
        Ok(cmd) => cmd,
        Err(e) => {
            let message = crate::report::chain(&e);
            tools.action_fail(&message)?;
            account.action_failure = Some(message);
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
        return finish_action(actions::get_password::run(user, creds), tools, account);
    }
    let mut snapshot = observe(env, facts, tools, workload, ensemble)?;
    account.facts = Some(unit_facts(&snapshot));
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
            account.action_failure = Some(status.message);
            return Ok(());
        }
    }
    // The results go last: if anything before fails, the hook fails, Juju discards its
    // writes, and no result (a password that never took effect) was shown.
    if outcome.then_reconcile && outcome.result.is_ok() {
        let done = reconcile_hook(env, facts, tools, workload, ensemble)?;
        set_status(tools, workload, &done.status)?;
        account.status = Some(done.status);
        account.facts = done.facts;
    }
    finish_action(outcome, tools, account)
}

/// Sets the action's results, or fails it.
fn finish_action(
    outcome: ActionOutcome,
    tools: &dyn HookTools,
    account: &mut Account,
) -> Result<(), CharmError> {
    match outcome.result {
        Ok(results) => tools.action_set(&results)?,
        Err(message) => {
            tools.action_fail(&message)?;
            account.action_failure = Some(message);
        }
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
