//! The one boundary to Juju: the hook tools.
//!
//! Everything the charm learns from or tells Juju goes through [`HookTools`]. Two
//! implementations exist: [`process::ProcessHookTools`] runs the real hook-tool
//! subprocesses (`relation-get`, `status-set`, ...) found on `PATH`, and
//! [`fake::FakeHookTools`] keeps an in-memory model for unit tests and records every call.
//!
//! Guarantees of every implementation:
//! - reads are cached for the life of the value (one hook), and a write is visible to the
//!   reads that follow it in the same hook (read-your-writes), as Juju's hook context does;
//! - relation values are strings, and writing `""` deletes a key;
//! - a failing tool gives a [`ToolError`] carrying the command line (secrets elided) and the
//!   tool's stderr.

pub mod fake;
pub mod process;

use std::collections::BTreeMap;

use crate::status::Status;

/// A relation databag: string keys to string values.
pub type Databag = BTreeMap<String, String>;

/// Error from one hook-tool call.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The tool ran and exited non-zero.
    #[error("`{cmd}` failed with exit code {code}: {stderr}")]
    Failed {
        /// The command line, with secret values replaced by `<redacted>`.
        cmd: String,
        /// The exit code (-1 when killed by a signal).
        code: i32,
        /// The tool's stderr, trimmed.
        stderr: String,
    },
    /// The tool could not be started (not on PATH, ...).
    #[error("cannot run `{cmd}`")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    /// The tool ran past [`process::TOOL_TIMEOUT`] and was killed.
    #[error("`{cmd}` did not finish within {after:?} and was killed: {stderr}")]
    TimedOut {
        cmd: String,
        after: std::time::Duration,
        /// What it had written to stderr by then.
        stderr: String,
    },
    /// The tool's output was not what the contract says.
    #[error("unexpected output from `{cmd}`: {detail}")]
    Output { cmd: String, detail: String },
}

impl ToolError {
    /// True when Juju reported that the relation does not exist (any more).
    pub fn is_relation_not_found(&self) -> bool {
        matches!(self, ToolError::Failed { stderr, .. } if stderr.contains("relation not found"))
    }
}

/// Which databag of a relation to read or write.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bag {
    /// A unit's bag, by unit name (`zookeeper/2`).
    Unit(String),
    /// An application's bag, by application name (`zookeeper`).
    App(String),
}

/// What `network-get <binding>` says, reduced to what the charm uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkInfo {
    /// `bind-addresses[*].addresses[*].value`, in order.
    pub bind_addresses: Vec<String>,
    /// `ingress-addresses`, in order.
    pub ingress_addresses: Vec<String>,
}

/// The hook tools the charm uses. All methods take `&self`: implementations keep their
/// per-hook cache behind interior mutability.
///
/// Relation ids are Juju's full form, `cluster:3`.
pub trait HookTools {
    /// `is-leader --format=json`.
    fn is_leader(&self) -> Result<bool, ToolError>;
    /// `relation-ids <endpoint> --format=json`, e.g. `["cluster:0"]`.
    fn relation_ids(&self, endpoint: &str) -> Result<Vec<String>, ToolError>;
    /// `relation-list --format=json -r <id>`: remote unit names (as Juju sorts them: as text).
    fn relation_list(&self, relation_id: &str) -> Result<Vec<String>, ToolError>;
    /// `relation-get --format=json -r <id> [--app] - <unit-or-app>`.
    fn relation_get(&self, relation_id: &str, bag: &Bag) -> Result<Databag, ToolError>;
    /// `relation-set -r <id> [--app] --file -` with a JSON map on stdin; `""` deletes a key.
    /// Only the keys given change.
    fn relation_set(&self, relation_id: &str, app: bool, values: &Databag)
        -> Result<(), ToolError>;
    /// `config-get --format=json`: every option that is set or has a default.
    fn config_get(&self) -> Result<serde_json::Map<String, serde_json::Value>, ToolError>;
    /// `status-set [--application] <status> -- <message>`.
    fn status_set(&self, status: &Status, application: bool) -> Result<(), ToolError>;
    /// `action-get --format=json`.
    fn action_get(&self) -> Result<serde_json::Map<String, serde_json::Value>, ToolError>;
    /// `action-set k=v ...` (keys may be dotted).
    fn action_set(&self, results: &BTreeMap<String, String>) -> Result<(), ToolError>;
    /// `action-fail -- <message>`.
    fn action_fail(&self, message: &str) -> Result<(), ToolError>;
    /// `application-version-set -- <version>`.
    fn application_version_set(&self, version: &str) -> Result<(), ToolError>;
    /// `network-get --format=json <binding>`.
    fn network_get(&self, binding: &str) -> Result<NetworkInfo, ToolError>;
    /// `unit-get private-address` (deprecated, kept as a fallback).
    fn unit_get(&self, key: &str) -> Result<String, ToolError>;
    /// `open-port <port>/<protocol>`.
    fn open_port(&self, port: u16, protocol: &str) -> Result<(), ToolError>;
    /// `goal-state --format=json`: the units Juju plans for this application, by name, with
    /// their goal status (`active`, `waiting`, `dying`, ...).
    fn goal_state_units(&self) -> Result<BTreeMap<String, String>, ToolError>;
}

/// The `units` of `goal-state --format=json` output: unit name to status.
pub fn parse_goal_state_units(value: &serde_json::Value) -> BTreeMap<String, String> {
    value
        .get("units")
        .and_then(serde_json::Value::as_object)
        .map(|units| {
            units
                .iter()
                .map(|(name, v)| {
                    let status = v
                        .get("status")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("");
                    (name.clone(), status.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod goal_state_tests {
    use super::*;

    #[test]
    fn goal_state_units_are_read_with_their_status() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"units":{"zookeeper/0":{"status":"active","since":"x"},"zookeeper/3":{"status":"dying"}},"relations":{}}"#,
        )
        .unwrap();
        let units = parse_goal_state_units(&v);
        assert_eq!(units.get("zookeeper/0").map(String::as_str), Some("active"));
        assert_eq!(units.get("zookeeper/3").map(String::as_str), Some("dying"));
        assert_eq!(units.len(), 2);
        assert!(parse_goal_state_units(&serde_json::json!({})).is_empty());
    }
}
