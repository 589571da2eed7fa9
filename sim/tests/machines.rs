//! Each unit on its own machine: private paths through a mount namespace, storage attached
//! and detached the Juju way, and the `snap` command with the charmed-zookeeper snap, whose
//! service runs real ZooKeeper as uid 584788. These run as root, as the model does.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{charm_with, options, order, read, METADATA};
use zk_sim::{Model, ModelOptions, RunOutcome, SettleLimits};

const STORAGE: &str =
    "storage:\n  data:\n    type: filesystem\n    location: /var/snap/tiny/common/data\n";

fn metadata_with_storage() -> String {
    format!("{METADATA}{STORAGE}")
}

fn isolated(c: &common::TestCharm, seed: u64) -> Model {
    Model::create_with(
        c.tmp.path().join(format!("model-{seed}")),
        &c.charm,
        seed,
        ModelOptions {
            isolated_addresses: true,
            ..options()
        },
    )
    .unwrap()
}

#[test]
fn storage_attaches_root_owned_before_install_and_detaches_first_at_removal() {
    let c = charm_with(
        &metadata_with_storage(),
        r#"
N=$(echo "$U" | tr / -)
case "$H" in
  data-storage-attached)
    env | grep '^JUJU_STORAGE' | sort > "$CTL/env-$N-attached"
    stat -c '%u:%g %a' "$JUJU_STORAGE_LOCATION" > "$CTL/mount-$N"
    storage-get location > "$CTL/get-location-$N"
    storage-get --format=json > "$CTL/get-json-$N"
    storage-list > "$CTL/list-$N"
    storage-list --format=json data > "$CTL/list-json-$N"
    ;;
  install)
    echo "written by $U" > /var/snap/tiny/common/data/mine
    if storage-get location 2> "$CTL/get-err-$N"; then exit 1; fi
    storage-get -s "$(storage-list)" kind > "$CTL/get-s-$N"
    ;;
  data-storage-detaching)
    cat /var/snap/tiny/common/data/mine > "$CTL/detaching-$N"
    ;;
esac
"#,
    );
    let mut m = isolated(&c, 41);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let first_two = |unit: &str| -> Vec<String> {
        order(&m.hook_log().unwrap())
            .into_iter()
            .filter(|(u, _, _)| u == unit)
            .map(|(_, h, _)| h)
            .take(2)
            .collect()
    };
    assert_eq!(first_two("tiny/1"), ["data-storage-attached", "install"]);
    let ctl = &c.ctl;
    assert_eq!(
        read(&ctl.join("env-tiny-1-attached")),
        "JUJU_STORAGE_ID=data/1\nJUJU_STORAGE_KIND=filesystem\nJUJU_STORAGE_LOCATION=/var/snap/tiny/common/data\n"
    );
    assert_eq!(read(&ctl.join("mount-tiny-0")), "0:0 755\n");
    assert_eq!(
        read(&ctl.join("get-location-tiny-0")),
        "/var/snap/tiny/common/data\n"
    );
    assert_eq!(
        read(&ctl.join("get-json-tiny-0")),
        "{\"kind\":\"filesystem\",\"location\":\"/var/snap/tiny/common/data\"}\n"
    );
    assert_eq!(read(&ctl.join("list-tiny-1")), "data/1\n");
    assert_eq!(read(&ctl.join("list-json-tiny-1")), "[\"data/1\"]\n");
    assert_eq!(
        read(&ctl.join("get-err-tiny-0")),
        "ERROR no storage instance specified\n"
    );
    assert_eq!(read(&ctl.join("get-s-tiny-0")), "filesystem\n");
    // Each unit's storage is its own directory in the model.
    assert_eq!(
        read(&m.dir().join("storage/data-1/mine")),
        "written by tiny/1\n"
    );

    m.remove_unit("tiny/1").unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let teardown: Vec<String> = order(&m.hook_log().unwrap())
        .into_iter()
        .filter(|(u, h, _)| {
            u == "tiny/1"
                && (h.contains("detaching")
                    || h.ends_with("departed")
                    || h == "stop"
                    || h == "remove")
        })
        .map(|(_, h, _)| h)
        .collect();
    assert_eq!(
        teardown,
        [
            "data-storage-detaching",
            "cluster-relation-departed",
            "stop",
            "remove"
        ]
    );
    assert_eq!(read(&ctl.join("detaching-tiny-1")), "written by tiny/1\n");
    assert!(m
        .hook_log()
        .unwrap()
        .iter()
        .all(|r| r.outcome == RunOutcome::Ok));
}

#[test]
fn units_on_one_host_share_no_machine_path() {
    let host_env = fs::read_to_string("/etc/environment").unwrap_or_default();
    let c = charm_with(
        METADATA,
        r#"
N=$(echo "$U" | tr / -)
case "$H" in
  install)
    echo "$U" > /var/snap/whose
    # Replaced by rename, as a charm writes it atomically: a plain file, not a mount point.
    { cat /etc/environment; echo "OWNER=$U"; } > /etc/.environment.new
    mv /etc/.environment.new /etc/environment
    mkdir -p /var/lib/zookeeper-charm/x && echo "$U" > /var/lib/zookeeper-charm/x/state
    echo "$U" > /var/lib/snapd/whose
    if touch /snap/x 2> /dev/null; then echo writable > "$CTL/snap-$N"; else echo read-only > "$CTL/snap-$N"; fi
    ;;
  start)
    { cat /var/snap/whose; grep OWNER /etc/environment; cat /var/lib/zookeeper-charm/x/state; cat /var/lib/snapd/whose; } > "$CTL/seen-$N"
    ;;
esac
"#,
    );
    let mut m = isolated(&c, 42);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    for u in ["tiny/0", "tiny/1"] {
        assert_eq!(
            read(&c.ctl.join(format!("seen-{}", u.replace('/', "-")))),
            format!("{u}\nOWNER={u}\n{u}\n{u}\n"),
            "{u} sees only its own machine"
        );
        assert_eq!(
            read(&c.ctl.join(format!("snap-{}", u.replace('/', "-")))),
            "read-only\n"
        );
        let machine = m.machine(u).unwrap();
        assert_eq!(
            read(&machine.host_path(Path::new("/var/snap/whose")).unwrap()),
            format!("{u}\n")
        );
        // A fresh machine's /etc/environment, plus what the hook appended.
        let env = read(&machine.host_path(Path::new("/etc/environment")).unwrap());
        assert!(env.starts_with("PATH=\"/usr/local/sbin:"), "{env}");
        assert!(env.ends_with(&format!("OWNER={u}\n")), "{env}");
    }
    assert_eq!(
        fs::read_to_string("/etc/environment").unwrap_or_default(),
        host_env
    );
    assert!(!Path::new("/var/snap/whose").exists());
}

#[test]
fn each_machine_has_its_own_memory_and_a_tmpfs_storage_of_the_size_asked() {
    let c = charm_with(
        &metadata_with_storage(),
        r#"
N=$(echo "$U" | tr / -)
grep -E '^(MemTotal|SwapTotal):' /proc/meminfo > "$CTL/mem-$N-$H"
case "$H" in
  install)
    df -k --output=fstype,size /var/snap/tiny/common/data | tail -1 > "$CTL/df-$N"
    head -c 300000 /dev/zero > /var/snap/tiny/common/data/fill
    ;;
esac
"#,
    );
    let mut m = isolated(&c, 43);
    let app = m.app_name().unwrap();
    assert!(m.set_storage(&app, "data", "tmpfs,8M").is_ok());
    assert!(
        m.set_storage(&app, "logs", "tmpfs,8M").is_err(),
        "no such storage"
    );
    assert!(
        m.set_storage(&app, "data", "ebs,8M").is_err(),
        "no such pool"
    );
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    for n in ["tiny-0", "tiny-1"] {
        assert_eq!(
            read(&c.ctl.join(format!("mem-{n}-install"))),
            "MemTotal:        1048576 kB\nSwapTotal:             0 kB\n",
            "a new machine has 1 GiB and no swap"
        );
        let df = read(&c.ctl.join(format!("df-{n}")));
        assert_eq!(df.split_whitespace().collect::<Vec<_>>(), ["tmpfs", "8192"]);
    }
    // Each storage is a filesystem of its own, in the model until it is destroyed.
    let state = m.state().unwrap();
    let dirs: Vec<_> = state.storage.values().map(|s| s.dir.clone()).collect();
    assert_eq!(dirs.len(), 2);
    assert!(state.storage.values().all(|s| s.tmpfs_mib == Some(8)));
    assert_ne!(
        fs::metadata(&dirs[0]).unwrap().dev(),
        fs::metadata(&dirs[1]).unwrap().dev()
    );
    assert_eq!(fs::metadata(dirs[0].join("fill")).unwrap().len(), 300000);
    // One machine gets more memory and some swap: its next hook sees them, not the other's.
    m.set_machine_memory("tiny/1", 4096, 512).unwrap();
    m.set_config(&[("tick-time", "3000")]).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    assert_eq!(
        read(&c.ctl.join("mem-tiny-1-config-changed")),
        "MemTotal:        4194304 kB\nSwapTotal:        524288 kB\n"
    );
    assert_eq!(
        read(&c.ctl.join("mem-tiny-0-config-changed")),
        "MemTotal:        1048576 kB\nSwapTotal:             0 kB\n"
    );
    m.destroy().unwrap();
    for d in &dirs {
        assert!(!d.exists(), "{} unmounted and removed", d.display());
    }
}

/// A unit's `zoo.cfg` for a standalone server on its own address, and a data dir the
/// server's user owns.
const STANDALONE: &str = r#"
ADDR=$(unit-get private-address)
CONF=/var/snap/charmed-zookeeper/current/etc/zookeeper
DATA=/var/snap/charmed-zookeeper/common/var/lib/zookeeper/data
mkdir -p "$DATA" && chown 584788:0 "$DATA"
printf 'tickTime=2000\ndataDir=%s\nclientPort=2181\nclientPortAddress=%s\nadmin.enableServer=false\n4lw.commands.whitelist=srvr\n' "$DATA" "$ADDR" > "$CONF/zoo.cfg"
"#;

#[test]
fn the_snap_installs_as_the_published_one_and_runs_zookeeper_as_snap_daemon_in_the_units_namespace()
{
    let c = charm_with(
        METADATA,
        &format!(
            r#"
N=$(echo "$U" | tr / -)
case "$H" in
  install)
    if snap list charmed-zookeeper 2> "$CTL/list-before-$N"; then exit 1; fi
    if snap install nope 2> "$CTL/install-nope-$N"; then exit 1; fi
    snap install charmed-zookeeper --revision 40 > "$CTL/install-$N"
    snap install charmed-zookeeper --revision 40 2> "$CTL/install-again-$N"
    snap refresh --hold charmed-zookeeper > "$CTL/hold-$N"
    snap refresh charmed-zookeeper --revision 40 2> "$CTL/refresh-$N"
    snap list charmed-zookeeper > "$CTL/list-$N"
    for p in /snap/charmed-zookeeper/current /var/snap/charmed-zookeeper/current/etc/zookeeper \
             /var/snap/charmed-zookeeper/common /var/snap/charmed-zookeeper/common/var/lib/zookeeper \
             /var/snap/charmed-zookeeper/common/var/log/zookeeper; do
      stat -L -c "$p %u:%g %a" "$p"
    done > "$CTL/layout-$N"
    ;;
  start)
    {STANDALONE}
    snap start charmed-zookeeper.daemon > "$CTL/start-$N"
    snap services charmed-zookeeper.daemon > "$CTL/services-$N"
    # The hook's /etc is still the unit's after the service started.
    {{ cat /etc/environment; echo "AFTER_START=$U"; }} > /etc/.environment.new
    mv /etc/.environment.new /etc/environment
    ;;
esac
"#
        ),
    );
    let host_env = fs::read_to_string("/etc/environment").unwrap_or_default();
    let mut m = isolated(&c, 43);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    assert!(
        m.hook_log()
            .unwrap()
            .iter()
            .all(|r| r.outcome == RunOutcome::Ok),
        "{:?}",
        m.debug_log(None, Some(40)).unwrap()
    );
    let ctl = |name: &str| read(&c.ctl.join(name));
    assert_eq!(
        ctl("list-before-tiny-0"),
        "error: no matching snaps installed\n"
    );
    assert_eq!(
        ctl("install-nope-tiny-0"),
        "error: snap \"nope\" not found\n"
    );
    assert!(
        ctl("install-tiny-0").starts_with("charmed-zookeeper 3.")
            && ctl("install-tiny-0").ends_with(" from dataplatformbot installed\n"),
        "{}",
        ctl("install-tiny-0")
    );
    assert_eq!(
        ctl("install-again-tiny-0"),
        "snap \"charmed-zookeeper\" is already installed, see 'snap help refresh'\n"
    );
    assert_eq!(
        ctl("hold-tiny-0"),
        "General refreshes of \"charmed-zookeeper\" held indefinitely\n"
    );
    assert_eq!(
        ctl("refresh-tiny-0"),
        "snap \"charmed-zookeeper\" has no updates available\n"
    );
    let list = ctl("list-tiny-0");
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["Name", "Version", "Rev", "Tracking", "Publisher", "Notes"]
    );
    assert_eq!(rows[1][0], "charmed-zookeeper");
    assert_eq!(
        rows[1][2..],
        ["40", "latest/stable", "dataplatformbot", "held"]
    );
    // snapd's directories are root's; the install hook's are snap_daemon's, 0770.
    assert_eq!(
        ctl("layout-tiny-0"),
        "/snap/charmed-zookeeper/current 0:0 755\n\
         /var/snap/charmed-zookeeper/current/etc/zookeeper 584788:0 770\n\
         /var/snap/charmed-zookeeper/common 0:0 755\n\
         /var/snap/charmed-zookeeper/common/var/lib/zookeeper 584788:0 770\n\
         /var/snap/charmed-zookeeper/common/var/log/zookeeper 584788:0 770\n"
    );
    assert_eq!(ctl("start-tiny-0"), "Started.\n");
    assert_eq!(
        ctl("services-tiny-0"),
        "Service                   Startup   Current  Notes\n\
         charmed-zookeeper.daemon  disabled  active   -\n"
    );

    assert_eq!(
        fs::read_to_string("/etc/environment").unwrap_or_default(),
        host_env
    );
    let env0 = read(
        &m.machine("tiny/0")
            .unwrap()
            .host_path(Path::new("/etc/environment"))
            .unwrap(),
    );
    assert!(env0.ends_with("AFTER_START=tiny/0\n"), "{env0}");

    let servers: Vec<_> = ["tiny/0", "tiny/1"]
        .iter()
        .map(|u| m.server(u).unwrap().expect("the unit's server runs"))
        .collect();
    for (p, u) in servers.iter().zip(["tiny/0", "tiny/1"]) {
        let status = fs::read_to_string(format!("/proc/{}/status", p.pid)).unwrap();
        let ids = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .unwrap()
        };
        assert_eq!(ids("Uid:"), ["584788"; 4], "{u}");
        assert_eq!(ids("Gid:"), ["584788"; 4], "{u}");
        assert_eq!(ids("Groups:"), Vec::<String>::new(), "{u}");
        // It kept the namespace of the hook that started it: its /var/snap is the unit's.
        let own = fs::metadata(format!(
            "/proc/{}/root/var/snap/charmed-zookeeper/common",
            p.pid
        ))
        .unwrap();
        let machine = m.machine(u).unwrap();
        let expected = fs::metadata(
            machine
                .host_path(Path::new("/var/snap/charmed-zookeeper/common"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (own.dev(), own.ino()),
            (expected.dev(), expected.ino()),
            "{u}"
        );
        let cmdline = fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(
            cmdline.contains("org.apache.zookeeper.server.quorum.QuorumPeerMain /var/snap/charmed-zookeeper/40/etc/zookeeper/zoo.cfg"),
            "{cmdline}"
        );
        assert!(
            cmdline.contains("-Xmx128m") && cmdline.contains("-XX:+UseSerialGC"),
            "{cmdline}"
        );
    }
    let addr = m
        .status()
        .unwrap()
        .into_iter()
        .find(|s| s.unit == "tiny/0")
        .unwrap()
        .address;
    let deadline = Instant::now() + Duration::from_secs(30);
    while zk_sim::zk_role(&addr).is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(zk_sim::zk_role(&addr).as_deref(), Some("standalone"));
    let log = m.machine("tiny/0").unwrap().host_path(Path::new(
        "/var/snap/charmed-zookeeper/common/var/log/zookeeper/zookeeper.log",
    ));
    assert!(
        read(&log.unwrap()).contains("binding to port"),
        "the server logs to the snap's log"
    );

    m.remove_unit("tiny/1").unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let gone = |p: &zk_sim::snap::state::ServiceProcess| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while p.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        !p.alive()
    };
    assert!(gone(&servers[1]), "the removed unit's server was stopped");
    assert!(servers[0].alive());
    drop(m);
    assert!(gone(&servers[0]), "dropping the model stopped the rest");
}

#[test]
fn a_refresh_fault_fails_once_and_a_stopped_service_is_inactive() {
    let c = charm_with(
        METADATA,
        &format!(
            r#"
N=$(echo "$U" | tr / -)
case "$H" in
  install) snap install charmed-zookeeper ;;
  start)
    {STANDALONE}
    snap start charmed-zookeeper.daemon
    snap stop charmed-zookeeper.daemon > "$CTL/stop"
    snap services > "$CTL/services"
    ;;
  config-changed)
    if [ -e "$CTL/fault" ]; then
      if snap refresh charmed-zookeeper --revision 40 2> "$CTL/refresh-1"; then exit 1; fi
      snap refresh charmed-zookeeper --revision 40 2> "$CTL/refresh-2"
    fi
    ;;
esac
"#
        ),
    );
    let mut m = isolated(&c, 44);
    m.deploy(1).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    assert_eq!(read(&c.ctl.join("stop")), "Stopped.\n");
    assert_eq!(
        read(&c.ctl.join("services")),
        "Service                   Startup   Current   Notes\n\
         charmed-zookeeper.daemon  disabled  inactive  -\n"
    );
    assert_eq!(m.server("tiny/0").unwrap(), None);
    fs::write(c.ctl.join("fault"), "").unwrap();
    m.fail_next_snap_refresh("tiny/0").unwrap();
    m.set_config(&[("tick-time", "2500")]).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    assert_eq!(
        read(&c.ctl.join("refresh-1")),
        "error: cannot refresh \"charmed-zookeeper\": download failed (fault injected by zk-sim)\n"
    );
    assert_eq!(
        read(&c.ctl.join("refresh-2")),
        "snap \"charmed-zookeeper\" has no updates available\n"
    );
}

#[test]
fn a_subordinate_lives_on_its_principals_machine_and_every_other_application_on_its_own() {
    let metadata = format!(
        "{}{STORAGE}",
        common::PROVIDER.replace("name: prov", "name: tiny")
    );
    let c = charm_with(
        &metadata,
        &format!(
            r#"
case "$H" in
  install)
    echo "$U" > /var/snap/whose
    echo "data of $U" > /var/snap/tiny/common/data/mine
    snap install charmed-zookeeper --revision 40 > /dev/null
    ;;
  start)
    {STANDALONE}
    snap start charmed-zookeeper.daemon > /dev/null
    ;;
esac
"#
        ),
    );
    let mut m = isolated(&c, 44);
    m.deploy(1).unwrap();
    m.deploy_stub(
        "agent",
        &zk_sim::StubSpec::new().subordinate_to("cos", "cos_agent"),
        0,
    )
    .unwrap();
    m.deploy_stub(
        "client",
        &zk_sim::StubSpec::new().requires("db", "pgsql"),
        1,
    )
    .unwrap();
    m.integrate("tiny", "agent").unwrap();
    m.integrate("tiny", "client").unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let sub = m
        .status()
        .unwrap()
        .into_iter()
        .find(|u| u.principal.as_deref() == Some("tiny/0"))
        .expect("the subordinate")
        .unit;
    let server = m
        .server("tiny/0")
        .unwrap()
        .expect("tiny/0's snap runs ZooKeeper");

    // The subordinate sees its principal's machine: its paths, its storage, its snap.
    let on = |m: &mut Model, unit: &str, argv: &[&str]| m.exec(unit, argv).unwrap();
    assert_eq!(
        on(&mut m, &sub, &["cat", "/var/snap/whose"]).stdout,
        "tiny/0\n"
    );
    assert_eq!(
        on(&mut m, &sub, &["cat", "/var/snap/tiny/common/data/mine"]).stdout,
        "data of tiny/0\n"
    );
    assert_eq!(
        on(&mut m, &sub, &["printenv", "SIM_MACHINE"]).stdout,
        on(&mut m, "tiny/0", &["printenv", "SIM_MACHINE"]).stdout
    );
    assert!(on(&mut m, &sub, &["snap", "services"])
        .stdout
        .contains("charmed-zookeeper.daemon"));
    assert_eq!(m.machine(&sub).unwrap(), m.machine("tiny/0").unwrap());

    // Another application's unit (a stub, acted for through exec) has a machine of its own.
    let r = on(&mut m, "client/0", &["cat", "/var/snap/whose"]);
    assert_ne!(r.code, Some(0), "{r:?}");
    assert!(on(
        &mut m,
        "client/0",
        &["sh", "-c", "echo client/0 > /var/snap/whose"]
    )
    .success());
    assert_eq!(
        on(&mut m, "tiny/0", &["cat", "/var/snap/whose"]).stdout,
        "tiny/0\n"
    );
    assert_ne!(m.machine("client/0").unwrap(), m.machine("tiny/0").unwrap());

    // The subordinate goes (with the relation); its principal's machine keeps its server.
    m.remove_relation("tiny", Some("agent")).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    assert!(m.status().unwrap().iter().all(|u| u.unit != sub));
    assert_eq!(m.server("tiny/0").unwrap(), Some(server));
    m.destroy().unwrap();
}
