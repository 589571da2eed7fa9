//! KC-1, KC-2 and KC-4 with a Kafka-shaped stub (it asks as Kafka does and reads through
//! its own secret labels), plus CR-8 (a new unit) and CR-10 (a leader change), and the
//! endpoints following a scale-down.

use std::path::Path;
use std::time::Duration;

use testkit::model::internal_secret;
use testkit::{seeds, test_charm, Cluster};
use zookeeper_charm::zk::four;

use crate::support::*;

/// Kafka's `zookeeper.connect` (its `ZooKeeper` model): `uris` without the database,
/// split, sorted, and the database appended to the last entry.
fn kafka_connect(uris: &str, database: &str) -> String {
    let mut hosts: Vec<&str> = Vec::new();
    let stripped = uris.replace(database, "");
    hosts.extend(stripped.split(','));
    hosts.sort();
    format!("{}{database}", hosts.join(","))
}

/// Kafka 3/edge's port: the integer after `:` of the last `endpoints` entry.
fn kafka_port(endpoints: &str) -> Option<u16> {
    endpoints
        .split(',')
        .next_back()?
        .rsplit_once(':')?
        .1
        .parse()
        .ok()
}

fn scenario(charm: &Path, seed: u64) {
    let mut c = Cluster::create(charm, seed);
    c.model.deploy(3).unwrap();
    c.settle("deploy 3");

    // KC-1: at the first hook where `secret-user` is there, everything Kafka needs is.
    let id = c.client_stub("kafka");
    c.settle("kafka related, asking nothing yet");
    ask(
        &mut c,
        "kafka",
        id,
        &[
            ("database", "/kafka"),
            ("chroot", "/kafka"),
            ("requested-secrets", REQUESTED),
        ],
    );
    let first_sight =
        AtFirstSight::install(&mut c, [(id, "kafka".to_string())].into(), |m, id, _| {
            let mut problems = Vec::new();
            let bag = provided(m, id);
            if !bag.contains_key("secret-user") {
                problems.push(format!("credentials outside the user secret: {bag:?}"));
                return problems;
            }
            let given = Given::read(m, id);
            for key in ["username", "password", "endpoints", "database", "uris"] {
                if given.fields.get(key).is_none_or(|v| v.is_empty()) {
                    problems.push(format!("{key} is empty or missing"));
                }
            }
            if problems.is_empty() {
                let connect = kafka_connect(given.get("uris"), given.get("database"));
                if connect != format!("{}/kafka", given.get("endpoints")) {
                    problems.push(format!("Kafka's connect string is {connect}"));
                }
                if kafka_port(given.get("endpoints")) != Some(2181) {
                    problems.push(format!("Kafka's port from {}", given.get("endpoints")));
                }
            }
            problems
        });
    c.settle("kafka related");
    first_sight.finish(&mut c);

    // The stub pins its own labels on the secrets, as the requirer library does.
    let bag = provided(&c.model, id);
    let user_label = format!("zookeeper.{id}.user.secret");
    let user = c
        .model
        .secret_get_as("kafka/0", &[&bag["secret-user"], "--label", &user_label])
        .unwrap();
    let tls = c
        .model
        .secret_get_as(
            "kafka/0",
            &[
                &bag["secret-tls"],
                "--label",
                &format!("zookeeper.{id}.tls.secret"),
            ],
        )
        .unwrap();
    assert_eq!(tls.get("tls").map(String::as_str), Some("disabled"));
    let mut given = Given {
        fields: user.clone(),
    };
    given
        .fields
        .insert("endpoints".into(), bag["endpoints"].clone());
    given
        .fields
        .insert("database".into(), bag["database"].clone());

    // KC-2: the first endpoint that answers `srvr`, with SASL: Kafka's writes and listing.
    let first = given
        .endpoints()
        .into_iter()
        .find(|ep| four::srvr_within(ep, Duration::from_secs(2)).is_ok())
        .expect("an endpoint answers srvr");
    let srvr = four::srvr_within(&first, Duration::from_secs(2)).unwrap();
    assert!(srvr.version.starts_with("3."), "{srvr:?}");
    let mut s = open(&first, given.sasl());
    for path in [
        "/kafka/config",
        "/kafka/config/users",
        "/kafka/config/users/x",
        "/kafka/brokers",
        "/kafka/brokers/ids",
        "/kafka/brokers/ids/0",
    ] {
        s.create(path, b"")
            .unwrap_or_else(|e| panic!("create {path}: {e}"));
    }
    assert_eq!(s.children("/kafka/brokers/ids").unwrap(), ["0"]);
    drop(s);

    // CR-10: a new leader changes nothing: the same bag, secrets, revisions, passwords.
    let user_before = c.model.show_secret(&bag["secret-user"], true).unwrap();
    let tls_before = c.model.show_secret(&bag["secret-tls"], true).unwrap();
    let internal_before = internal_secret(&c.model).unwrap();
    let leader = c.model.leader().unwrap().unwrap();
    let next = (0..3)
        .map(|n| format!("zookeeper/{n}"))
        .find(|u| *u != leader)
        .unwrap();
    c.model.set_leader(&next).unwrap();
    c.settle("leader moved");
    assert_eq!(provided(&c.model, id), bag, "seed {seed}");
    let user_after = c.model.show_secret(&bag["secret-user"], true).unwrap();
    let tls_after = c.model.show_secret(&bag["secret-tls"], true).unwrap();
    assert_eq!(
        (user_after.revision, &user_after.content),
        (user_before.revision, &user_before.content),
        "seed {seed}"
    );
    assert_eq!(tls_after.revision, tls_before.revision);
    assert_eq!(internal_secret(&c.model).unwrap(), internal_before);

    // CR-8 and KC-4: a new unit; the same secret, a new revision, the same password.
    let added = c.model.add_units("zookeeper", 1).unwrap();
    c.settle("a unit added");
    let bag4 = provided(&c.model, id);
    let eps: Vec<&str> = bag4["endpoints"].split(',').collect();
    assert_eq!(eps.len(), 4, "seed {seed}: {eps:?}");
    let mut sorted_eps = eps.clone();
    sorted_eps.sort();
    assert_eq!(eps, sorted_eps);
    let new_n: u32 = added[0].rsplit_once('/').unwrap().1.parse().unwrap();
    let new_ep = format!("{}:2181", c.addresses()[&new_n]);
    assert!(eps.contains(&new_ep.as_str()), "{new_ep} not in {eps:?}");
    assert_eq!(bag4["secret-user"], bag["secret-user"]);
    let user4 = c.model.show_secret(&bag["secret-user"], true).unwrap();
    assert!(user4.revision > user_before.revision);
    let content4 = user4.content.unwrap();
    assert_eq!(content4["password"], user["password"]);
    assert_eq!(content4["uris"], format!("{}/kafka", bag4["endpoints"]));
    assert_eq!(jaas_users(&c, new_n, &format!("relation-{id}")), 1);
    let mut s = open(&new_ep, given.sasl());
    s.create("/kafka/on-the-new-unit", b"").unwrap();
    drop(s);
    // The stub reads its tracked revision until it refreshes.
    let tracked = c
        .model
        .secret_get_as("kafka/0", &["--label", &user_label])
        .unwrap();
    assert_eq!(tracked["uris"], user["uris"]);
    let refreshed = c
        .model
        .secret_get_as("kafka/0", &["--label", &user_label, "--refresh"])
        .unwrap();
    assert_eq!(refreshed["uris"], content4["uris"]);
    assert_eq!(refreshed["password"], user["password"]);

    // The endpoints follow a scale-down too.
    c.model.remove_unit(&added[0]).unwrap();
    c.settle("the new unit removed");
    let bag3 = provided(&c.model, id);
    assert_eq!(bag3["endpoints"], bag["endpoints"], "seed {seed}");
    let user3 = c.model.show_secret(&bag["secret-user"], true).unwrap();
    assert_eq!(user3.content.unwrap()["uris"], user["uris"]);
    c.model.destroy().unwrap();
}

#[test]
fn a_kafka_shaped_client_sees_everything_at_once_and_follows_scaling_but_not_leader_changes() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(&dir.path().join("charm"));
    for seed in seeds(&[12]) {
        scenario(&charm, seed);
    }
}
