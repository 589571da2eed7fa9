//! The local model keeps Juju's rules: transactional relation writes, retries, leadership,
//! fan-out of relation changes, departure, replay by seed.

mod common;

use std::collections::BTreeMap;

use common::{charm, model, model_with, order, read};
use zk_sim::{HookRecord, RunOutcome, SettleLimits, Switches};

fn after(log: &[HookRecord], seq: u64) -> Vec<&HookRecord> {
    log.iter().filter(|r| r.seq > seq).collect()
}

#[test]
fn a_relation_write_in_a_failing_hook_is_invisible_and_the_hook_is_retried_with_the_same_env() {
    let c = charm(
        r#"
if [ "$H" = start ] && [ "$U" = tiny/1 ]; then
  if [ ! -e "$CTL/failed-once" ]; then
    touch "$CTL/failed-once"
    relation-set -r cluster:0 attempt1=yes
    state-set doomed=1
    exit 1
  fi
  relation-set -r cluster:0 attempt2=yes
fi
if [ "$H" = cluster-relation-changed ] && [ -n "$JUJU_REMOTE_UNIT" ]; then
  relation-get --format=json -r cluster:0 - "$JUJU_REMOTE_UNIT" >> "$CTL/seen-$(echo $U | tr / -)"
fi
"#,
    );
    let mut m = model(&c, 3);
    m.deploy(2).unwrap();
    // Run until the failure.
    let failed = loop {
        let r = m.step().unwrap().expect("the failing start should come");
        if r.outcome == RunOutcome::Failed {
            break r;
        }
    };
    assert_eq!(
        (failed.unit.as_str(), failed.hook.as_str()),
        ("tiny/1", "start")
    );
    assert!(!m.unit_databags("cluster").unwrap()["tiny/1"].contains_key("attempt1"));
    let st = m.status().unwrap();
    let t1 = st.iter().find(|u| u.unit == "tiny/1").unwrap();
    assert_eq!(t1.workload, "error");
    assert_eq!(t1.message, "hook failed: \"start\"");
    assert_eq!(t1.agent, "error");
    // While in error, tiny/1 runs nothing; step() only runs the other unit.
    while let Some(r) = m.step().unwrap() {
        assert_eq!(r.unit, "tiny/0", "a unit in error ran {r:?}");
    }
    m.settle(SettleLimits::fast()).unwrap();
    let log = m.hook_log().unwrap();
    let retry = log
        .iter()
        .find(|r| r.unit == "tiny/1" && r.hook == "start" && r.attempt == 2)
        .expect("start retried");
    assert_eq!(retry.outcome, RunOutcome::Ok);
    let strip = |r: &HookRecord| {
        let mut e = r.env.clone();
        e.remove("JUJU_CONTEXT_ID");
        e
    };
    assert_eq!(strip(retry), strip(&failed));
    let bag = &m.unit_databags("cluster").unwrap()["tiny/1"];
    assert_eq!(bag.get("attempt2").map(String::as_str), Some("yes"));
    assert!(!bag.contains_key("attempt1"));
    assert!(!m.state().unwrap().units["tiny/1"]
        .state
        .contains_key("doomed"));
    let seen = read(&c.ctl.join("seen-tiny-0"));
    assert!(seen.contains("\"attempt2\":\"yes\""), "{seen}");
    assert!(!seen.contains("attempt1"), "{seen}");
    assert!(m.status().unwrap().iter().all(|u| u.agent == "idle"));
}

#[test]
fn what_other_units_read_never_contains_a_discarded_write() {
    let c = charm(
        r#"
if [ "$A" = do ]; then
  relation-set -r cluster:0 "$(action-get arg)"=1
  [ "$(action-get arg)" = good ] || exit 1
fi
if [ "$H" = cluster-relation-changed ] && [ -n "$JUJU_REMOTE_UNIT" ]; then
  relation-get --format=json -r cluster:0 - "$JUJU_REMOTE_UNIT" >> "$CTL/seen"
  echo >> "$CTL/seen"
fi
"#,
    );
    let mut m = model(&c, 1);
    m.deploy(3).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let bad = m.run_action("tiny/1", "do", &[("arg", "bad")]).unwrap();
    assert_eq!(bad.status, "failed");
    assert_eq!(bad.message, "exit status 1");
    let good = m.run_action("tiny/1", "do", &[("arg", "good")]).unwrap();
    assert!(good.completed(), "{good:?}");
    m.settle(SettleLimits::fast()).unwrap();
    let seen = read(&c.ctl.join("seen"));
    assert!(seen.contains("\"good\":\"1\""), "{seen}");
    assert!(!seen.contains("\"bad\""), "{seen}");
    // A failed action does not put the unit in error.
    assert!(m.status().unwrap().iter().all(|u| u.error.is_none()));
}

#[test]
fn a_non_leader_app_bag_write_fails_with_jujus_error_and_exit_code_1() {
    let c = charm(
        r#"
if [ "$H" = cluster-relation-created ]; then
  rc=0
  relation-set -r cluster:0 --app "from-$(echo $U | tr / -)=x" 2> "$CTL/err-$(echo $U | tr / -)" || rc=$?
  echo $rc > "$CTL/rc-$(echo $U | tr / -)"
fi
"#,
    );
    let mut m = model(&c, 5);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    assert_eq!(read(&c.ctl.join("rc-tiny-1")).trim(), "1");
    assert_eq!(
        read(&c.ctl.join("err-tiny-1")),
        "ERROR cannot write relation settings\n"
    );
    assert_eq!(read(&c.ctl.join("rc-tiny-0")).trim(), "0");
    let app = m.app_databag("cluster").unwrap();
    assert_eq!(app.get("from-tiny-0").map(String::as_str), Some("x"));
    assert!(!app.contains_key("from-tiny-1"));
}

#[test]
fn an_app_bag_write_is_refused_at_commit_when_leadership_moved_during_the_hook() {
    let c = charm(
        r#"
if [ "$A" = do ]; then
  relation-set -r cluster:0 --app k=v
  touch "$CTL/wrote"
  while [ ! -e "$CTL/go" ]; do sleep 0.02; done
fi
"#,
    );
    let mut m = model(&c, 2);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let dir = m.dir().to_path_buf();
    let ctl = c.ctl.clone();
    // Move leadership from another process's point of view while the action runs.
    let mover = std::thread::spawn(move || {
        while !ctl.join("wrote").exists() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let store = zk_sim::state::Store::new(&dir);
        let mut g = store.lock().unwrap();
        g.st.applications.get_mut("tiny").unwrap().leader = Some("tiny/1".into());
        g.save().unwrap();
        drop(g);
        std::fs::write(ctl.join("go"), "").unwrap();
    });
    let r = m.run_action("tiny/0", "do", &[]).unwrap();
    mover.join().unwrap();
    assert_eq!(r.status, "failed");
    assert!(
        r.message.contains("cannot write relation settings"),
        "{}",
        r.message
    );
    assert!(m.app_databag("cluster").unwrap().is_empty());
}

#[test]
fn one_unit_bag_write_gives_exactly_one_changed_hook_on_each_other_unit_and_none_on_the_writer() {
    let c = charm(
        r#"
if [ "$A" = do ]; then relation-set -r cluster:0 "x=$(action-get arg)"; fi
"#,
    );
    let mut m = model(&c, 11);
    m.deploy(3).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let mark = m.hook_log().unwrap().last().unwrap().seq;
    m.run_action("tiny/1", "do", &[("arg", "one")]).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let log = m.hook_log().unwrap();
    let changed: Vec<(String, Option<String>)> = after(&log, mark)
        .into_iter()
        .filter(|r| r.hook == "cluster-relation-changed")
        .map(|r| (r.unit.clone(), r.remote_unit.clone()))
        .collect();
    let mut sorted = changed.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![
            ("tiny/0".to_string(), Some("tiny/1".to_string())),
            ("tiny/2".to_string(), Some("tiny/1".to_string()))
        ]
    );
    // Writing the same value again is no change: no hook at all.
    let mark = log.last().unwrap().seq;
    m.run_action("tiny/1", "do", &[("arg", "one")]).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let log = m.hook_log().unwrap();
    assert!(after(&log, mark)
        .iter()
        .all(|r| r.hook != "cluster-relation-changed"));
}

#[test]
fn an_app_bag_write_gives_app_level_changed_to_the_others_and_to_the_leader_only_with_the_switch() {
    for (leader_too, expected) in [
        (true, vec!["tiny/0", "tiny/1", "tiny/2"]),
        (false, vec!["tiny/1", "tiny/2"]),
    ] {
        let c = charm(
            r#"
if [ "$A" = do ]; then relation-set -r cluster:0 --app "v=$(action-get arg)"; fi
"#,
        );
        let switches = Switches {
            leader_sees_own_app_change: leader_too,
            ..common::pinned_leader()
        };
        let mut m = model_with(&c, 4, switches);
        m.deploy(3).unwrap();
        m.settle(SettleLimits::fast()).unwrap();
        let mark = m.hook_log().unwrap().last().unwrap().seq;
        assert!(m
            .run_action("tiny/0", "do", &[("arg", "one")])
            .unwrap()
            .completed());
        m.settle(SettleLimits::fast()).unwrap();
        let log = m.hook_log().unwrap();
        let mut got: Vec<&str> = after(&log, mark)
            .iter()
            .filter(|r| r.hook == "cluster-relation-changed")
            .map(|r| {
                assert_eq!(r.remote_unit, None, "app-level changed has no remote unit");
                assert_eq!(r.env.get("JUJU_REMOTE_UNIT").map(String::as_str), Some(""));
                r.unit.as_str()
            })
            .collect();
        got.sort();
        assert_eq!(got, expected, "leader_sees_own_app_change={leader_too}");
    }
}

#[test]
fn leader_set_is_immediate_and_wakes_the_non_leaders() {
    let c = charm(
        r#"
if [ "$A" = do ]; then leader-set "k=$(action-get arg)"; exit 1; fi
if [ "$H" = leader-settings-changed ]; then leader-get --format=json k >> "$CTL/lsc-$(echo $U | tr / -)"; fi
"#,
    );
    let mut m = model(&c, 9);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let r = m.run_action("tiny/0", "do", &[("arg", "v1")]).unwrap();
    assert_eq!(r.status, "failed");
    // leader-set survives the failed process, as in Juju 3.
    assert_eq!(
        m.leader_settings().unwrap().get("k").map(String::as_str),
        Some("v1")
    );
    m.settle(SettleLimits::fast()).unwrap();
    assert!(read(&c.ctl.join("lsc-tiny-1")).ends_with("\"v1\"\n"));
    assert!(
        !c.ctl.join("lsc-tiny-0").exists(),
        "the leader got leader-settings-changed"
    );
}

const TWO_PEERS: &str = "name: tiny\nsummary: s\ndescription: d\npeers:\n  cluster:\n    interface: c\n  upgrade:\n    interface: u\n";

#[test]
fn deploy_runs_the_juju_start_up_sequence_on_every_unit() {
    let c = common::charm_with(TWO_PEERS, "");
    let switches = Switches {
        shuffle_relation_order: false,
        ..common::pinned_leader()
    };
    let mut m = model_with(&c, 21, switches);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let log = m.hook_log().unwrap();
    let of = |unit: &str| -> Vec<String> {
        log.iter()
            .filter(|r| r.unit == unit && r.hook != "update-status")
            .map(|r| match &r.remote_unit {
                Some(x) => format!("{} {x}", r.hook),
                None => r.hook.clone(),
            })
            .collect()
    };
    assert_eq!(
        of("tiny/0"),
        [
            "install",
            "cluster-relation-created",
            "upgrade-relation-created",
            "leader-elected",
            "config-changed",
            "start",
            "cluster-relation-joined tiny/1",
            "cluster-relation-changed tiny/1",
            "upgrade-relation-joined tiny/1",
            "upgrade-relation-changed tiny/1",
        ]
    );
    assert_eq!(
        of("tiny/1"),
        [
            "install",
            "cluster-relation-created",
            "upgrade-relation-created",
            "leader-settings-changed",
            "config-changed",
            "start",
            "cluster-relation-joined tiny/0",
            "cluster-relation-changed tiny/0",
            "upgrade-relation-joined tiny/0",
            "upgrade-relation-changed tiny/0",
        ]
    );
    assert!(log.iter().any(|r| r.hook == "update-status"));
}

#[test]
fn remove_unit_gives_departed_with_the_departing_unit_on_both_sides_then_stop_and_remove() {
    let c = charm(
        r#"
if [ "$H" = cluster-relation-departed ]; then
  echo "$U remote=$JUJU_REMOTE_UNIT departing=$JUJU_DEPARTING_UNIT members=$(relation-list -r cluster:0 | tr '\n' ,)" >> "$CTL/departed"
fi
"#,
    );
    let mut m = model(&c, 8);
    m.deploy(3).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let mark = m.hook_log().unwrap().last().unwrap().seq;
    m.remove_unit("tiny/2").unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let mut lines: Vec<String> = read(&c.ctl.join("departed"))
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "tiny/0 remote=tiny/2 departing=tiny/2 members=tiny/1,",
            "tiny/1 remote=tiny/2 departing=tiny/2 members=tiny/0,",
            "tiny/2 remote=tiny/0 departing=tiny/2 members=tiny/1,",
            "tiny/2 remote=tiny/1 departing=tiny/2 members=",
        ]
    );
    let log = m.hook_log().unwrap();
    let departing: Vec<&str> = after(&log, mark)
        .iter()
        .filter(|r| r.unit == "tiny/2")
        .map(|r| r.hook.as_str())
        .collect();
    assert_eq!(
        departing,
        [
            "cluster-relation-departed",
            "cluster-relation-departed",
            "stop",
            "remove"
        ]
    );
    let units: Vec<String> = m.status().unwrap().into_iter().map(|u| u.unit).collect();
    assert_eq!(units, ["tiny/0", "tiny/1"]);
    // Its data stays readable for the remaining units.
    assert!(m.unit_databags("cluster").unwrap().contains_key("tiny/2"));
}

#[test]
fn removing_the_leader_elects_the_lowest_remaining_unit_after_it_is_gone() {
    let c = charm("");
    let mut m = model(&c, 12);
    m.deploy(3).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let mark = m.hook_log().unwrap().last().unwrap().seq;
    m.remove_unit("tiny/0").unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    assert_eq!(m.leader().unwrap().as_deref(), Some("tiny/1"));
    let log = m.hook_log().unwrap();
    let tail = after(&log, mark);
    let removed_at = tail
        .iter()
        .find(|r| r.unit == "tiny/0" && r.hook == "remove")
        .unwrap()
        .seq;
    let elected = tail.iter().find(|r| r.hook == "leader-elected").unwrap();
    assert_eq!(elected.unit, "tiny/1");
    assert!(elected.seq > removed_at);
    assert!(tail
        .iter()
        .any(|r| r.unit == "tiny/2" && r.hook == "leader-settings-changed" && r.seq > removed_at));
}

#[test]
fn the_same_seed_replays_the_same_hook_order_and_another_seed_does_not() {
    let run = |seed: u64| {
        let c = charm("");
        let mut m = model(&c, seed);
        m.deploy(3).unwrap();
        m.settle(SettleLimits::fast()).unwrap();
        m.add_unit().unwrap();
        m.set_config(&[("tick-time", "3000")]).unwrap();
        m.settle(SettleLimits::fast()).unwrap();
        order(&m.hook_log().unwrap())
    };
    let a = run(42);
    assert!(a.len() > 40, "too few hooks to compare: {}", a.len());
    assert_eq!(a, run(42));
    assert_ne!(a, run(43));
}

#[test]
fn a_config_change_queues_config_changed_only_when_the_value_changes() {
    let c = charm(
        r#"
if [ "$H" = config-changed ]; then config-get --format=json >> "$CTL/cfg-$(echo $U | tr / -)"; fi
"#,
    );
    let mut m = model(&c, 6);
    m.deploy(1).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    assert!(m.set_config(&[("tick-time", "3000")]).unwrap());
    m.settle(SettleLimits::fast()).unwrap();
    assert!(!m.set_config(&[("tick-time", "3000")]).unwrap());
    assert!(m.set_config(&[("tick-time", "")]).unwrap());
    m.settle(SettleLimits::fast()).unwrap();
    let lines: Vec<String> = read(&c.ctl.join("cfg-tiny-0"))
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        lines,
        [
            r#"{"log-level":"INFO","tick-time":2000}"#,
            r#"{"log-level":"INFO","tick-time":3000}"#,
            r#"{"log-level":"INFO","tick-time":2000}"#,
        ]
    );
    assert!(m.set_config(&[("tick-time", "soon")]).is_err());
    assert!(m.set_config(&[("nope", "1")]).is_err());
}

#[test]
fn refresh_swaps_the_charm_then_runs_upgrade_charm_and_config_changed() {
    let c = charm("echo v1 > /dev/null");
    let v2 = charm(r#"if [ "$H" = upgrade-charm ]; then touch "$CTL/v2-ran-upgrade"; fi"#);
    let mut m = model(&c, 13);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let mark = m.hook_log().unwrap().last().unwrap().seq;
    assert_eq!(m.refresh(&v2.charm).unwrap(), 1);
    m.settle(SettleLimits::fast()).unwrap();
    assert!(v2.ctl.join("v2-ran-upgrade").exists());
    let log = m.hook_log().unwrap();
    let per_unit = |u: &str| -> Vec<String> {
        after(&log, mark)
            .iter()
            .filter(|r| r.unit == u && r.hook != "update-status")
            .map(|r| r.hook.clone())
            .collect()
    };
    assert_eq!(per_unit("tiny/0"), ["upgrade-charm", "config-changed"]);
    assert_eq!(
        per_unit("tiny/1"),
        ["upgrade-charm", "config-changed", "leader-settings-changed"]
    );
}

#[test]
fn an_injected_tool_failure_fails_one_hook_which_then_succeeds_on_retry() {
    let c = charm(r#"if [ "$H" = update-status ]; then status-set active ready; fi"#);
    let mut m = model(&c, 14);
    m.deploy(1).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    m.inject_tool_failure("tiny/0", "status-set").unwrap();
    m.set_config(&[("log-level", "DEBUG")]).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let log = m.hook_log().unwrap();
    let us: Vec<(u32, RunOutcome)> = log
        .iter()
        .filter(|r| r.hook == "update-status")
        .map(|r| (r.attempt, r.outcome))
        .collect();
    assert!(us.contains(&(1, RunOutcome::Failed)), "{us:?}");
    assert!(us.contains(&(2, RunOutcome::Ok)), "{us:?}");
    let debug = m.debug_log(Some("tiny/0"), None).unwrap().join("\n");
    assert!(debug.contains("injected failure of status-set"), "{debug}");
}

#[test]
fn a_hook_that_keeps_failing_makes_settle_report_the_stuck_unit() {
    let c = charm(r#"if [ "$H" = start ]; then exit 7; fi"#);
    let mut m = model(&c, 15);
    m.deploy(1).unwrap();
    let err = m.settle(SettleLimits::fast()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("tiny/0: hook failed: \"start\" after 6 attempts (exit status 7)"),
        "{text}"
    );
    let tries = m
        .hook_log()
        .unwrap()
        .iter()
        .filter(|r| r.hook == "start")
        .count();
    assert_eq!(tries, 6);
}

#[test]
fn actions_get_defaults_refuse_unknown_params_and_report_results() {
    let c = charm(
        r#"
if [ "$A" = do ]; then
  action-log "working"
  action-set "got=$(action-get arg)" nested.key=v
  echo to-stdout
  [ "$(action-get arg)" != fail ] || action-fail "asked to fail"
fi
"#,
    );
    let mut m = model(&c, 16);
    m.deploy(1).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let r = m.run_action("tiny/0", "do", &[]).unwrap();
    assert!(r.completed());
    assert_eq!(r.get("got"), Some("none"));
    assert_eq!(r.get("nested.key"), Some("v"));
    assert_eq!(r.logs, ["working"]);
    assert_eq!(r.stdout, "to-stdout\n");
    assert_eq!(r.juju_results()["return-code"], serde_json::json!(0));
    let f = m.run_action("tiny/0", "do", &[("arg", "fail")]).unwrap();
    assert_eq!(
        (f.status.as_str(), f.message.as_str()),
        ("failed", "asked to fail")
    );
    let e = m.run_action("tiny/0", "do", &[("bogus", "1")]).unwrap_err();
    assert!(e.to_string().starts_with("validation failed"), "{e}");
    let e = m.run_action("tiny/0", "nope", &[]).unwrap_err();
    assert!(e.to_string().contains("not defined"), "{e}");
    let typed = m.run_action("tiny/0", "do", &[("arg", "5")]).unwrap_err();
    assert!(typed.to_string().contains("invalid type"), "{typed}");
}

#[test]
fn relation_list_is_sorted_as_text() {
    let c = charm(
        r#"
if [ "$A" = do ]; then action-set "members=$(relation-list -r cluster:0 --format=json)"; fi
case "$H" in cluster-relation-*|update-status) exit 0;; esac
"#,
    );
    let mut m = model(&c, 17);
    m.deploy(11).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let r = m.run_action("tiny/0", "do", &[]).unwrap();
    let members: Vec<String> = serde_json::from_str(r.get("members").unwrap()).unwrap();
    let expected: Vec<String> = ["1", "10", "2", "3", "4", "5", "6", "7", "8", "9"]
        .iter()
        .map(|n| format!("tiny/{n}"))
        .collect();
    assert_eq!(members, expected);
}

#[test]
fn every_unit_has_its_own_loopback_address_in_network_get_unit_get_and_its_bag() {
    let c = charm(
        r#"
if [ "$A" = do ]; then
  action-set "net=$(network-get cluster --format=json)" "ingress=$(network-get --ingress-address cluster)" "unit=$(unit-get private-address)"
fi
"#,
    );
    let mut m = model(&c, 18);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    for (unit, addr) in [("tiny/0", "127.0.0.11"), ("tiny/1", "127.0.0.12")] {
        let r = m.run_action(unit, "do", &[]).unwrap();
        let net: serde_json::Value = serde_json::from_str(r.get("net").unwrap()).unwrap();
        assert_eq!(net["bind-addresses"][0]["addresses"][0]["value"], addr);
        assert_eq!(net["ingress-addresses"][0], addr);
        assert_eq!(r.get("ingress"), Some(addr));
        assert_eq!(r.get("unit"), Some(addr));
        let bag = &m.unit_databags("cluster").unwrap()[unit];
        let expected: BTreeMap<&str, String> = [
            ("egress-subnets", format!("{addr}/32")),
            ("ingress-address", addr.to_string()),
            ("private-address", addr.to_string()),
        ]
        .into_iter()
        .collect();
        for (k, v) in expected {
            assert_eq!(bag.get(k), Some(&v));
        }
    }
}

#[test]
fn overlapping_removals_depart_each_member_once_with_the_departing_unit_decided_when_it_runs() {
    let c = charm("");
    for seed in [19, 20, 21] {
        let mut m = model(&c, seed);
        m.deploy(4).unwrap();
        m.settle(SettleLimits::fast()).unwrap();
        let mark = m.hook_log().unwrap().last().unwrap().seq;
        m.remove_unit("tiny/2").unwrap();
        m.remove_unit("tiny/1").unwrap();
        m.settle(SettleLimits::fast()).unwrap();
        let log = m.hook_log().unwrap();
        let departed: Vec<&HookRecord> = after(&log, mark)
            .into_iter()
            .filter(|r| r.hook == "cluster-relation-departed")
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for r in &departed {
            let remote = r.remote_unit.clone().unwrap();
            assert!(
                seen.insert((r.unit.clone(), remote.clone())),
                "seed {seed}: {} departed {remote} twice",
                r.unit
            );
            let dying = r.unit == "tiny/1" || r.unit == "tiny/2";
            let expected = if dying { &r.unit } else { &remote };
            assert_eq!(
                r.env.get("JUJU_DEPARTING_UNIT"),
                Some(expected),
                "seed {seed}: {r}"
            );
        }
        // Every unit departed every member it had: the survivors each of the two leavers,
        // each leaver the three others.
        let expected: std::collections::BTreeSet<(String, String)> = [
            ("tiny/0", "tiny/1"),
            ("tiny/0", "tiny/2"),
            ("tiny/3", "tiny/1"),
            ("tiny/3", "tiny/2"),
            ("tiny/1", "tiny/0"),
            ("tiny/1", "tiny/2"),
            ("tiny/1", "tiny/3"),
            ("tiny/2", "tiny/0"),
            ("tiny/2", "tiny/1"),
            ("tiny/2", "tiny/3"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(seen, expected, "seed {seed}");
    }
}

#[test]
fn a_config_change_pending_at_refresh_runs_on_the_new_revision_right_after_upgrade_charm() {
    let c = charm(
        r#"if [ "$H" = config-changed ]; then echo "$U v1 $(config-get tick-time)" >> "$CTL/cfg"; fi"#,
    );
    let v2 = charm(&format!(
        r#"if [ "$H" = config-changed ]; then echo "$U v2 $(config-get tick-time)" >> '{}/cfg'; fi"#,
        c.ctl.display()
    ));
    let mut m = model(&c, 22);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let mark = common::mark(&m);
    let _ = std::fs::remove_file(c.ctl.join("cfg"));
    assert!(m.set_config(&[("tick-time", "3000")]).unwrap());
    m.refresh(&v2.charm).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let log = m.hook_log().unwrap();
    let leader = m.leader().unwrap().unwrap();
    for u in ["tiny/0", "tiny/1"] {
        let hooks: Vec<String> = after(&log, mark)
            .iter()
            .filter(|r| r.unit == u && r.hook != "update-status")
            .map(|r| r.hook.clone())
            .collect();
        let mut expected = vec!["upgrade-charm", "config-changed"];
        if u != leader {
            expected.push("leader-settings-changed");
        }
        assert_eq!(hooks, expected, "{u}");
    }
    let mut lines: Vec<String> = read(&c.ctl.join("cfg"))
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(lines, ["tiny/0 v2 3000", "tiny/1 v2 3000"]);
}

#[test]
fn the_seed_shuffles_hooks_across_relations_but_keeps_each_relations_order_and_joined_then_changed()
{
    let c = common::charm_with(TWO_PEERS, "");
    let mut firsts = std::collections::BTreeSet::new();
    for seed in 30..38 {
        let mut m = model(&c, seed);
        m.deploy(3).unwrap();
        m.settle(SettleLimits::fast()).unwrap();
        m.remove_unit("tiny/2").unwrap();
        m.settle(SettleLimits::fast()).unwrap();
        let log = m.hook_log().unwrap();
        for u in ["tiny/0", "tiny/1"] {
            let hooks = common::hooks_of(&log, u);
            let created: Vec<&String> = hooks.iter().filter(|h| h.contains("created")).collect();
            firsts.insert(created[0].clone());
            for ep in ["cluster", "upgrade"] {
                // Per relation: created, then joined/changed per remote in order, departed.
                let mine: Vec<&String> = hooks
                    .iter()
                    .filter(|h| h.starts_with(&format!("{ep}-")))
                    .collect();
                let other = if u == "tiny/0" { "tiny/1" } else { "tiny/0" };
                let expected = [
                    format!("{ep}-relation-created"),
                    format!("{ep}-relation-joined {other}"),
                    format!("{ep}-relation-changed {other}"),
                    format!("{ep}-relation-joined tiny/2"),
                    format!("{ep}-relation-changed tiny/2"),
                    format!("{ep}-relation-departed tiny/2"),
                ];
                let mut sorted_mine: Vec<String> = mine.iter().map(|s| s.to_string()).collect();
                // The two joins may come in either order (whoever entered scope first).
                if sorted_mine.len() == 6 && sorted_mine[1].ends_with("tiny/2") {
                    sorted_mine.swap(1, 3);
                    sorted_mine.swap(2, 4);
                }
                assert_eq!(sorted_mine, expected, "seed {seed}, {u}: {hooks:?}");
            }
            // A -joined is directly followed by its -changed, whatever the relation order.
            for (i, h) in hooks.iter().enumerate() {
                if let Some(rest) = h.strip_prefix("cluster-relation-joined ") {
                    assert_eq!(hooks[i + 1], format!("cluster-relation-changed {rest}"));
                }
                if let Some(rest) = h.strip_prefix("upgrade-relation-joined ") {
                    assert_eq!(hooks[i + 1], format!("upgrade-relation-changed {rest}"));
                }
            }
        }
    }
    assert_eq!(
        firsts.len(),
        2,
        "both relations came first for some seed: {firsts:?}"
    );
}

#[test]
fn a_failed_hook_is_retried_after_jujus_back_off_and_the_wait_shows_in_model_time() {
    let c = charm(
        r#"
if [ "$H" = start ]; then
  n=$(cat "$CTL/tries" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$CTL/tries"
  [ $n -gt 3 ] || exit 1
fi
"#,
    );
    let mut m = model(&c, 23);
    m.deploy(1).unwrap();
    let limits = SettleLimits {
        time_scale: 0.005,
        ..SettleLimits::fast()
    };
    let started = std::time::Instant::now();
    let report = m.settle(limits).unwrap();
    assert_eq!(report.retries, 3, "{report}");
    assert_eq!(report.failed.len(), 3, "{report:?}");
    // 5 s, 10 s, 20 s of back-off: 35 s of model time, 0.5% of it slept.
    assert!(
        report.model_time >= std::time::Duration::from_secs(35),
        "{report}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(170));
    assert!(!report.problems().is_empty());
    let starts: Vec<(u32, RunOutcome)> = m
        .hook_log()
        .unwrap()
        .iter()
        .filter(|r| r.hook == "start")
        .map(|r| (r.attempt, r.outcome))
        .collect();
    assert_eq!(
        starts,
        [
            (1, RunOutcome::Failed),
            (2, RunOutcome::Failed),
            (3, RunOutcome::Failed),
            (4, RunOutcome::Ok)
        ]
    );
    assert_eq!(zk_sim::state::retry_backoff_ms(1), 5_000);
    assert_eq!(zk_sim::state::retry_backoff_ms(4), 40_000);
    assert_eq!(zk_sim::state::retry_backoff_ms(12), 300_000);
}

#[test]
fn progress_that_waits_for_an_update_status_round_is_reported() {
    // tiny/1 publishes its data only from update-status: tiny/0's -changed waits a tick.
    let c = charm(
        r#"
if [ "$H" = update-status ] && [ "$U" = tiny/1 ]; then relation-set -r cluster:0 ready=yes; fi
"#,
    );
    let mut m = model(&c, 24);
    m.deploy(2).unwrap();
    let report = m.settle(SettleLimits::fast()).unwrap();
    assert_eq!(
        report.after_tick.len(),
        1,
        "tiny/0's -changed came from a tick: {report:?}"
    );
    assert!(report.after_tick[0].starts_with("tiny/0 cluster-relation-changed (tiny/1)"));
    assert!(report.update_status_rounds >= 2);
    // Every round is 5 minutes of model time.
    assert!(
        report.model_time >= zk_sim::UPDATE_STATUS_INTERVAL * report.update_status_rounds as u32,
        "{report}"
    );
    assert_eq!(report.problems().len(), 1, "{:?}", report.problems());
    // A charm that needs no tick settles with one quiet round and nothing after it.
    let quiet = charm("");
    let mut m = model(&quiet, 24);
    m.deploy(2).unwrap();
    let report = m.settle(SettleLimits::fast()).unwrap();
    assert!(report.problems().is_empty(), "{report:?}");
    assert_eq!(report.update_status_rounds, 1);
}

#[test]
fn the_first_leader_and_the_one_after_a_removal_are_drawn_by_the_seed_after_the_lease() {
    let c = charm("");
    let mut first = std::collections::BTreeSet::new();
    let mut next = std::collections::BTreeSet::new();
    for seed in 50..62 {
        let mut m = model_with(&c, seed, Switches::default());
        m.deploy(3).unwrap();
        m.settle(SettleLimits::fast()).unwrap();
        let leader = m.leader().unwrap().unwrap();
        first.insert(leader.clone());
        let log = m.hook_log().unwrap();
        let elected: Vec<&str> = log
            .iter()
            .filter(|r| r.hook == "leader-elected")
            .map(|r| r.unit.as_str())
            .collect();
        assert_eq!(elected, [leader.as_str()], "seed {seed}");
        let mark = common::mark(&m);
        m.remove_unit(&leader).unwrap();
        let report = m.settle(SettleLimits::fast()).unwrap();
        let new = m.leader().unwrap().unwrap();
        assert_ne!(new, leader);
        next.insert(new.clone());
        let log = m.hook_log().unwrap();
        let tail = after(&log, mark);
        let removed_at = tail
            .iter()
            .find(|r| r.unit == leader && r.hook == "remove")
            .unwrap()
            .seq;
        let elected = tail.iter().find(|r| r.hook == "leader-elected").unwrap();
        assert_eq!(elected.unit, new);
        assert!(elected.seq > removed_at);
        // The lease lapses 30 to 60 s of model time after the leader's unit is gone.
        assert!(
            report.model_time >= std::time::Duration::from_secs(30),
            "seed {seed}: {report}"
        );
    }
    assert_eq!(
        first.len(),
        3,
        "every unit led first for some seed: {first:?}"
    );
    assert!(next.len() >= 2, "re-election varies: {next:?}");
}
