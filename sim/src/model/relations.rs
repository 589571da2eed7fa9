//! `juju integrate` and `juju remove-relation`: matching endpoints by interface and role,
//! Juju's limits and scopes, and the hooks a new or dying relation queues.

use std::collections::BTreeMap;

use super::Model;
use crate::charm::{EndpointSpec, Role};
use crate::state::{AppBag, HookKind, HookSpec, Life, ModelState, Relation, RelationEnd};
use crate::SimError;

/// `app` or `app:endpoint`.
fn split_spec(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((a, e)) => (a, Some(e)),
        None => (spec, None),
    }
}

fn refused(msg: String) -> SimError {
    SimError::Refused(msg)
}

/// The endpoints of `app` a spec may mean (all non-peer ones when no endpoint is given).
fn candidates(st: &ModelState, app: &str, ep: Option<&str>) -> Result<Vec<EndpointSpec>, SimError> {
    let a = st
        .applications
        .get(app)
        .ok_or_else(|| refused(format!("application {app:?} not found")))?;
    let eps: Vec<EndpointSpec> = a
        .charm
        .meta
        .endpoints
        .iter()
        .filter(|e| ep.is_none_or(|n| e.name == n))
        .cloned()
        .collect();
    if let Some(n) = ep {
        let Some(e) = eps.first() else {
            return Err(refused(format!(
                "application {app:?} has no {n:?} relation"
            )));
        };
        if e.role == Role::Peer {
            return Err(refused(format!(
                "{app}:{n} is a peer endpoint; Juju relates it by itself"
            )));
        }
    }
    Ok(eps.into_iter().filter(|e| e.role != Role::Peer).collect())
}

fn compatible(a: &EndpointSpec, b: &EndpointSpec) -> bool {
    a.interface == b.interface
        && matches!(
            (a.role, b.role),
            (Role::Provides, Role::Requires) | (Role::Requires, Role::Provides)
        )
}

impl ModelState {
    /// Alive relations on `app`'s endpoint `ep`.
    fn relations_on(&self, app: &str, ep: &str) -> usize {
        self.relations
            .values()
            .filter(|r| r.alive() && r.end_of(app).is_some_and(|e| e.endpoint == ep))
            .count()
    }

    /// The relation between the two specs (`app[:endpoint]`), or its id as a number.
    pub fn find_relation(&self, a: &str, b: Option<&str>) -> Result<u32, SimError> {
        if b.is_none() {
            if let Ok(id) = a.trim_start_matches('#').parse::<u32>() {
                return self
                    .relations
                    .contains_key(&id)
                    .then_some(id)
                    .ok_or_else(|| refused(format!("relation {id} not found")));
            }
        }
        let Some(b) = b else {
            return Err(refused(format!(
                "expected two endpoints or a relation id, got {a:?}"
            )));
        };
        let (aa, ae) = split_spec(a);
        let (ba, be) = split_spec(b);
        let found: Vec<u32> = self
            .relations
            .values()
            .filter(|r| !r.peer())
            .filter(|r| {
                let m = |app: &str, ep: Option<&str>| {
                    r.end_of(app)
                        .is_some_and(|e| ep.is_none_or(|n| e.endpoint == n))
                };
                aa != ba && m(aa, ae) && m(ba, be)
            })
            .map(|r| r.id)
            .collect();
        match found.as_slice() {
            [id] => Ok(*id),
            [] => Err(refused(format!("relation \"{a} {b}\" not found"))),
            _ => Err(refused(format!(
                "ambiguous relation \"{a} {b}\": give both endpoints or the relation id"
            ))),
        }
    }
}

impl Model {
    /// `juju integrate a[:endpoint] b[:endpoint]`: relates two applications. Endpoints left
    /// out are found by interface and role (provides to requires), as Juju does; the
    /// interfaces must match, `limit:` is enforced, and a container-scoped relation needs a
    /// subordinate. Every unit of both applications gets `-relation-created` and then enters
    /// the relation's scope, so that the others get `-joined`/`-changed` for it. Returns the
    /// relation id.
    pub fn integrate(&mut self, a: &str, b: &str) -> Result<u32, SimError> {
        let mut g = self.lock()?;
        let st = &mut g.st;
        let (aa, ae) = split_spec(a);
        let (ba, be) = split_spec(b);
        if aa == ba {
            return Err(refused(format!(
                "cannot relate {aa} to itself (peer relations come with the application)"
            )));
        }
        let ca = candidates(st, aa, ae)?;
        let cb = candidates(st, ba, be)?;
        let mut pairs: Vec<(EndpointSpec, EndpointSpec)> = Vec::new();
        for x in &ca {
            for y in &cb {
                if compatible(x, y) {
                    pairs.push((x.clone(), y.clone()));
                }
            }
        }
        let (ea, eb) = match pairs.len() {
            1 => pairs.remove(0),
            0 if ae.is_some() && be.is_some() => {
                let (x, y) = (&ca[0], &cb[0]);
                let why = if x.interface != y.interface {
                    format!(
                        "interfaces do not match ({:?} and {:?})",
                        x.interface, y.interface
                    )
                } else {
                    format!(
                        "roles do not match ({} and {}; one must provide what the other requires)",
                        x.role.juju_name(),
                        y.role.juju_name()
                    )
                };
                return Err(refused(format!(
                    "cannot relate {aa}:{} to {ba}:{}: {why}",
                    x.name, y.name
                )));
            }
            0 => return Err(refused(format!("no relations found between {a} and {b}"))),
            _ => {
                let list: Vec<String> = pairs
                    .iter()
                    .map(|(x, y)| format!("\"{aa}:{} {ba}:{}\"", x.name, y.name))
                    .collect();
                return Err(refused(format!(
                    "ambiguous relation: \"{a} {b}\" could refer to {}",
                    list.join("; ")
                )));
            }
        };
        let key_of =
            |x: &EndpointSpec, y: &EndpointSpec| format!("{aa}:{} {ba}:{}", x.name, y.name);
        let exists = st.relations.values().any(|r| {
            r.alive()
                && r.end_of(aa).is_some_and(|e| e.endpoint == ea.name)
                && r.end_of(ba).is_some_and(|e| e.endpoint == eb.name)
        });
        if exists {
            return Err(refused(format!(
                "relation {} already exists",
                key_of(&ea, &eb)
            )));
        }
        for (app, ep) in [(aa, &ea), (ba, &eb)] {
            if let Some(limit) = ep.limit {
                if st.relations_on(app, &ep.name) >= limit as usize {
                    return Err(refused(format!(
                        "establishing a new relation for {app}:{} would exceed its maximum relation limit of {limit}",
                        ep.name
                    )));
                }
            }
        }
        let container = ea.container || eb.container;
        if container && !st.applications[aa].subordinate() && !st.applications[ba].subordinate() {
            return Err(refused(format!(
                "cannot relate {}: a container-scoped relation needs a subordinate application",
                key_of(&ea, &eb)
            )));
        }
        let end = |app: &str, e: &EndpointSpec| RelationEnd {
            app: app.to_string(),
            endpoint: e.name.clone(),
            role: e.role,
            interface: e.interface.clone(),
        };
        // Juju's relation key puts the requirer first.
        let mut ends = vec![end(aa, &ea), end(ba, &eb)];
        if ends[1].role == Role::Requires {
            ends.swap(0, 1);
        }
        let id = st.next_relation;
        st.next_relation += 1;
        st.relations.insert(
            id,
            Relation {
                id,
                ends,
                container,
                life: Life::Alive,
                app_bags: [
                    (aa.to_string(), AppBag::default()),
                    (ba.to_string(), AppBag::default()),
                ]
                .into(),
                units: BTreeMap::new(),
            },
        );
        for u in st.units_by_number() {
            if !st.is_alive(&u) || !st.can_enter(&u, &st.relations[&id]) {
                continue;
            }
            let app = st.units[&u].app.clone();
            let ep = st.relations[&id].endpoint_of(&app);
            let hook = HookSpec::relation(HookKind::RelationCreated, &ep, id, None);
            let unit = st.units.get_mut(&u).expect("unit exists");
            if unit.installed {
                // It enters the scope once its -relation-created ran.
                unit.awaiting_created.insert(id);
                st.enqueue(&u, hook);
            } else {
                // Not installed yet: -relation-created right after its others, and the scope
                // with the others after install.
                let at = unit
                    .queue
                    .iter()
                    .rposition(|h| matches!(h.kind, HookKind::Install | HookKind::RelationCreated))
                    .map_or(0, |i| i + 1);
                unit.queue.insert(at, hook);
                st.enqueued += 1;
            }
        }
        g.save()?;
        Ok(id)
    }

    /// `juju remove-relation a[:endpoint] b[:endpoint]` (or by relation id): every unit in
    /// the relation's scope gets `-departed` for each remote unit, then `-broken`; the
    /// relation and the secret grants scoped to it are gone once all have run.
    pub fn remove_relation(&mut self, a: &str, b: Option<&str>) -> Result<u32, SimError> {
        let mut g = self.lock()?;
        let id = g.st.find_relation(a, b)?;
        let rel = &g.st.relations[&id];
        if rel.peer() {
            return Err(refused(format!(
                "cannot remove the peer relation {}",
                rel.key()
            )));
        }
        if rel.alive() {
            g.st.begin_relation_removal(id);
        }
        g.save()?;
        Ok(id)
    }
}
