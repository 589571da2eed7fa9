//! `set-password` (leader): changes an internal user's password. `super` changes at once
//! (units restart one at a time with the new digest); `sync`, which servers authenticate
//! each other with, rotates in three rolling phases ([`crate::passwords`]).

use serde::Deserialize;

use super::get_password::User;
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
        (User::Sync.result_key(), &app.sync_password)
    } else {
        (User::Super.result_key(), &app.super_password)
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

#[cfg(test)]
mod run_tests {
    use super::*;
    use crate::fixtures::*;
    use crate::peers::cluster::SyncRotation;

    fn params(username: &str, password: Option<&str>) -> Params {
        Params {
            username: username.into(),
            password: password.map(str::to_string),
        }
    }

    #[test]
    fn a_new_super_password_is_written_and_returned() {
        let w = healthy3(0).leader();
        let outcome = run(&params("super", Some("Abc-123")), &w.snapshot()).unwrap();
        assert_eq!(
            outcome.plan.cluster_app.super_password.as_deref(),
            Some("Abc-123")
        );
        assert_eq!(outcome.result.unwrap()["super-password"], "Abc-123");
        assert!(outcome.then_reconcile);
    }

    #[test]
    fn a_new_sync_password_starts_a_rotation_and_a_running_one_refuses() {
        let w = healthy3(0).leader();
        let outcome = run(&params("sync", None), &w.snapshot()).unwrap();
        let new = outcome.result.unwrap()["sync-password"].clone();
        assert_eq!(new.len(), crate::passwords::LENGTH);
        assert_eq!(outcome.plan.cluster_app.sync_password_new, Some(Some(new)));
        assert_eq!(
            outcome.plan.cluster_app.sync_rotation,
            Some(Some(SyncRotation::Relax))
        );
        let rotating = w
            .app("sync-password-new", "N")
            .app("sync-rotation", "switch");
        let outcome = run(&params("sync", None), &rotating.snapshot()).unwrap();
        assert!(outcome.result.unwrap_err().contains("already in progress"));
    }

    #[test]
    fn refusals_change_nothing_and_name_the_application() {
        let mut w = healthy3(1);
        w.s.app_name = "zk".into();
        let outcome = run(&params("super", None), &w.snapshot()).unwrap();
        assert_eq!(
            outcome.result.unwrap_err(),
            "set-password must run on the leader unit: `juju run zk/leader set-password ...`"
        );
        let w = healthy3(0).leader();
        for (p, why) in [
            (params("root", None), "not \"root\""),
            (params("super", Some("has space")), "without spaces"),
        ] {
            let outcome = run(&p, &w.snapshot()).unwrap();
            assert!(outcome.result.unwrap_err().contains(why));
            assert!(outcome.plan.is_idle());
        }
    }

    #[test]
    fn no_password_changes_while_an_upgrade_is_prepared_or_its_stack_unreadable() {
        for stack in ["[0,2,1]", "[0, 2"] {
            let w = healthy3(0)
                .leader()
                .with_stack(stack, &[(0, "idle"), (1, "idle"), (2, "idle")]);
            let outcome = run(&params("super", Some("Abc")), &w.snapshot()).unwrap();
            assert!(
                outcome
                    .result
                    .unwrap_err()
                    .contains("while an upgrade is prepared or running"),
                "{stack}"
            );
            assert!(outcome.plan.is_idle());
        }
    }
}
