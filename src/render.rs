//! The files ZooKeeper runs with, rendered from the snapshot: `zoo.cfg`, the initial
//! dynamic config, the JAAS files, `myid`, and the JVM flags.
//!
//! Rendering is pure. [`fingerprint`] summarises everything a running server reads only at
//! start, so comparing it with the fingerprint recorded at the last (re)start tells whether
//! a restart is needed. It is computed without the passwords: from the files rendered with
//! a placeholder for each password ([`crate::passwords::shape`]) and the generation of the
//! passwords in the secret, so a hook that renders nothing need not read the secret, and
//! the fingerprint (logged, and kept in the `restart` bag as `inputs`) reveals nothing of
//! them. The `dynamicConfigFile` line is not part of it: ZooKeeper rewrites that line itself
//! after every reconfig, and the charm preserves it.
//!
//! What depends on the machine comes in a [`Sizing`]: the heap (`-Xmx`, from `heap-size` or
//! the machine's memory) and the transaction-log sizing (from the data filesystem's size),
//! so a unit whose machine changed restarts with them like after a config change. The
//! app-wide [`shared_inputs`] leave the machine out: each unit's may differ.
//!
//! Clients must authenticate (`enforce.auth.*`, with the SASL provider registered); `super`
//! is the superuser through SASL (`-Dzookeeper.superUser=super` and `user_super` in the
//! JAAS `Server` section), so its password never crosses the network.

use std::path::Path;

use sha1::{Digest, Sha1};

use crate::config::CharmConfig;
use crate::cos::exporters::{self, Capabilities, JmxExporter};
use crate::machine::{MachineFacts, TxnLogSizing};
use crate::passwords::{Password, Passwords};
use crate::peers::cluster::App;
use crate::tls::{zoo_cfg_tls, Fingerprint, QuorumTls, Running};
use crate::workload::Paths;
use crate::zk::ServerSpec;

/// The TLS part of a unit's files: what its server runs with (the quorum mode and whether it
/// serves 2182), the `zoo.cfg` lines for that, and the certificate those lines point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub mode: Running,
    pub lines: Vec<(&'static str, String)>,
    /// The installed certificate, when the lines use the PEM stores: a new one needs a
    /// restart (ZooKeeper 3.8 reloads the stores for the quorum, not for port 2182).
    pub certificate: Option<Fingerprint>,
}

impl TlsConfig {
    /// No TLS at all.
    pub const PLAINTEXT_MODE: Running = Running {
        quorum: QuorumTls::Plaintext,
        client_tls: false,
    };

    pub fn plaintext() -> TlsConfig {
        TlsConfig {
            mode: TlsConfig::PLAINTEXT_MODE,
            lines: Vec::new(),
            certificate: None,
        }
    }

    /// The config for `mode` with the PEM stores in `conf_dir`, 2182 bound to
    /// `secure_address`. `certificate` is the installed one; `None` when the mode needs one
    /// and none is installed.
    pub fn new(
        mode: Running,
        conf_dir: &Path,
        secure_address: Option<&str>,
        certificate: Option<&Fingerprint>,
    ) -> Option<TlsConfig> {
        let uses_files = mode.client_tls || mode.quorum.ssl_quorum();
        if uses_files && certificate.is_none() {
            return None;
        }
        let lines = zoo_cfg_tls(mode.quorum, mode.client_tls, conf_dir, secure_address).ok()?;
        Some(TlsConfig {
            mode,
            lines,
            certificate: certificate.filter(|_| uses_files).cloned(),
        })
    }
}

/// The 4-letter words anyone who reaches the client port may send: none tells membership
/// or paths. `srvr` (version, mode, counters; Kafka runs it too) and `mntr` (metrics; the
/// charm's health probe) and `ruok` (liveness). `conf` (every server's address and the
/// data paths) is left out: the charm reads the membership as `super`.
pub const FOUR_LETTER_WHITELIST: &str = "srvr,mntr,ruok";
pub use crate::zk::SUPER_USER;

/// A JAAS option value: quoted, with `\` and `"` escaped (a [`Password`] has neither, and no
/// `$`, which Java's JAAS parser would expand).
fn jaas_value(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn jaas_user(user: &str, password: &Password) -> String {
    format!("\n    user_{user}={}", jaas_value(password.as_str()))
}

/// What the rendered files take from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    /// The JVM's maximum heap in MiB; `None` leaves it to the snap's launcher (1000 MiB,
    /// or its `ZK_SERVER_HEAP`).
    pub heap_mib: Option<u32>,
    pub txn_log: TxnLogSizing,
}

impl Default for Sizing {
    /// Nothing known of the machine: the launcher's heap, ZooKeeper's log defaults.
    fn default() -> Self {
        Sizing {
            heap_mib: None,
            txn_log: TxnLogSizing::default(),
        }
    }
}

impl Sizing {
    /// The sizing of a unit on `machine`: `heap-size`, else the heap its memory gives
    /// ([`crate::machine::heap_mib`]); the log sizing of its data filesystem.
    pub fn for_machine(config: &CharmConfig, machine: &MachineFacts) -> Sizing {
        Sizing {
            heap_mib: config
                .heap_size_mib
                .or_else(|| machine.memory.as_ref().map(crate::machine::heap_mib)),
            txn_log: TxnLogSizing::for_disk(
                machine.disk.map(|d| d.total),
                config.snap_retain_count,
            ),
        }
    }

    /// What every unit shares: `heap-size` only (no machine).
    pub fn app_wide(config: &CharmConfig) -> Sizing {
        Sizing {
            heap_mib: config.heap_size_mib,
            ..Sizing::default()
        }
    }
}

/// Everything rendered for one unit.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `zoo.cfg` without its `dynamicConfigFile` line.
    pub zoo_cfg_static: String,
    pub jaas: String,
    pub jvm_flags: Vec<String>,
    pub myid: String,
    /// The TLS part, in `zoo_cfg_static` already.
    pub tls: TlsConfig,
    /// The JMX exporter's configuration file, when the workload has the exporter.
    pub jmx_exporter: Option<JmxExporter>,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("myid", &self.myid)
            .finish_non_exhaustive()
    }
}

impl Rendered {
    pub fn new(
        config: &CharmConfig,
        paths: &Paths,
        unit_id: u32,
        passwords: &Passwords,
        sizing: &Sizing,
    ) -> Rendered {
        let zoo_cfg_static = format!(
            "tickTime={tick}\n\
             initLimit={init}\n\
             syncLimit={sync}\n\
             dataDir={data}\n\
             dataLogDir={datalog}\n\
             reconfigEnabled=true\n\
             standaloneEnabled=false\n\
             syncEnabled=true\n\
             maxClientCnxns=60\n\
             minSessionTimeout={min_session}\n\
             maxSessionTimeout={max_session}\n\
             autopurge.snapRetainCount={retain}\n\
             autopurge.purgeInterval={purge}\n\
             snapCount={snap_count}\n\
             snapSizeLimitInKb={snap_size}\n\
             preAllocSize={prealloc}\n\
             4lw.commands.whitelist={FOUR_LETTER_WHITELIST}\n\
             admin.enableServer=false\n\
             quorum.auth.enableSasl=true\n\
             quorum.auth.learnerRequireSasl=true\n\
             quorum.auth.serverRequireSasl=true\n\
             quorum.auth.learner.saslLoginContext=QuorumLearner\n\
             quorum.auth.server.saslLoginContext=QuorumServer\n\
             quorum.cnxn.threads.size=20\n\
             authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n\
             enforce.auth.enabled=true\n\
             enforce.auth.schemes=sasl,digest\n",
            tick = config.tick_time,
            init = config.init_limit,
            sync = config.sync_limit,
            data = paths.data_dir.display(),
            datalog = paths.data_log_dir.display(),
            min_session = config.min_session_timeout,
            max_session = config.max_session_timeout,
            retain = config.snap_retain_count,
            purge = config.purge_interval_hours,
            snap_count = sizing.txn_log.snap_count,
            snap_size = sizing.txn_log.snap_size_limit_kib,
            prealloc = sizing.txn_log.pre_alloc_kib,
        );
        let accepted: String = passwords
            .sync_accepted
            .iter()
            .map(|(user, pw)| jaas_user(user, pw))
            .collect();
        // The SASL users clients log in as: `super`, then each client user by relation id.
        let server_users: String =
            std::iter::once(jaas_user(SUPER_USER, &passwords.super_password))
                .chain(
                    passwords
                        .clients
                        .iter()
                        .map(|(user, pw)| jaas_user(user, pw)),
                )
                .collect();
        let jaas = format!(
            "QuorumServer {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required{accepted};\n}};\n\
             QuorumLearner {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    username={user}\n    password={pw};\n}};\n\
             Server {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required{server_users};\n}};\n",
            user = jaas_value(&passwords.sync_login.0),
            pw = jaas_value(passwords.sync_login.1.as_str()),
        );
        let level = config.log_level;
        let mut jvm_flags = vec![
            format!(
                "-Djava.security.auth.login.config={}",
                paths.jaas().display()
            ),
            format!("-Dzookeeper.superUser={SUPER_USER}"),
            format!("-Dcharmed.zookeeper.log.level={}", level.java_level()),
            format!(
                "-Dorg.slf4j.simpleLogger.defaultLogLevel={}",
                level.java_level().to_lowercase()
            ),
            format!("-Dzookeeper.log.dir={}", paths.log_dir.display()),
        ];
        // After the launcher's own `-Xmx` (from `ZK_SERVER_HEAP`): the last one wins.
        if let Some(heap) = sizing.heap_mib {
            jvm_flags.push(format!("-Xmx{heap}m"));
        }
        Rendered {
            zoo_cfg_static,
            jaas,
            jvm_flags,
            myid: format!("{}\n", unit_id + 1),
            tls: TlsConfig::plaintext(),
            jmx_exporter: None,
        }
    }

    /// With `tls`'s lines at the end of `zoo.cfg` ([`Rendered::new`] renders no TLS).
    pub fn with_tls(mut self, tls: TlsConfig) -> Rendered {
        for (key, value) in &tls.lines {
            self.zoo_cfg_static.push_str(&format!("{key}={value}\n"));
        }
        self.tls = tls;
        self
    }

    /// The same files with the metrics exporters `metrics` says the workload has: the
    /// `metricsProvider.*` lines of `zoo.cfg`, and the JMX exporter's java agent and its
    /// configuration file (see [`crate::cos::exporters`]). A workload without either gets
    /// the files unchanged: Debian's jars would not start with a provider class they lack.
    #[must_use]
    pub fn with_exporters(mut self, metrics: &Capabilities, paths: &Paths) -> Rendered {
        self.zoo_cfg_static
            .push_str(&exporters::zoo_cfg_lines(metrics));
        self.jmx_exporter = exporters::jmx_exporter(metrics, &paths.conf_dir);
        if let Some(jmx) = &self.jmx_exporter {
            self.jvm_flags.push(jmx.jvm_flag.clone());
        }
        self
    }

    /// A digest (hex sha1) of what the server reads only at start, and `generation`. Only
    /// ever taken of files rendered with [`crate::passwords::shape`]'s placeholders.
    fn digest(&self, generation: u64) -> String {
        let mut h = Sha1::new();
        h.update(generation.to_string().as_bytes());
        h.update([0u8]);
        for part in [
            &self.zoo_cfg_static,
            &self.jaas,
            &self.jvm_flags.join("\n"),
            &self.myid,
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        // Absent without TLS: a plaintext unit's fingerprint is what earlier revisions
        // computed, so a refresh restarts nothing.
        if let Some(cert) = &self.tls.certificate {
            h.update(cert.as_str().as_bytes());
            h.update([0u8]);
        }
        // Only when there is one, so that a workload without exporters keeps the
        // fingerprint earlier revisions recorded (no restart after a charm upgrade).
        if let Some(jmx) = &self.jmx_exporter {
            h.update(jmx.config.as_bytes());
            h.update([0u8]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The whole `zoo.cfg`, with the given `dynamicConfigFile`.
    pub fn zoo_cfg(&self, dynamic_config_file: &Path) -> String {
        format!(
            "{}dynamicConfigFile={}\n",
            self.zoo_cfg_static,
            dynamic_config_file.display()
        )
    }
}

/// The fingerprint of the files unit `unit_id` runs with under `app`'s passwords, with the
/// exporters `metrics` says the workload has, the machine's `sizing` and `tls`: a digest of
/// them rendered with placeholder passwords, of the passwords' generation and of the
/// installed certificate. It changes exactly when a restart-relevant option, the users or the
/// rotation phase, a password (which bumps the generation), the exporters, the sizing, the
/// TLS mode or the certificate change, and reveals nothing of any password.
pub fn fingerprint(
    config: &CharmConfig,
    paths: &Paths,
    unit_id: u32,
    app: &App,
    metrics: &Capabilities,
    sizing: &Sizing,
    tls: &TlsConfig,
) -> String {
    Rendered::new(
        config,
        paths,
        unit_id,
        &crate::passwords::shape(app),
        sizing,
    )
    .with_exporters(metrics, paths)
    .with_tls(tls.clone())
    .digest(app.secret_generation)
}

/// A digest of what every unit's server reads only at start, whatever the unit: the
/// [`fingerprint`] of one fixed unit, layout and machine ([`Sizing::app_wide`]), with the
/// TLS mode of the switch's current step (as for a unit with a certificate). Each unit
/// reports the one it runs with in its restart bag, and the leader restarts last, once every
/// other unit reports the current one.
pub fn shared_inputs(config: &CharmConfig, app: &App, metrics: &Capabilities) -> String {
    let fixed = Paths {
        conf_dir: "/".into(),
        data_dir: "/".into(),
        data_log_dir: "/".into(),
        log_dir: "/".into(),
        charm_state_dir: "/".into(),
    };
    let step = crate::tls::unit_plan(app.tls_state(), true, None);
    let mode = Running {
        quorum: step.quorum.unwrap_or(QuorumTls::Plaintext),
        client_tls: step.client_tls,
    };
    let tls = TlsConfig {
        mode,
        lines: zoo_cfg_tls(mode.quorum, mode.client_tls, &fixed.conf_dir, None).unwrap_or_default(),
        certificate: None,
    };
    fingerprint(
        config,
        &fixed,
        0,
        app,
        metrics,
        &Sizing::app_wide(config),
        &tls,
    )
}

/// The `dynamicConfigFile=` value of an existing `zoo.cfg`, if any. ZooKeeper points it at
/// `zoo.cfg.dynamic.<version>` after a reconfig; a re-rendered `zoo.cfg` must keep it.
pub fn dynamic_config_file(zoo_cfg: &str) -> Option<String> {
    zoo_cfg
        .lines()
        .find_map(|l| l.trim().strip_prefix("dynamicConfigFile="))
        .map(|v| v.trim().to_string())
}

/// The initial dynamic config: one `server.N=` line per member, ordered by server id.
pub fn dynamic_config(members: &[ServerSpec]) -> String {
    let mut sorted: Vec<&ServerSpec> = members.iter().collect();
    sorted.sort_by_key(|s| s.id);
    sorted.iter().map(|s| format!("{}\n", s.line())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passwords::Password;
    use crate::peers::cluster::SyncRotation;
    use crate::zk::Role;

    fn paths() -> Paths {
        Paths::under(Path::new("/z"))
    }

    fn plain() -> TlsConfig {
        TlsConfig::plaintext()
    }

    /// The fingerprint with the test paths, no exporters and nothing known of the machine.
    fn fp(config: &CharmConfig, unit_id: u32, app: &App) -> String {
        fingerprint(
            config,
            &paths(),
            unit_id,
            app,
            &none(),
            &Sizing::default(),
            &plain(),
        )
    }

    fn none() -> Capabilities {
        Capabilities::none()
    }

    fn p(s: &str) -> Password {
        Password::new(s).unwrap()
    }

    fn pw(s: &str, y: &str) -> Passwords {
        let sync = ("sync".to_string(), p(y));
        Passwords {
            super_password: p(s),
            sync_login: sync.clone(),
            sync_accepted: vec![sync],
            clients: Vec::new(),
        }
    }

    #[test]
    fn the_4lw_whitelist_tells_anonymous_clients_no_membership_paths_or_clients() {
        let words: Vec<&str> = FOUR_LETTER_WHITELIST.split(',').collect();
        // conf: members and data paths; envi: paths; cons/stat/dump: clients and sessions;
        // wchc/wchp/wchs: watched paths; dirs: the data directories.
        for leaky in [
            "conf", "envi", "cons", "stat", "dump", "wchc", "wchp", "wchs", "dirs",
        ] {
            assert!(!words.contains(&leaky), "{leaky} is whitelisted");
        }
        // What the charm and Kafka use is there.
        for used in ["srvr", "mntr"] {
            assert!(words.contains(&used), "{used} is not whitelisted");
        }
    }

    #[test]
    fn jaas_accepts_every_given_quorum_user_logs_in_as_one_and_knows_super() {
        let mut pws = pw("super-pw-1", "old-pw-01");
        let r = Rendered::new(
            &CharmConfig::default(),
            &paths(),
            0,
            &pws,
            &Sizing::default(),
        );
        assert_eq!(
            r.jaas,
            "QuorumServer {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_sync=\"old-pw-01\";\n};\n\
             QuorumLearner {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    username=\"sync\"\n    password=\"old-pw-01\";\n};\n\
             Server {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_super=\"super-pw-1\";\n};\n"
        );
        pws.sync_accepted
            .push(("sync2".to_string(), p("new-pw-01")));
        pws.sync_login = ("sync2".to_string(), p("new-pw-01"));
        let r = Rendered::new(
            &CharmConfig::default(),
            &paths(),
            0,
            &pws,
            &Sizing::default(),
        );
        assert!(
            r.jaas.contains(
                "required\n    user_sync=\"old-pw-01\"\n    user_sync2=\"new-pw-01\";\n};"
            ),
            "{}",
            r.jaas
        );
        assert!(
            r.jaas
                .contains("username=\"sync2\"\n    password=\"new-pw-01\";"),
            "{}",
            r.jaas
        );
        // Quorum authentication is required whatever the users.
        let cfg = r.zoo_cfg(Path::new("/z/conf/zoo.cfg.dynamic.1"));
        assert!(cfg.contains("quorum.auth.learnerRequireSasl=true\n"));
        assert!(cfg.contains("quorum.auth.serverRequireSasl=true\n"));
    }

    #[test]
    fn the_server_section_lists_super_then_each_client_user() {
        let mut pws = pw("super-pw-1", "sync-pw-01");
        pws.clients = vec![
            ("relation-3".into(), p("client-3-pw")),
            ("relation-12".into(), p("client-12-pw")),
        ];
        let r = Rendered::new(
            &CharmConfig::default(),
            &paths(),
            0,
            &pws,
            &Sizing::default(),
        );
        assert!(
            r.jaas.ends_with("Server {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_super=\"super-pw-1\"\n    user_relation-3=\"client-3-pw\"\n    user_relation-12=\"client-12-pw\";\n};\n"),
            "{}",
            r.jaas
        );
    }

    #[test]
    fn jaas_values_are_quoted_and_escaped() {
        assert_eq!(jaas_value("a.b_c~d+e@f%g^h-i"), "\"a.b_c~d+e@f%g^h-i\"");
        assert_eq!(jaas_value("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn zoo_cfg_carries_config_and_safety_settings_and_requires_client_auth() {
        let c = CharmConfig {
            tick_time: 3000,
            init_limit: 7,
            sync_limit: 4,
            ..CharmConfig::default()
        };
        let r = Rendered::new(
            &c,
            &paths(),
            2,
            &pw("super-pw-1", "sync-pw-01"),
            &Sizing::default(),
        );
        let cfg = r.zoo_cfg(Path::new("/z/conf/zoo.cfg.dynamic.100000003"));
        for line in [
            "tickTime=3000",
            "initLimit=7",
            "syncLimit=4",
            "reconfigEnabled=true",
            "standaloneEnabled=false",
            "4lw.commands.whitelist=srvr,mntr,ruok",
            "dataDir=/z/data",
            "dynamicConfigFile=/z/conf/zoo.cfg.dynamic.100000003",
            "quorum.auth.serverRequireSasl=true",
            "authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
            "enforce.auth.enabled=true",
            "enforce.auth.schemes=sasl,digest",
        ] {
            assert!(cfg.lines().any(|l| l == line), "missing {line} in\n{cfg}");
        }
        assert_eq!(r.myid, "3\n");
        assert!(
            !cfg.contains("super-pw-1") && !cfg.contains("superDigest"),
            "{cfg}"
        );
        assert!(r
            .jvm_flags
            .contains(&"-Dzookeeper.superUser=super".to_string()));
        assert!(!r.jvm_flags.join(" ").contains("pw-"));
    }

    #[test]
    fn fingerprint_changes_with_restart_relevant_inputs_only_and_never_holds_a_password() {
        let app = App::default();
        let base = fp(&CharmConfig::default(), 0, &app);
        assert_eq!(base, fp(&CharmConfig::default(), 0, &app));
        let tick = CharmConfig {
            tick_time: 2500,
            ..CharmConfig::default()
        };
        assert_ne!(base, fp(&tick, 0, &app));
        let lvl = CharmConfig {
            log_level: crate::config::ZkLogLevel::Debug,
            ..CharmConfig::default()
        };
        assert_ne!(base, fp(&lvl, 0, &app));
        assert_ne!(base, fp(&CharmConfig::default(), 1, &app));
        // A new password is a new generation.
        let next = App {
            secret_generation: 1,
            ..App::default()
        };
        assert_ne!(base, fp(&CharmConfig::default(), 0, &next));
        let relax = App {
            sync_rotation: Some(SyncRotation::Relax),
            ..App::default()
        };
        assert_ne!(base, fp(&CharmConfig::default(), 0, &relax));
        // So is a change of the client users every server must load (relation ids only:
        // the placeholders hold no password).
        let client = App {
            client_users: [7].into(),
            ..App::default()
        };
        let with_client = fp(&CharmConfig::default(), 0, &client);
        assert_ne!(base, with_client);
        let two = App {
            client_users: [7, 9].into(),
            ..App::default()
        };
        assert_ne!(with_client, fp(&CharmConfig::default(), 0, &two));
        assert_ne!(
            shared_inputs(&CharmConfig::default(), &app, &none()),
            shared_inputs(&CharmConfig::default(), &client, &none())
        );
        let shaped = Rendered::new(
            &CharmConfig::default(),
            &paths(),
            0,
            &crate::passwords::shape(&client),
            &Sizing::default(),
        );
        assert!(
            shaped
                .jaas
                .contains("user_relation-7=\"placeholder-relation-7\";"),
            "{}",
            shaped.jaas
        );
        // The shape the fingerprint is taken of holds placeholders only.
        let shaped = Rendered::new(
            &CharmConfig::default(),
            &paths(),
            0,
            &crate::passwords::shape(&relax),
            &Sizing::default(),
        );
        assert!(
            shaped.jaas.contains("user_super=\"placeholder-super\""),
            "{}",
            shaped.jaas
        );
        assert!(shared_inputs(&CharmConfig::default(), &app, &none()).len() == 40);
        // The exporters are part of what a server starts with.
        assert_ne!(
            base,
            fingerprint(
                &CharmConfig::default(),
                &paths(),
                0,
                &app,
                &Capabilities::snap(),
                &Sizing::default(),
                &plain(),
            )
        );
    }

    #[test]
    fn zoo_cfg_carries_the_purge_settings_the_session_bounds_and_the_log_sizing() {
        let c = CharmConfig {
            snap_retain_count: 5,
            purge_interval_hours: 6,
            min_session_timeout: 6000,
            max_session_timeout: 60_000,
            ..CharmConfig::default()
        };
        let sizing = Sizing {
            heap_mib: None,
            txn_log: TxnLogSizing {
                snap_count: 4096,
                pre_alloc_kib: 2048,
                snap_size_limit_kib: 4096,
            },
        };
        let r = Rendered::new(&c, &paths(), 0, &pw("super-pw-1", "sync-pw-01"), &sizing);
        for line in [
            "autopurge.snapRetainCount=5",
            "autopurge.purgeInterval=6",
            "minSessionTimeout=6000",
            "maxSessionTimeout=60000",
            "snapCount=4096",
            "snapSizeLimitInKb=4096",
            "preAllocSize=2048",
        ] {
            assert!(
                r.zoo_cfg_static.lines().any(|l| l == line),
                "missing {line} in\n{}",
                r.zoo_cfg_static
            );
        }
        // Purge is on by default, and nothing known of the disk keeps ZooKeeper's sizing.
        let d = Rendered::new(
            &CharmConfig::default(),
            &paths(),
            0,
            &pw("super-pw-1", "sync-pw-01"),
            &Sizing::default(),
        );
        for line in [
            "autopurge.snapRetainCount=3",
            "autopurge.purgeInterval=1",
            "snapCount=100000",
            "preAllocSize=65536",
            "snapSizeLimitInKb=4194304",
        ] {
            assert!(d.zoo_cfg_static.lines().any(|l| l == line), "{line}");
        }
    }

    #[test]
    fn the_heap_flag_comes_from_heap_size_else_from_the_machine_and_changes_the_fingerprint() {
        use crate::machine::{DiskUsage, Memory, MIB};
        let machine = |mib: u64| MachineFacts {
            memory: Some(Memory {
                total: mib * MIB,
                swap_total: 0,
            }),
            ..MachineFacts::default()
        };
        let auto = CharmConfig::default();
        assert_eq!(
            Sizing::for_machine(&auto, &machine(4096)).heap_mib,
            Some(3072)
        );
        assert_eq!(
            Sizing::for_machine(&auto, &MachineFacts::default()).heap_mib,
            None
        );
        let fixed = CharmConfig {
            heap_size_mib: Some(512),
            ..CharmConfig::default()
        };
        assert_eq!(
            Sizing::for_machine(&fixed, &machine(4096)).heap_mib,
            Some(512)
        );
        let with_disk = MachineFacts {
            disk: Some(DiskUsage {
                total: 64 * MIB,
                free: 64 * MIB,
                available: 64 * MIB,
            }),
            ..machine(4096)
        };
        assert_eq!(
            Sizing::for_machine(&auto, &with_disk)
                .txn_log
                .snap_size_limit_kib,
            4096
        );

        let pws = pw("super-pw-1", "sync-pw-01");
        let r = Rendered::new(
            &auto,
            &paths(),
            0,
            &pws,
            &Sizing::for_machine(&auto, &machine(4096)),
        );
        assert_eq!(r.jvm_flags.last().map(String::as_str), Some("-Xmx3072m"));
        let unknown = Rendered::new(&auto, &paths(), 0, &pws, &Sizing::default());
        assert!(!unknown.jvm_flags.iter().any(|f| f.starts_with("-Xmx")));

        // A unit whose machine changed restarts; what units share does not change.
        let app = App::default();
        let small = Sizing::for_machine(&auto, &machine(4096));
        let big = Sizing::for_machine(&auto, &machine(8192));
        assert_ne!(
            fingerprint(&auto, &paths(), 0, &app, &none(), &small, &plain()),
            fingerprint(&auto, &paths(), 0, &app, &none(), &big, &plain())
        );
        assert_ne!(
            fingerprint(&auto, &paths(), 0, &app, &none(), &small, &plain()),
            fingerprint(
                &auto,
                &paths(),
                0,
                &app,
                &none(),
                &Sizing::for_machine(&auto, &with_disk),
                &plain(),
            )
        );
        // `heap-size` is app-wide: it changes the shared inputs.
        assert_ne!(
            shared_inputs(&auto, &app, &none()),
            shared_inputs(&fixed, &app, &none())
        );
    }

    #[test]
    fn dynamic_config_file_is_read_back_from_a_rewritten_zoo_cfg() {
        let rewritten = "initLimit=5\nreconfigEnabled=true\ndynamicConfigFile=/z/conf/zoo.cfg.dynamic.200000005\nsyncLimit=2\n";
        assert_eq!(
            dynamic_config_file(rewritten).as_deref(),
            Some("/z/conf/zoo.cfg.dynamic.200000005")
        );
        assert_eq!(dynamic_config_file("tickTime=1\n"), None);
    }

    #[test]
    fn dynamic_config_sorts_by_server_id_as_numbers() {
        let m = |id, host: &str| ServerSpec {
            id,
            host: host.into(),
            role: Role::Participant,
        };
        let text = dynamic_config(&[m(11, "127.0.0.21"), m(2, "127.0.0.12")]);
        assert_eq!(
            text,
            "server.2=127.0.0.12:2888:3888:participant;127.0.0.12:2181\nserver.11=127.0.0.21:2888:3888:participant;127.0.0.21:2181\n"
        );
    }

    #[test]
    fn the_snaps_exporters_add_the_provider_lines_the_java_agent_and_its_config() {
        let pws = pw("super-pw-1", "sync-pw-01");
        let plain = Rendered::new(
            &CharmConfig::default(),
            &paths(),
            0,
            &pws,
            &Sizing::default(),
        );
        let snap = plain
            .clone()
            .with_exporters(&Capabilities::snap(), &paths());
        let added: Vec<&str> = snap
            .zoo_cfg_static
            .strip_prefix(plain.zoo_cfg_static.as_str())
            .expect("the provider lines come last")
            .lines()
            .collect();
        assert_eq!(
            added,
            [
                "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider",
                "metricsProvider.httpPort=7000",
                "metricsProvider.exportJvmInfo=false",
            ]
        );
        let jmx = snap
            .jmx_exporter
            .as_ref()
            .expect("the snap has the exporter");
        assert_eq!(jmx.config_path, Path::new("/z/conf/jmx_prometheus.yaml"));
        assert_eq!(snap.jvm_flags.last(), Some(&jmx.jvm_flag));
        assert!(jmx.jvm_flag.ends_with("=9998:/z/conf/jmx_prometheus.yaml"));
        assert_eq!(
            snap.jvm_flags[..snap.jvm_flags.len() - 1],
            plain.jvm_flags[..]
        );
        assert_eq!((&snap.jaas, &snap.myid), (&plain.jaas, &plain.myid));
    }

    #[test]
    fn a_workload_without_exporters_gets_the_files_and_fingerprint_it_had_before() {
        let pws = pw("super-pw-1", "sync-pw-01");
        let plain = Rendered::new(
            &CharmConfig::default(),
            &paths(),
            0,
            &pws,
            &Sizing::default(),
        );
        let none = plain.clone().with_exporters(&none(), &paths());
        assert_eq!(none, plain);
        assert!(!none.zoo_cfg_static.contains("metricsProvider"));
        assert_eq!(none.digest(3), plain.digest(3));
    }
}
