//! The client relations' decision, pure: given the relations, the `cluster` bags and the
//! facts the charm's decision computed, what to write and do next.
//!
//! Every unit keeps its `ip-<id>` keys (its address on each live relation's binding; gone
//! relations' keys dropped) and, once its server runs with the current files, its
//! `client-users` record (the users that server loaded: the app's `client-users` its files
//! were rendered from).
//!
//! The leader moves each relation through steps, one kind per round, each waiting for the
//! one before (the round after sees what this one wrote):
//! 1. **records**: a requested, valid relation gets a record and a password in the internal
//!    secret (adopted if one exists); a record follows the request until published (then its
//!    chroot is fixed, and a changed `database` is logged and ignored), and its permissions
//!    always, unless they are refused (then it keeps its own and the leader says so); a
//!    relation that is gone loses its record, password, `client-users` entry and secrets,
//!    unless the whole application is going away;
//! 2. **ACLs**: chroots whose coverage changed get their ACLs set (see [`super::acl`]);
//! 3. **users**: recorded relations whose ACL is set join `client-users` when the ensemble is
//!    settled and no restart is rolling (so clients that come together share one roll);
//! 4. **publication**: a relation in `client-users` whose user every started unit's server
//!    loaded, with the ensemble settled, gets its data; afterwards only when what it gets
//!    changes (the record's digest), so a steady hook or a new leader reads no secret and
//!    writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::acl::{self, Claim, Layers};
use super::publish::{self, Access, Layout, Publication};
use super::{ClientRelation, ClientView};
use crate::passwords::{Credentials, Password};
use crate::peers::cluster::{self, ClientRecord, Cluster};
use crate::peers::zookeeper::{relation_id, Asked, AskedRoles, Field, Group};

/// What the charm's decision knows that the client side needs.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub view: &'a ClientView,
    pub cluster: &'a Cluster,
    /// This unit's id.
    pub me: u32,
    pub leader: bool,
    /// The units that are not leaving, this one included.
    pub members: &'a BTreeSet<u32>,
    /// Each member's address on the `cluster` binding (for a relation without its own).
    pub addresses: &'a BTreeMap<u32, IpAddr>,
    /// This unit's server runs with the files rendered now, and is synced.
    pub running_current: bool,
    /// Nothing moves: every member started and is a recorded voter, the quorum answers,
    /// nobody is joining, upgrading, or rotating a password.
    pub settled: bool,
    /// No restart is requested or granted, and every started unit runs the current files.
    pub roll_idle: bool,
    /// The internal passwords: `None` when not read in this round, `Err` when unusable.
    pub credentials: Option<Result<&'a Credentials, &'a str>>,
    /// Another part of the plan writes the internal secret in this round.
    pub secret_busy: bool,
    /// How each relation's clients reach the servers (absent: [`Access::PLAINTEXT`]).
    pub access: BTreeMap<u32, Access>,
}

/// The ZooKeeper work of one round: what to create and walk, and each relation's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclPlan {
    pub work: acl::Work,
    pub layers: Layers,
}

/// What the client side does in one round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct ClientPlan {
    /// This unit's `cluster` bag writes (`ip-<id>`, `client-users`).
    pub unit: cluster::UnitPatch,
    /// The `cluster` app bag writes made with the round's other writes.
    pub app: cluster::AppPatch,
    /// The internal secret's new content, and the relations whose password to generate in
    /// it (when it has none).
    pub credentials: Option<(Credentials, BTreeSet<u32>)>,
    /// The round needs the internal passwords, not read yet.
    pub need_credentials: bool,
    /// The round needs the provider secrets' content, not read yet.
    pub need_secrets: bool,
    /// Chroots to create and ACLs to set, as `super`.
    pub acl: Option<AclPlan>,
    pub publish: Vec<Publication>,
    /// Relations gone: remove their secrets (found by label).
    pub forget: Vec<u32>,
    /// The `cluster` app bag writes made once the ZooKeeper and secret work succeeded.
    pub after: cluster::AppPatch,
    /// Refused requests, each naming its relation and what to fix: the leader is blocked
    /// on them.
    pub notes: Vec<String>,
    /// What the client relations wait for (the leader's waiting status).
    pub waiting: Vec<String>,
    /// What to log (requests ignored or partly ignored).
    pub warnings: Vec<String>,
}

impl ClientPlan {
    /// Nothing to write or do (notes and warnings are not work).
    pub fn is_idle(&self) -> bool {
        self.unit.is_empty()
            && self.app.is_empty()
            && self.credentials.is_none()
            && !self.need_credentials
            && !self.need_secrets
            && self.acl.is_none()
            && self.publish.is_empty()
            && self.forget.is_empty()
            && self.after.is_empty()
    }

    /// The ZooKeeper or Juju work [`super::execute`] does (beyond the bag writes).
    pub fn has_work(&self) -> bool {
        self.acl.is_some() || !self.publish.is_empty() || !self.forget.is_empty()
    }
}

/// The next step. See the module docs.
pub fn decide(i: &Inputs) -> ClientPlan {
    let mut p = ClientPlan::default();
    unit_side(i, &mut p);
    if i.leader {
        notes(i, &mut p);
        if !i.view.app_dying {
            let _ = records(i, &mut p) || acls(i, &mut p) || users(i, &mut p) || {
                publications(i, &mut p);
                false
            };
        }
    }
    p
}

/// A value from another application, quoted and cut short for a status or log.
fn shown(value: &str) -> String {
    let cut: String = value.chars().take(40).collect();
    let more = if value.chars().count() > 40 {
        "..."
    } else {
        ""
    };
    format!("{:?}{more}", cut)
}

fn named(rel: &ClientRelation) -> String {
    format!("{} ({})", relation_id(rel.id), rel.remote_app)
}

/// `ip-<id>` and `client-users` in this unit's bag.
fn unit_side(i: &Inputs, p: &mut ClientPlan) {
    let own = i.cluster.unit(i.me).cloned().unwrap_or_default();
    for (id, addr) in &i.view.addresses {
        if own.client_addresses.get(id) != Some(addr) {
            p.unit.client_addresses.insert(*id, Some(*addr));
        }
    }
    for id in own.client_addresses.keys() {
        if !i.view.relations.contains_key(id) {
            p.unit.client_addresses.insert(*id, None);
        }
    }
    if i.running_current && own.client_users != i.cluster.app.client_users {
        p.unit.client_users = Some(i.cluster.app.client_users.clone());
    }
}

/// Refused requests (status), and requests partly ignored (log).
fn notes(i: &Inputs, p: &mut ClientPlan) {
    let records = &i.cluster.app.client_relations;
    for rel in i.view.relations.values() {
        let record = records.get(&rel.id);
        let published =
            record.is_some_and(|r| r.published.is_some()) || rel.provided.chroot().is_some();
        match &rel.request.asked {
            Asked::Refused { asked, why } if !published => p.notes.push(format!(
                "{} asks for database {}, refused: {why}",
                named(rel),
                shown(asked)
            )),
            _ => {}
        }
        // Roles matter once a chroot is asked for (or was granted).
        let asks = !matches!(rel.request.asked, Asked::Nothing) || record.is_some();
        if let (AskedRoles::Refused { asked, why }, true) = (&rel.request.roles, asks) {
            let keeps = record
                .map(|r| format!("; it keeps {:?}", r.roles.letters()))
                .unwrap_or_default();
            p.notes.push(format!(
                "{} asks for extra-user-roles {}, refused: {why}{keeps}",
                named(rel),
                shown(asked)
            ));
        }
        if let (true, Some(fixed)) = (published, record.and_then(|r| r.chroot.as_ref())) {
            let asked = match &rel.request.asked {
                Asked::Chroot(c) if c != fixed => Some(c.to_string()),
                Asked::Refused { asked, .. } => Some(asked.clone()),
                _ => None,
            };
            if let Some(asked) = asked {
                p.warnings.push(format!(
                    "{} now asks for database {}; ignored: its chroot stays {fixed} once published",
                    named(rel),
                    shown(&asked)
                ));
            }
        }
        if rel.request.secrets.unreadable {
            p.warnings.push(format!(
                "{}: `requested-secrets` is not a JSON list of field names; it is read as empty",
                named(rel)
            ));
        }
    }
}

/// The usable internal passwords, or what the round needs first (`Err(())`: stop here).
fn credentials<'a>(i: &Inputs<'a>, p: &mut ClientPlan) -> Result<&'a Credentials, ()> {
    match i.credentials {
        Some(Ok(c)) => Ok(c),
        Some(Err(why)) => {
            let note = format!("client relations wait: cannot use the internal passwords: {why}");
            if !p.waiting.contains(&note) {
                p.waiting.push(note);
            }
            Err(())
        }
        None => {
            p.need_credentials = true;
            Err(())
        }
    }
}

/// The password to adopt for relation `rel` (see the module docs of [`super`]), or `None`
/// to generate one; `Err(())` when the provider secrets must be read first.
fn adopted(
    i: &Inputs,
    rel: &ClientRelation,
    creds: &Credentials,
    p: &mut ClientPlan,
) -> Result<Option<Password>, ()> {
    if let Some(pw) = creds.clients.get(&rel.id) {
        return Ok(Some(pw.clone()));
    }
    let usable = |source: &str, v: &str, p: &mut ClientPlan| match Password::new(v) {
        Ok(pw) => Some(pw),
        Err(e) => {
            p.warnings.push(format!(
                "{}: the password in {source} is not usable ({e}); a new one is generated",
                named(rel)
            ));
            None
        }
    };
    if rel.provided.secrets.contains_key(&Group::User) {
        let Some(secrets) = &i.view.secrets else {
            p.need_secrets = true;
            return Err(());
        };
        let found = secrets
            .get(&(rel.id, Group::User))
            .and_then(|s| s.content.get(Field::Password.key()));
        if let Some(pw) = found.and_then(|v| usable("its user secret", v, p)) {
            return Ok(Some(pw));
        }
    }
    if let Some(v) = rel.provided.plain.get(&Field::Password) {
        if let Some(pw) = usable("the relation's bag", v, p) {
            return Ok(Some(pw));
        }
    }
    Ok(None)
}

/// Step 1. Whether this round has work (or needs something) here.
fn records(i: &Inputs, p: &mut ClientPlan) -> bool {
    let app = &i.cluster.app;
    let mut records = app.client_relations.clone();
    let mut users = app.client_users.clone();
    let live = &i.view.relations;

    // Relations that are gone: everything they had, at once.
    let gone: BTreeSet<u32> = records
        .keys()
        .chain(users.iter())
        .copied()
        .filter(|id| !live.contains_key(id))
        .collect();
    let mut creds_change = false;
    let mut generate = BTreeSet::new();
    let mut new_creds: Option<Credentials> = None;
    if !gone.is_empty() {
        if i.secret_busy {
            return false;
        }
        let Ok(creds) = credentials(i, p) else {
            return true;
        };
        let mut c = creds.clone();
        for id in &gone {
            records.remove(id);
            users.remove(id);
            creds_change |= c.clients.remove(id).is_some();
            p.forget.push(*id);
        }
        new_creds = Some(c);
    }

    for rel in live.values() {
        let request = &rel.request;
        // Refused roles: a new relation gets nothing, a recorded one keeps its own.
        let roles = request.roles.roles();
        match records.get_mut(&rel.id) {
            None => {
                let (Asked::Chroot(asked), Some(roles)) = (&request.asked, roles) else {
                    continue;
                };
                if i.secret_busy {
                    return false;
                }
                let creds = match &new_creds {
                    Some(c) => c.clone(),
                    None => match credentials(i, p) {
                        Ok(c) => c.clone(),
                        Err(()) => return true,
                    },
                };
                let Ok(password) = adopted(i, rel, &creds, p) else {
                    return true;
                };
                let mut c = creds;
                match password {
                    Some(pw) => {
                        if c.clients.get(&rel.id) != Some(&pw) {
                            c.clients.insert(rel.id, pw);
                            creds_change = true;
                        }
                    }
                    None => {
                        generate.insert(rel.id);
                        creds_change = true;
                    }
                }
                new_creds = Some(c);
                // A chroot published before (by Charmed ZooKeeper) is the relation's.
                let chroot = rel.provided.chroot().unwrap_or_else(|| asked.clone());
                records.insert(
                    rel.id,
                    ClientRecord {
                        chroot: Some(chroot),
                        roles,
                        published: None,
                    },
                );
            }
            Some(record) => {
                // Fixed once published (by this charm, or by Charmed ZooKeeper before it).
                let fixed = record.published.is_some() || rel.provided.chroot().is_some();
                if !fixed && record.chroot.as_ref() != request.asked.chroot() {
                    record.chroot = request.asked.chroot().cloned();
                }
                if let Some(roles) = roles {
                    if record.roles != roles {
                        record.roles = roles;
                    }
                }
            }
        }
    }

    if records != app.client_relations {
        p.app.client_relations = Some(records);
    }
    if users != app.client_users {
        p.app.client_users = Some(users);
    }
    if let (true, Some(c)) = (creds_change, new_creds) {
        p.credentials = Some((c, generate));
    }
    !p.app.is_empty() || p.credentials.is_some() || !p.forget.is_empty()
}

/// The claims of the recorded live relations.
fn claims(i: &Inputs) -> Vec<Claim> {
    i.cluster
        .app
        .client_relations
        .iter()
        .filter(|(id, _)| i.view.relations.contains_key(id))
        .filter_map(|(id, r)| {
            Some(Claim {
                id: *id,
                chroot: r.chroot.clone()?,
                bits: r.roles.bits,
            })
        })
        .collect()
}

/// Step 2.
fn acls(i: &Inputs, p: &mut ClientPlan) -> bool {
    let claims = claims(i);
    let work = acl::work(&claims, &i.cluster.app.managed_chroots);
    if work.is_empty() {
        return false;
    }
    let Ok(creds) = credentials(i, p) else {
        return true;
    };
    p.after.managed_chroots = Some(work.managed.clone());
    p.acl = Some(AclPlan {
        layers: Layers::new(&claims, |id| creds.clients.get(&id).cloned()),
        work,
    });
    true
}

/// Whether relation `id`'s chroot carries its entries.
fn acl_set(i: &Inputs, id: u32, record: &ClientRecord) -> bool {
    let Some(chroot) = &record.chroot else {
        return false;
    };
    let claims = claims(i);
    i.cluster
        .app
        .managed_chroots
        .get(chroot)
        .is_some_and(|c| *c == acl::coverage(&claims, chroot.as_str()) && c.0.contains_key(&id))
}

/// Step 3.
fn users(i: &Inputs, p: &mut ClientPlan) -> bool {
    if !(i.settled && i.roll_idle) {
        return false;
    }
    let app = &i.cluster.app;
    let mut users = app.client_users.clone();
    for (id, record) in &app.client_relations {
        if i.view.relations.contains_key(id) && acl_set(i, *id, record) {
            users.insert(*id);
        }
    }
    if users == app.client_users {
        return false;
    }
    p.app.client_users = Some(users);
    true
}

/// Where relation `id`'s clients reach each member, if every member's address is known.
fn hosts(i: &Inputs, id: u32) -> Option<Vec<IpAddr>> {
    i.members
        .iter()
        .map(|m| {
            let own = (*m == i.me).then(|| i.view.addresses.get(&id)).flatten();
            let published = i.cluster.unit(*m).and_then(|u| u.client_addresses.get(&id));
            own.or(published).or(i.addresses.get(m)).copied()
        })
        .collect()
}

/// Step 4.
fn publications(i: &Inputs, p: &mut ClientPlan) {
    if !i.settled {
        return;
    }
    let app = &i.cluster.app;
    let mut records = app.client_relations.clone();
    let mut todo = Vec::new();
    for (id, record) in &app.client_relations {
        let (Some(rel), Some(chroot)) = (i.view.relations.get(id), &record.chroot) else {
            continue;
        };
        let loaded_everywhere = i.members.iter().all(|m| {
            i.cluster
                .unit(*m)
                .is_some_and(|u| u.started && u.client_users.contains(id))
        });
        if !app.client_users.contains(id) || !loaded_everywhere || !acl_set(i, *id, record) {
            continue;
        }
        let Some(hosts) = hosts(i, *id) else {
            continue;
        };
        let access = i.access.get(id).cloned().unwrap_or(Access::PLAINTEXT);
        let endpoints = publish::endpoints(&hosts, &access);
        todo.push((rel, record, chroot, endpoints, access));
    }
    for (rel, record, chroot, endpoints, access) in todo {
        // The layout without the password decides whether anything changes.
        let placeholder = Password::placeholder("client");
        let probe = Layout::new(
            publish::fields(rel.id, chroot, &placeholder, &endpoints, &access),
            &rel.request.secrets,
            &rel.provided,
            i.view.juju_secrets,
        );
        if record.published.as_deref() == Some(probe.digest().as_str()) {
            continue;
        }
        let Ok(creds) = credentials(i, p) else {
            return;
        };
        let Some(password) = creds.clients.get(&rel.id) else {
            continue;
        };
        if i.view.secrets.is_none() && !rel.provided.secrets.is_empty() {
            p.need_secrets = true;
            return;
        }
        let layout = Layout::new(
            publish::fields(rel.id, chroot, password, &endpoints, &access),
            &rel.request.secrets,
            &rel.provided,
            i.view.juju_secrets,
        );
        let publication = publish::publication(
            rel.id,
            &layout,
            &rel.provided,
            &i.view.secret_contents(rel.id),
        );
        if let Some(r) = records.get_mut(&rel.id) {
            r.published = Some(publication.digest.clone());
        }
        p.publish.push(publication);
    }
    if !p.publish.is_empty() {
        p.after.client_relations = Some(records);
    }
}
