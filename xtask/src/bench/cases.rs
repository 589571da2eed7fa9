//! The hooks and read-only actions measured, and where each runs.

use zk_sim::state::{HookKind, HookSpec};

/// What one row measures.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target {
    Hook(HookKind, Option<&'static str>),
    Action(&'static str),
}

/// A hook or action and where it runs: on the leader, on a non-leader, or both.
#[derive(Clone, Copy)]
pub(super) struct Case {
    pub(super) target: Target,
    pub(super) leader: bool,
    pub(super) non_leader: bool,
    /// Runs once, without warm-up (it changes the model: see [`cases`]).
    pub(super) once: bool,
}

impl Case {
    pub(super) fn name(&self) -> String {
        match self.target {
            Target::Hook(kind, Some(ep)) => HookSpec::relation(kind, ep, 0, None).name,
            Target::Hook(kind, None) => HookSpec::plain(kind).name,
            Target::Action(a) => format!("action {a}"),
        }
    }
}

/// The hooks and read-only actions, in the order they run. `leader-settings-changed` only
/// runs on non-leaders and `leader-elected` only on the leader, as in Juju;
/// `pre-upgrade-check` leaves the units prepared for an upgrade (and refuses to run again
/// while they are), so it runs once, last, on the leader, and the model is destroyed
/// afterwards.
pub(super) fn cases() -> Vec<Case> {
    let both = |target| Case {
        target,
        leader: true,
        non_leader: true,
        once: false,
    };
    vec![
        both(Target::Hook(HookKind::UpdateStatus, None)),
        both(Target::Hook(HookKind::ConfigChanged, None)),
        both(Target::Hook(HookKind::RelationChanged, Some("cluster"))),
        Case {
            target: Target::Hook(HookKind::LeaderSettingsChanged, None),
            leader: false,
            non_leader: true,
            once: false,
        },
        both(Target::Hook(HookKind::RelationChanged, Some("upgrade"))),
        both(Target::Hook(HookKind::RelationChanged, Some("restart"))),
        Case {
            target: Target::Hook(HookKind::LeaderElected, None),
            leader: true,
            non_leader: false,
            once: false,
        },
        both(Target::Hook(HookKind::Start, None)),
        both(Target::Action("get-super-password")),
        both(Target::Action("get-sync-password")),
        both(Target::Action("resume-upgrade")),
        Case {
            target: Target::Action("pre-upgrade-check"),
            leader: true,
            non_leader: false,
            once: true,
        },
    ]
}
