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
//! Clients must authenticate (`enforce.auth.*`, with the SASL provider registered); `super`
//! is the superuser through SASL (`-Dzookeeper.superUser=super` and `user_super` in the
//! JAAS `Server` section), so its password never crosses the network.

use std::path::Path;

use sha1::{Digest, Sha1};

use crate::config::CharmConfig;
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

/// The 4-letter words the charm uses (and nothing else); Kafka runs `srvr` too.
pub const FOUR_LETTER_WHITELIST: &str = "srvr,mntr,conf,ruok";
pub use crate::zk::SUPER_USER;

/// A JAAS option value: quoted, with `\` and `"` escaped (a [`Password`] has neither, and no
/// `$`, which Java's JAAS parser would expand).
fn jaas_value(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn jaas_user(user: &str, password: &Password) -> String {
    format!("\n    user_{user}={}", jaas_value(password.as_str()))
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
             minSessionTimeout=4000\n\
             maxSessionTimeout=40000\n\
             autopurge.snapRetainCount=3\n\
             autopurge.purgeInterval=1\n\
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
        let jvm_flags = vec![
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
        Rendered {
            zoo_cfg_static,
            jaas,
            jvm_flags,
            myid: format!("{}\n", unit_id + 1),
            tls: TlsConfig::plaintext(),
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

/// The fingerprint of the files unit `unit_id` runs with under `app`'s passwords and with
/// `tls`: a digest of them rendered with placeholder passwords, of the passwords'
/// generation and of the installed certificate. It changes exactly when a restart-relevant
/// option, the users or the rotation phase, a password (which bumps the generation), the
/// TLS mode or the certificate changes, and reveals nothing of any password.
pub fn fingerprint(
    config: &CharmConfig,
    paths: &Paths,
    unit_id: u32,
    app: &App,
    tls: &TlsConfig,
) -> String {
    Rendered::new(config, paths, unit_id, &crate::passwords::shape(app))
        .with_tls(tls.clone())
        .digest(app.secret_generation)
}

/// A digest of what every unit's server reads only at start, whatever the unit: the
/// [`fingerprint`] of one fixed unit and layout, with the TLS mode of the switch's current
/// step (as for a unit with a certificate). Each unit reports the one it runs with in its
/// restart bag, and the leader restarts last, once every other unit reports the current one.
pub fn shared_inputs(config: &CharmConfig, app: &App) -> String {
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
    fingerprint(config, &fixed, 0, app, &tls)
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
    fn jaas_accepts_every_given_quorum_user_logs_in_as_one_and_knows_super() {
        let mut pws = pw("super-pw-1", "old-pw-01");
        let r = Rendered::new(&CharmConfig::default(), &paths(), 0, &pws);
        assert_eq!(
            r.jaas,
            "QuorumServer {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_sync=\"old-pw-01\";\n};\n\
             QuorumLearner {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    username=\"sync\"\n    password=\"old-pw-01\";\n};\n\
             Server {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_super=\"super-pw-1\";\n};\n"
        );
        pws.sync_accepted
            .push(("sync2".to_string(), p("new-pw-01")));
        pws.sync_login = ("sync2".to_string(), p("new-pw-01"));
        let r = Rendered::new(&CharmConfig::default(), &paths(), 0, &pws);
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
        let r = Rendered::new(&CharmConfig::default(), &paths(), 0, &pws);
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
        let r = Rendered::new(&c, &paths(), 2, &pw("super-pw-1", "sync-pw-01"));
        let cfg = r.zoo_cfg(Path::new("/z/conf/zoo.cfg.dynamic.100000003"));
        for line in [
            "tickTime=3000",
            "initLimit=7",
            "syncLimit=4",
            "reconfigEnabled=true",
            "standaloneEnabled=false",
            "4lw.commands.whitelist=srvr,mntr,conf,ruok",
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
        let base = fingerprint(&CharmConfig::default(), &paths(), 0, &app, &plain());
        assert_eq!(
            base,
            fingerprint(&CharmConfig::default(), &paths(), 0, &app, &plain())
        );
        let tick = CharmConfig {
            tick_time: 2500,
            ..CharmConfig::default()
        };
        assert_ne!(base, fingerprint(&tick, &paths(), 0, &app, &plain()));
        let lvl = CharmConfig {
            log_level: crate::config::ZkLogLevel::Debug,
            ..CharmConfig::default()
        };
        assert_ne!(base, fingerprint(&lvl, &paths(), 0, &app, &plain()));
        assert_ne!(
            base,
            fingerprint(&CharmConfig::default(), &paths(), 1, &app, &plain())
        );
        // A new password is a new generation.
        let next = App {
            secret_generation: 1,
            ..App::default()
        };
        assert_ne!(
            base,
            fingerprint(&CharmConfig::default(), &paths(), 0, &next, &plain())
        );
        let relax = App {
            sync_rotation: Some(SyncRotation::Relax),
            ..App::default()
        };
        assert_ne!(
            base,
            fingerprint(&CharmConfig::default(), &paths(), 0, &relax, &plain())
        );
        // The shape the fingerprint is taken of holds placeholders only.
        let shaped = Rendered::new(
            &CharmConfig::default(),
            &paths(),
            0,
            &crate::passwords::shape(&relax),
        );
        assert!(
            shaped.jaas.contains("user_super=\"placeholder-super\""),
            "{}",
            shaped.jaas
        );
        assert!(shared_inputs(&CharmConfig::default(), &app).len() == 40);
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
}
