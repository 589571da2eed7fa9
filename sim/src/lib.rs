//! A local Juju model that runs real machine charms the way Juju would, without a
//! controller: several applications (charms, or scripted stubs a test acts for), their
//! units on loopback addresses, relations between them, Juju secrets, fake hook tools with the
//! real tools' flags and outputs, Juju's commit/retry/scheduling rules, and a seeded
//! scheduler so any run replays exactly.
//!
//! # Layout
//!
//! - [`model`]: the [`Model`] API (Juju's verbs, the scheduler, `settle`, observation), one
//!   file per concern under `model/`.
//! - [`sched`]: Juju's rules for which hook a change queues on which unit.
//! - [`state`]: the model on disk (`model.json` under an exclusive `flock`).
//! - [`secrets`]: Juju secrets (owners, labels, revisions, grants, consumers) and their hooks.
//! - [`tools`]: the fake hook tools (the `sim-jujuc` multi-call binary), one file per family.
//! - [`charm`]: what the model keeps of a charm (its YAML files are read by `charm-files`),
//!   unpacking `.charm` zips, the scripted stub ([`StubSpec`]).
//! - [`logs`]: the debug-log and the hook log; [`rng`]: the seeded PRNG.
//! - [`process`]: running hook processes in their unit's mount namespace.
//! - [`machine`]: each machine's own paths (`/snap`, `/var/snap`, ...) and namespace; a
//!   principal unit has one, its subordinates share it.
//! - [`snap`]: the units' `snap` command: a fake snapd and store with the
//!   `charmed-zookeeper` snap, whose service runs ZooKeeper as the snap does.
//! - [`fourlw`]: ZooKeeper's `srvr` query for the status table.
//!
//! # Model directory
//!
//! ```text
//! <model>/model.json       the whole model (0600), guarded by model.lock
//! <model>/hooks.jsonl      one record per hook/action run
//! <model>/debug-log        juju-log lines and hook output, per unit
//! <model>/tools/           sim-jujuc and a symlink per hook tool (first on the hook PATH)
//! <model>/charms/<app>/<n>/  each charm deployed to an application (n = its count), unpacked
//! <model>/units/<app>-<n>/charm      the unit's charm dir (JUJU_CHARM_DIR, hook cwd)
//! <model>/units/<app>-<n>/machine    a principal unit's machine: its /snap, /var/snap, ...
//! <model>/storage/<name>-<k>/        storage instance <name>/<k>, mounted on its unit
//! ```

pub mod charm;
mod error;
pub mod fourlw;
pub mod logs;
pub mod machine;
pub mod model;
pub mod process;
pub mod rng;
pub mod sched;
pub mod secrets;
pub mod snap;
pub mod state;
pub mod tools;
pub mod util;

pub use charm::StubSpec;
pub use error::{Chain, SimError};
pub use model::{
    locate_jujuc, parallel_for_seed, zk_role, ActionResult, AppStatus, ExecResult, HookRecord,
    Measured, Model, ModelOptions, RelationStatus, RunOutcome, SecretView, SettleLimits,
    SettleReport, ToolRun, UnitStatus, Usage, JUJU_VERSION, UPDATE_STATUS_INTERVAL,
};
pub use state::{Databag, Switches};
