//! The fake snapd's state on one machine: which snaps are installed at which revision, held
//! or not, and which of their services run (pid and start time). Kept in
//! `/var/lib/snapd/zk-sim/state.json` of the unit's machine (see [`crate::machine`]) and
//! replaced atomically on every change, so that the model can read it from outside.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::machine::Machine;

/// Where the state is, under the machine's `/var/lib/snapd`.
const STATE: &str = "zk-sim/state.json";
/// A file whose presence makes the next `snap refresh <snap>` fail (fault injection).
pub const FAIL_NEXT_REFRESH: &str = "zk-sim/fail-next-refresh";
/// The services' journal (their stdout and stderr), one file per service.
pub const JOURNAL_DIR: &str = "zk-sim/journal";

/// One running process of a service: its pid and start time (clock ticks after boot,
/// `/proc/<pid>/stat` field 22), so that a reused pid is told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceProcess {
    pub pid: i32,
    pub start_ticks: u64,
}

impl ServiceProcess {
    /// The process `pid` as it is now, if it runs: not a zombie, or a zombie leader whose
    /// other threads still exit (a killed JVM; it holds its sockets until the last one is
    /// gone).
    pub fn of(pid: i32) -> Option<ServiceProcess> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
            let threads = fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
            if threads <= 1 {
                return None;
            }
        }
        let start_ticks = fields.get(22 - 3)?.parse().ok()?;
        Some(ServiceProcess { pid, start_ticks })
    }

    /// Whether this very process still runs.
    pub fn alive(&self) -> bool {
        ServiceProcess::of(self.pid) == Some(*self)
    }
}

/// A service of an installed snap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Started at boot (`install-mode: disable` leaves it off until `snap start --enable`).
    pub enabled: bool,
    /// The process `snap start` started last, if it did.
    pub process: Option<ServiceProcess>,
}

/// An installed snap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub revision: u32,
    pub version: String,
    /// `snap refresh --hold <snap>`: general refreshes held indefinitely.
    pub held: bool,
    pub services: BTreeMap<String, Service>,
}

/// Everything installed on the machine, by snap name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapdState {
    pub snaps: BTreeMap<String, Installed>,
}

/// The machine's `/var/lib/snapd` as the model sees it.
pub fn snapd_dir(machine: &Machine) -> PathBuf {
    machine
        .host_path(Path::new("/var/lib/snapd"))
        .expect("/var/lib/snapd is one of the machine's own paths")
}

impl SnapdState {
    /// The state kept under `snapd` (a machine's `/var/lib/snapd`); empty when none yet.
    pub fn load(snapd: &Path) -> SnapdState {
        fs::read_to_string(snapd.join(STATE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Replaces the state under `snapd` (temp file and rename).
    pub fn save(&self, snapd: &Path) -> std::io::Result<()> {
        let path = snapd.join(STATE);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        fs::write(&tmp, text)?;
        fs::rename(&tmp, &path)
    }

    /// Every service process recorded as started that still runs.
    pub fn live_processes(&self) -> Vec<(String, ServiceProcess)> {
        self.snaps
            .iter()
            .flat_map(|(snap, i)| {
                i.services.iter().filter_map(move |(app, svc)| {
                    svc.process
                        .filter(ServiceProcess::alive)
                        .map(|p| (format!("{snap}.{app}"), p))
                })
            })
            .collect()
    }
}
