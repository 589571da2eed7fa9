//! Juju secrets in the model: owners and consumers, labels, revisions and tracking,
//! `secret-changed` and `secret-remove`, grants scoped to relations, leadership, the
//! transactional commit, and the tools' flags, formats and errors.

mod common;

use common::{after, charm_with, hooks_of, mark, model, PROVIDER};
use zk_sim::{Model, RunOutcome, SettleLimits, StubSpec};

fn fast() -> SettleLimits {
    SettleLimits::fast()
}

/// prov (2 units, the charm) related to client (2 stub units); returns the relation id.
fn related(c: &common::TestCharm, seed: u64) -> (Model, u32) {
    let mut m = model(c, seed);
    m.deploy(2).unwrap();
    m.deploy_stub("client", &StubSpec::new().requires("db", "pgsql"), 2)
        .unwrap();
    let id = m.integrate("prov", "client").unwrap();
    m.settle(fast()).unwrap();
    (m, id)
}

fn add_user_secret(m: &mut Model, id: u32, password: &str) -> String {
    let label = format!("db.{id}.user.secret");
    let uri = m
        .exec_ok(
            "prov/0",
            &[
                "secret-add",
                "--label",
                &label,
                "--owner",
                "application",
                "username=relation-1",
                &format!("password={password}"),
            ],
        )
        .unwrap()
        .trim()
        .to_string();
    m.exec_ok("prov/0", &["secret-grant", "-r", &id.to_string(), &uri])
        .unwrap();
    uri
}

#[test]
fn a_consumer_tracks_its_revision_until_refresh_and_gets_secret_changed_for_a_new_one() {
    let c = charm_with(PROVIDER, "");
    let (mut m, id) = related(&c, 21);
    let uri = add_user_secret(&mut m, id, "pw1");
    let uuid = m.state().unwrap().model_uuid;
    assert!(uri.starts_with(&format!("secret://{uuid}/")), "{uri}");
    let sid = uri.rsplit('/').next().unwrap().to_string();
    assert_eq!(sid.len(), 20);
    // The requirer pins its own label on first sight, then reads by it.
    let label = "database.1.user.secret";
    let first = m
        .secret_get_as("client/0", &[&uri, "--label", label])
        .unwrap();
    assert_eq!(first["password"], "pw1");
    assert_eq!(
        m.secret_get_as("client/0", &["--label", label]).unwrap()["password"],
        "pw1"
    );
    // The owner's label means nothing to a consumer.
    let r = m
        .exec("client/0", &["secret-get", "--label", "db.1.user.secret"])
        .unwrap();
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            Some(1),
            "ERROR consumer label \"db.1.user.secret\" not found\n"
        )
    );
    m.settle(fast()).unwrap();
    let before = mark(&m);
    m.exec_ok(
        "prov/0",
        &["secret-set", &uri, "username=relation-1", "password=pw2"],
    )
    .unwrap();
    m.settle(fast()).unwrap();
    let log = after(&m.hook_log().unwrap(), before);
    let changed: Vec<&zk_sim::HookRecord> =
        log.iter().filter(|r| r.hook == "secret-changed").collect();
    assert_eq!(changed.len(), 1, "only the tracking consumer: {log:?}");
    assert_eq!(changed[0].unit, "client/0");
    assert_eq!(changed[0].env["JUJU_SECRET_ID"], format!("secret:{sid}"));
    assert_eq!(changed[0].env["JUJU_SECRET_LABEL"], label);
    assert!(!changed[0].env.contains_key("JUJU_SECRET_REVISION"));
    // Still the tracked revision; --peek reads the latest without moving; --refresh moves.
    let get = |m: &mut Model, extra: &[&str]| {
        let mut a = vec!["--label", label];
        a.extend_from_slice(extra);
        m.secret_get_as("client/0", &a).unwrap()["password"].clone()
    };
    assert_eq!(get(&mut m, &[]), "pw1");
    assert_eq!(get(&mut m, &["--peek"]), "pw2");
    assert_eq!(get(&mut m, &[]), "pw1");
    // The owner reads the latest, by URI or owner label, leader or not.
    assert_eq!(
        m.secret_get_as("prov/1", &["--label", "db.1.user.secret"])
            .unwrap()["password"],
        "pw2"
    );
    let before = mark(&m);
    assert_eq!(get(&mut m, &["--refresh"]), "pw2");
    assert_eq!(get(&mut m, &[]), "pw2");
    // Revision 1 is tracked by no one now: the owner's leader is told to remove it.
    m.settle(fast()).unwrap();
    let log = after(&m.hook_log().unwrap(), before);
    let removes: Vec<&zk_sim::HookRecord> =
        log.iter().filter(|r| r.hook == "secret-remove").collect();
    assert_eq!(removes.len(), 1, "{log:?}");
    assert_eq!(removes[0].unit, "prov/0");
    assert_eq!(removes[0].env["JUJU_SECRET_REVISION"], "1");
    assert_eq!(removes[0].env["JUJU_SECRET_LABEL"], "db.1.user.secret");
    let view = m.show_secret(&uri, false).unwrap();
    assert_eq!((view.revision, view.content.clone()), (2, None));
    assert_eq!(view.consumers["client/0"], (Some(label.to_string()), 2));
    assert_eq!(
        view.grants,
        [(
            "application-client".to_string(),
            "client:db prov:db".to_string()
        )]
    );
    // The owner removes the obsolete revision.
    m.exec_ok("prov/0", &["secret-remove", &uri, "--revision", "1"])
        .unwrap();
    assert_eq!(m.show_secret(&uri, true).unwrap().revisions, [2]);
    assert_eq!(
        m.show_secret("db.1.user.secret", true)
            .unwrap()
            .content
            .unwrap()["password"],
        "pw2"
    );
}

#[test]
fn identical_content_makes_no_revision_and_an_untracked_old_revision_is_obsolete_at_once() {
    let c = charm_with(PROVIDER, "");
    let (mut m, id) = related(&c, 22);
    let uri = add_user_secret(&mut m, id, "pw1");
    m.settle(fast()).unwrap();
    m.exec_ok(
        "prov/0",
        &["secret-set", &uri, "username=relation-1", "password=pw1"],
    )
    .unwrap();
    assert_eq!(m.show_secret(&uri, false).unwrap().revision, 1);
    let before = mark(&m);
    // Two secret-set calls in one run: one revision, the last content whole.
    m.exec_ok(
        "prov/0",
        &[
            "sh",
            "-c",
            &format!("secret-set {uri} password=a && secret-set {uri} password=b other=c"),
        ],
    )
    .unwrap();
    let v = m.show_secret(&uri, true).unwrap();
    assert_eq!(v.revision, 2);
    let content = v.content.unwrap();
    assert_eq!(
        content
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
        ["other=c", "password=b"]
    );
    m.settle(fast()).unwrap();
    let log = after(&m.hook_log().unwrap(), before);
    assert_eq!(hooks_of(&log, "prov/0"), ["secret-remove"]);
    assert!(log.iter().all(|r| r.hook != "secret-changed"));
}

#[test]
fn a_failed_hooks_secret_and_relation_writes_are_discarded_together() {
    // On the client's app-level change, the leader publishes a secret and its URI; the first
    // attempt fails after writing both.
    let body = r#"
if [ "$H" = db-relation-changed ] && [ -z "$JUJU_REMOTE_UNIT" ] && [ "$(is-leader)" = True ]; then
  uri=$(secret-add --label published password=pw)
  secret-grant -r "$JUJU_RELATION_ID" "$uri"
  relation-set -r "$JUJU_RELATION_ID" --app secret-user="$uri"
  if [ ! -e "$CTL/failed" ]; then touch "$CTL/failed"; exit 1; fi
fi
"#;
    let c = charm_with(PROVIDER, body);
    let (mut m, id) = related(&c, 23);
    m.set_relation_data("client/0", id, true, &[("database", "/x")])
        .unwrap();
    let failed = loop {
        let r = m.step().unwrap().expect("the failing hook should come");
        if r.outcome == RunOutcome::Failed {
            break r;
        }
    };
    assert_eq!(
        (failed.unit.as_str(), failed.hook.as_str()),
        ("prov/0", "db-relation-changed")
    );
    assert!(m.secrets().unwrap().is_empty());
    assert!(m.relation_app_bag(id, "prov").unwrap().is_empty());
    m.settle(fast()).unwrap();
    let secrets = m.secrets().unwrap();
    assert_eq!(secrets.len(), 1);
    let bag = m.relation_app_bag(id, "prov").unwrap();
    assert_eq!(bag["secret-user"], secrets[0].uri);
    let got = m
        .secret_get_as("client/1", &[&secrets[0].uri, "--label", "mine"])
        .unwrap();
    assert_eq!(got["password"], "pw");
}

#[test]
fn only_the_leader_manages_application_secrets_and_any_unit_its_own() {
    let c = charm_with(PROVIDER, "");
    let (mut m, id) = related(&c, 24);
    let uri = add_user_secret(&mut m, id, "pw1");
    let r = m.exec("prov/1", &["secret-add", "abc=1"]).unwrap();
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "ERROR this unit is not the leader\n")
    );
    for argv in [
        vec!["secret-set", uri.as_str(), "password=x"],
        vec!["secret-remove", uri.as_str()],
        vec!["secret-grant", "-r", "1", uri.as_str()],
        vec!["secret-revoke", "--app", "client", uri.as_str()],
    ] {
        let r = m.exec("prov/1", &argv).unwrap();
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (Some(1), "ERROR this unit is not the leader\n"),
            "{argv:?}"
        );
    }
    // A non-leader reads its application's secret (latest) but does not see its metadata.
    assert_eq!(
        m.secret_get_as("prov/1", &[&uri]).unwrap()["password"],
        "pw1"
    );
    let r = m
        .exec(
            "prov/1",
            &["secret-info-get", "--label", "db.1.user.secret"],
        )
        .unwrap();
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "ERROR secret \"db.1.user.secret\" not found\n")
    );
    // Its own unit secret is its to manage.
    let mine = m
        .exec_ok(
            "prov/1",
            &["secret-add", "--owner", "unit", "--label", "own", "abc=1"],
        )
        .unwrap();
    let ids = m
        .exec_ok("prov/1", &["secret-ids", "--format=json"])
        .unwrap();
    let sid = mine.trim().rsplit('/').next().unwrap().to_string();
    assert_eq!(ids, format!("[\"{sid}\"]\n"));
    m.exec_ok("prov/1", &["secret-set", mine.trim(), "abc=2"])
        .unwrap();
    assert_eq!(m.show_secret(mine.trim(), false).unwrap().owner, "prov/1");
    // Another unit of the application cannot touch it.
    let r = m
        .exec("prov/0", &["secret-set", mine.trim(), "abc=3"])
        .unwrap();
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "ERROR permission denied\n")
    );
}

#[test]
fn an_application_secret_write_is_refused_at_commit_when_leadership_moved() {
    let body = r#"
if [ "$A" = do ]; then
  secret-add --label late abc=1 > /dev/null
  touch "$CTL/wrote"
  while [ ! -e "$CTL/go" ]; do sleep 0.02; done
fi
"#;
    let actions = "do:\n  description: x\n";
    let c = charm_with(PROVIDER, body);
    std::fs::write(c.charm.join("actions.yaml"), actions).unwrap();
    let mut m = model(&c, 25);
    m.deploy(2).unwrap();
    m.settle(fast()).unwrap();
    let dir = m.dir().to_path_buf();
    let ctl = c.ctl.clone();
    let mover = std::thread::spawn(move || {
        while !ctl.join("wrote").exists() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let store = zk_sim::state::Store::new(&dir);
        let mut g = store.lock().unwrap();
        g.st.applications.get_mut("prov").unwrap().leader = Some("prov/1".into());
        g.save().unwrap();
        drop(g);
        std::fs::write(ctl.join("go"), "").unwrap();
    });
    let r = m.run_action("prov/0", "do", &[]).unwrap();
    mover.join().unwrap();
    assert_eq!(r.status, "failed");
    assert!(r.message.contains("not the leader"), "{}", r.message);
    assert!(m.secrets().unwrap().is_empty());
}

#[test]
fn grants_are_scoped_to_their_relation_and_dropped_with_it() {
    let c = charm_with(PROVIDER, "");
    let (mut m, id) = related(&c, 26);
    let uri = add_user_secret(&mut m, id, "pw1");
    assert_eq!(
        m.secret_get_as("client/0", &[&uri]).unwrap()["password"],
        "pw1"
    );
    let info = m
        .exec_ok("prov/0", &["secret-info-get", "--format=json", &uri])
        .unwrap();
    assert!(
        info.contains(r#""access":[{"target":"application-client","scope":"relation-client.db#prov.db","role":"view"}]"#),
        "{info}"
    );
    m.remove_relation("client", Some("prov")).unwrap();
    m.settle(fast()).unwrap();
    let r = m.exec("client/0", &["secret-get", &uri]).unwrap();
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(1), "ERROR permission denied\n")
    );
    let v = m.show_secret(&uri, false).unwrap();
    assert!(v.grants.is_empty(), "{v:?}");
    // The consumer keeps its label (its reads now fail as "permission denied").
    assert!(v.consumers.contains_key("client/0"), "{v:?}");
    let info = m
        .exec_ok("prov/0", &["secret-info-get", "--format=json", &uri])
        .unwrap();
    assert!(!info.contains("access"), "{info}");
    // Revoking takes a grant back too.
    let id = m.integrate("prov", "client").unwrap();
    m.settle(fast()).unwrap();
    m.exec_ok("prov/0", &["secret-grant", "-r", &id.to_string(), &uri])
        .unwrap();
    assert!(m.secret_get_as("client/1", &[&uri]).is_ok());
    m.exec_ok("prov/0", &["secret-revoke", "-r", &id.to_string(), &uri])
        .unwrap();
    assert!(m.secret_get_as("client/1", &[&uri]).is_err());
}

#[test]
fn secret_tools_take_jujus_flags_and_print_jujus_formats_and_errors() {
    let c = charm_with(PROVIDER, "");
    let (mut m, _) = related(&c, 27);
    let file = c.tmp.path().join("other");
    std::fs::write(&file, "line 1\nline 2\n").unwrap();
    let yaml = c.tmp.path().join("content.yaml");
    std::fs::write(&yaml, "abc: from-yaml\ndef: 2\n").unwrap();
    let other = format!("other#file={}", file.display());
    let mut call = |argv: &[&str]| {
        let r = m.exec("prov/0", argv).unwrap();
        format!("{}|{}|{}", r.code.unwrap_or(-1), r.stdout, r.stderr)
    };
    let expect_err = [
        (
            vec!["secret-add"],
            "2||ERROR missing secret value or filename\n",
        ),
        (
            vec!["secret-add", "Bad=x"],
            "2||ERROR key \"Bad\" not valid\n",
        ),
        (
            vec!["secret-add", "novalue"],
            "2||ERROR key value \"novalue\" not valid\n",
        ),
        (
            vec!["secret-add", "--owner", "both", "abc=1"],
            "2||ERROR secret owner \"both\" not valid\n",
        ),
        (
            vec!["secret-add", "--rotate", "sometimes", "abc=1"],
            "2||ERROR rotate policy \"sometimes\" not valid\n",
        ),
        (
            vec!["secret-add", "--expire", "soon", "abc=1"],
            "2||ERROR expire time or duration \"soon\" not valid\n",
        ),
        (
            vec!["secret-get"],
            "2||ERROR require either a secret URI or label\n",
        ),
        (
            vec!["secret-get", "nope"],
            "2||ERROR secret URI \"nope\" not valid\n",
        ),
        (
            vec!["secret-info-get"],
            "2||ERROR require either a secret URI or label\n",
        ),
        (vec!["secret-remove"], "2||ERROR missing secret URI\n"),
        (vec!["secret-set"], "2||ERROR missing secret URI\n"),
        (
            vec!["secret-set", "secret:aaaaaaaaaaaaaaaaaaaa", "abc=1"],
            "1||ERROR secret \"aaaaaaaaaaaaaaaaaaaa\" not found\n",
        ),
        (
            vec!["secret-get", "secret:aaaaaaaaaaaaaaaaaaaa"],
            "1||ERROR secret \"aaaaaaaaaaaaaaaaaaaa\" not found\n",
        ),
        (
            vec!["secret-ids", "x"],
            "2||ERROR unrecognized args: [\"x\"]\n",
        ),
    ];
    for (argv, want) in expect_err {
        assert_eq!(call(&argv), want, "{argv:?}");
    }
    let out = call(&[
        "secret-add",
        "--label",
        "L",
        "--description",
        "D",
        "--rotate",
        "monthly",
        "--expire",
        "2030-01-01T00:00:00",
        "key#base64=czNjcmV0",
        &other,
        "token=t0k=",
    ]);
    let uri = out
        .strip_prefix("0|")
        .and_then(|o| o.strip_suffix("\n|"))
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    let id = uri.rsplit('/').next().unwrap().to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["secret-add", "--label", "L", "abc=1"],
            "1||ERROR secret with label \"L\" already exists\n".into(),
        ),
        (
            vec!["secret-get", &uri],
            "0|key: s3cret\nother: |\n  line 1\n  line 2\ntoken: t0k=\n|".into(),
        ),
        (
            vec!["secret-get", "--format=json", &uri],
            "0|{\"key\":\"s3cret\",\"other\":\"line 1\\nline 2\\n\",\"token\":\"t0k=\"}\n|".into(),
        ),
        (
            vec!["secret-get", "--format=json", &uri, "key"],
            "0|\"s3cret\"\n|".into(),
        ),
        (vec!["secret-get", &uri, "key#base64"], "0|czNjcmV0\n|".into()),
        (
            vec!["secret-get", &uri, "missing"],
            "1||ERROR key \"missing\" not found\n".into(),
        ),
        (
            vec!["secret-get", &uri, "--peek", "--refresh"],
            "2||ERROR specify one of --peek or --refresh but not both\n".into(),
        ),
        (
            vec!["secret-get", &uri, "--label", "L"],
            "1||ERROR either URI or label should be used for getting an owned secret but not both\n"
                .into(),
        ),
        (
            vec!["secret-get", "--label", "L", "--refresh"],
            "1||ERROR secret owner cannot use --refresh\n".into(),
        ),
        (
            vec!["secret-get", "--format=json", "--label", "L", "--peek", "key"],
            "2||ERROR secret URI \"key\" not valid\n".into(),
        ),
        (
            vec!["secret-info-get", &uri, "--label", "L"],
            "2||ERROR specify either a secret URI or label but not both\n".into(),
        ),
        (
            vec!["secret-info-get", "--format=json", "--label", "L"],
            format!(
                "0|{{\"{id}\":{{\"revision\":1,\"label\":\"L\",\"owner\":\"application\",\"description\":\"D\",\"rotation\":\"monthly\",\"expiry\":\"2030-01-01T00:00:00Z\"}}}}\n|"
            ),
        ),
        (
            vec!["secret-info-get", &uri],
            format!(
                "0|{id}:\n  revision: 1\n  label: L\n  owner: application\n  description: D\n  rotation: monthly\n  expiry: 2030-01-01T00:00:00Z\n|"
            ),
        ),
        (
            vec!["secret-info-get", "--label", "missing"],
            "1||ERROR secret \"missing\" not found\n".into(),
        ),
        (vec!["secret-ids"], format!("0|{id}\n|")),
        (vec!["secret-ids", "--format=json"], format!("0|[\"{id}\"]\n|")),
        (
            vec!["secret-set", &uri],
            "1||ERROR at least one attribute to update must be specified\n".into(),
        ),
        (
            vec!["secret-grant", &uri],
            "2||ERROR no relation id specified\n".into(),
        ),
        (
            vec!["secret-grant", &uri, "-r", "1", "--unit", "prov/0"],
            "2||ERROR cannot specify unit \"prov/0\" in relation to application \"client\"\n"
                .into(),
        ),
        (
            vec!["secret-revoke", &uri],
            "2||ERROR missing relation or application or unit\n".into(),
        ),
        (
            vec!["secret-revoke", &uri, "--app", "client", "--unit", "client/0"],
            "2||ERROR specify only one of application or unit\n".into(),
        ),
        (
            vec!["secret-remove", &uri, "--revision", "x"],
            "2||ERROR invalid value \"x\" for option --revision: parse error\n".into(),
        ),
    ];
    for (argv, want) in cases {
        assert_eq!(call(&argv), want, "{argv:?}");
    }
    // --file reads a YAML map; content keys follow Juju's rule there too.
    let out = call(&[
        "secret-add",
        "--file",
        yaml.to_str().unwrap(),
        "--owner",
        "unit",
    ]);
    assert!(out.starts_with("0|secret://"), "{out}");
    let uri2 = out[2..out.len() - 2].to_string();
    assert_eq!(
        call(&["secret-get", "--format=json", &uri2]),
        "0|{\"abc\":\"from-yaml\",\"def\":\"2\"}\n|"
    );
    // The owner's label can be changed with secret-set; the old one is free again.
    assert_eq!(call(&["secret-set", &uri, "--label", "L2"]), "0||");
    assert!(call(&["secret-get", "--format=json", "--label", "L2"]).contains("\"key\":\"s3cret\""));
    assert_eq!(
        call(&["secret-get", "--label", "L"]),
        "1||ERROR consumer label \"L\" not found\n"
    );
    let r = call(&["secret-add", "--label", "L", "abc=1"]);
    assert!(r.starts_with("0|secret://"), "{r}");
}

#[test]
fn with_jujus_newer_owner_rules_the_pair_sets_the_owner_label_and_refresh_is_allowed() {
    let c = charm_with(PROVIDER, "");
    let switches = zk_sim::Switches {
        strict_secret_owner_reads: false,
        ..common::pinned_leader()
    };
    let mut m = common::model_with(&c, 28, switches);
    m.deploy(1).unwrap();
    m.settle(fast()).unwrap();
    let uri = m.exec_ok("prov/0", &["secret-add", "abc=1"]).unwrap();
    let uri = uri.trim();
    assert_eq!(
        m.secret_get_as("prov/0", &[uri, "--label", "named"])
            .unwrap()["abc"],
        "1"
    );
    assert_eq!(
        m.show_secret(uri, false).unwrap().label.as_deref(),
        Some("named")
    );
    assert_eq!(
        m.secret_get_as("prov/0", &["--label", "named", "--refresh"])
            .unwrap()["abc"],
        "1"
    );
}
