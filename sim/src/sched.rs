//! Juju's scheduling rules, as operations on [`ModelState`]: what a deploy, an integration,
//! a committed relation write, a `leader-set`, a leader change or a removal queues on which
//! unit. Used by the runner and by the hook tools (`leader-set` queues from inside a hook).

use crate::rng::SplitMix64;
use crate::state::{HookKind, HookSpec, Life, ModelState, Relation, Unit, UnitRelation};

/// Juju's `relation-list` / member order: plain text order of the unit names.
fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

impl ModelState {
    /// Unit names in the scheduler's candidate order: by application (in deploy order), then
    /// by unit number.
    pub fn units_by_number(&self) -> Vec<String> {
        let order = |app: &str| {
            self.app_order
                .iter()
                .position(|a| a == app)
                .unwrap_or(usize::MAX)
        };
        let mut v: Vec<&Unit> = self.units.values().collect();
        v.sort_by_key(|u| (order(&u.app), u.number));
        v.into_iter().map(|u| u.name.clone()).collect()
    }

    /// The units of one application, by number (alive or dying).
    pub fn app_units(&self, app: &str) -> Vec<String> {
        let mut v: Vec<&Unit> = self.units.values().filter(|u| u.app == app).collect();
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
    /// `config-changed`, `update-status`, `secret-changed`) identical to one still pending
    /// is dropped: the pending one will read the latest data anyway. A `-created`,
    /// `-departed`, `-broken` or `secret-remove` already queued for the same relation and
    /// remote unit (or secret revision) is not queued twice: Juju departs each member once,
    /// whoever's removal said so (its departing unit is decided when the hook runs). Returns
    /// whether it was queued.
    pub fn enqueue(&mut self, unit: &str, hook: HookSpec) -> bool {
        let Some(u) = self.units.get_mut(unit) else {
            return false;
        };
        if hook.coalesces() && u.queue.contains(&hook) {
            return false;
        }
        let once = matches!(
            hook.kind,
            HookKind::RelationCreated
                | HookKind::RelationDeparted
                | HookKind::RelationBroken
                | HookKind::SecretRemove
        );
        if once && u.queue.iter().any(|h| h.same_event(&hook)) {
            return false;
        }
        if hook.kind != HookKind::UpdateStatus {
            self.enqueued += 1;
        }
        u.queue.push_back(hook);
        true
    }

    /// The departing unit of a `-departed` hook about to run on `unit`: the unit itself when
    /// it is dying, else the remote unit (Juju's relation resolver decides it when it
    /// generates the hook, from the local unit's life).
    pub fn departing_unit(&self, unit: &str, hook: &HookSpec) -> Option<String> {
        if hook.kind != HookKind::RelationDeparted {
            return None;
        }
        if self.units.get(unit).is_some_and(|u| u.life == Life::Dying) {
            Some(unit.to_string())
        } else {
            hook.remote_unit.clone()
        }
    }

    /// Whether a queued hook still has a reason to run when its turn comes: a `-departed`
    /// only for a unit that is still a member (Juju departs each member once, from the
    /// unit's own record of its members).
    pub fn still_due(&self, unit: &str, hook: &HookSpec) -> bool {
        if hook.kind != HookKind::RelationDeparted {
            return true;
        }
        let (Some(id), Some(remote)) = (hook.relation_id, &hook.remote_unit) else {
            return true;
        };
        self.units
            .get(unit)
            .and_then(|u| u.scope.get(&id))
            .is_some_and(|s| s.members.contains(remote))
    }

    /// Takes the next hook off `unit`'s queue. With
    /// [`crate::Switches::shuffle_relation_order`], when the queue starts with relation
    /// hooks of several relations, which relation goes next is drawn with the PRNG (its
    /// first queued hook runs); per relation the queued order is kept, and a `-changed`
    /// queued after a `-joined` for the same remote unit moves up to run right after it.
    pub fn take_next_hook(&mut self, unit: &str) -> Option<HookSpec> {
        let shuffle = self.switches.shuffle_relation_order;
        let u = self.units.get_mut(unit)?;
        if let Some((id, remote)) = u.changed_follows.take() {
            let front_is_it = u.queue.front().is_some_and(|h| {
                h.kind == HookKind::RelationChanged
                    && h.relation_id == Some(id)
                    && h.remote_unit.as_deref() == Some(remote.as_str())
            });
            if front_is_it {
                return u.queue.pop_front();
            }
        }
        let u = self.units.get(unit)?;
        let block = u.queue.iter().take_while(|h| h.kind.is_relation()).count();
        let mut ids: Vec<u32> = Vec::new();
        for h in u.queue.iter().take(block) {
            let id = h.relation_id.unwrap_or(u32::MAX);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let index = if shuffle && ids.len() > 1 {
            let mut rng = SplitMix64::new(self.rng);
            let id = ids[rng.below(ids.len())];
            self.rng = rng.state;
            u.queue
                .iter()
                .position(|h| h.relation_id.unwrap_or(u32::MAX) == id)
                .expect("a hook of that relation")
        } else {
            0
        };
        let u = self.units.get_mut(unit).expect("unit exists");
        let hook = u.queue.remove(index)?;
        if hook.kind == HookKind::RelationJoined {
            let follows = u.queue.iter().position(|h| {
                h.kind == HookKind::RelationChanged
                    && h.relation_id == hook.relation_id
                    && h.remote_unit == hook.remote_unit
            });
            if let Some(i) = follows {
                let changed = u.queue.remove(i).expect("in range");
                u.changed_follows = changed.relation_id.zip(changed.remote_unit.clone());
                u.queue.push_front(changed);
            }
        }
        Some(hook)
    }

    /// Drops, from the front of every unit's queue, hooks that have no reason to run any
    /// more ([`ModelState::still_due`]).
    pub fn drop_stale_hooks(&mut self) {
        for name in self.units_by_number() {
            while let Some(h) = self.units[&name].queue.front() {
                if self.still_due(&name, h) {
                    break;
                }
                let u = self.units.get_mut(&name).expect("unit exists");
                u.queue.pop_front();
            }
        }
    }

    /// Alive relations of an application, by id (peer relations first: they are created
    /// with the application).
    pub fn app_relations(&self, app: &str) -> Vec<u32> {
        self.relations
            .values()
            .filter(|r| r.alive() && r.involves(app))
            .map(|r| r.id)
            .collect()
    }

    /// Whether `unit` takes part in relation `rel`: its application is an end, and in a
    /// container-scoped relation a subordinate unit only joins the one its principal's
    /// application is in.
    pub(crate) fn can_enter(&self, unit: &str, rel: &Relation) -> bool {
        let Some(u) = self.units.get(unit) else {
            return false;
        };
        if !rel.alive() || !rel.involves(&u.app) {
            return false;
        }
        if !rel.container || rel.peer() {
            return true;
        }
        match &u.principal {
            None => true,
            Some(p) => self
                .units
                .get(p)
                .is_some_and(|p| rel.remote_app(&u.app) == p.app),
        }
    }

    /// Whether units `a` and `b` are on opposite sides of `rel` (or peers in a peer
    /// relation) and, in a container-scoped relation, on the same machine.
    fn related(&self, rel: &Relation, a: &str, b: &str) -> bool {
        let (Some(ua), Some(ub)) = (self.units.get(a), self.units.get(b)) else {
            return false;
        };
        if a == b {
            return false;
        }
        let sides = if rel.peer() {
            ua.app == ub.app
        } else {
            ua.app != ub.app && rel.involves(&ua.app) && rel.involves(&ub.app)
        };
        sides && (!rel.container || ua.machine == ub.machine)
    }

    /// The hooks a new unit starts with: `-storage-attached` per attached storage (before
    /// install, as on a machine), install, `-relation-created` per relation of its
    /// application, leader-elected (leader) or leader-settings-changed, config-changed, start.
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
        let app = self.units[unit].app.clone();
        for id in self.app_relations(&app) {
            if !self.can_enter(unit, &self.relations[&id]) {
                continue;
            }
            let ep = self.relations[&id].endpoint_of(&app);
            self.enqueue(
                unit,
                HookSpec::relation(HookKind::RelationCreated, &ep, id, None),
            );
        }
        if self.is_leader(unit) {
            self.enqueue(unit, HookSpec::plain(HookKind::LeaderElected));
        } else {
            self.enqueue(unit, HookSpec::plain(HookKind::LeaderSettingsChanged));
        }
        self.enqueue(unit, HookSpec::plain(HookKind::ConfigChanged));
        self.enqueue(unit, HookSpec::plain(HookKind::Start));
    }

    /// After `install`, the unit enters the scope of every relation of its application
    /// that existed when it was created (Juju does this when the uniter syncs scopes).
    pub fn enter_scope(&mut self, unit: &str) {
        if !self.is_alive(unit) {
            return;
        }
        let app = self.units[unit].app.clone();
        for id in self.app_relations(&app) {
            let u = &self.units[unit];
            if u.scope.contains_key(&id) || u.awaiting_created.contains(&id) {
                continue;
            }
            if self.can_enter(unit, &self.relations[&id]) {
                self.enter_relation_scope(unit, id);
            }
        }
    }

    /// The unit enters one relation's scope: its bag is seeded with its addresses, and it and
    /// every related unit in scope get `-joined` then `-changed` for each other. A unit
    /// entering after the other side's application bag was written (its own application's,
    /// in a peer relation) also gets an app-level `-changed`.
    pub fn enter_relation_scope(&mut self, unit: &str, id: u32) {
        if !self.is_alive(unit) || self.units[unit].scope.contains_key(&id) {
            return;
        }
        let addr = self.units[unit].address.clone();
        let app = self.units[unit].app.clone();
        let rel = self.relations.get_mut(&id).expect("relation exists");
        let ep = rel.endpoint_of(&app);
        let remote_app = rel.remote_app(&app);
        let entry = rel.units.entry(unit.to_string()).or_default();
        for (k, v) in [
            ("private-address", addr.clone()),
            ("ingress-address", addr.clone()),
            ("egress-subnets", format!("{addr}/32")),
        ] {
            entry.bag.insert(k.to_string(), v);
        }
        entry.version += 1;
        let app_written = rel.app_bags.get(&remote_app).is_some_and(|b| b.version > 0);
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
        let rel = &self.relations[&id];
        let others = sorted(
            self.alive_others(unit)
                .into_iter()
                .filter(|o| self.units[o].scope.contains_key(&id) && self.related(rel, unit, o))
                .collect(),
        );
        for o in others {
            let o_ep = self.relations[&id].endpoint_of(&self.units[&o].app);
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
                HookSpec::relation(HookKind::RelationJoined, &o_ep, id, Some(unit)),
            );
            self.enqueue(
                &o,
                HookSpec::relation(HookKind::RelationChanged, &o_ep, id, Some(unit)),
            );
        }
    }

    /// After `writer` committed a change to its unit bag in relation `id`: one
    /// `-relation-changed` (remote unit = writer) on every other live unit that has the writer
    /// as a member. The writer itself gets nothing.
    pub fn fan_out_unit_change(&mut self, writer: &str, id: u32) {
        let Some(rel) = self.relations.get(&id) else {
            return;
        };
        if !rel.alive() {
            return;
        }
        for v in self.alive_others(writer) {
            let member = self.units[&v]
                .scope
                .get(&id)
                .is_some_and(|s| s.members.contains(writer));
            if member {
                let ep = self.relations[&id].endpoint_of(&self.units[&v].app);
                self.enqueue(
                    &v,
                    HookSpec::relation(HookKind::RelationChanged, &ep, id, Some(writer)),
                );
            }
        }
    }

    /// After the leader committed a change to its application's bag in relation `id`: an
    /// app-level `-relation-changed` on every unit of the other application in scope; in a
    /// peer relation on every other unit in scope, and on the leader itself when
    /// [`crate::Switches::leader_sees_own_app_change`] is on.
    pub fn fan_out_app_change(&mut self, writer: &str, id: u32) {
        let Some(rel) = self.relations.get(&id) else {
            return;
        };
        if !rel.alive() {
            return;
        }
        let peer = rel.peer();
        let app = self.units[writer].app.clone();
        let own = self.switches.leader_sees_own_app_change;
        for v in self.units_by_number() {
            if !self.is_alive(&v) || !self.units[&v].scope.contains_key(&id) {
                continue;
            }
            let same_app = self.units[&v].app == app;
            if peer != same_app || (v == writer && !own) {
                continue;
            }
            let ep = self.relations[&id].endpoint_of(&self.units[&v].app);
            self.enqueue(
                &v,
                HookSpec::relation(HookKind::RelationChanged, &ep, id, None),
            );
        }
    }

    /// A new charm revision for `unit` (`juju refresh`): `upgrade-charm` goes ahead of every
    /// queued hook except install, `-relation-created` and the leadership hooks (the
    /// uniter's resolver ranks the upgrade before config and relation changes), followed at
    /// once by `config-changed` on the new code (the upgrade's commit queues it), `start`
    /// with [`crate::Switches::start_after_refresh`], and `leader-settings-changed` on a
    /// non-leader (its uniter restarted). A queued `config-changed` is folded into the new
    /// one, which reads the latest config anyway.
    pub fn queue_refresh(&mut self, unit: &str) {
        let leader = self.is_leader(unit);
        let start = self.switches.start_after_refresh;
        let Some(u) = self.units.get_mut(unit) else {
            return;
        };
        let early = |h: &HookSpec| {
            matches!(
                h.kind,
                HookKind::Install
                    | HookKind::RelationCreated
                    | HookKind::LeaderElected
                    | HookKind::LeaderSettingsChanged
            )
        };
        let queue: Vec<HookSpec> = u.queue.drain(..).collect();
        let split = queue.iter().position(|h| !early(h)).unwrap_or(queue.len());
        let (head, tail) = queue.split_at(split);
        let mut refresh = vec![
            HookSpec::plain(HookKind::UpgradeCharm),
            HookSpec::plain(HookKind::ConfigChanged),
        ];
        if start {
            refresh.push(HookSpec::plain(HookKind::Start));
        }
        if !leader {
            refresh.push(HookSpec::plain(HookKind::LeaderSettingsChanged));
        }
        let superseded = |h: &HookSpec| {
            matches!(h.kind, HookKind::UpgradeCharm | HookKind::ConfigChanged)
                || (!leader && h.kind == HookKind::LeaderSettingsChanged)
        };
        self.enqueued += refresh.len() as u64;
        u.queue = head
            .iter()
            .cloned()
            .chain(refresh)
            .chain(tail.iter().filter(|h| !superseded(h)).cloned())
            .collect();
    }

    /// `leader-settings-changed` on every live non-leader of `app`.
    pub fn fan_out_leader_settings(&mut self, app: &str) {
        for v in self.app_units(app) {
            if self.is_alive(&v) && !self.is_leader(&v) {
                self.enqueue(&v, HookSpec::plain(HookKind::LeaderSettingsChanged));
            }
        }
    }

    /// The leader of `app` left: a new one is elected when the lease lapses, a random time
    /// between half of [`crate::Switches::lease_secs`] and all of it from now (model time).
    pub fn schedule_election(&mut self, app: &str) {
        let lease_ms = self.switches.lease_secs * 1000;
        let delay = if lease_ms == 0 {
            0
        } else {
            let mut rng = SplitMix64::new(self.rng);
            let d = lease_ms / 2 + rng.below((lease_ms / 2 + 1) as usize) as u64;
            self.rng = rng.state;
            d
        };
        let due = self.now_ms() + delay;
        self.elections.insert(app.to_string(), due);
    }

    /// When (model clock) the next pending election is due.
    pub fn next_election_due(&self) -> Option<u64> {
        self.elections.values().min().copied()
    }

    /// Holds the elections whose lease lapsed: a live unit of the application leads (drawn
    /// with the PRNG under [`crate::Switches::seeded_leadership`], else the lowest). An
    /// application without live units keeps no pending election: its next unit leads.
    /// Returns whether any was held.
    pub fn hold_due_elections(&mut self) -> bool {
        let now = self.now_ms();
        let due: Vec<String> = self
            .elections
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(app, _)| app.clone())
            .collect();
        for app in &due {
            self.elections.remove(app);
            if let Some(next) = self.pick_leader(app) {
                self.elect(&next);
            }
        }
        !due.is_empty()
    }

    /// A live unit of `app` to lead it.
    fn pick_leader(&mut self, app: &str) -> Option<String> {
        let alive: Vec<String> = self
            .app_units(app)
            .into_iter()
            .filter(|u| self.is_alive(u))
            .collect();
        if alive.is_empty() {
            return None;
        }
        let i = if self.switches.seeded_leadership {
            let mut rng = SplitMix64::new(self.rng);
            let i = rng.below(alive.len());
            self.rng = rng.state;
            i
        } else {
            0
        };
        Some(alive[i].clone())
    }

    /// The first leader of an application among its first units (`candidates`, by number):
    /// drawn with the PRNG under [`crate::Switches::seeded_leadership`], else the first.
    pub fn first_leader(&mut self, candidates: &[String]) -> Option<String> {
        if candidates.is_empty() {
            return None;
        }
        let i = if self.switches.seeded_leadership {
            let mut rng = SplitMix64::new(self.rng);
            let i = rng.below(candidates.len());
            self.rng = rng.state;
            i
        } else {
            0
        };
        Some(candidates[i].clone())
    }

    /// Makes `unit` its application's leader: `leader-elected` there,
    /// `leader-settings-changed` on the others.
    pub fn elect(&mut self, unit: &str) {
        let app = self.units[unit].app.clone();
        self.applications
            .get_mut(&app)
            .expect("application exists")
            .leader = Some(unit.to_string());
        self.enqueue(unit, HookSpec::plain(HookKind::LeaderElected));
        self.fan_out_leader_settings(&app);
    }

    /// `juju remove-unit`: the unit becomes dying. Queued `-joined`/`-changed` between it and
    /// the others are dropped (they would never run in Juju once it left scope); it gets
    /// `-storage-detaching` for each attached storage first of all (Juju's storage resolver
    /// runs before the dying unit's teardown), then, relation by relation, `-departed` for
    /// each of its members and `-broken` for a non-peer relation; then `stop` and `remove`.
    /// Every remaining member gets `-departed` (remote = the unit). A member departs once
    /// however many removals name it; the departing unit is decided when the hook runs
    /// ([`ModelState::departing_unit`]). Its subordinates go first.
    pub fn begin_removal(&mut self, unit: &str) {
        let subordinates: Vec<String> = self
            .units_by_number()
            .into_iter()
            .filter(|s| self.units[s].principal.as_deref() == Some(unit) && self.is_alive(s))
            .collect();
        for s in subordinates {
            self.begin_removal(&s);
        }
        let u = self.units.get_mut(unit).expect("unit exists");
        u.life = Life::Dying;
        u.queue
            .retain(|h| !matches!(h.kind, HookKind::RelationJoined | HookKind::RelationChanged));
        let app = u.app.clone();
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
            let rel = &self.relations[id];
            let ep = rel.endpoint_of(&app);
            let peer = rel.peer();
            for m in sorted(members.clone()) {
                self.enqueue(
                    unit,
                    HookSpec::relation(HookKind::RelationDeparted, &ep, *id, Some(&m)),
                );
            }
            if !peer {
                self.enqueue(
                    unit,
                    HookSpec::relation(HookKind::RelationBroken, &ep, *id, None),
                );
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
            for v in self.alive_others(unit) {
                let member = self.units[&v]
                    .scope
                    .get(id)
                    .is_some_and(|s| s.members.contains(unit));
                if member {
                    let ep = self.relations[id].endpoint_of(&self.units[&v].app);
                    self.enqueue(
                        &v,
                        HookSpec::relation(HookKind::RelationDeparted, &ep, *id, Some(unit)),
                    );
                }
            }
        }
        let subordinates: Vec<String> = self
            .units_by_number()
            .into_iter()
            .filter(|s| self.units[s].principal.as_deref() == Some(unit) && self.is_alive(s))
            .collect();
        for s in subordinates {
            self.begin_removal(&s);
        }
    }

    /// `juju remove-relation`: the relation becomes dying. Its queued `-created`, `-joined`
    /// and `-changed` hooks are dropped; every unit in its scope gets `-departed` for each
    /// member (departing unit = that member, unless the unit is dying), then `-broken`. Subordinate units that were
    /// attached through it (a container-scoped relation) are removed.
    pub fn begin_relation_removal(&mut self, id: u32) {
        let rel = self.relations.get_mut(&id).expect("relation exists");
        rel.life = Life::Dying;
        let rel = rel.clone();
        // Subordinates attached through it go first: their removal departs every relation.
        if rel.container && !rel.peer() {
            let attached: Vec<String> = self
                .units_by_number()
                .into_iter()
                .filter(|s| {
                    let u = &self.units[s];
                    u.life == Life::Alive
                        && rel.involves(&u.app)
                        && u.principal.as_ref().is_some_and(|p| {
                            self.units
                                .get(p)
                                .is_some_and(|p| rel.remote_app(&u.app) == p.app)
                        })
                })
                .collect();
            for s in attached {
                self.begin_removal(&s);
            }
        }
        for name in self.units_by_number() {
            let u = self.units.get_mut(&name).expect("unit exists");
            u.queue.retain(|h| {
                !(h.relation_id == Some(id)
                    && matches!(
                        h.kind,
                        HookKind::RelationCreated
                            | HookKind::RelationJoined
                            | HookKind::RelationChanged
                    ))
            });
            u.awaiting_created.remove(&id);
            // A dying unit already has its -departed and -broken queued.
            if u.life == Life::Dying {
                continue;
            }
            let Some(scope) = u.scope.get(&id) else {
                continue;
            };
            let members = sorted(scope.members.iter().cloned().collect());
            let ep = rel.endpoint_of(&u.app);
            for m in members {
                self.enqueue(
                    &name,
                    HookSpec::relation(HookKind::RelationDeparted, &ep, id, Some(&m)),
                );
            }
            self.enqueue(
                &name,
                HookSpec::relation(HookKind::RelationBroken, &ep, id, None),
            );
        }
        self.reap_relations();
    }

    /// Removes dying relations no unit is in scope of any more (every unit ran its
    /// `-relation-broken`), and the secret grants scoped to them.
    pub fn reap_relations(&mut self) {
        let gone: Vec<u32> = self
            .relations
            .values()
            .filter(|r| r.life == Life::Dying)
            .filter(|r| !self.units.values().any(|u| u.scope.contains_key(&r.id)))
            .map(|r| r.id)
            .collect();
        for id in gone {
            self.relations.remove(&id);
            for u in self.units.values_mut() {
                u.queue.retain(|h| h.relation_id != Some(id));
            }
            self.drop_relation_grants(id);
        }
    }

    /// Principal units in scope of a container-scoped relation with a subordinate
    /// application that have no unit of it yet: (subordinate application, principal unit).
    /// Juju creates that subordinate unit when the principal enters the scope.
    pub fn missing_subordinates(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for rel in self.relations.values() {
            if !rel.alive() || !rel.container || rel.peer() {
                continue;
            }
            for end in &rel.ends {
                let Some(sub_app) = self.applications.get(&end.app) else {
                    continue;
                };
                if !sub_app.subordinate() {
                    continue;
                }
                let principal_app = rel.remote_app(&end.app);
                if self
                    .applications
                    .get(&principal_app)
                    .is_none_or(|a| a.subordinate())
                {
                    continue;
                }
                for p in self.app_units(&principal_app) {
                    let pu = &self.units[&p];
                    if pu.life != Life::Alive || !pu.scope.contains_key(&rel.id) {
                        continue;
                    }
                    let has = self
                        .units
                        .values()
                        .any(|s| s.app == end.app && s.principal.as_deref() == Some(p.as_str()));
                    if !has && !out.contains(&(end.app.clone(), p.clone())) {
                        out.push((end.app.clone(), p.clone()));
                    }
                }
            }
        }
        out
    }
}
