//! A unit's live ZooKeeper server, found from its workload root's pidfile and `/proc`.

use std::path::Path;
use std::time::{Duration, Instant};

use zookeeper_charm::workload::local::LocalWorkload;

/// One server process: its pid and start time (clock ticks since boot, `/proc/<pid>/stat`
/// field 22), so that a reused pid is a different process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerProcess {
    pub pid: i32,
    pub start_ticks: u64,
}

/// The live server of a local workload root: the pidfile's process, if it is this root's
/// ZooKeeper (the charm's own check: `QuorumPeerMain` with this root's `zoo.cfg`) and not
/// a zombie.
pub fn live_server(workload_root: &Path) -> Option<ServerProcess> {
    let pid = LocalWorkload::new(workload_root.to_path_buf())
        .pid()
        .ok()
        .flatten()
        .filter(|p| *p > 1)?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name start at field 3 (the state).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    let start_ticks = fields.get(22 - 3)?.parse().ok()?;
    Some(ServerProcess { pid, start_ticks })
}

/// Sends `signal` to the live server of `workload_root` (checked by [`live_server`]), then
/// waits up to `wait` for it to be gone. Returns the process signalled, if there was one.
pub fn signal_server(
    workload_root: &Path,
    signal: libc::c_int,
    wait: Duration,
) -> Option<ServerProcess> {
    let p = live_server(workload_root)?;
    // SAFETY: kill(2) on one pid (> 1) checked above to be this root's ZooKeeper server.
    unsafe {
        libc::kill(p.pid, signal);
    }
    let deadline = Instant::now() + wait;
    while live_server(workload_root) == Some(p) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(p)
}
