//! Reads the client relations for one hook.
//!
//! Which `zookeeper` relations live (and their remote applications) is remembered in the
//! charm's state and learnt again (`relation-ids`, then `relation-list --app` for each new
//! one) only in the hooks that can change it: the relation's own hooks, a refresh, or when
//! nothing is remembered. In its `-broken` hook a relation is still listed and is not live.
//! Each unit's address on a relation's binding is the one it published (`ip-<id>`) unless
//! Juju may have changed it. Only the leader reads the bags: the requirer's and its own.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{ClientRelation, ClientView, OwnedSecret};
use crate::hooktools::{Bag, HookTools, SecretRead, SecretRef, ToolError};
use crate::local_state;
use crate::peers::cluster;
use crate::peers::zookeeper::{relation_id, relation_number, Provided, Request, ENDPOINT};
use crate::workload::Workload;

/// What the hook tells about the client relations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The hook is one of the `zookeeper` relation's.
    pub relation_event: bool,
    /// The relation a `zookeeper-relation-broken` is for.
    pub broken: Option<u32>,
    /// The relation of a `zookeeper-relation-*` hook (its addresses are asked again).
    pub relation: Option<u32>,
    /// Juju may have changed this unit's addresses.
    pub refresh_addresses: bool,
    /// New charm code runs: learn the relations again.
    pub refreshed: bool,
    /// `JUJU_VERSION`.
    pub juju_version: Option<String>,
}

/// Whether Juju `version` has secrets (3.0.3 or later); an unknown version is taken to.
pub fn juju_has_secrets(version: Option<&str>) -> bool {
    let Some(v) = version else {
        return true;
    };
    let numbers: Vec<u64> = v
        .split(['.', '-'])
        .take(3)
        .map_while(|p| p.parse().ok())
        .collect();
    match numbers.as_slice() {
        [major, minor, patch, ..] => (*major, *minor, *patch) >= (3, 0, 3),
        [major, minor] => (*major, *minor) >= (3, 1),
        _ => true,
    }
}

/// The first IP address of a `network-get` answer (bind addresses first).
fn first_ip(info: &crate::hooktools::NetworkInfo) -> Option<IpAddr> {
    info.bind_addresses
        .iter()
        .chain(&info.ingress_addresses)
        .find_map(|a| a.parse().ok())
}

/// Reads the client relations. `own` is this unit's `cluster` bag, `fallback` its
/// address on the `cluster` binding, `known` the relations remembered.
///
/// # Errors
/// When a hook tool fails.
#[allow(clippy::too_many_arguments)]
pub fn observe(
    tools: &dyn HookTools,
    workload: &dyn Workload,
    facts: &Facts,
    leader: bool,
    app_name: &str,
    own: Option<&cluster::Unit>,
    fallback: Option<IpAddr>,
    known: Option<&BTreeMap<u32, String>>,
) -> Result<ClientView, ToolError> {
    let mut live: BTreeMap<u32, String> = match known {
        Some(k) if !facts.relation_event && !facts.refreshed => k.clone(),
        _ => {
            let mut learnt = BTreeMap::new();
            for id in tools.relation_ids(ENDPOINT)? {
                let Some(n) = relation_number(&id) else {
                    continue;
                };
                if Some(n) == facts.broken {
                    continue;
                }
                let remote = match known.and_then(|k| k.get(&n)) {
                    Some(app) => app.clone(),
                    None => tools.relation_app(&id)?,
                };
                learnt.insert(n, remote);
            }
            if known != Some(&learnt) {
                local_state::save_client_relations(workload, &learnt);
            }
            learnt
        }
    };
    if let Some(b) = facts.broken {
        live.remove(&b);
    }

    let mut view = ClientView {
        broken: facts.broken,
        juju_secrets: juju_has_secrets(facts.juju_version.as_deref()),
        ..ClientView::default()
    };
    for (n, remote_app) in live {
        let rid = relation_id(n);
        let published = own.and_then(|u| u.client_addresses.get(&n)).copied();
        let fresh = facts.refresh_addresses || facts.relation == Some(n) || published.is_none();
        let address = if fresh {
            match tools.network_get_relation(ENDPOINT, &rid) {
                Ok(info) => first_ip(&info),
                Err(e) => {
                    log::warn!("cannot read this unit's address on {rid}: {e}");
                    None
                }
            }
            .or(published)
            .or(fallback)
        } else {
            published
        };
        if let Some(a) = address {
            view.addresses.insert(n, a);
        }
        let mut rel = ClientRelation {
            id: n,
            remote_app,
            ..ClientRelation::default()
        };
        if leader {
            let theirs = tools.relation_get(&rid, &Bag::App(rel.remote_app.clone()))?;
            rel.raw_provided = tools.relation_get(&rid, &Bag::App(app_name.to_string()))?;
            rel.request = Request::from_bag(&theirs);
            rel.provided = Provided::from_bag(&rel.raw_provided);
        }
        view.relations.insert(n, rel);
    }
    if leader && facts.broken.is_some() {
        // The whole application going away leaves its clients alone.
        let units = tools.goal_state_units()?;
        let mine: Vec<&String> = units
            .iter()
            .filter(|(name, _)| name.split('/').next() == Some(app_name))
            .map(|(_, status)| status)
            .collect();
        view.app_dying = !mine.is_empty() && mine.iter().all(|s| *s == "dying" || *s == "dead");
    }
    Ok(view)
}

/// Reads the provider secrets the bags name (as their owner: the latest revision).
///
/// # Errors
/// When `secret-get` fails for another reason than a missing secret.
pub fn load_secrets(tools: &dyn HookTools, view: &mut ClientView) -> Result<(), ToolError> {
    let mut read = BTreeMap::new();
    for rel in view.relations.values() {
        for (group, id) in &rel.provided.secrets {
            match tools.secret_get(&SecretRef::Id(id.clone()), SecretRead::Tracked) {
                Ok(content) => {
                    read.insert(
                        (rel.id, *group),
                        OwnedSecret {
                            id: id.clone(),
                            content,
                        },
                    );
                }
                Err(e) if e.is_secret_not_found() => {
                    log::warn!(
                        "the {} secret {id} of {} is gone; it is created again",
                        group.name(),
                        relation_id(rel.id)
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }
    view.secrets = Some(read);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_exist_from_juju_3_0_3() {
        for (v, yes) in [
            (Some("3.6.8"), true),
            (Some("3.0.3"), true),
            (Some("3.0.2"), false),
            (Some("2.9.46"), false),
            (Some("3.1"), true),
            (Some("3.0"), false),
            (Some("4.0-beta1"), true),
            (Some("3.1.6.1"), true),
            (Some("junk"), true),
            (None, true),
        ] {
            assert_eq!(juju_has_secrets(v), yes, "{v:?}");
        }
    }
}
