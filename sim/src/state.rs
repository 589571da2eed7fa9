//! The model's state on disk: one `model.json` per model, read and written only while holding
//! an exclusive `flock` on `model.lock`, so the runner and any number of concurrent hook-tool
//! processes see one consistent model.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::charm::{Charm, Role};
use crate::secrets::{PendingSecrets, Secret};
use crate::util;
use crate::SimError;

/// A relation databag: string keys to string values.
pub type Databag = BTreeMap<String, String>;

pub const STATE_FILE: &str = "model.json";
pub const LOCK_FILE: &str = "model.lock";
pub const DEBUG_LOG: &str = "debug-log";
pub const HOOK_LOG: &str = "hooks.jsonl";

/// Fidelity switches: places where real Juju versions differ or where a knob helps testing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Switches {
    /// The leader also gets the app-level `-relation-changed` for its own peer app-bag writes
    /// (Juju 3.6.8 does, juju/juju#20178). Default on.
    pub leader_sees_own_app_change: bool,
    /// A member's unit bag is read once after its `-joined`/`-changed` and then served from a
    /// cache that outlives the hook, as the uniter's relation cache does. Default on.
    pub stale_member_cache: bool,
    /// The application's first leader, and the next one after the leader's unit is removed,
    /// are drawn with the seeded PRNG (Juju: whichever unit agent claims the lease first).
    /// Off: the first unit deployed, then the lowest remaining unit. Default on.
    #[serde(alias = "seeded_election")]
    pub seeded_leadership: bool,
    /// Model seconds the leadership lease takes to lapse after the leader's unit is gone:
    /// the new leader is elected a random time between half of this and all of it later
    /// (Juju: up to a minute). 0: at once. Default 60.
    pub lease_secs: u64,
    /// Each unit takes its relation hooks (`-created`, `-joined`, `-changed`, `-departed`,
    /// `-broken`) from its different relations in an order drawn with the seeded PRNG, as
    /// the uniter iterates relations in Go map order; per relation the order is kept, and a
    /// `-changed` follows its `-joined` at once. Off: the order they were queued in.
    /// Default on.
    pub shuffle_relation_order: bool,
    /// `opened-ports` includes this hook's pending `open-port`s. Default off (Juju 3.x docs).
    pub opened_ports_include_pending: bool,
    /// Queue `start` after `config-changed` on `refresh`. Default off (the uniter does not).
    pub start_after_refresh: bool,
    /// An owner's `secret-get` refuses a URI and a label together (`either URI or label
    /// should be used for getting an owned secret but not both`) and `--refresh` (`secret
    /// owner cannot use --refresh`), as Juju up to 3.1.6 did; charms must work with both.
    /// Off: Juju 3.6, where the pair updates the owner label and `--refresh` is accepted.
    /// Default on, so that a charm relying on the newer behaviour is caught.
    pub strict_secret_owner_reads: bool,
    /// How many times a failed hook is retried (after Juju's back-off: 5 s, doubling, at
    /// most 5 min of model time) before `settle` reports the unit stuck. Juju retries for
    /// ever; a bound keeps a broken test short.
    pub hook_retries: u32,
    /// A hook or action running longer than this many seconds is reported (in the debug-log
    /// while it runs, and in the settle report). Nothing kills it: Juju never kills a hook.
    pub slow_hook_secs: u64,
}

impl Default for Switches {
    fn default() -> Self {
        Switches {
            leader_sees_own_app_change: true,
            stale_member_cache: true,
            seeded_leadership: true,
            lease_secs: 60,
            shuffle_relation_order: true,
            opened_ports_include_pending: false,
            start_after_refresh: false,
            strict_secret_owner_reads: true,
            hook_retries: 5,
            slow_hook_secs: 60,
        }
    }
}

/// Juju's retry back-off for a hook that failed `failures` times: 5 s, doubling, at most
/// 5 minutes.
pub fn retry_backoff_ms(failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(16);
    (5_000u64 << doublings).min(300_000)
}

/// The charm currently deployed to the application.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CharmRecord {
    /// The model's own count of deployed charms: 0 for the first, one more per refresh (as
    /// Juju numbers local charms). It names `<model>/charms/<n>` and tells a unit whose
    /// charm dir is out of date.
    pub revision: u64,
    /// Where it was deployed from (the `.charm` zip or directory).
    pub source: PathBuf,
    /// Its unpacked copy, `<model>/charms/<revision>`.
    pub dir: PathBuf,
    pub meta: Charm,
}

impl CharmRecord {
    /// The revision `juju status` shows: the one the charm was packed as (its `version`
    /// file, see [`charm_files::PackedVersion`]), else the model's own count.
    pub fn shown_revision(&self) -> u64 {
        self.meta
            .packed
            .as_ref()
            .map_or(self.revision, |p| p.revision)
    }
}

/// A status and message as `juju status` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRecord {
    pub status: String,
    pub message: String,
    pub since: u64,
}

impl StatusRecord {
    pub fn new(status: &str, message: &str) -> Self {
        StatusRecord {
            status: status.to_string(),
            message: message.to_string(),
            since: util::now_secs(),
        }
    }
}

/// What kind of event a queued hook is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookKind {
    Install,
    Start,
    Stop,
    Remove,
    ConfigChanged,
    UpgradeCharm,
    UpdateStatus,
    LeaderElected,
    LeaderSettingsChanged,
    RelationCreated,
    RelationJoined,
    RelationChanged,
    RelationDeparted,
    RelationBroken,
    SecretChanged,
    SecretRemove,
    StorageAttached,
    StorageDetaching,
}

impl HookKind {
    fn plain_name(self) -> &'static str {
        match self {
            HookKind::Install => "install",
            HookKind::Start => "start",
            HookKind::Stop => "stop",
            HookKind::Remove => "remove",
            HookKind::ConfigChanged => "config-changed",
            HookKind::UpgradeCharm => "upgrade-charm",
            HookKind::UpdateStatus => "update-status",
            HookKind::LeaderElected => "leader-elected",
            HookKind::LeaderSettingsChanged => "leader-settings-changed",
            HookKind::RelationCreated => "relation-created",
            HookKind::RelationJoined => "relation-joined",
            HookKind::RelationChanged => "relation-changed",
            HookKind::RelationDeparted => "relation-departed",
            HookKind::RelationBroken => "relation-broken",
            HookKind::SecretChanged => "secret-changed",
            HookKind::SecretRemove => "secret-remove",
            HookKind::StorageAttached => "storage-attached",
            HookKind::StorageDetaching => "storage-detaching",
        }
    }

    pub fn is_secret(self) -> bool {
        matches!(self, HookKind::SecretChanged | HookKind::SecretRemove)
    }

    pub fn is_storage(self) -> bool {
        matches!(self, HookKind::StorageAttached | HookKind::StorageDetaching)
    }

    pub fn is_relation(self) -> bool {
        matches!(
            self,
            HookKind::RelationCreated
                | HookKind::RelationJoined
                | HookKind::RelationChanged
                | HookKind::RelationDeparted
                | HookKind::RelationBroken
        )
    }
}

/// One queued hook, with everything its environment needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookSpec {
    pub kind: HookKind,
    /// `cluster-relation-changed`, `install`, ...
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `JUJU_REMOTE_UNIT` (absent for app-level changed, created, broken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_unit: Option<String>,
    /// `JUJU_DEPARTING_UNIT`, for `-departed` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departing_unit: Option<String>,
    /// The secret id of a `secret-changed` or `secret-remove` hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// `JUJU_SECRET_REVISION`, for `secret-remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_revision: Option<u32>,
    /// `JUJU_STORAGE_ID` (`data/0`), for storage hooks only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_id: Option<String>,
}

impl HookSpec {
    pub fn plain(kind: HookKind) -> Self {
        debug_assert!(!kind.is_relation() && !kind.is_secret() && !kind.is_storage());
        HookSpec {
            kind,
            name: kind.plain_name().to_string(),
            relation_id: None,
            endpoint: None,
            remote_unit: None,
            departing_unit: None,
            secret: None,
            secret_revision: None,
            storage_id: None,
        }
    }

    /// `secret-changed` or `secret-remove` (with the obsolete revision) for secret `id`.
    pub fn secret(kind: HookKind, id: &str, revision: Option<u32>) -> Self {
        debug_assert!(kind.is_secret());
        HookSpec {
            kind,
            name: kind.plain_name().to_string(),
            relation_id: None,
            endpoint: None,
            remote_unit: None,
            departing_unit: None,
            secret: Some(id.to_string()),
            secret_revision: revision,
            storage_id: None,
        }
    }

    /// `<name>-storage-attached` or `-detaching` of the storage instance `id` (`data/0`).
    pub fn storage(kind: HookKind, id: &str) -> Self {
        debug_assert!(kind.is_storage());
        let name = id.split('/').next().unwrap_or(id);
        HookSpec {
            kind,
            name: format!("{name}-{}", kind.plain_name()),
            relation_id: None,
            endpoint: None,
            remote_unit: None,
            departing_unit: None,
            secret: None,
            secret_revision: None,
            storage_id: Some(id.to_string()),
        }
    }

    pub fn relation(
        kind: HookKind,
        endpoint: &str,
        relation_id: u32,
        remote_unit: Option<&str>,
    ) -> Self {
        HookSpec {
            kind,
            name: format!("{endpoint}-{}", kind.plain_name()),
            relation_id: Some(relation_id),
            endpoint: Some(endpoint.to_string()),
            remote_unit: remote_unit.map(str::to_string),
            departing_unit: None,
            secret: None,
            secret_revision: None,
            storage_id: None,
        }
    }

    /// Hooks that only say "something changed, look again": a pending one covers a new one.
    pub fn coalesces(&self) -> bool {
        matches!(
            self.kind,
            HookKind::RelationChanged
                | HookKind::LeaderSettingsChanged
                | HookKind::ConfigChanged
                | HookKind::UpdateStatus
                | HookKind::SecretChanged
        )
    }

    /// The same event: same kind, relation, remote and departing unit, secret revision,
    /// storage instance.
    pub fn same_event(&self, other: &HookSpec) -> bool {
        self.kind == other.kind
            && self.relation_id == other.relation_id
            && self.remote_unit == other.remote_unit
            && self.departing_unit == other.departing_unit
            && self.secret == other.secret
            && self.secret_revision == other.secret_revision
            && self.storage_id == other.storage_id
    }
}

/// A hook that failed and blocks its unit until a retry succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedHook {
    pub hook: HookSpec,
    /// Failed runs so far (1 after the first failure).
    pub failures: u32,
    /// Why the last run failed (`exit status 1`, a commit error).
    pub reason: String,
    /// When (model clock, ms) the retry is due.
    #[serde(default)]
    pub retry_at_ms: u64,
}

/// Where a paused hook-tool call stands (see [`PausePoint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PauseState {
    /// Waiting for the matching call.
    Armed,
    /// The call came and is held until released.
    Holding,
    /// Released: the held call (or, released before it came, none) goes on.
    Released,
}

/// A test knob: the `nth` call (from 1, counted from when it was set) of hook tool `tool`
/// by unit `unit` — only calls whose arguments contain `args_contain`, if given — blocks
/// before it runs until the test releases it, so that a test can force an interleaving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PausePoint {
    pub id: u64,
    pub unit: String,
    pub tool: String,
    pub nth: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_contain: Option<String>,
    /// Matching calls seen so far.
    pub calls: u32,
    pub state: PauseState,
    /// The hook or action context of the held call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// A unit's own view of one relation it has entered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRelation {
    /// Remote units this unit has run `-joined` for and not yet `-departed`.
    pub members: BTreeSet<String>,
    /// The uniter's cache of member bags (see [`Switches::stale_member_cache`]).
    #[serde(default)]
    pub member_cache: BTreeMap<String, Databag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Life {
    Alive,
    Dying,
}

/// One unit of an application.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unit {
    pub name: String,
    /// Its application.
    pub app: String,
    pub number: u32,
    /// The machine it runs on (a subordinate shares its principal's); the address follows it.
    pub machine: u32,
    /// A subordinate unit's principal unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    pub address: String,
    /// `<model>/units/<app>-<n>`.
    pub dir: PathBuf,
    pub life: Life,
    pub queue: VecDeque<HookSpec>,
    /// The `-changed` (relation id, remote unit) that must run right after the `-joined`
    /// just taken, at the front of `queue` (Juju's "changed pending").
    #[serde(default)]
    pub changed_follows: Option<(u32, String)>,
    /// Pending action ids, run before queued hooks (and even while in error).
    pub actions: VecDeque<u64>,
    pub error: Option<FailedHook>,
    pub workload: StatusRecord,
    /// True once the charm called `status-set` for this unit.
    pub status_set: bool,
    /// The hook or action running now, for `status`.
    pub executing: Option<String>,
    /// Relations this unit has entered (`relation-ids` shows these). A relation stays here
    /// until the unit ran its `-relation-broken`.
    pub scope: BTreeMap<u32, UnitRelation>,
    /// True once `install` succeeded (the unit then enters relation scopes).
    #[serde(default)]
    pub installed: bool,
    /// Relations integrated after the unit was created: it enters their scope once it ran
    /// their `-relation-created`.
    #[serde(default)]
    pub awaiting_created: BTreeSet<u32>,
    /// `state-set` store.
    pub state: BTreeMap<String, String>,
    /// Opened ports (`2181/tcp`).
    pub ports: BTreeSet<String>,
    /// Revision of the charm in this unit's charm dir, and the files it put there.
    pub charm_revision: u64,
    pub charm_files: Vec<String>,
    /// Storage instances attached to the unit (`data/0`), in attachment order.
    #[serde(default)]
    pub storage: Vec<String>,
}

impl Unit {
    pub fn charm_dir(&self) -> PathBuf {
        self.dir.join("charm")
    }
}

/// A storage instance (`data/0`) of the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageInstance {
    pub id: String,
    /// `filesystem` (block storage is not modelled).
    pub kind: String,
    /// Where it is mounted on its unit's machine (`JUJU_STORAGE_LOCATION`).
    pub location: PathBuf,
    /// Its contents in the model: `<model>/storage/<name>-<n>`.
    pub dir: PathBuf,
    /// The unit it is attached to; `None` once detached (it stays in the model).
    pub attached_to: Option<String>,
    /// From the `tmpfs` pool: `dir` is a tmpfs of this many MiB (mounted on the host until
    /// the model is destroyed).
    #[serde(default)]
    pub tmpfs_mib: Option<u64>,
}

/// The storage pools the model has: Juju's `rootfs` (a directory on the machine's disk:
/// here one in the model) and `tmpfs` (a memory filesystem of the given size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoragePool {
    Rootfs,
    Tmpfs,
}

/// How new units of an application get one of its storages: `juju deploy --storage
/// <name>=<pool>,<size>` (the pool or the size may be left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageDirective {
    pub pool: StoragePool,
    /// In MiB; `None`: the pool's default (a `tmpfs` gets [`DEFAULT_TMPFS_MIB`]).
    pub size_mib: Option<u64>,
}

/// The size of a `tmpfs` storage given none.
pub const DEFAULT_TMPFS_MIB: u64 = 1024;

impl StorageDirective {
    /// Parses `tmpfs,40M`, `rootfs`, `2G`, `tmpfs` (sizes as Juju's: a number of MiB, or
    /// with an `M`, `G` or `T` suffix, binary).
    pub fn parse(text: &str) -> Result<StorageDirective, String> {
        let mut directive = StorageDirective {
            pool: StoragePool::Rootfs,
            size_mib: None,
        };
        for part in text.split(',').map(str::trim) {
            match part {
                "rootfs" => directive.pool = StoragePool::Rootfs,
                "tmpfs" => directive.pool = StoragePool::Tmpfs,
                p if p.starts_with(|c: char| c.is_ascii_digit()) => {
                    let (number, factor) = match p.char_indices().last() {
                        Some((i, 'M')) => (&p[..i], 1),
                        Some((i, 'G')) => (&p[..i], 1024),
                        Some((i, 'T')) => (&p[..i], 1024 * 1024),
                        _ => (p, 1),
                    };
                    let n: u64 = number
                        .parse()
                        .map_err(|_| format!("cannot parse size {p:?}"))?;
                    directive.size_mib = Some(n * factor);
                }
                other => {
                    return Err(format!(
                        "storage pool {other:?} not found (the model has rootfs and tmpfs)"
                    ))
                }
            }
        }
        Ok(directive)
    }
}

/// The committed side of a unit's bag in one relation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitBag {
    pub bag: Databag,
    pub version: u64,
}

/// The committed side of an application's bag in one relation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppBag {
    pub bag: Databag,
    pub version: u64,
}

/// One side of a relation: an application's endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationEnd {
    pub app: String,
    pub endpoint: String,
    pub role: Role,
    pub interface: String,
}

/// A relation: a peer relation of one application (one end), or a relation between two
/// applications (two ends, the requirer first, as Juju orders its relation keys).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Relation {
    pub id: u32,
    pub ends: Vec<RelationEnd>,
    /// Container-scoped (a subordinate relation): units see only the units on their machine.
    #[serde(default)]
    pub container: bool,
    /// Dying after `remove-relation`, until every unit ran `-relation-broken`.
    pub life: Life,
    /// Application bags, by application.
    pub app_bags: BTreeMap<String, AppBag>,
    /// Unit bags, kept after a unit leaves (remaining units may still read them).
    pub units: BTreeMap<String, UnitBag>,
}

impl Relation {
    pub fn peer(&self) -> bool {
        self.ends.len() == 1
    }

    pub fn alive(&self) -> bool {
        self.life == Life::Alive
    }

    pub fn involves(&self, app: &str) -> bool {
        self.ends.iter().any(|e| e.app == app)
    }

    /// `app`'s end.
    pub fn end_of(&self, app: &str) -> Option<&RelationEnd> {
        self.ends.iter().find(|e| e.app == app)
    }

    /// `app`'s endpoint name in this relation.
    pub fn endpoint_of(&self, app: &str) -> String {
        self.end_of(app)
            .map(|e| e.endpoint.clone())
            .unwrap_or_default()
    }

    /// The other application (the same one for a peer relation).
    pub fn remote_app(&self, app: &str) -> String {
        self.ends
            .iter()
            .find(|e| e.app != app)
            .or(self.ends.first())
            .map(|e| e.app.clone())
            .unwrap_or_default()
    }

    /// `JUJU_RELATION_ID` as `app`'s units see it: `<endpoint>:<id>`.
    pub fn rel_ref(&self, app: &str) -> String {
        format!("{}:{}", self.endpoint_of(app), self.id)
    }

    /// Juju's relation key: `zookeeper:cluster`, or `kafka:zookeeper zookeeper:zookeeper`.
    pub fn key(&self) -> String {
        self.ends
            .iter()
            .map(|e| format!("{}:{}", e.app, e.endpoint))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The committed application bag of `app`.
    pub fn app_bag(&self, app: &str) -> Databag {
        self.app_bags
            .get(app)
            .map(|b| b.bag.clone())
            .unwrap_or_default()
    }
}

/// Writes buffered by one hook context, committed only if the process exits 0.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pending {
    /// Per relation id: keys to set on the unit's own bag (`""` deletes).
    pub unit_bags: BTreeMap<u32, Databag>,
    /// Per relation id: keys to set on the app bag (leader only; `""` deletes).
    pub app_bags: BTreeMap<u32, Databag>,
    /// `state-set` (Some) and `state-delete` (None), in key order.
    pub state: BTreeMap<String, Option<String>>,
    /// Port operations in call order: (open?, port).
    pub ports: Vec<(bool, String)>,
    /// Secret creates, updates, removals, grants and revokes.
    #[serde(default, skip_serializing_if = "PendingSecrets::is_empty")]
    pub secrets: PendingSecrets,
}

/// A live hook or action context: what the hook tools of one process talk to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Context {
    pub id: String,
    pub unit: String,
    pub hook: Option<HookSpec>,
    pub action: Option<u64>,
    pub pending: Pending,
    /// Bags as first read in this context (`<rel>/<unit>` or `<rel>/app`).
    pub snapshots: BTreeMap<String, Databag>,
    pub config: Option<serde_json::Map<String, Value>>,
    pub leader_settings: Option<Databag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionStatus {
    Pending,
    Running,
    Completed,
    Failed,
}

/// An action task and its results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionRecord {
    pub id: u64,
    pub unit: String,
    pub name: String,
    pub params: serde_json::Map<String, Value>,
    pub status: ActionStatus,
    pub message: String,
    /// `action-set` results (nested maps for dotted keys).
    pub results: serde_json::Map<String, Value>,
    /// `action-fail` was called (its message is in `message`).
    pub failed_by_charm: bool,
    pub logs: Vec<String>,
    pub return_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Makes the tool named `tool` fail (rc 1) the next `remaining` times unit `unit` calls it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolFailure {
    pub unit: String,
    pub tool: String,
    pub remaining: u32,
}

/// One application of the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Application {
    pub name: String,
    pub charm: CharmRecord,
    /// Options set by the user (the rest take their defaults).
    pub config: BTreeMap<String, Value>,
    pub next_unit: u32,
    pub leader: Option<String>,
    pub leader_settings: Databag,
    pub status: StatusRecord,
    /// `application-version-set`.
    pub version: String,
    /// A built-in scripted stub (see [`crate::charm::StubSpec`]).
    #[serde(default)]
    pub stub: bool,
    /// How new units get each storage (absent: `rootfs`).
    #[serde(default)]
    pub storage: BTreeMap<String, StorageDirective>,
}

impl Application {
    pub fn subordinate(&self) -> bool {
        self.charm.meta.subordinate
    }
}

/// The whole model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelState {
    pub model_name: String,
    pub model_uuid: String,
    pub seed: u64,
    /// The scheduler's PRNG state.
    pub rng: u64,
    /// Applications by name.
    pub applications: BTreeMap<String, Application>,
    /// Application names in deploy order; the first is the model's default application.
    pub app_order: Vec<String>,
    pub switches: Switches,
    /// Machine `m` gets the address `<address_prefix><11 + m>` (default `127.0.0.`).
    #[serde(default = "default_address_prefix")]
    pub address_prefix: String,
    pub next_machine: u32,
    pub units: BTreeMap<String, Unit>,
    pub removed_units: Vec<String>,
    pub relations: BTreeMap<u32, Relation>,
    pub next_relation: u32,
    /// Juju secrets by id.
    #[serde(default)]
    pub secrets: BTreeMap<String, Secret>,
    /// Secret ids handed out so far.
    #[serde(default)]
    pub next_secret: u64,
    pub contexts: BTreeMap<String, Context>,
    pub next_context: u64,
    pub actions: BTreeMap<u64, ActionRecord>,
    pub next_action: u64,
    pub tool_failures: Vec<ToolFailure>,
    /// Hooks run so far (hook-log sequence numbers).
    pub hook_seq: u64,
    /// Hooks queued so far, not counting `update-status` (settle watches it).
    pub enqueued: u64,
    /// Model time skipped ahead of the wall clock (ms): simulated waits (retry back-off,
    /// leadership lease, 5-minute update-status intervals) that took less real time. The
    /// model clock is the wall clock plus this.
    #[serde(default)]
    pub clock_skip_ms: u64,
    /// Applications whose leader left, and when (model clock, ms) the lease lapses and a
    /// new leader is elected.
    #[serde(default)]
    pub elections: BTreeMap<String, u64>,
    /// Pause points set by tests (see [`PausePoint`]).
    #[serde(default)]
    pub pauses: Vec<PausePoint>,
    #[serde(default)]
    pub next_pause: u64,
    /// Storage instances by id (`data/0`); the number after the `/` counts model-wide.
    #[serde(default)]
    pub storage: BTreeMap<String, StorageInstance>,
    #[serde(default)]
    pub next_storage: u32,
}

impl ModelState {
    /// The model's default application: the first one deployed.
    pub fn default_app(&self) -> Option<&str> {
        self.app_order.first().map(String::as_str)
    }

    /// The application of a unit of the model.
    pub fn app_of(&self, unit: &str) -> &Application {
        &self.applications[&self.units[unit].app]
    }

    /// The model clock: wall time plus the simulated waits, in ms since the epoch.
    pub fn now_ms(&self) -> u64 {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        wall + self.clock_skip_ms
    }

    /// Whether `unit` leads its application.
    pub fn is_leader(&self, unit: &str) -> bool {
        self.units
            .get(unit)
            .and_then(|u| self.applications.get(&u.app))
            .is_some_and(|a| a.leader.as_deref() == Some(unit))
    }

    /// The machine `unit` runs on: its own `/snap`, `/var/snap`, ... (see
    /// [`crate::machine`]), in its directory; a subordinate's is its principal's.
    pub fn machine_of(&self, unit: &str) -> crate::machine::Machine {
        let u = &self.units[unit];
        let host = u
            .principal
            .as_deref()
            .and_then(|p| self.units.get(p))
            .unwrap_or(u);
        crate::machine::Machine::of_unit(&host.dir)
    }

    /// The storage attached on `unit`'s machine: its own and that of the other units there
    /// (a principal's and its subordinates'), as one machine mounts them all.
    pub fn machine_storage(&self, unit: &str) -> Vec<&StorageInstance> {
        let machine = self.units[unit].machine;
        self.units
            .values()
            .filter(|v| v.machine == machine)
            .flat_map(|v| {
                v.storage
                    .iter()
                    .filter_map(|id| self.storage.get(id))
                    .filter(|s| s.attached_to.as_deref() == Some(v.name.as_str()))
            })
            .collect()
    }
}

/// A model directory and its lock.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// The model, loaded while holding the exclusive lock; dropped = unlocked.
pub struct Guard {
    _lock: File,
    dir: PathBuf,
    pub st: ModelState,
}

pub(crate) fn open_lock(path: &Path) -> Result<File, SimError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(SimError::io("open", path))
}

pub(crate) fn flock(file: &File, path: &Path, how: libc::c_int) -> Result<bool, SimError> {
    loop {
        // SAFETY: flock on a file descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), how) };
        if rc == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) if how & libc::LOCK_NB != 0 => return Ok(false),
            _ => return Err(SimError::io("lock", path)(err)),
        }
    }
}

/// An exclusive lock held for as long as the value lives (used for "one runner per model").
pub struct RunnerLock {
    _file: File,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn exists(&self) -> bool {
        self.dir.join(STATE_FILE).is_file()
    }

    /// Locks the model and loads its state.
    pub fn lock(&self) -> Result<Guard, SimError> {
        let lock_path = self.dir.join(LOCK_FILE);
        let file = open_lock(&lock_path)?;
        flock(&file, &lock_path, libc::LOCK_EX)?;
        let path = self.dir.join(STATE_FILE);
        let data = std::fs::read(&path).map_err(SimError::io("read", &path))?;
        let st =
            serde_json::from_slice(&data).map_err(|source| SimError::Corrupt { path, source })?;
        Ok(Guard {
            _lock: file,
            dir: self.dir.clone(),
            st,
        })
    }

    /// Writes a new model (the directory must exist); used once, by `create`.
    pub fn init(&self, st: ModelState) -> Result<Guard, SimError> {
        let lock_path = self.dir.join(LOCK_FILE);
        let file = open_lock(&lock_path)?;
        flock(&file, &lock_path, libc::LOCK_EX)?;
        let g = Guard {
            _lock: file,
            dir: self.dir.clone(),
            st,
        };
        g.save()?;
        Ok(g)
    }

    /// Takes the model's runner lock: only one process runs hooks at a time. Waits up to
    /// 5 s (a child forked by another thread holds a copy of the descriptor until it execs,
    /// which keeps a just-released lock taken for a moment), then reports the model busy.
    pub fn runner_lock(&self) -> Result<RunnerLock, SimError> {
        let path = self.dir.join("runner.lock");
        let file = open_lock(&path)?;
        let start = std::time::Instant::now();
        while !flock(&file, &path, libc::LOCK_EX | libc::LOCK_NB)? {
            if start.elapsed() > std::time::Duration::from_secs(5) {
                return Err(SimError::Busy(self.dir.clone()));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(RunnerLock { _file: file })
    }
}

impl Guard {
    /// Writes the state back (atomically); the lock stays held.
    pub fn save(&self) -> Result<(), SimError> {
        let data = serde_json::to_vec_pretty(&self.st).expect("model state serialises");
        util::write_private_atomic(&self.dir.join(STATE_FILE), &data)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The default loopback prefix of unit addresses.
pub fn default_address_prefix() -> String {
    "127.0.0.".to_string()
}
