//! The fake hook tools answer like jujuc; charms arrive as zips with modes and symlinks; hook
//! processes get Juju's environment; workload processes are stopped by pid.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{charm, model, model_with, options, read};
use zk_sim::{Model, RunOutcome, SettleLimits, Switches};

const RECORDER: &str = r#"
t() { rc=0; out=$("$@" 2>"$CTL/e") || rc=$?; printf '%s|%s|%s\n' "$rc" "$out" "$(cat "$CTL/e")" >> "$CTL/tools-$(echo $U | tr / -)"; }
"#;

#[test]
fn hook_tools_answer_with_jujucs_outputs_errors_and_exit_codes() {
    let body = format!(
        "{RECORDER}{}",
        r#"
if [ "$A" = do ] && [ "$U" = tiny/0 ]; then
  t is-leader --format=json
  t is-leader
  t relation-ids cluster --format=json
  t relation-ids
  t relation-get -r cluster:9 - tiny/1
  t relation-get -r one - tiny/1
  t relation-get --format=json -r 0 private-address tiny/1
  t relation-get --format=json -r cluster:0 missing tiny/1
  t relation-get -r cluster:0 - tiny
  t relation-get -r cluster:0
  t relation-get --foo
  t relation-list --format=json --app -r cluster:0
  t relation-list --format=json -r cluster:0 extra
  echo '{"k":"v","gone":""}' | t relation-set -r cluster:0 --file -
  t relation-get --format=json -r cluster:0 k tiny/0
  t status-set bogus
  t status-set
  t status-set --application=True active -- all good
  t status-set --application=True active -- "all good"
  t status-get --format=json --application=true
  t status-get --format=json --include-data --application=true
  t status-get --application
  t status-get --format=json
  t status-get
  t action-fail one two
  t juju-log
  t config-get --format=json tick-time
  t config-get --all tick-time
  t leader-get --format=json a=b
  echo '{"a": "1"}' | t state-set --file -
  t state-get --format=json a
  t open-port 2181/tcp
  t opened-ports --format=json
  t network-get nope
  t unit-get foo
  t action-set Foo=1
  t action-set stdout=1
  t action-get --format=json arg
  t action-set a.stderr=1
  t action-set =1
  t relation-get -r cluster:0 - tiny/7
  t open-port 22/sctp
  t open-port 22/icmp
fi
if [ "$H" = update-status ] && [ "$U" = tiny/1 ] && [ ! -e "$CTL/done-1" ]; then
  touch "$CTL/done-1"
  t action-get
  t relation-set -r cluster:0 --app x=y
  t leader-set a=b
  t status-set --application active
  t is-leader --format=json
  t action-set Foo=1
  t action-set
fi
"#
    );
    let c = charm(&body);
    let mut m = model(&c, 31);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    assert!(m
        .run_action("tiny/0", "do", &[("arg", "hello")])
        .unwrap()
        .completed());
    let lines =
        |f: &str| -> Vec<String> { read(&c.ctl.join(f)).lines().map(str::to_string).collect() };
    // In the action on the leader, tiny/0.
    let expected = [
        "0|true|",
        "0|True|",
        r#"0|["cluster:0"]|"#,
        "2||ERROR no endpoint name specified",
        r#"2||ERROR invalid value "cluster:9" for option -r: relation not found"#,
        r#"2||ERROR invalid value "one" for option -r: invalid relation id"#,
        r#"0|"127.0.0.12"|"#,
        "0|null|",
        r#"2||ERROR expected unit name, got application name "tiny""#,
        "2||ERROR no unit or application specified",
        "2||ERROR option provided but not defined: --foo",
        r#"0|"tiny"|"#,
        r#"2||ERROR unrecognized args: ["extra"]"#,
        "0||",
        r#"0|"v"|"#,
        r#"2||ERROR invalid status "bogus", expected one of [maintenance blocked waiting active]"#,
        "2||ERROR invalid args, require <status> [message]",
        r#"2||ERROR unrecognized args: ["good"]"#,
        "0||",
        r#"0|{"application-status":{"status":"active","units":{"tiny/0":{"status":"unknown"},"tiny/1":{"status":"unknown"}}}}|"#,
        r#"0|{"application-status":{"message":"all good","status":"active","status-data":{},"units":{"tiny/0":{"message":"","status":"unknown","status-data":{}},"tiny/1":{"message":"","status":"unknown","status-data":{}}}}}|"#,
        "0|active|",
        r#"0|{"status":"unknown"}|"#,
        "0|unknown|",
        r#"2||ERROR unrecognized args: ["two"]"#,
        "2||ERROR no message specified",
        "0|2000|",
        r#"2||ERROR cannot use argument --all together with key "tick-time""#,
        r#"2||ERROR invalid key "a=b""#,
        "0||",
        r#"0|"1"|"#,
        "0||",
        "0|[]|",
        r#"1||ERROR no network config found for binding "nope""#,
        r#"2||ERROR unknown setting "foo""#,
        r#"2||ERROR key "Foo" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods"#,
        r#"2||ERROR cannot set reserved action key "stdout""#,
        r#"0|"hello"|"#,
        r#"2||ERROR cannot set reserved action key "stderr""#,
        r#"2||ERROR key "" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods"#,
        r#"1||ERROR cannot read settings for unit "tiny/7" in relation "cluster:0": unit "tiny/7": settings not found"#,
        r#"2||ERROR invalid protocol "sctp", expected "tcp", "udp", or "icmp""#,
        r#"2||ERROR protocol "icmp" doesn't support any ports; got "22""#,
    ];
    assert_eq!(lines("tools-tiny-0"), expected);
    // In update-status on the non-leader, tiny/1.
    let expected = [
        "1||ERROR not running an action",
        "1||ERROR cannot write relation settings",
        "1||ERROR cannot write leadership settings: cannot write settings: not the leader",
        "1||ERROR this unit is not the leader",
        "0|false|",
        // jujuc checks action-set's arguments before it looks for the action; with none
        // it sets nothing and succeeds.
        r#"2||ERROR key "Foo" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods"#,
        "0||",
    ];
    assert_eq!(lines("tools-tiny-1"), expected);
    // The action's buffered writes committed (exit 0): relation bag, state, port.
    let st = m.state().unwrap();
    assert_eq!(
        st.units["tiny/0"].state.get("a").map(String::as_str),
        Some("1")
    );
    assert!(st.units["tiny/0"].ports.contains("2181/tcp"));
    let bag = &m.unit_databags("cluster").unwrap()["tiny/0"];
    assert_eq!(bag.get("k").map(String::as_str), Some("v"));
    assert!(!bag.contains_key("gone"));
}

#[test]
fn concurrent_tool_calls_in_one_hook_all_land() {
    let c = charm(
        r#"
if [ "$A" = do ]; then
  for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do relation-set -r cluster:0 "k$i=$i" & done
  wait
fi
"#,
    );
    let mut m = model(&c, 32);
    m.deploy(1).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    assert!(m.run_action("tiny/0", "do", &[]).unwrap().completed());
    let bag = &m.unit_databags("cluster").unwrap()["tiny/0"];
    for i in 1..=16 {
        assert_eq!(bag.get(&format!("k{i}")), Some(&i.to_string()), "k{i} lost");
    }
}

#[test]
fn a_hook_gets_exactly_jujus_environment_in_the_charm_dir() {
    let c = charm(
        r#"
if [ "$H" = install ]; then env | sort > "$CTL/env"; pwd > "$CTL/pwd"; fi
if [ "$H" = cluster-relation-departed ]; then env | sort > "$CTL/env-departed"; fi
"#,
    );
    let mut m = model(&c, 33);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let env = read(&c.ctl.join("env"));
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| !["PWD", "SHLVL", "_", "OLDPWD"].contains(k))
        .collect();
    assert_eq!(
        names,
        [
            "CHARM_DIR",
            "JUJU_CHARM_DIR",
            "JUJU_CONTEXT_ID",
            "JUJU_DISPATCH_PATH",
            "JUJU_HOOK_NAME",
            "JUJU_MODEL_NAME",
            "JUJU_MODEL_UUID",
            "JUJU_PRINCIPAL_UNIT",
            "JUJU_UNIT_NAME",
            "JUJU_VERSION",
            "LANG",
            "PATH",
            "SIM_MACHINE",
            "SIM_STATE_DIR",
        ]
    );
    let unit_dir = m.unit_dir("tiny/0").unwrap();
    let tools = m.dir().join("tools");
    let line = |k: &str| {
        env.lines()
            .find(|l| l.starts_with(&format!("{k}=")))
            .unwrap()
            .to_string()
    };
    let installer = if line("JUJU_UNIT_NAME") == "JUJU_UNIT_NAME=tiny/0" {
        "tiny/0"
    } else {
        "tiny/1"
    };
    let unit_dir = if installer == "tiny/0" {
        unit_dir
    } else {
        m.unit_dir("tiny/1").unwrap()
    };
    assert_eq!(
        line("JUJU_DISPATCH_PATH"),
        "JUJU_DISPATCH_PATH=hooks/install"
    );
    assert_eq!(line("JUJU_VERSION"), "JUJU_VERSION=3.6.8");
    assert_eq!(line("LANG"), "LANG=C.UTF-8");
    assert_eq!(
        line("SIM_MACHINE"),
        format!("SIM_MACHINE={}", unit_dir.join("machine").display())
    );
    assert_eq!(
        line("PATH"),
        format!(
            "PATH={}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            tools.display()
        )
    );
    assert_eq!(
        read(&c.ctl.join("pwd")).trim(),
        unit_dir.join("charm").to_str().unwrap()
    );
    m.remove_unit("tiny/1").unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let dep = read(&c.ctl.join("env-departed"));
    assert!(dep.contains("JUJU_DEPARTING_UNIT=tiny/1\n"), "{dep}");
    assert!(
        dep.contains("JUJU_RELATION=cluster\n") && dep.contains("JUJU_RELATION_ID=cluster:0\n"),
        "{dep}"
    );
    assert!(dep.contains("JUJU_REMOTE_APP=tiny\n"), "{dep}");
}

fn write_zip(path: &std::path::Path, escaping_link: bool) {
    use zip::write::SimpleFileOptions;
    let mut z = zip::ZipWriter::new(fs::File::create(path).unwrap());
    let file = |mode| SimpleFileOptions::default().unix_permissions(mode);
    z.start_file("metadata.yaml", file(0o644)).unwrap();
    z.write_all(common::METADATA.as_bytes()).unwrap();
    z.start_file("bin/run", file(0o755)).unwrap();
    let ctl = path.parent().unwrap().join("ctl");
    z.write_all(
        format!(
            "#!/bin/sh\necho \"$JUJU_HOOK_NAME\" >> '{}/zip-trace'\n",
            ctl.display()
        )
        .as_bytes(),
    )
    .unwrap();
    z.add_symlink("dispatch", "bin/run", file(0o777)).unwrap();
    if escaping_link {
        z.add_symlink("hooks/evil", "../../../etc/passwd", file(0o777))
            .unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn a_charm_zip_is_unpacked_with_its_modes_and_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("ctl")).unwrap();
    let zip_path = tmp.path().join("tiny.charm");
    write_zip(&zip_path, false);
    let mut m = Model::create_with(tmp.path().join("model"), &zip_path, 1, options()).unwrap();
    m.deploy(1).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let charm_dir = m.unit_dir("tiny/0").unwrap().join("charm");
    assert_eq!(
        fs::read_link(charm_dir.join("dispatch")).unwrap(),
        std::path::Path::new("bin/run")
    );
    let mode = fs::metadata(charm_dir.join("bin/run"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    let trace = read(&tmp.path().join("ctl/zip-trace"));
    assert!(
        trace.starts_with("install\ncluster-relation-created\nleader-elected\n"),
        "{trace}"
    );
    assert!(m
        .hook_log()
        .unwrap()
        .iter()
        .all(|r| r.outcome == RunOutcome::Ok));

    let bad = tmp.path().join("bad.charm");
    write_zip(&bad, true);
    let err = Model::create_with(tmp.path().join("model2"), &bad, 1, options()).unwrap_err();
    assert!(err.to_string().contains("leaves the charm"), "{err}");
}

#[test]
fn a_slow_hook_is_reported_and_never_killed_and_one_running_when_settle_gives_up_runs_again() {
    let c = charm(
        r#"
if [ "$H" = start ] && [ "$U" = tiny/0 ]; then sleep 1.5; fi
if [ "$H" = start ] && [ "$U" = tiny/1 ] && [ ! -e "$CTL/hung" ]; then touch "$CTL/hung"; sleep 30; fi
"#,
    );
    let switches = Switches {
        slow_hook_secs: 1,
        ..Switches::default()
    };
    let mut m = model_with(&c, 35, switches);
    m.deploy(2).unwrap();
    let limits = SettleLimits {
        timeout: Duration::from_secs(4),
        parallel: 2,
        ..SettleLimits::fast()
    };
    let started = Instant::now();
    let err = m.settle(limits.clone()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(15));
    let zk_sim::SimError::Unsettled { report, .. } = err else {
        panic!("{err}");
    };
    // The slow hook ran to its end and is reported; the hung one was interrupted (as by an
    // agent shutdown), and the next settle runs it again.
    assert!(
        report
            .slow
            .iter()
            .any(|h| h.starts_with("tiny/0 start: ok")),
        "{report:?}"
    );
    assert!(
        report
            .failed
            .iter()
            .any(|h| h.starts_with("tiny/1 start: INTERRUPTED")),
        "{report:?}"
    );
    let problems = report.problems();
    assert!(
        problems.iter().any(|p| p.starts_with("slow: tiny/0 start")),
        "{problems:?}"
    );
    let debug = m.debug_log(Some("tiny/1"), None).unwrap().join("\n");
    assert!(debug.contains("start has run for over 1s"), "{debug}");
    m.settle(SettleLimits::fast()).unwrap();
    let starts: Vec<(String, u32, RunOutcome)> = m
        .hook_log()
        .unwrap()
        .iter()
        .filter(|r| r.hook == "start")
        .map(|r| (r.unit.clone(), r.attempt, r.outcome))
        .collect();
    assert_eq!(
        starts
            .iter()
            .filter(|s| s.0 == "tiny/1")
            .cloned()
            .collect::<Vec<_>>(),
        [
            ("tiny/1".to_string(), 1, RunOutcome::Interrupted),
            ("tiny/1".to_string(), 1, RunOutcome::Ok)
        ]
    );
    assert!(starts.contains(&("tiny/0".to_string(), 1, RunOutcome::Ok)));
}

#[test]
fn a_missing_hook_is_skipped_as_success_and_a_missing_action_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let charm_dir = tmp.path().join("charm");
    fs::create_dir_all(charm_dir.join("hooks")).unwrap();
    fs::write(charm_dir.join("metadata.yaml"), common::METADATA).unwrap();
    fs::write(charm_dir.join("actions.yaml"), common::ACTIONS).unwrap();
    let install = charm_dir.join("hooks/install");
    fs::write(
        &install,
        format!("#!/bin/sh\ntouch '{}/installed'\n", tmp.path().display()),
    )
    .unwrap();
    fs::set_permissions(&install, fs::Permissions::from_mode(0o755)).unwrap();
    let mut m = Model::create_with(tmp.path().join("model"), &charm_dir, 1, options()).unwrap();
    m.deploy(1).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    assert!(tmp.path().join("installed").exists());
    let log = m.hook_log().unwrap();
    assert_eq!(log[0].outcome, RunOutcome::Ok);
    assert!(
        log[1..].iter().all(|r| r.outcome == RunOutcome::Skipped),
        "{log:?}"
    );
    let r = m.run_action("tiny/0", "do", &[]).unwrap();
    assert_eq!(r.status, "failed");
    assert_eq!(r.message, "action not implemented on unit \"tiny/0\"");
}

#[test]
fn goal_state_leaves_out_peer_relations_and_shows_a_unit_in_hook_error_as_error() {
    let c = charm(
        r#"
if [ "$H" = start ] && [ "$U" = tiny/1 ]; then exit 1; fi
if [ "$A" = do ]; then goal-state --format=json > "$CTL/goal"; fi
"#,
    );
    let mut m = model(&c, 36);
    m.deploy(2).unwrap();
    while m.step().unwrap().is_some() {}
    assert_eq!(
        m.status().unwrap()[1].error.as_deref(),
        Some("hook failed: \"start\"")
    );
    assert!(m.run_action("tiny/0", "do", &[]).unwrap().completed());
    let goal: serde_json::Value = serde_json::from_str(&read(&c.ctl.join("goal"))).unwrap();
    assert_eq!(goal["units"]["tiny/1"]["status"], "error", "{goal}");
    assert_eq!(goal["units"]["tiny/0"]["status"], "unknown", "{goal}");
    assert_eq!(goal["relations"], serde_json::json!({}), "{goal}");
}
