//! What a client gets, and where: the fields of one relation, data_interfaces' rules for
//! putting them into Juju secrets or the plain bag, and the writes that get the provider's
//! bag and secrets there from what they hold now.
//!
//! The rules (data_interfaces v0's provider side, which the requirer library reads by):
//! - a field goes into a secret only when it is published and the requirer listed it in
//!   `requested-secrets`; its group is fixed (`user`: username, password, uris; `tls`: tls,
//!   tls-ca; anything else `extra`); unrequested fields stay plain, `password` included;
//! - nothing goes into secrets when the requirer asked for none, when Juju is older than
//!   3.0.3, or when a requested field already sits in the bag as a plain key (the relation
//!   "started on the databag" and stays there);
//! - one secret per group and relation, owned by the application, labelled
//!   `zookeeper.<id>.<group>.secret`, granted to the relation, its URI in `secret-<group>`;
//!   never replaced (a requirer keeps reading the URI it saw first), only given new content;
//! - new content is the whole content, in one `secret-set`, and only when it differs (each
//!   one is a revision and a `secret-changed` for the client); a secret whose content would
//!   be empty is removed with its `secret-<group>` key.
//!
//! [`Access`] is the one place the port, the `tls` field and `tls-ca` come from, so that
//! they always change together (the TLS switch moves them in one write).

use std::collections::BTreeMap;
use std::net::IpAddr;

use sha1::{Digest, Sha1};

use crate::hooktools::{SecretContent, SecretId};
use crate::passwords::{client_key, Password};
use crate::peers::zookeeper::{Chroot, Field, Group, Provided, ProviderPatch, RequestedSecrets};
use crate::tls::ClientTls;
use crate::zk::CLIENT_PORT;

/// How clients reach the servers: the port every endpoint has, whether it speaks TLS, and
/// the CA (PEM, then the rest of the chain) a client must trust for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub port: u16,
    pub tls: bool,
    /// Published as `tls-ca` with TLS only (`None`: not known, left out).
    pub ca: Option<String>,
}

impl Access {
    /// Plaintext on the client port.
    pub const PLAINTEXT: Access = Access {
        port: CLIENT_PORT,
        tls: false,
        ca: None,
    };

    /// The access for `tls` (its port and `tls` field), with `ca` under TLS.
    pub fn new(tls: ClientTls, ca: Option<String>) -> Access {
        match tls {
            ClientTls::Disabled => Access::PLAINTEXT,
            ClientTls::Enabled => Access {
                port: tls.port(),
                tls: true,
                ca,
            },
        }
    }

    /// The `tls` field.
    pub fn tls_field(&self) -> &'static str {
        if self.tls {
            "enabled"
        } else {
            "disabled"
        }
    }
}

/// `endpoints`: every host with the port, sorted as text (as the Python charm does, so
/// that `10.0.0.10` sorts before `10.0.0.2`), comma-joined, no chroot.
pub fn endpoints(hosts: &[IpAddr], access: &Access) -> String {
    let mut items: Vec<String> = hosts
        .iter()
        .map(|h| match h {
            IpAddr::V4(a) => format!("{a}:{}", access.port),
            IpAddr::V6(a) => format!("[{a}]:{}", access.port),
        })
        .collect();
    items.sort();
    items.dedup();
    items.join(",")
}

/// Every field published to relation `id`: `uris` is `endpoints` with the chroot appended
/// once, at the end; `tls-ca` only under TLS (a field left out is deleted).
pub fn fields(
    id: u32,
    chroot: &Chroot,
    password: &Password,
    endpoints: &str,
    access: &Access,
) -> BTreeMap<Field, String> {
    let mut fields = BTreeMap::from([
        (Field::Username, client_key(id)),
        (Field::Password, password.as_str().to_string()),
        (Field::Endpoints, endpoints.to_string()),
        (Field::Uris, format!("{endpoints}{chroot}")),
        (Field::Database, chroot.to_string()),
        (Field::Chroot, chroot.to_string()),
        (Field::Tls, access.tls_field().to_string()),
    ]);
    if let (true, Some(ca)) = (access.tls, &access.ca) {
        fields.insert(Field::TlsCa, ca.clone());
    }
    fields
}

/// Where each field goes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Layout {
    pub plain: BTreeMap<Field, String>,
    pub groups: BTreeMap<Group, BTreeMap<Field, String>>,
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layout")
            .field("plain", &self.plain.keys().collect::<Vec<_>>())
            .field(
                "groups",
                &self
                    .groups
                    .iter()
                    .map(|(g, c)| (g, c.keys().collect::<Vec<_>>()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Layout {
    /// The fields placed by the rules (see the module docs). `secrets` is whether Juju has
    /// them (3.0.3 or later).
    pub fn new(
        fields: BTreeMap<Field, String>,
        requested: &RequestedSecrets,
        provided: &Provided,
        secrets: bool,
    ) -> Layout {
        let started_plain = requested
            .fields
            .iter()
            .any(|k| provided.plain.keys().any(|f| f.key() == k));
        let use_secrets = secrets && !requested.fields.is_empty() && !started_plain;
        let mut layout = Layout::default();
        for (f, v) in fields {
            if use_secrets && requested.contains(f) {
                layout.groups.entry(f.group()).or_default().insert(f, v);
            } else {
                layout.plain.insert(f, v);
            }
        }
        layout
    }

    /// A digest of the layout with the password left out (it never changes while the
    /// relation lives): what the leader records as published, so that a hook that would
    /// publish the same reads no secret, and a new leader publishes nothing again.
    pub fn digest(&self) -> String {
        let mut h = Sha1::new();
        let mut line = |kind: &str, f: &Field, v: &str| {
            let v = if *f == Field::Password { "-" } else { v };
            h.update(format!("{kind} {}={v}\n", f.key()).as_bytes());
        };
        for (f, v) in &self.plain {
            line("plain", f, v);
        }
        for (g, content) in &self.groups {
            for (f, v) in content {
                line(g.name(), f, v);
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// One change to a provider secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretOp {
    /// Create the group's secret (or take over one that has its label already), give it
    /// `content`, grant it to the relation, and put its URI in the bag.
    Create {
        group: Group,
        content: SecretContent,
    },
    /// Replace the content of the group's secret.
    Update {
        group: Group,
        id: SecretId,
        content: SecretContent,
    },
    /// Remove the group's secret and its `secret-<group>` key.
    Remove { group: Group, id: SecretId },
}

/// The writes that publish a layout to relation `relation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub relation: u32,
    /// Plain fields to write or delete, and `secret-<group>` keys to delete (a created
    /// secret's key is added when it is created).
    pub bag: ProviderPatch,
    pub secrets: Vec<SecretOp>,
    /// [`Layout::digest`], recorded once done.
    pub digest: String,
}

fn content(fields: &BTreeMap<Field, String>) -> SecretContent {
    SecretContent::from_pairs(fields.iter().map(|(f, v)| (f.key(), v.clone())))
}

/// The writes that take relation `relation` from what it holds (`provided`, and `current`,
/// the content of each group secret it has, by group) to `layout`. A secret the bag names
/// but that is gone (not in `current`) is created again.
pub fn publication(
    relation: u32,
    layout: &Layout,
    provided: &Provided,
    current: &BTreeMap<Group, SecretContent>,
) -> Publication {
    let mut bag = ProviderPatch::default();
    for f in Field::ALL {
        let want = layout.plain.get(&f);
        if want != provided.plain.get(&f) {
            bag.plain.insert(f, want.cloned());
        }
    }
    let mut secrets = Vec::new();
    for g in Group::ALL {
        let want = layout.groups.get(&g).filter(|c| !c.is_empty()).map(content);
        match (want, provided.secrets.get(&g)) {
            (Some(content), Some(id)) => match current.get(&g) {
                Some(now) if *now == content => {}
                Some(_) => secrets.push(SecretOp::Update {
                    group: g,
                    id: id.clone(),
                    content,
                }),
                None => secrets.push(SecretOp::Create { group: g, content }),
            },
            (Some(content), None) => secrets.push(SecretOp::Create { group: g, content }),
            (None, Some(id)) => {
                secrets.push(SecretOp::Remove {
                    group: g,
                    id: id.clone(),
                });
                bag.secrets.insert(g, None);
            }
            (None, None) => {}
        }
    }
    Publication {
        relation,
        bag,
        secrets,
        digest: layout.digest(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooktools::Databag;

    fn requested(list: &[&str]) -> RequestedSecrets {
        RequestedSecrets {
            fields: list.iter().map(|s| s.to_string()).collect(),
            unreadable: false,
        }
    }

    const KAFKA: [&str; 5] = ["username", "password", "tls", "tls-ca", "uris"];

    fn kafka_fields() -> BTreeMap<Field, String> {
        let hosts: Vec<IpAddr> = ["127.0.0.2", "127.0.0.10", "127.0.0.1"]
            .iter()
            .map(|h| h.parse().unwrap())
            .collect();
        fields(
            7,
            &Chroot::parse("/kafka").unwrap(),
            &Password::new("Password7Password7Password7Passw").unwrap(),
            &endpoints(&hosts, &Access::PLAINTEXT),
            &Access::PLAINTEXT,
        )
    }

    fn provided(pairs: &[(&str, &str)]) -> Provided {
        let bag: Databag = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Provided::from_bag(&bag)
    }

    #[test]
    fn endpoints_are_sorted_as_text_with_one_port_and_no_chroot() {
        let hosts: Vec<IpAddr> = ["127.0.0.2", "127.0.0.10", "::1", "127.0.0.2"]
            .iter()
            .map(|h| h.parse().unwrap())
            .collect();
        assert_eq!(
            endpoints(&hosts, &Access::PLAINTEXT),
            "127.0.0.10:2181,127.0.0.2:2181,[::1]:2181"
        );
        let tls = Access::new(ClientTls::Enabled, None);
        assert_eq!(endpoints(&hosts[..1], &tls), "127.0.0.2:2182");
        assert_eq!(
            (tls.tls_field(), Access::PLAINTEXT.tls_field()),
            ("enabled", "disabled")
        );
    }

    #[test]
    fn uris_append_the_chroot_once_at_the_very_end() {
        let f = kafka_fields();
        assert_eq!(
            f[&Field::Endpoints],
            "127.0.0.10:2181,127.0.0.1:2181,127.0.0.2:2181"
        );
        assert_eq!(
            f[&Field::Uris],
            "127.0.0.10:2181,127.0.0.1:2181,127.0.0.2:2181/kafka"
        );
        assert_eq!(f[&Field::Username], "relation-7");
        assert_eq!(
            (f[&Field::Database].as_str(), f[&Field::Chroot].as_str()),
            ("/kafka", "/kafka")
        );
        assert_eq!(f[&Field::Tls], "disabled");
        assert_eq!(f.len(), 7, "no tls-ca while TLS is off");
    }

    #[test]
    fn requested_fields_go_to_their_groups_and_the_rest_stays_plain() {
        let l = Layout::new(
            kafka_fields(),
            &requested(&KAFKA),
            &Provided::default(),
            true,
        );
        let keys = |m: &BTreeMap<Field, String>| m.keys().copied().collect::<Vec<_>>();
        assert_eq!(
            keys(&l.plain),
            [Field::Endpoints, Field::Database, Field::Chroot]
        );
        assert_eq!(
            keys(&l.groups[&Group::User]),
            [Field::Username, Field::Password, Field::Uris]
        );
        assert_eq!(keys(&l.groups[&Group::Tls]), [Field::Tls]);
        assert!(!l.groups.contains_key(&Group::Extra));
        // Another requested field goes to `extra`; unrequested ones stay plain, password too.
        let l = Layout::new(
            kafka_fields(),
            &requested(&["endpoints", "username", "entity-name"]),
            &Provided::default(),
            true,
        );
        assert_eq!(keys(&l.groups[&Group::Extra]), [Field::Endpoints]);
        assert_eq!(keys(&l.groups[&Group::User]), [Field::Username]);
        assert!(l.plain.contains_key(&Field::Password));
    }

    #[test]
    fn everything_is_plain_without_a_request_without_juju_secrets_or_once_started_plain() {
        let keys = |l: &Layout| l.plain.len();
        for (req, prov, juju_secrets) in [
            (requested(&[]), Provided::default(), true),
            (requested(&KAFKA), Provided::default(), false),
            (
                requested(&KAFKA),
                provided(&[("username", "relation-7"), ("endpoints", "x")]),
                true,
            ),
        ] {
            let l = Layout::new(kafka_fields(), &req, &prov, juju_secrets);
            assert!(l.groups.is_empty(), "{req:?} {prov:?}");
            assert_eq!(keys(&l), 7);
        }
        // Unrequested plain keys (endpoints) do not make a relation plain.
        let l = Layout::new(
            kafka_fields(),
            &requested(&KAFKA),
            &provided(&[("endpoints", "x"), ("database", "/kafka")]),
            true,
        );
        assert_eq!(l.groups.len(), 2);
    }

    #[test]
    fn the_digest_changes_with_what_is_published_and_not_with_the_password() {
        let base = Layout::new(
            kafka_fields(),
            &requested(&KAFKA),
            &Provided::default(),
            true,
        );
        let mut other_pw = kafka_fields();
        other_pw.insert(Field::Password, "another".into());
        let same = Layout::new(other_pw, &requested(&KAFKA), &Provided::default(), true);
        assert_eq!(base.digest(), same.digest());
        let mut more = kafka_fields();
        more.insert(Field::Endpoints, "127.0.0.1:2181".into());
        let moved = Layout::new(more, &requested(&KAFKA), &Provided::default(), true);
        assert_ne!(base.digest(), moved.digest());
        let plain = Layout::new(kafka_fields(), &requested(&[]), &Provided::default(), true);
        assert_ne!(base.digest(), plain.digest());
        assert_eq!(base.digest().len(), 40);
        assert!(!format!("{base:?}").contains("Password7"));
    }

    #[test]
    fn a_first_publication_creates_each_group_secret_and_writes_the_plain_fields() {
        let l = Layout::new(
            kafka_fields(),
            &requested(&KAFKA),
            &Provided::default(),
            true,
        );
        let p = publication(7, &l, &Provided::default(), &BTreeMap::new());
        assert_eq!(
            p.bag.plain.keys().copied().collect::<Vec<_>>(),
            [Field::Endpoints, Field::Database, Field::Chroot]
        );
        let groups: Vec<(Group, Vec<String>)> = p
            .secrets
            .iter()
            .map(|op| match op {
                SecretOp::Create { group, content } => {
                    (*group, content.0.keys().cloned().collect())
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            groups,
            [
                (
                    Group::User,
                    vec!["password".into(), "uris".into(), "username".into()]
                ),
                (Group::Tls, vec!["tls".into()]),
            ]
        );
        assert_eq!(p.digest, l.digest());
    }

    #[test]
    fn a_later_publication_sets_only_what_changed_and_never_replaces_a_secret() {
        let l = Layout::new(
            kafka_fields(),
            &requested(&KAFKA),
            &Provided::default(),
            true,
        );
        let uri = "secret://m/d3fo2nuve8s5g6ln8t8g";
        let tls_uri = "secret://m/d3fo2nuve8s5g6ln8t8h";
        let prov = provided(&[
            ("secret-user", uri),
            ("secret-tls", tls_uri),
            ("endpoints", "127.0.0.1:2181"),
            ("database", "/kafka"),
            ("chroot", "/kafka"),
        ]);
        let mut current = BTreeMap::from([
            (Group::User, content(&l.groups[&Group::User])),
            (Group::Tls, content(&l.groups[&Group::Tls])),
        ]);
        let p = publication(7, &l, &prov, &current);
        // Only the plain endpoints changed here; the secrets hold what they should.
        assert_eq!(
            p.bag.plain.keys().copied().collect::<Vec<_>>(),
            [Field::Endpoints]
        );
        assert!(p.secrets.is_empty(), "{:?}", p.secrets);
        // New uris: one update of the same secret, with the whole content.
        current
            .get_mut(&Group::User)
            .unwrap()
            .0
            .insert("uris".into(), "old".into());
        let p = publication(7, &l, &prov, &current);
        match p.secrets.as_slice() {
            [SecretOp::Update { group, id, content }] => {
                assert_eq!((*group, id.as_str()), (Group::User, uri));
                assert_eq!(content.0.len(), 3);
            }
            other => panic!("{other:?}"),
        }
        // A group no longer wanted: its secret and key go; fields moved out of a secret
        // come back as plain keys.
        let plain = Layout::new(
            kafka_fields(),
            &requested(&["tls"]),
            &Provided::default(),
            true,
        );
        let p = publication(7, &plain, &prov, &current);
        assert!(p.secrets.contains(&SecretOp::Remove {
            group: Group::User,
            id: SecretId::parse(uri).unwrap()
        }));
        assert_eq!(p.bag.secrets, BTreeMap::from([(Group::User, None)]));
        assert_eq!(
            p.bag.plain.get(&Field::Password),
            Some(&Some("Password7Password7Password7Passw".to_string()))
        );
        // A secret the bag names but that is gone is created again.
        let p = publication(7, &l, &prov, &BTreeMap::new());
        assert!(matches!(
            p.secrets.as_slice(),
            [
                SecretOp::Create {
                    group: Group::User,
                    ..
                },
                SecretOp::Create {
                    group: Group::Tls,
                    ..
                }
            ]
        ));
        // And a field moved into a secret leaves the plain bag.
        let p = publication(
            7,
            &l,
            &provided(&[("tls", "disabled"), ("secret-tls", tls_uri)]),
            &BTreeMap::new(),
        );
        assert_eq!(p.bag.plain.get(&Field::Tls), Some(&None));
    }
}
