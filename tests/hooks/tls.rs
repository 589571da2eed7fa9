//! The `certificates` relation's hooks and `set-tls-private-key`, whole hooks in-process:
//! the relation is learnt in its own hooks and remembered, the key is made once and kept
//! private (0600 in the charm's state, in no tool call), the CSR goes in this unit's bag,
//! and the leader starts and reverses the switch.

use zookeeper_charm::hooktools::{Bag, Databag};
use zookeeper_charm::local_state;
use zookeeper_charm::peers::cluster;
use zookeeper_charm::tls::{AppTls, Csr, PrivateKey, QuorumSetting};
use zookeeper_charm::workload::Workload;

use crate::scenario::*;

fn related(h: Hook) -> Hook {
    h.with(|w| w.certificates = Some((Databag::new(), Databag::new())))
}

fn key_path(out: &Outcome) -> std::path::PathBuf {
    out.workload.paths().charm_state_dir.join("tls-private-key")
}

/// The CSR this unit published, if any.
fn published(out: &Outcome) -> Option<Csr> {
    let bag = out.bag(CERTIFICATES, Bag::Unit(unit_name(out.world.me)));
    let list: Vec<serde_json::Value> =
        serde_json::from_str(bag.get("certificate_signing_requests")?).ok()?;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["ca"], serde_json::json!(false));
    Csr::from_pem(list[0]["certificate_signing_request"].as_str()?).ok()
}

/// No hook-tool call carries any line of the key.
fn assert_key_in_no_call(out: &Outcome, key_pem: &str) {
    for line in key_pem.lines().filter(|l| !l.starts_with("-----")).skip(6) {
        for call in out.tools.calls() {
            let text = format!("{} {:?} {:?}", call.tool, call.args, call.stdin);
            assert!(!text.contains(line), "{text}");
        }
    }
}

#[test]
fn a_unit_learns_the_relation_makes_a_private_key_and_asks_for_a_certificate_for_its_address() {
    let out = related(Hook::relation("certificates", "created").steady(1, 3)).run();
    out.ok();
    assert_eq!(out.ran("relation-ids"), 1, "{:#?}", out.lines());
    let key_pem = out.workload.file(&key_path(&out)).expect("a stored key");
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(out.workload.mode(&key_path(&out)), Some(0o600));
    let key = PrivateKey::from_pem(&key_pem).unwrap();
    let csr = published(&out).expect("a CSR");
    assert_eq!(csr.subject().common_name(), addr(1));
    assert!(csr.subject().ips().contains(&addr(1).parse().unwrap()));
    assert_eq!(csr.public_key_der(), key.public_key_der().unwrap());
    assert_key_in_no_call(&out, &key_pem);
    // The relation is remembered: steady hooks learn nothing again.
    assert_eq!(
        out.local().certificates.map(|r| (r.id, r.provider)),
        Some((CERTIFICATES.to_string(), Some(PROVIDER.to_string())))
    );
    let steady = related(Hook::update_status().steady(1, 3))
        .with(|w| w.certificates_remembered = true)
        .run();
    steady.ok();
    assert_eq!(steady.ran("relation-ids"), 0, "{:#?}", steady.lines());
}

#[test]
fn the_leader_starts_the_switch_when_the_relation_comes_and_reverses_it_when_it_breaks() {
    let out = related(Hook::relation("certificates", "created").steady(0, 3))
        .leader(true)
        .run();
    out.ok();
    let on = AppTls {
        enabled: true,
        switching: true,
        quorum: QuorumSetting::Plain,
    };
    assert_eq!(out.cluster_app().tls_state(), on);
    // Nothing restarts before the certificate is installed.
    assert!(out.lifecycle().is_empty(), "{:?}", out.lifecycle());

    let broken = related(Hook::relation("certificates", "broken").steady(0, 3))
        .leader(true)
        .with(|w| {
            w.certificates_remembered = true;
            w.cluster_app.extend(
                cluster::AppPatch {
                    tls: Some(AppTls::TLS),
                    ..Default::default()
                }
                .to_bag(),
            );
        })
        .run();
    broken.ok();
    assert_eq!(
        broken.cluster_app().tls_state(),
        AppTls {
            enabled: false,
            switching: true,
            quorum: QuorumSetting::Ssl,
        }
    );
    assert_eq!(broken.local().certificates, None);
    assert_eq!(broken.app_bag(CLUSTER).get("tls"), None);
}

#[test]
fn set_tls_private_key_keeps_a_given_key_without_a_relation_and_refuses_a_bad_one() {
    let key = PrivateKey::generate().unwrap();
    let pem = key.to_pkcs8_pem().unwrap().as_str().unwrap().to_string();
    let out = Hook::action("set-tls-private-key")
        .steady(1, 3)
        .params(serde_json::json!({ "internal-key": pem }))
        .run();
    out.ok();
    assert_eq!(out.action_failure(), None);
    assert!(out.action_results().is_empty());
    let stored = out.workload.file(&key_path(&out)).expect("the key stored");
    assert_eq!(PrivateKey::from_pem(&stored).unwrap(), key);
    assert_key_in_no_call(&out, &pem);

    let bad = Hook::action("set-tls-private-key")
        .steady(1, 3)
        .params(serde_json::json!({ "internal-key": "LS0tLS1CRUdJTiBub3RoaW5nLS0tLS0=" }))
        .run();
    bad.ok();
    let message = bad.action_failure().expect("a failure");
    assert!(
        message.starts_with("the internal-key is refused"),
        "{message}"
    );
    assert_eq!(bad.workload.file(&key_path(&bad)), None);
    assert!(local_state::load_tls_key(&bad.workload).unwrap().is_none());
}

#[test]
fn with_the_relation_set_tls_private_key_replaces_the_csr_at_once() {
    let key = PrivateKey::generate().unwrap();
    let pem = key.to_pkcs8_pem().unwrap().as_str().unwrap().to_string();
    let out = related(Hook::action("set-tls-private-key").steady(1, 3))
        .with(|w| w.certificates_remembered = true)
        .params(serde_json::json!({ "internal-key": pem }))
        .run();
    out.ok();
    let csr = published(&out).expect("a CSR");
    assert_eq!(csr.public_key_der(), key.public_key_der().unwrap());
    assert_key_in_no_call(&out, &pem);
}
