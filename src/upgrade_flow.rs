//! The in-place upgrade (issue 5), on the `upgrade` peer relation with the data contract of
//! data-platform-libs' upgrade lib (unit `state`, app `upgrade-stack` and `dependencies`),
//! so that a refresh from the Python charm mid-way still reads.
//!
//! Flow: `pre-upgrade-check` (leader) checks the ensemble and writes the stack (the
//! ZooKeeper quorum leader at index 0, so it upgrades last; the last element goes first);
//! every unit then marks itself `ready`. `juju refresh` runs `upgrade-charm` everywhere;
//! each unit notes locally that it runs new charm code whose workload is not rolled out
//! yet. The unit on top of the stack, once every unit is `ready` (or done) and nobody is
//! `upgrading`, stops ZooKeeper, installs the new workload, restarts, waits until synced and
//! marks itself `completed` (or `failed`); the leader pops it and the next unit goes.
//!
//! Guards the lib lacks: a leader change (the pop is level-triggered, any leader does it in
//! any hook); units added mid-upgrade (they run the new code already: `completed`); units
//! removed mid-upgrade (the leader drops them from the stack); a single unit (it is its own
//! "every unit"); a refresh before `pre-upgrade-check` (blocked with what to run, instead of
//! silently running new code on the old workload).

use std::collections::BTreeMap;

use crate::decide::{Plan, WorkloadOp};
use crate::hooktools::Databag;
use crate::snapshot::{PeerRelation, Snapshot};
use crate::status::Status;

/// Upgrade relation keys (upgrade lib).
pub const STATE_KEY: &str = "state";
pub const STACK_KEY: &str = "upgrade-stack";
pub const DEPENDENCIES_KEY: &str = "dependencies";

/// Local marker: this unit runs refreshed charm code whose workload is not rolled out yet.
pub const PENDING_FILE: &str = "upgrade-pending";
/// Local record of why this unit's upgrade failed.
pub const FAILURE_FILE: &str = "upgrade-failure";

/// Unit upgrade states, in the lib's rank order (the cluster state is the lowest).
pub const RANKS: [&str; 6] = [
    "recovery",
    "failed",
    "idle",
    "ready",
    "upgrading",
    "completed",
];

/// What the operator runs to roll back.
pub const ROLLBACK: &str = "roll back: run `juju run zookeeper/leader pre-upgrade-check`, then `juju refresh zookeeper` to the previous revision (`--revision N` or `--path <previous .charm>`)";

fn rank(state: &str) -> Option<usize> {
    RANKS.iter().position(|s| *s == state)
}

/// The stack as stored: a JSON list of unit ids, the last one upgrades next.
pub fn parse_stack(value: Option<&str>) -> Vec<u32> {
    value
        .and_then(|v| serde_json::from_str::<Vec<u32>>(v).ok())
        .unwrap_or_default()
}

fn stack_json(stack: &[u32]) -> String {
    serde_json::to_string(stack).unwrap_or_else(|_| "[]".into())
}

/// Each unit's upgrade state (missing = "").
pub fn unit_states(up: &PeerRelation) -> BTreeMap<u32, String> {
    up.units
        .iter()
        .map(|(id, bag)| (*id, bag.get(STATE_KEY).cloned().unwrap_or_default()))
        .collect()
}

/// The furthest-behind state; `None` if some unit has no valid state.
pub fn cluster_state(states: &BTreeMap<u32, String>) -> Option<&'static str> {
    let mut lowest: Option<usize> = None;
    for s in states.values() {
        let r = rank(s)?;
        lowest = Some(lowest.map_or(r, |l| l.min(r)));
    }
    lowest.map(|r| RANKS[r])
}

/// Facts of the upgrade the decision needs beyond the relation data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeFacts {
    /// [`PENDING_FILE`] exists: refreshed code, workload not rolled out yet.
    pub pending: bool,
    /// The recorded failure cause, if this unit's upgrade failed.
    pub failure: Option<String>,
    /// Whether the stored `dependencies` allow upgrading to this charm's model; the error
    /// text when they do not.
    pub compatible: Result<(), String>,
    /// The dependency model compiled into this charm, as JSON.
    pub compiled_dependencies: String,
}

/// The dependency model compiled into this charm, as stored in the app bag.
pub fn compiled_dependencies() -> String {
    crate::upgrade::deps::charm_dependencies().to_json()
}

/// Whether the stored model (absent on a fresh application) allows upgrading to this one.
pub fn compatible(stored: Option<&str>) -> Result<(), String> {
    match stored {
        None => Ok(()),
        Some(json) => crate::upgrade::deps::check_stored_dependencies(
            Some(json),
            &crate::upgrade::deps::charm_dependencies(),
        )
        .map_err(|e| e.to_string()),
    }
}

impl Default for UpgradeFacts {
    fn default() -> Self {
        UpgradeFacts {
            pending: false,
            failure: None,
            compatible: Ok(()),
            compiled_dependencies: String::new(),
        }
    }
}

/// The status of a unit whose upgrade failed: the cause and how to roll back.
fn failed_status(facts: &UpgradeFacts) -> Status {
    let cause = facts.failure.as_deref().unwrap_or("the upgrade failed");
    Status::blocked(format!("upgrade failed: {cause}; {ROLLBACK}"))
}

/// Whether the normal lifecycle (joins, restart-lock grants) may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Proceed,
    Hold,
}

fn set(bag: &mut Databag, current: Option<&str>, key: &str, value: &str) {
    if current.unwrap_or("") != value {
        bag.insert(key.into(), value.into());
    }
}

/// The upgrade part of the decision. Adds relation writes, workload ops and statuses to
/// `plan`.
pub fn decide_upgrade(s: &Snapshot, facts: &UpgradeFacts, plan: &mut Plan) -> Gate {
    let Some(up) = &s.upgrade else {
        return Gate::Proceed;
    };
    let me = s.unit_id;
    let own = up.unit_value(me, STATE_KEY).unwrap_or("");
    let stack = parse_stack(up.app_value(STACK_KEY));

    if s.leader && up.app_value(DEPENDENCIES_KEY).is_none() {
        plan.upgrade_app
            .insert(DEPENDENCIES_KEY.into(), facts.compiled_dependencies.clone());
    }

    if stack.is_empty() {
        match own {
            "" | "ready" | "upgrading" | "completed" => {
                set(&mut plan.upgrade_unit, Some(own), STATE_KEY, "idle")
            }
            _ => {}
        }
        if own == "failed" {
            plan.statuses.push(failed_status(facts));
            return Gate::Hold;
        }
        if facts.pending {
            plan.statuses.push(Status::blocked(
                "charm refreshed without pre-upgrade-check, ZooKeeper not upgraded yet: run `juju run zookeeper/leader pre-upgrade-check` to roll it out",
            ));
        } else if s.leader
            && facts.compatible.is_ok()
            && up
                .app_value(DEPENDENCIES_KEY)
                .is_some_and(|d| d != facts.compiled_dependencies)
            && own != "failed"
        {
            // The upgrade finished (or this revision changed nothing): record the new model.
            plan.upgrade_app
                .insert(DEPENDENCIES_KEY.into(), facts.compiled_dependencies.clone());
        }
        return Gate::Proceed;
    }

    let states = unit_states(up);
    let members = s.members();

    if s.leader {
        let kept: Vec<u32> = stack
            .iter()
            .copied()
            .filter(|id| members.contains(id))
            .collect();
        if kept != stack {
            plan.upgrade_app.insert(STACK_KEY.into(), stack_json(&kept));
        }
    }

    // A unit added mid-upgrade runs the new code already.
    if own.is_empty() && !stack.contains(&me) {
        set(&mut plan.upgrade_unit, Some(own), STATE_KEY, "completed");
        return Gate::Hold;
    }

    let cluster = cluster_state(&states);
    if cluster == Some("failed") || cluster == Some("recovery") {
        // Only in `upgrade-charm`: the pending marker outlives a failed upgrade, and the
        // failed unit's next hook of the same refresh must not retry it.
        if s.event.upgrade_charm
            && facts.pending
            && matches!(
                own,
                "failed" | "recovery" | "idle" | "completed" | "ready" | ""
            )
        {
            // Refreshed again (the rollback): take part in the new round.
            if facts.compatible.is_ok() {
                set(&mut plan.upgrade_unit, Some(own), STATE_KEY, "ready");
                return Gate::Hold;
            }
        }
        if own == "failed" {
            plan.statuses.push(failed_status(facts));
        } else if own == "recovery" {
            plan.statuses.push(Status::blocked(
                "ready to rollback application: run `juju refresh zookeeper` to the previous revision",
            ));
        } else {
            let failed = states
                .iter()
                .find(|(_, st)| st.as_str() == "failed")
                .map(|(id, _)| *id);
            plan.statuses.push(Status::waiting(match failed {
                Some(id) => format!(
                    "upgrade stopped: unit {id} failed to upgrade; see its status to roll back"
                ),
                None => "upgrade stopped, ready to roll back".to_string(),
            }));
        }
        return Gate::Hold;
    }

    if facts.pending {
        if let Err(why) = &facts.compatible {
            set(&mut plan.upgrade_unit, Some(own), STATE_KEY, "failed");
            plan.upgrade_failure = Some(why.clone());
            plan.statuses.push(Status::blocked(format!(
                "upgrade refused: {why}; {ROLLBACK}"
            )));
            return Gate::Hold;
        }
    }

    if matches!(own, "" | "idle") && stack.contains(&me) {
        set(&mut plan.upgrade_unit, Some(own), STATE_KEY, "ready");
        plan.statuses.push(Status::waiting(
            "upgrade prepared: run `juju refresh zookeeper` to start it",
        ));
        return Gate::Hold;
    }

    let top = *stack.last().expect("stack is not empty");
    let top_state = states.get(&top).map(String::as_str).unwrap_or("");
    if s.leader && top_state == "completed" {
        let popped = &stack[..stack.len() - 1];
        plan.upgrade_app
            .insert(STACK_KEY.into(), stack_json(popped));
    }

    match own {
        "upgrading" if !facts.pending => {
            let synced = s.workload.health.as_ref().is_some_and(|h| h.synced());
            if synced {
                set(&mut plan.upgrade_unit, Some(own), STATE_KEY, "completed");
                plan.statuses.push(Status::maintenance("upgrade completed"));
            } else if let Some(down) = quorum_out_of_reach(s) {
                // Not this upgrade's fault: the other voters cannot make a majority with
                // this server. Stay `upgrading` and look again in the next hook.
                plan.statuses.push(Status::waiting(format!(
                    "upgraded, waiting for a quorum to rejoin: {down} not serving"
                )));
            } else {
                set(&mut plan.upgrade_unit, Some(own), STATE_KEY, "failed");
                plan.upgrade_failure =
                    Some("ZooKeeper did not rejoin the quorum after the upgrade".into());
                plan.statuses.push(Status::blocked(format!(
                    "upgrade failed: ZooKeeper did not rejoin the quorum after the upgrade; {ROLLBACK}"
                )));
            }
        }
        "ready" | "upgrading" if top == me => {
            let others_ok = states
                .iter()
                .filter(|(id, _)| **id != me)
                .all(|(_, st)| st == "ready" || st == "completed");
            if !facts.pending {
                plan.statuses.push(Status::waiting(
                    "upgrade prepared: run `juju refresh zookeeper` to start it",
                ));
            } else if others_ok {
                set(&mut plan.upgrade_unit, Some(own), STATE_KEY, "upgrading");
                plan.workload.push(WorkloadOp::Upgrade);
                plan.statuses.push(Status::maintenance("upgrading"));
            } else {
                plan.statuses.push(Status::waiting(
                    "waiting for every unit to be refreshed before upgrading",
                ));
            }
        }
        "ready" => {
            let msg = if facts.pending {
                format!("other units upgrading first: waiting for unit {top}")
            } else {
                "upgrade prepared: run `juju refresh zookeeper` to start it".to_string()
            };
            plan.statuses.push(Status::waiting(msg));
        }
        "completed" => plan.statuses.push(Status::maintenance(
            "upgrade completed, waiting for the other units",
        )),
        _ => {}
    }
    Gate::Hold
}

/// The other voters that do not serve, when too few of them serve to make a majority with
/// this unit's server: then this server cannot rejoin whatever version it runs. The voters
/// are the live ensemble's when a server answered, else the ones the leader recorded.
fn quorum_out_of_reach(s: &Snapshot) -> Option<String> {
    let mut voters = s.ensemble.voter_units();
    if voters.is_empty() {
        voters = s.added();
    }
    voters.insert(s.unit_id);
    let down: Vec<u32> = voters
        .iter()
        .copied()
        .filter(|id| *id != s.unit_id)
        .filter(|id| !s.ensemble.health.get(id).is_some_and(|h| h.serving))
        .collect();
    let serving_with_me = voters.len() - down.len();
    (serving_with_me <= voters.len() / 2).then(|| {
        down.iter()
            .map(|id| s.unit_name_of(*id))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// Runs `pre-upgrade-check` or `resume-upgrade`.
///
/// # Errors
/// When a hook tool or the workload fails outright; every refusal is an action failure.
pub fn run_action(
    action: crate::dispatch::Action,
    env: &crate::env::HookEnv,
    event: &crate::dispatch::Event,
    tools: &dyn crate::hooktools::HookTools,
    workload: &dyn crate::workload::Workload,
) -> Result<(), crate::charm::CharmError> {
    let facts = crate::observe::event_facts(env, event);
    let s = crate::observe::observe(env, event, &facts, tools, workload)?;
    let Some(up) = &s.upgrade else {
        tools.action_fail(
            "the upgrade peer relation does not exist yet; wait until the units are deployed",
        )?;
        return Ok(());
    };
    let stack = parse_stack(up.app_value(STACK_KEY));
    if action == crate::dispatch::Action::ResumeUpgrade {
        let message = match stack.last() {
            None => "no upgrade is in progress; on machines an upgrade needs no resume: run pre-upgrade-check, then juju refresh".to_string(),
            Some(next) => format!(
                "not needed on machines: after `juju refresh` the units upgrade one at a time by themselves; next to upgrade: unit {next}; remaining stack {}",
                stack_json(&stack)
            ),
        };
        tools.action_set(&BTreeMap::from([("message".to_string(), message)]))?;
        return Ok(());
    }
    if !s.leader {
        tools.action_fail("pre-upgrade-check must run on the leader: `juju run zookeeper/leader pre-upgrade-check`")?;
        return Ok(());
    }
    let states = unit_states(up);
    if cluster_state(&states) == Some("failed") {
        // Recovery: the failed unit (on top) rolls back first, then the units already
        // upgraded, which are put back just below it.
        let mut repaired = stack.clone();
        let top = repaired.pop();
        for id in s.members() {
            if !repaired.contains(&id) && Some(id) != top {
                repaired.push(id);
            }
        }
        repaired.extend(top);
        tools.relation_set(
            &up.id,
            true,
            &Databag::from([(STACK_KEY.to_string(), stack_json(&repaired))]),
        )?;
        tools.relation_set(
            &up.id,
            false,
            &Databag::from([(STATE_KEY.to_string(), "recovery".to_string())]),
        )?;
        tools.action_set(&BTreeMap::from([
            ("upgrade-stack".to_string(), stack_json(&repaired)),
            (
                "message".to_string(),
                "ready to roll back: now run `juju refresh zookeeper` to the previous revision"
                    .to_string(),
            ),
        ]))?;
        return Ok(());
    }
    if !stack.is_empty()
        || states
            .values()
            .any(|st| !matches!(st.as_str(), "idle" | ""))
    {
        tools.action_fail(&format!(
            "an upgrade is already prepared or running (upgrade-stack {}); let it finish, or roll back a failed unit",
            stack_json(&stack)
        ))?;
        return Ok(());
    }
    if let Err(why) = ensemble_ready(&s) {
        tools.action_fail(&format!(
            "pre-upgrade check failed, it is not safe to upgrade: {why}"
        ))?;
        return Ok(());
    }
    let new_stack = build_stack(&s);
    tools.relation_set(
        &up.id,
        true,
        &Databag::from([(STACK_KEY.to_string(), stack_json(&new_stack))]),
    )?;
    tools.action_set(&BTreeMap::from([
        ("upgrade-stack".to_string(), stack_json(&new_stack)),
        (
            "message".to_string(),
            format!(
                "the ensemble is healthy; units will upgrade in this order: {:?}; now run `juju refresh zookeeper`",
                new_stack.iter().rev().collect::<Vec<_>>()
            ),
        ),
    ]))?;
    let status = crate::charm::reconcile(env, event, tools, workload)?;
    crate::charm::set_status(tools, workload, &status)?;
    Ok(())
}

/// Every unit a serving voting member, a quorum leader with nothing to sync, and no unit
/// joining or restarting.
pub fn ensemble_ready(s: &Snapshot) -> Result<(), String> {
    let voters = s.ensemble.voter_units();
    if s.ensemble.config.is_none() {
        return Err("no ZooKeeper server answered; check that the units are active".into());
    }
    for id in s.members() {
        if !voters.contains(&id) {
            return Err(format!("unit {id} is not a voting member of the quorum yet; wait until every unit is active"));
        }
        match s.ensemble.health.get(&id) {
            Some(h) if h.synced() => {}
            Some(h) if h.serving => {
                return Err(format!("unit {id} is still syncing with the quorum leader"))
            }
            _ => {
                return Err(format!(
                    "unit {id} is not serving requests; fix it before upgrading"
                ))
            }
        }
    }
    let Some(leader) = s.ensemble.leader_unit() else {
        return Err("no ZooKeeper quorum leader was found".into());
    };
    if s.ensemble
        .health
        .get(&leader)
        .and_then(|h| h.pending_syncs)
        .unwrap_or(0)
        > 0
    {
        return Err("some quorum members are still syncing data".into());
    }
    if let Some(n) = s.starting() {
        return Err(format!("unit {n} is still joining the ensemble"));
    }
    if s.restart
        .as_ref()
        .is_some_and(|r| r.app.values().any(|v| v == "granted"))
    {
        return Err("a rolling restart is in progress".into());
    }
    Ok(())
}

/// The upgrade order: the ZooKeeper quorum leader at index 0 (it upgrades last), then the
/// other units by descending id, so the lowest id (last element) upgrades first.
pub fn build_stack(s: &Snapshot) -> Vec<u32> {
    let leader = s.ensemble.leader_unit();
    let mut stack: Vec<u32> = leader.into_iter().collect();
    stack.extend(
        s.members()
            .into_iter()
            .rev()
            .filter(|id| Some(*id) != leader),
    );
    stack
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(v: &[(u32, &str)]) -> BTreeMap<u32, String> {
        v.iter().map(|(id, s)| (*id, s.to_string())).collect()
    }

    #[test]
    fn cluster_state_is_the_furthest_behind_unit() {
        assert_eq!(
            cluster_state(&states(&[(0, "completed"), (1, "ready")])),
            Some("ready")
        );
        assert_eq!(
            cluster_state(&states(&[(0, "completed"), (1, "failed"), (2, "idle")])),
            Some("failed")
        );
        assert_eq!(cluster_state(&states(&[(0, "idle"), (1, "")])), None);
    }

    #[test]
    fn the_stack_parses_as_json_and_anything_else_is_empty() {
        assert_eq!(parse_stack(Some("[0, 2, 1]")), vec![0, 2, 1]);
        assert!(parse_stack(Some("[]")).is_empty());
        assert!(parse_stack(Some("not json")).is_empty());
        assert!(parse_stack(None).is_empty());
    }
}
