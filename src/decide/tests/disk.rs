//! The data disk's watchdog, the restart and upgrade held back by a full disk, the heap
//! from the machine and the swap warning.

use super::*;
use crate::machine::{DataFile, DataFiles, DiskUsage, MachineFacts, Memory, Purgeable, MIB};
use crate::peers::restart::LockRequest;

/// A data filesystem of `total_mib` with `used_mib` in use.
fn disk(total_mib: u64, used_mib: u64) -> DiskUsage {
    let free = (total_mib - used_mib) * MIB;
    DiskUsage {
        total: total_mib * MIB,
        free,
        available: free,
    }
}

fn file(zxid: u64, mib: u64) -> DataFile {
    DataFile {
        zxid,
        len: mib * MIB,
        allocated: mib * MIB,
    }
}

/// Five 1 MiB snapshots (two of them older than the three a purge keeps) and a 4 MiB log
/// before each.
fn five_snapshots() -> DataFiles {
    DataFiles {
        snapshots: (1..=5).map(|i| file(i * 0x10, 1)).collect(),
        logs: (1..=5).map(|i| file(i * 0x10 - 1, 4)).collect(),
    }
}

fn on(d: DiskUsage, data: DataFiles) -> MachineFacts {
    MachineFacts {
        memory: None,
        disk: Some(d),
        data,
    }
}

fn purges(plan: &Plan) -> Option<(u32, u32, Purgeable)> {
    plan.workload.iter().find_map(|op| match op {
        WorkloadOp::Purge {
            retain,
            used_percent,
            frees,
        } => Some((*retain, *used_percent, *frees)),
        _ => None,
    })
}

#[test]
fn the_watchdog_purges_at_the_first_threshold_and_blocks_at_the_second() {
    // (used MiB of 100, something to purge, purge thresholds, expect a purge, expect blocked)
    let default = (80, 90);
    let cases = [
        (50, true, default, false, false),
        (79, true, default, false, false),
        (80, true, default, true, false),
        (80, false, default, false, false),
        (89, true, default, true, false),
        (90, true, default, true, true),
        (97, false, default, false, true),
        (60, true, (60, 70), true, false),
        (70, true, (60, 70), true, true),
    ];
    for (used, something, (purge_at, block_at), purge, blocked) in cases {
        let mut w = healthy3(1).machine(on(
            disk(100, used),
            if something {
                five_snapshots()
            } else {
                DataFiles::default()
            },
        ));
        w.s.config = Ok(CharmConfig {
            disk_purge_threshold: purge_at,
            disk_blocked_threshold: block_at,
            ..CharmConfig::default()
        });
        // The server runs with the files of this machine: no restart in the way.
        w = w.running(following());
        let plan = w.plan();
        let what = format!("{used}% used, {purge_at}/{block_at}");
        assert_eq!(
            purges(&plan).is_some(),
            purge,
            "{what}: {:?}",
            plan.workload
        );
        let st = status(&plan);
        assert_eq!(st.kind == StatusKind::Blocked, blocked, "{what}: {st:?}");
        if !blocked {
            assert_eq!(st, Status::active("follower"), "{what}");
        }
    }
}

#[test]
fn the_purge_keeps_the_configured_count_and_says_what_it_frees() {
    let mut w = healthy3(1).machine(on(disk(100, 85), five_snapshots()));
    w.s.config = Ok(CharmConfig {
        snap_retain_count: 4,
        ..CharmConfig::default()
    });
    let w = w.running(following());
    assert_eq!(
        purges(&w.plan()),
        Some((
            4,
            85,
            Purgeable {
                snapshots: 1,
                logs: 1,
                bytes: 5 * MIB
            }
        ))
    );
}

#[test]
fn a_purged_disk_is_not_purged_again_in_the_next_round() {
    let w = healthy3(1)
        .machine(on(disk(100, 85), five_snapshots().after_purge(3)))
        .running(following());
    let plan = w.plan();
    assert_eq!(purges(&plan), None);
    assert!(plan.is_idle(), "{}", plan.summary(&w.snapshot()));
}

#[test]
fn a_hook_purges_once_even_if_the_tool_kept_more_than_estimated() {
    let w = healthy3(1)
        .machine(on(disk(100, 85), five_snapshots()))
        .running(following());
    let mut s = w.snapshot();
    s.purged = true;
    let plan = decide(&s, &paths());
    assert_eq!(purges(&plan), None);
    assert!(plan.is_idle());
}

#[test]
fn a_full_disk_blocks_with_the_figures_while_the_server_keeps_serving() {
    let total = 2048;
    let used = total * 93 / 100;
    let w = healthy3(1)
        .machine(on(disk(total, used), DataFiles::default()))
        .running(following());
    let plan = w.plan();
    assert_eq!(
        status(&plan),
        Status::blocked(
            "data disk 93% full: 1.9 of 2.0 GiB; grow the storage or lower autopurge retention"
        )
    );
    assert!(
        !plan
            .workload
            .iter()
            .any(|op| matches!(op, WorkloadOp::Stop | WorkloadOp::Restart)),
        "{:?}",
        plan.workload
    );
    // And it clears once space is freed.
    let plan = w
        .machine(on(disk(total, 1024), DataFiles::default()))
        .plan();
    assert_eq!(
        status(&plan).kind,
        StatusKind::Active,
        "{:?}",
        plan.statuses
    );
}

#[test]
fn the_watchdog_runs_before_the_peer_relation_exists() {
    let mut w = World::unit(0, &[0]).machine(on(disk(100, 95), five_snapshots()));
    w.s.workload.running = true;
    let mut s = w.snapshot();
    s.cluster = None;
    let plan = decide(&s, &paths());
    assert!(purges(&plan).is_some(), "{:?}", plan.workload);
    assert_eq!(status(&plan).kind, StatusKind::Blocked);
}

/// A disk half full with `free_mib` free, and a newest snapshot of `snapshot_mib`.
fn snapshot_on(free_mib: u64, snapshot_mib: u64) -> MachineFacts {
    on(
        disk(2 * free_mib, free_mib),
        DataFiles {
            snapshots: vec![file(0x10, snapshot_mib)],
            logs: vec![],
        },
    )
}

#[test]
fn a_restart_that_would_not_fit_a_new_snapshot_is_held_back() {
    // Requested, not granted yet: the request is withdrawn.
    let w = healthy3(1)
        .machine(snapshot_on(10, 10))
        .running(following())
        .restart_unit(1, "state", "acquire")
        .restart_unit(1, "requested-at", "00000000000000000001")
        .new_tick_time();
    let plan = w.plan();
    assert!(plan.workload.is_empty(), "{:?}", plan.workload);
    assert_eq!(plan.restart_unit.request, Some(None));
    assert_eq!(
        status(&plan),
        Status::blocked(
            "restart needed but held back: the data disk has 10.0 MiB free and a new snapshot needs about 12.5 MiB; grow the storage or lower autopurge retention"
        )
    );
    // Granted: the lock is given back without restarting.
    let granted = w.clone().restart_app("zookeeper/1", "granted");
    let plan = granted.plan();
    assert!(plan.workload.is_empty(), "{:?}", plan.workload);
    assert_eq!(plan.restart_unit.request, Some(Some(LockRequest::Release)));
    // With room for it, it restarts.
    let roomy = granted.machine(snapshot_on(13, 10));
    assert_eq!(roomy.plan().workload, vec![WorkloadOp::Restart]);
}

#[test]
fn an_upgrade_that_would_not_fit_a_new_snapshot_is_held_back() {
    let mut w = World::unit(0, &[0])
        .leader()
        .started(&[0])
        .added(&[0])
        .machine(snapshot_on(1, 10))
        .running(leading())
        .ensemble(&[0], &[(0, leading())])
        .with_upgrade(&[0], &[(0, "ready")]);
    w.s.local.upgrade_pending = true;
    let plan = w.plan();
    assert!(
        !plan
            .workload
            .iter()
            .any(|op| matches!(op, WorkloadOp::Upgrade { .. })),
        "{:?}",
        plan.workload
    );
    let st = status(&plan);
    assert_eq!(st.kind, StatusKind::Blocked);
    assert!(
        st.message
            .starts_with("upgrade held back: the data disk has 1.0 MiB free"),
        "{}",
        st.message
    );
    let roomy = w.machine(snapshot_on(100, 10));
    assert!(matches!(
        roomy.plan().workload[..],
        [WorkloadOp::Upgrade { .. }]
    ));
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

#[test]
fn a_machine_whose_memory_changed_restarts_with_the_heap_it_gives() {
    let w = healthy3(1)
        .machine(memory(4096, 0))
        .running(following())
        .restart_unit(1, "state", "acquire")
        .restart_app("zookeeper/1", "granted");
    // Running with the heap of 4 GiB: nothing to do.
    assert!(w.plan().workload.is_empty());
    // The machine now has 8 GiB: it restarts with -Xmx6144m, as its own change (the inputs
    // the units share stay).
    let bigger = w.clone().machine(memory(8192, 0));
    let plan = bigger.plan();
    assert_eq!(plan.workload, vec![WorkloadOp::Restart]);
    let flags = &plan.rendered.as_ref().unwrap().jvm_flags;
    assert_eq!(flags.last().map(String::as_str), Some("-Xmx6144m"));
    assert_eq!(plan.restart_unit.inputs, None);
    // `heap-size` wins over the machine.
    let mut fixed = bigger.clone();
    fixed.s.config = Ok(CharmConfig {
        heap_size_mib: Some(1024),
        ..CharmConfig::default()
    });
    let plan = fixed.plan();
    let flags = &plan.rendered.as_ref().unwrap().jvm_flags;
    assert_eq!(flags.last().map(String::as_str), Some("-Xmx1024m"));
}

#[test]
fn swap_adds_a_warning_to_the_status_whatever_it_is() {
    let w = healthy3(1).machine(memory(4096, 2048)).running(following());
    assert_eq!(
        status(&w.plan()),
        Status::active(
            "follower; warning: swap is enabled (2.0 GiB), a swapping ZooKeeper drops out of the quorum; turn it off"
        )
    );
    let waiting = w.clone().new_tick_time();
    let st = status(&waiting.plan());
    assert_eq!(st.kind, StatusKind::Waiting);
    assert!(
        st.message
            .starts_with("waiting for restart lock; warning: swap is enabled"),
        "{}",
        st.message
    );
    let no_swap = healthy3(1).machine(memory(4096, 0)).running(following());
    assert_eq!(status(&no_swap.plan()), Status::active("follower"));
}

#[test]
fn options_that_conflict_block_naming_both() {
    let mut w = healthy3(1);
    w.s.config = CharmConfig::from_juju(
        serde_json::json!({"init-limit": 2, "sync-limit": 3})
            .as_object()
            .unwrap(),
    );
    let plan = w.plan();
    let st = status(&plan);
    assert_eq!(st.kind, StatusKind::Blocked);
    assert!(
        st.message.contains("`sync-limit`") && st.message.contains("`init-limit` (2)"),
        "{}",
        st.message
    );
    assert!(plan.workload.is_empty());
}
