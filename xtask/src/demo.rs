//! `cargo xtask demo`: the packed charm on the local model, in one command.
//!
//! 1. Root (the local model needs it), and host packages: Debian's ZooKeeper jars and a
//!    Java runtime, installed with apt when missing.
//! 2. `cargo xtask pack --base 22.04`.
//! 3. The `zk-sim` CLI: `deploy --path <charm> -n N`, `settle`, `status`.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::pack::{pack, PackOptions};
use crate::workspace_root;

/// Install missing host packages (as root; otherwise print the command), pack, then deploy
/// units on the local model with zk-sim and show their status.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// How many units
    #[arg(short = 'n', long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub units: u32,
}

/// A host package the local workload needs, and how to tell it is there.
struct Requirement {
    package: &'static str,
    present: fn() -> bool,
}

const REQUIREMENTS: [Requirement; 2] = [
    Requirement {
        package: "libzookeeper-java",
        present: || Path::new("/usr/share/java/zookeeper.jar").exists(),
    },
    Requirement {
        package: "default-jre-headless",
        present: || {
            Command::new("java")
                .arg("-version")
                .output()
                .is_ok_and(|o| o.status.success())
        },
    },
];

pub fn demo(opts: &DemoOptions) -> Result<()> {
    if !is_root() {
        bail!(
            "the local model needs root (each unit runs in a mount namespace of its own and \
             ZooKeeper as the snap's user, uid 584788): run `sudo cargo xtask demo`"
        );
    }
    ensure_host_packages()?;
    let root = workspace_root();
    let charms = pack(&PackOptions {
        out_dir: root.clone(),
        revision: None,
        bases: vec!["22.04".into()],
        target_dir: None,
    })?;
    let charm = charms.first().context("pack wrote no charm")?;
    let units = opts.units.to_string();
    let charm_path = charm.to_string_lossy().into_owned();
    if root.join(".sim").join("model.json").exists() {
        // A model from an earlier demo: stop its ZooKeeper servers and start afresh.
        sim(&root, &["destroy"])?;
    }
    sim(&root, &["deploy", "--path", &charm_path, "-n", &units])?;
    sim(&root, &["settle"])?;
    sim(&root, &["status"])?;
    Ok(())
}

fn ensure_host_packages() -> Result<()> {
    let missing: Vec<&str> = REQUIREMENTS
        .iter()
        .filter(|r| !(r.present)())
        .map(|r| r.package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!("apt-get install -y {}", missing.join(" "));
    if !is_root() {
        bail!(
            "missing host packages: {}. Install them with:\n\n    sudo apt-get update && sudo {install}\n",
            missing.join(", ")
        );
    }
    log::info!("installing {}", missing.join(", "));
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(())
}

/// Root is uid 0; read from /proc so that xtask needs no libc binding.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// `cargo run -p zk-sim --release --bin zk-sim -- <args>`.
fn sim(root: &Path, args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo)
        .current_dir(root)
        .args([
            "run",
            "--quiet",
            "-p",
            "zk-sim",
            "--release",
            "--bin",
            "zk-sim",
            "--",
        ])
        .args(args))
}

fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("running {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}
