//! The charms `bench` and `chaos` deploy: revision 1 and a revision-2 build of the same
//! code (for refreshes), with the hook tools that go with them.

use std::path::PathBuf;

use anyhow::{Context, Result};
use testkit::build::{charm_dir, CargoBuild};
use testkit::workspace_root;

use crate::pack::{pack, PackOptions};

/// The charms to deploy and refresh to, and the `sim-jujuc` hook tools.
#[derive(Debug, Clone)]
pub struct Artifacts {
    /// Every `.charm` of revision 1 (one per base).
    pub charms: Vec<PathBuf>,
    pub rev1: PathBuf,
    pub rev2: PathBuf,
    pub jujuc: PathBuf,
}

/// The packed release charms: revision 1 into `target/xtask/rev1` and revision 2 into
/// `target/xtask/rev2`. The revision-2 binary is built in its own target dir
/// (`target/xtask/rev2-target`), so that the two builds do not keep replacing each other's
/// artifact.
pub fn packed() -> Result<Artifacts> {
    let base = workspace_root().join("target").join("xtask");
    log::info!("packing revision 2 (its own target dir: the first time builds every dependency)");
    let rev2 = pack(&PackOptions {
        out_dir: base.join("rev2"),
        revision: Some("2".into()),
        bases: vec!["22.04".into()],
        target_dir: Some(base.join("rev2-target")),
    })?
    .into_iter()
    .next()
    .context("pack wrote no charm")?;
    log::info!("packing revision 1");
    let charms = pack(&PackOptions {
        out_dir: base.join("rev1"),
        revision: None,
        bases: Vec::new(),
        target_dir: None,
    })?;
    let rev1 = charms
        .iter()
        .find(|p| p.to_string_lossy().contains("22.04"))
        .or(charms.first())
        .cloned()
        .context("pack wrote no charm")?;
    let jujuc = CargoBuild::new("zk-sim", "sim-jujuc").release(true).run()?;
    Ok(Artifacts {
        charms,
        rev1,
        rev2,
        jujuc,
    })
}

/// The same two revisions as [`packed`], as debug builds in charm directories (what Juju
/// unpacks: `dispatch` and the metadata files) under `target/xtask/debug`. A debug build
/// reuses what `cargo test` built and keeps overflow checks and debug assertions on, so it
/// suits the chaos runner in CI; the bench always measures the release charm.
pub fn debug() -> Result<Artifacts> {
    let base = workspace_root().join("target").join("xtask").join("debug");
    let mut dirs = Vec::new();
    // Revision 2 first, then 1, so that the plain debug binary is revision 1 again after.
    for (name, revision) in [("rev2", Some("2")), ("rev1", None)] {
        log::info!("building the debug charm, {name}");
        let exe = CargoBuild::charm().charm_vars(revision, None, None).run()?;
        let dir = base.join(name);
        charm_dir(&exe, &dir).with_context(|| format!("writing the charm in {}", dir.display()))?;
        dirs.push(dir);
    }
    let rev1 = dirs.pop().context("no rev1")?;
    let rev2 = dirs.pop().context("no rev2")?;
    let jujuc = CargoBuild::new("zk-sim", "sim-jujuc").run()?;
    Ok(Artifacts {
        charms: vec![rev1.clone()],
        rev1,
        rev2,
        jujuc,
    })
}
