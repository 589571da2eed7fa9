//! Given/when/then tests of the pure decision, on snapshots built from raw bags (so the
//! bags go through the same parsers as in a hook; the builder is [`crate::fixtures`]).
//!
//! - [`disk`]: the data disk's watchdog, held-back restarts and upgrades, heap and swap;
//! - [`lifecycle`]: passwords, first start, bootstrap, status, leaving;
//! - [`membership`]: the leader's start order, adds and removals;
//! - [`ports`]: the client ports a unit opens;
//! - [`restart_lock`]: both sides of the restart lock;
//! - [`sync_rotation`]: the `sync` password rotation;
//! - [`upgrade`]: the upgrade guards the lib lacks, and the unreadable stack.

mod disk;
mod lifecycle;
mod membership;
mod ports;
mod restart_lock;
mod sync_rotation;
mod upgrade;

use std::collections::BTreeMap;

use super::*;
use crate::config::CharmConfig;
use crate::fixtures::*;
use crate::peers::cluster;
use crate::render::shared_inputs;
use crate::status::StatusKind;
use crate::zk::ensemble::ServerHealth;
