//! A server that cannot start, on the snap path of the local model: the hook starts it
//! once, notices at once that it exited, and ends `blocked` with the cause ZooKeeper
//! logged; once the fault is repaired, the next hook starts it again and the unit recovers.
//!
//! Two faults on a 3-unit ensemble: a snapshot directory the server's user cannot write
//! (root's, 0700), and the client port taken by another listener on the unit's address.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testkit::server::signal_server;
use testkit::{live_server, test_charm, Cluster};
use zk_sim::state::{HookKind, HookSpec};
use zk_sim::Measured;

/// How long a hook that starts a server which exits at once may take (a JVM start and exit
/// is about a second; the old fixed wait was 40 s per start).
const QUICK: Duration = Duration::from_secs(15);

fn unit_status(c: &Cluster, unit: &str) -> (String, String) {
    let s = c
        .status()
        .into_iter()
        .find(|s| s.unit == unit)
        .expect("the unit");
    (s.workload, s.message)
}

fn update_status(c: &mut Cluster, unit: &str) -> Measured {
    let m = c
        .model
        .run_hook_measured(unit, HookSpec::plain(HookKind::UpdateStatus))
        .unwrap();
    assert!(m.record.succeeded(), "{}\n{}", m.record, c.describe());
    m
}

/// Kills unit `n`'s server and waits until it is gone.
fn kill(c: &Cluster, n: u32) {
    let machine = c.machine(n);
    signal_server(&machine, libc::SIGKILL, Duration::from_secs(10)).expect("its server runs");
    assert!(live_server(&machine).is_none());
}

/// The unit's snapshot directory (on its `data` storage) as the model sees it.
fn version_2(c: &Cluster, n: u32) -> PathBuf {
    let app = c.model.app_name().unwrap();
    c.model
        .host_path(
            &format!("{app}/{n}"),
            Path::new("/var/snap/charmed-zookeeper/common/var/lib/zookeeper/data/version-2"),
        )
        .unwrap()
        .expect("the data storage is the unit's")
}

/// The hook that met the fault started the server once, ended within [`QUICK`], and left
/// the unit blocked naming the cause.
fn assert_blocked_quickly(c: &Cluster, unit: &str, m: &Measured, cause: &str) {
    let took = Duration::from_millis(m.record.duration_ms);
    let (workload, message) = unit_status(c, unit);
    let what = format!(
        "{unit}: {workload} {message:?} after {took:?}, calls {:?}",
        m.tool_calls
    );
    assert!(took < QUICK, "{what}");
    assert_eq!(workload, "blocked", "{what}\n{}", c.describe());
    assert!(
        message.starts_with("ZooKeeper exits at start: ") && message.contains(cause),
        "{what}"
    );
    assert_eq!(
        m.tool_calls.get("snap").copied(),
        Some(1),
        "one `snap start`, nothing else: {what}"
    );
}

/// After the repair, hooks start the server again until it serves and the unit is active.
fn assert_recovers(c: &mut Cluster, unit: &str, n: u32) {
    let m = update_status(c, unit);
    assert_eq!(
        m.tool_calls.get("snap").copied(),
        Some(1),
        "{:?}",
        m.tool_calls
    );
    assert!(live_server(&c.machine(n)).is_some(), "{}", c.describe());
    c.settle("after the repair");
    assert_eq!(unit_status(c, unit).0, "active", "{}", c.describe());
}

#[test]
fn a_server_that_exits_at_start_blocks_the_hook_in_seconds_with_the_cause_and_recovers_once_repaired(
) {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    let mut c = Cluster::create(&charm, 51);
    c.model.deploy(3).unwrap();
    c.settle("deploy 3");
    let app = c.model.app_name().unwrap();

    // 1. The snapshot directory becomes root's alone: the server (snap_daemon) exits with
    //    "Cannot write to snap directory" as soon as it starts.
    let unit = format!("{app}/1");
    kill(&c, 1);
    let snaps = version_2(&c, 1);
    std::os::unix::fs::chown(&snaps, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&snaps, std::fs::Permissions::from_mode(0o700)).unwrap();
    let m = update_status(&mut c, &unit);
    assert_blocked_quickly(&c, &unit, &m, "snap directory");
    // Still broken: the next hook tries once more, as quickly.
    let m = update_status(&mut c, &unit);
    assert_blocked_quickly(&c, &unit, &m, "snap directory");
    std::os::unix::fs::chown(&snaps, Some(584788), Some(584788)).unwrap();
    assert_recovers(&mut c, &unit, 1);

    // 2. Another listener holds the client port on the unit's address.
    let unit = format!("{app}/2");
    let addr = c.addresses()[&2].clone();
    kill(&c, 2);
    let squatter = std::net::TcpListener::bind((addr.as_str(), 2181)).unwrap();
    let started = Instant::now();
    let m = update_status(&mut c, &unit);
    assert_blocked_quickly(&c, &unit, &m, "Address already in use");
    assert!(started.elapsed() < QUICK);
    drop(squatter);
    assert_recovers(&mut c, &unit, 2);

    assert_eq!(c.voters().len(), 3, "{}", c.describe());
    c.model.destroy().unwrap();
}
