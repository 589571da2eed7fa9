//! An in-memory [`Ensemble`] for tests: scripted servers, one membership, and a record of
//! what the charm asked and changed.
//!
//! [`FakeEnsemble`] answers as ZooKeeper does, so that a hook run against it takes the
//! paths it would take against real servers:
//! - each server is known by its address and has a scripted [`ServerHealth`]; an address
//!   with no script does not answer (`connection refused`);
//! - `members` answers only from a serving server, with the one membership and its version,
//!   to a `super` session (with the scripted password, if one is) or, when the servers
//!   answer the 4lw `conf` ([`FakeEnsemble::answering_conf`]), to anyone;
//! - a reconfig session needs a serving server and, when a `super` password is scripted,
//!   that password; it applies one change at a time, conditional on the config version
//!   (a stale one is [`ZkError::BadVersion`]), bumps the version, and refuses to remove the
//!   last voter or a server that is not a member;
//! - faults can be queued: the next changes fail with `BadVersion`, a connection loss or a
//!   refusal, and changing nothing;
//! - znodes other than the root are a map of path to ACL: a session creates missing ones
//!   (parents first) and sets the ACL of a znode and everything below it; a fault can fail
//!   the next ACL change.
//!
//! Every health query, membership query, wait and change is recorded in order.
//!
//! ```
//! use zookeeper_charm::zk::ensemble::{Ensemble, MembershipOp, ServerHealth};
//! use zookeeper_charm::zk::fake::{FakeEnsemble, Fault};
//!
//! let zk = FakeEnsemble::new()
//!     .voter(1, "127.0.0.11", ServerHealth::leading())
//!     .voter(2, "127.0.0.12", ServerHealth::following())
//!     .fault(Fault::BadVersion);
//! assert_eq!(zk.members("127.0.0.12", Some("pw")).unwrap().voters(), [1, 2]);
//! let mut session = zk.reconfig_session(&["127.0.0.11".into()], "pw").unwrap();
//! let remove = MembershipOp::Remove { server_id: 2 };
//! assert!(session.apply(&remove, Some(zk.version())).is_err()); // the queued fault
//! assert_eq!(session.apply(&remove, Some(zk.version())).unwrap().voters(), [1]);
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use std::collections::BTreeMap;

use super::admin::AclEntry;
use super::ensemble::{Ensemble, MembershipOp, Reconfig, ServerHealth};
use super::{EnsembleConfig, Role, ServerSpec, ZkError};

/// A failure the next reconfig change meets instead of being applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Another change came first (`BadVersion`).
    BadVersion,
    /// The session dropped; the change may or may not have been applied (here: not).
    ConnectionLoss,
    /// ZooKeeper refused the change, with this reason.
    Refused(String),
}

impl Fault {
    fn error(&self) -> ZkError {
        match self {
            Fault::BadVersion => ZkError::BadVersion,
            Fault::ConnectionLoss => ZkError::ConnectionLoss("session expired".into()),
            Fault::Refused(why) => ZkError::Refused(why.clone()),
        }
    }
}

/// One thing the charm asked of the ensemble, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// `mntr` of a server.
    Health(String),
    /// The membership, from a server.
    Members(String),
    /// Waited for a server to be synced.
    WaitSynced(String),
    /// Opened a reconfig session with these hosts.
    Session(Vec<String>),
    /// Made sure a znode exists.
    EnsureZnode(String),
    /// Set the ACLs of a znode and everything below it.
    SetAclTree(String),
}

/// One membership change the charm tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconfigured {
    pub op: MembershipOp,
    pub expected_version: Option<u64>,
    /// The committed version, or the error's text.
    pub result: Result<u64, String>,
}

#[derive(Debug, Default)]
struct State {
    servers: std::collections::BTreeMap<String, ServerHealth>,
    config: EnsembleConfig,
    super_password: Option<String>,
    faults: VecDeque<Fault>,
    asked: Vec<Asked>,
    reconfigs: Vec<Reconfigured>,
    /// The servers answer the 4lw `conf` (an earlier revision's whitelist).
    answers_conf: bool,
    /// `/` and `/zookeeper` were restricted.
    root_protected: bool,
    /// The next `protect_root` fails with this.
    protect_fault: Option<Fault>,
    /// Znodes other than the root, and their ACLs.
    znodes: BTreeMap<String, Vec<AclEntry>>,
    /// The next ACL change (create or set) fails with this.
    acl_fault: Option<Fault>,
}

impl State {
    fn health(&self, host: &str) -> ServerHealth {
        self.servers
            .get(host)
            .cloned()
            .unwrap_or_else(|| ServerHealth::down(format!("cannot reach {host}:2181")))
    }
}

/// The in-memory ensemble. See the module docs.
#[derive(Debug, Default)]
pub struct FakeEnsemble {
    state: RefCell<State>,
}

impl FakeEnsemble {
    /// No server answers, and the membership is empty (version 0).
    pub fn new() -> FakeEnsemble {
        FakeEnsemble::default()
    }

    /// A server at `host` with `health`, not a member.
    pub fn server(self, host: &str, health: ServerHealth) -> Self {
        self.set_health(host, health);
        self
    }

    /// A voting member: server `id` at `host`, with `health`.
    pub fn voter(self, id: u32, host: &str, health: ServerHealth) -> Self {
        {
            let mut st = self.state.borrow_mut();
            st.config.members.insert(
                id,
                ServerSpec {
                    id,
                    host: host.to_string(),
                    role: Role::Participant,
                },
            );
        }
        self.server(host, health)
    }

    /// The config version the membership has now.
    pub fn with_version(self, version: u64) -> Self {
        self.state.borrow_mut().config.version = version;
        self
    }

    /// Reconfig sessions must authenticate as `super` with `password`.
    pub fn super_password(self, password: &str) -> Self {
        self.state.borrow_mut().super_password = Some(password.to_string());
        self
    }

    /// The servers answer the 4lw `conf` to anyone, as with an earlier revision's
    /// `zoo.cfg`: the membership reads without a `super` session.
    pub fn answering_conf(self) -> Self {
        self.state.borrow_mut().answers_conf = true;
        self
    }

    /// The next change fails with `fault` (queued: one fault per change).
    pub fn fault(self, fault: Fault) -> Self {
        self.state.borrow_mut().faults.push_back(fault);
        self
    }

    /// The next `protect_root` fails with `fault`.
    pub fn protect_fault(self, fault: Fault) -> Self {
        self.state.borrow_mut().protect_fault = Some(fault);
        self
    }

    /// Whether a session restricted the ACLs of `/` and `/zookeeper`.
    pub fn root_protected(&self) -> bool {
        self.state.borrow().root_protected
    }

    /// A znode with `acl` (its parents are not created).
    pub fn znode(self, path: &str, acl: &[AclEntry]) -> Self {
        self.state
            .borrow_mut()
            .znodes
            .insert(path.to_string(), acl.to_vec());
        self
    }

    /// The next ACL change fails with `fault`.
    pub fn acl_fault(self, fault: Fault) -> Self {
        self.state.borrow_mut().acl_fault = Some(fault);
        self
    }

    /// Every znode but the root, with its ACL.
    pub fn znodes(&self) -> BTreeMap<String, Vec<AclEntry>> {
        self.state.borrow().znodes.clone()
    }

    /// Changes a server's health (a server that goes down, or comes up, between calls).
    pub fn set_health(&self, host: &str, health: ServerHealth) {
        self.state
            .borrow_mut()
            .servers
            .insert(host.to_string(), health);
    }

    // ---- what happened ------------------------------------------------------------------

    /// The membership now.
    pub fn config(&self) -> EnsembleConfig {
        self.state.borrow().config.clone()
    }

    /// The config version now.
    pub fn version(&self) -> u64 {
        self.state.borrow().config.version
    }

    /// Everything asked, in order.
    pub fn asked(&self) -> Vec<Asked> {
        self.state.borrow().asked.clone()
    }

    /// The hosts whose health was asked, in order.
    pub fn health_asked(&self) -> Vec<String> {
        self.asked()
            .into_iter()
            .filter_map(|a| match a {
                Asked::Health(h) => Some(h),
                _ => None,
            })
            .collect()
    }

    /// Every change tried, in order, with its result.
    pub fn reconfigs(&self) -> Vec<Reconfigured> {
        self.state.borrow().reconfigs.clone()
    }

    fn ask(&self, asked: Asked) {
        self.state.borrow_mut().asked.push(asked);
    }
}

impl Ensemble for FakeEnsemble {
    fn health(&self, host: &str) -> ServerHealth {
        self.ask(Asked::Health(host.to_string()));
        self.state.borrow().health(host)
    }

    fn members(&self, host: &str, super_password: Option<&str>) -> Result<EnsembleConfig, ZkError> {
        self.ask(Asked::Members(host.to_string()));
        let st = self.state.borrow();
        if !st.health(host).serving {
            return Err(ZkError::NotServing {
                addr: format!("{host}:2181"),
            });
        }
        let authenticated = match (&st.super_password, super_password) {
            (None, Some(_)) => true,
            (Some(want), Some(given)) => want == given,
            (_, None) => false,
        };
        if authenticated || st.answers_conf {
            Ok(st.config.clone())
        } else {
            Err(ZkError::NoAuth(format!("{host}: authentication failed")))
        }
    }

    /// Answers at once: a fake server is synced or it is not.
    fn wait_synced(&self, host: &str, _timeout: Duration) -> bool {
        self.ask(Asked::WaitSynced(host.to_string()));
        self.state.borrow().health(host).synced()
    }

    fn reconfig_session<'a>(
        &'a self,
        hosts: &[String],
        super_password: &str,
    ) -> Result<Box<dyn Reconfig + 'a>, ZkError> {
        self.ask(Asked::Session(hosts.to_vec()));
        let st = self.state.borrow();
        let Some(host) = hosts.iter().find(|h| st.health(h).serving) else {
            return Err(ZkError::ConnectionLoss(format!(
                "no server of {hosts:?} answered"
            )));
        };
        if st
            .super_password
            .as_deref()
            .is_some_and(|p| p != super_password)
        {
            return Err(ZkError::NoAuth(format!("{host}: authentication failed")));
        }
        Ok(Box::new(Session { ensemble: self }))
    }
}

/// A reconfig session on a [`FakeEnsemble`].
struct Session<'a> {
    ensemble: &'a FakeEnsemble,
}

impl Reconfig for Session<'_> {
    fn apply(
        &mut self,
        op: &MembershipOp,
        expected_version: Option<u64>,
    ) -> Result<EnsembleConfig, ZkError> {
        let mut st = self.ensemble.state.borrow_mut();
        let result = match st.faults.pop_front() {
            Some(fault) => Err(fault.error()),
            None => change(&mut st.config, op, expected_version),
        };
        st.reconfigs.push(Reconfigured {
            op: op.clone(),
            expected_version,
            result: result
                .as_ref()
                .map(|c| c.version)
                .map_err(ToString::to_string),
        });
        result
    }

    fn protect_root(&mut self) -> Result<(), ZkError> {
        let mut st = self.ensemble.state.borrow_mut();
        if let Some(fault) = st.protect_fault.take() {
            return Err(fault.error());
        }
        st.root_protected = true;
        Ok(())
    }

    fn ensure_znode(
        &mut self,
        path: &str,
        acl_of: &dyn Fn(&str) -> Vec<AclEntry>,
    ) -> Result<bool, ZkError> {
        self.ensemble.ask(Asked::EnsureZnode(path.to_string()));
        let mut st = self.ensemble.state.borrow_mut();
        if let Some(fault) = st.acl_fault.take() {
            return Err(fault.error());
        }
        for (i, _) in path.match_indices('/').skip(1) {
            let parent = &path[..i];
            st.znodes
                .entry(parent.to_string())
                .or_insert_with(|| acl_of(parent));
        }
        if st.znodes.contains_key(path) {
            return Ok(false);
        }
        st.znodes.insert(path.to_string(), acl_of(path));
        Ok(true)
    }

    fn set_acl_tree(
        &mut self,
        root: &str,
        acl_of: &dyn Fn(&str) -> Vec<AclEntry>,
    ) -> Result<usize, ZkError> {
        self.ensemble.ask(Asked::SetAclTree(root.to_string()));
        let mut st = self.ensemble.state.borrow_mut();
        if let Some(fault) = st.acl_fault.take() {
            return Err(fault.error());
        }
        if !st.znodes.contains_key(root) {
            return Err(ZkError::NoNode(root.to_string()));
        }
        let below = format!("{root}/");
        let mut done = 0;
        for (path, acl) in st.znodes.iter_mut() {
            if path == root || path.starts_with(&below) {
                *acl = acl_of(path);
                done += 1;
            }
        }
        Ok(done)
    }
}

/// Applies one change to `config` as ZooKeeper's incremental reconfig does.
fn change(
    config: &mut EnsembleConfig,
    op: &MembershipOp,
    expected_version: Option<u64>,
) -> Result<EnsembleConfig, ZkError> {
    if expected_version.is_some_and(|v| v != config.version) {
        return Err(ZkError::BadVersion);
    }
    match op {
        MembershipOp::Add(spec) => {
            config.members.insert(spec.id, spec.clone());
        }
        MembershipOp::Remove { server_id } => {
            if !config.members.contains_key(server_id) {
                return Err(ZkError::Refused(format!(
                    "server {server_id} is not a member"
                )));
            }
            if config.voters() == [*server_id] {
                return Err(ZkError::Refused("cannot remove the last voter".into()));
            }
            config.members.remove(server_id);
        }
    }
    config.version += 1;
    Ok(config.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> FakeEnsemble {
        FakeEnsemble::new()
            .voter(1, "127.0.0.11", ServerHealth::leading())
            .voter(2, "127.0.0.12", ServerHealth::following())
            .voter(3, "127.0.0.13", ServerHealth::down("connection refused"))
            .with_version(0x1_0000_0003)
    }

    fn spec(id: u32) -> ServerSpec {
        ServerSpec {
            id,
            host: format!("127.0.0.{}", 10 + id),
            role: Role::Participant,
        }
    }

    #[test]
    fn health_and_members_answer_only_from_serving_servers() {
        let zk = three();
        assert!(zk.health("127.0.0.11").is_leader());
        assert!(zk.health("127.0.0.12").synced());
        assert!(!zk.health("127.0.0.13").serving);
        assert!(!zk.health("127.0.0.99").serving, "unknown host");
        assert_eq!(
            zk.members("127.0.0.12", Some("pw")).unwrap().voters(),
            [1, 2, 3]
        );
        assert!(matches!(
            zk.members("127.0.0.13", Some("pw")),
            Err(ZkError::NotServing { .. })
        ));
        assert!(zk.wait_synced("127.0.0.12", Duration::from_secs(40)));
        assert!(!zk.wait_synced("127.0.0.13", Duration::from_secs(40)));
        assert_eq!(
            zk.health_asked(),
            ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.99"]
        );
        assert_eq!(zk.asked().len(), 8);
    }

    #[test]
    fn a_change_applies_on_the_current_version_and_bumps_it() {
        let zk = three();
        let v = zk.version();
        let mut s = zk.reconfig_session(&["127.0.0.11".into()], "pw").unwrap();
        let cfg = s.apply(&MembershipOp::Add(spec(4)), Some(v)).unwrap();
        assert_eq!(cfg.voters(), [1, 2, 3, 4]);
        assert_eq!(cfg.version, v + 1);
        // The same version again is stale, as after any other change.
        assert!(matches!(
            s.apply(&MembershipOp::Remove { server_id: 3 }, Some(v)),
            Err(ZkError::BadVersion)
        ));
        let cfg = s
            .apply(&MembershipOp::Remove { server_id: 3 }, None)
            .unwrap();
        assert_eq!(cfg.voters(), [1, 2, 4]);
        drop(s);
        assert_eq!(zk.config().voters(), [1, 2, 4]);
        let results: Vec<_> = zk.reconfigs().into_iter().map(|r| r.result).collect();
        assert_eq!(
            results,
            [
                Ok(v + 1),
                Err("the ensemble config changed meanwhile (bad version)".into()),
                Ok(v + 2)
            ]
        );
    }

    #[test]
    fn queued_faults_fail_one_change_each_and_change_nothing() {
        let zk = three()
            .fault(Fault::ConnectionLoss)
            .fault(Fault::Refused("no".into()));
        let mut s = zk.reconfig_session(&["127.0.0.12".into()], "pw").unwrap();
        let remove = MembershipOp::Remove { server_id: 3 };
        assert!(matches!(
            s.apply(&remove, None),
            Err(ZkError::ConnectionLoss(_))
        ));
        assert!(matches!(s.apply(&remove, None), Err(ZkError::Refused(_))));
        assert_eq!(zk.config().voters(), [1, 2, 3]);
        assert!(s.apply(&remove, None).is_ok());
    }

    #[test]
    fn a_session_needs_a_serving_server_and_the_super_password() {
        let zk = three().super_password("right");
        assert!(matches!(
            zk.reconfig_session(&["127.0.0.13".into()], "right"),
            Err(ZkError::ConnectionLoss(_))
        ));
        assert!(matches!(
            zk.reconfig_session(&["127.0.0.13".into(), "127.0.0.11".into()], "wrong"),
            Err(ZkError::NoAuth(_))
        ));
        assert!(zk
            .reconfig_session(&["127.0.0.13".into(), "127.0.0.11".into()], "right")
            .is_ok());
    }

    #[test]
    fn znodes_are_created_parents_first_and_acls_set_on_a_whole_subtree() {
        use crate::zk::admin::Perms;
        let read = vec![AclEntry::anyone(Perms::READ)];
        let all = vec![AclEntry::anyone(Perms::ALL)];
        let zk = three().znode("/other", &all);
        let mut s = zk.reconfig_session(&["127.0.0.11".into()], "pw").unwrap();
        let leaf_all = |p: &str| {
            if p == "/a/b/c" {
                all.clone()
            } else {
                read.clone()
            }
        };
        assert!(s.ensure_znode("/a/b/c", &leaf_all).unwrap());
        assert!(!s.ensure_znode("/a/b/c", &|_| read.clone()).unwrap());
        assert!(!s.ensure_znode("/a/b", &|_| all.clone()).unwrap());
        assert_eq!(zk.znodes()["/a"], read);
        assert_eq!(zk.znodes()["/a/b"], read);
        assert_eq!(zk.znodes()["/a/b/c"], all);
        let n = s
            .set_acl_tree("/a/b", &|p| {
                vec![AclEntry::new(Perms(p.len() as i32), "x", "y")]
            })
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(zk.znodes()["/a/b"][0].perms, Perms(4));
        assert_eq!(zk.znodes()["/a/b/c"][0].perms, Perms(6));
        assert_eq!(zk.znodes()["/a"], read, "above the subtree: untouched");
        assert_eq!(zk.znodes()["/other"], all);
        assert!(matches!(
            s.set_acl_tree("/none", &|_| Vec::new()),
            Err(ZkError::NoNode(_))
        ));
    }

    #[test]
    fn the_membership_is_read_as_super_unless_the_servers_answer_conf() {
        let zk = three().super_password("right");
        assert!(zk.members("127.0.0.11", Some("right")).is_ok());
        for wrong in [Some("wrong"), None] {
            assert!(matches!(
                zk.members("127.0.0.11", wrong),
                Err(ZkError::NoAuth(_))
            ));
        }
        let old = three().super_password("right").answering_conf();
        assert_eq!(old.members("127.0.0.11", None).unwrap().voters(), [1, 2, 3]);
    }

    #[test]
    fn the_last_voter_and_a_stranger_are_never_removed() {
        let zk = FakeEnsemble::new().voter(1, "127.0.0.11", ServerHealth::leading());
        let mut s = zk.reconfig_session(&["127.0.0.11".into()], "pw").unwrap();
        assert!(s
            .apply(&MembershipOp::Remove { server_id: 1 }, None)
            .is_err());
        assert!(s
            .apply(&MembershipOp::Remove { server_id: 7 }, None)
            .is_err());
        assert_eq!(zk.config().voters(), [1]);
    }
}
