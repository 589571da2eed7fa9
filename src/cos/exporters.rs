//! The server side of observability: the `zoo.cfg` lines of ZooKeeper's Prometheus provider
//! and the JMX exporter java agent, each only when the workload ships what it needs.
//!
//! The snap has both. Debian's `libzookeeper-java` 3.8.0 (the local workload) has neither:
//! with `metricsProvider.className` set, its server exits at start with code 2
//! (`ClassNotFoundException`), so the lines must then be left out.

use std::path::{Path, PathBuf};

/// Port of ZooKeeper's own Prometheus provider (`metricsProvider.httpPort`), path `/metrics`.
pub const METRICS_PROVIDER_PORT: u16 = 7000;
/// Port of the JMX exporter java agent, path `/metrics`.
pub const JMX_EXPORTER_PORT: u16 = 9998;
/// The snap content slot through which the agent reads ZooKeeper's logs.
pub const SNAP_LOG_SLOT: &str = "charmed-zookeeper:logs";
/// The JMX exporter java agent's file name in the snap's library directory.
pub const JMX_EXPORTER_JAR: &str = "jmx_prometheus_javaagent.jar";
/// Where the `charmed-zookeeper` snap ships the JMX exporter java agent.
pub const SNAP_JMX_EXPORTER_JAR: &str =
    "/snap/charmed-zookeeper/current/opt/zookeeper/lib/jmx_prometheus_javaagent.jar";
/// The exporter's configuration (`cos/jmx_prometheus.yaml`): JVM metrics only, because
/// ZooKeeper's own metrics come from the provider on [`METRICS_PROVIDER_PORT`].
pub const JMX_EXPORTER_CONFIG: &str = include_str!("../../cos/jmx_prometheus.yaml");
/// File name of [`JMX_EXPORTER_CONFIG`] in the directory of `zoo.cfg`.
pub const JMX_EXPORTER_CONFIG_FILE: &str = "jmx_prometheus.yaml";

const PROVIDER_CLASS: &str = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// The metrics exporters this unit's workload ships, as the workload reports them (for the
/// snap: the jars in its `opt/zookeeper/lib`). The default is none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// ZooKeeper's Prometheus provider and its Prometheus client jars are on the server's
    /// classpath.
    pub metrics_provider: bool,
    /// The JMX exporter java agent jar, if the workload ships one.
    pub jmx_exporter_jar: Option<PathBuf>,
}

impl Capabilities {
    /// The `charmed-zookeeper` snap: everything.
    pub fn snap() -> Capabilities {
        Capabilities {
            metrics_provider: true,
            jmx_exporter_jar: Some(PathBuf::from(SNAP_JMX_EXPORTER_JAR)),
        }
    }

    /// A workload with nothing to offer (Debian's jars run as a plain process).
    pub fn none() -> Capabilities {
        Capabilities {
            metrics_provider: false,
            jmx_exporter_jar: None,
        }
    }

    /// What the jars `names` of the server's library directory `lib` (every jar there is
    /// on the server's classpath, as the snap's launcher builds it) offer:
    /// - the provider needs ZooKeeper's `zookeeper-prometheus-metrics-<v>.jar` and the
    ///   Prometheus client it is built on (`simpleclient-<v>.jar`); without them a server
    ///   configured with the provider exits at start (`ClassNotFoundException`);
    /// - the JMX exporter is `jmx_prometheus_javaagent.jar` (or a versioned
    ///   `jmx_prometheus_javaagent-<v>.jar`, the unversioned name first).
    pub fn from_jars<S: AsRef<str>>(lib: &Path, names: &[S]) -> Capabilities {
        let mut names: Vec<&str> = names
            .iter()
            .map(AsRef::as_ref)
            .filter(|n| n.ends_with(".jar"))
            .collect();
        names.sort_unstable();
        let has = |prefix: &str| names.iter().any(|n| n.starts_with(prefix));
        let jmx = names.iter().find(|n| **n == JMX_EXPORTER_JAR).or_else(|| {
            names
                .iter()
                .find(|n| n.starts_with("jmx_prometheus_javaagent-"))
        });
        Capabilities {
            metrics_provider: has("zookeeper-prometheus-metrics-") && has("simpleclient-"),
            jmx_exporter_jar: jmx.map(|n| lib.join(n)),
        }
    }
}

/// The `metricsProvider.*` lines of `zoo.cfg` (each ending in a newline), or `""` when the
/// workload lacks the provider.
///
/// The JVM's metrics are exported once: by the JMX exporter when there is one, otherwise by
/// the provider (`exportJvmInfo`). Two sources would give every JVM series (and alert) twice.
/// The provider listens on all interfaces (its default), like the Python charm's.
pub fn zoo_cfg_lines(capabilities: &Capabilities) -> String {
    if !capabilities.metrics_provider {
        return String::new();
    }
    let export_jvm = capabilities.jmx_exporter_jar.is_none();
    format!(
        "metricsProvider.className={PROVIDER_CLASS}\n\
         metricsProvider.httpPort={METRICS_PROVIDER_PORT}\n\
         metricsProvider.exportJvmInfo={export_jvm}\n"
    )
}

/// What the JMX exporter needs: a JVM flag and its configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JmxExporter {
    /// `-javaagent:<jar>=9998:<conf>/jmx_prometheus.yaml`, for the server's JVM flags.
    pub jvm_flag: String,
    /// Where the configuration must be written (before the server starts).
    pub config_path: PathBuf,
    /// The configuration file's content.
    pub config: &'static str,
}

/// The JMX exporter's JVM flag and configuration, or `None` when the workload has no
/// exporter jar. `conf_dir` is the directory of `zoo.cfg`.
pub fn jmx_exporter(capabilities: &Capabilities, conf_dir: &Path) -> Option<JmxExporter> {
    let jar = capabilities.jmx_exporter_jar.as_ref()?;
    let config_path = conf_dir.join(JMX_EXPORTER_CONFIG_FILE);
    Some(JmxExporter {
        jvm_flag: format!(
            "-javaagent:{}={JMX_EXPORTER_PORT}:{}",
            jar.display(),
            config_path.display()
        ),
        config_path,
        config: JMX_EXPORTER_CONFIG,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(lines: &str) -> Vec<&str> {
        lines
            .lines()
            .map(|l| l.split_once('=').expect("key=value").0)
            .collect()
    }

    #[test]
    fn the_jars_of_the_library_directory_say_which_exporters_the_server_has() {
        let lib = Path::new("/snap/charmed-zookeeper/current/opt/zookeeper/lib");
        // The published snap: Apache's binary distribution plus the exporter.
        let snap = [
            "jetty-server-9.4.53.v20231009.jar",
            "jmx_prometheus_javaagent.jar",
            "simpleclient-0.9.0.jar",
            "simpleclient_hotspot-0.9.0.jar",
            "simpleclient_servlet-0.9.0.jar",
            "zookeeper-3.9.2.jar",
            "zookeeper-jute-3.9.2.jar",
            "zookeeper-prometheus-metrics-3.9.2.jar",
        ];
        assert_eq!(Capabilities::from_jars(lib, &snap), Capabilities::snap());
        // Debian's jars, as the local model's snap links them.
        let debian = ["slf4j-simple.jar", "zookeeper.jar"];
        assert_eq!(Capabilities::from_jars(lib, &debian), Capabilities::none());
        // The provider without the Prometheus client would not load.
        let half = ["zookeeper.jar", "zookeeper-prometheus-metrics-3.9.2.jar"];
        assert!(!Capabilities::from_jars(lib, &half).metrics_provider);
        let versioned = ["jmx_prometheus_javaagent-0.20.0.jar", "zookeeper.jar"];
        assert_eq!(
            Capabilities::from_jars(lib, &versioned).jmx_exporter_jar,
            Some(lib.join("jmx_prometheus_javaagent-0.20.0.jar"))
        );
        let not_jars = [
            "jmx_prometheus_javaagent.jar.sha1",
            "simpleclient-0.9.0.pom",
        ];
        assert_eq!(
            Capabilities::from_jars(lib, &not_jars),
            Capabilities::none()
        );
    }

    #[test]
    fn the_snap_gets_the_provider_on_port_7000_without_a_second_copy_of_the_jvm_metrics() {
        let lines = zoo_cfg_lines(&Capabilities::snap());
        assert_eq!(
            lines,
            "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
             metricsProvider.httpPort=7000\n\
             metricsProvider.exportJvmInfo=false\n"
        );
    }

    #[test]
    fn the_provider_exports_the_jvm_metrics_when_there_is_no_jmx_exporter() {
        let caps = Capabilities {
            jmx_exporter_jar: None,
            ..Capabilities::snap()
        };
        let lines = zoo_cfg_lines(&caps);
        assert_eq!(
            keys(&lines),
            [
                "metricsProvider.className",
                "metricsProvider.httpPort",
                "metricsProvider.exportJvmInfo"
            ]
        );
        assert!(lines.contains("metricsProvider.exportJvmInfo=true\n"));
    }

    #[test]
    fn a_workload_without_the_provider_jars_gets_no_metrics_provider_line() {
        // Debian's server exits with code 2 if metricsProvider.className names a missing class.
        assert_eq!(zoo_cfg_lines(&Capabilities::none()), "");
        let caps = Capabilities {
            metrics_provider: false,
            ..Capabilities::snap()
        };
        assert_eq!(zoo_cfg_lines(&caps), "");
    }

    #[test]
    fn the_snap_gets_the_java_agent_on_port_9998_reading_its_config_next_to_zoo_cfg() {
        let conf = Path::new("/var/snap/charmed-zookeeper/current/etc/zookeeper");
        let jmx = jmx_exporter(&Capabilities::snap(), conf).expect("the snap has the exporter");
        assert_eq!(
            jmx.jvm_flag,
            "-javaagent:/snap/charmed-zookeeper/current/opt/zookeeper/lib/jmx_prometheus_javaagent.jar\
             =9998:/var/snap/charmed-zookeeper/current/etc/zookeeper/jmx_prometheus.yaml"
        );
        assert_eq!(jmx.config_path, conf.join("jmx_prometheus.yaml"));
        assert_eq!(jmx.config, JMX_EXPORTER_CONFIG);
    }

    #[test]
    fn a_workload_without_the_exporter_jar_gets_no_java_agent() {
        assert_eq!(
            jmx_exporter(&Capabilities::none(), Path::new("/etc/zookeeper")),
            None
        );
    }

    #[test]
    fn the_exporter_config_exports_no_zookeeper_mbean_and_names_only_keys_the_exporter_knows() {
        let config: serde_yaml_ng::Mapping =
            serde_yaml_ng::from_str(JMX_EXPORTER_CONFIG).expect("valid YAML");
        let known = [
            "lowercaseOutputName",
            "lowercaseOutputLabelNames",
            "whitelistObjectNames",
            "rules",
        ];
        for key in config.keys() {
            let key = key.as_str().expect("string keys");
            assert!(known.contains(&key), "unknown exporter key {key}");
        }
        // An absent `rules` key means "export every MBean"; an empty list means none.
        let rules = config
            .get("rules")
            .and_then(|r| r.as_sequence())
            .expect("a rules list");
        assert!(rules.is_empty());
        let beans = config
            .get("whitelistObjectNames")
            .and_then(|r| r.as_sequence())
            .expect("a whitelist");
        assert!(beans
            .iter()
            .all(|b| b.as_str().is_some_and(|b| b.starts_with("java.lang:"))));
    }
}
