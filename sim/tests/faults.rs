//! The sim's faults for chaos runs really happen to the charm: a hook tool that never
//! answers (in that hook, and only in it), a hook process killed with SIGKILL at a held
//! tool call (a failed hook, then retried), and a full disk under the charm's private state
//! (new writes fail with ENOSPC, old files stay, space comes back).

mod common;

use std::time::Duration;

use common::{charm, model, read};
use zk_sim::{Model, RunOutcome};

/// Runs one update-status of `tiny/0`.
fn tick(m: &mut Model) -> zk_sim::HookRecord {
    assert!(m.queue_update_status("tiny/0").unwrap());
    let r = m.step().unwrap().expect("update-status ran");
    assert_eq!(r.hook, "update-status", "{r}");
    r
}

#[test]
fn a_hanging_tool_never_answers_in_that_hook_and_answers_again_in_the_next() {
    // Each update-status calls config-get twice under a 1-second `timeout`, recording the
    // exit codes (124: timed out).
    let c = charm(
        r#"
if [ "$H" = update-status ]; then
  set +e
  timeout 1 config-get >/dev/null 2>&1; a=$?
  timeout 1 config-get >/dev/null 2>&1; b=$?
  timeout 1 is-leader >/dev/null 2>&1; l=$?
  echo "$a $b $l" >> "$CTL/codes"
fi
"#,
    );
    let mut m = model(&c, 61);
    m.deploy(1).unwrap();
    m.settle(zk_sim::SettleLimits::fast()).unwrap();
    let _ = std::fs::remove_file(c.ctl.join("codes"));
    m.hang_tool("tiny/0", "config-get").unwrap();
    let r = tick(&mut m);
    assert_eq!(r.outcome, RunOutcome::Ok, "{r}");
    // Both calls of the hanging tool in that hook timed out; another tool answered.
    assert_eq!(read(&c.ctl.join("codes")).trim(), "124 124 0");
    assert!(
        m.state().unwrap().tool_hangs.is_empty(),
        "gone with its hook"
    );
    tick(&mut m);
    assert_eq!(read(&c.ctl.join("codes")).lines().nth(1), Some("0 0 0"));
}

#[test]
fn a_hook_killed_at_a_held_tool_call_fails_and_its_retry_runs_it_whole() {
    let c = charm(
        r#"
if [ "$H" = update-status ]; then
  juju-log "one"
  echo "reached $U" >> "$CTL/progress"
  juju-log "two"
  echo "done $U" >> "$CTL/progress"
fi
"#,
    );
    let mut m = model(&c, 62);
    m.deploy(1).unwrap();
    m.settle(zk_sim::SettleLimits::fast()).unwrap();
    let _ = std::fs::remove_file(c.ctl.join("progress"));
    let id = m.pause_at("tiny/0", "juju-log", 2).unwrap();
    let dir = m.dir().to_path_buf();
    let killer = std::thread::spawn(move || {
        let h = Model::open(&dir).unwrap();
        assert!(h.wait_paused(id, Duration::from_secs(20)).unwrap());
        let pid = h.kill_held_hook(id).unwrap().expect("a call was held");
        assert!(pid > 1);
        pid
    });
    m.queue_update_status("tiny/0").unwrap();
    let rec = m.step().unwrap().expect("update-status ran");
    let pid = killer.join().unwrap();
    assert_eq!(rec.outcome, RunOutcome::Failed, "{rec}");
    assert_eq!(rec.reason.as_deref(), Some("signal: killed"), "{rec}");
    assert!(!zk_sim::process::alive(pid));
    assert_eq!(read(&c.ctl.join("progress")), "reached tiny/0\n");
    // Juju retries the failed hook: it runs to its end this time.
    let report = m.settle(zk_sim::SettleLimits::fast()).unwrap();
    assert_eq!(report.retries, 1, "{report}");
    // (then the settle's own update-status round, whole too)
    let progress = read(&c.ctl.join("progress"));
    assert!(
        progress.starts_with("reached tiny/0\nreached tiny/0\ndone tiny/0\n"),
        "{progress}"
    );
}

#[test]
fn a_full_disk_fails_new_writes_of_the_charm_state_keeps_the_old_files_and_frees_up() {
    let c = charm(
        r#"
S=/var/lib/zookeeper-charm
if [ "$H" = install ]; then echo "kept" > "$S/old"; fi
if [ "$H" = update-status ]; then
  set +e
  if head -c 4096 /dev/zero > "$S/new.tmp" 2>>"$CTL/errors" && mv "$S/new.tmp" "$S/new"; then
    echo "wrote $(cat $S/old)" >> "$CTL/writes"
  else
    rm -f "$S/new.tmp"
    echo "full $(cat $S/old)" >> "$CTL/writes"
  fi
fi
"#,
    );
    let mut m = model(&c, 63);
    m.deploy(1).unwrap();
    m.settle(zk_sim::SettleLimits::fast()).unwrap();
    let _ = std::fs::remove_file(c.ctl.join("writes"));
    let dir = m.fill_disk("tiny/0").unwrap();
    assert!(dir.join("old").is_file());
    assert!(m.fill_disk("tiny/0").is_err(), "already full");
    tick(&mut m);
    assert_eq!(read(&c.ctl.join("writes")), "full kept\n");
    assert!(
        read(&c.ctl.join("errors")).contains("No space left on device"),
        "{}",
        read(&c.ctl.join("errors"))
    );
    assert!(m.free_disk("tiny/0").unwrap());
    assert!(!m.free_disk("tiny/0").unwrap(), "freed once");
    tick(&mut m);
    assert_eq!(read(&c.ctl.join("writes")), "full kept\nwrote kept\n");
    // Full again, and free again.
    m.fill_disk("tiny/0").unwrap();
    tick(&mut m);
    assert!(m.free_disk("tiny/0").unwrap());
    tick(&mut m);
    assert_eq!(
        read(&c.ctl.join("writes")),
        "full kept\nwrote kept\nfull kept\nwrote kept\n"
    );
    m.destroy().unwrap();
}

#[test]
fn injected_secret_get_failures_fail_the_next_reads_without_showing_the_content_then_stop() {
    let c = charm(
        r#"
if [ "$H" = install ]; then secret-add --owner unit --label mine password=s3cr3t-value >/dev/null; fi
if [ "$H" = update-status ]; then
  set +e
  secret-get --label mine >/dev/null 2>>"$CTL/errors"; echo $? >> "$CTL/codes"
fi
"#,
    );
    let mut m = model(&c, 64);
    m.deploy(1).unwrap();
    m.settle(zk_sim::SettleLimits::fast()).unwrap();
    let _ = std::fs::remove_file(c.ctl.join("codes"));
    m.inject_tool_failures("tiny/0", "secret-get", 2).unwrap();
    for _ in 0..3 {
        tick(&mut m);
    }
    assert_eq!(read(&c.ctl.join("codes")), "1\n1\n0\n");
    let errors = read(&c.ctl.join("errors"));
    assert_eq!(
        errors.matches("injected failure of secret-get").count(),
        2,
        "{errors}"
    );
    assert!(!errors.contains("s3cr3t"), "{errors}");
    assert!(m.state().unwrap().tool_failures.is_empty());
}
