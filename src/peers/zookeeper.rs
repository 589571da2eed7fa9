//! The `zookeeper` relation this charm provides to its clients (Kafka, any data_interfaces
//! requirer): both sides' application bags, parsed once into types.
//!
//! Requirer app bag (the client's leader writes): `database`, the chroot it asks for (the
//! legacy `chroot` when `database` is absent or empty); `extra-user-roles`, ACL letters (the
//! legacy `chroot-acl` when absent; `cdrwa` when both are); `requested-secrets`, a JSON list
//! of the fields to share through Juju secrets (an unreadable value counts as empty). Other
//! keys (`data`, `alias`, `provided-secrets`, ...) are not this charm's business.
//!
//! Provider app bag (this charm's leader writes): `username`, `password`, `endpoints`,
//! `uris`, `tls`, `tls-ca`, `database`, `chroot` as plain keys, or inside Juju secrets whose
//! URIs go in `secret-user`, `secret-tls` and `secret-extra` (data_interfaces' groups: the
//! secret of group `<g>` is labelled `zookeeper.<id>.<g>.secret`).
//!
//! A chroot is normalised (a leading `/` added, trailing `/` removed) and validated where it
//! is read: the root, ZooKeeper's own `/zookeeper` tree, empty segments (`//`), `.` and `..`
//! segments, control and other characters ZooKeeper's path rules refuse, blanks and commas
//! (they break the connect strings clients build from `uris`), and paths over
//! [`MAX_CHROOT_LEN`] bytes are refused, each with a reason that says what to change. ACL
//! letters become permission bits; a value with any other character is refused as a whole
//! (granting part of an unclear request would guess at what the client meant).

use std::collections::{BTreeMap, BTreeSet};

use super::text;
use crate::hooktools::{Databag, SecretId};

/// The endpoint (`metadata.yaml`), also the binding whose addresses clients get.
pub const ENDPOINT: &str = "zookeeper";

const DATABASE: &str = "database";
const CHROOT: &str = "chroot";
const EXTRA_USER_ROLES: &str = "extra-user-roles";
const CHROOT_ACL: &str = "chroot-acl";
const REQUESTED_SECRETS: &str = "requested-secrets";

/// The longest chroot accepted, in bytes.
pub const MAX_CHROOT_LEN: usize = 256;
/// The permissions a client gets when it names none.
pub const DEFAULT_ROLES: &str = "cdrwa";

/// The number of `zookeeper:7` (7); `None` for another endpoint's id.
pub fn relation_number(relation_id: &str) -> Option<u32> {
    let (endpoint, n) = relation_id.split_once(':')?;
    (endpoint == ENDPOINT && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| n.parse().ok())
        .flatten()
}

/// The relation id of relation number `n` (`zookeeper:7`).
pub fn relation_id(n: u32) -> String {
    format!("{ENDPOINT}:{n}")
}

/// Why a requested chroot is refused. The message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidChroot {
    #[error("it is the root znode; ask for a znode below it, such as `/myapp`")]
    Root,
    #[error(
        "`/zookeeper` and everything under it belong to ZooKeeper itself; ask for another path"
    )]
    ZooKeeperTree,
    #[error("it has an empty segment (`//`)")]
    EmptySegment,
    #[error("it has a `.` or `..` segment; ZooKeeper paths are absolute and literal")]
    RelativeSegment,
    #[error("character {0} is a control character, which ZooKeeper paths may not have")]
    ControlCharacter(usize),
    #[error("character {0} is one ZooKeeper paths may not have")]
    Unsupported(usize),
    #[error("character {0} is a blank or a comma, which break the connect strings clients build from `uris`")]
    Separator(usize),
    #[error("it has {0} bytes; a chroot has at most {MAX_CHROOT_LEN}")]
    TooLong(usize),
}

/// A chroot: an absolute ZooKeeper path below the root and outside `/zookeeper`, in normal
/// form (one leading `/`, no trailing `/`). Only [`Chroot::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Chroot(String);

impl Chroot {
    /// Normalises and validates what a client asked for (see the module docs).
    ///
    /// # Errors
    /// Why it is refused.
    pub fn parse(asked: &str) -> Result<Chroot, InvalidChroot> {
        for (i, c) in asked.chars().enumerate() {
            if c.is_control() {
                return Err(InvalidChroot::ControlCharacter(i + 1));
            }
            // ZooKeeper's PathUtils refuses the private use area and U+FFF0..U+FFFF.
            if ('\u{e000}'..='\u{f8ff}').contains(&c) || ('\u{fff0}'..='\u{ffff}').contains(&c) {
                return Err(InvalidChroot::Unsupported(i + 1));
            }
            if c.is_whitespace() || c == ',' {
                return Err(InvalidChroot::Separator(i + 1));
            }
        }
        let trimmed = asked.trim_end_matches('/');
        let path = if trimmed.starts_with('/') {
            trimmed.to_string()
        } else {
            format!("/{trimmed}")
        };
        if path == "/" {
            return Err(InvalidChroot::Root);
        }
        if path.len() > MAX_CHROOT_LEN {
            return Err(InvalidChroot::TooLong(path.len()));
        }
        let segments: Vec<&str> = path[1..].split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(InvalidChroot::EmptySegment);
        }
        if segments.iter().any(|s| *s == "." || *s == "..") {
            return Err(InvalidChroot::RelativeSegment);
        }
        if segments[0] == "zookeeper" {
            return Err(InvalidChroot::ZooKeeperTree);
        }
        Ok(Chroot(path))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `path` is this chroot or below it (`/a/b` is below `/a`, `/ab` is not).
    pub fn covers(&self, path: &str) -> bool {
        path == self.0
            || path
                .strip_prefix(self.0.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The znodes above it, outermost first, without the root (`/a/b/c` -> `/a`, `/a/b`).
    pub fn parents(&self) -> Vec<String> {
        self.0
            .match_indices('/')
            .skip(1)
            .map(|(i, _)| self.0[..i].to_string())
            .collect()
    }
}

impl std::fmt::Display for Chroot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// ACL letters: `r` read (1), `w` write (2), `c` create (4), `d` delete (8), `a` admin (16).
const LETTERS: [(char, i32); 5] = [('c', 4), ('d', 8), ('r', 1), ('w', 2), ('a', 16)];

/// The permissions a client gets: ZooKeeper's permission bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Roles {
    /// Sum of the bits of the letters given (0 for none).
    pub bits: i32,
}

impl Default for Roles {
    fn default() -> Roles {
        Roles { bits: 31 }
    }
}

/// Why requested permissions are refused. The message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRoles {
    /// The characters that are not ACL letters, each once, in the order given (at most 8).
    #[error(
        "{0:?} are not ACL letters; use only `c` create, `d` delete, `r` read, `w` write, `a` admin"
    )]
    NotLetters(String),
}

impl Roles {
    /// The permissions of `letters`, any of `cdrwa` (lowercase, as ZooKeeper writes them);
    /// any other character refuses the whole value.
    ///
    /// # Errors
    /// The characters that are not ACL letters.
    pub fn parse(letters: &str) -> Result<Roles, InvalidRoles> {
        let mut bits = 0;
        let mut unknown = String::new();
        for c in letters.chars() {
            match LETTERS.iter().find(|(l, _)| *l == c) {
                Some((_, b)) => bits |= b,
                None if !unknown.contains(c) && unknown.chars().count() < 8 => unknown.push(c),
                None => {}
            }
        }
        if unknown.is_empty() {
            Ok(Roles { bits })
        } else {
            Err(InvalidRoles::NotLetters(unknown))
        }
    }

    /// The bits as letters, in `cdrwa` order (`""` for none).
    pub fn letters(&self) -> String {
        LETTERS
            .iter()
            .filter(|(_, b)| self.bits & b != 0)
            .map(|(l, _)| *l)
            .collect()
    }
}

/// The relations whose ACL entries a chroot holds, with their permission bits, by relation
/// id: what the leader set there (`managed-chroots` in the `cluster` app bag), written
/// `7:cdrwa,9:r`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage(pub BTreeMap<u32, i32>);

impl Coverage {
    /// `7:cdrwa,9:r`; `""` is no relation. `None` when it is not that form.
    pub fn parse(text: &str) -> Option<Coverage> {
        if text.is_empty() {
            return Some(Coverage::default());
        }
        text.split(',')
            .map(|item| {
                let (id, letters) = item.split_once(':')?;
                let id = super::parse_unit_id(id)?;
                Some((id, Roles::parse(letters).ok()?.bits))
            })
            .collect::<Option<BTreeMap<u32, i32>>>()
            .map(Coverage)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Coverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|(id, bits)| format!("{id}:{}", Roles { bits: *bits }.letters()))
            .collect();
        f.write_str(&items.join(","))
    }
}

/// The fields a client asked to get through Juju secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedSecrets {
    pub fields: BTreeSet<String>,
    /// The value was there but not a JSON list of strings (it counts as empty).
    pub unreadable: bool,
}

impl RequestedSecrets {
    fn parse(value: Option<&str>) -> RequestedSecrets {
        let Some(v) = value.filter(|v| !v.is_empty()) else {
            return RequestedSecrets::default();
        };
        match serde_json::from_str::<Vec<String>>(v) {
            Ok(list) => RequestedSecrets {
                fields: list.into_iter().collect(),
                unreadable: false,
            },
            Err(_) => RequestedSecrets {
                fields: BTreeSet::new(),
                unreadable: true,
            },
        }
    }

    pub fn contains(&self, field: Field) -> bool {
        self.fields.contains(field.key())
    }
}

/// The chroot a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// Neither `database` nor `chroot` is set: the client gets nothing yet.
    Nothing,
    Chroot(Chroot),
    /// A value that is not a usable chroot: what was asked (as given), and why not.
    Refused {
        asked: String,
        why: InvalidChroot,
    },
}

impl Asked {
    pub fn chroot(&self) -> Option<&Chroot> {
        match self {
            Asked::Chroot(c) => Some(c),
            _ => None,
        }
    }
}

/// The permissions a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AskedRoles {
    /// Neither `extra-user-roles` nor `chroot-acl`: [`DEFAULT_ROLES`].
    Default,
    Given(Roles),
    /// A value that is not only ACL letters: what was asked (as given), and why not.
    Refused {
        asked: String,
        why: InvalidRoles,
    },
}

impl AskedRoles {
    /// The permissions to grant; `None` when refused.
    pub fn roles(&self) -> Option<Roles> {
        match self {
            AskedRoles::Default => Some(Roles::default()),
            AskedRoles::Given(r) => Some(r.clone()),
            AskedRoles::Refused { .. } => None,
        }
    }
}

/// The requirer's application bag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub asked: Asked,
    pub roles: AskedRoles,
    pub secrets: RequestedSecrets,
}

impl Default for Request {
    fn default() -> Request {
        Request::from_bag(&Databag::new())
    }
}

impl Request {
    pub fn from_bag(bag: &Databag) -> Request {
        let asked = match text(bag, DATABASE).or_else(|| text(bag, CHROOT)) {
            None => Asked::Nothing,
            Some(v) => match Chroot::parse(&v) {
                Ok(c) => Asked::Chroot(c),
                Err(why) => Asked::Refused { asked: v, why },
            },
        };
        // `extra-user-roles` decides whenever it is there.
        let roles = match bag.get(EXTRA_USER_ROLES).or_else(|| bag.get(CHROOT_ACL)) {
            None => AskedRoles::Default,
            Some(v) => match Roles::parse(v) {
                Ok(r) => AskedRoles::Given(r),
                Err(why) => AskedRoles::Refused {
                    asked: v.clone(),
                    why,
                },
            },
        };
        Request {
            asked,
            roles,
            secrets: RequestedSecrets::parse(bag.get(REQUESTED_SECRETS).map(String::as_str)),
        }
    }

    /// The bag a requirer writes for this request (for tests and stubs).
    pub fn to_bag(&self) -> Databag {
        let mut bag = Databag::new();
        match &self.asked {
            Asked::Nothing => {}
            Asked::Chroot(c) => {
                bag.insert(DATABASE.into(), c.to_string());
            }
            Asked::Refused { asked, .. } => {
                bag.insert(DATABASE.into(), asked.clone());
            }
        }
        match &self.roles {
            AskedRoles::Default => {}
            AskedRoles::Given(r) => {
                bag.insert(EXTRA_USER_ROLES.into(), r.letters());
            }
            AskedRoles::Refused { asked, .. } => {
                bag.insert(EXTRA_USER_ROLES.into(), asked.clone());
            }
        }
        if !self.secrets.fields.is_empty() {
            let list: Vec<&String> = self.secrets.fields.iter().collect();
            bag.insert(
                REQUESTED_SECRETS.into(),
                serde_json::to_string(&list).unwrap_or_default(),
            );
        }
        bag
    }
}

/// A field the provider publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Username,
    Password,
    Uris,
    Endpoints,
    Database,
    Chroot,
    Tls,
    TlsCa,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::Username,
        Field::Password,
        Field::Uris,
        Field::Endpoints,
        Field::Database,
        Field::Chroot,
        Field::Tls,
        Field::TlsCa,
    ];

    /// Its key in the bag and in a secret's content.
    pub fn key(self) -> &'static str {
        match self {
            Field::Username => "username",
            Field::Password => "password",
            Field::Uris => "uris",
            Field::Endpoints => "endpoints",
            Field::Database => DATABASE,
            Field::Chroot => CHROOT,
            Field::Tls => "tls",
            Field::TlsCa => "tls-ca",
        }
    }

    fn from_key(key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.key() == key)
    }

    /// The secret group it goes to when requested (data_interfaces' fixed map: the
    /// credentials and URIs to `user`, TLS to `tls`, anything else to `extra`).
    pub fn group(self) -> Group {
        match self {
            Field::Username | Field::Password | Field::Uris => Group::User,
            Field::Tls | Field::TlsCa => Group::Tls,
            _ => Group::Extra,
        }
    }
}

/// A secret group of data_interfaces: one Juju secret per group and relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    User,
    Tls,
    Extra,
}

impl Group {
    pub const ALL: [Group; 3] = [Group::User, Group::Tls, Group::Extra];

    pub fn name(self) -> &'static str {
        match self {
            Group::User => "user",
            Group::Tls => "tls",
            Group::Extra => "extra",
        }
    }

    /// The provider bag key of its secret's URI (`secret-user`).
    pub fn uri_key(self) -> String {
        format!("secret-{}", self.name())
    }

    /// The owner label of relation `n`'s secret of this group (`zookeeper.7.user.secret`).
    pub fn label(self, n: u32) -> String {
        format!("{ENDPOINT}.{n}.{}.secret", self.name())
    }
}

/// This charm's application bag in one relation, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provided {
    /// The fields published as plain keys.
    pub plain: BTreeMap<Field, String>,
    /// The secrets published, by group (a value that is not a secret URI reads as absent).
    pub secrets: BTreeMap<Group, SecretId>,
}

impl Provided {
    pub fn from_bag(bag: &Databag) -> Provided {
        Provided {
            plain: bag
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .filter_map(|(k, v)| Some((Field::from_key(k)?, v.clone())))
                .collect(),
            secrets: Group::ALL
                .into_iter()
                .filter_map(|g| Some((g, SecretId::parse(bag.get(&g.uri_key())?)?)))
                .collect(),
        }
    }

    /// The published chroot (`database`, else `chroot`), if it is a valid one.
    pub fn chroot(&self) -> Option<Chroot> {
        self.plain
            .get(&Field::Database)
            .or_else(|| self.plain.get(&Field::Chroot))
            .and_then(|v| Chroot::parse(v).ok())
    }
}

/// What the leader writes to its application bag in one relation. Fields and groups not
/// named are left alone; `None` deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderPatch {
    pub plain: BTreeMap<Field, Option<String>>,
    pub secrets: BTreeMap<Group, Option<SecretId>>,
}

impl ProviderPatch {
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.secrets.is_empty()
    }

    pub fn to_bag(&self) -> Databag {
        let mut bag = Databag::new();
        for (f, v) in &self.plain {
            bag.insert(f.key().into(), v.clone().unwrap_or_default());
        }
        for (g, v) in &self.secrets {
            bag.insert(
                g.uri_key(),
                v.as_ref().map(ToString::to_string).unwrap_or_default(),
            );
        }
        bag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bag(pairs: &[(&str, &str)]) -> Databag {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn chroots_are_normalised_to_one_leading_slash_and_no_trailing_one() {
        for (asked, normal) in [
            ("/kafka", "/kafka"),
            ("kafka", "/kafka"),
            ("app_42", "/app_42"),
            ("/myapp/", "/myapp"),
            ("/a/b//", "/a/b"),
            ("/shared/inner", "/shared/inner"),
            ("/zookeeperish", "/zookeeperish"),
            ("/app/zookeeper", "/app/zookeeper"),
            ("/ünïcode", "/ünïcode"),
            ("/a.b/..c/...", "/a.b/..c/..."),
        ] {
            assert_eq!(
                Chroot::parse(asked).map(|c| c.to_string()),
                Ok(normal.to_string()),
                "{asked:?}"
            );
        }
    }

    #[test]
    fn hostile_or_odd_chroots_are_refused_with_the_reason() {
        let long = format!("/{}", "x".repeat(MAX_CHROOT_LEN));
        let longest = format!("/{}", "x".repeat(MAX_CHROOT_LEN - 1));
        assert!(Chroot::parse(&longest).is_ok());
        for (asked, why) in [
            ("/", InvalidChroot::Root),
            ("//", InvalidChroot::Root),
            ("///", InvalidChroot::Root),
            ("/zookeeper", InvalidChroot::ZooKeeperTree),
            ("zookeeper", InvalidChroot::ZooKeeperTree),
            ("/zookeeper/", InvalidChroot::ZooKeeperTree),
            ("/zookeeper/quota", InvalidChroot::ZooKeeperTree),
            ("/zookeeper/config/x", InvalidChroot::ZooKeeperTree),
            ("//a", InvalidChroot::EmptySegment),
            ("/a//b", InvalidChroot::EmptySegment),
            ("/.", InvalidChroot::RelativeSegment),
            ("/..", InvalidChroot::RelativeSegment),
            ("/a/../zookeeper", InvalidChroot::RelativeSegment),
            ("/a/./b", InvalidChroot::RelativeSegment),
            ("..", InvalidChroot::RelativeSegment),
            ("/a\u{0}b", InvalidChroot::ControlCharacter(3)),
            ("/a\nb", InvalidChroot::ControlCharacter(3)),
            ("/\u{7f}", InvalidChroot::ControlCharacter(2)),
            ("/\u{85}x", InvalidChroot::ControlCharacter(2)),
            ("/a\u{e000}", InvalidChroot::Unsupported(3)),
            ("/a\u{f8ff}", InvalidChroot::Unsupported(3)),
            ("/a\u{fff0}", InvalidChroot::Unsupported(3)),
            ("/a\u{ffff}", InvalidChroot::Unsupported(3)),
            ("/my app", InvalidChroot::Separator(4)),
            (" /x", InvalidChroot::Separator(1)),
            ("/a,b", InvalidChroot::Separator(3)),
            ("/a\u{3000}b", InvalidChroot::Separator(3)),
            (long.as_str(), InvalidChroot::TooLong(MAX_CHROOT_LEN + 1)),
        ] {
            assert_eq!(Chroot::parse(asked), Err(why), "{asked:?}");
        }
        // Characters next to the refused ranges are fine.
        assert!(Chroot::parse("/a\u{d7ff}\u{f900}\u{ffef}").is_ok());
    }

    #[test]
    fn a_chroot_covers_itself_and_what_is_below_it_only() {
        let a = Chroot::parse("/a").unwrap();
        assert!(a.covers("/a"));
        assert!(a.covers("/a/b"));
        assert!(a.covers("/a/b/c"));
        assert!(!a.covers("/ab"));
        assert!(!a.covers("/"));
        assert!(!a.covers("/b/a"));
        let abc = Chroot::parse("/a/b/c").unwrap();
        assert_eq!(abc.parents(), ["/a", "/a/b"]);
        assert!(a.parents().is_empty());
    }

    #[test]
    fn acl_letters_become_bits_and_any_other_character_refuses_the_value() {
        for (letters, bits, letters_back) in [
            ("cdrwa", 31, "cdrwa"),
            ("awrdc", 31, "cdrwa"),
            ("r", 1, "r"),
            ("rw", 3, "rw"),
            ("rrw", 3, "rw"),
            ("c", 4, "c"),
            ("d", 8, "d"),
            ("a", 16, "a"),
            ("", 0, ""),
        ] {
            let r = Roles::parse(letters).unwrap();
            assert_eq!(
                (r.bits, r.letters().as_str()),
                (bits, letters_back),
                "{letters:?}"
            );
        }
        for (letters, unknown) in [
            ("admin", "min"),
            ("RW", "RW"),
            ("rrx x", "x "),
            ("cdrwa\n", "\n"),
            ("r0123456789", "01234567"),
        ] {
            assert_eq!(
                Roles::parse(letters),
                Err(InvalidRoles::NotLetters(unknown.into())),
                "{letters:?}"
            );
        }
        let why = Roles::parse("cdrwx").unwrap_err().to_string();
        assert_eq!(
            why,
            "\"x\" are not ACL letters; use only `c` create, `d` delete, `r` read, `w` write, `a` admin"
        );
        // Control characters are escaped in the message.
        assert!(!Roles::parse("r\u{7}")
            .unwrap_err()
            .to_string()
            .contains('\u{7}'));
        assert_eq!(Roles::default().letters(), DEFAULT_ROLES);
    }

    #[test]
    fn a_coverage_reads_back_its_text_and_refuses_anything_else() {
        let c = Coverage(BTreeMap::from([(7, 31), (9, 1), (12, 0)]));
        assert_eq!(c.to_string(), "7:cdrwa,9:r,12:");
        assert_eq!(Coverage::parse(&c.to_string()), Some(c));
        assert_eq!(Coverage::parse(""), Some(Coverage::default()));
        for bad in ["7", "7:x", "x:r", "7:r,", ",7:r", "7:r;9:w"] {
            assert_eq!(Coverage::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_request_prefers_the_current_keys_and_falls_back_to_the_legacy_ones() {
        let r = Request::from_bag(&bag(&[
            ("database", "/kafka"),
            ("chroot", "/old"),
            (
                "requested-secrets",
                r#"["username","password","tls","tls-ca","uris"]"#,
            ),
        ]));
        assert_eq!(r.asked, Asked::Chroot(Chroot::parse("/kafka").unwrap()));
        assert_eq!(r.roles, AskedRoles::Default);
        assert_eq!(r.roles.roles().unwrap().bits, 31);
        assert!(r.secrets.contains(Field::Uris) && !r.secrets.contains(Field::Endpoints));
        assert_eq!(r.secrets.fields.len(), 5);

        let legacy = Request::from_bag(&bag(&[("chroot", "legacy"), ("chroot-acl", "r")]));
        assert_eq!(legacy.asked.chroot().unwrap().as_str(), "/legacy");
        assert_eq!(legacy.roles, AskedRoles::Given(Roles { bits: 1 }));
        assert!(legacy.secrets.fields.is_empty());

        // An empty `database` falls back to `chroot`; `extra-user-roles` decides whenever it
        // is there, and a value that is not ACL letters is refused (not the legacy one).
        let r = Request::from_bag(&bag(&[
            ("database", ""),
            ("chroot", "/c"),
            ("extra-user-roles", "xyz"),
            ("chroot-acl", "cdrwa"),
        ]));
        assert_eq!(r.asked.chroot().unwrap().as_str(), "/c");
        assert_eq!(
            r.roles,
            AskedRoles::Refused {
                asked: "xyz".into(),
                why: InvalidRoles::NotLetters("xyz".into())
            }
        );
        assert_eq!(r.roles.roles(), None);

        assert_eq!(Request::from_bag(&Databag::new()).asked, Asked::Nothing);
        assert_eq!(
            Request::from_bag(&bag(&[("alias", "x"), ("data", "{}")])).asked,
            Asked::Nothing
        );
        let refused = Request::from_bag(&bag(&[("database", "/zookeeper")]));
        assert_eq!(
            refused.asked,
            Asked::Refused {
                asked: "/zookeeper".into(),
                why: InvalidChroot::ZooKeeperTree
            }
        );
        let bad = Request::from_bag(&bag(&[("database", "/x"), ("requested-secrets", "user")]));
        assert!(bad.secrets.unreadable && bad.secrets.fields.is_empty());
    }

    #[test]
    fn a_request_reads_back_what_it_was_written_from() {
        for pairs in [
            vec![("database", "/kafka")],
            vec![
                ("database", "/zookeeper/x"),
                ("extra-user-roles", "rwq"),
                ("requested-secrets", r#"["password","username"]"#),
            ],
            vec![],
        ] {
            let r = Request::from_bag(&bag(&pairs));
            assert_eq!(Request::from_bag(&r.to_bag()), r, "{pairs:?}");
        }
    }

    #[test]
    fn fields_go_to_data_interfaces_groups_with_their_labels_and_keys() {
        for (f, g) in [
            (Field::Username, Group::User),
            (Field::Password, Group::User),
            (Field::Uris, Group::User),
            (Field::Tls, Group::Tls),
            (Field::TlsCa, Group::Tls),
            (Field::Endpoints, Group::Extra),
            (Field::Database, Group::Extra),
            (Field::Chroot, Group::Extra),
        ] {
            assert_eq!(f.group(), g, "{f:?}");
        }
        assert_eq!(Group::User.label(7), "zookeeper.7.user.secret");
        assert_eq!(Group::Tls.uri_key(), "secret-tls");
        assert_eq!(Group::Extra.label(12), "zookeeper.12.extra.secret");
        assert_eq!(relation_number("zookeeper:7"), Some(7));
        assert_eq!(relation_number("cluster:7"), None);
        assert_eq!(relation_number("zookeeper:x"), None);
        assert_eq!(relation_number("zookeeper:"), None);
        assert_eq!(relation_id(3), "zookeeper:3");
    }

    #[test]
    fn the_provider_bag_reads_fields_and_secret_uris_and_a_patch_writes_deletions() {
        let p = Provided::from_bag(&bag(&[
            ("endpoints", "127.0.0.11:2181"),
            ("database", "/kafka"),
            ("secret-user", "secret://m/d3fo2nuve8s5g6ln8t8g"),
            ("secret-tls", "not a uri"),
            ("data", "{}"),
            ("password", ""),
        ]));
        assert_eq!(
            p.plain.keys().copied().collect::<Vec<_>>(),
            [Field::Endpoints, Field::Database]
        );
        assert_eq!(p.secrets.keys().copied().collect::<Vec<_>>(), [Group::User]);
        assert_eq!(p.chroot().unwrap().as_str(), "/kafka");
        let patch = ProviderPatch {
            plain: BTreeMap::from([
                (Field::Uris, None),
                (Field::Endpoints, Some("127.0.0.11:2181".into())),
            ]),
            secrets: BTreeMap::from([(Group::Tls, None)]),
        };
        assert_eq!(
            patch.to_bag(),
            bag(&[
                ("uris", ""),
                ("endpoints", "127.0.0.11:2181"),
                ("secret-tls", "")
            ])
        );
    }
}
