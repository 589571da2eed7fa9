//! Which hook or action this process runs, from `JUJU_DISPATCH_PATH` (or `argv[0]`).
//!
//! Under `dispatch`, Juju runs the same binary for every hook and action with `argv[0]` set to
//! the path of `dispatch` itself, so `JUJU_DISPATCH_PATH` (`hooks/<hook>` or
//! `actions/<action>`) decides. `argv[0]`'s basename is used only when that variable is absent
//! (a `hooks/<name>` symlink on a pre-2.8 Juju, or a hand-run binary).

use std::fmt;

/// The peer and provided endpoints declared in `metadata.yaml`.
pub const ENDPOINTS: [&str; 4] = ["cluster", "upgrade", "restart", "zookeeper"];
/// The storage declared in `metadata.yaml`.
pub const STORAGES: [&str; 1] = ["data"];

/// A relation hook's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelationHook {
    Created,
    Joined,
    Changed,
    Departed,
    Broken,
}

impl RelationHook {
    /// Every kind, in the order Juju runs them for one relation.
    pub const ALL: [RelationHook; 5] = [
        RelationHook::Created,
        RelationHook::Joined,
        RelationHook::Changed,
        RelationHook::Departed,
        RelationHook::Broken,
    ];

    /// The hook-name suffix (`changed` of `cluster-relation-changed`).
    pub fn as_str(self) -> &'static str {
        match self {
            RelationHook::Created => "created",
            RelationHook::Joined => "joined",
            RelationHook::Changed => "changed",
            RelationHook::Departed => "departed",
            RelationHook::Broken => "broken",
        }
    }
}

/// A storage hook's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageHook {
    Attached,
    Detaching,
}

/// The actions declared in `actions.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    PreUpgradeCheck,
    GetSuperPassword,
    GetSyncPassword,
    SetPassword,
    ResumeUpgrade,
}

impl Action {
    /// Every action, in the order of `actions.yaml`.
    pub const ALL: [Action; 5] = [
        Action::PreUpgradeCheck,
        Action::GetSuperPassword,
        Action::GetSyncPassword,
        Action::SetPassword,
        Action::ResumeUpgrade,
    ];

    /// The name in `actions.yaml`.
    pub fn name(self) -> &'static str {
        match self {
            Action::PreUpgradeCheck => "pre-upgrade-check",
            Action::GetSuperPassword => "get-super-password",
            Action::GetSyncPassword => "get-sync-password",
            Action::SetPassword => "set-password",
            Action::ResumeUpgrade => "resume-upgrade",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Every hook and action this charm can be dispatched for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Event {
    Install,
    Start,
    Stop,
    Remove,
    ConfigChanged,
    UpgradeCharm,
    UpdateStatus,
    LeaderElected,
    LeaderSettingsChanged,
    Relation {
        endpoint: &'static str,
        kind: RelationHook,
    },
    Storage {
        name: &'static str,
        kind: StorageHook,
    },
    Action(Action),
    /// A hook name this charm does not know (logged, exit 0).
    UnknownHook(String),
    /// An action name this charm does not know (the action fails).
    UnknownAction(String),
}

impl Event {
    /// Parses a hook name (`cluster-relation-changed`).
    pub fn from_hook_name(name: &str) -> Event {
        match name {
            "install" => return Event::Install,
            "start" => return Event::Start,
            "stop" => return Event::Stop,
            "remove" => return Event::Remove,
            "config-changed" => return Event::ConfigChanged,
            "upgrade-charm" => return Event::UpgradeCharm,
            "update-status" => return Event::UpdateStatus,
            "leader-elected" => return Event::LeaderElected,
            "leader-settings-changed" => return Event::LeaderSettingsChanged,
            _ => {}
        }
        for endpoint in ENDPOINTS {
            for kind in RelationHook::ALL {
                if name
                    .strip_prefix(endpoint)
                    .and_then(|r| r.strip_prefix("-relation-"))
                    == Some(kind.as_str())
                {
                    return Event::Relation { endpoint, kind };
                }
            }
        }
        for storage in STORAGES {
            match name.strip_prefix(storage) {
                Some("-storage-attached") => {
                    return Event::Storage {
                        name: storage,
                        kind: StorageHook::Attached,
                    }
                }
                Some("-storage-detaching") => {
                    return Event::Storage {
                        name: storage,
                        kind: StorageHook::Detaching,
                    }
                }
                _ => {}
            }
        }
        Event::UnknownHook(name.to_string())
    }

    /// Parses `JUJU_DISPATCH_PATH` (`hooks/x`, `actions/y`), falling back to `argv[0]`'s
    /// basename (a hook name) when the variable is absent or empty.
    pub fn from_dispatch(dispatch_path: Option<&str>, argv0: &str) -> Event {
        match dispatch_path.filter(|p| !p.is_empty()) {
            Some(path) => {
                let (dir, name) = match path.rsplit_once('/') {
                    Some((dir, name)) => (dir.rsplit('/').next().unwrap_or(dir), name),
                    None => ("hooks", path),
                };
                if dir == "actions" {
                    Action::from_name(name)
                        .map(Event::Action)
                        .unwrap_or_else(|| Event::UnknownAction(name.to_string()))
                } else {
                    Event::from_hook_name(name)
                }
            }
            None => {
                let base = argv0.rsplit('/').next().unwrap_or(argv0);
                Event::from_hook_name(base)
            }
        }
    }

    /// True for actions (known or not).
    pub fn is_action(&self) -> bool {
        matches!(self, Event::Action(_) | Event::UnknownAction(_))
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Install => f.write_str("install"),
            Event::Start => f.write_str("start"),
            Event::Stop => f.write_str("stop"),
            Event::Remove => f.write_str("remove"),
            Event::ConfigChanged => f.write_str("config-changed"),
            Event::UpgradeCharm => f.write_str("upgrade-charm"),
            Event::UpdateStatus => f.write_str("update-status"),
            Event::LeaderElected => f.write_str("leader-elected"),
            Event::LeaderSettingsChanged => f.write_str("leader-settings-changed"),
            Event::Relation { endpoint, kind } => {
                write!(f, "{endpoint}-relation-{}", kind.as_str())
            }
            Event::Storage {
                name,
                kind: StorageHook::Attached,
            } => write!(f, "{name}-storage-attached"),
            Event::Storage {
                name,
                kind: StorageHook::Detaching,
            } => write!(f, "{name}-storage-detaching"),
            Event::Action(a) => write!(f, "action {}", a.name()),
            Event::UnknownHook(n) => write!(f, "unknown hook {n}"),
            Event::UnknownAction(n) => write!(f, "unknown action {n}"),
        }
    }
}
