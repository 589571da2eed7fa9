//! Client applications in a chaos scenario: `client-add` deploys a requirer (a scripted
//! stub, as in the client-relation tests) related to `zookeeper` that asks for a chroot of
//! its own; `client-remove k` removes the relation of the k-th related client (the
//! application stays, as with `juju remove-relation`).
//!
//! Each client reads what it was given the way a requirer does: the provider's application
//! bag through `relation-get` as its own unit, and, when it asked for secrets, the
//! `secret-user` secret through `secret-get` as its unit (the URI and its own label the
//! first time, then the label with `--refresh`). Even-numbered clients ask for secrets,
//! odd-numbered ones do not (every field plain) and give their chroot without the leading
//! `/`.
//!
//! After each settled step every related client logs in with SASL DIGEST-MD5 as its own
//! user on its published endpoints and creates a znode under its chroot (acknowledged =
//! the create returned OK); clients also try one write in the middle of each step. Checked
//! once each step has settled:
//! - every client that asked has its credentials, its chroot as `database`, `endpoints`
//!   that are exactly the units' client ports and `uris` = `endpoints` + chroot;
//! - every acknowledged write of a related client reads back with its own credentials,
//!   over SASL and over `digest`;
//! - a removed client's acknowledged writes are still there (read as `super`), no server
//!   accepts its SASL login any more, its `digest` identity no longer reads its chroot, and
//!   its unit can no longer read its credentials secret (the contract, section 1.10).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use testkit::model::addresses;
use testkit::writes::read_children;
use zk_sim::{Chain, Model, StubSpec};
use zookeeper_charm::zk::admin::{Admin, Auth};
use zookeeper_charm::zk::ZkError;

/// At most this many clients related at once (each addition rolls every server).
pub(super) const MAX_CLIENTS: usize = 4;

/// What Kafka lists in `requested-secrets`.
const REQUESTED: &str = r#"["username","password","tls","tls-ca","uris"]"#;

/// How long a client session may take to open, and each request.
const SESSION: Duration = Duration::from_secs(5);

/// A failed client invariant: its kind and what was wrong.
pub(super) type Problem = (&'static str, String);

/// What a client was given, as it read it.
#[derive(Clone, PartialEq, Eq)]
struct Creds {
    user: String,
    password: String,
    endpoints: Vec<String>,
    uris: String,
    database: String,
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Creds")
            .field("user", &self.user)
            .field("endpoints", &self.endpoints)
            .field("uris", &self.uris)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl Creds {
    fn sasl(&self) -> Auth {
        Auth::Sasl {
            user: self.user.clone(),
            password: self.password.clone(),
        }
    }

    fn digest(&self) -> Auth {
        Auth::Digest {
            user: self.user.clone(),
            password: self.password.clone(),
        }
    }
}

struct Client {
    app: String,
    unit: String,
    relation: u32,
    /// The chroot it expects (normalised: a leading `/`).
    chroot: String,
    /// Whether it listed fields in `requested-secrets`.
    secrets: bool,
    /// Whether it has pinned its own label on the `secret-user` secret.
    pinned: bool,
    /// The label it reads its `user` secret by.
    label: String,
    /// What it read last (None until published).
    creds: Option<Creds>,
    /// Names of its acknowledged znodes under its chroot.
    acked: Vec<String>,
    /// The step whose event removed its relation.
    removed_at: Option<usize>,
}

/// The clients of one scenario run.
#[derive(Default)]
pub(super) struct Clients {
    list: Vec<Client>,
}

fn sim_err(what: &str, e: zk_sim::SimError) -> String {
    format!("{what}: {}", Chain(&e))
}

/// The servers' client endpoints now: each live unit's address on 2181, sorted as text.
fn unit_endpoints(m: &Model) -> Vec<String> {
    let mut eps: Vec<String> = addresses(m)
        .unwrap_or_default()
        .into_values()
        .map(|a| format!("{a}:2181"))
        .collect();
    eps.sort();
    eps
}

/// Whether `e` is a failed SASL login (ZooKeeper's `AuthFailed`).
fn is_auth_failed(e: &ZkError) -> bool {
    matches!(e, ZkError::NoAuth(m) if m.contains("authentication failed"))
}

/// Whether `e` is `NoAuth` on a request (not a failed login).
fn is_no_auth(e: &ZkError) -> bool {
    matches!(e, ZkError::NoAuth(m) if !m.contains("authentication failed"))
}

/// Polls `f` for up to `secs` seconds; the last error if it never passes.
fn eventually<T>(secs: u64, mut f: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// Creates `<chroot>/<name>` as `creds`' SASL user through its endpoints. Ok = acknowledged.
fn write_as(creds: &Creds, chroot: &str, name: &str, timeout: Duration) -> Result<(), String> {
    let mut s = Admin::connect_as(&creds.endpoints, creds.sasl(), timeout)
        .map_err(|e| format!("connect as {}: {e}", creds.user))?;
    let path = format!("{chroot}/{name}");
    s.create(&path, name.as_bytes())
        .map_err(|e| format!("create {path} as {}: {e}", creds.user))
}

/// Through a fresh session as `auth` on `endpoints`: lists `chroot` and, with `get_data`,
/// reads every znode of `names` that is there (its data must be its name). Returns the
/// names missing; Err if a request failed.
fn read_back_as(
    endpoints: &[String],
    auth: Auth,
    chroot: &str,
    names: &[String],
    get_data: bool,
) -> Result<Vec<String>, String> {
    let shown = format!("{auth:?}");
    let mut s = Admin::connect_as(endpoints, auth, SESSION)
        .map_err(|e| format!("connect as {shown}: {e}"))?;
    let children = s
        .children(chroot)
        .map_err(|e| format!("list {chroot} as {shown}: {e}"))?;
    let mut missing = Vec::new();
    for name in names {
        if !children.contains(name) {
            missing.push(name.clone());
        } else if get_data {
            let path = format!("{chroot}/{name}");
            let data = s
                .get(&path)
                .map_err(|e| format!("get {path} as {shown}: {e}"))?;
            if data != name.as_bytes() {
                return Err(format!("{path} holds {data:?}, written {name:?}"));
            }
        }
    }
    Ok(missing)
}

impl Clients {
    /// How many clients ever wrote something (for the run's summary).
    pub(super) fn writes(&self) -> usize {
        self.list.iter().map(|c| c.acked.len()).sum()
    }

    /// `clients: 2 related (7 writes), 1 removed (3 writes kept)`, once there are any.
    pub(super) fn summary(&self) -> Option<String> {
        if self.list.is_empty() {
            return None;
        }
        let count = |removed: bool| {
            let l: Vec<&Client> = self
                .list
                .iter()
                .filter(|c| c.removed_at.is_some() == removed)
                .collect();
            (l.len(), l.iter().map(|c| c.acked.len()).sum::<usize>())
        };
        let (related, w) = count(false);
        let (removed, kept) = count(true);
        Some(format!(
            "clients: {related} related ({w} writes), {removed} removed ({kept} writes kept)"
        ))
    }

    fn related(&self) -> Vec<usize> {
        (0..self.list.len())
            .filter(|&i| self.list[i].removed_at.is_none())
            .collect()
    }

    /// `client-add`: deploys client `client<n>`, relates it, runs hooks until its unit may
    /// write to the relation (the scheduler picks them, so other units' hooks run too, as
    /// they would on Juju meanwhile), then asks for `/client-<n>`. Returns what it did.
    pub(super) fn add(&mut self, m: &mut Model) -> Result<String, String> {
        if self.related().len() >= MAX_CLIENTS {
            return Ok(format!("client-add skipped: {MAX_CLIENTS} clients already"));
        }
        let n = self.list.len();
        let app = format!("client{n}");
        let unit = format!("{app}/0");
        let spec = StubSpec::new().requires("zookeeper", "zookeeper");
        m.deploy_stub(&app, &spec, 1)
            .map_err(|e| sim_err("deploy a client", e))?;
        m.exec_ok(&unit, &["status-set", "active", "a chaos client"])
            .map_err(|e| sim_err("client status", e))?;
        let zk = m.app_name().map_err(|e| sim_err("app", e))?;
        let relation = m
            .integrate(&zk, &app)
            .map_err(|e| sim_err("integrate", e))?;
        let mut ran = 0;
        loop {
            let st = m.state().map_err(|e| sim_err("state", e))?;
            let u = st.units.get(&unit).ok_or("the client unit is gone")?;
            if u.scope.contains_key(&relation) || u.awaiting_created.contains(&relation) {
                break;
            }
            if ran >= 500 || m.step().map_err(|e| sim_err("step", e))?.is_none() {
                return Err(format!(
                    "{unit} never entered relation {relation} ({ran} hooks run)"
                ));
            }
            ran += 1;
        }
        let chroot = format!("/client-{n}");
        let secrets = n.is_multiple_of(2);
        let asked = if secrets {
            chroot.clone()
        } else {
            chroot[1..].to_string()
        };
        let mut pairs = vec![("database", asked.as_str())];
        if secrets {
            pairs.push(("requested-secrets", REQUESTED));
        }
        m.set_relation_data(&unit, relation, true, &pairs)
            .map_err(|e| sim_err("the client asks", e))?;
        self.list.push(Client {
            label: format!("{app}.user"),
            app,
            unit,
            relation,
            chroot,
            secrets,
            pinned: false,
            creds: None,
            acked: Vec::new(),
            removed_at: None,
        });
        Ok(format!(
            "added client{n} (relation {relation}, {asked:?}, {}; {ran} hooks before it asked)",
            if secrets { "secrets" } else { "plain" }
        ))
    }

    /// `client-remove k` at `step`: removes the relation of the k-th related client.
    pub(super) fn remove(&mut self, m: &mut Model, k: u32, step: usize) -> Result<String, String> {
        let related = self.related();
        if related.is_empty() {
            return Ok("client-remove skipped: no client related".into());
        }
        let c = &mut self.list[related[k as usize % related.len()]];
        m.remove_relation(&c.relation.to_string(), None)
            .map_err(|e| sim_err("remove-relation", e))?;
        c.removed_at = Some(step);
        Ok(format!("removing {}'s relation {}", c.app, c.relation))
    }

    /// Reads what client `i` was given, as its unit: None while nothing is published.
    fn read_given(&mut self, m: &mut Model, i: usize) -> Result<Option<Creds>, String> {
        let c = &mut self.list[i];
        let bag = m
            .relation_data_as(&c.unit, c.relation, "zookeeper")
            .map_err(|e| sim_err(&format!("{} reads the provider bag", c.unit), e))?;
        if !(bag.contains_key("secret-user") || bag.contains_key("username")) {
            return Ok(None);
        }
        let mut fields: BTreeMap<String, String> = bag
            .iter()
            .filter(|(k, _)| !k.starts_with("secret-"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(uri) = bag.get("secret-user") {
            if !c.secrets {
                return Err(format!("{} asked for no secrets but was given one", c.app));
            }
            let args: Vec<&str> = if c.pinned {
                vec!["--label", &c.label, "--refresh"]
            } else {
                vec![uri, "--label", &c.label]
            };
            let content = m
                .secret_get_as(&c.unit, &args)
                .map_err(|e| sim_err(&format!("{} reads its secret", c.unit), e))?;
            c.pinned = true;
            fields.extend(content);
        }
        let get = |k: &str| {
            fields
                .get(k)
                .cloned()
                .ok_or_else(|| format!("{} was given no {k}: has {:?}", c.app, fields.keys()))
        };
        Ok(Some(Creds {
            user: get("username")?,
            password: get("password")?,
            endpoints: get("endpoints")?.split(',').map(String::from).collect(),
            uris: get("uris")?,
            database: get("database")?,
        }))
    }

    /// A write by every published client in the middle of a step (also by one whose
    /// relation this step removes: it writes until it is cut off): it may fail (not
    /// acknowledged), but if it succeeds it must survive.
    pub(super) fn mid_writes(&mut self, step: usize) {
        let writing = |c: &&mut Client| c.removed_at.is_none_or(|at| at == step);
        for c in self.list.iter_mut().filter(writing) {
            let Some(creds) = &c.creds else { continue };
            let name = format!("step-{step}-mid");
            if write_as(creds, &c.chroot, &name, Duration::from_secs(3)).is_ok() {
                c.acked.push(name);
            }
        }
    }

    /// The client invariants of a settled model (see the module docs); `super_password`
    /// reads a removed client's data.
    pub(super) fn check_settled(
        &mut self,
        m: &mut Model,
        step: usize,
        super_password: Option<&str>,
    ) -> Result<(), Problem> {
        let want = unit_endpoints(m);
        for i in 0..self.list.len() {
            if self.list[i].removed_at.is_some() {
                self.check_removed(m, i, super_password)?;
            } else {
                self.check_related(m, i, step, &want)?;
            }
        }
        Ok(())
    }

    fn check_related(
        &mut self,
        m: &mut Model,
        i: usize,
        step: usize,
        want: &[String],
    ) -> Result<(), Problem> {
        let given = self
            .read_given(m, i)
            .map_err(|e| ("client-read-given", e))?;
        let c = &mut self.list[i];
        let Some(creds) = given else {
            return Err((
                "client-unpublished",
                format!(
                    "settled, but {} (relation {}) has no credentials",
                    c.app, c.relation
                ),
            ));
        };
        if creds.user != format!("relation-{}", c.relation) || creds.database != c.chroot {
            return Err((
                "client-given",
                format!("{} asked for {} and was given {creds:?}", c.app, c.chroot),
            ));
        }
        if let Some(old) = &c.creds {
            if old.password != creds.password {
                return Err((
                    "client-given",
                    format!("{}'s password changed while related", c.app),
                ));
            }
        }
        if creds.endpoints != want || creds.uris != format!("{}{}", want.join(","), c.chroot) {
            return Err((
                "client-endpoints",
                format!("{} was given {creds:?}, the units serve on {want:?}", c.app),
            ));
        }
        c.creds = Some(creds.clone());
        let name = format!("step-{step}-settled");
        eventually(30, || write_as(&creds, &c.chroot, &name, SESSION))
            .map_err(|e| ("client-write-failed", format!("{}: {e}", c.app)))?;
        c.acked.push(name);
        // Every znode read with SASL (as Kafka logs in), the listing with digest too.
        for (auth, get_data) in [(creds.sasl(), true), (creds.digest(), false)] {
            let lost = eventually(10, || {
                read_back_as(
                    &creds.endpoints,
                    auth.clone(),
                    &c.chroot,
                    &c.acked,
                    get_data,
                )
            })
            .map_err(|e| ("client-read-failed", format!("{}: {e}", c.app)))?;
            if !lost.is_empty() {
                return Err((
                    "client-write-lost",
                    format!(
                        "{}'s acknowledged writes under {} lost (read as {auth:?}): {lost:?}",
                        c.app, c.chroot
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_removed(
        &mut self,
        m: &mut Model,
        i: usize,
        super_password: Option<&str>,
    ) -> Result<(), Problem> {
        let c = &self.list[i];
        let Some(creds) = c.creds.clone() else {
            // Removed before anything was published: nothing to keep or revoke.
            return Ok(());
        };
        let hosts: Vec<String> = unit_endpoints(m);
        let pw = super_password.ok_or(("read-failed", "no super password".to_string()))?;
        let seen = eventually(10, || read_children(&hosts, pw, &c.chroot, SESSION))
            .map_err(|e| ("read-failed", format!("{}'s chroot as super: {e}", c.app)))?;
        let lost: Vec<&String> = c.acked.iter().filter(|w| !seen.contains(*w)).collect();
        if !lost.is_empty() {
            return Err((
                "client-write-lost",
                format!(
                    "removed {}'s acknowledged writes under {} lost: {lost:?}",
                    c.app, c.chroot
                ),
            ));
        }
        for ep in &hosts {
            let one = std::slice::from_ref(ep);
            // A refused login, not a server that does not answer.
            let sasl = eventually(10, || match Admin::connect_as(one, creds.sasl(), SESSION) {
                Ok(_) => Ok(Err(())),
                Err(e) if is_auth_failed(&e) => Ok(Ok(())),
                Err(e) => Err(format!("{ep}: {e}")),
            })
            .map_err(|e| ("read-failed", e))?;
            if sasl.is_err() {
                return Err((
                    "client-not-revoked",
                    format!(
                        "removed {}'s user {} still logs in with SASL on {ep}",
                        c.app, creds.user
                    ),
                ));
            }
            let digest = eventually(10, || {
                let mut s = Admin::connect_as(one, creds.digest(), SESSION)
                    .map_err(|e| format!("{ep}: {e}"))?;
                // The chroot and what the client wrote under it.
                let mut paths = vec![c.chroot.clone()];
                paths.extend(c.acked.first().map(|w| format!("{}/{w}", c.chroot)));
                for path in &paths {
                    match s.get(path) {
                        Ok(_) => return Ok(Some(path.clone())),
                        Err(e) if is_no_auth(&e) => {}
                        Err(e) => return Err(format!("{ep}: get {path}: {e}")),
                    }
                }
                Ok(None)
            })
            .map_err(|e| ("read-failed", e))?;
            if let Some(path) = digest {
                return Err((
                    "client-not-revoked",
                    format!(
                        "removed {}'s digest identity still reads {path} on {ep}",
                        c.app
                    ),
                ));
            }
        }
        if c.secrets {
            let r = m.secret_get_as(&c.unit, &["--label", &c.label, "--refresh"]);
            if let Ok(content) = r {
                return Err((
                    "client-not-revoked",
                    format!(
                        "removed {} still reads its secret (keys {:?})",
                        c.app,
                        content.keys()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::scenario::{generate, Event, Scenario};

    #[test]
    fn client_events_print_as_they_parse_and_may_interrupt_an_upgrade() {
        let text = "deploy 3; client-add; upgrade 3 [client-add]; client-remove 0; upgrade 1 [client-remove 2]; add-unit";
        let sc: Scenario = text.parse().unwrap();
        assert_eq!(sc.to_string(), text);
        assert_eq!(sc.events[0], Event::ClientAdd);
        assert_eq!(
            sc.events[1],
            Event::Upgrade {
                after: 3,
                interrupt: Some(Box::new(Event::ClientAdd))
            }
        );
        assert_eq!(sc.events[2], Event::ClientRemove(0));
        for bad in [
            "deploy 3; client-add 1",
            "deploy 3; client-remove",
            "deploy 3; client-remove x",
            "deploy 3; client-add [kill 1]",
        ] {
            assert!(bad.parse::<Scenario>().is_err(), "{bad}");
        }
    }

    #[test]
    fn seeds_add_and_remove_clients_and_interrupt_upgrades_with_them() {
        let all: Vec<String> = (0..200).map(|s| generate(s, 12).to_string()).collect();
        let text = all.join("\n");
        for word in [
            "; client-add",
            "; client-remove ",
            "[client-add]",
            "[client-remove ",
        ] {
            assert!(text.contains(word), "{word}");
        }
        // A removal can only follow an addition to matter; most scenarios with a removal
        // have an addition before it.
        let both = all
            .iter()
            .filter(|s| {
                let add = s.find("client-add");
                let remove = s.find("client-remove");
                matches!((add, remove), (Some(a), Some(r)) if a < r)
            })
            .count();
        assert!(
            both >= 20,
            "{both} of 200 scenarios add then remove a client"
        );
    }
}
