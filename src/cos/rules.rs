//! The Prometheus alert rules of `cos/prometheus_alert_rules/`, as `build.rs` checked and
//! embedded them: static data, no parsing in a hook.

/// One rule group of a rule file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleGroup {
    pub name: &'static str,
    pub rules: &'static [AlertRule],
}

/// One alerting rule. `labels` and `annotations` are sorted by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertRule {
    pub alert: &'static str,
    pub expr: &'static str,
    /// The rule's `for:` (a Prometheus duration), if it has one.
    pub duration: Option<&'static str>,
    pub labels: &'static [(&'static str, &'static str)],
    pub annotations: &'static [(&'static str, &'static str)],
}

impl AlertRule {
    pub fn label(&self, key: &str) -> Option<&'static str> {
        self.labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// Every group of every rule file, files in name order.
pub static GROUPS: &[RuleGroup] = include!(concat!(env!("OUT_DIR"), "/cos_alert_rules.rs"));

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    struct File {
        groups: Vec<Group>,
    }

    #[derive(Deserialize)]
    struct Group {
        name: String,
        rules: Vec<Rule>,
    }

    #[derive(Deserialize)]
    struct Rule {
        alert: String,
        expr: String,
        #[serde(rename = "for")]
        duration: Option<String>,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
    }

    fn rule_file() -> File {
        let text = include_str!("../../cos/prometheus_alert_rules/zookeeper.rules.yaml");
        serde_yaml_ng::from_str(text).expect("the rule file is YAML of alerting rules")
    }

    #[test]
    fn the_rule_file_has_one_group_of_19_alerts_each_with_an_expression_and_a_known_severity() {
        let file = rule_file();
        assert_eq!(file.groups.len(), 1);
        let group = &file.groups[0];
        assert_eq!(group.name, "zookeeper.alerts");
        assert_eq!(group.rules.len(), 19);
        let mut names: Vec<&str> = group.rules.iter().map(|r| r.alert.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 19, "alert names are unique");
        for rule in &group.rules {
            assert!(!rule.expr.trim().is_empty(), "{}", rule.alert);
            assert!(
                ["critical", "high", "warning"]
                    .contains(&rule.labels.get("severity").map_or("", String::as_str)),
                "{}: severity {:?}",
                rule.alert,
                rule.labels.get("severity")
            );
            assert!(rule.duration.is_some(), "{} has no `for`", rule.alert);
            assert!(rule.annotations.contains_key("summary"), "{}", rule.alert);
            assert!(
                rule.annotations.contains_key("description"),
                "{}",
                rule.alert
            );
        }
    }

    #[test]
    fn the_embedded_rules_are_the_rule_file_as_written() {
        let file = rule_file();
        assert_eq!(GROUPS.len(), file.groups.len());
        for (embedded, written) in GROUPS.iter().zip(&file.groups) {
            assert_eq!(embedded.name, written.name);
            assert_eq!(embedded.rules.len(), written.rules.len());
            for (e, w) in embedded.rules.iter().zip(&written.rules) {
                assert_eq!(e.alert, w.alert);
                assert_eq!(e.expr, w.expr);
                assert_eq!(e.duration, w.duration.as_deref());
                let labels: BTreeMap<String, String> = e
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                assert_eq!(labels, w.labels);
                let annotations: BTreeMap<String, String> = e
                    .annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                assert_eq!(annotations, w.annotations);
                assert_eq!(
                    e.label("severity"),
                    w.labels.get("severity").map(String::as_str)
                );
            }
        }
    }
}
