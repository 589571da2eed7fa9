//! `cargo xtask chaos`: seeded random scenarios over the local model (`zk-sim`) with real
//! ZooKeeper servers, checking the charm's safety invariants after every hook and after
//! every step.
//!
//! A scenario is a deployment size and a list of events: add or remove a unit (keeping 1..5),
//! move Juju leadership, SIGKILL a unit's ZooKeeper, make a hook tool fail, change a config
//! option that restarts every unit, and an upgrade (`pre-upgrade-check`, then `refresh` to
//! the other packed revision, possibly interrupted by another event a few hooks in). The
//! seed also seeds the sim's scheduler, so the hook interleaving is random too: up to 2-4
//! units run hooks at once, the Juju leader and the relation order are drawn, and whether
//! leadership moves by seed and whether the leader sees its own app-bag writes vary.
//!
//! Checked after every hook (sampling each unit's ZooKeeper process and `srvr`):
//! - at most one unit is out of service because the charm stopped or restarted it;
//! - the voting members never lose their majority through a charm action (quorum loss while
//!   the scenario killed a server or removed a unit is excused).
//!
//! Checked once each step has settled: the settle was healthy (no failed hook and no retry
//! unless the step injects a tool failure, no hook over 60 s, no progress that waited for
//! an update-status round unless a server was killed or a failure injected); every unit is
//! active; every unit's ZooKeeper serves; the voting members are exactly the units; no
//! upgrade is left half done; a client write succeeds; every write acknowledged so far
//! (also those made mid-step) reads back.
//!
//! A failing seed prints its event list, then the runner shrinks it (re-running with events
//! removed, within `--shrink-secs`) and prints the shortest list that still fails the same
//! way, as a `--replay` command.
//!
//! # Layout
//!
//! - `scenario.rs`: the scenario language (events, parsing, printing, generation by seed).
//! - `watch.rs`: sampling every unit's server after each hook into the test kit's
//!   invariant checker.
//! - `run.rs`: running one scenario on a fresh model and checking each settled step.
//! - `shrink.rs`: removing events while a failing scenario still fails the same way.

mod run;
mod scenario;
mod shrink;
mod watch;

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use testkit::require_zookeeper;

use crate::artifacts;
use run::run_scenario;
use scenario::{generate, Scenario};
use shrink::shrink;

/// Random scenarios on the local model with real ZooKeeper: seeds S..S+N or the seeds
/// listed. After every hook: at most one unit restarting, no quorum lost through a charm
/// action. After every step: all active and serving, voters = units, no acknowledged write
/// lost. A failure prints the seed and the shortest event list that reproduces it.
#[derive(Debug, Clone, clap::Args)]
pub struct ChaosOptions {
    /// How many seeds, from --start
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seeds: u64,
    /// The first seed
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub start: u64,
    /// These seeds instead of S..S+N
    #[arg(long = "seed-list", value_name = "A,B,..")]
    pub list: Option<SeedList>,
    /// Events per scenario
    #[arg(long, default_value_t = 8, value_name = "K")]
    pub steps: usize,
    /// Shrink a failing scenario for at most T seconds
    #[arg(long, default_value_t = 600, value_name = "T")]
    pub shrink_secs: u64,
    /// Debug builds of the charm (quicker to build; overflow checks on) instead of the
    /// packed release charm
    #[arg(long)]
    pub debug: bool,
    /// Run this one event list with seed S, e.g. "deploy 3; kill 1; upgrade 2 [leader 0]"
    #[arg(long, value_name = "EVENTS")]
    pub replay: Option<Scenario>,
}

/// `--seed-list 4,5,8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedList(pub Vec<u64>);

impl std::str::FromStr for SeedList {
    type Err = String;

    fn from_str(v: &str) -> Result<Self, String> {
        v.split(',')
            .map(|s| s.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .ok()
            .filter(|l| !l.is_empty())
            .map(SeedList)
            .ok_or_else(|| format!("{v:?} is not a list of seeds like 4,5,8"))
    }
}

pub fn chaos(o: &ChaosOptions) -> Result<()> {
    require_zookeeper()?;
    let art = if o.debug {
        artifacts::debug()?
    } else {
        artifacts::packed()?
    };
    let started = Instant::now();
    let seeds: Vec<u64> = if o.replay.is_some() {
        vec![o.start]
    } else if let Some(SeedList(list)) = &o.list {
        list.clone()
    } else {
        (o.start..o.start + o.seeds.max(1)).collect()
    };
    let mut failed = Vec::new();
    let (mut hooks, mut writes) = (0usize, 0usize);
    for &seed in &seeds {
        let sc = o.replay.clone().unwrap_or_else(|| generate(seed, o.steps));
        log::info!("seed {seed}: {sc}");
        let t = Instant::now();
        match run_scenario(&art, seed, &sc, true) {
            Ok(ran) => {
                hooks += ran.hooks;
                writes += ran.writes;
                println!(
                    "seed {seed}: ok, {} steps, {} hooks, {} writes kept, {:.0} s",
                    sc.events.len(),
                    ran.hooks,
                    ran.writes,
                    t.elapsed().as_secs_f64()
                );
            }
            Err(f) => {
                println!("seed {seed}: FAILED at {f}");
                println!("seed {seed}: events: {sc}");
                let (min, min_failure, complete) = if o.shrink_secs > 0 && f.step > 0 {
                    log::info!("seed {seed}: shrinking for at most {} s", o.shrink_secs);
                    shrink(&art, seed, &sc, &f, Duration::from_secs(o.shrink_secs))
                } else {
                    let mut min = sc.clone();
                    min.events.truncate(f.step);
                    (min, f.clone(), false)
                };
                println!(
                    "seed {seed}: {} event list that reproduces it: {min}",
                    if complete {
                        "shortest"
                    } else {
                        "shortest found (shrinking stopped early)"
                    }
                );
                println!("seed {seed}: reproduced failure: {min_failure}");
                println!(
                    "seed {seed}: rerun with: cargo xtask chaos{} --start {seed} --replay \"{min}\"",
                    if o.debug { " --debug" } else { "" }
                );
                failed.push(seed);
            }
        }
    }
    println!(
        "chaos: {} seeds, {} failed{}, {hooks} hooks, {writes} writes checked, {:.0} s",
        seeds.len(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" ({failed:?})")
        },
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!("chaos found {} failing seeds: {failed:?}", failed.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scenario::Event;

    #[test]
    fn chaos_options_take_a_replay_and_seed_lists_and_refuse_bad_ones() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            o: ChaosOptions,
        }
        let parse = |args: &[&str]| Cli::try_parse_from([&["chaos"], args].concat()).map(|c| c.o);
        let o = parse(&["--seeds", "3", "--steps", "2"]).unwrap();
        assert_eq!((o.seeds, o.start, o.steps, o.shrink_secs), (3, 1, 2, 600));
        let o = parse(&["--replay", "deploy 2; kill 0", "--start", "9"]).unwrap();
        assert_eq!(o.replay.unwrap().events, [Event::Kill(0)]);
        assert!(parse(&["--seeds"]).is_err());
        let o = parse(&["--seed-list", "4, 5,8"]).unwrap();
        assert_eq!(o.list, Some(SeedList(vec![4, 5, 8])));
        assert!(!o.debug);
        assert!(parse(&["--debug"]).unwrap().debug);
        assert!(parse(&["--seed-list", "4,x"]).is_err());
        assert!(parse(&["--seed-list", ""]).is_err());
        assert!(parse(&["--replay", "kill 0"]).is_err());
    }
}
