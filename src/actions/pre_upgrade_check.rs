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
        // The leader's status says "ready to roll back" now: the repaired stack is often the
        // stack it had, so no relation change gives it another hook before update-status.
        outcome.then_reconcile = true;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;

    fn idle3() -> World {
        healthy3(0)
            .leader()
            .with_upgrade(&[], &[(0, "idle"), (1, "idle"), (2, "idle")])
    }

    #[test]
    fn a_healthy_ensemble_gets_a_stack_with_the_quorum_leader_last() {
        let outcome = run(&idle3().snapshot());
        assert_eq!(outcome.plan.upgrade_app.stack, Some(vec![0, 2, 1]));
        assert!(outcome.then_reconcile);
        let results = outcome.result.unwrap();
        assert_eq!(results["upgrade-stack"], "[0,2,1]");
        assert!(results["message"].contains("now run `juju refresh zookeeper`"));
    }

    #[test]
    fn only_the_leader_checks_and_only_a_healthy_ensemble_passes() {
        let mut w = idle3();
        w.s.leader = false;
        assert!(run(&w.snapshot())
            .result
            .unwrap_err()
            .contains("must run on the leader"));
        let w = idle3().ensemble(&[0, 1, 2], &[(0, leading()), (1, following()), (2, down())]);
        let outcome = run(&w.snapshot());
        assert_eq!(
            outcome.result.unwrap_err(),
            "pre-upgrade check failed, it is not safe to upgrade: unit 2 is not serving requests; fix it before upgrading"
        );
        assert!(outcome.plan.is_idle());
    }

    #[test]
    fn a_prepared_upgrade_is_not_prepared_again() {
        let w = healthy3(0)
            .leader()
            .with_upgrade(&[0, 2, 1], &[(0, "ready"), (1, "ready"), (2, "ready")]);
        let outcome = run(&w.snapshot());
        assert!(outcome
            .result
            .unwrap_err()
            .contains("already prepared or running"));
        assert!(outcome.plan.is_idle());
    }

    #[test]
    fn an_unreadable_stack_is_replaced_only_when_every_unit_is_idle() {
        let w = healthy3(0)
            .leader()
            .with_stack("[0, 2", &[(0, "idle"), (1, "idle"), (2, "idle")]);
        assert_eq!(
            run(&w.snapshot()).plan.upgrade_app.stack,
            Some(vec![0, 2, 1])
        );
        let w = healthy3(0)
            .leader()
            .with_stack("[0, 2", &[(0, "idle"), (1, "ready"), (2, "idle")]);
        let outcome = run(&w.snapshot());
        assert!(
            outcome
                .result
                .unwrap_err()
                .contains("upgrade-stack unreadable"),
            "an upgrade in an unknown state is not overwritten"
        );
        assert!(outcome.plan.is_idle());
    }

    #[test]
    fn after_a_failure_the_failed_unit_rolls_back_first_then_the_upgraded_ones() {
        // Unit 1 upgraded, unit 2 failed (on top); unit 0 (the quorum leader) waits.
        let w = healthy3(0)
            .leader()
            .with_upgrade(&[0, 2], &[(0, "ready"), (1, "completed"), (2, "failed")]);
        let outcome = run(&w.snapshot());
        assert_eq!(outcome.plan.upgrade_app.stack, Some(vec![0, 1, 2]));
        assert_eq!(
            outcome.plan.upgrade_unit.state,
            Some(UpgradeState::Recovery)
        );
        assert!(
            outcome.then_reconcile,
            "the leader's status follows at once"
        );
        // With an unreadable stack, the failed unit still goes first.
        let w = healthy3(0)
            .leader()
            .with_stack("garbage", &[(0, "ready"), (1, "completed"), (2, "failed")]);
        assert_eq!(
            run(&w.snapshot()).plan.upgrade_app.stack,
            Some(vec![0, 1, 2])
        );
    }
}
