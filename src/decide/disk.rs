//! The data disk's watchdog and the machine's warnings, from the facts every hook reads
//! ([`crate::machine::MachineFacts`]):
//!
//! - at `disk-purge-threshold` the old snapshots and logs are purged now, keeping
//!   `autopurge-snap-retain-count`, when a purge would delete anything, once per hook;
//! - at `disk-blocked-threshold` the unit is `blocked` with the figures, while the server
//!   keeps serving: nothing is stopped for it;
//! - a restart or an upgrade takes the server down only when the disk has room for the
//!   snapshot it writes when it comes back
//!   ([`crate::machine::MachineFacts::new_snapshot_fits`]; the restart lock and the upgrade
//!   ask it);
//! - a machine with swap gets a warning in whatever status the unit shows.

use crate::config::CharmConfig;
use crate::machine::Size;
use crate::plan::{Plan, WorkloadOp};
use crate::snapshot::Snapshot;
use crate::status::Status;

/// What the operator does about a full disk.
pub(super) const GROW: &str = crate::machine::GROW_THE_DISK;

/// Purges at the first threshold, `blocked` at the second.
pub(super) fn watchdog(s: &Snapshot, config: &CharmConfig, plan: &mut Plan) {
    let machine = &s.workload.machine;
    let Some(disk) = machine.disk else {
        return;
    };
    let used_percent = disk.used_percent();
    if used_percent >= config.disk_purge_threshold {
        let frees = machine.data.purgeable(config.snap_retain_count);
        if !frees.is_empty() && !s.purged {
            plan.workload.push(WorkloadOp::Purge {
                retain: config.snap_retain_count,
                used_percent,
                frees,
            });
        }
    }
    if used_percent >= config.disk_blocked_threshold {
        plan.statuses.push(Status::blocked(format!(
            "data disk {used_percent}% full: {}; {GROW}",
            Size(disk.total).part(disk.used())
        )));
    }
}

/// The warning every status carries on a machine with swap, if it has some.
pub(super) fn swap_warning(s: &Snapshot) -> Option<String> {
    let memory = s.workload.machine.memory?;
    memory.swap_enabled().then(|| {
        format!(
            "warning: swap is enabled ({}), a swapping ZooKeeper drops out of the quorum; turn it off",
            Size(memory.swap_total)
        )
    })
}
