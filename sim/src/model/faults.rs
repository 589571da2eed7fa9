//! The sim's own faults for chaos runs, beyond a failing hook tool
//! ([`Model::inject_tool_failures`]): a hook tool that never answers, a hook process killed
//! while it waits at a pause point, and a full disk under the charm's private state.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::Model;
use crate::machine::Machine;
use crate::state::{PauseState, ToolHang};
use crate::tools::ToolName;
use crate::SimError;

/// The machine directory a full disk is mounted over: the unit's
/// `/var/lib/zookeeper-charm`, the charm's private state (only the charm writes there, so
/// the fault hits the charm's writes and not the server's).
const STATE_DIR: &str = "var-lib-zookeeper-charm";
/// The size of the full tmpfs (its files are a few hundred bytes).
const FULL_DISK_KIB: u64 = 256;
/// The file that takes up the rest of it.
const FILLER: &str = ".zk-sim-filler";

impl Model {
    /// Makes `unit`'s next call of hook tool `tool` never answer, nor any later call of it
    /// in the same hook, until that hook ends (see [`ToolHang`]).
    pub fn hang_tool(&mut self, unit: &str, tool: &str) -> Result<(), SimError> {
        if ToolName::from_name(tool).is_none() {
            return Err(SimError::not_found("hook tool", tool));
        }
        let mut g = self.lock()?;
        if !g.st.units.contains_key(unit) {
            return Err(SimError::not_found("unit", unit));
        }
        g.st.tool_hangs.push(ToolHang {
            unit: unit.to_string(),
            tool: tool.to_string(),
            context: None,
        });
        g.save()
    }

    /// Forgets the hangs of `unit` that no call met yet; returns how many.
    pub fn disarm_tool_hangs(&mut self, unit: &str) -> Result<usize, SimError> {
        let mut g = self.lock()?;
        let before = g.st.tool_hangs.len();
        g.st.tool_hangs
            .retain(|h| h.unit != unit || h.context.is_some());
        let n = before - g.st.tool_hangs.len();
        g.save()?;
        Ok(n)
    }

    /// Kills with SIGKILL the hook process whose tool call pause point `id` holds (the
    /// held tool's parent, by PID), then releases the held call. Returns the killed PID;
    /// `None` if the point holds no call.
    pub fn kill_held_hook(&self, id: u64) -> Result<Option<i32>, SimError> {
        let p = self.pause_point(id)?;
        let (PauseState::Holding, Some(tool_pid)) = (p.state, p.pid) else {
            return Ok(None);
        };
        let parent = parent_pid(tool_pid as i32).filter(|&pp| pp > 1);
        let Some(hook) = parent else {
            self.release(id)?;
            return Err(SimError::Refused(format!(
                "the held call (pid {tool_pid}) has no parent hook process"
            )));
        };
        // SAFETY: kill(2) of one process by its PID; no memory involved.
        let r = unsafe { libc::kill(hook, libc::SIGKILL) };
        let err = std::io::Error::last_os_error();
        self.release(id)?;
        if r != 0 {
            return Err(SimError::io("kill the hook process", hook.to_string())(err));
        }
        Ok(Some(hook))
    }

    /// Fills the disk under `unit`'s `/var/lib/zookeeper-charm`: a tmpfs of
    /// [`FULL_DISK_KIB`] KiB over it (as its machine's namespaces see it from their next
    /// hook on) holding a copy of its files (owners and modes kept) and a filler that takes
    /// the rest, so that any new write there fails with ENOSPC (a disk filled and freed
    /// before is filled again). Returns the directory.
    pub fn fill_disk(&mut self, unit: &str) -> Result<PathBuf, SimError> {
        let dir = self.state_disk(unit)?;
        if is_mount_point(&dir) {
            // Full before and freed since: fill it again.
            if dir.join(FILLER).exists() {
                return Err(SimError::Refused(format!("{unit}'s disk is already full")));
            }
            fill(&dir.join(FILLER))?;
            return Ok(dir);
        }
        let stash = dir.with_extension("stash");
        let _ = fs::remove_dir_all(&stash);
        copy_tree(&dir, &stash)?;
        let meta = fs::metadata(&dir).map_err(SimError::io("stat", &dir))?;
        mount_tmpfs(&dir, FULL_DISK_KIB, meta.mode() & 0o7777)?;
        let filled = copy_tree_into(&stash, &dir).and_then(|()| fill(&dir.join(FILLER)));
        let _ = fs::remove_dir_all(&stash);
        if let Err(e) = filled {
            unmount(&dir);
            return Err(e);
        }
        Ok(dir)
    }

    /// Gives the space back: removes the filler (the tmpfs stays, with what the charm
    /// wrote since, until the model is destroyed). Returns whether the disk was full.
    pub fn free_disk(&mut self, unit: &str) -> Result<bool, SimError> {
        let dir = self.state_disk(unit)?;
        let filler = dir.join(FILLER);
        if !filler.exists() {
            return Ok(false);
        }
        fs::remove_file(&filler).map_err(SimError::io("remove", &filler))?;
        Ok(true)
    }

    /// `unit`'s machine directory for `/var/lib/zookeeper-charm`.
    fn state_disk(&self, unit: &str) -> Result<PathBuf, SimError> {
        let g = self.lock()?;
        let u =
            g.st.units
                .get(unit)
                .ok_or_else(|| SimError::not_found("unit", unit))?;
        let machine = match &u.principal {
            Some(p) => Machine::of_unit(&g.st.units[p].dir),
            None => Machine::of_unit(&u.dir),
        };
        Ok(machine.root().join(STATE_DIR))
    }
}

/// The parent of process `pid` (field 4 of `/proc/<pid>/stat`).
fn parent_pid(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn is_mount_point(dir: &Path) -> bool {
    let (Ok(d), Some(Ok(p))) = (fs::metadata(dir), dir.parent().map(fs::metadata)) else {
        return false;
    };
    d.dev() != p.dev()
}

/// Copies the tree `from` to `to` (which must not exist), keeping owners and modes.
fn copy_tree(from: &Path, to: &Path) -> Result<(), SimError> {
    fs::create_dir(to).map_err(SimError::io("create", to))?;
    copy_tree_into(from, to)?;
    let m = fs::metadata(from).map_err(SimError::io("stat", from))?;
    keep_owner_and_mode(to, &m)
}

/// Copies what is in directory `from` into directory `to`.
fn copy_tree_into(from: &Path, to: &Path) -> Result<(), SimError> {
    for entry in fs::read_dir(from).map_err(SimError::io("read", from))? {
        let entry = entry.map_err(SimError::io("read", from))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let m = fs::symlink_metadata(&src).map_err(SimError::io("stat", &src))?;
        if m.is_dir() {
            copy_tree(&src, &dst)?;
        } else if m.is_file() {
            fs::copy(&src, &dst).map_err(SimError::io("copy", &src))?;
            keep_owner_and_mode(&dst, &m)?;
        }
    }
    Ok(())
}

fn keep_owner_and_mode(path: &Path, m: &fs::Metadata) -> Result<(), SimError> {
    std::os::unix::fs::chown(path, Some(m.uid()), Some(m.gid()))
        .map_err(SimError::io("chown", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(m.mode() & 0o7777))
        .map_err(SimError::io("chmod", path))
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) -> Result<(), SimError> {
    use std::io::Write;
    let mut f = fs::File::create(path).map_err(SimError::io("create", path))?;
    let block = [0u8; 4096];
    loop {
        match f.write(&block) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return Ok(()),
            Err(e) => return Err(SimError::io("fill", path)(e)),
        }
    }
}

/// Mounts a tmpfs of `kib` KiB with `mode` on `dir`, in the host's namespace (each hook's
/// namespace binds the machine's directories recursively, so it sees it).
pub(super) fn mount_tmpfs(dir: &Path, kib: u64, mode: u32) -> Result<(), SimError> {
    let target = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| SimError::Refused(format!("{} is not a C string", dir.display())))?;
    let opts = std::ffi::CString::new(format!("size={kib}k,mode={mode:o}")).expect("no NUL");
    // SAFETY: mount(2) with NUL-terminated strings that outlive the call.
    let ret = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            opts.as_ptr().cast(),
        )
    };
    if ret != 0 {
        return Err(SimError::io("mount a tmpfs on", dir)(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Unmounts `dir` lazily.
fn unmount(dir: &Path) {
    if let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) {
        // SAFETY: umount2(2) with a NUL-terminated path.
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
}

/// Unmounts every full disk of the model in `dir` ([`Model::fill_disk`]).
pub(crate) fn unmount_full_disks(dir: &Path) {
    for entry in fs::read_dir(dir.join("units"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let d = entry.path().join("machine").join(STATE_DIR);
        if is_mount_point(&d) {
            unmount(&d);
        }
    }
}
