//! `cargo xtask bench`: what each hook and action of the release charm costs in a steady,
//! healthy model, and how fast a model converges, on the local model (`zk-sim`) with real
//! ZooKeeper servers.
//!
//! - Hook cost (`cases.rs`, `measure.rs`): a 3-unit and a 7-unit model are deployed and
//!   settled until every unit is active. Then every hook and read-only action runs N times
//!   on the Juju leader and on a non-leader, each run through the sim's measured runner
//!   (`Model::run_hook_measured`): wall time from spawn to exit, CPU time and peak RSS from
//!   `wait4(2)`, and the hook-tool calls by tool. Whatever a run queues (it should queue
//!   nothing in a steady state) is run before the next one, unmeasured, and counted as
//!   "follow-up hooks".
//! - Convergence (`convergence.rs`): hooks and wall time from `deploy -n N` until every unit
//!   is active (N = 3, 5, 7), and from `refresh` (after `pre-upgrade-check`) until the upgrade
//!   is done (N = 3, 5).
//! - `--write` runs both and writes `BENCHMARKS.md` with the machine and the date
//!   (`report.rs`, which also checks the targets).

mod cases;
mod convergence;
mod measure;
mod report;

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use testkit::model::{create_model, describe_units, jvm_settle_limits};
use testkit::{require_zookeeper, workspace_root};
use zk_sim::{Model, ModelOptions, SettleReport};

use crate::artifacts::{self, Artifacts};
use convergence::{deploy_convergence, upgrade_convergence, Converged, CONVERGENCE_HEADERS};
use measure::{hook_costs, spawn_cost, Baseline, Row, HEADERS, WARM_UP};
use report::{growth, report, text_table, verdicts, where_the_time_goes};

/// Hook cost of the release charm on the local model with real ZooKeeper: every hook and
/// read-only action N times on the leader and a non-leader of each model size; median/p95
/// wall time, CPU, peak RSS, hook-tool calls by tool; the packed charm size.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Runs of each hook and action per unit, after 2 warm-up runs
    #[arg(short = 'n', long, default_value_t = 30, value_parser = positive)]
    pub iterations: usize,
    /// Model sizes for the hook cost (2 to 20 units each)
    #[arg(
        long = "units",
        value_name = "N,N..",
        value_delimiter = ',',
        default_values_t = [3, 7],
        value_parser = unit_count
    )]
    pub sizes: Vec<u32>,
    /// Also hooks and time from deploy to all active (3, 5, 7 units) and from refresh to
    /// the upgrade done (3, 5 units)
    #[arg(long)]
    pub convergence: bool,
    /// Run everything (convergence too) and write BENCHMARKS.md
    #[arg(long)]
    pub write: bool,
    /// The scheduler's seed
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl BenchOptions {
    /// `--convergence`, or `--write`, which runs everything.
    pub fn runs_convergence(&self) -> bool {
        self.convergence || self.write
    }
}

fn positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

fn unit_count(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if (2..=20).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a number of units from 2 to 20")),
    }
}

/// A model of the charm under test in `dir`, with the release hook tools.
pub(super) fn new_model(dir: &Path, art: &Artifacts, seed: u64) -> Result<Model> {
    let opts = ModelOptions {
        jujuc: Some(art.jujuc.clone()),
        ..ModelOptions::default()
    };
    create_model(dir, &art.rev1, seed, opts)
        .with_context(|| format!("creating a model in {}", dir.display()))
}

/// Settles with the limits for JVMs; a failure says what the units were doing.
pub(super) fn settle(m: &mut Model, what: &str) -> Result<SettleReport> {
    let r = m.settle(jvm_settle_limits());
    r.with_context(|| format!("{what}: the units:\n{}", describe_units(m)))
}

/// The unit names of a model, leader first, then the lowest-numbered other unit.
pub(super) fn leader_and_other(m: &Model) -> Result<(String, String)> {
    let st = m.status()?;
    let leader = st
        .iter()
        .find(|u| u.leader)
        .map(|u| u.unit.clone())
        .context("no leader")?;
    let other = st
        .iter()
        .find(|u| !u.leader)
        .map(|u| u.unit.clone())
        .context("no non-leader unit")?;
    Ok((leader, other))
}

pub fn bench(opts: &BenchOptions) -> Result<()> {
    require_zookeeper()?;
    let started = Instant::now();
    let art = artifacts::packed()?;
    let sizes: Vec<(String, u64)> = art
        .charms
        .iter()
        .map(|p| {
            let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, size)
        })
        .collect();
    let tmp = tempfile::Builder::new()
        .prefix("xtask-bench-")
        .tempdir()
        .context("creating a temp dir")?;

    let mut baseline = Baseline {
        spawn: spawn_cost(),
        ..Baseline::default()
    };
    let mut rows = Vec::new();
    for &n in &opts.sizes {
        rows.extend(hook_costs(&art, n, opts, tmp.path(), &mut baseline)?);
    }
    let mut conv = Vec::new();
    if opts.runs_convergence() {
        for n in [3, 5, 7] {
            conv.push(deploy_convergence(&art, n, opts.seed, tmp.path())?);
        }
        for n in [3, 5] {
            conv.push(upgrade_convergence(&art, n, opts.seed, tmp.path())?);
        }
    }
    let elapsed = started.elapsed();

    // Text output.
    println!();
    for &n in &opts.sizes {
        let cells = Row::table(&rows, n);
        println!(
            "hook cost, {n} units, {} runs each after {WARM_UP} warm-up runs:",
            opts.iterations
        );
        print!("{}", text_table(&HEADERS, &cells));
        println!();
    }
    for line in verdicts(&rows) {
        println!("{line}");
    }
    println!();
    for line in where_the_time_goes(&rows, &baseline) {
        println!("{line}");
    }
    println!();
    for (name, size) in &sizes {
        println!(
            "packed charm: {name} {size} bytes ({:.2} MB)",
            *size as f64 / 1e6
        );
    }
    if !conv.is_empty() {
        println!();
        println!(
            "convergence (update-status ticks every {} ms):",
            jvm_settle_limits().tick_interval.as_millis()
        );
        let cells: Vec<Vec<String>> = conv.iter().map(Converged::cells).collect();
        print!("{}", text_table(&CONVERGENCE_HEADERS, &cells));
        for line in growth(&conv) {
            println!("{line}");
        }
    }
    if opts.write {
        let path = workspace_root().join("BENCHMARKS.md");
        let mut text = report(opts, &rows, &baseline, &sizes, &conv, elapsed);
        // The chaos record is written by hand after long runs (`cargo xtask chaos`); a new
        // measurement keeps it.
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(kept_section(&old, CHAOS_HEADING));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

/// The heading of BENCHMARKS.md's hand-kept record of chaos runs.
const CHAOS_HEADING: &str = "## Chaos runs";

/// The part of `text` from the line `heading` to the end (empty when there is none), led by
/// a blank line.
fn kept_section<'a>(text: &'a str, heading: &str) -> &'a str {
    let at = text
        .match_indices(heading)
        .find(|(i, _)| *i == 0 || text[..*i].ends_with('\n'))
        .map(|(i, _)| i);
    match at {
        Some(i) if i > 0 => &text[i - 1..],
        Some(i) => &text[i..],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_implies_convergence_and_unit_counts_are_checked() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            o: BenchOptions,
        }
        let parse = |args: &[&str]| Cli::try_parse_from([&["bench"], args].concat()).map(|c| c.o);
        let o = parse(&["--write", "--units", "3, 5"]).unwrap();
        assert!(o.write && o.runs_convergence());
        assert_eq!(o.sizes, [3, 5]);
        let o = parse(&[]).unwrap();
        assert_eq!(
            (o.iterations, o.sizes.as_slice(), o.seed),
            (30, &[3, 7][..], 1)
        );
        assert!(!o.runs_convergence());
        assert!(parse(&["--units", "1"]).is_err());
        assert!(parse(&["--iterations", "0"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }

    #[test]
    fn a_new_measurement_keeps_the_hand_kept_chaos_record_and_nothing_else() {
        let old =
            "# Benchmarks\n\n## Hook cost\nold figures\n\n## Chaos runs\n\n| seeds | result |\n";
        assert_eq!(
            kept_section(old, CHAOS_HEADING),
            "\n## Chaos runs\n\n| seeds | result |\n"
        );
        assert_eq!(
            kept_section("# Benchmarks\n## Hook cost\n", CHAOS_HEADING),
            ""
        );
        // Only a heading at the start of a line counts.
        assert_eq!(kept_section("see ## Chaos runs below\n", CHAOS_HEADING), "");
    }
}
