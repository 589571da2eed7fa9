//! The one boundary to the workload: ZooKeeper's service and files on this machine.
//!
//! [`snap::SnapWorkload`] drives the `charmed-zookeeper` snap: the only backend the charm
//! binary has. [`files`] is how the charm reads and writes files in directories the
//! workload user can write too (never through a link that user planted). [`facts`] reads
//! the machine's memory, the data filesystem's usage and the data files.
//! [`mem::MemWorkload`] keeps everything in memory, for tests that run whole hooks
//! in-process. `testkit` has one more implementation of [`Workload`]: a local process
//! backend (Debian's jars as a plain process, for tests that start servers without a model).

pub mod facts;
pub mod files;
pub mod mem;
pub mod snap;

use std::path::{Path, PathBuf};

use crate::cos::exporters::Capabilities;
use crate::machine::MachineFacts;

/// Error from the workload layer.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("`{cmd}` failed with exit code {code}: {stderr}")]
    Command {
        cmd: String,
        code: i32,
        stderr: String,
    },
    #[error("`{cmd}` did not finish within {after:?} and was killed: {stderr}")]
    TimedOut {
        cmd: String,
        after: std::time::Duration,
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

/// Maps an I/O error on `path` to [`WorkloadError::Io`].
pub(crate) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> WorkloadError + 'a {
    move |source| WorkloadError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
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
    /// The charm's own log of its hooks ([`crate::cos::charm_log`]), beside the server's
    /// so that the COS agent ships both.
    pub fn charm_log(&self) -> PathBuf {
        self.log_dir.join(crate::cos::charm_log::FILE)
    }
    /// The server's own log file (the snap's logback configuration writes
    /// `<log_dir>/zookeeper.log`).
    pub fn server_log(&self) -> PathBuf {
        self.log_dir.join(SERVER_LOG)
    }
}

/// The name of the server's log file in [`Paths::log_dir`].
pub const SERVER_LOG: &str = "zookeeper.log";
/// The server's main class: how its process is recognised.
pub const MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

/// What the charm needs from the workload. Implementations must be idempotent: `install` on
/// an installed workload, `start` on a running one and `stop` on a stopped one succeed and do
/// nothing.
///
/// What a steady hook asks ([`Workload::installed`], [`Workload::is_running`], the files)
/// must be answered from cheap local facts, without starting a subprocess; only operations
/// that change the workload, and [`Workload::version`], may run one. The methods with a
/// default body are optional for implementations that have nothing to do there.
pub trait Workload {
    fn paths(&self) -> &Paths;
    /// Installs the pinned workload (and its runtime) if missing.
    fn install(&self) -> Result<(), WorkloadError>;
    /// Moves the workload to the version this charm revision pins (upgrade); a no-op when it
    /// is already there.
    fn refresh(&self) -> Result<(), WorkloadError>;
    /// Whether the workload is installed, from a cheap local fact.
    fn installed(&self) -> Result<bool, WorkloadError> {
        Ok(self.version()?.is_some())
    }
    /// The installed ZooKeeper version (`3.8.0`), if installed. May run a subprocess: ask
    /// only when it can have changed (install, upgrade).
    fn version(&self) -> Result<Option<String>, WorkloadError>;
    /// The metrics exporters the installed workload ships ([`crate::cos::exporters`]), from
    /// a cheap local fact; none when it is not installed.
    fn exporters(&self) -> Result<Capabilities, WorkloadError> {
        Ok(Capabilities::none())
    }
    /// Sets the JVM flags the server starts with (log level, JAAS location, ...). Takes
    /// effect at the next start.
    fn set_jvm_flags(&self, flags: &[String]) -> Result<(), WorkloadError>;
    /// Makes the server's data directories, and the storage they live on, owned by the
    /// workload user and private to it. Run when the storage attaches and before every
    /// start (the snap's install hook, or an operator, may have changed them since).
    fn prepare_data_dirs(&self) -> Result<(), WorkloadError> {
        Ok(())
    }
    fn start(&self) -> Result<(), WorkloadError>;
    fn stop(&self) -> Result<(), WorkloadError>;
    fn restart(&self) -> Result<(), WorkloadError> {
        self.stop()?;
        self.start()
    }
    /// Whether the server process is running (not whether it serves), from a cheap local
    /// fact.
    fn is_running(&self) -> Result<bool, WorkloadError>;
    /// A mark of how far the server's log is written now: taken before a start, so that
    /// [`Workload::exit_cause`] reads only what that start logged.
    fn log_mark(&self) -> u64 {
        0
    }
    /// Why the server exited, from the error it logged after `mark` (see
    /// [`exit_cause_in`]); `None` when it logged none.
    fn exit_cause(&self, _mark: u64) -> Option<String> {
        None
    }
    /// Writes a file atomically (temp file + rename) with `mode`, owned by the workload user
    /// (or by root, in the charm's private state directory).
    fn write_file(&self, path: &Path, contents: &[u8], mode: u32) -> Result<(), WorkloadError>;
    /// Appends one line to the log file `path` (made root's, mode 0640, rotated once past
    /// `rotate_at` bytes); nothing when its directory does not exist (the workload is not
    /// installed). Implementations without logs anyone ships may keep the default, which
    /// does nothing.
    fn append_line(&self, _path: &Path, _line: &str, _rotate_at: u64) -> Result<(), WorkloadError> {
        Ok(())
    }
    /// Reads a file; `Ok(None)` when it does not exist.
    fn read_file(&self, path: &Path) -> Result<Option<String>, WorkloadError>;
    /// Deletes a file (never following a link); a missing file is not an error.
    fn remove_file(&self, path: &Path) -> Result<(), WorkloadError>;
    /// Deletes the charm's private state directory and everything in it (the `remove`
    /// hook, and `install`, which must not inherit what an earlier unit left).
    fn clear_private_state(&self) -> Result<(), WorkloadError> {
        Ok(())
    }
    /// The machine's memory, the usage of the filesystem holding the data directories and
    /// ZooKeeper's snapshots and logs there, from cheap local facts (no subprocess). What
    /// cannot be read is left out.
    fn machine(&self) -> MachineFacts {
        MachineFacts::default()
    }
    /// Deletes the old snapshots and transaction logs with ZooKeeper's own purge tool,
    /// keeping the `retain` newest snapshots and the logs they need (as ZooKeeper's
    /// autopurge does; safe while the server runs).
    fn purge(&self, _retain: u32) -> Result<(), WorkloadError> {
        Ok(())
    }
}

/// The workload of the unit this process runs for: the snap, with the charm's private
/// state kept per model and unit (`JUJU_MODEL_UUID`, `JUJU_UNIT_NAME`, read through `env`).
pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Box<dyn Workload> {
    let uuid = env("JUJU_MODEL_UUID").filter(|v| !v.is_empty());
    let unit = env("JUJU_UNIT_NAME").unwrap_or_default();
    Box::new(snap::SnapWorkload::for_unit(uuid.as_deref(), &unit))
}

/// How long an error line of a server's log may be in a status.
const MAX_CAUSE: usize = 200;

/// Why a server exited, from what it logged: the message of the exception logged with its
/// last `ERROR` line that has one (the innermost `Caused by:` when there is a chain), else
/// that last `ERROR` line's own message. ZooKeeper logs one such error before it exits at
/// start (for instance `Unable to access datadir, exiting abnormally` with a
/// `DatadirException: Unable to create snap directory ...`), then `Exiting JVM with code
/// <n>`, which says nothing of the cause and is passed over.
pub fn exit_cause_in(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    let errors: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].contains(" ERROR ") && !lines[*i].contains("Exiting JVM with code"))
        .collect();
    let with_exception = errors
        .iter()
        .rev()
        .find_map(|i| exception_after(&lines[i + 1..]));
    let text = match with_exception {
        Some(cause) => cause,
        None => {
            let line = lines[*errors.last()?];
            line.split_once(" - ").map_or(line, |(_, m)| m).trim()
        }
    };
    let mut text = text.to_string();
    if text.len() > MAX_CAUSE {
        let mut cut = MAX_CAUSE;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    Some(text)
}

/// The message of the exception printed right after a log line (its stack trace's lines),
/// the innermost `Caused by:` winning; `None` when no exception follows.
fn exception_after<'a>(lines: &[&'a str]) -> Option<&'a str> {
    let mut cause: Option<&str> = None;
    for line in lines {
        if line.contains(" ERROR ") || line.contains(" WARN ") || line.contains(" INFO ") {
            break;
        }
        let (caused_by, text) = match line.strip_prefix("Caused by: ") {
            Some(rest) => (true, rest),
            None => (false, *line),
        };
        if let Some(message) = exception_message(text) {
            if cause.is_none() || caused_by {
                cause = Some(message);
            }
        }
    }
    cause.filter(|c| !c.is_empty())
}

/// The message of a Java exception line (`java.net.BindException: Address already in use`),
/// or `None` when the line is not one (a stack frame, other text).
fn exception_message(line: &str) -> Option<&str> {
    let (class, message) = line.split_once(": ").unwrap_or((line, ""));
    let name = class.rsplit(['.', '$']).next()?;
    let is_class = !class.is_empty()
        && !class.starts_with(char::is_whitespace)
        && class
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '$' || c == '_')
        && (name.ends_with("Exception") || name.ends_with("Error"));
    is_class.then(|| message.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_the_exception_logged_with_the_last_error() {
        let log = "\
[main] INFO org.apache.zookeeper.server.quorum.QuorumPeerConfig - Reading configuration from: /var/snap/charmed-zookeeper/current/etc/zookeeper/zoo.cfg
[main] ERROR org.apache.zookeeper.server.quorum.QuorumPeerMain - Unable to access datadir, exiting abnormally
org.apache.zookeeper.server.persistence.FileTxnSnapLog$DatadirException: Unable to create snap directory /var/snap/charmed-zookeeper/common/var/lib/zookeeper/data/version-2
\tat org.apache.zookeeper.server.persistence.FileTxnSnapLog.<init>(FileTxnSnapLog.java:128)
\tat org.apache.zookeeper.server.quorum.QuorumPeerMain.runFromConfig(QuorumPeerMain.java:164)
[main] ERROR org.apache.zookeeper.util.ServiceUtils - Exiting JVM with code 3
";
        assert_eq!(
            exit_cause_in(log).as_deref(),
            Some("Unable to create snap directory /var/snap/charmed-zookeeper/common/var/lib/zookeeper/data/version-2")
        );
    }

    #[test]
    fn the_innermost_cause_wins_and_an_error_without_exception_gives_its_message() {
        let log = "\
2024-03-08 11:33:14,123 [myid:] - ERROR [main:o.a.z.s.q.QuorumPeerMain@114] - Unexpected exception, exiting abnormally
java.lang.RuntimeException: cannot start
\tat a.b.C.d(C.java:1)
Caused by: java.net.BindException: Address already in use
\tat sun.nio.ch.Net.bind0(Native Method)
";
        assert_eq!(
            exit_cause_in(log).as_deref(),
            Some("Address already in use")
        );
        let plain = "[main] ERROR org.apache.zookeeper.server.quorum.QuorumPeerMain - Invalid config, exiting abnormally
";
        assert_eq!(
            exit_cause_in(plain).as_deref(),
            Some("Invalid config, exiting abnormally")
        );
        assert_eq!(
            exit_cause_in(
                "[main] INFO x - all good
"
            ),
            None
        );
        assert_eq!(exit_cause_in(""), None);
    }

    #[test]
    fn a_long_cause_is_cut() {
        let log = format!(
            "[main] ERROR x - {}
",
            "y".repeat(500)
        );
        let cause = exit_cause_in(&log).unwrap();
        assert!(
            cause.len() <= MAX_CAUSE + 3 && cause.ends_with("..."),
            "{cause}"
        );
    }
}
