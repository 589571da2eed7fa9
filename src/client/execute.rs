//! Carries out the client side of a round, after the charm's own writes: the secrets of
//! relations that are gone removed, chroots created and ACLs set as `super`, publications
//! (secrets, grants, then the bag), and last the `cluster` app writes that record what was
//! done, so that a failure leaves nothing recorded that did not happen.
//!
//! The hook-tool sequences are data_interfaces' (reference §1.6): a group secret is looked up
//! by its label before it is added (`secret-info-get --label`), added with the label and
//! application ownership, and granted to the relation; later only `secret-set` with the
//! whole content; at removal `secret-info-get --label` then `secret-remove`. Content goes
//! through files, never on a command line.

use super::decide::{AclPlan, ClientPlan};
use super::publish::{Publication, SecretOp};
use super::ClientView;
use crate::hooktools::{
    Databag, HookTools, SecretGrantee, SecretId, SecretOwner, SecretRead, SecretRef, ToolError,
};
use crate::peers::zookeeper::{relation_id, Group};
use crate::report::chain;
use crate::status::Status;
use crate::zk::ensemble::Ensemble;
use crate::zk::ZkError;

/// Where the round's client work goes.
pub struct Target<'a> {
    pub view: &'a ClientView,
    /// The `cluster` relation id and its app bag as read.
    pub cluster_id: &'a str,
    pub cluster_app: &'a Databag,
    /// `super`'s password, when the round read the internal secret.
    pub super_password: Option<&'a str>,
    /// The servers that serve, for a `super` session.
    pub hosts: &'a [String],
}

/// Does the client work of `plan`. Returns a status to stop the hook's rounds on when
/// ZooKeeper could not be reached or refused (the next hook tries again); nothing was
/// recorded then.
///
/// # Errors
/// When a hook tool fails (the hook fails, and Juju discards its writes).
pub fn execute(
    plan: &ClientPlan,
    t: &Target,
    tools: &dyn HookTools,
    ensemble: &dyn Ensemble,
) -> Result<Option<Status>, ToolError> {
    for id in &plan.forget {
        forget(*id, tools)?;
    }
    if let Some(acl) = &plan.acl {
        if let Err(e) = set_acls(acl, t, ensemble) {
            log::warn!("cannot set the ACLs of the client chroots: {}", chain(&e));
            return Ok(Some(Status::waiting(format!(
                "cannot set the ACLs of the client chroots yet: {}; will retry",
                chain(&e)
            ))));
        }
    }
    for p in &plan.publish {
        publish(p, t.view, tools)?;
    }
    let after = crate::peers::changes(plan.after.to_bag(), t.cluster_app);
    if !after.is_empty() {
        tools.relation_set(t.cluster_id, true, &after)?;
    }
    Ok(None)
}

/// The id `secret-info-get` names (a bare id), as a secret URI (`secret:<id>`).
fn info_id(id: &str) -> Option<SecretId> {
    if id.starts_with("secret:") {
        SecretId::parse(id)
    } else {
        SecretId::parse(&format!("secret:{id}"))
    }
}

/// The secret of relation `n`'s `group`, found by its label; `None` when there is none.
fn find(n: u32, group: Group, tools: &dyn HookTools) -> Result<Option<SecretId>, ToolError> {
    match tools.secret_info_get(&SecretRef::Label(group.label(n))) {
        Ok(info) => Ok(info_id(&info.id)),
        Err(e) if e.is_secret_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes every secret relation `n` had (each found by its label).
fn forget(n: u32, tools: &dyn HookTools) -> Result<(), ToolError> {
    for group in Group::ALL {
        if let Some(id) = find(n, group, tools)? {
            match tools.secret_remove(&id, None) {
                Ok(()) => log::info!(
                    "removed the {} secret {id} of {}: the relation is gone",
                    group.name(),
                    relation_id(n)
                ),
                Err(e) if e.is_secret_not_found() => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Creates the chroots and sets the ACLs, in one `super` session.
fn set_acls(acl: &AclPlan, t: &Target, ensemble: &dyn Ensemble) -> Result<(), ZkError> {
    let Some(password) = t.super_password else {
        return Err(ZkError::NoAuth("the super password was not read".into()));
    };
    if t.hosts.is_empty() {
        return Err(ZkError::ConnectionLoss(
            "no ZooKeeper server answers".into(),
        ));
    }
    let mut session = ensemble.reconfig_session(t.hosts, password)?;
    for chroot in &acl.work.create {
        if session.ensure_znode(chroot.as_str(), &|p| acl.layers.created_acl_of(p))? {
            log::info!("created the client chroot {chroot}");
        }
    }
    for root in &acl.work.walk {
        match session.set_acl_tree(root.as_str(), &|p| acl.layers.acl_of(p)) {
            Ok(n) => log::info!(
                "set the ACLs of {root} and below ({n} znodes) for relations {}",
                acl.work
                    .managed
                    .get(root)
                    .map(ToString::to_string)
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| "none (super only)".into())
            ),
            // A chroot nobody uses any more, deleted meanwhile: nothing to revoke.
            Err(ZkError::NoNode(_)) if !acl.work.create.contains(root) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Publishes to one relation: its secrets (created and granted, or given new content, or
/// removed), then its bag.
fn publish(p: &Publication, view: &ClientView, tools: &dyn HookTools) -> Result<(), ToolError> {
    let n = p.relation;
    let rid = relation_id(n);
    let mut bag = p.bag.clone();
    let mut done = Vec::new();
    for op in &p.secrets {
        match op {
            SecretOp::Create { group, content } => {
                let id = match find(n, *group, tools)? {
                    // Never replaced: a secret with the label is the relation's.
                    Some(id) => {
                        let now =
                            tools.secret_get(&SecretRef::Id(id.clone()), SecretRead::Tracked)?;
                        if now != *content {
                            tools.secret_set(&id, content, None)?;
                        }
                        id
                    }
                    None => tools.secret_add(
                        content,
                        Some(&group.label(n)),
                        Some(&format!(
                            "ZooKeeper client data ({}) for {rid}",
                            group.name()
                        )),
                        SecretOwner::Application,
                    )?,
                };
                tools.secret_grant(
                    &id,
                    &SecretGrantee {
                        relation_id: rid.clone(),
                        unit: None,
                    },
                )?;
                done.push(format!("{} secret {id} created", group.name()));
                bag.secrets.insert(*group, Some(id));
            }
            SecretOp::Update { group, id, content } => {
                tools.secret_set(id, content, None)?;
                done.push(format!("{} secret updated", group.name()));
            }
            SecretOp::Remove { group, id } => {
                match tools.secret_remove(id, None) {
                    Ok(()) => {}
                    Err(e) if e.is_secret_not_found() => {}
                    Err(e) => return Err(e),
                }
                done.push(format!("{} secret removed", group.name()));
            }
        }
    }
    let raw = view
        .relations
        .get(&n)
        .map(|r| r.raw_provided.clone())
        .unwrap_or_default();
    let writes = crate::peers::changes(bag.to_bag(), &raw);
    if !writes.is_empty() {
        done.push(format!(
            "keys {}",
            writes.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        tools.relation_set(&rid, true, &writes)?;
    }
    let remote = view
        .relations
        .get(&n)
        .map(|r| r.remote_app.as_str())
        .unwrap_or("?");
    log::info!("published to {rid} ({remote}): {}", done.join("; "));
    Ok(())
}
