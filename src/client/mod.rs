//! The provider side of the `zookeeper` relation: clients (Kafka, any data_interfaces
//! requirer) ask for a chroot and get a user, a password, the endpoints and an ACL that lets
//! that user, and only it, into the chroot.
//!
//! The wire format of both sides, and the chroot and ACL-letter rules, are in
//! [`crate::peers::zookeeper`]; the leader's records in the `cluster` app bag
//! (`client-relations`, `managed-chroots`, `client-users`) and each unit's (`ip-<id>`,
//! `client-users`) in [`crate::peers::cluster`]. Here:
//! - [`observe`]: which client relations live (remembered across hooks, so that a steady
//!   hook asks nothing), this unit's address on each relation's binding, the leader's view
//!   of both application bags, and the provider secrets when a publication needs them;
//! - [`decide`]: the pure decision, in steps that each wait for the one before (see there);
//! - [`acl`]: each relation's ACL entries, their union over same and nested chroots, and
//!   which subtrees to walk;
//! - [`publish`]: the fields, data_interfaces' secret rules, and the writes that publish;
//! - [`execute`]: carries out the ZooKeeper and Juju side of a decision.
//!
//! # What a relation goes through
//!
//! 1. The requirer asks (`database`, or the legacy `chroot`): the leader stores a password
//!    for `relation-<id>` in the internal secret (adopting one that exists: the internal
//!    secret, which is Charmed ZooKeeper's peer secret; the old peer-bag key; the
//!    `zookeeper.<id>.user.secret`; a plain `password` in the bag) and records the relation.
//! 2. The leader creates the chroot (missing parents readable only) and sets the union ACL
//!    on it, with the real password.
//! 3. With nothing else rolling, it adds the id to `client-users`: every server must load the
//!    user, which SASL reads at start, so the restart lock rolls a restart through the units
//!    (several clients added close together share it).
//! 4. Once every started unit records that its server runs with the user, it publishes
//!    (endpoints follow scaling later; a leader change publishes nothing new).
//!
//! Removal: the relation's record, password, `client-users` entry and secrets go at once,
//! its ACL entries are removed (znodes nobody covers any more become `super`'s only; the
//! data stays), and the restart rolls the user out of every server's JAAS.

pub mod acl;
pub mod decide;
pub mod execute;
pub mod observe;
pub mod publish;

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::hooktools::{Databag, SecretContent, SecretId};
use crate::peers::zookeeper::{Group, Provided, Request};

/// One live `zookeeper` relation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientRelation {
    pub id: u32,
    /// The requirer application.
    pub remote_app: String,
    /// Its application bag (read by the leader only; the default elsewhere).
    pub request: Request,
    /// This application's bag in the relation (the leader only).
    pub provided: Provided,
    pub raw_provided: Databag,
}

/// A provider secret as its owner reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedSecret {
    pub id: SecretId,
    pub content: SecretContent,
}

impl std::fmt::Debug for OwnedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedSecret")
            .field("id", &self.id)
            .field("keys", &self.content)
            .finish()
    }
}

/// The client relations as one hook sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientView {
    /// The live relations by id (the one being broken is not live).
    pub relations: BTreeMap<u32, ClientRelation>,
    /// The relation this `-broken` hook is for.
    pub broken: Option<u32>,
    /// The whole application is going away (asked in a `-broken` on the leader): its
    /// clients' data is not cleaned up.
    pub app_dying: bool,
    /// This unit's address on each live relation's binding.
    pub addresses: BTreeMap<u32, IpAddr>,
    /// Juju has secrets (3.0.3 or later).
    pub juju_secrets: bool,
    /// The provider secrets whose URIs the bags hold, by relation and group, once read
    /// (only in rounds that publish); a secret that is gone reads as absent.
    pub secrets: Option<BTreeMap<(u32, Group), OwnedSecret>>,
}

impl ClientView {
    /// The content of relation `id`'s secrets, by group (empty until read).
    pub fn secret_contents(&self, id: u32) -> BTreeMap<Group, SecretContent> {
        self.secrets
            .iter()
            .flatten()
            .filter(|((rel, _), _)| *rel == id)
            .map(|((_, g), s)| (*g, s.content.clone()))
            .collect()
    }
}
