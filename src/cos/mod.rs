//! Observability through the Canonical Observability Stack: what the charm tells the
//! `cos-agent` subordinate (scrape jobs, alert rules, dashboards, log slot), and the server
//! settings that serve the metrics ([`exporters`]); the typed `cos-agent` bag
//! ([`relation`]); and the charm's own account of each hook, shipped as a log
//! ([`charm_log`]).
//!
//! Everything here is pure. The assets live under `cos/` at the root of the repository,
//! where an operator can read and change them; `build.rs` checks them and embeds them, the
//! dashboards already compressed, so building the `config` JSON costs a hook nothing but the
//! relabelling of the rules.

pub mod charm_log;
pub mod exporters;
pub mod relation;
pub mod rules;

use std::collections::BTreeMap;

use serde::Serialize;

pub use exporters::Capabilities;
use exporters::{JMX_EXPORTER_PORT, METRICS_PROVIDER_PORT, SNAP_LOG_SLOT};
use rules::{AlertRule, RuleGroup};

/// The dashboards of `cos/grafana_dashboards/`, each xz-compressed and base64-encoded (what
/// the requirer decodes with `lzma.decompress(base64.b64decode(s))`), files in name order.
pub static DASHBOARDS: &[&str] = include!(concat!(env!("OUT_DIR"), "/cos_dashboards.rs"));

/// Where this unit runs, as Juju names it; the labels COS puts on its rules and series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// `JUJU_MODEL_NAME`.
    pub model_name: String,
    /// `JUJU_MODEL_UUID`.
    pub model_uuid: String,
    /// This application's name (`zookeeper` unless deployed under another name).
    pub app_name: String,
    /// The charm's name in `metadata.yaml` (`zookeeper`).
    pub charm_name: String,
}

/// The charm's name in `metadata.yaml`: the `juju_charm` label of its rules.
pub const CHARM_NAME: &str = "zookeeper";

impl Topology {
    /// The topology of application `app_name` of this charm in the model `model_name`
    /// (`model_uuid`).
    pub fn new(model_name: &str, model_uuid: &str, app_name: &str) -> Topology {
        Topology {
            model_name: model_name.to_string(),
            model_uuid: model_uuid.to_string(),
            app_name: app_name.to_string(),
            charm_name: CHARM_NAME.to_string(),
        }
    }

    /// `<model>_<first 8 characters of the uuid>_<app>`, the prefix of every rule group.
    fn identifier(&self) -> String {
        let uuid8: String = self.model_uuid.chars().take(8).collect();
        format!("{}_{}_{}", self.model_name, uuid8, self.app_name)
    }
}

/// The value of the `config` key each unit writes into its own `cos-agent` bag
/// ([`relation`]): one JSON object with the five fields the requirer's model requires. The
/// same inputs give the same bytes (fixed key order, no timestamp), so a hook that compares
/// it with the bag writes nothing and wakes nobody.
///
/// It depends on the topology and on this charm's assets only, never on the workload: both
/// scrape jobs and the snap's log slot are always listed, so every unit of an application
/// sends the same contract, whatever it runs. A workload that does not serve a job (the
/// local model's Debian jars have neither exporter) shows up as a target that is down, which
/// `ZooKeeper Missing` reports: the operator sees the metrics are missing rather than
/// nothing at all.
pub fn agent_config(topology: &Topology) -> String {
    let config = AgentConfig {
        metrics_alert_rules: alert_rules(rules::GROUPS, topology),
        log_alert_rules: BTreeMap::new(),
        dashboards: DASHBOARDS,
        metrics_scrape_jobs: scrape_jobs(topology),
        log_slots: vec![SNAP_LOG_SLOT],
    };
    serde_json::to_string(&config).expect("string-keyed structs always serialize")
}

#[derive(Serialize)]
struct AgentConfig<'a> {
    metrics_alert_rules: RuleFile<'a>,
    log_alert_rules: BTreeMap<String, String>,
    dashboards: &'static [&'static str],
    metrics_scrape_jobs: Vec<ScrapeJob>,
    log_slots: Vec<&'static str>,
}

/// A rule file, `{}` when there are no groups.
#[derive(Serialize)]
struct RuleFile<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    groups: Vec<LabelledGroup<'a>>,
}

#[derive(Serialize)]
struct LabelledGroup<'a> {
    name: String,
    rules: Vec<LabelledRule<'a>>,
}

#[derive(Serialize)]
struct LabelledRule<'a> {
    alert: &'a str,
    expr: &'a str,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    duration: Option<&'a str>,
    labels: BTreeMap<&'a str, &'a str>,
    annotations: BTreeMap<&'a str, &'a str>,
}

/// The groups as cos-lib's provider sends them: each group renamed
/// `<model>_<uuid8>_<app>_<group>_alerts` (characters outside `[A-Za-z0-9_:]` become `_`),
/// each rule labelled with the topology unless the rule sets that label itself. COS's
/// Prometheus turns those labels into matchers in every expression.
fn alert_rules<'a>(groups: &'a [RuleGroup], topology: &'a Topology) -> RuleFile<'a> {
    let identifier = topology.identifier();
    let groups = groups
        .iter()
        .map(|group| LabelledGroup {
            name: sanitize_group_name(&format!("{identifier}_{}_alerts", group.name)),
            rules: group
                .rules
                .iter()
                .map(|rule| labelled_rule(rule, topology))
                .collect(),
        })
        .collect();
    RuleFile { groups }
}

fn labelled_rule<'a>(rule: &'a AlertRule, topology: &'a Topology) -> LabelledRule<'a> {
    let mut labels: BTreeMap<&str, &str> = rule.labels.iter().copied().collect();
    for (key, value) in [
        ("juju_model", &topology.model_name),
        ("juju_model_uuid", &topology.model_uuid),
        ("juju_application", &topology.app_name),
        ("juju_charm", &topology.charm_name),
    ] {
        labels.entry(key).or_insert(value.as_str());
    }
    LabelledRule {
        alert: rule.alert,
        expr: rule.expr,
        duration: rule.duration,
        labels,
        annotations: rule.annotations.iter().copied().collect(),
    }
}

fn sanitize_group_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One scrape job in the legacy short form every requirer version reads (newer requirers
/// turn it into a target `localhost:<port>`).
#[derive(Serialize)]
struct ScrapeJob {
    job_name: String,
    path: &'static str,
    port: u16,
}

/// `<app>_0` is the JMX exporter (the JVM's metrics) and `<app>_1` ZooKeeper's own
/// Prometheus provider, as the Python charm names them.
fn scrape_jobs(topology: &Topology) -> Vec<ScrapeJob> {
    [JMX_EXPORTER_PORT, METRICS_PROVIDER_PORT]
        .into_iter()
        .enumerate()
        .map(|(i, port)| ScrapeJob {
            job_name: format!("{}_{i}", topology.app_name),
            path: "/metrics",
            port,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::process::{Command, Stdio};

    use base64::Engine as _;
    use serde_json::{json, Value};

    use super::*;

    /// The 19 alerts operators of Charmed ZooKeeper know, by name and in order.
    const ALERT_NAMES: [&str; 19] = [
        "ZooKeeper Missing",
        "JvmMemory Filling Up",
        "Zookeeper Threads Dead Locked",
        "Too Many Znodes",
        "Too Many Connections",
        "Znode Total Cccupied Memory Too Big",
        "Too Many Watch",
        "Leader Election In Progress",
        "Too Long fsync Time",
        "Too Long snapshot Time",
        "Zookeeper Too Many File Descriptors",
        "Zookeeper Outstanding Requests",
        "Zookeeper High Latency",
        "Zookeeper Pending Syncs",
        "Zookeeper Pending Sessions",
        "Zookeeper Outstanding TLS Handshakes",
        "Zookeeper Connection Rejected",
        "Zookeeper High Ephemeral Nodes",
        "Zookeeper Unrecoverable Errors",
    ];

    fn topology(model: &str) -> Topology {
        Topology {
            model_name: model.to_string(),
            model_uuid: "1a2b3c4d-5e6f-4a0b-8c9d-0123456789ab".to_string(),
            app_name: "zookeeper".to_string(),
            charm_name: "zookeeper".to_string(),
        }
    }

    fn config(topology: &Topology) -> Value {
        serde_json::from_str(&agent_config(topology)).expect("config is JSON")
    }

    fn decode_xz_base64(s: &str) -> Vec<u8> {
        let compressed = base64::engine::general_purpose::STANDARD
            .decode(s)
            .expect("base64");
        let mut out = Vec::new();
        lzma_rust2::XzReader::new(compressed.as_slice(), false)
            .read_to_end(&mut out)
            .expect("xz");
        out
    }

    fn dashboard() -> Value {
        let config = config(&topology("mymodel"));
        let encoded = config["dashboards"][0]
            .as_str()
            .expect("a dashboard string");
        serde_json::from_slice(&decode_xz_base64(encoded)).expect("dashboard is JSON")
    }

    /// Every `expr` of every panel target, with the panel's title.
    fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().into_iter().flatten() {
                out.push((
                    panel["title"].as_str().unwrap_or("").to_string(),
                    target["expr"].as_str().unwrap_or("").to_string(),
                ));
            }
        }
        out
    }

    #[test]
    fn cos1_the_config_has_the_five_fields_two_legacy_scrape_jobs_and_the_log_slot() {
        let config = config(&topology("mymodel"));
        let keys: Vec<&str> = config
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = [
            "metrics_alert_rules",
            "log_alert_rules",
            "dashboards",
            "metrics_scrape_jobs",
            "log_slots",
        ];
        expected.sort_unstable();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        assert_eq!(keys_sorted, expected);
        assert_eq!(
            config["metrics_scrape_jobs"],
            json!([
                {"job_name": "zookeeper_0", "path": "/metrics", "port": 9998},
                {"job_name": "zookeeper_1", "path": "/metrics", "port": 7000},
            ])
        );
        assert_eq!(config["log_slots"], json!(["charmed-zookeeper:logs"]));
        assert_eq!(config["log_alert_rules"], json!({}));
        assert!(config["metrics_alert_rules"].is_object());
        assert_eq!(config["dashboards"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn cos2_the_dashboard_decodes_to_grafana_json_titled_zookeeper_by_prometheus() {
        let dashboard = dashboard();
        assert_eq!(dashboard["title"], "ZooKeeper by Prometheus");
        assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()));
        assert!(dashboard["schemaVersion"].as_u64().is_some());
        let rows: Vec<&str> = dashboard["panels"]
            .as_array()
            .expect("panels")
            .iter()
            .filter(|p| p["type"] == "row")
            .filter_map(|p| p["title"].as_str())
            .collect();
        for wanted in [
            "Quorum / leader election",
            "Sessions / watches",
            "Client / connection",
            "Latency",
            "Disk / snapshot",
            "JVM",
        ] {
            assert!(rows.contains(&wanted), "no row {wanted:?} in {rows:?}");
        }
    }

    #[test]
    fn every_dashboard_query_selects_by_juju_topology_through_the_templated_datasource() {
        let dashboard = dashboard();
        let exprs = dashboard_exprs(&dashboard);
        assert!(exprs.len() > 30, "only {} queries", exprs.len());
        for (title, expr) in &exprs {
            for label in [
                "juju_model",
                "juju_model_uuid",
                "juju_application",
                "juju_unit",
            ] {
                assert!(
                    expr.contains(&format!("{label}=~\"${label}\"")),
                    "panel {title:?}: {expr} does not select by {label}"
                );
            }
        }
        let variables: Vec<&str> = dashboard["templating"]["list"]
            .as_array()
            .expect("template variables")
            .iter()
            .filter_map(|v| v["name"].as_str())
            .collect();
        for name in [
            "prometheusds",
            "juju_model",
            "juju_model_uuid",
            "juju_application",
            "juju_unit",
        ] {
            assert!(variables.contains(&name), "no variable {name}");
        }
        for panel in dashboard["panels"].as_array().expect("panels") {
            if panel["type"] != "row" {
                assert_eq!(panel["datasource"]["uid"], "${prometheusds}", "{panel}");
            }
        }
    }

    #[test]
    fn the_dashboard_queries_name_the_metrics_zookeeper_and_the_jmx_exporter_export() {
        let exprs: String = dashboard_exprs(&dashboard())
            .into_iter()
            .map(|(_, e)| e + "\n")
            .collect();
        // ZooKeeper's provider (port 7000) and the JMX exporter (port 9998), one of each
        // family the rows are about.
        for metric in [
            "quorum_size{",
            "looking_count{",
            "election_time_sum{",
            "global_sessions{",
            "watch_count{",
            "num_alive_connections{",
            "readlatency{",
            "fsynctime_count{",
            "snapshottime_sum{",
            "jvm_memory_bytes_used{",
            "jvm_gc_collection_seconds_sum{",
            "jvm_threads_current{",
        ] {
            assert!(exprs.contains(metric), "no query reads {metric}");
        }
    }

    #[test]
    fn pythons_lzma_and_base64_restore_the_dashboard() {
        // The requirer's own decoding; python3 is on every machine of this project.
        let encoded = DASHBOARDS[0];
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import base64, json, lzma, sys; \
                 print(json.loads(lzma.decompress(base64.b64decode(sys.stdin.read())))['title'])",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 is needed for this test");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(encoded.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("python3 runs");
        assert!(
            out.status.success(),
            "python3 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "ZooKeeper by Prometheus"
        );
    }

    #[test]
    fn the_embedded_dashboard_is_the_file_in_the_cos_folder() {
        let file = include_bytes!("../../cos/grafana_dashboards/zookeeper.json");
        assert_eq!(DASHBOARDS.len(), 1);
        assert_eq!(decode_xz_base64(DASHBOARDS[0]), file);
    }

    #[test]
    fn cos3_one_group_named_for_the_topology_with_the_19_alerts_labelled_with_it() {
        let topology = topology("mymodel");
        let config = config(&topology);
        let groups = config["metrics_alert_rules"]["groups"]
            .as_array()
            .expect("groups");
        assert_eq!(groups.len(), 1);
        assert_eq!(
            groups[0]["name"],
            "mymodel_1a2b3c4d_zookeeper_zookeeper_alerts_alerts"
        );
        let rules = groups[0]["rules"].as_array().expect("rules");
        let names: Vec<&str> = rules.iter().filter_map(|r| r["alert"].as_str()).collect();
        assert_eq!(names, ALERT_NAMES);
        for rule in rules {
            let labels = &rule["labels"];
            assert_eq!(labels["juju_model"], "mymodel", "{rule}");
            assert_eq!(
                labels["juju_model_uuid"],
                "1a2b3c4d-5e6f-4a0b-8c9d-0123456789ab"
            );
            assert_eq!(labels["juju_application"], "zookeeper");
            assert_eq!(labels["juju_charm"], "zookeeper");
            assert!(
                ["critical", "high", "warning"]
                    .contains(&labels["severity"].as_str().unwrap_or("")),
                "{rule}"
            );
            assert!(rule["expr"].as_str().is_some_and(|e| !e.trim().is_empty()));
            assert!(rule["for"].as_str().is_some(), "{rule}");
            for annotation in ["summary", "description"] {
                assert!(
                    rule["annotations"][annotation]
                        .as_str()
                        .is_some_and(|a| a.len() > 20),
                    "{rule} lacks a {annotation}"
                );
            }
        }
    }

    #[test]
    fn group_names_keep_only_letters_digits_underscores_and_colons() {
        let topology = Topology {
            model_name: "prod-eu.1".to_string(),
            model_uuid: "abc".to_string(),
            app_name: "zk-main".to_string(),
            charm_name: "zookeeper".to_string(),
        };
        let config = config(&topology);
        assert_eq!(
            config["metrics_alert_rules"]["groups"][0]["name"],
            "prod_eu_1_abc_zk_main_zookeeper_alerts_alerts"
        );
        assert_eq!(
            config["metrics_scrape_jobs"][0]["job_name"], "zk-main_0",
            "job names keep the application's name as it is"
        );
    }

    #[test]
    fn a_label_the_rule_sets_itself_is_kept_and_the_others_are_added() {
        static OWN: &[RuleGroup] = &[RuleGroup {
            name: "own",
            rules: &[AlertRule {
                alert: "Own",
                expr: "up == 0",
                duration: None,
                labels: &[("juju_charm", "zookeeper-fork"), ("severity", "warning")],
                annotations: &[],
            }],
        }];
        let topology = topology("m");
        let file = serde_json::to_value(alert_rules(OWN, &topology)).expect("json");
        assert_eq!(
            file,
            json!({"groups": [{"name": "m_1a2b3c4d_zookeeper_own_alerts", "rules": [{
                "alert": "Own",
                "expr": "up == 0",
                "labels": {
                    "juju_application": "zookeeper",
                    "juju_charm": "zookeeper-fork",
                    "juju_model": "m",
                    "juju_model_uuid": "1a2b3c4d-5e6f-4a0b-8c9d-0123456789ab",
                    "severity": "warning",
                },
                "annotations": {},
            }]}]})
        );
        let empty = serde_json::to_string(&alert_rules(&[], &topology)).expect("json");
        assert_eq!(empty, "{}");
    }

    #[test]
    fn cos4_equal_inputs_give_the_same_bytes_and_another_model_different_ones() {
        let first = agent_config(&topology("mymodel"));
        let second = agent_config(&topology("mymodel"));
        assert_eq!(first, second);
        let other = agent_config(&topology("othermodel"));
        assert_ne!(first, other);
        assert!(other.contains("othermodel_1a2b3c4d_zookeeper_zookeeper_alerts_alerts"));
        assert!(!other.contains("\"mymodel"));
    }
}
