//! What the machine does to a hook: the data disk's watchdog (a purge, then `blocked`
//! with the figures while the server serves on), a restart held back by a full disk, the
//! heap following the machine's memory, the swap warning, and options that conflict.

use zookeeper_charm::machine::{DataFile, DataFiles, DiskUsage, MachineFacts, Memory, MIB};
use zookeeper_charm::peers::restart::{self, LockRequest};
use zookeeper_charm::status::{Status, StatusKind};
use zookeeper_charm::workload::mem::{Op, WorkloadCall};
use zookeeper_charm::workload::Workload;

use crate::scenario::*;

/// A data disk of 100 MiB with `used` MiB in use, and `snapshots` snapshots of 4 MiB
/// each with a 4 MiB log before each.
fn disk(used: u64, snapshots: u64) -> MachineFacts {
    let free = (100 - used) * MIB;
    let file = |zxid, mib| DataFile {
        zxid,
        len: mib * MIB,
        allocated: mib * MIB,
    };
    MachineFacts {
        memory: None,
        disk: Some(DiskUsage {
            total: 100 * MIB,
            free,
            available: free,
        }),
        data: DataFiles {
            snapshots: (1..=snapshots).map(|i| file(i * 0x10, 4)).collect(),
            logs: (1..=snapshots).map(|i| file(i * 0x10 - 1, 4)).collect(),
        },
    }
}

fn memory(total_mib: u64, swap_mib: u64) -> MachineFacts {
    MachineFacts {
        memory: Some(Memory {
            total: total_mib * MIB,
            swap_total: swap_mib * MIB,
        }),
        ..MachineFacts::default()
    }
}

/// A steady unit whose server was started on `machine`.
fn steady_on(machine: MachineFacts) -> Hook {
    Hook::update_status().steady(1, 3).with(|w| {
        w.machine = machine;
        w.started_with = Some(w.rendered_now());
    })
}

fn purges(out: &Outcome) -> Vec<WorkloadCall> {
    out.workload
        .calls()
        .into_iter()
        .filter(|c| matches!(c, WorkloadCall::Purge(_)))
        .collect()
}

#[test]
fn a_filling_disk_is_purged_once_and_the_unit_stays_active() {
    // 85% full; five snapshots, two of them (and their logs) older than the three kept:
    // 16 MiB purged, 69% left.
    let out = steady_on(disk(85, 5)).run();
    out.ok();
    assert_eq!(purges(&out), [WorkloadCall::Purge(3)], "{}", out.describe());
    assert!(out.lifecycle().is_empty(), "{}", out.describe());
    assert_eq!(out.status(), None, "still active, as it was: no status-set");
    let left = out.workload.machine();
    assert_eq!(left.data.snapshots.len(), 3);
    assert_eq!(left.disk.unwrap().used_percent(), 69);
}

#[test]
fn a_purge_that_deletes_less_than_reckoned_is_not_repeated_in_the_same_hook() {
    let out = steady_on(disk(85, 5))
        .with(|w| w.purge_keeps_everything = true)
        .run();
    out.ok();
    assert_eq!(purges(&out), [WorkloadCall::Purge(3)], "{}", out.describe());
}

#[test]
fn a_disk_still_too_full_after_the_purge_blocks_with_the_figures_and_the_server_keeps_serving() {
    // 99% full: the purge frees 8 MiB, not enough.
    let out = steady_on(disk(99, 4)).run();
    out.ok();
    assert_eq!(purges(&out), [WorkloadCall::Purge(3)]);
    assert_eq!(
        out.status(),
        Some(Status::blocked(
            "data disk 91% full: 91.0 of 100.0 MiB; grow the storage or lower autopurge retention"
        ))
    );
    let out = steady_on(disk(95, 3)).run();
    out.ok();
    assert!(purges(&out).is_empty(), "nothing to purge");
    assert_eq!(
        out.status(),
        Some(Status::blocked(
            "data disk 95% full: 95.0 of 100.0 MiB; grow the storage or lower autopurge retention"
        ))
    );
    assert!(out.lifecycle().is_empty(), "the server is not stopped");
    assert!(out.workload.runs());
}

#[test]
fn the_thresholds_follow_the_config() {
    let out = steady_on(disk(65, 5))
        .with(|w| {
            w.config.insert("disk-purge-threshold".into(), 60.into());
            w.config.insert("disk-blocked-threshold".into(), 62.into());
        })
        .run();
    out.ok();
    assert_eq!(purges(&out), [WorkloadCall::Purge(3)]);
    assert_eq!(
        out.shown_status().map(|s| s.kind),
        Some(StatusKind::Active),
        "49% after the purge: {}",
        out.describe()
    );
}

#[test]
fn a_purge_that_fails_blocks_with_the_cause() {
    let out = steady_on(disk(85, 5))
        .with(|w| w.workload_faults.push(Op::Purge))
        .run();
    out.ok();
    let status = out.status().unwrap();
    assert_eq!(status.kind, StatusKind::Blocked);
    assert!(
        status.message.starts_with(
            "the data disk is filling up and the old snapshots and logs cannot be purged: "
        ) && status.message.contains("purge failed (injected)"),
        "{status:?}"
    );
}

#[test]
fn a_restart_is_held_back_while_a_new_snapshot_would_not_fit() {
    // A 40 MiB snapshot on a disk with 20 MiB free, the lock granted for a config change.
    let mut machine = disk(80, 0);
    machine.data.snapshots.push(DataFile {
        zxid: 0x100,
        len: 40 * MIB,
        allocated: 40 * MIB,
    });
    let out = steady_on(machine)
        .with(|w| {
            w.config.insert("tick-time".into(), 3000.into());
            w.restart_units.get_mut(&1).unwrap().extend(
                restart::UnitPatch {
                    request: Some(Some(LockRequest::Acquire)),
                    requested_at: Some(Some("00000000000000000001".into())),
                    ..Default::default()
                }
                .to_bag(),
            );
            w.restart_app = restart::AppPatch {
                grants: [(1, Some(restart::Grant::Granted))].into(),
            }
            .to_bag(APP);
        })
        .run();
    out.ok();
    assert!(out.lifecycle().is_empty(), "{}", out.describe());
    assert_eq!(
        restart::Unit::from_bag(&out.own_bag(RESTART)).request,
        Some(LockRequest::Release),
        "the lock is given back"
    );
    assert_eq!(
        out.status(),
        Some(Status::blocked(
            "restart needed but held back: the data disk has 20.0 MiB free and a new snapshot needs about 50.0 MiB; grow the storage or lower autopurge retention"
        ))
    );
}

#[test]
fn the_heap_follows_the_machines_memory_through_a_rolling_restart() {
    // Started on a 4 GiB machine; now it has 8 GiB: the unit asks for the lock.
    let out = steady_on(memory(4096, 0))
        .with(|w| w.machine = memory(8192, 0))
        .run();
    out.ok();
    assert_eq!(
        restart::Unit::from_bag(&out.own_bag(RESTART)).request,
        Some(LockRequest::Acquire),
        "{}",
        out.describe()
    );
    // Granted: it restarts with three quarters of the new memory.
    let out = steady_on(memory(4096, 0))
        .with(|w| {
            w.machine = memory(8192, 0);
            w.restart_app = restart::AppPatch {
                grants: [(1, Some(restart::Grant::Granted))].into(),
            }
            .to_bag(APP);
        })
        .run();
    out.ok();
    assert_eq!(
        out.lifecycle(),
        [WorkloadCall::Stop, WorkloadCall::Start],
        "{}",
        out.describe()
    );
    assert_eq!(
        out.workload.jvm_flags().last().map(String::as_str),
        Some("-Xmx6144m")
    );
}

#[test]
fn a_machine_with_swap_shows_a_warning() {
    let out = steady_on(memory(4096, 1024)).run();
    out.ok();
    assert_eq!(
        out.status(),
        Some(Status::active(
            "follower; warning: swap is enabled (1.0 GiB), a swapping ZooKeeper drops out of the quorum; turn it off"
        ))
    );
}

#[test]
fn options_valid_alone_but_not_together_block_naming_both_and_change_nothing() {
    let out = Hook::config_changed()
        .steady(1, 3)
        .with(|w| {
            w.config.insert("min-session-timeout".into(), 50_000.into());
        })
        .run();
    out.ok();
    let status = out.status().unwrap();
    assert_eq!(status.kind, StatusKind::Blocked);
    assert!(
        status.message.contains("`min-session-timeout`")
            && status.message.contains("`max-session-timeout` (40000)"),
        "{status:?}"
    );
    assert_eq!(out.ran("relation-set"), 0);
    assert!(out.lifecycle().is_empty());
}
