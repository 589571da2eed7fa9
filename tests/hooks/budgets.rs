//! The hook-tool calls of a settled ensemble, exactly as `BENCHMARKS.md` reports them for 3
//! and 7 units (measured there on the local model with real tool processes; `juju-log` is
//! not a `HookTools` call, so `pre-upgrade-check`'s one log line does not appear here).
//! A steady non-leader makes 8 calls; the leader of N units 2(N - 1) + 11 (it also lists
//! the `cluster` and `restart` members and reads each other unit's bag in both, and reads
//! the internal secret once: it reads the membership in a session as `super`). A steady
//! non-leader does not read the internal secret: only a round that writes files or acts as
//! `super` does (one `secret-get`). The password getters read it: 4 calls (they were 3
//! when the passwords sat in the bag).

use std::collections::BTreeMap;

use crate::scenario::*;

/// `tool count, ...` as the benchmark's "by tool" column writes it.
fn by_tool(text: &str) -> BTreeMap<String, usize> {
    text.split(", ")
        .map(|item| {
            let (tool, n) = item.rsplit_once(' ').unwrap();
            (tool.to_string(), n.parse().unwrap())
        })
        .collect()
}

/// The hook as the benchmark runs it on unit `me` of a steady ensemble of `units` (the
/// other measured unit is the remote unit of relation hooks).
fn measured(hook: &str, me: u32, units: u32, leader: bool) -> Outcome {
    let h = match hook.strip_prefix("action ") {
        Some(action) => Hook::action(action),
        None => match hook.split_once("-relation-") {
            Some((endpoint, kind)) => Hook::relation(endpoint, kind).remote(1 - me),
            None => Hook::named(hook),
        },
    };
    let out = h.steady(me, units).leader(leader).run();
    out.ok();
    out
}

/// (hook, leader?, units, calls by tool) from `BENCHMARKS.md`.
const TABLE: &[(&str, bool, u32, &str)] = &[
    ("update-status", true, 3, "config-get 1, is-leader 1, relation-get 10, relation-list 2, secret-get 1"),
    ("update-status", false, 3, "config-get 1, is-leader 1, relation-get 6"),
    ("config-changed", true, 3, "config-get 1, is-leader 1, network-get 1, relation-get 10, relation-list 2, secret-get 1"),
    ("config-changed", false, 3, "config-get 1, is-leader 1, network-get 1, relation-get 6"),
    ("cluster-relation-changed", true, 3, "config-get 1, is-leader 1, relation-get 10, relation-list 2, secret-get 1"),
    ("cluster-relation-changed", false, 3, "config-get 1, is-leader 1, relation-get 6"),
    ("leader-settings-changed", false, 3, "config-get 1, is-leader 1, relation-get 6"),
    ("upgrade-relation-changed", true, 3, "config-get 1, is-leader 1, relation-get 10, relation-list 2, secret-get 1"),
    ("upgrade-relation-changed", false, 3, "config-get 1, is-leader 1, relation-get 6"),
    ("restart-relation-changed", true, 3, "config-get 1, is-leader 1, relation-get 10, relation-list 2, secret-get 1"),
    ("restart-relation-changed", false, 3, "config-get 1, is-leader 1, relation-get 6"),
    ("leader-elected", true, 3, "config-get 1, is-leader 1, network-get 1, relation-get 10, relation-list 2, secret-get 1"),
    ("start", true, 3, "config-get 1, is-leader 1, network-get 1, relation-get 10, relation-list 2, secret-get 1"),
    ("start", false, 3, "config-get 1, is-leader 1, network-get 1, relation-get 6"),
    ("action get-super-password", true, 3, "action-set 1, relation-get 1, relation-ids 1, secret-get 1"),
    ("action get-super-password", false, 3, "action-set 1, relation-get 1, relation-ids 1, secret-get 1"),
    ("action get-sync-password", true, 3, "action-set 1, relation-get 1, relation-ids 1, secret-get 1"),
    ("action get-sync-password", false, 3, "action-set 1, relation-get 1, relation-ids 1, secret-get 1"),
    ("action resume-upgrade", true, 3, "action-set 1, config-get 1, is-leader 1, relation-get 10, relation-list 2, secret-get 1"),
    ("action resume-upgrade", false, 3, "action-set 1, config-get 1, is-leader 1, relation-get 6"),
    ("action pre-upgrade-check", true, 3, "action-set 1, config-get 1, is-leader 1, relation-get 12, relation-list 3, relation-set 2, secret-get 1, status-set 1"),
    ("update-status", true, 7, "config-get 1, is-leader 1, relation-get 18, relation-list 2, secret-get 1"),
    ("update-status", false, 7, "config-get 1, is-leader 1, relation-get 6"),
    ("config-changed", true, 7, "config-get 1, is-leader 1, network-get 1, relation-get 18, relation-list 2, secret-get 1"),
    ("config-changed", false, 7, "config-get 1, is-leader 1, network-get 1, relation-get 6"),
    ("cluster-relation-changed", true, 7, "config-get 1, is-leader 1, relation-get 18, relation-list 2, secret-get 1"),
    ("cluster-relation-changed", false, 7, "config-get 1, is-leader 1, relation-get 6"),
    ("leader-settings-changed", false, 7, "config-get 1, is-leader 1, relation-get 6"),
    ("upgrade-relation-changed", true, 7, "config-get 1, is-leader 1, relation-get 18, relation-list 2, secret-get 1"),
    ("upgrade-relation-changed", false, 7, "config-get 1, is-leader 1, relation-get 6"),
    ("restart-relation-changed", true, 7, "config-get 1, is-leader 1, relation-get 18, relation-list 2, secret-get 1"),
    ("restart-relation-changed", false, 7, "config-get 1, is-leader 1, relation-get 6"),
    ("leader-elected", true, 7, "config-get 1, is-leader 1, network-get 1, relation-get 18, relation-list 2, secret-get 1"),
    ("start", true, 7, "config-get 1, is-leader 1, network-get 1, relation-get 18, relation-list 2, secret-get 1"),
    ("start", false, 7, "config-get 1, is-leader 1, network-get 1, relation-get 6"),
    ("action get-super-password", true, 7, "action-set 1, relation-get 1, relation-ids 1, secret-get 1"),
    ("action get-super-password", false, 7, "action-set 1, relation-get 1, relation-ids 1, secret-get 1"),
    ("action get-sync-password", true, 7, "action-set 1, relation-get 1, relation-ids 1, secret-get 1"),
    ("action get-sync-password", false, 7, "action-set 1, relation-get 1, relation-ids 1, secret-get 1"),
    ("action resume-upgrade", true, 7, "action-set 1, config-get 1, is-leader 1, relation-get 18, relation-list 2, secret-get 1"),
    ("action resume-upgrade", false, 7, "action-set 1, config-get 1, is-leader 1, relation-get 6"),
    ("action pre-upgrade-check", true, 7, "action-set 1, config-get 1, is-leader 1, relation-get 24, relation-list 3, relation-set 2, secret-get 1, status-set 1"),
];

#[test]
fn every_measured_hook_makes_the_calls_the_benchmark_reports() {
    let mut wrong = Vec::new();
    for (hook, leader, units, expected) in TABLE {
        // The benchmark measures units 0 (the leader) and 1.
        let me = u32::from(!leader);
        let out = measured(hook, me, *units, *leader);
        if out.by_tool() != by_tool(expected) {
            wrong.push(format!(
                "{hook} ({units} units, leader {leader}): {:?}, expected {expected}",
                out.by_tool()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_steady_non_leader_makes_eight_calls_and_the_leader_of_n_units_two_per_other_unit_and_three_more(
) {
    for units in [1, 2, 3, 5, 7, 9] {
        for leader in [false, true] {
            if units == 1 && !leader {
                continue;
            }
            let out = measured("update-status", u32::from(!leader), units, leader);
            let expected = if leader {
                2 * (units as usize - 1) + 11
            } else {
                8
            };
            assert_eq!(
                out.total_calls(),
                expected,
                "{units} units, leader {leader}: {:#?}",
                out.lines()
            );
        }
    }
}

#[test]
fn a_steady_hook_writes_nothing_sets_no_status_and_learns_no_relation_id() {
    for (hook, leader, units, _) in TABLE {
        if hook.starts_with("action ") {
            continue;
        }
        let out = measured(hook, u32::from(!leader), *units, *leader);
        for tool in ["relation-set", "status-set", "relation-ids", "goal-state"] {
            assert_eq!(
                out.ran(tool),
                0,
                "{hook} ({units} units, leader {leader}) ran {tool}"
            );
        }
        assert!(out.lifecycle().is_empty(), "{hook}: {:?}", out.lifecycle());
        assert!(out.reconfigs().is_empty(), "{hook}");
    }
}

#[test]
fn a_steady_non_leader_asks_only_its_own_server_and_the_leader_asks_every_server_once() {
    let out = measured("update-status", 1, 3, false);
    assert_eq!(out.health_asked(), [addr(1)]);
    assert!(!out.asked_members());

    let out = measured("update-status", 0, 3, true);
    let mut asked = out.health_asked();
    asked.sort();
    assert_eq!(asked, [addr(0), addr(1), addr(2)]);
    assert!(out.asked_members());
}
