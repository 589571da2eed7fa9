//! ZooKeeper from the `charmed-zookeeper` snap: the workload on every real machine.
//!
//! The snap is pinned by revision ([`SNAP_REVISION`]) with no channel and held, so that only
//! the charm moves it. The service is `charmed-zookeeper.daemon`; the snap's launcher runs
//! ZooKeeper as `snap_daemon` (uid and gid 584788) with the JVM flags of `SERVER_JVMFLAGS`,
//! which systemd reads from `/etc/environment` (merged here with whatever else is there).
//!
//! Who owns what:
//! - the server's files (conf, `myid`) and data directories belong to `snap_daemon` with
//!   group root (the uid is hard-coded: the user may not exist yet when the storage
//!   attaches); the data directories, and the `data` storage they live on, are mode 0750;
//! - the charm's private state is root's alone (directory 0700, files 0600), under
//!   `/var/lib/zookeeper-charm/<model uuid>/<unit>`, so that nothing of another model or
//!   unit on a reused machine is ever read;
//! - every file is written through [`super::files`]: never through a link the workload user
//!   could plant.
//!
//! What costs a subprocess: `snap` commands only when the workload changes (install,
//! refresh, start, stop), [`Workload::version`], and a purge: ZooKeeper's own purge tool
//! (`PurgeTxnLog`) run with the snap's Java runtime and jars as `snap_daemon` (through
//! `setpriv`, so the files it may delete are exactly the server's). The machine's facts
//! ([`Workload::machine`]) are read from `/proc/meminfo`, `statvfs` of the `data` storage
//! and a listing of the data directories. Whether it is installed is whether
//! `/snap/charmed-zookeeper/current` exists; whether the server runs is read from `/proc`:
//! a `QuorumPeerMain` started with a config under `/var/snap/charmed-zookeeper/` whose view
//! of that directory is this process's own (so a server of another unit, in a container or
//! mount namespace of its own, is not taken for this one). Every `snap` command has a
//! deadline ([`INSTALL_TIMEOUT`], [`SERVICE_TIMEOUT`], [`QUERY_TIMEOUT`]).
//!
//! Every command goes through a [`CommandRunner`], so tests can check exactly what is run.

use super::{facts, files, io_err, Paths, Workload, WorkloadError, MAIN_CLASS};
use crate::cos::exporters::Capabilities;
use crate::machine::MachineFacts;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The snap's name.
pub const SNAP_NAME: &str = "charmed-zookeeper";
/// The revision this charm pins (ZooKeeper 3.9.2).
pub const SNAP_REVISION: u32 = 40;
/// The snap's server service.
pub const SERVICE: &str = "charmed-zookeeper.daemon";
/// The `snap_daemon` user.
pub const SNAP_DAEMON_UID: u32 = 584788;
/// The group the charm's files get (root).
pub const ROOT_GID: u32 = 0;
/// The variable in `/etc/environment` that the snap's launcher passes to the JVM.
pub const JVM_FLAGS_VAR: &str = "SERVER_JVMFLAGS";
/// Where snapd mounts the snap (`$SNAP` is `<this>/<revision>`, `current` links to it).
pub const SNAP_MOUNT: &str = "/snap/charmed-zookeeper";
/// The server's jars under [`SNAP_MOUNT`]: all of them are on its classpath.
pub const SNAP_LIB: &str = "current/opt/zookeeper/lib";
/// The snap's writable data (`$SNAP_DATA` is `<this>/<revision>`, `$SNAP_COMMON` is
/// `<this>/common`).
pub const SNAP_DATA_ROOT: &str = "/var/snap/charmed-zookeeper";
/// Where the charm keeps its private state, one directory per model and unit.
pub const STATE_ROOT: &str = "/var/lib/zookeeper-charm";
/// The environment file systemd gives the snap's services.
pub const ENVIRONMENT_FILE: &str = "/etc/environment";
/// Deadline of `snap install` and `snap refresh <snap>`: downloads and snapd changes.
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
/// Deadline of `snap start|stop|restart`: systemd stops a service within 30 s
/// (`TimeoutStopSec`), then kills it.
pub const SERVICE_TIMEOUT: Duration = Duration::from_secs(120);
/// Deadline of the commands that only read or flip a flag (`list`, `refresh --hold`).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline of a purge (a JVM start and deleting files).
pub const PURGE_TIMEOUT: Duration = Duration::from_secs(120);
/// The purge tool's class in ZooKeeper's jar.
pub const PURGE_CLASS: &str = "org.apache.zookeeper.server.PurgeTxnLog";
/// Where the machine's memory is read.
pub const MEMINFO: &str = "/proc/meminfo";
/// The most of the server's log read for the cause of an exit.
const LOG_TAIL: u64 = 64 * 1024;

/// Runs a program with a deadline and returns its stdout, or [`WorkloadError::Command`]
/// with its stderr ([`WorkloadError::TimedOut`] when it was killed at the deadline).
pub trait CommandRunner {
    fn run(&self, program: &str, args: &[&str], timeout: Duration)
        -> Result<String, WorkloadError>;
}

/// Runs commands as real subprocesses (see [`crate::subprocess`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessRunner;

impl CommandRunner for ProcessRunner {
    fn run(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<String, WorkloadError> {
        use crate::subprocess::RunError;
        let cmd_text = std::iter::once(program)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        let out = crate::subprocess::run(Command::new(program).args(args), None, timeout).map_err(
            |e| match e {
                RunError::TimedOut { after, stderr } => WorkloadError::TimedOut {
                    cmd: cmd_text.clone(),
                    after,
                    stderr: stderr.trim().to_string(),
                },
                RunError::Spawn(source) | RunError::Wait(source) => WorkloadError::Command {
                    cmd: cmd_text.clone(),
                    code: -1,
                    stderr: source.to_string(),
                },
            },
        )?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(WorkloadError::Command {
                cmd: cmd_text,
                code: out.status.code().unwrap_or(-1),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }
}

/// Where the snap lives on the machine (tests put it under a temp dir).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// [`SNAP_MOUNT`].
    pub snap_mount: PathBuf,
    /// [`SNAP_DATA_ROOT`].
    pub data_root: PathBuf,
    /// [`ENVIRONMENT_FILE`].
    pub environment_file: PathBuf,
    /// [`STATE_ROOT`].
    pub state_root: PathBuf,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            snap_mount: SNAP_MOUNT.into(),
            data_root: SNAP_DATA_ROOT.into(),
            environment_file: ENVIRONMENT_FILE.into(),
            state_root: STATE_ROOT.into(),
        }
    }
}

impl Layout {
    /// The snap's paths, with the charm's private state in `state_dir`.
    pub fn paths(&self, state_dir: PathBuf) -> Paths {
        let common = self.data_root.join("common");
        Paths {
            conf_dir: self.data_root.join("current/etc/zookeeper"),
            data_dir: common.join("var/lib/zookeeper/data"),
            data_log_dir: common.join("var/lib/zookeeper/data-log"),
            log_dir: common.join("var/log/zookeeper"),
            charm_state_dir: state_dir,
        }
    }

    /// The `data` storage's location (metadata.yaml): the parent of the data directories.
    pub fn storage(&self) -> PathBuf {
        self.data_root.join("common/var/lib/zookeeper")
    }

    /// ZooKeeper's jars in the snap (`$SNAP/opt/zookeeper/lib`).
    pub fn jars(&self) -> PathBuf {
        self.snap_mount.join("current/opt/zookeeper/lib")
    }

    /// The snap's Java runtime: `$SNAP/usr/lib/jvm/<jre>/bin/java` (the first JRE by name),
    /// if the snap has one.
    pub fn java(&self) -> Option<PathBuf> {
        let jvm = self.snap_mount.join("current/usr/lib/jvm");
        let mut homes: Vec<PathBuf> = fs::read_dir(&jvm)
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin/java"))
            .filter(|java| java.is_file())
            .collect();
        homes.sort();
        homes.into_iter().next()
    }

    /// The private state directory of `unit` in the model `model_uuid`:
    /// `<state root>/<model uuid>/<app>-<n>`, each part reduced to `[A-Za-z0-9-]`.
    pub fn state_dir(&self, model_uuid: Option<&str>, unit: &str) -> PathBuf {
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect()
        };
        let unit = match clean(unit) {
            u if u.is_empty() => "unknown-unit".to_string(),
            u => u,
        };
        match model_uuid.map(clean).filter(|m| !m.is_empty()) {
            Some(m) => self.state_root.join(m).join(unit),
            None => self.state_root.join(unit),
        }
    }
}

/// The snap-based workload.
pub struct SnapWorkload {
    runner: Box<dyn CommandRunner>,
    layout: Layout,
    paths: Paths,
    owner: Option<(u32, u32)>,
    /// [`MEMINFO`].
    meminfo: PathBuf,
}

impl std::fmt::Debug for SnapWorkload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapWorkload")
            .field("layout", &self.layout)
            .field("paths", &self.paths)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl SnapWorkload {
    /// The real thing for `unit` (`zookeeper/1`) of the model `model_uuid`: `snap`
    /// subprocesses, the snap's paths, files owned by `snap_daemon:root`.
    pub fn for_unit(model_uuid: Option<&str>, unit: &str) -> SnapWorkload {
        let layout = Layout::default();
        let state = layout.state_dir(model_uuid, unit);
        SnapWorkload::with_parts(
            Box::new(ProcessRunner),
            layout,
            state,
            Some((SNAP_DAEMON_UID, ROOT_GID)),
        )
    }

    /// Everything injectable, for tests: the command runner, where the snap lives, the
    /// private state directory and the owner of the workload's files (`None` keeps the
    /// writer's).
    pub fn with_parts(
        runner: Box<dyn CommandRunner>,
        layout: Layout,
        state_dir: PathBuf,
        owner: Option<(u32, u32)>,
    ) -> SnapWorkload {
        let paths = layout.paths(state_dir);
        SnapWorkload {
            runner,
            layout,
            paths,
            owner,
            meminfo: MEMINFO.into(),
        }
    }

    /// Reads the machine's memory from `meminfo` instead of [`MEMINFO`] (tests).
    pub fn with_meminfo(mut self, meminfo: PathBuf) -> SnapWorkload {
        self.meminfo = meminfo;
        self
    }

    /// The environment file `SERVER_JVMFLAGS` is merged into.
    pub fn environment_file(&self) -> &Path {
        &self.layout.environment_file
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn snap(&self, args: &[&str], timeout: Duration) -> Result<String, WorkloadError> {
        self.runner.run("snap", args, timeout)
    }

    /// The private state directory, root's alone. Made on first use; the files an earlier
    /// revision kept directly in the state root (one unit per machine) move into it then.
    fn ensure_state_dir(&self) -> Result<(), WorkloadError> {
        let dir = &self.paths.charm_state_dir;
        let existed = files::open_dir(dir).is_ok();
        let fd = files::ensure_dir(dir, 0o700, None).map_err(io_err("create directory", dir))?;
        files::set_mode_owner(&fd, 0o700, None).map_err(io_err("chmod", dir))?;
        if !existed {
            for (from, name) in self.legacy_state_files() {
                let _ = fs::rename(&from, dir.join(name));
            }
        }
        Ok(())
    }

    /// Regular files directly in the state root: what revisions before the per-unit state
    /// directories kept there.
    fn legacy_state_files(&self) -> Vec<(PathBuf, std::ffi::OsString)> {
        let root = &self.layout.state_root;
        if !self.paths.charm_state_dir.starts_with(root) {
            return Vec::new();
        }
        fs::read_dir(root)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .map(|e| (e.path(), e.file_name()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The pid of this machine's ZooKeeper server of the snap, if one runs: a live
    /// `QuorumPeerMain` whose config is under the snap's data root, and whose view of
    /// `<data root>/common` is this process's own.
    pub fn server_pid(&self) -> Option<i32> {
        let common = self.layout.data_root.join("common");
        let ours = fs::metadata(&common).ok().map(|m| (m.dev(), m.ino()))?;
        let mut prefix = self.layout.data_root.as_os_str().as_bytes().to_vec();
        prefix.push(b'/');
        let proc_entries = fs::read_dir("/proc").ok()?;
        for entry in proc_entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_server = args.contains(&MAIN_CLASS.as_bytes())
                && args
                    .iter()
                    .any(|a| a.starts_with(&prefix) && a.ends_with(b"/zoo.cfg"));
            if !is_server || !alive(pid) {
                continue;
            }
            let theirs = fs::metadata(format!("/proc/{pid}/root{}", common.display()))
                .ok()
                .map(|m| (m.dev(), m.ino()));
            if theirs == Some(ours) {
                return Some(pid);
            }
        }
        None
    }
}

/// Whether `pid` runs: not a zombie, or a zombie leader whose other threads still exit (a
/// killed JVM holds its ports until its last thread is gone).
fn alive(pid: i32) -> bool {
    let state = fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string))
        });
    match state.as_deref() {
        None => false,
        Some("Z") | Some("X") => {
            fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count()) > 1
        }
        Some(_) => true,
    }
}

fn not_installed(e: &WorkloadError) -> bool {
    match e {
        WorkloadError::Command { stderr, code, .. } => {
            *code != -1
                && (stderr.contains("no matching snaps installed") || stderr.contains("not found"))
        }
        _ => false,
    }
}

/// The `Version` column of `snap list <name>` for `name`, up to the first `-`.
pub fn parse_snap_list_version(output: &str, name: &str) -> Option<String> {
    output.lines().skip(1).find_map(|line| {
        let mut cols = line.split_whitespace();
        (cols.next()? == name)
            .then(|| cols.next())?
            .map(|v| v.split('-').next().unwrap_or(v).to_string())
    })
}

/// `/etc/environment` with `SERVER_JVMFLAGS=<flags joined by spaces>` set (or removed when
/// `flags` is empty); every other line is kept as it was, in order.
pub fn merge_environment(existing: &str, flags: &[String]) -> String {
    let prefix = format!("{JVM_FLAGS_VAR}=");
    let value = flags
        .iter()
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = Vec::new();
    let mut placed = false;
    for line in existing.lines() {
        if line.trim_start().starts_with(&prefix) {
            if !placed && !value.is_empty() {
                out.push(format!("{prefix}{value}"));
            }
            placed = true;
        } else {
            out.push(line.to_string());
        }
    }
    if !placed && !value.is_empty() {
        out.push(format!("{prefix}{value}"));
    }
    let mut text = out.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

impl Workload for SnapWorkload {
    fn paths(&self) -> &Paths {
        &self.paths
    }

    fn install(&self) -> Result<(), WorkloadError> {
        let rev = SNAP_REVISION.to_string();
        self.snap(&["install", SNAP_NAME, "--revision", &rev], INSTALL_TIMEOUT)?;
        self.snap(&["refresh", "--hold", SNAP_NAME], QUERY_TIMEOUT)?;
        self.ensure_state_dir()
    }

    fn refresh(&self) -> Result<(), WorkloadError> {
        let rev = SNAP_REVISION.to_string();
        self.snap(&["refresh", SNAP_NAME, "--revision", &rev], INSTALL_TIMEOUT)
            .map(drop)
    }

    fn installed(&self) -> Result<bool, WorkloadError> {
        Ok(self.layout.snap_mount.join("current").is_dir())
    }

    fn version(&self) -> Result<Option<String>, WorkloadError> {
        match self.snap(&["list", SNAP_NAME], QUERY_TIMEOUT) {
            Ok(out) => Ok(parse_snap_list_version(&out, SNAP_NAME)),
            Err(e) if not_installed(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn exporters(&self) -> Result<Capabilities, WorkloadError> {
        // Every jar there is on the server's classpath (the snap's launcher lists them).
        let lib = self.layout.snap_mount.join(SNAP_LIB);
        let names: Vec<String> = match fs::read_dir(&lib) {
            Ok(entries) => entries
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Result<_, _>>()
                .map_err(io_err("list", &lib))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err("list", &lib)(e)),
        };
        Ok(Capabilities::from_jars(&lib, &names))
    }

    fn set_jvm_flags(&self, flags: &[String]) -> Result<(), WorkloadError> {
        if let Some(bad) = flags.iter().find(|f| f.contains('\n')) {
            return Err(WorkloadError::Other(format!(
                "a JVM flag cannot contain a newline: {:?}",
                bad.lines().next().unwrap_or_default()
            )));
        }
        let env = &self.layout.environment_file;
        let existing = files::read_optional(env)
            .map_err(io_err("read", env))?
            .unwrap_or_default();
        let merged = merge_environment(&existing, flags);
        if merged == existing {
            return Ok(());
        }
        // /etc/environment is world-readable by convention and owned by root.
        files::write_atomic(env, merged.as_bytes(), 0o644, None).map_err(io_err("write", env))
    }

    fn prepare_data_dirs(&self) -> Result<(), WorkloadError> {
        let storage = self.layout.storage();
        // The storage (or, without one, the snap's install hook) makes its mount point; a
        // parent missing means neither happened yet: the next start prepares it.
        if let Err(e) = files::open_dir(&storage) {
            return match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(io_err("open", &storage)(e)),
            };
        }
        for dir in [&storage, &self.paths.data_dir, &self.paths.data_log_dir] {
            let fd = files::ensure_dir(dir, 0o750, self.owner)
                .map_err(io_err("create directory", dir))?;
            files::set_mode_owner(&fd, 0o750, self.owner)
                .map_err(io_err("set the owner and mode of", dir))?;
        }
        // The JAAS file holds the passwords, and ZooKeeper rewrites zoo.cfg with its own
        // umask: the directory keeps everyone but the server (and root) out.
        let conf = &self.paths.conf_dir;
        if let Ok(fd) = files::open_dir(conf) {
            files::set_mode_owner(&fd, 0o750, self.owner)
                .map_err(io_err("set the owner and mode of", conf))?;
        }
        Ok(())
    }

    fn start(&self) -> Result<(), WorkloadError> {
        self.snap(&["start", SERVICE], SERVICE_TIMEOUT).map(drop)
    }

    fn stop(&self) -> Result<(), WorkloadError> {
        self.snap(&["stop", SERVICE], SERVICE_TIMEOUT).map(drop)
    }

    fn restart(&self) -> Result<(), WorkloadError> {
        self.snap(&["restart", SERVICE], SERVICE_TIMEOUT).map(drop)
    }

    fn is_running(&self) -> Result<bool, WorkloadError> {
        Ok(self.server_pid().is_some())
    }

    fn log_mark(&self) -> u64 {
        files::size(&self.paths.server_log())
    }

    fn exit_cause(&self, mark: u64) -> Option<String> {
        let log = files::read_since(&self.paths.server_log(), mark, LOG_TAIL).ok()??;
        super::exit_cause_in(&log)
    }

    fn write_file(&self, path: &Path, contents: &[u8], mode: u32) -> Result<(), WorkloadError> {
        let (dir, name) = match (path.parent(), path.file_name()) {
            (Some(d), Some(n)) => (d, n),
            _ => {
                return Err(WorkloadError::Other(format!(
                    "{} is not a file path",
                    path.display()
                )))
            }
        };
        let private = path.starts_with(&self.paths.charm_state_dir);
        let (fd, owner) = if private {
            self.ensure_state_dir()?;
            let fd = files::open_dir(dir).map_err(io_err("open", dir))?;
            (fd, None)
        } else {
            let fd = files::ensure_dir(dir, 0o750, self.owner)
                .map_err(io_err("create directory", dir))?;
            (fd, self.owner)
        };
        files::write_in(&fd, name, contents, mode, owner).map_err(io_err("write", path))
    }

    fn append_line(&self, path: &Path, line: &str, rotate_at: u64) -> Result<(), WorkloadError> {
        files::append_line(path, line, 0o640, rotate_at)
            .map(drop)
            .map_err(io_err("append to", path))
    }

    fn read_file(&self, path: &Path) -> Result<Option<String>, WorkloadError> {
        files::read_optional(path).map_err(io_err("read", path))
    }

    fn remove_file(&self, path: &Path) -> Result<(), WorkloadError> {
        files::remove(path).map_err(io_err("remove", path))
    }

    fn machine(&self) -> MachineFacts {
        MachineFacts {
            memory: facts::memory(&self.meminfo),
            disk: facts::disk_usage(&self.layout.storage()),
            data: facts::data_files(&self.paths.data_dir, &self.paths.data_log_dir),
        }
    }

    fn purge(&self, retain: u32) -> Result<(), WorkloadError> {
        let java = self.layout.java().ok_or_else(|| {
            WorkloadError::Other(format!(
                "the snap has no Java runtime under {}",
                self.layout.snap_mount.join("current/usr/lib/jvm").display()
            ))
        })?;
        let classpath = format!("{}/*", self.layout.jars().display());
        let (log_dir, data_dir) = (
            self.paths.data_log_dir.display().to_string(),
            self.paths.data_dir.display().to_string(),
        );
        let count = retain.to_string();
        let tool = [
            "-Xmx128m",
            "-XX:+UseSerialGC",
            "-XX:-UsePerfData",
            "-cp",
            &classpath,
            PURGE_CLASS,
            &log_dir,
            &data_dir,
            "-n",
            &count,
        ];
        let java = java.display().to_string();
        match self.owner {
            // As the server runs (the snap's launcher: `snap_daemon`'s uid and gid, no other
            // group): it deletes only what the server could.
            Some((uid, _)) => {
                let uid = uid.to_string();
                let mut args = vec![
                    "--reuid",
                    &uid,
                    "--regid",
                    &uid,
                    "--clear-groups",
                    "--",
                    &java,
                ];
                args.extend(tool);
                self.runner.run("setpriv", &args, PURGE_TIMEOUT)
            }
            None => self.runner.run(&java, &tool, PURGE_TIMEOUT),
        }
        .map(drop)
    }

    fn clear_private_state(&self) -> Result<(), WorkloadError> {
        let dir = &self.paths.charm_state_dir;
        match fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", dir)(e)),
        }
        for (file, _) in self.legacy_state_files() {
            let _ = fs::remove_file(file);
        }
        // The model's directory goes with its last unit.
        if let Some(model_dir) = dir.parent().filter(|p| *p != self.layout.state_root) {
            let _ = fs::remove_dir(model_dir);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::os::unix::fs::PermissionsExt;
    use std::rc::Rc;

    type Reply = Result<String, WorkloadError>;

    /// Records every command with its deadline and answers from a script (default: empty
    /// stdout).
    #[derive(Clone, Default)]
    struct Recorder {
        calls: Rc<RefCell<Vec<(String, Duration)>>>,
        replies: Rc<RefCell<VecDeque<Reply>>>,
    }

    impl CommandRunner for Recorder {
        fn run(
            &self,
            program: &str,
            args: &[&str],
            timeout: Duration,
        ) -> Result<String, WorkloadError> {
            let mut line = vec![program];
            line.extend_from_slice(args);
            self.calls.borrow_mut().push((line.join(" "), timeout));
            self.replies
                .borrow_mut()
                .pop_front()
                .unwrap_or_else(|| Ok(String::new()))
        }
    }

    fn layout_under(root: &Path) -> Layout {
        Layout {
            snap_mount: root.join("snap"),
            data_root: root.join("var-snap"),
            environment_file: root.join("environment"),
            state_root: root.join("state"),
        }
    }

    fn snap_with(replies: Vec<Reply>, root: &Path) -> (SnapWorkload, Recorder) {
        let rec = Recorder::default();
        rec.replies.borrow_mut().extend(replies);
        let layout = layout_under(root);
        let state = layout.state_dir(Some("m-1"), "zookeeper/0");
        let w = SnapWorkload::with_parts(Box::new(rec.clone()), layout, state, None);
        (w, rec)
    }

    fn calls(rec: &Recorder) -> Vec<String> {
        rec.calls.borrow().iter().map(|(c, _)| c.clone()).collect()
    }

    fn failed(stderr: &str) -> Reply {
        Err(WorkloadError::Command {
            cmd: "snap".into(),
            code: 1,
            stderr: stderr.into(),
        })
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_paths_are_the_snaps_and_the_state_is_per_model_and_unit() {
        let w = SnapWorkload::for_unit(Some("cdac5656-2423"), "zookeeper/1");
        let p = w.paths().clone();
        assert_eq!(
            p.conf_dir,
            Path::new("/var/snap/charmed-zookeeper/current/etc/zookeeper")
        );
        assert_eq!(
            p.data_dir,
            Path::new("/var/snap/charmed-zookeeper/common/var/lib/zookeeper/data")
        );
        assert_eq!(
            p.data_log_dir,
            Path::new("/var/snap/charmed-zookeeper/common/var/lib/zookeeper/data-log")
        );
        assert_eq!(
            p.log_dir,
            Path::new("/var/snap/charmed-zookeeper/common/var/log/zookeeper")
        );
        assert_eq!(
            p.charm_state_dir,
            Path::new("/var/lib/zookeeper-charm/cdac5656-2423/zookeeper-1")
        );
        let odd = Layout::default().state_dir(Some("../x"), "../../etc");
        assert_eq!(odd, Path::new("/var/lib/zookeeper-charm/---x/------etc"));
    }

    #[test]
    fn install_pins_the_revision_then_holds_within_their_deadlines_and_makes_a_private_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let (w, rec) = snap_with(vec![], dir.path());
        w.install().unwrap();
        assert_eq!(
            *rec.calls.borrow(),
            vec![
                (
                    "snap install charmed-zookeeper --revision 40".to_string(),
                    INSTALL_TIMEOUT
                ),
                (
                    "snap refresh --hold charmed-zookeeper".to_string(),
                    QUERY_TIMEOUT
                )
            ]
        );
        assert_eq!(mode(&w.paths().charm_state_dir), 0o700);
    }

    #[test]
    fn a_failed_install_does_not_hold_and_carries_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let (w, rec) = snap_with(
            vec![failed("error: cannot install: no network")],
            dir.path(),
        );
        let e = w.install().unwrap_err().to_string();
        assert!(e.contains("no network"), "{e}");
        assert_eq!(
            calls(&rec),
            vec!["snap install charmed-zookeeper --revision 40"]
        );
    }

    #[test]
    fn refresh_moves_to_the_pinned_revision() {
        let dir = tempfile::tempdir().unwrap();
        let (w, rec) = snap_with(vec![], dir.path());
        w.refresh().unwrap();
        assert_eq!(
            *rec.calls.borrow(),
            vec![(
                "snap refresh charmed-zookeeper --revision 40".to_string(),
                INSTALL_TIMEOUT
            )]
        );
    }

    #[test]
    fn service_control_uses_the_daemon_service_within_two_minutes() {
        let dir = tempfile::tempdir().unwrap();
        let (w, rec) = snap_with(vec![], dir.path());
        w.start().unwrap();
        w.stop().unwrap();
        w.restart().unwrap();
        assert_eq!(
            calls(&rec),
            vec![
                "snap start charmed-zookeeper.daemon",
                "snap stop charmed-zookeeper.daemon",
                "snap restart charmed-zookeeper.daemon"
            ]
        );
        assert!(rec
            .calls
            .borrow()
            .iter()
            .all(|(_, t)| *t == SERVICE_TIMEOUT));
    }

    #[test]
    fn installed_and_running_are_read_without_any_command() {
        let dir = tempfile::tempdir().unwrap();
        let (w, rec) = snap_with(vec![], dir.path());
        assert!(!w.installed().unwrap());
        assert!(!w.is_running().unwrap());
        fs::create_dir_all(dir.path().join("snap/40")).unwrap();
        std::os::unix::fs::symlink("40", dir.path().join("snap/current")).unwrap();
        assert!(w.installed().unwrap());
        assert!(calls(&rec).is_empty());
    }

    #[test]
    fn the_exporters_are_read_from_the_snaps_jars_without_any_command() {
        let dir = tempfile::tempdir().unwrap();
        let (w, rec) = snap_with(vec![], dir.path());
        assert_eq!(
            w.exporters().unwrap(),
            Capabilities::none(),
            "not installed"
        );
        let lib = dir.path().join("snap/40/opt/zookeeper/lib");
        fs::create_dir_all(&lib).unwrap();
        std::os::unix::fs::symlink("40", dir.path().join("snap/current")).unwrap();
        for jar in ["zookeeper-3.9.2.jar", "simpleclient-0.9.0.jar"] {
            fs::write(lib.join(jar), "").unwrap();
        }
        assert_eq!(w.exporters().unwrap(), Capabilities::none());
        for jar in [
            "zookeeper-prometheus-metrics-3.9.2.jar",
            "jmx_prometheus_javaagent.jar",
        ] {
            fs::write(lib.join(jar), "").unwrap();
        }
        assert_eq!(
            w.exporters().unwrap(),
            Capabilities {
                metrics_provider: true,
                jmx_exporter_jar: Some(
                    dir.path()
                        .join("snap/current/opt/zookeeper/lib/jmx_prometheus_javaagent.jar")
                ),
            }
        );
        assert!(calls(&rec).is_empty());
    }

    #[test]
    fn a_server_is_found_by_its_config_under_the_snap_data_and_only_in_this_view() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _) = snap_with(vec![], dir.path());
        fs::create_dir_all(dir.path().join("var-snap/common")).unwrap();
        let cfg = dir.path().join("var-snap/40/etc/zookeeper/zoo.cfg");
        // Stand-ins with a server's command line: `sh -c 'read x' <main class> <cfg>`, which
        // wait on their stdin (and leave no child behind when killed).
        let stand_in = |cfg: &Path| {
            Command::new("/bin/sh")
                .args(["-c", "read x", MAIN_CLASS])
                .arg(cfg)
                .stdin(std::process::Stdio::piped())
                .spawn()
        };
        let mut child = stand_in(&cfg).unwrap();
        let other = stand_in(Path::new("/elsewhere/zoo.cfg"));
        // Until the exec, a spawned child's command line is still this test's.
        let execed = |pid: u32| {
            fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                c.windows(MAIN_CLASS.len())
                    .any(|w| w == MAIN_CLASS.as_bytes())
            })
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let others: Vec<u32> = other.iter().map(std::process::Child::id).collect();
        while !(execed(child.id()) && others.iter().all(|p| execed(*p)))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let found = w.server_pid();
        let _ = child.kill();
        let _ = child.wait();
        if let Ok(mut o) = other {
            let _ = o.kill();
            let _ = o.wait();
        }
        assert_eq!(found, Some(child.id() as i32));
        assert_eq!(w.server_pid(), None);
    }

    #[test]
    fn version_comes_from_snap_list_up_to_the_first_dash() {
        let dir = tempfile::tempdir().unwrap();
        let listing = "Name               Version        Rev  Tracking  Publisher        Notes\n\
                       charmed-zookeeper  3.9.2-ubuntu0  40   -         dataplatformbot  held\n";
        let (w, rec) = snap_with(
            vec![
                Ok(listing.into()),
                failed("error: no matching snaps installed"),
            ],
            dir.path(),
        );
        assert_eq!(w.version().unwrap().as_deref(), Some("3.9.2"));
        assert_eq!(w.version().unwrap(), None);
        assert_eq!(calls(&rec)[0], "snap list charmed-zookeeper");
    }

    #[test]
    fn jvm_flags_merge_into_the_environment_file_keeping_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (w, rec) = snap_with(vec![], dir.path());
        let env = w.environment_file().to_path_buf();
        fs::write(
            &env,
            "PATH=\"/usr/local/sbin:/usr/bin\"\nSERVER_JVMFLAGS=-Dold=1\nhttp_proxy=http://p:3128\n",
        )
        .unwrap();
        w.set_jvm_flags(&["-Dzookeeper.superUser=super".into(), "-Dx=y".into()])
            .unwrap();
        assert_eq!(
            fs::read_to_string(&env).unwrap(),
            "PATH=\"/usr/local/sbin:/usr/bin\"\nSERVER_JVMFLAGS=-Dzookeeper.superUser=super -Dx=y\nhttp_proxy=http://p:3128\n"
        );
        assert_eq!(mode(&env), 0o644);
        w.set_jvm_flags(&[]).unwrap();
        assert_eq!(
            fs::read_to_string(&env).unwrap(),
            "PATH=\"/usr/local/sbin:/usr/bin\"\nhttp_proxy=http://p:3128\n"
        );
        assert!(calls(&rec).is_empty());
    }

    #[test]
    fn jvm_flags_are_appended_when_absent_and_duplicates_collapse() {
        assert_eq!(
            merge_environment("", &["-Da".into()]),
            "SERVER_JVMFLAGS=-Da\n"
        );
        assert_eq!(
            merge_environment("A=1\nSERVER_JVMFLAGS=x\nSERVER_JVMFLAGS=y", &["-Db".into()]),
            "A=1\nSERVER_JVMFLAGS=-Db\n"
        );
        assert_eq!(
            merge_environment("A=1", &["-Dc".into()]),
            "A=1\nSERVER_JVMFLAGS=-Dc\n"
        );
    }

    #[test]
    fn files_are_written_atomically_with_their_mode_and_the_state_dir_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _) = snap_with(vec![], dir.path());
        let path = w.paths().conf_dir.join("zoo.cfg");
        w.write_file(&path, b"tickTime=2000\n", 0o640).unwrap();
        assert_eq!(
            w.read_file(&path).unwrap().as_deref(),
            Some("tickTime=2000\n")
        );
        assert_eq!(mode(&path), 0o640);
        assert_eq!(fs::read_dir(&w.paths().conf_dir).unwrap().count(), 1);
        let state = w.paths().charm_state_dir.join("status");
        w.write_file(&state, b"active\n", 0o600).unwrap();
        assert_eq!(mode(&w.paths().charm_state_dir), 0o700);
        assert_eq!(mode(&state), 0o600);
    }

    #[test]
    fn the_data_dirs_and_the_storage_become_private_to_the_server_before_a_start() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _) = snap_with(vec![], dir.path());
        // Nothing to prepare before the storage (or the snap) made the mount point.
        w.prepare_data_dirs().unwrap();
        assert!(!w.paths().data_dir.exists());
        let storage = w.layout().storage();
        fs::create_dir_all(&storage).unwrap();
        fs::set_permissions(&storage, fs::Permissions::from_mode(0o770)).unwrap();
        fs::create_dir_all(&w.paths().conf_dir).unwrap();
        fs::set_permissions(&w.paths().conf_dir, fs::Permissions::from_mode(0o777)).unwrap();
        w.prepare_data_dirs().unwrap();
        for d in [
            &storage,
            &w.paths().data_dir,
            &w.paths().data_log_dir,
            &w.paths().conf_dir,
        ] {
            assert_eq!(mode(d), 0o750, "{}", d.display());
        }
    }

    #[test]
    fn the_cause_of_an_exit_is_read_from_what_the_server_logged_since_the_mark() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _) = snap_with(vec![], dir.path());
        assert_eq!(w.log_mark(), 0);
        assert_eq!(w.exit_cause(0), None);
        fs::create_dir_all(&w.paths().log_dir).unwrap();
        let log = w.paths().server_log();
        fs::write(&log, "[main] ERROR x - an old failure\n").unwrap();
        let mark = w.log_mark();
        assert_eq!(w.exit_cause(mark), None);
        fs::write(
            &log,
            "[main] ERROR x - an old failure\n[main] ERROR x - Unexpected exception, exiting abnormally\n\
             java.net.BindException: Address already in use\n",
        )
        .unwrap();
        assert_eq!(
            w.exit_cause(mark).as_deref(),
            Some("Address already in use")
        );
    }

    #[test]
    fn a_purge_runs_zookeepers_purge_tool_with_the_snaps_java_as_the_server_user() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Recorder::default();
        let layout = layout_under(dir.path());
        let state = layout.state_dir(Some("m-1"), "zookeeper/0");
        let w = SnapWorkload::with_parts(
            Box::new(rec.clone()),
            layout,
            state,
            Some((SNAP_DAEMON_UID, ROOT_GID)),
        );
        let e = w.purge(3).unwrap_err().to_string();
        assert!(e.contains("no Java runtime"), "{e}");
        assert!(calls(&rec).is_empty());
        // The snap's JRE, as `$SNAP/usr/lib/jvm/<jre>/bin/java`.
        let bin = dir
            .path()
            .join("snap/40/usr/lib/jvm/java-21-openjdk-amd64/bin");
        fs::create_dir_all(&bin).unwrap();
        fs::write(bin.join("java"), "").unwrap();
        std::os::unix::fs::symlink("40", dir.path().join("snap/current")).unwrap();
        w.purge(5).unwrap();
        let root = dir.path().display();
        assert_eq!(
            *rec.calls.borrow(),
            vec![(
                format!(
                    "setpriv --reuid 584788 --regid 584788 --clear-groups -- \
                     {root}/snap/current/usr/lib/jvm/java-21-openjdk-amd64/bin/java \
                     -Xmx128m -XX:+UseSerialGC -XX:-UsePerfData \
                     -cp {root}/snap/current/opt/zookeeper/lib/* \
                     org.apache.zookeeper.server.PurgeTxnLog \
                     {root}/var-snap/common/var/lib/zookeeper/data-log \
                     {root}/var-snap/common/var/lib/zookeeper/data -n 5"
                ),
                PURGE_TIMEOUT
            )]
        );
    }

    #[test]
    fn the_machine_is_read_from_meminfo_the_storage_and_the_data_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (w, rec) = snap_with(vec![], dir.path());
        let meminfo = dir.path().join("meminfo");
        fs::write(&meminfo, "MemTotal: 4194304 kB\nSwapTotal: 1024 kB\n").unwrap();
        let w = w.with_meminfo(meminfo);
        let before = w.machine();
        assert_eq!(before.disk, None, "no storage yet");
        assert_eq!(before.memory.map(|m| m.swap_total), Some(1024 * 1024));
        let snaps = w.paths().data_dir.join("version-2");
        fs::create_dir_all(&snaps).unwrap();
        fs::write(snaps.join("snapshot.100000000"), vec![1u8; 100]).unwrap();
        let facts = w.machine();
        assert!(facts.disk.is_some_and(|d| d.total > 0));
        assert_eq!(facts.data.latest_snapshot().map(|f| f.len), Some(100));
        assert!(calls(&rec).is_empty(), "no command");
    }

    #[test]
    fn clearing_the_private_state_removes_it_and_what_older_revisions_left() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _) = snap_with(vec![], dir.path());
        let root = dir.path().join("state");
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("started-with"), "f00d\n").unwrap();
        // The first state write moves an older revision's files into the unit's directory.
        w.write_file(&w.paths().charm_state_dir.join("status"), b"x", 0o600)
            .unwrap();
        assert_eq!(
            fs::read_to_string(w.paths().charm_state_dir.join("started-with")).unwrap(),
            "f00d\n"
        );
        assert!(!root.join("started-with").exists());
        fs::write(root.join("status"), "stale").unwrap();
        w.clear_private_state().unwrap();
        assert!(!w.paths().charm_state_dir.exists());
        assert!(!root.join("status").exists());
        assert!(!root.join("m-1").exists());
        w.clear_private_state().unwrap();
    }
}
