//! The internal passwords and client authentication on the local model (`zk-sim`) with real
//! ZooKeeper servers: where the passwords live (an application secret with Charmed
//! ZooKeeper's label and keys, the bag holding only its URI), that no password shows
//! anywhere an operator or another process reads, that hostile passwords are refused before
//! anything changes, and that the servers close an anonymous session at its first request,
//! refuse a wrong password, keep the charm's own `super` access, and let no one but `super`
//! change `/` or `/zookeeper`.
//!
//! `ZK_TEST_SEEDS=1,2` overrides the event-order seed.

use std::time::Duration;

use testkit::model::{internal_secret, leaks};
use testkit::{seeds, test_charm, Cluster};
use zookeeper_charm::zk::admin::{protected_acl, AclEntry, Admin, Auth, Perms};
use zookeeper_charm::zk::{four, ZkError};

fn unit(n: u32) -> String {
    format!("zookeeper/{n}")
}

fn leader(c: &Cluster) -> String {
    c.model.leader().unwrap().expect("a leader")
}

fn digest_user() -> Auth {
    Auth::Digest {
        user: "someone".into(),
        password: "made-up-pw".into(),
    }
}

fn secret_revision(c: &Cluster) -> u32 {
    c.model
        .show_secret("cluster.zookeeper.app", false)
        .unwrap()
        .revision
}

/// ZooKeeper's `SessionClosedRequireAuth` error code.
const SESSION_CLOSED_REQUIRE_AUTH: i32 = -124;

/// Opens a session with no authentication at all (a bare connect request, as any client
/// library sends it) and sends one request (`getChildren /`): the reply's error code, and
/// whether the server then closed the connection.
fn anonymous_first_request(host: &str) -> (i32, bool) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((host, 2181)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let frame = |body: Vec<u8>| {
        let mut f = (body.len() as i32).to_be_bytes().to_vec();
        f.extend(body);
        f
    };
    let read_frame = |s: &mut std::net::TcpStream| -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        s.read_exact(&mut body).ok()?;
        Some(body)
    };
    // ConnectRequest: protocol version, last zxid seen, timeout, session id, password.
    let mut connect = Vec::new();
    connect.extend(0i32.to_be_bytes());
    connect.extend(0i64.to_be_bytes());
    connect.extend(30_000i32.to_be_bytes());
    connect.extend(0i64.to_be_bytes());
    connect.extend(16i32.to_be_bytes());
    connect.extend([0u8; 16]);
    s.write_all(&frame(connect)).unwrap();
    read_frame(&mut s).expect("a connect response");
    // getChildren "/": header (xid 1, op 8), path, no watch.
    let mut req = Vec::new();
    req.extend(1i32.to_be_bytes());
    req.extend(8i32.to_be_bytes());
    req.extend(1i32.to_be_bytes());
    req.push(b'/');
    req.push(0);
    s.write_all(&frame(req)).unwrap();
    let reply = read_frame(&mut s).expect("a reply");
    // ReplyHeader: xid, zxid, err.
    let err = i32::from_be_bytes(reply[12..16].try_into().unwrap());
    let mut rest = [0u8; 1];
    let closed = matches!(s.read(&mut rest), Ok(0) | Err(_));
    (err, closed)
}

fn three_units(charm: &std::path::Path, seed: u64) {
    let mut c = Cluster::create(charm, seed);
    c.model.deploy(3).unwrap();
    c.settle("deploy 3");
    let hosts: Vec<String> = c.addresses().into_values().collect();

    // The passwords are in an application secret with Charmed ZooKeeper's label and keys;
    // the bag names it and holds no password.
    let view = c.model.show_secret("cluster.zookeeper.app", true).unwrap();
    assert_eq!(view.owner_kind, "application", "{view:?}");
    assert_eq!(view.owner, "zookeeper");
    let content = view.content.clone().unwrap();
    assert_eq!(
        content.keys().map(String::as_str).collect::<Vec<_>>(),
        ["super-password", "sync-password"]
    );
    let (super_pw, sync_pw) = (
        content["super-password"].clone(),
        content["sync-password"].clone(),
    );
    let bag = c.model.app_databag("cluster").unwrap();
    assert_eq!(
        bag.get("internal_secret").map(String::as_str),
        Some(view.uri.as_str()),
        "{bag:?}"
    );
    for pw in [&super_pw, &sync_pw] {
        let found = leaks(&c.model, pw);
        assert!(
            found.is_empty(),
            "seed {seed}: a password appears in {found:?}"
        );
    }
    // No file holds super's password but the JAAS file; no superDigest.
    for n in 0..3 {
        let zoo_cfg = c.zoo_cfg(n);
        let conf = zoo_cfg.parent().unwrap();
        let cfg = std::fs::read_to_string(&zoo_cfg).unwrap();
        assert!(!cfg.contains("superDigest"), "{cfg}");
        assert!(cfg.contains("enforce.auth.enabled=true"), "{cfg}");
        assert!(!conf.join("client-jaas.cfg").exists());
        let jaas = std::fs::read_to_string(conf.join("zookeeper-jaas.cfg")).unwrap();
        assert!(jaas.contains("Server {"), "{jaas}");
    }

    // Any unit answers the password getters, from the secret.
    let other = (0..3).map(unit).find(|u| *u != leader(&c)).unwrap();
    let r = c
        .model
        .run_action(&other, "get-super-password", &[])
        .unwrap();
    assert_eq!(r.get("super-password"), Some(super_pw.as_str()), "{r:?}");

    // Clients: an anonymous session is closed at its first request, a wrong password is
    // refused, a made-up digest identity may read but not change / or /zookeeper, super
    // works, and the 4lw health words answer anyone.
    for h in &hosts {
        assert_eq!(
            anonymous_first_request(h),
            (SESSION_CLOSED_REQUIRE_AUTH, true),
            "seed {seed}: {h}: an anonymous getChildren /"
        );
    }
    let err = Admin::connect_as(&hosts, Auth::Anonymous, Duration::from_secs(5)).unwrap_err();
    assert!(matches!(err, ZkError::NoAuth(_)), "{err:?}");
    let err = Admin::connect_as(
        &hosts,
        Auth::Sasl {
            user: "super".into(),
            password: "wrong-password-1".into(),
        },
        Duration::from_secs(5),
    )
    .unwrap_err();
    assert!(matches!(err, ZkError::NoAuth(_)), "{err:?}");
    let err = Admin::connect_as(
        &hosts,
        Auth::Sasl {
            user: "relation-9".into(),
            password: "no-such-user".into(),
        },
        Duration::from_secs(5),
    )
    .unwrap_err();
    assert!(matches!(err, ZkError::NoAuth(_)), "{err:?}");
    let mut someone = Admin::connect_as(&hosts, digest_user(), Duration::from_secs(5)).unwrap();
    assert!(
        someone.children("/").is_ok(),
        "an authenticated session reads /"
    );
    for path in ["/pwned", "/zookeeper/pwned", "/zookeeper/quota/pwned"] {
        let err = someone.create(path, b"x").unwrap_err();
        assert!(matches!(err, ZkError::NoAuth(_)), "create {path}: {err:?}");
    }
    let err = someone.set("/", b"x").unwrap_err();
    assert!(matches!(err, ZkError::NoAuth(_)), "set /: {err:?}");
    let err = someone
        .set_acl("/", &[AclEntry::anyone(Perms::ALL)])
        .unwrap_err();
    assert!(matches!(err, ZkError::NoAuth(_)), "setAcl /: {err:?}");
    let mut admin = c.client();
    assert_eq!(admin.get_acl("/").unwrap(), protected_acl());
    assert_eq!(admin.get_acl("/zookeeper").unwrap(), protected_acl());
    assert_eq!(admin.get_acl("/zookeeper/quota").unwrap(), protected_acl());
    admin.create("/by-super", b"ok").unwrap();
    assert_eq!(admin.get("/by-super").unwrap(), b"ok");
    for h in &hosts {
        four::srvr_within(h, Duration::from_secs(2)).unwrap();
    }

    // Hostile passwords are refused before anything changes.
    let revision = secret_revision(&c);
    let bag_before = c.model.app_databag("cluster").unwrap();
    for (user, bad) in [
        ("sync", "pa${user.name}ss"),
        ("sync", "pa${nosuchprop}ss"),
        ("super", "has space in it"),
        ("super", "quote\"d-password"),
        ("super", "back\\slash-pw"),
        ("super", "short"),
    ] {
        let r = c
            .model
            .run_action(
                &leader(&c),
                "set-password",
                &[("username", user), ("password", bad)],
            )
            .unwrap();
        assert!(!r.completed(), "seed {seed}: {bad:?} was accepted: {r:?}");
        assert!(r.message.contains("refused"), "{}", r.message);
        assert!(
            !r.message.contains(bad),
            "the refusal repeats it: {}",
            r.message
        );
    }
    c.settle("after the refusals");
    assert_eq!(
        secret_revision(&c),
        revision,
        "seed {seed}: the secret changed"
    );
    assert_eq!(c.model.app_databag("cluster").unwrap(), bag_before);
    assert_eq!(internal_secret(&c.model).unwrap(), content);

    // A good one: a new revision of the secret, the bag's generation, nothing else.
    let r = c
        .model
        .run_action(
            &leader(&c),
            "set-password",
            &[("username", "super"), ("password", "New.super~pw+1")],
        )
        .unwrap();
    assert!(r.completed(), "{r:?}");
    c.settle("super password changed");
    assert!(secret_revision(&c) > revision);
    assert_eq!(
        internal_secret(&c.model).unwrap()["super-password"],
        "New.super~pw+1"
    );
    let bag = c.model.app_databag("cluster").unwrap();
    assert_eq!(bag.get("secret-generation").map(String::as_str), Some("1"));
    let hosts: Vec<String> = c.addresses().into_values().collect();
    assert!(Admin::connect(&hosts, "New.super~pw+1", Duration::from_secs(10)).is_ok());
    for pw in [&super_pw, "New.super~pw+1", &sync_pw] {
        let found = leaks(&c.model, pw);
        assert!(
            found.is_empty(),
            "seed {seed}: a password appears in {found:?}"
        );
    }
    c.model.destroy().unwrap();
}

#[test]
fn the_passwords_live_in_a_secret_clients_must_authenticate_and_only_super_changes_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    for seed in seeds(&[7]) {
        three_units(&charm, seed);
    }
}
