//! The model: create/open, Juju's verbs (deploy, add-unit, remove-unit, integrate,
//! remove-relation, config, run, exec, refresh, leader), the scheduler that runs queued hooks
//! in a seeded order (one hook per unit at a time, up to K units at once), and `settle`.
//!
//! # Layout
//!
//! - `mod.rs`: [`Model`] (create, open, destroy), [`ModelOptions`].
//! - `verbs.rs`: Juju's verbs on applications and units; `relations.rs`: integrate and
//!   remove-relation; `actions.rs`: queueing actions, checking their params; `exec.rs`:
//!   `juju exec` and the helpers a test uses to act for a scripted stub.
//! - `scheduler.rs`: which unit runs next, and one hook or action run, start to record.
//! - `env.rs`: the handler a run executes and its environment; `commit.rs`: what a hook's
//!   exit makes permanent.
//! - `settle.rs`: [`Model::settle`] and its bounds; `observe.rs`: statuses, logs, databags,
//!   secrets.
//! - `records.rs`: what runs report; `measure.rs`: measured runs for benchmarks.
//! - `pause.rs`: pause points, to hold a unit at a hook-tool call.
//! - `addresses.rs`: unit address blocks; `jujuc.rs`: finding the hook-tool binary.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::machine::{self as machine, Machine};
use crate::rng::mix;
use crate::snap::service;
use crate::state::{Guard, ModelState, Store, Switches};
use crate::tools::ToolName;
use crate::SimError;

mod actions;
mod addresses;
mod commit;
mod env;
mod exec;
mod jujuc;
mod measure;
mod observe;
mod pause;
mod records;
mod relations;
mod scheduler;
mod settle;
mod verbs;

pub use exec::ExecResult;
pub use jujuc::locate_jujuc;
pub use measure::{run_measured, Measured, ToolRun, Usage, WORKLOAD_COMMANDS};
pub use observe::zk_role;
pub use observe::{AppStatus, RelationStatus, SecretView};
pub use records::{ActionResult, HookRecord, RunOutcome, UnitStatus};
pub use settle::{parallel_for_seed, SettleLimits, SettleReport, UPDATE_STATUS_INTERVAL};

use addresses::{is_loopback_prefix, reserve_address_block};
use scheduler::Work;

/// The Juju version hooks are told they run under.
pub const JUJU_VERSION: &str = "3.6.8";
/// The hook PATH after the tools dir (as on an Ubuntu machine).
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Grace period between SIGTERM and SIGKILL when the model stops a unit's services.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

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

/// Called after every hook or action run.
type HookCallback = Box<dyn FnMut(&HookRecord)>;

/// A local Juju model: applications, their units and relations, secrets.
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
    /// Creates a model in `dir` (must not hold one yet) with one application, named after
    /// the charm at `charm` (a `.charm` zip or a charm directory) and without units yet
    /// ([`Model::deploy`] adds them), and the scheduler seeded by `seed`. The returned value
    /// destroys the model (stopping its ZooKeeper processes) when dropped; see
    /// [`Model::set_destroy_on_drop`].
    pub fn create(
        dir: impl AsRef<Path>,
        charm: impl AsRef<Path>,
        seed: u64,
    ) -> Result<Model, SimError> {
        Self::create_with(dir, charm, seed, ModelOptions::default())
    }

    /// [`Model::create`] with options.
    pub fn create_with(
        dir: impl AsRef<Path>,
        charm_path: impl AsRef<Path>,
        seed: u64,
        opts: ModelOptions,
    ) -> Result<Model, SimError> {
        let mut m = Self::create_empty(dir, seed, opts)?;
        m.add_application(charm_path.as_ref(), None)?;
        Ok(m)
    }

    /// Creates a model without applications; [`Model::deploy_app`] and
    /// [`Model::deploy_stub`] add them.
    pub fn create_empty(
        dir: impl AsRef<Path>,
        seed: u64,
        opts: ModelOptions,
    ) -> Result<Model, SimError> {
        let dir = absolute(dir.as_ref())?;
        machine::require_root()?;
        machine::ensure_mount_points()?;
        let store = Store::new(&dir);
        if store.exists() {
            return Err(SimError::Refused(format!(
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
            return Err(SimError::Refused(format!(
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
        // The hook tools, and the units' `snap` (the same binary).
        for name in ToolName::ALL
            .map(ToolName::as_str)
            .into_iter()
            .chain(["snap"])
        {
            let link = tools_dir.join(name);
            symlink("sim-jujuc", &link).map_err(SimError::io("create symlink", &link))?;
        }
        let st = ModelState {
            model_name: opts.model_name,
            model_uuid: uuid_from(seed),
            seed,
            rng: seed,
            applications: BTreeMap::new(),
            app_order: Vec::new(),
            switches: opts.switches,
            address_prefix,
            next_machine: 0,
            units: BTreeMap::new(),
            removed_units: Vec::new(),
            relations: BTreeMap::new(),
            next_relation: 0,
            secrets: BTreeMap::new(),
            next_secret: 0,
            contexts: BTreeMap::new(),
            next_context: 0,
            actions: BTreeMap::new(),
            next_action: 1,
            tool_failures: Vec::new(),
            hook_seq: 0,
            enqueued: 0,
            clock_skip_ms: 0,
            elections: BTreeMap::new(),
            pauses: Vec::new(),
            next_pause: 0,
            storage: BTreeMap::new(),
            next_storage: 0,
        };
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
            return Err(SimError::NoModel(dir.clone()));
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

    /// The model's default application: the first one deployed.
    pub fn app_name(&self) -> Result<String, SimError> {
        self.lock()?
            .st
            .default_app()
            .map(str::to_string)
            .ok_or_else(|| SimError::Refused("no application deployed yet".into()))
    }

    pub fn switches(&self) -> Result<Switches, SimError> {
        Ok(self.lock()?.st.switches)
    }

    pub fn set_switches(&mut self, switches: Switches) -> Result<(), SimError> {
        let mut g = self.lock()?;
        g.st.switches = switches;
        g.save()
    }

    /// Stops every service process the snaps of any unit's machine run (by the pid their
    /// fake snapd recorded; removed units included) and returns their pids. The model
    /// stays.
    pub fn stop_processes(&self) -> Vec<i32> {
        let units = self.dir().join("units");
        let mut dirs: Vec<PathBuf> = fs::read_dir(&units)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs.iter()
            .flat_map(|d| service::stop_all(&Machine::of_unit(d), STOP_GRACE))
            .collect()
    }

    /// `zk-sim destroy`: stops every service the units' snaps run, then deletes the model
    /// directory. Returns the pids it stopped.
    pub fn destroy(&mut self) -> Result<Vec<i32>, SimError> {
        let pids = self.stop_processes();
        unmount_storage(self.dir());
        let dir = self.dir().to_path_buf();
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(SimError::io("remove", &dir))?;
        }
        self.destroyed = true;
        Ok(pids)
    }
}

/// Unmounts the tmpfs storage of the model in `dir` (every `storage/<name>-<k>` that is a
/// mount point), lazily: a process that still has it open keeps it until it exits.
pub(crate) fn unmount_storage(dir: &Path) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let storage = dir.join("storage");
    let Ok(parent) = fs::metadata(&storage) else {
        return;
    };
    for entry in fs::read_dir(&storage).into_iter().flatten().flatten() {
        let path = entry.path();
        let mounted = fs::metadata(&path).is_ok_and(|m| m.dev() != parent.dev());
        if !mounted {
            continue;
        }
        if let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) {
            // SAFETY: umount2(2) with a NUL-terminated path.
            unsafe {
                libc::umount2(c.as_ptr(), libc::MNT_DETACH);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_uuids_look_like_uuids_and_follow_the_seed() {
        let u = uuid_from(1);
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        assert_eq!(u, uuid_from(1));
        assert_ne!(u, uuid_from(2));
    }
}
