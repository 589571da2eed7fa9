//! What the client-relation tests share: client stubs, reading what a client was given,
//! sessions as a client, the units' JAAS files, and a check run after every hook.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use testkit::server::{live_server, ServerProcess};
use testkit::Cluster;
use zk_sim::Model;
use zookeeper_charm::zk::admin::{Admin, Auth};
use zookeeper_charm::zk::ZkError;

/// What Kafka (and the ops requirer) list in `requested-secrets`.
pub const REQUESTED: &str = r#"["username","password","tls","tls-ca","uris"]"#;

/// How long a client session may take to open, and each request.
pub const SESSION: Duration = Duration::from_secs(10);

/// The tests of this binary run one at a time: each runs three or four JVMs on a machine
/// shared with other test binaries.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes the stub's application bag, as its leader would.
pub fn ask(c: &mut Cluster, app: &str, id: u32, pairs: &[(&str, &str)]) {
    c.model
        .set_relation_data(&format!("{app}/0"), id, true, pairs)
        .unwrap();
}

/// The charm's application bag in relation `id`.
pub fn provided(m: &Model, id: u32) -> BTreeMap<String, String> {
    m.relation_app_bag(id, "zookeeper").unwrap()
}

/// Whether relation `id` has been given credentials (in a secret or in plain keys).
pub fn has_credentials(bag: &BTreeMap<String, String>) -> bool {
    bag.contains_key("secret-user") || bag.contains_key("username")
}

/// What one client was given: the plain keys and the content of its secrets (as their
/// owner sees the latest revision), merged.
#[derive(Clone, PartialEq, Eq)]
pub struct Given {
    pub fields: BTreeMap<String, String>,
}

impl std::fmt::Debug for Given {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.fields.keys().filter(|k| *k != "password"))
            .finish()
    }
}

impl Given {
    pub fn read(m: &Model, id: u32) -> Given {
        let bag = provided(m, id);
        let mut fields: BTreeMap<String, String> = bag
            .iter()
            .filter(|(k, _)| !k.starts_with("secret-"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for key in ["secret-user", "secret-tls", "secret-extra"] {
            if let Some(uri) = bag.get(key) {
                let view = m.show_secret(uri, true).unwrap();
                fields.extend(view.content.unwrap_or_default());
            }
        }
        Given { fields }
    }

    pub fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in {self:?}"))
    }

    pub fn user(&self) -> &str {
        self.get("username")
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.get("endpoints").split(',').map(String::from).collect()
    }

    pub fn sasl(&self) -> Auth {
        Auth::Sasl {
            user: self.user().into(),
            password: self.get("password").into(),
        }
    }

    pub fn digest(&self) -> Auth {
        Auth::Digest {
            user: self.user().into(),
            password: self.get("password").into(),
        }
    }
}

/// A session on one endpoint (`host:port`) as `auth`.
pub fn session(endpoint: &str, auth: Auth) -> Result<Admin, ZkError> {
    Admin::connect_as(&[endpoint.to_string()], auth, SESSION)
}

/// A session that must open.
pub fn open(endpoint: &str, auth: Auth) -> Admin {
    let shown = format!("{auth:?}");
    session(endpoint, auth).unwrap_or_else(|e| panic!("{shown} on {endpoint}: {e}"))
}

/// Whether `e` is ZooKeeper's `NoAuth` on a request (not a failed login).
pub fn is_no_auth(e: &ZkError) -> bool {
    matches!(e, ZkError::NoAuth(m) if !m.contains("authentication failed"))
}

/// Whether `e` is a failed SASL login (`AuthFailed`).
pub fn is_auth_failed(e: &ZkError) -> bool {
    matches!(e, ZkError::NoAuth(m) if m.contains("authentication failed"))
}

/// Unit `n`'s JAAS file.
pub fn jaas_path(c: &Cluster, n: u32) -> PathBuf {
    c.zoo_cfg(n).parent().unwrap().join("zookeeper-jaas.cfg")
}

pub fn jaas(c: &Cluster, n: u32) -> String {
    std::fs::read_to_string(jaas_path(c, n)).unwrap()
}

/// How many times unit `n`'s JAAS file names `user`'s server-side login.
pub fn jaas_users(c: &Cluster, n: u32, user: &str) -> usize {
    jaas(c, n).matches(&format!("user_{user}=")).count()
}

/// The ZooKeeper units' live server processes, by unit name.
pub fn servers(m: &Model) -> BTreeMap<String, Option<ServerProcess>> {
    let app = m.app_name().unwrap();
    m.status()
        .unwrap()
        .into_iter()
        .filter(|u| u.app == app && u.life == "alive")
        .map(|u| {
            let server = live_server(&m.machine(&u.unit).unwrap());
            (u.unit, server)
        })
        .collect()
}

/// A check run after every hook: at the first hook after which relation `id` shows
/// credentials, `check` sees the model and returns what is wrong (nothing: empty).
pub struct AtFirstSight {
    pending: BTreeMap<u32, String>,
    pub problems: Rc<RefCell<Vec<String>>>,
    pub seen: Rc<RefCell<BTreeSet<u32>>>,
}

impl AtFirstSight {
    /// Installs the check on `c`'s model for the relations `ids` (id -> client name).
    pub fn install(
        c: &mut Cluster,
        ids: BTreeMap<u32, String>,
        check: impl Fn(&Model, u32, &str) -> Vec<String> + 'static,
    ) -> AtFirstSight {
        let problems = Rc::new(RefCell::new(Vec::new()));
        let seen = Rc::new(RefCell::new(BTreeSet::new()));
        let handle = Model::open(c.model.dir()).unwrap();
        let (p, s) = (problems.clone(), seen.clone());
        let pending = ids.clone();
        let mut waiting = ids;
        c.model.on_hook(move |record| {
            let ready: Vec<(u32, String)> = waiting
                .iter()
                .filter(|(id, _)| has_credentials(&provided(&handle, **id)))
                .map(|(id, n)| (*id, n.clone()))
                .collect();
            for (id, name) in ready {
                waiting.remove(&id);
                s.borrow_mut().insert(id);
                for problem in check(&handle, id, &name) {
                    p.borrow_mut().push(format!(
                        "{name} (relation {id}), after {} on {}: {problem}",
                        record.hook, record.unit
                    ));
                }
            }
        });
        AtFirstSight {
            pending,
            problems,
            seen,
        }
    }

    /// Removes the check; panics with what it found wrong, or if a relation never showed
    /// credentials.
    pub fn finish(self, c: &mut Cluster) {
        c.model.on_hook(|_| {});
        let problems = self.problems.borrow();
        assert!(problems.is_empty(), "{problems:#?}");
        let seen = self.seen.borrow();
        for (id, name) in &self.pending {
            assert!(seen.contains(id), "{name} (relation {id}) never got data");
        }
    }
}

/// Connects as `auth` to each endpoint of `given` and lists its chroot: what failed.
pub fn logins_fail(given: &Given, auth: impl Fn(&Given) -> Auth) -> Vec<String> {
    let chroot = given.get("database").to_string();
    given
        .endpoints()
        .iter()
        .filter_map(|ep| {
            let result = session(ep, auth(given)).and_then(|mut s| s.children(&chroot));
            result.err().map(|e| format!("{ep}: {e}"))
        })
        .collect()
}
