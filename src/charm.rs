//! One hook or action, end to end: snapshot -> decide -> execute, repeated until the plan
//! is idle, then one status computed from the whole picture.

use std::collections::BTreeMap;

use crate::decide::decide;
use crate::dispatch::{Action, Event};
use crate::env::HookEnv;
use crate::execute::{execute, ExecError, Outcome};
use crate::hooktools::{Bag, HookTools, ToolError};
use crate::observe::{event_facts, observe, ObserveError};
use crate::snapshot::{
    SyncRotation, SUPER_PASSWORD_KEY, SYNC_PASSWORD_KEY, SYNC_PASSWORD_NEW_KEY, SYNC_ROTATION_KEY,
};
use crate::status::Status;
use crate::status::StatusCollector;
use crate::workload::{Workload, WorkloadError};

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

/// Runs the hook or action named by `env` against Juju (`tools`) and the workload.
///
/// # Errors
/// Only real faults (a hook tool or the workload failing in a way the charm cannot turn into
/// a status). The caller exits non-zero so that Juju retries the hook.
pub fn run(
    env: &HookEnv,
    tools: &dyn HookTools,
    workload: &dyn Workload,
) -> Result<(), CharmError> {
    let event = env.event();
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
        Event::Action(action) => run_action(*action, env, &event, tools, workload),
        _ => {
            if event == Event::UpgradeCharm {
                // New charm code runs now; its workload is rolled out unit by unit.
                crate::execute::write_state(
                    workload,
                    crate::upgrade_flow::PENDING_FILE,
                    "pending",
                )?;
            }
            let status = reconcile(env, &event, tools, workload)?;
            set_status(tools, workload, &status)?;
            if matches!(
                event,
                Event::Install | Event::Start | Event::UpgradeCharm | Event::ConfigChanged
            ) {
                // The workload version `juju status` shows; refreshed only where it can change.
                if let Ok(Some(version)) = workload.version() {
                    tools.application_version_set(&version)?;
                }
            }
            Ok(())
        }
    }
}

/// The reconcile loop. Returns the unit status to set.
///
/// # Errors
/// See [`run`].
pub fn reconcile(
    env: &HookEnv,
    event: &Event,
    tools: &dyn HookTools,
    workload: &dyn Workload,
) -> Result<Status, CharmError> {
    let facts = event_facts(env, event);
    let mut statuses = StatusCollector::new();
    for _ in 0..MAX_ROUNDS {
        let snapshot = observe(env, event, &facts, tools, workload)?;
        let plan = decide(&snapshot);
        statuses = StatusCollector::new();
        for s in &plan.statuses {
            statuses.add(s.clone());
        }
        if plan.is_idle() {
            break;
        }
        log::info!("{}", crate::decide::summary(&plan));
        if plan.workload.contains(&crate::decide::WorkloadOp::Restart) {
            // A restart takes seconds: show it while it happens (status-set is immediate).
            set_status(tools, workload, &statuses.resolve())?;
        }
        match execute(&snapshot, &plan, tools, workload)? {
            Outcome::Done => {}
            Outcome::Stop(status) => {
                statuses.add(status);
                break;
            }
        }
    }
    Ok(statuses.resolve())
}

/// The cluster relation id and its app bag.
type AppBag = (String, BTreeMap<String, String>);

fn cluster_app_bag(env: &HookEnv, tools: &dyn HookTools) -> Result<Option<AppBag>, ToolError> {
    let Some(id) = tools.relation_ids("cluster")?.into_iter().next() else {
        return Ok(None);
    };
    let bag = tools.relation_get(&id, &Bag::App(env.app_name().to_string()))?;
    Ok(Some((id, bag)))
}

fn run_action(
    action: Action,
    env: &HookEnv,
    event: &Event,
    tools: &dyn HookTools,
    workload: &dyn Workload,
) -> Result<(), CharmError> {
    match action {
        Action::GetSuperPassword | Action::GetSyncPassword => {
            let key = if action == Action::GetSuperPassword {
                SUPER_PASSWORD_KEY
            } else {
                SYNC_PASSWORD_KEY
            };
            let value = cluster_app_bag(env, tools)?
                .and_then(|(_, bag)| bag.get(key).cloned())
                .filter(|v| !v.is_empty());
            match value {
                Some(pw) => tools.action_set(&BTreeMap::from([(key.to_string(), pw)]))?,
                None => tools.action_fail(
                    "the password is not set yet: the leader generates it once the cluster peer relation exists",
                )?,
            }
            Ok(())
        }
        Action::SetPassword => set_password(env, event, tools, workload),
        Action::PreUpgradeCheck | Action::ResumeUpgrade => {
            crate::upgrade_flow::run_action(action, env, event, tools, workload)
        }
    }
}

fn set_password(
    env: &HookEnv,
    event: &Event,
    tools: &dyn HookTools,
    workload: &dyn Workload,
) -> Result<(), CharmError> {
    if !tools.is_leader()? {
        tools.action_fail("set-password must run on the leader unit: `juju run zookeeper/leader set-password ...`")?;
        return Ok(());
    }
    let params = tools.action_get()?;
    let username = params
        .get("username")
        .and_then(|v| v.as_str())
        .unwrap_or("super");
    let key = match username {
        "super" => SUPER_PASSWORD_KEY,
        "sync" => SYNC_PASSWORD_KEY,
        other => {
            tools.action_fail(&format!(
                "set-password changes only the charm's internal users `super` and `sync`, not {other:?}"
            ))?;
            return Ok(());
        }
    };
    let Some((rel, bag)) = cluster_app_bag(env, tools)? else {
        tools.action_fail(
            "the cluster peer relation does not exist yet; try again once the units are deployed",
        )?;
        return Ok(());
    };
    if let Some(stack) = upgrade_stack(env, tools)? {
        tools.action_fail(&format!(
            "cannot change a password while an upgrade is prepared or running (upgrade-stack {stack}); finish or roll back the upgrade first"
        ))?;
        return Ok(());
    }
    let new = match params
        .get("password")
        .and_then(|v| v.as_str())
        .filter(|p| !p.is_empty())
    {
        Some(p) if crate::passwords::acceptable(p) => p.to_string(),
        Some(_) => {
            tools.action_fail(
                "the password must be 1 to 256 printable ASCII characters without spaces or quotes",
            )?;
            return Ok(());
        }
        None => crate::passwords::generate().map_err(ExecError::Random)?,
    };
    let rotating = bag.get(SYNC_ROTATION_KEY).is_some_and(|v| !v.is_empty());
    if key == SYNC_PASSWORD_KEY && rotating {
        tools.action_fail(
            "a sync password rotation is already in progress; wait until every unit is active",
        )?;
        return Ok(());
    }
    if bag.get(key) == Some(&new) {
        log::info!("the new {username} password equals the current one: nothing to do");
    } else if key == SYNC_PASSWORD_KEY {
        // Servers authenticate each other with it: rotate in three rolling phases.
        let values = BTreeMap::from([
            (SYNC_PASSWORD_NEW_KEY.to_string(), new.clone()),
            (
                SYNC_ROTATION_KEY.to_string(),
                SyncRotation::Relax.as_str().to_string(),
            ),
        ]);
        tools.relation_set(&rel, true, &values)?;
        log::info!(
            "sync password rotation started: every unit restarts three times, one unit at a time"
        );
    } else {
        tools.relation_set(
            &rel,
            true,
            &BTreeMap::from([(key.to_string(), new.clone())]),
        )?;
        log::info!("the {username} password was changed; units restart one at a time");
    }
    tools.action_set(&BTreeMap::from([(key.to_string(), new)]))?;
    // Start the roll now (the leader may get no hook for its own app-bag write).
    let status = reconcile(env, event, tools, workload)?;
    set_status(tools, workload, &status)?;
    Ok(())
}

/// The upgrade stack, when an upgrade is prepared or running.
fn upgrade_stack(env: &HookEnv, tools: &dyn HookTools) -> Result<Option<String>, ToolError> {
    let Some(id) = tools.relation_ids("upgrade")?.into_iter().next() else {
        return Ok(None);
    };
    let bag = tools.relation_get(&id, &Bag::App(env.app_name().to_string()))?;
    Ok(bag
        .get("upgrade-stack")
        .filter(|s| {
            serde_json::from_str::<Vec<u32>>(s)
                .map(|v| !v.is_empty())
                .unwrap_or(false)
        })
        .cloned())
}

/// File in the charm's private state: the last status this unit set.
const STATUS_FILE: &str = "status";

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
    let path = workload.paths().charm_state_dir.join(STATUS_FILE);
    let text = format!("{}\n{}", status.kind, status.message);
    if workload.read_file(&path).ok().flatten().as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    tools.status_set(status, false)?;
    // Best effort: without the record the next hook just sets the status again.
    let _ = workload.write_file(&path, text.as_bytes(), 0o600);
    Ok(())
}
