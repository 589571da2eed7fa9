//! A unit's live ZooKeeper server: the process the snap's service runs on the unit's
//! machine, as its fake snapd recorded it (pid and start time), if it still runs.

use std::time::{Duration, Instant};

use zk_sim::machine::Machine;
use zk_sim::snap::service;

/// One server process: its pid and start time (clock ticks since boot, `/proc/<pid>/stat`
/// field 22), so that a reused pid is a different process.
pub use zk_sim::snap::state::ServiceProcess as ServerProcess;

/// The live server of a unit's machine.
pub fn live_server(machine: &Machine) -> Option<ServerProcess> {
    service::server(machine)
}

/// Sends `signal` to the live server of `machine` (checked by [`live_server`]), then waits
/// up to `wait` for it to be gone. Returns the process signalled, if there was one.
pub fn signal_server(
    machine: &Machine,
    signal: libc::c_int,
    wait: Duration,
) -> Option<ServerProcess> {
    let p = live_server(machine)?;
    if p.pid <= 1 {
        return None;
    }
    // SAFETY: kill(2) on one pid (> 1) checked above to be this machine's ZooKeeper server.
    unsafe {
        libc::kill(p.pid, signal);
    }
    let deadline = Instant::now() + wait;
    while live_server(machine) == Some(p) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(p)
}
