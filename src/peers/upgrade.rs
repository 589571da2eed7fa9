//! The `upgrade` peer relation, with the data-platform upgrade lib's data contract, so that
//! a refresh from (or to) Charmed ZooKeeper mid-way still reads.
//!
//! Unit bag: `state`, one of the lib's six states. App bag (the leader): `upgrade-stack`, a
//! JSON list of unit ids whose last element upgrades next, and `dependencies`, the JSON
//! dependency model of the deployed revision.

use super::{parse_unit_id, text};
use crate::hooktools::Databag;

/// The peer endpoint (`metadata.yaml`).
pub const ENDPOINT: &str = "upgrade";

const STATE: &str = "state";
const STACK: &str = "upgrade-stack";
const DEPENDENCIES: &str = "dependencies";

/// The upgrade relation as this unit sees it.
pub type Upgrade = super::Relation<App, Unit>;

/// Parses the raw relation; `own` is this unit's id.
pub fn parse(raw: super::RawRelation, own: u32) -> Upgrade {
    Upgrade::parse(raw, own, App::from_bag, Unit::from_bag)
}

/// A unit's upgrade state, in the lib's rank order: the lowest state of all units is the
/// cluster's (the furthest-behind unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UpgradeState {
    /// Only the leader: `pre-upgrade-check` prepared a rollback after a failure.
    Recovery,
    /// This unit's upgrade failed.
    Failed,
    /// Not upgrading.
    Idle,
    /// Waiting for its turn.
    Ready,
    /// Its turn: upgrading now.
    Upgrading,
    /// Done.
    Completed,
}

impl UpgradeState {
    /// Every state, lowest rank first.
    pub const ALL: [UpgradeState; 6] = [
        UpgradeState::Recovery,
        UpgradeState::Failed,
        UpgradeState::Idle,
        UpgradeState::Ready,
        UpgradeState::Upgrading,
        UpgradeState::Completed,
    ];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            UpgradeState::Recovery => "recovery",
            UpgradeState::Failed => "failed",
            UpgradeState::Idle => "idle",
            UpgradeState::Ready => "ready",
            UpgradeState::Upgrading => "upgrading",
            UpgradeState::Completed => "completed",
        }
    }

    fn parse(s: &str) -> Option<UpgradeState> {
        UpgradeState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// What a unit's bag says about its upgrade.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UnitState {
    /// No `state` yet.
    #[default]
    Missing,
    Known(UpgradeState),
    /// A value the lib does not define (from a newer revision, or by hand). Like
    /// [`UnitState::Missing`], it gives no cluster state; the unit itself resets its own.
    Unknown(String),
}

impl UnitState {
    /// The state, if it is one of the lib's.
    pub fn known(&self) -> Option<UpgradeState> {
        match self {
            UnitState::Known(s) => Some(*s),
            _ => None,
        }
    }
}

/// One unit's bag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unit {
    pub state: UnitState,
}

impl Unit {
    pub fn from_bag(bag: &Databag) -> Unit {
        let state = match bag.get(STATE).map(String::as_str) {
            None | Some("") => UnitState::Missing,
            Some(v) => UpgradeState::parse(v)
                .map(UnitState::Known)
                .unwrap_or_else(|| UnitState::Unknown(v.to_string())),
        };
        Unit { state }
    }

    pub fn to_bag(&self) -> Databag {
        let value = match &self.state {
            UnitState::Missing => return Databag::new(),
            UnitState::Known(s) => s.as_str().to_string(),
            UnitState::Unknown(v) => v.clone(),
        };
        Databag::from([(STATE.to_string(), value)])
    }
}

/// The cluster's state: the lowest-ranked unit state; `None` when some unit has none the
/// lib defines (missing or unknown).
pub fn cluster_state<'a>(units: impl IntoIterator<Item = &'a Unit>) -> Option<UpgradeState> {
    let mut lowest = None;
    for u in units {
        let s = u.state.known()?;
        lowest = Some(lowest.map_or(s, |l: UpgradeState| l.min(s)));
    }
    lowest
}

/// The upgrade stack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Stack {
    /// No upgrade prepared (absent, `""` or `[]`, as the lib reads it).
    #[default]
    Empty,
    /// The units still to upgrade; the last one goes next. Never empty.
    Units(Vec<u32>),
    /// Not a JSON list of unit ids: an upgrade in an unknown state. It is never read as
    /// "no upgrade" (that would let restarts and password changes run in the middle of
    /// one); the raw value is kept only to write it back unchanged.
    Invalid(String),
}

impl Stack {
    fn parse(value: Option<&str>) -> Stack {
        let Some(v) = value.filter(|v| !v.is_empty()) else {
            return Stack::Empty;
        };
        let ids: Option<Vec<u32>> = serde_json::from_str::<Vec<serde_json::Value>>(v)
            .ok()
            .and_then(|items| {
                items
                    .iter()
                    .map(|i| i.as_u64().and_then(|n| parse_unit_id(&n.to_string())))
                    .collect()
            });
        match ids {
            Some(ids) if ids.is_empty() => Stack::Empty,
            Some(ids) => Stack::Units(ids),
            None => Stack::Invalid(v.to_string()),
        }
    }

    /// The JSON list the lib reads (`[0,2,1]`).
    pub fn json(ids: &[u32]) -> String {
        serde_json::to_string(ids).expect("a list of numbers is JSON")
    }

    fn wire(&self) -> String {
        match self {
            Stack::Empty => Stack::json(&[]),
            Stack::Units(ids) => Stack::json(ids),
            Stack::Invalid(v) => v.clone(),
        }
    }

    /// An upgrade is prepared or running, or the stack cannot be read.
    pub fn is_active(&self) -> bool {
        !matches!(self, Stack::Empty)
    }

    /// The units still to upgrade (none when empty or unreadable).
    pub fn units(&self) -> &[u32] {
        match self {
            Stack::Units(ids) => ids,
            _ => &[],
        }
    }

    /// The unit that upgrades next.
    pub fn next(&self) -> Option<u32> {
        self.units().last().copied()
    }
}

/// The application bag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct App {
    pub stack: Stack,
    /// The stored dependency model, as JSON text: it is compared verbatim with this
    /// charm's, and parsed only by the compatibility check (`deps`).
    pub dependencies: Option<String>,
}

impl App {
    pub fn from_bag(bag: &Databag) -> App {
        App {
            stack: Stack::parse(bag.get(STACK).map(String::as_str)),
            dependencies: text(bag, DEPENDENCIES),
        }
    }

    pub fn to_bag(&self) -> Databag {
        let mut bag = Databag::new();
        if self.stack.is_active() {
            bag.insert(STACK.into(), self.stack.wire());
        }
        if let Some(d) = &self.dependencies {
            bag.insert(DEPENDENCIES.into(), d.clone());
        }
        bag
    }
}

/// What a plan writes to this unit's bag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitPatch {
    pub state: Option<UpgradeState>,
}

impl UnitPatch {
    pub fn is_empty(&self) -> bool {
        self.state.is_none()
    }

    pub fn to_bag(&self) -> Databag {
        self.state
            .map(|s| Databag::from([(STATE.to_string(), s.as_str().to_string())]))
            .unwrap_or_default()
    }

    pub fn from_bag(bag: &Databag) -> UnitPatch {
        UnitPatch {
            state: bag.get(STATE).and_then(|v| UpgradeState::parse(v)),
        }
    }
}

/// What a plan writes to the app bag (the leader only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppPatch {
    /// The new stack (`[]` when done).
    pub stack: Option<Vec<u32>>,
    pub dependencies: Option<String>,
}

impl AppPatch {
    pub fn is_empty(&self) -> bool {
        *self == AppPatch::default()
    }

    pub fn to_bag(&self) -> Databag {
        let mut bag = Databag::new();
        if let Some(ids) = &self.stack {
            bag.insert(STACK.into(), Stack::json(ids));
        }
        if let Some(d) = &self.dependencies {
            bag.insert(DEPENDENCIES.into(), d.clone());
        }
        bag
    }

    pub fn from_bag(bag: &Databag) -> AppPatch {
        AppPatch {
            stack: bag
                .get(STACK)
                .map(|v| Stack::parse(Some(v)).units().to_vec()),
            dependencies: text(bag, DEPENDENCIES),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(state: &str) -> Unit {
        Unit::from_bag(&Databag::from([(STATE.to_string(), state.to_string())]))
    }

    #[test]
    fn the_cluster_state_is_the_furthest_behind_unit_and_none_when_one_is_unknown() {
        let cs = |states: &[&str]| {
            cluster_state(states.iter().map(|s| unit(s)).collect::<Vec<_>>().iter())
        };
        assert_eq!(cs(&["completed", "ready"]), Some(UpgradeState::Ready));
        assert_eq!(
            cs(&["completed", "failed", "idle"]),
            Some(UpgradeState::Failed)
        );
        assert_eq!(cs(&["recovery", "failed"]), Some(UpgradeState::Recovery));
        assert_eq!(cs(&["idle", ""]), None);
        assert_eq!(cs(&["idle", "sideways"]), None);
    }

    #[test]
    fn the_stack_is_a_json_list_and_anything_else_is_an_unknown_upgrade() {
        let stack =
            |v: &str| App::from_bag(&Databag::from([(STACK.to_string(), v.to_string())])).stack;
        assert_eq!(stack("[0, 2, 1]"), Stack::Units(vec![0, 2, 1]));
        assert_eq!(stack("[0,2,1]").next(), Some(1));
        assert_eq!(
            stack("[1,2,0]").next(),
            Some(0),
            "the last element goes next"
        );
        assert_eq!(stack("[]").next(), None);
        assert!(!stack("[]").is_active(), "an empty stack is no upgrade");
        assert!(stack("[3]").is_active());
        assert_eq!(stack("[]"), Stack::Empty);
        assert_eq!(stack("[ ]"), Stack::Empty);
        assert_eq!(stack(""), Stack::Empty);
        assert_eq!(App::from_bag(&Databag::new()).stack, Stack::Empty);
        for bad in [
            "not json",
            "[1,2",
            "[-1]",
            "[1.5]",
            "[\"1\"]",
            "[4294967295]",
            "{}",
        ] {
            let s = stack(bad);
            assert_eq!(s, Stack::Invalid(bad.to_string()), "{bad}");
            assert!(
                s.is_active(),
                "an unreadable stack is an upgrade in an unknown state"
            );
            assert!(s.units().is_empty());
        }
    }

    #[test]
    fn bags_and_patches_read_back_what_they_were_written_from() {
        for state in [
            UnitState::Missing,
            UnitState::Known(UpgradeState::Upgrading),
            UnitState::Unknown("paused".into()),
        ] {
            let u = Unit { state };
            assert_eq!(Unit::from_bag(&u.to_bag()), u);
        }
        for stack in [
            Stack::Empty,
            Stack::Units(vec![0, 2, 1]),
            Stack::Invalid("[1,".into()),
        ] {
            let app = App {
                stack,
                dependencies: Some("{}".into()),
            };
            assert_eq!(App::from_bag(&app.to_bag()), app);
        }
        let patch = UnitPatch {
            state: Some(UpgradeState::Recovery),
        };
        assert_eq!(UnitPatch::from_bag(&patch.to_bag()), patch);
        for stack in [vec![], vec![3, 1]] {
            let patch = AppPatch {
                stack: Some(stack),
                dependencies: Some("{\"a\":1}".into()),
            };
            assert_eq!(AppPatch::from_bag(&patch.to_bag()), patch);
        }
    }

    #[test]
    fn the_wire_format_is_the_upgrade_libs() {
        let patch = AppPatch {
            stack: Some(vec![0, 2, 1]),
            dependencies: None,
        };
        assert_eq!(
            patch.to_bag(),
            Databag::from([("upgrade-stack".to_string(), "[0,2,1]".to_string())])
        );
        let ranks: Vec<&str> = UpgradeState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            ranks,
            [
                "recovery",
                "failed",
                "idle",
                "ready",
                "upgrading",
                "completed"
            ]
        );
        let mut sorted = UpgradeState::ALL;
        sorted.reverse();
        sorted.sort();
        assert_eq!(sorted, UpgradeState::ALL, "Ord is the lib's rank order");
    }
}
