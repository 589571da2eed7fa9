//! Observability (issue 17) on the local model (`zk-sim`) with real ZooKeeper servers: the
//! checks COS-1 to COS-5 of `client-relation-tls-cos.md` §5.4, with a scripted subordinate
//! stub in place of `grafana-agent` on the `cos-agent` endpoint.
//!
//! - COS-1: each unit's own bag holds `config`, the five fields, the two legacy scrape jobs
//!   and the snap's log slot;
//! - COS-2: the dashboard decodes (base64, then xz) to Grafana JSON;
//! - COS-3: one rule group named for the model, with the 19 alerts and their labels;
//! - COS-4: five more `update-status` ticks leave `config` byte-identical and give the agent
//!   no `-relation-changed`;
//! - COS-5: Debian's jars (the local model's snap) have no Prometheus provider: `zoo.cfg`
//!   has no `metricsProvider` line, no java agent runs, and every server serves.
//!
//! Besides: `zk-sim status` shows the relation and the subordinates, each hook left its line
//! in `charm.log` where the snap's log slot would share it, and the relation goes away
//! cleanly.
//!
//! `ZK_TEST_SEEDS=1,2` overrides the event-order seed.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use testkit::build::CargoBuild;
use testkit::{seeds, test_charm, Cluster};
use zk_sim::{HookRecord, RunOutcome, StubSpec};
use zookeeper_charm::cos::relation::{Published, Unit, CONFIG_KEY};
use zookeeper_charm::zk::four;

const AGENT: &str = "grafana-agent";
const LOG: &str = "/var/snap/charmed-zookeeper/common/var/log/zookeeper/charm.log";

/// Each ZooKeeper unit's `config`, as its own bag holds it.
fn configs(c: &Cluster, id: u32) -> BTreeMap<String, String> {
    c.model
        .relation_unit_bags(id)
        .unwrap()
        .into_iter()
        .filter(|(unit, _)| unit.starts_with("zookeeper/"))
        .map(|(unit, bag)| {
            let value = bag
                .get(CONFIG_KEY)
                .unwrap_or_else(|| panic!("{unit} published no config: {bag:?}"))
                .clone();
            (unit, value)
        })
        .collect()
}

fn after(log: Vec<HookRecord>, seq: u64) -> Vec<HookRecord> {
    log.into_iter().filter(|r| r.seq > seq).collect()
}

fn mark(c: &Cluster) -> u64 {
    c.model.hook_log().unwrap().last().map_or(0, |r| r.seq)
}

fn xz_base64(s: &str) -> Vec<u8> {
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64");
    let mut out = Vec::new();
    lzma_rust2::XzReader::new(compressed.as_slice(), false)
        .read_to_end(&mut out)
        .expect("xz");
    out
}

/// `zk-sim --model-dir <dir> status`, as an operator runs it.
fn sim_status(dir: &Path) -> String {
    let bin = CargoBuild::new("zk-sim", "zk-sim")
        .run()
        .unwrap_or_else(|e| panic!("cannot build zk-sim: {e}"));
    let out = Command::new(bin)
        .arg("--model-dir")
        .arg(dir)
        .arg("status")
        .output()
        .expect("zk-sim runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cos_on_three_units(charm: &Path, seed: u64) {
    let mut c = Cluster::create(charm, seed);
    c.model.deploy(3).unwrap();
    c.settle("deploy 3");
    c.model
        .deploy_stub(
            AGENT,
            &StubSpec::new().subordinate_to("cos-agent", "cos_agent"),
            0,
        )
        .unwrap();
    let before = mark(&c);
    let id = c.model.integrate("zookeeper", AGENT).unwrap();
    // The stub sets no status of its own: settle until quiet, then check ZooKeeper's.
    c.settle_quiet("integrate cos-agent");
    let units = c.status();
    let zk: Vec<_> = units.iter().filter(|u| u.app == "zookeeper").collect();
    assert!(
        zk.iter()
            .all(|u| u.workload == "active" && u.error.is_none()),
        "seed {seed}:\n{}",
        c.describe()
    );
    let agents: Vec<_> = units.iter().filter(|u| u.app == AGENT).collect();
    assert_eq!(agents.len(), 3, "one agent per unit:\n{}", c.describe());
    let log = after(c.model.hook_log().unwrap(), before);
    assert!(
        log.iter().all(|r| r.outcome != RunOutcome::Failed),
        "seed {seed}: a hook failed: {:?}",
        log.iter()
            .filter(|r| r.outcome == RunOutcome::Failed)
            .collect::<Vec<_>>()
    );
    // Each agent heard of its unit's config once at most after joining: no storm.
    for a in &agents {
        let changed = log
            .iter()
            .filter(|r| r.unit == a.unit && r.hook == "cos-agent-relation-changed")
            .count();
        assert!((1..=2).contains(&changed), "{}: {changed} -changed", a.unit);
    }

    // COS-1: every unit's own bag holds the five fields, the legacy jobs and the log slot.
    let published = configs(&c, id);
    assert_eq!(published.len(), 3, "{published:?}");
    let state = c.model.state().unwrap();
    let group_prefix = format!("{}_{}_zookeeper_", state.model_name, &state.model_uuid[..8]);
    for (unit, value) in &published {
        let Published::Config(config) =
            Unit::from_bag(&BTreeMap::from([(CONFIG_KEY.to_string(), value.clone())])).config
        else {
            panic!("{unit}: not a cos-agent config");
        };
        let object: serde_json::Value = serde_json::from_str(value).unwrap();
        let mut keys: Vec<&str> = object
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "dashboards",
                "log_alert_rules",
                "log_slots",
                "metrics_alert_rules",
                "metrics_scrape_jobs"
            ]
        );
        let jobs: Vec<(&str, &str, u16)> = config
            .metrics_scrape_jobs
            .iter()
            .map(|j| (j.job_name.as_str(), j.path.as_str(), j.port))
            .collect();
        assert_eq!(
            jobs,
            [
                ("zookeeper_0", "/metrics", 9998),
                ("zookeeper_1", "/metrics", 7000)
            ]
        );
        assert_eq!(config.log_slots, ["charmed-zookeeper:logs"]);
        assert!(config.log_alert_rules.is_empty());

        // COS-2: the dashboard, as the requirer decodes it.
        assert_eq!(config.dashboards.len(), 1);
        let dashboard: serde_json::Value =
            serde_json::from_slice(&xz_base64(&config.dashboards[0])).expect("JSON");
        assert_eq!(dashboard["title"], "ZooKeeper by Prometheus");

        // COS-3: one group named for this model, 19 alerts labelled with the topology.
        let groups = config.metrics_alert_rules["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 1);
        let name = groups[0]["name"].as_str().unwrap();
        assert!(name.starts_with(&group_prefix), "{name}");
        let rules = config.alert_rules();
        assert_eq!(rules.len(), 19);
        for rule in rules {
            let labels = &rule["labels"];
            assert_eq!(labels["juju_model"], state.model_name.as_str(), "{rule:?}");
            assert_eq!(labels["juju_model_uuid"], state.model_uuid.as_str());
            assert_eq!(labels["juju_application"], "zookeeper");
            assert_eq!(labels["juju_charm"], "zookeeper");
        }
    }
    // Every unit publishes the same contract.
    let values: Vec<&String> = published.values().collect();
    assert!(values.windows(2).all(|w| w[0] == w[1]));

    // COS-4: five more update-status ticks: byte-identical, no -changed for the agents.
    let quiet_from = mark(&c);
    for round in 0..5 {
        c.settle_quiet(&format!("update-status round {round}"));
    }
    let log = after(c.model.hook_log().unwrap(), quiet_from);
    for u in &zk {
        let ticks = log
            .iter()
            .filter(|r| r.unit == u.unit && r.hook == "update-status")
            .count();
        assert!(ticks >= 5, "{}: {ticks} update-status", u.unit);
    }
    let woken: Vec<&HookRecord> = log
        .iter()
        .filter(|r| r.hook.starts_with("cos-agent-relation-"))
        .collect();
    assert!(woken.is_empty(), "seed {seed}: {woken:?}");
    assert_eq!(configs(&c, id), published);

    // COS-5: no exporter on Debian's jars, and every server serves.
    for n in 0..3 {
        let zoo_cfg = std::fs::read_to_string(c.zoo_cfg(n)).unwrap();
        assert!(
            !zoo_cfg.contains("metricsProvider"),
            "zookeeper/{n}:\n{zoo_cfg}"
        );
        let conf_dir = c.zoo_cfg(n).parent().unwrap().to_path_buf();
        assert!(!conf_dir.join("jmx_prometheus.yaml").exists());
        let server = c
            .model
            .server(&format!("zookeeper/{n}"))
            .unwrap()
            .expect("a server");
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", server.pid)).unwrap();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains("javaagent"),
            "zookeeper/{n} runs a java agent"
        );
    }
    for addr in c.addresses().values() {
        let srvr = four::srvr_within(addr, std::time::Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{addr}: {e}"));
        assert!(
            matches!(srvr.mode, four::Mode::Leader | four::Mode::Follower),
            "{addr}: {srvr:?}"
        );
    }

    // What the charm alone knows: one line per hook, where the snap's log slot shares it.
    for n in 0..3 {
        let path = c
            .machine(n)
            .host_path(Path::new(LOG))
            .expect("the snap's log is the machine's own");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines
                .iter()
                .any(|l| l.contains(" hook=cos-agent-relation-joined outcome=ok ")),
            "zookeeper/{n}: {text}"
        );
        let last = lines.last().unwrap();
        assert!(
            last.contains(&format!(
                " unit=zookeeper/{n} hook=update-status outcome=ok "
            )) && last.contains(" status=active ")
                && last.contains(" upgrade=idle ")
                && last.contains(" restart_lock=none"),
            "{last}"
        );
    }

    // The operator sees the relation and the subordinates in `zk-sim status`.
    let table = sim_status(c.model.dir());
    assert!(
        table.lines().any(|l| {
            l.starts_with("zookeeper:cos-agent ")
                && l.contains("grafana-agent:cos-agent")
                && l.contains("cos_agent")
                && l.contains("subordinate")
        }),
        "{table}"
    );
    assert_eq!(
        table
            .lines()
            .filter(|l| l.starts_with("  grafana-agent/"))
            .count(),
        3,
        "{table}"
    );

    // The relation goes: the agents go with it, ZooKeeper keeps serving.
    let before = mark(&c);
    c.model.remove_relation("zookeeper", Some(AGENT)).unwrap();
    c.settle("remove cos-agent");
    let log = after(c.model.hook_log().unwrap(), before);
    assert!(
        log.iter().all(|r| r.outcome != RunOutcome::Failed),
        "{log:?}"
    );
    assert!(c.status().iter().all(|u| u.app == "zookeeper"));
    c.model.destroy().unwrap();
}

#[test]
fn cos1_to_cos5_a_subordinate_agent_gets_each_units_config_and_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    for seed in seeds(&[17]) {
        cos_on_three_units(&charm, seed);
    }
}
