//! The machine a unit runs on, as facts the charm reads cheaply in every hook (no
//! subprocess: `/proc/meminfo`, `statvfs` of the data filesystem, a listing of ZooKeeper's
//! data directories), and the pure rules the charm derives from them:
//!
//! - the JVM heap when `heap-size` is not set ([`heap_mib`]): 75% of the machine's memory,
//!   at most [`MAX_HEAP_MIB`], leaving the rest to the page cache and the OS;
//! - the transaction-log sizing ([`TxnLogSizing::for_disk`]): how much log ZooKeeper writes
//!   between snapshots and how far it preallocates, so that the snapshots and logs it keeps
//!   fit the data filesystem with room to spare;
//! - what ZooKeeper's purge tool would delete ([`DataFiles::purgeable`]), and whether a new
//!   snapshot fits ([`DataFiles::next_snapshot_estimate`]).
//!
//! Nothing here does I/O: the workload reads the facts (its `machine` method).

use std::fmt;

/// Bytes in a mebibyte.
pub const MIB: u64 = 1024 * 1024;
/// Bytes in a gibibyte.
pub const GIB: u64 = 1024 * MIB;

/// The share of the machine's memory the heap gets, in percent, when `heap-size` is unset.
pub const HEAP_SHARE_PERCENT: u64 = 75;
/// The largest heap derived from the machine's memory: beyond it a bigger heap only makes
/// longer garbage-collection pauses (a pause longer than a session timeout drops sessions,
/// one longer than `syncLimit` ticks drops the server from the quorum), and ZooKeeper's data
/// is far smaller on any sane ensemble. Set `heap-size` to go beyond.
pub const MAX_HEAP_MIB: u32 = 8192;
/// The smallest heap derived from the machine's memory.
pub const MIN_HEAP_MIB: u32 = 128;

/// The machine's memory, from `/proc/meminfo`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `MemTotal`, in bytes.
    pub total: u64,
    /// `SwapTotal`, in bytes: swap is enabled when it is not zero.
    pub swap_total: u64,
}

impl Memory {
    /// Reads `/proc/meminfo`'s text (`MemTotal:  16303412 kB`); `None` without `MemTotal`.
    pub fn parse_meminfo(text: &str) -> Option<Memory> {
        let field = |name: &str| -> Option<u64> {
            text.lines().find_map(|line| {
                let rest = line.strip_prefix(name)?.strip_prefix(':')?;
                let mut words = rest.split_whitespace();
                let value: u64 = words.next()?.parse().ok()?;
                let unit = match words.next() {
                    None => 1,
                    Some("kB") => 1024,
                    Some(_) => return None,
                };
                value.checked_mul(unit)
            })
        };
        Some(Memory {
            total: field("MemTotal")?,
            swap_total: field("SwapTotal").unwrap_or(0),
        })
    }

    pub fn swap_enabled(&self) -> bool {
        self.swap_total > 0
    }
}

/// The heap a machine with `memory` gives ZooKeeper: [`HEAP_SHARE_PERCENT`] of it, in MiB,
/// between [`MIN_HEAP_MIB`] and [`MAX_HEAP_MIB`].
pub fn heap_mib(memory: &Memory) -> u32 {
    let share = (u128::from(memory.total) * u128::from(HEAP_SHARE_PERCENT) / 100) as u64 / MIB;
    share.clamp(u64::from(MIN_HEAP_MIB), u64::from(MAX_HEAP_MIB)) as u32
}

/// The usage of the filesystem holding ZooKeeper's data, from `statvfs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// The filesystem's size (`f_blocks`), in bytes.
    pub total: u64,
    /// Free space, including what only root may use (`f_bfree`), in bytes.
    pub free: u64,
    /// Free space ZooKeeper (not root) may use (`f_bavail`), in bytes.
    pub available: u64,
}

impl DiskUsage {
    /// Bytes in use.
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.free)
    }

    /// How full it is for ZooKeeper, in percent rounded up, as `df` shows it: used over
    /// used plus what an unprivileged user may still write.
    pub fn used_percent(&self) -> u32 {
        let used = self.used();
        let usable = used.saturating_add(self.available);
        if usable == 0 {
            return 0;
        }
        (used.saturating_mul(100).div_ceil(usable)).min(100) as u32
    }
}

/// A snapshot (`snapshot.<zxid>`) or transaction log (`log.<zxid>`) in ZooKeeper's
/// `version-2` directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFile {
    /// The zxid in the name (hexadecimal there).
    pub zxid: u64,
    /// The file's length in bytes.
    pub len: u64,
    /// What it takes on the disk (a preallocated log is sparse until written).
    pub allocated: u64,
}

impl DataFile {
    /// The zxid of a file named `<prefix>.<hex zxid>` (ZooKeeper may append a suffix after
    /// a further dot, as for compressed snapshots); `None` for any other name.
    pub fn zxid_of(name: &str, prefix: &str) -> Option<u64> {
        let rest = name.strip_prefix(prefix)?.strip_prefix('.')?;
        let hex = rest.split('.').next()?;
        if hex.is_empty() {
            return None;
        }
        u64::from_str_radix(hex, 16).ok()
    }
}

/// ZooKeeper's snapshots and transaction logs on this unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataFiles {
    pub snapshots: Vec<DataFile>,
    pub logs: Vec<DataFile>,
}

/// What a purge would delete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purgeable {
    pub snapshots: usize,
    pub logs: usize,
    /// The space it would free, in bytes.
    pub bytes: u64,
}

impl Purgeable {
    pub fn is_empty(&self) -> bool {
        self.snapshots == 0 && self.logs == 0
    }
}

impl DataFiles {
    /// The newest snapshot.
    pub fn latest_snapshot(&self) -> Option<&DataFile> {
        self.snapshots.iter().max_by_key(|f| f.zxid)
    }

    /// How big the next snapshot will be, as far as one can tell: the newest one plus a
    /// quarter (the data may have grown since); zero before the first snapshot.
    pub fn next_snapshot_estimate(&self) -> u64 {
        self.latest_snapshot()
            .map_or(0, |f| f.len.saturating_add(f.len / 4))
    }

    /// The oldest snapshot and the oldest log a purge keeping `retain` snapshots keeps (the
    /// log that starts at or just before that snapshot), when there is a snapshot.
    fn kept_from(&self, retain: u32) -> Option<(u64, u64)> {
        let mut zxids: Vec<u64> = self.snapshots.iter().map(|f| f.zxid).collect();
        zxids.sort_unstable_by(|a, b| b.cmp(a));
        let keep = (retain.max(1) as usize).min(zxids.len());
        let oldest_kept = *zxids.get(keep.checked_sub(1)?)?;
        let first_log = self
            .logs
            .iter()
            .map(|f| f.zxid)
            .filter(|z| *z <= oldest_kept)
            .max()
            .unwrap_or(oldest_kept);
        Some((oldest_kept, first_log))
    }

    /// What ZooKeeper's purge (`PurgeTxnLog`, which autopurge runs too) deletes when it
    /// keeps `retain` snapshots: the snapshots older than the `retain` newest, and the logs
    /// older than the one the oldest kept snapshot needs (the log that starts at or just
    /// before it, and every later log, are kept). Nothing without a snapshot.
    pub fn purgeable(&self, retain: u32) -> Purgeable {
        let Some((snap, log)) = self.kept_from(retain) else {
            return Purgeable::default();
        };
        let mut out = Purgeable::default();
        for f in self.snapshots.iter().filter(|f| f.zxid < snap) {
            out.snapshots += 1;
            out.bytes = out.bytes.saturating_add(f.allocated);
        }
        for f in self.logs.iter().filter(|f| f.zxid < log) {
            out.logs += 1;
            out.bytes = out.bytes.saturating_add(f.allocated);
        }
        out
    }

    /// The files left after such a purge.
    pub fn after_purge(&self, retain: u32) -> DataFiles {
        let Some((snap, log)) = self.kept_from(retain) else {
            return self.clone();
        };
        DataFiles {
            snapshots: self
                .snapshots
                .iter()
                .filter(|f| f.zxid >= snap)
                .copied()
                .collect(),
            logs: self
                .logs
                .iter()
                .filter(|f| f.zxid >= log)
                .copied()
                .collect(),
        }
    }
}

/// What the charm reads of the machine in a hook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineFacts {
    /// `None` when `/proc/meminfo` cannot be read.
    pub memory: Option<Memory>,
    /// The data filesystem, `None` before it exists (the snap not installed yet).
    pub disk: Option<DiskUsage>,
    pub data: DataFiles,
}

/// What the operator does about a data disk that fills up.
pub const GROW_THE_DISK: &str = "grow the storage or lower autopurge retention";

/// The data disk has no room for a new snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRoom {
    pub available: u64,
    pub needed: u64,
}

impl fmt::Display for NoRoom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the data disk has {} free and a new snapshot needs about {}",
            Size(self.available),
            Size(self.needed)
        )
    }
}

impl MachineFacts {
    /// Whether the data disk has room for the snapshot a server writes when it comes back
    /// from a restart (estimated from the newest one). Unknown figures hold nothing up.
    pub fn new_snapshot_fits(&self) -> Result<(), NoRoom> {
        let Some(disk) = self.disk else {
            return Ok(());
        };
        let needed = self.data.next_snapshot_estimate();
        if disk.available >= needed {
            Ok(())
        } else {
            Err(NoRoom {
                available: disk.available,
                needed,
            })
        }
    }
}

/// ZooKeeper's defaults: `snapCount`, `preAllocSize` (KiB) and `snapSizeLimitInKb`.
pub const ZK_SNAP_COUNT: u64 = 100_000;
pub const ZK_PREALLOC_KIB: u64 = 64 * 1024;
pub const ZK_SNAP_SIZE_LIMIT_KIB: u64 = 4 * 1024 * 1024;
/// The least log volume between two snapshots the sizing chooses.
pub const MIN_LOG_BETWEEN_SNAPSHOTS: u64 = MIB;
/// A log file is preallocated by this fraction of the log between two snapshots at most:
/// ZooKeeper counts a log's length, preallocation included, against `snapSizeLimitInKb`,
/// so a preallocation as large as the limit would take a snapshot at every write.
pub const PREALLOC_SHARE: u64 = 8;

/// How ZooKeeper writes its transaction logs: a snapshot (and a new log) every
/// `snap_count` transactions or `snap_size_limit_kib` of log, whichever comes first, and a
/// log file grows `pre_alloc_kib` at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnLogSizing {
    pub snap_count: u64,
    pub pre_alloc_kib: u64,
    pub snap_size_limit_kib: u64,
}

impl Default for TxnLogSizing {
    /// ZooKeeper's own defaults.
    fn default() -> Self {
        TxnLogSizing {
            snap_count: ZK_SNAP_COUNT,
            pre_alloc_kib: ZK_PREALLOC_KIB,
            snap_size_limit_kib: ZK_SNAP_SIZE_LIMIT_KIB,
        }
    }
}

impl TxnLogSizing {
    /// The sizing for a data filesystem of `total` bytes when `retain` snapshots are kept
    /// (ZooKeeper's defaults when the size is unknown). The rule: the logs ZooKeeper keeps
    /// (those since the oldest kept snapshot: about `retain + 1` intervals between
    /// snapshots) take at most a quarter of the filesystem, so the log written between two
    /// snapshots is at most `total / (4 * (retain + 1))`, at least 1 MiB, and never more
    /// than ZooKeeper's 4 GiB default. A log file is preallocated by an eighth of that
    /// ([`PREALLOC_SHARE`]; ZooKeeper's 64 MiB at most), and the transaction count counts a
    /// kibibyte per transaction against it (ZooKeeper's 100000 at most, 1000 at least).
    pub fn for_disk(total: Option<u64>, retain: u32) -> TxnLogSizing {
        let Some(total) = total else {
            return TxnLogSizing::default();
        };
        let intervals = 4 * (u64::from(retain) + 1);
        let between =
            (total / intervals).clamp(MIN_LOG_BETWEEN_SNAPSHOTS, ZK_SNAP_SIZE_LIMIT_KIB * 1024);
        let kib = between / 1024;
        TxnLogSizing {
            snap_count: kib.clamp(1000, ZK_SNAP_COUNT),
            pre_alloc_kib: (kib / PREALLOC_SHARE).min(ZK_PREALLOC_KIB),
            snap_size_limit_kib: kib,
        }
    }
}

/// A size for people: `1.8 GiB`, `37.5 MiB`, `512 KiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl Size {
    /// The unit this size reads in, and its bytes.
    fn unit(self) -> (&'static str, u64) {
        if self.0 >= GIB {
            ("GiB", GIB)
        } else if self.0 >= MIB {
            ("MiB", MIB)
        } else {
            ("KiB", 1024)
        }
    }

    /// The number in `unit` bytes: one decimal for MiB and GiB, whole KiB.
    fn number(self, unit: u64) -> String {
        if unit == 1024 {
            self.0.div_ceil(1024).to_string()
        } else {
            format!("{:.1}", self.0 as f64 / unit as f64)
        }
    }

    /// `part` of `self`, both in `self`'s unit: `1.8 of 2.0 GiB`.
    pub fn part(self, part: u64) -> String {
        let (name, unit) = self.unit();
        format!(
            "{} of {} {name}",
            Size(part).number(unit),
            self.number(unit)
        )
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, unit) = self.unit();
        write!(f, "{} {name}", self.number(unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_gives_the_total_and_the_swap_in_bytes() {
        let text = "MemTotal:       16303412 kB\nMemFree:         1034036 kB\nSwapTotal:       2097148 kB\nSwapFree:        2097148 kB\n";
        assert_eq!(
            Memory::parse_meminfo(text),
            Some(Memory {
                total: 16303412 * 1024,
                swap_total: 2097148 * 1024
            })
        );
        let no_swap = Memory::parse_meminfo("MemTotal: 1048576 kB\n").unwrap();
        assert!(!no_swap.swap_enabled());
        assert_eq!(Memory::parse_meminfo("MemFree: 1 kB\n"), None);
        assert_eq!(Memory::parse_meminfo("MemTotal: lots kB\n"), None);
        assert_eq!(Memory::parse_meminfo("MemTotal: 1 GB\n"), None);
    }

    #[test]
    fn the_heap_is_three_quarters_of_the_memory_within_its_bounds() {
        let mem = |mib: u64| Memory {
            total: mib * MIB,
            swap_total: 0,
        };
        for (memory_mib, heap) in [
            (128, MIN_HEAP_MIB),
            (1024, 768),
            (4096, 3072),
            (8192, 6144),
            (10922, 8191),
            (16384, MAX_HEAP_MIB),
            (262_144, MAX_HEAP_MIB),
        ] {
            assert_eq!(heap_mib(&mem(memory_mib)), heap, "{memory_mib} MiB");
        }
    }

    #[test]
    fn the_disk_is_as_full_as_df_says() {
        let d = DiskUsage {
            total: 100,
            free: 10,
            available: 5,
        };
        assert_eq!(d.used(), 90);
        // 90 / 95, rounded up.
        assert_eq!(d.used_percent(), 95);
        let empty = DiskUsage {
            total: 2 * GIB,
            free: 2 * GIB,
            available: 2 * GIB,
        };
        assert_eq!(empty.used_percent(), 0);
        assert_eq!(DiskUsage::default().used_percent(), 0);
        let full = DiskUsage {
            total: 10,
            free: 0,
            available: 0,
        };
        assert_eq!(full.used_percent(), 100);
    }

    #[test]
    fn data_file_names_carry_a_hexadecimal_zxid() {
        assert_eq!(
            DataFile::zxid_of("snapshot.100000003", "snapshot"),
            Some(0x1_0000_0003)
        );
        assert_eq!(DataFile::zxid_of("log.2a", "log"), Some(0x2a));
        assert_eq!(
            DataFile::zxid_of("snapshot.1f.snappy", "snapshot"),
            Some(0x1f)
        );
        for (name, prefix) in [
            ("log.", "log"),
            ("log.xyz", "log"),
            ("snapshot.1", "log"),
            ("logs.1", "log"),
            ("acceptedEpoch", "log"),
        ] {
            assert_eq!(DataFile::zxid_of(name, prefix), None, "{name}");
        }
    }

    fn f(zxid: u64, len: u64) -> DataFile {
        DataFile {
            zxid,
            len,
            allocated: len,
        }
    }

    #[test]
    fn a_purge_keeps_the_newest_snapshots_and_the_logs_they_need() {
        let files = DataFiles {
            snapshots: vec![f(0x10, 1), f(0x40, 2), f(0x30, 4), f(0x20, 8), f(0x50, 16)],
            logs: vec![
                f(0x1, 32),
                f(0x11, 64),
                f(0x25, 128),
                f(0x31, 256),
                f(0x51, 512),
            ],
        };
        // Keeps 0x50, 0x40, 0x30; the log starting at or before 0x30 is 0x25.
        assert_eq!(
            files.purgeable(3),
            Purgeable {
                snapshots: 2,
                logs: 2,
                bytes: 1 + 8 + 32 + 64
            }
        );
        let left = files.after_purge(3);
        assert_eq!(
            left.snapshots.iter().map(|f| f.zxid).collect::<Vec<_>>(),
            [0x40, 0x30, 0x50]
        );
        assert_eq!(
            left.logs.iter().map(|f| f.zxid).collect::<Vec<_>>(),
            [0x25, 0x31, 0x51]
        );
        assert!(left.purgeable(3).is_empty());
        // Keeping more than there are deletes nothing: the oldest snapshot needs the log
        // before it.
        assert!(files.purgeable(10).is_empty());
        let older_logs = DataFiles {
            snapshots: vec![f(0x30, 1)],
            logs: vec![f(0x1, 2), f(0x11, 4), f(0x31, 8)],
        };
        assert_eq!(
            older_logs.purgeable(3),
            Purgeable {
                snapshots: 0,
                logs: 1,
                bytes: 2
            }
        );
        assert!(DataFiles::default().purgeable(3).is_empty());
        let logs_only = DataFiles {
            snapshots: vec![],
            logs: vec![f(1, 1)],
        };
        assert!(logs_only.purgeable(3).is_empty());
    }

    #[test]
    fn the_next_snapshot_is_estimated_from_the_newest_one() {
        let files = DataFiles {
            snapshots: vec![f(0x10, 4000), f(0x20, 800)],
            logs: vec![],
        };
        assert_eq!(files.next_snapshot_estimate(), 1000);
        assert_eq!(DataFiles::default().next_snapshot_estimate(), 0);
    }

    #[test]
    fn a_new_snapshot_fits_when_the_disk_has_room_for_the_newest_one_and_a_quarter() {
        let facts = |available: u64| MachineFacts {
            disk: Some(DiskUsage {
                total: 100 * MIB,
                free: available,
                available,
            }),
            data: DataFiles {
                snapshots: vec![f(1, 8 * MIB)],
                logs: vec![],
            },
            ..MachineFacts::default()
        };
        assert_eq!(facts(10 * MIB).new_snapshot_fits(), Ok(()));
        let e = facts(9 * MIB).new_snapshot_fits().unwrap_err();
        assert_eq!(
            e.to_string(),
            "the data disk has 9.0 MiB free and a new snapshot needs about 10.0 MiB"
        );
        // Nothing known: nothing held up.
        assert_eq!(MachineFacts::default().new_snapshot_fits(), Ok(()));
    }

    #[test]
    fn the_logs_kept_take_a_quarter_of_the_disk_at_most() {
        assert_eq!(TxnLogSizing::for_disk(None, 3), TxnLogSizing::default());
        // Charmed ZooKeeper's minimum storage: a snapshot every 64 MiB of log, preallocated
        // 8 MiB at a time.
        assert_eq!(
            TxnLogSizing::for_disk(Some(GIB), 3),
            TxnLogSizing {
                snap_count: 65_536,
                pre_alloc_kib: 8192,
                snap_size_limit_kib: 65_536
            }
        );
        // A small disk: 64 MiB / 16.
        assert_eq!(
            TxnLogSizing::for_disk(Some(64 * MIB), 3),
            TxnLogSizing {
                snap_count: 4096,
                pre_alloc_kib: 512,
                snap_size_limit_kib: 4096
            }
        );
        // Keeping more snapshots leaves less log between them.
        assert_eq!(
            TxnLogSizing::for_disk(Some(64 * MIB), 7).snap_size_limit_kib,
            2048
        );
        // A tiny one still logs 1 MiB between snapshots.
        assert_eq!(
            TxnLogSizing::for_disk(Some(4 * MIB), 3),
            TxnLogSizing {
                snap_count: 1024,
                pre_alloc_kib: 128,
                snap_size_limit_kib: 1024
            }
        );
        // A huge one keeps ZooKeeper's defaults.
        assert_eq!(
            TxnLogSizing::for_disk(Some(1024 * GIB), 3),
            TxnLogSizing::default()
        );
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(Size(2 * GIB).to_string(), "2.0 GiB");
        assert_eq!(Size(1932735283).to_string(), "1.8 GiB");
        assert_eq!(Size(37 * MIB + MIB / 2).to_string(), "37.5 MiB");
        assert_eq!(Size(512 * 1024).to_string(), "512 KiB");
        assert_eq!(Size(1).to_string(), "1 KiB");
        assert_eq!(Size(2 * GIB).part(1932735283), "1.8 of 2.0 GiB");
        assert_eq!(Size(40 * MIB).part(37 * MIB + MIB / 2), "37.5 of 40.0 MiB");
    }
}
