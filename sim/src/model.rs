//! The model: create/open, Juju's verbs (deploy, add-unit, remove-unit, config, run, refresh,
//! leader), the scheduler that runs queued hooks one at a time in a seeded order, and `settle`.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::charm::{self, Charm};
use crate::process::{self, Finished};
use crate::rng::{mix, SplitMix64};
use crate::state::{
    ActionRecord, ActionStatus, Bag, CharmRecord, Context, FailedHook, Guard, HookKind, HookSpec,
    Life, ModelState, Pending, Relation, RunnerLock, StatusRecord, Store, Switches, ToolFailure,
    Unit,
};
use crate::tools::{self, STATE_DIR_ENV, TOOL_NAMES};
use crate::{fourlw, logs, SimError};

mod measure;
pub use measure::{run_measured, Measured, ToolRun, Usage};

/// The Juju version hooks are told they run under.
pub const JUJU_VERSION: &str = "3.6.8";
/// The hook PATH after the tools dir (as on an Ubuntu machine).
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Grace period between SIGTERM and SIGKILL when stopping a unit's ZooKeeper.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// How one hook or action run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Exited 0 and its buffered writes were committed.
    Ok,
    /// No handler in the charm (a missing hook counts as success), or a `leader-elected`
    /// whose unit lost leadership before it ran.
    Skipped,
    /// Exited non-zero (or could not start); buffered writes discarded.
    Failed,
    /// Killed after the hook timeout; buffered writes discarded.
    TimedOut,
    /// Exited 0 but the commit was refused (leadership lost); writes discarded.
    CommitFailed,
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
    pub outcome: Outcome,
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
        matches!(self.outcome, Outcome::Ok | Outcome::Skipped)
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
            Outcome::Ok => "ok",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "FAILED",
            Outcome::TimedOut => "TIMED OUT",
            Outcome::CommitFailed => "COMMIT FAILED",
        };
        write!(f, ": {outcome}")?;
        if let Some(r) = &self.reason {
            write!(f, " ({r})")?;
        }
        write!(f, " in {:.2}s", self.duration_ms as f64 / 1000.0)
    }
}

/// Bounds and pacing of [`Model::settle`].
#[derive(Debug, Clone, PartialEq)]
pub struct SettleLimits {
    /// Give up after this many hook/action runs.
    pub max_hooks: usize,
    /// Give up after this much wall time.
    pub timeout: Duration,
    /// Real time slept before each simulated 5-minute `update-status` tick, so the
    /// workload (a JVM starting, an election) gets time to move between ticks.
    pub tick_interval: Duration,
    /// Real time slept before retrying a failed hook.
    pub retry_delay: Duration,
    /// Keep ticking until every unit's workload status is `active` (or the timeout).
    pub until_active: bool,
}

impl Default for SettleLimits {
    fn default() -> Self {
        SettleLimits {
            max_hooks: 2000,
            timeout: Duration::from_secs(600),
            tick_interval: Duration::from_secs(1),
            retry_delay: Duration::from_secs(1),
            until_active: false,
        }
    }
}

impl SettleLimits {
    /// No real-time pacing: for charms whose hooks do not wait on a workload.
    pub fn fast() -> Self {
        SettleLimits {
            tick_interval: Duration::ZERO,
            retry_delay: Duration::ZERO,
            timeout: Duration::from_secs(60),
            ..SettleLimits::default()
        }
    }
}

/// What a `settle` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettleReport {
    /// Hook and action runs (including retries and update-status).
    pub hooks: usize,
    pub retries: usize,
    pub update_status_rounds: usize,
    pub elapsed: Duration,
    /// Units left in error (`zookeeper/1: hook failed: "start"`), when settle gave up.
    pub units_in_error: Vec<String>,
}

impl fmt::Display for SettleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hooks in {:.1}s",
            self.hooks,
            self.elapsed.as_secs_f64()
        )?;
        if self.retries > 0 {
            write!(f, " ({} retries)", self.retries)?;
        }
        if self.units_in_error.is_empty() {
            write!(f, ", all units idle")
        } else {
            write!(f, ", in error: {}", self.units_in_error.join("; "))
        }
    }
}

/// A unit as `juju status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitStatus {
    pub unit: String,
    /// Workload status (`active`, `waiting`, ..., or `error` while a hook failed).
    pub workload: String,
    pub message: String,
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
    /// ZooKeeper's `Mode:` from `srvr` (only filled by [`Model::status_with_roles`]).
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

/// Options of [`Model::create_with`].
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// `JUJU_MODEL_NAME`.
    pub model_name: String,
    /// The `sim-jujuc` binary; found beside the running program when None (see
    /// [`locate_jujuc`]).
    pub jujuc: Option<PathBuf>,
    pub switches: Switches,
    /// Unit `n` listens on `<address_prefix><11 + n>`: three loopback octets and a trailing
    /// dot, like `127.0.3.`. Default `127.0.0.`.
    pub address_prefix: String,
    /// Instead of `address_prefix`, reserve a free prefix `127.0.<k>.` (k = 1..254) with a
    /// lock file in the temp dir, held for as long as the [`Model`] value lives, so models
    /// created concurrently (parallel tests) never share ZooKeeper addresses.
    pub isolated_addresses: bool,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            model_name: "sim".to_string(),
            jujuc: None,
            switches: Switches::default(),
            address_prefix: crate::state::default_address_prefix(),
            isolated_addresses: false,
        }
    }
}

/// True for `127.a.b.` (three octets of 127.0.0.0/8 and a trailing dot).
fn is_loopback_prefix(p: &str) -> bool {
    let o: Vec<&str> = p.split('.').collect();
    o.len() == 4
        && o[0] == "127"
        && o[3].is_empty()
        && o[1..3].iter().all(|x| x.parse::<u8>().is_ok())
}

/// Takes the first free prefix `127.0.<k>.` (k = 1..254) by an exclusive lock on
/// `<tmp>/zk-sim-127.0.<k>.lock`, and returns it with the held lock.
fn reserve_address_block() -> Result<(String, fs::File), SimError> {
    let tmp = std::env::temp_dir();
    for k in 1..=254u8 {
        let path = tmp.join(format!("zk-sim-127.0.{k}.lock"));
        let file = crate::state::open_lock(&path)?;
        if crate::state::flock(&file, &path, libc::LOCK_EX | libc::LOCK_NB)? {
            return Ok((format!("127.0.{k}."), file));
        }
    }
    Err(SimError::Invalid(
        "no free 127.0.<k>. address block (254 models in use?)".into(),
    ))
}

/// Finds the `sim-jujuc` binary: `$SIM_JUJUC`, else beside the running executable or one
/// directory up (where cargo puts binaries relative to test executables in `deps/`), else,
/// when run by cargo (`$CARGO` set, e.g. another crate's integration tests), builds it with
/// `cargo build -p zk-sim --bin sim-jujuc`.
pub fn locate_jujuc() -> Result<PathBuf, SimError> {
    if let Some(p) = std::env::var_os("SIM_JUJUC") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        return Err(SimError::Invalid(format!(
            "SIM_JUJUC={} is not a file",
            p.display()
        )));
    }
    let exe = std::env::current_exe().map_err(SimError::io("find", "the running executable"))?;
    let mut dir = exe.parent();
    for _ in 0..2 {
        let Some(d) = dir else { break };
        let candidate = d.join("sim-jujuc");
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = d.parent();
    }
    // Under `cargo test`/`cargo run` of another package, cargo did not build our binaries:
    // build the tool with the same cargo (it holds no lock while tests run).
    if let Some(cargo) = std::env::var_os("CARGO") {
        if let Some(p) = build_jujuc(&cargo) {
            return Ok(p);
        }
    }
    Err(SimError::Invalid(format!(
        "cannot find the sim-jujuc hook-tool binary near {}; build it with `cargo build -p zk-sim` \
         or set SIM_JUJUC=/path/to/sim-jujuc",
        exe.display()
    )))
}

/// `cargo build -p zk-sim --bin sim-jujuc`, returning the executable cargo reports.
fn build_jujuc(cargo: &std::ffi::OsStr) -> Option<PathBuf> {
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "zk-sim",
        "--bin",
        "sim-jujuc",
        "--message-format=json",
    ])
    .stdin(std::process::Stdio::null())
    .stderr(std::process::Stdio::inherit());
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        cmd.current_dir(dir);
    }
    let out = cmd.output().ok().filter(|o| o.status.success())?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let v: Value = serde_json::from_str(l).ok()?;
        let exe = v.get("executable")?.as_str()?;
        exe.ends_with("/sim-jujuc").then(|| PathBuf::from(exe))
    })
}

/// Asks a unit's ZooKeeper for its role (`srvr` on `<address>:2181`, 1 s timeout).
pub fn zk_role(address: &str) -> Option<String> {
    fourlw::srvr_mode(address, 2181, Duration::from_secs(1))
}

/// Called after every hook or action run.
type HookCallback = Box<dyn FnMut(&HookRecord)>;

/// What a quiet `update-status` tick must leave unchanged.
#[derive(Debug, PartialEq)]
struct Observed {
    enqueued: u64,
    units: Vec<(String, String, String)>,
    app: (String, String),
}

/// What the scheduler picked to run next.
enum Work {
    Action(u64),
    Hook(HookSpec, u32),
}

/// A local Juju model with one application.
pub struct Model {
    store: Store,
    /// The lock on this model's address block (see [`ModelOptions::isolated_addresses`]).
    _address_block: Option<fs::File>,
    destroy_on_drop: bool,
    destroyed: bool,
    on_hook: Option<HookCallback>,
    /// Measured runs (see `measure`): use the `wait4` runner and keep its usage.
    measuring: bool,
    last_usage: Option<Usage>,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("dir", &self.store.dir())
            .finish()
    }
}

fn make_dir(path: &Path, mode: u32) -> Result<(), SimError> {
    fs::create_dir_all(path).map_err(SimError::io("create", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(SimError::io("chmod", path))
}

fn absolute(path: &Path) -> Result<PathBuf, SimError> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()
            .map_err(SimError::io("find", "the current directory"))?
            .join(path))
    }
}

/// A fake but well-formed, seed-derived model UUID.
fn uuid_from(seed: u64) -> String {
    let a = mix(seed ^ 0x5EED);
    let b = mix(a);
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

impl Model {
    /// Creates a model in `dir` (must not hold one yet) for the charm at `charm` (a `.charm`
    /// zip or a charm directory), with the scheduler seeded by `seed`. The returned value
    /// destroys the model (stopping its ZooKeeper processes) when dropped; see
    /// [`Model::set_destroy_on_drop`].
    pub fn create(
        dir: impl AsRef<Path>,
        charm: impl AsRef<Path>,
        seed: u64,
    ) -> Result<Model, SimError> {
        Self::create_with(dir, charm, seed, ModelOptions::default())
    }

    pub fn create_with(
        dir: impl AsRef<Path>,
        charm_path: impl AsRef<Path>,
        seed: u64,
        opts: ModelOptions,
    ) -> Result<Model, SimError> {
        let dir = absolute(dir.as_ref())?;
        let charm_path = absolute(charm_path.as_ref())?;
        let store = Store::new(&dir);
        if store.exists() {
            return Err(SimError::Invalid(format!(
                "a model already exists in {} (destroy it first)",
                dir.display()
            )));
        }
        let (address_prefix, address_block) = if opts.isolated_addresses {
            let (prefix, lock) = reserve_address_block()?;
            (prefix, Some(lock))
        } else {
            (opts.address_prefix.clone(), None)
        };
        if !is_loopback_prefix(&address_prefix) {
            return Err(SimError::Invalid(format!(
                "address prefix {address_prefix:?} is not a loopback prefix like \"127.0.3.\""
            )));
        }
        let jujuc = match opts.jujuc {
            Some(p) => p,
            None => locate_jujuc()?,
        };
        make_dir(&dir, 0o700)?;
        let tools_dir = dir.join("tools");
        make_dir(&tools_dir, 0o755)?;
        let tool_bin = tools_dir.join("sim-jujuc");
        fs::copy(&jujuc, &tool_bin).map_err(SimError::io("copy", &jujuc))?;
        fs::set_permissions(&tool_bin, fs::Permissions::from_mode(0o755))
            .map_err(SimError::io("chmod", &tool_bin))?;
        for name in TOOL_NAMES {
            let link = tools_dir.join(name);
            symlink("sim-jujuc", &link).map_err(SimError::io("create symlink", &link))?;
        }
        let charm_dir = dir.join("charms").join("0");
        charm::unpack(&charm_path, &charm_dir)?;
        let meta = Charm::load(&charm_dir)?;
        let mut st = ModelState {
            model_name: opts.model_name,
            model_uuid: uuid_from(seed),
            app: meta.name.clone(),
            seed,
            rng: seed,
            charm: CharmRecord {
                revision: 0,
                source: charm_path,
                dir: charm_dir,
                meta: meta.clone(),
            },
            config: BTreeMap::new(),
            switches: opts.switches,
            address_prefix,
            next_unit: 0,
            units: BTreeMap::new(),
            removed_units: Vec::new(),
            leader: None,
            leader_settings: Bag::new(),
            relations: BTreeMap::new(),
            next_relation: 0,
            contexts: BTreeMap::new(),
            next_context: 0,
            actions: BTreeMap::new(),
            next_action: 1,
            app_status: StatusRecord::new("unknown", ""),
            app_version: String::new(),
            tool_failures: Vec::new(),
            hook_seq: 0,
            enqueued: 0,
        };
        for ep in &meta.peers {
            let id = st.next_relation;
            st.next_relation += 1;
            st.relations.insert(
                id,
                Relation {
                    id,
                    endpoint: ep.clone(),
                    peer: true,
                    app_bag: Bag::new(),
                    app_version: 0,
                    units: BTreeMap::new(),
                },
            );
        }
        store.init(st)?;
        Ok(Model {
            store,
            _address_block: address_block,
            destroy_on_drop: true,
            destroyed: false,
            on_hook: None,
            measuring: false,
            last_usage: None,
        })
    }

    /// Opens an existing model. Dropping the value leaves the model in place.
    pub fn open(dir: impl AsRef<Path>) -> Result<Model, SimError> {
        let dir = absolute(dir.as_ref())?;
        let store = Store::new(&dir);
        if !store.exists() {
            return Err(SimError::Invalid(format!("no model in {}", dir.display())));
        }
        Ok(Model {
            store,
            _address_block: None,
            destroy_on_drop: false,
            destroyed: false,
            on_hook: None,
            measuring: false,
            last_usage: None,
        })
    }

    /// Whether dropping this value destroys the model (true after `create`, false after
    /// `open`). With `SIM_KEEP=1` in the environment a drop only stops the processes.
    pub fn set_destroy_on_drop(&mut self, yes: bool) {
        self.destroy_on_drop = yes;
    }

    /// Calls `f` after every hook or action run (progress output).
    pub fn on_hook(&mut self, f: impl FnMut(&HookRecord) + 'static) {
        self.on_hook = Some(Box::new(f));
    }

    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    fn lock(&self) -> Result<Guard, SimError> {
        self.store.lock()
    }

    /// A copy of the whole model state.
    pub fn state(&self) -> Result<ModelState, SimError> {
        Ok(self.lock()?.st)
    }

    pub fn app_name(&self) -> Result<String, SimError> {
        Ok(self.lock()?.st.app)
    }

    pub fn switches(&self) -> Result<Switches, SimError> {
        Ok(self.lock()?.st.switches)
    }

    pub fn set_switches(&mut self, switches: Switches) -> Result<(), SimError> {
        let mut g = self.lock()?;
        g.st.switches = switches;
        g.save()
    }

    // --- verbs -------------------------------------------------------------------------------

    /// `juju deploy -n N`: creates N units and queues their start-up hooks. The first unit
    /// is the leader.
    pub fn deploy(&mut self, n: u32) -> Result<Vec<String>, SimError> {
        let mut g = self.lock()?;
        if g.st.next_unit > 0 {
            return Err(SimError::Invalid(
                "the application is already deployed; use add-unit".into(),
            ));
        }
        let mut names = Vec::new();
        for _ in 0..n {
            names.push(self.new_unit(&mut g)?);
        }
        g.save()?;
        Ok(names)
    }

    /// `juju add-unit`: one more unit; the others will see it join once it is installed.
    pub fn add_unit(&mut self) -> Result<String, SimError> {
        let mut g = self.lock()?;
        if g.st.next_unit == 0 {
            return Err(SimError::Invalid(
                "nothing deployed yet; deploy first".into(),
            ));
        }
        let name = self.new_unit(&mut g)?;
        g.save()?;
        Ok(name)
    }

    fn new_unit(&self, g: &mut Guard) -> Result<String, SimError> {
        let st = &mut g.st;
        let n = st.next_unit;
        if n > 243 {
            return Err(SimError::Invalid(format!(
                "out of loopback addresses ({p}11-{p}254)",
                p = st.address_prefix
            )));
        }
        let name = format!("{}/{n}", st.app);
        let dir = self.dir().join("units").join(format!("{}-{n}", st.app));
        make_dir(&dir, 0o700)?;
        make_dir(&dir.join("workload"), 0o700)?;
        let charm_dir = dir.join("charm");
        let files = charm::deploy_to_unit(&st.charm.dir, &charm_dir, &[])?;
        st.next_unit += 1;
        st.units.insert(
            name.clone(),
            Unit {
                name: name.clone(),
                number: n,
                address: format!("{}{}", st.address_prefix, 11 + n),
                dir,
                life: Life::Alive,
                queue: Default::default(),
                actions: Default::default(),
                error: None,
                workload: StatusRecord::new("waiting", "waiting for machine"),
                status_set: false,
                executing: None,
                scope: BTreeMap::new(),
                state: BTreeMap::new(),
                ports: Default::default(),
                charm_revision: st.charm.revision,
                charm_files: files,
            },
        );
        if st.leader.is_none() {
            st.leader = Some(name.clone());
        }
        st.queue_new_unit(&name);
        Ok(name)
    }

    /// `juju remove-unit`: the unit departs its relations, stops and is removed; if it led,
    /// another unit is elected once it is gone.
    pub fn remove_unit(&mut self, unit: &str) -> Result<(), SimError> {
        let mut g = self.lock()?;
        match g.st.units.get(unit) {
            None => return Err(SimError::Invalid(format!("unit {unit:?} not found"))),
            Some(u) if u.life == Life::Dying => return Ok(()),
            Some(_) => {}
        }
        g.st.begin_removal(unit);
        g.save()
    }

    /// `juju config k=v ...` (`k=` resets to the default). Queues `config-changed` on every
    /// unit when the effective config changed; returns whether it did.
    pub fn set_config(&mut self, pairs: &[(&str, &str)]) -> Result<bool, SimError> {
        let mut g = self.lock()?;
        let st = &mut g.st;
        let before = st.charm.meta.effective_config(&st.config, true);
        for (k, v) in pairs {
            let opt = st
                .charm
                .meta
                .options
                .get(*k)
                .ok_or_else(|| SimError::Invalid(format!("unknown option {k:?}")))?;
            if v.is_empty() {
                st.config.remove(*k);
            } else {
                let value = opt.kind.parse_value(k, v)?;
                st.config.insert(k.to_string(), value);
            }
        }
        let after = st.charm.meta.effective_config(&st.config, true);
        let changed = before != after;
        if changed {
            for u in st.units_by_number() {
                if st.is_alive(&u) {
                    st.enqueue(&u, HookSpec::plain(HookKind::ConfigChanged));
                }
            }
        }
        g.save()?;
        Ok(changed)
    }

    /// The effective config (set values, else defaults; null for options without either).
    pub fn config(&self) -> Result<serde_json::Map<String, Value>, SimError> {
        let g = self.lock()?;
        Ok(g.st.charm.meta.effective_config(&g.st.config, true))
    }

    /// `juju refresh --path`: a new charm revision; each unit swaps its charm dir when it
    /// reaches `upgrade-charm`, then runs `config-changed` (non-leaders also
    /// `leader-settings-changed`). Returns the new revision.
    pub fn refresh(&mut self, charm_path: impl AsRef<Path>) -> Result<u64, SimError> {
        let charm_path = absolute(charm_path.as_ref())?;
        let mut g = self.lock()?;
        let rev = g.st.charm.revision + 1;
        let dest = self.dir().join("charms").join(rev.to_string());
        let _ = fs::remove_dir_all(&dest);
        charm::unpack(&charm_path, &dest)?;
        let meta = Charm::load(&dest)?;
        if meta.name != g.st.app {
            let _ = fs::remove_dir_all(&dest);
            return Err(SimError::Invalid(format!(
                "cannot refresh {} to a charm named {:?}",
                g.st.app, meta.name
            )));
        }
        let st = &mut g.st;
        st.charm = CharmRecord {
            revision: rev,
            source: charm_path,
            dir: dest,
            meta,
        };
        for u in st.units_by_number() {
            if !st.is_alive(&u) {
                continue;
            }
            st.enqueue(&u, HookSpec::plain(HookKind::UpgradeCharm));
            st.enqueue(&u, HookSpec::plain(HookKind::ConfigChanged));
            if st.switches.start_after_refresh {
                st.enqueue(&u, HookSpec::plain(HookKind::Start));
            }
            if st.leader.as_deref() != Some(u.as_str()) {
                st.enqueue(&u, HookSpec::plain(HookKind::LeaderSettingsChanged));
            }
        }
        g.save()?;
        Ok(rev)
    }

    /// Moves leadership to `unit` (`leader-elected` there, `leader-settings-changed` on the
    /// others; the old leader gets no "deposed" hook, as in Juju).
    pub fn set_leader(&mut self, unit: &str) -> Result<(), SimError> {
        let mut g = self.lock()?;
        if !g.st.is_alive(unit) {
            return Err(SimError::Invalid(format!(
                "unit {unit:?} not found or dying"
            )));
        }
        if g.st.leader.as_deref() == Some(unit) {
            return Ok(());
        }
        g.st.elect(unit);
        g.save()
    }

    pub fn leader(&self) -> Result<Option<String>, SimError> {
        Ok(self.lock()?.st.leader)
    }

    /// Makes the hook tool `tool` fail (exit 1) the next time `unit` calls it.
    pub fn inject_tool_failure(&mut self, unit: &str, tool: &str) -> Result<(), SimError> {
        self.inject_tool_failures(unit, tool, 1)
    }

    /// As [`Model::inject_tool_failure`], for the next `times` calls.
    pub fn inject_tool_failures(
        &mut self,
        unit: &str,
        tool: &str,
        times: u32,
    ) -> Result<(), SimError> {
        if !TOOL_NAMES.contains(&tool) {
            return Err(SimError::Invalid(format!("unknown hook tool {tool:?}")));
        }
        let mut g = self.lock()?;
        if !g.st.units.contains_key(unit) {
            return Err(SimError::Invalid(format!("unit {unit:?} not found")));
        }
        g.st.tool_failures.push(ToolFailure {
            unit: unit.to_string(),
            tool: tool.to_string(),
            remaining: times,
        });
        g.save()
    }

    // --- actions -----------------------------------------------------------------------------

    /// Validates and queues an action (params already typed); returns its id.
    pub fn enqueue_action(
        &mut self,
        unit: &str,
        action: &str,
        params: serde_json::Map<String, Value>,
    ) -> Result<u64, SimError> {
        let mut g = self.lock()?;
        if !g.st.units.contains_key(unit) {
            return Err(SimError::Invalid(format!("unit {unit:?} not found")));
        }
        let spec =
            g.st.charm
                .meta
                .actions
                .get(action)
                .ok_or_else(|| {
                    SimError::Invalid(format!(
                        "invalid action {action:?}: not defined on unit {unit:?}"
                    ))
                })?
                .clone();
        let params = validate_params(&spec, params)
            .map_err(|e| SimError::Invalid(format!("validation failed: {e}")))?;
        let id = g.st.next_action;
        g.st.next_action += 1;
        g.st.actions.insert(
            id,
            ActionRecord {
                id,
                unit: unit.to_string(),
                name: action.to_string(),
                params,
                status: ActionStatus::Pending,
                message: String::new(),
                results: Default::default(),
                failed_by_charm: false,
                logs: Vec::new(),
                return_code: None,
                stdout: String::new(),
                stderr: String::new(),
            },
        );
        g.st.units
            .get_mut(unit)
            .expect("unit exists")
            .actions
            .push_back(id);
        g.save()?;
        Ok(id)
    }

    /// `juju run <unit> <action> k=v ...`: values are YAML-typed as `juju run` types them
    /// (`5` is an integer; use [`Model::run_action_with`] for exact types). Runs the
    /// scheduler until the action finished (other units' hooks may interleave) and returns
    /// its result. It does not settle afterwards.
    pub fn run_action(
        &mut self,
        unit: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<ActionResult, SimError> {
        let pairs: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.run_action_with(unit, action, tools::typed_params(&pairs, false))
    }

    /// [`Model::run_action`] with typed params.
    pub fn run_action_with(
        &mut self,
        unit: &str,
        action: &str,
        params: serde_json::Map<String, Value>,
    ) -> Result<ActionResult, SimError> {
        let id = self.enqueue_action(unit, action, params)?;
        let _runner = self.runner()?;
        loop {
            if let Some(r) = self.action_result(id)? {
                return Ok(r);
            }
            if self.step_inner()?.is_none() {
                return Err(SimError::Invalid(format!("action {id} was not run")));
            }
        }
    }

    /// An action's result once it finished.
    pub fn action_result(&self, id: u64) -> Result<Option<ActionResult>, SimError> {
        let g = self.lock()?;
        let rec =
            g.st.actions
                .get(&id)
                .ok_or_else(|| SimError::Invalid(format!("no action {id}")))?;
        let status = match rec.status {
            ActionStatus::Completed => "completed",
            ActionStatus::Failed => "failed",
            _ => return Ok(None),
        };
        Ok(Some(ActionResult {
            id,
            unit: rec.unit.clone(),
            action: rec.name.clone(),
            status: status.to_string(),
            message: rec.message.clone(),
            results: rec.results.clone(),
            return_code: rec.return_code.unwrap_or(-1),
            stdout: rec.stdout.clone(),
            stderr: rec.stderr.clone(),
            logs: rec.logs.clone(),
        }))
    }

    // --- scheduler ---------------------------------------------------------------------------

    /// Runs the next scheduled hook or action (a unit picked by the seeded PRNG among units
    /// with work; per unit, actions first, then its queue in order; units in error run only
    /// actions). Retries are not run here (see `settle`). None when nothing is runnable.
    pub fn step(&mut self) -> Result<Option<HookRecord>, SimError> {
        let _runner = self.runner()?;
        self.step_inner()
    }

    /// Takes the runner lock and puts back work a previous runner left half done (it was
    /// killed while a hook ran): the hook goes back to the front of its unit's queue and an
    /// action back to pending, as Juju re-queues a hook interrupted by an agent shutdown.
    fn runner(&mut self) -> Result<RunnerLock, SimError> {
        let lock = self.store.runner_lock()?;
        let mut g = self.lock()?;
        if g.st.contexts.is_empty() {
            return Ok(lock);
        }
        let stale: Vec<Context> = std::mem::take(&mut g.st.contexts).into_values().collect();
        for ctx in stale {
            let Some(u) = g.st.units.get_mut(&ctx.unit) else {
                continue;
            };
            u.executing = None;
            match (ctx.hook, ctx.action) {
                (Some(h), _) => {
                    let is_retry = u.error.as_ref().is_some_and(|e| e.hook == h);
                    if !is_retry {
                        u.queue.push_front(h);
                    }
                }
                (None, Some(id)) => {
                    u.actions.push_front(id);
                    if let Some(a) = g.st.actions.get_mut(&id) {
                        a.status = ActionStatus::Pending;
                    }
                }
                (None, None) => {}
            }
        }
        g.save()?;
        Ok(lock)
    }

    fn step_inner(&mut self) -> Result<Option<HookRecord>, SimError> {
        let mut g = self.lock()?;
        let st = &mut g.st;
        let candidates: Vec<String> = st
            .units_by_number()
            .into_iter()
            .filter(|n| {
                let u = &st.units[n];
                !u.actions.is_empty() || (u.error.is_none() && !u.queue.is_empty())
            })
            .collect();
        if candidates.is_empty() {
            return Ok(None);
        }
        let mut rng = SplitMix64::new(st.rng);
        let unit = candidates[rng.below(candidates.len())].clone();
        st.rng = rng.state;
        let u = st.units.get_mut(&unit).expect("unit exists");
        let work = match u.actions.pop_front() {
            Some(id) => Work::Action(id),
            None => Work::Hook(u.queue.pop_front().expect("queue not empty"), 1),
        };
        self.execute(g, &unit, work).map(Some)
    }

    /// Retries one failed hook (unit picked by the PRNG among units in error that have
    /// retries left).
    fn retry_one(&mut self) -> Result<Option<HookRecord>, SimError> {
        let mut g = self.lock()?;
        let st = &mut g.st;
        let max = st.switches.hook_retries;
        let candidates: Vec<String> = st
            .units_by_number()
            .into_iter()
            .filter(|n| {
                st.units[n]
                    .error
                    .as_ref()
                    .is_some_and(|e| e.failures <= max)
            })
            .collect();
        if candidates.is_empty() {
            return Ok(None);
        }
        let mut rng = SplitMix64::new(st.rng);
        let unit = candidates[rng.below(candidates.len())].clone();
        st.rng = rng.state;
        let err = st.units[&unit].error.clone().expect("in error");
        self.execute(g, &unit, Work::Hook(err.hook, err.failures + 1))
            .map(Some)
    }

    fn execute(&mut self, mut g: Guard, unit: &str, work: Work) -> Result<HookRecord, SimError> {
        let dir = self.dir().to_path_buf();
        let st = &mut g.st;
        st.hook_seq += 1;
        let seq = st.hook_seq;
        let (name, hook, action, attempt) = match &work {
            Work::Hook(h, attempt) => (h.name.clone(), Some(h.clone()), None, *attempt),
            Work::Action(id) => (st.actions[id].name.clone(), None, Some(*id), 1),
        };
        let ctx_id = format!(
            "{unit}-{name}-{}",
            mix(st.seed ^ seq.wrapping_mul(0x9E37_79B9)) >> 1
        );
        let mut skip_reason: Option<String> = None;

        // Uniter bookkeeping before the hook runs.
        if let Some(h) = &hook {
            let is_leader = st.leader.as_deref() == Some(unit);
            let u = st.units.get_mut(unit).expect("unit exists");
            match h.kind {
                HookKind::RelationJoined
                | HookKind::RelationChanged
                | HookKind::RelationDeparted => {
                    if let (Some(id), Some(remote)) = (h.relation_id, &h.remote_unit) {
                        if let Some(s) = u.scope.get_mut(&id) {
                            s.member_cache.remove(remote);
                            match h.kind {
                                HookKind::RelationJoined => {
                                    s.members.insert(remote.clone());
                                }
                                HookKind::RelationDeparted => {
                                    s.members.remove(remote);
                                }
                                _ => {}
                            }
                        }
                    }
                }
                HookKind::Install if !u.status_set => {
                    u.workload = StatusRecord::new("maintenance", "installing charm software");
                }
                HookKind::Stop => {
                    u.workload = StatusRecord::new("maintenance", "stopping charm software")
                }
                HookKind::Remove => {
                    u.workload =
                        StatusRecord::new("maintenance", "cleaning up prior to charm deletion")
                }
                HookKind::LeaderElected if !is_leader => {
                    skip_reason = Some("leadership lost before the hook ran".into());
                }
                HookKind::UpgradeCharm if u.charm_revision != st.charm.revision => {
                    let files =
                        charm::deploy_to_unit(&st.charm.dir, &u.charm_dir(), &u.charm_files)?;
                    u.charm_files = files;
                    u.charm_revision = st.charm.revision;
                }
                _ => {}
            }
        }
        if let Some(id) = action {
            st.actions.get_mut(&id).expect("action exists").status = ActionStatus::Running;
        }

        let u = &st.units[unit];
        let charm_dir = u.charm_dir();
        let env = hook_env(st, &dir, unit, &ctx_id, hook.as_ref(), action);
        let program = if skip_reason.is_some() {
            Ok(None)
        } else {
            find_handler(
                &charm_dir,
                hook.as_ref().map(|h| h.name.as_str()),
                action.map(|_| name.as_str()),
                unit,
            )
        };
        let record_env: BTreeMap<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("JUJU_"))
            .cloned()
            .collect();
        let timeout = Duration::from_secs(st.switches.hook_timeout_secs);
        let u = st.units.get_mut(unit).expect("unit exists");
        u.executing = Some(match &hook {
            Some(h) => format!("running {} hook", h.name),
            None => format!("running action {name}"),
        });
        let scratch = u.dir.clone();
        st.contexts.insert(
            ctx_id.clone(),
            Context {
                id: ctx_id.clone(),
                unit: unit.to_string(),
                hook: hook.clone(),
                action,
                pending: Pending::default(),
                snapshots: BTreeMap::new(),
                config: None,
                leader_settings: None,
            },
        );
        g.save()?;
        drop(g);

        // Run the process without holding the lock: its hook tools need it.
        let started = Instant::now();
        let finished: Result<Option<Finished>, String> = match &program {
            Ok(Some(p)) => self
                .run_process(p, &charm_dir, &env, &scratch, timeout)
                .map(Some)
                .map_err(|e| format!("cannot start {}: {e}", p.display())),
            Ok(None) => Ok(None),
            Err(reason) => Err(reason.clone()),
        };
        let duration_ms = started.elapsed().as_millis() as u64;

        let mut g = self.lock()?;
        let st = &mut g.st;
        let ctx = st.contexts.remove(&ctx_id);
        let mut exit_code = None;
        let (mut outcome, mut reason) = match &finished {
            Err(r) => (Outcome::Failed, Some(r.clone())),
            Ok(None) => (
                Outcome::Skipped,
                skip_reason
                    .clone()
                    .or(Some("no handler in the charm".into())),
            ),
            Ok(Some(f)) => {
                exit_code = f.code;
                if f.success() {
                    (Outcome::Ok, None)
                } else if f.timed_out {
                    (Outcome::TimedOut, Some(f.reason(timeout)))
                } else {
                    (Outcome::Failed, Some(f.reason(timeout)))
                }
            }
        };
        if outcome == Outcome::Ok {
            if let Some(ctx) = &ctx {
                if let Err(e) = commit(st, ctx) {
                    outcome = Outcome::CommitFailed;
                    reason = Some(e);
                }
            }
        }
        let success = matches!(outcome, Outcome::Ok | Outcome::Skipped);

        // debug-log: the process output, then the uniter's own line.
        let module = format!("unit.{unit}.{name}");
        let mut text = String::new();
        if let Ok(Some(f)) = &finished {
            for l in f.stdout.lines() {
                text += &logs::line(unit, "DEBUG", &module, l);
            }
            for l in f.stderr.lines() {
                text += &logs::line(unit, "WARNING", &module, l);
            }
        }
        let what = if hook.is_some() { "hook" } else { "action" };
        text += &if success {
            logs::line(
                unit,
                "INFO",
                "juju.worker.uniter.operation",
                &format!("ran {name:?} {what} ({outcome:?})"),
            )
        } else {
            logs::line(
                unit,
                "ERROR",
                "juju.worker.uniter.operation",
                &format!(
                    "{what} {name:?} failed: {}",
                    reason.clone().unwrap_or_default()
                ),
            )
        };
        logs::append(&dir, &text)?;

        let mut to_stop: Vec<PathBuf> = Vec::new();
        if let Some(h) = &hook {
            let u = st.units.get_mut(unit).expect("unit exists");
            u.executing = None;
            if success {
                u.error = None;
                match h.kind {
                    HookKind::Install => st.enter_scope(unit),
                    HookKind::Start if !u.status_set => {
                        u.workload = StatusRecord::new("unknown", "")
                    }
                    HookKind::Remove => {
                        to_stop.push(u.workload_root());
                        finish_removal(st, unit);
                    }
                    _ => {}
                }
            } else {
                u.error = Some(FailedHook {
                    hook: h.clone(),
                    failures: attempt,
                    reason: reason.clone().unwrap_or_default(),
                });
            }
        }
        if let Some(id) = action {
            if let Some(u) = st.units.get_mut(unit) {
                u.executing = None;
            }
            let rec = st.actions.get_mut(&id).expect("action exists");
            if let Ok(Some(f)) = &finished {
                rec.return_code = f.code;
                rec.stdout = f.stdout.clone();
                rec.stderr = f.stderr.clone();
            }
            match outcome {
                Outcome::Ok if !rec.failed_by_charm => rec.status = ActionStatus::Completed,
                Outcome::Ok => rec.status = ActionStatus::Failed,
                _ => {
                    rec.status = ActionStatus::Failed;
                    if !rec.failed_by_charm || outcome == Outcome::CommitFailed {
                        rec.message = reason.clone().unwrap_or_default();
                    }
                }
            }
        }
        let record = HookRecord {
            seq,
            unit: unit.to_string(),
            hook: name,
            kind: what.to_string(),
            relation_id: hook.as_ref().and_then(|h| {
                h.relation_id
                    .map(|id| format!("{}:{id}", h.endpoint.clone().unwrap_or_default()))
            }),
            remote_unit: hook.as_ref().and_then(|h| h.remote_unit.clone()),
            departing_unit: hook.as_ref().and_then(|h| h.departing_unit.clone()),
            action_id: action,
            context_id: ctx_id,
            attempt,
            outcome,
            exit_code,
            reason,
            duration_ms,
            env: record_env,
        };
        logs::append_hook_record(&dir, &record)?;
        g.save()?;
        drop(g);
        for root in to_stop {
            process::stop_zookeeper(&root, STOP_GRACE);
        }
        if let Some(f) = self.on_hook.as_mut() {
            f(&record);
        }
        Ok(record)
    }

    /// Runs hooks until the model is quiet: no hook queued, failed hooks retried (bounded
    /// by `Switches::hook_retries`), then simulated `update-status` ticks until a whole tick
    /// queued nothing new, left no unit in error and changed no status.
    pub fn settle(&mut self, limits: SettleLimits) -> Result<SettleReport, SimError> {
        let _runner = self.runner()?;
        let start = Instant::now();
        let mut report = SettleReport::default();
        loop {
            self.drain(&limits, start, &mut report)?;
            let (retryable, stuck) = self.error_units()?;
            if !retryable.is_empty() {
                sleep(limits.retry_delay);
                if self.retry_one()?.is_some() {
                    report.hooks += 1;
                    report.retries += 1;
                    self.check_limits(&limits, start, &mut report)?;
                }
                continue;
            }
            if !stuck.is_empty() {
                report.elapsed = start.elapsed();
                report.units_in_error = stuck.clone();
                return Err(SimError::Unsettled {
                    reason: format!("retries exhausted: {}", stuck.join("; ")),
                    report: Box::new(report),
                });
            }
            let before = self.observe()?;
            sleep(limits.tick_interval);
            {
                let mut g = self.lock()?;
                for u in g.st.units_by_number() {
                    let unit = &g.st.units[&u];
                    if unit.life == Life::Alive && unit.error.is_none() {
                        g.st.enqueue(&u, HookSpec::plain(HookKind::UpdateStatus));
                    }
                }
                g.save()?;
            }
            report.update_status_rounds += 1;
            self.drain(&limits, start, &mut report)?;
            let after = self.observe()?;
            let (retryable, stuck) = self.error_units()?;
            let quiet = before == after && retryable.is_empty() && stuck.is_empty();
            if quiet && (!limits.until_active || self.all_active()?) {
                break;
            }
            self.check_limits(&limits, start, &mut report)?;
        }
        report.elapsed = start.elapsed();
        Ok(report)
    }

    fn drain(
        &mut self,
        limits: &SettleLimits,
        start: Instant,
        report: &mut SettleReport,
    ) -> Result<(), SimError> {
        while self.step_inner()?.is_some() {
            report.hooks += 1;
            self.check_limits(limits, start, report)?;
        }
        Ok(())
    }

    fn check_limits(
        &self,
        limits: &SettleLimits,
        start: Instant,
        report: &mut SettleReport,
    ) -> Result<(), SimError> {
        let reason = if report.hooks >= limits.max_hooks {
            format!("ran {} hooks, the --max-hooks bound", report.hooks)
        } else if start.elapsed() >= limits.timeout {
            let mut r = format!("not settled after {}s", limits.timeout.as_secs());
            if limits.until_active {
                let waiting: Vec<String> = self
                    .status()?
                    .into_iter()
                    .filter(|u| u.workload != "active")
                    .map(|u| format!("{} {}: {}", u.unit, u.workload, u.message))
                    .collect();
                if !waiting.is_empty() {
                    r += &format!(" (not active: {})", waiting.join("; "));
                }
            }
            r
        } else {
            return Ok(());
        };
        report.elapsed = start.elapsed();
        report.units_in_error = self.error_units()?.1;
        Err(SimError::Unsettled {
            reason,
            report: Box::new(report.clone()),
        })
    }

    /// (units in error with retries left, descriptions of units out of retries).
    fn error_units(&self) -> Result<(Vec<String>, Vec<String>), SimError> {
        let g = self.lock()?;
        let max = g.st.switches.hook_retries;
        let mut retryable = Vec::new();
        let mut stuck = Vec::new();
        for u in g.st.units.values() {
            if let Some(e) = &u.error {
                if e.failures <= max {
                    retryable.push(u.name.clone());
                } else {
                    stuck.push(format!(
                        "{}: hook failed: {:?} after {} attempts ({})",
                        u.name, e.hook.name, e.failures, e.reason
                    ));
                }
            }
        }
        Ok((retryable, stuck))
    }

    /// What a quiet tick must leave unchanged.
    fn observe(&self) -> Result<Observed, SimError> {
        let g = self.lock()?;
        let units =
            g.st.units
                .values()
                .map(|u| {
                    (
                        u.name.clone(),
                        u.workload.status.clone(),
                        u.workload.message.clone(),
                    )
                })
                .collect();
        Ok(Observed {
            enqueued: g.st.enqueued,
            units,
            app: (
                g.st.app_status.status.clone(),
                g.st.app_status.message.clone(),
            ),
        })
    }

    fn all_active(&self) -> Result<bool, SimError> {
        Ok(self.status()?.iter().all(|u| u.workload == "active"))
    }

    // --- observation -------------------------------------------------------------------------

    /// Every unit, by unit number, as `juju status` shows it (no ZooKeeper role).
    pub fn status(&self) -> Result<Vec<UnitStatus>, SimError> {
        let g = self.lock()?;
        let st = &g.st;
        Ok(st
            .units_by_number()
            .into_iter()
            .map(|n| {
                let u = &st.units[&n];
                let error = u
                    .error
                    .as_ref()
                    .map(|e| format!("hook failed: {:?}", e.hook.name));
                UnitStatus {
                    unit: n.clone(),
                    workload: if error.is_some() {
                        "error".into()
                    } else {
                        u.workload.status.clone()
                    },
                    message: error.clone().unwrap_or_else(|| u.workload.message.clone()),
                    agent: if error.is_some() {
                        "error".into()
                    } else if u.executing.is_some() {
                        "executing".into()
                    } else {
                        "idle".into()
                    },
                    leader: st.leader.as_deref() == Some(n.as_str()),
                    address: u.address.clone(),
                    life: if u.life == Life::Alive {
                        "alive".into()
                    } else {
                        "dying".into()
                    },
                    error,
                    queued: u.queue.len(),
                    role: None,
                }
            })
            .collect())
    }

    /// [`Model::status`] plus each unit's ZooKeeper role (queried in parallel, 1 s timeout).
    pub fn status_with_roles(&self) -> Result<Vec<UnitStatus>, SimError> {
        let mut units = self.status()?;
        let handles: Vec<_> = units
            .iter()
            .map(|u| {
                let addr = u.address.clone();
                std::thread::spawn(move || zk_role(&addr))
            })
            .collect();
        for (u, h) in units.iter_mut().zip(handles) {
            u.role = h.join().ok().flatten();
        }
        Ok(units)
    }

    /// Application status, message and workload version. When the leader never set an
    /// application status, it is derived from the units as Juju does: the most severe unit
    /// status (error > blocked > maintenance > waiting > active > unknown) and its message.
    pub fn app_status(&self) -> Result<(String, String, String), SimError> {
        let version = self.lock()?.st.app_version;
        let (status, message) = {
            let g = self.lock()?;
            (
                g.st.app_status.status.clone(),
                g.st.app_status.message.clone(),
            )
        };
        if status != "unknown" {
            return Ok((status, message, version));
        }
        let rank = |s: &str| match s {
            "error" => 5,
            "blocked" => 4,
            "maintenance" => 3,
            "waiting" => 2,
            "active" => 1,
            _ => 0,
        };
        // The first unit (by number) among the most severe.
        let worst = self
            .status()?
            .into_iter()
            .fold(None::<UnitStatus>, |best, u| match best {
                Some(b) if rank(&b.workload) >= rank(&u.workload) => Some(b),
                _ => Some(u),
            });
        Ok(match worst {
            Some(u) => (u.workload, u.message, version),
            None => (status, message, version),
        })
    }

    pub fn hook_log(&self) -> Result<Vec<HookRecord>, SimError> {
        logs::read_hook_log(self.dir())
    }

    pub fn debug_log(
        &self,
        unit: Option<&str>,
        lines: Option<usize>,
    ) -> Result<Vec<String>, SimError> {
        logs::read_debug_log(self.dir(), unit, lines)
    }

    fn relation_by_endpoint<'a>(
        st: &'a ModelState,
        endpoint: &str,
    ) -> Result<&'a Relation, SimError> {
        st.relations
            .values()
            .find(|r| r.endpoint == endpoint)
            .ok_or_else(|| SimError::Invalid(format!("no relation on endpoint {endpoint:?}")))
    }

    /// Committed unit bags of the relation on `endpoint`, by unit (units that left keep
    /// their last bag, as Juju keeps it readable).
    pub fn unit_databags(&self, endpoint: &str) -> Result<BTreeMap<String, Bag>, SimError> {
        let g = self.lock()?;
        let r = Self::relation_by_endpoint(&g.st, endpoint)?;
        Ok(r.units
            .iter()
            .map(|(k, v)| (k.clone(), v.bag.clone()))
            .collect())
    }

    /// The committed application bag of the relation on `endpoint`.
    pub fn app_databag(&self, endpoint: &str) -> Result<Bag, SimError> {
        let g = self.lock()?;
        Ok(Self::relation_by_endpoint(&g.st, endpoint)?.app_bag.clone())
    }

    /// Leader settings (`leader-set`).
    pub fn leader_settings(&self) -> Result<Bag, SimError> {
        Ok(self.lock()?.st.leader_settings)
    }

    /// A unit's agent directory (`<model>/units/<app>-<n>`).
    pub fn unit_dir(&self, unit: &str) -> Result<PathBuf, SimError> {
        let g = self.lock()?;
        match g.st.units.get(unit) {
            Some(u) => Ok(u.dir.clone()),
            None => {
                let (app, n) = unit.split_once('/').unwrap_or((unit, ""));
                let d = self.dir().join("units").join(format!("{app}-{n}"));
                if d.is_dir() {
                    Ok(d)
                } else {
                    Err(SimError::Invalid(format!("unit {unit:?} not found")))
                }
            }
        }
    }

    /// `ZK_CHARM_LOCAL_ROOT` of a unit.
    pub fn workload_root(&self, unit: &str) -> Result<PathBuf, SimError> {
        Ok(self.unit_dir(unit)?.join("workload"))
    }

    /// Stops every ZooKeeper any unit of this model started (by the pid in its workload
    /// root) and returns their pids. The model stays.
    pub fn stop_processes(&self) -> Vec<i32> {
        let units = self.dir().join("units");
        let mut dirs: Vec<PathBuf> = fs::read_dir(&units)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs.iter()
            .filter_map(|d| process::stop_zookeeper(&d.join("workload"), STOP_GRACE))
            .collect()
    }

    /// `zk-sim destroy`: stops every ZooKeeper the units started, then deletes the model
    /// directory. Returns the pids it stopped.
    pub fn destroy(&mut self) -> Result<Vec<i32>, SimError> {
        let pids = self.stop_processes();
        let dir = self.dir().to_path_buf();
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(SimError::io("remove", &dir))?;
        }
        self.destroyed = true;
        Ok(pids)
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        if !self.destroy_on_drop || self.destroyed {
            return;
        }
        if std::env::var_os("SIM_KEEP").is_some_and(|v| !v.is_empty() && v != "0") {
            self.stop_processes();
            eprintln!(
                "zk-sim: SIM_KEEP set, keeping the model in {}",
                self.dir().display()
            );
        } else {
            let _ = self.destroy();
        }
    }
}

/// The unit is gone after its `remove` hook: it leaves the model (its relation bags stay
/// readable), and if it led, another unit is elected.
fn finish_removal(st: &mut ModelState, unit: &str) {
    st.units.remove(unit);
    st.removed_units.push(unit.to_string());
    st.tool_failures.retain(|f| f.unit != unit);
    if st.leader.as_deref() == Some(unit) {
        st.leader = None;
        let alive: Vec<String> = st
            .units_by_number()
            .into_iter()
            .filter(|u| st.is_alive(u))
            .collect();
        if !alive.is_empty() {
            let pick = if st.switches.seeded_election {
                let mut rng = SplitMix64::new(st.rng);
                let i = rng.below(alive.len());
                st.rng = rng.state;
                i
            } else {
                0
            };
            let next = alive[pick].clone();
            st.elect(&next);
        }
    }
}

/// Applies a context's buffered writes (hook exited 0). App-bag writes re-check leadership.
fn commit(st: &mut ModelState, ctx: &Context) -> Result<(), String> {
    let unit = &ctx.unit;
    let p = &ctx.pending;
    let wrote_app = p.app_bags.values().any(|b| !b.is_empty());
    if wrote_app && st.leader.as_deref() != Some(unit.as_str()) {
        return Err(format!(
            "cannot write relation settings: {unit} is not the leader"
        ));
    }
    let apply = |bag: &mut Bag, changes: &Bag| -> bool {
        let before = bag.clone();
        for (k, v) in changes {
            if v.is_empty() {
                bag.remove(k);
            } else {
                bag.insert(k.clone(), v.clone());
            }
        }
        *bag != before
    };
    let mut unit_changed = Vec::new();
    for (id, changes) in &p.unit_bags {
        if let Some(rel) = st.relations.get_mut(id) {
            let entry = rel.units.entry(unit.clone()).or_default();
            if apply(&mut entry.bag, changes) {
                entry.version += 1;
                unit_changed.push(*id);
            }
        }
    }
    let mut app_changed = Vec::new();
    for (id, changes) in &p.app_bags {
        if let Some(rel) = st.relations.get_mut(id) {
            if apply(&mut rel.app_bag, changes) {
                rel.app_version += 1;
                app_changed.push(*id);
            }
        }
    }
    if let Some(u) = st.units.get_mut(unit) {
        for (k, v) in &p.state {
            match v {
                Some(v) => u.state.insert(k.clone(), v.clone()),
                None => u.state.remove(k),
            };
        }
        for (open, port) in &p.ports {
            if *open {
                u.ports.insert(port.clone());
            } else {
                u.ports.remove(port);
            }
        }
    }
    for id in unit_changed {
        st.fan_out_unit_change(unit, id);
    }
    for id in app_changed {
        st.fan_out_app_change(unit, id);
    }
    Ok(())
}

/// The process to run: `dispatch` if executable, else `hooks/<hook>` / `actions/<action>`;
/// Ok(None) for a missing hook (skipped as success); Err for a missing action, a charm
/// without `metadata.yaml`, or a handler that is not executable.
fn find_handler(
    charm_dir: &Path,
    hook: Option<&str>,
    action: Option<&str>,
    unit: &str,
) -> Result<Option<PathBuf>, String> {
    if !charm_dir.join("metadata.yaml").is_file() {
        return Err("charm missing from disk".into());
    }
    let executable = |p: &Path| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let dispatch = charm_dir.join("dispatch");
    if executable(&dispatch) {
        return Ok(Some(dispatch));
    }
    let handler = match (hook, action) {
        (Some(h), _) => charm_dir.join("hooks").join(h),
        (None, Some(a)) => charm_dir.join("actions").join(a),
        (None, None) => return Ok(None),
    };
    if executable(&handler) {
        Ok(Some(handler))
    } else if handler.exists() {
        Err(format!("{} is not executable", handler.display()))
    } else if action.is_some() {
        Err(format!("action not implemented on unit {unit:?}"))
    } else {
        Ok(None)
    }
}

/// Exactly the variables the uniter sets (plus the sim's state dir and the local workload
/// backend's two variables).
fn hook_env(
    st: &ModelState,
    model_dir: &Path,
    unit: &str,
    ctx_id: &str,
    hook: Option<&HookSpec>,
    action: Option<u64>,
) -> Vec<(String, String)> {
    let u = &st.units[unit];
    let charm_dir = u.charm_dir().to_string_lossy().into_owned();
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| env.push((k.to_string(), v));
    match (hook, action) {
        (Some(h), _) => {
            set("JUJU_DISPATCH_PATH", format!("hooks/{}", h.name));
            set("JUJU_HOOK_NAME", h.name.clone());
        }
        (None, Some(id)) => {
            let a = &st.actions[&id];
            set("JUJU_DISPATCH_PATH", format!("actions/{}", a.name));
            set("JUJU_HOOK_NAME", String::new());
            set("JUJU_ACTION_NAME", a.name.clone());
            set("JUJU_ACTION_UUID", id.to_string());
            set("JUJU_ACTION_TAG", format!("action-{id}"));
        }
        (None, None) => {}
    }
    set("JUJU_UNIT_NAME", unit.to_string());
    set("JUJU_MODEL_NAME", st.model_name.clone());
    set("JUJU_MODEL_UUID", st.model_uuid.clone());
    set("JUJU_CHARM_DIR", charm_dir.clone());
    set("CHARM_DIR", charm_dir);
    set("JUJU_VERSION", JUJU_VERSION.to_string());
    set("JUJU_CONTEXT_ID", ctx_id.to_string());
    if let Some(h) = hook.filter(|h| h.kind.is_relation()) {
        set("JUJU_RELATION", h.endpoint.clone().unwrap_or_default());
        set(
            "JUJU_RELATION_ID",
            format!(
                "{}:{}",
                h.endpoint.clone().unwrap_or_default(),
                h.relation_id.unwrap_or_default()
            ),
        );
        set("JUJU_REMOTE_APP", st.app.clone());
        set(
            "JUJU_REMOTE_UNIT",
            h.remote_unit.clone().unwrap_or_default(),
        );
        if let Some(d) = &h.departing_unit {
            set("JUJU_DEPARTING_UNIT", d.clone());
        }
    }
    set(
        "PATH",
        format!(
            "{}:{SYSTEM_PATH}",
            model_dir.join("tools").to_string_lossy()
        ),
    );
    set("LANG", "C.UTF-8".to_string());
    set(STATE_DIR_ENV, model_dir.to_string_lossy().into_owned());
    set("ZK_CHARM_WORKLOAD", "local".to_string());
    set(
        "ZK_CHARM_LOCAL_ROOT",
        u.workload_root().to_string_lossy().into_owned(),
    );
    env
}

fn json_type_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    }
}

/// Checks params against the action's schema (type, enum, required, additionalProperties),
/// then inserts defaults, as Juju does before queueing.
fn validate_params(
    spec: &charm_files::ActionSpec,
    mut params: serde_json::Map<String, Value>,
) -> Result<serde_json::Map<String, Value>, String> {
    for (k, v) in &params {
        let Some(schema) = spec.params.get(k) else {
            if spec.additional_properties.unwrap_or(false) {
                continue;
            }
            return Err(format!("(root) : additional property {k:?} is not allowed"));
        };
        if let Some(ty) = schema.get("type") {
            let ok = match ty {
                Value::String(t) => json_type_ok(t, v),
                Value::Array(ts) => ts
                    .iter()
                    .any(|t| t.as_str().is_some_and(|t| json_type_ok(t, v))),
                _ => true,
            };
            if !ok {
                return Err(format!(
                    "(root).{k} : invalid type. Expected: {ty}, given: {v}"
                ));
            }
        }
        if let Some(Value::Array(allowed)) = schema.get("enum") {
            if !allowed.contains(v) {
                let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
                return Err(format!(
                    "(root).{k} : {k} must be one of the following: {}",
                    list.join(", ")
                ));
            }
        }
    }
    for r in &spec.required {
        if !params.contains_key(r) {
            return Err(format!("(root) : {r} is required"));
        }
    }
    for (k, schema) in &spec.params {
        if let Some(d) = schema.get("default") {
            params.entry(k.clone()).or_insert_with(|| d.clone());
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use charm_files::ActionSpec;

    fn spec() -> ActionSpec {
        let params = json!({
            "username": {"type": "string", "enum": ["super", "sync"], "default": "super"},
            "password": {"type": "string"},
        });
        ActionSpec {
            params: params.as_object().unwrap().clone(),
            additional_properties: Some(false),
            ..ActionSpec::default()
        }
    }

    #[test]
    fn action_params_get_defaults_and_unknown_ones_are_refused() {
        let p = validate_params(&spec(), serde_json::Map::new()).unwrap();
        assert_eq!(p["username"], json!("super"));
        let mut bad = serde_json::Map::new();
        bad.insert("user".into(), json!("x"));
        assert!(validate_params(&spec(), bad)
            .unwrap_err()
            .contains("additional property \"user\""));
    }

    #[test]
    fn action_params_are_type_and_enum_checked() {
        let mut p = serde_json::Map::new();
        p.insert("password".into(), json!(12345));
        assert!(validate_params(&spec(), p)
            .unwrap_err()
            .contains("invalid type"));
        let mut p = serde_json::Map::new();
        p.insert("username".into(), json!("root"));
        assert!(validate_params(&spec(), p)
            .unwrap_err()
            .contains("must be one of"));
    }

    #[test]
    fn address_prefixes_must_be_three_loopback_octets_and_a_dot() {
        assert!(is_loopback_prefix("127.0.0."));
        assert!(is_loopback_prefix("127.0.3."));
        assert!(!is_loopback_prefix("10.0.0."));
        assert!(!is_loopback_prefix("127.0.0"));
        assert!(!is_loopback_prefix("127.0.300."));
    }

    #[test]
    fn isolated_address_blocks_are_never_handed_out_twice_at_once() {
        let (a, _la) = reserve_address_block().unwrap();
        let (b, lb) = reserve_address_block().unwrap();
        assert_ne!(a, b);
        assert!(is_loopback_prefix(&a));
        drop(lb);
        let (c, _lc) = reserve_address_block().unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn model_uuids_look_like_uuids_and_follow_the_seed() {
        let u = uuid_from(1);
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        assert_eq!(u, uuid_from(1));
        assert_ne!(u, uuid_from(2));
    }
}
