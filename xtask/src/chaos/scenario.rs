//! The scenario language: a deployment size and the events that follow, printed and
//! parsed as `deploy 3; kill 1; upgrade 4 [fail-tool 2 relation-set 1]`, and generated from
//! a seed.

use std::fmt;

use anyhow::{bail, Context, Result};
use zk_sim::rng::SplitMix64;
use zk_sim::tools::ToolName;

use super::faults::{random_fault, Fault};

/// The tools the charm calls in most hooks: the ones a failure is injected into.
pub(super) const TOOLS: [ToolName; 7] = [
    ToolName::RelationGet,
    ToolName::RelationSet,
    ToolName::RelationList,
    ToolName::StatusSet,
    ToolName::ConfigGet,
    ToolName::IsLeader,
    ToolName::NetworkGet,
];

/// Options that restart every unit when changed, and values to pick from.
pub(super) const CONFIG: [(&str, [u32; 3]); 3] = [
    ("tick-time", [2000, 2500, 3000]),
    ("init-limit", [5, 7, 10]),
    ("sync-limit", [2, 3, 5]),
];

pub(super) const MAX_UNITS: usize = 5;

/// The share of generated steps (in percent) that inject a fault of `faults.rs`: a 12-step
/// scenario holds four on average, and one at least in 99 seeds of 100.
const FAULT_PERCENT: usize = 33;

/// One event of a scenario. Units are named by position among the live units (by unit
/// number, modulo their count), so that a scenario stays meaningful when shrinking removes
/// events before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    AddUnit,
    RemoveUnit(u32),
    Leader(u32),
    Kill(u32),
    FailTool {
        unit: u32,
        tool: ToolName,
        times: u32,
    },
    Config {
        key: String,
        value: u32,
    },
    /// Deploy a client application and relate it (see `clients.rs`).
    ClientAdd,
    /// Remove the relation of the k-th related client.
    ClientRemove(u32),
    /// `pre-upgrade-check` on the leader, `refresh` to the other revision, `after` hooks,
    /// then the interrupting event if any.
    Upgrade {
        after: u32,
        interrupt: Option<Box<Event>>,
    },
    /// A fault injected into one unit (see `faults.rs`).
    Fault(Fault),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::AddUnit => write!(f, "add-unit"),
            Event::RemoveUnit(k) => write!(f, "remove-unit {k}"),
            Event::Leader(k) => write!(f, "leader {k}"),
            Event::Kill(k) => write!(f, "kill {k}"),
            Event::FailTool { unit, tool, times } => write!(f, "fail-tool {unit} {tool} {times}"),
            Event::Config { key, value } => write!(f, "config {key} {value}"),
            Event::ClientAdd => write!(f, "client-add"),
            Event::ClientRemove(k) => write!(f, "client-remove {k}"),
            Event::Upgrade { after, interrupt } => {
                write!(f, "upgrade {after}")?;
                if let Some(e) = interrupt {
                    write!(f, " [{e}]")?;
                }
                Ok(())
            }
            Event::Fault(x) => write!(f, "{x}"),
        }
    }
}

impl std::str::FromStr for Event {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Event> {
        let text = text.trim();
        let (head, bracket) = match text.split_once('[') {
            Some((h, rest)) => (
                h.trim(),
                Some(
                    rest.strip_suffix(']')
                        .with_context(|| format!("{text:?}: missing ]"))?,
                ),
            ),
            None => (text, None),
        };
        let words: Vec<&str> = head.split_whitespace().collect();
        let num = |i: usize| -> Result<u32> {
            words
                .get(i)
                .with_context(|| format!("{text:?}: missing argument {i}"))?
                .parse()
                .with_context(|| format!("{text:?}: argument {i} is not a number"))
        };
        let arity = |n: usize| -> Result<()> {
            if words.len() != n {
                bail!("{text:?}: expected {} arguments", n - 1);
            }
            Ok(())
        };
        let ev = match words.first().copied() {
            Some("add-unit") => {
                arity(1)?;
                Event::AddUnit
            }
            Some("remove-unit") => {
                arity(2)?;
                Event::RemoveUnit(num(1)?)
            }
            Some("leader") => {
                arity(2)?;
                Event::Leader(num(1)?)
            }
            Some("kill") => {
                arity(2)?;
                Event::Kill(num(1)?)
            }
            Some("fail-tool") => {
                arity(4)?;
                let tool = ToolName::from_name(words[2])
                    .with_context(|| format!("{text:?}: unknown hook tool {:?}", words[2]))?;
                Event::FailTool {
                    unit: num(1)?,
                    tool,
                    times: num(3)?,
                }
            }
            Some("config") => {
                arity(3)?;
                let key = words[1].to_string();
                if !CONFIG.iter().any(|(k, _)| *k == key) {
                    bail!("{text:?}: config key must be one of tick-time, init-limit, sync-limit");
                }
                Event::Config {
                    key,
                    value: num(2)?,
                }
            }
            Some("client-add") => {
                arity(1)?;
                Event::ClientAdd
            }
            Some("client-remove") => {
                arity(2)?;
                Event::ClientRemove(num(1)?)
            }
            Some("upgrade") => {
                arity(2)?;
                let interrupt = match bracket {
                    Some(inner) => {
                        let e: Event = inner.parse()?;
                        if matches!(e, Event::Upgrade { .. }) {
                            bail!("{text:?}: an upgrade cannot interrupt an upgrade");
                        }
                        Some(Box::new(e))
                    }
                    None => None,
                };
                Event::Upgrade {
                    after: num(1)?,
                    interrupt,
                }
            }
            _ => match Fault::parse(text, &words) {
                Some(fault) => Event::Fault(fault?),
                None => bail!("unknown event {text:?}"),
            },
        };
        if bracket.is_some() && !matches!(ev, Event::Upgrade { .. }) {
            bail!("{text:?}: only an upgrade takes an interrupting event");
        }
        Ok(ev)
    }
}

/// A deployment size and the events that follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub units: u32,
    pub events: Vec<Event>,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "deploy {}", self.units)?;
        for e in &self.events {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Scenario {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Scenario> {
        let mut parts = text.split(';').map(str::trim).filter(|p| !p.is_empty());
        let first = parts.next().context("an empty scenario")?;
        let units = first
            .strip_prefix("deploy ")
            .and_then(|n| n.trim().parse::<u32>().ok())
            .filter(|n| (1..=MAX_UNITS as u32).contains(n))
            .with_context(|| format!("a scenario starts with `deploy N` (1..5), not {first:?}"))?;
        let events = parts.map(str::parse).collect::<Result<Vec<Event>>>()?;
        Ok(Scenario { units, events })
    }
}

pub(super) fn random_event(rng: &mut SplitMix64, allow_upgrade: bool) -> Event {
    let pick = |rng: &mut SplitMix64, n: u32| rng.below(n as usize) as u32;
    loop {
        if let Some(e) = random_client_event(rng, allow_upgrade) {
            return e;
        }
        let e = match rng.below(100) {
            0..=14 => Event::AddUnit,
            15..=29 => Event::RemoveUnit(pick(rng, 5)),
            30..=44 => Event::Leader(pick(rng, 5)),
            45..=59 => Event::Kill(pick(rng, 5)),
            60..=72 => Event::FailTool {
                unit: pick(rng, 5),
                tool: TOOLS[rng.below(TOOLS.len())],
                times: 1 + pick(rng, 3),
            },
            73..=84 => {
                let (key, values) = CONFIG[rng.below(CONFIG.len())];
                Event::Config {
                    key: key.to_string(),
                    value: values[rng.below(values.len())],
                }
            }
            _ if allow_upgrade => {
                let interrupt = if rng.below(2) == 0 {
                    Some(Box::new(random_event(rng, false)))
                } else {
                    None
                };
                Event::Upgrade {
                    after: pick(rng, 12),
                    interrupt,
                }
            }
            _ => continue,
        };
        return e;
    }
}

/// A client event 15% of the time (a third of the time as an upgrade's interrupting
/// event, so that relations come and go mid-upgrade), additions more often than removals.
fn random_client_event(rng: &mut SplitMix64, top_level: bool) -> Option<Event> {
    let chance = if top_level { 15 } else { 33 };
    if rng.below(100) >= chance {
        return None;
    }
    Some(if rng.below(5) < 3 {
        Event::ClientAdd
    } else {
        Event::ClientRemove(rng.below(4) as u32)
    })
}

/// The scenario of a seed: 1 to 3 units (3 half of the time), then `steps` events.
pub fn generate(seed: u64, steps: usize) -> Scenario {
    let mut rng = SplitMix64::new(zk_sim::rng::mix(seed ^ 0xC4A0_5EED));
    let units = match rng.below(6) {
        0 => 1,
        1 | 2 => 2,
        _ => 3,
    };
    // About a third of the steps inject one of the faults of `faults.rs`.
    let events = (0..steps)
        .map(|_| {
            if rng.below(100) < FAULT_PERCENT {
                Event::Fault(random_fault(&mut rng))
            } else {
                random_event(&mut rng, true)
            }
        })
        .collect();
    Scenario { units, events }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn scenarios_print_as_they_parse() {
        for seed in 0..200 {
            let sc = generate(seed, 12);
            let text = sc.to_string();
            let back: Scenario = text.parse().unwrap();
            assert_eq!(back, sc, "{text}");
        }
        let sc: Scenario =
            "deploy 3; kill 1; upgrade 4 [fail-tool 2 relation-set 1]; config tick-time 2500"
                .parse()
                .unwrap();
        assert_eq!(sc.units, 3);
        assert_eq!(sc.events.len(), 3);
        assert_eq!(
            sc.events[1],
            Event::Upgrade {
                after: 4,
                interrupt: Some(Box::new(Event::FailTool {
                    unit: 2,
                    tool: ToolName::RelationSet,
                    times: 1
                }))
            }
        );
    }

    #[test]
    fn bad_scenarios_are_refused() {
        for bad in [
            "kill 1",
            "deploy 0",
            "deploy 6",
            "deploy 3; kill",
            "deploy 3; kill x",
            "deploy 3; leader 1 [kill 2]",
            "deploy 3; upgrade 1 [upgrade 2]",
            "deploy 3; fail-tool 1 no-such-tool 1",
            "deploy 3; config log-level 3",
            "deploy 3; dance",
        ] {
            assert!(bad.parse::<Scenario>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_seed_always_gives_the_same_scenario_and_seeds_differ() {
        assert_eq!(generate(7, 10), generate(7, 10));
        let distinct: BTreeSet<String> = (0..50).map(|s| generate(s, 10).to_string()).collect();
        assert!(distinct.len() > 45, "{}", distinct.len());
        // Every kind of event shows up across seeds.
        let all: String = (0..50).map(|s| generate(s, 10).to_string()).collect();
        for word in [
            "add-unit",
            "remove-unit",
            "leader",
            "kill",
            "fail-tool",
            "config",
            "upgrade",
            "client-add",
            "client-remove",
            "[",
            "start-fault",
            "sigkill-hook",
            "hang-tool",
            "disk-full",
            "fail-secret",
        ] {
            assert!(all.contains(word), "{word}");
        }
    }
}
