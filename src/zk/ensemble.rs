//! The ZooKeeper ensemble as the charm sees it, behind a trait: each server's health, the
//! membership, waiting for a server to sync, and reconfig as `super`.
//!
//! [`ZkEnsemble`] is the real one (4-letter words for health, and `zookeeper-client`
//! sessions as `super` for the membership and reconfig). The
//! charm's hook runner takes any [`Ensemble`], so a whole hook can
//! run in-process against an in-memory one that scripts the servers' answers and records
//! the reconfigs. A fake must answer as ZooKeeper does: a server that does not serve gives
//! a [`ServerHealth`] with `serving: false` and the reason in `error`, `members` fails for a
//! server that does not serve, and a reconfig session applies one change at a time and
//! returns the committed config.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::admin::{AclEntry, Admin};
use super::{four, EnsembleConfig, ServerSpec, ZkError};

/// What one ZooKeeper server says about itself (`mntr`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHealth {
    /// Whether it answered and serves requests (it is part of a working quorum).
    pub serving: bool,
    /// `zk_server_state`: `leader`, `follower`, `observer`, `standalone`.
    pub state: Option<String>,
    /// `zk_peer_state`, e.g. `following - broadcast`.
    pub peer_state: Option<String>,
    /// `zk_pending_syncs` (leader only).
    pub pending_syncs: Option<u64>,
    /// What went wrong when it did not answer (for status messages).
    pub error: Option<String>,
}

impl ServerHealth {
    /// Serving and in the broadcast phase (synced with the leader, or leading).
    pub fn synced(&self) -> bool {
        self.serving
            && self
                .peer_state
                .as_deref()
                .is_some_and(|p| p.contains("broadcast"))
    }

    pub fn is_leader(&self) -> bool {
        self.serving && self.state.as_deref() == Some("leader")
    }

    /// The quorum leader, in the broadcast phase, with nothing to sync (as `mntr` tells it).
    pub fn leading() -> ServerHealth {
        ServerHealth {
            serving: true,
            state: Some("leader".into()),
            peer_state: Some("leading - broadcast".into()),
            pending_syncs: Some(0),
            error: None,
        }
    }

    /// A follower in the broadcast phase (synced with the leader).
    pub fn following() -> ServerHealth {
        ServerHealth {
            serving: true,
            state: Some("follower".into()),
            peer_state: Some("following - broadcast".into()),
            ..ServerHealth::default()
        }
    }

    /// A follower that serves but still syncs with the leader.
    pub fn syncing() -> ServerHealth {
        ServerHealth {
            serving: true,
            state: Some("follower".into()),
            peer_state: Some("following - synchronization".into()),
            ..ServerHealth::default()
        }
    }

    /// A server that does not answer, and why.
    pub fn down(why: impl Into<String>) -> ServerHealth {
        ServerHealth {
            serving: false,
            error: Some(why.into()),
            ..ServerHealth::default()
        }
    }

    /// The health an `mntr` answer (or its failure) tells.
    pub fn from_mntr(reply: Result<four::Mntr, ZkError>) -> ServerHealth {
        match reply {
            Ok(m) => ServerHealth {
                serving: true,
                state: Some(m.server_state),
                peer_state: m.peer_state,
                pending_syncs: m.pending_syncs,
                error: None,
            },
            Err(e) => ServerHealth {
                serving: false,
                error: Some(crate::report::chain(&e)),
                ..ServerHealth::default()
            },
        }
    }
}

/// A change to the voting membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipOp {
    /// Add (or re-add) a server as a participant.
    Add(ServerSpec),
    /// Remove a server by id.
    Remove { server_id: u32 },
}

/// The ensemble boundary. `host` is a server's address (client port 2181).
pub trait Ensemble {
    /// One server's health; never fails: a server that does not answer is not serving.
    fn health(&self, host: &str) -> ServerHealth;

    /// Several servers' health, by key. The real ensemble asks them at the same time.
    fn health_of_all(&self, hosts: &[(u32, String)]) -> BTreeMap<u32, ServerHealth> {
        hosts
            .iter()
            .map(|(id, host)| (*id, self.health(host)))
            .collect()
    }

    /// The membership as `host` sees it: `/zookeeper/config` read in a session
    /// authenticated as `super` (the 4lw `conf` gives it to anonymous clients, so the charm
    /// does not whitelist it). A server that takes no such session and still answers
    /// `conf` (one running an earlier revision's `zoo.cfg`, during a refresh) answers that
    /// way instead.
    fn members(&self, host: &str, super_password: Option<&str>) -> Result<EnsembleConfig, ZkError>;

    /// Waits until `host` serves and is synced, up to `timeout`; whether it is.
    fn wait_synced(&self, host: &str, timeout: Duration) -> bool;

    /// Opens a session as `super` (SASL) to any of `hosts`; a wrong password fails here.
    fn reconfig_session<'a>(
        &'a self,
        hosts: &[String],
        super_password: &str,
    ) -> Result<Box<dyn Reconfig + 'a>, ZkError>;
}

/// A `super` session that changes the membership and ACLs (the protected znodes', and the
/// client relations' chroots).
pub trait Reconfig {
    /// Applies one change, conditional on the config version when given; returns the
    /// committed config.
    fn apply(
        &mut self,
        op: &MembershipOp,
        expected_version: Option<u64>,
    ) -> Result<EnsembleConfig, ZkError>;

    /// Restricts the ACLs of `/`, `/zookeeper` and `/zookeeper/quota` so that only `super`
    /// changes them
    /// ([`super::admin::protected_acl`]).
    fn protect_root(&mut self) -> Result<(), ZkError>;

    /// Creates `path` unless it exists, and each missing znode above it, each with the ACL
    /// `acl_of` gives for its path. Whether it created `path`.
    fn ensure_znode(
        &mut self,
        path: &str,
        acl_of: &dyn Fn(&str) -> Vec<AclEntry>,
    ) -> Result<bool, ZkError>;

    /// Sets the ACL of `root` and of every znode below it to what `acl_of` gives for its
    /// path; the number of znodes set.
    fn set_acl_tree(
        &mut self,
        root: &str,
        acl_of: &dyn Fn(&str) -> Vec<AclEntry>,
    ) -> Result<usize, ZkError>;
}

impl Reconfig for Admin {
    fn apply(
        &mut self,
        op: &MembershipOp,
        expected_version: Option<u64>,
    ) -> Result<EnsembleConfig, ZkError> {
        match op {
            MembershipOp::Add(spec) => self.add_member(spec, expected_version),
            MembershipOp::Remove { server_id } => self.remove_member(*server_id, expected_version),
        }
    }

    fn protect_root(&mut self) -> Result<(), ZkError> {
        Admin::protect_root(self)
    }

    fn ensure_znode(
        &mut self,
        path: &str,
        acl_of: &dyn Fn(&str) -> Vec<AclEntry>,
    ) -> Result<bool, ZkError> {
        Admin::ensure_znode(self, path, acl_of)
    }

    fn set_acl_tree(
        &mut self,
        root: &str,
        acl_of: &dyn Fn(&str) -> Vec<AclEntry>,
    ) -> Result<usize, ZkError> {
        Admin::set_acl_tree(self, root, acl_of)
    }
}

/// The real ensemble: 4-letter words over TCP, reconfig through [`Admin`].
#[derive(Debug, Clone)]
pub struct ZkEnsemble {
    /// Timeout of one 4-letter-word exchange.
    pub four_letter_timeout: Duration,
    /// Timeout of a reconfig session's connect and each call.
    pub reconfig_timeout: Duration,
    /// Timeout of the membership read's session connect and each call.
    pub read_timeout: Duration,
}

impl Default for ZkEnsemble {
    fn default() -> Self {
        ZkEnsemble {
            four_letter_timeout: Duration::from_millis(1500),
            reconfig_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(3),
        }
    }
}

impl Ensemble for ZkEnsemble {
    fn health(&self, host: &str) -> ServerHealth {
        ServerHealth::from_mntr(four::mntr_within(host, self.four_letter_timeout))
    }

    /// One thread per server, so that a hook waits for the slowest server rather than for
    /// the sum of them.
    fn health_of_all(&self, hosts: &[(u32, String)]) -> BTreeMap<u32, ServerHealth> {
        if hosts.len() <= 1 {
            return hosts
                .iter()
                .map(|(id, host)| (*id, self.health(host)))
                .collect();
        }
        std::thread::scope(|scope| {
            let asks: Vec<_> = hosts
                .iter()
                .map(|(id, host)| (*id, scope.spawn(move || self.health(host))))
                .collect();
            asks.into_iter()
                .map(|(id, ask)| {
                    let h = ask.join().unwrap_or_else(|_| ServerHealth {
                        serving: false,
                        error: Some("the health query panicked".into()),
                        ..ServerHealth::default()
                    });
                    (id, h)
                })
                .collect()
        })
    }

    fn members(&self, host: &str, super_password: Option<&str>) -> Result<EnsembleConfig, ZkError> {
        let read = match super_password {
            Some(pw) => Admin::connect(&[host.to_string()], pw, self.read_timeout)
                .and_then(|mut admin| admin.get_config()),
            None => Err(ZkError::NoAuth(
                "no super password to read the membership with".into(),
            )),
        };
        // The session's error says more than a `conf` the server does not whitelist.
        read.or_else(|e| four::conf_within(host, self.four_letter_timeout).map_err(|_| e))
    }

    fn wait_synced(&self, host: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.health(host).synced() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn reconfig_session<'a>(
        &'a self,
        hosts: &[String],
        super_password: &str,
    ) -> Result<Box<dyn Reconfig + 'a>, ZkError> {
        let admin = Admin::connect(hosts, super_password, self.reconfig_timeout)?;
        Ok(Box::new(admin))
    }
}
