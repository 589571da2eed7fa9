//! [`Cluster`]: a local model running the charm with real ZooKeeper servers, for tests.
//! Every method panics with the model's state when something fails.
//!
//! Each cluster takes its own free loopback block (`127.0.<k>.`), so tests and test
//! binaries running at the same time never share a ZooKeeper address. The model is
//! destroyed (its ZooKeeper processes killed by pid) when the [`Cluster`] is dropped, also
//! when the test panics.
//!
//! Settles run up to [`Cluster::parallel`] units' hooks at once (chosen by the seed), with
//! the model's leadership and relation order drawn by the seed, and each settle must be
//! healthy: no failed hook, no retry, no hook over 60 s, no progress that waited for an
//! update-status round (see [`model::check_settle`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use zk_sim::machine::Machine;
use zk_sim::{Chain, Model, ModelOptions, SettleReport, StubSpec, Switches, UnitStatus};
use zookeeper_charm::zk::admin::Admin;
use zookeeper_charm::zk::{four, EnsembleConfig};

use crate::host::assert_zookeeper;
use crate::members::live_config;
use crate::model::{self, Allow};

/// A model and the directory it lives in.
pub struct Cluster {
    pub model: Model,
    pub dir: tempfile::TempDir,
    pub seed: u64,
    /// How many units' hooks a settle runs at once ([`zk_sim::parallel_for_seed`]).
    pub parallel: usize,
}

impl Cluster {
    /// Creates a model for `charm` in its own loopback block, with the model's default
    /// switches.
    pub fn create(charm: &Path, seed: u64) -> Cluster {
        Self::create_with(charm, seed, Switches::default())
    }

    /// [`Cluster::create`] with these switches.
    pub fn create_with(charm: &Path, seed: u64, switches: Switches) -> Cluster {
        assert_zookeeper();
        let dir = tempfile::tempdir().expect("a temp dir");
        let opts = ModelOptions {
            switches,
            ..ModelOptions::default()
        };
        let model = model::create_model(&dir.path().join("model"), charm, seed, opts)
            .unwrap_or_else(|e| panic!("seed {seed}: cannot create the model: {}", Chain(&e)));
        Cluster {
            model,
            dir,
            seed,
            parallel: zk_sim::parallel_for_seed(seed),
        }
    }

    /// Settles until every unit is active, or panics with the status and the log tail; the
    /// settle must be healthy.
    pub fn settle(&mut self, what: &str) -> SettleReport {
        let report = self.settle_allowing(what, true, Allow::default());
        if !self.all_active() {
            panic!(
                "seed {}: {what}: settled ({report}) but not all active:\n{}",
                self.seed,
                self.describe()
            );
        }
        report
    }

    /// Settles until the model is quiet, whatever the statuses (an upgrade in progress or
    /// stopped is not `active`); the settle must be healthy.
    pub fn settle_quiet(&mut self, what: &str) -> SettleReport {
        self.settle_allowing(what, false, Allow::default())
    }

    /// Settles (until every unit is active, or only until quiet) and checks the report,
    /// allowing what `allow` says.
    pub fn settle_allowing(
        &mut self,
        what: &str,
        until_active: bool,
        allow: Allow,
    ) -> SettleReport {
        let limits = zk_sim::SettleLimits {
            until_active,
            parallel: self.parallel,
            ..model::jvm_settle_limits()
        };
        let report = match self.model.settle(limits) {
            Ok(report) => report,
            Err(e) => panic!(
                "seed {}: {what}: settle failed: {}\n{}",
                self.seed,
                Chain(&e),
                self.describe()
            ),
        };
        eprintln!("seed {}: {what}: {report}", self.seed);
        for s in &report.status_by_tick {
            eprintln!(
                "seed {}: {what}: status changed by update-status: {s}",
                self.seed
            );
        }
        if let Err(problems) = model::check_settle(&report, allow) {
            panic!(
                "seed {}: {what}: not a healthy settle ({report}):\n  {problems}\n{}",
                self.seed,
                self.describe()
            );
        }
        report
    }

    /// Deploys a scripted client stub `app` (one unit, active) requiring `zookeeper`, and
    /// relates it to the charm (hooks queued, not run: the stub can write to the relation
    /// once its `-relation-created` ran). Returns the relation id.
    pub fn client_stub(&mut self, app: &str) -> u32 {
        self.model
            .deploy_stub(app, &StubSpec::new().requires("zookeeper", "zookeeper"), 1)
            .expect("deploy the client stub");
        self.model
            .exec_ok(
                &format!("{app}/0"),
                &["status-set", "active", "a client stub"],
            )
            .expect("the stub's status");
        self.model
            .integrate("zookeeper", app)
            .expect("relate the client stub")
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

    /// Every removed unit's first teardown hook was `data-storage-detaching` (as on Juju),
    /// and in it the unit only left: its plans started, restarted and requested nothing
    /// (no `start`, `restart` or restart-lock `acquire`).
    pub fn assert_leaving_units_only_left(&self) {
        let seed = self.seed;
        let log = std::fs::read_to_string(self.model.dir().join("debug-log")).unwrap();
        let removed = self.model.state().unwrap().removed_units;
        let mut detaching = 0;
        // Each unit's lines since its last hook ended (a hook's lines come before the
        // uniter's line that ends it; units' lines interleave).
        let mut hook_lines: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for line in log.lines() {
            let Some((unit, rest)) = line.split_once(": ") else {
                continue;
            };
            if !rest.contains("juju.worker.uniter.operation") {
                hook_lines.entry(unit.to_string()).or_default().push(rest);
                continue;
            }
            let lines = hook_lines.remove(unit).unwrap_or_default();
            if !rest.contains("\"data-storage-detaching\"") {
                continue;
            }
            detaching += 1;
            for l in &lines {
                let Some((_, plan)) = l.split_once("plan: ") else {
                    continue;
                };
                for part in plan.split("; ") {
                    let starts = part == "start" || part.starts_with("first start");
                    let restarts = part == "restart";
                    let requests = part.starts_with("restart unit") && part.contains("acquire");
                    assert!(
                        !(starts || restarts || requests),
                        "seed {seed}: {unit}'s data-storage-detaching planned {part:?}: {l}"
                    );
                }
            }
        }
        assert_eq!(detaching, removed.len(), "seed {seed}: {removed:?}");
        let hooks = self.model.hook_log().unwrap();
        for unit in &removed {
            let first_teardown = hooks
                .iter()
                .filter(|r| &r.unit == unit)
                .find(|r| {
                    let own_departure =
                        r.hook.ends_with("-departed") && r.departing_unit.as_deref() == Some(unit);
                    own_departure || r.hook.ends_with("-detaching") || r.hook == "stop"
                })
                .map(|r| r.hook.clone());
            assert_eq!(
                first_teardown.as_deref(),
                Some("data-storage-detaching"),
                "seed {seed}: {unit}"
            );
        }
    }

    /// Every znode [`Cluster::write_znode`] wrote so far.
    pub fn znodes(&self) -> BTreeSet<String> {
        self.znodes_under("/charm-test")
    }
}
