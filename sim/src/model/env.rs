//! A hook's process: the handler the uniter runs and exactly the environment it gets.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{JUJU_VERSION, SYSTEM_PATH};
use crate::machine::Mount;
use crate::snap::MACHINE_ENV;
use crate::state::{HookSpec, ModelState};
use crate::tools::STATE_DIR_ENV;

/// The process to run: `dispatch` if executable, else `hooks/<hook>` / `actions/<action>`;
/// Ok(None) for a missing hook (skipped as success); Err for a missing action, a charm
/// without `metadata.yaml`, or a handler that is not executable.
pub(super) fn find_handler(
    charm_dir: &Path,
    hook: Option<&str>,
    action: Option<&str>,
    unit: &str,
) -> Result<Option<PathBuf>, String> {
    if !charm_dir.join("metadata.yaml").is_file() {
        return Err("charm missing from disk".into());
    }
    let executable = |p: &Path| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let dispatch = charm_dir.join("dispatch");
    if executable(&dispatch) {
        return Ok(Some(dispatch));
    }
    let handler = match (hook, action) {
        (Some(h), _) => charm_dir.join("hooks").join(h),
        (None, Some(a)) => charm_dir.join("actions").join(a),
        (None, None) => return Ok(None),
    };
    if executable(&handler) {
        Ok(Some(handler))
    } else if handler.exists() {
        Err(format!("{} is not executable", handler.display()))
    } else if action.is_some() {
        Err(format!("action not implemented on unit {unit:?}"))
    } else {
        Ok(None)
    }
}

/// Exactly the variables the uniter sets, plus the sim's own two: the model directory (for
/// the hook tools) and the unit's machine directory (for `snap`).
pub(super) fn hook_env(
    st: &ModelState,
    model_dir: &Path,
    unit: &str,
    ctx_id: &str,
    hook: Option<&HookSpec>,
    action: Option<u64>,
) -> Vec<(String, String)> {
    let u = &st.units[unit];
    let charm_dir = u.charm_dir().to_string_lossy().into_owned();
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| env.push((k.to_string(), v));
    match (hook, action) {
        (Some(h), _) => {
            set("JUJU_DISPATCH_PATH", format!("hooks/{}", h.name));
            set("JUJU_HOOK_NAME", h.name.clone());
        }
        (None, Some(id)) => {
            let a = &st.actions[&id];
            set("JUJU_DISPATCH_PATH", format!("actions/{}", a.name));
            set("JUJU_HOOK_NAME", String::new());
            set("JUJU_ACTION_NAME", a.name.clone());
            set("JUJU_ACTION_UUID", id.to_string());
            set("JUJU_ACTION_TAG", format!("action-{id}"));
        }
        (None, None) => {}
    }
    set("JUJU_UNIT_NAME", unit.to_string());
    set("JUJU_MODEL_NAME", st.model_name.clone());
    set("JUJU_MODEL_UUID", st.model_uuid.clone());
    set("JUJU_CHARM_DIR", charm_dir.clone());
    set("CHARM_DIR", charm_dir);
    set("JUJU_VERSION", JUJU_VERSION.to_string());
    set("JUJU_CONTEXT_ID", ctx_id.to_string());
    set(
        "JUJU_PRINCIPAL_UNIT",
        u.principal.clone().unwrap_or_default(),
    );
    if let Some(h) = hook.filter(|h| h.kind.is_relation()) {
        let remote_app = h
            .relation_id
            .and_then(|id| st.relations.get(&id))
            .map(|r| r.remote_app(&u.app))
            .unwrap_or_else(|| u.app.clone());
        set("JUJU_RELATION", h.endpoint.clone().unwrap_or_default());
        set(
            "JUJU_RELATION_ID",
            format!(
                "{}:{}",
                h.endpoint.clone().unwrap_or_default(),
                h.relation_id.unwrap_or_default()
            ),
        );
        set("JUJU_REMOTE_APP", remote_app);
        set(
            "JUJU_REMOTE_UNIT",
            h.remote_unit.clone().unwrap_or_default(),
        );
        if let Some(d) = &h.departing_unit {
            set("JUJU_DEPARTING_UNIT", d.clone());
        }
    }
    if let Some((h, id)) = hook.and_then(|h| h.secret.as_ref().map(|id| (h, id))) {
        // The label this unit knows the secret by: its consumer label, or the owner's.
        let label = st.secrets.get(id).and_then(|s| {
            s.consumers
                .get(unit)
                .and_then(|c| c.label.clone())
                .or_else(|| s.owned_by(unit, &u.app).then(|| s.label.clone()).flatten())
        });
        set("JUJU_SECRET_ID", format!("secret:{id}"));
        set("JUJU_SECRET_LABEL", label.unwrap_or_default());
        if let Some(r) = h.secret_revision {
            set("JUJU_SECRET_REVISION", r.to_string());
        }
    }
    if let Some(storage) = hook
        .and_then(|h| h.storage_id.as_ref())
        .and_then(|id| st.storage.get(id))
    {
        set("JUJU_STORAGE_ID", storage.id.clone());
        set("JUJU_STORAGE_KIND", storage.kind.clone());
        set(
            "JUJU_STORAGE_LOCATION",
            storage.location.to_string_lossy().into_owned(),
        );
    }
    set(
        "PATH",
        format!(
            "{}:{SYSTEM_PATH}",
            model_dir.join("tools").to_string_lossy()
        ),
    );
    set("LANG", "C.UTF-8".to_string());
    set(STATE_DIR_ENV, model_dir.to_string_lossy().into_owned());
    set(
        MACHINE_ENV,
        st.machine_of(unit).root().to_string_lossy().into_owned(),
    );
    env
}

/// The bind mounts of `unit`'s namespace: its machine's own paths and the storage attached
/// to any unit on that machine (a subordinate sees its principal's, as on one machine).
pub(super) fn unit_mounts(st: &ModelState, unit: &str) -> Vec<Mount> {
    let storage: Vec<(PathBuf, PathBuf)> = st
        .machine_storage(unit)
        .into_iter()
        .map(|s| (s.dir.clone(), s.location.clone()))
        .collect();
    st.machine_of(unit).mounts(&storage)
}
