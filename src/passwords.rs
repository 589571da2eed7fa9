//! The internal users' passwords: the one rule every password obeys, generating them, the
//! content of the Juju secret that holds them, which ones the servers use now, and the
//! rolling rotation of the `sync` password.
//!
//! # Where they live
//!
//! In an application-owned Juju secret with Charmed ZooKeeper's label (`cluster.<app>.app`)
//! and keys (`super-password`, `sync-password`; a rotation adds `sync-password-new`; the
//! `zookeeper` relation's client users go in the same secret as `relation-<id>`), whose URI
//! the leader writes in the `cluster` app bag as `internal_secret`
//! ([`crate::peers::cluster`]). The bag holds nothing password-derived: what tells units
//! that the passwords changed is a plain counter, the `secret-generation`, which the leader
//! bumps with every change of a value the servers use. Earlier revisions of this charm kept
//! the passwords in the bag itself; the leader moves them into the secret
//! ([`Credentials::from_legacy`]).
//!
//! # The rule
//!
//! Every password, whether an operator gives it or it is read back from the secret or a bag,
//! is [`MIN_LENGTH`] to [`MAX_LENGTH`] characters from `A-Z a-z 0-9 . _ ~ + @ % ^ -`: safe
//! inside a quoted JAAS value (Java's JAAS parser expands `${...}` and reads `\` and `"`),
//! on a command line and in any config file, with no quoting at all. [`Password`] can only
//! hold such a value.
//!
//! `super` authenticates the charm's admin sessions (SASL DIGEST-MD5), `sync` the servers to
//! each other. A `sync` rotation moves through [`SyncRotation`]'s three phases, one rolling
//! restart each.

use std::collections::BTreeMap;

use rand::distr::{Alphanumeric, Distribution};
use rand::rngs::{OsRng, StdRng};
use rand::{SeedableRng, TryRngCore};

use crate::hooktools::SecretContent;
use crate::peers::cluster::{App, AppPatch, SyncRotation};

/// Length of generated passwords.
pub const LENGTH: usize = 32;
/// The shortest password accepted.
pub const MIN_LENGTH: usize = 8;
/// The longest password accepted.
pub const MAX_LENGTH: usize = 128;
/// The characters a password may have besides ASCII letters and digits.
pub const EXTRA_CHARACTERS: &str = "._~+@%^-";

/// The secret content key of the `super` password (Charmed ZooKeeper's).
pub const SUPER_KEY: &str = "super-password";
/// The secret content key of the `sync` password (Charmed ZooKeeper's).
pub const SYNC_KEY: &str = "sync-password";
/// The secret content key of the `sync` password a rotation brings in.
pub const SYNC_NEW_KEY: &str = "sync-password-new";

/// The operating system could not seed the password generator.
#[derive(Debug, thiserror::Error)]
#[error("cannot generate a password: the operating system's random source failed")]
pub struct RandomError(#[source] rand::rand_core::OsError);

/// Why a value is not a password. Never shows the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPassword {
    #[error("it has {0} characters; a password has {MIN_LENGTH} to {MAX_LENGTH}")]
    Length(usize),
    #[error(
        "character {0} is not allowed; a password has only A-Z, a-z, 0-9 and {EXTRA_CHARACTERS}"
    )]
    Character(usize),
}

/// A password that obeys the rule (see the module docs). Its `Debug` output hides it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// `value` if it obeys the rule.
    ///
    /// # Errors
    /// Its length or its first character that is not allowed (by position, from 1).
    pub fn new(value: &str) -> Result<Password, InvalidPassword> {
        let len = value.chars().count();
        if let Some(i) = value
            .chars()
            .position(|c| !(c.is_ascii_alphanumeric() || EXTRA_CHARACTERS.contains(c)))
        {
            return Err(InvalidPassword::Character(i + 1));
        }
        if !(MIN_LENGTH..=MAX_LENGTH).contains(&len) {
            return Err(InvalidPassword::Length(len));
        }
        Ok(Password(value.to_string()))
    }

    /// A stand-in for a password the hook has not read, named after its user: what the
    /// files look like for the restart fingerprint (see [`shape`]). Never written anywhere.
    pub(crate) fn placeholder(user: &str) -> Password {
        Password(format!("placeholder-{user}"))
    }

    /// A new random password: [`LENGTH`] symbols drawn uniformly from `A-Z`, `a-z` and
    /// `0-9` by a ChaCha generator seeded from the operating system (`getrandom(2)`).
    ///
    /// # Errors
    /// When the operating system cannot provide random bytes.
    pub fn generate() -> Result<Password, RandomError> {
        let mut seed = <StdRng as SeedableRng>::Seed::default();
        OsRng.try_fill_bytes(&mut seed).map_err(RandomError)?;
        let mut rng = StdRng::from_seed(seed);
        Ok(Password(
            Alphanumeric
                .sample_iter(&mut rng)
                .take(LENGTH)
                .map(char::from)
                .collect(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new random password (see [`Password::generate`]), as text.
///
/// # Errors
/// When the operating system cannot provide random bytes.
pub fn generate() -> Result<String, RandomError> {
    Password::generate().map(|p| p.0)
}

/// A stored value that is not a password, by the key it is stored under.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored `{key}` is not a usable password: {reason}")]
pub struct InvalidStored {
    pub key: String,
    #[source]
    pub reason: InvalidPassword,
}

/// The secret content key of the client user of relation `id` (Charmed ZooKeeper's).
pub fn client_key(id: u32) -> String {
    format!("relation-{id}")
}

/// The relation id of a client user's key (`relation-7` -> 7).
fn client_id(key: &str) -> Option<u32> {
    let digits = key.strip_prefix("relation-")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The content of the internal secret, parsed: the internal users' passwords, the client
/// users' (`relation-<id>`, one per `zookeeper` relation, as Charmed ZooKeeper keeps them),
/// and the other keys (Charmed ZooKeeper's S3 credentials) kept as they are.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub super_password: Option<Password>,
    pub sync_password: Option<Password>,
    /// The `sync` password a rotation brings in.
    pub sync_password_new: Option<Password>,
    /// Client users' passwords, by relation id.
    pub clients: BTreeMap<u32, Password>,
    /// Keys this module does not own, untouched.
    pub others: BTreeMap<String, String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("super", &self.super_password.is_some())
            .field("sync", &self.sync_password.is_some())
            .field("sync_new", &self.sync_password_new.is_some())
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .field("others", &self.others.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn stored(key: &str, value: Option<&str>) -> Result<Option<Password>, InvalidStored> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            Password::new(v).map_err(|reason| InvalidStored {
                key: key.to_string(),
                reason,
            })
        })
        .transpose()
}

impl Credentials {
    /// Parses the secret's content, checking every password against the rule.
    ///
    /// # Errors
    /// The first stored password that breaks the rule.
    pub fn from_content(content: &SecretContent) -> Result<Credentials, InvalidStored> {
        let mut others = content.0.clone();
        for k in [SUPER_KEY, SYNC_KEY, SYNC_NEW_KEY] {
            others.remove(k);
        }
        let mut clients = BTreeMap::new();
        for (key, value) in content.0.iter() {
            if let Some(id) = client_id(key) {
                others.remove(key);
                if let Some(p) = stored(key, Some(value))? {
                    clients.insert(id, p);
                }
            }
        }
        Ok(Credentials {
            super_password: stored(SUPER_KEY, content.get(SUPER_KEY))?,
            sync_password: stored(SYNC_KEY, content.get(SYNC_KEY))?,
            sync_password_new: stored(SYNC_NEW_KEY, content.get(SYNC_NEW_KEY))?,
            clients,
            others,
        })
    }

    /// The passwords earlier revisions of this charm kept in the `cluster` app bag.
    ///
    /// # Errors
    /// The first one that breaks the rule.
    pub fn from_legacy(app: &App) -> Result<Credentials, InvalidStored> {
        let mut clients = BTreeMap::new();
        for (id, value) in &app.legacy.clients {
            if let Some(p) = stored(&client_key(*id), Some(value))? {
                clients.insert(*id, p);
            }
        }
        Ok(Credentials {
            super_password: stored(SUPER_KEY, app.legacy.super_password.as_deref())?,
            sync_password: stored(SYNC_KEY, app.legacy.sync_password.as_deref())?,
            sync_password_new: stored(SYNC_NEW_KEY, app.legacy.sync_password_new.as_deref())?,
            clients,
            others: BTreeMap::new(),
        })
    }

    /// The internal secret's `content` completed by the copies `app`'s bag still holds,
    /// every password checked against the rule; `Err` says why they cannot be used.
    pub fn with_leftovers(content: &SecretContent, app: &App) -> Result<Credentials, String> {
        match (
            Credentials::from_content(content).map_err(|e| e.to_string()),
            Credentials::from_legacy(app),
        ) {
            (Ok(c), Ok(l)) => Ok(c.or(&l)),
            // A leftover bag copy that breaks the rule cannot be merged, and the secret
            // does not need it: the leader deletes it (found by fuzzing: it blocked every
            // unit, and set-password could not repair it, unable to read them either).
            (Ok(c), Err(_)) => Ok(c),
            (Err(e), _) => Err(e),
        }
    }

    /// The secret's content (keys without a value are left out).
    pub fn to_content(&self) -> SecretContent {
        let mut out = self.others.clone();
        for (k, v) in [
            (SUPER_KEY, &self.super_password),
            (SYNC_KEY, &self.sync_password),
            (SYNC_NEW_KEY, &self.sync_password_new),
        ] {
            if let Some(p) = v {
                out.insert(k.to_string(), p.0.clone());
            }
        }
        for (id, p) in &self.clients {
            out.insert(client_key(*id), p.0.clone());
        }
        SecretContent(out)
    }

    /// Whether both internal passwords are there.
    pub fn complete(&self) -> bool {
        self.super_password.is_some() && self.sync_password.is_some()
    }

    /// These credentials with a new password for each internal user that has none.
    ///
    /// # Errors
    /// When the operating system cannot provide random bytes.
    pub fn completed(mut self) -> Result<Credentials, RandomError> {
        if self.super_password.is_none() {
            self.super_password = Some(Password::generate()?);
        }
        if self.sync_password.is_none() {
            self.sync_password = Some(Password::generate()?);
        }
        Ok(self)
    }

    /// `other`'s values where these have none.
    pub fn or(mut self, other: &Credentials) -> Credentials {
        self.super_password = self.super_password.or(other.super_password.clone());
        self.sync_password = self.sync_password.or(other.sync_password.clone());
        self.sync_password_new = self.sync_password_new.or(other.sync_password_new.clone());
        for (id, p) in &other.clients {
            self.clients.entry(*id).or_insert_with(|| p.clone());
        }
        for (k, v) in &other.others {
            self.others.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self
    }
}

/// The internal users' passwords, as the servers use them now.
#[derive(Clone, PartialEq, Eq)]
pub struct Passwords {
    pub super_password: Password,
    /// The quorum user (name, password) this server logs in with to its peers: `sync` and
    /// the `sync` password outside a rotation.
    pub sync_login: (String, Password),
    /// The quorum users (name, password) this server accepts: the login user, plus the
    /// other one in the middle of a `sync` password rotation.
    pub sync_accepted: Vec<(String, Password)>,
    /// The client users (name, password) the servers accept over SASL besides `super`, by
    /// relation id: `relation-<id>`.
    pub clients: Vec<(String, Password)>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passwords(<redacted>)")
    }
}

/// Why the passwords in effect cannot be told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotInEffect {
    #[error("the internal secret has no `{0}`")]
    Missing(&'static str),
}

/// The `sync` rotation in progress, if any: the phase the leader wrote.
pub fn rotation(app: &App) -> Option<SyncRotation> {
    app.sync_rotation
}

/// The users and phases of `app`, with `super`, the current `sync` password and the new one
/// given by `get`.
fn arrange(
    app: &App,
    super_password: Password,
    current: Password,
    new: impl FnOnce() -> Option<Password>,
) -> Result<Passwords, NotInEffect> {
    let current = (app.sync_user.name().to_string(), current);
    let (login, accepted) = match rotation(app) {
        None => (current.clone(), vec![current]),
        Some(phase) => {
            let next = (
                app.sync_user.other().name().to_string(),
                new().ok_or(NotInEffect::Missing(SYNC_NEW_KEY))?,
            );
            match phase {
                SyncRotation::Relax => (current.clone(), vec![current, next]),
                SyncRotation::Switch => (next.clone(), vec![current, next]),
                SyncRotation::Enforce => (next.clone(), vec![next]),
            }
        }
    };
    Ok(Passwords {
        super_password,
        sync_login: login,
        sync_accepted: accepted,
        clients: Vec::new(),
    })
}

/// The passwords the servers should run with now: the users and the rotation phase from the
/// bag, the values from the secret, and every client user the secret holds (which the
/// `zookeeper` relation adds; a refresh from Charmed ZooKeeper keeps its clients' users).
///
/// # Errors
/// When the secret lacks one of them.
pub fn in_effect(app: &App, creds: &Credentials) -> Result<Passwords, NotInEffect> {
    let clients = creds
        .clients
        .iter()
        .map(|(id, p)| (client_key(*id), p.clone()))
        .collect();
    arrange(
        app,
        creds
            .super_password
            .clone()
            .ok_or(NotInEffect::Missing(SUPER_KEY))?,
        creds
            .sync_password
            .clone()
            .ok_or(NotInEffect::Missing(SYNC_KEY))?,
        || creds.sync_password_new.clone(),
    )
    .map(|p| Passwords { clients, ..p })
}

/// What [`in_effect`] gives with every value replaced by a placeholder named after its user:
/// the files' shape (their users and the rotation phase) without any secret. Together with
/// the `secret-generation` it tells whether a server runs with the current files (the
/// render module's fingerprint) without reading the secret. A rotation keeps the value
/// of each user name until the next generation (the new password always comes in under the
/// other name), so the shape changes exactly when the files do.
///
/// Its client users are the bag's `client-users` (relation ids, nothing secret): the ones
/// every server must load. The leader adds an id there only once its password is in the
/// secret (and removes it with the password), so a change of that set changes the shape,
/// and a server started with the current shape has loaded at least those users. A
/// `relation-<id>` the secret holds for no managed relation (Charmed ZooKeeper's, before a
/// refresh) is in the files but not in the shape: it never changes.
pub fn shape(app: &App) -> Passwords {
    let named = |u: &str| Password::placeholder(u);
    let clients = app
        .client_users
        .iter()
        .map(|id| (client_key(*id), named(&client_key(*id))))
        .collect();
    arrange(app, named("super"), named(app.sync_user.name()), || {
        Some(named(app.sync_user.other().name()))
    })
    .map(|p| Passwords { clients, ..p })
    .expect("placeholders are never missing")
}

/// Starts a `sync` rotation to `new` (or restarts one still in its first phase with another
/// new password): the first phase, the new password in the secret, the next generation.
pub fn start_rotation(app: &App, creds: &Credentials, new: Password) -> (AppPatch, Credentials) {
    let patch = AppPatch {
        sync_rotation: Some(Some(SyncRotation::Relax)),
        secret_generation: Some(app.secret_generation + 1),
        ..AppPatch::default()
    };
    let creds = Credentials {
        sync_password_new: Some(new),
        ..creds.clone()
    };
    (patch, creds)
}

/// A new `super` password: in the secret, and the next generation.
pub fn change_super(app: &App, creds: &Credentials, new: Password) -> (AppPatch, Credentials) {
    let patch = AppPatch {
        secret_generation: Some(app.secret_generation + 1),
        ..AppPatch::default()
    };
    let creds = Credentials {
        super_password: Some(new),
        ..creds.clone()
    };
    (patch, creds)
}

/// The leader's step once every unit runs with `phase`: the next phase; or after the last
/// one the new password becomes the current one under the other user name (the files stay
/// the same, so the generation does too), which needs the secret's content.
pub fn advance_rotation(
    app: &App,
    phase: SyncRotation,
    creds: Option<&Credentials>,
) -> Option<(AppPatch, Option<Credentials>)> {
    match phase.next() {
        Some(next) => Some((
            AppPatch {
                sync_rotation: Some(Some(next)),
                ..AppPatch::default()
            },
            None,
        )),
        None => {
            let creds = creds?;
            let new = creds.sync_password_new.clone()?;
            Some((
                AppPatch {
                    sync_user: Some(app.sync_user.other()),
                    sync_rotation: Some(None),
                    ..AppPatch::default()
                },
                Some(Credentials {
                    sync_password: Some(new),
                    sync_password_new: None,
                    ..creds.clone()
                }),
            ))
        }
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
        assert!(Password::new(&a).is_ok());
    }

    #[test]
    fn one_rule_refuses_what_could_break_a_file_and_says_why_without_the_value() {
        for ok in [
            "Abc-1234",
            "a.b_c~d+e@f%g^h-i",
            &"x".repeat(128),
            "12345678",
        ] {
            assert!(Password::new(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", InvalidPassword::Length(0)),
            ("short12", InvalidPassword::Length(7)),
            (&"x".repeat(129), InvalidPassword::Length(129)),
            ("pa${user.name}ss", InvalidPassword::Character(3)),
            ("has space1", InvalidPassword::Character(4)),
            ("quote\"d12", InvalidPassword::Character(6)),
            ("back\\slash", InvalidPassword::Character(5)),
            ("single'quote", InvalidPassword::Character(7)),
            ("line\nbreak1", InvalidPassword::Character(5)),
            ("tab\tpassword", InvalidPassword::Character(4)),
            ("brace{}abcd", InvalidPassword::Character(6)),
            ("semi;colon12", InvalidPassword::Character(5)),
            ("ünïcode-pw", InvalidPassword::Character(1)),
        ] {
            let err = Password::new(bad).unwrap_err();
            assert_eq!(err, why, "{bad:?}");
            if bad.len() > 3 {
                assert!(!err.to_string().contains(bad), "{err}");
            }
        }
        assert_eq!(
            format!("{:?}", Password::new("Hunter2-pw").unwrap()),
            "Password(<redacted>)"
        );
    }

    #[test]
    fn the_secret_content_reads_back_and_keeps_keys_it_does_not_own() {
        let content = SecretContent::from_pairs([
            (SUPER_KEY, "super-Password-1"),
            (SYNC_KEY, "sync-Password-1"),
            ("relation-7", "client-Password"),
            ("s3-credentials", "{\"bucket\": \"b\"}"),
        ]);
        let creds = Credentials::from_content(&content).unwrap();
        assert!(creds.complete());
        assert_eq!(creds.clients.keys().collect::<Vec<_>>(), [&7]);
        let app = App::default();
        assert_eq!(
            in_effect(&app, &creds).unwrap().clients,
            [(
                "relation-7".to_string(),
                Password::new("client-Password").unwrap()
            )]
        );
        assert_eq!(creds.to_content(), content);
        assert!(!format!("{creds:?}").contains("Password-1"));
        let bad = SecretContent::from_pairs([(SUPER_KEY, "pa${x}ss-word")]);
        let err = Credentials::from_content(&bad).unwrap_err();
        assert_eq!(err.key, SUPER_KEY);
        assert!(!err.to_string().contains("pa$"), "{err}");
    }

    #[test]
    fn the_shape_changes_with_the_phase_and_not_when_a_rotation_completes() {
        let app = App::default();
        let relax = App {
            sync_rotation: Some(SyncRotation::Relax),
            ..App::default()
        };
        let enforce = App {
            sync_rotation: Some(SyncRotation::Enforce),
            ..App::default()
        };
        let done = App {
            sync_user: crate::peers::cluster::SyncUser::Sync2,
            ..App::default()
        };
        assert_ne!(shape(&app), shape(&relax));
        assert_ne!(shape(&relax), shape(&enforce));
        assert_eq!(shape(&enforce), shape(&done));
        // And the real files agree.
        let pw = |s: &str| Password::new(s).unwrap();
        let creds = Credentials {
            super_password: Some(pw("super-pw-1")),
            sync_password: Some(pw("old-sync-1")),
            sync_password_new: Some(pw("new-sync-1")),
            ..Credentials::default()
        };
        let (patch, after) =
            advance_rotation(&enforce, SyncRotation::Enforce, Some(&creds)).unwrap();
        let mut bag = enforce.to_bag();
        for (k, v) in patch.to_bag() {
            if v.is_empty() {
                bag.remove(&k);
            } else {
                bag.insert(k, v);
            }
        }
        let done_app = App::from_bag(&bag);
        assert_eq!(done_app, done);
        assert_eq!(
            in_effect(&enforce, &creds).unwrap(),
            in_effect(&done_app, &after.unwrap()).unwrap()
        );
    }

    #[test]
    fn a_phase_whose_new_password_is_missing_is_not_in_effect() {
        let app = App {
            sync_rotation: Some(SyncRotation::Switch),
            ..App::default()
        };
        let creds = Credentials {
            super_password: Some(Password::new("super-pw-1").unwrap()),
            sync_password: Some(Password::new("sync-pw-01").unwrap()),
            ..Credentials::default()
        };
        assert_eq!(
            in_effect(&app, &creds).unwrap_err(),
            NotInEffect::Missing(SYNC_NEW_KEY)
        );
    }
}
