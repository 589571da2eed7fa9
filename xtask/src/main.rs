//! Project tasks, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//!
//! - `pack`: builds the release binary and writes one `.charm` per Ubuntu base, laid out as
//!   `charmcraft pack` would (see [`pack`]).
//! - `demo`: checks the host has ZooKeeper and Java, packs, and deploys three units on the
//!   local model (`zk-sim`), then prints their status.
//! - `bench`: hook cost and convergence figures on the local model (see [`bench`]).
//! - `chaos`: seeded random scenarios on the local model, checking safety invariants.

mod artifacts;
mod bench;
mod chaos;
mod demo;
mod pack;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  pack [--out DIR] [--revision N] [--base 22.04|24.04]...
        Build `cargo build --release -p zookeeper-charm` and write
        zookeeper_ubuntu-<base>-amd64.charm for each base (default: 22.04 and 24.04)
        into DIR (default: the repository root). --revision N bakes charm revision N
        into the binary (default: $ZK_CHARM_REVISION, else 1).
  demo [--units N]
        Install missing host packages (as root; otherwise print the command), pack,
        then deploy N units (default 3) on the local model with zk-sim and show status.
  bench [--iterations N] [--units 3,7] [--convergence] [--write] [--seed S]
        Hook cost and convergence of the release charm on the local model with real
        ZooKeeper; --write regenerates BENCHMARKS.md (see `cargo xtask bench --help`).
  chaos --seeds N [--start S] [--steps K]
        Seeded random scenarios on the local model with real ZooKeeper, checking the
        charm's safety invariants (see `cargo xtask chaos --help`).
  help  Show this text.
";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let mut args = args.into_iter();
    let task = args.next().unwrap_or_else(|| "help".into());
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "pack" => {
            let opts = parse_pack(&rest)?;
            pack::pack(&opts).map(drop)
        }
        "demo" => demo::demo(&parse_demo(&rest)?),
        "bench" => bench::main(&rest),
        "chaos" => chaos::main(&rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown task {other:?}\n\n{USAGE}"),
    }
}

pub use testkit::workspace_root;

fn value<'a>(flag: &str, it: &mut impl Iterator<Item = &'a String>) -> Result<&'a String> {
    it.next()
        .with_context(|| format!("{flag} needs a value\n\n{USAGE}"))
}

fn parse_pack(args: &[String]) -> Result<pack::PackOptions> {
    let mut opts = pack::PackOptions {
        out_dir: workspace_root(),
        revision: std::env::var("ZK_CHARM_REVISION")
            .ok()
            .filter(|r| !r.is_empty()),
        bases: Vec::new(),
        target_dir: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => opts.out_dir = PathBuf::from(value("--out", &mut it)?),
            "--revision" => opts.revision = Some(value("--revision", &mut it)?.clone()),
            "--base" => opts.bases.push(value("--base", &mut it)?.clone()),
            // The build is always --release; accepted so that `pack --release` reads well.
            "--release" => {}
            other => bail!("unknown option {other:?} for pack\n\n{USAGE}"),
        }
    }
    Ok(opts)
}

fn parse_demo(args: &[String]) -> Result<demo::DemoOptions> {
    let mut opts = demo::DemoOptions { units: 3 };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--units" | "-n" => {
                let v = value(arg, &mut it)?;
                opts.units = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .with_context(|| format!("--units: {v:?} is not a positive number"))?;
            }
            other => bail!("unknown option {other:?} for demo\n\n{USAGE}"),
        }
    }
    Ok(opts)
}
