//! `resume-upgrade`: on Kubernetes the lib's way to let the next unit go; on machines the
//! units go by themselves after `juju refresh`, so it only reports where the upgrade is.

use super::ActionOutcome;
use crate::peers::upgrade::Stack;
use crate::snapshot::Snapshot;

pub fn run(s: &Snapshot) -> ActionOutcome {
    let Some(up) = &s.upgrade else {
        return ActionOutcome::fail(
            "the upgrade peer relation does not exist yet; wait until the units are deployed",
        );
    };
    let message = match &up.app.stack {
        Stack::Empty => "no upgrade is in progress; on machines an upgrade needs no resume: run pre-upgrade-check, then juju refresh".to_string(),
        Stack::Units(ids) => format!(
            "not needed on machines: after `juju refresh` the units upgrade one at a time by themselves; next to upgrade: unit {}; remaining stack {}",
            up.app.stack.next().expect("a stack of units is not empty"),
            Stack::json(ids)
        ),
        Stack::Invalid(_) => format!(
            "the upgrade-stack cannot be read, so the upgrade is in an unknown state; if no upgrade runs, `juju run {}/leader pre-upgrade-check` prepares a new one",
            s.app_name
        ),
    };
    ActionOutcome::results([("message", message)])
}
