//! The `restart` peer relation: the rolling-restart lock, with rolling-ops v0's data
//! contract, so that one unit restarts at a time.
//!
//! Unit bag: `state` = `acquire` (a request) or `release` (done; absent means idle),
//! `requested-at` (when the request was made, as 20-digit microseconds so that text order is
//! time order; it orders the queue), and `inputs` (a digest of the app-wide inputs this
//! unit's running server is up to date with). App bag (the leader): one key per unit,
//! its unit name (`zookeeper/2`), = `granted` or `idle` (absent means idle).

use std::collections::BTreeMap;

use super::{field, parse_unit_name, put, text};
use crate::hooktools::Databag;

/// The peer endpoint (`metadata.yaml`).
pub const ENDPOINT: &str = "restart";

const STATE: &str = "state";
const ACQUIRE: &str = "acquire";
const RELEASE: &str = "release";
const REQUESTED_AT: &str = "requested-at";
const INPUTS: &str = "inputs";
const GRANTED: &str = "granted";
const IDLE: &str = "idle";

/// The restart relation as this unit sees it.
pub type Restart = super::Relation<App, Unit>;

/// Parses the raw relation; `own` is this unit's id, `app` the application's name.
pub fn parse(raw: super::RawRelation, own: u32, app: &str) -> Restart {
    Restart::parse(raw, own, |b| App::from_bag(b, app), Unit::from_bag)
}

/// A unit's lock request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockRequest {
    /// `acquire`: the unit asks for the lock.
    Acquire,
    /// `release`: the unit is done with it.
    Release,
}

impl LockRequest {
    fn parse(s: &str) -> Option<LockRequest> {
        match s {
            ACQUIRE => Some(LockRequest::Acquire),
            RELEASE => Some(LockRequest::Release),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            LockRequest::Acquire => ACQUIRE,
            LockRequest::Release => RELEASE,
        }
    }
}

/// One unit's bag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unit {
    /// The request; absent and unknown values read as none (idle).
    pub request: Option<LockRequest>,
    pub requested_at: Option<String>,
    pub inputs: Option<String>,
}

impl Unit {
    pub fn from_bag(bag: &Databag) -> Unit {
        Unit {
            request: bag.get(STATE).and_then(|v| LockRequest::parse(v)),
            requested_at: text(bag, REQUESTED_AT),
            inputs: text(bag, INPUTS),
        }
    }

    pub fn to_bag(&self) -> Databag {
        let mut bag = Databag::new();
        if let Some(r) = self.request {
            bag.insert(STATE.into(), r.as_str().into());
        }
        if let Some(t) = &self.requested_at {
            bag.insert(REQUESTED_AT.into(), t.clone());
        }
        if let Some(i) = &self.inputs {
            bag.insert(INPUTS.into(), i.clone());
        }
        bag
    }
}

/// The leader's answer to one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grant {
    /// `granted`: the unit holds the lock.
    Granted,
    /// `idle` (or any value but `granted`): it does not.
    Idle,
}

impl Grant {
    fn parse(s: &str) -> Grant {
        if s == GRANTED {
            Grant::Granted
        } else {
            Grant::Idle
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Grant::Granted => GRANTED,
            Grant::Idle => IDLE,
        }
    }
}

/// The application bag: the grants, by unit id, of this application's units (keys that
/// are not its unit names are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct App {
    pub grants: BTreeMap<u32, Grant>,
}

impl App {
    pub fn from_bag(bag: &Databag, app: &str) -> App {
        App {
            grants: bag
                .iter()
                .filter_map(|(k, v)| Some((parse_unit_name(k, app)?, Grant::parse(v))))
                .collect(),
        }
    }

    pub fn to_bag(&self, app: &str) -> Databag {
        self.grants
            .iter()
            .map(|(id, g)| (format!("{app}/{id}"), g.as_str().to_string()))
            .collect()
    }

    /// Whether unit `id` holds the lock.
    pub fn granted(&self, id: u32) -> bool {
        self.grants.get(&id) == Some(&Grant::Granted)
    }
}

/// What a plan writes to this unit's bag. `None` leaves a key alone; `Some(None)` deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitPatch {
    pub request: Option<Option<LockRequest>>,
    pub requested_at: Option<Option<String>>,
    pub inputs: Option<String>,
}

impl UnitPatch {
    pub fn is_empty(&self) -> bool {
        *self == UnitPatch::default()
    }

    pub fn to_bag(&self) -> Databag {
        let mut bag = Databag::new();
        if let Some(r) = self.request {
            put(&mut bag, STATE, r.map(LockRequest::as_str));
        }
        if let Some(t) = &self.requested_at {
            put(&mut bag, REQUESTED_AT, t.as_deref());
        }
        if let Some(i) = &self.inputs {
            bag.insert(INPUTS.into(), i.clone());
        }
        bag
    }

    pub fn from_bag(bag: &Databag) -> UnitPatch {
        UnitPatch {
            request: field(bag, STATE, LockRequest::parse),
            requested_at: field(bag, REQUESTED_AT, |v| Some(v.to_string())),
            inputs: text(bag, INPUTS),
        }
    }
}

/// What a plan writes to the app bag: `Some(grant)` sets a unit's key, `None` deletes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppPatch {
    pub grants: BTreeMap<u32, Option<Grant>>,
}

impl AppPatch {
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    pub fn to_bag(&self, app: &str) -> Databag {
        self.grants
            .iter()
            .map(|(id, g)| {
                let v = g.map(Grant::as_str).unwrap_or("");
                (format!("{app}/{id}"), v.to_string())
            })
            .collect()
    }

    pub fn from_bag(bag: &Databag, app: &str) -> AppPatch {
        AppPatch {
            grants: bag
                .iter()
                .filter_map(|(k, v)| {
                    let id = parse_unit_name(k, app)?;
                    Some((id, (!v.is_empty()).then(|| Grant::parse(v))))
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bag(pairs: &[(&str, &str)]) -> Databag {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bags_and_patches_read_back_what_they_were_written_from() {
        let unit = Unit {
            request: Some(LockRequest::Acquire),
            requested_at: Some("00000000000000000100".into()),
            inputs: Some("abc".into()),
        };
        assert_eq!(Unit::from_bag(&unit.to_bag()), unit);
        assert_eq!(Unit::from_bag(&Unit::default().to_bag()), Unit::default());
        let app = App {
            grants: BTreeMap::from([(0, Grant::Idle), (2, Grant::Granted)]),
        };
        assert_eq!(App::from_bag(&app.to_bag("zk"), "zk"), app);
        let patch = UnitPatch {
            request: Some(None),
            requested_at: Some(None),
            inputs: Some("d".into()),
        };
        assert_eq!(UnitPatch::from_bag(&patch.to_bag()), patch);
        let patch = AppPatch {
            grants: BTreeMap::from([(1, None), (3, Some(Grant::Granted))]),
        };
        assert_eq!(AppPatch::from_bag(&patch.to_bag("zk"), "zk"), patch);
    }

    #[test]
    fn the_wire_format_is_rolling_ops_v0() {
        let patch = AppPatch {
            grants: BTreeMap::from([(1, Some(Grant::Granted)), (2, Some(Grant::Idle)), (7, None)]),
        };
        assert_eq!(
            patch.to_bag("zookeeper"),
            bag(&[
                ("zookeeper/1", "granted"),
                ("zookeeper/2", "idle"),
                ("zookeeper/7", "")
            ])
        );
        let patch = UnitPatch {
            request: Some(Some(LockRequest::Acquire)),
            requested_at: Some(Some("00000000000000000100".into())),
            inputs: None,
        };
        assert_eq!(
            patch.to_bag(),
            bag(&[
                ("state", "acquire"),
                ("requested-at", "00000000000000000100")
            ])
        );
    }

    #[test]
    fn grants_of_other_applications_and_unknown_values_are_not_grants() {
        let app = App::from_bag(
            &bag(&[
                ("zookeeper/1", "granted"),
                ("zookeeper/2", "yes"),
                ("kafka/3", "granted"),
                ("zookeeper/x", "granted"),
            ]),
            "zookeeper",
        );
        assert_eq!(
            app.grants,
            BTreeMap::from([(1, Grant::Granted), (2, Grant::Idle)])
        );
        let unit = Unit::from_bag(&bag(&[("state", "waiting")]));
        assert_eq!(unit.request, None);
    }
}
