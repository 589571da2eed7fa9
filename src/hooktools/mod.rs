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
//!   tool's stderr;
//! - secret content never goes on a command line: it travels in `key#file=` files created
//!   mode 0600 in a private directory and removed after the call, and no error or `Debug`
//!   output shows a value.

pub mod fake;
pub mod process;

use std::collections::{BTreeMap, BTreeSet};

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

    /// True when a `secret-*` tool reported that the secret (or the label, or the key) does
    /// not exist, as ops reads it: exit code 1 and `not found` on stderr.
    pub fn is_secret_not_found(&self) -> bool {
        matches!(self, ToolError::Failed { code: 1, stderr, .. } if stderr.contains("not found"))
    }
}

/// A secret's content: keys (`^[a-z](-?[a-z0-9]){2,}$`) to values. Its `Debug` output
/// shows the keys only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretContent(pub BTreeMap<String, String>);

impl std::fmt::Debug for SecretContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl SecretContent {
    /// Content from pairs.
    pub fn from_pairs<I, K, V>(pairs: I) -> SecretContent
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        SecretContent(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// Juju's rule for secret content keys: `^[a-z](-?[a-z0-9]){2,}$`.
pub fn valid_secret_key(key: &str) -> bool {
    let b = key.as_bytes();
    if b.is_empty() || !b[0].is_ascii_lowercase() {
        return false;
    }
    let (mut i, mut groups) = (1, 0);
    while i < b.len() {
        if b[i] == b'-' {
            i += 1;
        }
        match b.get(i) {
            Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() => {
                groups += 1;
                i += 1;
            }
            _ => return false,
        }
    }
    groups >= 2
}

/// A secret's id as `secret-add` prints it (`secret://<model-uuid>/<id>`, or `secret:<id>`),
/// kept verbatim: Juju takes any of its forms back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretId(String);

impl SecretId {
    /// A secret URI, if `text` is one: `secret:` followed by letters, digits, `/`, `-`, `.`,
    /// or a bare 20-character xid (`secret-ids` and `secret-info-get` print those).
    pub fn parse(text: &str) -> Option<SecretId> {
        let text = text.trim();
        let rest = text.strip_prefix("secret:").unwrap_or(text);
        let ok = !rest.is_empty()
            && rest.len() <= 200
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-._".contains(&b));
        let bare_xid = text == rest && rest.len() == 20;
        (ok && (text != rest || bare_xid)).then(|| SecretId(text.to_string()))
    }

    /// The 20-character id at its end (`secret-ids` and `secret-info-get` name secrets by it).
    pub fn short(&self) -> &str {
        let s = self.0.strip_prefix("secret:").unwrap_or(&self.0);
        s.rsplit('/').next().unwrap_or(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SecretId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which secret a tool reads: by id, by label (the owner's label, or a consumer's own), or by
/// id while pinning the consumer's label on it (`secret-get <id> --label L`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    Id(SecretId),
    Label(String),
    IdWithLabel(SecretId, String),
}

/// Which revision a consumer reads (owners always read the latest and pass `Tracked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretRead {
    /// The tracked revision (the latest, for owners).
    Tracked,
    /// `--refresh`: track the latest revision and read it.
    Refresh,
    /// `--peek`: read the latest revision without tracking it.
    Peek,
}

/// Who owns a new secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretOwner {
    /// The application (only its leader manages it; all its units read it).
    Application,
    /// This unit.
    Unit,
}

impl SecretOwner {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretOwner::Application => "application",
            SecretOwner::Unit => "unit",
        }
    }
}

/// What `secret-info-get` says of a secret the unit manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    /// The bare id (the key of the tool's map).
    pub id: String,
    pub revision: u32,
    pub label: Option<String>,
    /// `application` or `unit`.
    pub owner: String,
    /// `never`, `hourly`, ...
    pub rotation: Option<String>,
    pub description: Option<String>,
    pub expiry: Option<String>,
    /// Grants: (target tag, scope tag).
    pub access: Vec<(String, String)>,
}

/// Who a `secret-grant`/`secret-revoke` is for: the remote application of a relation, or one
/// of its units.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretGrantee {
    /// `zookeeper:7`.
    pub relation_id: String,
    /// A unit of the remote application (`kafka/0`); `None` is the whole application.
    pub unit: Option<String>,
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
    /// `relation-list --format=json -r <id> --app`: the remote application's name.
    fn relation_app(&self, relation_id: &str) -> Result<String, ToolError>;
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
    /// `network-get --format=json -r <id> <binding>`: the binding as relation `<id>` sees it.
    fn network_get_relation(
        &self,
        binding: &str,
        relation_id: &str,
    ) -> Result<NetworkInfo, ToolError>;
    /// `unit-get private-address` (deprecated, kept as a fallback).
    fn unit_get(&self, key: &str) -> Result<String, ToolError>;
    /// `open-port <port>/<protocol>` (committed at the hook's end, as every write).
    fn open_port(&self, port: u16, protocol: &str) -> Result<(), ToolError>;
    /// `close-port <port>/<protocol>` (committed at the hook's end).
    fn close_port(&self, port: u16, protocol: &str) -> Result<(), ToolError>;
    /// `opened-ports --format=json`: the unit's opened ports (`2181/tcp`, `1000-2000/udp`,
    /// `icmp`). Whether this hook's own `open-port`s show differs between Juju versions:
    /// ask before opening.
    fn opened_ports(&self) -> Result<BTreeSet<String>, ToolError>;
    /// `goal-state --format=json`: the units Juju plans for this application, by name, with
    /// their goal status (`active`, `waiting`, `dying`, ...).
    fn goal_state_units(&self) -> Result<BTreeMap<String, String>, ToolError>;

    /// `secret-add [--label L] [--description D] --owner <owner> key#file=<f> ...`: a new
    /// secret; returns its id. Application secrets need the leader.
    fn secret_add(
        &self,
        content: &SecretContent,
        label: Option<&str>,
        description: Option<&str>,
        owner: SecretOwner,
    ) -> Result<SecretId, ToolError>;
    /// `secret-get --format=json <id>|--label L [--refresh|--peek]`: the content. Owners read
    /// the latest revision (and must pass [`SecretRead::Tracked`]); consumers their tracked
    /// one. A plain read is cached for the hook, and sees this hook's `secret-set`/`-add`.
    fn secret_get(&self, secret: &SecretRef, read: SecretRead) -> Result<SecretContent, ToolError>;
    /// `secret-set <id> key#file=<f> ...`: the whole new content (one new revision when it
    /// differs). `label` also (re)sets the owner label.
    fn secret_set(
        &self,
        id: &SecretId,
        content: &SecretContent,
        label: Option<&str>,
    ) -> Result<(), ToolError>;
    /// `secret-grant --relation <id> [--unit U] <id>`.
    fn secret_grant(&self, id: &SecretId, to: &SecretGrantee) -> Result<(), ToolError>;
    /// `secret-revoke --relation <id> [--unit U] <id>`.
    fn secret_revoke(&self, id: &SecretId, from: &SecretGrantee) -> Result<(), ToolError>;
    /// `secret-remove <id> [--revision N]`: every revision, or one.
    fn secret_remove(&self, id: &SecretId, revision: Option<u32>) -> Result<(), ToolError>;
    /// `secret-ids --format=json`: the bare ids of the secrets this unit manages.
    fn secret_ids(&self) -> Result<Vec<String>, ToolError>;
    /// `secret-info-get --format=json <id>|--label L`: a managed secret's metadata.
    fn secret_info_get(&self, secret: &SecretRef) -> Result<SecretInfo, ToolError>;
}

/// Parses `secret-info-get --format=json` output: `{"<id>": {"revision": 2, ...}}`.
pub fn parse_secret_info(value: &serde_json::Value) -> Option<SecretInfo> {
    let (id, v) = value.as_object()?.iter().next()?;
    let text = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let access = v
        .get("access")
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|g| {
                    Some((
                        g.get("target")?.as_str()?.to_string(),
                        g.get("scope")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(SecretInfo {
        id: id.clone(),
        revision: u32::try_from(v.get("revision")?.as_u64()?).ok()?,
        label: text("label"),
        owner: text("owner")?,
        rotation: text("rotation"),
        description: text("description"),
        expiry: text("expiry"),
        access,
    })
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
