//! The snap's service, `charmed-zookeeper.daemon`, as systemd and the snap's launcher run
//! it, and how the model stops it from outside.
//!
//! On a machine, systemd starts the service with the variables of `/etc/environment`
//! (snapd's units say `EnvironmentFile=-/etc/environment`), `snap run` adds the `SNAP*`
//! variables and the snap's own (`JAVA_HOME`, `ZOO_LOG_DIR`, `ZOOCFGDIR`), and the snap's
//! `with_config.sh` runs `zkServer.sh --config $SNAP_DATA/etc/zookeeper start-foreground`
//! through `setpriv --clear-groups --reuid snap_daemon --regid snap_daemon`. `zkServer.sh`
//! (with `zkEnv.sh`) then execs
//!
//! ```text
//! java -Dzookeeper.log.dir=$ZOO_LOG_DIR -Dzookeeper.log.file=zookeeper-$USER-server-$HOSTNAME.log
//!      -XX:+HeapDumpOnOutOfMemoryError '-XX:OnOutOfMemoryError=kill -9 %p'
//!      -cp $ZOOCFGDIR:<the snap's jars> -Xmx${ZK_SERVER_HEAP:-1000}m $SERVER_JVMFLAGS $JVMFLAGS
//!      -Dcom.sun.management.jmxremote -Dcom.sun.management.jmxremote.local.only=false
//!      org.apache.zookeeper.server.quorum.QuorumPeerMain $ZOOCFGDIR/zoo.cfg
//! ```
//!
//! Here the same command line is built and run through the host's `setpriv` as uid and gid
//! 584788 (no user of that name is needed), in its own session, with the same variables,
//! with the unit's mounts (a private copy of the hook's namespace, without the `/etc`
//! overlay). The server's log (its stdout, see
//! [`super::store`]) is appended to `$ZOO_LOG_DIR/zookeeper.log` by a `/bin/sh` that runs
//! as that user and `exec`s java, so the file is the server's as logback's would be; its
//! stderr goes to the service's journal.
//! `stop` is systemd's: SIGTERM, up to [`STOP_TIMEOUT`], then SIGKILL. Unlike systemd, a
//! server that dies is not restarted (snapd's default `restart-condition: on-failure`).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::state::{ServiceProcess, SnapdState, JOURNAL_DIR};
use super::store::{self, SNAP_DAEMON};
use super::SnapError;
use crate::machine::Machine;

/// systemd's stop timeout for snap services (`TimeoutStopSec=30`).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// The server's main class.
const MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";
/// systemd's `PATH` for services when the environment file sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `/etc/environment` read as systemd reads an `EnvironmentFile`: `KEY=VALUE` lines, `#`
/// and `;` comments, blank lines skipped, one pair of surrounding quotes removed.
pub fn parse_environment_file(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| {
                value
                    .strip_prefix(*q)
                    .and_then(|v| v.strip_suffix(*q))
                    .map(|v| v.replace(&format!("\\{q}"), &q.to_string()))
            })
            .unwrap_or_else(|| value.to_string());
        vars.insert(key.to_string(), unquoted);
    }
    vars
}

/// The service's environment on a machine whose `/etc/environment` holds `environment`.
pub fn service_env(environment: &str, revision: u32) -> BTreeMap<String, String> {
    let snap = store::snap_dir(revision);
    let data = store::snap_data(revision);
    let common = store::snap_common();
    let rev = revision.to_string();
    let mut env = BTreeMap::from([("PATH".to_string(), DEFAULT_PATH.to_string())]);
    env.extend(parse_environment_file(environment));
    let home = format!("/root/snap/{}/{rev}", store::NAME);
    for (k, v) in [
        ("SNAP", snap.display().to_string()),
        ("SNAP_COMMON", common.display().to_string()),
        ("SNAP_DATA", data.display().to_string()),
        ("SNAP_NAME", store::NAME.to_string()),
        ("SNAP_INSTANCE_NAME", store::NAME.to_string()),
        ("SNAP_REVISION", rev.clone()),
        ("SNAP_VERSION", store::version()),
        ("SNAP_ARCH", "amd64".to_string()),
        ("SNAP_USER_DATA", home.clone()),
        (
            "SNAP_USER_COMMON",
            format!("/root/snap/{}/common", store::NAME),
        ),
        ("HOME", home),
        // The snap's own environment (snapcraft.yaml): its JRE (the host's here).
        (
            "JAVA_HOME",
            snap.join("usr/lib/jvm")
                .join(store::jre_name())
                .display()
                .to_string(),
        ),
        (
            "ZOO_LOG_DIR",
            common.join("var/log/zookeeper").display().to_string(),
        ),
        (
            "ZOOCFGDIR",
            data.join("etc/zookeeper").display().to_string(),
        ),
    ] {
        env.insert(k.to_string(), v);
    }
    env
}

/// The launcher's command line (see the module docs):
/// `setpriv ... -- /bin/sh -c 'exec "$0" "$@" >> "$ZOO_LOG_DIR/zookeeper.log"' java ...`.
pub fn launcher_argv(env: &BTreeMap<String, String>, revision: u32) -> Vec<String> {
    let get = |k: &str| env.get(k).cloned().unwrap_or_default();
    let java = Path::new(&get("JAVA_HOME")).join("bin/java");
    let java = if java.is_file() {
        java
    } else {
        PathBuf::from("/usr/bin/java")
    };
    let cfg_dir = get("ZOOCFGDIR");
    let lib = store::snap_dir(revision).join("opt/zookeeper/lib");
    let mut jars: Vec<String> = fs::read_dir(&lib)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jar"))
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    jars.sort();
    let classpath = std::iter::once(cfg_dir.clone())
        .chain(jars)
        .collect::<Vec<_>>()
        .join(":");
    let heap = env
        .get("ZK_SERVER_HEAP")
        .filter(|h| !h.is_empty())
        .cloned()
        .unwrap_or_else(|| "1000".to_string());
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let id = SNAP_DAEMON.to_string();
    let mut argv: Vec<String> = [
        "setpriv",
        "--clear-groups",
        "--reuid",
        &id,
        "--regid",
        &id,
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.push("/bin/sh".into());
    argv.push("-c".into());
    argv.push(r#"exec "$0" "$@" >> "$ZOO_LOG_DIR/zookeeper.log""#.into());
    argv.push(java.display().to_string());
    argv.push(format!("-Dzookeeper.log.dir={}", get("ZOO_LOG_DIR")));
    argv.push(format!(
        "-Dzookeeper.log.file=zookeeper-{}-server-{}.log",
        get("USER"),
        host.trim()
    ));
    argv.push("-XX:+HeapDumpOnOutOfMemoryError".into());
    argv.push("-XX:OnOutOfMemoryError=kill -9 %p".into());
    argv.push("-cp".into());
    argv.push(classpath);
    argv.push(format!("-Xmx{heap}m"));
    for var in ["SERVER_JVMFLAGS", "JVMFLAGS"] {
        argv.extend(get(var).split_whitespace().map(str::to_string));
    }
    argv.push("-Dcom.sun.management.jmxremote".into());
    argv.push("-Dcom.sun.management.jmxremote.local.only=false".into());
    argv.push(MAIN_CLASS.into());
    argv.push(format!("{cfg_dir}/zoo.cfg"));
    argv
}

/// Starts the service's process (see the module docs); returns it.
pub fn spawn(revision: u32, service: &str, snapd: &Path) -> Result<ServiceProcess, SnapError> {
    let environment = fs::read_to_string("/etc/environment").unwrap_or_default();
    let env = service_env(&environment, revision);
    let argv = launcher_argv(&env, revision);
    let journal_dir = snapd.join(JOURNAL_DIR);
    fs::create_dir_all(&journal_dir)
        .map_err(|e| SnapError::Failed(format!("cannot create the journal: {e}")))?;
    let journal = journal_dir.join(format!("{}.{service}.log", store::NAME));
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(&journal)
        .map_err(|e| SnapError::Failed(format!("cannot open the journal: {e}")))?;
    let err = out
        .try_clone()
        .map_err(|e| SnapError::Failed(format!("cannot open the journal: {e}")))?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .envs(&env)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    // SAFETY: system calls only. setsid(2): the service leaves the hook's session and
    // process group (a hook killed at its deadline does not take it along), as systemd's
    // services are not the hook's. Then a copy of the hook's mount namespace of its own
    // (same mounts, private), in which the unit's /etc overlay is unmounted (the host's /etc
    // shows again; the service already has its environment): a long-lived second mount of
    // the overlay would share its upper directory with every later hook's. Unmounting it
    // in the hook's own namespace would take it from the hook too.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::unshare(libc::CLONE_NEWNS) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::umount2(c"/etc".as_ptr(), libc::MNT_DETACH);
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| SnapError::Failed(format!("cannot start {}: {e}", argv[0])))?;
    let pid = child.id() as i32;
    // Not waited for: the service runs on its own (it is reaped by whoever inherits it).
    drop(child);
    ServiceProcess::of(pid).ok_or_else(|| {
        SnapError::Failed(format!(
            "the service exited at once; see {}",
            journal.display()
        ))
    })
}

/// Stops `p` as systemd does: SIGTERM, up to `grace` to exit, then SIGKILL. A process that
/// is no longer this one is left alone.
pub fn stop(p: ServiceProcess, grace: Duration) {
    if p.pid <= 1 || !p.alive() {
        return;
    }
    let signal = |sig| {
        // SAFETY: kill(2) on one pid (> 1) checked just before to be this very process.
        unsafe {
            libc::kill(p.pid, sig);
        }
    };
    signal(libc::SIGTERM);
    let start = Instant::now();
    while p.alive() && start.elapsed() < grace {
        sleep(Duration::from_millis(20));
    }
    if p.alive() {
        signal(libc::SIGKILL);
        let start = Instant::now();
        while p.alive() && start.elapsed() < Duration::from_secs(5) {
            sleep(Duration::from_millis(20));
        }
    }
}

/// The running ZooKeeper server of a machine's snap, if any.
pub fn server(machine: &Machine) -> Option<ServiceProcess> {
    let snapd = super::state::snapd_dir(machine);
    SnapdState::load(&snapd)
        .live_processes()
        .into_iter()
        .find(|(name, _)| name == &format!("{}.daemon", store::NAME))
        .map(|(_, p)| p)
}

/// Stops every service process the machine's snaps run (from outside the unit, by pid:
/// `remove-unit`, `destroy`); returns their pids.
pub fn stop_all(machine: &Machine, grace: Duration) -> Vec<i32> {
    let snapd = super::state::snapd_dir(machine);
    let live = SnapdState::load(&snapd).live_processes();
    for (_, p) in &live {
        stop(*p, grace);
    }
    live.iter().map(|(_, p)| p.pid).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_file_is_read_as_systemd_reads_it() {
        let vars = parse_environment_file(
            "PATH=\"/usr/bin:/snap/bin\"\n# comment\n\nSERVER_JVMFLAGS=-Da=1 -Db=2\n  X = 'y' \nnot a var\n",
        );
        assert_eq!(vars["PATH"], "/usr/bin:/snap/bin");
        assert_eq!(vars["SERVER_JVMFLAGS"], "-Da=1 -Db=2");
        assert_eq!(vars["X"], "y");
        assert_eq!(vars.len(), 3);
    }

    #[test]
    fn the_launcher_runs_java_as_snap_daemon_with_the_flags_of_the_environment() {
        let env = service_env(
            "SERVER_JVMFLAGS=-Djava.security.auth.login.config=/x/jaas.cfg -Dy=1\nZK_SERVER_HEAP=128\nJVMFLAGS=-XX:+UseSerialGC\n",
            40,
        );
        assert_eq!(
            env["ZOOCFGDIR"],
            "/var/snap/charmed-zookeeper/40/etc/zookeeper"
        );
        assert_eq!(env["SNAP"], "/snap/charmed-zookeeper/40");
        assert_eq!(env["PATH"], DEFAULT_PATH);
        let argv = launcher_argv(&env, 40);
        assert_eq!(
            argv[..7],
            [
                "setpriv",
                "--clear-groups",
                "--reuid",
                "584788",
                "--regid",
                "584788",
                "--"
            ]
        );
        let pos = |a: &str| argv.iter().position(|x| x == a).unwrap();
        assert!(pos("-Xmx128m") < pos("-Djava.security.auth.login.config=/x/jaas.cfg"));
        assert!(pos("-Dy=1") < pos("-XX:+UseSerialGC"));
        assert_eq!(argv[argv.len() - 2], MAIN_CLASS);
        assert_eq!(
            argv.last().unwrap(),
            "/var/snap/charmed-zookeeper/40/etc/zookeeper/zoo.cfg"
        );
        assert!(argv.contains(&"-XX:OnOutOfMemoryError=kill -9 %p".to_string()));
        let cp = &argv[pos("-cp") + 1];
        assert!(
            cp.starts_with("/var/snap/charmed-zookeeper/40/etc/zookeeper"),
            "{cp}"
        );
    }
}
