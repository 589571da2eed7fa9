//! A local Juju model that runs a real machine charm the way Juju would, without a
//! controller: one application, N units on loopback addresses, fake hook tools with the real
//! tools' flags and outputs, Juju's commit/retry/scheduling rules, and a seeded scheduler so
//! any run replays exactly.
//!
//! # Layout
//!
//! - [`model`]: the [`Model`] API (Juju's verbs, the scheduler, `settle`, observation), one
//!   file per concern under `model/`.
//! - [`sched`]: Juju's rules for which hook a change queues on which unit.
//! - [`state`]: the model on disk (`model.json` under an exclusive `flock`).
//! - [`tools`]: the fake hook tools (the `sim-jujuc` multi-call binary), one file per family.
//! - [`charm`]: what the model keeps of a charm (its YAML files are read by `charm-files`),
//!   unpacking `.charm` zips.
//! - [`logs`]: the debug-log and the hook log; [`rng`]: the seeded PRNG.
//! - [`process`]: running hook processes in their unit's mount namespace.
//! - [`machine`]: each unit's own machine paths (`/snap`, `/var/snap`, ...) and namespace.
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
//! <model>/charms/<n>/      each deployed charm (n = the model's count), unpacked
//! <model>/units/<app>-<n>/charm      the unit's charm dir (JUJU_CHARM_DIR, hook cwd)
//! <model>/units/<app>-<n>/machine    the unit's own /snap, /var/snap, /var/lib/snapd, ...
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
pub mod snap;
pub mod state;
pub mod tools;
mod util;

pub use error::{Chain, SimError};
pub use model::{
    locate_jujuc, zk_role, ActionResult, HookRecord, Measured, Model, ModelOptions, RunOutcome,
    SettleLimits, SettleReport, ToolRun, UnitStatus, Usage, JUJU_VERSION,
};
pub use state::{Databag, Switches};
