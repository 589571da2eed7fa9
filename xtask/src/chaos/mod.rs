//! `cargo xtask chaos`: seeded random scenarios over the local model (`zk-sim`) with real
//! ZooKeeper servers, checking the charm's safety invariants after every hook and after
//! every step.
//!
//! A scenario is a deployment size and a list of events: add or remove a unit (keeping 1..5),
//! move Juju leadership, SIGKILL a unit's ZooKeeper, make a hook tool fail, change a config
//! option that restarts every unit, and an upgrade (`pre-upgrade-check`, then `refresh` to
//! the other packed revision, possibly interrupted by another event a few hooks in). The
//! seed also seeds the sim's scheduler, so the hook interleaving is random too.
//!
//! Checked after every hook (sampling each unit's ZooKeeper process and `srvr`):
//! - at most one unit is out of service because the charm stopped or restarted it;
//! - the voting members never lose their majority through a charm action (quorum loss while
//!   the scenario killed a server or removed a unit is excused).
//!
//! Checked once each step has settled: every unit is active; every unit's ZooKeeper serves;
//! the voting members are exactly the units; no upgrade is left half done; a client write
//! succeeds; every write acknowledged so far (also those made mid-step) reads back.
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

use anyhow::{bail, Context, Result};
use testkit::require_zookeeper;

use crate::artifacts;
use run::run_scenario;
use scenario::{generate, Scenario};
use shrink::shrink;

pub const USAGE: &str = "\
  chaos --seeds N [--start S] [--seed-list A,B,..] [--steps K] [--shrink-secs T]
        [--debug] [--replay \"EVENTS\"]
        Random scenarios on the local model with real ZooKeeper: seeds S..S+N (default
        S = 1) or the seeds listed, K events each (default 8). After every hook: at most
        one unit restarting, no quorum lost through a charm action. After every step: all active and serving,
        voters = units, no acknowledged write lost. A failure prints the seed and the
        shortest event list that reproduces it (shrinking for at most T s, default 600).
        --debug runs debug builds of the charm (quicker to build; overflow checks on)
        instead of the packed release charm. --replay runs one given list with seed S, e.g.
        --replay \"deploy 3; kill 1; upgrade 2 [leader 0]\".
";

#[derive(Debug, Clone)]
pub struct ChaosOptions {
    pub seeds: u64,
    pub start: u64,
    pub steps: usize,
    pub shrink_secs: u64,
    pub replay: Option<Scenario>,
    /// `--seed-list`: these seeds instead of `start..start + seeds`.
    pub list: Option<Vec<u64>>,
    /// `--debug`: debug builds of the charm instead of the packed release charm.
    pub debug: bool,
}

pub fn parse(args: &[String]) -> Result<ChaosOptions> {
    let mut o = ChaosOptions {
        seeds: 1,
        start: 1,
        steps: 8,
        shrink_secs: 600,
        replay: None,
        list: None,
        debug: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{a} needs a value\n\n{USAGE}"))
        };
        let mut number = |what: &str| -> Result<u64> {
            let v = value()?;
            v.parse()
                .with_context(|| format!("{what}: {v:?} is not a number"))
        };
        match a.as_str() {
            "--seeds" => o.seeds = number("--seeds")?.max(1),
            "--start" => o.start = number("--start")?,
            "--steps" => o.steps = number("--steps")? as usize,
            "--shrink-secs" => o.shrink_secs = number("--shrink-secs")?,
            "--replay" => o.replay = Some(value()?.parse()?),
            "--debug" => o.debug = true,
            "--seed-list" => {
                let v = value()?;
                o.list = Some(
                    v.split(',')
                        .map(|s| s.trim().parse::<u64>())
                        .collect::<Result<Vec<_>, _>>()
                        .ok()
                        .filter(|l| !l.is_empty())
                        .with_context(|| {
                            format!("--seed-list: {v:?} is not a list of seeds like 4,5,8")
                        })?,
                );
            }
            other => bail!("unknown option {other:?} for chaos\n\n{USAGE}"),
        }
    }
    Ok(o)
}

/// `cargo xtask chaos ...`.
pub fn main(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("usage: cargo xtask chaos [options]\n\n{USAGE}");
        return Ok(());
    }
    chaos(&parse(args)?)
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
    } else if let Some(list) = &o.list {
        list.clone()
    } else {
        (o.start..o.start + o.seeds).collect()
    };
    let mut failed = Vec::new();
    let (mut hooks, mut writes) = (0usize, 0usize);
    for &seed in &seeds {
        let sc = o.replay.clone().unwrap_or_else(|| generate(seed, o.steps));
        eprintln!("chaos: seed {seed}: {sc}");
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
                    eprintln!(
                        "chaos: seed {seed}: shrinking for at most {} s",
                        o.shrink_secs
                    );
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
    fn options_parse() {
        let o = parse(&["--seeds".into(), "3".into(), "--steps".into(), "2".into()]).unwrap();
        assert_eq!((o.seeds, o.start, o.steps), (3, 1, 2));
        let o = parse(&[
            "--replay".into(),
            "deploy 2; kill 0".into(),
            "--start".into(),
            "9".into(),
        ])
        .unwrap();
        assert_eq!(o.replay.unwrap().events, [Event::Kill(0)]);
        assert!(parse(&["--seeds".into()]).is_err());
        let o = parse(&["--seed-list".into(), "4, 5,8".into()]).unwrap();
        assert_eq!(o.list, Some(vec![4, 5, 8]));
        assert!(!o.debug);
        assert!(parse(&["--debug".into()]).unwrap().debug);
        assert!(parse(&["--seed-list".into(), "4,x".into()]).is_err());
        assert!(parse(&["--seed-list".into(), "".into()]).is_err());
        assert!(parse(&["--replay".into(), "kill 0".into()]).is_err());
    }
}
