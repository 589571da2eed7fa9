//! TLS through the `certificates` relation on the local model (`zk-sim`) with real
//! ZooKeeper servers (issue 16; reference §5.3, TLS-1 to TLS-9): a provider stub signs the
//! units' CSRs with a test CA made with `openssl`, and the ensemble switches to TLS and back
//! one restart at a time.
//!
//! During every switch the servers are sampled every 100 ms from outside the charm: at most
//! one is out of service at a time and the voters keep a serving majority (at least 2 of 3
//! answer `srvr`), and every pair of running servers can talk (each accepts what the other
//! sends: no server runs `sslQuorum` without `portUnification` while another runs without
//! `sslQuorum`), by the `zoo.cfg` each process was started with. Clients are checked with
//! `openssl s_client` (verification against the CA, with the unit's IP).
//!
//! A client stub on the `zookeeper` relation (plain keys) sees `:2181` with `tls=disabled`
//! until the switch is over, then `:2182` on every endpoint with `tls=enabled` and the CA as
//! `tls-ca` (TLS-4). KC-3: a TLS client trusting only that CA verifies every endpoint's
//! certificate against the endpoint's host (`openssl s_client`), and Debian's Java client
//! over TLS, trusting only that CA, logs in on every endpoint with SASL DIGEST-MD5 as the
//! relation's user, works under its chroot and is refused outside it. After the turn-off,
//! `:2181` and `disabled` again (TLS-6).
//!
//! `ZK_TEST_SEEDS=1,2` overrides the event-order seeds.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use testkit::background::Background;
use testkit::local_workload::LocalWorkload;
use testkit::tls_provider::{
    openssl, s_client_srvr, served_certificate, ChainOrder, TestCa, TlsProvider,
};
use testkit::watch::{processes, ProcessWatch, Watched};
use testkit::{live_server, seeds, test_charm, Cluster, ServerProcess};
use zk_sim::Model;
use zookeeper_charm::tls::{Csr, PrivateKey, QuorumTls};
use zookeeper_charm::zk::four;

const SAMPLE: Duration = Duration::from_millis(100);
const CONF: &str = "/var/snap/charmed-zookeeper/current/etc/zookeeper";
/// The snap's `snap_daemon` user, which ZooKeeper runs as.
const SNAP_DAEMON: u32 = 584788;

fn require_tools() {
    for jar in [
        "/usr/share/java/netty-codec.jar",
        "/usr/share/java/netty-resolver.jar",
    ] {
        assert!(
            Path::new(jar).exists(),
            "{jar} not found (ZooKeeper's TLS ports need it); install with: apt-get install -y libnetty-java"
        );
    }
    let ok = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "openssl not found; install with: apt-get install -y openssl"
    );
}

fn unit(id: u32) -> String {
    format!("zookeeper/{id}")
}

/// The quorum mode a `zoo.cfg` sets.
fn mode_of(cfg: &str) -> QuorumTls {
    let has = |line: &str| cfg.lines().any(|l| l.trim() == line);
    QuorumTls::from_flags(has("portUnification=true"), has("sslQuorum=true"))
}

/// Samples every unit's live server; when a unit's process changes, reads the `zoo.cfg` it
/// was started with (written before the start) and checks that every pair of running
/// servers accepts each other's quorum connections. Returns the first violation and each
/// unit's modes in the order they ran.
struct ModeWatch(Background<(Option<String>, Modes)>);

/// Each unit's quorum modes, in the order its servers ran them.
type Modes = BTreeMap<String, Vec<QuorumTls>>;

impl ModeWatch {
    fn start(model_dir: &Path) -> ModeWatch {
        let dir = model_dir.to_path_buf();
        ModeWatch(Background::spawn("mode-watch", move |stop| {
            let model = Model::open(&dir).expect("open the watched model");
            let mut current: BTreeMap<String, (ServerProcess, QuorumTls)> = BTreeMap::new();
            let mut seen: Modes = BTreeMap::new();
            let mut violation = None;
            loop {
                let last = stop.load(Ordering::Relaxed);
                let units: Vec<String> = model
                    .status()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|u| u.unit)
                    .filter(|u| u.starts_with("zookeeper/"))
                    .collect();
                for u in &units {
                    let Ok(machine) = model.machine(u) else {
                        continue;
                    };
                    match live_server(&machine) {
                        Some(p) if current.get(u).map(|c| c.0) != Some(p) => {
                            let cfg = machine
                                .host_path(&Path::new(CONF).join("zoo.cfg"))
                                .and_then(|f| std::fs::read_to_string(f).ok())
                                .unwrap_or_default();
                            let m = mode_of(&cfg);
                            current.insert(u.clone(), (p, m));
                            let modes = seen.entry(u.clone()).or_default();
                            if modes.last() != Some(&m) {
                                modes.push(m);
                            }
                        }
                        Some(_) => {}
                        None => {
                            current.remove(u);
                        }
                    }
                }
                for (a, (_, ma)) in &current {
                    for (b, (_, mb)) in &current {
                        if violation.is_none() && !ma.accepts(*mb) {
                            violation = Some(format!(
                                "{a} runs {ma:?} and does not accept {b} running {mb:?}; modes so far {seen:?}"
                            ));
                        }
                    }
                }
                if last {
                    return (violation, seen);
                }
                std::thread::sleep(SAMPLE);
            }
        }))
    }

    fn finish(self) -> (Option<String>, Modes) {
        self.0.finish()
    }
}

/// Runs `change` (which settles) while watching the servers; checks the invariants (with
/// one unit, only that each restart goes to an adjacent mode) and returns what the process
/// watch saw and each unit's modes in order.
fn switch(c: &mut Cluster, what: &str, change: impl FnOnce(&mut Cluster)) -> (Watched, Modes) {
    let processes_watch = ProcessWatch::start(c.model.dir(), SAMPLE);
    let modes = ModeWatch::start(c.model.dir());
    change(c);
    let watched = processes_watch.finish();
    let (violation, modes) = modes.finish();
    eprintln!(
        "seed {}: {what}: {}; modes {modes:?}",
        c.seed,
        watched.summary()
    );
    // One voter has no majority while it restarts: only the mode check applies.
    if c.addresses().len() > 1 {
        watched.assert_one_down_at_a_time(&format!("seed {}, {what}", c.seed));
    }
    if let Some(v) = violation {
        panic!("seed {}, {what}: {v}", c.seed);
    }
    (watched, modes)
}

/// How many times each unit's server was replaced while watched.
fn restarts(watched: &Watched) -> BTreeMap<u32, usize> {
    watched
        .timelines
        .iter()
        .map(|(u, t)| (*u, processes(t).len().saturating_sub(1)))
        .collect()
}

fn zoo_cfg(c: &Cluster, n: u32) -> String {
    std::fs::read_to_string(c.zoo_cfg(n)).unwrap()
}

fn conf_file(c: &Cluster, n: u32, name: &str) -> PathBuf {
    c.machine(n)
        .host_path(&Path::new(CONF).join(name))
        .expect("the snap's data is the machine's own")
}

fn cluster_app(c: &Cluster) -> BTreeMap<String, String> {
    c.model.app_databag("cluster").unwrap()
}

fn cluster_units(c: &Cluster) -> BTreeMap<String, BTreeMap<String, String>> {
    c.model.unit_databags("cluster").unwrap()
}

/// The one CSR unit `u` publishes in relation `rel`.
fn csr_of(c: &Cluster, rel: u32, u: &str) -> Csr {
    let bags = c.model.relation_unit_bags(rel).unwrap();
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&bags[u]["certificate_signing_requests"]).unwrap();
    assert_eq!(list.len(), 1, "{u}: {list:?}");
    assert_eq!(list[0]["ca"], serde_json::json!(false), "{u}: {list:?}");
    Csr::from_pem(list[0]["certificate_signing_request"].as_str().unwrap()).unwrap()
}

/// Every unit's CSR names its address (CN and IP SAN).
fn assert_csrs(c: &Cluster, rel: u32) {
    for (n, addr) in c.addresses() {
        let csr = csr_of(c, rel, &unit(n));
        assert_eq!(csr.subject().common_name(), addr, "seed {}", c.seed);
        assert!(
            csr.subject().ips().contains(&addr.parse().unwrap()),
            "seed {}: {:?}",
            c.seed,
            csr.subject()
        );
    }
}

/// The ensemble runs TLS only: every `zoo.cfg` has the final keys, the peer data says so,
/// the PEM stores are the server's and private, and each unit's 2182 serves its own
/// certificate, verified against the CA for its IP, with `srvr` over TLS; 2181 still
/// answers in plaintext.
fn assert_tls_on(c: &Cluster, provider: &TlsProvider) {
    let seed = c.seed;
    for (n, addr) in c.addresses() {
        let cfg = zoo_cfg(c, n);
        for line in [
            "secureClientPort=2182".to_string(),
            format!("secureClientPortAddress={addr}"),
            "sslQuorum=true".into(),
            "ssl.keyStore.type=PEM".into(),
            "ssl.trustStore.type=PEM".into(),
            "ssl.quorum.keyStore.type=PEM".into(),
            "ssl.quorum.trustStore.type=PEM".into(),
        ] {
            assert!(
                cfg.lines().any(|l| l == line),
                "seed {seed}: unit {n}: {line} missing:\n{cfg}"
            );
        }
        assert!(!cfg.contains("portUnification"), "seed {seed}: {cfg}");
        assert!(!cfg.contains("password"), "seed {seed}: {cfg}");
        for name in ["keystore.pem", "truststore.pem"] {
            let meta = std::fs::metadata(conf_file(c, n, name)).unwrap();
            assert_eq!(meta.mode() & 0o777, 0o600, "seed {seed}: unit {n}: {name}");
            assert_eq!(meta.uid(), SNAP_DAEMON, "seed {seed}: unit {n}: {name}");
        }
        let (ok, out) = s_client_srvr(&addr, &provider.ca_file());
        assert!(ok, "seed {seed}: unit {n}: s_client failed:\n{out}");
        assert!(
            out.contains("Verification: OK") || out.contains("Verify return code: 0 (ok)"),
            "seed {seed}: {out}"
        );
        assert!(out.contains(&format!("CN = {addr}")), "seed {seed}: {out}");
        assert!(out.contains("Zookeeper version:"), "seed {seed}: {out}");
        assert!(
            four::srvr_within(&addr, Duration::from_secs(2)).is_ok(),
            "seed {seed}: unit {n}: 2181 must still answer in plaintext"
        );
    }
    let app = cluster_app(c);
    assert_eq!(app.get("tls").map(String::as_str), Some("enabled"));
    assert_eq!(app.get("quorum").map(String::as_str), Some("ssl"));
    assert_eq!(app.get("switching-encryption"), None, "{app:?}");
    for (u, bag) in cluster_units(c) {
        assert_eq!(bag.get("unified"), None, "seed {seed}: {u}: {bag:?}");
        assert_eq!(bag.get("quorum").map(String::as_str), Some("ssl"), "{u}");
        assert!(bag.contains_key("tls-cert"), "{u}: {bag:?}");
    }
}

/// The public key of a PEM certificate or key, as `openssl` prints it.
fn public_key(dir: &Path, pem: &str, what: &str) -> String {
    let args: &[&str] = if what == "cert" {
        &["x509", "-noout", "-pubkey"]
    } else {
        &["pkey", "-pubout"]
    };
    openssl(dir, args, Some(pem.as_bytes()))
}

fn serial(dir: &Path, cert_pem: &str) -> String {
    openssl(
        dir,
        &["x509", "-noout", "-serial"],
        Some(cert_pem.as_bytes()),
    )
}

fn served(c: &Cluster, n: u32, provider: &TlsProvider) -> String {
    let addr = &c.addresses()[&n];
    let (ok, out) = s_client_srvr(addr, &provider.ca_file());
    assert!(ok, "seed {}: unit {n}: {out}", c.seed);
    served_certificate(&out).expect("the server's certificate")
}

/// Deploys a client stub `app` on the `zookeeper` relation asking for `/app` in plain keys,
/// and settles (the roll that loads its user). Returns the relation id.
fn client_stub(c: &mut Cluster, app: &str) -> u32 {
    let id = c.client_stub(app);
    c.settle("integrate the client");
    c.model
        .set_relation_data(&format!("{app}/0"), id, true, &[("database", "/app")])
        .unwrap();
    c.settle("the client asks for /app");
    id
}

/// What the client stub was given, with both fields checked together: every endpoint on
/// `port`, and `tls` saying the same.
fn assert_client(c: &Cluster, id: u32, port: u16) -> BTreeMap<String, String> {
    let bag = c.model.relation_app_bag(id, "zookeeper").unwrap();
    let endpoints = bag.get("endpoints").expect("endpoints");
    let hosts: Vec<&str> = endpoints.split(',').collect();
    assert_eq!(hosts.len(), c.addresses().len(), "seed {}: {bag:?}", c.seed);
    for h in &hosts {
        assert!(h.ends_with(&format!(":{port}")), "seed {}: {bag:?}", c.seed);
    }
    let tls = if port == 2182 { "enabled" } else { "disabled" };
    assert_eq!(bag.get("tls").map(String::as_str), Some(tls), "{bag:?}");
    assert_eq!(bag.contains_key("tls-ca"), port == 2182, "{bag:?}");
    bag
}

/// Debian's ZooKeeper client jars, with the netty jars its TLS socket needs that its
/// manifest leaves out (reference §3.3), and an SLF4J binding.
const CLIENT_CLASSPATH: &str = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar";

/// Runs Debian's `zkCli` (`ZooKeeperMain`) against `endpoint` (`host:2182`) over TLS
/// (Netty client socket, the server verified against `ca` only, hostname verification on)
/// logged in with SASL DIGEST-MD5 as `user`, feeding it `commands` one per line. The JAAS
/// file lives in a private temporary directory (0700) as a 0600 file, removed afterwards.
/// Returns whether it exited 0 and everything it printed.
fn zkcli_tls(
    endpoint: &str,
    ca: &Path,
    user: &str,
    password: &str,
    commands: &[String],
) -> (bool, String) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let private = tempfile::Builder::new()
        .prefix("kc3-client-")
        .tempdir()
        .unwrap();
    let jaas = private.path().join("client-jaas.conf");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&jaas)
        .and_then(|mut f| {
            write!(
                f,
                "Client {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  username=\"{user}\"\n  password=\"{password}\";\n}};\n"
            )
        })
        .unwrap();
    let java = LocalWorkload::new("/nonexistent".into())
        .java()
        .expect("java (apt-get install -y default-jre-headless)")
        .to_path_buf();
    let mut script = commands.join("\n");
    script.push_str("\nquit\n");
    let run = zookeeper_charm::subprocess::run(
        std::process::Command::new(java)
            .arg(format!(
                "-Djava.security.auth.login.config={}",
                jaas.display()
            ))
            .args([
                "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
                "-Dzookeeper.client.secure=true",
                "-Dzookeeper.ssl.hostnameVerification=true",
                "-Dzookeeper.ssl.trustStore.type=PEM",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            ])
            .arg(format!(
                "-Dzookeeper.ssl.trustStore.location={}",
                ca.display()
            ))
            .args([
                "-cp",
                CLIENT_CLASSPATH,
                "org.apache.zookeeper.ZooKeeperMain",
                "-timeout",
                "5000",
                "-server",
                endpoint,
            ]),
        Some(script.as_bytes()),
        Duration::from_secs(90),
    );
    testkit::host::outcome(run)
}

/// KC-3's login half: on every endpoint, a TLS client trusting only the published `tls-ca`
/// logs in with SASL DIGEST-MD5 as the relation's user, creates and reads a znode under its
/// chroot, and is refused outside it; a client trusting another CA gets no session.
fn assert_tls_logins(c: &Cluster, id: u32, bag: &BTreeMap<String, String>, ca: &Path) {
    let seed = c.seed;
    let user = &bag["username"];
    assert_eq!(*user, format!("relation-{id}"), "{bag:?}");
    let chroot = &bag["chroot"];
    let endpoints: Vec<&str> = bag["endpoints"].split(',').collect();
    assert_eq!(endpoints.len(), c.addresses().len(), "{bag:?}");
    for (i, endpoint) in endpoints.iter().enumerate() {
        let inside = format!("{chroot}/over-tls-{i}");
        let outside = format!("/outside-{id}-{i}");
        let (ok, out) = zkcli_tls(
            endpoint,
            ca,
            user,
            &bag["password"],
            // zkCli exits with the last command's result: the refused one comes first.
            &[
                format!("create {outside} x"),
                format!("create {inside} written-on-{i}"),
                format!("get {inside}"),
            ],
        );
        let shown = format!("seed {seed}: {endpoint} as {user} over TLS:\n{out}");
        assert!(ok, "{shown}");
        assert!(out.contains("state:SaslAuthenticated"), "{shown}");
        assert!(out.contains(&format!("Created {inside}")), "{shown}");
        assert!(
            out.lines().any(|l| l == format!("written-on-{i}")),
            "{shown}"
        );
        assert!(
            out.contains(&format!("Insufficient permission : {outside}")),
            "{shown}"
        );
        assert!(!out.contains(&format!("Created {outside}")), "{shown}");
    }
    let other = TestCa::new();
    let (_, out) = zkcli_tls(
        endpoints[0],
        &other.ca_file(),
        user,
        &bag["password"],
        &[format!("create {chroot}/untrusted x")],
    );
    assert!(
        out.contains("SSLHandshakeException") && !out.contains("Created"),
        "seed {seed}: a client trusting another CA:\n{out}"
    );
}

/// The client ports each unit declared open (`juju status` shows them).
fn ports(c: &Cluster) -> BTreeMap<String, BTreeSet<String>> {
    c.model
        .status()
        .unwrap()
        .into_iter()
        .filter(|u| u.unit.starts_with("zookeeper/"))
        .map(|u| (u.unit, u.ports.into_iter().collect()))
        .collect()
}

fn three_units(charm: &Path, seed: u64) {
    require_tools();
    let mut c = Cluster::create(charm, seed);
    c.model.deploy(3).unwrap();
    c.settle("deploy 3");
    let mut provider = TlsProvider::deploy(&mut c.model, "tls");
    let work = tempfile::tempdir().unwrap();
    let plain: BTreeSet<String> = ["2181/tcp".to_string()].into();
    assert!(ports(&c).values().all(|p| *p == plain), "{:?}", ports(&c));
    let client = client_stub(&mut c, "app");
    assert_client(&c, client, 2181);

    // TLS-1: every unit asks for a certificate for its address; nobody restarts before it
    // has one.
    let mut rel = 0;
    let (watched, _) = switch(&mut c, "integrate certificates", |c| {
        rel = c
            .model
            .integrate("zookeeper:certificates", "tls:certificates")
            .unwrap();
        c.settle_quiet("integrate certificates");
    });
    assert!(
        restarts(&watched).values().all(|r| *r == 0),
        "{:?}",
        restarts(&watched)
    );
    assert_csrs(&c, rel);
    let app = cluster_app(&c);
    assert_eq!(
        app.get("tls").map(String::as_str),
        Some("enabled"),
        "{app:?}"
    );
    assert_eq!(
        app.get("switching-encryption").map(String::as_str),
        Some("started")
    );

    // TLS-2: two units get their certificate: they switch to portUnification; the quorum
    // step waits for the third.
    let (watched, _) = switch(&mut c, "sign units 0 and 1", |c| {
        let signed = provider.sign(&mut c.model, rel, Some(&["zookeeper/0", "zookeeper/1"]));
        assert_eq!(signed.len(), 2, "{signed:?}");
        c.settle_quiet("sign units 0 and 1");
    });
    assert_eq!(
        restarts(&watched),
        BTreeMap::from([(0, 1), (1, 1), (2, 0)]),
        "seed {seed}"
    );
    let app = cluster_app(&c);
    assert_ne!(
        app.get("quorum").map(String::as_str),
        Some("ssl"),
        "{app:?}"
    );
    for n in [0, 1] {
        assert_eq!(mode_of(&zoo_cfg(&c, n)), QuorumTls::Unified, "unit {n}");
    }
    assert_eq!(mode_of(&zoo_cfg(&c, 2)), QuorumTls::Plaintext);
    assert_client(&c, client, 2181);
    // The whole switch, once the last certificate comes.
    let (watched, modes) = switch(&mut c, "sign unit 2", |c| {
        provider.sign(&mut c.model, rel, None);
        c.settle("sign unit 2");
    });
    let r = restarts(&watched);
    assert_eq!(
        r,
        BTreeMap::from([(0, 2), (1, 2), (2, 3)]),
        "seed {seed}: {modes:?}"
    );
    for (u, m) in &modes {
        assert_eq!(m.last(), Some(&QuorumTls::SslOnly), "{u}: {m:?}");
    }
    assert_tls_on(&c, &provider);
    // TLS-4 and KC-3: the client got the CA, and every endpoint verifies against it by the
    // endpoint's host.
    let bag = assert_client(&c, client, 2182);
    let ca = work.path().join("client-ca.pem");
    std::fs::write(&ca, &bag["tls-ca"]).unwrap();
    for endpoint in bag["endpoints"].split(',') {
        let host = endpoint.trim_end_matches(":2182");
        let (ok, out) = s_client_srvr(host, &ca);
        assert!(ok, "seed {seed}: {endpoint} with tls-ca:\n{out}");
        assert!(out.contains("Zookeeper version:"), "seed {seed}: {out}");
    }
    assert_tls_logins(&c, client, &bag, &ca);
    // TLS-3 extras: the certificate is the unit's own key's, and another IP does not match.
    let tls_ports: BTreeSet<String> = ["2182/tcp".to_string()].into();
    assert!(
        ports(&c).values().all(|p| *p == tls_ports),
        "{:?}",
        ports(&c)
    );

    // TLS-5: the provider re-signs unit 1's CSR with a new serial: that unit restarts once
    // and serves the new certificate.
    let before = serial(work.path(), &served(&c, 1, &provider));
    let mut new_leaf = String::new();
    // This provider lists the leaf first in the chain.
    provider.chain = ChainOrder::LeafFirst;
    let (watched, _) = switch(&mut c, "re-sign unit 1", |c| {
        new_leaf = provider.resign(&mut c.model, rel, "zookeeper/1");
        c.settle("re-sign unit 1");
    });
    assert_eq!(
        restarts(&watched),
        BTreeMap::from([(0, 0), (1, 1), (2, 0)]),
        "seed {seed}"
    );
    let after = serial(work.path(), &served(&c, 1, &provider));
    assert_ne!(before, after);
    assert_eq!(after, serial(work.path(), &new_leaf));

    // TLS-7: a key given to unit 2 replaces its CSR; once signed, 2182 serves a
    // certificate for that key. The key appears nowhere.
    let key = PrivateKey::generate().unwrap();
    let key_pem = key.to_pkcs8_pem().unwrap().as_str().unwrap().to_string();
    let old_csr = csr_of(&c, rel, "zookeeper/2");
    let r = c
        .model
        .run_action(
            "zookeeper/2",
            "set-tls-private-key",
            &[("internal-key", &key_pem)],
        )
        .unwrap();
    assert!(r.completed(), "seed {seed}: {r:?}");
    assert!(r.results.is_empty(), "{r:?}");
    c.settle("set-tls-private-key");
    let new_csr = csr_of(&c, rel, "zookeeper/2");
    assert_ne!(new_csr.pem(), old_csr.pem());
    assert_eq!(new_csr.public_key_der(), key.public_key_der().unwrap());
    provider.chain = ChainOrder::CaThenLeaf;
    let (watched, _) = switch(&mut c, "sign the new key's CSR", |c| {
        provider.sign(&mut c.model, rel, None);
        c.settle("sign the new key's CSR");
    });
    assert_eq!(
        restarts(&watched),
        BTreeMap::from([(0, 0), (1, 0), (2, 1)]),
        "seed {seed}"
    );
    assert_eq!(
        public_key(work.path(), &served(&c, 2, &provider), "cert"),
        public_key(work.path(), &key_pem, "key")
    );
    // Lines of the private part (the first lines hold the modulus, which the CSR and the
    // certificate publish).
    let body: Vec<&str> = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for line in [body[8], body[12], body[16]] {
        let places = testkit::model::leaks(&c.model, line);
        assert!(
            places.is_empty(),
            "seed {seed}: the key appears in {places:?}"
        );
    }

    // TLS-6: the relation goes: the reverse switch, one restart at a time; at the end no
    // TLS keys, no stores, plaintext quorum, 2182 closed.
    let (watched, modes) = switch(&mut c, "remove certificates", |c| {
        c.model
            .remove_relation("zookeeper:certificates", Some("tls:certificates"))
            .unwrap();
        c.settle("remove certificates");
    });
    let r = restarts(&watched);
    assert!(r.values().all(|n| *n == 3), "seed {seed}: {r:?} {modes:?}");
    for (n, addr) in c.addresses() {
        let cfg = zoo_cfg(&c, n);
        assert!(!cfg.contains("ssl"), "seed {seed}: unit {n}:\n{cfg}");
        assert!(!cfg.contains("secureClientPort"), "seed {seed}:\n{cfg}");
        assert!(!cfg.contains("portUnification"), "seed {seed}:\n{cfg}");
        for name in ["keystore.pem", "truststore.pem"] {
            assert!(
                !conf_file(&c, n, name).exists(),
                "seed {seed}: unit {n}: {name}"
            );
        }
        let (ok, out) = s_client_srvr(&addr, &provider.ca_file());
        assert!(!ok, "seed {seed}: unit {n} still serves TLS: {out}");
    }
    let app = cluster_app(&c);
    assert_eq!(app.get("tls"), None, "{app:?}");
    assert_eq!(app.get("switching-encryption"), None, "{app:?}");
    assert_eq!(app.get("quorum").map(String::as_str), Some("non-ssl"));
    for (u, bag) in cluster_units(&c) {
        assert_eq!(
            bag.get("quorum").map(String::as_str),
            Some("non-ssl"),
            "{u}"
        );
        assert_eq!(bag.get("unified"), None, "{u}");
        assert_eq!(bag.get("tls-cert"), None, "{u}");
    }
    assert!(ports(&c).values().all(|p| *p == plain), "{:?}", ports(&c));
    assert_client(&c, client, 2181);
    c.model.destroy().unwrap();
}

#[test]
fn three_units_switch_to_tls_and_back_one_restart_at_a_time_and_serve_verified_tls() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    for seed in seeds(&[3]) {
        three_units(&charm, seed);
    }
}

fn one_unit(charm: &Path, seed: u64) {
    require_tools();
    let mut c = Cluster::create(charm, seed);
    c.model.deploy(1).unwrap();
    c.settle("deploy 1");
    let work = tempfile::tempdir().unwrap();

    // TLS-9: a key set with no certificates relation is kept, and used when one comes.
    let key = PrivateKey::generate().unwrap();
    let pkcs1 = openssl(
        work.path(),
        &["pkey", "-traditional"],
        Some(key.to_pkcs8_pem().unwrap().as_bytes()),
    );
    assert!(
        pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
        "{pkcs1}"
    );
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&pkcs1);
    let r = c
        .model
        .run_action(
            "zookeeper/0",
            "set-tls-private-key",
            &[("internal-key", &b64)],
        )
        .unwrap();
    assert!(r.completed(), "seed {seed}: {r:?}");
    let bad = c
        .model
        .run_action(
            "zookeeper/0",
            "set-tls-private-key",
            &[("internal-key", "not a key")],
        )
        .unwrap();
    assert!(!bad.completed(), "seed {seed}: {bad:?}");
    assert!(bad.message.contains("refused"), "{bad:?}");
    c.settle("set-tls-private-key");

    // TLS-8: the single unit switches too, and the CSR is the given key's.
    let mut provider = TlsProvider::deploy(&mut c.model, "tls");
    let rel = c
        .model
        .integrate("zookeeper:certificates", "tls:certificates")
        .unwrap();
    c.settle_quiet("integrate certificates");
    let csr = csr_of(&c, rel, "zookeeper/0");
    assert_eq!(csr.public_key_der(), key.public_key_der().unwrap());
    let (watched, modes) = switch(&mut c, "sign", |c| {
        provider.sign(&mut c.model, rel, None);
        c.settle("sign");
    });
    assert_eq!(
        restarts(&watched),
        BTreeMap::from([(0, 3)]),
        "seed {seed}: {modes:?}"
    );
    assert_tls_on(&c, &provider);
    let own = public_key(work.path(), &served(&c, 0, &provider), "cert");
    assert_eq!(own, public_key(work.path(), &pkcs1, "key"));
    // The key file is root's and private.
    let st = c.model.state().unwrap();
    let key_file = c
        .machine(0)
        .host_path(
            &Path::new("/var/lib/zookeeper-charm")
                .join(&st.model_uuid)
                .join("zookeeper-0")
                .join("tls-private-key"),
        )
        .unwrap();
    let meta = std::fs::metadata(&key_file).unwrap();
    assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, 0));
    c.model.destroy().unwrap();
}

#[test]
fn a_single_unit_switches_to_tls_with_a_key_set_before_the_relation() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    for seed in seeds(&[4]) {
        one_unit(&charm, seed);
    }
}
