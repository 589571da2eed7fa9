//! Which hook or action this process runs, from `JUJU_DISPATCH_PATH` (or `argv[0]`).
//!
//! Under `dispatch`, Juju runs the same binary for every hook and action with `argv[0]` set to
//! the path of `dispatch` itself, so `JUJU_DISPATCH_PATH` (`hooks/<hook>` or
//! `actions/<action>`) decides. `argv[0]`'s basename is used only when that variable is absent
//! (a `hooks/<name>` symlink on a pre-2.8 Juju, or a hand-run binary).

use std::fmt;

use crate::env::{unit_number, HookEnv};

/// The `certificates` requires endpoint (TLS).
pub const CERTIFICATES: &str = "certificates";

/// The peer, provided and required endpoints declared in `metadata.yaml`.
pub const ENDPOINTS: [&str; 6] = [
    crate::peers::cluster::ENDPOINT,
    crate::peers::upgrade::ENDPOINT,
    crate::peers::restart::ENDPOINT,
    crate::peers::zookeeper::ENDPOINT,
    crate::cos::relation::ENDPOINT,
    CERTIFICATES,
];
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
    SetTlsPrivateKey,
}

impl Action {
    /// Every action, in the order of `actions.yaml`.
    pub const ALL: [Action; 6] = [
        Action::PreUpgradeCheck,
        Action::GetSuperPassword,
        Action::GetSyncPassword,
        Action::SetPassword,
        Action::ResumeUpgrade,
        Action::SetTlsPrivateKey,
    ];

    /// The name in `actions.yaml`.
    pub fn name(self) -> &'static str {
        match self {
            Action::PreUpgradeCheck => "pre-upgrade-check",
            Action::GetSuperPassword => "get-super-password",
            Action::GetSyncPassword => "get-sync-password",
            Action::SetPassword => "set-password",
            Action::ResumeUpgrade => "resume-upgrade",
            Action::SetTlsPrivateKey => "set-tls-private-key",
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
    /// `secret-changed`: a secret this unit consumes has a new revision.
    SecretChanged,
    /// `secret-remove`: a revision of a secret this unit's application owns is obsolete.
    SecretRemove,
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
            "secret-changed" => return Event::SecretChanged,
            "secret-remove" => return Event::SecretRemove,
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

    /// The event `env` names.
    pub fn from_env(env: &HookEnv) -> Event {
        Event::from_dispatch(env.dispatch_path.as_deref(), &env.argv0)
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
            Event::SecretChanged => f.write_str("secret-changed"),
            Event::SecretRemove => f.write_str("secret-remove"),
            Event::Action(a) => write!(f, "action {}", a.name()),
            Event::UnknownHook(n) => write!(f, "unknown hook {n}"),
            Event::UnknownAction(n) => write!(f, "unknown action {n}"),
        }
    }
}

/// What the reconcile needs to know about the event. Everything event-specific is decided
/// here; elsewhere the hook name only triggers the reconcile (and is logged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFacts {
    /// The unit leaving (`JUJU_DEPARTING_UNIT` in a `-relation-departed`), by id.
    pub departing: Option<u32>,
    /// This unit is going away (`stop`/`remove`/storage detaching, or it is the departing
    /// unit).
    pub dying: bool,
    /// This hook is `stop`, `remove` or the data storage detaching: the server must stop.
    pub stopping: bool,
    /// This hook is `remove`, the unit's last: the server stops even if it could not step
    /// out of the quorum first.
    pub removing: bool,
    /// This hook is `upgrade-charm`: new charm code runs now, and its workload is rolled
    /// out unit by unit.
    pub charm_refreshed: bool,
    /// Juju may have changed this unit's address: ask `network-get` instead of reusing the
    /// published one.
    pub refresh_address: bool,
    /// The other units' upgrade bags are needed even when no upgrade is prepared
    /// (`pre-upgrade-check` checks that every unit is idle).
    pub read_upgrade_bags: bool,
    /// What this unit publishes on `cos-agent` may be missing or out of date: the
    /// relation's own hooks (it was created, or the agent joined or changed) and
    /// `upgrade-charm` (new alert rules or dashboards). The value depends on nothing else
    /// that can change (the model, the application and the charm's assets), so no other
    /// hook asks for the relation.
    pub refresh_cos_agent: bool,
    /// Wall-clock time as text sortable in time order (orders restart-lock requests).
    pub now: String,
    /// Wall-clock time in seconds since the epoch (certificate renewal).
    pub now_secs: u64,
    /// A `certificates` relation hook, or a refresh: learn that relation again.
    pub certificates_changed: bool,
    /// `certificates-relation-broken`: the relation is still listed but going away.
    pub certificates_broken: bool,
    /// The `zookeeper` relation this hook is one of (any kind).
    pub client_relation: Option<u32>,
    /// The `zookeeper` relation this `-relation-broken` is for.
    pub client_broken: Option<u32>,
}

impl EventFacts {
    /// The facts of `event` in `env`, at `now_micros` (microseconds since the epoch).
    pub fn new(event: &Event, env: &HookEnv, now_micros: u128) -> EventFacts {
        // Only a unit of this application leaves the ensemble. The departing unit of another
        // application (a client, the certificates provider, the COS agent, whose unit
        // numbers mean nothing here) tells nothing of ZooKeeper's members.
        let departing = match event {
            Event::Relation {
                kind: RelationHook::Departed,
                ..
            } => env
                .departing_unit
                .as_deref()
                .filter(|d| d.rsplit_once('/').map(|(app, _)| app) == Some(env.app_name()))
                .and_then(unit_number),
            _ => None,
        };
        // The data storage detaching is the first hook of a removal on Juju (and the data
        // goes away in any case): the server leaves and stops as in `stop`.
        let stopping = matches!(
            event,
            Event::Stop
                | Event::Remove
                | Event::Storage {
                    kind: StorageHook::Detaching,
                    ..
                }
        );
        let own = unit_number(&env.unit_name);
        let client_relation = match event {
            Event::Relation { endpoint, .. } if *endpoint == crate::peers::zookeeper::ENDPOINT => {
                env.relation_id
                    .as_deref()
                    .and_then(crate::peers::zookeeper::relation_number)
            }
            _ => None,
        };
        let client_broken = client_relation.filter(|_| {
            matches!(
                event,
                Event::Relation {
                    kind: RelationHook::Broken,
                    ..
                }
            )
        });
        EventFacts {
            departing,
            dying: stopping || (departing.is_some() && departing == own),
            stopping,
            removing: *event == Event::Remove,
            charm_refreshed: *event == Event::UpgradeCharm,
            refresh_address: matches!(
                event,
                Event::Install
                    | Event::Start
                    | Event::ConfigChanged
                    | Event::UpgradeCharm
                    | Event::LeaderElected
            ),
            read_upgrade_bags: *event == Event::Action(Action::PreUpgradeCheck),
            refresh_cos_agent: match event {
                Event::Relation { endpoint, kind } => {
                    *endpoint == crate::cos::relation::ENDPOINT
                        && matches!(
                            kind,
                            RelationHook::Created | RelationHook::Joined | RelationHook::Changed
                        )
                }
                other => *other == Event::UpgradeCharm,
            },
            // Fixed width so that text order is time order.
            now: format!("{now_micros:020}"),
            now_secs: u64::try_from(now_micros / 1_000_000).unwrap_or(u64::MAX),
            certificates_changed: *event == Event::UpgradeCharm
                || matches!(event, Event::Relation { endpoint, .. } if *endpoint == CERTIFICATES),
            certificates_broken: *event
                == Event::Relation {
                    endpoint: CERTIFICATES,
                    kind: RelationHook::Broken,
                },
            client_relation,
            client_broken,
        }
    }

    /// The facts of `event` in `env`, now.
    pub fn now(event: &Event, env: &HookEnv) -> EventFacts {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        EventFacts::new(event, env, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(unit: &str, departing: Option<&str>) -> HookEnv {
        HookEnv {
            unit_name: unit.into(),
            departing_unit: departing.map(str::to_string),
            ..HookEnv::default()
        }
    }

    #[test]
    fn the_departing_unit_is_dying_and_the_others_see_it_depart() {
        let departed = Event::Relation {
            endpoint: "cluster",
            kind: RelationHook::Departed,
        };
        let me = EventFacts::new(&departed, &env("zookeeper/2", Some("zookeeper/2")), 1);
        assert_eq!(
            (me.departing, me.dying, me.stopping),
            (Some(2), true, false)
        );
        let other = EventFacts::new(&departed, &env("zookeeper/0", Some("zookeeper/2")), 1);
        assert_eq!((other.departing, other.dying), (Some(2), false));
        let stop = EventFacts::new(&Event::Stop, &env("zookeeper/0", None), 1);
        assert!(stop.dying && stop.stopping);
        let detaching = Event::Storage {
            name: "data",
            kind: StorageHook::Detaching,
        };
        let first_of_removal = EventFacts::new(&detaching, &env("zookeeper/2", None), 1);
        assert!(first_of_removal.dying && first_of_removal.stopping);
    }

    #[test]
    fn a_departing_unit_of_another_application_is_no_member_leaving() {
        for endpoint in ["cos-agent", "zookeeper", "certificates"] {
            let departed = Event::Relation {
                endpoint,
                kind: RelationHook::Departed,
            };
            for remote in ["grafana-agent/2", "kafka/2", "tls/2", "zookeeper-other/2"] {
                let f = EventFacts::new(&departed, &env("zookeeper/2", Some(remote)), 1);
                assert_eq!((f.departing, f.dying), (None, false), "{endpoint} {remote}");
            }
        }
    }

    #[test]
    fn only_the_events_that_can_change_it_refresh_the_address() {
        let e = env("zookeeper/0", None);
        let facts = |ev: Event| EventFacts::new(&ev, &e, 1);
        assert!(facts(Event::ConfigChanged).refresh_address);
        assert!(facts(Event::LeaderElected).refresh_address);
        assert!(!facts(Event::UpdateStatus).refresh_address);
        assert!(facts(Event::UpgradeCharm).charm_refreshed);
        assert!(facts(Event::Action(Action::PreUpgradeCheck)).read_upgrade_bags);
        assert!(!facts(Event::Action(Action::ResumeUpgrade)).read_upgrade_bags);
    }

    #[test]
    fn the_client_relations_hooks_name_their_relation_and_broken_says_so() {
        let env = HookEnv {
            unit_name: "zookeeper/0".into(),
            relation_id: Some("zookeeper:7".into()),
            ..HookEnv::default()
        };
        let of = |kind| {
            EventFacts::new(
                &Event::Relation {
                    endpoint: "zookeeper",
                    kind,
                },
                &env,
                1,
            )
        };
        assert_eq!(of(RelationHook::Changed).client_relation, Some(7));
        assert_eq!(of(RelationHook::Changed).client_broken, None);
        assert_eq!(of(RelationHook::Broken).client_broken, Some(7));
        let peer = EventFacts::new(
            &Event::Relation {
                endpoint: "cluster",
                kind: RelationHook::Broken,
            },
            &HookEnv {
                relation_id: Some("cluster:0".into()),
                ..env.clone()
            },
            1,
        );
        assert_eq!((peer.client_relation, peer.client_broken), (None, None));
    }

    #[test]
    fn only_the_cos_agent_hooks_that_can_need_a_write_and_upgrade_charm_refresh_its_data() {
        let e = env("zookeeper/0", None);
        let facts = |ev: Event| EventFacts::new(&ev, &e, 1);
        let cos = |kind| Event::Relation {
            endpoint: "cos-agent",
            kind,
        };
        assert!(facts(cos(RelationHook::Created)).refresh_cos_agent);
        assert!(facts(cos(RelationHook::Joined)).refresh_cos_agent);
        assert!(facts(cos(RelationHook::Changed)).refresh_cos_agent);
        assert!(!facts(cos(RelationHook::Departed)).refresh_cos_agent);
        assert!(!facts(cos(RelationHook::Broken)).refresh_cos_agent);
        assert!(facts(Event::UpgradeCharm).refresh_cos_agent);
        for other in [
            Event::UpdateStatus,
            Event::ConfigChanged,
            Event::LeaderElected,
            Event::Relation {
                endpoint: "cluster",
                kind: RelationHook::Changed,
            },
        ] {
            assert!(!facts(other.clone()).refresh_cos_agent, "{other}");
        }
        assert_eq!(
            Event::from_hook_name("cos-agent-relation-joined"),
            cos(RelationHook::Joined)
        );
    }

    #[test]
    fn request_times_sort_as_text_in_time_order() {
        let e = env("zookeeper/0", None);
        let a = EventFacts::new(&Event::UpdateStatus, &e, 99).now;
        let b = EventFacts::new(&Event::UpdateStatus, &e, 100).now;
        assert!(a < b, "{a} {b}");
        assert_eq!(b.len(), 20);
    }
}
