//! The `zookeeper` relation's hooks (and the other hooks' client work), on the leader and on
//! non-leaders: each step of a new relation, the hook-tool sequences of reference §1.6
//! (first publication, later update, broken), refusals, adoption of existing passwords, the
//! ACL union, and what a steady hook or a new leader leaves alone.

use std::collections::{BTreeMap, BTreeSet};

use testkit::tls_provider::TestCa;
use zookeeper_charm::client::acl::{self, Claim, Layers};
use zookeeper_charm::hooktools::fake::FakeSecret;
use zookeeper_charm::hooktools::{Bag, Databag, SecretContent};
use zookeeper_charm::passwords::Password;
use zookeeper_charm::peers::cluster::{self, ClientRecord};
use zookeeper_charm::peers::zookeeper::{Chroot, Coverage, Request};
use zookeeper_charm::status::{Status, StatusKind};
use zookeeper_charm::tls::relation::{requests_value, CERTIFICATES_KEY, REQUESTS_KEY};
use zookeeper_charm::tls::{
    Answer, AppTls, Bundle, Csr, CsrSubject, PrivateKey, ProviderBag, QuorumSetting, QuorumTls,
    Running,
};
use zookeeper_charm::zk::admin::{protected_acl, AclEntry, Perms};
use zookeeper_charm::zk::fake::Asked;

use crate::scenario::*;

const KAFKA_SECRETS: &str = r#"["username","password","tls","tls-ca","uris"]"#;

fn bag(pairs: &[(&str, &str)]) -> Databag {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Relation `id`'s password in the worlds below.
fn client_pw(id: u32) -> String {
    format!("{:0<32}", format!("Client{id}Password"))
}

/// Client relation `id` with application `app` (one unit) whose bag is `request`.
fn related(w: &mut World, id: u32, app: &str, request: &[(&str, &str)]) {
    w.clients.insert(
        id,
        ClientWorld {
            remote_app: app.into(),
            request: bag(request),
            provided: Databag::new(),
            units: vec![format!("{app}/0")],
        },
    );
}

/// Kafka's request: its chroot, and its five fields in secrets.
fn kafka(w: &mut World, id: u32, chroot: &str) {
    related(
        w,
        id,
        "kafka",
        &[
            ("database", chroot),
            ("chroot", chroot),
            ("requested-secrets", KAFKA_SECRETS),
        ],
    );
}

fn claims_of(w: &World, ids: &[u32]) -> Vec<Claim> {
    ids.iter()
        .map(|id| {
            let r = Request::from_bag(&w.clients[id].request);
            Claim {
                id: *id,
                chroot: r.asked.chroot().unwrap().clone(),
                bits: r.roles.roles().unwrap().bits,
            }
        })
        .collect()
}

/// Steps 1 to 3 done for `ids`, and every unit's server runs with their users: passwords in
/// the secret, records, chroots with their ACLs, `client-users` in the app bag and in every
/// unit's, every unit's `ip-<id>`, and every unit up to date with the files.
fn loaded(w: &mut World, ids: &[u32]) {
    let mut secret = w.secret.clone().unwrap();
    let mut records = BTreeMap::new();
    for id in ids {
        secret.insert(format!("relation-{id}"), client_pw(*id));
        let r = Request::from_bag(&w.clients[id].request);
        records.insert(
            *id,
            ClientRecord {
                chroot: r.asked.chroot().cloned(),
                roles: r.roles.roles().unwrap(),
                published: None,
            },
        );
    }
    w.secret = Some(secret);
    let claims = claims_of(w, ids);
    let managed: BTreeMap<Chroot, Coverage> = claims
        .iter()
        .map(|c| (c.chroot.clone(), acl::coverage(&claims, c.chroot.as_str())))
        .collect();
    let layers = Layers::new(&claims, |id| Password::new(&client_pw(id)).ok());
    for c in &claims {
        w.znodes
            .insert(c.chroot.to_string(), layers.acl_of(c.chroot.as_str()));
    }
    let ids: BTreeSet<u32> = ids.iter().copied().collect();
    w.cluster_app.extend(
        cluster::AppPatch {
            client_users: Some(ids.clone()),
            client_relations: Some(records),
            managed_chroots: Some(managed),
            ..Default::default()
        }
        .to_bag(),
    );
    for u in w.units.clone() {
        w.cluster_units.get_mut(&u).unwrap().extend(
            cluster::UnitPatch {
                client_users: Some(ids.clone()),
                client_addresses: ids
                    .iter()
                    .map(|id| (*id, Some(addr(u).parse().unwrap())))
                    .collect(),
                ..Default::default()
            }
            .to_bag(),
        );
    }
    up_to_date(w);
}

/// Every unit runs the files rendered from the world as it is now.
fn up_to_date(w: &mut World) {
    let inputs = w.inputs();
    for u in w.units.clone() {
        w.restart_units.get_mut(&u).unwrap().extend(
            zookeeper_charm::peers::restart::UnitPatch {
                inputs: Some(inputs.clone()),
                ..Default::default()
            }
            .to_bag(),
        );
    }
    w.started_with = Some(w.rendered_now());
}

/// The calls of the client side: secrets, and writes to client relations.
fn client_calls(out: &Outcome) -> Vec<String> {
    out.lines()
        .into_iter()
        .filter(|l| {
            (l.starts_with("secret-") && !l.contains(SECRET_URI))
                || l.starts_with("relation-set -r zookeeper:")
        })
        .map(|l| {
            // The secret URIs the fake makes up are not the point.
            l.split(' ')
                .map(|a| if a.starts_with("secret:") { "<uri>" } else { a })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn provided(out: &Outcome, id: u32) -> Databag {
    out.bag(&format!("zookeeper:{id}"), Bag::App(APP.into()))
}

fn secret_content(out: &Outcome, uri: &str) -> BTreeMap<String, String> {
    out.tools.secret_state(uri).unwrap().current().0
}

fn record(out: &Outcome, id: u32) -> Option<ClientRecord> {
    out.cluster_app().client_relations.get(&id).cloned()
}

fn leader_hook(hook: Hook, edit: impl FnOnce(&mut World)) -> Outcome {
    let out = hook.steady(0, 3).leader(true).with(edit).run();
    out.ok();
    out
}

#[test]
fn a_non_leader_publishes_its_address_on_the_relation_and_reads_no_client_data() {
    let out = Hook::client("changed", 5)
        .steady(1, 3)
        .with(|w| kafka(w, 5, "/kafka"))
        .run();
    out.ok();
    let own = cluster::Unit::from_bag(&out.own_bag(CLUSTER));
    assert_eq!(
        own.client_addresses.get(&5).map(ToString::to_string),
        Some(addr(1)),
        "{}",
        out.describe()
    );
    let lines = out.lines();
    assert!(
        lines.contains(&"network-get --format=json -r zookeeper:5 zookeeper".to_string()),
        "{lines:#?}"
    );
    assert!(!lines
        .iter()
        .any(|l| l.contains("relation-get -r zookeeper:5")
            || l.starts_with("relation-get --format=json -r zookeeper:5")));
    assert_eq!(out.ran("secret-get"), 0);
    assert_eq!(
        out.local().client_relations,
        Some([(5, "kafka".to_string())].into())
    );
}

#[test]
fn a_relation_that_asks_for_nothing_gets_nothing_no_password_and_no_restart() {
    let out = leader_hook(Hook::client("changed", 5), |w| {
        related(w, 5, "quiet", &[("requested-secrets", KAFKA_SECRETS)])
    });
    assert!(provided(&out, 5).is_empty(), "{}", out.describe());
    assert_eq!(out.cluster_app().client_relations, BTreeMap::new());
    assert!(out.cluster_app().client_users.is_empty());
    assert_eq!(out.ran("secret-set"), 0);
    // The leader reads the membership as `super` (no `conf` for anonymous clients), so
    // the internal secret is read; no client secret is.
    assert_eq!(other_secret_reads(&out), 0, "not even read");
    assert!(out.credentials().unwrap().clients.is_empty());
    assert!(out.ensemble.znodes().is_empty());
    assert_eq!(out.status(), None, "{}", out.describe());
}

#[test]
fn a_new_request_stores_a_password_sets_the_acl_then_starts_the_roll_and_publishes_nothing() {
    let out = leader_hook(Hook::client("changed", 5), |w| kafka(w, 5, "kafka"));
    // 1. A 32-character password in the internal secret, and the record.
    let creds = out.credentials().unwrap();
    let pw = creds
        .clients
        .get(&5)
        .expect("a password for relation-5")
        .clone();
    assert_eq!(pw.as_str().len(), 32);
    assert!(pw.as_str().chars().all(|c| c.is_ascii_alphanumeric()));
    let rec = record(&out, 5).expect("a record");
    assert_eq!(rec.chroot.unwrap().as_str(), "/kafka");
    assert_eq!(rec.roles.letters(), "cdrwa");
    assert_eq!(rec.published, None);
    // 2. The chroot, with both entries computed from that password.
    let acl = out.ensemble.znodes()["/kafka"].clone();
    assert_eq!(
        acl,
        [
            AclEntry::new(
                Perms::ALL,
                "digest",
                &acl::digest_id("relation-5", pw.as_str())
            ),
            AclEntry::new(Perms::ALL, "sasl", "relation-5"),
        ]
    );
    assert_eq!(
        out.cluster_app().managed_chroots,
        [(
            Chroot::parse("/kafka").unwrap(),
            Coverage::parse("5:cdrwa").unwrap()
        )]
        .into()
    );
    // 3. Every server must load the user: the roll starts (the leader waits for the others).
    assert_eq!(out.cluster_app().client_users, BTreeSet::from([5]));
    let restart = zookeeper_charm::peers::restart::Unit::from_bag(&out.own_bag(RESTART));
    assert!(restart.request.is_some(), "{}", out.describe());
    // 4. Nothing published: no server runs with the user yet.
    assert!(provided(&out, 5).is_empty(), "{}", out.describe());
    assert_eq!(out.ran("secret-add"), 0);
    // The password shows in no bag and no log line of the plan.
    for (rel, app) in [(CLUSTER, true), (CLUSTER, false), ("zookeeper:5", true)] {
        let b = if app {
            out.bag(rel, Bag::App(APP.into()))
        } else {
            out.own_bag(rel)
        };
        assert!(!b.values().any(|v| v.contains(pw.as_str())), "{rel}: {b:?}");
    }
    assert!(!out.lines().iter().any(|l| l.contains(pw.as_str())));
}

#[test]
fn the_first_publication_runs_the_tool_sequence_of_data_interfaces() {
    let out = leader_hook(Hook::client("changed", 5), |w| {
        kafka(w, 5, "/kafka");
        loaded(w, &[5]);
    });
    assert_eq!(
        client_calls(&out),
        [
            "secret-info-get --format=json --label zookeeper.5.user.secret",
            "secret-add --label zookeeper.5.user.secret --description ZooKeeper client data (user) for zookeeper:5 --owner application password#file=<file> uris#file=<file> username#file=<file>",
            "secret-grant --relation zookeeper:5 <uri>",
            "secret-info-get --format=json --label zookeeper.5.tls.secret",
            "secret-add --label zookeeper.5.tls.secret --description ZooKeeper client data (tls) for zookeeper:5 --owner application tls#file=<file>",
            "secret-grant --relation zookeeper:5 <uri>",
            "relation-set -r zookeeper:5 --app --file -",
        ],
        "{}",
        out.describe()
    );
    let bag = provided(&out, 5);
    let endpoints = "127.0.0.11:2181,127.0.0.12:2181,127.0.0.13:2181";
    assert_eq!(
        bag.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "chroot",
            "database",
            "endpoints",
            "secret-tls",
            "secret-user"
        ]
    );
    assert_eq!(bag["endpoints"], endpoints);
    assert_eq!(
        (bag["database"].as_str(), bag["chroot"].as_str()),
        ("/kafka", "/kafka")
    );
    let user = secret_content(&out, &bag["secret-user"]);
    assert_eq!(
        user,
        BTreeMap::from([
            ("username".to_string(), "relation-5".to_string()),
            ("password".to_string(), client_pw(5)),
            ("uris".to_string(), format!("{endpoints}/kafka")),
        ])
    );
    assert_eq!(
        secret_content(&out, &bag["secret-tls"]),
        BTreeMap::from([("tls".to_string(), "disabled".to_string())])
    );
    for uri in [&bag["secret-user"], &bag["secret-tls"]] {
        let s = out.tools.secret_state(uri).unwrap();
        assert_eq!(s.grants(), [("zookeeper:5".to_string(), None)]);
    }
    // Recorded as published, with a digest and nothing secret.
    let rec = record(&out, 5).unwrap();
    let digest = rec.published.expect("published");
    assert_eq!(digest.len(), 40);
    assert!(!out
        .app_bag(CLUSTER)
        .values()
        .any(|v| v.contains(&client_pw(5))));
}

#[test]
fn nothing_is_published_while_a_started_unit_has_not_loaded_the_user() {
    let out = leader_hook(Hook::client("changed", 5), |w| {
        kafka(w, 5, "/kafka");
        loaded(w, &[5]);
        // Unit 2's server still runs without it.
        let b = w.cluster_units.get_mut(&2).unwrap();
        b.remove("client-users");
    });
    assert!(provided(&out, 5).is_empty(), "{}", out.describe());
    assert_eq!(out.ran("secret-add"), 0);
    assert_eq!(record(&out, 5).unwrap().published, None);
}

#[test]
fn a_unit_records_the_users_its_server_runs_with_once_it_runs_the_current_files() {
    // Unit 1 restarted with relation 5's user: it says so.
    let out = Hook::update_status()
        .steady(1, 3)
        .with(|w| {
            kafka(w, 5, "/kafka");
            loaded(w, &[5]);
            w.cluster_units.get_mut(&1).unwrap().remove("client-users");
        })
        .run();
    out.ok();
    assert_eq!(
        cluster::Unit::from_bag(&out.own_bag(CLUSTER)).client_users,
        BTreeSet::from([5])
    );
    // A server still running the old files does not.
    let out = Hook::update_status()
        .steady(1, 3)
        .with(|w| {
            kafka(w, 5, "/kafka");
            let old = w.rendered_now();
            loaded(w, &[5]);
            w.cluster_units.get_mut(&1).unwrap().remove("client-users");
            w.started_with = Some(old);
        })
        .run();
    out.ok();
    assert!(cluster::Unit::from_bag(&out.own_bag(CLUSTER))
        .client_users
        .is_empty());
    assert!(
        zookeeper_charm::peers::restart::Unit::from_bag(&out.own_bag(RESTART))
            .request
            .is_some(),
        "it asks for the restart lock: {}",
        out.describe()
    );
}

/// A published relation 5 (as the first publication leaves it).
fn published(w: &mut World) {
    kafka(w, 5, "/kafka");
    loaded(w, &[5]);
    let first = Hook::client("changed", 5)
        .steady(0, 3)
        .leader(true)
        .with(|x| *x = w.clone())
        .run();
    first.ok();
    keep(w, &first);
}

/// What `out` left of relation 5, of the `cluster` app bag and of the client secrets
/// becomes the world.
fn keep(w: &mut World, out: &Outcome) {
    w.clients.get_mut(&5).unwrap().provided = provided(out, 5);
    w.cluster_app = out.app_bag(CLUSTER);
    w.secrets
        .retain(|s| !s.owner_label().is_some_and(|l| l.starts_with("zookeeper.")));
    for (_, s) in out.tools.all_secrets() {
        if s.owner_label().is_some_and(|l| l.starts_with("zookeeper.")) {
            w.secrets.push(s);
        }
    }
}

#[test]
fn a_steady_leader_with_a_published_client_reads_no_secret_and_writes_nothing() {
    let mut w = World::steady(0, 3);
    w.leader = true;
    published(&mut w);
    for hook in [
        Hook::update_status(),
        Hook::client("changed", 5),
        Hook::leader_elected(),
    ] {
        let name = format!("{hook:?}").chars().take(60).collect::<String>();
        let out = hook.with(|x| *x = w.clone()).run();
        out.ok();
        assert_eq!(other_secret_reads(&out), 0, "{name}: {}", out.describe());
        assert_eq!(out.ran("secret-set"), 0, "{name}");
        assert_eq!(out.ran("relation-set"), 0, "{name}: {}", out.describe());
        assert!(client_calls(&out).is_empty(), "{name}");
    }
    // A steady update-status asks only for the relation's two bags more.
    let out = Hook::update_status().with(|x| *x = w.clone()).run();
    assert_eq!(
        out.total_calls(),
        2 * 2 + 10 + 2 + out.ran("secret-get"),
        "{:#?}",
        out.lines()
    );
}

/// The secrets a hook read besides the internal one (which the leader reads to ask for
/// the membership as `super`).
fn other_secret_reads(out: &Outcome) -> usize {
    out.lines()
        .iter()
        .filter(|c| c.starts_with("secret-get") && !c.contains(SECRET_URI))
        .count()
}

#[test]
fn a_new_unit_updates_the_endpoints_in_the_same_secret_with_the_same_password() {
    let mut w = World::steady(0, 3);
    w.leader = true;
    published(&mut w);
    let before = w.clients[&5].provided.clone();
    // Unit 3 joined, started with the users, and was added.
    let out = Hook::relation("cluster", "changed")
        .remote(3)
        .with(|x| {
            *x = w.clone();
            let mut w4 = World::steady(0, 4);
            x.units.insert(3);
            x.cluster_units
                .insert(3, w4.cluster_units.remove(&3).unwrap());
            x.restart_units.insert(3, Databag::new());
            x.upgrade_units
                .insert(3, w4.upgrade_units.remove(&3).unwrap());
            x.servers.insert(3, w4.servers.remove(&3).unwrap());
            x.voters.insert(3);
            let mut app = x.app();
            app.recorded.insert(3, cluster::Recorded::Added);
            x.cluster_app.extend(app.to_bag());
            x.cluster_units.get_mut(&3).unwrap().extend(
                cluster::UnitPatch {
                    client_users: Some([5].into()),
                    client_addresses: [(5, Some(addr(3).parse().unwrap()))].into(),
                    ..Default::default()
                }
                .to_bag(),
            );
            up_to_date(x);
        })
        .run();
    out.ok();
    assert_eq!(
        client_calls(&out),
        [
            // The owner reads its secrets by URI (never with a label, never --refresh)...
            "secret-get --format=json <uri>",
            "secret-get --format=json <uri>",
            // ... and sets the whole content of the one that changed.
            "secret-set <uri> password#file=<file> uris#file=<file> username#file=<file>",
            "relation-set -r zookeeper:5 --app --file -",
        ],
        "{}",
        out.describe()
    );
    let bag = provided(&out, 5);
    assert_eq!(bag["secret-user"], before["secret-user"], "never replaced");
    assert_eq!(bag["secret-tls"], before["secret-tls"]);
    let endpoints = "127.0.0.11:2181,127.0.0.12:2181,127.0.0.13:2181,127.0.0.14:2181";
    assert_eq!(bag["endpoints"], endpoints);
    let user = secret_content(&out, &bag["secret-user"]);
    assert_eq!(user["uris"], format!("{endpoints}/kafka"));
    assert_eq!(user["password"], client_pw(5));
}

#[test]
fn a_broken_relation_loses_its_secrets_password_user_and_acl_entries_and_keeps_its_data() {
    let mut w = World::steady(0, 3);
    w.leader = true;
    published(&mut w);
    kafka(&mut w, 6, "/other");
    let out = Hook::client("broken", 5).with(|x| *x = w.clone()).run();
    out.ok();
    let calls = client_calls(&out);
    assert_eq!(
        calls[..5],
        [
            "secret-info-get --format=json --label zookeeper.5.user.secret",
            "secret-remove <uri>",
            "secret-info-get --format=json --label zookeeper.5.tls.secret",
            "secret-remove <uri>",
            "secret-info-get --format=json --label zookeeper.5.extra.secret",
        ],
        "{}",
        out.describe()
    );
    for s in out.tools.all_secrets().values() {
        if s.owner_label()
            .is_some_and(|l| l.starts_with("zookeeper.5."))
        {
            assert!(s.is_removed(), "{s:?}");
        }
    }
    assert!(!out.credentials().unwrap().clients.contains_key(&5));
    let app = out.cluster_app();
    assert!(!app.client_relations.contains_key(&5));
    assert!(!app.client_users.contains(&5), "{app:?}");
    assert!(!app
        .managed_chroots
        .contains_key(&Chroot::parse("/kafka").unwrap()));
    // /kafka stays, for super only; the roll takes the user out of every server.
    assert_eq!(
        out.ensemble.znodes()["/kafka"],
        [AclEntry::new(Perms::ALL, "sasl", "super")]
    );
    assert!(out
        .ensemble
        .asked()
        .contains(&Asked::SetAclTree("/kafka".into())));
    assert!(
        zookeeper_charm::peers::restart::Unit::from_bag(&out.own_bag(RESTART))
            .request
            .is_some()
    );
    // Relation 6 (not asked for anything yet here) and its future are untouched; the
    // broken relation is no longer remembered.
    assert_eq!(
        out.local().client_relations,
        Some([(6, "kafka".to_string())].into())
    );
}

#[test]
fn a_broken_relation_on_a_non_leader_only_drops_its_address() {
    let mut w = World::steady(1, 3);
    kafka(&mut w, 5, "/kafka");
    loaded(&mut w, &[5]);
    let out = Hook::client("broken", 5).with(|x| *x = w.clone()).run();
    out.ok();
    let writes = out.writes(CLUSTER, false);
    assert_eq!(writes, bag(&[("ip-5", "")]), "{}", out.describe());
    assert!(client_calls(&out).is_empty());
    assert_eq!(out.ran("secret-set"), 0);
}

#[test]
fn when_the_whole_application_goes_away_its_clients_are_left_alone() {
    let mut w = World::steady(0, 3);
    w.leader = true;
    published(&mut w);
    let out = Hook::client("broken", 5)
        .with(|x| {
            *x = w.clone();
            x.goal = Some(
                (0..3)
                    .map(|u| (unit_name(u), "dying".to_string()))
                    .collect(),
            );
        })
        .run();
    out.ok();
    assert_eq!(out.ran("goal-state"), 1);
    assert!(client_calls(&out).is_empty(), "{}", out.describe());
    assert!(record(&out, 5).is_some());
    assert_eq!(out.ran("secret-set"), 0);
}

#[test]
fn a_refused_chroot_gets_nothing_and_the_leader_says_what_to_fix() {
    for (asked, why) in [
        ("/", "root znode"),
        ("/zookeeper/quota", "belong to ZooKeeper"),
        ("/a//b", "empty segment"),
        ("/a/../b", "`..`"),
        ("/a\u{7}b", "control character"),
    ] {
        let out = leader_hook(Hook::client("changed", 5), |w| {
            related(w, 5, "bad", &[("database", asked)])
        });
        assert!(record(&out, 5).is_none(), "{asked:?}");
        assert_eq!(out.ran("secret-set"), 0);
        assert!(out.ensemble.znodes().is_empty());
        let status = out.status().expect("a new status");
        assert_eq!(status.kind, StatusKind::Blocked, "{status:?}");
        assert!(
            status
                .message
                .starts_with("zookeeper:5 (bad) asks for database "),
            "{status:?}"
        );
        assert!(status.message.contains(why), "{asked:?}: {status:?}");
        assert!(!status.message.contains('\u{7}'), "{status:?}");
    }
    // Roles that are not ACL letters refuse the request as a whole.
    let out = leader_hook(Hook::client("changed", 5), |w| {
        related(
            w,
            5,
            "bad",
            &[("database", "/fine"), ("extra-user-roles", "cdrwx")],
        )
    });
    assert!(record(&out, 5).is_none());
    assert_eq!(out.ran("secret-set"), 0);
    let status = out.status().expect("a new status");
    assert_eq!(status.kind, StatusKind::Blocked, "{status:?}");
    assert_eq!(
        status.message,
        "zookeeper:5 (bad) asks for extra-user-roles \"cdrwx\", refused: \"x\" are not ACL letters; use only `c` create, `d` delete, `r` read, `w` write, `a` admin"
    );
    // A client that asks for nothing is not blamed for its roles.
    let out = leader_hook(Hook::client("changed", 5), |w| {
        related(w, 5, "bad", &[("extra-user-roles", "cdrwx")])
    });
    assert_ne!(out.status().map(|s| s.kind), Some(StatusKind::Blocked));
    // Another client is served meanwhile, and both refusals are named.
    let out = leader_hook(Hook::client("changed", 6), |w| {
        related(w, 5, "bad", &[("database", "/zookeeper")]);
        related(w, 7, "worse", &[("database", "/x"), ("chroot-acl", "all")]);
        kafka(w, 6, "/kafka");
    });
    assert!(record(&out, 6).is_some());
    assert!(record(&out, 5).is_none());
    assert!(record(&out, 7).is_none());
    let status = out.status().expect("a new status");
    assert_eq!(status.kind, StatusKind::Blocked, "{status:?}");
    assert!(
        status
            .message
            .contains("zookeeper:5 (bad) asks for database")
            && status
                .message
                .contains("; zookeeper:7 (worse) asks for extra-user-roles"),
        "{status:?}"
    );
}

#[test]
fn a_changed_database_after_publication_is_ignored_and_roles_still_apply_unless_refused() {
    let mut w = World::steady(0, 3);
    w.leader = true;
    published(&mut w);
    let out = Hook::client("changed", 5)
        .with(|x| {
            *x = w.clone();
            let req = &mut x.clients.get_mut(&5).unwrap().request;
            req.insert("database".into(), "/moved".into());
            req.insert("extra-user-roles".into(), "r".into());
        })
        .run();
    out.ok();
    let rec = record(&out, 5).unwrap();
    assert_eq!(
        rec.chroot.unwrap().as_str(),
        "/kafka",
        "fixed once published"
    );
    assert_eq!(rec.roles.letters(), "r");
    assert!(!out.ensemble.znodes().contains_key("/moved"));
    assert_eq!(out.ensemble.znodes()["/kafka"][0].perms, Perms::READ);
    assert_eq!(provided(&out, 5)["database"], "/kafka");
    // Roles that are not ACL letters: the relation keeps what it has, and the leader says so.
    let out = Hook::client("changed", 5)
        .with(|x| {
            *x = w.clone();
            let req = &mut x.clients.get_mut(&5).unwrap().request;
            req.insert("extra-user-roles".into(), "rx".into());
        })
        .run();
    out.ok();
    assert_eq!(record(&out, 5).unwrap().roles.letters(), "cdrwa");
    assert_eq!(out.ensemble.znodes()["/kafka"][0].perms, Perms::ALL);
    let status = out.status().expect("a new status");
    assert_eq!(status.kind, StatusKind::Blocked, "{status:?}");
    assert!(
        status.message.ends_with("; it keeps \"cdrwa\""),
        "{status:?}"
    );
}

#[test]
fn an_existing_password_is_adopted_before_one_is_generated() {
    // The user secret Charmed ZooKeeper published, no key in the internal secret.
    let uri = "secret://1e5d7c2a-0000-4000-8000-00000000000a/d3fo2nuve8s5g6ln8t8x";
    let python_pw = "PythonCharmPassword0123456789abc";
    let out = leader_hook(Hook::client("changed", 5), |w| {
        kafka(w, 5, "/kafka");
        w.clients.get_mut(&5).unwrap().provided = bag(&[
            ("secret-user", uri),
            ("database", "/kafka-old"),
            ("endpoints", "127.0.0.11:2181"),
        ]);
        w.secrets.push(
            FakeSecret::of_app(
                uri,
                APP,
                SecretContent::from_pairs([
                    ("username", "relation-5"),
                    ("password", python_pw),
                    ("uris", "127.0.0.11:2181/kafka-old"),
                ]),
            )
            .label("zookeeper.5.user.secret"),
        );
    });
    assert_eq!(out.credentials().unwrap().clients[&5].as_str(), python_pw);
    // The chroot it published stays the relation's.
    assert_eq!(
        record(&out, 5).unwrap().chroot.unwrap().as_str(),
        "/kafka-old"
    );
    // The key in the internal secret comes first; a plain bag password last.
    let out = leader_hook(Hook::client("changed", 5), |w| {
        kafka(w, 5, "/kafka");
        w.secret
            .as_mut()
            .unwrap()
            .insert("relation-5".into(), client_pw(5));
        w.clients.get_mut(&5).unwrap().provided =
            bag(&[("password", "PlainBagPassword0123456789abcdef")]);
    });
    assert_eq!(
        out.credentials().unwrap().clients[&5].as_str(),
        client_pw(5)
    );
    assert_eq!(out.ran("secret-set"), 0, "nothing new to store");
    let out = leader_hook(Hook::client("changed", 5), |w| {
        kafka(w, 5, "/kafka");
        w.clients.get_mut(&5).unwrap().provided =
            bag(&[("password", "PlainBagPassword0123456789abcdef")]);
    });
    assert_eq!(
        out.credentials().unwrap().clients[&5].as_str(),
        "PlainBagPassword0123456789abcdef"
    );
}

#[test]
fn clients_on_the_same_and_nested_chroots_get_the_union_whatever_the_order() {
    let out = leader_hook(Hook::client("changed", 8), |w| {
        related(w, 8, "inner", &[("database", "/shared/inner")]);
        related(
            w,
            3,
            "outer",
            &[("database", "/shared"), ("extra-user-roles", "r")],
        );
        related(w, 5, "twin", &[("database", "/shared")]);
    });
    let creds = out.credentials().unwrap();
    let entries = |id: u32, bits: i32| acl::entries(id, &creds.clients[&id], bits).to_vec();
    let z = out.ensemble.znodes();
    assert_eq!(z["/shared"], [entries(3, 1), entries(5, 31)].concat());
    assert_eq!(
        z["/shared/inner"],
        [entries(3, 1), entries(5, 31), entries(8, 31)].concat()
    );
    assert!(!z.contains_key("/"));
    // A parent created for a chroot alone gets read access only.
    let out = leader_hook(Hook::client("changed", 8), |w| {
        related(w, 8, "deep", &[("database", "/a/b/c")]);
    });
    let z = out.ensemble.znodes();
    assert_eq!(z["/a"], protected_acl());
    assert_eq!(z["/a/b"], protected_acl());
    assert_eq!(z["/a/b/c"].len(), 2);
}

#[test]
fn without_requested_secrets_all_seven_fields_are_plain() {
    let out = leader_hook(Hook::client("changed", 5), |w| {
        related(w, 5, "plain", &[("database", "/plain")]);
        loaded(w, &[5]);
    });
    let bag = provided(&out, 5);
    assert_eq!(
        bag.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "chroot",
            "database",
            "endpoints",
            "password",
            "tls",
            "uris",
            "username"
        ],
        "{}",
        out.describe()
    );
    assert_eq!(bag["password"], client_pw(5));
    assert_eq!(out.ran("secret-add"), 0);
    // relation-set carries the values on stdin, never on its command line.
    assert!(!out.lines().iter().any(|l| l.contains(&client_pw(5))));
}

#[test]
fn a_zookeeper_that_cannot_be_reached_for_the_acl_waits_and_records_nothing() {
    let out = Hook::client("changed", 5)
        .steady(0, 3)
        .leader(true)
        .with(|w| kafka(w, 5, "/kafka"))
        .with(|w| {
            for h in w.servers.values_mut() {
                *h = zookeeper_charm::zk::ensemble::ServerHealth::down("connection refused");
            }
        })
        .run();
    out.ok();
    assert!(out.cluster_app().managed_chroots.is_empty());
    assert!(out.cluster_app().client_users.is_empty());
    let status = out.status().unwrap();
    assert_ne!(status.kind, StatusKind::Active, "{status:?}");
    // The record and password were stored (step 1); the ACL waits for the next hook.
    assert!(record(&out, 5).is_some());
    assert!(!matches!(status, Status { ref message, .. } if message.is_empty()));
}

/// The leader's certificate as the `certificates` relation holds it: its key, its CSR for
/// its address (its name on the quorum and on relation 5) in its own bag, and `ca`'s answer
/// in the provider's bag.
struct LeaderCert {
    key: PrivateKey,
    own: Databag,
    provider: Databag,
    bundle: Bundle,
}

fn leader_cert(ca: &mut TestCa) -> LeaderCert {
    let key = PrivateKey::generate().unwrap();
    let a = addr(0);
    let csr = Csr::generate(
        &key,
        &CsrSubject::new(&a, [a.parse().unwrap()], []).unwrap(),
    )
    .unwrap();
    let leaf = ca.sign(csr.pem());
    let list = serde_json::json!([{
        "certificate_signing_request": csr.pem(),
        "certificate": leaf,
        "ca": ca.pem(),
        "chain": [ca.pem()],
    }])
    .to_string();
    let Answer::Issued(issued) = ProviderBag::parse(Some(&list)).answer_for(&csr) else {
        panic!("the provider's answer is not an issued certificate: {list}")
    };
    let bundle = issued.bundle(&key).unwrap();
    LeaderCert {
        own: bag(&[(REQUESTS_KEY, &requests_value(&csr))]),
        provider: bag(&[(CERTIFICATES_KEY, &list)]),
        key,
        bundle,
    }
}

/// `patch`'s keys set in `b`, its empty values (keys it clears) removed.
fn apply(b: &mut Databag, patch: Databag) {
    for (k, v) in patch {
        if v.is_empty() {
            b.remove(&k);
        } else {
            b.insert(k, v);
        }
    }
}

/// The switch at `app`: unit `id` reports `modes[id]` and a certificate; the leader (unit
/// 0) has its certificate installed and its server started with `modes[0]`, serving 2182;
/// the `certificates` relation exists if `related`; every unit runs the current files.
fn switch_at(w: &mut World, cert: &LeaderCert, app: AppTls, modes: [QuorumTls; 3], related: bool) {
    apply(
        &mut w.cluster_app,
        cluster::AppPatch {
            tls: Some(app),
            ..Default::default()
        }
        .to_bag(),
    );
    for (id, mode) in modes.into_iter().enumerate() {
        let fingerprint = if id == 0 {
            cert.bundle.leaf().fingerprint()
        } else {
            "ab".repeat(32).parse().unwrap()
        };
        apply(
            w.cluster_units.get_mut(&(id as u32)).unwrap(),
            cluster::UnitPatch {
                quorum: Some(QuorumSetting::of(mode)),
                unified: Some(mode.port_unification()),
                tls_cert: Some(Some(fingerprint)),
                ..Default::default()
            }
            .to_bag(),
        );
    }
    w.tls = TlsWorld {
        key: Some(cert.key.clone()),
        installed: Some(cert.bundle.clone()),
        started: Some(Running {
            quorum: modes[0],
            client_tls: true,
        }),
    };
    w.certificates = related.then(|| (cert.own.clone(), cert.provider.clone()));
    w.certificates_remembered = related;
    up_to_date(w);
}

/// Relation 5's access fields as its client reads them after `out`: `endpoints` from the
/// bag, `tls` and `tls-ca` from the bag or from the `tls` secret.
fn access_seen(out: &Outcome) -> (String, Option<String>, Option<String>) {
    let bag = provided(out, 5);
    let tls_group = match bag.get("secret-tls") {
        Some(uri) => secret_content(out, uri),
        None => bag.clone(),
    };
    (
        bag["endpoints"].clone(),
        tls_group.get("tls").cloned(),
        tls_group.get("tls-ca").cloned(),
    )
}

/// The keys of each write to relation 5's `tls` fields and endpoints in `out`: its
/// `relation-set`s' keys, and its `tls` secret's `secret-set`s' keys.
/// The leader's hook when unit 2's bag reports the switch at `modes` ([`switch_at`]).
fn leader_sees_switch(
    w: &mut World,
    cert: &LeaderCert,
    app: AppTls,
    modes: [QuorumTls; 3],
    related: bool,
) -> Outcome {
    switch_at(w, cert, app, modes, related);
    let out = Hook::relation("cluster", "changed")
        .remote(2)
        .with(|x| *x = w.clone())
        .run();
    out.ok();
    out
}

fn access_writes(out: &Outcome) -> Vec<Vec<String>> {
    let tls_uri = provided(out, 5).get("secret-tls").cloned();
    out.tools
        .calls()
        .iter()
        .filter_map(|c| {
            let keys: Vec<String> = match c.tool.as_str() {
                "relation-set" if c.args.get(1).map(String::as_str) == Some("zookeeper:5") => {
                    let b: Databag = serde_json::from_str(c.stdin.as_deref()?).ok()?;
                    b.into_keys().collect()
                }
                "secret-set" if tls_uri.is_some() && c.args.first() == tls_uri.as_ref() => c
                    .args
                    .iter()
                    .skip(1)
                    .filter_map(|a| a.split_once(['#', '=']).map(|(k, _)| k.to_string()))
                    .collect(),
                _ => return None,
            };
            let keys: Vec<String> = keys
                .into_iter()
                .filter(|k| ["endpoints", "tls", "tls-ca"].contains(&k.as_str()))
                .collect();
            (!keys.is_empty()).then_some(keys)
        })
        .collect()
}

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[test]
fn clients_move_to_2182_with_tls_enabled_and_the_ca_in_one_hook_and_back_when_tls_goes() {
    use QuorumTls::{SslOnly, Unified, UnifiedSsl};
    let mut ca = TestCa::new();
    let cert = leader_cert(&mut ca);
    let at = |port: u16| {
        (0..3)
            .map(|u| format!("{}:{port}", addr(u)))
            .collect::<Vec<_>>()
            .join(",")
    };
    // A client that asks for every field in plain, and Kafka with `tls` and `tls-ca` in
    // the `tls` secret.
    for with_secrets in [false, true] {
        let mut w = World::steady(0, 3);
        w.leader = true;
        if with_secrets {
            published(&mut w);
        } else {
            related(&mut w, 5, "app", &[("database", "/app")]);
            loaded(&mut w, &[5]);
            let first = Hook::client("changed", 5).with(|x| *x = w.clone()).run();
            first.ok();
            keep(&mut w, &first);
        }
        let case = if with_secrets { "secrets" } else { "plain" };

        // The last step of the switch on: TLS everywhere, unit 2 still to restart without
        // port unification. Clients keep 2181 and `tls=disabled`, untouched.
        let on = AppTls::TLS;
        let out = leader_sees_switch(&mut w, &cert, on, [SslOnly, SslOnly, UnifiedSsl], true);
        assert!(access_writes(&out).is_empty(), "{case}: {}", out.describe());
        assert_eq!(
            access_seen(&out),
            (at(2181), Some("disabled".into()), None),
            "{case}"
        );

        // Unit 2 reports it runs TLS only: in that hook every field moves, in one write.
        let out = leader_sees_switch(&mut w, &cert, on, [SslOnly, SslOnly, SslOnly], true);
        let (endpoints, tls, tls_ca) = access_seen(&out);
        assert_eq!(
            (endpoints, tls.as_deref()),
            (at(2182), Some("enabled")),
            "{case}: {}",
            out.describe()
        );
        assert_eq!(
            pem_body(tls_ca.as_deref().expect("tls-ca")),
            pem_body(&ca.pem()),
            "{case}: the CA, and only it"
        );
        // With secrets: `tls` and `tls-ca` in the secret, the endpoints in the bag, in this
        // hook.
        let expected: &[&[&str]] = if with_secrets {
            &[&["tls", "tls-ca"], &["endpoints"]]
        } else {
            &[&["endpoints", "tls", "tls-ca"]]
        };
        assert_eq!(access_writes(&out), expected, "{case}: {}", out.describe());
        keep(&mut w, &out);

        // The certificates relation is gone and every unit runs the quorum in plaintext
        // (ports unified) but unit 2, which still connects with TLS: clients keep 2182.
        let off = AppTls {
            enabled: false,
            switching: true,
            quorum: QuorumSetting::Plain,
        };
        let out = leader_sees_switch(&mut w, &cert, off, [Unified, Unified, UnifiedSsl], false);
        assert!(access_writes(&out).is_empty(), "{case}: {}", out.describe());
        assert_eq!(access_seen(&out).1.as_deref(), Some("enabled"), "{case}");

        // Unit 2 too: the leader ends the switch, and clients go back to 2181 and
        // `tls=disabled` together, the CA removed (every server still serves 2182 until
        // its last restart).
        let out = leader_sees_switch(&mut w, &cert, off, [Unified, Unified, Unified], false);
        assert_eq!(out.cluster_app().tls_state(), AppTls::PLAINTEXT);
        assert_eq!(
            access_seen(&out),
            (at(2181), Some("disabled".into()), None),
            "{case}: {}",
            out.describe()
        );
        let expected: &[&[&str]] = if with_secrets {
            &[&["tls"], &["endpoints"]]
        } else {
            &[&["endpoints", "tls", "tls-ca"]]
        };
        assert_eq!(access_writes(&out), expected, "{case}: {}", out.describe());
    }
}
