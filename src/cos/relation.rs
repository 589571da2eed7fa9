//! The `cos-agent` relation (interface `cos_agent`), provider side: every key and value
//! string of it lives here.
//!
//! | Bag | Key | Value |
//! |---|---|---|
//! | each unit's own | [`CONFIG_KEY`] | one JSON object, [`super::agent_config`] |
//!
//! The requirer is a subordinate (`grafana-agent`, `opentelemetry-collector`) on the same
//! machine, so each unit sees one remote unit; it writes its own unit bag (tracing
//! receivers), which this charm does not read. The relation has `limit: 1`.
//!
//! This unit's own bag is read back (to write only what changed, so that the requirer gets
//! no `-relation-changed` for a value it already has) and parsed into
//! [`Published`], with an explicit case for a value this charm cannot read.

use serde::Deserialize;
use serde_json::Value;

use crate::hooktools::Databag;

/// The endpoint in `metadata.yaml`.
pub const ENDPOINT: &str = "cos-agent";
/// The one key each unit writes into its own bag.
pub const CONFIG_KEY: &str = "config";

/// The `cos-agent` relation as this unit sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CosAgent {
    /// `cos-agent:7`.
    pub id: String,
    /// This unit's bag, parsed.
    pub own: Unit,
    /// This unit's bag as read.
    pub raw_own: Databag,
}

impl CosAgent {
    pub fn new(id: String, raw_own: Databag) -> CosAgent {
        CosAgent {
            id,
            own: Unit::from_bag(&raw_own),
            raw_own,
        }
    }
}

/// This unit's bag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unit {
    pub config: Published,
}

impl Unit {
    pub fn from_bag(bag: &Databag) -> Unit {
        Unit {
            config: Published::parse(bag.get(CONFIG_KEY).map(String::as_str)),
        }
    }
}

/// The `config` value as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Published {
    /// No value yet.
    #[default]
    Absent,
    /// A value with the five fields the requirer needs, each of the right type.
    Config(AgentConfig),
    /// Anything else, with the reason it is not one.
    Invalid(String),
}

impl Published {
    pub fn parse(value: Option<&str>) -> Published {
        match value.filter(|v| !v.is_empty()) {
            None => Published::Absent,
            Some(v) => match AgentConfig::parse(v) {
                Ok(c) => Published::Config(c),
                Err(e) => Published::Invalid(e),
            },
        }
    }
}

/// The `config` JSON as the requirer's model reads it: the five required fields (newer
/// libraries' optional ones are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AgentConfig {
    /// A rule file: `{"groups": [...]}`, or `{}`.
    pub metrics_alert_rules: serde_json::Map<String, Value>,
    pub log_alert_rules: serde_json::Map<String, Value>,
    /// Each an xz-compressed, base64-encoded Grafana dashboard.
    pub dashboards: Vec<String>,
    pub metrics_scrape_jobs: Vec<ScrapeJob>,
    /// `<snap>:<slot>` content slots whose logs the agent reads.
    pub log_slots: Vec<String>,
}

impl AgentConfig {
    /// Parses a `config` value.
    ///
    /// # Errors
    /// The reason it is not one, as text.
    pub fn parse(value: &str) -> Result<AgentConfig, String> {
        serde_json::from_str(value).map_err(|e| format!("not a cos-agent config: {e}"))
    }

    /// The alert rules of every group, in order.
    pub fn alert_rules(&self) -> Vec<&serde_json::Map<String, Value>> {
        self.metrics_alert_rules
            .get("groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| g.get("rules").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_object)
            .collect()
    }
}

/// One scrape job in the legacy short form: the agent scrapes `localhost:<port><path>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ScrapeJob {
    pub job_name: String,
    pub path: String,
    pub port: u16,
}

/// What a plan writes to this unit's bag. `None` leaves the key alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitPatch {
    /// The whole `config` value (see [`super::agent_config`]).
    pub config: Option<String>,
}

impl UnitPatch {
    pub fn is_empty(&self) -> bool {
        self.config.is_none()
    }

    pub fn to_bag(&self) -> Databag {
        let mut bag = Databag::new();
        if let Some(c) = &self.config {
            bag.insert(CONFIG_KEY.to_string(), c.clone());
        }
        bag
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cos::{agent_config, Topology};

    fn topology() -> Topology {
        Topology {
            model_name: "m".into(),
            model_uuid: "1a2b3c4d-0000-4000-8000-000000000000".into(),
            app_name: "zookeeper".into(),
            charm_name: "zookeeper".into(),
        }
    }

    #[test]
    fn the_config_this_charm_writes_reads_back_as_a_config() {
        let value = agent_config(&topology());
        let patch = UnitPatch {
            config: Some(value.clone()),
        };
        let bag = patch.to_bag();
        assert_eq!(bag.len(), 1);
        let Published::Config(c) = Unit::from_bag(&bag).config else {
            panic!("not read back as a config");
        };
        assert_eq!(c.dashboards.len(), 1);
        assert_eq!(c.metrics_scrape_jobs.len(), 2);
        assert_eq!(c.alert_rules().len(), 19);
        assert_eq!(c.log_slots, ["charmed-zookeeper:logs"]);
    }

    #[test]
    fn a_missing_field_or_a_wrong_type_is_invalid_and_no_value_is_absent() {
        assert_eq!(Unit::from_bag(&Databag::new()).config, Published::Absent);
        assert_eq!(Published::parse(Some("")), Published::Absent);
        for bad in [
            "not json",
            "[]",
            r#"{"metrics_alert_rules": {}, "log_alert_rules": {}, "dashboards": [], "metrics_scrape_jobs": []}"#,
            r#"{"metrics_alert_rules": [], "log_alert_rules": {}, "dashboards": [], "metrics_scrape_jobs": [], "log_slots": []}"#,
            r#"{"metrics_alert_rules": {}, "log_alert_rules": {}, "dashboards": [], "metrics_scrape_jobs": [{"job_name": "j", "path": "/m", "port": 70000}], "log_slots": []}"#,
        ] {
            assert!(
                matches!(Published::parse(Some(bad)), Published::Invalid(_)),
                "{bad}"
            );
        }
        let newer = r#"{"metrics_alert_rules": {}, "log_alert_rules": {}, "dashboards": [], "metrics_scrape_jobs": [], "log_slots": [], "subordinate": true}"#;
        assert!(matches!(
            Published::parse(Some(newer)),
            Published::Config(_)
        ));
    }
}
