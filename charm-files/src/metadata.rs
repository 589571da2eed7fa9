//! `metadata.yaml`: the charm's name, listing fields, relation endpoints and storage.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::{CharmFile, Ordered};

/// The parts of `metadata.yaml` the tools read. Unknown keys are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Metadata {
    pub name: String,
    pub display_name: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// Links: each may be one URL or a list of them.
    #[serde(default, deserialize_with = "one_or_many")]
    pub docs: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub issues: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub source: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub website: Vec<String>,
    #[serde(default)]
    pub peers: Ordered<Endpoint>,
    #[serde(default)]
    pub provides: Ordered<Endpoint>,
    #[serde(default)]
    pub requires: Ordered<Endpoint>,
    #[serde(default)]
    pub extra_bindings: Ordered<IgnoredAny>,
    #[serde(default)]
    pub storage: Ordered<Storage>,
}

/// One relation endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Endpoint {
    pub interface: String,
    pub optional: Option<bool>,
    pub limit: Option<u32>,
    pub scope: Option<String>,
}

/// One storage entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Storage {
    #[serde(rename = "type")]
    pub kind: String,
    pub description: Option<String>,
    pub location: Option<String>,
}

/// The hooks every charm gets, besides relation and storage hooks.
pub const CORE_HOOKS: [&str; 9] = [
    "install",
    "start",
    "stop",
    "remove",
    "config-changed",
    "upgrade-charm",
    "update-status",
    "leader-elected",
    "leader-settings-changed",
];

/// The suffixes of a relation endpoint's hooks (`<endpoint>-relation-<kind>`).
pub const RELATION_HOOK_KINDS: [&str; 5] = ["created", "joined", "changed", "departed", "broken"];

impl CharmFile for Metadata {
    const NAME: &'static str = "metadata.yaml";
}

impl Metadata {
    /// Every relation endpoint: peers, then provides, then requires, each in file order.
    pub fn endpoints(&self) -> impl Iterator<Item = (&str, &Endpoint)> {
        self.peers
            .iter()
            .chain(self.provides.iter())
            .chain(self.requires.iter())
    }

    /// Every hook name Juju may run for this charm.
    pub fn hook_names(&self) -> Vec<String> {
        let mut hooks: Vec<String> = CORE_HOOKS.iter().map(|h| h.to_string()).collect();
        let mut endpoints: Vec<&str> = self.endpoints().map(|(n, _)| n).collect();
        endpoints.sort();
        endpoints.dedup();
        for e in endpoints {
            for kind in RELATION_HOOK_KINDS {
                hooks.push(format!("{e}-relation-{kind}"));
            }
        }
        let mut storages: Vec<&str> = self.storage.names().collect();
        storages.sort();
        for s in storages {
            hooks.push(format!("{s}-storage-attached"));
            hooks.push(format!("{s}-storage-detaching"));
        }
        hooks
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = "\
name: x
display-name: X
docs: https://example.org/docs
website: [https://example.org/, https://example.net/]
peers:
  zeta:
    interface: z
  alpha:
    interface: a
requires:
  db:
    interface: pg
    optional: true
storage:
  data:
    type: filesystem
    location: /srv
extra-bindings:
  public:
assumes: [juju >= 3.6]
";

    #[test]
    fn endpoints_keep_their_file_order_and_unknown_keys_are_ignored() {
        let m = Metadata::parse(META).unwrap();
        assert_eq!(m.name, "x");
        assert_eq!(m.peers.names().collect::<Vec<_>>(), ["zeta", "alpha"]);
        assert_eq!(m.requires.get("db").unwrap().optional, Some(true));
        assert_eq!(m.storage.get("data").unwrap().kind, "filesystem");
        assert_eq!(m.extra_bindings.names().collect::<Vec<_>>(), ["public"]);
        assert_eq!(m.docs, ["https://example.org/docs"]);
        assert_eq!(m.website.len(), 2);
        assert!(m.issues.is_empty());
    }

    #[test]
    fn hook_names_cover_every_endpoint_kind_and_storage() {
        let hooks = Metadata::parse(META).unwrap().hook_names();
        for h in [
            "install",
            "leader-settings-changed",
            "alpha-relation-created",
            "zeta-relation-broken",
            "db-relation-joined",
            "data-storage-attached",
            "data-storage-detaching",
        ] {
            assert!(hooks.iter().any(|x| x == h), "{h} missing from {hooks:?}");
        }
        assert_eq!(hooks.len(), 9 + 3 * 5 + 2);
    }

    #[test]
    fn a_metadata_yaml_without_a_name_is_refused() {
        assert!(Metadata::parse("summary: no name\n").is_err());
        assert!(Metadata::parse("").is_err());
        assert!(Metadata::parse("name: [").is_err());
    }
}
