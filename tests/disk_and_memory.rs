//! Disk and memory that manage themselves (issue 19), on the local model (`zk-sim`) with
//! real ZooKeeper servers:
//!
//! - a unit whose `data` storage is a 64 MiB tmpfs of its own, filled by a client (as
//!   `super`) writing 512 KiB znodes: first rewriting one znode (old snapshots and logs
//!   pile up: the charm's watchdog purges them with ZooKeeper's own tool), then growing the
//!   data set until the unit goes `blocked` with the figures, while the server keeps
//!   serving, well before the disk is full; then deleting the data set, after which the
//!   unit clears by itself once the old snapshots are purged;
//! - `zoo.cfg` carries the purge settings and the log sizing of the storage;
//! - the JVM's `-Xmx` follows the machine's (faked) memory through a restart, and a machine
//!   with swap shows a warning.
//!
//! The figures are read the way the charm reads them: `statvfs` of the storage.
//!
//! `ZK_TEST_SEEDS=1,2` overrides the event-order seed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::model::{jvm_settle_limits, Allow};
use testkit::{seeds, test_charm, Cluster};
use zk_sim::SettleLimits;
use zookeeper_charm::workload::facts;
use zookeeper_charm::zk::admin::Admin;
use zookeeper_charm::zk::{four, ZkError};

const UNIT: &str = "zookeeper/0";
/// The data storage's size, and the thresholds the test sets.
const STORAGE_MIB: u64 = 64;
const PURGE_AT: u32 = 40;
const BLOCKED_AT: u32 = 60;
/// Each znode written: large, under ZooKeeper's 1 MiB limit.
const ZNODE: usize = 512 * 1024;

/// The unit's `data` storage, as the model holds it (a tmpfs mounted there).
fn storage_dir(c: &Cluster) -> PathBuf {
    let st = c.model.state().unwrap();
    let s = st
        .storage
        .values()
        .find(|s| s.attached_to.as_deref() == Some(UNIT))
        .expect("the unit's data storage");
    assert_eq!(s.tmpfs_mib, Some(STORAGE_MIB));
    s.dir.clone()
}

fn used_percent(storage: &Path) -> u32 {
    facts::disk_usage(storage).unwrap().used_percent()
}

fn snapshots(storage: &Path) -> usize {
    facts::data_files(&storage.join("data"), &storage.join("data-log"))
        .snapshots
        .len()
}

/// Runs the hooks due and an `update-status` (the watchdog's chance), whatever the status.
fn tick(c: &mut Cluster) {
    let quiet = SettleLimits {
        until_active: false,
        ..jvm_settle_limits()
    };
    if let Err(e) = c.model.settle(quiet) {
        panic!("settle failed: {e}\n{}", c.describe());
    }
}

fn status(c: &Cluster) -> (String, String) {
    let s = c
        .status()
        .into_iter()
        .find(|u| u.unit == UNIT)
        .expect("the unit");
    (s.workload, s.message)
}

fn serves(c: &Cluster) -> bool {
    let addr = c.addresses()[&0].clone();
    four::srvr_within(&addr, Duration::from_secs(2)).is_ok()
}

/// Writes `data` at `path` (creating it the first time), reconnecting once if the session
/// was lost.
fn put(c: &Cluster, client: &mut Admin, path: &str, data: &[u8]) {
    for _ in 0..3 {
        let r = match client.set(path, data) {
            Err(ZkError::NoNode(_)) => client.create(path, data),
            other => other,
        };
        match r {
            Ok(()) => return,
            Err(e) => {
                eprintln!("write {path}: {e}; reconnecting");
                *client = c.client();
            }
        }
    }
    panic!("cannot write {path}:\n{}", c.describe());
}

/// Deletes `path`, reconnecting if the session was lost (it is not kept alive while the
/// test waits for hooks).
fn delete(c: &Cluster, client: &mut Admin, path: &str) {
    for _ in 0..3 {
        match client.delete(path) {
            Ok(()) => return,
            Err(ZkError::NoNode(_)) => return,
            Err(e) => {
                eprintln!("delete {path}: {e}; reconnecting");
                *client = c.client();
            }
        }
    }
    panic!("cannot delete {path}:\n{}", c.describe());
}

fn purge_log_lines(c: &Cluster) -> Vec<String> {
    c.model
        .debug_log(Some(UNIT), None)
        .unwrap()
        .into_iter()
        .filter(|l| l.contains("old snapshots and") && l.contains("purged"))
        .collect()
}

fn filling_disk(charm: &Path, seed: u64) {
    let mut c = Cluster::create(charm, seed);
    let app = c.model.app_name().unwrap();
    c.model
        .set_storage(&app, "data", &format!("tmpfs,{STORAGE_MIB}M"))
        .unwrap();
    c.model
        .set_config(&[
            ("disk-purge-threshold", &PURGE_AT.to_string()),
            ("disk-blocked-threshold", &BLOCKED_AT.to_string()),
        ])
        .unwrap();
    c.model.deploy(1).unwrap();
    c.settle("deploy 1 on a 64 MiB tmpfs");
    let storage = storage_dir(&c);

    // The purge settings, and logs sized to the storage: 64 MiB / (4 * (3 + 1)) = 4 MiB of
    // log between snapshots.
    let cfg = std::fs::read_to_string(c.zoo_cfg(0)).unwrap();
    for line in [
        "autopurge.snapRetainCount=3",
        "autopurge.purgeInterval=1",
        "snapSizeLimitInKb=4096",
        "preAllocSize=512",
        "snapCount=4096",
    ] {
        assert!(cfg.lines().any(|l| l == line), "no {line} in\n{cfg}");
    }

    let mut client = c.client();
    let _ = client.create("/fill", b"");
    let blob = |i: usize| vec![(i % 251) as u8; ZNODE];

    // 1. Rewriting one znode: old snapshots and logs pile up, the data set stays small.
    let mut writes = 0;
    while used_percent(&storage) < PURGE_AT + 5 {
        put(&c, &mut client, "/fill/churn", &blob(writes));
        writes += 1;
        assert!(
            writes < 200,
            "the disk does not fill: {}%",
            used_percent(&storage)
        );
    }
    let (before, piled) = (used_percent(&storage), snapshots(&storage));
    eprintln!("seed {seed}: {writes} rewrites: {before}% used, {piled} snapshots");
    assert!(
        piled > 3,
        "{piled} snapshots: ZooKeeper did not take them by log size"
    );
    tick(&mut c);
    let after = used_percent(&storage);
    eprintln!(
        "seed {seed}: after the watchdog: {after}% used, {} snapshots",
        snapshots(&storage)
    );
    assert!(after < PURGE_AT, "{after}% used after the purge");
    assert!(snapshots(&storage) <= 3);
    let logged = purge_log_lines(&c);
    assert!(!logged.is_empty(), "the purge is logged:\n{}", c.describe());
    assert!(
        logged[0].contains("keeping the newest 3 snapshots"),
        "{logged:?}"
    );
    assert_eq!(status(&c).0, "active", "{}", c.describe());

    // 2. Growing the data set: the unit goes blocked with the figures before the disk is
    // full, and the server keeps serving.
    let mut grown = 0;
    let message = loop {
        put(&c, &mut client, &format!("/fill/big-{grown}"), &blob(grown));
        grown += 1;
        assert!(grown < 120, "never blocked:\n{}", c.describe());
        if used_percent(&storage) < BLOCKED_AT {
            continue;
        }
        tick(&mut c);
        let (kind, message) = status(&c);
        if kind == "blocked" {
            break message;
        }
    };
    let at = used_percent(&storage);
    eprintln!("seed {seed}: blocked after {grown} znodes at {at}%: {message}");
    assert!(at < 90, "{at}% used: too close to a full disk");
    let prefix = format!("data disk {at}% full: ");
    assert!(
        message.starts_with(&prefix)
            && message.ends_with(&format!(
                " of {STORAGE_MIB}.0 MiB; grow the storage or lower autopurge retention"
            )),
        "{message}"
    );
    assert!(serves(&c), "the server keeps serving while blocked");
    put(&c, &mut client, "/fill/still-writable", b"yes");

    // 3. Space freed: the data set is deleted; as ZooKeeper takes new (small) snapshots the
    // watchdog purges the big ones, and the unit clears by itself.
    for i in 0..grown {
        delete(&c, &mut client, &format!("/fill/big-{i}"));
    }
    let mut churn = 0;
    loop {
        for _ in 0..4 {
            put(&c, &mut client, "/fill/churn", &blob(churn));
            churn += 1;
        }
        tick(&mut c);
        if status(&c).0 == "active" {
            break;
        }
        assert!(churn < 200, "never cleared:\n{}", c.describe());
    }
    let left = used_percent(&storage);
    eprintln!("seed {seed}: cleared after {churn} rewrites: {left}% used");
    assert!(left < BLOCKED_AT);
    assert!(serves(&c));
    assert!(
        storage.join("data").exists(),
        "the data is on the storage: {}",
        storage.display()
    );
}

#[test]
fn a_filling_data_disk_is_purged_then_blocks_with_the_figures_and_clears_once_space_is_freed() {
    let tmp = tempfile::tempdir().unwrap();
    let charm = test_charm!(tmp.path());
    for seed in seeds(&[19]) {
        filling_disk(&charm, seed);
    }
}

/// The `-Xmx` the unit's running server has (the last one on its command line wins).
fn server_heap(c: &Cluster) -> (i32, String) {
    let p = c
        .model
        .server(UNIT)
        .unwrap()
        .expect("the unit's server runs");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap();
    let heap = cmdline
        .split(|b| *b == 0)
        .filter_map(|a| std::str::from_utf8(a).ok())
        .rfind(|a| a.starts_with("-Xmx"))
        .expect("an -Xmx")
        .to_string();
    (p.pid, heap)
}

fn heap_and_swap(charm: &Path, seed: u64) {
    let mut c = Cluster::create(charm, seed);
    c.model.deploy(1).unwrap();
    c.settle("deploy 1");
    // A sim machine has 1 GiB: three quarters of it.
    let (pid, heap) = server_heap(&c);
    assert_eq!(heap, "-Xmx768m");

    // The machine grows to 4 GiB: the unit restarts with 3 GiB.
    // Nothing but update-status tells a unit that its machine changed, on Juju too.
    c.model.set_machine_memory(UNIT, 4096, 0).unwrap();
    c.settle_allowing(
        "memory 1 -> 4 GiB",
        true,
        Allow {
            tick_progress: true,
            ..Allow::default()
        },
    );
    let (restarted, heap) = server_heap(&c);
    assert_ne!(restarted, pid, "the server restarted");
    assert_eq!(heap, "-Xmx3072m");
    assert_eq!(status(&c), ("active".into(), "leader".into()));

    // Swap on: a warning, and no restart (the heap did not change).
    c.model.set_machine_memory(UNIT, 4096, 1024).unwrap();
    tick(&mut c);
    let (kind, message) = status(&c);
    assert_eq!(kind, "active");
    assert_eq!(
        message,
        "leader; warning: swap is enabled (1.0 GiB), a swapping ZooKeeper drops out of the quorum; turn it off"
    );
    assert_eq!(server_heap(&c).0, restarted);

    // `heap-size` wins over the machine.
    c.model.set_machine_memory(UNIT, 4096, 0).unwrap();
    c.model.set_config(&[("heap-size", "512")]).unwrap();
    c.settle("heap-size 512");
    assert_eq!(server_heap(&c).1, "-Xmx512m");
    assert_eq!(status(&c), ("active".into(), "leader".into()));
}

#[test]
fn the_heap_follows_the_machines_memory_and_swap_shows_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let charm = test_charm!(tmp.path());
    for seed in seeds(&[19]) {
        heap_and_swap(&charm, seed);
    }
}
