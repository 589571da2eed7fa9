//! The internal users' passwords: generating them, checking the ones operators give, which
//! ones the servers use now, and the rolling rotation of the `sync` password.
//!
//! The leader shares the passwords in the `cluster` app bag ([`crate::peers::cluster`]);
//! `super` authenticates the charm's reconfigs, `sync` the servers to each other. A `sync`
//! rotation moves through [`SyncRotation`]'s three phases, one rolling restart each.

use rand::distr::{Alphanumeric, Distribution};
use rand::rngs::{OsRng, StdRng};
use rand::{SeedableRng, TryRngCore};

use crate::peers::cluster::{App, AppPatch, SyncRotation};

/// Length of generated passwords.
pub const LENGTH: usize = 32;

/// The operating system could not seed the password generator.
#[derive(Debug, thiserror::Error)]
#[error("cannot generate a password: the operating system's random source failed")]
pub struct RandomError(#[source] rand::rand_core::OsError);

/// A new random password: [`LENGTH`] symbols drawn uniformly from `A-Z`, `a-z` and `0-9`
/// by a ChaCha generator seeded from the operating system (`getrandom(2)`).
///
/// # Errors
/// When the operating system cannot provide random bytes.
pub fn generate() -> Result<String, RandomError> {
    let mut seed = <StdRng as SeedableRng>::Seed::default();
    OsRng.try_fill_bytes(&mut seed).map_err(RandomError)?;
    let mut rng = StdRng::from_seed(seed);
    Ok(Alphanumeric
        .sample_iter(&mut rng)
        .take(LENGTH)
        .map(char::from)
        .collect())
}

/// Whether an operator-given password can be used: it ends up inside a quoted JAAS value
/// and a `key=value` config line, so quotes, backslashes, white space and control
/// characters are refused.
pub fn acceptable(password: &str) -> bool {
    !password.is_empty()
        && password.len() <= 256
        && password
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' && c != '\'')
}

/// The internal users' passwords, as the servers use them now.
#[derive(Clone, PartialEq, Eq)]
pub struct Passwords {
    pub super_password: String,
    /// The quorum user (name, password) this server logs in with to its peers: `sync` and
    /// the `sync` password outside a rotation.
    pub sync_login: (String, String),
    /// The quorum users (name, password) this server accepts: the login user, plus the
    /// other one in the middle of a `sync` password rotation.
    pub sync_accepted: Vec<(String, String)>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passwords(<redacted>)")
    }
}

/// The `sync` rotation in progress, if any (a phase without the new password is none).
pub fn rotation(app: &App) -> Option<SyncRotation> {
    app.sync_password_new.as_ref()?;
    app.sync_rotation
}

/// The passwords the servers should run with now, once the leader has shared both.
pub fn in_effect(app: &App) -> Option<Passwords> {
    let current = (app.sync_user.name().to_string(), app.sync_password.clone()?);
    let (login, accepted) = match rotation(app) {
        None => (current.clone(), vec![current]),
        Some(phase) => {
            let next = (
                app.sync_user.other().name().to_string(),
                app.sync_password_new.clone()?,
            );
            match phase {
                SyncRotation::Relax => (current.clone(), vec![current, next]),
                SyncRotation::Switch => (next.clone(), vec![current, next]),
                SyncRotation::Enforce => (next.clone(), vec![next]),
            }
        }
    };
    Some(Passwords {
        super_password: app.super_password.clone()?,
        sync_login: login,
        sync_accepted: accepted,
    })
}

/// The passwords the leader shares first: a new one for each that is missing.
///
/// # Errors
/// When the operating system cannot provide random bytes.
pub fn first_passwords(app: &App) -> Result<AppPatch, RandomError> {
    let mut patch = AppPatch::default();
    if app.super_password.is_none() {
        patch.super_password = Some(generate()?);
    }
    if app.sync_password.is_none() {
        patch.sync_password = Some(generate()?);
    }
    Ok(patch)
}

/// Starts a `sync` rotation to `new`: the first phase, with the new password.
pub fn start_rotation(new: String) -> AppPatch {
    AppPatch {
        sync_password_new: Some(Some(new)),
        sync_rotation: Some(Some(SyncRotation::Relax)),
        ..AppPatch::default()
    }
}

/// The leader's step once every unit runs with `phase`: the next phase, or after the last
/// one the new password becomes the current one under the other user name.
pub fn advance_rotation(app: &App, phase: SyncRotation) -> AppPatch {
    match phase.next() {
        Some(next) => AppPatch {
            sync_rotation: Some(Some(next)),
            ..AppPatch::default()
        },
        None => AppPatch {
            sync_password: Some(app.sync_password_new.clone().unwrap_or_default()),
            sync_user: Some(app.sync_user.other()),
            sync_password_new: Some(None),
            sync_rotation: Some(None),
            ..AppPatch::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_32_letters_and_digits_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn given_passwords_with_quotes_or_spaces_are_refused() {
        assert!(acceptable("Abc123-_.!"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable("quote\"d"));
        assert!(!acceptable("back\\slash"));
        assert!(!acceptable("line\nbreak"));
    }
}
