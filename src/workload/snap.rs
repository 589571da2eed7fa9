//! ZooKeeper from the `charmed-zookeeper` snap, on a real machine.
//!
//! The snap is pinned by revision ([`SNAP_REVISION`]) with no channel and held, so that only
//! the charm moves it. The service is `charmed-zookeeper.daemon`. The server's JVM flags live
//! in `SERVER_JVMFLAGS` in `/etc/environment`, merged with whatever else is there. Files the
//! charm writes are owned by `snap_daemon` (uid 584788, hard-coded because the user may not
//! exist yet when storage attaches) and group root.
//!
//! Every command goes through a [`CommandRunner`], so tests can check exactly what is run.

use super::local::{io_err, read_optional, write_atomic};
use super::{Paths, Workload, WorkloadError};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Runs a program and returns its stdout, or [`WorkloadError::Command`] with its stderr.
pub trait CommandRunner {
    fn run(&self, program: &str, args: &[&str]) -> Result<String, WorkloadError>;
}

/// Runs commands as real subprocesses.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessRunner;

impl CommandRunner for ProcessRunner {
    fn run(&self, program: &str, args: &[&str]) -> Result<String, WorkloadError> {
        let cmd_text = std::iter::once(program)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        let out = Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| WorkloadError::Command {
                cmd: cmd_text.clone(),
                code: -1,
                stderr: e.to_string(),
            })?;
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

/// The snap-based workload.
pub struct SnapWorkload {
    runner: Box<dyn CommandRunner>,
    paths: Paths,
    environment_file: PathBuf,
    owner: Option<(u32, u32)>,
}

impl std::fmt::Debug for SnapWorkload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapWorkload")
            .field("paths", &self.paths)
            .field("environment_file", &self.environment_file)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl Default for SnapWorkload {
    fn default() -> Self {
        SnapWorkload::new()
    }
}

impl SnapWorkload {
    /// The real thing: `snap` subprocesses, `/etc/environment`, files owned by `snap_daemon:root`.
    pub fn new() -> SnapWorkload {
        SnapWorkload::with_parts(
            Box::new(ProcessRunner),
            default_paths(),
            PathBuf::from("/etc/environment"),
            Some((SNAP_DAEMON_UID, ROOT_GID)),
        )
    }

    /// Everything injectable, for tests: the command runner, the paths, the environment file
    /// and the owner of written files (`None` keeps the writer's).
    pub fn with_parts(
        runner: Box<dyn CommandRunner>,
        paths: Paths,
        environment_file: PathBuf,
        owner: Option<(u32, u32)>,
    ) -> SnapWorkload {
        SnapWorkload {
            runner,
            paths,
            environment_file,
            owner,
        }
    }

    /// The environment file `SERVER_JVMFLAGS` is merged into.
    pub fn environment_file(&self) -> &Path {
        &self.environment_file
    }

    fn snap(&self, args: &[&str]) -> Result<String, WorkloadError> {
        self.runner.run("snap", args)
    }

    fn ensure_state_dir(&self) -> Result<(), WorkloadError> {
        let dir = &self.paths.charm_state_dir;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err("create directory", dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err("chmod", dir))
    }
}

/// The snap's paths, plus the charm's private state directory.
pub fn default_paths() -> Paths {
    Paths {
        conf_dir: PathBuf::from("/var/snap/charmed-zookeeper/current/etc/zookeeper"),
        data_dir: PathBuf::from("/var/snap/charmed-zookeeper/common/var/lib/zookeeper/data"),
        data_log_dir: PathBuf::from(
            "/var/snap/charmed-zookeeper/common/var/lib/zookeeper/data-log",
        ),
        log_dir: PathBuf::from("/var/snap/charmed-zookeeper/common/var/log/zookeeper"),
        charm_state_dir: PathBuf::from("/var/lib/zookeeper-charm"),
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

/// Whether `snap services <service>` reports the service `active`.
pub fn parse_snap_services_active(output: &str, service: &str) -> bool {
    output.lines().skip(1).any(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        cols.len() >= 3 && cols[0] == service && cols[2] == "active"
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
        self.snap(&["install", SNAP_NAME, "--revision", &rev])?;
        self.snap(&["refresh", "--hold", SNAP_NAME])?;
        self.ensure_state_dir()
    }

    fn refresh(&self) -> Result<(), WorkloadError> {
        let rev = SNAP_REVISION.to_string();
        self.snap(&["refresh", SNAP_NAME, "--revision", &rev])
            .map(drop)
    }

    fn version(&self) -> Result<Option<String>, WorkloadError> {
        match self.snap(&["list", SNAP_NAME]) {
            Ok(out) => Ok(parse_snap_list_version(&out, SNAP_NAME)),
            Err(e) if not_installed(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn set_jvm_flags(&self, flags: &[String]) -> Result<(), WorkloadError> {
        if let Some(bad) = flags.iter().find(|f| f.contains('\n')) {
            return Err(WorkloadError::Other(format!(
                "a JVM flag cannot contain a newline: {:?}",
                bad.lines().next().unwrap_or_default()
            )));
        }
        let existing = read_optional(&self.environment_file)?.unwrap_or_default();
        let merged = merge_environment(&existing, flags);
        if merged == existing {
            return Ok(());
        }
        // /etc/environment is world-readable by convention and owned by root.
        write_atomic(&self.environment_file, merged.as_bytes(), 0o644, None)
    }

    fn start(&self) -> Result<(), WorkloadError> {
        self.snap(&["start", SERVICE]).map(drop)
    }

    fn stop(&self) -> Result<(), WorkloadError> {
        self.snap(&["stop", SERVICE]).map(drop)
    }

    fn restart(&self) -> Result<(), WorkloadError> {
        self.snap(&["restart", SERVICE]).map(drop)
    }

    fn is_running(&self) -> Result<bool, WorkloadError> {
        match self.snap(&["services", SERVICE]) {
            Ok(out) => Ok(parse_snap_services_active(&out, SERVICE)),
            Err(e) if not_installed(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn write_file(&self, path: &Path, contents: &[u8], mode: u32) -> Result<(), WorkloadError> {
        if path.starts_with(&self.paths.charm_state_dir) {
            self.ensure_state_dir()?;
        }
        write_atomic(path, contents, mode, self.owner)
    }

    fn read_file(&self, path: &Path) -> Result<Option<String>, WorkloadError> {
        read_optional(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    type Reply = Result<String, WorkloadError>;

    /// Records every command and answers from a script (default: empty stdout).
    #[derive(Clone, Default)]
    struct Recorder {
        calls: Rc<RefCell<Vec<String>>>,
        replies: Rc<RefCell<VecDeque<Reply>>>,
    }

    impl CommandRunner for Recorder {
        fn run(&self, program: &str, args: &[&str]) -> Result<String, WorkloadError> {
            let mut line = vec![program];
            line.extend_from_slice(args);
            self.calls.borrow_mut().push(line.join(" "));
            self.replies
                .borrow_mut()
                .pop_front()
                .unwrap_or_else(|| Ok(String::new()))
        }
    }

    fn snap_with(replies: Vec<Reply>, root: &Path) -> (SnapWorkload, Recorder) {
        let rec = Recorder::default();
        rec.replies.borrow_mut().extend(replies);
        let mut paths = default_paths();
        paths.charm_state_dir = root.join("state");
        paths.conf_dir = root.join("conf");
        let w =
            SnapWorkload::with_parts(Box::new(rec.clone()), paths, root.join("environment"), None);
        (w, rec)
    }

    fn calls(rec: &Recorder) -> Vec<String> {
        rec.calls.borrow().clone()
    }

    fn failed(stderr: &str) -> Reply {
        Err(WorkloadError::Command {
            cmd: "snap".into(),
            code: 1,
            stderr: stderr.into(),
        })
    }

    #[test]
    fn default_paths_are_the_snaps() {
        let p = SnapWorkload::new().paths().clone();
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
    }

    #[test]
    fn install_pins_the_revision_then_holds_and_makes_a_private_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let (w, rec) = snap_with(vec![], dir.path());
        w.install().unwrap();
        assert_eq!(
            calls(&rec),
            vec![
                "snap install charmed-zookeeper --revision 40",
                "snap refresh --hold charmed-zookeeper"
            ]
        );
        let mode = fs::metadata(dir.path().join("state"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
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
            calls(&rec),
            vec!["snap refresh charmed-zookeeper --revision 40"]
        );
    }

    #[test]
    fn service_control_uses_the_daemon_service() {
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
    }

    #[test]
    fn is_running_reads_the_current_column_of_snap_services() {
        let dir = tempfile::tempdir().unwrap();
        let active = "Service                   Startup  Current  Notes\n\
                      charmed-zookeeper.daemon  enabled  active   -\n";
        let inactive = "Service                   Startup   Current   Notes\n\
                        charmed-zookeeper.daemon  disabled  inactive  -\n";
        let (w, rec) = snap_with(
            vec![
                Ok(active.into()),
                Ok(inactive.into()),
                failed("error: snap \"charmed-zookeeper\" not found"),
                failed("error: cannot communicate with server: connection refused"),
            ],
            dir.path(),
        );
        assert!(w.is_running().unwrap());
        assert!(!w.is_running().unwrap());
        assert!(!w.is_running().unwrap());
        assert!(w.is_running().is_err());
        assert!(calls(&rec)
            .iter()
            .all(|c| c == "snap services charmed-zookeeper.daemon"));
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
    fn write_file_is_atomic_with_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _) = snap_with(vec![], dir.path());
        let path = w.paths().conf_dir.join("zoo.cfg");
        w.write_file(&path, b"tickTime=2000\n", 0o640).unwrap();
        assert_eq!(
            w.read_file(&path).unwrap().as_deref(),
            Some("tickTime=2000\n")
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(fs::read_dir(&w.paths().conf_dir).unwrap().count(), 1);
    }
}
