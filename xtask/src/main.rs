//! Project tasks, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//!
//! - `pack`: builds the release binary and writes one `.charm` per Ubuntu base, laid out as
//!   `charmcraft pack` would (see [`pack`]).
//! - `demo`: checks the host has ZooKeeper and Java, packs, and deploys three units on the
//!   local model (`zk-sim`), then prints their status.
//! - `bench`: hook cost and convergence figures on the local model (see [`bench`]).
//! - `chaos`: seeded random scenarios on the local model, checking safety invariants.
//!
//! `artifacts` builds the charms `bench` and `chaos` deploy. Progress goes to stderr
//! through `log` (`RUST_LOG` filters it; `info` by default); results go to stdout.

mod artifacts;
mod bench;
mod chaos;
mod demo;
mod pack;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

pub use testkit::workspace_root;

/// Project tasks for the ZooKeeper charm.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build the release binary and write zookeeper_ubuntu-<base>-amd64.charm for each base
    Pack(pack::PackArgs),
    /// Install missing host packages, pack, and deploy units on the local model
    Demo(demo::DemoOptions),
    /// Hook cost and convergence of the release charm on the local model with real ZooKeeper
    ///
    /// Every hook and read-only action runs N times on the leader and a non-leader of each
    /// model size: median/p95 wall time, CPU, peak RSS, hook-tool calls by tool; then the
    /// packed charm's size. --convergence adds hooks and time from deploy to all active and
    /// from refresh to the upgrade done; --write runs everything and writes BENCHMARKS.md.
    Bench(bench::BenchOptions),
    /// Seeded random scenarios on the local model with real ZooKeeper, checking the charm's
    /// safety invariants
    ///
    /// Seeds S..S+N (or the seeds listed), K events each. After every hook: at most one
    /// unit out of service through the charm, no quorum lost through a charm action. After
    /// every step: all active and serving, voters = units, no upgrade left half done, no
    /// acknowledged write lost. A failure prints the seed and the shortest event list that
    /// reproduces it, as a --replay command.
    Chaos(chaos::ChaosOptions),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli.task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> Result<()> {
    match task {
        Task::Pack(args) => pack::pack(&args.options()).map(drop),
        Task::Demo(opts) => demo::demo(&opts),
        Task::Bench(opts) => bench::bench(&opts),
        Task::Chaos(opts) => chaos::chaos(&opts),
    }
}

/// Progress on stderr as `<task>: <message>` (`xtask::chaos::run` logs as `chaos`).
fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(|buf, record| {
            let target = record.target();
            let who = target
                .strip_prefix("xtask::")
                .map(|rest| rest.split("::").next().unwrap_or(rest))
                .unwrap_or_else(|| target.split("::").next().unwrap_or(target));
            match record.level() {
                log::Level::Error | log::Level::Warn => {
                    writeln!(buf, "{who}: {}: {}", record.level(), record.args())
                }
                _ => writeln!(buf, "{who}: {}", record.args()),
            }
        })
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_task_parses_its_documented_flags() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "xtask",
            "chaos",
            "--debug",
            "--seed-list",
            "5,8",
            "--shrink-secs",
            "120",
        ])
        .unwrap();
        assert!(matches!(cli.task, Task::Chaos(ref o) if o.debug && o.shrink_secs == 120));
        let cli =
            Cli::try_parse_from(["xtask", "pack", "--out", "/tmp/x", "--base", "22.04"]).unwrap();
        let Task::Pack(args) = cli.task else {
            panic!("not pack")
        };
        let opts = args.options();
        assert_eq!(opts.out_dir, std::path::PathBuf::from("/tmp/x"));
        assert_eq!(opts.bases, ["22.04"]);
        assert!(Cli::try_parse_from(["xtask", "demo", "--units", "0"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "frobnicate"]).is_err());
    }
}
