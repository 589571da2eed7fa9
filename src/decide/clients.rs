//! What the client relations' decision ([`crate::client::decide`]) needs from the rest of
//! the snapshot, and where its writes go: this unit's and the app's `cluster` bag patches,
//! the internal secret, the need to read it, and the leader's status.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::client::decide::Inputs;
use crate::client::publish::Access;
use crate::peers::restart::LockRequest;
use crate::peers::zookeeper::{Field, Group};
use crate::plan::{Plan, SecretWrite};
use crate::snapshot::Snapshot;
use crate::status::Status;
use crate::tls::ClientTls;

/// What relation `id` holds now of `field`: its plain key, else, for the TLS fields, its
/// value in the relation's `tls` secret (when the secrets were read in this round).
fn published(s: &Snapshot, id: u32, field: Field) -> Option<String> {
    let rel = s.clients.relations.get(&id)?;
    if let Some(v) = rel.provided.plain.get(&field) {
        return Some(v.clone());
    }
    if field.group() != Group::Tls {
        return None;
    }
    s.clients
        .secret_contents(id)
        .get(&Group::Tls)
        .and_then(|c| c.0.get(field.key()).cloned())
}

/// How each relation's clients reach the servers (the leader's call; other units publish
/// nothing): the port and `tls` field from [`super::client_tls`], given what the relation
/// holds now, so that both move together; under TLS `tls-ca` too, this unit's CA, else
/// what the relation holds already.
pub(super) fn access(s: &Snapshot) -> BTreeMap<u32, Access> {
    if !s.leader {
        return BTreeMap::new();
    }
    let ca = super::client_ca(s);
    s.clients
        .relations
        .keys()
        .map(|id| {
            let now = published(s, *id, Field::Tls).map(|v| ClientTls::from_field(&v));
            let tls = super::client_tls(s, now);
            let ca = ca.clone().or_else(|| published(s, *id, Field::TlsCa));
            (*id, Access::new(tls, ca))
        })
        .collect()
}

/// Decides the client relations' step and merges it into `plan`. `fingerprint` is this
/// unit's current files', `inputs` the app-wide ones every unit reports once it runs them.
pub(super) fn decide(s: &Snapshot, fingerprint: &str, inputs: &str, plan: &mut Plan) {
    let Some(cluster) = &s.cluster else {
        return;
    };
    let members = s.members();
    let addresses: BTreeMap<u32, IpAddr> = members
        .iter()
        .filter_map(|m| Some((*m, s.unit_address(*m)?)))
        .collect();
    let runs_current = |m: u32| -> bool {
        if m == s.unit_id {
            s.local.started_with.as_deref() == Some(fingerprint)
        } else {
            s.restart
                .as_ref()
                .and_then(|r| r.unit(m))
                .and_then(|u| u.inputs.as_deref())
                == Some(inputs)
        }
    };
    let synced = s.workload.health.as_ref().is_some_and(|h| h.synced());
    let running_current =
        s.started(s.unit_id) && s.workload.running && synced && runs_current(s.unit_id);
    let voters = s.recorded_voters();
    let settled = s.starting().is_none()
        && !s.upgrade_in_progress()
        && s.sync_rotation().is_none()
        && s.ensemble.config.is_some()
        && members
            .iter()
            .all(|m| s.started(*m) && voters.contains(m) && addresses.contains_key(m));
    let roll_idle = s.restart.as_ref().is_some_and(|r| {
        members.iter().all(|m| {
            r.unit(*m).and_then(|u| u.request) != Some(LockRequest::Acquire)
                && !r.app.granted(*m)
                && (!s.started(*m) || runs_current(*m))
        })
    });
    let credentials = s
        .credentials
        .as_ref()
        .map(|c| c.as_ref().map_err(String::as_str));
    let i = Inputs {
        view: &s.clients,
        cluster,
        me: s.unit_id,
        leader: s.leader,
        members: &members,
        addresses: &addresses,
        running_current,
        settled,
        roll_idle,
        credentials,
        secret_busy: plan.secret.is_some() || cluster.app.internal_secret.is_none(),
        // The one place the clients' port, `tls` and `tls-ca` fields come from: `:2182`
        // endpoints and `tls=enabled` are published in the same hook.
        access: access(s),
    };
    let mut c = crate::client::decide::decide(&i);

    plan.cluster_unit.client_addresses = std::mem::take(&mut c.unit.client_addresses);
    plan.cluster_unit.client_users = c.unit.client_users.take();
    plan.cluster_app.merge(std::mem::take(&mut c.app));
    if let (Some((content, generate)), Some(id)) =
        (c.credentials.take(), &cluster.app.internal_secret)
    {
        plan.secret = Some(SecretWrite::Clients {
            id: id.clone(),
            content,
            generate,
        });
    }
    plan.need_credentials |= c.need_credentials;
    // A refused request blocks the leader, naming the relation and what to fix there;
    // other clients are served meanwhile.
    if !c.notes.is_empty() {
        plan.statuses.push(Status::blocked(c.notes.join("; ")));
    }
    if !c.waiting.is_empty() {
        plan.statuses.push(Status::waiting(c.waiting.join("; ")));
    }
    plan.client = c;
}
