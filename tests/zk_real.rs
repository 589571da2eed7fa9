//! Against REAL ZooKeeper (Debian's 3.8 jars on loopback): 4lw health, dynamic reconfig as
//! `super` over SASL, what goes on the wire, and the local workload's process handling.
//! Address ranges: 127.0.0.101-103, .111-114, .121 and .131 (see `testkit::ensemble`).

use std::path::Path;
use std::time::Duration;

use testkit::ensemble::{Ensemble, SUPER_PASSWORD};
use zookeeper_charm::workload::Workload;
use zookeeper_charm::zk::admin::{Admin, Auth};
use zookeeper_charm::zk::four::{self, Mode};
use zookeeper_charm::zk::ZkError;

#[test]
fn three_servers_serve_with_one_leader_two_synced_followers_and_refuse_reconfig_without_the_password(
) {
    let ens = Ensemble::start(3, 100);

    let modes = ens.modes();
    assert_eq!(modes.len(), 3, "{modes:?}");
    assert_eq!(
        modes.values().filter(|m| **m == Mode::Leader).count(),
        1,
        "{modes:?}"
    );
    assert_eq!(
        modes.values().filter(|m| **m == Mode::Follower).count(),
        2,
        "{modes:?}"
    );
    let leader = ens.leader().expect("one leader");

    let m = ens.wait_for("2 synced followers", || {
        four::mntr(&ens.host(leader))
            .ok()
            .filter(|m| m.synced_followers == Some(2))
    });
    assert_eq!(m.server_state, "leader");
    assert_eq!(m.synced_non_voting_followers, Some(0));
    assert_eq!(m.quorum_size, Some(3));

    let srvr = four::srvr(&ens.host(leader)).unwrap();
    assert_eq!(Some(srvr.version), ens.workload(leader).version().unwrap());

    let conf = four::conf(&ens.host(1)).unwrap();
    assert_eq!(conf.voters(), vec![1, 2, 3]);
    assert_eq!(conf.members[&2], ens.spec(2));

    // `super` with a wrong password fails SASL at once, and says nothing of either password.
    let wrong = "not-the-super-pw-4417";
    let err = Admin::connect(&ens.hosts(), wrong, Duration::from_secs(5)).unwrap_err();
    assert!(matches!(err, ZkError::NoAuth(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(wrong) && !text.contains(SUPER_PASSWORD),
        "{text}"
    );
    // Another identity (a digest user, whatever its password) is no superuser.
    let mut intruder = Admin::connect_as(
        &ens.hosts(),
        Auth::Digest {
            user: "super".into(),
            password: wrong.into(),
        },
        Duration::from_secs(5),
    )
    .unwrap();
    let err = intruder.remove_member(3, None).unwrap_err();
    assert!(matches!(err, ZkError::NoAuth(_)), "{err:?}");
    // Anyone may read the config; the refused reconfig changed nothing.
    let after = intruder.get_config().unwrap();
    assert_eq!(after, conf);
}

#[test]
fn a_joiner_becomes_a_voter_stale_versions_are_refused_and_removing_the_leader_elects_another() {
    let mut ens = Ensemble::start(3, 110);
    let mut admin = ens.admin();
    let before = admin.get_config().unwrap();
    assert_eq!(before.voters(), vec![1, 2, 3]);

    // Server 4 starts with the members plus itself and syncs as a non-voting follower.
    ens.launch(4, &[1, 2, 3, 4]);
    ens.wait_serving(&[4]);
    ens.wait_for("the joiner as a synced non-voting follower", || {
        let leader = ens.leader()?;
        four::mntr(&ens.host(leader))
            .ok()
            .filter(|m| m.synced_non_voting_followers == Some(1))
    });
    assert_eq!(four::srvr(&ens.host(4)).unwrap().mode, Mode::Follower);
    assert_eq!(four::conf(&ens.host(4)).unwrap().voters(), vec![1, 2, 3]);

    let added = admin
        .add_member(&ens.spec(4), Some(before.version))
        .unwrap();
    assert_eq!(added.voters(), vec![1, 2, 3, 4]);
    assert!(added.version > before.version);
    assert_eq!(admin.get_config().unwrap(), added);
    for id in 1..=4 {
        let seen = ens.wait_for("every server to see the 4-member config", || {
            four::conf(&ens.host(id))
                .ok()
                .filter(|c| c.version == added.version)
        });
        assert_eq!(seen, added, "server {id}");
    }

    // The version the caller saw is stale now.
    let err = admin.remove_member(4, Some(before.version)).unwrap_err();
    assert!(matches!(err, ZkError::BadVersion), "{err:?}");
    assert_eq!(admin.get_config().unwrap(), added);

    // Remove the server that leads; the commit may hide behind a ConnectionLoss.
    // A session on a follower usually sees ConnectionLoss while the leader hands over.
    let old_leader = ens.wait_for("a leader", || ens.leader());
    let follower = (1..=4).find(|id| *id != old_leader).unwrap();
    drop(admin);
    let mut on_follower = Admin::connect(
        &[ens.host(follower)],
        SUPER_PASSWORD,
        Duration::from_secs(5),
    )
    .unwrap();
    let removed = on_follower.remove_member(old_leader, None).unwrap();
    assert!(!removed.members.contains_key(&old_leader));
    assert_eq!(removed.voters().len(), 3);
    let new_leader = ens.wait_for("a new leader among the remaining voters", || {
        let modes = ens.modes();
        removed
            .voters()
            .into_iter()
            .find(|id| modes.get(id) == Some(&Mode::Leader))
    });
    assert_ne!(new_leader, old_leader);
    drop(on_follower);
    let mut fresh = ens.admin();
    assert_eq!(fresh.get_config().unwrap().voters(), removed.voters());

    // The ensemble still takes writes.
    fresh.create("/after-leader-removal", b"ok").unwrap();
    assert_eq!(fresh.get("/after-leader-removal").unwrap(), b"ok");
    assert!(fresh
        .children("/")
        .unwrap()
        .contains(&"after-leader-removal".to_string()));
    ens.kill(old_leader);
}

fn servers_running_with(cfg: &Path) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| {
            let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            args.contains(&cfg.as_os_str().as_encoded_bytes())
                && args.contains(&b"org.apache.zookeeper.server.quorum.QuorumPeerMain".as_slice())
        })
        .count()
}

#[test]
fn local_workload_start_is_idempotent_and_stop_kills_the_process() {
    let ens = Ensemble::start(1, 120);
    let w = ens.workload(1);
    let cfg = w.paths().zoo_cfg();
    let pid = w.pid().unwrap().expect("a running server");
    assert!(w.is_running().unwrap());

    w.start().unwrap();
    assert_eq!(w.pid().unwrap(), Some(pid));
    assert_eq!(servers_running_with(&cfg), 1);
    assert!(
        std::fs::metadata(w.out_file()).unwrap().len() > 0,
        "the JVM logs to zookeeper.out"
    );

    w.stop().unwrap();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} still exists"
    );
    assert!(!w.pidfile().exists());
    assert!(!w.is_running().unwrap());
    assert_eq!(servers_running_with(&cfg), 0);
    assert!(four::srvr(&ens.host(1)).is_err());
    w.stop().unwrap();

    w.start().unwrap();
    let again = w.pid().unwrap().expect("running again");
    assert_ne!(again, pid);
    ens.wait_serving(&[1]);
    assert_eq!(four::srvr(&ens.host(1)).unwrap().mode, Mode::Leader);
}

/// Where the strace'd session finds its hosts, identity and password.
const STRACE_HOSTS: &str = "ZK_WIRE_TEST_HOSTS";
const STRACE_AUTH: &str = "ZK_WIRE_TEST_AUTH";
const STRACE_PASSWORD: &str = "ZK_WIRE_TEST_PASSWORD";

/// Not a test of its own: run under `strace` by the wire test below (it does nothing
/// otherwise). An admin session that reads the config, as the charm's reconfigs do.
#[test]
#[ignore = "run under strace by the_super_password_never_crosses_the_network_in_clear"]
fn admin_session_under_strace() {
    let (Ok(hosts), Ok(mode), Ok(password)) = (
        std::env::var(STRACE_HOSTS),
        std::env::var(STRACE_AUTH),
        std::env::var(STRACE_PASSWORD),
    ) else {
        return;
    };
    let auth = match mode.as_str() {
        "sasl" => Auth::super_user(&password),
        _ => Auth::Digest {
            user: "super".into(),
            password,
        },
    };
    let hosts: Vec<String> = hosts.split(',').map(str::to_string).collect();
    let mut admin = Admin::connect_as(&hosts, auth, Duration::from_secs(10)).unwrap();
    admin.get_config().unwrap();
}

/// The bytes a session as `super` writes to its sockets (every `write`, `writev`, `sendto`,
/// `sendmsg` of the process and its threads, as `strace` prints them).
fn traced_writes(hosts: &str, mode: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("strace.txt");
    let status = std::process::Command::new("strace")
        .args([
            "-f",
            "-e",
            "trace=write,writev,sendto,sendmsg",
            "-s",
            "65535",
            "-o",
        ])
        .arg(&out)
        .arg(std::env::current_exe().unwrap())
        .args([
            "admin_session_under_strace",
            "--exact",
            "--ignored",
            "--test-threads=1",
            "-q",
        ])
        .env(STRACE_HOSTS, hosts)
        .env(STRACE_AUTH, mode)
        .env(STRACE_PASSWORD, SUPER_PASSWORD)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("strace runs (apt-get install strace)");
    assert!(status.success(), "the traced session failed ({mode})");
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn the_super_password_never_crosses_the_network_in_clear() {
    let ens = Ensemble::start(1, 130);
    let hosts = ens.hosts().join(",");
    // SASL DIGEST-MD5: a challenge and its response; the password is not in any write.
    let sasl = traced_writes(&hosts, "sasl");
    assert!(
        sasl.contains("DIGEST-MD5") || sasl.contains("response="),
        "the SASL exchange was traced"
    );
    assert!(
        !sasl.contains(SUPER_PASSWORD),
        "the super password was written to a socket"
    );
    // The control: the `digest` scheme sends `super:<password>` as it is.
    let digest = traced_writes(&hosts, "digest");
    assert!(
        digest.contains(&format!("super:{SUPER_PASSWORD}")),
        "the trace does not show the digest control's password: strace did not capture the writes"
    );
}
