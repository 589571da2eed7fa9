//! The safety invariants between hooks, as a pure checker fed one sample of every unit at a
//! time:
//!
//! - at most one unit is out of service because the charm stopped or restarted its server
//!   (a server counts as out of service from the sample where its process changed until the
//!   new one serves);
//! - the voting members never lose their majority through a charm action (a lost majority
//!   is excused while a voter's server was killed from outside or its unit is leaving, and
//!   in an ensemble of one or two voters, which loses its majority whenever one server
//!   restarts: an operator who deploys fewer than three units accepts that).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::server::ServerProcess;

/// What one sample saw of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitSample {
    /// Its live server, if any.
    pub server: Option<ServerProcess>,
    /// That server answered `srvr` as serving.
    pub serving: bool,
}

/// Which invariant broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    /// Two units out of service at once through the charm.
    TwoRestarting,
    /// The voters lost their majority through the charm.
    Quorum,
}

impl ViolationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::TwoRestarting => "two-restarting",
            ViolationKind::Quorum => "quorum",
        }
    }
}

/// The first broken invariant, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.kind.as_str(), self.message)
    }
}

/// What the checker knows of one unit's server.
#[derive(Debug, Clone, Default)]
struct UnitState {
    server: Option<ServerProcess>,
    /// This process has served since it started.
    up: bool,
    /// Some process of this unit has served.
    ever_up: bool,
    /// It was killed from outside and has not served again since.
    killed: bool,
    /// The charm stopped or restarted it and it has not served again since.
    charm_out: bool,
}

/// The checker: feed it samples with [`ServingInvariants::update`]; it keeps the first
/// violation.
#[derive(Debug, Default)]
pub struct ServingInvariants {
    units: BTreeMap<String, UnitState>,
    /// The voting members (unit names) as last reported by a serving server.
    voters: BTreeSet<String>,
    violation: Option<Violation>,
    /// Says when a violation happened (`after hook <record>`); set by the caller.
    pub context: String,
}

impl ServingInvariants {
    /// The first violation seen, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// Whether `unit` is watched (alive in the last sample).
    pub fn watches(&self, unit: &str) -> bool {
        self.units.contains_key(unit)
    }

    fn violate(&mut self, kind: ViolationKind, message: String) {
        if self.violation.is_none() {
            let message = if self.context.is_empty() {
                message
            } else {
                format!("{}: {message}", self.context)
            };
            self.violation = Some(Violation { kind, message });
        }
    }

    /// `unit`'s server is being killed from outside the charm (its outage is excused).
    pub fn mark_killed(&mut self, unit: &str) {
        let w = self.units.entry(unit.to_string()).or_default();
        w.killed = true;
        w.up = false;
    }

    /// Takes one sample: `samples` has every live (not dying) unit; `voters` the
    /// membership a serving server reported now, if any.
    pub fn update(
        &mut self,
        samples: &BTreeMap<String, UnitSample>,
        voters: Option<BTreeSet<String>>,
    ) {
        for (name, s) in samples {
            let w = self.units.entry(name.clone()).or_default();
            if s.server != w.server {
                if w.server.is_some() && w.ever_up && !w.killed {
                    w.charm_out = true;
                }
                w.up = false;
                w.server = s.server;
            }
            if s.serving && s.server.is_some() {
                w.up = true;
                w.ever_up = true;
                w.killed = false;
                w.charm_out = false;
            }
        }
        // Units that left (or are leaving) are no longer watched.
        self.units.retain(|u, _| samples.contains_key(u));
        if let Some(v) = voters {
            self.voters = v;
        }

        let out: Vec<String> = self
            .units
            .iter()
            .filter(|(_, w)| w.charm_out)
            .map(|(u, _)| u.clone())
            .collect();
        if out.len() >= 2 {
            self.violate(
                ViolationKind::TwoRestarting,
                format!(
                    "{} are all out of service because the charm stopped or restarted them",
                    out.join(", ")
                ),
            );
        }
        if self.voters.is_empty() {
            return;
        }
        let up = self
            .voters
            .iter()
            .filter(|v| self.units.get(*v).is_some_and(|w| w.up))
            .count();
        if up * 2 > self.voters.len() {
            return;
        }
        // The scenario killed a voter's server, or a voter's unit is leaving or gone; or one
        // or two voters, which cannot keep a majority through any restart.
        let out_by_charm = self
            .voters
            .iter()
            .filter(|v| self.units.get(*v).is_some_and(|w| w.charm_out))
            .count();
        let excused = self
            .voters
            .iter()
            .any(|v| self.units.get(v).is_none_or(|w| w.killed))
            || (self.voters.len() <= 2 && out_by_charm <= 1);
        if !excused {
            let states: Vec<String> = self
                .voters
                .iter()
                .map(|v| match self.units.get(v) {
                    Some(w) if w.up => format!("{v} up"),
                    Some(w) if w.charm_out => format!("{v} stopped/restarted by the charm"),
                    Some(_) => format!("{v} down"),
                    None => format!("{v} unknown"),
                })
                .collect();
            self.violate(
                ViolationKind::Quorum,
                format!(
                    "the voters lost their majority and none of them was killed or removed: {}",
                    states.join(", ")
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(units: &[(&str, Option<i32>, bool)]) -> BTreeMap<String, UnitSample> {
        units
            .iter()
            .map(|(u, pid, serving)| {
                let server = pid.map(|pid| ServerProcess {
                    pid,
                    start_ticks: 1,
                });
                (
                    u.to_string(),
                    UnitSample {
                        server,
                        serving: *serving,
                    },
                )
            })
            .collect()
    }

    fn names(v: &[&str]) -> Option<BTreeSet<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    const ABC: [&str; 3] = ["z/0", "z/1", "z/2"];

    fn healthy() -> ServingInvariants {
        let mut w = ServingInvariants::default();
        w.update(
            &samples(&[
                ("z/0", Some(10), true),
                ("z/1", Some(11), true),
                ("z/2", Some(12), true),
            ]),
            names(&ABC),
        );
        assert!(w.violation().is_none());
        w
    }

    #[test]
    fn two_servers_restarted_by_the_charm_at_once_are_a_violation() {
        let mut w = healthy();
        w.context = "after hook x".into();
        // z/0 restarted and not serving yet; z/1 stopped.
        w.update(
            &samples(&[
                ("z/0", Some(20), false),
                ("z/1", None, false),
                ("z/2", Some(12), true),
            ]),
            None,
        );
        let v = w.violation().cloned().expect("a violation");
        assert_eq!(v.kind, ViolationKind::TwoRestarting);
        assert!(v.message.contains("z/0, z/1"), "{v}");
        assert!(v.message.starts_with("after hook x: "), "{v}");
    }

    #[test]
    fn a_rolling_restart_one_at_a_time_is_fine() {
        let mut w = healthy();
        for (i, u) in ABC.iter().enumerate() {
            let pid = 20 + i as i32;
            let mut now = vec![
                ("z/0", Some(10), true),
                ("z/1", Some(11), true),
                ("z/2", Some(12), true),
            ];
            for (j, v) in ABC.iter().enumerate() {
                if j < i {
                    now[j] = (v, Some(20 + j as i32), true);
                }
            }
            now[i] = (u, Some(pid), false);
            w.update(&samples(&now), None);
            now[i] = (u, Some(pid), true);
            w.update(&samples(&now), None);
        }
        assert!(w.violation().is_none(), "{:?}", w.violation());
    }

    #[test]
    fn quorum_lost_through_the_charm_is_a_violation_but_not_after_a_kill() {
        // Three voters, one of them not serving yet (its first start); the charm restarts
        // another: no majority left.
        let mut w = ServingInvariants::default();
        w.update(
            &samples(&[
                ("z/0", Some(10), true),
                ("z/1", Some(11), true),
                ("z/2", Some(12), false),
            ]),
            names(&ABC),
        );
        assert!(w.violation().is_none());
        w.update(
            &samples(&[
                ("z/0", Some(20), false),
                ("z/1", Some(11), false),
                ("z/2", Some(12), false),
            ]),
            None,
        );
        assert_eq!(w.violation().map(|v| v.kind), Some(ViolationKind::Quorum));

        // The same after the scenario killed z/1: excused, and the charm bringing z/1 back
        // (a new process) is not a charm restart.
        let mut w = healthy();
        w.mark_killed("z/1");
        w.update(
            &samples(&[
                ("z/0", Some(10), true),
                ("z/1", None, false),
                ("z/2", Some(12), true),
            ]),
            None,
        );
        w.mark_killed("z/2");
        w.update(
            &samples(&[
                ("z/0", Some(10), false),
                ("z/1", Some(21), false),
                ("z/2", None, false),
            ]),
            None,
        );
        assert!(w.violation().is_none(), "{:?}", w.violation());
        w.update(
            &samples(&[
                ("z/0", Some(10), true),
                ("z/1", Some(21), true),
                ("z/2", Some(22), true),
            ]),
            None,
        );
        assert!(w.violation().is_none(), "{:?}", w.violation());
    }

    #[test]
    fn one_or_two_voters_lose_their_majority_in_any_restart_which_is_excused() {
        for voters in [&["z/0"][..], &["z/0", "z/1"][..]] {
            let mut w = ServingInvariants::default();
            let up: Vec<(&str, Option<i32>, bool)> =
                voters.iter().map(|v| (*v, Some(10), true)).collect();
            w.update(&samples(&up), names(voters));
            // z/0 restarts; a second voter, if any, stops serving without it.
            let mut now: Vec<(&str, Option<i32>, bool)> =
                voters.iter().map(|v| (*v, Some(10), false)).collect();
            now[0] = ("z/0", Some(20), false);
            w.update(&samples(&now), None);
            assert!(w.violation().is_none(), "{voters:?}: {:?}", w.violation());
        }
        // Two voters both restarted by the charm at once is still two restarting.
        let mut w = ServingInvariants::default();
        w.update(
            &samples(&[("z/0", Some(10), true), ("z/1", Some(11), true)]),
            names(&["z/0", "z/1"]),
        );
        w.update(
            &samples(&[("z/0", Some(20), false), ("z/1", Some(21), false)]),
            None,
        );
        assert_eq!(
            w.violation().map(|v| v.kind),
            Some(ViolationKind::TwoRestarting)
        );
    }

    #[test]
    fn a_unit_that_leaves_is_not_counted_and_excuses_a_lost_majority() {
        let mut w = healthy();
        // z/2 is leaving (no longer live) and z/1 restarts meanwhile: 1 of 3 voters up.
        w.update(
            &samples(&[("z/0", Some(10), true), ("z/1", Some(21), false)]),
            None,
        );
        assert!(w.violation().is_none(), "{:?}", w.violation());
        assert!(!w.watches("z/2"));
    }

    #[test]
    fn a_first_start_is_not_a_restart() {
        let mut w = healthy();
        w.update(
            &samples(&[
                ("z/0", Some(10), true),
                ("z/1", Some(11), true),
                ("z/2", Some(12), true),
                ("z/3", None, false),
            ]),
            None,
        );
        w.update(
            &samples(&[
                ("z/0", Some(10), true),
                ("z/1", Some(11), true),
                ("z/2", Some(12), true),
                ("z/3", Some(13), false),
            ]),
            None,
        );
        assert!(w.violation().is_none(), "{:?}", w.violation());
    }
}
