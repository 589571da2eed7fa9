//! The `cos-agent` relation: every unit publishes the COS agent's config in its own bag
//! when the relation is created, joined or changed and after `upgrade-charm`, writes it
//! only when the bag does not already hold it, and no other hook asks for the relation.

use zookeeper_charm::cos::relation::{Published, UnitPatch};
use zookeeper_charm::cos::{agent_config, Capabilities, Topology};
use zookeeper_charm::hooktools::Databag;
use zookeeper_charm::workload::mem::WorkloadCall;
use zookeeper_charm::workload::Workload;
use zookeeper_charm::zk::ensemble::ServerHealth;

use crate::scenario::*;

/// The value this model's `zookeeper` application publishes.
fn expected() -> String {
    agent_config(&Topology::new(MODEL_NAME, MODEL_UUID, APP))
}

fn holding(value: &str) -> Databag {
    UnitPatch {
        config: Some(value.to_string()),
    }
    .to_bag()
}

#[test]
fn every_unit_publishes_the_config_in_its_own_bag_when_the_agent_joins() {
    for leader in [false, true] {
        let out = Hook::relation("cos-agent", "joined")
            .steady(u32::from(!leader), 3)
            .leader(leader)
            .with(|w| w.cos_agent = Some(Databag::new()))
            .run();
        out.ok();
        assert_eq!(
            out.written_keys(),
            [(COS_AGENT.to_string(), false, vec!["config".to_string()])],
            "{}",
            out.describe()
        );
        assert_eq!(out.writes(COS_AGENT, false)["config"], expected());
        let Published::Config(config) =
            zookeeper_charm::cos::relation::Unit::from_bag(&out.own_bag(COS_AGENT)).config
        else {
            panic!("the bag does not hold a config: {}", out.describe());
        };
        let group = config.metrics_alert_rules["groups"][0]["name"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(group.starts_with("mymodel_1a2b3c4d_zookeeper_"), "{group}");
        // Nothing else happens: no restart, no status change.
        assert!(out.lifecycle().is_empty());
        assert_eq!(out.ran("status-set"), 0);
    }
}

#[test]
fn a_bag_that_already_holds_the_config_is_not_written_again() {
    for hook in ["changed", "joined", "created"] {
        let out = Hook::relation("cos-agent", hook)
            .steady(1, 3)
            .with(|w| w.cos_agent = Some(holding(&expected())))
            .run();
        out.ok();
        assert_eq!(out.ran("relation-set"), 0, "{hook}: {}", out.describe());
        assert_eq!(out.own_bag(COS_AGENT)["config"], expected());
    }
}

#[test]
fn upgrade_charm_replaces_a_config_an_earlier_revision_wrote() {
    let out = Hook::upgrade_charm()
        .steady(1, 3)
        .with(|w| w.cos_agent = Some(holding(r#"{"metrics_alert_rules": {}}"#)))
        .run();
    out.ok();
    assert_eq!(out.writes(COS_AGENT, false)["config"], expected());
}

#[test]
fn other_hooks_neither_look_for_the_relation_nor_write_it() {
    for hook in ["update-status", "config-changed", "leader-elected"] {
        let with_cos = Hook::named(hook)
            .steady(0, 3)
            .leader(true)
            .with(|w| w.cos_agent = Some(Databag::new()));
        let mut without = with_cos.clone();
        without.world.cos_agent = None;
        let (with_cos, without) = (with_cos.run(), without.run());
        with_cos.ok();
        without.ok();
        assert_eq!(with_cos.by_tool(), without.by_tool(), "{hook}");
        assert!(
            !with_cos.own_bag(COS_AGENT).contains_key("config"),
            "{hook}"
        );
    }
}

#[test]
fn a_unit_that_has_not_started_its_server_publishes_too() {
    let out = Hook::relation("cos-agent", "created")
        .fresh(2, 3)
        .with(|w| w.cos_agent = Some(Databag::new()))
        .run();
    out.ok();
    assert_eq!(out.writes(COS_AGENT, false)["config"], expected());
    assert!(out.lifecycle().is_empty(), "{}", out.describe());
}

#[test]
fn the_agent_going_away_is_no_write() {
    for hook in ["departed", "broken"] {
        let out = Hook::relation("cos-agent", hook)
            .steady(1, 3)
            .with(|w| w.cos_agent = Some(Databag::new()))
            .run();
        out.ok();
        assert_eq!(out.ran("relation-set"), 0, "{hook}: {}", out.describe());
    }
}

#[test]
fn on_the_snap_the_server_starts_with_both_exporters_and_their_config() {
    let out = Hook::start()
        .fresh(0, 3)
        .leader(true)
        .with(|w| {
            w.exporters = Capabilities::snap();
            w.servers.insert(0, ServerHealth::leading());
            w.voters.insert(0);
        })
        .run();
    out.ok();
    assert_eq!(out.lifecycle(), [WorkloadCall::Start], "{}", out.describe());
    let paths = out.workload.paths().clone();
    let zoo_cfg = out.workload.file(&paths.zoo_cfg()).unwrap();
    for line in [
        "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider",
        "metricsProvider.httpPort=7000",
        "metricsProvider.exportJvmInfo=false",
    ] {
        assert!(zoo_cfg.lines().any(|l| l == line), "no {line} in\n{zoo_cfg}");
    }
    let jmx_config = paths.conf_dir.join("jmx_prometheus.yaml");
    assert_eq!(
        out.workload.file(&jmx_config).as_deref(),
        Some(zookeeper_charm::cos::exporters::JMX_EXPORTER_CONFIG)
    );
    let agent = format!(
        "-javaagent:{}=9998:{}",
        zookeeper_charm::cos::exporters::SNAP_JMX_EXPORTER_JAR,
        jmx_config.display()
    );
    assert!(
        out.workload.jvm_flags().contains(&agent),
        "{:?}",
        out.workload.jvm_flags()
    );
    // What it started with is what a later hook compares with: no restart follows.
    let fingerprint = zookeeper_charm::render::fingerprint(
        &out.world.config(),
        &paths,
        0,
        &out.cluster_app(),
        &Capabilities::snap(),
        &zookeeper_charm::render::Sizing::for_machine(&out.world.config(), &out.world.machine),
        &zookeeper_charm::render::TlsConfig::plaintext(),
    );
    assert_eq!(out.local().started_with, Some(fingerprint));
}

#[test]
fn cos5_without_the_provider_jars_the_server_starts_without_any_exporter_line() {
    let out = Hook::start()
        .fresh(0, 3)
        .leader(true)
        .with(|w| {
            w.servers.insert(0, ServerHealth::leading());
            w.voters.insert(0);
        })
        .run();
    out.ok();
    assert_eq!(out.lifecycle(), [WorkloadCall::Start]);
    let paths = out.workload.paths().clone();
    let zoo_cfg = out.workload.file(&paths.zoo_cfg()).unwrap();
    assert!(!zoo_cfg.contains("metricsProvider"), "{zoo_cfg}");
    assert!(out
        .workload
        .file(&paths.conf_dir.join("jmx_prometheus.yaml"))
        .is_none());
    assert!(!out
        .workload
        .jvm_flags()
        .iter()
        .any(|f| f.contains("javaagent")));
}

#[test]
fn a_workload_that_gains_the_exporters_asks_for_a_rolling_restart() {
    // A steady unit whose server was started without exporters, now on a workload that has
    // them (the snap refreshed to a revision that ships them).
    let out = Hook::update_status()
        .steady(1, 3)
        .with(|w| w.exporters = Capabilities::snap())
        .run();
    out.ok();
    assert!(out.lifecycle().is_empty(), "only with the lock");
    let request = zookeeper_charm::peers::restart::Unit::from_bag(&out.own_bag(RESTART)).request;
    assert_eq!(
        request,
        Some(zookeeper_charm::peers::restart::LockRequest::Acquire),
        "{}",
        out.describe()
    );
}

/// The lines of the charm's log after the hook.
fn charm_log(out: &Outcome) -> Vec<String> {
    let path = out.workload.paths().charm_log();
    out.workload
        .file(&path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn every_hook_appends_one_line_of_what_only_the_charm_knows() {
    let out = Hook::update_status()
        .steady(1, 3)
        .with(|w| {
            w.restart_app = zookeeper_charm::peers::restart::AppPatch {
                grants: [(2, Some(zookeeper_charm::peers::restart::Grant::Granted))].into(),
            }
            .to_bag(APP);
        })
        .run();
    out.ok();
    let lines = charm_log(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(line.starts_with("ts=20"), "{line}");
    for pair in [
        " unit=zookeeper/1 hook=update-status outcome=ok duration_ms=",
        " status=active message=follower juju_leader=false zk_role=follower upgrade=idle",
        " upgrade_running=false restart_lock=zookeeper/2",
    ] {
        assert!(line.contains(pair), "no {pair:?} in {line}");
    }
}

#[test]
fn a_failed_hook_and_a_failed_action_are_logged_with_why() {
    let failed = Hook::update_status()
        .steady(1, 3)
        .fail_tool("config-get")
        .run();
    assert!(failed.result.is_err());
    let line = charm_log(&failed).pop().expect("a line");
    assert!(
        line.contains(" hook=update-status outcome=failed error=\""),
        "{line}"
    );
    assert!(
        !line.contains(" status="),
        "a failed hook sets no status: {line}"
    );

    let refused = Hook::action("set-password").steady(1, 3).run();
    refused.ok();
    let line = charm_log(&refused).pop().expect("a line");
    assert!(
        line.contains(" action=set-password outcome=action-failed error=\"set-password must run on the leader unit"),
        "{line}"
    );
}

#[test]
fn nothing_is_logged_before_the_workload_is_installed() {
    let out = Hook::storage_attached()
        .fresh(0, 1)
        .with(|w| w.installed = None)
        .run();
    out.ok();
    assert!(charm_log(&out).is_empty());
    let out = Hook::install()
        .fresh(0, 1)
        .with(|w| {
            w.related = false;
            w.installed = None;
        })
        .run();
    out.ok();
    let lines = charm_log(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(" hook=install outcome=ok "),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains(" zk_role=stopped "), "{}", lines[0]);
}
