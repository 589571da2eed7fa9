//! Admin sessions: dynamic reconfiguration and ACLs as the `super` user, plus small data
//! helpers.
//!
//! `super` authenticates with SASL DIGEST-MD5 (the server's JAAS `Server` section holds
//! `user_super`, and `-Dzookeeper.superUser=super` makes that identity the superuser): a
//! challenge and response, so the password itself never crosses the network, unlike the
//! `digest` scheme, which sends `user:password` in clear. Other identities ([`Auth`]) are for
//! tests and tools: a SASL user, a `digest` user, or none.
//!
//! The API is synchronous: each [`Admin`] owns a tokio current-thread runtime, driven by one
//! small background thread so that the session keeps its heartbeats between calls; each call
//! blocks the caller until its answer or the timeout. Reads that find the session lost
//! reconnect by themselves.
//!
//! # A reconfig's outcome after an error
//!
//! A reconfig can be committed even though the caller sees an error: removing the server
//! that leads the ensemble drops every connection (`ConnectionLoss`) after the commit. So
//! [`Admin::reconfig`] (and [`Admin::add_member`] / [`Admin::remove_member`]) check for
//! themselves when the outcome is unknown (connection loss, timeout, session trouble): they
//! reconnect, `sync`, re-read `/zookeeper/config`, and return `Ok` with that config if the
//! wanted change is in it. Definite refusals ([`ZkError::NoAuth`], [`ZkError::BadVersion`],
//! [`ZkError::ReconfigInProgress`], [`ZkError::Refused`]) are returned as they are. Callers
//! should still re-read the config ([`Admin::get_config`]) after any error before deciding
//! what to do next.
//!
//! The `super` password is held only as the auth bytes given to the client; it never appears
//! in an error, in `Debug` output or in a log.

use super::four::parse_config;
use super::{EnsembleConfig, ServerSpec, ZkError, CLIENT_PORT};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zookeeper_client as zkc;

/// ZooKeeper's text for `NewConfigNoQuorum` (code -13), which only travels as a code.
pub const NO_QUORUM_MESSAGE: &str = "No quorum of new config is connected and up-to-date with the leader of last committed config - try invoking reconfiguration after new servers are connected and synced";

const NEW_CONFIG_NO_QUORUM: i32 = -13;
const RECONFIG_IN_PROGRESS: i32 = -14;
/// The shortest time spent checking a reconfig's outcome after an unknown-outcome error: a
/// leader hand-off takes about a second.
const MIN_VERIFY_BUDGET: Duration = Duration::from_secs(10);

/// The znodes whose ACL [`Admin::protect_root`] restricts: the root, and ZooKeeper's own
/// `/zookeeper` and `/zookeeper/quota` (where quota definitions go); `/zookeeper/config` is
/// read-only already.
pub const PROTECTED: [&str; 3] = ["/", "/zookeeper", "/zookeeper/quota"];

/// Permission bits of an ACL entry (ZooKeeper's: read 1, write 2, create 4, delete 8,
/// admin 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Perms(pub i32);

impl Perms {
    pub const READ: Perms = Perms(1);
    pub const ALL: Perms = Perms(31);
}

/// One ACL entry: permissions for an identity (`world:anyone`, `sasl:super`,
/// `digest:<user>:<hash>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclEntry {
    pub perms: Perms,
    pub scheme: String,
    pub id: String,
}

impl AclEntry {
    pub fn new(perms: Perms, scheme: &str, id: &str) -> AclEntry {
        AclEntry {
            perms,
            scheme: scheme.to_string(),
            id: id.to_string(),
        }
    }

    /// `world:anyone` with `perms`.
    pub fn anyone(perms: Perms) -> AclEntry {
        AclEntry::new(perms, "world", "anyone")
    }

    fn to_client(&self) -> zkc::Acl {
        let perms = [
            zkc::Permission::READ,
            zkc::Permission::WRITE,
            zkc::Permission::CREATE,
            zkc::Permission::DELETE,
            zkc::Permission::ADMIN,
        ]
        .into_iter()
        .enumerate()
        .filter(|(i, _)| self.perms.0 & (1 << i) != 0)
        .fold(zkc::Permission::NONE, |acc, (_, p)| acc | p);
        zkc::Acl::new(perms, zkc::AuthId::new(&self.scheme, &self.id))
    }

    fn from_client(acl: &zkc::Acl) -> AclEntry {
        let p = acl.permission();
        let bits = [
            zkc::Permission::READ,
            zkc::Permission::WRITE,
            zkc::Permission::CREATE,
            zkc::Permission::DELETE,
            zkc::Permission::ADMIN,
        ]
        .into_iter()
        .enumerate()
        .filter(|(_, b)| p.has(*b))
        .fold(0, |acc, (i, _)| acc | (1 << i));
        AclEntry::new(Perms(bits), acl.scheme(), acl.id())
    }
}

/// The ACL of `/` and `/zookeeper` once protected: any session may read, only `super`
/// (who bypasses ACLs anyway) may change anything.
pub fn protected_acl() -> Vec<AclEntry> {
    vec![
        AclEntry::anyone(Perms::READ),
        AclEntry::new(Perms::ALL, "sasl", super::SUPER_USER),
    ]
}

/// Who a session authenticates as. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// SASL DIGEST-MD5: the password is never sent.
    Sasl { user: String, password: String },
    /// The `digest` scheme (`addauth digest user:password`): sent in clear.
    Digest { user: String, password: String },
    /// No authentication (refused by servers that enforce it).
    Anonymous,
}

impl Auth {
    /// `super` over SASL.
    pub fn super_user(password: &str) -> Auth {
        Auth::Sasl {
            user: super::SUPER_USER.to_string(),
            password: password.to_string(),
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Sasl { user, .. } => write!(f, "Sasl({user})"),
            Auth::Digest { user, .. } => write!(f, "Digest({user})"),
            Auth::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// A session to the ensemble, `super`'s unless told otherwise. See the module docs.
pub struct Admin {
    runtime: Driver,
    client: Option<zkc::Client>,
    connect_string: String,
    /// Secret.
    auth: Auth,
    timeout: Duration,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("connect_string", &self.connect_string)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// Opens a session to any of `hosts` (addresses or names, port 2181 unless given as
    /// `host:port`) authenticated as `super` with SASL DIGEST-MD5. `timeout` bounds the
    /// connect and each later call.
    ///
    /// A wrong password fails here: [`ZkError::NoAuth`] (`authentication failed`).
    pub fn connect(
        hosts: &[String],
        super_password: &str,
        timeout: Duration,
    ) -> Result<Admin, ZkError> {
        Admin::connect_as(hosts, Auth::super_user(super_password), timeout)
    }

    /// Opens a session authenticated as `auth` (see [`Admin::connect`]).
    pub fn connect_as(hosts: &[String], auth: Auth, timeout: Duration) -> Result<Admin, ZkError> {
        if hosts.is_empty() {
            return Err(ZkError::ConnectionLoss("no ZooKeeper hosts given".into()));
        }
        let connect_string = hosts
            .iter()
            .map(|h| with_port(h))
            .collect::<Vec<_>>()
            .join(",");
        let runtime = Driver::start()?;
        let mut admin = Admin {
            runtime,
            client: None,
            connect_string,
            auth,
            timeout,
        };
        admin.reconnect()?;
        Ok(admin)
    }

    /// The hosts this session uses, as a connect string.
    pub fn connect_string(&self) -> &str {
        &self.connect_string
    }

    fn reconnect(&mut self) -> Result<(), ZkError> {
        self.close();
        let mut connector = zkc::Client::connector();
        connector = connector
            .with_session_timeout(self.timeout.max(Duration::from_secs(6)))
            .with_connection_timeout(self.timeout)
            .with_fail_eagerly();
        connector = match &self.auth {
            Auth::Sasl { user, password } => {
                connector.with_sasl(zkc::SaslOptions::digest_md5(user.clone(), password.clone()))
            }
            Auth::Digest { user, password } => {
                connector.with_auth("digest", format!("{user}:{password}").as_bytes())
            }
            Auth::Anonymous => connector,
        };
        let connect = connector.connect(&self.connect_string);
        let client = run_within(&self.runtime, self.timeout, connect).map_err(|e| match e {
            ZkError::ConnectionLoss(m) => {
                ZkError::ConnectionLoss(format!("cannot connect to {}: {m}", self.connect_string))
            }
            other => other,
        })?;
        self.client = Some(client);
        Ok(())
    }

    /// Closes the session (best effort, bounded by one second).
    fn close(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let mut watcher = client.state_watcher();
        drop(client);
        if watcher.peek_state().is_terminated() {
            return;
        }
        // The session task sends CloseSession once every client handle is gone; let it run.
        let closed = async move { while !watcher.changed().await.is_terminated() {} };
        let _ = self
            .runtime
            .handle()
            .block_on(async { tokio::time::timeout(Duration::from_secs(1), closed).await });
    }

    fn client(&mut self) -> Result<&zkc::Client, ZkError> {
        if self.client.is_none() {
            self.reconnect()?;
        }
        Ok(self.client.as_ref().expect("connected above"))
    }

    /// Runs an idempotent read; on a lost connection or session, reconnects and tries once
    /// more.
    fn read<T, F, Fut>(&mut self, op: F) -> Result<T, ZkError>
    where
        F: Fn(zkc::Client) -> Fut,
        Fut: Future<Output = Result<T, zkc::Error>>,
    {
        let mut last = None;
        for _ in 0..2 {
            let client = match self.client() {
                Ok(c) => c.clone(),
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            match run_within(&self.runtime, self.timeout, op(client)) {
                Ok(v) => return Ok(v),
                Err(e) if outcome_unknown(&e) => {
                    self.close();
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("two attempts were made"))
    }

    /// The ensemble config (`/zookeeper/config`), after a `sync` so that it is not older
    /// than the leader's.
    pub fn get_config(&mut self) -> Result<EnsembleConfig, ZkError> {
        let data = self.read(|c| async move {
            c.sync("/zookeeper/config").await?;
            c.get_config().await.map(|(data, _)| data)
        })?;
        config_from_bytes(&data)
    }

    /// Adds (or re-adds, or changes the role of) `spec` as one incremental reconfig.
    /// `expected_version` makes it conditional on the config version (see
    /// [`EnsembleConfig::version`]); a stale one gives [`ZkError::BadVersion`].
    pub fn add_member(
        &mut self,
        spec: &ServerSpec,
        expected_version: Option<u64>,
    ) -> Result<EnsembleConfig, ZkError> {
        self.reconfig(std::slice::from_ref(spec), &[], expected_version)
    }

    /// Removes server `id` as one incremental reconfig. Removing the current leader works
    /// (the error the client sees is checked against the re-read config).
    pub fn remove_member(
        &mut self,
        id: u32,
        expected_version: Option<u64>,
    ) -> Result<EnsembleConfig, ZkError> {
        self.reconfig(&[], &[id], expected_version)
    }

    /// One incremental reconfig: `joining` servers added (or updated), `leaving` ids
    /// removed. Returns the committed config. When the outcome is unknown (connection lost,
    /// timeout), reconnects, re-reads the config and returns `Ok` if it holds the change;
    /// otherwise the original error.
    pub fn reconfig(
        &mut self,
        joining: &[ServerSpec],
        leaving: &[u32],
        expected_version: Option<u64>,
    ) -> Result<EnsembleConfig, ZkError> {
        let joining_lines: Vec<String> = joining.iter().map(ServerSpec::line).collect();
        let leaving_ids: Vec<String> = leaving.iter().map(u32::to_string).collect();
        let expected = expected_version
            .map(|v| {
                i64::try_from(v)
                    .map_err(|_| ZkError::Client(format!("config version {v:#x} is out of range")))
            })
            .transpose()?;
        let attempt = (|| {
            let client = self.client()?.clone();
            let update = zkc::EnsembleUpdate::Incremental {
                joinings: joining_lines.iter().map(String::as_str),
                leavings: leaving_ids.iter().map(String::as_str),
            };
            let fut = client.update_ensemble(update, expected);
            let (data, _) = run_within(&self.runtime, self.timeout, fut)?;
            config_from_bytes(&data)
        })();
        match attempt {
            Ok(config) => Ok(config),
            Err(e) if outcome_unknown(&e) => self.verify_change(e, joining, leaving),
            Err(e) => Err(e),
        }
    }

    /// After an unknown-outcome error: re-read the config (reconnecting as needed) until it
    /// answers or the budget runs out; `Ok` if the change is there, else `original`.
    fn verify_change(
        &mut self,
        original: ZkError,
        joining: &[ServerSpec],
        leaving: &[u32],
    ) -> Result<EnsembleConfig, ZkError> {
        let deadline = Instant::now() + (self.timeout * 3).max(MIN_VERIFY_BUDGET);
        self.close();
        loop {
            match self.get_config() {
                Ok(config) => {
                    let applied = joining.iter().all(|s| config.members.get(&s.id) == Some(s))
                        && leaving.iter().all(|id| !config.members.contains_key(id));
                    return if applied { Ok(config) } else { Err(original) };
                }
                Err(e) if outcome_unknown(&e) && Instant::now() < deadline => {
                    self.close();
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(_) => return Err(original),
            }
        }
    }

    /// Creates a persistent znode with `data`, readable and writable by any authenticated
    /// session (`world:anyone:cdrwa`).
    pub fn create(&mut self, path: &str, data: &[u8]) -> Result<(), ZkError> {
        self.create_with_acl(path, data, &[AclEntry::anyone(Perms::ALL)])
    }

    /// Creates a persistent znode with `data` and `acl`.
    pub fn create_with_acl(
        &mut self,
        path: &str,
        data: &[u8],
        acl: &[AclEntry],
    ) -> Result<(), ZkError> {
        let client = self.client()?.clone();
        let acls: Vec<zkc::Acl> = acl.iter().map(AclEntry::to_client).collect();
        let options = zkc::CreateMode::Persistent.with_acls(zkc::Acls::new(&acls));
        run_within(
            &self.runtime,
            self.timeout,
            client.create(path, data, &options),
        )
        .map(drop)
        .map_err(|e| in_path(path, e))
    }

    /// Replaces the data of `path`.
    pub fn set(&mut self, path: &str, data: &[u8]) -> Result<(), ZkError> {
        let client = self.client()?.clone();
        run_within(
            &self.runtime,
            self.timeout,
            client.set_data(path, data, None),
        )
        .map(drop)
        .map_err(|e| in_path(path, e))
    }

    /// Deletes `path` (which must have no children).
    pub fn delete(&mut self, path: &str) -> Result<(), ZkError> {
        let client = self.client()?.clone();
        run_within(&self.runtime, self.timeout, client.delete(path, None))
            .map_err(|e| in_path(path, e))
    }

    /// The ACL of `path`.
    pub fn get_acl(&mut self, path: &str) -> Result<Vec<AclEntry>, ZkError> {
        let owned = path.to_string();
        let acl = self
            .read(|c| {
                let p = owned.clone();
                async move { c.get_acl(&p).await.map(|(acl, _)| acl) }
            })
            .map_err(|e| in_path(path, e))?;
        Ok(acl.iter().map(AclEntry::from_client).collect())
    }

    /// Replaces the ACL of `path` (whatever its ACL version).
    pub fn set_acl(&mut self, path: &str, acl: &[AclEntry]) -> Result<(), ZkError> {
        let client = self.client()?.clone();
        let acls: Vec<zkc::Acl> = acl.iter().map(AclEntry::to_client).collect();
        run_within(
            &self.runtime,
            self.timeout,
            client.set_acl(path, &acls, None),
        )
        .map(drop)
        .map_err(|e| in_path(path, e))
    }

    /// Creates `path` unless it exists, and each missing znode above it (outermost first),
    /// each empty, with the ACL `acl_of` gives for its path. Whether it created `path`.
    pub fn ensure_znode(
        &mut self,
        path: &str,
        acl_of: &dyn Fn(&str) -> Vec<AclEntry>,
    ) -> Result<bool, ZkError> {
        let parents: Vec<&str> = path
            .match_indices('/')
            .skip(1)
            .map(|(i, _)| &path[..i])
            .collect();
        for parent in parents {
            match self.create_with_acl(parent, b"", &acl_of(parent)) {
                Ok(()) | Err(ZkError::NodeExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        match self.create_with_acl(path, b"", &acl_of(path)) {
            Ok(()) => Ok(true),
            Err(ZkError::NodeExists(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sets the ACL of `root` and of every znode below it to what `acl_of` gives for its
    /// path, parents before children; the number of znodes set. A znode deleted meanwhile
    /// is skipped (but `root` must exist).
    pub fn set_acl_tree(
        &mut self,
        root: &str,
        acl_of: &dyn Fn(&str) -> Vec<AclEntry>,
    ) -> Result<usize, ZkError> {
        let mut queue = std::collections::VecDeque::from([root.to_string()]);
        let mut done = 0;
        while let Some(path) = queue.pop_front() {
            let gone = |e: &ZkError| path != root && matches!(e, ZkError::NoNode(_));
            match self.set_acl(&path, &acl_of(&path)) {
                Ok(()) => done += 1,
                Err(e) if gone(&e) => continue,
                Err(e) => return Err(e),
            }
            match self.children(&path) {
                Ok(names) => queue.extend(names.iter().map(|n| child_path(&path, n))),
                Err(e) if gone(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Restricts [`PROTECTED`] to [`protected_acl`]: readable by any authenticated session,
    /// changed only by `super`. Idempotent.
    pub fn protect_root(&mut self) -> Result<(), ZkError> {
        let acl = protected_acl();
        for path in PROTECTED {
            if self.get_acl(path)? != acl {
                self.set_acl(path, &acl)?;
            }
        }
        Ok(())
    }

    /// The data of `path`.
    pub fn get(&mut self, path: &str) -> Result<Vec<u8>, ZkError> {
        let owned = path.to_string();
        self.read(|c| {
            let p = owned.clone();
            async move { c.get_data(&p).await.map(|(data, _)| data) }
        })
        .map_err(|e| in_path(path, e))
    }

    /// The children names of `path`, sorted.
    pub fn children(&mut self, path: &str) -> Result<Vec<String>, ZkError> {
        let owned = path.to_string();
        let mut names = self
            .read(|c| {
                let p = owned.clone();
                async move { c.list_children(&p).await }
            })
            .map_err(|e| in_path(path, e))?;
        names.sort();
        Ok(names)
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.close();
    }
}

/// A current-thread runtime driven by a background thread (so that IO, timers and the
/// session task run while the caller waits or does something else). Calls run through
/// [`tokio::runtime::Handle::block_on`].
struct Driver {
    runtime: Arc<tokio::runtime::Runtime>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Driver {
    fn start() -> Result<Driver, ZkError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ZkError::Client(format!("cannot start the client runtime: {e}")))?;
        let runtime = Arc::new(runtime);
        let stop = Arc::new(AtomicBool::new(false));
        let (rt, flag) = (Arc::clone(&runtime), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("zk-admin".into())
            .spawn(move || {
                rt.block_on(async move {
                    while !flag.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
            })
            .map_err(|e| ZkError::Client(format!("cannot start the client thread: {e}")))?;
        Ok(Driver {
            runtime,
            stop,
            thread: Some(thread),
        })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `parent/name` (`/` + name below the root).
fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

fn with_port(host: &str) -> String {
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(h, p)| p.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']')));
    if has_port {
        host.to_string()
    } else if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{CLIENT_PORT}")
    } else {
        format!("{host}:{CLIENT_PORT}")
    }
}

fn config_from_bytes(data: &[u8]) -> Result<EnsembleConfig, ZkError> {
    let text = std::str::from_utf8(data)
        .map_err(|_| ZkError::Client("/zookeeper/config is not UTF-8".into()))?;
    parse_config(text).map_err(|e| ZkError::Client(format!("/zookeeper/config: {e}")))
}

/// Whether a failed call may still have taken effect.
fn outcome_unknown(e: &ZkError) -> bool {
    matches!(e, ZkError::ConnectionLoss(_))
}

fn in_path(path: &str, e: ZkError) -> ZkError {
    match e {
        ZkError::Client(m) => ZkError::Client(format!("{path}: {m}")),
        ZkError::NoAuth(m) => ZkError::NoAuth(format!("{path}: {m}")),
        ZkError::NodeExists(_) => ZkError::NodeExists(path.to_string()),
        ZkError::NoNode(_) => ZkError::NoNode(path.to_string()),
        other => other,
    }
}

fn run_within<T>(
    runtime: &Driver,
    timeout: Duration,
    fut: impl Future<Output = Result<T, zkc::Error>>,
) -> Result<T, ZkError> {
    match runtime
        .handle()
        .block_on(async { tokio::time::timeout(timeout, fut).await })
    {
        Ok(result) => result.map_err(map_error),
        Err(_) => Err(ZkError::ConnectionLoss(format!(
            "no answer within {timeout:?}"
        ))),
    }
}

/// Maps a client error to the charm's error. Never formats any auth data (the client's
/// errors carry none).
pub fn map_error(e: zkc::Error) -> ZkError {
    use zkc::Error as E;
    match e {
        E::NoAuth => {
            ZkError::NoAuth("insufficient permission (reconfig needs the super user)".into())
        }
        E::AuthFailed => ZkError::NoAuth("authentication failed".into()),
        E::NodeExists => ZkError::NodeExists(String::new()),
        E::NoNode => ZkError::NoNode(String::new()),
        E::BadVersion => ZkError::BadVersion,
        E::UnexpectedErrorCode(RECONFIG_IN_PROGRESS) => ZkError::ReconfigInProgress,
        E::UnexpectedErrorCode(NEW_CONFIG_NO_QUORUM) => ZkError::Refused(NO_QUORUM_MESSAGE.into()),
        E::BadArguments(why) => ZkError::Refused(format!("Arguments are not valid: {why}")),
        E::ReconfigDisabled => {
            ZkError::Refused("reconfiguration is disabled (reconfigEnabled=false)".into())
        }
        E::ConnectionLoss
        | E::Timeout
        | E::NoHosts
        | E::SessionExpired
        | E::SessionMoved
        | E::ClientClosed => ZkError::ConnectionLoss(e.to_string()),
        // The client's own connection failures ("no response from connection in ..ms", IO
        // errors): the request's outcome is unknown.
        E::Custom(_) => ZkError::ConnectionLoss(e.to_string()),
        other => ZkError::Client(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconfig_refusals_map_to_their_own_errors() {
        assert!(matches!(map_error(zkc::Error::NoAuth), ZkError::NoAuth(_)));
        assert!(matches!(
            map_error(zkc::Error::BadVersion),
            ZkError::BadVersion
        ));
        assert!(matches!(
            map_error(zkc::Error::UnexpectedErrorCode(-14)),
            ZkError::ReconfigInProgress
        ));
        match map_error(zkc::Error::UnexpectedErrorCode(-13)) {
            ZkError::Refused(m) => {
                assert!(m.starts_with("No quorum of new config is connected"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            map_error(zkc::Error::ConnectionLoss),
            ZkError::ConnectionLoss(_)
        ));
        assert!(matches!(
            map_error(zkc::Error::SessionExpired),
            ZkError::ConnectionLoss(_)
        ));
        assert!(matches!(
            map_error(zkc::Error::NodeExists),
            ZkError::NodeExists(_)
        ));
        assert!(matches!(map_error(zkc::Error::NoNode), ZkError::NoNode(_)));
        assert!(matches!(
            map_error(zkc::Error::NotEmpty),
            ZkError::Client(_)
        ));
        match in_path("/a/b", map_error(zkc::Error::NodeExists)) {
            e @ ZkError::NodeExists(_) => {
                assert_eq!(e.to_string(), "/a/b: the znode already exists")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_connection_trouble_leaves_the_outcome_unknown() {
        assert!(outcome_unknown(&ZkError::ConnectionLoss("x".into())));
        assert!(!outcome_unknown(&ZkError::BadVersion));
        assert!(!outcome_unknown(&ZkError::NoAuth("x".into())));
        assert!(!outcome_unknown(&ZkError::Refused("x".into())));
    }

    #[test]
    fn children_of_the_root_and_of_other_znodes_get_one_slash() {
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/a", "b"), "/a/b");
    }

    #[test]
    fn hosts_get_the_client_port_unless_they_have_one() {
        assert_eq!(with_port("127.0.0.11"), "127.0.0.11:2181");
        assert_eq!(with_port("127.0.0.11:2182"), "127.0.0.11:2182");
        assert_eq!(with_port("zk-0.local"), "zk-0.local:2181");
        assert_eq!(with_port("::1"), "[::1]:2181");
        assert_eq!(with_port("[::1]:2181"), "[::1]:2181");
    }

    #[test]
    fn acl_entries_keep_their_permission_bits_through_the_client_types() {
        for bits in 0..32 {
            let e = AclEntry::new(Perms(bits), "digest", "u:h=");
            assert_eq!(AclEntry::from_client(&e.to_client()), e);
        }
        assert_eq!(
            format!("{:?}", Auth::super_user("pw-visible")),
            "Sasl(super)"
        );
    }

    #[test]
    fn connecting_to_nothing_fails_fast_without_the_password() {
        // Nothing listens on 127.0.0.1:9 (discard) in the test environment.
        let started = Instant::now();
        let err = Admin::connect(
            &["127.0.0.1:9".to_string()],
            "pw-9f3k",
            Duration::from_secs(2),
        )
        .unwrap_err();
        assert!(matches!(err, ZkError::ConnectionLoss(_)), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("pw-9f3k"));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
