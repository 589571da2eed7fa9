//! The plan one reconcile round carries out: typed relation writes, workload operations,
//! membership changes, and candidate statuses. The pure decision builds it from a snapshot
//! without doing anything; the executor carries it out.
//!
//! Relation writes are the peer modules' patches ([`crate::peers`]), serialised by those
//! modules and compared with the bags as read, so that an unchanged value is never
//! written again. A plan with nothing to do [`Plan::is_idle`]; the hook then stops and sets
//! the last plan's status.

use crate::client::decide::ClientPlan;
use std::collections::BTreeSet;

use crate::cos::relation as cos_agent;
use crate::hooktools::SecretId;
use crate::machine::Purgeable;
use crate::passwords::Credentials;
use crate::peers::{cluster, restart, upgrade};
use crate::render::{Rendered, TlsConfig};
use crate::snapshot::Snapshot;
use crate::status::Status;
use crate::tls::{Bundle, CsrSubject, PrivateKey};
use crate::zk::ensemble::MembershipOp;
use crate::zk::ServerSpec;

/// Something to do to the workload, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadOp {
    Install,
    /// Write the rendered files and start the server. `initial_members` is the dynamic
    /// config of a first start; `None` keeps the dynamic config ZooKeeper maintains.
    Start {
        initial_members: Option<Vec<ServerSpec>>,
    },
    /// Write the rendered files and restart (holding the restart lock).
    Restart,
    /// This unit's turn in an upgrade: stop, install the pinned workload, write the files,
    /// start, wait until synced.
    Upgrade {
        if_it_fails: UpgradeFailed,
    },
    Stop,
    /// Delete old snapshots and logs now, keeping `retain` snapshots: the data disk is
    /// `used_percent` full, and this frees `frees`.
    Purge {
        retain: u32,
        used_percent: u32,
        frees: Purgeable,
    },
}

impl WorkloadOp {
    /// The verb, for messages (`cannot restart ZooKeeper`).
    pub fn verb(&self) -> &'static str {
        match self {
            WorkloadOp::Install => "install",
            WorkloadOp::Start { .. } => "start",
            WorkloadOp::Restart => "restart",
            WorkloadOp::Upgrade { .. } => "upgrade",
            WorkloadOp::Stop => "stop",
            WorkloadOp::Purge { .. } => "purge",
        }
    }
}

/// What to do when this unit's upgrade fails, decided with the upgrade: the write that
/// tells the other units, and how the operator rolls back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeFailed {
    pub upgrade_unit: upgrade::UnitPatch,
    /// What the operator runs to roll back (`roll back: run ...`).
    pub roll_back: String,
}

/// A write of the internal secret (the leader's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretWrite {
    /// Create the internal secret (or take over the one that already has its label) with
    /// these passwords plus a new one for each internal user without one, and record its URI
    /// in the app bag.
    Create { content: Credentials },
    /// Replace the content of the internal secret.
    Update { id: SecretId, content: Credentials },
    /// Replace the content of the internal secret with `content` plus a new password for
    /// each client relation of `generate` that has none (the client relations' users).
    Clients {
        id: SecretId,
        content: Credentials,
        generate: std::collections::BTreeSet<u32>,
    },
}

/// The TLS work of one round, before any workload operation (see `decide::tls`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOps {
    /// Generate a new private key and store it.
    pub generate_key: bool,
    /// Store this key (from `set-tls-private-key`).
    pub store_key: Option<PrivateKey>,
    /// Publish a new CSR for these names, signed with the stored key, in this unit's
    /// `certificates` bag (replacing the one there).
    pub publish_csr: Option<CsrSubject>,
    /// Write ZooKeeper's PEM stores for this certificate and the stored key.
    pub install: Option<Box<Bundle>>,
    /// Delete ZooKeeper's PEM stores.
    pub remove_files: bool,
}

impl TlsOps {
    pub fn is_empty(&self) -> bool {
        *self == TlsOps::default()
    }
}

/// What one round of a hook does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Plan {
    /// The internal secret to create or change (leader).
    pub secret: Option<SecretWrite>,
    /// The round needs the internal passwords, which the hook has not read yet: read them
    /// and decide again.
    pub need_credentials: bool,
    /// Restrict the ACLs of `/` and `/zookeeper` as `super`, then record it (leader).
    pub protect_root: bool,
    /// The fingerprint of the files `rendered` holds (see [`crate::render::fingerprint`]),
    /// recorded when a server starts with them.
    pub fingerprint: Option<String>,
    pub cluster_unit: cluster::UnitPatch,
    pub cluster_app: cluster::AppPatch,
    pub restart_unit: restart::UnitPatch,
    pub restart_app: restart::AppPatch,
    pub upgrade_unit: upgrade::UnitPatch,
    pub upgrade_app: upgrade::AppPatch,
    /// This unit's `cos-agent` bag.
    pub cos_agent_unit: cos_agent::UnitPatch,
    /// Record this unit's upgrade as failed, with the cause.
    pub upgrade_failure: Option<String>,
    pub workload: Vec<WorkloadOp>,
    pub membership: Vec<MembershipOp>,
    /// The rendered files, when a workload op writes them.
    pub rendered: Option<Rendered>,
    /// The TLS part of this unit's files, what `fingerprint` and `rendered` are made with.
    pub tls_config: Option<TlsConfig>,
    pub tls: TlsOps,
    /// The TCP ports this unit should have opened (its client ports while it serves), when
    /// they may differ from the ones it had opened.
    pub ports: Option<BTreeSet<u16>>,
    /// Candidate statuses; the highest wins at the end of the hook.
    pub statuses: Vec<Status>,
    /// The client relations' work beyond the `cluster` bag writes and the internal secret
    /// (which are in the fields above).
    pub client: ClientPlan,
}

/// One relation's writes, as key/value pairs, after comparing with the bags as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writes {
    pub unit: crate::hooktools::Databag,
    pub app: crate::hooktools::Databag,
}

impl Plan {
    /// True when executing this plan would change nothing.
    pub fn is_idle(&self) -> bool {
        self.secret.is_none()
            && !self.need_credentials
            && !self.protect_root
            && self.cluster_unit.is_empty()
            && self.cluster_app.is_empty()
            && self.restart_unit.is_empty()
            && self.restart_app.is_empty()
            && self.upgrade_unit.is_empty()
            && self.upgrade_app.is_empty()
            && self.cos_agent_unit.is_empty()
            && self.upgrade_failure.is_none()
            && self.workload.is_empty()
            && self.membership.is_empty()
            && self.tls.is_empty()
            && self.client.is_idle()
            && self.ports.is_none()
    }

    /// The cluster writes that change something in `s`.
    pub fn cluster_writes(&self, s: &Snapshot) -> Writes {
        match &s.cluster {
            Some(c) => Writes {
                unit: crate::peers::changes(self.cluster_unit.to_bag(), &c.raw_own),
                app: crate::peers::changes(self.cluster_app.to_bag(), &c.raw_app),
            },
            None => Writes::default(),
        }
    }

    /// The restart-lock writes that change something in `s`.
    pub fn restart_writes(&self, s: &Snapshot) -> Writes {
        match &s.restart {
            Some(r) => Writes {
                unit: crate::peers::changes(self.restart_unit.to_bag(), &r.raw_own),
                app: crate::peers::changes(self.restart_app.to_bag(&s.app_name), &r.raw_app),
            },
            None => Writes::default(),
        }
    }

    /// The upgrade writes that change something in `s`.
    pub fn upgrade_writes(&self, s: &Snapshot) -> Writes {
        match &s.upgrade {
            Some(u) => Writes {
                unit: crate::peers::changes(self.upgrade_unit.to_bag(), &u.raw_own),
                app: crate::peers::changes(self.upgrade_app.to_bag(), &u.raw_app),
            },
            None => Writes::default(),
        }
    }

    /// The `cos-agent` write that changes something in `s` (only this unit's bag).
    pub fn cos_agent_writes(&self, s: &Snapshot) -> Writes {
        match &s.cos_agent {
            Some(r) => Writes {
                unit: crate::peers::changes(self.cos_agent_unit.to_bag(), &r.raw_own),
                app: crate::hooktools::Databag::new(),
            },
            None => Writes::default(),
        }
    }

    /// Drops the patches that would write nothing new into `s`, so that [`Plan::is_idle`]
    /// holds exactly when executing would change nothing.
    pub fn drop_unchanged(&mut self, s: &Snapshot) {
        let cluster = self.cluster_writes(s);
        if cluster.unit.is_empty() {
            self.cluster_unit = cluster::UnitPatch::default();
        }
        if cluster.app.is_empty() {
            self.cluster_app = cluster::AppPatch::default();
        }
        let restart = self.restart_writes(s);
        if restart.unit.is_empty() {
            self.restart_unit = restart::UnitPatch::default();
        }
        if restart.app.is_empty() {
            self.restart_app = restart::AppPatch::default();
        }
        let upgrade = self.upgrade_writes(s);
        if upgrade.unit.is_empty() {
            self.upgrade_unit = upgrade::UnitPatch::default();
        }
        if upgrade.app.is_empty() {
            self.upgrade_app = upgrade::AppPatch::default();
        }
        // Unknown opened ports with none wanted: a unit that never opened any has none.
        let known = &s.local.opened_ports;
        if self.ports.as_ref() == known.as_ref()
            || (known.is_none() && self.ports.as_ref().is_some_and(BTreeSet::is_empty))
        {
            self.ports = None;
        }
        if self.cos_agent_writes(s).unit.is_empty() {
            self.cos_agent_unit = cos_agent::UnitPatch::default();
        }
    }

    /// A one-line account of what the plan does in `s`, for the unit log. Values of keys
    /// that hold secrets are not shown.
    pub fn summary(&self, s: &Snapshot) -> String {
        let bag = |name: &str, b: &crate::hooktools::Databag| -> Option<String> {
            if b.is_empty() {
                return None;
            }
            let items: Vec<String> = b
                .iter()
                .map(|(k, v)| {
                    if k.contains("password") {
                        format!("{k}=<redacted>")
                    } else {
                        format!("{k}={v:?}")
                    }
                })
                .collect();
            Some(format!("{name} {{{}}}", items.join(", ")))
        };
        let (c, r, u) = (
            self.cluster_writes(s),
            self.restart_writes(s),
            self.upgrade_writes(s),
        );
        let mut parts: Vec<String> = [
            bag("cluster unit", &c.unit),
            bag("cluster app", &c.app),
            bag("restart unit", &r.unit),
            bag("restart app", &r.app),
            bag("upgrade unit", &u.unit),
            bag("upgrade app", &u.app),
        ]
        .into_iter()
        .flatten()
        .collect();
        // The value is the whole COS config (alert rules, dashboards): its size says enough.
        for (key, value) in self.cos_agent_writes(s).unit {
            parts.push(format!("cos-agent unit {{{key}=<{} bytes>}}", value.len()));
        }
        match &self.secret {
            Some(SecretWrite::Create { .. }) => {
                parts.push("put the internal passwords in a Juju secret".into())
            }
            Some(SecretWrite::Update { .. }) => parts.push("update the internal secret".into()),
            Some(SecretWrite::Clients {
                content, generate, ..
            }) => parts.push(format!(
                "client users in the internal secret: {:?} (new: {generate:?})",
                content.clients.keys().collect::<Vec<_>>()
            )),
            None => {}
        }
        let c = &self.client;
        if let Some(acl) = &c.acl {
            parts.push(format!(
                "client ACLs: create {:?}, set below {:?}",
                acl.work
                    .create
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>(),
                acl.work.walk.iter().map(|c| c.as_str()).collect::<Vec<_>>()
            ));
        }
        for p in &c.publish {
            parts.push(format!(
                "publish to {}",
                crate::peers::zookeeper::relation_id(p.relation)
            ));
        }
        for id in &c.forget {
            parts.push(format!(
                "remove the secrets of {}",
                crate::peers::zookeeper::relation_id(*id)
            ));
        }
        if let Some(b) = bag("cluster app, once done", &c.after.to_bag()) {
            parts.push(b);
        }
        if c.need_secrets {
            parts.push("read the client secrets".into());
        }
        if self.protect_root {
            parts.push("restrict the ACLs of /, /zookeeper and /zookeeper/quota".into());
        }
        if self.tls.generate_key {
            parts.push("generate a TLS key".into());
        }
        if self.tls.store_key.is_some() {
            parts.push("store the given TLS key".into());
        }
        if let Some(subject) = &self.tls.publish_csr {
            parts.push(format!(
                "request a certificate for {}",
                subject.common_name()
            ));
        }
        if let Some(bundle) = &self.tls.install {
            parts.push(format!(
                "install certificate {} (serial {})",
                bundle.fingerprint(),
                bundle.leaf().serial()
            ));
        }
        if self.tls.remove_files {
            parts.push("delete the TLS key and trust stores".into());
        }
        for op in &self.workload {
            parts.push(match op {
                WorkloadOp::Start {
                    initial_members: Some(m),
                } => format!(
                    "first start with servers {:?}",
                    m.iter().map(|s| s.id).collect::<Vec<_>>()
                ),
                WorkloadOp::Start {
                    initial_members: None,
                } => "start".into(),
                WorkloadOp::Purge { retain, .. } => {
                    format!("purge old snapshots and logs, keeping {retain}")
                }
                other => other.verb().into(),
            });
        }
        for op in &self.membership {
            parts.push(match op {
                MembershipOp::Add(spec) => format!("reconfig add {}", spec.line()),
                MembershipOp::Remove { server_id } => format!("reconfig remove server {server_id}"),
            });
        }
        if self.upgrade_failure.is_some() {
            parts.push("record the upgrade failure".into());
        }
        if let Some(ports) = &self.ports {
            parts.push(format!("opened ports {ports:?}"));
        }
        format!("plan: {}", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_with_anything_to_do_is_not_idle() {
        assert!(Plan::default().is_idle());
        let ip = Some("127.0.0.11".parse().unwrap());
        let busy: [(&str, Plan); 15] = [
            (
                "client",
                Plan {
                    client: ClientPlan {
                        forget: vec![3],
                        ..ClientPlan::default()
                    },
                    ..Plan::default()
                },
            ),
            (
                "passwords",
                Plan {
                    secret: Some(SecretWrite::Create {
                        content: Credentials::default(),
                    }),
                    ..Plan::default()
                },
            ),
            (
                "credentials",
                Plan {
                    need_credentials: true,
                    ..Plan::default()
                },
            ),
            (
                "root acl",
                Plan {
                    protect_root: true,
                    ..Plan::default()
                },
            ),
            (
                "cluster unit",
                Plan {
                    cluster_unit: cluster::UnitPatch {
                        ip,
                        ..Default::default()
                    },
                    ..Plan::default()
                },
            ),
            (
                "cluster app",
                Plan {
                    cluster_app: cluster::AppPatch {
                        starting: Some(None),
                        ..Default::default()
                    },
                    ..Plan::default()
                },
            ),
            (
                "restart unit",
                Plan {
                    restart_unit: restart::UnitPatch {
                        inputs: Some("f".into()),
                        ..Default::default()
                    },
                    ..Plan::default()
                },
            ),
            (
                "restart app",
                Plan {
                    restart_app: restart::AppPatch {
                        grants: [(1, None)].into(),
                    },
                    ..Plan::default()
                },
            ),
            (
                "upgrade unit",
                Plan {
                    upgrade_unit: upgrade::UnitPatch {
                        state: Some(upgrade::UpgradeState::Ready),
                    },
                    ..Plan::default()
                },
            ),
            (
                "upgrade app",
                Plan {
                    upgrade_app: upgrade::AppPatch {
                        stack: Some(vec![]),
                        ..Default::default()
                    },
                    ..Plan::default()
                },
            ),
            (
                "cos-agent unit",
                Plan {
                    cos_agent_unit: cos_agent::UnitPatch {
                        config: Some("{}".into()),
                    },
                    ..Plan::default()
                },
            ),
            (
                "upgrade failure",
                Plan {
                    upgrade_failure: Some("x".into()),
                    ..Plan::default()
                },
            ),
            (
                "workload",
                Plan {
                    workload: vec![WorkloadOp::Stop],
                    ..Plan::default()
                },
            ),
            (
                "membership",
                Plan {
                    membership: vec![MembershipOp::Remove { server_id: 2 }],
                    ..Plan::default()
                },
            ),
            (
                "statuses only",
                Plan {
                    statuses: vec![Status::active("")],
                    ..Plan::default()
                },
            ),
        ];
        for (what, plan) in busy {
            assert_eq!(plan.is_idle(), what == "statuses only", "{what}");
        }
    }
}
