//! What the model reports: hook and action runs, unit statuses, action results.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// How one hook or action run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunOutcome {
    /// Exited 0 and its buffered writes were committed.
    Ok,
    /// No handler in the charm (a missing hook counts as success), or a `leader-elected`
    /// whose unit lost leadership before it ran.
    Skipped,
    /// Exited non-zero (or could not start); buffered writes discarded.
    Failed,
    /// Killed because `settle` gave up while it ran (its bound passed), as an agent
    /// shutdown kills a hook: buffered writes discarded, the hook goes back to the front of
    /// its unit's queue (a retry stays due). Juju never kills a hook otherwise, and neither
    /// does the model.
    Interrupted,
    /// Exited 0 but the commit was refused (leadership lost); writes discarded.
    CommitFailed,
}

impl RunOutcome {
    /// Ok or skipped: the run counts as a success.
    pub fn succeeded(self) -> bool {
        matches!(self, RunOutcome::Ok | RunOutcome::Skipped)
    }
}

/// One line of the hook log (`<model>/hooks.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookRecord {
    pub seq: u64,
    pub unit: String,
    /// The hook name (`cluster-relation-changed`) or, for actions, the action name.
    pub hook: String,
    /// `hook` or `action`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departing_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<u64>,
    pub context_id: String,
    /// 1 for the first run; 2, 3, ... for retries of a failed hook.
    pub attempt: u32,
    pub outcome: RunOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub duration_ms: u64,
    /// The `JUJU_*` variables the process got.
    pub env: BTreeMap<String, String>,
}

impl HookRecord {
    /// True when the run counts as a success (ok or skipped).
    pub fn succeeded(&self) -> bool {
        self.outcome.succeeded()
    }
}

impl fmt::Display for HookRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.unit, self.hook)?;
        if let Some(r) = &self.remote_unit {
            write!(f, " ({r})")?;
        }
        if self.attempt > 1 {
            write!(f, " [retry {}]", self.attempt - 1)?;
        }
        let outcome = match self.outcome {
            RunOutcome::Ok => "ok",
            RunOutcome::Skipped => "skipped",
            RunOutcome::Failed => "FAILED",
            RunOutcome::Interrupted => "INTERRUPTED",
            RunOutcome::CommitFailed => "COMMIT FAILED",
        };
        write!(f, ": {outcome}")?;
        if let Some(r) = &self.reason {
            write!(f, " ({r})")?;
        }
        write!(f, " in {:.2}s", self.duration_ms as f64 / 1000.0)
    }
}

/// A unit as `juju status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitStatus {
    pub unit: String,
    /// Its application.
    pub app: String,
    /// Its machine (a subordinate shares its principal's).
    pub machine: u32,
    /// A subordinate's principal unit.
    pub principal: Option<String>,
    /// Opened ports (`2181/tcp`).
    pub ports: Vec<String>,
    /// Workload status (`active`, `waiting`, ..., or `error` while a hook failed).
    pub workload: String,
    pub message: String,
    /// When the workload status was last set (seconds since the epoch).
    pub since: u64,
    /// Agent status: `idle`, `executing` or `error`.
    pub agent: String,
    pub leader: bool,
    pub address: String,
    /// `alive` or `dying`.
    pub life: String,
    /// `hook failed: "<name>"` while the unit is in error.
    pub error: Option<String>,
    /// Hooks still queued on the unit.
    pub queued: usize,
    /// ZooKeeper's `Mode:` from `srvr` (only filled by [`Model::status_with_roles`](super::Model::status_with_roles)).
    pub role: Option<String>,
}

/// The result of an action, as `juju run` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionResult {
    pub id: u64,
    pub unit: String,
    pub action: String,
    /// `completed` or `failed`.
    pub status: String,
    pub message: String,
    /// `action-set` values (dotted keys nested), without Juju's own keys.
    pub results: serde_json::Map<String, Value>,
    pub return_code: i32,
    pub stdout: String,
    pub stderr: String,
    pub logs: Vec<String>,
}

impl ActionResult {
    pub fn completed(&self) -> bool {
        self.status == "completed"
    }

    /// A result by dotted key (`a.b`), if it is a string.
    pub fn get(&self, key: &str) -> Option<&str> {
        let mut parts = key.split('.');
        let mut cur = self.results.get(parts.next()?)?;
        for p in parts {
            cur = cur.get(p)?;
        }
        cur.as_str()
    }

    /// The results map as `juju run` prints it: the charm's keys plus `return-code`, and
    /// `stdout`/`stderr` when not empty.
    pub fn juju_results(&self) -> serde_json::Map<String, Value> {
        let mut m = self.results.clone();
        m.insert("return-code".into(), json!(self.return_code));
        if !self.stdout.is_empty() {
            m.insert("stdout".into(), json!(self.stdout));
        }
        if !self.stderr.is_empty() {
            m.insert("stderr".into(), json!(self.stderr));
        }
        m
    }
}
