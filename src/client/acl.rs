//! The ACLs of the client relations' chroots, as pure code: each relation's two entries, the
//! deterministic union over same and nested chroots, and which subtrees need their ACLs set
//! again.
//!
//! # The rule
//!
//! Relation `N` (password `P`, permission bits `B`) has two entries: `sasl` / `relation-N`
//! (clients logging in with SASL DIGEST-MD5, as Kafka does) and `digest` /
//! `relation-N:<base64 sha1("relation-N:P")>` (clients sending `addauth digest`). The ACL of
//! a znode at or below live relations' chroots is the union of the entries of every relation
//! whose chroot is the znode or one of its ancestors, sorted by relation id then scheme: so
//! two clients on one chroot both get it, and a client on `/a` also reaches `/a/b` of
//! another client, who keeps its own access there. The result does not depend on the order
//! relations are seen in. A znode no live relation covers gets `sasl:super` only (its data
//! stays, for `super`); a znode created above a chroot gets read access for any
//! authenticated session and nothing more ([`protected_acl`]).
//!
//! # When to walk
//!
//! Setting the ACL of a chroot and everything below it costs a request per znode, so it is
//! done only when the set of (relation, permissions) covering a chroot changes: the
//! `cluster` app bag records, per chroot, the coverage last set (`managed-chroots`, nothing
//! secret in it). A chroot whose recorded coverage differs from the one now is walked from
//! the topmost such chroot; a chroot no live relation asks for any more leaves the record
//! once walked.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::passwords::{client_key, Password};
use crate::peers::zookeeper::{Chroot, Coverage};
use crate::zk::admin::{protected_acl, AclEntry, Perms};
use crate::zk::SUPER_USER;

/// ZooKeeper's `digest` scheme id of `user` with `password`:
/// `user:base64(sha1("user:password"))`.
pub fn digest_id(user: &str, password: &str) -> String {
    let hash = Sha1::digest(format!("{user}:{password}").as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Relation `id`'s two entries, digest first (sorted by scheme).
pub fn entries(id: u32, password: &Password, bits: i32) -> [AclEntry; 2] {
    let user = client_key(id);
    [
        AclEntry::new(Perms(bits), "digest", &digest_id(&user, password.as_str())),
        AclEntry::new(Perms(bits), "sasl", &user),
    ]
}

/// The ACL of a znode no live relation covers: `super` only.
pub fn super_only() -> Vec<AclEntry> {
    vec![AclEntry::new(Perms::ALL, "sasl", SUPER_USER)]
}

/// One live relation's claim on a chroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: u32,
    pub chroot: Chroot,
    pub bits: i32,
}

/// Which relations cover `path`, with their permissions.
pub fn coverage(claims: &[Claim], path: &str) -> Coverage {
    Coverage(
        claims
            .iter()
            .filter(|c| c.chroot.covers(path))
            .map(|c| (c.id, c.bits))
            .collect(),
    )
}

/// The ACL work the recorded coverage calls for: the live chroots to create if missing
/// (outermost first), the subtrees to walk (topmost only), and the record afterwards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Work {
    pub create: Vec<Chroot>,
    pub walk: Vec<Chroot>,
    /// `managed-chroots` once done: each live chroot with its coverage.
    pub managed: BTreeMap<Chroot, Coverage>,
}

impl Work {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.walk.is_empty()
    }
}

/// What to do so that every live chroot, and every chroot set before, carries the union its
/// coverage calls for (see the module docs). Nothing when the record matches.
pub fn work(claims: &[Claim], managed: &BTreeMap<Chroot, Coverage>) -> Work {
    let live: BTreeSet<&Chroot> = claims.iter().map(|c| &c.chroot).collect();
    let after: BTreeMap<Chroot, Coverage> = live
        .iter()
        .map(|c| ((*c).clone(), coverage(claims, c.as_str())))
        .collect();
    let mut changed: BTreeSet<&Chroot> = BTreeSet::new();
    for c in live.iter().copied().chain(managed.keys()) {
        let now = coverage(claims, c.as_str());
        let recorded = managed.get(c);
        // A chroot nobody asks for any more is walked once more (to `super` only, or to the
        // coverage of a live chroot above it), then forgotten.
        if recorded != Some(&now) || !live.contains(c) {
            changed.insert(c);
        }
    }
    let walk: Vec<Chroot> = changed
        .iter()
        .filter(|c| {
            !changed
                .iter()
                .any(|other| other != *c && other.covers(c.as_str()))
        })
        .map(|c| (*c).clone())
        .collect();
    // BTreeSet order puts a parent before its children (`/a` < `/a/b`).
    let create: Vec<Chroot> = changed
        .iter()
        .filter(|c| live.contains(**c))
        .map(|c| (*c).clone())
        .collect();
    Work {
        create,
        walk,
        managed: after,
    }
}

/// The live relations' entries, to compute each znode's ACL. Holds password-derived
/// digests: its `Debug` output names the relations only.
#[derive(Clone, PartialEq, Eq)]
pub struct Layers(Vec<(Claim, [AclEntry; 2])>);

impl std::fmt::Debug for Layers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(c, _)| (c.id, c.chroot.as_str())))
            .finish()
    }
}

impl Layers {
    /// The entries of each claim, with its relation's password (`None`: a claim whose
    /// password is unknown, which is left out).
    pub fn new(claims: &[Claim], password: impl Fn(u32) -> Option<Password>) -> Layers {
        Layers(
            claims
                .iter()
                .filter_map(|c| Some((c.clone(), entries(c.id, &password(c.id)?, c.bits))))
                .collect(),
        )
    }

    /// The union of the entries covering `path`, sorted by relation id then scheme; `None`
    /// when no relation covers it.
    fn union(&self, path: &str) -> Option<Vec<AclEntry>> {
        let mut covering: Vec<&(Claim, [AclEntry; 2])> = self
            .0
            .iter()
            .filter(|(c, _)| c.chroot.covers(path))
            .collect();
        if covering.is_empty() {
            return None;
        }
        covering.sort_by_key(|(c, _)| c.id);
        let mut acl: Vec<AclEntry> = Vec::new();
        for (_, e) in covering {
            for entry in e {
                if !acl.contains(entry) {
                    acl.push(entry.clone());
                }
            }
        }
        Some(acl)
    }

    /// The ACL a walk sets on `path`: the union, or `super` only.
    pub fn acl_of(&self, path: &str) -> Vec<AclEntry> {
        self.union(path).unwrap_or_else(super_only)
    }

    /// The ACL a znode created at `path` gets: the union, or read-only for others when it
    /// only leads to a chroot.
    pub fn created_acl_of(&self, path: &str) -> Vec<AclEntry> {
        self.union(path).unwrap_or_else(protected_acl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::new(s).unwrap()
    }

    fn claim(id: u32, chroot: &str, bits: i32) -> Claim {
        Claim {
            id,
            chroot: Chroot::parse(chroot).unwrap(),
            bits,
        }
    }

    fn chroot(c: &str) -> Chroot {
        Chroot::parse(c).unwrap()
    }

    fn cov(text: &str) -> Coverage {
        Coverage::parse(text).unwrap()
    }

    #[test]
    fn digest_ids_match_zookeepers_generate_digest() {
        // The reference's vectors; `relation-7` was read back with getACL from 3.8.0.
        for (user, password, id) in [
            (
                "relation-7",
                "pw7",
                "relation-7:V9f9CbIZhV0d+hB+gEVb00QmHdk=",
            ),
            (
                "relation-5",
                "pw5",
                "relation-5:RUAaezEf2rV73TAoDS3HQ62qwNw=",
            ),
            ("super", "s3cret-pw", "super:AbTtmmNePY5gqMKPT1vRnOglhKI="),
        ] {
            assert_eq!(digest_id(user, password), id);
        }
    }

    #[test]
    fn a_relation_has_a_digest_and_a_sasl_entry_with_its_permissions() {
        let [d, s] = entries(7, &pw("password-7"), 31);
        assert_eq!(d.scheme, "digest");
        assert_eq!(d.id, digest_id("relation-7", "password-7"));
        assert_eq!((s.scheme.as_str(), s.id.as_str()), ("sasl", "relation-7"));
        assert_eq!((d.perms, s.perms), (Perms(31), Perms(31)));
        let [d, _] = entries(7, &pw("password-7"), 1);
        assert_eq!(d.perms, Perms::READ);
    }

    /// (claims, path, the relations whose entries the path's ACL holds, in order).
    #[test]
    fn each_znode_gets_the_union_of_the_relations_at_or_above_it_whatever_their_order() {
        let claims = [
            claim(9, "/shared/inner", 31),
            claim(3, "/shared", 1),
            claim(5, "/shared", 31),
            claim(4, "/other", 31),
            claim(6, "/shared/inner/deep", 4),
        ];
        let password = |id: u32| Some(pw(&format!("password-{id}")));
        let ids_of = |acl: &[AclEntry]| -> Vec<(String, i32)> {
            acl.iter()
                .map(|e| {
                    (
                        e.scheme.clone() + ":" + e.id.split(':').next().unwrap(),
                        e.perms.0,
                    )
                })
                .collect()
        };
        let sasl = |id: u32, bits: i32| {
            [
                (format!("digest:relation-{id}"), bits),
                (format!("sasl:relation-{id}"), bits),
            ]
        };
        for (path, want) in [
            ("/shared", [sasl(3, 1), sasl(5, 31)].concat()),
            ("/shared/x", [sasl(3, 1), sasl(5, 31)].concat()),
            (
                "/shared/inner",
                [sasl(3, 1), sasl(5, 31), sasl(9, 31)].concat(),
            ),
            (
                "/shared/inner/y/z",
                [sasl(3, 1), sasl(5, 31), sasl(9, 31)].concat(),
            ),
            (
                "/shared/inner/deep",
                [sasl(3, 1), sasl(5, 31), sasl(6, 4), sasl(9, 31)].concat(),
            ),
            ("/other", sasl(4, 31).to_vec()),
            ("/sharedx", vec![("sasl:super".to_string(), 31)]),
        ] {
            // Every order of the claims gives the same ACL.
            for rotation in 0..claims.len() {
                let mut c = claims.to_vec();
                c.rotate_left(rotation);
                let layers = Layers::new(&c, password);
                assert_eq!(
                    ids_of(&layers.acl_of(path)),
                    want,
                    "{path} rotated {rotation}"
                );
            }
        }
        let layers = Layers::new(&claims, password);
        assert_eq!(layers.acl_of("/"), super_only());
        assert_eq!(layers.created_acl_of("/a"), protected_acl());
        assert_eq!(
            layers.created_acl_of("/other"),
            layers.acl_of("/other"),
            "a created chroot gets its union"
        );
        // The digest entry carries the relation's own password.
        assert!(layers.acl_of("/other")[0].id == digest_id("relation-4", "password-4"));
        assert!(!format!("{layers:?}").contains(':'), "{layers:?}");
    }

    #[test]
    fn a_claim_whose_password_is_unknown_grants_nothing() {
        let claims = [claim(1, "/a", 31), claim(2, "/a", 31)];
        let layers = Layers::new(&claims, |id| (id == 2).then(|| pw("password-2")));
        let acl = layers.acl_of("/a");
        assert_eq!(acl.len(), 2);
        assert!(acl.iter().all(|e| e.id.starts_with("relation-2")));
    }

    #[test]
    fn coverage_counts_the_relations_at_or_above_a_path() {
        let claims = [claim(1, "/a", 31), claim(2, "/a/b", 1), claim(3, "/ab", 2)];
        assert_eq!(coverage(&claims, "/a"), cov("1:cdrwa"));
        assert_eq!(coverage(&claims, "/a/b"), cov("1:cdrwa,2:r"));
        assert_eq!(coverage(&claims, "/ab"), cov("3:w"));
        assert_eq!(coverage(&claims, "/c"), cov(""));
    }

    /// (claims now, recorded, chroots created, walked, recorded after).
    #[test]
    fn only_chroots_whose_coverage_changed_are_walked_from_the_topmost() {
        let none = BTreeMap::new();
        let rec = |pairs: &[(&str, &str)]| -> BTreeMap<Chroot, Coverage> {
            pairs.iter().map(|(c, v)| (chroot(c), cov(v))).collect()
        };
        let names = |v: &[Chroot]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        // A first relation: create and walk its chroot.
        let w = work(&[claim(1, "/a", 31)], &none);
        assert_eq!(names(&w.create), ["/a"]);
        assert_eq!(names(&w.walk), ["/a"]);
        assert_eq!(w.managed, rec(&[("/a", "1:cdrwa")]));
        // Recorded as it is: nothing to do.
        let w = work(&[claim(1, "/a", 31)], &rec(&[("/a", "1:cdrwa")]));
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(w.managed, rec(&[("/a", "1:cdrwa")]));
        // Its permissions change: walk again, nothing to create... the chroot is ensured.
        let w = work(&[claim(1, "/a", 1)], &rec(&[("/a", "1:cdrwa")]));
        assert_eq!(names(&w.walk), ["/a"]);
        // A second client on the same chroot.
        let w = work(
            &[claim(1, "/a", 31), claim(2, "/a", 31)],
            &rec(&[("/a", "1:cdrwa")]),
        );
        assert_eq!(names(&w.walk), ["/a"]);
        assert_eq!(w.managed, rec(&[("/a", "1:cdrwa,2:cdrwa")]));
        // A nested chroot appears under an unchanged one: only it is walked.
        let w = work(
            &[claim(1, "/a", 31), claim(2, "/a/b", 1)],
            &rec(&[("/a", "1:cdrwa")]),
        );
        assert_eq!(names(&w.create), ["/a/b"]);
        assert_eq!(names(&w.walk), ["/a/b"]);
        assert_eq!(
            w.managed,
            rec(&[("/a", "1:cdrwa"), ("/a/b", "1:cdrwa,2:r")])
        );
        // The outer one changes: both change, one walk from the top covers both.
        let w = work(
            &[claim(1, "/a", 3), claim(2, "/a/b", 1)],
            &rec(&[("/a", "1:cdrwa"), ("/a/b", "1:cdrwa,2:r")]),
        );
        assert_eq!(names(&w.walk), ["/a"]);
        assert_eq!(names(&w.create), ["/a", "/a/b"]);
        // The inner relation goes: its chroot is walked once more (to the outer's union),
        // then forgotten.
        let w = work(
            &[claim(1, "/a", 31)],
            &rec(&[("/a", "1:cdrwa"), ("/a/b", "1:cdrwa,2:r")]),
        );
        assert_eq!(names(&w.walk), ["/a/b"]);
        assert!(w.create.is_empty());
        assert_eq!(w.managed, rec(&[("/a", "1:cdrwa")]));
        // The last relation goes: walked to `super` only, then forgotten.
        let w = work(&[], &rec(&[("/a", "1:cdrwa")]));
        assert_eq!(names(&w.walk), ["/a"]);
        assert!(w.create.is_empty() && w.managed.is_empty());
        // Unrelated chroots are left alone.
        let w = work(
            &[claim(1, "/a", 31), claim(2, "/b", 31)],
            &rec(&[("/a", "1:cdrwa")]),
        );
        assert_eq!(names(&w.walk), ["/b"]);
        assert_eq!(names(&w.create), ["/b"]);
    }
}
