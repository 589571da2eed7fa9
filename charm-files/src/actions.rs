//! `actions.yaml`: each action's description and its params as JSON-schema fragments.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::CharmFile;

/// `actions.yaml`: actions by name. A missing or empty file means no actions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ActionsYaml(pub BTreeMap<String, ActionSpec>);

/// One action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionSpec {
    #[serde(default)]
    pub description: Option<String>,
    /// JSON-schema fragments per parameter.
    #[serde(default)]
    pub params: serde_json::Map<String, Value>,
    #[serde(default)]
    pub required: Vec<String>,
    /// Absent means Juju's default, which differs between Juju 3 (true) and 4.
    #[serde(default, rename = "additionalProperties")]
    pub additional_properties: Option<bool>,
}

impl CharmFile for ActionsYaml {
    const NAME: &'static str = "actions.yaml";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_their_params_as_json_schema() {
        let a = ActionsYaml::parse(
            "set:\n  description: d\n  params:\n    n: {type: integer, default: 3}\n  \
             required: [n]\n  additionalProperties: false\nplain: {}\n",
        )
        .unwrap();
        let set = &a.0["set"];
        assert_eq!(set.params["n"]["default"], Value::from(3));
        assert_eq!(set.required, ["n"]);
        assert_eq!(set.additional_properties, Some(false));
        assert_eq!(a.0["plain"], ActionSpec::default());
        assert_eq!(ActionsYaml::parse("").unwrap(), ActionsYaml::default());
    }
}
