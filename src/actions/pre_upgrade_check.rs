//! `pre-upgrade-check` (leader, before `juju refresh`): checks that the ensemble is healthy
//! and writes the upgrade stack; after a failed upgrade, prepares the rollback instead
//! (the upgrade lib's recovery).

use super::ActionOutcome;
use crate::peers::upgrade::{cluster_state, Stack, UnitState, UpgradeState};
use crate::snapshot::Snapshot;
use crate::upgrade::check::{build_stack, ensemble_ready, recovery_stack};

pub fn run(s: &Snapshot) -> ActionOutcome {
    let app = &s.app_name;
    let Some(up) = &s.upgrade else {
        return ActionOutcome::fail(
            "the upgrade peer relation does not exist yet; wait until the units are deployed",
        );
    };
    if !s.leader {
        return ActionOutcome::fail(format!(
            "pre-upgrade-check must run on the leader: `juju run {app}/leader pre-upgrade-check`"
        ));
    }
    if cluster_state(up.units.values()) == Some(UpgradeState::Failed) {
        // Recovery: the failed unit (on top) rolls back first, then the units already
        // upgraded, which are put back just below it.
        let repaired = recovery_stack(s);
        let mut outcome = ActionOutcome::results([
            ("upgrade-stack".to_string(), Stack::json(&repaired)),
            (
                "message".to_string(),
                format!(
                    "ready to roll back: now run `juju refresh {app}` to the previous revision"
                ),
            ),
        ]);
        outcome.plan.upgrade_app.stack = Some(repaired);
        outcome.plan.upgrade_unit.state = Some(UpgradeState::Recovery);
        return outcome;
    }
    let all_idle = up.units.values().all(|u| {
        matches!(
            u.state,
            UnitState::Missing | UnitState::Known(UpgradeState::Idle)
        )
    });
    // An unreadable stack with every unit idle is no upgrade: a new stack replaces it.
    let in_progress = matches!(up.app.stack, Stack::Units(_));
    if in_progress || !all_idle {
        let shown = match &up.app.stack {
            Stack::Invalid(_) => "unreadable".to_string(),
            stack => Stack::json(stack.units()),
        };
        return ActionOutcome::fail(format!(
            "an upgrade is already prepared or running (upgrade-stack {shown}); let it finish, or roll back a failed unit"
        ));
    }
    if let Err(why) = ensemble_ready(s) {
        return ActionOutcome::fail(format!(
            "pre-upgrade check failed, it is not safe to upgrade: {why}"
        ));
    }
    let stack = build_stack(s);
    let mut outcome = ActionOutcome::results([
        ("upgrade-stack".to_string(), Stack::json(&stack)),
        (
            "message".to_string(),
            format!(
                "the ensemble is healthy; units will upgrade in this order: {:?}; now run `juju refresh {app}`",
                stack.iter().rev().collect::<Vec<_>>()
            ),
        ),
    ]);
    outcome.plan.upgrade_app.stack = Some(stack);
    outcome.then_reconcile = true;
    outcome
}
