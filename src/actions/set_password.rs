//! `set-password` (leader): changes an internal user's password. `super` changes at once
//! (units restart one at a time with the new digest); `sync`, which servers authenticate
//! each other with, rotates in three rolling phases ([`crate::passwords`]).

use serde::Deserialize;

use super::ActionOutcome;
use crate::passwords::{self, RandomError};
use crate::peers::cluster::AppPatch;
use crate::peers::upgrade::Stack;
use crate::snapshot::Snapshot;

/// The action's parameters (`actions.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Params {
    /// `super` (the default) or `sync`.
    #[serde(default = "default_username")]
    pub username: String,
    /// The new password; a random one when absent or empty.
    #[serde(default)]
    pub password: Option<String>,
}

fn default_username() -> String {
    "super".into()
}

/// Checks the request against the snapshot and returns the app-bag write.
///
/// # Errors
/// When a password must be generated and the operating system has no random bytes.
pub fn run(params: &Params, s: &Snapshot) -> Result<ActionOutcome, RandomError> {
    let app_name = &s.app_name;
    if !s.leader {
        return Ok(ActionOutcome::fail(format!(
            "set-password must run on the leader unit: `juju run {app_name}/leader set-password ...`"
        )));
    }
    let sync = match params.username.as_str() {
        "super" => false,
        "sync" => true,
        other => {
            return Ok(ActionOutcome::fail(format!(
                "set-password changes only the charm's internal users `super` and `sync`, not {other:?}"
            )))
        }
    };
    let Some(cluster) = &s.cluster else {
        return Ok(ActionOutcome::fail(
            "the cluster peer relation does not exist yet; try again once the units are deployed",
        ));
    };
    if let Some(stack) = s.upgrade.as_ref().map(|u| &u.app.stack) {
        let shown = match stack {
            Stack::Empty => None,
            Stack::Units(ids) => Some(Stack::json(ids)),
            Stack::Invalid(_) => Some("unreadable".to_string()),
        };
        if let Some(shown) = shown {
            return Ok(ActionOutcome::fail(format!(
                "cannot change a password while an upgrade is prepared or running (upgrade-stack {shown}); finish or roll back the upgrade first"
            )));
        }
    }
    let new =
        match params.password.as_deref().filter(|p| !p.is_empty()) {
            Some(p) if passwords::acceptable(p) => p.to_string(),
            Some(_) => return Ok(ActionOutcome::fail(
                "the password must be 1 to 256 printable ASCII characters without spaces or quotes",
            )),
            None => passwords::generate()?,
        };
    let app = &cluster.app;
    if sync && passwords::rotation(app).is_some() {
        return Ok(ActionOutcome::fail(
            "a sync password rotation is already in progress; wait until every unit is active",
        ));
    }
    let (key, current) = if sync {
        ("sync-password", &app.sync_password)
    } else {
        ("super-password", &app.super_password)
    };
    let mut outcome = ActionOutcome::results([(key, new.clone())]);
    // Start the roll now (the leader may get no hook for its own app-bag write).
    outcome.then_reconcile = true;
    if current.as_deref() == Some(new.as_str()) {
        log::info!(
            "the new {} password equals the current one: nothing to do",
            params.username
        );
    } else if sync {
        // Servers authenticate each other with it: rotate in three rolling phases.
        outcome.plan.cluster_app = passwords::start_rotation(new);
        log::info!(
            "sync password rotation started: every unit restarts three times, one unit at a time"
        );
    } else {
        outcome.plan.cluster_app = AppPatch {
            super_password: Some(new),
            ..AppPatch::default()
        };
        log::info!("the super password was changed; units restart one at a time");
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_take_the_defaults_and_refuse_unknown_keys() {
        let p: Params = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(
            p,
            Params {
                username: "super".into(),
                password: None
            }
        );
        let p: Params =
            serde_json::from_value(serde_json::json!({"username": "sync", "password": "x"}))
                .unwrap();
        assert_eq!(p.username, "sync");
        assert!(serde_json::from_value::<Params>(serde_json::json!({"user": "sync"})).is_err());
    }
}
