//! CR-1 to CR-12: several clients at once, what each gets, that every server accepts it
//! and no other client, refusals, and removal.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::local_workload::LocalWorkload;
use testkit::model::internal_secret;
use testkit::watch::ProcessWatch;
use testkit::{seeds, test_charm, Cluster};
use zookeeper_charm::client::acl::digest_id;
use zookeeper_charm::zk::admin::{AclEntry, Auth, Perms};
use zookeeper_charm::zk::four;

use crate::ops;
use crate::support::*;

/// The ACL entries of relation `id` with `password`, permissions `perms`, sorted.
fn entries(id: u32, password: &str, perms: Perms) -> Vec<AclEntry> {
    let user = format!("relation-{id}");
    let mut acl = vec![
        AclEntry::new(perms, "sasl", &user),
        AclEntry::new(perms, "digest", &digest_id(&user, password)),
    ];
    acl.sort_by(|a, b| (&a.scheme, &a.id).cmp(&(&b.scheme, &b.id)));
    acl
}

fn sorted(mut acl: Vec<AclEntry>) -> Vec<AclEntry> {
    acl.sort_by(|a, b| (&a.scheme, &a.id).cmp(&(&b.scheme, &b.id)));
    acl
}

/// The endpoints every client should get now: each unit's address on port 2181, sorted
/// as text.
fn expected_endpoints(c: &Cluster) -> String {
    let mut eps: Vec<String> = c
        .addresses()
        .values()
        .map(|a| format!("{a}:2181"))
        .collect();
    eps.sort();
    eps.join(",")
}

/// Creates, reads, writes, lists and deletes `<chroot>/<name>` through `endpoint` as `auth`.
fn works_in(endpoint: &str, auth: Auth, chroot: &str, name: &str) {
    let shown = format!("{auth:?} on {endpoint} in {chroot}");
    let mut s = open(endpoint, auth);
    let path = format!("{chroot}/{name}");
    s.create(&path, b"one")
        .unwrap_or_else(|e| panic!("{shown}: create: {e}"));
    assert_eq!(s.get(&path).unwrap(), b"one", "{shown}");
    s.set(&path, b"two")
        .unwrap_or_else(|e| panic!("{shown}: set: {e}"));
    assert_eq!(s.get(&path).unwrap(), b"two", "{shown}");
    assert!(s.children(chroot).unwrap().contains(&name.to_string()));
    s.delete(&path)
        .unwrap_or_else(|e| panic!("{shown}: delete: {e}"));
}

/// Runs Debian's `zkCli` (`ZooKeeperMain`) as `given`'s user with SASL DIGEST-MD5: a JAAS
/// `Client` section in a private file, `-server` the published `uris`, then `args`.
fn zkcli(dir: &Path, given: &Given, args: &[&str]) -> (bool, String) {
    let jaas = dir.join("client-jaas.conf");
    std::fs::write(
        &jaas,
        format!(
            "Client {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  username=\"{}\"\n  password=\"{}\";\n}};\n",
            given.user(),
            given.get("password")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&jaas, std::fs::Permissions::from_mode(0o600)).unwrap();
    let java = LocalWorkload::new("/nonexistent".into())
        .java()
        .expect("java")
        .to_path_buf();
    let mut child = Command::new(java)
        .arg(format!(
            "-Djava.security.auth.login.config={}",
            jaas.display()
        ))
        .args([
            "-cp",
            "/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-simple.jar",
            "org.apache.zookeeper.ZooKeeperMain",
            "-server",
            given.get("uris"),
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let _ = std::fs::remove_file(&jaas);
    (status.is_some_and(|s| s.success()), out)
}

fn scenario(charm: &Path, ops_charm: &Path, seed: u64) {
    let mut c = Cluster::create(charm, seed);
    c.model.deploy(3).unwrap();
    c.settle("deploy 3");
    let before = servers(&c.model);

    // One batch of clients: two with secrets, one plain, one legacy and read-only, two on
    // nested chroots (related first: a stub writes once it is in the relation), and the ops
    // requirer, which asks in its own `-relation-created`.
    let app = c.client_stub("app");
    let other = c.client_stub("other");
    let plain = c.client_stub("plain");
    let legacy = c.client_stub("legacy");
    let shared = c.client_stub("shared");
    let inner = c.client_stub("inner");
    c.settle("six stubs related, asking nothing yet");
    assert_eq!(
        servers(&c.model),
        before,
        "seed {seed}: a restart for nothing"
    );
    ask(
        &mut c,
        "app",
        app,
        &[("database", "/myapp"), ("requested-secrets", REQUESTED)],
    );
    ask(
        &mut c,
        "other",
        other,
        &[("database", "other"), ("requested-secrets", REQUESTED)],
    );
    ask(&mut c, "plain", plain, &[("database", "/plain")]);
    ask(
        &mut c,
        "legacy",
        legacy,
        &[("chroot", "legacy"), ("chroot-acl", "r")],
    );
    ask(
        &mut c,
        "shared",
        shared,
        &[("database", "/shared/"), ("requested-secrets", REQUESTED)],
    );
    ask(
        &mut c,
        "inner",
        inner,
        &[
            ("database", "/shared/inner"),
            ("requested-secrets", REQUESTED),
        ],
    );
    c.model.deploy_app(ops_charm, Some("ops-app"), 1).unwrap();
    let ops_id = c.model.integrate("zookeeper", "ops-app").unwrap();
    let names: BTreeMap<u32, String> = [
        (app, "app"),
        (other, "other"),
        (plain, "plain"),
        (legacy, "legacy"),
        (shared, "shared"),
        (inner, "inner"),
        (ops_id, "ops-app"),
    ]
    .into_iter()
    .map(|(id, n)| (id, n.to_string()))
    .collect();

    // CR-7: nothing is visible before every server restarted with the users, and then every
    // endpoint accepts them.
    let first_sight = AtFirstSight::install(&mut c, names.clone(), move |m, id, _| {
        let mut problems = Vec::new();
        for (unit, now) in servers(m) {
            if now.is_none() || now == before[&unit] {
                problems.push(format!(
                    "{unit} runs the server it ran before the clients came ({now:?})"
                ));
            }
        }
        let given = Given::read(m, id);
        problems.extend(
            logins_fail(&given, Given::sasl)
                .into_iter()
                .map(|p| format!("SASL: {p}")),
        );
        problems
    });
    let watch = ProcessWatch::start(c.model.dir(), Duration::from_millis(100));
    c.settle("seven clients");
    let watched = watch.finish();
    first_sight.finish(&mut c);
    eprintln!("seed {seed}: seven clients: {}", watched.summary());
    watched.assert_one_down_at_a_time(&format!("seed {seed}: seven clients"));
    assert!(
        !watched.restarts().is_empty(),
        "seed {seed}: the users were loaded without a restart?"
    );
    for n in 0..3 {
        for id in names.keys() {
            assert_eq!(
                jaas_users(&c, n, &format!("relation-{id}")),
                1,
                "seed {seed}: unit {n}: {}",
                jaas(&c, n)
            );
        }
    }

    // CR-1: what `app` got, and where.
    let endpoints = expected_endpoints(&c);
    let bag = provided(&c.model, app);
    assert_eq!(bag["database"], "/myapp");
    assert_eq!(bag["chroot"], "/myapp");
    assert_eq!(bag["endpoints"], endpoints);
    assert_eq!(bag["endpoints"].split(',').count(), 3);
    assert!(!bag["endpoints"].contains('/'));
    for key in ["username", "password", "uris", "tls"] {
        assert!(
            !bag.contains_key(key),
            "seed {seed}: plain {key} in {bag:?}"
        );
    }
    let user = c.model.show_secret(&bag["secret-user"], true).unwrap();
    assert_eq!(
        user.label.as_deref(),
        Some(format!("zookeeper.{app}.user.secret").as_str())
    );
    assert_eq!(
        (user.owner.as_str(), user.owner_kind.as_str()),
        ("zookeeper", "application")
    );
    let content = user.content.clone().unwrap();
    assert_eq!(
        content.keys().map(String::as_str).collect::<Vec<_>>(),
        ["password", "uris", "username"]
    );
    assert_eq!(content["username"], format!("relation-{app}"));
    let password = content["password"].clone();
    assert_eq!(password.len(), 32);
    assert!(password.chars().all(|ch| ch.is_ascii_alphanumeric()));
    assert_eq!(content["uris"], format!("{endpoints}/myapp"));
    let tls = c.model.show_secret(&bag["secret-tls"], true).unwrap();
    assert_eq!(
        tls.label.as_deref(),
        Some(format!("zookeeper.{app}.tls.secret").as_str())
    );
    assert_eq!(
        tls.content.clone().unwrap(),
        BTreeMap::from([("tls".to_string(), "disabled".to_string())])
    );
    for s in [&user, &tls] {
        assert_eq!(s.grants.len(), 1, "{:?}", s.grants);
        assert!(
            s.grants[0].0.contains("app") && s.grants[0].1.contains("app:zookeeper"),
            "{:?}",
            s.grants
        );
    }
    let read = c
        .model
        .secret_get_as("app/0", &[&bag["secret-user"], "--label", "app.user"])
        .unwrap();
    assert_eq!(read, content, "the stub reads what was published");
    let app_given = Given::read(&c.model, app);
    // The password is in the internal secret, nowhere an operator reads.
    assert_eq!(
        internal_secret(&c.model)
            .unwrap()
            .get(&format!("relation-{app}")),
        Some(&password)
    );
    assert!(testkit::model::leaks(&c.model, &password).is_empty());

    // CR-2: every endpoint, SASL and digest; the chroot's ACL is exactly the two entries.
    for ep in app_given.endpoints() {
        works_in(&ep, app_given.sasl(), "/myapp", "by-sasl");
        works_in(&ep, app_given.digest(), "/myapp", "by-digest");
    }
    let mut admin = c.client();
    assert_eq!(
        sorted(admin.get_acl("/myapp").unwrap()),
        entries(app, &password, Perms::ALL)
    );

    // CR-3: clients do not reach each other; anonymous and wrong logins fail.
    let other_given = Given::read(&c.model, other);
    assert_eq!(other_given.get("database"), "/other");
    let ep = &app_given.endpoints()[0];
    let mut a = open(ep, app_given.sasl());
    let mut o = open(ep, other_given.sasl());
    for (s, path) in [(&mut a, "/other"), (&mut o, "/myapp")] {
        let e = s.get(path).unwrap_err();
        assert!(is_no_auth(&e), "get {path}: {e:?}");
        let e = s.create(&format!("{path}/intruder"), b"x").unwrap_err();
        assert!(is_no_auth(&e), "create under {path}: {e:?}");
    }
    let mut d = open(ep, other_given.digest());
    assert!(is_no_auth(&d.get("/myapp").unwrap_err()));
    let e = session(ep, Auth::Anonymous).expect_err("anonymous refused");
    assert!(
        matches!(e, zookeeper_charm::zk::ZkError::NoAuth(_)),
        "{e:?}"
    );
    let wrong = Auth::Sasl {
        user: app_given.user().into(),
        password: "Wrong0password0Wrong0password0xx".into(),
    };
    let e = session(ep, wrong).expect_err("a wrong password refused");
    assert!(is_auth_failed(&e), "{e:?}");

    // CR-4: without requested-secrets everything is plain and there is no secret.
    let bag = provided(&c.model, plain);
    for key in [
        "username",
        "password",
        "endpoints",
        "uris",
        "database",
        "chroot",
        "tls",
    ] {
        assert!(bag.contains_key(key), "seed {seed}: no {key} in plain bag");
    }
    assert!(
        !bag.keys().any(|k| k.starts_with("secret-")),
        "{:?}",
        bag.keys()
    );
    assert_eq!(bag["uris"], format!("{endpoints}/plain"));
    assert_eq!(bag["tls"], "disabled");
    let prefix = format!("zookeeper.{plain}.");
    assert!(!c
        .model
        .secrets()
        .unwrap()
        .iter()
        .any(|s| s.label.as_deref().is_some_and(|l| l.starts_with(&prefix))));
    let plain_given = Given::read(&c.model, plain);
    works_in(
        &plain_given.endpoints()[1],
        plain_given.sasl(),
        "/plain",
        "x",
    );

    // CR-5: the legacy keys; `r` only.
    let legacy_given = Given::read(&c.model, legacy);
    assert_eq!(legacy_given.get("database"), "/legacy");
    assert_eq!(legacy_given.get("chroot"), "/legacy");
    for auth in [legacy_given.sasl(), legacy_given.digest()] {
        let mut s = open(&legacy_given.endpoints()[2], auth);
        s.children("/legacy").unwrap();
        s.get("/legacy").unwrap();
        let e = s.create("/legacy/x", b"x").unwrap_err();
        assert!(is_no_auth(&e), "{e:?}");
    }
    assert_eq!(
        sorted(admin.get_acl("/legacy").unwrap()),
        entries(legacy, legacy_given.get("password"), Perms::READ)
    );

    // CR-11: every endpoint answers `srvr` as a quorum member of 3.8 or later.
    for ep in app_given.endpoints() {
        let host = ep.trim_end_matches(":2181");
        let srvr = four::srvr_within(host, Duration::from_secs(5)).unwrap();
        assert!(
            matches!(srvr.mode, four::Mode::Leader | four::Mode::Follower),
            "{ep}: {srvr:?}"
        );
        let v: Vec<u32> = srvr
            .version
            .split('.')
            .map(|p| p.parse().unwrap())
            .collect();
        assert!(v >= vec![3, 8, 0], "{ep}: {srvr:?}");
    }

    // CR-12: nested chroots; the outer client reaches the inner chroot, not the reverse.
    let shared_given = Given::read(&c.model, shared);
    let inner_given = Given::read(&c.model, inner);
    assert_eq!(shared_given.get("database"), "/shared");
    for ep in shared_given.endpoints() {
        for auth in [shared_given.sasl(), shared_given.digest()] {
            works_in(&ep, auth, "/shared", "outer");
        }
        for auth in [inner_given.sasl(), inner_given.digest()] {
            works_in(&ep, auth, "/shared/inner", "inner");
        }
    }
    works_in(ep, shared_given.sasl(), "/shared/inner", "from-outer");
    let mut i = open(ep, inner_given.sasl());
    assert!(is_no_auth(
        &i.create("/shared/from-inner", b"x").unwrap_err()
    ));
    let shared_pw = shared_given.get("password");
    let inner_pw = inner_given.get("password");
    assert_eq!(
        sorted(admin.get_acl("/shared").unwrap()),
        entries(shared, shared_pw, Perms::ALL)
    );
    let mut union = entries(shared, shared_pw, Perms::ALL);
    union.extend(entries(inner, inner_pw, Perms::ALL));
    assert_eq!(
        sorted(admin.get_acl("/shared/inner").unwrap()),
        sorted(union)
    );

    // The ops requirer: it read its credentials by its own label and reports them.
    let ops_bag = provided(&c.model, ops_id);
    let ops_status: Vec<(String, String)> = c
        .status()
        .into_iter()
        .filter(|u| u.app == "ops-app")
        .map(|u| (u.workload, u.message))
        .collect();
    let ops_creds = c
        .model
        .secret_get_as(
            "ops-app/0",
            &["--label", &format!("database.{ops_id}.user.secret")],
        )
        .unwrap();
    assert_eq!(
        ops_status,
        [(
            "active".to_string(),
            format!("relation-{ops_id} on {}/ops-app", ops_bag["endpoints"])
        )]
    );
    assert_eq!(ops_creds["uris"], format!("{endpoints}/ops-app"));
    let ops_given = Given {
        fields: ops_creds.clone(),
    };
    let mut ops_given = ops_given;
    ops_given
        .fields
        .insert("endpoints".into(), ops_bag["endpoints"].clone());
    for ep in ops_given.endpoints() {
        works_in(&ep, ops_given.sasl(), "/ops-app", "by-ops");
    }

    // The README's example: Debian's zkCli, SASL through a JAAS file, `-server` the uris.
    let (ok, out) = zkcli(
        c.dir.path(),
        &app_given,
        &["create", "/from-zkcli", "hello"],
    );
    assert!(ok, "seed {seed}: zkCli failed:\n{out}");
    assert!(out.contains("Created /from-zkcli"), "{out}");
    assert_eq!(admin.get("/myapp/from-zkcli").unwrap(), b"hello", "{out}");

    // CR-6 and refusals: a client that asks for nothing, hostile chroots and roles get
    // nothing, restart nothing, and the leader says which relation and why.
    let before = servers(&c.model);
    let jaas_now: Vec<String> = (0..3).map(|n| jaas(&c, n)).collect();
    let empty = c.client_stub("empty");
    let hostile = [
        ("bad-root", vec![("database", "/")]),
        ("bad-zk", vec![("database", "/zookeeper/config")]),
        ("bad-dots", vec![("database", "/a/../b")]),
        (
            "bad-roles",
            vec![("database", "/fine"), ("extra-user-roles", "cdrwx")],
        ),
    ];
    let mut refused = Vec::new();
    for (name, _) in &hostile {
        refused.push((c.client_stub(name), *name));
    }
    c.settle("an empty client and four more related");
    for ((id, name), (_, pairs)) in refused.iter().zip(&hostile) {
        ask(&mut c, name, *id, pairs);
    }
    c.settle_quiet("an empty client and refused ones");
    assert_eq!(
        servers(&c.model),
        before,
        "seed {seed}: something restarted"
    );
    for n in 0..3 {
        assert_eq!(jaas(&c, n), jaas_now[n as usize], "seed {seed}: unit {n}");
    }
    let secret = internal_secret(&c.model).unwrap();
    for (id, name) in refused.iter().copied().chain([(empty, "empty")]) {
        assert!(
            provided(&c.model, id).is_empty(),
            "seed {seed}: {name}: {:?}",
            provided(&c.model, id)
        );
        assert!(!secret.contains_key(&format!("relation-{id}")), "{name}");
    }
    let leader = c.model.leader().unwrap().unwrap();
    let st = c.status().into_iter().find(|u| u.unit == leader).unwrap();
    assert_eq!(st.workload, "blocked", "seed {seed}: {st:?}");
    for (id, name) in &refused {
        assert!(
            st.message.contains(&format!("zookeeper:{id} ({name})")),
            "seed {seed}: {name} not named: {:?}",
            st.message
        );
    }
    assert!(st.message.contains("extra-user-roles"), "{:?}", st.message);
    assert!(!c.status().iter().any(|u| u.error.is_some()));
    assert!(admin.get("/fine").is_err(), "a refused chroot was created");
    for (id, _) in &refused {
        c.model.remove_relation(&id.to_string(), None).unwrap();
    }
    c.settle("the refused clients gone");

    // CR-9: removal revokes; the data stays; the others keep working.
    let mut s = open(&app_given.endpoints()[0], app_given.sasl());
    s.create("/myapp/keep", b"kept").unwrap();
    drop(s);
    let watch = ProcessWatch::start(c.model.dir(), Duration::from_millis(100));
    c.model.remove_relation(&app.to_string(), None).unwrap();
    c.settle("app removed");
    let watched = watch.finish();
    eprintln!("seed {seed}: app removed: {}", watched.summary());
    watched.assert_one_down_at_a_time(&format!("seed {seed}: app removed"));
    for n in 0..3 {
        assert_eq!(jaas_users(&c, n, &format!("relation-{app}")), 0, "unit {n}");
        assert_eq!(
            jaas_users(&c, n, &format!("relation-{other}")),
            1,
            "unit {n}"
        );
    }
    for ep in app_given.endpoints() {
        let e = session(&ep, app_given.sasl()).expect_err("SASL refused");
        assert!(is_auth_failed(&e), "{ep}: {e:?}");
        let mut d = open(&ep, app_given.digest());
        assert!(is_no_auth(&d.get("/myapp").unwrap_err()), "{ep}");
        assert!(
            is_no_auth(&d.create("/myapp/again", b"x").unwrap_err()),
            "{ep}"
        );
    }
    let mut admin = c.client();
    assert_eq!(admin.get("/myapp/keep").unwrap(), b"kept");
    assert_eq!(admin.get("/myapp/from-zkcli").unwrap(), b"hello");
    let leader = c.model.leader().unwrap().unwrap();
    for group in ["user", "tls"] {
        let label = format!("zookeeper.{app}.{group}.secret");
        let r = c
            .model
            .exec(&leader, &["secret-info-get", "--label", &label])
            .unwrap();
        assert_eq!(r.code, Some(1), "{label}: {r:?}");
        assert!(r.stderr.contains("not found"), "{label}: {}", r.stderr);
    }
    let secret = internal_secret(&c.model).unwrap();
    assert!(
        !secret.contains_key(&format!("relation-{app}")),
        "{:?}",
        secret.keys()
    );
    assert!(secret.contains_key(&format!("relation-{other}")));
    for ep in other_given.endpoints() {
        works_in(&ep, other_given.sasl(), "/other", "still");
    }
    c.model.destroy().unwrap();
}

#[test]
fn clients_get_a_chroot_and_credentials_every_server_accepts_and_lose_them_when_removed() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    let ops_charm = ops::requirer_charm(dir.path());
    for seed in seeds(&[11]) {
        scenario(&charm, &ops_charm, seed);
    }
}
