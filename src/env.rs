//! The hook's environment, read once into a plain struct.
//!
//! Juju starts the hook process with a fresh environment (no HOME or USER); these are the
//! variables the charm uses (see Juju's "hook execution environment" in its documentation).

/// What Juju told this process about the hook or action it runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HookEnv {
    /// `JUJU_UNIT_NAME`, e.g. `zookeeper/2`.
    pub unit_name: String,
    /// `JUJU_DISPATCH_PATH`, e.g. `hooks/config-changed`.
    pub dispatch_path: Option<String>,
    /// `argv[0]`.
    pub argv0: String,
    /// `JUJU_RELATION_ID`, e.g. `cluster:0`.
    pub relation_id: Option<String>,
    /// `JUJU_REMOTE_UNIT` (empty values become `None`).
    pub remote_unit: Option<String>,
    /// `JUJU_DEPARTING_UNIT`, only in `-relation-departed`.
    pub departing_unit: Option<String>,
    /// `JUJU_CHARM_DIR`.
    pub charm_dir: Option<String>,
    /// `JUJU_VERSION`.
    pub juju_version: Option<String>,
    /// `JUJU_SECRET_ID`, in the secret hooks.
    pub secret_id: Option<String>,
    /// `JUJU_SECRET_REVISION`, in `secret-remove` and `secret-expired`.
    pub secret_revision: Option<String>,
    /// `JUJU_STORAGE_LOCATION`, in storage hooks: where the storage is mounted.
    pub storage_location: Option<String>,
    /// `JUJU_MODEL_NAME`.
    pub model_name: String,
    /// `JUJU_MODEL_UUID`.
    pub model_uuid: String,
}

impl HookEnv {
    /// Reads the variables through `get` (`std::env::var` in production).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>, argv0: &str) -> HookEnv {
        let non_empty = |k: &str| get(k).filter(|v| !v.is_empty());
        HookEnv {
            unit_name: get("JUJU_UNIT_NAME").unwrap_or_default(),
            dispatch_path: non_empty("JUJU_DISPATCH_PATH"),
            argv0: argv0.to_string(),
            relation_id: non_empty("JUJU_RELATION_ID"),
            remote_unit: non_empty("JUJU_REMOTE_UNIT"),
            departing_unit: non_empty("JUJU_DEPARTING_UNIT"),
            charm_dir: non_empty("JUJU_CHARM_DIR"),
            juju_version: non_empty("JUJU_VERSION"),
            secret_id: non_empty("JUJU_SECRET_ID"),
            secret_revision: non_empty("JUJU_SECRET_REVISION"),
            storage_location: non_empty("JUJU_STORAGE_LOCATION"),
            model_name: get("JUJU_MODEL_NAME").unwrap_or_default(),
            model_uuid: get("JUJU_MODEL_UUID").unwrap_or_default(),
        }
    }

    /// The application name (`zookeeper` of `zookeeper/2`).
    pub fn app_name(&self) -> &str {
        self.unit_name.split('/').next().unwrap_or("")
    }

    /// The unit number (`2` of `zookeeper/2`).
    pub fn unit_id(&self) -> Option<u32> {
        unit_number(&self.unit_name)
    }
}

/// The number of a unit name (`zookeeper/10` -> 10). Unit ids are compared as numbers,
/// never as text (`relation-list` sorts `zookeeper/10` before `zookeeper/2`).
pub fn unit_number(unit_name: &str) -> Option<u32> {
    unit_name.rsplit_once('/').and_then(|(_, n)| n.parse().ok())
}
