//! The dependency model compiled into the charm, and the upgrade compatibility check, in
//! the upgrade lib's language ([`version`]: PEP 440 versions and Poetry constraints).
//!
//! Pure and self-contained (it knows nothing of the charm's other types), so that every
//! layer may ask it: the snapshot carries its answer, the upgrade decision acts on it.
//!
//! The upgrade lib stores the charm's dependency model as JSON in the `upgrade` relation's
//! app data (`dependencies`): the leader writes it on relation-created and again when an
//! upgrade has finished, so it describes the revision that is currently deployed. Before a
//! refresh restarts anything, the new revision checks that every deployed (stored) version
//! satisfies its own `upgrade_supported` ([`can_upgrade`]).
//!
//! The JSON shape is the lib's: an object of labels, each a [`DependencyModel`] whose keys
//! come in the lib's field order (`dependencies, name, upgrade_supported, version`). The
//! Python ZooKeeper charm stores only the `service` label; this charm adds `charm`.
//!
//! Missing data, decided here once:
//! * no stored model at all (no leader when the relation was created, or a blank value):
//!   there is nothing to compare against, so the check passes, as the lib's v1 does
//!   ([`check_stored_dependencies`] returns `Ok`; the caller should log it);
//! * a label of the new model that the stored model lacks (e.g. `charm` after a refresh from
//!   the Python charm): nothing to check for that label;
//! * stored JSON that does not parse as a dependency model: an error that says so
//!   ([`DepsError::StoredJson`]); the upgrade is refused rather than guessed at.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod version;

use version::{Constraint, ConstraintError, Version, VersionError as InvalidVersion};

/// The ZooKeeper version this charm revision installs on machines (the pinned
/// `charmed-zookeeper` snap revision 40 ships 3.9.2), and the `version` of the `service`
/// label. Pinning another snap revision must change this one constant; the test below
/// re-validates the model. The local backend (Debian's 3.8.0 jars) is a development
/// stand-in and does not change what the charm records.
pub const ZOOKEEPER_VERSION: &str = "3.9.2";

/// The ZooKeeper versions this revision can upgrade in place from (the Python charm's value).
pub const ZOOKEEPER_UPGRADE_SUPPORTED: &str = "^3.5";

/// The charm versions this revision can be refreshed from. `ZK_CHARM_UPGRADE_SUPPORTED` at
/// build time overrides it (with `ZK_CHARM_VERSION`), so the tests can build a revision
/// that refuses to upgrade from the deployed one.
pub const CHARM_UPGRADE_SUPPORTED: &str = match option_env!("ZK_CHARM_UPGRADE_SUPPORTED") {
    Some(c) => c,
    None => ">=0.1",
};

/// The charm's own version in the model (the crate version unless `ZK_CHARM_VERSION` is set
/// at build time).
pub const CHARM_VERSION: &str = match option_env!("ZK_CHARM_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

/// The label of the ZooKeeper workload in the model.
pub const SERVICE_LABEL: &str = "service";

/// The label of the charm itself in the model.
pub const CHARM_LABEL: &str = "charm";

/// One package's versioning facts (the lib's `DependencyModel`).
///
/// Field order is the serialisation order and matches the lib's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyModel {
    /// Related application name -> version constraint this package works with. Only checked
    /// to parse, as the lib does.
    pub dependencies: BTreeMap<String, String>,
    /// The package's name.
    pub name: String,
    /// Constraint the currently deployed (old) version must satisfy to upgrade to this one.
    pub upgrade_supported: String,
    /// This package's version (PEP 440).
    pub version: String,
}

/// A dependency model failed validation, or a stored model could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepsError {
    #[error("invalid dependencies constraint for {dependency} in {name}: {error}")]
    Dependency {
        name: String,
        dependency: String,
        error: ConstraintError,
    },
    #[error("invalid upgrade_supported for {name}: {error}")]
    UpgradeSupported {
        name: String,
        error: ConstraintError,
    },
    #[error("invalid version value for {name}: {error}")]
    Version { name: String, error: InvalidVersion },
    #[error("upgrade_supported value {upgrade_supported} greater than version value {version} for {name}.")]
    VersionBelowSupported {
        name: String,
        upgrade_supported: String,
        version: String,
    },
    #[error("the stored upgrade `dependencies` is not a valid dependency model: {0}")]
    StoredJson(String),
    #[error(transparent)]
    Incompatible(#[from] VersionError),
}

/// The deployed versions cannot be upgraded to this revision (the lib's `VersionError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}. {cause}. {resolution}")]
pub struct VersionError {
    /// `Versions incompatible, <label> <old> can not be upgraded to <new>[, ...]`
    pub message: String,
    /// `Upgrades only supported for specific versions, <label> versions satisfying
    /// requirement <upgrade_supported>[, ...]`
    pub cause: String,
    /// What the operator can do.
    pub resolution: String,
}

impl DependencyModel {
    /// The lib's validators: every `dependencies` value and `upgrade_supported` parse as
    /// constraints, `version` parses, and `version` satisfies its own `upgrade_supported`.
    pub fn validate(&self) -> Result<(), DepsError> {
        for (dependency, constraint) in &self.dependencies {
            Constraint::parse(constraint).map_err(|error| DepsError::Dependency {
                name: self.name.clone(),
                dependency: dependency.clone(),
                error,
            })?;
        }
        let supported = Constraint::parse(&self.upgrade_supported).map_err(|error| {
            DepsError::UpgradeSupported {
                name: self.name.clone(),
                error,
            }
        })?;
        let version = Version::parse(&self.version).map_err(|error| DepsError::Version {
            name: self.name.clone(),
            error,
        })?;
        if !supported.allows(&version) {
            return Err(DepsError::VersionBelowSupported {
                name: self.name.clone(),
                upgrade_supported: self.upgrade_supported.clone(),
                version: self.version.clone(),
            });
        }
        Ok(())
    }

    /// The lib's `can_upgrade`, called as `old.can_upgrade(new)`: whether this (deployed)
    /// version satisfies `new.upgrade_supported`. A version or constraint that does not
    /// parse is an error naming it.
    pub fn can_upgrade(&self, new: &DependencyModel) -> Result<bool, version::RequirementError> {
        version::verify_requirement(&self.version, &new.upgrade_supported)
    }
}

/// A whole model: labels (`service`, `charm`) to [`DependencyModel`]s. Serialises as one
/// JSON object, labels in alphabetical order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DependencyModelSet(pub BTreeMap<String, DependencyModel>);

impl DependencyModelSet {
    /// The model for `label`, if present.
    pub fn get(&self, label: &str) -> Option<&DependencyModel> {
        self.0.get(label)
    }

    /// Validates every label's model.
    pub fn validate(&self) -> Result<(), DepsError> {
        self.0.values().try_for_each(DependencyModel::validate)
    }

    /// Compact JSON, inner keys in the lib's field order.
    pub fn to_json(&self) -> String {
        // A map of strings to structs of strings and string maps always serialises.
        serde_json::to_string(self).expect("a dependency model always serialises to JSON")
    }

    /// Reads a stored model (the app-data `dependencies` value). Only the shape is checked:
    /// the versions are judged by [`can_upgrade`].
    pub fn from_json(json: &str) -> Result<DependencyModelSet, DepsError> {
        serde_json::from_str(json).map_err(|e| DepsError::StoredJson(e.to_string()))
    }
}

/// The model compiled into this charm revision: `service` (ZooKeeper) and `charm`.
pub fn charm_dependencies() -> DependencyModelSet {
    let model = |name: &str, upgrade_supported: &str, version: &str| DependencyModel {
        dependencies: BTreeMap::new(),
        name: name.to_string(),
        upgrade_supported: upgrade_supported.to_string(),
        version: version.to_string(),
    };
    DependencyModelSet(BTreeMap::from([
        (
            SERVICE_LABEL.to_string(),
            model("zookeeper", ZOOKEEPER_UPGRADE_SUPPORTED, ZOOKEEPER_VERSION),
        ),
        (
            CHARM_LABEL.to_string(),
            model("zookeeper-charm", CHARM_UPGRADE_SUPPORTED, CHARM_VERSION),
        ),
    ]))
}

/// The lib's `_upgrade_supported_check`: for every label of the `new` model that the
/// stored (deployed) model also has, the stored version must satisfy the new
/// `upgrade_supported`. Every incompatible label is collected into one error. A stored
/// version or new constraint that does not parse counts as incompatible (with the reason
/// in the cause). Labels missing from the stored model are not checked.
pub fn can_upgrade(
    old_stored: &DependencyModelSet,
    new: &DependencyModelSet,
) -> Result<(), VersionError> {
    let mut messages = Vec::new();
    let mut causes = Vec::new();
    for (label, new_model) in &new.0 {
        let Some(old_model) = old_stored.get(label) else {
            continue;
        };
        let problem = match old_model.can_upgrade(new_model) {
            Ok(true) => continue,
            Ok(false) => None,
            Err(e) => Some(e.to_string()),
        };
        messages.push(format!(
            "{label} {} can not be upgraded to {}",
            old_model.version, new_model.version
        ));
        let mut cause = format!(
            "{label} versions satisfying requirement {}",
            new_model.upgrade_supported
        );
        if let Some(problem) = problem {
            cause.push_str(&format!(" ({problem})"));
        }
        causes.push(cause);
    }
    if messages.is_empty() {
        return Ok(());
    }
    Err(VersionError {
        message: format!("Versions incompatible, {}", messages.join(", ")),
        cause: format!(
            "Upgrades only supported for specific versions, {}",
            causes.join(", ")
        ),
        resolution: "Refresh back to the previous revision, or to a revision whose \
                     upgrade_supported covers the deployed versions"
            .to_string(),
    })
}

/// The model compiled into this charm revision, as the JSON the `upgrade` app bag stores.
pub fn compiled_dependencies() -> String {
    charm_dependencies().to_json()
}

/// Whether the stored model (absent on a fresh application) allows upgrading to the one
/// compiled into this charm.
///
/// # Errors
/// As [`check_stored_dependencies`].
pub fn compatible(stored: Option<&str>) -> Result<(), DepsError> {
    check_stored_dependencies(stored, &charm_dependencies())
}

/// [`can_upgrade`] against the raw app-data value: `None` or a blank value means no stored
/// model (nothing to check); JSON that is not a model is [`DepsError::StoredJson`].
pub fn check_stored_dependencies(
    stored: Option<&str>,
    new: &DependencyModelSet,
) -> Result<(), DepsError> {
    let Some(stored) = stored.filter(|s| !s.trim().is_empty()) else {
        return Ok(());
    };
    let old = DependencyModelSet::from_json(stored)?;
    can_upgrade(&old, new)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the Python charm stores (ZooKeeper snap revision 40).
    const PYTHON_STORED: &str = r#"{"service": {"dependencies": {}, "name": "zookeeper", "upgrade_supported": "^3.5", "version": "3.9.2"}}"#;

    fn model(upgrade_supported: &str, version: &str) -> DependencyModel {
        DependencyModel {
            dependencies: BTreeMap::new(),
            name: "zookeeper".into(),
            upgrade_supported: upgrade_supported.into(),
            version: version.into(),
        }
    }

    fn set(entries: &[(&str, DependencyModel)]) -> DependencyModelSet {
        DependencyModelSet(
            entries
                .iter()
                .map(|(label, m)| (label.to_string(), m.clone()))
                .collect(),
        )
    }

    #[test]
    fn the_compiled_in_model_is_valid() {
        let deps = charm_dependencies();
        deps.validate().unwrap();
        let service = deps.get(SERVICE_LABEL).unwrap();
        assert_eq!(service.name, "zookeeper");
        assert_eq!(service.version, ZOOKEEPER_VERSION);
        assert_eq!(service.upgrade_supported, "^3.5");
        let charm = deps.get(CHARM_LABEL).unwrap();
        assert_eq!(charm.name, "zookeeper-charm");
        assert_eq!(charm.version, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn a_model_serialises_in_the_libs_field_order() {
        let json = charm_dependencies().to_json();
        let expected_service = format!(
            r#""service":{{"dependencies":{{}},"name":"zookeeper","upgrade_supported":"^3.5","version":"{ZOOKEEPER_VERSION}"}}"#
        );
        assert!(json.contains(&expected_service), "{json}");
        assert!(
            json.starts_with(r#"{"charm":{"dependencies":{},"name":"zookeeper-charm","#),
            "{json}"
        );
        assert_eq!(
            DependencyModelSet::from_json(&json).unwrap(),
            charm_dependencies()
        );
    }

    #[test]
    fn the_python_charms_stored_model_parses_without_a_charm_label() {
        let stored = DependencyModelSet::from_json(PYTHON_STORED).unwrap();
        assert_eq!(stored.get(SERVICE_LABEL).unwrap().version, "3.9.2");
        assert!(stored.get(CHARM_LABEL).is_none());
        stored.validate().unwrap();
        // Refreshing from it: 3.9.2 satisfies ^3.5, and `charm` has nothing to check.
        can_upgrade(&stored, &charm_dependencies()).unwrap();
        check_stored_dependencies(Some(PYTHON_STORED), &charm_dependencies()).unwrap();
    }

    #[test]
    fn validation_rejects_a_version_outside_its_own_upgrade_supported() {
        let e = model(">5", "4").validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "upgrade_supported value >5 greater than version value 4 for zookeeper."
        );
        let e = model("1.3", "7").validate().unwrap_err();
        assert!(matches!(e, DepsError::VersionBelowSupported { .. }), "{e}");
        model("^3.5", "3.5.0").validate().unwrap();
    }

    #[test]
    fn validation_rejects_unparsable_constraints_and_versions() {
        for bad in ["", "saruman", ">=a"] {
            let e = model(bad, "3.8.0").validate().unwrap_err();
            assert!(matches!(e, DepsError::UpgradeSupported { .. }), "{e}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
        let mut m = model("^3.5", "3.8.0");
        m.dependencies.insert("kafka".into(), "saruman".into());
        let e = m.validate().unwrap_err();
        assert!(
            matches!(e, DepsError::Dependency { ref dependency, .. } if dependency == "kafka"),
            "{e}"
        );
        m.dependencies.insert("kafka".into(), ">5".into());
        m.validate().unwrap();
        let e = model("^3.5", "3.8.4-ubuntu0").validate().unwrap_err();
        assert!(matches!(e, DepsError::Version { .. }), "{e}");
    }

    #[test]
    fn an_incompatible_old_version_is_refused_with_the_libs_message() {
        let old = set(&[(SERVICE_LABEL, model("^3.4", "3.4.14"))]);
        let new = set(&[(SERVICE_LABEL, model("^3.5", "3.8.0"))]);
        let e = can_upgrade(&old, &new).unwrap_err();
        assert_eq!(
            e.message,
            "Versions incompatible, service 3.4.14 can not be upgraded to 3.8.0"
        );
        assert_eq!(
            e.cause,
            "Upgrades only supported for specific versions, service versions satisfying requirement ^3.5"
        );
    }

    #[test]
    fn every_incompatible_label_is_collected() {
        let mut charm_old = model(">=0.1", "0.0.5");
        charm_old.name = "zookeeper-charm".into();
        let old = set(&[
            (SERVICE_LABEL, model("^2", "2.9.0")),
            (CHARM_LABEL, charm_old),
        ]);
        let e = can_upgrade(&old, &charm_dependencies()).unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "Versions incompatible, charm 0.0.5 can not be upgraded to {}, service 2.9.0 can not be upgraded to {ZOOKEEPER_VERSION}",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(
            e.cause,
            "Upgrades only supported for specific versions, charm versions satisfying requirement >=0.1, service versions satisfying requirement ^3.5"
        );
    }

    #[test]
    fn a_compatible_label_is_not_reported_next_to_an_incompatible_one() {
        let old = set(&[
            (SERVICE_LABEL, model("^3.5", "3.9.2")),
            (CHARM_LABEL, model(">=0.0", "0.0.1")),
        ]);
        let e = can_upgrade(&old, &charm_dependencies()).unwrap_err();
        assert!(e.message.contains("charm 0.0.1"), "{}", e.message);
        assert!(!e.message.contains("service"), "{}", e.message);
    }

    #[test]
    fn a_label_missing_from_the_stored_model_has_nothing_to_check() {
        let old = set(&[(SERVICE_LABEL, model("^3.5", "3.6.0"))]);
        let new = set(&[
            (SERVICE_LABEL, model("^3.5", "3.8.0")),
            ("extra", model(">=9", "9.0")),
        ]);
        can_upgrade(&old, &new).unwrap();
        // Labels only the stored model has are not checked either.
        let old = set(&[("gone", model("*", "0.1"))]);
        can_upgrade(&old, &new).unwrap();
    }

    #[test]
    fn a_stored_version_that_does_not_parse_is_refused_and_explained() {
        let old = set(&[(SERVICE_LABEL, model("*", "3.8.4-ubuntu0"))]);
        let e = can_upgrade(&old, &charm_dependencies()).unwrap_err();
        assert!(
            e.message
                .contains("service 3.8.4-ubuntu0 can not be upgraded"),
            "{}",
            e.message
        );
        assert!(
            e.cause.contains("invalid version \"3.8.4-ubuntu0\""),
            "{}",
            e.cause
        );
    }

    #[test]
    fn a_missing_stored_model_passes_and_unparsable_json_is_an_error_that_says_so() {
        let new = charm_dependencies();
        check_stored_dependencies(None, &new).unwrap();
        check_stored_dependencies(Some("  "), &new).unwrap();
        for bad in ["{not json", "[]", r#"{"service": {"name": "zookeeper"}}"#] {
            let e = check_stored_dependencies(Some(bad), &new).unwrap_err();
            assert!(matches!(e, DepsError::StoredJson(_)), "{e}");
            assert!(
                e.to_string().contains("not a valid dependency model"),
                "{e}"
            );
        }
        let old = r#"{"service": {"dependencies": {}, "name": "zookeeper", "upgrade_supported": "^3.0", "version": "3.4.0"}}"#;
        let e = check_stored_dependencies(Some(old), &new).unwrap_err();
        assert!(matches!(e, DepsError::Incompatible(_)), "{e}");
    }
}
