//! A test-only [`Workload`]: ZooKeeper from Debian's jars, run as a plain detached process
//! with a pidfile, as the user running the tests.
//!
//! The charm binary never uses it (its only backend is the snap); [`crate::Ensemble`] uses
//! it to start servers without a model, for the tests of the charm's ZooKeeper client code
//! (`tests/zk_real.rs`, `tests/tls_real.rs`). Nothing here runs as the snap's user, has a
//! private filesystem, or goes through `snap`: what the snap path guarantees (ownership,
//! modes, links, the launcher's environment) is tested on the local model only. Layout under
//! the root directory:
//!
//! ```text
//! <root>/conf/            conf_dir (zoo.cfg, dynamic config, JAAS)
//! <root>/data/            data_dir (myid, snapshots)
//! <root>/data-log/        data_log_dir (transaction logs)
//! <root>/log/             log_dir; the JVM's stdout+stderr go to log/zookeeper.out
//! <root>/charm-state/     charm_state_dir (mode 0700)
//! <root>/zookeeper.pid    the server's pid while it runs
//! <root>/jvm-flags        extra JVM flags, one per line (set_jvm_flags)
//! ```
//!
//! Java is `$ZK_CHARM_JAVA`, else `/usr/bin/java`, else `java` on `PATH`. The classpath is
//! `$ZK_CHARM_ZK_CLASSPATH`, else [`DEFAULT_CLASSPATH`]. Nothing here relies on `HOME` or
//! `USER`: Juju runs hooks with a cleared environment.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's ZooKeeper jar (its manifest `Class-Path` names the dependencies) plus an SLF4J
/// binding so that the server logs at all. `servlet-api.jar` is deliberately absent: the
/// AdminServer stays off (`admin.enableServer=false` in zoo.cfg).
pub const DEFAULT_CLASSPATH: &str =
    "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar";
/// The fix to print when java or the jars are missing.
pub const INSTALL_HINT: &str = "apt-get install -y libzookeeper-java default-jre-headless";
pub use zookeeper_charm::workload::MAIN_CLASS;
use zookeeper_charm::workload::{files, Paths, Workload, WorkloadError};
/// How long `stop` waits after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// The local, process-based workload. See the module docs for the layout.
#[derive(Debug, Clone)]
pub struct LocalWorkload {
    root: PathBuf,
    paths: Paths,
    java: Option<PathBuf>,
    classpath: String,
}

impl LocalWorkload {
    /// A workload rooted at `root`, with java and the classpath taken from the process
    /// environment. Touches no file.
    pub fn new(root: PathBuf) -> LocalWorkload {
        LocalWorkload::with_env(root, &|k| std::env::var(k).ok())
    }

    /// Like [`LocalWorkload::new`], reading `ZK_CHARM_JAVA`, `ZK_CHARM_ZK_CLASSPATH` and `PATH`
    /// through `env`.
    pub fn with_env(root: PathBuf, env: &dyn Fn(&str) -> Option<String>) -> LocalWorkload {
        let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
        let java = match non_empty("ZK_CHARM_JAVA") {
            Some(j) => Some(PathBuf::from(j)),
            None => find_java(non_empty("PATH").as_deref()),
        };
        let classpath =
            non_empty("ZK_CHARM_ZK_CLASSPATH").unwrap_or_else(|| DEFAULT_CLASSPATH.to_string());
        let paths = Paths::under(&root);
        LocalWorkload {
            root,
            paths,
            java,
            classpath,
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/zookeeper.pid`.
    pub fn pidfile(&self) -> PathBuf {
        self.root.join("zookeeper.pid")
    }

    /// `<root>/jvm-flags`.
    pub fn jvm_flags_file(&self) -> PathBuf {
        self.root.join("jvm-flags")
    }

    /// `<root>/log/zookeeper.out`, where the JVM's stdout and stderr go.
    pub fn out_file(&self) -> PathBuf {
        self.paths.log_dir.join("zookeeper.out")
    }

    /// The java binary this workload would run, if one was found.
    pub fn java(&self) -> Option<&Path> {
        self.java.as_deref()
    }

    /// The classpath this workload runs with.
    pub fn classpath(&self) -> &str {
        &self.classpath
    }

    /// The pid of the running server: the pidfile's pid, if that process is alive and is a
    /// ZooKeeper server started with this root's `zoo.cfg` (guards against pid reuse).
    pub fn pid(&self) -> Result<Option<i32>, WorkloadError> {
        let Some(text) = self.read_file(&self.pidfile())? else {
            return Ok(None);
        };
        let Ok(pid) = text.trim().parse::<i32>() else {
            return Ok(None);
        };
        if pid <= 0 {
            return Ok(None);
        }
        Ok(is_our_server(pid, &self.paths.zoo_cfg()).then_some(pid))
    }

    fn check_installed(&self) -> Result<PathBuf, WorkloadError> {
        let java = match &self.java {
            Some(j) if j.is_file() => j.clone(),
            Some(j) => {
                return Err(WorkloadError::Other(format!(
                    "java not found at {}; install it with: {INSTALL_HINT}",
                    j.display()
                )))
            }
            None => {
                return Err(WorkloadError::Other(format!(
                    "java not found (no /usr/bin/java and none on PATH); install it with: {INSTALL_HINT}"
                )))
            }
        };
        for jar in self.classpath.split(':').filter(|e| !e.is_empty()) {
            if !Path::new(jar).exists() {
                return Err(WorkloadError::Other(format!(
                    "ZooKeeper classpath entry {jar} not found; install it with: {INSTALL_HINT}"
                )));
            }
        }
        Ok(java)
    }

    /// Creates the layout's directories (charm-state with mode 0700).
    fn ensure_layout(&self) -> Result<(), WorkloadError> {
        for dir in [
            &self.paths.conf_dir,
            &self.paths.data_dir,
            &self.paths.data_log_dir,
            &self.paths.log_dir,
        ] {
            fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        }
        // conf holds the JAAS file with the passwords; ZooKeeper rewrites zoo.cfg with its
        // own umask after a reconfig, so the directory itself is private.
        for private in [&self.paths.charm_state_dir, &self.paths.conf_dir] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(private)
                .map_err(io_err("create directory", private))?;
            fs::set_permissions(private, fs::Permissions::from_mode(0o700))
                .map_err(io_err("chmod", private))?;
        }
        Ok(())
    }

    fn jvm_flags(&self) -> Result<Vec<String>, WorkloadError> {
        Ok(self
            .read_file(&self.jvm_flags_file())?
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }
}

impl Workload for LocalWorkload {
    fn paths(&self) -> &Paths {
        &self.paths
    }

    fn install(&self) -> Result<(), WorkloadError> {
        self.check_installed()?;
        self.ensure_layout()
    }

    fn refresh(&self) -> Result<(), WorkloadError> {
        self.check_installed().map(drop)
    }

    fn version(&self) -> Result<Option<String>, WorkloadError> {
        let Some(jar) = self.classpath.split(':').find(|e| !e.is_empty()) else {
            return Ok(None);
        };
        Ok(jar_version(Path::new(jar)))
    }

    fn set_jvm_flags(&self, flags: &[String]) -> Result<(), WorkloadError> {
        if let Some(bad) = flags.iter().find(|f| f.contains('\n')) {
            return Err(WorkloadError::Other(format!(
                "a JVM flag cannot contain a newline: {:?}",
                bad.lines().next().unwrap_or_default()
            )));
        }
        let text = flags
            .iter()
            .filter(|f| !f.trim().is_empty())
            .fold(String::new(), |mut s, f| {
                s.push_str(f.trim());
                s.push('\n');
                s
            });
        // The flags may name secret-bearing files; keep the list itself private.
        write_atomic(&self.jvm_flags_file(), text.as_bytes(), 0o600)
    }

    fn start(&self) -> Result<(), WorkloadError> {
        if self.pid()?.is_some() {
            return Ok(());
        }
        let java = self.check_installed()?;
        self.ensure_layout()?;
        let out_path = self.out_file();
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(&out_path)
            .map_err(io_err("open", &out_path))?;
        let err = out.try_clone().map_err(io_err("open", &out_path))?;
        let mut cmd = Command::new(&java);
        cmd.args(["-Xmx128m", "-Xms32m", "-XX:+UseSerialGC"])
            .args(self.jvm_flags()?)
            .arg("-cp")
            .arg(&self.classpath)
            .arg(MAIN_CLASS)
            .arg(self.paths.zoo_cfg())
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(io_err("spawn", &java))?;
        let pid = child.id();
        // The child is not waited for: it runs detached in its own session. `stop` reaps it
        // if this process happens to be its parent.
        drop(child);
        write_atomic(&self.pidfile(), format!("{pid}\n").as_bytes(), 0o644)
    }

    fn stop(&self) -> Result<(), WorkloadError> {
        let pidfile = self.pidfile();
        if let Some(pid) = self.pid()? {
            // SAFETY: plain syscalls on a pid we checked is our server.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            if !wait_gone(pid, STOP_GRACE) {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                if !wait_gone(pid, Duration::from_secs(5)) {
                    return Err(WorkloadError::Other(format!(
                        "ZooKeeper (pid {pid}) survived SIGKILL for 5 s"
                    )));
                }
            }
        }
        match fs::remove_file(&pidfile) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &pidfile)(e)),
        }
    }

    fn is_running(&self) -> Result<bool, WorkloadError> {
        Ok(self.pid()?.is_some())
    }

    fn write_file(&self, path: &Path, contents: &[u8], mode: u32) -> Result<(), WorkloadError> {
        if path.starts_with(&self.paths.charm_state_dir) || path.starts_with(&self.paths.conf_dir) {
            self.ensure_layout()?;
        }
        write_atomic(path, contents, mode)
    }

    fn read_file(&self, path: &Path) -> Result<Option<String>, WorkloadError> {
        read_optional(path)
    }

    fn remove_file(&self, path: &Path) -> Result<(), WorkloadError> {
        files::remove(path).map_err(io_err("remove", path))
    }
}

/// Reads a file; `Ok(None)` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, WorkloadError> {
    files::read_optional(path).map_err(io_err("read", path))
}

/// Writes `contents` to `path` atomically (see [`files::write_atomic`]), making the
/// directory first.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), WorkloadError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    }
    files::write_atomic(path, contents, mode, None).map_err(io_err("write", path))
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> WorkloadError + 'a {
    move |source| WorkloadError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn find_java(path_var: Option<&str>) -> Option<PathBuf> {
    let usr = PathBuf::from("/usr/bin/java");
    if usr.is_file() {
        return Some(usr);
    }
    path_var?
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join("java"))
        .find(|p| p.is_file())
}

/// Whether `pid` is alive (not a zombie) and runs `QuorumPeerMain` with `zoo_cfg`.
fn is_our_server(pid: i32, zoo_cfg: &Path) -> bool {
    let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    let cfg = zoo_cfg.as_os_str().as_encoded_bytes();
    args.contains(&MAIN_CLASS.as_bytes()) && args.contains(&cfg)
}

/// Whether the process `pid` still runs. A zombie counts as gone once all its threads are
/// gone; if it is our child it is reaped here, so that its `/proc` entry disappears too.
fn process_exists(pid: i32) -> bool {
    let state = fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .map(|stat| {
            // The state follows the parenthesised command name.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
                .unwrap_or('?')
        });
    match state {
        None => false,
        Some('Z') | Some('X') => {
            // A leader thread shows `Z` while the JVM's other threads still exit.
            // SAFETY: waitpid on a pid that is not our child just fails with ECHILD.
            let reaped = unsafe {
                let mut status = 0;
                libc::waitpid(pid, &mut status, libc::WNOHANG)
            };
            match reaped {
                r if r == pid => false,
                0 => true,
                _ => fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count()) > 1,
            }
        }
        Some(_) => true,
    }
}

fn wait_gone(pid: i32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if !process_exists(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ZooKeeper version of `jar`, from its own name (`zookeeper-3.8.0.jar`), the name its
/// symlink points at, or a versioned sibling symlink pointing at it (Debian ships
/// `zookeeper-3.8.0.jar -> zookeeper.jar`).
pub fn jar_version(jar: &Path) -> Option<String> {
    let from_name = |p: &Path| {
        p.file_name()
            .and_then(|n| version_in_name(&n.to_string_lossy()))
    };
    if let Some(v) = from_name(jar) {
        return Some(v);
    }
    if let Ok(target) = fs::read_link(jar) {
        if let Some(v) = from_name(&target) {
            return Some(v);
        }
    }
    let real = fs::canonicalize(jar).ok()?;
    let dir = jar.parent()?;
    let mut found: Vec<String> = fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = version_in_name(&e.file_name().to_string_lossy())?;
            (fs::canonicalize(e.path()).ok()? == real).then_some(v)
        })
        .collect();
    found.sort();
    found.pop()
}

/// `3.8.0` from `zookeeper-3.8.0.jar`; `None` for `zookeeper-jute-3.8.0.jar` or `zookeeper.jar`.
fn version_in_name(name: &str) -> Option<String> {
    let v = name.strip_prefix("zookeeper-")?.strip_suffix(".jar")?;
    let ok = v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    ok.then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(root: &Path) -> LocalWorkload {
        LocalWorkload::with_env(root.to_path_buf(), &|_| None)
    }

    #[test]
    fn the_conf_dir_is_private_once_a_file_is_written_there() {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(dir.path());
        w.write_file(&w.paths().jaas(), b"secret", 0o600).unwrap();
        let mode = fs::metadata(&w.paths().conf_dir)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn layout_follows_the_contract_under_the_root() {
        let w = workload(Path::new("/srv/u0"));
        let p = w.paths();
        assert_eq!(p.conf_dir, Path::new("/srv/u0/conf"));
        assert_eq!(p.data_dir, Path::new("/srv/u0/data"));
        assert_eq!(p.data_log_dir, Path::new("/srv/u0/data-log"));
        assert_eq!(p.log_dir, Path::new("/srv/u0/log"));
        assert_eq!(p.charm_state_dir, Path::new("/srv/u0/charm-state"));
        assert_eq!(w.pidfile(), Path::new("/srv/u0/zookeeper.pid"));
        assert_eq!(w.jvm_flags_file(), Path::new("/srv/u0/jvm-flags"));
        assert_eq!(w.out_file(), Path::new("/srv/u0/log/zookeeper.out"));
    }

    #[test]
    fn env_overrides_java_and_classpath() {
        let w = LocalWorkload::with_env(PathBuf::from("/r"), &|k| match k {
            "ZK_CHARM_JAVA" => Some("/opt/jdk/bin/java".into()),
            "ZK_CHARM_ZK_CLASSPATH" => Some("/opt/zk/zookeeper-3.9.2.jar".into()),
            _ => None,
        });
        assert_eq!(w.java(), Some(Path::new("/opt/jdk/bin/java")));
        assert_eq!(w.classpath(), "/opt/zk/zookeeper-3.9.2.jar");
        assert_eq!(w.version().unwrap().as_deref(), Some("3.9.2"));
        assert_eq!(workload(Path::new("/r")).classpath(), DEFAULT_CLASSPATH);
    }

    #[test]
    fn missing_java_or_jar_names_the_apt_fix() {
        let dir = tempfile::tempdir().unwrap();
        let w = LocalWorkload::with_env(dir.path().to_path_buf(), &|k| match k {
            "ZK_CHARM_JAVA" => Some(dir.path().join("no-java").display().to_string()),
            _ => None,
        });
        let e = w.install().unwrap_err().to_string();
        assert!(
            e.contains("java not found") && e.contains(INSTALL_HINT),
            "{e}"
        );

        let java = dir.path().join("java");
        fs::write(&java, "").unwrap();
        let w = LocalWorkload::with_env(dir.path().to_path_buf(), &|k| match k {
            "ZK_CHARM_JAVA" => Some(java.display().to_string()),
            "ZK_CHARM_ZK_CLASSPATH" => Some("/nonexistent/zookeeper.jar".into()),
            _ => None,
        });
        let e = w.start().unwrap_err().to_string();
        assert!(
            e.contains("/nonexistent/zookeeper.jar") && e.contains(INSTALL_HINT),
            "{e}"
        );
        assert!(!w.pidfile().exists());
    }

    #[test]
    fn version_is_found_through_a_versioned_sibling_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let jar = dir.path().join("zookeeper.jar");
        fs::write(&jar, "jar").unwrap();
        fs::write(dir.path().join("zookeeper-jute.jar"), "other").unwrap();
        std::os::unix::fs::symlink(
            "zookeeper-jute.jar",
            dir.path().join("zookeeper-jute-3.8.0.jar"),
        )
        .unwrap();
        assert_eq!(jar_version(&jar), None);
        std::os::unix::fs::symlink("zookeeper.jar", dir.path().join("zookeeper-3.8.1.jar"))
            .unwrap();
        assert_eq!(jar_version(&jar).as_deref(), Some("3.8.1"));

        let link = dir.path().join("zk.jar");
        std::os::unix::fs::symlink("zookeeper-3.9.0.jar", &link).unwrap();
        assert_eq!(jar_version(&link).as_deref(), Some("3.9.0"));
    }

    #[test]
    fn write_file_is_atomic_with_the_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(dir.path());
        let path = w.paths().conf_dir.join("zoo.cfg");
        w.write_file(&path, b"one", 0o640).unwrap();
        w.write_file(&path, b"two", 0o600).unwrap();
        assert_eq!(w.read_file(&path).unwrap().as_deref(), Some("two"));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(&w.paths().conf_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("zoo.cfg")]);
        assert_eq!(w.read_file(&dir.path().join("absent")).unwrap(), None);
    }

    #[test]
    fn charm_state_dir_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(dir.path());
        let state = w.paths().charm_state_dir.clone();
        w.write_file(&state.join("started-with"), b"x", 0o600)
            .unwrap();
        assert_eq!(
            fs::metadata(&state).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn jvm_flags_are_stored_one_per_line_and_newlines_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(dir.path());
        w.set_jvm_flags(&["-Da=1".into(), "-Db=2".into()]).unwrap();
        assert_eq!(
            fs::read_to_string(w.jvm_flags_file()).unwrap(),
            "-Da=1\n-Db=2\n"
        );
        assert_eq!(w.jvm_flags().unwrap(), vec!["-Da=1", "-Db=2"]);
        assert!(w.set_jvm_flags(&["-Da=1\n-Dsneaky".into()]).is_err());
        assert_eq!(w.jvm_flags().unwrap(), vec!["-Da=1", "-Db=2"]);
    }

    #[test]
    fn a_pidfile_naming_another_process_is_not_running_and_stop_only_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(dir.path());
        assert!(!w.is_running().unwrap());
        w.stop().unwrap();
        // Our own pid is alive but is not a ZooKeeper server: never signal it.
        fs::write(w.pidfile(), format!("{}\n", std::process::id())).unwrap();
        assert!(!w.is_running().unwrap());
        w.stop().unwrap();
        assert!(!w.pidfile().exists());
        fs::write(w.pidfile(), "garbage").unwrap();
        assert!(!w.is_running().unwrap());
    }
}
