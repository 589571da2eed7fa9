//! A tiny shell test charm and model helpers for the sim's own tests.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub mod ops;

use zk_sim::{HookRecord, Model, ModelOptions, Switches};

pub const METADATA: &str = "name: tiny\nsummary: test charm\ndescription: test charm\npeers:\n  cluster:\n    interface: cluster\n";

pub const CONFIG: &str = "options:\n  tick-time:\n    type: int\n    default: 2000\n    description: t\n  log-level:\n    type: string\n    default: INFO\n    description: l\n";

pub const ACTIONS: &str = "\
do:
  description: runs $CTL/action.sh
  params:
    arg:
      type: string
      default: none
  additionalProperties: false
";

/// A test charm in a temp dir; `ctl` is a directory outside the charm that the hooks use for
/// traces and markers (the charm dir is copied per unit).
pub struct TestCharm {
    pub tmp: tempfile::TempDir,
    pub charm: PathBuf,
    pub ctl: PathBuf,
}

/// Writes a charm whose `dispatch` appends one trace line per run to `$CTL/trace` and then
/// runs `body` (POSIX sh, with `set -e`, `$H` = hook name, `$A` = action name, `$CTL`).
pub fn charm(body: &str) -> TestCharm {
    charm_with(METADATA, body)
}

pub fn charm_with(metadata: &str, body: &str) -> TestCharm {
    let tmp = tempfile::tempdir().unwrap();
    let charm = tmp.path().join("charm");
    let ctl = tmp.path().join("ctl");
    fs::create_dir_all(&charm).unwrap();
    fs::create_dir_all(&ctl).unwrap();
    fs::write(charm.join("metadata.yaml"), metadata).unwrap();
    fs::write(charm.join("config.yaml"), CONFIG).unwrap();
    fs::write(charm.join("actions.yaml"), ACTIONS).unwrap();
    let script = format!(
        "#!/bin/sh\nset -e\nCTL='{ctl}'\nH=\"$JUJU_HOOK_NAME\"\nA=\"${{JUJU_ACTION_NAME:-}}\"\nU=\"$JUJU_UNIT_NAME\"\n\
         echo \"$U ${{JUJU_DISPATCH_PATH}} remote=${{JUJU_REMOTE_UNIT-unset}} departing=${{JUJU_DEPARTING_UNIT-unset}}\" >> \"$CTL/trace\"\n{body}\n",
        ctl = ctl.display()
    );
    let dispatch = charm.join("dispatch");
    fs::write(&dispatch, script).unwrap();
    fs::set_permissions(&dispatch, fs::Permissions::from_mode(0o755)).unwrap();
    TestCharm { tmp, charm, ctl }
}

pub fn options() -> ModelOptions {
    ModelOptions {
        jujuc: Some(PathBuf::from(env!("CARGO_BIN_EXE_sim-jujuc"))),
        ..ModelOptions::default()
    }
}

/// A model for `c` in `c.tmp/model`, seeded with `seed`, whose first unit leads (the
/// tests of other rules than leadership name the leader `tiny/0`); every other switch as
/// by default. [`model_with`] takes the switches as given.
pub fn model(c: &TestCharm, seed: u64) -> Model {
    model_with(c, seed, pinned_leader())
}

/// The default switches, but the first unit leads and the lowest remaining unit follows it.
pub fn pinned_leader() -> Switches {
    Switches {
        seeded_leadership: false,
        ..Switches::default()
    }
}

pub fn model_with(c: &TestCharm, seed: u64, switches: Switches) -> Model {
    let mut opts = options();
    opts.switches = switches;
    Model::create_with(
        c.tmp.path().join(format!("model-{seed}")),
        &c.charm,
        seed,
        opts,
    )
    .unwrap()
}

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// (unit, hook, remote unit) of every run, in order.
pub fn order(log: &[HookRecord]) -> Vec<(String, String, Option<String>)> {
    log.iter()
        .map(|r| (r.unit.clone(), r.hook.clone(), r.remote_unit.clone()))
        .collect()
}

/// A provider charm: a peer relation, `db` (interface `pgsql`) and `cos` (`cos_agent`) to
/// provide, and the test config and actions.
pub const PROVIDER: &str = "name: prov\nsummary: p\ndescription: p\npeers:\n  cluster:\n    interface: prov-peers\nprovides:\n  db:\n    interface: pgsql\n  cos:\n    interface: cos_agent\n";

/// Every hook of `u` as `hook` or `hook remote-unit`, in run order (no update-status).
pub fn hooks_of(log: &[HookRecord], unit: &str) -> Vec<String> {
    log.iter()
        .filter(|r| r.unit == unit && r.hook != "update-status")
        .map(|r| match &r.remote_unit {
            Some(x) => format!("{} {x}", r.hook),
            None => r.hook.clone(),
        })
        .collect()
}

/// The records after hook-log sequence number `seq`.
pub fn after(log: &[HookRecord], seq: u64) -> Vec<HookRecord> {
    log.iter().filter(|r| r.seq > seq).cloned().collect()
}

/// The last hook-log sequence number so far.
pub fn mark(m: &Model) -> u64 {
    m.hook_log().unwrap().last().map_or(0, |r| r.seq)
}
