//! `get-super-password` and `get-sync-password`: the internal user's password, read from
//! the internal secret (or, before the leader moved them there, from the bag of an earlier
//! revision). Any unit can answer: every unit of the application reads the secret.

use super::ActionOutcome;
use crate::passwords::Credentials;

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

/// The password, or why there is none. `creds` are the internal passwords, if there are
/// any yet (`Err` says why they cannot be read).
pub fn run(user: User, creds: Option<Result<&Credentials, &str>>) -> ActionOutcome {
    let creds = match creds {
        Some(Ok(c)) => c,
        Some(Err(why)) => {
            return ActionOutcome::fail(format!("cannot read the internal passwords: {why}"))
        }
        None => {
            return ActionOutcome::fail(
                "the password is not set yet: the leader generates it once the cluster peer relation exists",
            )
        }
    };
    let password = match user {
        User::Super => &creds.super_password,
        User::Sync => &creds.sync_password,
    };
    match password {
        Some(pw) => ActionOutcome::results([(user.result_key(), pw.as_str())]),
        None => ActionOutcome::fail(
            "the password is not set yet: the leader generates it once the cluster peer relation exists",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passwords::Password;

    #[test]
    fn each_user_gets_its_own_password_and_none_is_a_failure() {
        let creds = Credentials {
            super_password: Some(Password::new("super-pw-1").unwrap()),
            sync_password: Some(Password::new("sync-pw-01").unwrap()),
            ..Credentials::default()
        };
        assert_eq!(
            run(User::Sync, Some(Ok(&creds))).result,
            Ok([("sync-password".to_string(), "sync-pw-01".to_string())].into())
        );
        assert_eq!(
            run(User::Super, Some(Ok(&creds))).result,
            Ok([("super-password".to_string(), "super-pw-1".to_string())].into())
        );
        assert!(run(User::Super, None).result.is_err());
        assert!(run(User::Sync, Some(Ok(&Credentials::default())))
            .result
            .is_err());
        assert!(run(User::Sync, Some(Err("gone")))
            .result
            .unwrap_err()
            .contains("gone"));
    }
}
