//! The `cluster` peer relation: each unit's address and whether it started ZooKeeper; the
//! leader's choice of the unit that starts next, its record of the voting members, and the
//! internal users' passwords.
//!
//! Unit bag (each unit writes its own): `ip` (its address on the `cluster` binding), `state`
//! (`started` once it launched ZooKeeper; never cleared), `sync-phase` (the `sync` password
//! rotation phase its running server uses), `ip-<id>` (its address on the binding of
//! `zookeeper` relation `<id>`, as Charmed ZooKeeper names it), `client-users` (a JSON list
//! of the `zookeeper` relation ids whose users its running server was started with), and for
//! TLS (Charmed ZooKeeper's keys): `quorum` (`ssl` or `non-ssl`: whether its running server
//! uses `sslQuorum`), `unified` (`true` while it runs with `portUnification`), plus
//! `tls-cert` (ours: the SHA-256 fingerprint of the certificate it installed). Juju adds
//! `private-address`. Charmed ZooKeeper also published `hostname` and `fqdn` (its servers
//! are named by FQDN in the ensemble's config); they are read, never written.
//!
//! App bag (the leader writes): `starting` (a unit id), `"<unit id>"` = `added`/`removed`
//! (the voting members the leader recorded, as Charmed ZooKeeper keeps them),
//! `internal_secret` (the URI of the Juju secret holding the internal passwords, as Charmed
//! ZooKeeper names it), `secret-generation` (a counter the leader bumps whenever a password
//! the servers use changes: no password or anything derived from one is in the bag),
//! `sync-rotation` and `sync-user` for a `sync` rotation, and `root-acl` (`restricted` once
//! the leader restricted the ACLs of `/` and ZooKeeper's own znodes). For the `zookeeper`
//! relation: `client-relations` (a JSON map of relation id to the leader's record of that
//! relation: its chroot, permission letters, and a digest of what was last published, none
//! of it secret), `managed-chroots` (a JSON map of each chroot whose ACLs the leader set to
//! the relations whose entries they hold, `7:cdrwa,9:r`) and `client-users` (a JSON list of
//! the relation ids whose users every server must load: part of what a server runs with).
//! For TLS (Charmed ZooKeeper's keys): `tls` (`enabled` while the `certificates` relation
//! exists), `switching-encryption` (`started` while the ensemble moves between plaintext and
//! TLS) and `quorum` (`default - non-ssl` as Charmed ZooKeeper writes it at install,
//! `non-ssl` or `ssl`: the quorum encryption the ensemble moves to or runs).
//! Earlier revisions of this charm kept `super-password`, `sync-password` and
//! `sync-password-new` here, and earlier Charmed ZooKeeper revisions the client passwords as
//! `relation-<id>`: they are read only so that the leader can move them into the secret and
//! delete them. Keys this charm does not know are left alone.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::zookeeper::{Chroot, Coverage, Roles};
use super::{field, parse_unit_id, put, text};
use crate::hooktools::{Databag, SecretId};
use crate::tls::{AppTls, Fingerprint, QuorumSetting};

/// The peer endpoint (`metadata.yaml`), also the binding whose address units publish.
pub const ENDPOINT: &str = "cluster";

const IP: &str = "ip";
const PRIVATE_ADDRESS: &str = "private-address";
const HOSTNAME: &str = "hostname";
const FQDN: &str = "fqdn";
const STATE: &str = "state";
const STARTED: &str = "started";
const SYNC_PHASE: &str = "sync-phase";
const QUORUM: &str = "quorum";
const UNIFIED: &str = "unified";
const TRUE: &str = "true";
const TLS_CERT: &str = "tls-cert";

const STARTING: &str = "starting";
const ADDED: &str = "added";
const REMOVED: &str = "removed";
const INTERNAL_SECRET: &str = "internal_secret";
const SECRET_GENERATION: &str = "secret-generation";
const ROOT_ACL: &str = "root-acl";
const RESTRICTED: &str = "restricted";
const SUPER_PASSWORD: &str = "super-password";
const SYNC_PASSWORD: &str = "sync-password";
const SYNC_PASSWORD_NEW: &str = "sync-password-new";
const SYNC_ROTATION: &str = "sync-rotation";
const SYNC_USER: &str = "sync-user";
const TLS: &str = "tls";
const ENABLED: &str = "enabled";
const SWITCHING_ENCRYPTION: &str = "switching-encryption";
const SWITCHING_STARTED: &str = "started";
const CLIENT_ADDRESS_PREFIX: &str = "ip-";
const CLIENT_USERS: &str = "client-users";
const CLIENT_RELATIONS: &str = "client-relations";
const MANAGED_CHROOTS: &str = "managed-chroots";
const LEGACY_CLIENT_PREFIX: &str = "relation-";

/// The cluster relation as this unit sees it.
pub type Cluster = super::Relation<App, Unit>;

/// Parses the raw relation; `own` is this unit's id.
pub fn parse(raw: super::RawRelation, own: u32) -> Cluster {
    Cluster::parse(raw, own, App::from_bag, Unit::from_bag)
}

/// The phases of a `sync` password rotation.
///
/// A rotation takes three rolling restarts, because servers authenticate each other on
/// every quorum connection, and a learner whose login fails never connects (even to a
/// server that does not require authentication; one that does not authenticate at all is
/// refused by every server that does). So authentication stays required, and the new
/// password comes in under the other quorum user name: first every server also accepts the
/// other user with the new password (`Relax`), then every server logs in as that user
/// (`Switch`), then every server accepts only that user (`Enforce`). At any moment two
/// servers in adjacent phases can connect both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncRotation {
    Relax,
    Switch,
    Enforce,
}

impl SyncRotation {
    fn parse(s: &str) -> Option<SyncRotation> {
        match s {
            "relax" => Some(SyncRotation::Relax),
            "switch" => Some(SyncRotation::Switch),
            "enforce" => Some(SyncRotation::Enforce),
            _ => None,
        }
    }

    /// The wire value (`relax`, `switch`, `enforce`).
    pub fn as_str(self) -> &'static str {
        match self {
            SyncRotation::Relax => "relax",
            SyncRotation::Switch => "switch",
            SyncRotation::Enforce => "enforce",
        }
    }

    /// The phase after this one; `None` when the rotation is complete.
    pub fn next(self) -> Option<SyncRotation> {
        match self {
            SyncRotation::Relax => Some(SyncRotation::Switch),
            SyncRotation::Switch => Some(SyncRotation::Enforce),
            SyncRotation::Enforce => None,
        }
    }
}

/// The two quorum user names a `sync` rotation alternates between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum SyncUser {
    /// `sync`, the name Charmed ZooKeeper uses (and the one before any rotation).
    #[default]
    Sync,
    /// `sync2`.
    Sync2,
}

impl SyncUser {
    /// The user name in the JAAS file.
    pub fn name(self) -> &'static str {
        match self {
            SyncUser::Sync => "sync",
            SyncUser::Sync2 => "sync2",
        }
    }

    /// The name a rotation brings in.
    pub fn other(self) -> SyncUser {
        match self {
            SyncUser::Sync => SyncUser::Sync2,
            SyncUser::Sync2 => SyncUser::Sync,
        }
    }

    /// `sync2` is the second user; anything else (absent included) is the first.
    fn parse(s: &str) -> SyncUser {
        if s == SyncUser::Sync2.name() {
            SyncUser::Sync2
        } else {
            SyncUser::Sync
        }
    }
}

/// A `quorum` value (app bag: what the ensemble moves to or runs; unit bag: what the unit's
/// server runs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Quorum {
    /// `default - non-ssl`: what Charmed ZooKeeper writes at install.
    DefaultNonSsl,
    /// `non-ssl`.
    NonSsl,
    /// `ssl`.
    Ssl,
    /// A value this charm does not write; it reads as plaintext.
    Unknown(String),
}

impl Quorum {
    fn parse(s: &str) -> Quorum {
        match s {
            "default - non-ssl" => Quorum::DefaultNonSsl,
            "non-ssl" => Quorum::NonSsl,
            "ssl" => Quorum::Ssl,
            other => Quorum::Unknown(other.to_string()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Quorum::DefaultNonSsl => "default - non-ssl",
            Quorum::NonSsl => "non-ssl",
            Quorum::Ssl => "ssl",
            Quorum::Unknown(v) => v,
        }
    }

    /// The value this charm writes for `setting`.
    pub fn of(setting: QuorumSetting) -> Quorum {
        match setting {
            QuorumSetting::Plain => Quorum::NonSsl,
            QuorumSetting::Ssl => Quorum::Ssl,
        }
    }

    /// What it means: only `ssl` is TLS.
    pub fn setting(&self) -> QuorumSetting {
        if *self == Quorum::Ssl {
            QuorumSetting::Ssl
        } else {
            QuorumSetting::Plain
        }
    }
}

/// One unit's bag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unit {
    /// The address the unit published; `None` if absent or not an IP address.
    pub ip: Option<IpAddr>,
    /// Juju's `private-address`; `None` if absent or not an IP address.
    pub private_address: Option<IpAddr>,
    /// `state=started`: the unit launched ZooKeeper. Any other value reads as not started.
    pub started: bool,
    /// The rotation phase the unit's running server uses; an unknown phase reads as none.
    pub sync_phase: Option<SyncRotation>,
    /// `quorum`: whether its running server uses `sslQuorum` (absent: it does not).
    pub quorum: Option<Quorum>,
    /// `unified=true`: its running server uses `portUnification`.
    pub unified: bool,
    /// `tls-cert`: the fingerprint of the certificate it installed; `None` if absent or not
    /// a fingerprint.
    pub tls_cert: Option<Fingerprint>,
    /// Its address on each `zookeeper` relation's binding, by relation id (`ip-<id>`;
    /// values that are not IP addresses are dropped).
    pub client_addresses: BTreeMap<u32, IpAddr>,
    /// The `zookeeper` relation ids whose users its running server was started with.
    pub client_users: BTreeSet<u32>,
    /// The host names Charmed ZooKeeper published (`hostname`, `fqdn`), when they are DNS
    /// names; lower case, without a trailing dot.
    pub names: Vec<String>,
}

fn ip(bag: &Databag, key: &str) -> Option<IpAddr> {
    bag.get(key).and_then(|v| v.parse().ok())
}

/// The `ip-<id>` keys of a unit bag.
fn client_addresses(bag: &Databag) -> BTreeMap<u32, IpAddr> {
    bag.iter()
        .filter_map(|(k, v)| {
            let id = parse_unit_id(k.strip_prefix(CLIENT_ADDRESS_PREFIX)?)?;
            Some((id, v.parse().ok()?))
        })
        .collect()
}

fn client_address_key(id: u32) -> String {
    format!("{CLIENT_ADDRESS_PREFIX}{id}")
}

/// A JSON list of relation ids; anything else reads as empty.
fn id_set(bag: &Databag, key: &str) -> BTreeSet<u32> {
    bag.get(key)
        .and_then(|v| serde_json::from_str::<BTreeSet<u32>>(v).ok())
        .unwrap_or_default()
}

/// The JSON list of `ids`, or `""` (delete) when empty.
fn id_set_text(ids: &BTreeSet<u32>) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        serde_json::to_string(ids).unwrap_or_default()
    }
}

/// A DNS name (letters, digits, `-` and `.`, at most 253 characters), lower case and
/// without its trailing dot; `None` for anything else.
pub fn dns_name(value: &str) -> Option<String> {
    let name = value.trim_end_matches('.').to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && name.parse::<IpAddr>().is_err();
    ok.then_some(name)
}

impl Unit {
    pub fn from_bag(bag: &Databag) -> Unit {
        Unit {
            ip: ip(bag, IP),
            private_address: ip(bag, PRIVATE_ADDRESS),
            started: bag.get(STATE).map(String::as_str) == Some(STARTED),
            sync_phase: bag.get(SYNC_PHASE).and_then(|v| SyncRotation::parse(v)),
            quorum: text(bag, QUORUM).map(|v| Quorum::parse(&v)),
            unified: bag.get(UNIFIED).map(String::as_str) == Some(TRUE),
            tls_cert: bag.get(TLS_CERT).and_then(|v| v.parse().ok()),
            client_addresses: client_addresses(bag),
            client_users: id_set(bag, CLIENT_USERS),
            names: {
                let mut names: Vec<String> = [HOSTNAME, FQDN]
                    .iter()
                    .filter_map(|k| dns_name(bag.get(*k)?))
                    .collect();
                names.dedup();
                names
            },
        }
    }

    pub fn to_bag(&self) -> Databag {
        let mut bag = Databag::new();
        if let Some(a) = self.ip {
            bag.insert(IP.into(), a.to_string());
        }
        if let Some(a) = self.private_address {
            bag.insert(PRIVATE_ADDRESS.into(), a.to_string());
        }
        if self.started {
            bag.insert(STATE.into(), STARTED.into());
        }
        if let Some(p) = self.sync_phase {
            bag.insert(SYNC_PHASE.into(), p.as_str().into());
        }
        if let Some(q) = &self.quorum {
            bag.insert(QUORUM.into(), q.as_str().into());
        }
        if self.unified {
            bag.insert(UNIFIED.into(), TRUE.into());
        }
        if let Some(f) = &self.tls_cert {
            bag.insert(TLS_CERT.into(), f.to_string());
        }
        for (id, a) in &self.client_addresses {
            bag.insert(client_address_key(*id), a.to_string());
        }
        if !self.client_users.is_empty() {
            bag.insert(CLIENT_USERS.into(), id_set_text(&self.client_users));
        }
        for (key, name) in [HOSTNAME, FQDN].into_iter().zip(&self.names) {
            bag.insert(key.into(), name.clone());
        }
        bag
    }

    /// The quorum setting its running server uses, by its report.
    pub fn quorum_setting(&self) -> QuorumSetting {
        self.quorum
            .as_ref()
            .map_or(QuorumSetting::Plain, Quorum::setting)
    }

    /// The unit's address: what it published, else Juju's `private-address`.
    pub fn address(&self) -> Option<IpAddr> {
        self.ip.or(self.private_address)
    }
}

/// The leader's record of one unit in the voting membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// `added`: the unit's server is a voter.
    Added,
    /// `removed`: it was, and its unit left.
    Removed,
    /// A value this charm does not write; it does not count as added.
    Unknown(String),
}

impl Recorded {
    fn parse(s: &str) -> Recorded {
        match s {
            ADDED => Recorded::Added,
            REMOVED => Recorded::Removed,
            other => Recorded::Unknown(other.to_string()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Recorded::Added => ADDED,
            Recorded::Removed => REMOVED,
            Recorded::Unknown(v) => v,
        }
    }
}

/// The application bag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct App {
    /// The unit the leader lets start now; `None` if absent or not a unit id (the leader
    /// then names the next unit over it).
    pub starting: Option<u32>,
    /// The leader's membership records, by unit id (keys that are not unit ids are not
    /// records).
    pub recorded: BTreeMap<u32, Recorded>,
    /// The internal secret's URI; `None` if absent or not a secret URI.
    pub internal_secret: Option<SecretId>,
    /// The generation of the passwords in the secret (0 when absent or unreadable).
    pub secret_generation: u64,
    /// The phase of the rotation; an unknown value reads as none.
    pub sync_rotation: Option<SyncRotation>,
    /// The quorum user the servers log in as outside a rotation.
    pub sync_user: SyncUser,
    /// The ACLs of `/` and `/zookeeper` were restricted.
    pub root_acl_restricted: bool,
    /// Passwords an earlier revision kept here (to move into the secret).
    pub legacy: LegacyPasswords,
    /// `tls=enabled`; any other value reads as not enabled.
    pub tls: bool,
    /// `switching-encryption=started`; any other value reads as no switch.
    pub switching_encryption: bool,
    /// `quorum` (absent: plaintext, as before any TLS).
    pub quorum: Option<Quorum>,
    /// The `zookeeper` relation ids whose users every server must load.
    pub client_users: BTreeSet<u32>,
    /// The leader's record of each `zookeeper` relation whose user it manages.
    pub client_relations: BTreeMap<u32, ClientRecord>,
    /// The chroots whose ACLs the leader set, and the relations whose entries it set there.
    pub managed_chroots: BTreeMap<Chroot, Coverage>,
}

/// The leader's record of one `zookeeper` relation: its user's password is in the internal
/// secret (the record and the password are written together). Nothing in it is secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientRecord {
    /// The chroot managed for the relation: fixed once published; `None` while the client
    /// asks for none, or for one that is refused.
    pub chroot: Option<Chroot>,
    /// The permissions its entries carry.
    pub roles: Roles,
    /// A digest of what was last published to it (see `client::publish`); `None` before
    /// the first publication.
    pub published: Option<String>,
}

impl ClientRecord {
    fn from_json(v: &serde_json::Value) -> Option<ClientRecord> {
        let o = v.as_object()?;
        let text = |k: &str| o.get(k).and_then(serde_json::Value::as_str);
        Some(ClientRecord {
            chroot: match text("chroot") {
                Some(c) => Some(Chroot::parse(c).ok()?),
                None => None,
            },
            roles: Roles::parse(text("roles")?).ok()?,
            published: text("published")
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_string),
        })
    }

    fn to_json(&self) -> serde_json::Value {
        let mut o = serde_json::Map::new();
        if let Some(c) = &self.chroot {
            o.insert("chroot".into(), c.as_str().into());
        }
        o.insert("roles".into(), self.roles.letters().into());
        if let Some(p) = &self.published {
            o.insert("published".into(), p.clone().into());
        }
        serde_json::Value::Object(o)
    }
}

/// The `client-relations` map; unreadable entries are dropped.
fn client_relations(bag: &Databag) -> BTreeMap<u32, ClientRecord> {
    let Some(serde_json::Value::Object(map)) = bag
        .get(CLIENT_RELATIONS)
        .and_then(|v| serde_json::from_str(v).ok())
    else {
        return BTreeMap::new();
    };
    map.iter()
        .filter_map(|(k, v)| Some((parse_unit_id(k)?, ClientRecord::from_json(v)?)))
        .collect()
}

fn client_relations_text(records: &BTreeMap<u32, ClientRecord>) -> String {
    if records.is_empty() {
        return String::new();
    }
    let map: serde_json::Map<String, serde_json::Value> = records
        .iter()
        .map(|(id, r)| (id.to_string(), r.to_json()))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// The `managed-chroots` map; unreadable entries are dropped.
fn managed_chroots(bag: &Databag) -> BTreeMap<Chroot, Coverage> {
    bag.get(MANAGED_CHROOTS)
        .and_then(|v| serde_json::from_str::<BTreeMap<String, String>>(v).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|(c, cov)| Some((Chroot::parse(c).ok()?, Coverage::parse(cov)?)))
        .collect()
}

fn managed_chroots_text(chroots: &BTreeMap<Chroot, Coverage>) -> String {
    if chroots.is_empty() {
        return String::new();
    }
    let map: BTreeMap<&str, String> = chroots
        .iter()
        .map(|(c, cov)| (c.as_str(), cov.to_string()))
        .collect();
    serde_json::to_string(&map).unwrap_or_default()
}

/// The passwords earlier revisions of this charm kept in the app bag, as they are there.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LegacyPasswords {
    pub super_password: Option<String>,
    pub sync_password: Option<String>,
    pub sync_password_new: Option<String>,
    /// Client passwords earlier Charmed ZooKeeper revisions kept as `relation-<id>`.
    pub clients: BTreeMap<u32, String>,
}

impl std::fmt::Debug for LegacyPasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyPasswords")
            .field("present", &!self.is_empty())
            .finish()
    }
}

impl LegacyPasswords {
    pub fn is_empty(&self) -> bool {
        self.super_password.is_none()
            && self.sync_password.is_none()
            && self.sync_password_new.is_none()
            && self.clients.is_empty()
    }
}

/// The `relation-<id>` keys of the app bag, with a value.
fn legacy_clients(bag: &Databag) -> BTreeMap<u32, String> {
    bag.iter()
        .filter(|(_, v)| !v.is_empty())
        .filter_map(|(k, v)| {
            let id = parse_unit_id(k.strip_prefix(LEGACY_CLIENT_PREFIX)?)?;
            Some((id, v.clone()))
        })
        .collect()
}

fn legacy_client_key(id: u32) -> String {
    format!("{LEGACY_CLIENT_PREFIX}{id}")
}

impl App {
    pub fn from_bag(bag: &Databag) -> App {
        App {
            starting: bag.get(STARTING).and_then(|v| parse_unit_id(v)),
            recorded: bag
                .iter()
                .filter_map(|(k, v)| Some((parse_unit_id(k)?, Recorded::parse(v))))
                .collect(),
            internal_secret: bag.get(INTERNAL_SECRET).and_then(|v| SecretId::parse(v)),
            secret_generation: bag
                .get(SECRET_GENERATION)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            sync_rotation: bag.get(SYNC_ROTATION).and_then(|v| SyncRotation::parse(v)),
            sync_user: bag
                .get(SYNC_USER)
                .map(|v| SyncUser::parse(v))
                .unwrap_or_default(),
            root_acl_restricted: bag.get(ROOT_ACL).map(String::as_str) == Some(RESTRICTED),
            legacy: LegacyPasswords {
                super_password: text(bag, SUPER_PASSWORD),
                sync_password: text(bag, SYNC_PASSWORD),
                sync_password_new: text(bag, SYNC_PASSWORD_NEW),
                clients: legacy_clients(bag),
            },
            tls: bag.get(TLS).map(String::as_str) == Some(ENABLED),
            switching_encryption: bag.get(SWITCHING_ENCRYPTION).map(String::as_str)
                == Some(SWITCHING_STARTED),
            quorum: text(bag, QUORUM).map(|v| Quorum::parse(&v)),
            client_users: id_set(bag, CLIENT_USERS),
            client_relations: client_relations(bag),
            managed_chroots: managed_chroots(bag),
        }
    }

    pub fn to_bag(&self) -> Databag {
        let mut bag = Databag::new();
        if let Some(n) = self.starting {
            bag.insert(STARTING.into(), n.to_string());
        }
        for (id, r) in &self.recorded {
            bag.insert(id.to_string(), r.as_str().to_string());
        }
        if let Some(id) = &self.internal_secret {
            bag.insert(INTERNAL_SECRET.into(), id.to_string());
        }
        if self.secret_generation != 0 {
            bag.insert(SECRET_GENERATION.into(), self.secret_generation.to_string());
        }
        for (key, value) in [
            (SUPER_PASSWORD, &self.legacy.super_password),
            (SYNC_PASSWORD, &self.legacy.sync_password),
            (SYNC_PASSWORD_NEW, &self.legacy.sync_password_new),
        ] {
            if let Some(v) = value {
                bag.insert(key.into(), v.clone());
            }
        }
        for (id, v) in &self.legacy.clients {
            bag.insert(legacy_client_key(*id), v.clone());
        }
        if let Some(p) = self.sync_rotation {
            bag.insert(SYNC_ROTATION.into(), p.as_str().into());
        }
        if self.sync_user != SyncUser::default() {
            bag.insert(SYNC_USER.into(), self.sync_user.name().into());
        }
        if self.root_acl_restricted {
            bag.insert(ROOT_ACL.into(), RESTRICTED.into());
        }
        if self.tls {
            bag.insert(TLS.into(), ENABLED.into());
        }
        if self.switching_encryption {
            bag.insert(SWITCHING_ENCRYPTION.into(), SWITCHING_STARTED.into());
        }
        if let Some(q) = &self.quorum {
            bag.insert(QUORUM.into(), q.as_str().into());
        }
        for (key, value) in [
            (CLIENT_USERS, id_set_text(&self.client_users)),
            (
                CLIENT_RELATIONS,
                client_relations_text(&self.client_relations),
            ),
            (MANAGED_CHROOTS, managed_chroots_text(&self.managed_chroots)),
        ] {
            if !value.is_empty() {
                bag.insert(key.into(), value);
            }
        }
        bag
    }

    /// The TLS state the leader keeps (see [`crate::tls::switch`]).
    pub fn tls_state(&self) -> AppTls {
        AppTls {
            enabled: self.tls,
            switching: self.switching_encryption,
            quorum: self
                .quorum
                .as_ref()
                .map_or(QuorumSetting::Plain, Quorum::setting),
        }
    }

    /// Unit ids recorded as voting members.
    pub fn recorded_voters(&self) -> std::collections::BTreeSet<u32> {
        self.recorded
            .iter()
            .filter(|(_, r)| **r == Recorded::Added)
            .map(|(id, _)| *id)
            .collect()
    }
}

/// What a plan writes to this unit's bag. `None` leaves a key alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitPatch {
    pub ip: Option<IpAddr>,
    /// Record `state=started`.
    pub started: bool,
    /// `Some(None)` deletes the key (no rotation in the running server).
    pub sync_phase: Option<Option<SyncRotation>>,
    /// The quorum setting the running server uses.
    pub quorum: Option<QuorumSetting>,
    /// `Some(false)` deletes `unified`.
    pub unified: Option<bool>,
    /// `Some(None)` deletes `tls-cert` (no certificate installed).
    pub tls_cert: Option<Option<Fingerprint>>,
    /// `ip-<id>` keys to write (`None` deletes one).
    pub client_addresses: BTreeMap<u32, Option<IpAddr>>,
    /// The client users the running server was started with (an empty set deletes the key).
    pub client_users: Option<BTreeSet<u32>>,
}

impl UnitPatch {
    pub fn is_empty(&self) -> bool {
        *self == UnitPatch::default()
    }

    pub fn to_bag(&self) -> Databag {
        let mut bag = Databag::new();
        if let Some(a) = self.ip {
            bag.insert(IP.into(), a.to_string());
        }
        if self.started {
            bag.insert(STATE.into(), STARTED.into());
        }
        if let Some(p) = self.sync_phase {
            put(&mut bag, SYNC_PHASE, p.map(SyncRotation::as_str));
        }
        if let Some(q) = self.quorum {
            bag.insert(QUORUM.into(), Quorum::of(q).as_str().into());
        }
        if let Some(u) = self.unified {
            put(&mut bag, UNIFIED, u.then_some(TRUE));
        }
        if let Some(f) = &self.tls_cert {
            put(&mut bag, TLS_CERT, f.as_ref().map(Fingerprint::as_str));
        }
        for (id, a) in &self.client_addresses {
            put(
                &mut bag,
                &client_address_key(*id),
                a.map(|a| a.to_string()).as_deref(),
            );
        }
        if let Some(ids) = &self.client_users {
            bag.insert(CLIENT_USERS.into(), id_set_text(ids));
        }
        bag
    }

    pub fn from_bag(bag: &Databag) -> UnitPatch {
        UnitPatch {
            ip: ip(bag, IP),
            started: bag.get(STATE).map(String::as_str) == Some(STARTED),
            sync_phase: field(bag, SYNC_PHASE, SyncRotation::parse),
            quorum: bag.get(QUORUM).map(|v| Quorum::parse(v).setting()),
            unified: bag.get(UNIFIED).map(|v| v == TRUE),
            tls_cert: field(bag, TLS_CERT, |v| v.parse().ok()),
            client_addresses: bag
                .iter()
                .filter_map(|(k, v)| {
                    let id = parse_unit_id(k.strip_prefix(CLIENT_ADDRESS_PREFIX)?)?;
                    Some((id, if v.is_empty() { None } else { v.parse().ok() }))
                })
                .collect(),
            client_users: bag.get(CLIENT_USERS).map(|_| id_set(bag, CLIENT_USERS)),
        }
    }
}

/// What a plan writes to the app bag (the leader only). `None` leaves a key alone;
/// `Some(None)` deletes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppPatch {
    pub starting: Option<Option<u32>>,
    pub recorded: BTreeMap<u32, Recorded>,
    pub internal_secret: Option<SecretId>,
    pub secret_generation: Option<u64>,
    pub sync_rotation: Option<Option<SyncRotation>>,
    pub sync_user: Option<SyncUser>,
    pub root_acl_restricted: Option<bool>,
    /// Delete the passwords an earlier revision kept in the bag.
    pub drop_legacy: bool,
    /// The TLS state (`tls`, `switching-encryption`, `quorum`).
    pub tls: Option<AppTls>,
    /// Delete these `relation-<id>` passwords an earlier Charmed ZooKeeper kept in the bag.
    pub drop_legacy_clients: BTreeSet<u32>,
    /// The whole set (an empty one deletes the key).
    pub client_users: Option<BTreeSet<u32>>,
    /// The whole map (an empty one deletes the key).
    pub client_relations: Option<BTreeMap<u32, ClientRecord>>,
    /// The whole map (an empty one deletes the key).
    pub managed_chroots: Option<BTreeMap<Chroot, Coverage>>,
}

impl AppPatch {
    pub fn is_empty(&self) -> bool {
        *self == AppPatch::default()
    }

    /// Adds `other`'s writes to this patch (`other` wins where both write a key).
    pub fn merge(&mut self, other: AppPatch) {
        self.starting = other.starting.or(self.starting);
        self.recorded.extend(other.recorded);
        self.internal_secret = other.internal_secret.or(self.internal_secret.take());
        self.secret_generation = other.secret_generation.or(self.secret_generation);
        self.sync_rotation = other.sync_rotation.or(self.sync_rotation);
        self.sync_user = other.sync_user.or(self.sync_user);
        self.root_acl_restricted = other.root_acl_restricted.or(self.root_acl_restricted);
        self.drop_legacy |= other.drop_legacy;
        self.tls = other.tls.or(self.tls);
        self.drop_legacy_clients.extend(other.drop_legacy_clients);
        self.client_users = other.client_users.or(self.client_users.take());
        self.client_relations = other.client_relations.or(self.client_relations.take());
        self.managed_chroots = other.managed_chroots.or(self.managed_chroots.take());
    }

    pub fn to_bag(&self) -> Databag {
        let mut bag = Databag::new();
        if let Some(n) = self.starting {
            put(&mut bag, STARTING, n.map(|n| n.to_string()).as_deref());
        }
        for (id, r) in &self.recorded {
            bag.insert(id.to_string(), r.as_str().to_string());
        }
        if let Some(id) = &self.internal_secret {
            bag.insert(INTERNAL_SECRET.into(), id.to_string());
        }
        if let Some(g) = self.secret_generation {
            bag.insert(SECRET_GENERATION.into(), g.to_string());
        }
        if self.drop_legacy {
            for key in [SUPER_PASSWORD, SYNC_PASSWORD, SYNC_PASSWORD_NEW] {
                bag.insert(key.into(), String::new());
            }
        }
        if let Some(p) = self.sync_rotation {
            put(&mut bag, SYNC_ROTATION, p.map(SyncRotation::as_str));
        }
        if let Some(u) = self.sync_user {
            bag.insert(SYNC_USER.into(), u.name().into());
        }
        if let Some(r) = self.root_acl_restricted {
            put(&mut bag, ROOT_ACL, r.then_some(RESTRICTED));
        }
        if let Some(t) = self.tls {
            put(&mut bag, TLS, t.enabled.then_some(ENABLED));
            put(
                &mut bag,
                SWITCHING_ENCRYPTION,
                t.switching.then_some(SWITCHING_STARTED),
            );
            bag.insert(QUORUM.into(), Quorum::of(t.quorum).as_str().into());
        }
        for id in &self.drop_legacy_clients {
            bag.insert(legacy_client_key(*id), String::new());
        }
        if let Some(ids) = &self.client_users {
            bag.insert(CLIENT_USERS.into(), id_set_text(ids));
        }
        if let Some(records) = &self.client_relations {
            bag.insert(CLIENT_RELATIONS.into(), client_relations_text(records));
        }
        if let Some(chroots) = &self.managed_chroots {
            bag.insert(MANAGED_CHROOTS.into(), managed_chroots_text(chroots));
        }
        bag
    }

    pub fn from_bag(bag: &Databag) -> AppPatch {
        AppPatch {
            starting: field(bag, STARTING, parse_unit_id),
            recorded: bag
                .iter()
                .filter_map(|(k, v)| Some((parse_unit_id(k)?, Recorded::parse(v))))
                .collect(),
            internal_secret: bag.get(INTERNAL_SECRET).and_then(|v| SecretId::parse(v)),
            secret_generation: bag.get(SECRET_GENERATION).and_then(|v| v.parse().ok()),
            sync_rotation: field(bag, SYNC_ROTATION, SyncRotation::parse),
            sync_user: bag.get(SYNC_USER).map(|v| SyncUser::parse(v)),
            root_acl_restricted: bag.get(ROOT_ACL).map(|v| v == RESTRICTED),
            drop_legacy: [SUPER_PASSWORD, SYNC_PASSWORD, SYNC_PASSWORD_NEW]
                .iter()
                .all(|k| bag.get(*k).is_some_and(String::is_empty)),
            tls: bag.get(QUORUM).map(|q| AppTls {
                enabled: bag.get(TLS).map(String::as_str) == Some(ENABLED),
                switching: bag.get(SWITCHING_ENCRYPTION).map(String::as_str)
                    == Some(SWITCHING_STARTED),
                quorum: Quorum::parse(q).setting(),
            }),
            drop_legacy_clients: bag
                .iter()
                .filter(|(_, v)| v.is_empty())
                .filter_map(|(k, _)| parse_unit_id(k.strip_prefix(LEGACY_CLIENT_PREFIX)?))
                .collect(),
            client_users: bag.get(CLIENT_USERS).map(|_| id_set(bag, CLIENT_USERS)),
            client_relations: bag.get(CLIENT_RELATIONS).map(|_| client_relations(bag)),
            managed_chroots: bag.get(MANAGED_CHROOTS).map(|_| managed_chroots(bag)),
        }
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

    const FP: &str = "5f1c7c1b0c4c1b2a6b0f4d8e2a7c9e3f1b5d7a9c0e2f4a6b8d0c2e4f6a8b0c2d";

    #[test]
    fn a_unit_bag_reads_back_what_it_was_written_from() {
        let units = [
            Unit::default(),
            Unit {
                ip: Some("127.0.0.11".parse().unwrap()),
                private_address: Some("::1".parse().unwrap()),
                started: true,
                sync_phase: Some(SyncRotation::Switch),
                quorum: Some(Quorum::Ssl),
                unified: true,
                tls_cert: Some(FP.parse().unwrap()),
                client_addresses: BTreeMap::from([
                    (3, "127.0.0.11".parse().unwrap()),
                    (12, "10.0.0.5".parse().unwrap()),
                ]),
                client_users: BTreeSet::from([3, 12]),
                names: vec!["juju-1".into(), "juju-1.lxd".into()],
            },
        ];
        for u in units {
            assert_eq!(Unit::from_bag(&u.to_bag()), u);
        }
    }

    #[test]
    fn only_dns_names_are_read_as_host_names() {
        let u = Unit::from_bag(&bag(&[
            ("hostname", "Juju-1"),
            ("fqdn", "juju-1.lxd."),
            ("ip", "10.0.0.2"),
        ]));
        assert_eq!(u.names, ["juju-1", "juju-1.lxd"]);
        for bad in ["", "10.0.0.2", "a b", "x;rm", "ä.lxd"] {
            let u = Unit::from_bag(&bag(&[("fqdn", bad)]));
            assert!(u.names.is_empty(), "{bad:?}");
        }
        let long = "a".repeat(254);
        assert!(dns_name(&long).is_none());
    }

    #[test]
    fn an_app_bag_reads_back_what_it_was_written_from() {
        let app = App {
            starting: Some(3),
            recorded: BTreeMap::from([
                (0, Recorded::Added),
                (1, Recorded::Removed),
                (2, Recorded::Unknown("maybe".into())),
            ]),
            internal_secret: SecretId::parse("secret:d3fo2nuve8s5g6ln8t8g"),
            secret_generation: 4,
            sync_rotation: Some(SyncRotation::Enforce),
            sync_user: SyncUser::Sync2,
            root_acl_restricted: true,
            legacy: LegacyPasswords {
                super_password: Some("S".into()),
                sync_password: Some("Y".into()),
                sync_password_new: Some("N".into()),
                clients: BTreeMap::from([(7, "C".into())]),
            },
            tls: true,
            switching_encryption: true,
            quorum: Some(Quorum::DefaultNonSsl),
            client_users: BTreeSet::from([7, 9]),
            client_relations: BTreeMap::from([
                (
                    7,
                    ClientRecord {
                        chroot: Chroot::parse("/kafka").ok(),
                        roles: Roles::default(),
                        published: Some("0a1b".into()),
                    },
                ),
                (
                    9,
                    ClientRecord {
                        chroot: None,
                        roles: Roles::parse("r").unwrap(),
                        published: None,
                    },
                ),
            ]),
            managed_chroots: BTreeMap::from([(
                Chroot::parse("/kafka").unwrap(),
                Coverage::parse("7:cdrwa").unwrap(),
            )]),
        };
        assert_eq!(App::from_bag(&app.to_bag()), app);
        assert_eq!(App::from_bag(&App::default().to_bag()), App::default());
    }

    #[test]
    fn patches_read_back_what_they_were_written_from() {
        let unit = UnitPatch {
            ip: Some("127.0.0.2".parse().unwrap()),
            started: true,
            sync_phase: Some(None),
            client_addresses: BTreeMap::from([(5, Some("127.0.0.2".parse().unwrap())), (6, None)]),
            client_users: Some(BTreeSet::from([5])),
            quorum: Some(QuorumSetting::Ssl),
            unified: Some(false),
            tls_cert: Some(None),
        };
        assert_eq!(UnitPatch::from_bag(&unit.to_bag()), unit);
        let unit = UnitPatch {
            quorum: Some(QuorumSetting::Plain),
            unified: Some(true),
            tls_cert: Some(Some(FP.parse().unwrap())),
            ..UnitPatch::default()
        };
        assert_eq!(UnitPatch::from_bag(&unit.to_bag()), unit);
        let app = AppPatch {
            starting: Some(None),
            recorded: BTreeMap::from([(4, Recorded::Added)]),
            internal_secret: SecretId::parse("secret://u/d3fo2nuve8s5g6ln8t8g"),
            secret_generation: Some(2),
            sync_rotation: Some(Some(SyncRotation::Relax)),
            sync_user: Some(SyncUser::Sync),
            root_acl_restricted: Some(true),
            drop_legacy: true,
            tls: Some(AppTls {
                enabled: true,
                switching: false,
                quorum: QuorumSetting::Ssl,
            }),
            drop_legacy_clients: BTreeSet::from([4]),
            client_users: Some(BTreeSet::new()),
            client_relations: Some(BTreeMap::from([(
                2,
                ClientRecord {
                    chroot: Chroot::parse("/a").ok(),
                    roles: Roles::parse("rw").unwrap(),
                    published: None,
                },
            )])),
            managed_chroots: Some(BTreeMap::new()),
        };
        assert_eq!(AppPatch::from_bag(&app.to_bag()), app);
        assert_eq!(
            AppPatch::from_bag(&AppPatch::default().to_bag()),
            AppPatch::default()
        );
    }

    #[test]
    fn the_wire_format_is_charmed_zookeepers() {
        let app = AppPatch {
            starting: Some(Some(2)),
            recorded: BTreeMap::from([(0, Recorded::Added), (7, Recorded::Removed)]),
            internal_secret: SecretId::parse("secret://m/d3fo2nuve8s5g6ln8t8g"),
            secret_generation: Some(3),
            sync_rotation: Some(Some(SyncRotation::Relax)),
            drop_legacy: true,
            ..AppPatch::default()
        };
        assert_eq!(
            app.to_bag(),
            bag(&[
                ("starting", "2"),
                ("0", "added"),
                ("7", "removed"),
                ("internal_secret", "secret://m/d3fo2nuve8s5g6ln8t8g"),
                ("secret-generation", "3"),
                ("super-password", ""),
                ("sync-password", ""),
                ("sync-password-new", ""),
                ("sync-rotation", "relax"),
            ])
        );
        let unit = UnitPatch {
            ip: Some("127.0.0.5".parse().unwrap()),
            started: true,
            sync_phase: Some(Some(SyncRotation::Switch)),
            client_addresses: BTreeMap::from([(7, Some("127.0.0.5".parse().unwrap())), (3, None)]),
            client_users: Some(BTreeSet::from([7, 12])),
            ..UnitPatch::default()
        };
        assert_eq!(
            unit.to_bag(),
            bag(&[
                ("ip", "127.0.0.5"),
                ("state", "started"),
                ("sync-phase", "switch"),
                ("ip-7", "127.0.0.5"),
                ("ip-3", ""),
                ("client-users", "[7,12]"),
            ])
        );
    }

    #[test]
    fn the_tls_keys_are_charmed_zookeepers_and_its_values_read_as_it_means_them() {
        // What Charmed ZooKeeper writes: at install, then while switching.
        let installed = App::from_bag(&bag(&[("quorum", "default - non-ssl")]));
        assert_eq!(installed.tls_state(), AppTls::PLAINTEXT);
        let switching = App::from_bag(&bag(&[
            ("tls", "enabled"),
            ("switching-encryption", "started"),
            ("quorum", "ssl"),
        ]));
        assert_eq!(
            switching.tls_state(),
            AppTls {
                enabled: true,
                switching: true,
                quorum: QuorumSetting::Ssl,
            }
        );
        // Python's `tls=""` and unknown values read as off.
        let off = App::from_bag(&bag(&[("tls", "no"), ("quorum", "tls-please")]));
        assert_eq!(off.tls_state(), AppTls::PLAINTEXT);
        assert_eq!(off.quorum, Some(Quorum::Unknown("tls-please".into())));
        // The leader writes the three keys together; `""` deletes the first two.
        let patch = AppPatch {
            tls: Some(AppTls::PLAINTEXT),
            ..AppPatch::default()
        };
        assert_eq!(
            patch.to_bag(),
            bag(&[
                ("tls", ""),
                ("switching-encryption", ""),
                ("quorum", "non-ssl")
            ])
        );
        let patch = AppPatch {
            tls: Some(AppTls {
                enabled: true,
                switching: true,
                quorum: QuorumSetting::Plain,
            }),
            ..AppPatch::default()
        };
        assert_eq!(
            patch.to_bag(),
            bag(&[
                ("tls", "enabled"),
                ("switching-encryption", "started"),
                ("quorum", "non-ssl")
            ])
        );
        // A unit's report.
        let unit = Unit::from_bag(&bag(&[
            ("quorum", "ssl"),
            ("unified", "true"),
            ("tls-cert", "not a fingerprint"),
        ]));
        assert_eq!(unit.quorum_setting(), QuorumSetting::Ssl);
        assert!(unit.unified);
        assert_eq!(unit.tls_cert, None);
        assert_eq!(Unit::default().quorum_setting(), QuorumSetting::Plain);
        let report = UnitPatch {
            quorum: Some(QuorumSetting::Ssl),
            unified: Some(false),
            tls_cert: Some(Some(FP.parse().unwrap())),
            ..UnitPatch::default()
        };
        assert_eq!(
            report.to_bag(),
            bag(&[("quorum", "ssl"), ("unified", ""), ("tls-cert", FP)])
        );
    }

    #[test]
    fn the_client_relation_records_have_a_readable_wire_format_and_no_secret() {
        let app = AppPatch {
            client_users: Some(BTreeSet::from([7])),
            client_relations: Some(BTreeMap::from([(
                7,
                ClientRecord {
                    chroot: Chroot::parse("/kafka").ok(),
                    roles: Roles::default(),
                    published: Some("ab01".into()),
                },
            )])),
            managed_chroots: Some(BTreeMap::from([(
                Chroot::parse("/kafka").unwrap(),
                Coverage::parse("7:cdrwa").unwrap(),
            )])),
            drop_legacy_clients: BTreeSet::from([7]),
            ..AppPatch::default()
        };
        assert_eq!(
            app.to_bag(),
            bag(&[
                ("client-users", "[7]"),
                (
                    "client-relations",
                    r#"{"7":{"chroot":"/kafka","published":"ab01","roles":"cdrwa"}}"#
                ),
                ("managed-chroots", r#"{"/kafka":"7:cdrwa"}"#),
                ("relation-7", ""),
            ])
        );
        // Emptied, they are deleted.
        let empty = AppPatch {
            client_users: Some(BTreeSet::new()),
            client_relations: Some(BTreeMap::new()),
            managed_chroots: Some(BTreeMap::new()),
            ..AppPatch::default()
        };
        assert!(empty.to_bag().values().all(String::is_empty));
    }

    #[test]
    fn unreadable_client_records_are_dropped_not_trusted() {
        let app = App::from_bag(&bag(&[
            ("client-users", "[1, \"2\"]"),
            (
                "client-relations",
                r#"{"1":{"chroot":"/","roles":"r"},"2":{"roles":"rw","published":"zz"},"x":{"roles":"r"},"3":{"chroot":"/ok"}}"#,
            ),
            (
                "managed-chroots",
                r#"{"/zookeeper":"1:r","/ok":"1:r,2:rw","/bad":"one"}"#,
            ),
            ("relation-4", "legacy-client-pw"),
            ("ip-5", "127.0.0.1"),
        ]));
        assert!(app.client_users.is_empty());
        assert_eq!(app.client_relations.keys().collect::<Vec<_>>(), [&2]);
        assert_eq!(app.client_relations[&2].published, None);
        assert_eq!(
            app.managed_chroots
                .keys()
                .map(Chroot::as_str)
                .collect::<Vec<_>>(),
            ["/ok"]
        );
        assert_eq!(app.legacy.clients[&4], "legacy-client-pw");
        let unit = Unit::from_bag(&bag(&[
            ("ip-5", "127.0.0.1"),
            ("ip-6", "host.example"),
            ("ip-x", "127.0.0.1"),
            ("client-users", "5"),
        ]));
        assert_eq!(unit.client_addresses.keys().collect::<Vec<_>>(), [&5]);
        assert!(unit.client_users.is_empty());
    }

    #[test]
    fn addresses_that_are_not_ip_addresses_are_dropped() {
        let u = Unit::from_bag(&bag(&[
            (
                "ip",
                "127.0.0.9:2888:3888:participant;127.0.0.9:2181,server.9=6.6.6.6",
            ),
            ("private-address", "10.0.0.7"),
        ]));
        assert_eq!(u.ip, None);
        assert_eq!(u.address(), Some("10.0.0.7".parse().unwrap()));
        let u = Unit::from_bag(&bag(&[
            ("ip", "127.0.0.1\nserver.2=x"),
            ("private-address", "host"),
        ]));
        assert_eq!(u.address(), None);
    }

    #[test]
    fn unreadable_app_values_read_as_absent_and_other_keys_are_not_records() {
        let app = App::from_bag(&bag(&[
            ("starting", "1; rm -rf /"),
            ("99999999999999999999", "added"),
            ("+1", "added"),
            ("2", "added"),
            ("quorum", "default - non-ssl"),
            ("sync-rotation", "sideways"),
            ("sync-user", "root"),
        ]));
        assert_eq!(app.starting, None);
        assert_eq!(app.recorded, BTreeMap::from([(2, Recorded::Added)]));
        assert_eq!(app.sync_rotation, None);
        assert_eq!(app.sync_user, SyncUser::Sync);
    }
}
