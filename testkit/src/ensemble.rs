//! [`Ensemble`]: a REAL ZooKeeper ensemble started directly with the charm's local workload
//! (Debian's jars, one JVM per server, each on its own loopback address with the standard
//! ports), without a model.
//!
//! Each test that starts servers must take its own
//! address range (`base`): server `id` listens on `127.0.0.<base + id>`. Ranges in use:
//! `tests/zk_real.rs` takes bases 100, 110, 120 and 130 (127.0.0.101 to .131). Pick another
//! range for a new test.
//!
//! Every server is killed by PID when the [`Ensemble`] is dropped, also when a test panics.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::local_workload::LocalWorkload;
use zookeeper_charm::workload::Workload;
use zookeeper_charm::zk::admin::Admin;
use zookeeper_charm::zk::four::{self, Mode};
use zookeeper_charm::zk::{Role, ServerSpec, ZkError};

use crate::host::assert_zookeeper;

/// The `super` password every test ensemble is configured with.
pub const SUPER_PASSWORD: &str = "test-super-Zq81mW";
/// How long [`Ensemble::start`] and the `wait_*` helpers wait at most.
pub const WAIT: Duration = Duration::from_secs(30);
/// The timeout for 4lw probes while polling.
const PROBE: Duration = Duration::from_millis(500);

/// One server of a test ensemble.
pub struct Server {
    pub id: u32,
    pub host: String,
    pub workload: LocalWorkload,
}

/// A real ensemble under a temporary directory. Dropping it kills every server.
pub struct Ensemble {
    pub dir: tempfile::TempDir,
    pub base: u8,
    pub servers: BTreeMap<u32, Server>,
}

impl Ensemble {
    /// Starts servers `1..=n` as one ensemble on `127.0.0.<base+1>..=<base+n>` and waits
    /// until all of them serve (one leader, the rest followers).
    pub fn start(n: u32, base: u8) -> Ensemble {
        assert_zookeeper();
        assert!(
            u32::from(base) + n < 255,
            "address range 127.0.0.{base}+{n} overflows"
        );
        let mut ensemble = Ensemble {
            dir: tempfile::Builder::new()
                .prefix("zk-ensemble-")
                .tempdir()
                .expect("create a temp dir"),
            base,
            servers: BTreeMap::new(),
        };
        let members: Vec<u32> = (1..=n).collect();
        for id in 1..=n {
            ensemble.launch(id, &members);
        }
        ensemble.wait_serving(&members);
        ensemble
    }

    /// `127.0.0.<base + id>`.
    pub fn host(&self, id: u32) -> String {
        format!("127.0.0.{}", u32::from(self.base) + id)
    }

    /// The participant spec of server `id`.
    pub fn spec(&self, id: u32) -> ServerSpec {
        ServerSpec {
            id,
            host: self.host(id),
            role: Role::Participant,
        }
    }

    /// The addresses of every launched server.
    pub fn hosts(&self) -> Vec<String> {
        self.servers.values().map(|s| s.host.clone()).collect()
    }

    /// The workload of server `id`.
    pub fn workload(&self, id: u32) -> &LocalWorkload {
        &self.servers[&id].workload
    }

    /// Writes server `id`'s config (`zoo.cfg`, `myid`, a dynamic file listing `members`
    /// as participants; `members` should include `id`) and starts it without waiting.
    pub fn launch(&mut self, id: u32, members: &[u32]) {
        let root = self.dir.path().join(format!("zk{id}"));
        let workload = LocalWorkload::new(root);
        workload.install().expect("install the local workload");
        let p = workload.paths().clone();
        let dynamic: String = members
            .iter()
            .map(|m| self.spec(*m).line() + "\n")
            .collect();
        let cfg = format!(
            "tickTime=500\n\
             initLimit=20\n\
             syncLimit=10\n\
             dataDir={data}\n\
             dataLogDir={datalog}\n\
             reconfigEnabled=true\n\
             standaloneEnabled=false\n\
             dynamicConfigFile={dynfile}\n\
             4lw.commands.whitelist=srvr,mntr,conf,ruok\n\
             admin.enableServer=false\n\
             authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n",
            data = p.data_dir.display(),
            datalog = p.data_log_dir.display(),
            dynfile = p.initial_dynamic().display(),
        );
        // `conf` is whitelisted here (unlike on the charm's servers) so that the tests of the
        // 4lw parsers have a server that answers it, as an earlier revision's servers do.
        // `super` authenticates with SASL DIGEST-MD5, as the charm's servers have it.
        let jaas = format!(
            "Server {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_super=\"{SUPER_PASSWORD}\";\n}};\n"
        );
        workload
            .write_file(&p.jaas(), jaas.as_bytes(), 0o600)
            .expect("write the JAAS file");
        workload
            .set_jvm_flags(&[
                format!("-Djava.security.auth.login.config={}", p.jaas().display()),
                "-Dzookeeper.superUser=super".to_string(),
            ])
            .expect("set the JVM flags");
        workload
            .write_file(&p.zoo_cfg(), cfg.as_bytes(), 0o640)
            .expect("write zoo.cfg");
        workload
            .write_file(&p.initial_dynamic(), dynamic.as_bytes(), 0o640)
            .expect("write the dynamic config");
        workload
            .write_file(&p.myid(), format!("{id}\n").as_bytes(), 0o644)
            .expect("write myid");
        workload.start().expect("start ZooKeeper");
        self.servers.insert(
            id,
            Server {
                id,
                host: self.host(id),
                workload,
            },
        );
    }

    /// Waits until every server in `ids` answers `srvr` as leader or follower; panics
    /// after [`WAIT`] with what each server last said and the tail of its log.
    pub fn wait_serving(&self, ids: &[u32]) {
        let deadline = Instant::now() + WAIT;
        loop {
            let states: Vec<(u32, Result<four::Srvr, ZkError>)> = ids
                .iter()
                .map(|id| (*id, four::srvr_within(&self.host(*id), PROBE)))
                .collect();
            let all = states.iter().all(
                |(_, s)| matches!(s, Ok(s) if matches!(s.mode, Mode::Leader | Mode::Follower)),
            );
            if all {
                return;
            }
            if Instant::now() >= deadline {
                let mut report = String::new();
                for (id, state) in &states {
                    let _ = writeln!(report, "server {id} ({}): {state:?}", self.host(*id));
                    let _ = writeln!(report, "  log tail: {}", self.log_tail(*id, 8));
                }
                panic!("ZooKeeper servers {ids:?} did not all serve within {WAIT:?}:\n{report}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls `check` every 100 ms until it returns `Some`, or panics after [`WAIT`] with
    /// `what`.
    pub fn wait_for<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The modes of the servers that answer `srvr`, by id.
    pub fn modes(&self) -> BTreeMap<u32, Mode> {
        self.servers
            .values()
            .filter_map(|s| {
                four::srvr_within(&s.host, PROBE)
                    .ok()
                    .map(|r| (s.id, r.mode))
            })
            .collect()
    }

    /// The id of the server that says it leads, if exactly one does.
    pub fn leader(&self) -> Option<u32> {
        let leaders: Vec<u32> = self
            .modes()
            .into_iter()
            .filter(|(_, m)| *m == Mode::Leader)
            .map(|(id, _)| id)
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    }

    /// A `super` session to every launched server.
    pub fn admin(&self) -> Admin {
        Admin::connect(&self.hosts(), SUPER_PASSWORD, Duration::from_secs(5))
            .expect("connect as super")
    }

    /// The last `lines` lines of server `id`'s `zookeeper.out`.
    pub fn log_tail(&self, id: u32, lines: usize) -> String {
        let Some(s) = self.servers.get(&id) else {
            return String::from("(no such server)");
        };
        let text = std::fs::read_to_string(s.workload.out_file()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n  ")
    }

    /// Kills server `id` at once (SIGKILL), without the workload's graceful stop.
    pub fn kill(&mut self, id: u32) {
        if let Some(s) = self.servers.get(&id) {
            kill_server(&s.workload);
        }
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for s in self.servers.values() {
            kill_server(&s.workload);
        }
    }
}

/// SIGKILLs the workload's server by the pid in its pidfile (only if that pid is still a
/// ZooKeeper server of this root) and reaps it.
fn kill_server(w: &LocalWorkload) {
    if let Ok(Some(pid)) = w.pid() {
        // SAFETY: plain syscalls on a pid verified to be our ZooKeeper server.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
        }
    }
    let _ = std::fs::remove_file(w.pidfile());
}
