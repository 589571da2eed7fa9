//! `metadata.yaml`, `config.yaml`, `actions.yaml`, `charmcraft.yaml` and the README agree
//! with each other and with the code.
//!
//! Juju only knows what these files declare, and the charm only handles what the code
//! declares: an endpoint missing from `dispatch::ENDPOINTS` would make its hooks "unknown", an
//! action missing from `Action::ALL` would always fail, and a config default that differs
//! from `CharmConfig::default()` would mean two different "defaults" depending on who asks.

use std::collections::BTreeSet;
use std::path::Path;

use charm_files::{ActionsYaml, CharmFile, ConfigType, ConfigYaml, Metadata};
use serde_json::{json, Map, Value as Json};
use serde_yaml_ng::Value;
use zookeeper_charm::config::CharmConfig;
use zookeeper_charm::dispatch::{Action, ENDPOINTS, STORAGES};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load<F: CharmFile>() -> F {
    F::load(root()).unwrap_or_else(|e| panic!("{e:#?}"))
}

/// `charmcraft.yaml`, which only charmcraft and this test read.
fn charmcraft_yaml() -> Value {
    serde_yaml_ng::from_str(&read("charmcraft.yaml"))
        .unwrap_or_else(|e| panic!("charmcraft.yaml is not valid YAML: {e}"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(root().join(name)).unwrap()
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

/// A link field of charmcraft.yaml: absent, one URL or a list of them.
fn urls(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Sequence(l) => l
            .iter()
            .map(|u| u.as_str().expect("a URL").to_string())
            .collect(),
        other => panic!("a link is a URL or a list of URLs, not {other:?}"),
    }
}

fn names<T>(entries: &charm_files::Ordered<T>) -> BTreeSet<String> {
    entries.names().map(str::to_string).collect()
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

#[test]
fn every_endpoint_of_metadata_yaml_is_dispatched_and_no_other() {
    let meta: Metadata = load();
    let declared: BTreeSet<String> = meta.endpoints().map(|(n, _)| n.to_string()).collect();
    let dispatched: BTreeSet<String> = ENDPOINTS.iter().map(|e| e.to_string()).collect();
    assert_eq!(declared, dispatched);
}

#[test]
fn every_storage_of_metadata_yaml_is_dispatched() {
    let declared = names(&load::<Metadata>().storage);
    let dispatched: BTreeSet<String> = STORAGES.iter().map(|s| s.to_string()).collect();
    assert_eq!(declared, dispatched);
}

#[test]
fn every_provides_and_requires_endpoint_says_whether_it_is_optional() {
    // Every endpoint has an `interface:` (the file does not parse without one).
    let meta: Metadata = load();
    for (section, endpoints) in [("provides", &meta.provides), ("requires", &meta.requires)] {
        for (name, ep) in endpoints.iter() {
            assert!(
                ep.optional.is_some(),
                "{section}.{name:?} has no boolean `optional:`"
            );
        }
    }
}

#[test]
fn every_action_is_implemented_closed_to_extra_params_and_described() {
    let ActionsYaml(actions) = load();
    let declared: BTreeSet<String> = actions.keys().cloned().collect();
    let implemented: BTreeSet<String> = Action::ALL.iter().map(|a| a.name().to_string()).collect();
    assert_eq!(declared, implemented);
    for (name, action) in &actions {
        assert!(is_hyphenated_lowercase(name), "action name {name:?}");
        assert_eq!(
            action.additional_properties,
            Some(false),
            "{name}: additionalProperties must be false (Juju 3 and 4 default differently)"
        );
        assert!(action.description.is_some(), "{name} has no description");
        for (p, spec) in &action.params {
            assert!(is_hyphenated_lowercase(p), "{name} param {p:?}");
            assert!(spec["type"].is_string(), "{name}.{p} has no type");
            assert!(
                spec["description"].is_string(),
                "{name}.{p} has no description"
            );
        }
    }
}

#[test]
fn config_defaults_are_the_defaults_of_the_code() {
    // Each option has one of Juju's types and a default of that type (the file does not
    // parse otherwise).
    let config: ConfigYaml = load();
    let mut defaults = Map::new();
    for (name, spec) in &config.options {
        assert!(is_hyphenated_lowercase(name), "option name {name:?}");
        assert!(spec.description.is_some(), "{name} has no description");
        defaults.insert(name.clone(), spec.default.clone().unwrap_or(Json::Null));
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
    let config: ConfigYaml = load();
    for (name, spec) in &config.options {
        let wrong = match spec.kind {
            ConfigType::String | ConfigType::Secret => json!(12345),
            _ => json!("not-a-number"),
        };
        let mut map = Map::new();
        map.insert(name.clone(), wrong);
        let err = CharmConfig::from_juju(&map)
            .err()
            .unwrap_or_else(|| panic!("option {name} accepted a value of the wrong type"));
        assert_eq!(err.option, name);
    }
}

#[test]
fn charmcraft_yaml_repeats_the_listing_fields_of_metadata_yaml_exactly() {
    let cc = charmcraft_yaml();
    let meta: Metadata = load();
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
    assert_eq!(cc["title"].as_str(), meta.display_name.as_deref());
    let links = &cc["links"];
    assert_eq!(
        urls(&links["documentation"]),
        meta.docs,
        "links.documentation"
    );
    for (key, declared) in [
        ("issues", &meta.issues),
        ("source", &meta.source),
        ("website", &meta.website),
    ] {
        assert_eq!(&urls(&links[key]), declared, "links.{key}");
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
    let config: ConfigYaml = load();
    for (name, spec) in &config.options {
        let default = match &spec.default {
            Some(Json::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "null".to_string(),
        };
        let row = format!("| `{name}` | {} | `{default}` |", spec.kind.as_str());
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
