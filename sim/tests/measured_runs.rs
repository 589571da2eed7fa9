//! `Model::run_hook_measured` / `run_action_measured`: one run now, through the normal hook
//! machinery, with its cost and its hook-tool calls.

mod common;

use common::{charm, model};
use zk_sim::state::{HookKind, HookSpec};
use zk_sim::{RunOutcome, SettleLimits};

#[test]
fn a_measured_hook_counts_its_tool_calls_by_tool_and_commits_like_any_hook() {
    let c = charm(
        r#"if [ "$H" = update-status ]; then
  is-leader >/dev/null
  relation-ids cluster >/dev/null
  relation-ids cluster >/dev/null
  relation-set -r "$(relation-ids cluster)" beat="$(cat "$CTL/beat" 2>/dev/null || echo 0)"
  status-set active ready
fi"#,
    );
    let mut m = model(&c, 31);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let before = m.status().unwrap();
    assert!(before.iter().all(|u| u.queued == 0), "{before:?}");
    std::fs::write(c.ctl.join("beat"), "1").unwrap();

    let r = m
        .run_hook_measured("tiny/0", HookSpec::plain(HookKind::UpdateStatus))
        .unwrap();
    assert_eq!(r.record.outcome, RunOutcome::Ok, "{:?}", r.record);
    assert_eq!(r.record.hook, "update-status");
    let calls: Vec<(&str, u32)> = r.tool_calls.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        calls,
        [
            ("is-leader", 1),
            ("relation-ids", 3),
            ("relation-set", 1),
            ("status-set", 1)
        ]
    );
    assert_eq!(r.total_tool_calls(), 6);
    assert_eq!(r.tool_runs.len(), 6);
    assert!(
        r.tool_runs
            .iter()
            .all(|t| t.peak_rss_kib > 0 && t.wall > std::time::Duration::ZERO),
        "{:?}",
        r.tool_runs
    );
    let u = r.usage.expect("a process ran");
    assert!(
        u.wall > std::time::Duration::ZERO && u.max_rss_kib > 0,
        "{u:?}"
    );
    // The write committed and woke the other unit, as any hook's would.
    let bags = m.unit_databags("cluster").unwrap();
    assert_eq!(bags["tiny/0"]["beat"], "1", "{bags:?}");
    let queued: Vec<usize> = m.status().unwrap().iter().map(|u| u.queued).collect();
    assert_eq!(queued, [0, 1]);
    // No log file is left behind, and unmeasured hooks are not counted anywhere.
    assert!(!m.dir().join(zk_sim::tools::TOOL_CALL_LOG).exists());
}

#[test]
fn a_measured_action_returns_its_result_and_a_relation_hook_gets_its_remote_unit() {
    let c = charm(
        r#"if [ -n "$A" ]; then action-set got="$(action-get arg)"; fi
if [ "$H" = cluster-relation-changed ]; then echo "$JUJU_REMOTE_UNIT" > "$CTL/remote"; fi"#,
    );
    let mut m = model(&c, 32);
    m.deploy(2).unwrap();
    m.settle(SettleLimits::fast()).unwrap();
    let mut params = serde_json::Map::new();
    params.insert("arg".into(), "x".into());
    let (result, r) = m.run_action_measured("tiny/1", "do", params).unwrap();
    assert!(result.completed(), "{result:?}");
    assert_eq!(result.get("got"), Some("x"));
    assert_eq!(r.tool_calls.get("action-get"), Some(&1));
    assert_eq!(r.tool_calls.get("action-set"), Some(&1));

    let rel = m
        .state()
        .unwrap()
        .relations
        .values()
        .find(|r| r.endpoint == "cluster")
        .unwrap()
        .id;
    let spec = HookSpec::relation(HookKind::RelationChanged, "cluster", rel, Some("tiny/1"));
    let r = m.run_hook_measured("tiny/0", spec).unwrap();
    assert_eq!(r.record.remote_unit.as_deref(), Some("tiny/1"));
    assert_eq!(
        std::fs::read_to_string(c.ctl.join("remote")).unwrap(),
        "tiny/1\n"
    );
    assert!(m
        .run_hook_measured("tiny/9", HookSpec::plain(HookKind::Start))
        .is_err());
}
