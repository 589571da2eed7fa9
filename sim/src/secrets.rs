//! Juju secrets: what the model stores of each secret (owner, labels, revisions, grants,
//! consumers), the writes a hook buffers until it exits 0, their commit, and the hooks they
//! cause (`secret-changed` on consumers, `secret-remove` on the owner).
//!
//! Semantics (Juju 3.6 unless a switch says otherwise):
//! - A secret is owned by an application (managed by its leader, readable by all its units)
//!   or by a unit. Owners read the latest revision, by URI or by their owner label.
//! - Others read it only through a grant (to their application or to the unit), scoped to a
//!   relation and dropped with it. A consumer's first read starts tracking the latest
//!   revision; later reads return the tracked one until `--refresh` (moves) or `--peek`
//!   (reads the latest once). A consumer's label is its own.
//! - Content changes make a new revision (one per hook at most; identical content makes
//!   none). Consumers tracking an older revision get `secret-changed`; a revision that is
//!   neither the latest nor tracked by anyone becomes obsolete and the owner gets
//!   `secret-remove` for it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::rng::mix;
use crate::state::{Databag, HookKind, HookSpec, ModelState};
use crate::util;

/// Who owns a secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum SecretOwner {
    Application(String),
    Unit(String),
}

impl SecretOwner {
    /// `application` or `unit`, as `secret-info-get` prints it.
    pub fn kind(&self) -> &'static str {
        match self {
            SecretOwner::Application(_) => "application",
            SecretOwner::Unit(_) => "unit",
        }
    }

    /// The application or unit name.
    pub fn name(&self) -> &str {
        match self {
            SecretOwner::Application(n) | SecretOwner::Unit(n) => n,
        }
    }

    /// The owning application.
    pub fn app(&self) -> &str {
        match self {
            SecretOwner::Application(a) => a,
            SecretOwner::Unit(u) => u.split('/').next().unwrap_or(u),
        }
    }
}

/// Who a grant gives read access to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum Subject {
    Application(String),
    Unit(String),
}

impl Subject {
    /// Juju's tag: `application-kafka`, `unit-kafka-0`.
    pub fn tag(&self) -> String {
        match self {
            Subject::Application(a) => format!("application-{a}"),
            Subject::Unit(u) => format!("unit-{}", u.replace('/', "-")),
        }
    }

    /// Whether the grant covers `unit`.
    pub fn covers(&self, unit: &str) -> bool {
        match self {
            Subject::Application(a) => unit.split('/').next() == Some(a.as_str()),
            Subject::Unit(u) => u == unit,
        }
    }
}

/// Read access, scoped to a relation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub subject: Subject,
    pub relation: u32,
}

/// What a consumer unit holds of a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    /// The consumer's own label for the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The revision it tracks.
    pub revision: u32,
}

/// One revision's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub content: Databag,
    pub created: u64,
}

/// A secret as the controller holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// The 20-character id (`secret://<model-uuid>/<id>`).
    pub id: String,
    pub owner: SecretOwner,
    /// The owner's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `--expire`, as an RFC 3339 time (recorded; no `secret-expired` hook is run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<String>,
    /// `--rotate` policy (recorded; no `secret-rotate` hook is run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate: Option<String>,
    pub revisions: BTreeMap<u32, Revision>,
    pub latest: u32,
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// Consumer units by name.
    #[serde(default)]
    pub consumers: BTreeMap<String, Consumer>,
    /// Obsolete revisions the owner was already told about (`secret-remove`).
    #[serde(default)]
    pub obsolete_notified: BTreeSet<u32>,
    pub created: u64,
    pub updated: u64,
}

impl Secret {
    /// The content of the latest revision.
    pub fn latest_content(&self) -> Databag {
        self.revisions
            .get(&self.latest)
            .map(|r| r.content.clone())
            .unwrap_or_default()
    }

    /// Whether `unit` (of application `app`) may read the secret as one of its owners:
    /// every unit of the owning application for an application secret, the unit itself
    /// for a unit secret.
    pub fn owned_by(&self, unit: &str, app: &str) -> bool {
        match &self.owner {
            SecretOwner::Application(a) => a == app,
            SecretOwner::Unit(u) => u == unit,
        }
    }

    /// Whether a grant lets `unit` read the secret.
    pub fn granted_to(&self, unit: &str) -> bool {
        self.grants.iter().any(|g| g.subject.covers(unit))
    }
}

/// The secret URI of an id: `secret://<model-uuid>/<id>`, as `secret-add` prints it.
pub fn uri(model_uuid: &str, id: &str) -> String {
    format!("secret://{model_uuid}/{id}")
}

/// True for a 20-character secret id (an xid: `[0-9a-v]{20}`).
pub fn is_secret_id(s: &str) -> bool {
    s.len() == 20
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'v').contains(&c))
}

/// The id in `secret:<id>`, `secret://<uuid>/<id>` or a bare `<id>`; None when it is none
/// of these.
pub fn parse_uri(s: &str) -> Option<String> {
    let id = if let Some(rest) = s.strip_prefix("secret://") {
        let (_uuid, id) = rest.rsplit_once('/')?;
        id
    } else if let Some(id) = s.strip_prefix("secret:") {
        id
    } else {
        s
    };
    is_secret_id(id).then(|| id.to_string())
}

/// A new secret id from the model's seed and a counter: 20 characters of base32hex, like
/// Juju's xids, reproducible from the seed.
pub fn new_id(seed: u64, counter: u64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let a = mix(seed ^ counter.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x005E_C2E7);
    let b = mix(a ^ counter);
    let bits = (u128::from(a) << 64) | u128::from(b);
    (0..20)
        .map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char)
        .collect()
}

/// Juju's rule for secret content keys: `^[a-z](-?[a-z0-9]){2,}$`.
pub fn valid_key(k: &str) -> bool {
    let b = k.as_bytes();
    if b.len() < 3 || !b[0].is_ascii_lowercase() {
        return false;
    }
    let mut i = 1;
    let mut groups = 0;
    while i < b.len() {
        if b[i] == b'-' {
            i += 1;
        }
        match b.get(i) {
            Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() => {
                groups += 1;
                i += 1;
            }
            _ => return false,
        }
    }
    groups >= 2
}

/// The rotation policies `--rotate` accepts.
pub const ROTATE_POLICIES: [&str; 7] = [
    "never",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "yearly",
];

/// A secret this hook created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCreate {
    pub owner: SecretOwner,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate: Option<String>,
    pub content: Databag,
}

/// Changes to an existing secret (later calls override earlier ones field by field; the
/// content is replaced whole, as Juju 3.6 merges several `secret-set` calls of one hook).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Databag>,
}

impl PendingUpdate {
    /// Overlays a later call's fields.
    pub fn merge(&mut self, later: PendingUpdate) {
        if later.label.is_some() {
            self.label = later.label;
        }
        if later.description.is_some() {
            self.description = later.description;
        }
        if later.expire.is_some() {
            self.expire = later.expire;
        }
        if later.rotate.is_some() {
            self.rotate = later.rotate;
        }
        if later.content.is_some() {
            self.content = later.content;
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == PendingUpdate::default()
    }
}

/// Which revisions a `secret-remove` removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Removal {
    All,
    Revisions(BTreeSet<u32>),
}

/// A hook's buffered secret writes, committed only if it exits 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSecrets {
    #[serde(default)]
    pub creates: BTreeMap<String, PendingCreate>,
    #[serde(default)]
    pub updates: BTreeMap<String, PendingUpdate>,
    #[serde(default)]
    pub removes: BTreeMap<String, Removal>,
    #[serde(default)]
    pub grants: BTreeMap<String, Vec<Grant>>,
    #[serde(default)]
    pub revokes: BTreeMap<String, Vec<Subject>>,
}

impl PendingSecrets {
    pub fn is_empty(&self) -> bool {
        *self == PendingSecrets::default()
    }

    /// Records a `secret-remove` (all revisions, or one more revision).
    pub fn remove(&mut self, id: &str, revision: Option<u32>) {
        match revision {
            None => {
                self.creates.remove(id);
                self.updates.remove(id);
                self.grants.remove(id);
                self.revokes.remove(id);
                self.removes.insert(id.to_string(), Removal::All);
            }
            Some(r) => match self.removes.get_mut(id) {
                Some(Removal::All) => {}
                Some(Removal::Revisions(revs)) => {
                    revs.insert(r);
                }
                None => {
                    self.removes
                        .insert(id.to_string(), Removal::Revisions([r].into()));
                }
            },
        }
    }
}

/// Whether `unit` of `app` manages the secret (may set, remove, grant, see its metadata):
/// the owning unit, or the leader of the owning application.
pub fn manages(owner: &SecretOwner, unit: &str, app: &str, is_leader: bool) -> bool {
    match owner {
        SecretOwner::Application(a) => a == app && is_leader,
        SecretOwner::Unit(u) => u == unit,
    }
}

impl ModelState {
    fn is_leader_of(&self, unit: &str, app: &str) -> bool {
        self.applications
            .get(app)
            .is_some_and(|a| a.leader.as_deref() == Some(unit))
    }

    /// The unit that handles owner hooks (`secret-remove`) of a secret: the unit, or the
    /// application's leader.
    fn owner_unit(&self, owner: &SecretOwner) -> Option<String> {
        match owner {
            SecretOwner::Unit(u) => Some(u.clone()).filter(|u| self.is_alive(u)),
            SecretOwner::Application(a) => self
                .applications
                .get(a)
                .and_then(|a| a.leader.clone())
                .filter(|u| self.is_alive(u)),
        }
    }

    /// Applies a hook's buffered secret writes by `unit` (it exited 0). Leadership is checked
    /// again for application secrets, as Juju does at commit. Queues the hooks the changes
    /// cause.
    pub fn commit_secrets(&mut self, unit: &str, p: &PendingSecrets) -> Result<(), String> {
        if p.is_empty() {
            return Ok(());
        }
        let app = self
            .units
            .get(unit)
            .map(|u| u.app.clone())
            .unwrap_or_default();
        let leader = self.is_leader_of(unit, &app);
        let touches_app_secret = p
            .creates
            .values()
            .map(|c| &c.owner)
            .chain(
                p.updates
                    .keys()
                    .chain(p.removes.keys())
                    .chain(p.grants.keys())
                    .chain(p.revokes.keys())
                    .filter_map(|id| self.secrets.get(id).map(|s| &s.owner)),
            )
            .any(|o| matches!(o, SecretOwner::Application(_)));
        if touches_app_secret && !leader {
            return Err(format!(
                "cannot apply secret changes: {unit} is not the leader"
            ));
        }
        let now = util::now_secs();
        let mut new_revision = Vec::new();
        for (id, c) in &p.creates {
            self.secrets.insert(
                id.clone(),
                Secret {
                    id: id.clone(),
                    owner: c.owner.clone(),
                    label: c.label.clone(),
                    description: c.description.clone(),
                    expire: c.expire.clone(),
                    rotate: c.rotate.clone(),
                    revisions: [(
                        1,
                        Revision {
                            content: c.content.clone(),
                            created: now,
                        },
                    )]
                    .into(),
                    latest: 1,
                    grants: Vec::new(),
                    consumers: BTreeMap::new(),
                    obsolete_notified: BTreeSet::new(),
                    created: now,
                    updated: now,
                },
            );
        }
        for (id, u) in &p.updates {
            let Some(s) = self.secrets.get_mut(id) else {
                continue;
            };
            if let Some(l) = &u.label {
                s.label = Some(l.clone());
            }
            if let Some(d) = &u.description {
                s.description = Some(d.clone());
            }
            if let Some(e) = &u.expire {
                s.expire = Some(e.clone());
            }
            if let Some(r) = &u.rotate {
                s.rotate = Some(r.clone());
            }
            s.updated = now;
            if let Some(content) = &u.content {
                if *content != s.latest_content() {
                    s.latest += 1;
                    s.revisions.insert(
                        s.latest,
                        Revision {
                            content: content.clone(),
                            created: now,
                        },
                    );
                    new_revision.push(id.clone());
                }
            }
        }
        for (id, grants) in &p.grants {
            // A grant dies with its relation; one made for a relation gone since is void.
            let live: Vec<&Grant> = grants
                .iter()
                .filter(|g| self.relations.contains_key(&g.relation))
                .collect();
            if let Some(s) = self.secrets.get_mut(id) {
                for g in live {
                    if !s.grants.contains(g) {
                        s.grants.push(g.clone());
                    }
                }
            }
        }
        let mut access_changed = Vec::new();
        for (id, subjects) in &p.revokes {
            if let Some(s) = self.secrets.get_mut(id) {
                s.grants.retain(|g| !subjects.contains(&g.subject));
                access_changed.push(id.clone());
            }
        }
        for (id, r) in &p.removes {
            let Some(s) = self.secrets.get_mut(id) else {
                continue;
            };
            match r {
                Removal::All => {
                    self.secrets.remove(id);
                }
                Removal::Revisions(revs) => {
                    for rev in revs {
                        s.revisions.remove(rev);
                    }
                    if s.revisions.is_empty() {
                        self.secrets.remove(id);
                    } else if !s.revisions.contains_key(&s.latest) {
                        s.latest = *s.revisions.keys().next_back().expect("not empty");
                    }
                }
            }
        }
        for id in &new_revision {
            self.queue_secret_changed(id);
        }
        let touched: BTreeSet<&String> = new_revision.iter().chain(&access_changed).collect();
        for id in touched {
            self.check_obsolete(id);
        }
        Ok(())
    }

    /// `secret-changed` on every live consumer tracking an older revision.
    fn queue_secret_changed(&mut self, id: &str) {
        let Some(s) = self.secrets.get(id) else {
            return;
        };
        let latest = s.latest;
        let behind: Vec<String> = s
            .consumers
            .iter()
            .filter(|(_, c)| c.revision < latest)
            .map(|(u, _)| u.clone())
            .collect();
        for u in behind {
            if self.is_alive(&u) {
                self.enqueue(&u, HookSpec::secret(HookKind::SecretChanged, id, None));
            }
        }
    }

    /// Revisions that are neither the latest nor tracked by a consumer are obsolete: the
    /// owner gets `secret-remove` once for each.
    pub fn check_obsolete(&mut self, id: &str) {
        let Some(s) = self.secrets.get(id) else {
            return;
        };
        // Only consumers that can still read the secret keep a revision alive.
        let tracked: BTreeSet<u32> = s
            .consumers
            .iter()
            .filter(|(u, _)| self.can_read(s, u))
            .map(|(_, c)| c.revision)
            .collect();
        let obsolete: Vec<u32> = s
            .revisions
            .keys()
            .copied()
            .filter(|r| *r != s.latest && !tracked.contains(r) && !s.obsolete_notified.contains(r))
            .collect();
        if obsolete.is_empty() {
            return;
        }
        let Some(owner) = self.owner_unit(&s.owner) else {
            return;
        };
        for r in obsolete {
            self.secrets
                .get_mut(id)
                .expect("secret exists")
                .obsolete_notified
                .insert(r);
            self.enqueue(
                &owner,
                HookSpec::secret(HookKind::SecretRemove, id, Some(r)),
            );
        }
    }

    /// Whether `unit` may read the secret: one of its owners, or through a grant.
    pub fn can_read(&self, s: &Secret, unit: &str) -> bool {
        let app = self
            .units
            .get(unit)
            .map(|u| u.app.as_str())
            .unwrap_or_default();
        s.owned_by(unit, app) || s.granted_to(unit)
    }

    /// Drops every grant scoped to relation `id` (it is gone); the revisions only the
    /// consumers that lost access tracked become obsolete.
    pub fn drop_relation_grants(&mut self, relation: u32) {
        let affected: Vec<String> = self
            .secrets
            .values()
            .filter(|s| s.grants.iter().any(|g| g.relation == relation))
            .map(|s| s.id.clone())
            .collect();
        for id in affected {
            if let Some(s) = self.secrets.get_mut(&id) {
                s.grants.retain(|g| g.relation != relation);
            }
            self.check_obsolete(&id);
        }
    }

    /// A removed unit stops consuming and owning: its consumer records go, and the secrets
    /// it owned are removed with it.
    pub fn forget_unit_secrets(&mut self, unit: &str) {
        self.secrets
            .retain(|_, s| s.owner != SecretOwner::Unit(unit.to_string()));
        let ids: Vec<String> = self
            .secrets
            .values()
            .filter(|s| s.consumers.contains_key(unit))
            .map(|s| s.id.clone())
            .collect();
        for id in ids {
            if let Some(s) = self.secrets.get_mut(&id) {
                s.consumers.remove(unit);
            }
            self.check_obsolete(&id);
        }
    }

    /// A secret by URI, bare id or owner label (the first owner label match).
    pub fn find_secret(&self, reference: &str) -> Option<&Secret> {
        if let Some(id) = parse_uri(reference) {
            if let Some(s) = self.secrets.get(&id) {
                return Some(s);
            }
        }
        self.secrets
            .values()
            .find(|s| s.label.as_deref() == Some(reference))
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (padding optional); None when it is not base64.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let t = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(t.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in t.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (t.len() % 4 != 1).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_refuses_other_text() {
        for s in ["", "a", "ab", "abc", "s3cret==x", "\u{1f600} and more"] {
            let e = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&e).unwrap(), s.as_bytes(), "{s}");
        }
        assert_eq!(base64_encode(b"AA"), "QUE=");
        assert_eq!(base64_decode("AA==").unwrap(), [0]);
        assert!(base64_decode("not base64!").is_none());
    }

    #[test]
    fn secret_keys_follow_jujus_rule() {
        for (k, ok) in [
            ("password", true),
            ("tls-ca", true),
            ("abc", true),
            ("a1b", true),
            ("ab", false),
            ("a--b", false),
            ("-ab", false),
            ("ab-", false),
            ("Abc", false),
            ("1ab", false),
            ("a_b", false),
            ("a-b-c", true),
        ] {
            assert_eq!(valid_key(k), ok, "{k}");
        }
    }

    #[test]
    fn secret_uris_parse_in_every_form_and_new_ids_look_like_xids() {
        let id = new_id(7, 1);
        assert!(is_secret_id(&id), "{id}");
        assert_ne!(id, new_id(7, 2));
        assert_eq!(id, new_id(7, 1));
        let full = uri("cdac5656-2423-4388-8f30-41854b4cca7d", &id);
        assert_eq!(parse_uri(&full), Some(id.clone()));
        assert_eq!(parse_uri(&format!("secret:{id}")), Some(id.clone()));
        assert_eq!(parse_uri(&id), Some(id.clone()));
        assert_eq!(parse_uri("secret:nope"), None);
        assert_eq!(parse_uri("zookeeper.1.user.secret"), None);
    }

    #[test]
    fn later_secret_sets_in_one_hook_replace_the_content_whole() {
        let mut u = PendingUpdate {
            content: Some([("a".to_string(), "1".to_string())].into()),
            label: Some("x".into()),
            ..PendingUpdate::default()
        };
        u.merge(PendingUpdate {
            content: Some([("b".to_string(), "2".to_string())].into()),
            ..PendingUpdate::default()
        });
        assert_eq!(u.label.as_deref(), Some("x"));
        assert_eq!(u.content.unwrap().keys().collect::<Vec<_>>(), vec!["b"]);
    }
}
