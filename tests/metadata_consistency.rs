//! `metadata.yaml`, `config.yaml`, `actions.yaml`, `charmcraft.yaml` and the README agree
//! with each other and with the code.
//!
//! Juju only knows what these files declare, and the charm only handles what the code
//! declares: an endpoint missing from `dispatch::ENDPOINTS` would make its hooks "unknown", an
//! action missing from `Action::ALL` would always fail, and a config default that differs
//! from `CharmConfig::default()` would mean two different "defaults" depending on who asks.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Map, Value as Json};
use serde_yaml::{Mapping, Value};
use zookeeper_charm::config::CharmConfig;
use zookeeper_charm::dispatch::{Action, ENDPOINTS, STORAGES};

fn load(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

fn mapping<'a>(v: &'a Value, what: &str) -> &'a Mapping {
    v.as_mapping()
        .unwrap_or_else(|| panic!("{what} is not a mapping"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_mapping()
        .map(|m| {
            m.keys()
                .map(|k| k.as_str().expect("string keys").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Juju's and the listing review's rule for action, option and param names.
fn is_hyphenated_lowercase(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn yaml_to_json(v: &Value) -> Json {
    serde_json::to_value(v).expect("YAML scalars map to JSON")
}

#[test]
fn every_endpoint_of_metadata_yaml_is_dispatched_and_no_other() {
    let meta = load("metadata.yaml");
    let mut declared = BTreeSet::new();
    for section in ["peers", "provides", "requires"] {
        declared.extend(keys(&meta[section]));
    }
    let dispatched: BTreeSet<String> = ENDPOINTS.iter().map(|e| e.to_string()).collect();
    assert_eq!(declared, dispatched);
}

#[test]
fn every_storage_of_metadata_yaml_is_dispatched() {
    let declared = keys(&load("metadata.yaml")["storage"]);
    let dispatched: BTreeSet<String> = STORAGES.iter().map(|s| s.to_string()).collect();
    assert_eq!(declared, dispatched);
}

#[test]
fn every_provides_and_requires_endpoint_says_whether_it_is_optional() {
    let meta = load("metadata.yaml");
    for section in ["provides", "requires"] {
        if let Some(m) = meta[section].as_mapping() {
            for (name, ep) in m {
                assert!(
                    ep["optional"].is_bool(),
                    "{section}.{name:?} has no boolean `optional:`"
                );
                assert!(
                    ep["interface"].is_string(),
                    "{section}.{name:?} has no interface"
                );
            }
        }
    }
    for (name, ep) in mapping(&meta["peers"], "peers") {
        assert!(
            ep["interface"].is_string(),
            "peers.{name:?} has no interface"
        );
    }
}

#[test]
fn every_action_is_implemented_closed_to_extra_params_and_described() {
    let actions = load("actions.yaml");
    let declared = keys(&actions);
    let implemented: BTreeSet<String> = Action::ALL.iter().map(|a| a.name().to_string()).collect();
    assert_eq!(declared, implemented);
    for (name, action) in mapping(&actions, "actions.yaml") {
        let name = name.as_str().unwrap();
        assert!(is_hyphenated_lowercase(name), "action name {name:?}");
        assert_eq!(
            action["additionalProperties"],
            Value::Bool(false),
            "{name}: additionalProperties must be false (Juju 3 and 4 default differently)"
        );
        assert!(
            action["description"].is_string(),
            "{name} has no description"
        );
        if let Some(params) = action["params"].as_mapping() {
            for (p, spec) in params {
                let p = p.as_str().unwrap();
                assert!(is_hyphenated_lowercase(p), "{name} param {p:?}");
                assert!(spec["type"].is_string(), "{name}.{p} has no type");
                assert!(
                    spec["description"].is_string(),
                    "{name}.{p} has no description"
                );
            }
        }
    }
}

#[test]
fn config_defaults_are_the_defaults_of_the_code() {
    let config = load("config.yaml");
    let options = mapping(&config["options"], "config.yaml options");
    let mut defaults = Map::new();
    for (name, spec) in options {
        let name = name.as_str().unwrap();
        assert!(is_hyphenated_lowercase(name), "option name {name:?}");
        let ty = spec["type"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no type"));
        assert!(
            ["string", "int", "float", "boolean", "secret"].contains(&ty),
            "{name}: type {ty:?} is not a Juju config type"
        );
        assert!(spec["description"].is_string(), "{name} has no description");
        defaults.insert(name.to_string(), yaml_to_json(&spec["default"]));
    }
    // What `config-get` returns on a fresh deployment is exactly these defaults.
    assert_eq!(
        CharmConfig::from_juju(&defaults).expect("the declared defaults are valid"),
        CharmConfig::default()
    );
}

#[test]
fn the_code_validates_every_declared_option() {
    // A value of the wrong type for any declared option must be refused, naming the option:
    // an option the code silently ignores would be a config knob that does nothing.
    let config = load("config.yaml");
    for (name, spec) in mapping(&config["options"], "config.yaml options") {
        let name = name.as_str().unwrap();
        let wrong = match spec["type"].as_str().unwrap() {
            "string" | "secret" => json!(12345),
            _ => json!("not-a-number"),
        };
        let mut map = Map::new();
        map.insert(name.to_string(), wrong);
        let err = CharmConfig::from_juju(&map)
            .err()
            .unwrap_or_else(|| panic!("option {name} accepted a value of the wrong type"));
        assert_eq!(err.option, name);
    }
}

#[test]
fn charmcraft_yaml_repeats_the_listing_fields_of_metadata_yaml_exactly() {
    let cc = load("charmcraft.yaml");
    let meta = load("metadata.yaml");
    assert_eq!(cc["type"], "charm");
    // charmcraft refuses these in both files; metadata.yaml holds them.
    for key in [
        "name",
        "summary",
        "description",
        "config",
        "actions",
        "peers",
        "provides",
    ] {
        assert!(
            cc.get(key).is_none(),
            "charmcraft.yaml must not repeat {key:?}"
        );
    }
    assert_eq!(cc["title"], meta["display-name"]);
    assert_eq!(cc["links"]["documentation"], meta["docs"]);
    for key in ["issues", "source", "website"] {
        assert_eq!(cc["links"][key], meta[key], "links.{key}");
    }
    let platforms = keys(&cc["platforms"]);
    assert_eq!(
        platforms,
        BTreeSet::from([
            "ubuntu-22.04-amd64".to_string(),
            "ubuntu-24.04-amd64".to_string()
        ])
    );
    assert_eq!(
        cc["parts"]["charm"]["organize"]["bin/zookeeper-charm"], "dispatch",
        "the binary must become dispatch"
    );
    let staged: Vec<&str> = cc["parts"]["static"]["stage"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        staged.contains(&"icon.svg"),
        "icon.svg must be staged by a part"
    );
}

#[test]
fn the_readme_tables_list_every_option_with_its_type_and_default_and_every_action() {
    let readme = read("README.md");
    let config = load("config.yaml");
    for (name, spec) in mapping(&config["options"], "config.yaml options") {
        let name = name.as_str().unwrap();
        let default = match &spec["default"] {
            Value::String(s) => s.clone(),
            other => serde_yaml::to_string(other).unwrap().trim().to_string(),
        };
        let row = format!(
            "| `{name}` | {} | `{default}` |",
            spec["type"].as_str().unwrap()
        );
        assert!(readme.contains(&row), "README has no row starting {row:?}");
    }
    for action in Action::ALL.map(Action::name) {
        assert!(
            readme.contains(&format!("| `{action}` |")),
            "README has no row for action {action}"
        );
    }
}

#[test]
fn the_icon_is_a_100_by_100_svg() {
    let svg = read("icon.svg");
    assert!(svg.contains("<svg"), "not an SVG");
    assert!(svg.contains(r#"width="100""#) && svg.contains(r#"height="100""#));
}
