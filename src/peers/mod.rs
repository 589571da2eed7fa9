//! The peer relations' data, parsed once into types.
//!
//! Each relation has one module that owns its wire format: every key and value string of
//! that relation appears there and nowhere else. A module has
//! - `App` and `Unit`: the typed bags, parsed leniently (`from_bag` never fails: a value
//!   this charm cannot read becomes an explicit `Unknown`/`Invalid` variant, or `None` where
//!   the module says so), with `to_bag` for the round trip;
//! - `AppPatch` and `UnitPatch`: what a plan writes, serialised by the same module
//!   (`to_bag`; `""` deletes a key, as in Juju).
//!
//! Values written by other units are validated where they are parsed: addresses must be IP
//! addresses, unit ids decimal numbers whose server id (unit id + 1) fits in a `u32`, JSON
//! lists well formed. The wire format is the one Charmed ZooKeeper and the libraries it uses
//! (rolling-ops v0, the data-platform upgrade lib) write, so both can read each other.
//!
//! - [`cluster`]: addresses, start order, quorum membership records, internal passwords;
//! - [`restart`]: the rolling-restart lock (rolling-ops v0's contract);
//! - [`upgrade`]: the in-place upgrade (the upgrade lib's contract);
//! - [`zookeeper`]: the client relation this charm provides (not a peer relation, but the
//!   same rules: the requirer's request and the provider's publication as types, the
//!   provider's writes as a patch), and the chroot and ACL-letter rules.

pub mod cluster;
pub mod restart;
pub mod upgrade;
pub mod zookeeper;

use std::collections::BTreeMap;

use crate::hooktools::Databag;

/// A peer relation as the hook tools return it: raw bags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRelation {
    /// `cluster:0`.
    pub id: String,
    /// The application bag.
    pub app: Databag,
    /// Unit bags by unit id, this unit's own included.
    pub units: BTreeMap<u32, Databag>,
}

/// A peer relation, parsed: the typed bags, and the raw bags this unit may write (so that a
/// write can be compared with what is there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relation<A, U> {
    /// `cluster:0`.
    pub id: String,
    pub app: A,
    /// Unit bags by unit id, this unit's own included.
    pub units: BTreeMap<u32, U>,
    /// The application bag as read.
    pub raw_app: Databag,
    /// This unit's own bag as read.
    pub raw_own: Databag,
}

impl<A, U> Relation<A, U> {
    /// Parses `raw` with the relation's own parsers; `own` is this unit's id.
    pub fn parse(
        raw: RawRelation,
        own: u32,
        app: impl FnOnce(&Databag) -> A,
        unit: impl Fn(&Databag) -> U,
    ) -> Self {
        Relation {
            app: app(&raw.app),
            units: raw.units.iter().map(|(id, b)| (*id, unit(b))).collect(),
            raw_own: raw.units.get(&own).cloned().unwrap_or_default(),
            raw_app: raw.app,
            id: raw.id,
        }
    }

    pub fn unit(&self, id: u32) -> Option<&U> {
        self.units.get(&id)
    }
}

/// The writes of `patch` that change `current` (a missing key counts as `""`), so that an
/// unchanged value is not written again: Juju fires `-relation-changed` only for a change,
/// and an idle hook writes nothing.
pub fn changes(patch: Databag, current: &Databag) -> Databag {
    patch
        .into_iter()
        .filter(|(k, v)| current.get(k).map(String::as_str).unwrap_or("") != v.as_str())
        .collect()
}

/// A unit id as bags write it (`"3"`): decimal digits only, and low enough that its server
/// id (unit id + 1) fits in a `u32`. Anything else is not a unit id.
pub fn parse_unit_id(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>().ok().filter(|id| *id < u32::MAX)
}

/// The id of a unit name of application `app` (`zookeeper/3` -> 3).
pub fn parse_unit_name(name: &str, app: &str) -> Option<u32> {
    let (a, n) = name.rsplit_once('/')?;
    if a != app {
        return None;
    }
    parse_unit_id(n)
}

/// A non-empty value of `key` (Juju never stores `""`, but hand-made data might).
fn text(bag: &Databag, key: &str) -> Option<String> {
    bag.get(key).filter(|v| !v.is_empty()).cloned()
}

/// Puts `value` under `key`, or `""` (delete) for `None`.
fn put(bag: &mut Databag, key: &str, value: Option<&str>) {
    bag.insert(key.to_string(), value.unwrap_or("").to_string());
}

/// A patch field read back from a bag: absent is "leave it", `""` is "delete it".
fn field<T>(bag: &Databag, key: &str, parse: impl Fn(&str) -> Option<T>) -> Option<Option<T>> {
    bag.get(key)
        .map(|v| if v.is_empty() { None } else { parse(v) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_ids_are_plain_decimal_numbers_whose_server_id_fits() {
        assert_eq!(parse_unit_id("0"), Some(0));
        assert_eq!(parse_unit_id("10"), Some(10));
        for bad in [
            "",
            "+3",
            "-1",
            " 3",
            "3a",
            "4294967295",
            "99999999999999999999",
        ] {
            assert_eq!(parse_unit_id(bad), None, "{bad:?}");
        }
        assert_eq!(parse_unit_id("4294967294"), Some(u32::MAX - 1));
    }

    #[test]
    fn unit_names_belong_to_one_application() {
        assert_eq!(parse_unit_name("zookeeper/3", "zookeeper"), Some(3));
        assert_eq!(parse_unit_name("zk/3", "zookeeper"), None);
        assert_eq!(parse_unit_name("zookeeper/x", "zookeeper"), None);
        assert_eq!(parse_unit_name("zookeeper", "zookeeper"), None);
    }

    #[test]
    fn only_changed_values_are_written() {
        let current = Databag::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
        let patch = Databag::from([
            ("a".into(), "1".into()),
            ("b".into(), "3".into()),
            ("c".into(), "".into()),
            ("d".into(), "4".into()),
        ]);
        assert_eq!(
            changes(patch, &current),
            Databag::from([("b".into(), "3".into()), ("d".into(), "4".into())])
        );
    }
}
