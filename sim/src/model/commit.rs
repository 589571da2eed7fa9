//! What a hook's exit makes permanent: its buffered writes (leadership re-checked for app
//! bags and application secrets) and the changes they fan out, and a unit's removal.

use crate::state::{Context, Databag, ModelState};

/// The unit is gone after its `remove` hook: it leaves the model (its relation bags stay
/// readable), its unit secrets and consumer records go, and if it led its application, a
/// new leader is elected once the lease lapses.
pub(super) fn finish_removal(st: &mut ModelState, unit: &str) {
    let app = st.units[unit].app.clone();
    st.units.remove(unit);
    st.removed_units.push(unit.to_string());
    st.tool_failures.retain(|f| f.unit != unit);
    st.forget_unit_secrets(unit);
    st.reap_relations();
    let a = st.applications.get_mut(&app).expect("application exists");
    if a.leader.as_deref() == Some(unit) {
        a.leader = None;
        st.schedule_election(&app);
    }
}

/// Applies a context's buffered writes (hook exited 0). App-bag writes and application
/// secret writes re-check leadership.
pub(super) fn commit(st: &mut ModelState, ctx: &Context) -> Result<(), String> {
    let unit = &ctx.unit;
    let p = &ctx.pending;
    let wrote_app = p.app_bags.values().any(|b| !b.is_empty());
    if wrote_app && !st.is_leader(unit) {
        return Err(format!(
            "cannot write relation settings: {unit} is not the leader"
        ));
    }
    st.commit_secrets(unit, &p.secrets)?;
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
    let app = st
        .units
        .get(unit)
        .map(|u| u.app.clone())
        .unwrap_or_default();
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
            let entry = rel.app_bags.entry(app.clone()).or_default();
            if apply(&mut entry.bag, changes) {
                entry.version += 1;
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
