//! Juju's scheduling rules, as operations on [`ModelState`]: what a deploy, a committed
//! relation write, a `leader-set`, a leader change or a removal queues on which unit.
//! Used by the runner and by the hook tools (`leader-set` queues from inside a hook).

use crate::state::{HookKind, HookSpec, Life, ModelState, Unit, UnitRelation};

/// Juju's `relation-list` / member order: plain text order of the unit names.
fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

impl ModelState {
    /// Unit names ordered by unit number (the scheduler's candidate order).
    pub fn units_by_number(&self) -> Vec<String> {
        let mut v: Vec<&Unit> = self.units.values().collect();
        v.sort_by_key(|u| u.number);
        v.into_iter().map(|u| u.name.clone()).collect()
    }

    pub fn is_alive(&self, unit: &str) -> bool {
        self.units.get(unit).is_some_and(|u| u.life == Life::Alive)
    }

    fn alive_others(&self, unit: &str) -> Vec<String> {
        self.units_by_number()
            .into_iter()
            .filter(|n| n != unit && self.is_alive(n))
            .collect()
    }

    /// Queues a hook at the end of the unit's queue. A coalescing hook (a `-changed`,
    /// `config-changed`, `update-status`) identical to one still pending is dropped: the pending
    /// one will read the latest data anyway. Returns whether it was queued.
    pub fn enqueue(&mut self, unit: &str, hook: HookSpec) -> bool {
        let Some(u) = self.units.get_mut(unit) else {
            return false;
        };
        if hook.coalesces() && u.queue.contains(&hook) {
            return false;
        }
        if hook.kind != HookKind::UpdateStatus {
            self.enqueued += 1;
        }
        u.queue.push_back(hook);
        true
    }

    /// Peer relation ids, in creation order.
    pub fn peer_relations(&self) -> Vec<u32> {
        self.relations
            .values()
            .filter(|r| r.peer)
            .map(|r| r.id)
            .collect()
    }

    /// The hooks a new unit starts with: `-storage-attached` per attached storage (before
    /// install, as on a machine), install, `-relation-created` per peer relation,
    /// leader-elected (leader) or leader-settings-changed, config-changed, start.
    pub fn queue_new_unit(&mut self, unit: &str) {
        let storage = self
            .units
            .get(unit)
            .map(|u| u.storage.clone())
            .unwrap_or_default();
        for id in storage {
            self.enqueue(unit, HookSpec::storage(HookKind::StorageAttached, &id));
        }
        self.enqueue(unit, HookSpec::plain(HookKind::Install));
        for id in self.peer_relations() {
            let ep = self.relations[&id].endpoint.clone();
            self.enqueue(
                unit,
                HookSpec::relation(HookKind::RelationCreated, &ep, id, None),
            );
        }
        if self.leader.as_deref() == Some(unit) {
            self.enqueue(unit, HookSpec::plain(HookKind::LeaderElected));
        } else {
            self.enqueue(unit, HookSpec::plain(HookKind::LeaderSettingsChanged));
        }
        self.enqueue(unit, HookSpec::plain(HookKind::ConfigChanged));
        self.enqueue(unit, HookSpec::plain(HookKind::Start));
    }

    /// The unit enters the scope of every peer relation (Juju does this right after
    /// `install`): its bag is seeded with its addresses, and it and every other unit in scope
    /// get `-joined` then `-changed` for each other. A unit entering after the leader wrote the
    /// app bag also gets an app-level `-changed`.
    pub fn enter_scope(&mut self, unit: &str) {
        if !self.is_alive(unit) {
            return;
        }
        let addr = self.units[unit].address.clone();
        for id in self.peer_relations() {
            if self.units[unit].scope.contains_key(&id) {
                continue;
            }
            let rel = self.relations.get_mut(&id).expect("relation exists");
            let ep = rel.endpoint.clone();
            let entry = rel.units.entry(unit.to_string()).or_default();
            for (k, v) in [
                ("private-address", addr.clone()),
                ("ingress-address", addr.clone()),
                ("egress-subnets", format!("{addr}/32")),
            ] {
                entry.bag.insert(k.to_string(), v);
            }
            entry.version += 1;
            let app_written = rel.app_version > 0;
            self.units
                .get_mut(unit)
                .expect("unit exists")
                .scope
                .insert(id, UnitRelation::default());
            if app_written {
                self.enqueue(
                    unit,
                    HookSpec::relation(HookKind::RelationChanged, &ep, id, None),
                );
            }
            let others = sorted(
                self.alive_others(unit)
                    .into_iter()
                    .filter(|o| self.units[o].scope.contains_key(&id))
                    .collect(),
            );
            for o in others {
                self.enqueue(
                    unit,
                    HookSpec::relation(HookKind::RelationJoined, &ep, id, Some(&o)),
                );
                self.enqueue(
                    unit,
                    HookSpec::relation(HookKind::RelationChanged, &ep, id, Some(&o)),
                );
                self.enqueue(
                    &o,
                    HookSpec::relation(HookKind::RelationJoined, &ep, id, Some(unit)),
                );
                self.enqueue(
                    &o,
                    HookSpec::relation(HookKind::RelationChanged, &ep, id, Some(unit)),
                );
            }
        }
    }

    /// After `writer` committed a change to its unit bag in relation `id`: one
    /// `-relation-changed` (remote unit = writer) on every other live unit that has the writer
    /// as a member. The writer itself gets nothing.
    pub fn fan_out_unit_change(&mut self, writer: &str, id: u32) {
        let ep = self.relations[&id].endpoint.clone();
        for v in self.alive_others(writer) {
            let member = self.units[&v]
                .scope
                .get(&id)
                .is_some_and(|s| s.members.contains(writer));
            if member {
                self.enqueue(
                    &v,
                    HookSpec::relation(HookKind::RelationChanged, &ep, id, Some(writer)),
                );
            }
        }
    }

    /// After the leader committed a change to the app bag of peer relation `id`: an app-level
    /// `-relation-changed` on every other unit in scope, and on the leader itself when
    /// [`crate::Switches::leader_sees_own_app_change`] is on.
    pub fn fan_out_app_change(&mut self, writer: &str, id: u32) {
        let ep = self.relations[&id].endpoint.clone();
        let own = self.switches.leader_sees_own_app_change;
        for v in self.units_by_number() {
            if !self.is_alive(&v) || !self.units[&v].scope.contains_key(&id) {
                continue;
            }
            if v == writer && !own {
                continue;
            }
            self.enqueue(
                &v,
                HookSpec::relation(HookKind::RelationChanged, &ep, id, None),
            );
        }
    }

    /// `leader-settings-changed` on every live non-leader.
    pub fn fan_out_leader_settings(&mut self) {
        let leader = self.leader.clone();
        for v in self.units_by_number() {
            if self.is_alive(&v) && Some(&v) != leader.as_ref() {
                self.enqueue(&v, HookSpec::plain(HookKind::LeaderSettingsChanged));
            }
        }
    }

    /// Makes `unit` the leader: `leader-elected` there, `leader-settings-changed` elsewhere.
    pub fn elect(&mut self, unit: &str) {
        self.leader = Some(unit.to_string());
        self.enqueue(unit, HookSpec::plain(HookKind::LeaderElected));
        self.fan_out_leader_settings();
    }

    /// `juju remove-unit`: the unit becomes dying. Queued `-joined`/`-changed` between it and
    /// the others are dropped (they would never run in Juju once it left scope); it gets
    /// `-storage-detaching` for each attached storage first of all (Juju's storage resolver
    /// runs before the dying unit's teardown), then `-departed` for each of its members
    /// (departing unit = itself), then `stop` and `remove`; every remaining member gets
    /// `-departed` (remote = departing = the unit).
    pub fn begin_removal(&mut self, unit: &str) {
        let u = self.units.get_mut(unit).expect("unit exists");
        u.life = Life::Dying;
        u.queue
            .retain(|h| !matches!(h.kind, HookKind::RelationJoined | HookKind::RelationChanged));
        let scope: Vec<(u32, Vec<String>)> = u
            .scope
            .iter()
            .map(|(id, s)| (*id, s.members.iter().cloned().collect()))
            .collect();
        for name in self.units_by_number() {
            if name == unit {
                continue;
            }
            let v = self.units.get_mut(&name).expect("unit exists");
            v.queue.retain(|h| {
                !(matches!(h.kind, HookKind::RelationJoined | HookKind::RelationChanged)
                    && h.remote_unit.as_deref() == Some(unit))
            });
        }
        for (id, members) in &scope {
            let ep = self.relations[id].endpoint.clone();
            for m in sorted(members.clone()) {
                let mut h = HookSpec::relation(HookKind::RelationDeparted, &ep, *id, Some(&m));
                h.departing_unit = Some(unit.to_string());
                self.enqueue(unit, h);
            }
        }
        self.enqueue(unit, HookSpec::plain(HookKind::Stop));
        self.enqueue(unit, HookSpec::plain(HookKind::Remove));
        let storage = self.units[unit].storage.clone();
        for id in storage.iter().rev() {
            self.enqueued += 1;
            self.units
                .get_mut(unit)
                .expect("unit exists")
                .queue
                .push_front(HookSpec::storage(HookKind::StorageDetaching, id));
        }
        for (id, _) in &scope {
            let ep = self.relations[id].endpoint.clone();
            for v in self.alive_others(unit) {
                let member = self.units[&v]
                    .scope
                    .get(id)
                    .is_some_and(|s| s.members.contains(unit));
                if member {
                    let mut h =
                        HookSpec::relation(HookKind::RelationDeparted, &ep, *id, Some(unit));
                    h.departing_unit = Some(unit.to_string());
                    self.enqueue(&v, h);
                }
            }
        }
    }
}
