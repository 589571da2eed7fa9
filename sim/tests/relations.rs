//! Several applications in one model: cross-application relations with Juju's event
//! sequence, bag access rules, interfaces, limits and scopes, scaling while related,
//! subordinates, `network-get -r`, and the JSON status.

mod common;

use common::{after, charm_with, hooks_of, mark, model, read, PROVIDER};
use zk_sim::{SettleLimits, StubSpec};

/// A provider that logs what its relation hooks see.
const PROV_BODY: &str = r#"
case "$H" in
  db-relation-*)
    echo "$U $H remote=$JUJU_REMOTE_UNIT app=$JUJU_REMOTE_APP rel=$JUJU_RELATION_ID" >> "$CTL/db"
    ;;
esac
if [ "$H" = db-relation-broken ]; then
  echo "$U ids=$(relation-ids db | tr '\n' ,) list=$(relation-list | tr '\n' ,) remote-unit=[$JUJU_REMOTE_UNIT] remote-app=$JUJU_REMOTE_APP" >> "$CTL/broken"
fi
"#;

fn fast() -> SettleLimits {
    SettleLimits::fast()
}

#[test]
fn integrate_runs_created_then_joined_and_changed_per_remote_unit_on_both_sides() {
    let c = charm_with(PROVIDER, PROV_BODY);
    let mut m = model(&c, 3);
    m.deploy(2).unwrap();
    let spec = StubSpec::new().requires("database", "pgsql");
    m.deploy_stub("client", &spec, 2).unwrap();
    m.settle(fast()).unwrap();
    let before = mark(&m);
    let id = m.integrate("prov", "client").unwrap();
    // Relation ids are unique in the model: the peer relation has 0.
    assert_eq!(id, 1);
    m.settle(fast()).unwrap();
    let log = after(&m.hook_log().unwrap(), before);
    // -created first; then, per remote unit (in the order they entered the scope), -joined
    // right followed by -changed.
    let check = |unit: &str, ep: &str, remotes: [&str; 2]| {
        let hooks = hooks_of(&log, unit);
        assert_eq!(hooks.len(), 5, "{unit}: {hooks:?}");
        assert_eq!(hooks[0], format!("{ep}-relation-created"), "{unit}");
        let mut seen = Vec::new();
        for pair in hooks[1..].chunks(2) {
            let remote = pair[0]
                .strip_prefix(&format!("{ep}-relation-joined "))
                .unwrap_or_else(|| panic!("{unit}: {hooks:?}"));
            assert_eq!(pair[1], format!("{ep}-relation-changed {remote}"), "{unit}");
            seen.push(remote.to_string());
        }
        seen.sort();
        assert_eq!(seen, remotes, "{unit}");
    };
    for p in ["prov/0", "prov/1"] {
        check(p, "db", ["client/0", "client/1"]);
    }
    for cl in ["client/0", "client/1"] {
        check(cl, "database", ["prov/0", "prov/1"]);
    }
    for r in log.iter().filter(|r| r.relation_id.is_some()) {
        let other = if r.unit.starts_with("prov") {
            "client"
        } else {
            "prov"
        };
        assert_eq!(r.env["JUJU_REMOTE_APP"], other, "{r}");
        assert!(r.env["JUJU_RELATION_ID"].ends_with(":1"), "{r}");
    }
    let rels = m.relations().unwrap();
    let db = rels.iter().find(|r| r.id == id).unwrap();
    assert_eq!(db.key, "client:database prov:db");
    assert_eq!(db.kind, "regular");
    // Each side's unit bags carry the addresses Juju seeds.
    let bags = m.relation_unit_bags(id).unwrap();
    assert_eq!(bags["client/1"]["private-address"], "127.0.0.14");
    assert_eq!(bags["prov/0"]["ingress-address"], "127.0.0.11");
}

#[test]
fn the_remote_leaders_app_bag_write_gives_an_app_level_changed_to_every_unit_of_the_other_side() {
    let c = charm_with(PROVIDER, PROV_BODY);
    let mut m = model(&c, 4);
    m.deploy(2).unwrap();
    m.deploy_stub("client", &StubSpec::new().requires("db", "pgsql"), 2)
        .unwrap();
    let id = m.integrate("client", "prov:db").unwrap();
    m.settle(fast()).unwrap();
    let before = mark(&m);
    m.set_relation_data("client/0", id, true, &[("database", "/myapp")])
        .unwrap();
    m.settle(fast()).unwrap();
    let log = after(&m.hook_log().unwrap(), before);
    let changed: Vec<(String, String)> = log
        .iter()
        .filter(|r| r.hook.ends_with("-relation-changed"))
        .map(|r| (r.unit.clone(), r.env["JUJU_REMOTE_UNIT"].clone()))
        .collect();
    let mut sorted = changed.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ("prov/0".to_string(), String::new()),
            ("prov/1".to_string(), String::new())
        ]
    );
    assert_eq!(
        m.relation_app_bag(id, "client").unwrap()["database"],
        "/myapp"
    );
    // A non-leader of the stub cannot write its application's bag.
    let r = m
        .exec("client/1", &["relation-set", "-r", "1", "--app", "x=y"])
        .unwrap();
    assert_eq!(r.code, Some(1));
    assert_eq!(r.stderr, "ERROR cannot write relation settings\n");
}

#[test]
fn each_side_reads_the_other_sides_bags_and_its_own_app_bag_only_as_leader() {
    let c = charm_with(PROVIDER, "");
    let mut m = model(&c, 5);
    m.deploy(2).unwrap();
    m.deploy_stub("client", &StubSpec::new().requires("db", "pgsql"), 1)
        .unwrap();
    let id = m.integrate("prov:db", "client:db").unwrap();
    m.settle(fast()).unwrap();
    let rel = id.to_string();
    m.set_relation_data("client/0", id, true, &[("database", "/a")])
        .unwrap();
    m.set_relation_data("prov/0", id, true, &[("endpoints", "e")])
        .unwrap();
    m.set_relation_data("prov/1", id, false, &[("ip", "x")])
        .unwrap();
    m.settle(fast()).unwrap();
    // The other side's application bag, from any unit.
    let got = m.relation_data_as("prov/1", id, "client").unwrap();
    assert_eq!(got["database"], "/a");
    let got = m.relation_data_as("client/0", id, "prov").unwrap();
    assert_eq!(got["endpoints"], "e");
    // Remote unit bags.
    let got = m.relation_data_as("client/0", id, "prov/1").unwrap();
    assert_eq!(got["ip"], "x");
    // Its own application's bag: the leader yes, a non-leader no.
    assert_eq!(
        m.relation_data_as("prov/0", id, "prov").unwrap()["endpoints"],
        "e"
    );
    let r = m
        .exec(
            "prov/1",
            &[
                "relation-get",
                "--format=json",
                "-r",
                &rel,
                "--app",
                "-",
                "prov",
            ],
        )
        .unwrap();
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "ERROR permission denied\n")
    );
    // An application that is not in the relation.
    let r = m
        .exec(
            "prov/1",
            &["relation-get", "-r", &rel, "--app", "-", "nobody"],
        )
        .unwrap();
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("not part of relation"), "{}", r.stderr);
    // relation-list --app names the other application.
    let out = m
        .exec_ok(
            "prov/1",
            &["relation-list", "--format=json", "--app", "-r", &rel],
        )
        .unwrap();
    assert_eq!(out, "\"client\"\n");
    let out = m
        .exec_ok("prov/1", &["relation-list", "--format=json", "-r", &rel])
        .unwrap();
    assert_eq!(out, "[\"client/0\"]\n");
}

#[test]
fn remove_relation_runs_departed_per_remote_unit_then_broken_which_still_lists_the_relation() {
    let c = charm_with(PROVIDER, PROV_BODY);
    let mut m = model(&c, 6);
    m.deploy(2).unwrap();
    m.deploy_stub("client", &StubSpec::new().requires("db", "pgsql"), 2)
        .unwrap();
    let id = m.integrate("prov", "client").unwrap();
    m.settle(fast()).unwrap();
    let before = mark(&m);
    assert_eq!(m.remove_relation("prov", Some("client")).unwrap(), id);
    m.settle(fast()).unwrap();
    let log = after(&m.hook_log().unwrap(), before);
    for p in ["prov/0", "prov/1"] {
        assert_eq!(
            hooks_of(&log, p),
            [
                "db-relation-departed client/0",
                "db-relation-departed client/1",
                "db-relation-broken"
            ],
            "{p}"
        );
    }
    assert_eq!(
        hooks_of(&log, "client/1"),
        [
            "db-relation-departed prov/0",
            "db-relation-departed prov/1",
            "db-relation-broken"
        ]
    );
    let departed = log
        .iter()
        .find(|r| r.unit == "prov/0" && r.hook == "db-relation-departed")
        .unwrap();
    assert_eq!(departed.env["JUJU_DEPARTING_UNIT"], "client/0");
    let mut broken: Vec<String> = read(&c.ctl.join("broken"))
        .lines()
        .map(str::to_string)
        .collect();
    broken.sort();
    assert_eq!(
        broken,
        [
            "prov/0 ids=db:1, list= remote-unit=[] remote-app=client",
            "prov/1 ids=db:1, list= remote-unit=[] remote-app=client",
        ]
    );
    // Afterwards the relation is gone.
    assert!(m.relations().unwrap().iter().all(|r| r.id != id));
    let out = m.exec_ok("prov/0", &["relation-ids", "db"]).unwrap();
    assert_eq!(out, "");
    // And it can be made again, with a new id.
    assert_eq!(m.integrate("prov", "client").unwrap(), id + 1);
}

#[test]
fn interfaces_must_match_roles_must_complement_and_limits_are_enforced() {
    let c = charm_with(PROVIDER, "");
    let mut m = model(&c, 7);
    m.deploy(1).unwrap();
    m.deploy_stub("other", &StubSpec::new().requires("db", "mysql"), 1)
        .unwrap();
    m.deploy_stub("twin", &StubSpec::new().provides("db", "pgsql"), 1)
        .unwrap();
    m.deploy_stub("one", &StubSpec::new().requires("db", "pgsql").limit(1), 1)
        .unwrap();
    m.deploy_stub("two", &StubSpec::new().provides("db", "pgsql"), 1)
        .unwrap();
    let err = |r: Result<u32, zk_sim::SimError>| r.unwrap_err().to_string();
    assert_eq!(
        err(m.integrate("prov:db", "other:db")),
        "cannot relate prov:db to other:db: interfaces do not match (\"pgsql\" and \"mysql\")"
    );
    assert_eq!(
        err(m.integrate("prov:db", "twin:db")),
        "cannot relate prov:db to twin:db: roles do not match (provider and provider; one must provide what the other requires)"
    );
    assert_eq!(
        err(m.integrate("prov", "other")),
        "no relations found between prov and other"
    );
    assert!(err(m.integrate("prov:cluster", "one")).contains("peer endpoint"));
    assert!(err(m.integrate("prov", "nope")).contains("\"nope\" not found"));
    m.integrate("one", "prov").unwrap();
    assert_eq!(
        err(m.integrate("one", "prov")),
        "relation one:db prov:db already exists"
    );
    assert_eq!(
        err(m.integrate("one", "two")),
        "establishing a new relation for one:db would exceed its maximum relation limit of 1"
    );
    // A container-scoped endpoint needs a subordinate.
    m.deploy_stub(
        "princ",
        &StubSpec {
            subordinate: false,
            ..StubSpec::new().subordinate_to("info", "juju-info")
        },
        1,
    )
    .unwrap();
    m.deploy_stub("info", &StubSpec::new().provides("info", "juju-info"), 1)
        .unwrap();
    assert!(err(m.integrate("princ", "info")).contains("needs a subordinate application"));
    // Peer relations cannot be removed; unknown ones are not found.
    assert!(m
        .remove_relation("0", None)
        .unwrap_err()
        .to_string()
        .contains("peer relation"));
    assert!(m.remove_relation("prov", Some("twin")).is_err());
}

#[test]
fn scaling_either_side_while_related_fans_out_joined_and_departed() {
    let c = charm_with(PROVIDER, PROV_BODY);
    let mut m = model(&c, 8);
    m.deploy(1).unwrap();
    m.deploy_stub("client", &StubSpec::new().requires("db", "pgsql"), 2)
        .unwrap();
    m.integrate("prov", "client").unwrap();
    m.settle(fast()).unwrap();
    let before = mark(&m);
    let new = m.add_units("prov", 1).unwrap();
    assert_eq!(new, ["prov/1"]);
    m.settle(fast()).unwrap();
    let log = after(&m.hook_log().unwrap(), before);
    assert_eq!(
        hooks_of(&log, "client/0"),
        ["db-relation-joined prov/1", "db-relation-changed prov/1"]
    );
    let p1 = hooks_of(&log, "prov/1");
    assert_eq!(
        &p1[..3],
        ["install", "cluster-relation-created", "db-relation-created"]
    );
    assert!(
        p1.contains(&"db-relation-joined client/1".to_string()),
        "{p1:?}"
    );
    let before = mark(&m);
    m.remove_unit("client/1").unwrap();
    m.settle(fast()).unwrap();
    let log = after(&m.hook_log().unwrap(), before);
    for p in ["prov/0", "prov/1"] {
        assert_eq!(hooks_of(&log, p), ["db-relation-departed client/1"], "{p}");
    }
    assert_eq!(
        hooks_of(&log, "client/1"),
        [
            "db-relation-departed prov/0",
            "db-relation-departed prov/1",
            "db-relation-broken",
            "stop",
            "remove"
        ]
    );
    let d = log
        .iter()
        .find(|r| r.unit == "prov/1" && r.hook == "db-relation-departed")
        .unwrap();
    assert_eq!(d.env["JUJU_DEPARTING_UNIT"], "client/1");
}

#[test]
fn a_subordinate_gets_one_unit_per_principal_and_goes_with_it() {
    let c = charm_with(PROVIDER, "");
    let mut m = model(&c, 9);
    m.deploy(2).unwrap();
    let agent = StubSpec::new().subordinate_to("cos", "cos_agent");
    assert!(
        m.deploy_stub("agent", &agent, 1).is_err(),
        "units of a subordinate"
    );
    m.deploy_stub("agent", &agent, 0).unwrap();
    m.settle(fast()).unwrap();
    let id = m.integrate("prov", "agent").unwrap();
    m.settle(fast()).unwrap();
    let units = m.status().unwrap();
    let of = |name: &str| units.iter().find(|u| u.unit == name).unwrap().clone();
    // Subordinate units are numbered as their principals enter the relation's scope.
    let sub_of = |p: &str| {
        units
            .iter()
            .find(|u| u.principal.as_deref() == Some(p))
            .unwrap_or_else(|| panic!("no subordinate on {p}"))
            .clone()
    };
    let (a0, a1) = (sub_of("prov/0"), sub_of("prov/1"));
    assert_eq!(a0.app, "agent");
    assert_ne!(a0.unit, a1.unit);
    // A subordinate lives on its principal's machine, at its address.
    assert_eq!(a0.address, of("prov/0").address);
    assert_eq!(a0.machine, of("prov/0").machine);
    assert_eq!(a1.address, of("prov/1").address);
    assert!(a0.leader != a1.leader);
    // Each side of the container-scoped relation sees exactly one unit: its partner.
    let rel = id.to_string();
    for (u, partner) in [
        ("prov/0", a0.unit.as_str()),
        ("prov/1", a1.unit.as_str()),
        (a1.unit.as_str(), "prov/1"),
    ] {
        let out = m
            .exec_ok(u, &["relation-list", "--format=json", "-r", &rel])
            .unwrap();
        assert_eq!(out, format!("[\"{partner}\"]\n"), "{u}");
    }
    let r = m
        .exec_ok(&a0.unit, &["printenv", "JUJU_PRINCIPAL_UNIT"])
        .unwrap();
    assert_eq!(r, "prov/0\n");
    // A new principal unit gets its subordinate.
    m.add_units("prov", 1).unwrap();
    m.settle(fast()).unwrap();
    let units = m.status().unwrap();
    let a2 = units.iter().find(|u| u.unit == "agent/2").unwrap();
    assert_eq!(a2.principal.as_deref(), Some("prov/2"));
    // Removing a principal removes its subordinate: departed, broken, stop, remove.
    let before = mark(&m);
    m.remove_unit("prov/0").unwrap();
    m.settle(fast()).unwrap();
    let log = after(&m.hook_log().unwrap(), before);
    assert_eq!(
        hooks_of(&log, &a0.unit),
        [
            "cos-relation-departed prov/0",
            "cos-relation-broken",
            "stop",
            "remove"
        ]
    );
    let names: Vec<String> = m.status().unwrap().into_iter().map(|u| u.unit).collect();
    assert!(!names.contains(&a0.unit) && !names.contains(&"prov/0".to_string()));
    // Removing the relation removes every subordinate unit.
    m.remove_relation("prov", Some("agent")).unwrap();
    m.settle(fast()).unwrap();
    let names: Vec<String> = m.status().unwrap().into_iter().map(|u| u.unit).collect();
    assert_eq!(names, ["prov/1", "prov/2"]);
    assert!(m.relations().unwrap().iter().all(|r| r.id != id));
}

#[test]
fn network_get_with_a_relation_answers_the_units_address_in_jujus_shape() {
    let c = charm_with(PROVIDER, "");
    let mut m = model(&c, 10);
    m.deploy(2).unwrap();
    m.deploy_stub("client", &StubSpec::new().requires("db", "pgsql"), 1)
        .unwrap();
    let id = m.integrate("prov", "client").unwrap();
    m.settle(fast()).unwrap();
    let rel = format!("db:{id}");
    let out = m
        .exec_ok(
            "prov/1",
            &["network-get", "--format", "json", "-r", &rel, "db"],
        )
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["bind-addresses"][0]["addresses"][0]["value"],
        "127.0.0.12"
    );
    assert_eq!(
        v["bind-addresses"][0]["addresses"][0]["cidr"],
        "127.0.0.0/8"
    );
    assert_eq!(v["ingress-addresses"], serde_json::json!(["127.0.0.12"]));
    assert_eq!(v["egress-subnets"], serde_json::json!(["127.0.0.12/32"]));
    let out = m
        .exec_ok(
            "client/0",
            &[
                "network-get",
                "--ingress-address",
                "-r",
                &id.to_string(),
                "db",
            ],
        )
        .unwrap();
    assert_eq!(out, "127.0.0.13\n");
    let r = m
        .exec("prov/1", &["network-get", "-r", "db:99", "db"])
        .unwrap();
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            Some(2),
            "ERROR invalid value \"db:99\" for option -r: relation not found\n"
        )
    );
}

#[test]
fn stub_hooks_are_recorded_but_run_nothing_and_exec_commits_only_on_success() {
    let c = charm_with(PROVIDER, "");
    let mut m = model(&c, 11);
    m.deploy(1).unwrap();
    m.deploy_stub("client", &StubSpec::new().requires("db", "pgsql"), 1)
        .unwrap();
    let id = m.integrate("prov", "client").unwrap();
    m.settle(fast()).unwrap();
    let log = m.hook_log().unwrap();
    assert!(log
        .iter()
        .filter(|r| r.unit == "client/0")
        .all(|r| r.outcome == zk_sim::RunOutcome::Skipped));
    // A failing exec's relation write is discarded, as a failing hook's would be.
    let r = m
        .exec(
            "client/0",
            &[
                "sh",
                "-c",
                &format!("relation-set -r {id} doomed=1; exit 3"),
            ],
        )
        .unwrap();
    assert_eq!((r.code, r.committed), (Some(3), false));
    assert!(!m.relation_unit_bags(id).unwrap()["client/0"].contains_key("doomed"));
    assert!(m.status().unwrap().iter().all(|u| u.error.is_none()));
}
