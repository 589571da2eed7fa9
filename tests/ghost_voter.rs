//! A ghost voter on the local model (`zk-sim`) with real ZooKeeper servers: a fourth
//! server, outside the model, joins the three units' ensemble as a voter through a `super`
//! session, as a server no unit stands behind would (a unit removed while its server kept
//! its seat, a server of an earlier deployment). With it, upgrading or restarting a real
//! unit could leave a minority of the voters serving, so `pre-upgrade-check` and
//! `set-password` refuse, naming it by server id and address. Once it is out of the
//! membership, both succeed. (The units' opened ports are checked on the way: each opens
//! its client port, and only that one.)
//!
//! `ZK_TEST_SEEDS=1,2` overrides the event-order seed.

use testkit::extra::ExtraServer;
use testkit::model::internal_secret;
use testkit::{seeds, test_charm, Cluster};

/// The extra server's id: above every unit's (server id = unit id + 1).
const EXTRA_ID: u32 = 10;

fn an_extra_voter(charm: &std::path::Path, seed: u64) {
    let mut c = Cluster::create(charm, seed);
    c.model.deploy(3).unwrap();
    c.settle("deploy 3");
    // Every serving unit opened its client port, and no other.
    for u in c.status() {
        assert_eq!(u.ports, ["2181/tcp"], "seed {seed}: {}", u.unit);
    }
    let leader = c.model.leader().unwrap().expect("a leader");
    let super_pw = c.super_password();
    // In the model's loopback block, at an address no unit will have.
    let unit_addr = c.addresses()[&0].clone();
    let host = format!("{}250", &unit_addr[..=unit_addr.rfind('.').unwrap()]);

    let extra = ExtraServer::start(&c, EXTRA_ID, &host);
    let mut admin = c.client();
    let cfg = admin.add_member(&extra.spec, None).unwrap();
    assert_eq!(cfg.voters(), [1, 2, 3, EXTRA_ID], "seed {seed}");
    let ghost = format!("voter server.{EXTRA_ID} at {host} has no unit behind it");

    let r = c
        .model
        .run_action(&leader, "pre-upgrade-check", &[])
        .unwrap();
    assert!(!r.completed(), "seed {seed}: pre-upgrade-check: {r:?}");
    assert!(
        r.message.contains(&ghost) && r.message.contains("exactly the serving units"),
        "seed {seed}: {}",
        r.message
    );
    assert!(
        c.model
            .app_databag("upgrade")
            .unwrap()
            .get("upgrade-stack")
            .is_none_or(|s| s.is_empty() || s == "[]"),
        "seed {seed}: a stack was written"
    );
    // The same password again: only the extra voter stands in its way.
    let secret_before = internal_secret(&c.model).unwrap();
    let r = c
        .model
        .run_action(
            &leader,
            "set-password",
            &[("username", "super"), ("password", &super_pw)],
        )
        .unwrap();
    assert!(!r.completed(), "seed {seed}: set-password: {r:?}");
    assert!(
        r.message.contains(&ghost) && r.message.contains("nothing was changed"),
        "seed {seed}: {}",
        r.message
    );
    assert_eq!(internal_secret(&c.model).unwrap(), secret_before);

    // Out of the membership and stopped: both go through.
    let cfg = admin.remove_member(EXTRA_ID, None).unwrap();
    assert_eq!(cfg.voters(), [1, 2, 3], "seed {seed}");
    extra.stop();
    assert!(!extra.running());
    drop(admin);
    let r = c
        .model
        .run_action(
            &leader,
            "set-password",
            &[("username", "super"), ("password", &super_pw)],
        )
        .unwrap();
    assert!(r.completed(), "seed {seed}: set-password: {r:?}");
    let r = c
        .model
        .run_action(&leader, "pre-upgrade-check", &[])
        .unwrap();
    assert!(r.completed(), "seed {seed}: pre-upgrade-check: {r:?}");
    assert!(
        r.get("upgrade-stack").is_some_and(|s| s.starts_with('[')),
        "{r:?}"
    );
    c.model.destroy().unwrap();
}

#[test]
fn an_extra_voter_stops_pre_upgrade_check_and_set_password_until_it_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let charm = test_charm!(dir.path());
    for seed in seeds(&[1]) {
        an_extra_voter(&charm, seed);
    }
}
