//! What a hook's exit makes permanent: its buffered writes (leadership re-checked for app
//! bags) and the changes they fan out, and a unit's removal.

use crate::rng::SplitMix64;
use crate::state::{Context, Databag, ModelState};

/// The unit is gone after its `remove` hook: it leaves the model (its relation bags stay
/// readable), and if it led, another unit is elected.
pub(super) fn finish_removal(st: &mut ModelState, unit: &str) {
    st.units.remove(unit);
    st.removed_units.push(unit.to_string());
    st.tool_failures.retain(|f| f.unit != unit);
    if st.leader.as_deref() == Some(unit) {
        st.leader = None;
        let alive: Vec<String> = st
            .units_by_number()
            .into_iter()
            .filter(|u| st.is_alive(u))
            .collect();
        if !alive.is_empty() {
            let pick = if st.switches.seeded_election {
                let mut rng = SplitMix64::new(st.rng);
                let i = rng.below(alive.len());
                st.rng = rng.state;
                i
            } else {
                0
            };
            let next = alive[pick].clone();
            st.elect(&next);
        }
    }
}

/// Applies a context's buffered writes (hook exited 0). App-bag writes re-check leadership.
pub(super) fn commit(st: &mut ModelState, ctx: &Context) -> Result<(), String> {
    let unit = &ctx.unit;
    let p = &ctx.pending;
    let wrote_app = p.app_bags.values().any(|b| !b.is_empty());
    if wrote_app && st.leader.as_deref() != Some(unit.as_str()) {
        return Err(format!(
            "cannot write relation settings: {unit} is not the leader"
        ));
    }
    let apply = |bag: &mut Databag, changes: &Databag| -> bool {
        let before = bag.clone();
        for (k, v) in changes {
            if v.is_empty() {
                bag.remove(k);
            } else {
                bag.insert(k.clone(), v.clone());
            }
        }
        *bag != before
    };
    let mut unit_changed = Vec::new();
    for (id, changes) in &p.unit_bags {
        if let Some(rel) = st.relations.get_mut(id) {
            let entry = rel.units.entry(unit.clone()).or_default();
            if apply(&mut entry.bag, changes) {
                entry.version += 1;
                unit_changed.push(*id);
            }
        }
    }
    let mut app_changed = Vec::new();
    for (id, changes) in &p.app_bags {
        if let Some(rel) = st.relations.get_mut(id) {
            if apply(&mut rel.app_bag, changes) {
                rel.app_version += 1;
                app_changed.push(*id);
            }
        }
    }
    if let Some(u) = st.units.get_mut(unit) {
        for (k, v) in &p.state {
            match v {
                Some(v) => u.state.insert(k.clone(), v.clone()),
                None => u.state.remove(k),
            };
        }
        for (open, port) in &p.ports {
            if *open {
                u.ports.insert(port.clone());
            } else {
                u.ports.remove(port);
            }
        }
    }
    for id in unit_changed {
        st.fan_out_unit_change(unit, id);
    }
    for id in app_changed {
        st.fan_out_app_change(unit, id);
    }
    Ok(())
}
