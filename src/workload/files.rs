//! Files the charm (root) reads and writes in directories the workload user can write too,
//! without ever following a link that user could plant.
//!
//! Every path is walked from `/` one component at a time with `openat(O_NOFOLLOW)`. A
//! symbolic link is followed only where nobody but root could have made it: in a directory
//! owned by root and writable by no one else (snapd's `/var/snap/<snap>/current -> 40`), and
//! its target is walked by the same rule. Anywhere else a link is an error, never followed.
//!
//! Writes are atomic: a temp file with a random name is created next to the target with
//! `O_CREAT|O_EXCL|O_NOFOLLOW` relative to the directory's descriptor, given its mode and
//! owner through its own descriptor, written, synced, renamed over the target (a link
//! planted at the target is replaced, not followed), and the directory is synced. Leftover
//! temp files of earlier writes (a killed hook) are removed first.

use std::collections::VecDeque;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// A user and group id.
pub type Owner = (u32, u32);

/// How many symbolic links one walk may follow (as the kernel's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

fn cstring(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a path component contains a NUL byte",
        )
    })
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn open_at(dir: RawFd, name: &CStr, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: openat(2) with a valid directory fd and NUL-terminated name; the returned fd
    // is owned by the OwnedFd.
    let fd = check(unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_root() -> io::Result<OwnedFd> {
    open_at(libc::AT_FDCWD, c"/", libc::O_RDONLY | libc::O_DIRECTORY, 0)
}

fn stat_fd(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: fstat(2) into a zeroed stat we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

fn lstat_at(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: fstatat(2) without following, into a zeroed stat we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

fn read_link_at(dir: RawFd, name: &CStr) -> io::Result<OsString> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat(2) into a buffer of the given length.
    let n = unsafe {
        libc::readlinkat(
            dir,
            name.as_ptr(),
            buf.as_mut_ptr().cast::<libc::c_char>(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(OsString::from(OsStr::from_bytes(&buf)))
}

/// Only root can have put an entry in this directory.
fn root_only(dir: &libc::stat) -> bool {
    dir.st_uid == 0 && dir.st_mode & 0o022 == 0
}

/// The names of `path`, which must be absolute and free of `..`.
fn components(path: &Path) -> io::Result<VecDeque<OsString>> {
    if !path.is_absolute() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an absolute path",
        ));
    }
    let mut names = VecDeque::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => names.push_back(n.to_os_string()),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "`..` in a path the charm writes",
                ))
            }
        }
    }
    Ok(names)
}

/// Sets a directory's or file's mode, and its owner when given, through its descriptor.
pub fn set_mode_owner(fd: &OwnedFd, mode: u32, owner: Option<Owner>) -> io::Result<()> {
    if let Some((uid, gid)) = owner {
        // SAFETY: fchown(2) on a descriptor we own.
        check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })?;
    }
    // SAFETY: fchmod(2) on a descriptor we own.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) })?;
    Ok(())
}

/// Walks to the directory `path` (see the module docs); with `create`, makes the missing
/// directories with that mode and owner.
fn walk(path: &Path, create: Option<(u32, Option<Owner>)>) -> io::Result<OwnedFd> {
    let mut pending = components(path)?;
    let mut dir = open_root()?;
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        let c = cstring(&name)?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        match open_at(dir.as_raw_fd(), &c, flags, 0) {
            Ok(next) => dir = next,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                let entry = lstat_at(dir.as_raw_fd(), &c)?;
                if entry.st_mode & libc::S_IFMT != libc::S_IFLNK {
                    return Err(io::Error::new(
                        io::ErrorKind::NotADirectory,
                        format!("{} is not a directory", name.to_string_lossy()),
                    ));
                }
                if !(root_only(&stat_fd(dir.as_raw_fd())?) && entry.st_uid == 0) {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!(
                            "{} is a symbolic link where another user can write; not following it",
                            name.to_string_lossy()
                        ),
                    ));
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = read_link_at(dir.as_raw_fd(), &c)?;
                let target = Path::new(&target);
                if target.is_absolute() {
                    dir = open_root()?;
                }
                let mut names = components(&Path::new("/").join(target))?;
                names.extend(pending);
                pending = names;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && create.is_some() => {
                let (mode, owner) = create.unwrap_or_default();
                // SAFETY: mkdirat(2) relative to a directory fd we own.
                let made = check(unsafe {
                    libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode as libc::mode_t)
                });
                match made {
                    Ok(_) => {
                        let next = open_at(dir.as_raw_fd(), &c, flags, 0)?;
                        set_mode_owner(&next, mode, owner)?;
                        dir = next;
                    }
                    // Made by someone else meanwhile: walk into it by the rules above.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        pending.push_front(name);
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(dir)
}

/// Opens the directory `path` without following a link another user could have planted.
///
/// # Errors
/// When a component is missing, is not a directory, or is such a link.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    walk(path, None)
}

/// Opens the directory `path`, making the missing ones (and only those) with `mode` and
/// `owner` (`None`: root's).
///
/// # Errors
/// As [`open_dir`], or when a directory cannot be made.
pub fn ensure_dir(path: &Path, mode: u32, owner: Option<Owner>) -> io::Result<OwnedFd> {
    walk(path, Some((mode, owner)))
}

/// The parent directory and file name of `path`.
fn split(path: &Path) -> io::Result<(&Path, &OsStr)> {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => Ok((dir, name)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file path",
        )),
    }
}

/// The prefix of the temp files of `name`.
fn temp_prefix(name: &OsStr) -> Vec<u8> {
    let mut p = b".".to_vec();
    p.extend_from_slice(name.as_bytes());
    p.extend_from_slice(b".tmp.");
    p
}

fn random_suffix() -> io::Result<String> {
    use rand::TryRngCore;
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| io::Error::other(format!("no random bytes: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Removes the temp files earlier writes of `name` left in `dir` (a hook killed between
/// create and rename). Unlinking never follows a link.
fn remove_stale_temps(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let prefix = temp_prefix(name);
    // The descriptor's /proc entry names the directory we hold, whatever its path is now.
    let entries = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?;
    for entry in entries.flatten() {
        let n = entry.file_name();
        if n.as_bytes().starts_with(&prefix) {
            let c = cstring(&n)?;
            // SAFETY: unlinkat(2) relative to a directory fd we own.
            let _ = unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) };
        }
    }
    Ok(())
}

/// Deletes `path` (the link itself if it is one: unlinking never follows a link); a missing
/// file is not an error.
///
/// # Errors
/// When the directory cannot be opened safely or the file cannot be unlinked.
pub fn remove(path: &Path) -> io::Result<()> {
    let (dir_path, name) = split(path)?;
    let dir = match open_dir(dir_path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let c = cstring(name)?;
    // SAFETY: unlinkat(2) relative to a directory fd we own.
    match check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) }) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `contents` to `path` atomically with `mode` and `owner` (see the module docs).
/// The directory must exist.
///
/// # Errors
/// When the directory cannot be opened safely, or a step of the write fails (the temp file
/// is removed then).
pub fn write_atomic(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Option<Owner>,
) -> io::Result<()> {
    let (dir_path, name) = split(path)?;
    let dir = open_dir(dir_path)?;
    write_in(&dir, name, contents, mode, owner)
}

/// [`write_atomic`] of `name` in the open directory `dir`.
///
/// # Errors
/// See [`write_atomic`].
pub fn write_in(
    dir: &OwnedFd,
    name: &OsStr,
    contents: &[u8],
    mode: u32,
    owner: Option<Owner>,
) -> io::Result<()> {
    remove_stale_temps(dir, name)?;
    let mut tmp_name = temp_prefix(name);
    tmp_name.extend_from_slice(random_suffix()?.as_bytes());
    let tmp = CString::new(tmp_name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let target = cstring(name)?;
    let fd = open_at(
        dir.as_raw_fd(),
        &tmp,
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
        0o600,
    )?;
    let result = (|| {
        set_mode_owner(&fd, mode, owner)?;
        let mut f = File::from(fd);
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        // SAFETY: renameat(2) of two names relative to the same directory fd.
        check(unsafe {
            libc::renameat(
                dir.as_raw_fd(),
                tmp.as_ptr(),
                dir.as_raw_fd(),
                target.as_ptr(),
            )
        })?;
        // SAFETY: fsync(2) of the directory, so that the rename survives a crash.
        check(unsafe { libc::fsync(dir.as_raw_fd()) })?;
        Ok(())
    })();
    if result.is_err() {
        // SAFETY: unlinkat(2) of our own temp name.
        unsafe { libc::unlinkat(dir.as_raw_fd(), tmp.as_ptr(), 0) };
    }
    result
}

/// Appends `line` to the log file `path`, creating it with `mode` (root's), in a directory
/// that must exist (`Ok(false)`, nothing written, when it does not). Once the file has grown
/// past `rotate_at` bytes it is first renamed to `<name>.1` (replacing the previous one), so
/// the two files never hold much more than twice that.
///
/// A link, or anything but a regular file with one link, planted at the name is an error,
/// never written through: the open does not follow links and does not block on a FIFO, and
/// the file is checked through its descriptor before the write. Renaming replaces whatever
/// is at `<name>.1` without following it.
///
/// # Errors
/// When the directory cannot be opened safely, or a step fails.
pub fn append_line(path: &Path, line: &str, mode: u32, rotate_at: u64) -> io::Result<bool> {
    let (dir_path, name) = split(path)?;
    let dir = match open_dir(dir_path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let c = cstring(name)?;
    match lstat_at(dir.as_raw_fd(), &c) {
        Ok(st) if st.st_size >= 0 && st.st_size as u64 >= rotate_at => {
            let mut old = name.to_os_string();
            old.push(".1");
            let old = cstring(&old)?;
            // SAFETY: renameat(2) of two names relative to the same directory fd.
            check(unsafe {
                libc::renameat(dir.as_raw_fd(), c.as_ptr(), dir.as_raw_fd(), old.as_ptr())
            })?;
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let fd = open_at(
        dir.as_raw_fd(),
        &c,
        libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        mode,
    )?;
    let st = stat_fd(fd.as_raw_fd())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_nlink != 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file with a single link; not writing to it",
        ));
    }
    let mut text = line.trim_end_matches('\n').to_string();
    text.push('\n');
    // One write(2) of a short line to an O_APPEND file: lines of hooks never interleave.
    File::from(fd).write_all(text.as_bytes())?;
    Ok(true)
}

/// Opens the file `path` for reading without following a link; `None` when it does not
/// exist (nor its directory).
fn open_file(path: &Path) -> io::Result<Option<File>> {
    let (dir_path, name) = split(path)?;
    let dir = match open_dir(dir_path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let c = cstring(name)?;
    match open_at(
        dir.as_raw_fd(),
        &c,
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        0,
    ) {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the file `path` (not through a link); `None` when it does not exist.
///
/// # Errors
/// When it cannot be opened or read, or is not text.
pub fn read_optional(path: &Path) -> io::Result<Option<String>> {
    let Some(mut f) = open_file(path)? else {
        return Ok(None);
    };
    let mut s = String::new();
    f.read_to_string(&mut s)?;
    Ok(Some(s))
}

/// The size of the file `path` (0 when it does not exist).
pub fn size(path: &Path) -> u64 {
    open_file(path)
        .ok()
        .flatten()
        .and_then(|f| f.metadata().ok())
        .map_or(0, |m| m.len())
}

/// What was appended to `path` after byte `from` (everything when the file is now shorter:
/// it was rotated), at most the last `max` bytes of it.
///
/// # Errors
/// When the file cannot be opened or read.
pub fn read_since(path: &Path, from: u64, max: u64) -> io::Result<Option<String>> {
    let Some(mut f) = open_file(path)? else {
        return Ok(None);
    };
    let len = f.metadata()?.len();
    let from = if len < from { 0 } else { from };
    let start = from.max(len.saturating_sub(max));
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    #[test]
    fn removing_deletes_the_file_or_the_link_itself_and_a_missing_one_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keystore.pem");
        write_atomic(&path, b"key", 0o600, None).unwrap();
        remove(&path).unwrap();
        assert!(!path.exists());
        remove(&path).unwrap();
        remove(&dir.path().join("no-such-dir/keystore.pem")).unwrap();
        // A link planted at the path goes, its target stays.
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        symlink(&target, &path).unwrap();
        remove(&path).unwrap();
        assert!(path.symlink_metadata().is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }

    #[test]
    fn a_write_replaces_the_file_with_its_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zoo.cfg");
        write_atomic(&path, b"one", 0o640, None).unwrap();
        write_atomic(&path, b"two", 0o600, None).unwrap();
        assert_eq!(read_optional(&path).unwrap().as_deref(), Some("two"));
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("zoo.cfg")]);
        assert_eq!(read_optional(&dir.path().join("absent")).unwrap(), None);
        assert_eq!(
            read_optional(&dir.path().join("no-dir/absent")).unwrap(),
            None
        );
    }

    #[test]
    fn stale_temp_files_of_the_same_name_are_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".myid.tmp.1234"), "old").unwrap();
        std::fs::write(dir.path().join(".other.tmp.1"), "keep").unwrap();
        write_atomic(&dir.path().join("myid"), b"1\n", 0o640, None).unwrap();
        assert!(!dir.path().join(".myid.tmp.1234").exists());
        assert!(dir.path().join(".other.tmp.1").exists());
    }

    #[test]
    fn a_link_at_the_target_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "original").unwrap();
        let target = dir.path().join("myid");
        symlink(&victim, &target).unwrap();
        write_atomic(&target, b"1\n", 0o640, None).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "original");
        assert!(!std::fs::symlink_metadata(&target)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn lines_are_appended_then_rotated_once_the_file_is_big() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("charm.log");
        assert!(append_line(&log, "one", 0o640, 20).unwrap());
        assert!(append_line(&log, "two\n", 0o640, 20).unwrap());
        assert_eq!(read_optional(&log).unwrap().as_deref(), Some("one\ntwo\n"));
        assert_eq!(std::fs::metadata(&log).unwrap().mode() & 0o777, 0o640);
        assert!(append_line(&log, "three-is-longer", 0o640, 20).unwrap());
        // 24 bytes now: the next line starts a new file.
        assert!(append_line(&log, "four", 0o640, 20).unwrap());
        assert_eq!(read_optional(&log).unwrap().as_deref(), Some("four\n"));
        assert_eq!(
            read_optional(&dir.path().join("charm.log.1"))
                .unwrap()
                .as_deref(),
            Some("one\ntwo\nthree-is-longer\n")
        );
        // No directory (the workload is not installed): nothing, and no error.
        assert!(!append_line(&dir.path().join("absent/charm.log"), "x", 0o640, 20).unwrap());
        assert!(!dir.path().join("absent").exists());
    }

    #[test]
    fn an_append_never_writes_through_a_planted_link_fifo_or_hard_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "original").unwrap();
        let log = dir.path().join("charm.log");
        symlink(&victim, &log).unwrap();
        assert!(append_line(&log, "x", 0o640, 1 << 20).is_err());
        std::fs::remove_file(&log).unwrap();
        std::fs::hard_link(&victim, &log).unwrap();
        assert!(append_line(&log, "x", 0o640, 1 << 20).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "original");
        std::fs::remove_file(&log).unwrap();
        let c = CString::new(log.as_os_str().as_bytes()).unwrap();
        // SAFETY: mkfifo(3) with a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(
            append_line(&log, "x", 0o640, 1 << 20).is_err(),
            "no reader: no block"
        );
        // A link planted at the rotated name is replaced, not followed.
        std::fs::remove_file(&log).unwrap();
        std::fs::write(&log, "0123456789").unwrap();
        symlink(&victim, dir.path().join("charm.log.1")).unwrap();
        assert!(append_line(&log, "x", 0o640, 5).unwrap());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "original");
        assert_eq!(
            read_optional(&dir.path().join("charm.log.1"))
                .unwrap()
                .as_deref(),
            Some("0123456789")
        );
    }

    #[test]
    fn a_link_to_a_directory_is_never_followed_where_others_can_write() {
        let dir = tempfile::tempdir().unwrap();
        // tempdir's parent (/tmp) is writable by everyone: a link there is refused.
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        symlink(&real, &link).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = write_atomic(&link.join("f"), b"x", 0o600, None).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!real.join("f").exists());
        let err = read_optional(&link.join("f")).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        // A root-owned directory nobody else can write: its links are root's and followed
        // (as the snap's `current -> 40`).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        if std::fs::metadata(dir.path()).unwrap().uid() == 0 {
            write_atomic(&link.join("f"), b"x", 0o600, None).unwrap();
            assert_eq!(std::fs::read_to_string(real.join("f")).unwrap(), "x");
        }
    }

    #[test]
    fn ensure_dir_makes_only_the_missing_directories_with_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        ensure_dir(&deep, 0o700, None).unwrap();
        for d in ["a", "a/b", "a/b/c"] {
            let m = std::fs::metadata(dir.path().join(d)).unwrap();
            assert_eq!(m.mode() & 0o777, 0o700, "{d}");
        }
        std::fs::set_permissions(dir.path().join("a"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        ensure_dir(&deep, 0o750, None).unwrap();
        let m = std::fs::metadata(dir.path().join("a")).unwrap();
        assert_eq!(m.mode() & 0o777, 0o755);
    }

    #[test]
    fn read_since_returns_what_was_appended_or_all_after_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("zookeeper.log");
        assert_eq!(size(&log), 0);
        assert_eq!(read_since(&log, 0, 100).unwrap(), None);
        std::fs::write(&log, "old line\n").unwrap();
        let mark = size(&log);
        std::fs::write(&log, "old line\nnew line\n").unwrap();
        assert_eq!(
            read_since(&log, mark, 100).unwrap().as_deref(),
            Some("new line\n")
        );
        assert_eq!(
            read_since(&log, mark, 5).unwrap().as_deref(),
            Some("line\n")
        );
        std::fs::write(&log, "rotated\n").unwrap();
        assert_eq!(
            read_since(&log, mark, 100).unwrap().as_deref(),
            Some("rotated\n")
        );
    }
}
