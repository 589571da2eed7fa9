//! The charm's private state on the unit: small files under the workload's
//! `charm_state_dir` (mode 0600, written atomically by the workload). This module is the
//! only one that knows their names and formats; they stay as earlier revisions wrote them,
//! so that a refreshed charm reads what the old one left.
//!
//! - `status`: the status this unit set last (`<kind>\n<message>`), so that a hook that
//!   ends with the same status skips `status-set`;
//! - `started-with`: the fingerprint of the files the running server was (re)started with;
//! - `peer-relation-ids`: the peer relations' ids (a JSON map), which never change once
//!   Juju created them, so steady hooks need not ask `relation-ids`;
//! - `upgrade-pending`: this unit runs refreshed charm code whose workload is not rolled
//!   out yet (`pending`; an empty file is no marker);
//! - `upgrade-failure`: why this unit's upgrade failed;
//! - `tls-private-key`: this unit's TLS private key (PKCS#8 PEM; generated, or given with
//!   `set-tls-private-key`), kept here rather than in a Juju secret: only root reads it, it
//!   goes with the unit, and no hook tool call carries it;
//! - `started-tls`: how the running server was (re)started with TLS: its quorum mode
//!   (`plaintext`, `unified`, `unified-ssl`, `ssl-only`) and `client-tls` when it serves
//!   2182 (absent: started before TLS existed here, so plaintext);
//! - `certificates-relation`: the `certificates` relation's id and provider application
//!   (JSON; absent or `{}`: no relation), learnt again only in the hooks that can change it;
//! - `client-relations`: the live `zookeeper` relations, by id, with their remote
//!   application (a JSON map), learnt in the hooks that can change them, so steady hooks
//!   need not ask `relation-ids`;
//! - `opened-ports`: the TCP ports the charm last had opened (a JSON list), so that steady
//!   hooks need not ask `opened-ports`; forgotten when a hook fails (Juju then discards
//!   the hook's `open-port`/`close-port`).
//! - `planned-units`: the unit ids Juju planned (goal-state) when the leader last asked (a
//!   JSON list), so that the leader asks again only while some of them have not shown up in
//!   the `cluster` relation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::status::Status;
use crate::tls::{KeyError, PrivateKey, QuorumTls, Running};
use crate::workload::{Workload, WorkloadError};

const STATUS: &str = "status";
const STARTED_WITH: &str = "started-with";
const PEER_IDS: &str = "peer-relation-ids";
const UPGRADE_PENDING: &str = "upgrade-pending";
const UPGRADE_FAILURE: &str = "upgrade-failure";
const CLIENT_RELATIONS: &str = "client-relations";
const OPENED_PORTS: &str = "opened-ports";
const PLANNED_UNITS: &str = "planned-units";
const PENDING: &str = "pending";
const TLS_KEY: &str = "tls-private-key";
const STARTED_TLS: &str = "started-tls";
const CERTIFICATES: &str = "certificates-relation";
const CLIENT_TLS: &str = "client-tls";

/// The `certificates` relation as a hook last learnt it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertificatesRecord {
    /// `certificates:5`.
    pub id: String,
    /// The provider application, once one of its units joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// What the state files say, read once per round by `observe`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalState {
    /// Fingerprint of the rendered files the running server was (re)started with.
    pub started_with: Option<String>,
    /// Peer relation ids by endpoint (`cluster` -> `cluster:0`).
    pub peer_ids: BTreeMap<String, String>,
    /// Refreshed charm code runs here; the workload is not rolled out yet.
    pub upgrade_pending: bool,
    /// Why this unit's upgrade failed, if it did.
    pub upgrade_failure: Option<String>,
    /// How the running server was started with TLS (`None`: no record).
    pub started_tls: Option<Running>,
    /// The `certificates` relation (`None`: none, or never learnt).
    pub certificates: Option<CertificatesRecord>,
    /// The live `zookeeper` relations (id -> remote application) as last learnt; `None`
    /// when never learnt (or unreadable).
    pub client_relations: Option<BTreeMap<u32, String>>,
    /// The TCP ports the charm last had opened; `None` when not known.
    pub opened_ports: Option<BTreeSet<u16>>,
    /// The unit ids Juju planned when the leader last read goal-state; empty when never.
    pub planned_units: BTreeSet<u32>,
}

impl LocalState {
    /// Whether the units Juju planned, as last read, include one that is not in `members`.
    pub fn planned_unseen(&self, members: &BTreeSet<u32>) -> bool {
        !self.planned_units.is_subset(members)
    }
}

fn path(workload: &dyn Workload, name: &str) -> PathBuf {
    workload.paths().charm_state_dir.join(name)
}

/// A one-line value; an empty file is no value.
fn read_value(workload: &dyn Workload, name: &str) -> Result<Option<String>, WorkloadError> {
    Ok(workload
        .read_file(&path(workload, name))?
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty()))
}

/// Writes a one-line value (an empty one clears it).
fn write_value(workload: &dyn Workload, name: &str, value: &str) -> Result<(), WorkloadError> {
    workload.write_file(
        &path(workload, name),
        format!("{value}\n").as_bytes(),
        0o600,
    )
}

impl LocalState {
    /// Reads the state files. The peer ids are a cache: an unreadable file is no cache.
    ///
    /// # Errors
    /// When a state file cannot be read.
    pub fn load(workload: &dyn Workload) -> Result<LocalState, WorkloadError> {
        let peer_ids = workload
            .read_file(&path(workload, PEER_IDS))
            .ok()
            .flatten()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let json = |name: &str| -> Option<serde_json::Value> {
            workload
                .read_file(&path(workload, name))
                .ok()
                .flatten()
                .and_then(|t| serde_json::from_str(&t).ok())
        };
        let certificates = json(CERTIFICATES)
            .and_then(|v| serde_json::from_value::<CertificatesRecord>(v).ok())
            .filter(|r| !r.id.is_empty());
        let client_relations = workload
            .read_file(&path(workload, CLIENT_RELATIONS))
            .ok()
            .flatten()
            .and_then(|t| serde_json::from_str::<BTreeMap<u32, String>>(&t).ok());
        Ok(LocalState {
            started_with: read_value(workload, STARTED_WITH)?,
            peer_ids,
            upgrade_pending: read_value(workload, UPGRADE_PENDING)?.is_some(),
            upgrade_failure: read_value(workload, UPGRADE_FAILURE)?,
            started_tls: read_value(workload, STARTED_TLS)?.and_then(|v| parse_running(&v)),
            certificates,
            client_relations,
            opened_ports: workload
                .read_file(&path(workload, OPENED_PORTS))
                .ok()
                .flatten()
                .and_then(|t| serde_json::from_str(&t).ok()),
            planned_units: workload
                .read_file(&path(workload, PLANNED_UNITS))
                .ok()
                .flatten()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default(),
        })
    }
}

fn quorum_word(q: QuorumTls) -> &'static str {
    match q {
        QuorumTls::Plaintext => "plaintext",
        QuorumTls::Unified => "unified",
        QuorumTls::UnifiedSsl => "unified-ssl",
        QuorumTls::SslOnly => "ssl-only",
    }
}

fn running_text(r: Running) -> String {
    if r.client_tls {
        format!("{} {CLIENT_TLS}", quorum_word(r.quorum))
    } else {
        quorum_word(r.quorum).to_string()
    }
}

fn parse_running(text: &str) -> Option<Running> {
    let mut words = text.split_whitespace();
    let first = words.next()?;
    let quorum = QuorumTls::ALL
        .into_iter()
        .find(|q| quorum_word(*q) == first)?;
    let client_tls = match words.next() {
        None => false,
        Some(CLIENT_TLS) => true,
        Some(_) => return None,
    };
    Some(Running { quorum, client_tls })
}

/// Records how the server was just (re)started with TLS.
///
/// # Errors
/// When the file cannot be written.
pub fn record_started_tls(workload: &dyn Workload, running: Running) -> Result<(), WorkloadError> {
    write_value(workload, STARTED_TLS, &running_text(running))
}

/// Remembers the `certificates` relation (`None`: there is none).
///
/// # Errors
/// When the file cannot be written.
pub fn save_certificates(
    workload: &dyn Workload,
    record: Option<&CertificatesRecord>,
) -> Result<(), WorkloadError> {
    let text = match record {
        Some(r) => serde_json::to_string(r).unwrap_or_else(|_| "{}".into()),
        None => "{}".into(),
    };
    workload.write_file(&path(workload, CERTIFICATES), text.as_bytes(), 0o600)
}

/// This unit's TLS private key: `None` when there is none; `Some(Err)` when the file does
/// not hold a readable key (its content is never shown).
///
/// # Errors
/// When the file cannot be read.
pub fn load_tls_key(
    workload: &dyn Workload,
) -> Result<Option<Result<PrivateKey, KeyError>>, WorkloadError> {
    let Some(text) = workload.read_file(&path(workload, TLS_KEY))? else {
        return Ok(None);
    };
    let text = Zeroizing::new(text);
    if text.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(PrivateKey::from_pem(&text)))
}

/// Stores this unit's TLS private key (PKCS#8 PEM, mode 0600, root's).
///
/// # Errors
/// When the key cannot be encoded or the file written.
pub fn store_tls_key(workload: &dyn Workload, key: &PrivateKey) -> Result<(), WorkloadError> {
    let pem = key
        .to_pkcs8_pem()
        .map_err(|e| WorkloadError::Other(e.to_string()))?;
    workload.write_file(&path(workload, TLS_KEY), pem.as_bytes(), 0o600)
}

/// Whether `status` is the one this unit set last.
pub fn is_last_status(workload: &dyn Workload, status: &Status) -> bool {
    workload
        .read_file(&path(workload, STATUS))
        .ok()
        .flatten()
        .is_some_and(|t| t == status_text(status))
}

fn status_text(status: &Status) -> String {
    format!("{}\n{}", status.kind, status.message)
}

/// Records the status this unit set (best effort: without it the next hook sets it again).
pub fn record_status(workload: &dyn Workload, status: &Status) {
    let _ = workload.write_file(
        &path(workload, STATUS),
        status_text(status).as_bytes(),
        0o600,
    );
}

/// Records what the server was just (re)started with.
///
/// # Errors
/// When the file cannot be written.
pub fn record_started_with(
    workload: &dyn Workload,
    fingerprint: &str,
) -> Result<(), WorkloadError> {
    write_value(workload, STARTED_WITH, fingerprint)
}

/// Marks that refreshed charm code runs here (`upgrade-charm`).
///
/// # Errors
/// When the file cannot be written.
pub fn mark_upgrade_pending(workload: &dyn Workload) -> Result<(), WorkloadError> {
    write_value(workload, UPGRADE_PENDING, PENDING)
}

/// Clears the marker once the workload is rolled out.
///
/// # Errors
/// When the file cannot be written.
pub fn clear_upgrade_pending(workload: &dyn Workload) -> Result<(), WorkloadError> {
    write_value(workload, UPGRADE_PENDING, "")
}

/// Records why this unit's upgrade failed.
///
/// # Errors
/// When the file cannot be written.
pub fn record_upgrade_failure(workload: &dyn Workload, cause: &str) -> Result<(), WorkloadError> {
    write_value(workload, UPGRADE_FAILURE, cause)
}

/// Remembers the peer relation ids (best effort: without them the next hook asks again).
pub fn save_peer_ids(workload: &dyn Workload, ids: &BTreeMap<String, String>) {
    if let Ok(text) = serde_json::to_string(ids) {
        let _ = workload.write_file(&path(workload, PEER_IDS), text.as_bytes(), 0o600);
    }
}

/// Remembers the live `zookeeper` relations (best effort: without them the next hook asks
/// again).
pub fn save_client_relations(workload: &dyn Workload, relations: &BTreeMap<u32, String>) {
    if let Ok(text) = serde_json::to_string(relations) {
        let _ = workload.write_file(&path(workload, CLIENT_RELATIONS), text.as_bytes(), 0o600);
    }
}

/// Records the TCP ports the charm has opened (best effort: without it the next hook
/// asks `opened-ports`).
pub fn record_opened_ports(workload: &dyn Workload, ports: &BTreeSet<u16>) {
    if let Ok(text) = serde_json::to_string(ports) {
        let _ = workload.write_file(&path(workload, OPENED_PORTS), text.as_bytes(), 0o600);
    }
}

/// Remembers the units Juju planned (best effort: without it the leader asks goal-state
/// again only while a unit has not started).
pub fn record_planned(workload: &dyn Workload, planned: &BTreeSet<u32>) {
    if let Ok(text) = serde_json::to_string(planned) {
        let _ = workload.write_file(&path(workload, PLANNED_UNITS), text.as_bytes(), 0o600);
    }
}

/// Forgets the opened ports (the hook fails: Juju discards its port changes).
pub fn forget_opened_ports(workload: &dyn Workload) {
    let _ = workload.write_file(&path(workload, OPENED_PORTS), b"", 0o600);
}

/// Forgets every remembered id (after Juju said a relation is not found).
pub fn forget_peer_ids(workload: &dyn Workload) {
    let _ = workload.write_file(&path(workload, PEER_IDS), b"{}", 0o600);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::snap::{Layout, ProcessRunner, SnapWorkload};

    /// A snap workload with its whole layout under `root` (only its files are used here).
    fn workload(root: &std::path::Path) -> SnapWorkload {
        let layout = Layout {
            snap_mount: root.join("snap"),
            data_root: root.join("var-snap"),
            environment_file: root.join("environment"),
            state_root: root.join("state"),
        };
        let state = layout.state_dir(Some("model"), "zookeeper/0");
        SnapWorkload::with_parts(Box::new(ProcessRunner), layout, state, None)
    }

    #[test]
    fn what_one_hook_records_the_next_one_loads() {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(dir.path());
        assert_eq!(LocalState::load(&w).unwrap(), LocalState::default());

        record_started_with(&w, "abc123").unwrap();
        mark_upgrade_pending(&w).unwrap();
        record_upgrade_failure(&w, "cannot upgrade ZooKeeper: refresh failed").unwrap();
        let ids = BTreeMap::from([("cluster".to_string(), "cluster:0".to_string())]);
        save_peer_ids(&w, &ids);
        let clients = BTreeMap::from([(7, "kafka".to_string())]);
        save_client_relations(&w, &clients);
        record_opened_ports(&w, &BTreeSet::from([2181]));
        record_planned(&w, &BTreeSet::from([0, 1, 2]));
        assert_eq!(
            LocalState::load(&w).unwrap(),
            LocalState {
                started_with: Some("abc123".into()),
                peer_ids: ids,
                upgrade_pending: true,
                upgrade_failure: Some("cannot upgrade ZooKeeper: refresh failed".into()),
                started_tls: None,
                certificates: None,
                client_relations: Some(clients),
                opened_ports: Some(BTreeSet::from([2181])),
                planned_units: BTreeSet::from([0, 1, 2]),
            }
        );
        save_client_relations(&w, &BTreeMap::new());
        assert_eq!(
            LocalState::load(&w).unwrap().client_relations,
            Some(BTreeMap::new()),
            "none is known, not unknown"
        );

        clear_upgrade_pending(&w).unwrap();
        forget_peer_ids(&w);
        record_opened_ports(&w, &BTreeSet::new());
        let state = LocalState::load(&w).unwrap();
        assert!(!state.upgrade_pending);
        assert!(state.peer_ids.is_empty());
        assert_eq!(
            state.opened_ports,
            Some(BTreeSet::new()),
            "none opened is known"
        );
        forget_opened_ports(&w);
        assert_eq!(LocalState::load(&w).unwrap().opened_ports, None);
    }

    #[test]
    fn the_tls_records_read_back_and_the_key_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(dir.path());
        assert_eq!(load_tls_key(&w).unwrap(), None);
        for quorum in QuorumTls::ALL {
            for client_tls in [false, true] {
                let r = Running { quorum, client_tls };
                record_started_tls(&w, r).unwrap();
                assert_eq!(LocalState::load(&w).unwrap().started_tls, Some(r));
            }
        }
        let record = CertificatesRecord {
            id: "certificates:7".into(),
            provider: Some("self-signed-certificates".into()),
        };
        save_certificates(&w, Some(&record)).unwrap();
        record_opened_ports(&w, &BTreeSet::from([2182]));
        let state = LocalState::load(&w).unwrap();
        assert_eq!(state.certificates, Some(record));
        assert_eq!(state.opened_ports, Some(BTreeSet::from([2182])));
        save_certificates(&w, None).unwrap();
        forget_opened_ports(&w);
        let state = LocalState::load(&w).unwrap();
        assert_eq!((state.certificates, state.opened_ports), (None, None));

        let key = crate::tls::key::tests::shared_key();
        store_tls_key(&w, key).unwrap();
        assert_eq!(load_tls_key(&w).unwrap(), Some(Ok(key.clone())));
        let file = w.paths().charm_state_dir.join(TLS_KEY);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&file, "garbage").unwrap();
        assert!(matches!(load_tls_key(&w).unwrap(), Some(Err(_))));
        // An unknown record reads as none, never as another mode.
        std::fs::write(w.paths().charm_state_dir.join(STARTED_TLS), "sideways\n").unwrap();
        assert_eq!(LocalState::load(&w).unwrap().started_tls, None);
    }

    #[test]
    fn the_files_keep_the_format_earlier_revisions_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(dir.path());
        let state_dir = w.paths().charm_state_dir.clone();
        std::fs::create_dir_all(&state_dir).unwrap();
        // As the previous revision left them.
        std::fs::write(state_dir.join("started-with"), "f00d\n").unwrap();
        std::fs::write(state_dir.join("upgrade-pending"), "pending\n").unwrap();
        std::fs::write(
            state_dir.join("peer-relation-ids"),
            r#"{"restart":"restart:1"}"#,
        )
        .unwrap();
        std::fs::write(state_dir.join("status"), "active\nleader").unwrap();
        let state = LocalState::load(&w).unwrap();
        assert_eq!(state.started_with.as_deref(), Some("f00d"));
        assert!(state.upgrade_pending);
        assert_eq!(state.peer_ids["restart"], "restart:1");
        assert!(is_last_status(&w, &Status::active("leader")));
        assert!(!is_last_status(&w, &Status::active("follower")));

        record_status(&w, &Status::waiting("w"));
        assert_eq!(
            std::fs::read_to_string(state_dir.join("status")).unwrap(),
            "waiting\nw"
        );
        clear_upgrade_pending(&w).unwrap();
        assert_eq!(
            std::fs::read_to_string(state_dir.join("upgrade-pending")).unwrap(),
            "\n"
        );
    }
}
