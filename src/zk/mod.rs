//! The one ZooKeeper client module: 4-letter words over plain TCP for health and role
//! ([`four`]), and dynamic reconfiguration and ACLs authenticated as `super` ([`admin`]).
//!
//! [`ensemble`] puts both behind the [`ensemble::Ensemble`] trait the charm uses;
//! [`fake`] is an in-memory one for tests.
//!
//! Reconfig and 4lw always use the plaintext client port 2181 of a server's address.

pub mod admin;
pub mod ensemble;
pub mod fake;
pub mod four;

use std::collections::BTreeMap;

/// The client port every unit listens on (on its own address).
pub const CLIENT_PORT: u16 = 2181;
/// The quorum port.
pub const QUORUM_PORT: u16 = 2888;
/// The user whose SASL identity is ZooKeeper's superuser (`-Dzookeeper.superUser`).
pub const SUPER_USER: &str = "super";
/// The leader-election port.
pub const ELECTION_PORT: u16 = 3888;

/// Errors from talking to ZooKeeper.
#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    #[error("cannot reach {addr}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr} is not serving requests")]
    NotServing { addr: String },
    #[error("unexpected reply from {addr} to `{cmd}`: {detail}")]
    Parse {
        addr: String,
        cmd: String,
        detail: String,
    },
    #[error("not authorised: {0}")]
    NoAuth(String),
    #[error("{0}: the znode already exists")]
    NodeExists(String),
    #[error("{0}: no such znode")]
    NoNode(String),
    #[error("the ensemble config changed meanwhile (bad version)")]
    BadVersion,
    #[error("a reconfig is already in progress")]
    ReconfigInProgress,
    #[error("zookeeper refused the reconfig: {0}")]
    Refused(String),
    #[error("connection lost or timed out: {0}")]
    ConnectionLoss(String),
    #[error("zookeeper client error: {0}")]
    Client(String),
}

/// A server's role in a member line (`...:participant;...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Participant,
    Observer,
}

/// One `server.<id>=<host>:<quorum>:<election>:<role>;<client host>:<client port>` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// The server id (`myid`): the unit id + 1.
    pub id: u32,
    pub host: String,
    pub role: Role,
}

impl ServerSpec {
    /// The value part: `<host>:2888:3888:<role>;<host>:2181`.
    pub fn value(&self) -> String {
        let role = match self.role {
            Role::Participant => "participant",
            Role::Observer => "observer",
        };
        format!(
            "{h}:{QUORUM_PORT}:{ELECTION_PORT}:{role};{h}:{CLIENT_PORT}",
            h = self.host
        )
    }
    /// The whole line: `server.<id>=<value>`.
    pub fn line(&self) -> String {
        format!("server.{}={}", self.id, self.value())
    }
}

/// The ensemble configuration as ZooKeeper reports it (`/zookeeper/config` or 4lw `conf`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnsembleConfig {
    /// Members by server id.
    pub members: BTreeMap<u32, ServerSpec>,
    /// The config version (the hex after `version=`), 0 when absent.
    pub version: u64,
}

impl EnsembleConfig {
    /// The server ids of the voting members.
    pub fn voters(&self) -> Vec<u32> {
        self.members
            .values()
            .filter(|s| s.role == Role::Participant)
            .map(|s| s.id)
            .collect()
    }
}
