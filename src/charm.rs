//! One hook or action, end to end: snapshot -> decide -> execute -> status.

use crate::dispatch::Event;
use crate::env::HookEnv;
use crate::hooktools::{HookTools, LogLevel, ToolError};
use crate::status::StatusCollector;
use crate::workload::{Workload, WorkloadError};

/// A fault that fails the hook (non-zero exit). Recoverable conditions are statuses, not
/// errors.
#[derive(Debug, thiserror::Error)]
pub enum CharmError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
}

/// Runs the hook or action named by `env` against Juju (`tools`) and the workload.
///
/// # Errors
/// Only real faults (a hook tool or the workload failing in a way the charm cannot turn into
/// a status). The caller exits non-zero so that Juju retries the hook.
pub fn run(env: &HookEnv, tools: &dyn HookTools, _workload: &dyn Workload) -> Result<(), CharmError> {
    let event = env.event();
    match &event {
        Event::UnknownHook(name) => {
            tools.juju_log(LogLevel::Warning, &format!("ignoring unknown hook {name:?}"))?;
            return Ok(());
        }
        Event::UnknownAction(name) => {
            tools.action_fail(&format!("unknown action {name:?}: this charm has no such action"))?;
            return Ok(());
        }
        _ => {}
    }
    let statuses = StatusCollector::new();
    if !event.is_action() {
        tools.status_set(&statuses.resolve(), false)?;
    }
    Ok(())
}
