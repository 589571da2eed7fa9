//! The host packages real ZooKeeper needs: Debian's jars and a Java runtime.

use std::path::{Path, PathBuf};

use crate::local_workload::{LocalWorkload, INSTALL_HINT};

/// Java or Debian's ZooKeeper jars are missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{missing}: this runs real ZooKeeper servers; install them with `{INSTALL_HINT}` \
     (as root, or run `cargo xtask demo` as root)"
)]
pub struct ZooKeeperMissing {
    /// What was not found.
    pub missing: String,
}

/// Checks for what the charm's local workload runs: the jars of its classpath and the java
/// it would use (`ZK_CHARM_JAVA`, else `PATH`). Tests never pass silently without them.
pub fn require_zookeeper() -> Result<(), ZooKeeperMissing> {
    let probe = LocalWorkload::new(PathBuf::from("/nonexistent"));
    for jar in probe.classpath().split(':').filter(|j| !j.is_empty()) {
        if !Path::new(jar).exists() {
            return Err(ZooKeeperMissing {
                missing: format!("ZooKeeper jar {jar} not found"),
            });
        }
    }
    if !probe.java().is_some_and(Path::is_file) {
        return Err(ZooKeeperMissing {
            missing: "java not found (ZK_CHARM_JAVA, PATH)".to_string(),
        });
    }
    Ok(())
}

/// [`require_zookeeper`] for tests: panics with the fix.
pub fn assert_zookeeper() {
    if let Err(e) = require_zookeeper() {
        panic!("{e}");
    }
}

/// Whether a finished subprocess succeeded, and everything it printed (stdout, then
/// stderr); a run that did not finish is a failure that says why.
pub fn outcome(
    run: Result<zookeeper_charm::subprocess::Finished, zookeeper_charm::subprocess::RunError>,
) -> (bool, String) {
    match run {
        Ok(done) => (
            done.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&done.stdout),
                String::from_utf8_lossy(&done.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}
