//! The files ZooKeeper runs with, rendered from the snapshot: `zoo.cfg`, the initial
//! dynamic config, the JAAS files, `myid`, and the JVM flags.
//!
//! Rendering is pure. [`Rendered::fingerprint`] summarises everything a running server reads
//! only at start, so comparing it with the fingerprint recorded at the last (re)start tells
//! whether a restart is needed. The `dynamicConfigFile` line is not part of it: ZooKeeper
//! rewrites that line itself after every reconfig, and the charm preserves it.

use std::path::Path;

use sha1::{Digest, Sha1};

use crate::config::CharmConfig;
use crate::passwords::Passwords;
use crate::workload::Paths;
use crate::zk::{super_digest, ServerSpec};

/// The 4-letter words the charm uses (and nothing else).
pub const FOUR_LETTER_WHITELIST: &str = "srvr,mntr,conf,ruok";

/// Everything rendered for one unit.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    /// `zoo.cfg` without its `dynamicConfigFile` line.
    pub zoo_cfg_static: String,
    pub jaas: String,
    pub client_jaas: String,
    pub jvm_flags: Vec<String>,
    pub myid: String,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("fingerprint", &self.fingerprint())
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
        let digest = super_digest(&passwords.super_password);
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
             DigestAuthenticationProvider.superDigest=super:{digest}\n",
            tick = config.tick_time,
            init = config.init_limit,
            sync = config.sync_limit,
            data = paths.data_dir.display(),
            datalog = paths.data_log_dir.display(),
        );
        let accepted: String = passwords
            .sync_accepted
            .iter()
            .map(|(user, pw)| format!("\n    user_{user}=\"{pw}\""))
            .collect();
        let jaas = format!(
            "QuorumServer {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required{accepted};\n}};\n\
             QuorumLearner {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    username=\"{user}\"\n    password=\"{pw}\";\n}};\n",
            user = passwords.sync_login.0,
            pw = passwords.sync_login.1,
        );
        let client_jaas = format!(
            "Client {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    username=\"super\"\n    password=\"{}\";\n}};\n",
            passwords.super_password
        );
        let level = config.log_level;
        let jvm_flags = vec![
            format!(
                "-Djava.security.auth.login.config={}",
                paths.jaas().display()
            ),
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
            client_jaas,
            jvm_flags,
            myid: format!("{}\n", unit_id + 1),
        }
    }

    /// A digest of what the server reads only at start (hex sha1). Contains no secret in
    /// clear, but is kept in the charm's private state all the same.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha1::new();
        for part in [
            &self.zoo_cfg_static,
            &self.jaas,
            &self.jvm_flags.join("\n"),
            &self.myid,
        ] {
            h.update(part.as_bytes());
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

/// A digest of what every unit's server reads only at start, whatever the unit: the files
/// rendered for one fixed unit and layout. It changes exactly when a restart-relevant
/// option or an internal password (or the sync-rotation phase) changes; each unit reports
/// the one it runs with in its restart bag, and the leader restarts last, once every other
/// unit reports the current one.
pub fn shared_inputs(config: &CharmConfig, passwords: &Passwords) -> String {
    let fixed = Paths {
        conf_dir: "/".into(),
        data_dir: "/".into(),
        data_log_dir: "/".into(),
        log_dir: "/".into(),
        charm_state_dir: "/".into(),
    };
    Rendered::new(config, &fixed, 0, passwords).fingerprint()
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
    use crate::zk::Role;

    fn paths() -> Paths {
        Paths::under(Path::new("/z"))
    }

    fn pw(s: &str, y: &str) -> Passwords {
        let sync = ("sync".to_string(), y.to_string());
        Passwords {
            super_password: s.into(),
            sync_login: sync.clone(),
            sync_accepted: vec![sync],
        }
    }

    #[test]
    fn jaas_accepts_every_given_quorum_user_and_logs_in_as_one() {
        let mut p = pw("a", "old-pw");
        let r = Rendered::new(&CharmConfig::default(), &paths(), 0, &p);
        assert_eq!(
            r.jaas,
            "QuorumServer {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    user_sync=\"old-pw\";\n};\n\
             QuorumLearner {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n    username=\"sync\"\n    password=\"old-pw\";\n};\n"
        );
        p.sync_accepted
            .push(("sync2".to_string(), "new-pw".to_string()));
        p.sync_login = ("sync2".to_string(), "new-pw".to_string());
        let r = Rendered::new(&CharmConfig::default(), &paths(), 0, &p);
        assert!(
            r.jaas
                .contains("required\n    user_sync=\"old-pw\"\n    user_sync2=\"new-pw\";\n};"),
            "{}",
            r.jaas
        );
        assert!(
            r.jaas
                .contains("username=\"sync2\"\n    password=\"new-pw\";"),
            "{}",
            r.jaas
        );
        // Quorum authentication is required whatever the users.
        let cfg = r.zoo_cfg(Path::new("/z/conf/zoo.cfg.dynamic.1"));
        assert!(cfg.contains("quorum.auth.learnerRequireSasl=true\n"));
        assert!(cfg.contains("quorum.auth.serverRequireSasl=true\n"));
    }

    #[test]
    fn zoo_cfg_carries_config_and_safety_settings() {
        let c = CharmConfig {
            tick_time: 3000,
            init_limit: 7,
            sync_limit: 4,
            ..CharmConfig::default()
        };
        let r = Rendered::new(&c, &paths(), 2, &pw("a", "b"));
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
        ] {
            assert!(cfg.lines().any(|l| l == line), "missing {line} in\n{cfg}");
        }
        assert_eq!(r.myid, "3\n");
        assert!(
            !cfg.contains("super:a\n"),
            "the super password must not appear in clear"
        );
    }

    #[test]
    fn fingerprint_changes_with_restart_relevant_inputs_only() {
        let base = Rendered::new(&CharmConfig::default(), &paths(), 0, &pw("a", "b"));
        let same = Rendered::new(&CharmConfig::default(), &paths(), 0, &pw("a", "b"));
        assert_eq!(base.fingerprint(), same.fingerprint());
        let tick = CharmConfig {
            tick_time: 2500,
            ..CharmConfig::default()
        };
        assert_ne!(
            base.fingerprint(),
            Rendered::new(&tick, &paths(), 0, &pw("a", "b")).fingerprint()
        );
        let lvl = CharmConfig {
            log_level: crate::config::ZkLogLevel::Debug,
            ..CharmConfig::default()
        };
        assert_ne!(
            base.fingerprint(),
            Rendered::new(&lvl, &paths(), 0, &pw("a", "b")).fingerprint()
        );
        assert_ne!(
            base.fingerprint(),
            Rendered::new(&CharmConfig::default(), &paths(), 0, &pw("x", "b")).fingerprint()
        );
        assert_ne!(
            base.fingerprint(),
            Rendered::new(&CharmConfig::default(), &paths(), 0, &pw("a", "x")).fingerprint()
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
}
