//! The one boundary to the workload: ZooKeeper's service and files on this machine.
//!
//! [`snap::SnapWorkload`] drives the `charmed-zookeeper` snap on a real machine.
//! [`local::LocalWorkload`] runs Debian's ZooKeeper jars as a plain process with a pidfile
//! under the unit's own directory; the local model (`sim/`) and the tests use it.
//! [`mem::MemWorkload`] keeps everything in memory, for tests that run whole hooks
//! in-process.
//!
//! [`from_env`] picks the backend: `ZK_CHARM_WORKLOAD=local` with `ZK_CHARM_LOCAL_ROOT=<dir>`
//! selects the local backend (real Juju never sets these); anything else is the snap.

pub mod local;
pub mod mem;
pub mod snap;

use std::path::{Path, PathBuf};

/// Error from the workload layer.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("`{cmd}` failed with exit code {code}: {stderr}")]
    Command {
        cmd: String,
        code: i32,
        stderr: String,
    },
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// Where the workload keeps its files. All paths are absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Directory of `zoo.cfg`, the dynamic config files and the JAAS files; writable by
    /// ZooKeeper (it rewrites `zoo.cfg` and writes `zoo.cfg.dynamic.<version>` after a reconfig).
    pub conf_dir: PathBuf,
    /// `dataDir` (holds `myid` and the snapshots).
    pub data_dir: PathBuf,
    /// `dataLogDir` (transaction logs).
    pub data_log_dir: PathBuf,
    /// ZooKeeper's own log directory.
    pub log_dir: PathBuf,
    /// The charm's private state for this unit (e.g. what the running server was started
    /// with). Not readable by others.
    pub charm_state_dir: PathBuf,
}

impl Paths {
    /// A layout with every directory under `root` (`conf`, `data`, `data-log`, `log`,
    /// `charm-state`), as the local backend lays it out.
    pub fn under(root: &Path) -> Paths {
        Paths {
            conf_dir: root.join("conf"),
            data_dir: root.join("data"),
            data_log_dir: root.join("data-log"),
            log_dir: root.join("log"),
            charm_state_dir: root.join("charm-state"),
        }
    }

    pub fn zoo_cfg(&self) -> PathBuf {
        self.conf_dir.join("zoo.cfg")
    }
    /// The dynamic config file the charm writes at first start. After a reconfig ZooKeeper
    /// points `zoo.cfg` at its own `zoo.cfg.dynamic.<version>` instead.
    pub fn initial_dynamic(&self) -> PathBuf {
        self.conf_dir.join("zoo.cfg.dynamic")
    }
    pub fn jaas(&self) -> PathBuf {
        self.conf_dir.join("zookeeper-jaas.cfg")
    }
    pub fn client_jaas(&self) -> PathBuf {
        self.conf_dir.join("client-jaas.cfg")
    }
    pub fn myid(&self) -> PathBuf {
        self.data_dir.join("myid")
    }
}

/// What the charm needs from the workload. Implementations must be idempotent: `install` on
/// an installed workload, `start` on a running one and `stop` on a stopped one succeed and do
/// nothing.
pub trait Workload {
    fn paths(&self) -> &Paths;
    /// Installs the pinned workload (and its runtime) if missing.
    fn install(&self) -> Result<(), WorkloadError>;
    /// Moves the workload to the version this charm revision pins (upgrade); a no-op when it
    /// is already there.
    fn refresh(&self) -> Result<(), WorkloadError>;
    /// The installed ZooKeeper version (`3.8.0`), if installed.
    fn version(&self) -> Result<Option<String>, WorkloadError>;
    /// Sets the JVM flags the server starts with (log level, JAAS location, ...). Takes
    /// effect at the next start.
    fn set_jvm_flags(&self, flags: &[String]) -> Result<(), WorkloadError>;
    fn start(&self) -> Result<(), WorkloadError>;
    fn stop(&self) -> Result<(), WorkloadError>;
    fn restart(&self) -> Result<(), WorkloadError> {
        self.stop()?;
        self.start()
    }
    /// Whether the server process is running (not whether it serves).
    fn is_running(&self) -> Result<bool, WorkloadError>;
    /// Writes a file atomically (temp file + rename) with `mode`, owned by the workload user.
    fn write_file(&self, path: &Path, contents: &[u8], mode: u32) -> Result<(), WorkloadError>;
    /// Reads a file; `Ok(None)` when it does not exist.
    fn read_file(&self, path: &Path) -> Result<Option<String>, WorkloadError>;
}

/// Picks the workload backend from the environment (read through `env`, `std::env::var` in
/// production): `ZK_CHARM_WORKLOAD=local` with a non-empty `ZK_CHARM_LOCAL_ROOT=<dir>` gives
/// [`local::LocalWorkload`] rooted there (java and classpath also read through `env`);
/// anything else gives [`snap::SnapWorkload`]. Real Juju never sets these variables.
pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Box<dyn Workload> {
    if env("ZK_CHARM_WORKLOAD").as_deref() == Some("local") {
        if let Some(root) = env("ZK_CHARM_LOCAL_ROOT").filter(|r| !r.is_empty()) {
            return Box::new(local::LocalWorkload::with_env(PathBuf::from(root), env));
        }
    }
    Box::new(snap::SnapWorkload::new())
}
