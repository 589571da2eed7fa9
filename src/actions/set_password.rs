//! `set-password` (leader): changes an internal user's password in the internal secret.
//! `super` changes at once (units restart one at a time with the new `user_super`); `sync`,
//! which servers authenticate each other with, rotates in three rolling phases
//! ([`crate::passwords`]). The password is checked before anything changes. A `sync`
//! rotation still in its first phase (no server logs in with the new password yet) can be
//! superseded by a new `set-password`: a rotation stuck there (a server that cannot start,
//! say) is fixed that way.

use serde::Deserialize;

use super::get_password::User;
use super::ActionOutcome;
use crate::passwords::{self, Password, RandomError};
use crate::peers::cluster::SyncRotation;
use crate::peers::upgrade::Stack;
use crate::plan::SecretWrite;
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

/// Checks the request against the snapshot (with the internal passwords read) and returns
/// the writes: the secret's new content, and the app bag's new generation.
///
/// # Errors
/// When a password must be generated and the operating system has no random bytes.
pub fn run(params: &Params, s: &Snapshot) -> Result<ActionOutcome, RandomError> {
    let app_name = &s.app_name;
    let sync = match params.username.as_str() {
        "super" => false,
        "sync" => true,
        other => {
            return Ok(ActionOutcome::fail(format!(
                "set-password changes only the charm's internal users `super` and `sync`, not {other:?}"
            )))
        }
    };
    // Checked first: a password that breaks the rule is refused wherever it is given.
    let new = match params.password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => match Password::new(p) {
            Ok(p) => p,
            Err(why) => {
                return Ok(ActionOutcome::fail(format!(
                    "the password is refused: {why}; nothing was changed"
                )))
            }
        },
        None => Password::generate()?,
    };
    if !s.leader {
        return Ok(ActionOutcome::fail(format!(
            "set-password must run on the leader unit: `juju run {app_name}/leader set-password ...`"
        )));
    }
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
    // A change rolls a restart through every unit: not while a voter no unit stands
    // behind could turn one restarting unit into a lost majority.
    if let Some(ghost) = s.ghost_voters().into_iter().next() {
        return Ok(ActionOutcome::fail(format!(
            "cannot change a password now: {ghost}, and the units restart one at a time with a new password; {}; nothing was changed",
            ghost.remedy()
        )));
    }
    let app = &cluster.app;
    let (Some(id), Some(creds)) = (&app.internal_secret, s.credentials()) else {
        return Ok(ActionOutcome::fail(match &s.credentials {
            Some(Err(why)) => format!("cannot read the internal passwords: {why}"),
            _ => "the internal passwords are not in their Juju secret yet (the leader puts them there in its next hook); try again in a minute".to_string(),
        }));
    };
    let (key, current) = if sync {
        (User::Sync.result_key(), &creds.sync_password)
    } else {
        (User::Super.result_key(), &creds.super_password)
    };
    let rotating = passwords::rotation(app);
    if sync {
        if let Some(phase) = rotating.filter(|p| *p != SyncRotation::Relax) {
            let ahead: Vec<String> = cluster
                .units
                .iter()
                .filter(|(_, u)| u.sync_phase.is_some_and(|p| p > SyncRotation::Relax))
                .map(|(id, _)| s.unit_name_of(*id))
                .collect();
            return Ok(ActionOutcome::fail(format!(
                "a sync password rotation is in its {} phase: servers ({}) log in with its new password already, so it can only finish; it does once every unit restarted with it (see `juju status`), then run set-password again",
                phase.as_str(),
                if ahead.is_empty() { "some".to_string() } else { ahead.join(", ") }
            )));
        }
    }
    let mut outcome = ActionOutcome::results([(key, new.as_str().to_string())]);
    // Start the roll now (the leader may get no hook for its own app-bag write).
    outcome.then_reconcile = true;
    let unchanged = match (sync, rotating) {
        (true, Some(_)) => creds.sync_password_new.as_ref() == Some(&new),
        _ => current.as_ref() == Some(&new),
    };
    if unchanged {
        log::info!(
            "the new {} password equals the current one: nothing to do",
            params.username
        );
        return Ok(outcome);
    }
    let (patch, content) = if sync {
        if rotating.is_some() {
            log::info!(
                "the sync password rotation in its first phase is superseded by a new password"
            );
        } else {
            log::info!(
                "sync password rotation started: every unit restarts three times, one unit at a time"
            );
        }
        passwords::start_rotation(app, creds, new)
    } else {
        log::info!("the super password was changed; units restart one at a time");
        passwords::change_super(app, creds, new)
    };
    outcome.plan.cluster_app = patch;
    outcome.plan.secret = Some(SecretWrite::Update {
        id: id.clone(),
        content,
    });
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

    fn written(outcome: &ActionOutcome) -> crate::passwords::Credentials {
        match &outcome.plan.secret {
            Some(SecretWrite::Update { id, content }) => {
                assert_eq!(id.as_str(), SECRET_URI);
                content.clone()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_new_super_password_goes_in_the_secret_with_the_next_generation_and_is_returned() {
        let w = healthy3(0).leader();
        let outcome = run(&params("super", Some("Abc-1234")), &w.snapshot()).unwrap();
        assert_eq!(
            written(&outcome).super_password.unwrap().as_str(),
            "Abc-1234"
        );
        assert_eq!(outcome.plan.cluster_app.secret_generation, Some(1));
        assert_eq!(outcome.result.unwrap()["super-password"], "Abc-1234");
        assert!(outcome.then_reconcile);
        // Nothing password-like goes in the bag.
        let bag = outcome.plan.cluster_app.to_bag();
        assert!(!bag.values().any(|v| v.contains("Abc")), "{bag:?}");
    }

    #[test]
    fn a_new_sync_password_starts_a_rotation_that_a_new_one_supersedes_until_it_switches() {
        let w = healthy3(0).leader();
        let outcome = run(&params("sync", None), &w.snapshot()).unwrap();
        let new = outcome.result.clone().unwrap()["sync-password"].clone();
        assert_eq!(new.len(), crate::passwords::LENGTH);
        assert_eq!(written(&outcome).sync_password_new.unwrap().as_str(), new);
        assert_eq!(
            outcome.plan.cluster_app.sync_rotation,
            Some(Some(SyncRotation::Relax))
        );
        // Stuck in its first phase (a server that cannot start): a new password replaces it.
        let relaxing = w
            .clone()
            .secret("sync-password-new", "first-new-pw")
            .app("sync-rotation", "relax")
            .app("secret-generation", "1")
            .cluster_unit(1, "sync-phase", "relax");
        let outcome = run(&params("sync", Some("second-new-pw")), &relaxing.snapshot()).unwrap();
        assert_eq!(
            written(&outcome).sync_password_new.unwrap().as_str(),
            "second-new-pw"
        );
        assert_eq!(outcome.plan.cluster_app.secret_generation, Some(2));
        assert_eq!(
            outcome.plan.cluster_app.sync_rotation,
            Some(Some(SyncRotation::Relax))
        );
        // Once servers log in with the new password, it can only finish.
        let switching =
            relaxing
                .app("sync-rotation", "switch")
                .cluster_unit(1, "sync-phase", "switch");
        let outcome = run(&params("sync", None), &switching.snapshot()).unwrap();
        let err = outcome.result.unwrap_err();
        assert!(
            err.contains("switch phase") && err.contains("zookeeper/1"),
            "{err}"
        );
        assert!(outcome.plan.is_idle());
    }

    #[test]
    fn refusals_change_nothing_and_say_why() {
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
            (
                params("super", Some("has space1")),
                "character 4 is not allowed",
            ),
            (
                params("sync", Some("pa${user.name}ss")),
                "character 3 is not allowed",
            ),
            (params("super", Some("short")), "8 to 128"),
        ] {
            let outcome = run(&p, &w.snapshot()).unwrap();
            let err = outcome.result.unwrap_err();
            assert!(err.contains(why), "{err}");
            assert!(!err.contains("user.name"), "{err}");
            assert!(outcome.plan.is_idle());
        }
        // Without the secret read, or before the leader made it: no change.
        let outcome = run(&params("super", None), &w.clone().not_loaded().snapshot()).unwrap();
        assert!(outcome.result.is_err());
        assert!(outcome.plan.is_idle());
    }

    #[test]
    fn no_password_changes_while_a_voter_has_no_unit_behind_it() {
        let mut w = healthy3(0).leader();
        w.s.ensemble.config.as_mut().unwrap().members.insert(
            10,
            crate::zk::ServerSpec {
                id: 10,
                host: "127.0.0.99".into(),
                role: crate::zk::Role::Participant,
            },
        );
        for user in ["super", "sync"] {
            let outcome = run(&params(user, Some("Abc-1234")), &w.snapshot()).unwrap();
            let err = outcome.result.unwrap_err();
            assert!(
                err.contains("voter server.10 at 127.0.0.99 has no unit behind it")
                    && err.contains("nothing was changed"),
                "{err}"
            );
            assert!(outcome.plan.is_idle());
            assert!(!outcome.then_reconcile);
        }
        // Without it, the same change goes through.
        w.s.ensemble.config.as_mut().unwrap().members.remove(&10);
        let outcome = run(&params("super", Some("Abc-1234")), &w.snapshot()).unwrap();
        assert!(outcome.result.is_ok());
    }

    #[test]
    fn no_password_changes_while_an_upgrade_is_prepared_or_its_stack_unreadable() {
        for stack in ["[0,2,1]", "[0, 2"] {
            let w = healthy3(0)
                .leader()
                .with_stack(stack, &[(0, "idle"), (1, "idle"), (2, "idle")]);
            let outcome = run(&params("super", Some("Abc-1234")), &w.snapshot()).unwrap();
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
