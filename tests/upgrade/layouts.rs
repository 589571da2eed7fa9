//! A refresh from another layout of the same ensemble keeps it: passwords, voters, quorum,
//! each server restarted at most once and one at a time, and every unit active at the end.
//!
//! Two starting layouts, each built from a deployment of this charm by rewriting what the
//! other charm leaves, while no hook runs (so the model's units hold that charm's state
//! when the refresh starts), and restarting every server on the rewritten files:
//! * this charm's earlier revisions: the passwords in the `cluster` app bag, no secret, a
//!   `superDigest` in `zoo.cfg`, no client authentication, no JAAS `Server` section, a
//!   `client-jaas.cfg`, the root znode writable by anyone, every unit `ready` after
//!   `pre-upgrade-check`;
//! * Charmed ZooKeeper (the Python charm): its peer keys (`internal_secret` naming the
//!   `cluster.<app>.app` secret, `quorum`, `hostname`/`fqdn`, no `restart` inputs), its
//!   `zoo.cfg` (its settings and 4lw whitelist `mntr,srvr,stat,ruok`, without `conf`), its
//!   JAAS (`user_super`, the `sync` quorum login) and JVM flags
//!   (`-Dzookeeper.superUser=super`), its upgrade stack and dependency model after its
//!   `pre-upgrade-check`, units still `idle`, and none of this charm's private state.
//!   Where the local model cannot run what the Python charm runs, the emulation differs:
//!   no Prometheus metrics provider (Debian's jars lack it and the server exits) and no
//!   AdminServer (every unit shares one host, so port 8080 would clash).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::model::{internal_secret, leaks};
use testkit::watch::ProcessWatch;
use testkit::writes::{lost, read_children, Writer};
use testkit::{test_charm, Cluster};
use zookeeper_charm::workload::snap::{self, Layout};
use zookeeper_charm::workload::Paths;
use zookeeper_charm::zk::admin::{protected_acl, AclEntry, Admin, Auth, Perms};

use crate::support::{deploy, juju_leader, seed, servers, unit, upgrade_states, zk_leader};

const SAMPLE: Duration = Duration::from_millis(100);
const WRITE_EVERY: Duration = Duration::from_millis(50);

/// A `digest` identity (any password works): it writes under a parent anyone may write,
/// whatever `super`'s password and whichever files each server runs.
fn writer_auth() -> Auth {
    Auth::Digest {
        user: "writer".into(),
        password: "writer-pw-1".into(),
    }
}

/// Runs a hook tool in `unit`'s context (its writes commit; no hook runs).
fn exec(c: &mut Cluster, unit: &str, argv: &[&str]) -> String {
    c.model
        .exec_ok(unit, argv)
        .unwrap_or_else(|e| panic!("{unit}: {argv:?}: {}", zk_sim::Chain(&e)))
}

fn relation_id(c: &Cluster, endpoint: &str) -> String {
    let id = c
        .model
        .relations()
        .unwrap()
        .into_iter()
        .find(|r| r.kind == "peer" && r.ends.iter().any(|e| e.endpoint == endpoint))
        .unwrap_or_else(|| panic!("no {endpoint} relation"))
        .id;
    format!("{endpoint}:{id}")
}

/// `relation-set` of `pairs` (`k=` deletes) in `unit`'s own bag, or the app bag.
fn set_bag(c: &mut Cluster, unit: &str, endpoint: &str, app: bool, pairs: &[(&str, &str)]) {
    if pairs.is_empty() {
        return;
    }
    let rid = relation_id(c, endpoint);
    let mut argv = vec!["relation-set".to_string(), "-r".into(), rid];
    if app {
        argv.push("--app".into());
    }
    argv.extend(pairs.iter().map(|(k, v)| format!("{k}={v}")));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    exec(c, unit, &argv);
}

/// Every key of `bag` not in `keep` set to be deleted.
fn deletions<'a>(bag: &'a BTreeMap<String, String>, keep: &[&str]) -> Vec<(&'a str, &'a str)> {
    bag.keys()
        .filter(|k| !keep.contains(&k.as_str()))
        .map(|k| (k.as_str(), ""))
        .collect()
}

/// Unit `n`'s snap paths as the unit sees them (what goes into `zoo.cfg`), with its private
/// state directory.
fn paths(c: &Cluster, n: u32) -> Paths {
    let uuid = c.model.state().unwrap().model_uuid;
    let layout = Layout::default();
    layout.paths(layout.state_dir(Some(&uuid), &unit(n)))
}

/// Where `inside` (a path on unit `n`'s machine) is in the model.
fn host(c: &Cluster, n: u32, inside: &Path) -> PathBuf {
    c.model
        .host_path(&unit(n), inside)
        .unwrap()
        .unwrap_or_else(|| panic!("{} is not the machine's own", inside.display()))
}

/// Writes `content` at `inside` on unit `n`'s machine, with `mode` and `owner`, as a charm
/// running as root there would have.
fn put(c: &Cluster, n: u32, inside: &Path, content: &str, mode: u32, owner: Option<u32>) {
    let path = host(c, n, inside);
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    if let Some(uid) = owner {
        std::os::unix::fs::chown(&path, Some(uid), Some(0)).unwrap();
    }
}

/// Writes `files` (name under the conf dir -> content; `""` empties it, owned by the
/// snap's user) and `flags` (`SERVER_JVMFLAGS` in the machine's `/etc/environment`), wipes
/// nothing, then restarts the unit's server through its snap and waits until every server
/// serves again; one unit at a time.
fn restart_on(c: &mut Cluster, n: u32, files: &[(&str, String)], flags: &[String]) {
    let p = paths(c, n);
    for (name, content) in files {
        let uid = Some(snap::SNAP_DAEMON_UID);
        put(c, n, &p.conf_dir.join(name), content, 0o600, uid);
    }
    let env = Path::new(snap::ENVIRONMENT_FILE);
    let existing = std::fs::read_to_string(host(c, n, env)).unwrap_or_default();
    put(
        c,
        n,
        env,
        &snap::merge_environment(&existing, flags),
        0o644,
        None,
    );
    c.model
        .exec_ok(&unit(n), &["snap", "restart", snap::SERVICE])
        .unwrap_or_else(|e| panic!("unit {n}: snap restart: {}", zk_sim::Chain(&e)));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !c.addresses().values().all(|a| testkit::watch::serving(a)) {
        assert!(
            std::time::Instant::now() < deadline,
            "unit {n}'s server does not serve on the rewritten files:\n{}\n{}",
            c.describe(),
            std::fs::read_to_string(host(c, n, &p.server_log())).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Forgets the charm's private state on unit `n`, keeping only what `keep` names (root's,
/// 0600, as the charm keeps it).
fn wipe_state(c: &Cluster, n: u32, keep: &[(&str, &str)]) {
    let inside = paths(c, n).charm_state_dir;
    let dir = host(c, n, &inside);
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let _ = std::fs::remove_file(e.path());
    }
    for (name, value) in keep {
        put(c, n, &inside.join(name), value, 0o600, None);
    }
}

fn conf_text(c: &Cluster, n: u32, name: &str) -> String {
    let path = host(c, n, &paths(c, n).conf_dir.join(name));
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `zoo.cfg` without the lines starting with any of `drop`, plus `add`.
fn edit_cfg(cfg: &str, drop: &[&str], add: &[String]) -> String {
    let mut out: String = cfg
        .lines()
        .filter(|l| !drop.iter().any(|d| l.starts_with(d)))
        .map(|l| format!("{l}\n"))
        .collect();
    for l in add {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The JVM flags the unit's server starts with: `SERVER_JVMFLAGS` in its machine's
/// `/etc/environment`.
fn jvm_flags(c: &Cluster, n: u32) -> Vec<String> {
    let prefix = format!("{}=", snap::JVM_FLAGS_VAR);
    std::fs::read_to_string(host(c, n, Path::new(snap::ENVIRONMENT_FILE)))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn super_digest(password: &str) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let hash = sha1::Sha1::digest(format!("super:{password}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hash)
}

/// A client user Charmed ZooKeeper created for a `zookeeper` relation (Kafka's, say).
const CLIENT_USER: &str = "relation-7";
const CLIENT_PASSWORD: &str = "Kafka7ClientPasswordAbcdefghijkl";

/// The JAAS file both charms write, with or without the `Server` section.
fn jaas(sync: &str, super_pw: Option<&str>) -> String {
    let mut text = format!(
        "QuorumServer {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_sync=\"{sync}\";\n}};\n\
         QuorumLearner {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    username=\"sync\"\n    password=\"{sync}\";\n}};\n"
    );
    if let Some(s) = super_pw {
        text.push_str(&format!(
            "Server {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_{CLIENT_USER}=\"{CLIENT_PASSWORD}\"\n    user_super=\"{s}\";\n}};\n"
        ));
    }
    text
}

fn client_jaas(super_pw: &str) -> String {
    format!("Client {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    username=\"super\"\n    password=\"{super_pw}\";\n}};\n")
}

/// The stack a `pre-upgrade-check` writes: the quorum leader at index 0 (it upgrades last).
fn stack_now(c: &Cluster) -> Vec<u32> {
    let zk = zk_leader(c);
    let mut stack = vec![zk];
    stack.extend(c.addresses().into_keys().filter(|u| *u != zk));
    stack
}

/// A deployment of 3 units with a parent znode any session may write, the passwords, the
/// voters and the servers as they are.
struct Before {
    c: Cluster,
    super_pw: String,
    sync_pw: String,
    voters: BTreeSet<u32>,
    units: Vec<u32>,
}

fn deployed(seed: u64, charm: &std::path::Path) -> Before {
    let mut c = deploy(charm, 3, seed);
    let secret = internal_secret(&c.model).expect("the internal secret");
    let (super_pw, sync_pw) = (
        secret["super-password"].clone(),
        secret["sync-password"].clone(),
    );
    // Let the layout's root ACL be what the other charm leaves: anyone may write.
    let mut admin = c.client();
    admin.set_acl("/", &[AclEntry::anyone(Perms::ALL)]).unwrap();
    admin
        .set_acl("/zookeeper", &[AclEntry::anyone(Perms::ALL)])
        .unwrap();
    admin.create("/layout", b"").unwrap();
    drop(admin);
    let voters = c.voters();
    let units = c.addresses().into_keys().collect();
    c.settle_quiet("deployed");
    Before {
        c,
        super_pw,
        sync_pw,
        voters,
        units,
    }
}

/// Refreshes to `charm` under the watch and the writer, then checks everything that must
/// hold after a refresh from another layout; returns the cluster for more checks.
fn refresh_and_check(b: Before, charm: &std::path::Path, what: &str) -> Cluster {
    let Before {
        mut c,
        super_pw,
        sync_pw,
        voters,
        units,
    } = b;
    let before = servers(&c);
    let watch = ProcessWatch::start(c.model.dir(), SAMPLE);
    let hosts: Vec<String> = c.addresses().into_values().collect();
    let writer = Writer::start_as(hosts.clone(), "/layout", writer_auth(), WRITE_EVERY);
    c.model.refresh(charm).unwrap();
    c.settle(what);
    std::thread::sleep(Duration::from_millis(500));
    let writes = writer.finish();
    let seen = watch.finish();
    eprintln!(
        "{what}: {}; {} writes acknowledged, longest gap {:.1}s",
        seen.summary(),
        writes.acked.len(),
        writes.max_gap.as_secs_f64()
    );

    // Each server restarted at most once, one at a time, and the quorum kept serving.
    seen.assert_one_down_at_a_time(what);
    let after = servers(&c);
    for u in &units {
        let procs = testkit::watch::processes(&seen.timelines[u]);
        assert!(
            procs.len() <= 2,
            "{what}: unit {u} ran {} servers: {procs:?}",
            procs.len()
        );
        assert!(after[u].is_some(), "{what}: unit {u} runs ZooKeeper");
        assert_ne!(after[u], before[u], "{what}: unit {u} runs the new files");
    }
    assert!(writes.acked.len() > 20, "{what}: {writes:?}");
    assert!(
        writes.max_gap < Duration::from_secs(20),
        "{what}: no write for {:?}: {:?}",
        writes.max_gap,
        writes.errors
    );
    let have = read_children(&hosts, &super_pw, "/layout", Duration::from_secs(10)).unwrap();
    let lost = lost(&writes.acked, &have);
    assert!(
        lost.is_empty(),
        "{what}: acknowledged writes lost: {lost:?}"
    );

    // The same passwords, in the secret; the same voters; all active.
    let secret = internal_secret(&c.model).expect("the internal secret");
    assert_eq!(secret["super-password"], super_pw, "{what}");
    assert_eq!(secret["sync-password"], sync_pw, "{what}");
    assert_eq!(c.voters(), voters, "{what}");
    assert!(c.all_active(), "{what}:\n{}", c.describe());
    let states = upgrade_states(&c);
    assert!(states.values().all(|s| s == "idle"), "{what}: {states:?}");

    // The bag names the secret and holds no password; nothing shows one.
    let bag = c.model.app_databag("cluster").unwrap();
    assert!(bag.contains_key("internal_secret"), "{what}: {bag:?}");
    for pw in [&super_pw, &sync_pw] {
        let found = leaks(&c.model, pw);
        assert!(found.is_empty(), "{what}: a password appears in {found:?}");
    }
    for u in &units {
        assert_eq!(conf_text(&c, *u, "client-jaas.cfg"), "", "{what}: unit {u}");
        assert!(
            !conf_text(&c, *u, "zoo.cfg").contains("superDigest"),
            "{what}: unit {u}"
        );
    }

    // Clients must authenticate now, and the root is super's.
    let mut admin = c.client();
    assert_eq!(admin.get_acl("/").unwrap(), protected_acl(), "{what}");
    let mut other = Admin::connect_as(&hosts, writer_auth(), Duration::from_secs(10)).unwrap();
    assert!(other.create("/not-allowed", b"").is_err(), "{what}");
    c
}

#[test]
fn a_refresh_from_the_plain_bag_layout_of_earlier_revisions_keeps_the_ensemble_and_moves_the_passwords_into_a_secret(
) {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    let mut b = deployed(seed(21), &charm);
    let (super_pw, sync_pw) = (b.super_pw.clone(), b.sync_pw.clone());
    let leader = juju_leader(&b.c);

    // The app bag as an earlier revision kept it; the secret gone.
    let uri = b.c.model.app_databag("cluster").unwrap()["internal_secret"].clone();
    let app = b.c.model.app_databag("cluster").unwrap();
    let mut pairs = deletions(&app, &["starting"]);
    pairs.retain(|(k, _)| k.parse::<u32>().is_err());
    pairs.push(("super-password", &super_pw));
    pairs.push(("sync-password", &sync_pw));
    set_bag(&mut b.c, &leader, "cluster", true, &pairs);
    exec(&mut b.c, &leader, &["secret-remove", &uri]);
    // Its pre-upgrade-check: the stack, every unit ready.
    let stack = serde_json::to_string(&stack_now(&b.c)).unwrap();
    set_bag(
        &mut b.c,
        &leader,
        "upgrade",
        true,
        &[("upgrade-stack", &stack)],
    );
    for n in b.units.clone() {
        set_bag(&mut b.c, &unit(n), "upgrade", false, &[("state", "ready")]);
        set_bag(
            &mut b.c,
            &unit(n),
            "restart",
            false,
            &[("inputs", "8d77d74af733642b49851b24e9a6911ac27f027d")],
        );
    }
    // Its files, one server at a time.
    for n in b.units.clone() {
        let cfg = edit_cfg(
            &conf_text(&b.c, n, "zoo.cfg"),
            &["authProvider.", "enforce.auth."],
            &[format!(
                "DigestAuthenticationProvider.superDigest=super:{}",
                super_digest(&super_pw)
            )],
        );
        let flags: Vec<String> = jvm_flags(&b.c, n)
            .into_iter()
            .filter(|f| !f.starts_with("-Dzookeeper.superUser"))
            .collect();
        restart_on(
            &mut b.c,
            n,
            &[
                ("zoo.cfg", cfg),
                ("zookeeper-jaas.cfg", jaas(&sync_pw, None)),
                ("client-jaas.cfg", client_jaas(&super_pw)),
            ],
            &flags,
        );
        wipe_state(
            &b.c,
            n,
            &[
                ("started-with", "f00d"),
                ("status", "active\nfollower"),
                ("upgrade-pending", ""),
            ],
        );
    }
    // The old servers take `super` by digest only: a SASL session is no superuser there.
    let hosts: Vec<String> = b.c.addresses().into_values().collect();
    let mut sasl = Admin::connect(&hosts, &super_pw, Duration::from_secs(5)).unwrap();
    let cfg = sasl.get_config().unwrap();
    let spec = cfg.members.values().next().unwrap().clone();
    assert!(sasl.add_member(&spec, Some(cfg.version)).is_err());
    drop(sasl);
    assert!(internal_secret(&b.c.model).is_none());

    let new = test_charm!(&dir.path().join("refreshed"));
    let mut c = refresh_and_check(b, &new, "refresh from the plain-bag layout");
    // Moved, then removed from the bag.
    let bag = c.model.app_databag("cluster").unwrap();
    for key in ["super-password", "sync-password", "sync-password-new"] {
        assert!(!bag.contains_key(key), "{key} left in the bag: {bag:?}");
    }
    let view = c.model.show_secret("cluster.zookeeper.app", false).unwrap();
    assert_eq!(bag["internal_secret"], view.uri);
    c.model.destroy().unwrap();
}

#[test]
fn a_refresh_from_charmed_zookeepers_layout_keeps_its_passwords_voters_and_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    let mut b = deployed(seed(22), &charm);
    let (super_pw, sync_pw) = (b.super_pw.clone(), b.sync_pw.clone());
    let leader = juju_leader(&b.c);

    // Its secret also holds a client's password (a Kafka related to it).
    let uri = b.c.model.app_databag("cluster").unwrap()["internal_secret"].clone();
    exec(
        &mut b.c,
        &leader,
        &[
            "secret-set",
            &uri,
            &format!("super-password={super_pw}"),
            &format!("sync-password={sync_pw}"),
            &format!("{CLIENT_USER}={CLIENT_PASSWORD}"),
        ],
    );
    // Its peer data: the app bag names the secret (as this charm's does) and the quorum.
    let app = b.c.model.app_databag("cluster").unwrap();
    let mut pairs = deletions(&app, &["internal_secret"]);
    pairs.retain(|(k, _)| k.parse::<u32>().is_err());
    pairs.push(("quorum", "default - non-ssl"));
    set_bag(&mut b.c, &leader, "cluster", true, &pairs);
    let addresses = b.c.addresses();
    for n in b.units.clone() {
        let u = unit(n);
        let bags = b.c.model.unit_databags("cluster").unwrap();
        let mut pairs = deletions(
            &bags[&u],
            &[
                "ip",
                "state",
                "private-address",
                "ingress-address",
                "egress-subnets",
            ],
        );
        let host = format!("juju-{n}");
        let fqdn = format!("juju-{n}.lxd");
        pairs.extend([
            ("hostname", host.as_str()),
            ("fqdn", fqdn.as_str()),
            ("quorum", "default - non-ssl"),
        ]);
        set_bag(&mut b.c, &u, "cluster", false, &pairs);
        let restart = b.c.model.unit_databags("restart").unwrap();
        let pairs = deletions(
            &restart[&u],
            &[
                "state",
                "private-address",
                "ingress-address",
                "egress-subnets",
            ],
        );
        set_bag(&mut b.c, &u, "restart", false, &pairs);
        set_bag(&mut b.c, &u, "upgrade", false, &[("state", "idle")]);
        assert!(addresses.contains_key(&n));
    }
    // Its pre-upgrade-check: the stack and its dependency model.
    let stack = serde_json::to_string(&stack_now(&b.c)).unwrap();
    let deps = r#"{"service": {"dependencies": {}, "name": "zookeeper", "upgrade_supported": "^3.5", "version": "3.9.2"}}"#;
    set_bag(
        &mut b.c,
        &leader,
        "upgrade",
        true,
        &[("upgrade-stack", &stack), ("dependencies", deps)],
    );
    // Its files, one server at a time; none of this charm's private state.
    for n in b.units.clone() {
        let p = paths(&b.c, n);
        let dynamic =
            zookeeper_charm::render::dynamic_config_file(&conf_text(&b.c, n, "zoo.cfg")).unwrap();
        let cfg = format!(
            "initLimit=5\nsyncLimit=2\ntickTime=2000\nsyncEnabled=true\nmaxClientCnxns=60\n\
             minSessionTimeout=4000\nmaxSessionTimeout=40000\nautopurge.snapRetainCount=3\n\
             autopurge.purgeInterval=0\nreconfigEnabled=true\nstandaloneEnabled=false\n\
             4lw.commands.whitelist=mntr,srvr,stat,ruok\nquorum.auth.enableSasl=true\n\
             quorum.auth.learnerRequireSasl=true\nquorum.auth.serverRequireSasl=true\n\
             authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n\
             enforce.auth.enabled=true\nenforce.auth.schemes=sasl,digest\naudit.enable=true\n\
             admin.enableServer=false\ndataDir={}\ndataLogDir={}\ndynamicConfigFile={dynamic}\n",
            p.data_dir.display(),
            p.data_log_dir.display(),
        );
        let log_dir = jvm_flags(&b.c, n)
            .into_iter()
            .find(|f| f.starts_with("-Dzookeeper.log.dir="))
            .unwrap();
        let flags = vec![
            "-Dcharmed.zookeeper.log.level=INFO".to_string(),
            "-Dzookeeper.requireClientAuthScheme=sasl".to_string(),
            "-Dzookeeper.superUser=super".to_string(),
            format!("-Djava.security.auth.login.config={}", p.jaas().display()),
            log_dir,
        ];
        restart_on(
            &mut b.c,
            n,
            &[
                ("zoo.cfg", cfg),
                ("zookeeper-jaas.cfg", jaas(&sync_pw, Some(&super_pw))),
                ("client-jaas.cfg", client_jaas(&super_pw)),
            ],
            &flags,
        );
        wipe_state(&b.c, n, &[]);
    }
    // Its servers take `super` and the client by SASL, and answer no `conf`.
    let hosts: Vec<String> = b.c.addresses().into_values().collect();
    assert!(Admin::connect(&hosts, &super_pw, Duration::from_secs(5)).is_ok());
    assert!(client_session(&hosts).is_ok());
    assert!(zookeeper_charm::zk::four::conf_within(&hosts[0], Duration::from_secs(2)).is_err());

    let new = test_charm!(&dir.path().join("refreshed"));
    let uri_before = uri.clone();
    let mut c = refresh_and_check(b, &new, "refresh from Charmed ZooKeeper's layout");
    // The same secret, the client's password kept, and the client still logs in.
    let bag = c.model.app_databag("cluster").unwrap();
    assert_eq!(bag["internal_secret"], uri_before);
    assert_eq!(
        internal_secret(&c.model).unwrap()[CLIENT_USER],
        CLIENT_PASSWORD
    );
    let hosts: Vec<String> = c.addresses().into_values().collect();
    for h in &hosts {
        client_session(std::slice::from_ref(h))
            .unwrap_or_else(|e| panic!("{CLIENT_USER} on {h} after the refresh: {e}"));
    }
    c.model.destroy().unwrap();
}

/// A SASL session as the client user.
fn client_session(hosts: &[String]) -> Result<Admin, zookeeper_charm::zk::ZkError> {
    let auth = Auth::Sasl {
        user: CLIENT_USER.into(),
        password: CLIENT_PASSWORD.into(),
    };
    Admin::connect_as(hosts, auth, Duration::from_secs(5)).and_then(|mut a| {
        a.children("/")?;
        Ok(a)
    })
}
