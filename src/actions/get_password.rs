//! `get-super-password` and `get-sync-password`: the internal user's password from the
//! `cluster` app bag. Any unit can answer (the bag is readable by every peer).

use super::ActionOutcome;
use crate::peers::cluster::App;

/// Which internal user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    Super,
    Sync,
}

impl User {
    /// The result key of the password actions (as Charmed ZooKeeper's actions return it).
    pub fn result_key(self) -> &'static str {
        match self {
            User::Super => "super-password",
            User::Sync => "sync-password",
        }
    }
}

/// The password, or why there is none yet. `app` is the `cluster` app bag, if the relation
/// exists.
pub fn run(user: User, app: Option<&App>) -> ActionOutcome {
    let password = app.and_then(|a| match user {
        User::Super => a.super_password.clone(),
        User::Sync => a.sync_password.clone(),
    });
    match password {
        Some(pw) => ActionOutcome::results([(user.result_key(), pw)]),
        None => ActionOutcome::fail(
            "the password is not set yet: the leader generates it once the cluster peer relation exists",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_gets_its_own_password_and_none_is_a_failure() {
        let app = App {
            super_password: Some("S".into()),
            sync_password: Some("Y".into()),
            ..App::default()
        };
        assert_eq!(
            run(User::Sync, Some(&app)).result,
            Ok([("sync-password".to_string(), "Y".to_string())].into())
        );
        assert_eq!(
            run(User::Super, Some(&app)).result,
            Ok([("super-password".to_string(), "S".to_string())].into())
        );
        assert!(run(User::Super, None).result.is_err());
        assert!(run(User::Sync, Some(&App::default())).result.is_err());
    }
}
