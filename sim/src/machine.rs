//! Each unit's machine: the paths a machine charm and its snap use, private to the machine.
//!
//! Every principal unit of the model lives on "its own machine", although all run on this
//! host (a subordinate unit lives on its principal's): its hooks, their hook tools and the
//! daemons its `snap` starts run in a mount namespace of their own (`unshare(CLONE_NEWNS)`,
//! mounts private), in which these paths are bind mounts of the machine's directories in
//! the model:
//!
//! | in the unit's namespace | in the model (`<principal unit>/machine/...`) |
//! |---|---|
//! | `/snap` (read-only, as snapd's squashfs mounts) | `snap/` |
//! | `/var/snap` | `var-snap/` |
//! | `/var/lib/snapd` | `snapd/` (the fake snapd's state, the services' journal) |
//! | `/var/lib/zookeeper-charm` (the charm's private state) | `var-lib-zookeeper-charm/` |
//! | `/etc`: an overlay of the host's, with the unit's changes (`/etc/environment`) | `etc/upper/` (`etc/work/` is the overlay's) |
//! | the location of each storage attached on the machine | `<model>/storage/<name>-<n>/` |
//!
//! so N units share no path the charm or its workload writes, as N machines would, and a
//! file the charm replaces by rename (`/etc/environment`) is a plain file, not a mount point.
//!
//! The machine's memory is its own too: `/proc/meminfo` is a bind mount of the machine's
//! `meminfo` file ([`DEFAULT_MEMORY_MIB`] of memory and no swap when it is made;
//! [`Machine::set_memory`] changes it in place, so the units see the change at once), as
//! LXCFS shows a container its own. Only the file changes: the kernel (`sysinfo(2)`, the
//! JVM's own sizing) still sees the host's.
//! The host needs the mount points (`/snap`, `/var/snap`, `/var/lib/snapd`,
//! `/var/lib/zookeeper-charm`): [`ensure_mount_points`] makes the missing ones, empty and
//! root's, once per model. Everything else (the model directory, `/usr`, `/tmp`, `/proc`)
//! is the host's.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::SimError;

/// The paths of a unit's machine that are its own, and where they are in the model.
const PRIVATE: [(&str, &str, Kind); 5] = [
    ("/etc", "etc", Kind::Overlay),
    ("/snap", "snap", Kind::ReadOnlyDir),
    ("/var/snap", "var-snap", Kind::Dir),
    ("/var/lib/snapd", "snapd", Kind::Dir),
    (
        "/var/lib/zookeeper-charm",
        "var-lib-zookeeper-charm",
        Kind::PrivateDir,
    ),
];

/// What a new machine's `/etc/environment` holds: Ubuntu's `PATH`, and the two variables
/// the snap's launcher (`zkServer.sh`) reads to size the JVM, kept small here because
/// many units share one host. A charm must keep lines it does not own.
pub const INITIAL_ENVIRONMENT: &str = "\
PATH=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games:/snap/bin\"
ZK_SERVER_HEAP=128
JVMFLAGS=-Xms32m -XX:+UseSerialGC
";

/// A new machine's memory, in MiB (and it has no swap).
pub const DEFAULT_MEMORY_MIB: u64 = 1024;
/// The machine's `/proc/meminfo`, in its directory.
const MEMINFO: &str = "meminfo";
/// Where the units see it.
const PROC_MEMINFO: &str = "/proc/meminfo";

/// A `/proc/meminfo` of a machine with `total_mib` of memory and `swap_mib` of swap (the
/// fields the kernel prints first; the free figures made up, the swap unused).
pub fn meminfo(total_mib: u64, swap_mib: u64) -> String {
    let (total, swap) = (total_mib * 1024, swap_mib * 1024);
    let line = |name: &str, kib: u64| format!("{:<16}{kib:>8} kB\n", format!("{name}:"));
    [
        line("MemTotal", total),
        line("MemFree", total / 2),
        line("MemAvailable", total * 3 / 4),
        line("Buffers", 0),
        line("Cached", total / 8),
        line("SwapCached", 0),
        line("SwapTotal", swap),
        line("SwapFree", swap),
    ]
    .concat()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    ReadOnlyDir,
    /// Mode 0700.
    PrivateDir,
    /// The host's directory with the unit's changes over it (`upper/`, `work/`).
    Overlay,
}

/// One mount of a unit's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The directory in the model (an overlay's: its upper and work directories' parent).
    pub source: PathBuf,
    /// Where the unit sees it.
    pub target: PathBuf,
    pub read_only: bool,
    /// An overlay of the host's `target` with `source/upper` over it, not a bind mount.
    pub overlay: bool,
}

/// A unit's machine: `<unit dir>/machine`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    root: PathBuf,
}

impl Machine {
    /// The machine of the principal unit whose directory is `unit_dir`.
    pub fn of_unit(unit_dir: &Path) -> Machine {
        Machine {
            root: unit_dir.join("machine"),
        }
    }

    /// A machine rooted at `root` itself (what `SIM_MACHINE` names).
    pub fn at(root: &Path) -> Machine {
        Machine {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Makes the machine's directories (root's, 0755; the charm's state dir 0700) and its
    /// `/etc/environment` ([`INITIAL_ENVIRONMENT`]), as a fresh machine has them.
    pub fn create(&self) -> Result<(), SimError> {
        make(&self.root, 0o755)?;
        for (_, name, kind) in PRIVATE {
            let path = self.root.join(name);
            match kind {
                Kind::Dir | Kind::ReadOnlyDir => make(&path, 0o755)?,
                Kind::PrivateDir => make(&path, 0o700)?,
                Kind::Overlay => {
                    make(&path, 0o755)?;
                    make(&path.join("upper"), 0o755)?;
                    make(&path.join("work"), 0o700)?;
                }
            }
        }
        let env = self.root.join("etc/upper/environment");
        fs::write(&env, INITIAL_ENVIRONMENT).map_err(SimError::io("write", &env))?;
        fs::set_permissions(&env, fs::Permissions::from_mode(0o644))
            .map_err(SimError::io("chmod", &env))?;
        self.set_memory(DEFAULT_MEMORY_MIB, 0)
    }

    /// Gives the machine `total_mib` of memory and `swap_mib` of swap: rewrites its
    /// `meminfo` in place (the units' `/proc/meminfo` is a bind mount of that very file).
    pub fn set_memory(&self, total_mib: u64, swap_mib: u64) -> Result<(), SimError> {
        let path = self.root.join(MEMINFO);
        fs::write(&path, meminfo(total_mib, swap_mib)).map_err(SimError::io("write", &path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444))
            .map_err(SimError::io("chmod", &path))
    }

    /// The model path of `inside` (an absolute path as the unit sees it), if it is in one
    /// of the machine's own paths (in `/etc`: the unit's own copy, whether or not it made
    /// one); `None` for a path that is the host's.
    pub fn host_path(&self, inside: &Path) -> Option<PathBuf> {
        PRIVATE.iter().find_map(|(target, name, kind)| {
            let rest = inside.strip_prefix(target).ok()?;
            let base = match kind {
                Kind::Overlay => self.root.join(name).join("upper"),
                _ => self.root.join(name),
            };
            Some(if rest.as_os_str().is_empty() {
                base
            } else {
                base.join(rest)
            })
        })
    }

    /// The bind mounts of the unit's namespace: the machine's own paths, its
    /// `/proc/meminfo` (a machine made before it had one has the host's), then `storage`
    /// (model directory, location), in that order (a location may be inside `/var/snap`).
    pub fn mounts(&self, storage: &[(PathBuf, PathBuf)]) -> Vec<Mount> {
        let mut mounts: Vec<Mount> = PRIVATE
            .iter()
            .map(|(target, name, kind)| Mount {
                source: self.root.join(name),
                target: PathBuf::from(target),
                read_only: *kind == Kind::ReadOnlyDir,
                overlay: *kind == Kind::Overlay,
            })
            .collect();
        let meminfo = self.root.join(MEMINFO);
        if meminfo.is_file() {
            mounts.push(Mount {
                source: meminfo,
                target: PathBuf::from(PROC_MEMINFO),
                read_only: true,
                overlay: false,
            });
        }
        mounts.extend(storage.iter().map(|(source, location)| Mount {
            source: source.clone(),
            target: location.clone(),
            read_only: false,
            overlay: false,
        }));
        mounts
    }

    /// Makes the mount point of a storage at `location`, as Juju does: the directory and
    /// its missing parents, root's, 0755. Inside the machine's own paths it is made in the
    /// model; elsewhere on the host.
    pub fn make_mount_point(&self, location: &Path) -> Result<(), SimError> {
        let path = self
            .host_path(location)
            .unwrap_or_else(|| location.to_path_buf());
        make_all(&path, 0o755)
    }
}

fn make(path: &Path, mode: u32) -> Result<(), SimError> {
    fs::create_dir_all(path).map_err(SimError::io("create", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(SimError::io("chmod", path))
}

/// `mkdir -p` with `mode` on each directory it makes.
fn make_all(path: &Path, mode: u32) -> Result<(), SimError> {
    let mut missing = Vec::new();
    let mut p = path;
    while !p.exists() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    for dir in missing.iter().rev() {
        match fs::create_dir(dir) {
            Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(mode))
                .map_err(SimError::io("chmod", dir))?,
            // Made meanwhile by another model or test: it is theirs to set up.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(SimError::io("create", dir)(e)),
        }
    }
    Ok(())
}

/// Fails unless this process runs as root: the units' namespaces, bind mounts and the
/// snap's daemon user need it.
pub fn require_root() -> Result<(), SimError> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(SimError::Setup(
            "zk-sim needs root: each unit runs in a mount namespace of its own (unshare, bind and overlay \
             mounts) and the snap's daemon runs as uid 584788; run it as root (CI does)"
                .into(),
        ));
    }
    Ok(())
}

/// Makes the host's mount points the units' namespaces mount over, where missing: empty
/// directories, root's, 0755.
pub fn ensure_mount_points() -> Result<(), SimError> {
    for (target, _, _) in PRIVATE {
        let path = Path::new(target);
        if path.exists() {
            continue;
        }
        make_all(path, 0o755)?;
    }
    Ok(())
}

/// Makes `cmd` run in a mount namespace of its own with `mounts` (see the module docs): a
/// unit's machine for a process started outside the model (tests of a charm binary).
///
/// # Errors
/// When a mount path is not a C string.
pub fn isolate(cmd: &mut std::process::Command, mounts: &[Mount]) -> io::Result<()> {
    use std::os::unix::process::CommandExt;
    let prepared = PreparedMounts::new(mounts)?;
    // SAFETY: `enter` makes only system calls, on data prepared before the fork.
    unsafe {
        cmd.pre_exec(move || prepared.enter());
    }
    Ok(())
}

/// One mount, as C strings.
#[derive(Debug, Clone)]
struct PreparedMount {
    source: CString,
    target: CString,
    read_only: bool,
    /// The overlay's options (`lowerdir=...,upperdir=...,workdir=...`), for an overlay.
    overlay: Option<CString>,
}

/// The mounts, as C strings, for the child of a fork (which must not allocate).
#[derive(Debug, Clone)]
pub(crate) struct PreparedMounts(Vec<PreparedMount>);

impl PreparedMounts {
    pub(crate) fn new(mounts: &[Mount]) -> io::Result<PreparedMounts> {
        let c = |bytes: &[u8]| {
            CString::new(bytes)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a mount path"))
        };
        let prepared = mounts.iter().map(|m| {
            let overlay = if m.overlay {
                let upper = m.source.join("upper");
                let work = m.source.join("work");
                let mut opts = b"lowerdir=".to_vec();
                opts.extend_from_slice(m.target.as_os_str().as_bytes());
                opts.extend_from_slice(b",upperdir=");
                opts.extend_from_slice(upper.as_os_str().as_bytes());
                opts.extend_from_slice(b",workdir=");
                opts.extend_from_slice(work.as_os_str().as_bytes());
                opts.extend_from_slice(b",index=off");
                Some(c(&opts)?)
            } else {
                None
            };
            Ok(PreparedMount {
                source: c(m.source.as_os_str().as_bytes())?,
                target: c(m.target.as_os_str().as_bytes())?,
                read_only: m.read_only,
                overlay,
            })
        });
        prepared.collect::<io::Result<_>>().map(PreparedMounts)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In the child, before `exec`: a new mount namespace, every mount in it private (so
    /// nothing propagates back to the host), then the bind mounts. Only system calls.
    pub(crate) fn enter(&self) -> io::Result<()> {
        let check = |ret: libc::c_int| {
            if ret < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        // SAFETY: unshare(2) and mount(2) with NUL-terminated paths prepared before the
        // fork; no allocation, no lock.
        unsafe {
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            for m in &self.0 {
                if let Some(opts) = &m.overlay {
                    check(libc::mount(
                        c"overlay".as_ptr(),
                        m.target.as_ptr(),
                        c"overlay".as_ptr(),
                        0,
                        opts.as_ptr().cast(),
                    ))?;
                    continue;
                }
                check(libc::mount(
                    m.source.as_ptr(),
                    m.target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))?;
                if m.read_only {
                    check(libc::mount(
                        std::ptr::null(),
                        m.target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                        std::ptr::null(),
                    ))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_the_machine_map_to_the_model_and_others_stay_the_hosts() {
        let m = Machine::of_unit(Path::new("/model/units/zookeeper-0"));
        assert_eq!(
            m.host_path(Path::new("/var/snap/charmed-zookeeper/current/etc")),
            Some(PathBuf::from(
                "/model/units/zookeeper-0/machine/var-snap/charmed-zookeeper/current/etc"
            ))
        );
        assert_eq!(
            m.host_path(Path::new("/etc/environment")),
            Some(PathBuf::from(
                "/model/units/zookeeper-0/machine/etc/upper/environment"
            ))
        );
        assert_eq!(m.host_path(Path::new("/var/snapshots")), None);
        assert_eq!(m.host_path(Path::new("/usr/bin")), None);
        // (No machine made there: no meminfo of its own.)
        let mounts = m.mounts(&[(
            PathBuf::from("/model/storage/data-0"),
            PathBuf::from("/var/snap/charmed-zookeeper/common/var/lib/zookeeper"),
        )]);
        assert_eq!(mounts.len(), 6);
        assert!(mounts[0].overlay && mounts[0].target == Path::new("/etc"));
        assert!(mounts[1].read_only && mounts[1].target == Path::new("/snap"));
        assert_eq!(
            mounts[5].target,
            Path::new("/var/snap/charmed-zookeeper/common/var/lib/zookeeper")
        );
    }

    #[test]
    fn a_machine_has_its_own_meminfo_mounted_over_the_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let m = Machine::at(&dir.path().join("machine"));
        m.create().unwrap();
        let mounts = m.mounts(&[]);
        let mem = mounts
            .iter()
            .find(|x| x.target == Path::new("/proc/meminfo"))
            .expect("a meminfo mount");
        assert!(mem.read_only && !mem.overlay);
        let text = fs::read_to_string(&mem.source).unwrap();
        assert!(text.starts_with("MemTotal:        1048576 kB\n"), "{text}");
        assert!(text.contains("SwapTotal:             0 kB\n"), "{text}");
        // Changed in place: the same file (a bind mount follows the inode).
        use std::os::unix::fs::MetadataExt;
        let inode = fs::metadata(&mem.source).unwrap().ino();
        m.set_memory(4096, 512).unwrap();
        assert_eq!(fs::metadata(&mem.source).unwrap().ino(), inode);
        let text = fs::read_to_string(&mem.source).unwrap();
        assert!(text.contains("MemTotal:        4194304 kB\n"), "{text}");
        assert!(text.contains("SwapTotal:        524288 kB\n"), "{text}");
    }
}
