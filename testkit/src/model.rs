//! Helpers over a [`zk_sim::Model`] whose hooks start real JVMs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use zk_sim::{Model, ModelOptions, SettleLimits, SettleReport, SimError};

/// Settle limits for a model whose hooks start real JVMs: a JVM takes seconds to start
/// and elect, so update-status ticks are paced in real time, until every unit is active.
pub fn jvm_settle_limits() -> SettleLimits {
    SettleLimits {
        timeout: Duration::from_secs(300),
        tick_interval: Duration::from_millis(300),
        time_scale: 0.06,
        until_active: true,
        ..SettleLimits::default()
    }
}

/// What a settle may show besides a healthy run (see [`check_settle`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allow {
    /// Failed hooks and their retries (a step that injects a hook-tool failure).
    pub failures: bool,
    /// Hooks that ran only after an update-status round (a step that kills a server from
    /// outside, or changes the machine's memory: only update-status notices that on Juju
    /// too).
    pub tick_progress: bool,
}

/// A settle of a healthy scenario: no failed hook, no retry, no hook over 60 s, and no
/// progress that waited for an update-status round (5 minutes each on Juju), unless
/// `allow`ed. Returns what went wrong.
pub fn check_settle(report: &SettleReport, allow: Allow) -> Result<(), String> {
    let mut problems = Vec::new();
    if !allow.failures {
        if report.retries > 0 {
            problems.push(format!("{} retries", report.retries));
        }
        problems.extend(report.failed.iter().map(|f| format!("failed: {f}")));
    }
    if !allow.tick_progress {
        problems.extend(
            report
                .after_tick
                .iter()
                .map(|h| format!("waited for an update-status round: {h}")),
        );
    }
    problems.extend(report.slow.iter().map(|h| format!("over 60 s: {h}")));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n  "))
    }
}

/// A model for `charm` in `dir`, in a loopback block of its own (`127.0.<k>.`), so that
/// models running at the same time never share a ZooKeeper address.
pub fn create_model(
    dir: &Path,
    charm: &Path,
    seed: u64,
    opts: ModelOptions,
) -> Result<Model, SimError> {
    let opts = ModelOptions {
        isolated_addresses: true,
        ..opts
    };
    Model::create_with(dir, charm, seed, opts)
}

/// `zookeeper/3` -> 3.
pub fn unit_number(unit: &str) -> Option<u32> {
    unit.rsplit_once('/')?.1.parse().ok()
}

/// Every unit active and none in error.
pub fn all_active(m: &Model) -> Result<bool, SimError> {
    Ok(m.status()?
        .iter()
        .all(|u| u.workload == "active" && u.error.is_none()))
}

/// One line per unit (leader marked `*`): workload status, message, address, ZooKeeper
/// role, hook error; for failure messages.
pub fn describe_units(m: &Model) -> String {
    let mut out = String::new();
    for u in m.status_with_roles().unwrap_or_default() {
        let _ = write!(
            out,
            "  {}{} {} {:?} {} role={}",
            u.unit,
            if u.leader { "*" } else { "" },
            u.workload,
            u.message,
            u.address,
            u.role.as_deref().unwrap_or("-"),
        );
        if let Some(e) = &u.error {
            let _ = write!(out, " error={e:?}");
        }
        out.push('\n');
    }
    out
}

/// The last `n` `juju-log` lines of the model's debug-log.
pub fn juju_log_tail(m: &Model, n: usize) -> Vec<String> {
    let lines: Vec<String> = m
        .debug_log(None, None)
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l.contains("juju-log"))
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// The live units' addresses, by unit number: the model's first application's (other
/// applications' units, such as a client stub's, have their own numbers and machines).
pub fn addresses(m: &Model) -> Result<BTreeMap<u32, String>, SimError> {
    let app = m.app_name()?;
    Ok(m.status()?
        .into_iter()
        .filter(|u| u.life == "alive" && u.app == app)
        .filter_map(|u| Some((unit_number(&u.unit)?, u.address)))
        .collect())
}

/// The internal secret's content (`juju show-secret cluster.<app>.app --reveal`), once the
/// leader created it.
pub fn internal_secret(m: &Model) -> Option<BTreeMap<String, String>> {
    let app = m.app_name().ok()?;
    m.show_secret(&format!("cluster.{app}.app"), true)
        .ok()?
        .content
        .map(|c| c.into_iter().collect())
}

/// The `super` password the leader generated, once it did.
pub fn super_password(m: &Model) -> Option<String> {
    internal_secret(m)?.get("super-password").cloned()
}

/// Runs whatever is queued (no ticks, no retries); returns how many hooks ran and the
/// failed ones.
pub fn drain(m: &mut Model) -> Result<(usize, Vec<String>), SimError> {
    let mut n = 0;
    let mut failed = Vec::new();
    while let Some(r) = m.step()? {
        n += 1;
        if !r.succeeded() {
            failed.push(r.to_string());
        }
    }
    Ok((n, failed))
}

/// Every place an operator, another unit or another process reads and that must never hold
/// a password: the debug-log, the hook log, every unit's and the application's status, and
/// every relation bag (what `show-unit` prints). Returns each place that holds `secret`, or
/// anything of more than 8 characters of it.
pub fn leaks(m: &Model, secret: &str) -> Vec<String> {
    let mut found = Vec::new();
    let probe: Vec<&str> = if secret.len() > 12 {
        // A value derived by cutting it (a prefix or suffix shown "for reference").
        vec![secret, &secret[..9], &secret[secret.len() - 9..]]
    } else {
        vec![secret]
    };
    let holds = |text: &str| probe.iter().any(|p| text.contains(p));
    for file in ["debug-log", "hooks.jsonl"] {
        let text = std::fs::read_to_string(m.dir().join(file)).unwrap_or_default();
        if holds(&text) {
            found.push(file.to_string());
        }
    }
    for u in m.status().unwrap_or_default() {
        if holds(&u.message) {
            found.push(format!("{}'s status", u.unit));
        }
    }
    if let Ok((_, _, message)) = m.app_status() {
        if holds(&message) {
            found.push("the application status".into());
        }
    }
    for r in m.relations().unwrap_or_default() {
        for (unit, bag) in m.relation_unit_bags(r.id).unwrap_or_default() {
            if bag.values().any(|v| holds(v)) {
                found.push(format!("{unit}'s bag in {}", r.key));
            }
        }
        for end in &r.ends {
            if let Ok(bag) = m.relation_app_bag(r.id, &end.app) {
                if bag.values().any(|v| holds(v)) {
                    found.push(format!("{}'s app bag in {}", end.app, r.key));
                }
            }
        }
    }
    found
}

/// Whether `unit` runs refreshed charm code whose workload is not rolled out yet: its
/// private `upgrade-pending` marker says `pending` (the charm keeps its state under
/// `/var/lib/zookeeper-charm/<model uuid>/<app>-<n>/` on the unit's machine).
pub fn upgrade_pending(m: &Model, unit: &str) -> bool {
    let (Ok(machine), Ok(st)) = (m.machine(unit), m.state()) else {
        return false;
    };
    let inside = Path::new("/var/lib/zookeeper-charm")
        .join(&st.model_uuid)
        .join(unit.replace('/', "-"))
        .join("upgrade-pending");
    machine
        .host_path(&inside)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .is_some_and(|t| t.trim() == "pending")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settle_whose_progress_waited_for_an_update_status_round_is_not_healthy() {
        let healthy = SettleReport {
            hooks: 12,
            update_status_rounds: 1,
            ..SettleReport::default()
        };
        assert_eq!(check_settle(&healthy, Allow::default()), Ok(()));
        let waited = SettleReport {
            after_tick: vec!["zookeeper/1 restart-relation-changed (zookeeper/0): ok".into()],
            ..healthy.clone()
        };
        let err = check_settle(&waited, Allow::default()).unwrap_err();
        assert!(err.contains("waited for an update-status round"), "{err}");
        let allowed = Allow {
            tick_progress: true,
            ..Allow::default()
        };
        assert_eq!(check_settle(&waited, allowed), Ok(()));
    }

    #[test]
    fn retries_failures_and_slow_hooks_make_a_settle_unhealthy_and_slow_ones_always() {
        let base = SettleReport::default();
        let retried = SettleReport {
            retries: 1,
            failed: vec!["zookeeper/0 start: FAILED".into()],
            ..base.clone()
        };
        let err = check_settle(&retried, Allow::default()).unwrap_err();
        assert!(err.contains("1 retries") && err.contains("failed: zookeeper/0 start"));
        let failures = Allow {
            failures: true,
            ..Allow::default()
        };
        assert_eq!(check_settle(&retried, failures), Ok(()));
        let slow = SettleReport {
            slow: vec!["zookeeper/2 start: ok".into()],
            ..base
        };
        let all = Allow {
            failures: true,
            tick_progress: true,
        };
        assert!(check_settle(&slow, all).unwrap_err().contains("over 60 s"));
    }
}

/// The restart lock as the charm's own log tells it: every `plan:` line of every unit, in
/// the order the hooks logged them (a line is logged before its plan runs, and another
/// unit sees a write only once the writer's hook ended). Returns the restarts in order,
/// each with the unit that held the grant then; panics if the application bag ever
/// granted the lock to two units at once, or a unit restarted without the grant.
pub fn assert_restarts_held_the_lock(m: &Model, what: &str) -> Vec<String> {
    let lines = m.debug_log(None, None).expect("the debug-log");
    assert_restart_lines_held_the_lock(&lines, what)
}

/// [`assert_restarts_held_the_lock`] over debug-log lines.
pub fn assert_restart_lines_held_the_lock(lines: &[String], what: &str) -> Vec<String> {
    let mut granted: BTreeMap<String, bool> = BTreeMap::new();
    let mut restarts = Vec::new();
    for line in lines {
        let Some((unit, plan)) = plan_line(line) else {
            continue;
        };
        for part in plan.split("; ") {
            if let Some(items) = part
                .strip_prefix("restart app {")
                .and_then(|p| p.strip_suffix('}'))
            {
                for item in items.split(", ") {
                    if let Some((k, v)) = item.split_once('=') {
                        if k.contains('/') {
                            granted.insert(k.to_string(), v == "\"granted\"");
                        }
                    }
                }
                let holders: Vec<&String> = granted
                    .iter()
                    .filter(|(_, g)| **g)
                    .map(|(u, _)| u)
                    .collect();
                assert!(
                    holders.len() <= 1,
                    "{what}: the restart lock granted to {holders:?} at once: {line}"
                );
            } else if part == "restart" {
                assert!(
                    granted.get(unit).copied().unwrap_or(false),
                    "{what}: {unit} restarted without the lock (granted: {granted:?}): {line}"
                );
                restarts.push(unit.to_string());
            }
        }
    }
    restarts
}

/// `(unit, plan)` of a debug-log line in which the charm logged its plan.
fn plan_line(line: &str) -> Option<(&str, &str)> {
    let (head, rest) = line.split_once(".juju-log ")?;
    let unit = head.rsplit_once(" unit.")?.1;
    let plan = rest.split_once("plan: ")?.1;
    Some((unit, plan.trim_end()))
}

#[cfg(test)]
mod lock_tests {
    use super::assert_restart_lines_held_the_lock;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    const GRANTS: &str = r#"unit-zookeeper-1: 18:24:50 INFO unit.zookeeper/1.juju-log plan: restart unit {requested-at="1", state="acquire"}
unit-zookeeper-0: 18:24:54 INFO unit.zookeeper/0.juju-log restart:2: plan: restart app {zookeeper/1="granted"}
unit-zookeeper-1: 18:24:54 INFO unit.zookeeper/1.juju-log restart:2: plan: restart
unit-zookeeper-1: 18:24:56 INFO unit.zookeeper/1.juju-log restart:2: plan: restart unit {inputs="54", state="release"}
unit-zookeeper-0: 18:24:57 INFO unit.zookeeper/0.juju-log restart:2: plan: restart app {zookeeper/0="granted", zookeeper/1="idle"}; restart
"#;

    #[test]
    fn grants_in_turn_and_restarts_under_them_pass() {
        assert_eq!(
            assert_restart_lines_held_the_lock(&lines(GRANTS), "turns"),
            vec!["zookeeper/1", "zookeeper/0"]
        );
    }

    #[test]
    #[should_panic(expected = "granted to [\"zookeeper/0\", \"zookeeper/1\"] at once")]
    fn a_second_grant_before_the_first_is_taken_back_fails() {
        let text = GRANTS.replace(r#", zookeeper/1="idle""#, "");
        assert_restart_lines_held_the_lock(&lines(&text), "two");
    }

    #[test]
    #[should_panic(expected = "zookeeper/2 restarted without the lock")]
    fn a_restart_without_the_grant_fails() {
        let text = format!(
            "{GRANTS}unit-zookeeper-2: 18:24:58 INFO unit.zookeeper/2.juju-log plan: restart\n"
        );
        assert_restart_lines_held_the_lock(&lines(&text), "no grant");
    }
}
