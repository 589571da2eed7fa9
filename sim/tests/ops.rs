//! Charms written with ops run in the model: the ops requirer of `tests/charms/ops-requirer`
//! against a scripted provider stub, and every hook tool's output fed through ops' own
//! command wrappers and parsers (`ops.hookcmds`, ops' model backend), tool family by family.
//!
//! These tests need `ops` from PyPI once (see `common::ops`); afterwards they run offline.

mod common;

use common::ops::{ops_python, requirer_charm};
use common::{charm_with, options, PROVIDER};
use zk_sim::{Model, RunOutcome, SettleLimits, StubSpec};

fn fast() -> SettleLimits {
    SettleLimits::fast()
}

/// Runs Python `code` with ops importable, as a command in `unit`'s hook context (its tools
/// on PATH, its context id in the environment); its stdout. The code may use `h`
/// (`ops.hookcmds`), `backend` (ops' model backend) and `ops`.
fn py(m: &mut Model, unit: &str, code: &str) -> String {
    let python = ops_python();
    let prelude =
        "import json, ops\nfrom ops import hookcmds as h\nbackend = ops.model._ModelBackend()\n";
    let script = format!("{prelude}{code}");
    let r = m
        .exec(unit, &[python.to_str().unwrap(), "-c", &script])
        .unwrap();
    assert!(
        r.success(),
        "python on {unit} failed ({:?}): {}\n--- code ---\n{code}",
        r.reason,
        r.stderr
    );
    r.stdout
}

/// prov (the shell charm, 2 units) related over `db` to a stub `client` (1 unit).
fn model_with_relation(seed: u64) -> (common::TestCharm, Model, u32) {
    let c = charm_with(PROVIDER, "");
    let mut m = common::model(&c, seed);
    m.deploy(2).unwrap();
    m.deploy_stub("client", &StubSpec::new().requires("db", "pgsql"), 1)
        .unwrap();
    let id = m.integrate("prov", "client").unwrap();
    m.settle(fast()).unwrap();
    (c, m, id)
}

#[test]
fn an_ops_requirer_reads_a_stub_providers_data_through_secrets_and_reports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let charm = requirer_charm(tmp.path());
    let mut m = Model::create_empty(tmp.path().join("model"), 31, options()).unwrap();
    let provider = StubSpec::new()
        .provides("zookeeper", "zookeeper")
        .peer("cluster", "cluster");
    m.deploy_stub("zookeeper", &provider, 1).unwrap();
    m.deploy_app(&charm, Some("kafka"), 2).unwrap();
    m.settle(fast()).unwrap();
    let status = |m: &Model| -> Vec<(String, String, String)> {
        m.status()
            .unwrap()
            .into_iter()
            .filter(|u| u.app == "kafka")
            .map(|u| (u.unit, u.workload, u.message))
            .collect()
    };
    for (u, w, msg) in status(&m) {
        assert_eq!(
            (w.as_str(), msg.as_str()),
            ("blocked", "needs a zookeeper relation"),
            "{u}"
        );
    }
    let id = m.integrate("kafka", "zookeeper").unwrap();
    m.settle(fast()).unwrap();
    let asked = m.relation_app_bag(id, "kafka").unwrap();
    assert_eq!(asked["database"], "/ops-app");
    let requested: Vec<String> = serde_json::from_str(&asked["requested-secrets"]).unwrap();
    assert_eq!(requested, ["username", "password", "tls", "tls-ca", "uris"]);
    for (u, w, msg) in status(&m) {
        assert_eq!(
            (w.as_str(), msg.as_str()),
            ("waiting", "waiting for credentials"),
            "{u}"
        );
    }
    // The provider stub's leader does what a zookeeper provider does (reference §1.6).
    let label = format!("zookeeper.{id}.user.secret");
    let uri = m
        .exec_ok(
            "zookeeper/0",
            &[
                "secret-add",
                "--label",
                &label,
                "--owner",
                "application",
                &format!("username=relation-{id}"),
                "password=Zx81lQ0pWbcuVnTa9ydSs7Lk3mRfEhJg",
                "uris=127.0.0.1:2181/ops-app",
            ],
        )
        .unwrap()
        .trim()
        .to_string();
    m.exec_ok(
        "zookeeper/0",
        &["secret-grant", "--relation", &id.to_string(), &uri],
    )
    .unwrap();
    m.set_relation_data(
        "zookeeper/0",
        id,
        true,
        &[
            ("secret-user", uri.as_str()),
            ("endpoints", "127.0.0.1:2181"),
            ("database", "/ops-app"),
        ],
    )
    .unwrap();
    m.settle(fast()).unwrap();
    let want = format!("relation-{id} on 127.0.0.1:2181/ops-app");
    for (u, w, msg) in status(&m) {
        assert_eq!((w.as_str(), msg.as_str()), ("active", want.as_str()), "{u}");
    }
    // Each requirer unit pinned its own label on the provider's secret.
    let their = format!("database.{id}.user.secret");
    let view = m.show_secret(&uri, false).unwrap();
    for u in ["kafka/0", "kafka/1"] {
        assert_eq!(view.consumers[u], (Some(their.clone()), 1), "{u}");
    }
    // A new revision: secret-changed, the requirer refreshes and reports the new uris.
    m.exec_ok(
        "zookeeper/0",
        &[
            "secret-set",
            &uri,
            &format!("username=relation-{id}"),
            "password=Zx81lQ0pWbcuVnTa9ydSs7Lk3mRfEhJg",
            "uris=127.0.0.1:2181,127.0.0.2:2181/ops-app",
        ],
    )
    .unwrap();
    m.settle(fast()).unwrap();
    let want = format!("relation-{id} on 127.0.0.1:2181,127.0.0.2:2181/ops-app");
    for (u, w, msg) in status(&m) {
        assert_eq!((w.as_str(), msg.as_str()), ("active", want.as_str()), "{u}");
    }
    let log = m.hook_log().unwrap();
    for u in ["kafka/0", "kafka/1"] {
        let r = log
            .iter()
            .find(|r| r.unit == u && r.hook == "secret-changed")
            .unwrap_or_else(|| panic!("{u} got no secret-changed"));
        assert_eq!(r.env["JUJU_SECRET_LABEL"], their);
    }
    // Both consumers moved on: revision 1 is obsolete, the stub's leader was told.
    assert!(log.iter().any(|r| r.unit == "zookeeper/0"
        && r.hook == "secret-remove"
        && r.env["JUJU_SECRET_REVISION"] == "1"));
    // ops' logging goes through juju-log.
    let debug = m.debug_log(Some("kafka/0"), None).unwrap().join("\n");
    assert!(
        debug.contains(&format!("credentials published on {their}")),
        "{debug}"
    );
    // Removing the relation: -departed, -broken, and the requirer is blocked again.
    m.remove_relation("kafka", Some("zookeeper")).unwrap();
    m.settle(fast()).unwrap();
    for (u, w, msg) in status(&m) {
        assert_eq!(
            (w.as_str(), msg.as_str()),
            ("blocked", "needs a zookeeper relation"),
            "{u}"
        );
    }
    // Actions through ops: params with defaults, log, nested results, failure.
    let r = m.run_action("kafka/1", "echo", &[("text", "hi")]).unwrap();
    assert!(r.completed(), "{r:?}");
    assert_eq!(r.get("echo"), Some("hi"));
    assert_eq!(r.get("nested.unit"), Some("kafka/1"));
    assert_eq!(r.logs, ["echoing hi"]);
    let r = m
        .run_action("kafka/0", "echo", &[("fail", "true")])
        .unwrap();
    assert_eq!(
        (r.status.as_str(), r.message.as_str()),
        ("failed", "asked to fail on hello")
    );
    let bad: Vec<String> = m
        .hook_log()
        .unwrap()
        .iter()
        .filter(|r| r.unit.starts_with("kafka/") && r.kind == "hook")
        .filter(|r| r.outcome != RunOutcome::Ok)
        .map(|r| r.to_string())
        .collect();
    assert!(bad.is_empty(), "ops hooks that did not succeed: {bad:?}");
}

#[test]
fn ops_parses_the_relation_tools() {
    let (_c, mut m, id) = model_with_relation(41);
    let out = py(
        &mut m,
        "prov/0",
        r#"
ids = h.relation_ids('db')
print(ids)
rid = int(ids[0].split(':')[-1])
print(h.relation_list(rid, endpoint='db'))
print(h.relation_list(rid, endpoint='db', app=True))
h.relation_set({'a': '1', 'gone': ''}, rid, endpoint='db')
h.relation_set({'k': 'v'}, rid, endpoint='db', app=True)
own = h.relation_get(rid, endpoint='db', unit='prov/0')
print(own['a'], own['private-address'], 'gone' in own)
print(h.relation_get(rid, endpoint='db', key='a', unit='prov/0'))
print(h.relation_get(rid, endpoint='db', unit='client', app=True))
print(h.relation_get(rid, endpoint='db', unit='prov', app=True))
print(h.relation_model_get(rid, endpoint='db').uuid == backend.model_uuid)
print(backend.relation_ids('db'), backend.relation_remote_app_name(rid))
try:
    backend.relation_get(99, 'prov/0', False)
except ops.RelationNotFoundError as e:
    print('RelationNotFoundError')
"#,
    );
    assert_eq!(
        out,
        format!(
            "['db:{id}']\n['client/0']\nclient\n1 127.0.0.11 False\n1\n{{}}\n{{'k': 'v'}}\nTrue\n[{id}] client\nRelationNotFoundError\n"
        )
    );
    // The writes of a successful run commit, as a hook's do.
    assert_eq!(m.relation_unit_bags(id).unwrap()["prov/0"]["a"], "1");
    assert_eq!(m.relation_app_bag(id, "prov").unwrap()["k"], "v");
    // A non-leader is refused the application bag, and ops says so.
    let out = py(
        &mut m,
        "prov/1",
        &format!(
            r#"
try:
    h.relation_get({id}, endpoint='db', unit='prov', app=True)
except h.Error as e:
    print(e.returncode, e.stderr.strip())
try:
    backend.relation_set({id}, {{'x': 'y'}}, True)
except ops.ModelError as e:
    print(type(e).__name__, str(e).strip())
"#
        ),
    );
    assert_eq!(
        out,
        "1 ERROR permission denied\nModelError ERROR cannot write relation settings\n"
    );
}

#[test]
fn ops_parses_config_leadership_status_log_and_version() {
    let (_c, mut m, _) = model_with_relation(42);
    let out = py(
        &mut m,
        "prov/0",
        r#"
print(h.config_get(), h.config_get('tick-time'), h.is_leader())
h.status_set('active', 'all good')
s = h.status_get()
print(s.status, s.message, s.status_data)
h.status_set('blocked', 'app message', app=True)
a = h.status_get(app=True)
print(a.status, a.message)
h.juju_log('hello from ops', level='WARNING')
h.app_version_set('1.2.3')
print(backend.is_leader(), backend.status_get(is_app=False))
"#,
    );
    assert_eq!(
        out,
        "{'log-level': 'INFO', 'tick-time': 2000} 2000 True\nactive all good {}\nblocked app message\nTrue {'status': 'active', 'message': 'all good'}\n"
    );
    let out = py(&mut m, "prov/1", "print(h.is_leader())\n");
    assert_eq!(out, "False\n");
    let debug = m.debug_log(Some("prov/0"), None).unwrap().join("\n");
    assert!(
        debug.contains("WARNING unit.prov/0.juju-log hello from ops"),
        "{debug}"
    );
    let apps = m.applications().unwrap();
    let prov = apps.iter().find(|a| a.name == "prov").unwrap();
    assert_eq!(
        (prov.version.as_str(), prov.status.as_str()),
        ("1.2.3", "blocked")
    );
}

#[test]
fn ops_parses_network_get_and_goal_state() {
    let (_c, mut m, id) = model_with_relation(43);
    let out = py(
        &mut m,
        "prov/1",
        &format!(
            r#"
n = h.network_get('db', relation_id={id})
b = n.bind_addresses[0]
print(b.interface_name, b.addresses[0].value, b.addresses[0].cidr, list(n.ingress_addresses), list(n.egress_subnets))
print(backend.network_get('db')['ingress-addresses'])
g = h.goal_state()
print(sorted(g.units), {{k: sorted(v) for k, v in g.relations.items()}})
print(sorted({{u.status for u in g.units.values()}}), backend.planned_units())
"#
        ),
    );
    assert_eq!(
        out,
        "lo 127.0.0.12 127.0.0.0/8 ['127.0.0.12'] ['127.0.0.12/32']\n['127.0.0.12']\n['prov/0', 'prov/1'] {'db': ['client', 'client/0']}\n['unknown'] 2\n"
    );
}

#[test]
fn ops_parses_the_port_and_state_tools() {
    let (_c, mut m, _) = model_with_relation(44);
    py(
        &mut m,
        "prov/0",
        "h.open_port('tcp', 2181)\nh.open_port('udp', 1000, to_port=2000)\nh.open_port('icmp')\nh.state_set({'a': '1', 'b': 'two'})\nprint(h.state_get(None), h.state_get('b'))\n",
    );
    let out = py(
        &mut m,
        "prov/0",
        r#"
print(h.opened_ports())
print(sorted((p.protocol, p.port) for p in backend.opened_ports()))
h.close_port('udp', 1000, to_port=2000)
h.state_delete('a')
print(h.state_get(None))
"#,
    );
    assert_eq!(
        out,
        "[Port(protocol='icmp', port=None, to_port=None, endpoints=None), Port(protocol='udp', port=1000, to_port=2000, endpoints=None), Port(protocol='tcp', port=2181, to_port=None, endpoints=None)]\n[('icmp', None), ('tcp', 2181), ('udp', 1000)]\n{'b': 'two'}\n"
    );
    let st = m.state().unwrap();
    let ports: Vec<&String> = st.units["prov/0"].ports.iter().collect();
    assert_eq!(ports, ["2181/tcp", "icmp"]);
    assert_eq!(st.units["prov/0"].state.keys().collect::<Vec<_>>(), ["b"]);
}

#[test]
fn ops_parses_the_secret_tools_as_an_owner_and_as_a_consumer() {
    let (_c, mut m, id) = model_with_relation(45);
    let out = py(
        &mut m,
        "prov/0",
        &format!(
            r#"
uri = h.secret_add({{'password': 'pw', 'username': 'u'}}, label='db.user', description='d',
                   rotate='daily', expire='2031-01-01T00:00:00Z')
print(uri.startswith('secret://' + backend.model_uuid + '/'))
info = h.secret_info_get(label='db.user')
print(info.id == uri.rsplit('/', 1)[-1], info.label, info.revision, info.rotation, info.description, info.expiry)
print(h.secret_get(id=uri), h.secret_ids() == [info.id])
h.secret_grant(uri, {id})
"#
        ),
    );
    assert_eq!(
        out,
        "True\nTrue db.user 1 daily d 2031-01-01 00:00:00+00:00\n{'password': 'pw', 'username': 'u'} True\n"
    );
    let uri = m.show_secret("db.user", false).unwrap().uri;
    // As a consumer: the stub's unit pins a label, reads by it, is refused what it may not.
    let out = py(
        &mut m,
        "client/0",
        &format!(
            r#"
print(h.secret_get(id='{uri}', label='mine'))
print(h.secret_get(label='mine', refresh=True))
try:
    backend.secret_get(label='other')
except ops.SecretNotFoundError:
    print('SecretNotFoundError')
try:
    backend.secret_info_get(label='mine')
except ops.SecretNotFoundError:
    print('info: SecretNotFoundError')
"#
        ),
    );
    assert_eq!(
        out,
        "{'password': 'pw', 'username': 'u'}\n{'password': 'pw', 'username': 'u'}\nSecretNotFoundError\ninfo: SecretNotFoundError\n"
    );
    // The owner updates through ops' backend (content via key#file=), and removes a revision.
    let out = py(
        &mut m,
        "prov/0",
        &format!(
            r#"
backend.secret_set('{uri}', content={{'password': 'pw2', 'username': 'u'}})
print(backend.secret_get(id='{uri}', peek=True)['password'])
"#
        ),
    );
    assert_eq!(out, "pw2\n");
    let out = py(
        &mut m,
        "client/0",
        "print(h.secret_get(label='mine')['password'], h.secret_get(label='mine', peek=True)['password'])\n",
    );
    assert_eq!(out, "pw pw2\n");
    py(
        &mut m,
        "prov/0",
        &format!(
            "h.secret_revoke('{uri}', relation_id={id})\nh.secret_remove('{uri}', revision=1)\n"
        ),
    );
    let out = py(
        &mut m,
        "client/0",
        r#"
try:
    h.secret_get(label='mine')
except h.Error as e:
    print(e.returncode, e.stderr.strip())
"#,
    );
    assert_eq!(out, "1 ERROR permission denied\n");
    assert_eq!(m.show_secret(&uri, false).unwrap().revisions, [2]);
}
