//! Acknowledged client writes: a background [`Writer`] that keeps creating znodes while the
//! charm changes the ensemble, one-shot writes, and reading them back, so that a test can
//! tell that no acknowledged write was lost.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zookeeper_charm::zk::admin::{Admin, Auth};
use zookeeper_charm::zk::ZkError;

use crate::background::Background;

/// What a [`Writer`] got done.
#[derive(Debug, Default)]
pub struct WriteReport {
    /// Names of the znodes whose create was acknowledged (directly, or `NodeExists` when a
    /// create lost on the connection was retried).
    pub acked: Vec<String>,
    /// Creates that failed on a lost connection (each retried).
    pub failures: usize,
    /// The longest time between two acknowledged writes.
    pub max_gap: Duration,
    /// The first few errors, for the report.
    pub errors: Vec<String>,
}

/// Writes `<parent>/<prefix><n>` every `period` in a background thread, through one client
/// session to all of `hosts`, retrying each create until it is acknowledged. Any error but
/// a lost connection fails the writer (and [`Writer::finish`] panics with it).
pub struct Writer(Background<WriteReport>);

impl Writer {
    /// Creates `parent` and starts writing under it as `super` with `password`.
    pub fn start(hosts: Vec<String>, parent: &str, password: &str, period: Duration) -> Writer {
        Writer::start_as(hosts, parent, Auth::super_user(password), period)
    }

    /// Creates `parent` (which any authenticated session may write) and starts writing
    /// under it as `auth`. A `digest` identity works whatever the servers' passwords, so it
    /// keeps writing while the `super` password changes.
    pub fn start_as(hosts: Vec<String>, parent: &str, auth: Auth, period: Duration) -> Writer {
        let mut admin = connect(&hosts, &auth, Instant::now() + Duration::from_secs(30))
            .expect("the writer connects");
        // Made beforehand (by `super`, under a root only `super` writes), or made now.
        let exists = admin.get(parent).is_ok();
        match if exists {
            Ok(())
        } else {
            admin.create(parent, b"")
        } {
            Ok(()) => {}
            Err(e) if is_node_exists(&e) => {}
            Err(e) => panic!("cannot create {parent}: {e}"),
        }
        let parent = parent.to_string();
        Writer(Background::spawn("writer", move |stop| {
            write_loop(admin, hosts, parent, auth, period, stop)
        }))
    }

    /// Stops writing (a create still unacknowledged is abandoned) and reports.
    pub fn finish(self) -> WriteReport {
        self.0.finish()
    }
}

fn is_node_exists(e: &ZkError) -> bool {
    matches!(e, ZkError::NodeExists(_))
}

fn connect(hosts: &[String], auth: &Auth, deadline: Instant) -> Option<Admin> {
    loop {
        match Admin::connect_as(hosts, auth.clone(), Duration::from_secs(5)) {
            Ok(a) => return Some(a),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(_) => return None,
        }
    }
}

fn write_loop(
    admin: Admin,
    hosts: Vec<String>,
    parent: String,
    auth: Auth,
    period: Duration,
    stop: Arc<AtomicBool>,
) -> WriteReport {
    let mut report = WriteReport::default();
    let mut admin = Some(admin);
    let mut last_ack = Instant::now();
    let mut n = 0u64;
    'writes: while !stop.load(Ordering::Relaxed) {
        let name = format!("w{n:06}");
        let path = format!("{parent}/{name}");
        let mut retried = false;
        loop {
            if stop.load(Ordering::Relaxed) {
                break 'writes;
            }
            let Some(a) = admin.as_mut() else {
                admin = connect(&hosts, &auth, Instant::now() + Duration::from_secs(1));
                continue;
            };
            match a.create(&path, name.as_bytes()) {
                Ok(()) => break,
                // A retried create whose first attempt was applied behind a lost connection.
                Err(e) if retried && is_node_exists(&e) => break,
                Err(e) => {
                    report.failures += 1;
                    if report.errors.len() < 10 {
                        report.errors.push(format!("{path}: {e}"));
                    }
                    assert!(
                        matches!(e, ZkError::ConnectionLoss(_)),
                        "create {path}: unexpected error {e}"
                    );
                    retried = true;
                    // A fresh session: the old one may be on a server that went away.
                    admin = None;
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        let now = Instant::now();
        report.max_gap = report.max_gap.max(now - last_ack);
        last_ack = now;
        report.acked.push(name);
        n += 1;
        std::thread::sleep(period);
    }
    report
}

/// Connects as `super`, creates `parent` if missing and `<parent>/<name>`. Ok means the
/// write was acknowledged; an existing `<parent>/<name>` is an error.
pub fn write_once(
    hosts: &[String],
    password: &str,
    parent: &str,
    name: &str,
    timeout: Duration,
) -> Result<(), String> {
    let mut admin =
        Admin::connect(hosts, password, timeout).map_err(|e| format!("connect: {e}"))?;
    if let Err(e) = admin.create(parent, b"") {
        if !e.to_string().contains("exist") {
            return Err(format!("create {parent}: {e}"));
        }
    }
    let path = format!("{parent}/{name}");
    admin
        .create(&path, name.as_bytes())
        .map_err(|e| format!("create {path}: {e}"))
}

/// The children of `parent`, read through a fresh `super` session.
pub fn read_children(
    hosts: &[String],
    password: &str,
    parent: &str,
    timeout: Duration,
) -> Result<BTreeSet<String>, String> {
    let mut admin =
        Admin::connect(hosts, password, timeout).map_err(|e| format!("connect: {e}"))?;
    admin
        .children(parent)
        .map(|c| c.into_iter().collect())
        .map_err(|e| format!("list {parent}: {e}"))
}

/// The acknowledged writes missing from what was read back.
pub fn lost<'a>(
    acked: impl IntoIterator<Item = &'a String>,
    have: &BTreeSet<String>,
) -> Vec<&'a String> {
    acked.into_iter().filter(|w| !have.contains(*w)).collect()
}
