//! An in-memory [`HookTools`] for unit tests.
//!
//! [`FakeHookTools`] holds the part of a Juju model one hook can see (leadership, config,
//! relations and their databags, the running action) and records, in order and with the
//! exact argv, every tool [`super::process::ProcessHookTools`] would run: like it, the fake
//! serves a repeated read from its cache (a read that ran once is not recorded again, and
//! reads see this hook's writes), and runs nothing for an empty `relation-set` or
//! `action-set`. So the calls recorded are the hook-tool processes a real hook starts. It
//! copies Juju's rules and quirks (the hook-tool behaviour of Juju 3.x), so a charm that
//! passes against the fake does not depend on behaviour Juju lacks:
//!
//! - relation values are strings and `""` deletes a key; writes merge, they never replace;
//! - only the leader writes its app bag (`ERROR cannot write relation settings`) or the
//!   application status; in a non-peer relation a non-leader cannot
//!   even read its own app bag (`ERROR permission denied`);
//! - an unknown relation id is `relation not found` (exit 2);
//! - `action-*` tools outside an action fail with `ERROR not running an action`, and
//!   `action-fail` does not stop anything: the charm must return by itself;
//! - `action-set` parses its `key=value` arguments as Juju does, in order, before it asks
//!   whether an action runs: each dotted part of a key must be lowercase alphanumerics with
//!   inner hyphens and must not be a reserved key (`stdout`, `stderr`, ...), else exit 2;
//! - `network-get` knows only the charm's bindings, once they are declared
//!   ([`FakeHookTools::bindings`]);
//! - secrets as the local model keeps them (Juju 3.1's strict owner reads): an application
//!   secret is managed (added, set, removed, granted, listed by `secret-ids` and
//!   `secret-info-get`) only by the leader (`ERROR this unit is not the leader`) and read by
//!   every unit of the application at its latest revision; owner labels are unique per
//!   owner; an owner may not read with both the id and a label, nor `--refresh`; a consumer
//!   (a secret granted to this unit's application, [`FakeSecret::granted`]) reads the
//!   revision it tracks (the latest at its first read) until `--refresh`, and `--peek`
//!   reads the latest once; an unknown id is `ERROR secret "<id>" not found`, an unknown
//!   label `ERROR consumer label "<label>" not found`. Writes are buffered until the hook
//!   ends, so owners keep reading the committed revision, and a hook's several `secret-set`
//!   make one revision. Like `ProcessHookTools`, plain reads are cached for the hook and a
//!   write replaces what is cached for its secret.
//!
//! Any tool can be made to fail with [`FakeHookTools::fail_tool`]. The conformance test
//! (`tests/hook_tools_conformance.rs`) runs the same calls against this fake and against
//! the local model's tools, so that the two cannot drift apart.
//!
//! ```
//! use zookeeper_charm::hooktools::fake::{FakeHookTools, FakeRelation};
//! use zookeeper_charm::hooktools::{Bag, HookTools};
//! use serde_json::json;
//!
//! let fake = FakeHookTools::new("zookeeper/0")
//!     .leader(true)
//!     .config(json!({"tick-time": 2000}))
//!     .address("127.0.0.1")
//!     .relation(
//!         "cluster:0",
//!         FakeRelation::peer().member("zookeeper/1", [("myid", "2")]),
//!     );
//! assert_eq!(fake.relation_list("cluster:0").unwrap(), ["zookeeper/1"]);
//! let bag = fake.relation_get("cluster:0", &Bag::Unit("zookeeper/1".into())).unwrap();
//! assert_eq!(bag["myid"], "2");
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::process::{argv, merge, parse_secret_id, Invocation, SecretCache};
use super::{
    valid_secret_key, Bag, Databag, HookTools, NetworkInfo, SecretContent, SecretGrantee, SecretId,
    SecretInfo, SecretOwner, SecretRead, SecretRef, ToolError,
};
use crate::status::Status;

/// Builds a databag from pairs.
pub fn databag<I, K, V>(pairs: I) -> Databag
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

/// One recorded hook-tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The tool (`relation-set`).
    pub tool: String,
    /// Its argv, as `ProcessHookTools` would pass it.
    pub args: Vec<String>,
    /// What would go to its stdin (`relation-set --file -` gets the JSON map).
    pub stdin: Option<String>,
}

impl Call {
    /// `tool arg arg ...`, for assertions that read well.
    pub fn line(&self) -> String {
        std::iter::once(self.tool.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One `status-set` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCall {
    /// `--application=True`.
    pub application: bool,
    pub status: Status,
}

/// A relation as this unit sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeRelation {
    /// `None` for a peer relation; the remote application otherwise.
    remote_app: Option<String>,
    /// Remote units this unit has seen join (what `relation-list` prints).
    members: BTreeSet<String>,
    /// Unit bags, by unit name (members, this unit, departed units).
    unit_bags: BTreeMap<String, Databag>,
    /// App bags, by application name.
    app_bags: BTreeMap<String, Databag>,
}

impl FakeRelation {
    /// A peer relation (every unit of the app may read the app bag).
    pub fn peer() -> FakeRelation {
        FakeRelation::default()
    }

    /// A provides/requires relation with `remote_app`.
    pub fn with_remote_app(remote_app: &str) -> FakeRelation {
        FakeRelation {
            remote_app: Some(remote_app.to_string()),
            ..FakeRelation::default()
        }
    }

    /// A remote unit in the relation, with its bag.
    pub fn member<I, K, V>(mut self, unit: &str, bag: I) -> FakeRelation
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.members.insert(unit.to_string());
        self.unit_bags.insert(unit.to_string(), databag(bag));
        self
    }

    /// A unit bag without membership: this unit's own bag, or a unit that departed (its
    /// data stays readable for the life of the relation).
    pub fn unit_bag<I, K, V>(mut self, unit: &str, bag: I) -> FakeRelation
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.unit_bags.insert(unit.to_string(), databag(bag));
        self
    }

    /// An application's bag (this app's or the remote app's).
    pub fn app_bag<I, K, V>(mut self, app: &str, bag: I) -> FakeRelation
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.app_bags.insert(app.to_string(), databag(bag));
        self
    }

    fn is_peer(&self) -> bool {
        self.remote_app.is_none()
    }
}

/// A secret in the fake model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeSecret {
    /// The URI `secret-add` printed (`secret://<uuid>/<id>`).
    uri: SecretId,
    /// The owning application or unit name; `None` for a secret this unit only consumes.
    owner: Option<(SecretOwner, String)>,
    label: Option<String>,
    description: Option<String>,
    /// Committed revisions, oldest first (revision n is `revisions[n - 1]`).
    revisions: Vec<SecretContent>,
    /// This hook's `secret-set` (committed when the hook ends).
    pending: Option<SecretContent>,
    /// Created in this hook.
    created_now: bool,
    /// Removed in this hook (every revision).
    removed: bool,
    /// Grants made: (relation id, unit or `None` for the application).
    grants: Vec<(String, Option<String>)>,
    /// As a consumer: the revision tracked (0: never read) and the consumer's label.
    tracked: u32,
    consumer_label: Option<String>,
}

impl FakeSecret {
    /// An application secret of `app` with one committed revision.
    pub fn of_app(uri: &str, app: &str, content: SecretContent) -> FakeSecret {
        FakeSecret {
            uri: SecretId::parse(uri).expect("a secret URI"),
            owner: Some((SecretOwner::Application, app.to_string())),
            label: None,
            description: None,
            revisions: vec![content],
            pending: None,
            created_now: false,
            removed: false,
            grants: Vec::new(),
            tracked: 0,
            consumer_label: None,
        }
    }

    /// A secret of unit `unit` with one committed revision.
    pub fn of_unit(uri: &str, unit: &str, content: SecretContent) -> FakeSecret {
        FakeSecret {
            owner: Some((SecretOwner::Unit, unit.to_string())),
            ..FakeSecret::of_app(uri, "", content)
        }
    }

    /// A secret another application granted to this one, with its committed revisions
    /// (oldest first).
    pub fn granted(uri: &str, revisions: Vec<SecretContent>) -> FakeSecret {
        FakeSecret {
            owner: None,
            revisions,
            ..FakeSecret::of_app(uri, "", SecretContent::default())
        }
    }

    /// The owner's label.
    pub fn label(mut self, label: &str) -> FakeSecret {
        self.label = Some(label.to_string());
        self
    }

    /// Another committed revision.
    pub fn revision(mut self, content: SecretContent) -> FakeSecret {
        self.revisions.push(content);
        self
    }

    /// As a consumer: already tracking revision `n`, under `label` if given.
    pub fn tracking(mut self, n: u32, label: Option<&str>) -> FakeSecret {
        self.tracked = n;
        self.consumer_label = label.map(str::to_string);
        self
    }

    fn latest(&self) -> u32 {
        u32::try_from(self.revisions.len()).unwrap_or(u32::MAX)
    }

    fn content(&self, revision: u32) -> SecretContent {
        self.revisions
            .get(revision.saturating_sub(1) as usize)
            .cloned()
            .unwrap_or_default()
    }

    /// The content after this hook: its pending write, else the latest revision.
    pub fn current(&self) -> SecretContent {
        self.pending
            .clone()
            .unwrap_or_else(|| self.content(self.latest()))
    }

    pub fn uri(&self) -> &SecretId {
        &self.uri
    }

    pub fn owner_label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// Grants made: (relation id, unit).
    pub fn grants(&self) -> &[(String, Option<String>)] {
        &self.grants
    }
}

#[derive(Debug, Default)]
struct State {
    unit: String,
    leader: bool,
    config: Map<String, Value>,
    relations: BTreeMap<String, FakeRelation>,
    /// `Some` while an action runs: its params.
    action: Option<Map<String, Value>>,
    address: Option<String>,
    networks: BTreeMap<String, NetworkInfo>,
    /// `goal-state` units (name -> status); `None`: this unit and its peers, all active.
    goal_units: Option<BTreeMap<String, String>>,
    /// Tools made to fail, with the stderr they print.
    failures: BTreeMap<String, String>,
    /// The charm's bindings (`network-get` knows no other); `None`: every binding.
    bindings: Option<BTreeSet<String>>,
    /// Reads that ran (as `tool args...`): a cache hit runs no tool.
    cached: BTreeSet<String>,
    /// Secrets by their short id.
    secrets: BTreeMap<String, FakeSecret>,
    /// What `ProcessHookTools` would have cached of secret reads.
    secret_cache: SecretCache,
    /// Secrets added so far (for new ids).
    secrets_added: u32,

    calls: Vec<Call>,
    statuses: Vec<StatusCall>,
    action_results: BTreeMap<String, String>,
    action_failure: Option<String>,
    /// The unit's ports now (with this hook's `open-port`/`close-port`).
    opened_ports: BTreeSet<String>,
    /// The unit's ports when the hook started (what `opened-ports` shows).
    committed_ports: BTreeSet<String>,
    app_version: Option<String>,
}

impl State {
    fn app(&self) -> String {
        self.unit.split('/').next().unwrap_or("").to_string()
    }

    /// Juju puts these into a unit's bag when it enters a relation.
    fn add_address_keys(&mut self) {
        let (Some(addr), unit) = (self.address.clone(), self.unit.clone()) else {
            return;
        };
        for rel in self.relations.values_mut() {
            let bag = rel.unit_bags.entry(unit.clone()).or_default();
            for (k, v) in [
                ("private-address", addr.clone()),
                ("ingress-address", addr.clone()),
                ("egress-subnets", format!("{addr}/32")),
            ] {
                bag.entry(k.to_string()).or_insert(v);
            }
        }
    }

    fn owns(&self, s: &FakeSecret) -> bool {
        match &s.owner {
            Some((SecretOwner::Application, a)) => *a == self.app(),
            Some((SecretOwner::Unit, u)) => *u == self.unit,
            None => false,
        }
    }

    /// Whether this unit manages the secret (sets, removes, grants it, sees its metadata).
    fn manages(&self, s: &FakeSecret) -> bool {
        !s.removed
            && match &s.owner {
                Some((SecretOwner::Application, a)) => *a == self.app() && self.leader,
                Some((SecretOwner::Unit, u)) => *u == self.unit,
                None => false,
            }
    }

    /// A secret this unit manages, or Juju's error.
    fn managed(&self, inv: &Invocation, id: &SecretId) -> Result<String, ToolError> {
        let short = id.short().to_string();
        match self.secrets.get(&short) {
            Some(s) if self.manages(s) => Ok(short),
            Some(s)
                if !s.removed
                    && matches!(&s.owner, Some((SecretOwner::Application, a)) if *a == self.app()) =>
            {
                Err(failed(inv, 1, "ERROR this unit is not the leader"))
            }
            Some(s) if !s.removed => Err(failed(inv, 1, "ERROR permission denied")),
            _ => Err(failed(inv, 1, &format!("ERROR secret {short:?} not found"))),
        }
    }

    fn label_taken(
        &self,
        owner: &(SecretOwner, String),
        label: &str,
        except: Option<&str>,
    ) -> bool {
        self.secrets.iter().any(|(id, s)| {
            !s.removed
                && s.owner.as_ref() == Some(owner)
                && s.label.as_deref() == Some(label)
                && Some(id.as_str()) != except
        })
    }

    /// What `network-get` says of `binding`, or its stderr.
    fn network_answer(&self, binding: &str) -> Result<NetworkInfo, String> {
        let no_config = || format!("ERROR no network config found for binding \"{binding}\"");
        if self.bindings.as_ref().is_some_and(|b| !b.contains(binding)) {
            return Err(no_config());
        }
        if let Some(info) = self.networks.get(binding) {
            return Ok(info.clone());
        }
        match &self.address {
            Some(a) => Ok(NetworkInfo {
                bind_addresses: vec![a.clone()],
                ingress_addresses: vec![a.clone()],
            }),
            None => Err(no_config()),
        }
    }

    fn relation(&self, inv: &Invocation, id: &str) -> Result<&FakeRelation, ToolError> {
        self.relations
            .get(id)
            .ok_or_else(|| failed(inv, 2, &relation_not_found(id)))
    }
}

/// The model UUID in the fake's secret URIs.
pub const FAKE_MODEL_UUID: &str = "00000000-0000-4000-8000-00000000f4ce";

/// A 20-character id (`[0-9a-v]`, like Juju's xids) for the `n`th secret this unit adds.
fn fake_secret_id(unit: &str, n: u32) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in unit.bytes().chain(n.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..20)
        .map(|i| ALPHABET[((h >> ((i * 3) % 60)) as usize + i) % 32] as char)
        .collect()
}

/// The relation of `secret-grant`/`-revoke`, or Juju's usage error.
fn grant_relation(st: &State, inv: &Invocation, id: &str) -> Result<(), ToolError> {
    if id
        .rsplit(':')
        .next()
        .is_none_or(|d| d.parse::<u32>().is_err())
    {
        return Err(failed(
            inv,
            2,
            &format!("ERROR invalid value {id:?} for option -r: invalid relation id"),
        ));
    }
    if !st.relations.contains_key(id) {
        return Err(failed(inv, 2, &relation_not_found(id)));
    }
    Ok(())
}

fn relation_not_found(id: &str) -> String {
    format!("ERROR invalid value \"{id}\" for option -r: relation not found")
}

fn failed(inv: &Invocation, code: i32, stderr: &str) -> ToolError {
    ToolError::Failed {
        cmd: inv.display.clone(),
        code,
        stderr: stderr.to_string(),
    }
}

/// Keys `action-set` refuses: Juju keeps them for the action's own output.
const RESERVED_ACTION_KEYS: [&str; 4] = ["stdout", "stdout-encoding", "stderr", "stderr-encoding"];

/// Juju's rule for each dotted part of an `action-set` key: lowercase alphanumerics, with
/// hyphens inside.
fn valid_action_key_part(part: &str) -> bool {
    let b = part.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty() && ok(&b[0]) && ok(&b[b.len() - 1]) && b.iter().all(|c| ok(c) || *c == b'-')
}

/// Parses `action-set`'s arguments as jujuc does (before it looks for an action): each
/// splits at its first `=`; the dotted parts of its key are checked in order, each for the
/// naming rule and then for being reserved. Returns the (dotted key, value) pairs, or the
/// message of the first error.
fn action_set_pairs(args: &[String]) -> Result<Vec<(String, String)>, String> {
    args.iter()
        .map(|arg| {
            let (key, value) = arg
                .split_once('=')
                .ok_or_else(|| format!("argument {arg:?} must be of the form key...=value"))?;
            for part in key.split('.') {
                if !valid_action_key_part(part) {
                    return Err(format!("key {part:?} must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods"));
                }
                if RESERVED_ACTION_KEYS.contains(&part) {
                    return Err(format!("cannot set reserved action key {part:?}"));
                }
            }
            Ok((key.to_string(), value.to_string()))
        })
        .collect()
}

/// The in-memory Juju of one unit. See the module docs.
#[derive(Debug)]
pub struct FakeHookTools {
    state: RefCell<State>,
}

impl FakeHookTools {
    /// A unit named `unit` (`zookeeper/0`): not the leader, empty config, no relations,
    /// not in an action.
    pub fn new(unit: &str) -> FakeHookTools {
        FakeHookTools {
            state: RefCell::new(State {
                unit: unit.to_string(),
                ..State::default()
            }),
        }
    }

    /// Sets what `goal-state` reports (unit name -> status).
    pub fn goal_units<I, K, V>(self, units: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.state.borrow_mut().goal_units = Some(databag(units));
        self
    }

    /// Sets leadership.
    pub fn leader(self, leader: bool) -> Self {
        self.state.borrow_mut().leader = leader;
        self
    }

    /// Sets what `config-get` returns (a JSON object; Juju includes defaults).
    ///
    /// # Panics
    /// If `config` is not a JSON object (a broken test).
    pub fn config(self, config: Value) -> Self {
        self.set_config(config);
        self
    }

    /// Adds a relation by its id (`cluster:0`; the endpoint is the part before `:`).
    pub fn relation(self, id: &str, relation: FakeRelation) -> Self {
        {
            let mut st = self.state.borrow_mut();
            st.relations.insert(id.to_string(), relation);
            st.add_address_keys();
        }
        self
    }

    /// This unit's address: answers `network-get` for every binding and `unit-get`, and is
    /// put into this unit's bag of every relation as Juju does (`private-address`,
    /// `ingress-address`, `egress-subnets`).
    pub fn address(self, address: &str) -> Self {
        {
            let mut st = self.state.borrow_mut();
            st.address = Some(address.to_string());
            st.add_address_keys();
        }
        self
    }

    /// The charm's bindings (its endpoints and extra bindings, from `metadata.yaml`):
    /// `network-get` of any other binding fails as in Juju. Without this call every binding
    /// answers.
    pub fn bindings<I: IntoIterator<Item = S>, S: Into<String>>(self, bindings: I) -> Self {
        self.state.borrow_mut().bindings = Some(bindings.into_iter().map(Into::into).collect());
        self
    }

    /// What `network-get <binding>` returns, overriding [`Self::address`] for that binding.
    pub fn network(self, binding: &str, info: NetworkInfo) -> Self {
        self.state
            .borrow_mut()
            .networks
            .insert(binding.to_string(), info);
        self
    }

    /// Runs inside an action whose params (after Juju applied the schema's defaults) are
    /// `params`, a JSON object.
    ///
    /// # Panics
    /// If `params` is not a JSON object.
    pub fn action_params(self, params: Value) -> Self {
        let Value::Object(map) = params else {
            panic!("action params must be a JSON object, got {params}");
        };
        self.state.borrow_mut().action = Some(map);
        self
    }

    /// Makes every call of `tool` fail with exit code 1 and `ERROR injected failure`.
    pub fn fail_tool(self, tool: &str) -> Self {
        self.fail_tool_with(tool, "ERROR injected failure")
    }

    /// Makes every call of `tool` fail with exit code 1 and `stderr`.
    pub fn fail_tool_with(self, tool: &str, stderr: &str) -> Self {
        self.state
            .borrow_mut()
            .failures
            .insert(tool.to_string(), stderr.to_string());
        self
    }

    /// A secret in the model (owned by this application, this unit, or granted to it).
    pub fn secret(self, secret: FakeSecret) -> Self {
        self.state
            .borrow_mut()
            .secrets
            .insert(secret.uri.short().to_string(), secret);
        self
    }

    /// A secret by its URI or id, with this hook's writes (a removed one too).
    pub fn secret_state(&self, id: &str) -> Option<FakeSecret> {
        let short = SecretId::parse(id)?.short().to_string();
        self.state.borrow().secrets.get(&short).cloned()
    }

    /// Every secret, by short id, with this hook's writes.
    pub fn all_secrets(&self) -> BTreeMap<String, FakeSecret> {
        self.state.borrow().secrets.clone()
    }

    /// Changes leadership between calls (leadership can move between hooks).
    pub fn set_leader(&self, leader: bool) {
        self.state.borrow_mut().leader = leader;
    }

    /// Replaces the config between calls.
    ///
    /// # Panics
    /// If `config` is not a JSON object.
    pub fn set_config(&self, config: Value) {
        let Value::Object(map) = config else {
            panic!("config must be a JSON object, got {config}");
        };
        self.state.borrow_mut().config = map;
    }

    // ---- what happened ------------------------------------------------------------------

    /// Every tool run, in order (a read served from the cache is not one).
    pub fn calls(&self) -> Vec<Call> {
        self.state.borrow().calls.clone()
    }

    /// How many times `tool` ran.
    pub fn call_count(&self, tool: &str) -> usize {
        self.state
            .borrow()
            .calls
            .iter()
            .filter(|c| c.tool == tool)
            .count()
    }

    /// Every `status-set`, in order.
    pub fn status_calls(&self) -> Vec<StatusCall> {
        self.state.borrow().statuses.clone()
    }

    /// The unit status last set, if any.
    pub fn unit_status(&self) -> Option<Status> {
        self.last_status(false)
    }

    /// The application status last set, if any.
    pub fn app_status(&self) -> Option<Status> {
        self.last_status(true)
    }

    fn last_status(&self, application: bool) -> Option<Status> {
        self.state
            .borrow()
            .statuses
            .iter()
            .rev()
            .find(|s| s.application == application)
            .map(|s| s.status.clone())
    }

    /// The action's results so far (`action-set` merges).
    pub fn action_results(&self) -> BTreeMap<String, String> {
        self.state.borrow().action_results.clone()
    }

    /// The message of the last `action-fail`, if the action failed.
    pub fn action_failure(&self) -> Option<String> {
        self.state.borrow().action_failure.clone()
    }

    /// A bag of a relation now (after this hook's writes); empty if unknown.
    pub fn relation_data(&self, relation_id: &str, bag: &Bag) -> Databag {
        let st = self.state.borrow();
        let Some(rel) = st.relations.get(relation_id) else {
            return Databag::new();
        };
        match bag {
            Bag::Unit(u) => rel.unit_bags.get(u),
            Bag::App(a) => rel.app_bags.get(a),
        }
        .cloned()
        .unwrap_or_default()
    }

    /// The unit's ports were opened by earlier hooks (`2181/tcp`).
    pub fn ports(self, ports: &[&str]) -> Self {
        {
            let mut st = self.state.borrow_mut();
            st.committed_ports = ports.iter().map(|p| p.to_string()).collect();
            st.opened_ports = st.committed_ports.clone();
        }
        self
    }

    /// The unit's ports now, this hook's changes included (`2181/tcp`).
    pub fn ports_now(&self) -> BTreeSet<String> {
        self.state.borrow().opened_ports.clone()
    }

    /// The last `application-version-set`.
    pub fn application_version(&self) -> Option<String> {
        self.state.borrow().app_version.clone()
    }

    /// A read: served from the cache when it ran before in this hook (nothing is recorded and
    /// nothing fails), else a call. `answer` computes the result from the state now (reads
    /// see this hook's writes); a successful read is cached.
    fn read<T>(
        &self,
        inv: &Invocation,
        answer: impl FnOnce(&State) -> Result<T, ToolError>,
    ) -> Result<T, ToolError> {
        let key = std::iter::once(inv.tool)
            .chain(inv.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        let cached = self.state.borrow().cached.contains(&key);
        if !cached {
            self.call(inv)?;
        }
        let result = answer(&self.state.borrow());
        if result.is_ok() {
            self.state.borrow_mut().cached.insert(key);
        }
        result
    }

    /// Records a call and applies failure injection.
    fn call(&self, inv: &Invocation) -> Result<(), ToolError> {
        let mut st = self.state.borrow_mut();
        st.calls.push(Call {
            tool: inv.tool.to_string(),
            args: inv.args.clone(),
            stdin: inv.stdin.clone(),
        });
        match st.failures.get(inv.tool) {
            Some(stderr) => Err(failed(inv, 1, stderr)),
            None => Ok(()),
        }
    }

    fn in_action(&self, inv: &Invocation) -> Result<(), ToolError> {
        if self.state.borrow().action.is_none() {
            return Err(failed(inv, 1, "ERROR not running an action"));
        }
        Ok(())
    }
}

impl HookTools for FakeHookTools {
    fn is_leader(&self) -> Result<bool, ToolError> {
        self.read(&argv::is_leader(), |st| Ok(st.leader))
    }

    fn relation_ids(&self, endpoint: &str) -> Result<Vec<String>, ToolError> {
        self.read(&argv::relation_ids(endpoint), |st| {
            // BTreeMap order is string order, as Juju sorts.
            Ok(st
                .relations
                .keys()
                .filter(|id| id.split_once(':').map(|(e, _)| e) == Some(endpoint))
                .cloned()
                .collect())
        })
    }

    fn relation_list(&self, relation_id: &str) -> Result<Vec<String>, ToolError> {
        let inv = argv::relation_list(relation_id);
        self.read(&inv, |st| {
            Ok(st
                .relation(&inv, relation_id)?
                .members
                .iter()
                .cloned()
                .collect())
        })
    }

    fn relation_app(&self, relation_id: &str) -> Result<String, ToolError> {
        let inv = argv::relation_list_app(relation_id);
        self.read(&inv, |st| {
            let rel = st.relation(&inv, relation_id)?;
            // A peer relation's "remote" application is this one.
            Ok(rel.remote_app.clone().unwrap_or_else(|| st.app()))
        })
    }

    fn relation_get(&self, relation_id: &str, bag: &Bag) -> Result<Databag, ToolError> {
        let inv = argv::relation_get(relation_id, bag);
        self.read(&inv, |st| {
            let rel = st.relation(&inv, relation_id)?;
            match bag {
                Bag::Unit(u) => {
                    if *u == st.unit || rel.members.contains(u) || rel.unit_bags.contains_key(u)
                    {
                        Ok(rel.unit_bags.get(u).cloned().unwrap_or_default())
                    } else {
                        Err(failed(
                            &inv,
                            1,
                            &format!("ERROR cannot read settings for unit \"{u}\" in relation \"{relation_id}\": unit \"{u}\": settings not found"),
                        ))
                    }
                }
                Bag::App(a) => {
                    if *a == st.app() && !rel.is_peer() && !st.leader {
                        return Err(failed(&inv, 1, "ERROR permission denied"));
                    }
                    Ok(rel.app_bags.get(a).cloned().unwrap_or_default())
                }
            }
        })
    }

    fn relation_set(
        &self,
        relation_id: &str,
        app: bool,
        values: &Databag,
    ) -> Result<(), ToolError> {
        if values.is_empty() {
            return Ok(());
        }
        let inv = argv::relation_set(relation_id, app, values);
        self.call(&inv)?;
        let mut st = self.state.borrow_mut();
        st.relation(&inv, relation_id)?;
        if app && !st.leader {
            return Err(failed(&inv, 1, "ERROR cannot write relation settings"));
        }
        let (unit, app_name) = (st.unit.clone(), st.app());
        let rel = st.relations.get_mut(relation_id).expect("checked above");
        let bag = if app {
            rel.app_bags.entry(app_name).or_default()
        } else {
            rel.unit_bags.entry(unit).or_default()
        };
        merge(bag, values);
        Ok(())
    }

    fn config_get(&self) -> Result<Map<String, Value>, ToolError> {
        self.read(&argv::config_get(), |st| Ok(st.config.clone()))
    }

    fn status_set(&self, status: &Status, application: bool) -> Result<(), ToolError> {
        let inv = argv::status_set(status, application);
        self.call(&inv)?;
        let mut st = self.state.borrow_mut();
        if application && !st.leader {
            return Err(failed(&inv, 1, "ERROR this unit is not the leader"));
        }
        st.statuses.push(StatusCall {
            application,
            status: status.clone(),
        });
        Ok(())
    }

    fn action_get(&self) -> Result<Map<String, Value>, ToolError> {
        let inv = argv::action_get();
        self.read(&inv, |st| match &st.action {
            Some(params) => Ok(params.clone()),
            None => Err(failed(&inv, 1, "ERROR not running an action")),
        })
    }

    fn action_set(&self, results: &BTreeMap<String, String>) -> Result<(), ToolError> {
        if results.is_empty() {
            return Ok(());
        }
        let inv = argv::action_set(results);
        self.call(&inv)?;
        // jujuc checks its arguments before it looks for the action (usage errors: exit 2).
        let pairs = action_set_pairs(&inv.args)
            .map_err(|message| failed(&inv, 2, &format!("ERROR {message}")))?;
        self.in_action(&inv)?;
        self.state.borrow_mut().action_results.extend(pairs);
        Ok(())
    }

    fn action_fail(&self, message: &str) -> Result<(), ToolError> {
        let inv = argv::action_fail(message);
        self.call(&inv)?;
        self.in_action(&inv)?;
        self.state.borrow_mut().action_failure = Some(message.to_string());
        Ok(())
    }

    fn application_version_set(&self, version: &str) -> Result<(), ToolError> {
        self.call(&argv::application_version_set(version))?;
        self.state.borrow_mut().app_version = Some(version.to_string());
        Ok(())
    }

    fn network_get(&self, binding: &str) -> Result<NetworkInfo, ToolError> {
        let inv = argv::network_get(binding);
        self.read(&inv, |st| {
            st.network_answer(binding)
                .map_err(|stderr| failed(&inv, 1, &stderr))
        })
    }

    fn network_get_relation(
        &self,
        binding: &str,
        relation_id: &str,
    ) -> Result<NetworkInfo, ToolError> {
        let inv = argv::network_get_relation(binding, relation_id);
        // The same addresses as the binding's: one network in the fake.
        self.read(&inv, |st| {
            st.relation(&inv, relation_id)?;
            st.network_answer(binding)
                .map_err(|stderr| failed(&inv, 1, &stderr))
        })
    }

    fn unit_get(&self, key: &str) -> Result<String, ToolError> {
        let inv = argv::unit_get(key);
        self.read(&inv, |st| {
            if key != "private-address" && key != "public-address" {
                return Err(failed(&inv, 2, &format!("ERROR unknown setting \"{key}\"")));
            }
            st.address
                .clone()
                .ok_or_else(|| failed(&inv, 1, &format!("ERROR {key} not set")))
        })
    }

    fn goal_state_units(&self) -> Result<BTreeMap<String, String>, ToolError> {
        self.read(&argv::goal_state(), |st| {
            if let Some(units) = &st.goal_units {
                return Ok(units.clone());
            }
            let mut units = BTreeMap::from([(st.unit.clone(), "active".to_string())]);
            for rel in st.relations.values().filter(|r| r.is_peer()) {
                for member in &rel.members {
                    units.insert(member.clone(), "active".to_string());
                }
            }
            Ok(units)
        })
    }

    fn secret_add(
        &self,
        content: &SecretContent,
        label: Option<&str>,
        description: Option<&str>,
        owner: SecretOwner,
    ) -> Result<SecretId, ToolError> {
        let inv = argv::secret_add(content, label, description, owner);
        self.call(&inv)?;
        if let Some(bad) = content.0.keys().find(|k| !valid_secret_key(k)) {
            return Err(failed(&inv, 2, &format!("ERROR key {bad:?} not valid")));
        }
        if content.0.is_empty() {
            return Err(failed(&inv, 1, "ERROR empty secret value not valid"));
        }
        let mut st = self.state.borrow_mut();
        if owner == SecretOwner::Application && !st.leader {
            return Err(failed(&inv, 1, "ERROR this unit is not the leader"));
        }
        let owner_name = match owner {
            SecretOwner::Application => st.app(),
            SecretOwner::Unit => st.unit.clone(),
        };
        let owner = (owner, owner_name);
        if let Some(l) = label.filter(|l| !l.is_empty()) {
            if st.label_taken(&owner, l, None) {
                return Err(failed(
                    &inv,
                    1,
                    &format!("ERROR secret with label {l:?} already exists"),
                ));
            }
        }
        st.secrets_added += 1;
        let short = fake_secret_id(&st.unit, st.secrets_added);
        let out = format!("secret://{FAKE_MODEL_UUID}/{short}\n");
        let id = parse_secret_id(&inv, &out)?;
        st.secrets.insert(
            short,
            FakeSecret {
                uri: id.clone(),
                owner: Some(owner),
                label: label.filter(|l| !l.is_empty()).map(str::to_string),
                description: description.map(str::to_string),
                revisions: Vec::new(),
                pending: Some(content.clone()),
                created_now: true,
                removed: false,
                grants: Vec::new(),
                tracked: 0,
                consumer_label: None,
            },
        );
        st.secret_cache.wrote(&id, label, content);
        Ok(id)
    }

    fn secret_get(&self, secret: &SecretRef, read: SecretRead) -> Result<SecretContent, ToolError> {
        if read == SecretRead::Tracked {
            if let Some(c) = self.state.borrow().secret_cache.get(secret) {
                return Ok(c);
            }
        }
        let inv = argv::secret_get(secret, read);
        self.call(&inv)?;
        let mut st = self.state.borrow_mut();
        let (uri, label) = match secret {
            SecretRef::Id(id) => (Some(id.short().to_string()), None),
            SecretRef::Label(l) => (None, Some(l.clone())),
            SecretRef::IdWithLabel(id, l) => (Some(id.short().to_string()), Some(l.clone())),
        };
        // Created in this hook: its content.
        let created = st
            .secrets
            .iter()
            .find(|(id, s)| {
                s.created_now
                    && !s.removed
                    && (uri.as_deref() == Some(id.as_str())
                        || (label.is_some() && s.label == label))
            })
            .map(|(id, _)| id.clone());
        let content = if let Some(id) = created {
            st.secrets[&id].current()
        } else if let Some(id) = st
            .secrets
            .iter()
            .find(|(id, s)| {
                !s.removed
                    && st.owns(s)
                    && (uri.as_deref() == Some(id.as_str())
                        || (uri.is_none() && label.is_some() && s.label == label))
            })
            .map(|(id, _)| id.clone())
        {
            // An owner: the latest committed revision.
            if uri.is_some() && label.is_some() {
                return Err(failed(
                    &inv,
                    1,
                    "ERROR either URI or label should be used for getting an owned secret but not both",
                ));
            }
            if read == SecretRead::Refresh {
                return Err(failed(&inv, 1, "ERROR secret owner cannot use --refresh"));
            }
            let s = &st.secrets[&id];
            match (read, &s.pending) {
                (SecretRead::Peek, Some(p)) => p.clone(),
                _ => s.content(s.latest()),
            }
        } else {
            // A consumer.
            let id = match uri {
                Some(id) => id,
                None => {
                    let wanted = label.clone().unwrap_or_default();
                    st.secrets
                        .iter()
                        .find(|(_, s)| s.consumer_label.as_deref() == Some(wanted.as_str()))
                        .map(|(id, _)| id.clone())
                        .ok_or_else(|| {
                            failed(
                                &inv,
                                1,
                                &format!("ERROR consumer label {wanted:?} not found"),
                            )
                        })?
                }
            };
            let Some(s) = st.secrets.get_mut(&id).filter(|s| !s.removed) else {
                return Err(failed(&inv, 1, &format!("ERROR secret {id:?} not found")));
            };
            if s.owner.is_some() {
                return Err(failed(&inv, 1, "ERROR permission denied"));
            }
            let latest = s.latest();
            if s.tracked == 0 || read == SecretRead::Refresh {
                s.tracked = latest;
            }
            if let Some(l) = &label {
                s.consumer_label = Some(l.clone());
            }
            match read {
                SecretRead::Peek => s.content(latest),
                _ => s.content(s.tracked),
            }
        };
        if read == SecretRead::Tracked {
            st.secret_cache.read(secret, &content);
        }
        Ok(content)
    }

    fn secret_set(
        &self,
        id: &SecretId,
        content: &SecretContent,
        label: Option<&str>,
    ) -> Result<(), ToolError> {
        let inv = argv::secret_set(id, content, label);
        self.call(&inv)?;
        if let Some(bad) = content.0.keys().find(|k| !valid_secret_key(k)) {
            return Err(failed(&inv, 2, &format!("ERROR key {bad:?} not valid")));
        }
        let mut st = self.state.borrow_mut();
        let short = st.managed(&inv, id)?;
        if content.0.is_empty() && label.is_none() {
            return Err(failed(
                &inv,
                1,
                "ERROR at least one attribute to update must be specified",
            ));
        }
        if let Some(l) = label.filter(|l| !l.is_empty()) {
            let owner = st.secrets[&short].owner.clone().expect("managed");
            if st.label_taken(&owner, l, Some(&short)) {
                return Err(failed(
                    &inv,
                    1,
                    &format!("ERROR secret with label {l:?} already exists"),
                ));
            }
        }
        let s = st.secrets.get_mut(&short).expect("managed");
        if let Some(l) = label.filter(|l| !l.is_empty()) {
            s.label = Some(l.to_string());
        }
        if !content.0.is_empty() {
            s.pending = Some(content.clone());
            st.secret_cache.wrote(id, label, content);
        }
        Ok(())
    }

    fn secret_grant(&self, id: &SecretId, to: &SecretGrantee) -> Result<(), ToolError> {
        let inv = argv::secret_grant(id, to);
        self.call(&inv)?;
        let mut st = self.state.borrow_mut();
        grant_relation(&st, &inv, &to.relation_id)?;
        let short = st.managed(&inv, id)?;
        let g = (to.relation_id.clone(), to.unit.clone());
        let s = st.secrets.get_mut(&short).expect("managed");
        if !s.grants.contains(&g) && !s.grants.contains(&(g.0.clone(), None)) {
            s.grants.push(g);
        }
        Ok(())
    }

    fn secret_revoke(&self, id: &SecretId, from: &SecretGrantee) -> Result<(), ToolError> {
        let inv = argv::secret_revoke(id, from);
        self.call(&inv)?;
        let mut st = self.state.borrow_mut();
        grant_relation(&st, &inv, &from.relation_id)?;
        let short = st.managed(&inv, id)?;
        let s = st.secrets.get_mut(&short).expect("managed");
        s.grants
            .retain(|(r, u)| !(*r == from.relation_id && *u == from.unit));
        Ok(())
    }

    fn secret_remove(&self, id: &SecretId, revision: Option<u32>) -> Result<(), ToolError> {
        let inv = argv::secret_remove(id, revision);
        self.call(&inv)?;
        let mut st = self.state.borrow_mut();
        let short = st.managed(&inv, id)?;
        if revision.is_none() {
            st.secrets.get_mut(&short).expect("managed").removed = true;
            st.secret_cache.removed(id);
        }
        Ok(())
    }

    fn secret_ids(&self) -> Result<Vec<String>, ToolError> {
        let inv = argv::secret_ids();
        self.call(&inv)?;
        let st = self.state.borrow();
        Ok(st
            .secrets
            .iter()
            .filter(|(_, s)| st.manages(s))
            .map(|(id, _)| id.clone())
            .collect())
    }

    fn secret_info_get(&self, secret: &SecretRef) -> Result<SecretInfo, ToolError> {
        let inv = argv::secret_info_get(secret);
        self.call(&inv)?;
        let st = self.state.borrow();
        let (want, found) = match secret {
            SecretRef::Id(id) => {
                let short = id.short().to_string();
                let found = st
                    .secrets
                    .get(&short)
                    .filter(|s| st.manages(s))
                    .map(|s| (short.clone(), s));
                (short, found)
            }
            SecretRef::Label(l) => (
                l.clone(),
                st.secrets
                    .iter()
                    .find(|(_, s)| st.manages(s) && s.label.as_deref() == Some(l.as_str()))
                    .map(|(id, s)| (id.clone(), s)),
            ),
            SecretRef::IdWithLabel(..) => {
                return Err(failed(
                    &inv,
                    2,
                    "ERROR specify either a secret URI or label but not both",
                ))
            }
        };
        let Some((id, s)) = found else {
            return Err(failed(&inv, 1, &format!("ERROR secret {want:?} not found")));
        };
        Ok(SecretInfo {
            id,
            revision: s.latest().max(1),
            label: s.label.clone(),
            owner: s
                .owner
                .as_ref()
                .map(|(o, _)| o.as_str())
                .unwrap_or("")
                .to_string(),
            rotation: Some("never".into()),
            description: s.description.clone(),
            expiry: None,
            access: s
                .grants
                .iter()
                .map(|(r, u)| {
                    let target = match u {
                        Some(u) => format!("unit-{}", u.replace('/', "-")),
                        None => format!("relation-{r}"),
                    };
                    (target, format!("relation-{r}"))
                })
                .collect(),
        })
    }

    fn open_port(&self, port: u16, protocol: &str) -> Result<(), ToolError> {
        let inv = argv::open_port(port, protocol);
        self.call(&inv)?;
        check_protocol(&inv, protocol)?;
        self.state
            .borrow_mut()
            .opened_ports
            .insert(format!("{port}/{protocol}"));
        Ok(())
    }

    fn close_port(&self, port: u16, protocol: &str) -> Result<(), ToolError> {
        let inv = argv::close_port(port, protocol);
        self.call(&inv)?;
        check_protocol(&inv, protocol)?;
        self.state
            .borrow_mut()
            .opened_ports
            .remove(&format!("{port}/{protocol}"));
        Ok(())
    }

    /// The ports opened when the hook started: this hook's own changes commit at its end.
    fn opened_ports(&self) -> Result<BTreeSet<String>, ToolError> {
        self.call(&argv::opened_ports())?;
        Ok(self.state.borrow().committed_ports.clone())
    }
}

/// `open-port`/`close-port` take `tcp` or `udp` (or `icmp`, which the charm never opens).
fn check_protocol(inv: &Invocation, protocol: &str) -> Result<(), ToolError> {
    if ["tcp", "udp"].contains(&protocol) {
        return Ok(());
    }
    Err(failed(
        inv,
        2,
        &format!("ERROR invalid protocol \"{protocol}\", expected \"tcp\", \"udp\", or \"icmp\""),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn unit(u: &str) -> Bag {
        Bag::Unit(u.to_string())
    }
    fn app(a: &str) -> Bag {
        Bag::App(a.to_string())
    }

    fn three_units(leader: bool) -> FakeHookTools {
        FakeHookTools::new("zookeeper/0")
            .leader(leader)
            .address("127.0.0.1")
            .relation(
                "cluster:0",
                FakeRelation::peer()
                    .member("zookeeper/2", [("myid", "3")])
                    .member("zookeeper/10", [("myid", "11")])
                    .app_bag("zookeeper", [("super-password", "pw")]),
            )
            .relation("zookeeper:3", FakeRelation::with_remote_app("kafka"))
            .relation("upgrade:1", FakeRelation::peer())
    }

    #[test]
    fn relation_ids_and_members_are_sorted_as_text_like_juju() {
        let f = three_units(false);
        assert_eq!(f.relation_ids("cluster").unwrap(), ["cluster:0"]);
        assert_eq!(f.relation_ids("zookeeper").unwrap(), ["zookeeper:3"]);
        assert!(f.relation_ids("restart").unwrap().is_empty());
        assert_eq!(
            f.relation_list("cluster:0").unwrap(),
            ["zookeeper/10", "zookeeper/2"]
        );
    }

    #[test]
    fn own_unit_bag_has_the_addresses_juju_adds() {
        let f = three_units(false);
        let own = f.relation_get("cluster:0", &unit("zookeeper/0")).unwrap();
        assert_eq!(own["private-address"], "127.0.0.1");
        assert_eq!(own["ingress-address"], "127.0.0.1");
        assert_eq!(own["egress-subnets"], "127.0.0.1/32");
    }

    #[test]
    fn relation_set_merges_and_an_empty_value_deletes() {
        let f = three_units(false);
        f.relation_set(
            "cluster:0",
            false,
            &databag([("state", "started"), ("myid", "1")]),
        )
        .unwrap();
        f.relation_set("cluster:0", false, &databag([("state", "")]))
            .unwrap();
        let own = f.relation_get("cluster:0", &unit("zookeeper/0")).unwrap();
        assert_eq!(own.get("myid").map(String::as_str), Some("1"));
        assert!(!own.contains_key("state"));
        assert!(own.contains_key("private-address"), "merge, not replace");
        assert_eq!(f.relation_data("cluster:0", &unit("zookeeper/0")), own);
    }

    #[test]
    fn only_the_leader_writes_the_app_bag() {
        let f = three_units(false);
        let err = f
            .relation_set("cluster:0", true, &databag([("k", "v")]))
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed { code: 1, stderr, .. } if stderr == "ERROR cannot write relation settings"),
            "{err:?}"
        );
        assert!(!f
            .relation_data("cluster:0", &app("zookeeper"))
            .contains_key("k"));

        let f = three_units(true);
        f.relation_set(
            "cluster:0",
            true,
            &databag([("k", "v"), ("super-password", "")]),
        )
        .unwrap();
        assert_eq!(
            f.relation_data("cluster:0", &app("zookeeper")),
            databag([("k", "v")])
        );
    }

    #[test]
    fn a_non_leader_reads_its_app_bag_in_a_peer_relation_but_not_in_a_provided_one() {
        let f = three_units(false);
        assert_eq!(
            f.relation_get("cluster:0", &app("zookeeper")).unwrap()["super-password"],
            "pw"
        );
        let err = f
            .relation_get("zookeeper:3", &app("zookeeper"))
            .unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{err}");
        assert!(f.relation_get("zookeeper:3", &app("kafka")).is_ok());
        assert!(three_units(true)
            .relation_get("zookeeper:3", &app("zookeeper"))
            .is_ok());
    }

    #[test]
    fn unknown_relations_and_units_are_errors() {
        let f = three_units(true);
        let err = f.relation_list("cluster:9").unwrap_err();
        assert!(err.is_relation_not_found(), "{err}");
        assert!(matches!(err, ToolError::Failed { code: 2, .. }));
        assert!(f
            .relation_set("cluster:9", false, &databag([("a", "b")]))
            .unwrap_err()
            .is_relation_not_found());
        assert!(f.relation_get("cluster:0", &unit("zookeeper/7")).is_err());
    }

    #[test]
    fn a_departed_unit_bag_stays_readable() {
        let f = FakeHookTools::new("zookeeper/0").relation(
            "cluster:0",
            FakeRelation::peer().unit_bag("zookeeper/1", [("myid", "2")]),
        );
        assert!(f.relation_list("cluster:0").unwrap().is_empty());
        assert_eq!(
            f.relation_get("cluster:0", &unit("zookeeper/1")).unwrap()["myid"],
            "2"
        );
    }

    #[test]
    fn statuses_are_recorded_and_the_app_status_needs_leadership() {
        let f = FakeHookTools::new("zookeeper/0");
        f.status_set(&Status::maintenance("installing"), false)
            .unwrap();
        f.status_set(&Status::active(""), false).unwrap();
        assert!(f.status_set(&Status::active(""), true).is_err());
        assert_eq!(f.unit_status(), Some(Status::active("")));
        assert_eq!(f.app_status(), None);
        assert_eq!(f.status_calls().len(), 2);
        assert_eq!(f.call_count("status-set"), 3);

        f.set_leader(true);
        f.status_set(&Status::blocked("b"), true).unwrap();
        assert_eq!(f.app_status(), Some(Status::blocked("b")));
        assert_eq!(f.unit_status(), Some(Status::active("")));
    }

    #[test]
    fn action_tools_work_only_inside_an_action() {
        let f = FakeHookTools::new("zookeeper/0");
        let err = f.action_fail("x").unwrap_err();
        assert!(err.to_string().contains("not running an action"), "{err}");
        assert_eq!(f.action_failure(), None);

        let f = FakeHookTools::new("zookeeper/0").action_params(json!({"username": "sync"}));
        assert_eq!(f.action_get().unwrap()["username"], "sync");
        f.action_set(&databag([("password", "pw")])).unwrap();
        f.action_set(&databag([("user.name", "sync")])).unwrap();
        f.action_fail("could not").unwrap();
        assert_eq!(
            f.action_results(),
            databag([("password", "pw"), ("user.name", "sync")])
        );
        assert_eq!(f.action_failure().as_deref(), Some("could not"));
    }

    #[test]
    fn action_set_checks_each_key_part_in_order_as_jujuc_does() {
        let f = FakeHookTools::new("zookeeper/0").action_params(json!({}));
        let rule = "must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods";
        // (results, the error jujuc prints): the first bad part of the first bad key (keys
        // go in text order), the naming rule before the reserved check of each part.
        let table: [(&[(&str, &str)], String); 9] = [
            (
                &[("Password", "x")],
                format!("ERROR key \"Password\" {rule}"),
            ),
            (&[("-a", "x")], format!("ERROR key \"-a\" {rule}")),
            (&[("a-", "x")], format!("ERROR key \"a-\" {rule}")),
            (&[("a..b", "x")], format!("ERROR key \"\" {rule}")),
            (&[("a_b.c", "x")], format!("ERROR key \"a_b\" {rule}")),
            (
                &[("stdout", "x")],
                "ERROR cannot set reserved action key \"stdout\"".into(),
            ),
            (
                &[("a.stderr", "x")],
                "ERROR cannot set reserved action key \"stderr\"".into(),
            ),
            (
                &[("stdout.X", "x")],
                "ERROR cannot set reserved action key \"stdout\"".into(),
            ),
            (
                &[("b", "x"), ("a.B", "y"), ("C", "z")],
                format!("ERROR key \"C\" {rule}"),
            ),
        ];
        for (results, expected) in table {
            match f.action_set(&databag(results.iter().copied())) {
                Err(ToolError::Failed {
                    code: 2, stderr, ..
                }) => {
                    assert_eq!(stderr, expected, "{results:?}")
                }
                other => panic!("{results:?}: {other:?}"),
            }
        }
        assert!(f.action_results().is_empty(), "nothing is set on an error");
        f.action_set(&databag([("a-1.b2", "x")])).unwrap();
        // The argument splits at its first `=`, as jujuc splits it.
        f.action_set(&databag([("k=v", "w")])).unwrap();
        assert_eq!(f.action_results(), databag([("a-1.b2", "x"), ("k", "v=w")]));
    }

    #[test]
    fn action_set_outside_an_action_checks_its_keys_first() {
        let f = FakeHookTools::new("zookeeper/0");
        let code = |r: Result<(), ToolError>| match r {
            Err(ToolError::Failed { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(f.action_set(&databag([("Bad", "x")]))), 2);
        assert_eq!(code(f.action_set(&databag([("good", "x")]))), 1);
    }

    #[test]
    fn empty_writes_run_no_tool() {
        let f = three_units(true).action_params(json!({}));
        f.relation_set("cluster:0", false, &Databag::new()).unwrap();
        f.relation_set("cluster:9", true, &Databag::new()).unwrap();
        f.action_set(&BTreeMap::new()).unwrap();
        assert!(f.calls().is_empty(), "{:?}", f.calls());
    }

    #[test]
    fn a_repeated_read_is_served_from_the_cache_and_sees_this_hooks_writes() {
        let f = three_units(true).fail_tool("is-leader");
        assert!(f.is_leader().is_err());
        assert!(f.is_leader().is_err(), "a failed read is not cached");
        let own = unit("zookeeper/0");
        let before = f.relation_get("cluster:0", &own).unwrap();
        f.relation_set("cluster:0", false, &databag([("state", "started")]))
            .unwrap();
        let after = f.relation_get("cluster:0", &own).unwrap();
        assert_eq!(after.get("state").map(String::as_str), Some("started"));
        assert!(!before.contains_key("state"));
        f.relation_get("cluster:0", &unit("zookeeper/2")).unwrap();
        f.relation_get("cluster:0", &unit("zookeeper/2")).unwrap();
        f.config_get().unwrap();
        f.config_get().unwrap();
        let lines: Vec<String> = f.calls().iter().map(Call::line).collect();
        assert_eq!(
            lines,
            [
                "is-leader --format=json",
                "is-leader --format=json",
                "relation-get --format=json -r cluster:0 - zookeeper/0",
                "relation-set -r cluster:0 --file -",
                "relation-get --format=json -r cluster:0 - zookeeper/2",
                "config-get --format=json",
            ]
        );
    }

    #[test]
    fn network_get_knows_only_the_declared_bindings() {
        let f = FakeHookTools::new("zookeeper/0")
            .address("127.0.0.5")
            .bindings(["cluster", "zookeeper"]);
        assert_eq!(
            f.network_get("cluster").unwrap().ingress_addresses,
            ["127.0.0.5"]
        );
        let err = f.network_get("nope").unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed { code: 1, stderr, .. } if stderr == "ERROR no network config found for binding \"nope\""),
            "{err:?}"
        );
    }

    #[test]
    fn calls_are_recorded_in_order_with_the_production_argv() {
        let f = three_units(true).config(json!({"tick-time": 3000}));
        f.is_leader().unwrap();
        assert_eq!(f.config_get().unwrap()["tick-time"], 3000);
        f.relation_set("cluster:0", true, &databag([("k", "v")]))
            .unwrap();
        f.open_port(2181, "tcp").unwrap();
        f.open_port(2182, "tcp").unwrap();
        f.close_port(2181, "tcp").unwrap();
        f.application_version_set("3.8.4").unwrap();
        let lines: Vec<String> = f.calls().iter().map(Call::line).collect();
        assert_eq!(
            lines,
            [
                "is-leader --format=json",
                "config-get --format=json",
                "relation-set -r cluster:0 --app --file -",
                "open-port 2181/tcp",
                "open-port 2182/tcp",
                "close-port 2181/tcp",
                "application-version-set -- 3.8.4",
            ]
        );
        assert_eq!(f.calls()[2].stdin.as_deref(), Some(r#"{"k":"v"}"#));
        assert_eq!(f.ports_now().into_iter().collect::<Vec<_>>(), ["2182/tcp"]);
        assert_eq!(f.application_version().as_deref(), Some("3.8.4"));
    }

    #[test]
    fn opened_ports_shows_the_ports_of_earlier_hooks_and_this_hooks_changes_land_at_its_end() {
        let f = three_units(true).ports(&["2181/tcp", "9000/tcp"]);
        f.open_port(2182, "tcp").unwrap();
        f.close_port(9000, "tcp").unwrap();
        assert_eq!(
            f.opened_ports().unwrap(),
            ["2181/tcp", "9000/tcp"].map(String::from).into()
        );
        assert_eq!(
            f.ports_now(),
            ["2181/tcp", "2182/tcp"].map(String::from).into()
        );
        assert!(f.close_port(1, "sctp").is_err());
        let lines: Vec<String> = f.calls().iter().map(Call::line).collect();
        assert_eq!(
            lines,
            [
                "open-port 2182/tcp",
                "close-port 9000/tcp",
                "opened-ports --format=json",
                "close-port 1/sctp",
            ]
        );
    }

    #[test]
    fn an_injected_failure_fails_every_call_of_that_tool_and_changes_nothing() {
        let f = three_units(true).fail_tool("relation-set");
        let err = f
            .relation_set("cluster:0", false, &databag([("a", "b")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`relation-set -r cluster:0 --file - (keys: a)` failed with exit code 1: ERROR injected failure"
        );
        assert!(!f
            .relation_data("cluster:0", &unit("zookeeper/0"))
            .contains_key("a"));
        assert_eq!(f.call_count("relation-set"), 1);
        assert!(f.is_leader().unwrap(), "other tools still work");
    }

    #[test]
    fn only_the_leader_manages_an_application_secret_and_every_unit_reads_its_latest_revision() {
        let content = SecretContent::from_pairs([("super-password", "pw-1")]);
        let uri = "secret://uuid/d3fo2nuve8s5g6ln8t8g";
        let secret = FakeSecret::of_app(uri, "zookeeper", content.clone())
            .label("cluster.zookeeper.app")
            .revision(SecretContent::from_pairs([("super-password", "pw-2")]));
        let f = three_units(false).secret(secret.clone());
        let id = SecretId::parse(uri).unwrap();
        let by_label = SecretRef::Label("cluster.zookeeper.app".into());
        assert_eq!(
            f.secret_get(&by_label, SecretRead::Tracked)
                .unwrap()
                .get("super-password"),
            Some("pw-2")
        );
        let err = f.secret_set(&id, &content, None).unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed { code: 1, stderr, .. } if stderr == "ERROR this unit is not the leader"),
            "{err:?}"
        );
        assert!(f.secret_ids().unwrap().is_empty());
        let err = f.secret_info_get(&by_label).unwrap_err();
        assert!(err.is_secret_not_found(), "{err}");
        let err = f
            .secret_add(&content, None, None, SecretOwner::Application)
            .unwrap_err();
        assert!(err.to_string().contains("not the leader"), "{err}");

        let f = three_units(true).secret(secret);
        assert_eq!(f.secret_info_get(&by_label).unwrap().revision, 2);
        let err = f
            .secret_get(
                &SecretRef::IdWithLabel(id.clone(), "x".into()),
                SecretRead::Tracked,
            )
            .unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        let err = f
            .secret_get(&SecretRef::Id(id.clone()), SecretRead::Refresh)
            .unwrap_err();
        assert!(err.to_string().contains("cannot use --refresh"), "{err}");
        let new = SecretContent::from_pairs([("super-password", "pw-3")]);
        f.secret_set(&id, &new, None).unwrap();
        // Read-your-writes through the cache; the revision commits at the hook's end.
        assert_eq!(
            f.secret_get(&SecretRef::Id(id.clone()), SecretRead::Tracked)
                .unwrap(),
            new
        );
        assert_eq!(f.secret_info_get(&by_label).unwrap().revision, 2);
        assert_eq!(f.call_count("secret-get"), 2, "{:?}", f.calls());
        let err = f
            .secret_add(
                &new,
                Some("cluster.zookeeper.app"),
                None,
                SecretOwner::Application,
            )
            .unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(f.secret_ids().unwrap(), ["d3fo2nuve8s5g6ln8t8g"]);
        f.secret_remove(&id, None).unwrap();
        assert!(f
            .secret_get(&SecretRef::Id(id), SecretRead::Tracked)
            .unwrap_err()
            .is_secret_not_found());
    }

    #[test]
    fn a_consumer_reads_its_tracked_revision_until_it_refreshes() {
        let uri = "secret://uuid/c0nsumed0000000000aa";
        let f = FakeHookTools::new("kafka/0").secret(
            FakeSecret::granted(uri, vec![SecretContent::from_pairs([("password", "one")])])
                .revision(SecretContent::from_pairs([("password", "two")]))
                .tracking(1, Some("zookeeper.5.user.secret")),
        );
        let label = SecretRef::Label("zookeeper.5.user.secret".into());
        assert_eq!(
            f.secret_get(&label, SecretRead::Tracked)
                .unwrap()
                .get("password"),
            Some("one")
        );
        assert_eq!(
            f.secret_get(&label, SecretRead::Peek)
                .unwrap()
                .get("password"),
            Some("two")
        );
        assert_eq!(
            f.secret_get(&label, SecretRead::Refresh)
                .unwrap()
                .get("password"),
            Some("two")
        );
        let err = f
            .secret_get(&SecretRef::Label("nope".into()), SecretRead::Tracked)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`secret-get --format=json --label nope` failed with exit code 1: ERROR consumer label \"nope\" not found"
        );
    }

    #[test]
    fn a_new_secret_is_readable_at_once_and_its_content_never_appears_in_the_recorded_argv() {
        let f = three_units(true);
        let content = SecretContent::from_pairs([("sync-password", "V4lue-SECRET")]);
        let id = f
            .secret_add(
                &content,
                Some("cluster.zookeeper.app"),
                None,
                SecretOwner::Application,
            )
            .unwrap();
        assert!(id.as_str().starts_with("secret://"), "{id}");
        assert_eq!(
            f.secret_get(
                &SecretRef::Label("cluster.zookeeper.app".into()),
                SecretRead::Tracked
            )
            .unwrap(),
            content
        );
        let lines: Vec<String> = f.calls().iter().map(Call::line).collect();
        assert_eq!(
            lines,
            ["secret-add --label cluster.zookeeper.app --owner application sync-password#file=<file>"]
        );
        let bad = SecretContent::from_pairs([("Bad_Key", "v")]);
        let err = f
            .secret_add(&bad, None, None, SecretOwner::Unit)
            .unwrap_err();
        assert!(matches!(&err, ToolError::Failed { code: 2, .. }), "{err:?}");
    }

    #[test]
    fn network_get_answers_from_the_address_or_an_override() {
        let f = FakeHookTools::new("zookeeper/0");
        assert!(f.network_get("cluster").is_err());
        assert!(f.unit_get("private-address").is_err());
        let f = f.address("127.0.0.5").network(
            "zookeeper",
            NetworkInfo {
                bind_addresses: vec!["127.0.0.6".into()],
                ingress_addresses: vec!["127.0.0.7".into()],
            },
        );
        assert_eq!(
            f.network_get("cluster").unwrap().bind_addresses,
            ["127.0.0.5"]
        );
        assert_eq!(
            f.network_get("zookeeper").unwrap().ingress_addresses,
            ["127.0.0.7"]
        );
        assert_eq!(f.unit_get("private-address").unwrap(), "127.0.0.5");
        assert!(f.unit_get("colour").is_err());
    }
}
