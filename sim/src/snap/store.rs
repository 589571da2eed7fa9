//! The fake store's one snap, `charmed-zookeeper`, and what installing it does on a machine:
//! snapd's layout, then the snap's own install hook.
//!
//! What the published snap (canonical/charmed-zookeeper-snap) does, and how it is copied:
//! - `$SNAP` (`/snap/charmed-zookeeper/<rev>`, read-only, root's) holds ZooKeeper under
//!   `opt/zookeeper`, its default config under `etc/zookeeper` and a Java runtime under
//!   `usr/lib/jvm/<jre>` (a staged `openjdk-*-jre-headless`). Here `opt/zookeeper/lib`
//!   links to Debian's jars, `usr/lib/jvm/<jre>` to the host's default JRE (under its own
//!   name, `java-17-openjdk-amd64`), and `etc/zookeeper` holds a `simplelogger.properties`
//!   (the logging config of Debian's SLF4J binding) where the snap has a `logback.xml`:
//!   both end up appending the server's log to
//!   `$SNAP_COMMON/var/log/zookeeper/zookeeper.log`.
//! - snapd makes `$SNAP_DATA` (`/var/snap/charmed-zookeeper/<rev>`) and `$SNAP_COMMON`
//!   (`.../common`), root's, 0755, and the `current` links.
//! - the install hook makes `$SNAP_DATA/etc/zookeeper`, `$SNAP_COMMON/var/log/zookeeper`
//!   and `$SNAP_COMMON/var/lib/zookeeper`, copies `$SNAP/etc/zookeeper/*` into the first,
//!   then `chmod -R 770` and `chown -R snap_daemon` (the user only) everything under
//!   `$SNAP_DATA` and `$SNAP_COMMON` (through the `data` storage mounted there, if any).

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use super::SnapError;

/// The snap's name.
pub const NAME: &str = "charmed-zookeeper";
/// Its publisher, as `snap list` shows it.
pub const PUBLISHER: &str = "dataplatformbot";
/// The revisions the fake store has (the one the charm pins).
pub const REVISIONS: [u32; 1] = [40];
/// The snap's apps that are services (`daemon: simple`, `install-mode: disable`).
pub const SERVICES: [&str; 1] = ["daemon"];
/// The `snap_daemon` user the snap's hook and launcher use (`system-usernames`).
pub const SNAP_DAEMON: u32 = 584788;
/// Debian's jars the emulated `$SNAP/opt/zookeeper/lib` links to. `zookeeper.jar`'s
/// manifest names its other dependencies, but not `netty-codec` and `netty-resolver`, which
/// its Netty connection factory needs for TLS (without them the secure port binds and every
/// TLS connection dies with `ClassNotFoundException: io.netty.handler.codec.ByteToMessageDecoder`);
/// the snap ships the whole Apache distribution, which has them.
pub const JARS: [&str; 4] = [
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-simple.jar",
    "/usr/share/java/netty-codec.jar",
    "/usr/share/java/netty-resolver.jar",
];
/// The host's JRE the emulated snap ships as its own.
pub const HOST_JRE: &str = "/usr/lib/jvm/default-java";

/// The JRE's directory name in `$SNAP/usr/lib/jvm`: the host JRE's own
/// (`java-17-openjdk-amd64`), `default-java` when it is not a link.
pub fn jre_name() -> String {
    fs::canonicalize(HOST_JRE)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "default-java".to_string())
}

/// Where the snap mounts and keeps its data, as the units see it.
pub const SNAP_MOUNT: &str = "/snap/charmed-zookeeper";
pub const SNAP_DATA_ROOT: &str = "/var/snap/charmed-zookeeper";

/// `$SNAP` of `revision`.
pub fn snap_dir(revision: u32) -> PathBuf {
    Path::new(SNAP_MOUNT).join(revision.to_string())
}

/// `$SNAP_DATA` of `revision`.
pub fn snap_data(revision: u32) -> PathBuf {
    Path::new(SNAP_DATA_ROOT).join(revision.to_string())
}

/// `$SNAP_COMMON`.
pub fn snap_common() -> PathBuf {
    Path::new(SNAP_DATA_ROOT).join("common")
}

/// The version the snap reports: Debian's ZooKeeper version (from its versioned jar
/// link, `zookeeper-3.8.0.jar -> zookeeper.jar`), since that is what it runs.
pub fn version() -> String {
    let dir = Path::new("/usr/share/java");
    let real = fs::canonicalize(dir.join("zookeeper.jar")).ok();
    let mut found: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let v = name.strip_prefix("zookeeper-")?.strip_suffix(".jar")?;
                    let numeric = v.starts_with(|c: char| c.is_ascii_digit());
                    (numeric && fs::canonicalize(e.path()).ok() == real).then(|| v.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| "3.8.0".to_string())
}

/// The logging config the emulated snap ships in `$SNAP/etc/zookeeper` (in place of the
/// snap's `logback.xml`): the server logs to its stdout, which the launcher appends to
/// `$SNAP_COMMON/var/log/zookeeper/zookeeper.log` (the SLF4J simple binding would truncate
/// a log file at every start; logback's file appender appends).
fn logging_config() -> String {
    "org.slf4j.simpleLogger.logFile=System.out\n\
     org.slf4j.simpleLogger.showDateTime=true\n\
     org.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss,SSS\n\
     org.slf4j.simpleLogger.defaultLogLevel=info\n"
        .to_string()
}

fn io<'a>(what: &str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SnapError + 'a {
    let what = what.to_string();
    move |e| SnapError::Failed(format!("cannot {what} {}: {e}", path.display()))
}

fn dir(path: &Path, mode: u32) -> Result<(), SnapError> {
    fs::create_dir_all(path).map_err(io("create", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io("chmod", path))
}

/// Replaces the link `path` with one to `target`.
fn link(target: &str, path: &Path) -> Result<(), SnapError> {
    let _ = fs::remove_file(path);
    symlink(target, path).map_err(io("link", path))
}

/// Installs `revision`: `$SNAP` through `snap_mount_host` (the machine's `/snap` as the
/// model sees it: it is read-only in the unit's namespace), snapd's data directories and
/// the install hook through the unit's own paths.
pub fn install(revision: u32, snap_mount_host: &Path) -> Result<(), SnapError> {
    let rev = revision.to_string();
    let mount = snap_mount_host.join(NAME);
    let snap = mount.join(&rev);
    dir(&snap, 0o755)?;
    let lib = snap.join("opt/zookeeper/lib");
    dir(&lib, 0o755)?;
    for jar in JARS {
        let name = Path::new(jar).file_name().unwrap_or_default();
        link(jar, &lib.join(name))?;
    }
    let jvm = snap.join("usr/lib/jvm");
    dir(&jvm, 0o755)?;
    link(HOST_JRE, &jvm.join(jre_name()))?;
    let etc = snap.join("etc/zookeeper");
    dir(&etc, 0o755)?;
    let props = etc.join("simplelogger.properties");
    fs::write(&props, logging_config()).map_err(io("write", &props))?;
    let meta = snap.join("meta");
    dir(&meta, 0o755)?;
    let yaml = format!(
        "name: {NAME}\nversion: '{}'\nconfinement: strict\nsystem-usernames:\n  snap_daemon: shared\n\
         apps:\n  daemon:\n    command: opt/zookeeper/bin/with_config.sh bin/zkServer.sh start-foreground\n    \
         daemon: simple\n    install-mode: disable\n",
        version()
    );
    fs::write(meta.join("snap.yaml"), yaml).map_err(io("write", &meta))?;
    link(&rev, &mount.join("current"))?;

    let data = snap_data(revision);
    let common = snap_common();
    dir(&data, 0o755)?;
    dir(&common, 0o755)?;
    link(&rev, &Path::new(SNAP_DATA_ROOT).join("current"))?;
    install_hook(&snap_dir(revision), &data, &common)
}

/// The snap's install hook (see the module docs), in the unit's namespace.
fn install_hook(snap: &Path, data: &Path, common: &Path) -> Result<(), SnapError> {
    let conf = data.join("etc/zookeeper");
    for d in [
        conf.clone(),
        common.join("var/log/zookeeper"),
        common.join("var/lib/zookeeper"),
    ] {
        fs::create_dir_all(&d).map_err(io("create", &d))?;
    }
    let defaults = snap.join("etc/zookeeper");
    for entry in fs::read_dir(&defaults)
        .map_err(io("read", &defaults))?
        .flatten()
    {
        let to = conf.join(entry.file_name());
        fs::copy(entry.path(), &to).map_err(io("copy to", &to))?;
    }
    for top in [data, common] {
        for entry in fs::read_dir(top).map_err(io("read", top))?.flatten() {
            chmod_chown_r(&entry.path())?;
        }
    }
    Ok(())
}

/// `chmod -R 770` then `chown -R snap_daemon` of `path`: links are not followed (their own
/// owner changes), mount points are crossed.
fn chmod_chown_r(path: &Path) -> Result<(), SnapError> {
    let meta = fs::symlink_metadata(path).map_err(io("stat", path))?;
    if !meta.file_type().is_symlink() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o770)).map_err(io("chmod", path))?;
    }
    std::os::unix::fs::lchown(path, Some(SNAP_DAEMON), None).map_err(io("chown", path))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(io("read", path))?.flatten() {
            chmod_chown_r(&entry.path())?;
        }
    }
    Ok(())
}
