//! Helpers for the integration tests that run the charm binary on the local model
//! (`zk-sim`) with real ZooKeeper servers.
//!
//! Each model reserves its own free loopback block (`127.0.<k>.`, the sim's isolated
//! addresses), so tests and test binaries running at the same time never share a ZooKeeper
//! address. Every model is
//! destroyed (its ZooKeeper processes killed by pid) when its [`Cluster`] is dropped, also
//! when the test panics.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zk_sim::{Model, ModelOptions, SettleLimits, UnitStatus};
use zookeeper_charm::zk::admin::Admin;
use zookeeper_charm::zk::four;

// --- rolling restarts (issue 6): process watch and background writer, in restarts.rs ---
pub mod restarts;

/// Panics with the fix when Java or Debian's ZooKeeper jars are missing: these tests never
/// pass silently without ZooKeeper.
pub fn require_zookeeper() {
    let jar = "/usr/share/java/zookeeper.jar";
    assert!(
        Path::new(jar).exists(),
        "ZooKeeper jars not found at {jar}; install with: apt-get install -y libzookeeper-java default-jre-headless"
    );
    assert!(
        Path::new("/usr/bin/java").exists() || std::env::var_os("ZK_CHARM_JAVA").is_some(),
        "java not found; install with: apt-get install -y libzookeeper-java default-jre-headless"
    );
}

/// The event-order seeds of a test: `ZK_TEST_SEEDS=1,2,3` overrides `default`.
pub fn seeds(default: &[u64]) -> Vec<u64> {
    match std::env::var("ZK_TEST_SEEDS") {
        Ok(s) if !s.trim().is_empty() => s
            .split(',')
            .map(|x| x.trim().parse().expect("ZK_TEST_SEEDS: numbers"))
            .collect(),
        _ => default.to_vec(),
    }
}

/// A charm directory (what Juju unpacks) around a charm binary: `dispatch` plus the
/// metadata files of this repository.
pub fn charm_dir_with(binary: &Path, into: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(into).unwrap();
    std::fs::copy(binary, into.join("dispatch")).unwrap();
    for f in ["metadata.yaml", "config.yaml", "actions.yaml"] {
        std::fs::copy(root.join(f), into.join(f)).unwrap();
    }
    into.to_path_buf()
}

/// The charm built by this `cargo test` (the debug binary), as a charm directory.
pub fn test_charm(into: &Path) -> PathBuf {
    charm_dir_with(Path::new(env!("CARGO_BIN_EXE_zookeeper-charm")), into)
}

/// Settle limits for a model whose hooks start real JVMs.
pub fn limits() -> SettleLimits {
    SettleLimits {
        timeout: Duration::from_secs(300),
        tick_interval: Duration::from_millis(300),
        retry_delay: Duration::from_millis(300),
        until_active: true,
        ..SettleLimits::default()
    }
}

/// A model and the directory it lives in.
pub struct Cluster {
    pub model: Model,
    pub dir: tempfile::TempDir,
    pub seed: u64,
}

impl Cluster {
    /// Creates a model for `charm` in its own loopback block.
    pub fn create(charm: &Path, seed: u64) -> Cluster {
        require_zookeeper();
        let dir = tempfile::tempdir().unwrap();
        let opts = ModelOptions {
            isolated_addresses: true,
            ..ModelOptions::default()
        };
        let model = Model::create_with(dir.path().join("model"), charm, seed, opts).unwrap();
        Cluster { model, dir, seed }
    }

    /// Settles until every unit is active, or panics with the status and the log tail.
    pub fn settle(&mut self, what: &str) {
        match self.model.settle(limits()) {
            Ok(report) if self.all_active() => {
                eprintln!("seed {}: {what}: {report}", self.seed);
            }
            Ok(report) => panic!(
                "seed {}: {what}: settled ({report}) but not all active:\n{}",
                self.seed,
                self.describe()
            ),
            Err(e) => panic!(
                "seed {}: {what}: settle failed: {e}\n{}",
                self.seed,
                self.describe()
            ),
        }
    }

    pub fn status(&self) -> Vec<UnitStatus> {
        self.model.status().unwrap()
    }

    pub fn all_active(&self) -> bool {
        self.status()
            .iter()
            .all(|u| u.workload == "active" && u.error.is_none())
    }

    /// Status table and the end of the debug log, for failure messages.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for u in self.model.status_with_roles().unwrap_or_default() {
            out.push_str(&format!(
                "  {}{} {} {:?} {} role={:?} err={:?}\n",
                u.unit,
                if u.leader { "*" } else { "" },
                u.workload,
                u.message,
                u.address,
                u.role,
                u.error
            ));
        }
        let log = std::fs::read_to_string(self.model.dir().join("debug-log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().filter(|l| l.contains("juju-log")).collect();
        for l in &tail[tail.len().saturating_sub(40)..] {
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    /// Addresses of the units, by unit number.
    pub fn addresses(&self) -> BTreeMap<u32, String> {
        self.status()
            .into_iter()
            .filter_map(|u| Some((u.unit.rsplit('/').next()?.parse().ok()?, u.address)))
            .collect()
    }

    /// The `super` password the leader generated.
    pub fn super_password(&self) -> String {
        self.model
            .app_databag("cluster")
            .unwrap()
            .get("super-password")
            .cloned()
            .expect("super-password set")
    }

    /// The voting members (unit numbers) as a serving server reports them.
    pub fn voters(&self) -> BTreeSet<u32> {
        for addr in self.addresses().values() {
            if let Ok(cfg) = four::conf_within(addr, Duration::from_secs(2)) {
                return cfg.voters().into_iter().map(|s| s - 1).collect();
            }
        }
        panic!("no server answered `conf`:\n{}", self.describe());
    }

    /// Unit numbers whose server reports `Mode: leader`.
    pub fn zk_leaders(&self) -> Vec<u32> {
        self.addresses()
            .into_iter()
            .filter(|(_, a)| {
                four::srvr_within(a, Duration::from_secs(2))
                    .is_ok_and(|s| s.mode == four::Mode::Leader)
            })
            .map(|(id, _)| id)
            .collect()
    }

    /// A client session as `super` on every unit's address.
    pub fn client(&self) -> Admin {
        let hosts: Vec<String> = self.addresses().into_values().collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match Admin::connect(&hosts, &self.super_password(), Duration::from_secs(10)) {
                Ok(a) => return a,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("client connect: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("cannot connect a client: {e}\n{}", self.describe()),
            }
        }
    }

    /// Writes `/charm-test/<name>` (creating the parent once), retrying on connection loss.
    pub fn write_znode(&self, name: &str) {
        let mut c = self.client();
        let _ = c.create("/charm-test", b"");
        let path = format!("/charm-test/{name}");
        for attempt in 0..10 {
            match c.create(&path, name.as_bytes()) {
                Ok(()) => return,
                Err(e) if e.to_string().contains("exists") => return,
                Err(e) => {
                    eprintln!("write {path} (attempt {attempt}): {e}");
                    std::thread::sleep(Duration::from_millis(500));
                    c = self.client();
                }
            }
        }
        panic!("cannot write {path}:\n{}", self.describe());
    }

    /// Every znode written so far.
    pub fn znodes(&self) -> BTreeSet<String> {
        self.client()
            .children("/charm-test")
            .unwrap()
            .into_iter()
            .collect()
    }
}
