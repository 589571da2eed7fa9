use std::time::{Duration, SystemTime};

use super::*;
use crate::fixtures::{addr, healthy3, paths, status, World};
use crate::plan::WorkloadOp;
use crate::snapshot::CertificatesView;
use crate::status::StatusKind;
use crate::tls::key::tests::{other_key, shared_key};
use crate::tls::relation::requests_value;
use crate::tls::testca::TestCa;
use crate::tls::{Csr, PrivateKey, ProviderBag, QuorumTls, Requests};

const REL: &str = "certificates:9";

fn subject(me: u32) -> CsrSubject {
    let a = addr(me);
    CsrSubject::new(&a, [a.parse().unwrap()], []).unwrap()
}

fn csr(me: u32, key: &PrivateKey) -> Csr {
    Csr::generate(key, &subject(me)).unwrap()
}

fn ca() -> &'static TestCa {
    static CA: std::sync::OnceLock<TestCa> = std::sync::OnceLock::new();
    CA.get_or_init(|| TestCa::root("Test CA"))
}

/// The provider's bag answering `csr` with a certificate (serial `serial`) and the CA.
fn issued(csr: &Csr, serial: u32) -> ProviderBag {
    let leaf = ca().sign_now(csr, serial);
    issued_pem(csr, &leaf)
}

fn issued_pem(csr: &Csr, leaf: &str) -> ProviderBag {
    let v = serde_json::json!([{
        "certificate_signing_request": csr.pem(),
        "certificate": leaf,
        "ca": ca().pem(),
        "chain": [ca().pem()],
    }]);
    ProviderBag::parse(Some(&v.to_string()))
}

fn leaf_of(bag: &ProviderBag, csr: &Csr) -> crate::tls::Certificate {
    let Answer::Issued(i) = bag.answer_for(csr) else {
        panic!("not issued")
    };
    i.leaf.clone()
}

/// `w` with the `certificates` relation: this unit's key, its published CSR and the
/// provider's bag.
fn related(mut w: World, csr: Option<&Csr>, bag: ProviderBag) -> World {
    w.s.tls.relation = Some(CertificatesView {
        id: REL.into(),
        provider: Some("tls".into()),
        requests: Requests::parse(csr.map(requests_value).as_deref()),
        issued: bag,
    });
    w.s.tls.key = Some(Ok(shared_key().clone()));
    w
}

/// Unit `me`'s certificate is installed.
fn installed(mut w: World, leaf: crate::tls::Certificate) -> World {
    w.s.tls.installed = Some(leaf);
    w.s.tls.any_file = true;
    w
}

/// The app bag's TLS state.
fn app_tls(w: World, t: AppTls) -> World {
    let mut w = w;
    let bag = crate::peers::cluster::AppPatch {
        tls: Some(t),
        ..Default::default()
    }
    .to_bag();
    for (k, v) in bag {
        if v.is_empty() {
            w.cluster.app.remove(&k);
        } else {
            w.cluster.app.insert(k, v);
        }
    }
    w
}

/// This unit's server was started with `mode` and runs the files rendered now.
fn runs(mut w: World, mode: Running) -> World {
    w.s.local.started_tls = Some(mode);
    let fp = w.plan().fingerprint.unwrap();
    w.s.local.started_with = Some(fp);
    w
}

/// Unit `id` reports `mode` and (or not) a certificate.
fn reports_mode(mut w: World, id: u32, mode: QuorumTls, cert: bool) -> World {
    let mut patch = crate::peers::cluster::UnitPatch {
        quorum: Some(QuorumSetting::of(mode)),
        unified: Some(mode.port_unification()),
        ..Default::default()
    };
    if cert {
        patch.tls_cert = Some(Some("ab".repeat(32).parse().unwrap()));
    }
    let bag = w.cluster.units.get_mut(&id).unwrap();
    for (k, v) in patch.to_bag() {
        if v.is_empty() {
            bag.remove(&k);
        } else {
            bag.insert(k, v);
        }
    }
    w
}

const E0_ON: AppTls = AppTls {
    enabled: true,
    switching: true,
    quorum: QuorumSetting::Plain,
};

fn mode(quorum: QuorumTls, client_tls: bool) -> Running {
    Running { quorum, client_tls }
}

#[test]
fn a_steady_plaintext_unit_has_no_tls_work_and_renders_no_tls() {
    for me in 0..3 {
        let plan = healthy3(me).plan();
        assert!(plan.tls.is_empty(), "{:?}", plan.tls);
        assert_eq!(plan.tls_config, Some(TlsConfig::plaintext()));
        assert!(plan.cluster_unit.is_empty() && plan.cluster_app.is_empty());
    }
}

#[test]
fn a_unit_makes_its_key_then_asks_for_a_certificate_for_its_address() {
    let w = related(healthy3(1), None, ProviderBag::Absent);
    let mut no_key = w.clone();
    no_key.s.tls.key = None;
    let plan = no_key.plan();
    assert!(plan.tls.generate_key);
    assert_eq!(plan.tls.publish_csr, None);
    // An unreadable stored key is replaced too.
    no_key.s.tls.key = Some(Err("malformed".into()));
    assert!(no_key.plan().tls.generate_key);

    let plan = w.plan();
    assert!(!plan.tls.generate_key);
    assert_eq!(plan.tls.publish_csr, Some(subject(1)));
    // Published: nothing more to ask, and nothing installed before `tls=enabled`.
    let c = csr(1, shared_key());
    let w = related(healthy3(1), Some(&c), issued(&c, 7));
    let plan = w.plan();
    assert!(plan.tls.is_empty(), "{:?}", plan.tls);
}

#[test]
fn a_csr_for_another_key_or_address_is_replaced() {
    let old = csr(1, other_key());
    let plan = related(healthy3(1), Some(&old), ProviderBag::Absent).plan();
    assert_eq!(plan.tls.publish_csr, Some(subject(1)));
    let moved = csr(2, shared_key());
    let plan = related(healthy3(1), Some(&moved), ProviderBag::Absent).plan();
    assert_eq!(plan.tls.publish_csr, Some(subject(1)));
}

#[test]
fn once_tls_is_enabled_the_issued_certificate_is_installed_once() {
    let c = csr(1, shared_key());
    let bag = issued(&c, 7);
    let w = app_tls(related(healthy3(1), Some(&c), bag.clone()), E0_ON);
    let plan = w.plan();
    let bundle = plan.tls.install.as_ref().expect("an install");
    assert_eq!(bundle.leaf(), &leaf_of(&bag, &c));
    // Installed: nothing to do.
    let plan = installed(w, leaf_of(&bag, &c)).plan();
    assert_eq!(plan.tls.install, None);
    assert_eq!(plan.tls.publish_csr, None);
}

#[test]
fn until_the_certificate_comes_the_unit_waits_and_keeps_what_it_runs() {
    let c = csr(1, shared_key());
    let w = runs(
        app_tls(
            related(healthy3(1), Some(&c), ProviderBag::Absent),
            AppTls::PLAINTEXT,
        ),
        TlsConfig::PLAINTEXT_MODE,
    );
    let w = app_tls(w, E0_ON);
    let plan = w.plan();
    // No restart requested: the files rendered are the running ones.
    assert_eq!(plan.fingerprint, w.s.local.started_with);
    assert!(plan.restart_unit.request.is_none());
    let st = status(&plan);
    assert_eq!(st.kind, StatusKind::Waiting);
    assert_eq!(
        st.message,
        "waiting for tls to sign this unit's certificate request"
    );

    // The certificate comes: installed first, then the unified restart is asked for.
    let bag = issued(&c, 7);
    let mut w = w;
    w.s.tls.relation.as_mut().unwrap().issued = bag.clone();
    assert!(w.plan().tls.install.is_some());
    let w = installed(w, leaf_of(&bag, &c));
    let plan = w.plan();
    assert_eq!(
        plan.tls_config.as_ref().unwrap().mode,
        mode(QuorumTls::Unified, true)
    );
    assert_ne!(plan.fingerprint, w.s.local.started_with);
    assert_eq!(
        plan.restart_unit.request,
        Some(Some(crate::peers::restart::LockRequest::Acquire))
    );
    let cfg = &plan.tls_config.unwrap();
    assert!(cfg.lines.contains(&("portUnification", "true".into())));
    assert!(cfg.lines.contains(&("secureClientPortAddress", addr(1))));
    assert_eq!(cfg.certificate, Some(leaf_of(&bag, &c).fingerprint()));
}

#[test]
fn a_unit_that_never_started_does_not_start_without_its_certificate() {
    let c = csr(2, shared_key());
    let w = World::unit(2, &[0, 1, 2])
        .started(&[0, 1])
        .added(&[0, 1])
        .app("starting", "2")
        .ensemble(
            &[0, 1],
            &[
                (0, crate::fixtures::leading()),
                (1, crate::fixtures::following()),
            ],
        );
    let w = app_tls(related(w, Some(&c), ProviderBag::Absent), AppTls::TLS);
    let plan = w.plan();
    assert!(plan.workload.is_empty(), "{:?}", plan.workload);
    let st = status(&plan);
    assert_eq!(st.kind, StatusKind::Waiting);
    assert!(st.message.contains("certificate"), "{}", st.message);
    // With it, it starts TLS only, as the others run.
    let bag = issued(&c, 3);
    let mut w = w;
    w.s.tls.relation.as_mut().unwrap().issued = bag.clone();
    let w = installed(w, leaf_of(&bag, &c));
    let plan = w.plan();
    assert!(matches!(plan.workload[..], [WorkloadOp::Start { .. }]));
    assert_eq!(
        plan.tls_config.unwrap().mode,
        mode(QuorumTls::SslOnly, true)
    );
}

#[test]
fn a_revoked_or_expiring_certificate_is_asked_for_again_with_the_same_key() {
    let c = csr(1, shared_key());
    let revoked = ProviderBag::parse(Some(
        &serde_json::json!([{
            "certificate_signing_request": c.pem(),
            "certificate": ca().sign_now(&c, 5),
            "ca": ca().pem(),
            "revoked": true,
        }])
        .to_string(),
    ));
    let w = app_tls(related(healthy3(1), Some(&c), revoked), AppTls::TLS);
    let plan = w.plan();
    assert_eq!(plan.tls.publish_csr, Some(subject(1)));
    assert_eq!(plan.tls.install, None);

    // Valid for 30 days from 20 days ago: renewal (two thirds in) is due.
    let now = SystemTime::now();
    let leaf = ca().sign(
        &c,
        now - Duration::from_secs(20 * 86400),
        now + Duration::from_secs(10 * 86400),
        6,
    );
    let bag = issued_pem(&c, &leaf);
    let mut w = installed(
        app_tls(related(healthy3(1), Some(&c), bag.clone()), AppTls::TLS),
        leaf_of(&bag, &c),
    );
    w.s.event.now_secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(w.plan().tls.publish_csr, Some(subject(1)));
    // Not yet due at issue time.
    w.s.event.now_secs -= 15 * 86400;
    assert_eq!(w.plan().tls.publish_csr, None);
}

#[test]
fn a_certificate_that_does_not_match_the_key_or_has_no_ca_blocks_with_the_reason() {
    let c = csr(1, shared_key());
    let bare = ProviderBag::parse(Some(
        &serde_json::json!([{
            "certificate_signing_request": c.pem(),
            "certificate": ca().sign_now(&c, 5),
            "ca": "",
        }])
        .to_string(),
    ));
    let plan = app_tls(related(healthy3(1), Some(&c), bare), E0_ON).plan();
    assert_eq!(plan.tls.install, None);
    let st = status(&plan);
    assert_eq!(st.kind, StatusKind::Blocked);
    assert!(
        st.message
            .starts_with("cannot use the certificate from tls"),
        "{}",
        st.message
    );
}

#[test]
fn a_unit_reports_what_its_server_was_started_with_and_its_certificate() {
    let c = csr(1, shared_key());
    let bag = issued(&c, 7);
    let leaf = leaf_of(&bag, &c);
    let w = installed(
        app_tls(related(healthy3(1), Some(&c), bag), E0_ON),
        leaf.clone(),
    );
    let w = runs(w, mode(QuorumTls::Unified, true));
    let plan = w.plan();
    assert_eq!(plan.cluster_unit.unified, Some(true));
    assert_eq!(plan.cluster_unit.quorum, None, "still plaintext: no write");
    assert_eq!(plan.cluster_unit.tls_cert, Some(Some(leaf.fingerprint())));
    let w = runs(w, mode(QuorumTls::UnifiedSsl, true));
    let plan = w.plan();
    assert_eq!(plan.cluster_unit.quorum, Some(QuorumSetting::Ssl));
}

#[test]
fn the_client_ports_follow_what_the_server_serves_and_the_option() {
    let c = csr(1, shared_key());
    let bag = issued(&c, 7);
    let leaf = leaf_of(&bag, &c);
    let w = installed(
        app_tls(related(healthy3(1), Some(&c), bag), AppTls::TLS),
        leaf,
    );
    let w = runs(w, mode(QuorumTls::SslOnly, true));
    assert_eq!(w.plan().ports, Some([2182].into()));
    let mut keep = w.clone();
    keep.s.config = Ok(crate::config::CharmConfig {
        keep_plaintext_client_port: true,
        ..Default::default()
    });
    let keep = runs(keep, mode(QuorumTls::SslOnly, true));
    assert_eq!(keep.plan().ports, Some([2181, 2182].into()));
    // While switching, both.
    let w = runs(app_tls(w, E0_ON), mode(QuorumTls::Unified, true));
    assert_eq!(w.plan().ports, Some([2181, 2182].into()));
}

#[test]
fn after_a_turn_off_the_unit_restarts_without_tls_then_deletes_its_stores() {
    let c = csr(1, shared_key());
    let bag = issued(&c, 7);
    let leaf = leaf_of(&bag, &c);
    // The relation is gone and the leader wrote the last step.
    let mut w = installed(app_tls(healthy3(1), AppTls::PLAINTEXT), leaf);
    w.s.local.started_tls = Some(mode(QuorumTls::Plaintext, true));
    let plan = w.plan();
    assert!(!plan.tls.remove_files, "2182 is still served");
    assert_eq!(plan.tls_config.as_ref().unwrap(), &TlsConfig::plaintext());
    let w = runs(w, TlsConfig::PLAINTEXT_MODE);
    let plan = w.plan();
    assert!(plan.tls.remove_files);
    assert_eq!(plan.ports, None);
}

#[test]
fn the_leader_starts_the_switch_and_waits_for_every_certificate_before_the_quorum_step() {
    let c = csr(0, shared_key());
    let w = related(healthy3(0).leader(), Some(&c), ProviderBag::Absent);
    let plan = w.plan();
    assert_eq!(plan.cluster_app.tls, Some(E0_ON));

    let mut w = app_tls(w, E0_ON);
    for id in 0..3 {
        w = reports_mode(w, id, QuorumTls::Unified, id != 2);
    }
    let plan = w.plan();
    assert_eq!(plan.cluster_app.tls, None);
    assert!(plan
        .statuses
        .iter()
        .any(|s| s.message == "switching to TLS: waiting for the certificates of units 2"));
    let w = reports_mode(w, 2, QuorumTls::Unified, true);
    assert_eq!(
        w.plan().cluster_app.tls,
        Some(AppTls {
            quorum: QuorumSetting::Ssl,
            ..E0_ON
        })
    );
    // Not while a unit joins.
    let joining = w.clone().app("starting", "2");
    assert_eq!(joining.plan().cluster_app.tls, None);
}

#[test]
fn clients_move_to_tls_only_once_every_unit_runs_it_and_back_at_the_end_of_a_turn_off() {
    let mut w = app_tls(healthy3(0).leader(), AppTls::TLS);
    for id in 0..3 {
        w = reports_mode(w, id, QuorumTls::SslOnly, id != 1);
    }
    let s = w.snapshot();
    assert_eq!(
        client_tls(&s, Some(ClientTls::Disabled)),
        ClientTls::Disabled
    );
    let w = reports_mode(w, 1, QuorumTls::SslOnly, true);
    assert_eq!(client_tls(&w.snapshot(), None), ClientTls::Enabled);
    let mut off = app_tls(w, AppTls::PLAINTEXT);
    for id in 0..3 {
        off = reports_mode(off, id, QuorumTls::Plaintext, true);
    }
    assert_eq!(
        client_tls(&off.snapshot(), Some(ClientTls::Enabled)),
        ClientTls::Disabled
    );
}

#[test]
fn rendering_is_unchanged_for_units_without_tls() {
    // The fingerprint of a plaintext unit is what earlier revisions computed: a refresh
    // restarts nothing. (The digest without a certificate part is the old one.)
    let w = healthy3(1);
    let plan = w.plan();
    assert_eq!(plan.fingerprint, w.s.local.started_with);
    let _ = paths();
}

#[test]
fn a_unit_that_has_not_seen_the_relation_yet_does_not_restart_into_the_first_step() {
    // The leader wrote `tls=enabled` before this unit ran its own `-created` hook.
    let w = runs(healthy3(2), TlsConfig::PLAINTEXT_MODE);
    let w = app_tls(w, E0_ON);
    let plan = w.plan();
    assert_eq!(plan.fingerprint, w.s.local.started_with);
    assert!(plan.restart_unit.request.is_none());
}

#[test]
fn the_csr_names_the_units_address_on_every_client_relation_too() {
    let c = csr(1, shared_key());
    let mut w = related(healthy3(1), Some(&c), ProviderBag::Absent);
    assert_eq!(w.plan().tls.publish_csr, None, "only the cluster address");
    let client: std::net::IpAddr = "127.0.0.99".parse().unwrap();
    w.s.clients.addresses.insert(5, client);
    w.s.clients.addresses.insert(6, addr(1).parse().unwrap());
    let subject = w.plan().tls.publish_csr.expect("a new CSR");
    assert_eq!(subject.common_name(), addr(1));
    assert_eq!(
        subject.ips().iter().copied().collect::<Vec<_>>(),
        [addr(1).parse::<std::net::IpAddr>().unwrap(), client]
    );
}

/// The leader of a 3-unit ensemble that runs TLS everywhere, with its certificate issued,
/// and client relation 5, which holds `provided`.
fn leader_with_client(provided: &[(&str, &str)]) -> World {
    let c = csr(0, shared_key());
    let bag = issued(&c, 3);
    let mut w = related(app_tls(healthy3(0).leader(), AppTls::TLS), Some(&c), bag);
    for id in 0..3 {
        w = reports_mode(w, id, QuorumTls::SslOnly, true);
    }
    let raw: crate::hooktools::Databag = provided
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    w.s.clients.relations.insert(
        5,
        crate::client::ClientRelation {
            id: 5,
            remote_app: "kafka".into(),
            provided: crate::peers::zookeeper::Provided::from_bag(&raw),
            raw_provided: raw,
            ..Default::default()
        },
    );
    w
}

#[test]
fn clients_get_port_2182_tls_enabled_and_the_ca_together_once_every_unit_runs_tls() {
    let w = leader_with_client(&[("tls", "disabled")]);
    let access = super::super::clients::access(&w.snapshot());
    let a = &access[&5];
    assert_eq!((a.port, a.tls_field()), (2182, "enabled"));
    let ca_pem = a.ca.as_deref().expect("tls-ca");
    // The CA once (the provider sent it as `ca` and in `chain`), never the leaf.
    assert_eq!(ca_pem.matches("BEGIN CERTIFICATE").count(), 1, "{ca_pem}");
    let body = |pem: &str| {
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
    };
    assert_eq!(body(ca_pem), body(&ca().pem()));
    let fields = crate::client::publish::fields(
        5,
        &crate::peers::zookeeper::Chroot::parse("/kafka").unwrap(),
        &crate::passwords::Password::placeholder("client"),
        &crate::client::publish::endpoints(&[addr(0).parse().unwrap()], a),
        a,
    );
    assert_eq!(
        fields[&crate::peers::zookeeper::Field::Endpoints],
        format!("{}:2182", addr(0))
    );
    assert_eq!(fields[&crate::peers::zookeeper::Field::Tls], "enabled");
    assert_eq!(fields[&crate::peers::zookeeper::Field::TlsCa], ca_pem);

    // One unit still restarting into TLS: what the relation holds stays, both fields.
    let mut w = reports_mode(w, 2, QuorumTls::UnifiedSsl, true);
    assert_eq!(
        super::super::clients::access(&w.snapshot())[&5],
        crate::client::publish::Access::PLAINTEXT
    );
    let held = ca().pem().to_string();
    w.s.clients.relations.get_mut(&5).unwrap().provided =
        crate::peers::zookeeper::Provided::from_bag(
            &[("tls", "enabled"), ("tls-ca", held.as_str())]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
    let a = &super::super::clients::access(&w.snapshot())[&5];
    assert_eq!((a.port, a.tls), (2182, true));
    // Without a certificate of its own to take the CA from, the leader keeps the one
    // published.
    w.s.tls.relation = None;
    let a = &super::super::clients::access(&w.snapshot())[&5];
    assert_eq!(a.ca.as_deref(), Some(held.as_str()));
    // Only the leader publishes.
    w.s.leader = false;
    assert!(super::super::clients::access(&w.snapshot()).is_empty());
}
