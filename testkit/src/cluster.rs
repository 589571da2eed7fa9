//! [`Cluster`]: a local model running the charm with real ZooKeeper servers, for tests.
//! Every method panics with the model's state when something fails.
//!
//! Each cluster takes its own free loopback block (`127.0.<k>.`), so tests and test
//! binaries running at the same time never share a ZooKeeper address. The model is
//! destroyed (its ZooKeeper processes killed by pid) when the [`Cluster`] is dropped, also
//! when the test panics.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use zk_sim::machine::Machine;
use zk_sim::{Chain, Model, ModelOptions, SettleLimits, UnitStatus};
use zookeeper_charm::zk::admin::Admin;
use zookeeper_charm::zk::{four, EnsembleConfig};

use crate::host::assert_zookeeper;
use crate::members::live_config;
use crate::model;

/// A model and the directory it lives in.
pub struct Cluster {
    pub model: Model,
    pub dir: tempfile::TempDir,
    pub seed: u64,
}

impl Cluster {
    /// Creates a model for `charm` in its own loopback block.
    pub fn create(charm: &Path, seed: u64) -> Cluster {
        assert_zookeeper();
        let dir = tempfile::tempdir().expect("a temp dir");
        let model = model::create_model(
            &dir.path().join("model"),
            charm,
            seed,
            ModelOptions::default(),
        )
        .unwrap_or_else(|e| panic!("seed {seed}: cannot create the model: {}", Chain(&e)));
        Cluster { model, dir, seed }
    }

    /// Settles until every unit is active, or panics with the status and the log tail.
    pub fn settle(&mut self, what: &str) {
        match self.model.settle(model::jvm_settle_limits()) {
            Ok(report) if self.all_active() => {
                eprintln!("seed {}: {what}: {report}", self.seed);
            }
            Ok(report) => panic!(
                "seed {}: {what}: settled ({report}) but not all active:\n{}",
                self.seed,
                self.describe()
            ),
            Err(e) => panic!(
                "seed {}: {what}: settle failed: {}\n{}",
                self.seed,
                Chain(&e),
                self.describe()
            ),
        }
    }

    /// Settles until the model is quiet, whatever the statuses (an upgrade in progress or
    /// stopped is not `active`).
    pub fn settle_quiet(&mut self, what: &str) {
        let quiet = SettleLimits {
            until_active: false,
            ..model::jvm_settle_limits()
        };
        match self.model.settle(quiet) {
            Ok(report) => eprintln!("seed {}: {what}: {report}", self.seed),
            Err(e) => panic!(
                "seed {}: {what}: settle failed: {}\n{}",
                self.seed,
                Chain(&e),
                self.describe()
            ),
        }
    }

    pub fn status(&self) -> Vec<UnitStatus> {
        self.model.status().expect("the model's status")
    }

    pub fn all_active(&self) -> bool {
        model::all_active(&self.model).expect("the model's status")
    }

    /// Status lines and the end of the charm's log, for failure messages.
    pub fn describe(&self) -> String {
        let mut out = model::describe_units(&self.model);
        for l in model::juju_log_tail(&self.model, 40) {
            out.push_str(&l);
            out.push('\n');
        }
        out
    }

    /// Addresses of the live units, by unit number.
    pub fn addresses(&self) -> BTreeMap<u32, String> {
        model::addresses(&self.model).expect("the model's status")
    }

    /// Unit `n`'s machine (its own `/snap`, `/var/snap`, ...).
    pub fn machine(&self, n: u32) -> Machine {
        let app = self.model.app_name().expect("the app name");
        self.model
            .machine(&format!("{app}/{n}"))
            .expect("the unit's machine")
    }

    /// Where unit `n`'s `zoo.cfg` is in the model (the snap's
    /// `/var/snap/charmed-zookeeper/current/etc/zookeeper/zoo.cfg` on its machine).
    pub fn zoo_cfg(&self, n: u32) -> std::path::PathBuf {
        self.machine(n)
            .host_path(std::path::Path::new(
                "/var/snap/charmed-zookeeper/current/etc/zookeeper/zoo.cfg",
            ))
            .expect("the snap's data is the machine's own")
    }

    /// The `super` password the leader generated.
    pub fn super_password(&self) -> String {
        model::super_password(&self.model).expect("super-password set")
    }

    /// The voting members (unit numbers) as a serving server reports them (server ids
    /// with no unit, as 0 is, are left out).
    pub fn voters(&self) -> BTreeSet<u32> {
        self.live_config()
            .voters()
            .into_iter()
            .filter_map(|s| s.checked_sub(1))
            .collect()
    }

    /// The ensemble's config as a serving server reports it, read as `super`.
    pub fn live_config(&self) -> EnsembleConfig {
        let hosts: Vec<String> = self.addresses().into_values().collect();
        live_config(&self.model, &hosts, Duration::from_secs(2)).unwrap_or_else(|e| {
            panic!(
                "no server gave the ensemble's config: {e}\n{}",
                self.describe()
            )
        })
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

    /// Every znode written under `parent` so far.
    pub fn znodes_under(&self, parent: &str) -> BTreeSet<String> {
        self.client()
            .children(parent)
            .unwrap_or_else(|e| panic!("cannot list {parent}: {e}\n{}", self.describe()))
            .into_iter()
            .collect()
    }

    /// Every znode [`Cluster::write_znode`] wrote so far.
    pub fn znodes(&self) -> BTreeSet<String> {
        self.znodes_under("/charm-test")
    }
}
