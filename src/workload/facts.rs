//! Reading the machine's facts ([`crate::machine`]) the way every hook may: a file read of
//! `/proc/meminfo`, one `statvfs(2)`, and a listing of ZooKeeper's two `version-2`
//! directories (names and `lstat`s, never following a link). No subprocess.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::machine::{DataFile, DataFiles, DiskUsage, Memory};

/// The directory under `dataDir` and `dataLogDir` where ZooKeeper keeps its files.
pub const VERSION_DIR: &str = "version-2";

/// The memory `meminfo` (a `/proc/meminfo`) describes, if it can be read.
pub fn memory(meminfo: &Path) -> Option<Memory> {
    Memory::parse_meminfo(&fs::read_to_string(meminfo).ok()?)
}

/// The usage of the filesystem `path` is on, if `path` exists.
pub fn disk_usage(path: &Path) -> Option<DiskUsage> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs(2) with a NUL-terminated path into a zeroed struct we own.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let unit = st.f_frsize as u64;
    Some(DiskUsage {
        total: (st.f_blocks as u64).saturating_mul(unit),
        free: (st.f_bfree as u64).saturating_mul(unit),
        available: (st.f_bavail as u64).saturating_mul(unit),
    })
}

/// The regular files `<dir>/version-2/<prefix>.<zxid>`.
fn files(dir: &Path, prefix: &str) -> Vec<DataFile> {
    let Ok(entries) = fs::read_dir(dir.join(VERSION_DIR)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let zxid = DataFile::zxid_of(e.file_name().to_str()?, prefix)?;
            let meta = fs::symlink_metadata(e.path()).ok()?;
            meta.is_file().then(|| DataFile {
                zxid,
                len: meta.len(),
                allocated: meta.blocks().saturating_mul(512),
            })
        })
        .collect()
}

/// ZooKeeper's snapshots (in `data_dir`) and transaction logs (in `data_log_dir`).
pub fn data_files(data_dir: &Path, data_log_dir: &Path) -> DataFiles {
    let mut snapshots = files(data_dir, "snapshot");
    let mut logs = files(data_log_dir, "log");
    snapshots.sort_by_key(|f| f.zxid);
    logs.sort_by_key(|f| f.zxid);
    DataFiles { snapshots, logs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_files_are_listed_by_zxid_and_links_and_other_files_are_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let log = dir.path().join("data-log");
        fs::create_dir_all(data.join(VERSION_DIR)).unwrap();
        fs::create_dir_all(log.join(VERSION_DIR)).unwrap();
        fs::write(data.join(VERSION_DIR).join("snapshot.20"), vec![0u8; 3000]).unwrap();
        fs::write(data.join(VERSION_DIR).join("snapshot.3"), b"x").unwrap();
        fs::write(data.join(VERSION_DIR).join("acceptedEpoch"), b"1").unwrap();
        fs::write(data.join("myid"), b"1").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", data.join(VERSION_DIR).join("snapshot.99"))
            .unwrap();
        // A preallocated log: long, but only what was written takes space.
        let f = fs::File::create(log.join(VERSION_DIR).join("log.4")).unwrap();
        f.set_len(64 * 1024 * 1024).unwrap();
        let files = data_files(&data, &log);
        assert_eq!(
            files
                .snapshots
                .iter()
                .map(|f| (f.zxid, f.len))
                .collect::<Vec<_>>(),
            [(3, 1), (0x20, 3000)]
        );
        assert_eq!(files.logs.len(), 1);
        assert_eq!(files.logs[0].len, 64 * 1024 * 1024);
        assert!(files.logs[0].allocated < 1024 * 1024, "{:?}", files.logs[0]);
        assert_eq!(data_files(&dir.path().join("none"), &log).snapshots, []);
    }

    #[test]
    fn the_disk_and_the_memory_are_read_from_the_system() {
        let dir = tempfile::tempdir().unwrap();
        let d = disk_usage(dir.path()).expect("statvfs of a temp dir");
        assert!(
            d.total > 0 && d.available <= d.free && d.free <= d.total,
            "{d:?}"
        );
        assert_eq!(disk_usage(&dir.path().join("missing")), None);
        let meminfo = dir.path().join("meminfo");
        fs::write(&meminfo, "MemTotal: 2048 kB\nSwapTotal: 0 kB\n").unwrap();
        assert_eq!(
            memory(&meminfo),
            Some(Memory {
                total: 2048 * 1024,
                swap_total: 0
            })
        );
        assert_eq!(memory(&dir.path().join("missing")), None);
        assert!(memory(Path::new("/proc/meminfo")).is_some_and(|m| m.total > 0));
    }
}
