//! The snap workload's files against a hostile workload user: links planted by uid 584788
//! (`snap_daemon`, what a compromised ZooKeeper runs as) in the directories it may write,
//! then every write the charm makes as root. No root-owned file outside may change: not its
//! content, owner or mode.
//!
//! Runs as root (it chowns, and plants the links through `setpriv` as 584788), like the
//! local model; it fails with that reason otherwise.

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use zookeeper_charm::workload::snap::{Layout, ProcessRunner, SnapWorkload, SNAP_DAEMON_UID};
use zookeeper_charm::workload::Workload;

fn require_root() {
    // SAFETY: geteuid(2) has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test plants links as uid {SNAP_DAEMON_UID} and checks root-owned files: run it as root"
    );
}

/// Runs `script` under `/bin/sh` as uid and gid 584788, with no supplementary groups.
fn as_snap_daemon(script: &str) {
    let id = SNAP_DAEMON_UID.to_string();
    let out = Command::new("setpriv")
        .args(["--reuid", &id, "--regid", &id, "--clear-groups", "--"])
        .args(["/bin/sh", "-c", script])
        .output()
        .expect("setpriv runs (util-linux)");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn chown(path: &Path, uid: u32, mode: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(0)).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A root-owned file and what it must stay.
struct Victim {
    path: PathBuf,
    content: &'static str,
}

impl Victim {
    fn new(dir: &Path, name: &str) -> Victim {
        let content = "ROOT-OWNED ORIGINAL\n";
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        chown(&path, 0, 0o644);
        Victim { path, content }
    }

    fn assert_untouched(&self) {
        let meta = fs::symlink_metadata(&self.path).unwrap();
        assert_eq!(fs::read_to_string(&self.path).unwrap(), self.content);
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{}", self.path.display());
        assert_eq!(meta.mode() & 0o7777, 0o644, "{}", self.path.display());
    }
}

#[test]
fn links_planted_by_the_workload_user_never_make_root_write_or_chown_a_root_file() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    chown(root, 0, 0o755);
    let outside = root.join("outside");
    fs::create_dir(&outside).unwrap();
    chown(&outside, 0, 0o755);
    let victims: Vec<Victim> = ["conf-victim", "data-victim", "state-victim", "env-victim"]
        .iter()
        .map(|n| Victim::new(&outside, n))
        .collect();
    let victim_dir = outside.join("victim-dir");
    fs::create_dir(&victim_dir).unwrap();
    chown(&victim_dir, 0, 0o755);

    // The snap as its install hook leaves it: $SNAP_DATA/etc/zookeeper and $SNAP_COMMON/*
    // 0770 snap_daemon; `current` a root link; the data storage mounted (root-owned) and
    // then swept by the hook's `chown -R snap_daemon` too.
    let layout = Layout {
        snap_mount: root.join("snap"),
        data_root: root.join("var-snap"),
        environment_file: root.join("etc/environment"),
        state_root: root.join("var-lib-zookeeper-charm"),
    };
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(layout.data_root.join("40/etc/zookeeper")).unwrap();
    symlink("40", layout.data_root.join("current")).unwrap();
    let storage = layout.storage();
    fs::create_dir_all(&storage).unwrap();
    fs::create_dir_all(layout.data_root.join("common/var/log/zookeeper")).unwrap();
    for d in [
        "var-snap/40/etc",
        "var-snap/40/etc/zookeeper",
        "var-snap/common/var",
        "var-snap/common/var/lib",
        "var-snap/common/var/lib/zookeeper",
        "var-snap/common/var/log",
        "var-snap/common/var/log/zookeeper",
    ] {
        chown(&root.join(d), SNAP_DAEMON_UID, 0o770);
    }
    let state = layout.state_dir(Some("model-uuid"), "zookeeper/0");
    let w = SnapWorkload::with_parts(
        Box::new(ProcessRunner),
        layout.clone(),
        state,
        Some((SNAP_DAEMON_UID, 0)),
    );
    let p = w.paths().clone();

    // What an attacker running as snap_daemon plants: the temp names earlier revisions
    // used (`.<name>.tmp.<pid>`) for every pid up to 512, links at the targets, and a link
    // where the data directory goes.
    let conf = p.conf_dir.display();
    let victim = victims[0].path.display();
    let data_victim = victims[1].path.display();
    as_snap_daemon(&format!(
        "cd {conf} && for n in zoo.cfg zookeeper-jaas.cfg client-jaas.cfg zoo.cfg.dynamic; do \
           i=1; while [ $i -le 512 ]; do ln -s {victim} .$n.tmp.$i; i=$((i+1)); done; \
         done && ln -s {victim} zoo.cfg && ln -s {victim} zookeeper-jaas.cfg && \
         ln -s {victim} jmx_prometheus.yaml && \
         cd {log} && ln -s {victim} charm.log && ln -s {victim} charm.log.1 && \
         cd {storage} && ln -s {vdir} data && ln -s {data_victim} data-log",
        storage = storage.display(),
        log = p.log_dir.display(),
        vdir = victim_dir.display(),
    ));

    // Every write the charm makes before a start, as root.
    assert!(
        w.prepare_data_dirs().is_err(),
        "a link where the data directory goes is refused"
    );
    w.write_file(&p.zoo_cfg(), b"tickTime=2000\n", 0o600)
        .unwrap();
    w.write_file(&p.jaas(), b"secret\n", 0o600).unwrap();
    w.write_file(&p.client_jaas(), b"secret\n", 0o600).unwrap();
    assert!(w.write_file(&p.myid(), b"1\n", 0o640).is_err());
    w.write_file(&p.charm_state_dir.join("status"), b"active\n", 0o600)
        .unwrap();
    w.set_jvm_flags(&["-Dx=y".into()]).unwrap();
    w.write_file(
        &p.conf_dir.join("jmx_prometheus.yaml"),
        b"rules: []\n",
        0o640,
    )
    .unwrap();
    // The charm's log (after every hook): a link at its name is not written through, nor
    // is one at the rotated name once it rotates.
    assert!(w.append_line(&p.charm_log(), "hook=x", 1 << 20).is_err());
    fs::remove_file(p.charm_log()).unwrap();
    w.append_line(&p.charm_log(), "hook=x", 1 << 20).unwrap();
    w.append_line(&p.charm_log(), "hook=y", 1).unwrap();
    assert_eq!(
        fs::read_to_string(p.log_dir.join("charm.log.1")).unwrap(),
        "hook=x\n"
    );
    let log = fs::symlink_metadata(p.charm_log()).unwrap();
    assert!(log.file_type().is_file());
    assert_eq!((log.uid(), log.mode() & 0o777), (0, 0o640));

    for v in &victims {
        v.assert_untouched();
    }
    let vdir = fs::metadata(&victim_dir).unwrap();
    assert_eq!((vdir.uid(), vdir.mode() & 0o7777), (0, 0o755));
    assert_eq!(fs::read_dir(&victim_dir).unwrap().count(), 0);
    // The charm's files are real files, the server's owned by it, the state root's.
    let zoo = fs::symlink_metadata(p.zoo_cfg()).unwrap();
    assert!(zoo.file_type().is_file());
    assert_eq!((zoo.uid(), zoo.mode() & 0o777), (SNAP_DAEMON_UID, 0o600));
    let status = fs::metadata(p.charm_state_dir.join("status")).unwrap();
    assert_eq!((status.uid(), status.mode() & 0o777), (0, 0o600));
    let state_dir = fs::metadata(&p.charm_state_dir).unwrap();
    assert_eq!((state_dir.uid(), state_dir.mode() & 0o777), (0, 0o700));
    // The planted temp names were cleaned up with the writes of their files.
    let leftovers = fs::read_dir(&p.conf_dir)
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            let n = n.to_string_lossy();
            n.starts_with(".zoo.cfg.tmp.") || n.starts_with(".zookeeper-jaas.cfg.tmp.")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn the_data_storage_becomes_the_servers_with_mode_0750_and_stays_so_before_each_start() {
    require_root();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    chown(root, 0, 0o755);
    let layout = Layout {
        snap_mount: root.join("snap"),
        data_root: root.join("var-snap"),
        environment_file: root.join("environment"),
        state_root: root.join("state"),
    };
    // Juju mounts the storage root-owned before the snap is installed.
    let storage = layout.storage();
    fs::create_dir_all(&storage).unwrap();
    chown(&storage, 0, 0o755);
    let w = SnapWorkload::with_parts(
        Box::new(ProcessRunner),
        layout.clone(),
        root.join("state/m/u"),
        Some((SNAP_DAEMON_UID, 0)),
    );
    w.prepare_data_dirs().unwrap();
    let check = |path: &Path| {
        let m = fs::metadata(path).unwrap();
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o7777),
            (SNAP_DAEMON_UID, 0, 0o750),
            "{}",
            path.display()
        );
    };
    for d in [&storage, &w.paths().data_dir, &w.paths().data_log_dir] {
        check(d);
    }
    // The snap's install hook (`chmod -R 770`), or an operator, changes them: the next
    // start puts them back.
    chown(&w.paths().data_dir, 0, 0o777);
    chown(&storage, SNAP_DAEMON_UID, 0o770);
    w.prepare_data_dirs().unwrap();
    for d in [&storage, &w.paths().data_dir, &w.paths().data_log_dir] {
        check(d);
    }
}
