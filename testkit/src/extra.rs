//! [`ExtraServer`]: a real ZooKeeper server outside a model that joins the model's ensemble,
//! as a server no unit stands behind would (a unit removed while its server kept running,
//! a server of an earlier deployment).
//!
//! It runs from Debian's jars with the files the charm itself renders for the model's
//! current passwords and default config (so it passes the quorum's SASL and the client
//! authentication), on an address of its own, and starts as a non-voting follower of the
//! live ensemble; the test then makes it a voter through a `super` session. It is stopped
//! by its PID when dropped, also when the test panics.

use std::time::{Duration, Instant};

use zookeeper_charm::config::CharmConfig;
use zookeeper_charm::hooktools::SecretContent;
use zookeeper_charm::passwords::{in_effect, Credentials};
use zookeeper_charm::peers::cluster;
use zookeeper_charm::render::Rendered;
use zookeeper_charm::workload::Workload;
use zookeeper_charm::zk::{four, Role, ServerSpec};

use crate::local_workload::LocalWorkload;
use crate::model::internal_secret;
use crate::Cluster;

/// How long [`ExtraServer::start`] waits for the server to serve.
const SERVE_WAIT: Duration = Duration::from_secs(30);

/// A server outside the model, joined to its ensemble. See the module docs.
pub struct ExtraServer {
    pub spec: ServerSpec,
    workload: LocalWorkload,
    _dir: tempfile::TempDir,
}

impl ExtraServer {
    /// Starts server `id` on `host` with the files the charm renders for the cluster's
    /// passwords, its initial membership the live voters plus itself, and waits until it
    /// serves (as a follower that does not vote yet).
    pub fn start(c: &Cluster, id: u32, host: &str) -> ExtraServer {
        let dir = tempfile::Builder::new()
            .prefix("zk-extra-")
            .tempdir()
            .expect("a temp dir");
        let workload = LocalWorkload::new(dir.path().join("server"));
        let spec = ServerSpec {
            id,
            host: host.to_string(),
            role: Role::Participant,
        };
        let extra = ExtraServer {
            spec,
            workload,
            _dir: dir,
        };
        let content = internal_secret(&c.model).expect("the internal secret");
        let creds = Credentials::from_content(&SecretContent(content)).expect("its passwords");
        let app = cluster::App::from_bag(&c.model.app_databag("cluster").expect("the app bag"));
        let passwords = in_effect(&app, &creds).expect("the passwords in effect");
        let w = &extra.workload;
        w.install().expect("install the local workload");
        let p = w.paths().clone();
        let r = Rendered::new(
            &CharmConfig::default(),
            &p,
            id - 1,
            &passwords,
            &zookeeper_charm::render::Sizing::default(),
        );
        let mut members: Vec<String> = c
            .live_config()
            .members
            .values()
            .filter(|m| m.role == Role::Participant && m.id != id)
            .map(ServerSpec::line)
            .collect();
        members.push(extra.spec.line());
        let write = |path: &std::path::Path, text: &str| {
            w.write_file(path, text.as_bytes(), 0o600)
                .unwrap_or_else(|e| panic!("write {}: {e}", path.display()))
        };
        write(&p.initial_dynamic(), &(members.join("\n") + "\n"));
        write(&p.zoo_cfg(), &r.zoo_cfg(&p.initial_dynamic()));
        write(&p.jaas(), &r.jaas);
        write(&p.myid(), &r.myid);
        w.set_jvm_flags(&r.jvm_flags).expect("the JVM flags");
        w.start().expect("start the extra server");
        let deadline = Instant::now() + SERVE_WAIT;
        while four::srvr_within(host, Duration::from_millis(500)).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(w.out_file()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "the extra server on {host} did not serve within {SERVE_WAIT:?}; its log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        extra
    }

    /// Whether its process still runs.
    pub fn running(&self) -> bool {
        self.workload.is_running().unwrap_or(false)
    }

    /// Stops it (by its PID).
    pub fn stop(&self) {
        self.workload.stop().expect("stop the extra server");
    }
}

impl Drop for ExtraServer {
    fn drop(&mut self) {
        let _ = self.workload.stop();
    }
}
