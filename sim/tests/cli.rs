//! The `zk-sim` CLI drives a model through juju's verbs, and serves the hook tools itself.

mod common;

use std::process::{Command, Output};

use common::charm;

fn zk_sim(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zk-sim"))
        .arg("--model-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn deploy_status_run_and_destroy_through_the_cli() {
    let c = charm(
        r#"
case "$JUJU_DISPATCH_PATH" in
  hooks/install) snap install charmed-zookeeper --revision 40 ;;
  hooks/start) status-set active "up on $(unit-get private-address)" ;;
  actions/do) action-set "echo=$(action-get arg)" ;;
esac
"#,
    );
    // The install hook needs the units' `snap`, which this binary serves too.
    let dir = c.tmp.path().join("cli-model");
    let charm_path = c.charm.to_str().unwrap();
    let o = zk_sim(
        &dir,
        &[
            "deploy", "--path", charm_path, "-n", "2", "--seed", "7", "--tick", "0",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("seed 7 (replay with --seed 7)"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("deploy: settled: "), "{}", text(&o));

    let o = zk_sim(&dir, &["status"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let unit_lines: Vec<&str> = out.lines().filter(|l| l.starts_with("tiny/")).collect();
    assert_eq!(unit_lines.len(), 2, "{out}");
    assert!(
        unit_lines[0].starts_with("tiny/0*") && unit_lines[0].contains("active"),
        "{out}"
    );
    assert!(
        unit_lines[0].contains("127.0.0.11") && unit_lines[0].ends_with("up on 127.0.0.11"),
        "{out}"
    );
    assert!(
        unit_lines[1].starts_with("tiny/1 ") && unit_lines[1].contains("127.0.0.12"),
        "{out}"
    );

    let o = zk_sim(
        &dir,
        &[
            "run", "tiny/1", "do", "arg=hi", "--format", "json", "--tick", "0",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let first = String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["tiny/1"]["status"], "completed");
    assert_eq!(v["tiny/1"]["results"]["echo"], "hi");
    assert_eq!(v["tiny/1"]["results"]["return-code"], 0);

    let o = zk_sim(&dir, &["run", "tiny/1", "do", "bogus=1"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("validation failed"), "{}", text(&o));

    let o = zk_sim(&dir, &["deploy", "--path", charm_path]);
    assert!(
        !o.status.success(),
        "a second deploy into the same model must fail"
    );

    let o = zk_sim(&dir, &["destroy"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!dir.exists());
    let o = zk_sim(&dir, &["status"]);
    assert!(!o.status.success());
}

#[test]
fn a_hook_interrupted_by_a_killed_runner_is_run_again_by_the_next_settle() {
    let c = charm(
        r#"
if [ "$H" = install ] && [ ! -e "$CTL/hung" ]; then
  echo $$ > "$CTL/hung"
  sleep 30
fi
"#,
    );
    let dir = c.tmp.path().join("cli-model");
    let charm_path = c.charm.to_str().unwrap();
    let o = zk_sim(
        &dir,
        &["deploy", "--path", charm_path, "--seed", "1", "--no-settle"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let mut runner = Command::new(env!("CARGO_BIN_EXE_zk-sim"))
        .arg("--model-dir")
        .arg(&dir)
        .args(["settle", "--tick", "0"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let hung = c.ctl.join("hung");
    let start = std::time::Instant::now();
    while !hung.exists() && start.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    runner.kill().unwrap();
    runner.wait().unwrap();
    // The orphaned hook process leads its own process group; stop that group, and only
    // after checking it is what we think (never a signal to a guessed or shared group).
    let hook_pid: i32 = common::read(&hung).trim().parse().unwrap();
    assert!(hook_pid > 1);
    let stat = std::fs::read_to_string(format!("/proc/{hook_pid}/stat")).unwrap();
    let pgrp: i32 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(pgrp, hook_pid, "the hook should lead its own process group");
    // SAFETY: kill(2) on the process group of the hook this test started, checked above.
    unsafe {
        libc::kill(-hook_pid, libc::SIGKILL);
    }

    let o = zk_sim(&dir, &["settle", "--tick", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    let trace = common::read(&c.ctl.join("trace"));
    assert_eq!(trace.matches("tiny/0 hooks/install").count(), 2, "{trace}");
    let o = zk_sim(&dir, &["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let unit = &v["applications"]["tiny"]["units"]["tiny/0"];
    assert_eq!(unit["juju-status"]["current"], "idle");
    assert_eq!(unit["workload-status"]["current"], "unknown");
}

#[test]
fn status_shows_the_revision_the_charm_was_packed_with() {
    let c = charm("");
    let dir = c.tmp.path().join("cli-model");
    let charm_path = c.charm.to_str().unwrap();
    let rev = |dir: &std::path::Path| -> serde_json::Value {
        let o = zk_sim(dir, &["status", "--format", "json"]);
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["applications"]["tiny"]["charm-rev"].clone()
    };
    // A charm directory without a `version` file: the model's own count, from 0.
    let o = zk_sim(&dir, &["deploy", "--path", charm_path, "--tick", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(rev(&dir), 0);
    // Packed as revision 7 (`cargo xtask pack --revision 7` writes this file).
    std::fs::write(c.charm.join("version"), "0.1.0-r7-g0a1b2c3\n").unwrap();
    let o = zk_sim(&dir, &["refresh", "--path", charm_path, "--tick", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("refreshing tiny to revision 7"),
        "{}",
        text(&o)
    );
    assert_eq!(rev(&dir), 7);
    let o = zk_sim(&dir, &["status"]);
    let app_line = String::from_utf8_lossy(&o.stdout)
        .lines()
        .find(|l| l.starts_with("tiny "))
        .unwrap_or_default()
        .to_string();
    assert!(app_line.split_whitespace().any(|w| w == "7"), "{app_line}");
    let o = zk_sim(&dir, &["destroy"]);
    assert!(o.status.success(), "{}", text(&o));
}

fn json_out(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", text(o)))
}

#[test]
fn several_applications_relations_stubs_and_secrets_through_the_cli_with_json_alone_on_stdout() {
    let c = common::charm_with(common::PROVIDER, "");
    let dir = c.tmp.path().join("cli-model");
    let charm_path = c.charm.to_str().unwrap();
    let z = |args: &[&str]| {
        let mut a = vec!["--format", "json"];
        a.extend_from_slice(args);
        zk_sim(&dir, &a)
    };
    let v = json_out(&z(&[
        "deploy",
        charm_path,
        "db-server",
        "-n",
        "2",
        "--seed",
        "3",
        "--tick",
        "0",
    ]));
    assert_eq!(v["application"], "db-server");
    assert_eq!(
        v["units"],
        serde_json::json!(["db-server/0", "db-server/1"])
    );
    assert_eq!(v["seed"], 3);
    assert!(v["settle"]["hooks"].as_u64().unwrap() > 10);
    let v = json_out(&z(&[
        "deploy",
        "stub",
        "client",
        "--requires",
        "db:pgsql",
        "--tick",
        "0",
    ]));
    assert_eq!(v["units"], serde_json::json!(["client/0"]));
    let v = json_out(&z(&[
        "deploy",
        "stub",
        "agent",
        "--subordinate-to",
        "cos:cos_agent",
        "--tick",
        "0",
    ]));
    assert_eq!(v["units"], serde_json::json!([]));
    let v = json_out(&z(&["integrate", "db-server", "client", "--tick", "0"]));
    let rel = v["relation-id"].as_u64().unwrap();
    assert_eq!(v["key"], "client:db db-server:db");
    json_out(&z(&["integrate", "db-server:cos", "agent", "--tick", "0"]));
    let v = json_out(&z(&[
        "stub-set",
        "client:db",
        "database=/myapp",
        "--tick",
        "0",
    ]));
    assert_eq!(v["unit"], "client/0");
    // The provider's leader publishes a secret for the client, as a test would script it.
    let o = zk_sim(
        &dir,
        &[
            "exec",
            "--unit",
            "db-server/0",
            "--",
            "secret-add",
            "--label",
            "db-user",
            "password=s3cret",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let uri = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let o = zk_sim(
        &dir,
        &[
            "exec",
            "-u",
            "db-server/0",
            "--",
            "secret-grant",
            "-r",
            &rel.to_string(),
            &uri,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v = json_out(&z(&[
        "exec",
        "--unit",
        "client/0",
        "--",
        "secret-get",
        &uri,
    ]));
    assert_eq!(v["client/0"]["results"]["return-code"], 0);
    assert_eq!(v["client/0"]["results"]["stdout"], "password: s3cret\n");
    // A failing command exits with its code.
    let o = zk_sim(
        &dir,
        &["exec", "--unit", "client/0", "--", "is-leader", "--bogus"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    let v = json_out(&z(&["show-secret", "db-user"]));
    let id = uri.rsplit('/').next().unwrap();
    assert_eq!(v[id]["owner"], "db-server");
    assert!(v[id].get("content").is_none(), "{v}");
    let v = json_out(&z(&["show-secret", &uri, "--reveal"]));
    assert_eq!(v[id]["content"]["password"], "s3cret");
    let o = zk_sim(&dir, &["show-secret", "db-user"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("s3cret"));

    // juju status --format json's shape.
    let v = json_out(&z(&["status"]));
    let apps = &v["applications"];
    let server = &apps["db-server"];
    assert_eq!(server["charm"], "prov");
    assert_eq!(server["application-status"]["current"], "unknown");
    let u0 = &server["units"]["db-server/0"];
    assert_eq!(u0["leader"], true);
    assert_eq!(u0["workload-status"]["current"], "unknown");
    assert_eq!(u0["juju-status"]["current"], "idle");
    assert_eq!(u0["public-address"], "127.0.0.11");
    let subs = u0["subordinates"].as_object().expect("subordinates");
    assert_eq!(subs.len(), 1);
    let (sub, subv) = subs.iter().next().unwrap();
    assert!(sub.starts_with("agent/"));
    assert_eq!(subv["public-address"], "127.0.0.11");
    assert_eq!(
        server["relations"]["db"],
        serde_json::json!([{"related-application": "client", "interface": "pgsql", "scope": "global"}])
    );
    assert_eq!(
        server["relations"]["cos"][0]["scope"], "container",
        "{server}"
    );
    assert_eq!(
        server["relations"]["cluster"][0]["related-application"],
        "db-server"
    );
    assert_eq!(
        apps["agent"]["subordinate-to"],
        serde_json::json!(["db-server"])
    );
    assert!(apps["agent"].get("units").is_none());
    assert_eq!(apps["client"]["units"]["client/0"]["leader"], true);
    // The table shows applications, units with subordinates under them, and relations.
    let o = zk_sim(&dir, &["status"]);
    let t = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(t.contains("\n  agent/"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("db-server:db ") && l.contains("client:db")),
        "{t}"
    );
    assert!(
        t.lines()
            .any(|l| l.starts_with("client ") && l.contains("(stub)")),
        "{t}"
    );

    let v = json_out(&z(&[
        "remove-relation",
        "db-server",
        "client",
        "--tick",
        "0",
    ]));
    assert_eq!(v["relation-id"], rel);
    let v = json_out(&z(&["hook-log"]));
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["hook"] == "db-relation-broken"));
    let v = json_out(&z(&["secrets"]));
    assert!(v[id]["revision"] == 1, "{v}");
    let v = json_out(&z(&["run", "db-server/0", "do", "--tick", "0"]));
    assert_eq!(v["db-server/0"]["status"], "completed");
    let v = json_out(&z(&["settle", "--tick", "0"]));
    assert!(v["hooks"].is_number());
    let v = json_out(&z(&["destroy"]));
    assert!(v["stopped-pids"].is_array());
}

#[test]
fn without_root_zk_sim_says_it_needs_root_and_does_nothing() {
    let c = charm("");
    let dir = c.tmp.path().join("nonroot-model");
    let o = Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_zk-sim"))
        .arg("--model-dir")
        .arg(&dir)
        .args(["deploy", "--path"])
        .arg(&c.charm)
        .args(["-n", "1"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("zk-sim needs root") && text(&o).contains("run it as root"),
        "{}",
        text(&o)
    );
    assert!(!dir.exists());
}

#[test]
fn opened_and_closed_ports_land_at_the_hooks_end_and_show_in_status() {
    // `do` with arg=open opens 2181 and 8080, then fails the hook when asked; arg=close
    // closes 8080. Each reports what `opened-ports` showed before its own changes.
    let c = charm(
        r#"
case "$JUJU_DISPATCH_PATH" in
  actions/do)
    before=$(opened-ports --format=json | tr -d '\n ')
    arg=$(action-get arg)
    case "$arg" in
      open|open-then-fail) open-port 2181/tcp; open-port 8080 ;;
      close) close-port 8080/tcp ;;
    esac
    action-set "before=$before"
    [ "$arg" != open-then-fail ] || exit 1
    ;;
esac
"#,
    );
    let dir = c.tmp.path().join("ports-model");
    let charm_path = c.charm.to_str().unwrap();
    let o = zk_sim(&dir, &["deploy", "--path", charm_path, "--tick", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    let run = |arg: &str| {
        let o = zk_sim(
            &dir,
            &[
                "run",
                "tiny/0",
                "do",
                &format!("arg={arg}"),
                "--format",
                "json",
                "--tick",
                "0",
            ],
        );
        let first = String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        serde_json::from_str::<serde_json::Value>(&first)
            .unwrap_or_else(|e| panic!("{e}: {}", text(&o)))["tiny/0"]
            .clone()
    };
    let ports_column = || {
        let o = zk_sim(&dir, &["status"]);
        let out = text(&o);
        let line = out
            .lines()
            .find(|l| l.starts_with("tiny/0"))
            .unwrap_or_else(|| panic!("{out}"))
            .to_string();
        line
    };
    let json_ports = || {
        let v = json_out(&zk_sim(&dir, &["status", "--format", "json"]));
        v["applications"]["tiny"]["units"]["tiny/0"]["open-ports"].clone()
    };

    // A failed hook's opens are discarded, as all its writes.
    let v = run("open-then-fail");
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(json_ports(), serde_json::Value::Null);
    assert!(ports_column().contains(" - "), "{}", ports_column());

    let v = run("open");
    assert_eq!(v["results"]["before"], "[]", "{v}");
    assert_eq!(json_ports(), serde_json::json!(["2181/tcp", "8080/tcp"]));
    assert!(
        ports_column().contains("2181/tcp,8080/tcp"),
        "{}",
        ports_column()
    );

    let v = run("close");
    assert_eq!(v["results"]["before"], r#"["2181/tcp","8080/tcp"]"#, "{v}");
    assert_eq!(json_ports(), serde_json::json!(["2181/tcp"]));
    let line = ports_column();
    assert!(
        line.contains("2181/tcp") && !line.contains("8080"),
        "{line}"
    );
}
