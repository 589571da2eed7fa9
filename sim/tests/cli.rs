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
  hooks/start) status-set active "up on $(unit-get private-address)" ;;
  actions/do) action-set "echo=$(action-get arg)" ;;
esac
"#,
    );
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
    assert_eq!(v["units"][0]["agent"], "idle");
    assert_eq!(v["units"][0]["workload"], "unknown");
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
        v["application"]["charm-rev"].clone()
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
        text(&o).contains("refreshing to revision 7"),
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
