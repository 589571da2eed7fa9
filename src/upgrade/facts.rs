//! What the upgrade decision needs besides the relation data: whether the deployed revision
//! (its stored dependency model) may be upgraded to this one.

use super::deps::{self, DepsError};

/// Facts of the upgrade beyond the relation data and the local markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeFacts {
    /// Whether the stored `dependencies` allow upgrading to this charm's model, and why not.
    pub compatible: Result<(), DepsError>,
    /// The dependency model compiled into this charm, as JSON.
    pub compiled_dependencies: String,
}

impl Default for UpgradeFacts {
    fn default() -> Self {
        UpgradeFacts {
            compatible: Ok(()),
            compiled_dependencies: String::new(),
        }
    }
}

impl UpgradeFacts {
    /// The facts for the stored model (absent on a fresh application).
    pub fn for_stored(stored: Option<&str>) -> UpgradeFacts {
        UpgradeFacts {
            compatible: compatible(stored),
            compiled_dependencies: compiled_dependencies(),
        }
    }
}

/// The dependency model compiled into this charm, as stored in the app bag.
pub fn compiled_dependencies() -> String {
    deps::charm_dependencies().to_json()
}

/// Whether the stored model (absent on a fresh application) allows upgrading to this one.
pub fn compatible(stored: Option<&str>) -> Result<(), DepsError> {
    match stored {
        None => Ok(()),
        Some(json) => deps::check_stored_dependencies(Some(json), &deps::charm_dependencies()),
    }
}
