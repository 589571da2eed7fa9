//! Against REAL ZooKeeper (Debian's 3.8 jars on loopback): the `tls` module's key, CSR,
//! PEM stores and `zoo.cfg` keys, driven through the plaintext → TLS → plaintext switch by
//! its state machine, one restart at a time, with certificates signed by a test CA made
//! with the `openssl` CLI. Address range: 127.0.0.231-233.
//!
//! Debian's classpath needs `netty-codec.jar` and `netty-resolver.jar` for TLS; this test
//! adds them itself (the local workload does not yet).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::local_workload::{LocalWorkload, DEFAULT_CLASSPATH};
use testkit::tls_provider::TestCa;
use zookeeper_charm::tls::files::{KEYSTORE_FILE, TRUSTSTORE_FILE};
use zookeeper_charm::tls::{
    client_tls, keystore_pem, leader_step, truststore_pem, unit_plan, zoo_cfg_tls, Answer, AppTls,
    ClientTls, Csr, CsrSubject, LeaderStep, PrivateKey, ProviderBag, Running, UnitPlan, UnitReport,
};
use zookeeper_charm::workload::Workload;
use zookeeper_charm::zk::four::{self, Mode};

const BASE: u32 = 230;
const NETTY_FOR_TLS: &str = "/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar";
const WAIT: Duration = Duration::from_secs(60);
const PROBE: Duration = Duration::from_millis(700);

fn require_tools() {
    for jar in DEFAULT_CLASSPATH.split(':').chain(NETTY_FOR_TLS.split(':')) {
        assert!(
            Path::new(jar).exists(),
            "{jar} not found; install with: apt-get install -y libzookeeper-java libnetty-java default-jre-headless"
        );
    }
    assert!(
        Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "openssl not found; install with: apt-get install -y openssl"
    );
}

/// Runs a command with `input` on stdin, killing it (by its PID) after `timeout`; returns
/// (success, stdout + stderr).
fn run(cmd: &mut Command, input: &[u8], timeout: Duration) -> (bool, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(stdin);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (status.is_some_and(|s| s.success()), out)
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let (ok, out) = run(
        Command::new("openssl").args(args).current_dir(dir),
        b"",
        Duration::from_secs(30),
    );
    assert!(ok, "openssl {args:?}: {out}");
    out
}

/// `srvr` over TLS on 2182 with `openssl s_client`, verifying the server's certificate
/// against `ca` and its IP address against `verify_ip`.
fn s_client_srvr(host: &str, ca: &Path, verify_ip: &str) -> (bool, String) {
    run(
        Command::new("openssl").args([
            "s_client",
            "-connect",
            &format!("{host}:2182"),
            "-CAfile",
            ca.to_str().unwrap(),
            "-verify_ip",
            verify_ip,
            "-verify_return_error",
            "-ign_eof",
        ]),
        b"srvr\n",
        Duration::from_secs(15),
    )
}

struct Node {
    id: u32,
    host: String,
    workload: LocalWorkload,
    key: PrivateKey,
    files: bool,
    running: Option<Running>,
    restarts: usize,
}

struct Cluster {
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
    app: AppTls,
    published: ClientTls,
    ca: TestCa,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &self.nodes {
            if let Ok(Some(pid)) = n.workload.pid() {
                // SAFETY: plain syscalls on the pid of a server this test started.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    let mut status = 0;
                    libc::waitpid(pid, &mut status, 0);
                }
            }
        }
    }
}

impl Cluster {
    fn new(n: u32) -> Cluster {
        require_tools();
        let dir = tempfile::Builder::new()
            .prefix("zk-tls-")
            .tempdir()
            .unwrap();
        let classpath = format!("{DEFAULT_CLASSPATH}:{NETTY_FOR_TLS}");
        let nodes = (1..=n)
            .map(|id| {
                let root = dir.path().join(format!("zk{id}"));
                let cp = classpath.clone();
                let env = move |k: &str| match k {
                    "ZK_CHARM_ZK_CLASSPATH" => Some(cp.clone()),
                    _ => std::env::var(k).ok(),
                };
                let workload = LocalWorkload::with_env(root, &env);
                workload.install().expect("install the local workload");
                Node {
                    id,
                    host: format!("127.0.0.{}", BASE + id),
                    workload,
                    key: PrivateKey::generate().unwrap(),
                    files: false,
                    running: None,
                    restarts: 0,
                }
            })
            .collect();
        Cluster {
            dir,
            nodes,
            app: AppTls::PLAINTEXT,
            published: ClientTls::Disabled,
            ca: TestCa::new(),
        }
    }

    fn ca_pem(&self) -> PathBuf {
        self.ca.ca_file()
    }

    fn conf(&self, i: usize) -> PathBuf {
        self.nodes[i].workload.paths().conf_dir.clone()
    }

    fn zoo_cfg_text(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].workload.paths().zoo_cfg()).unwrap()
    }

    /// The provider's part: our CSR, signed by the CA with openssl, sent back in the
    /// relation's wire format; then the unit's part: match, bundle, write the stores.
    fn install_certificate(&mut self, i: usize) {
        let node = &self.nodes[i];
        let subject = CsrSubject::new(&node.host, [node.host.parse().unwrap()], []).unwrap();
        let csr = Csr::generate(&node.key, &subject).unwrap();
        let leaf = self.ca.sign(csr.pem());
        let ca = self.ca.pem();
        let bag = serde_json::json!([{
            "certificate_signing_request": csr.pem(),
            "certificate": leaf,
            "ca": ca,
            "chain": [&ca, &leaf],
        }]);
        let Answer::Issued(issued) = ProviderBag::parse(Some(&bag.to_string())).answer_for(&csr)
        else {
            panic!("no certificate for unit {}", node.id)
        };
        let bundle = issued.bundle(&node.key).expect("a usable bundle");
        let conf = self.conf(i);
        let node = &mut self.nodes[i];
        node.workload
            .write_file(
                &conf.join(KEYSTORE_FILE),
                keystore_pem(&node.key, &bundle).unwrap().as_bytes(),
                0o600,
            )
            .unwrap();
        node.workload
            .write_file(
                &conf.join(TRUSTSTORE_FILE),
                &truststore_pem(&bundle).pem,
                0o600,
            )
            .unwrap();
        node.files = true;
    }

    fn remove_files(&mut self, i: usize) {
        let conf = self.conf(i);
        for f in [KEYSTORE_FILE, TRUSTSTORE_FILE] {
            std::fs::remove_file(conf.join(f)).unwrap();
        }
        self.nodes[i].files = false;
    }

    fn write_config(&self, i: usize, plan: &UnitPlan) {
        let node = &self.nodes[i];
        let p = node.workload.paths();
        let mut cfg = format!(
            "tickTime=500\ninitLimit=20\nsyncLimit=10\ndataDir={}\ndataLogDir={}\n\
             clientPort=2181\nclientPortAddress={}\nstandaloneEnabled=false\n\
             reconfigEnabled=false\n4lw.commands.whitelist=srvr,mntr,conf,ruok\n\
             admin.enableServer=false\n",
            p.data_dir.display(),
            p.data_log_dir.display(),
            node.host,
        );
        for n in &self.nodes {
            cfg.push_str(&format!("server.{}={}:2888:3888\n", n.id, n.host));
        }
        let tls = zoo_cfg_tls(
            plan.quorum.unwrap(),
            plan.client_tls,
            &p.conf_dir,
            Some(&node.host),
        )
        .unwrap();
        for (k, v) in tls {
            cfg.push_str(&format!("{k}={v}\n"));
        }
        node.workload
            .write_file(&p.zoo_cfg(), cfg.as_bytes(), 0o640)
            .unwrap();
        node.workload
            .write_file(&p.myid(), format!("{}\n", node.id).as_bytes(), 0o644)
            .unwrap();
    }

    fn reports(&self) -> BTreeMap<u32, UnitReport> {
        self.nodes
            .iter()
            .filter_map(|n| {
                n.running
                    .map(|r| (n.id, UnitReport::after_restart(r.quorum, n.files)))
            })
            .collect()
    }

    /// Ids of the servers that answer `srvr` on 2181 as leader or follower.
    fn serving(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter(|n| {
                four::srvr_within(&n.host, PROBE)
                    .is_ok_and(|s| matches!(s.mode, Mode::Leader | Mode::Follower))
            })
            .map(|n| n.id)
            .collect()
    }

    fn wait_serving(&self, ids: &[u32], what: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let serving = self.serving();
            if ids.iter().all(|id| serving.contains(id)) {
                return;
            }
            if Instant::now() >= deadline {
                let tails: String = self
                    .nodes
                    .iter()
                    .map(|n| {
                        let log =
                            std::fs::read_to_string(n.workload.out_file()).unwrap_or_default();
                        let lines: Vec<&str> = log.lines().collect();
                        format!(
                            "server {}:\n  {}\n",
                            n.id,
                            lines[lines.len().saturating_sub(6)..].join("\n  ")
                        )
                    })
                    .collect();
                panic!("{what}: only {serving:?} of {ids:?} serve after {WAIT:?}\n{tails}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            let plan = unit_plan(self.app, self.nodes[i].files, None);
            self.write_config(i, &plan);
            self.nodes[i].workload.start().unwrap();
            self.nodes[i].running = Some(Running {
                quorum: plan.quorum.unwrap(),
                client_tls: plan.client_tls,
            });
        }
        let all: Vec<u32> = self.nodes.iter().map(|n| n.id).collect();
        self.wait_serving(&all, "first start");
    }

    /// One unit's restart under the lock: while it is down the others must form a quorum
    /// (every pair of them must be able to talk), and afterwards all must serve again.
    fn restart(&mut self, i: usize, plan: &UnitPlan, step: &str) {
        let others: Vec<u32> = self
            .nodes
            .iter()
            .filter(|n| n.id != self.nodes[i].id)
            .map(|n| n.id)
            .collect();
        self.nodes[i].workload.stop().unwrap();
        if others.len() >= 2 {
            self.wait_serving(
                &others,
                &format!("{step}: the others while unit {} is down", i + 1),
            );
        }
        self.write_config(i, plan);
        self.nodes[i].workload.start().unwrap();
        self.nodes[i].running = Some(Running {
            quorum: plan.quorum.unwrap(),
            client_tls: plan.client_tls,
        });
        self.nodes[i].restarts += 1;
        let all: Vec<u32> = self.nodes.iter().map(|n| n.id).collect();
        self.wait_serving(&all, &format!("{step}: after unit {}'s restart", i + 1));
    }

    /// Runs leader and unit hooks until nothing changes. `wanted`: the certificates
    /// relation exists (certificates are issued to units that see `tls=enabled`).
    fn settle(&mut self, wanted: bool) -> Vec<String> {
        let mut log = Vec::new();
        for round in 0..40 {
            let mut changed = false;
            if let LeaderStep::Write(app) = leader_step(wanted, self.app, &self.reports()) {
                log.push(format!("leader writes {app:?}"));
                self.app = app;
                changed = true;
            }
            let published = client_tls(self.app, &self.reports(), Some(self.published));
            if published != self.published {
                log.push(format!("clients get {published:?}"));
                self.published = published;
                changed = true;
                self.check_clients();
            }
            for i in 0..self.nodes.len() {
                if wanted && self.app.enabled && !self.nodes[i].files {
                    self.install_certificate(i);
                    log.push(format!("unit {} installs its certificate", i + 1));
                    changed = true;
                }
                let plan = unit_plan(self.app, self.nodes[i].files, self.nodes[i].running);
                if plan.remove_files {
                    self.remove_files(i);
                    log.push(format!("unit {} deletes its TLS files", i + 1));
                    changed = true;
                }
                if plan.needs_restart(self.nodes[i].running) {
                    let step = format!("round {round}, {:?}", self.app);
                    self.restart(i, &plan, &step);
                    log.push(format!(
                        "unit {} restarts with {:?}",
                        i + 1,
                        plan.quorum.unwrap()
                    ));
                    changed = true;
                }
            }
            if !changed {
                return log;
            }
        }
        panic!("the switch did not settle: {log:#?}");
    }

    /// What clients are told must work: 2182 with TLS on every server, or 2181.
    fn check_clients(&self) {
        for n in &self.nodes {
            match self.published {
                ClientTls::Enabled => {
                    let (ok, out) = s_client_srvr(&n.host, &self.ca_pem(), &n.host);
                    assert!(ok && out.contains("Mode: "), "{}: {out}", n.host);
                }
                ClientTls::Disabled => {
                    assert!(four::srvr_within(&n.host, PROBE).is_ok(), "{}", n.host);
                }
            }
        }
    }
}

#[test]
fn three_servers_switch_to_tls_and_back_one_restart_at_a_time_and_serve_tls_clients() {
    let mut c = Cluster::new(3);
    c.start_all();

    // Plaintext → TLS.
    let log = c.settle(true);
    eprintln!("turning on:\n  {}", log.join("\n  "));
    assert_eq!(c.app, AppTls::TLS);
    assert_eq!(c.published, ClientTls::Enabled);
    for i in 0..3 {
        let cfg = c.zoo_cfg_text(i);
        assert!(cfg.contains("sslQuorum=true\n"), "{cfg}");
        assert!(cfg.contains("secureClientPort=2182\n"), "{cfg}");
        assert!(cfg.contains("ssl.quorum.keyStore.type=PEM\n"), "{cfg}");
        assert!(!cfg.contains("portUnification"), "{cfg}");
        assert_eq!(c.nodes[i].restarts, 3, "unit {}: {log:#?}", i + 1);
    }
    // A 3-server quorum over TLS only: one leader with two synced followers.
    let leader = c
        .nodes
        .iter()
        .find(|n| four::srvr_within(&n.host, PROBE).is_ok_and(|s| s.mode == Mode::Leader))
        .expect("a leader");
    let mntr = four::mntr_within(&leader.host, PROBE).unwrap();
    assert_eq!(mntr.synced_followers, Some(2), "{mntr:?}");

    // Clients: the certificate verifies against the CA for the server's IP, it is the
    // unit's own (its key), and `srvr` answers over TLS; 2181 still answers in plaintext.
    for n in &c.nodes {
        let (ok, out) = s_client_srvr(&n.host, &c.ca_pem(), &n.host);
        assert!(ok, "{}: {out}", n.host);
        assert!(
            out.contains("Verify return code: 0 (ok)") || out.contains("Verification: OK"),
            "{out}"
        );
        assert!(out.contains(&format!("CN = {}", n.host)), "{out}");
        assert!(out.contains("Zookeeper version:"), "{out}");
        let served = openssl(
            c.dir.path(),
            &[
                "x509",
                "-noout",
                "-pubkey",
                "-in",
                &pem_in(&out, c.dir.path(), n.id),
            ],
        );
        let own = String::from_utf8(
            run(
                Command::new("openssl").args(["pkey", "-pubout"]),
                n.key.to_pkcs8_pem().unwrap().as_bytes(),
                Duration::from_secs(10),
            )
            .1
            .into_bytes(),
        )
        .unwrap();
        assert_eq!(served, own, "unit {}", n.id);
        assert!(four::srvr_within(&n.host, PROBE).is_ok());
        // Another IP does not match the certificate.
        let (ok, out) = s_client_srvr(&n.host, &c.ca_pem(), "127.0.0.99");
        assert!(!ok, "{out}");
    }

    // TLS → plaintext.
    let log = c.settle(false);
    eprintln!("turning off:\n  {}", log.join("\n  "));
    assert_eq!(c.app, AppTls::PLAINTEXT);
    assert_eq!(c.published, ClientTls::Disabled);
    for i in 0..3 {
        let cfg = c.zoo_cfg_text(i);
        assert!(!cfg.contains("ssl"), "{cfg}");
        assert!(!cfg.contains("secureClientPort"), "{cfg}");
        assert!(!c.conf(i).join(KEYSTORE_FILE).exists());
        assert!(!c.conf(i).join(TRUSTSTORE_FILE).exists());
        assert_eq!(c.nodes[i].restarts, 6, "unit {}: {log:#?}", i + 1);
        let (ok, _) = s_client_srvr(&c.nodes[i].host, &c.ca_pem(), &c.nodes[i].host);
        assert!(!ok, "2182 still serves on unit {}", i + 1);
    }
    let all: Vec<u32> = c.nodes.iter().map(|n| n.id).collect();
    c.wait_serving(&all, "at the end");
}

/// Writes the first certificate of `s_client -showcerts`-less output (the server's) to a
/// file and returns its path.
fn pem_in(out: &str, dir: &Path, id: u32) -> String {
    let start = out
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = out[start..].find("-----END CERTIFICATE-----").unwrap() + start + 25;
    let path = dir.join(format!("served-{id}.pem"));
    std::fs::write(&path, &out[start..end]).unwrap();
    path.display().to_string()
}
