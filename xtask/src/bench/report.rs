//! What the bench prints and writes: tables, the targets' verdicts, where the time goes,
//! and `BENCHMARKS.md` with the machine and the date.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use testkit::model::jvm_settle_limits;
use testkit::workspace_root;

use super::convergence::{Converged, CONVERGENCE_HEADERS};
use super::measure::{mb, median, ms, Baseline, Row, HEADERS, WARM_UP};
use super::BenchOptions;

pub(super) fn text_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(headers.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

pub(super) fn md_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n", headers.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        headers.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | ").replace('\n', " "));
    }
    out
}

/// The targets, checked against the rows.
pub(super) fn verdicts(rows: &[Row]) -> Vec<String> {
    let who = |r: &Row| format!("{} ({} units, {})", r.what, r.units, r.role);
    let misses = |miss: &dyn Fn(&Row) -> Option<String>| -> Vec<String> {
        rows.iter()
            .filter_map(|r| miss(r).map(|v| format!("{} {v}", who(r))))
            .collect()
    };
    let slower = |f: fn(&Row) -> Duration| {
        misses(&|r: &Row| (f(r) >= Duration::from_millis(10)).then(|| ms(f(r))))
    };
    let targets = [
        (
            "target median < 10 ms per hook, whole wall time (ZooKeeper waits and hook tools included)",
            slower(Row::median_wall),
        ),
        (
            "target median < 10 ms per hook, wall time outside the hook tools (ZooKeeper waits still included)",
            slower(|r| median(&r.own_times())),
        ),
        (
            "target median < 10 ms per hook, charm CPU time (a lower bound: no waiting at all)",
            slower(|r| median(&r.charm_cpus)),
        ),
        (
            "target peak RSS < 10 MB per hook (the charm process's own)",
            misses(&|r: &Row| (r.peak_rss() as f64 * 1024.0 >= 10e6).then(|| mb(r.peak_rss()))),
        ),
        (
            "target 0 workload subprocesses (`snap` commands) in every measured hook: they all run in a steady state",
            misses(&|r: &Row| (r.max_workload_calls() > 0).then(|| r.workload_calls_text())),
        ),
        (
            "target <= 8 hook-tool calls for update-status and cluster-relation-changed",
            misses(&|r: &Row| {
                let watched = r.what == "update-status" || r.what == "cluster-relation-changed";
                (watched && r.max_calls() > 8).then(|| r.calls_text())
            }),
        ),
    ];
    let list = |v: &[String]| {
        if v.is_empty() {
            String::new()
        } else {
            format!(": {}", v.join("; "))
        }
    };
    let mut out: Vec<String> = targets
        .iter()
        .map(|(target, missed)| {
            let verdict = if missed.is_empty() { "met" } else { "NOT met" };
            format!("{target}: {verdict}{}", list(missed))
        })
        .collect();
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.failures.is_empty())
        .map(|r| format!("{}: {}", who(r), r.failures[0]))
        .collect();
    if !failed.is_empty() {
        out.push(format!("failed runs{}", list(&failed)));
    }
    let unsteady: Vec<String> = rows
        .iter()
        .filter(|r| r.follow_ups > 0)
        .map(|r| format!("{}: {} follow-up hooks", who(r), r.follow_ups))
        .collect();
    if !unsteady.is_empty() {
        out.push(format!(
            "runs that queued more hooks (not a steady state){}",
            list(&unsteady)
        ));
    }
    out
}

/// How convergence grows with N, as ratios to the smallest N of each kind.
pub(super) fn growth(conv: &[Converged]) -> Vec<String> {
    let mut out = Vec::new();
    let kinds: BTreeSet<&str> = conv.iter().map(|c| c.what.as_str()).collect();
    for kind in kinds {
        let of: Vec<&Converged> = conv.iter().filter(|c| c.what == kind).collect();
        let Some(base) = of.first() else { continue };
        let parts: Vec<String> = of
            .iter()
            .map(|c| {
                let hooks = c.hooks - c.update_status;
                format!(
                    "N={}: {} hooks ({:.1}/unit), {:.1} s ({:.1} s/unit)",
                    c.units,
                    hooks,
                    hooks as f64 / c.units as f64,
                    c.wall.as_secs_f64(),
                    c.wall.as_secs_f64() / c.units as f64
                )
            })
            .collect();
        let last = of.last().expect("not empty");
        out.push(format!(
            "{kind}: {}; from N={} to N={}: hooks x{:.2}, time x{:.2} (units x{:.2})",
            parts.join("; "),
            base.units,
            last.units,
            (last.hooks - last.update_status) as f64
                / (base.hooks - base.update_status).max(1) as f64,
            last.wall.as_secs_f64() / base.wall.as_secs_f64().max(1e-9),
            last.units as f64 / base.units as f64
        ));
    }
    out
}

/// The wall time of a steady non-leader's `update-status`, taken apart with the baselines.
pub(super) fn where_the_time_goes(rows: &[Row], b: &Baseline) -> Vec<String> {
    let mut out = vec![format!(
        "On this machine, spawning and reaping a trivial program (`/bin/true`) takes {} \
         (median of 50): each hook-tool process pays about that before its `main`.",
        ms(b.spawn)
    )];
    for r in rows
        .iter()
        .filter(|r| r.what == "update-status" && r.role == "non-leader")
    {
        let Some(mntr) = b.mntr.get(&r.units) else {
            continue;
        };
        let wall = r.median_wall();
        let tools = median(&r.tool_walls);
        let calls = r.calls.iter().copied().max().unwrap_or(0);
        let spawns = b.spawn * calls;
        let cpu = median(&r.charm_cpus);
        let known = tools + spawns + *mntr + cpu;
        let rest = if wall >= known {
            ms(wall - known)
        } else {
            format!("-{}", ms(known - wall))
        };
        out.push(format!(
            "{} units, update-status on a non-leader: median {} = {} in its {calls} tools \
             + about {} starting them ({calls} x {}) + {} for its server's `mntr` (one round \
             trip, measured apart) + {} of the charm's own CPU + {rest} for the rest (the \
             charm's own exec and start-up, file reads, scheduling).",
            r.units,
            ms(wall),
            ms(tools),
            ms(spawns),
            ms(b.spawn),
            ms(*mntr),
            ms(cpu),
        ));
    }
    out
}

pub(super) fn report(
    opts: &BenchOptions,
    rows: &[Row],
    baseline: &Baseline,
    sizes: &[(String, u64)],
    conv: &[Converged],
    elapsed: Duration,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Generated by `cargo xtask bench --write` on {} at commit `{}` (the run took {:.0} s). \
         Every number below comes from that run; rerun the command to refresh them.\n",
        now_utc(),
        git_commit(),
        elapsed.as_secs_f64()
    );
    let _ = writeln!(s, "## Machine\n");
    for (k, v) in machine() {
        let _ = writeln!(s, "- {k}: {v}");
    }
    let _ = writeln!(s, "\n## Hook cost\n");
    let _ = writeln!(
        s,
        "The release charm (`cargo xtask pack`) on the local model (`zk-sim`) with real ZooKeeper \
         servers, one per unit on loopback. Each model is deployed and settled until every unit is \
         active; then each hook and read-only action runs {} times (after {WARM_UP} warm-up runs) \
         on the Juju leader and on a non-leader, in rounds that run every case once (so that a \
         burst of noise on the machine spreads over all rows), through \
         `Model::run_hook_measured`: the same \
         environment, hook tools, commit and fan-out as any hook, timed from spawn to exit with a \
         blocking `wait4(2)`.\n",
        opts.iterations
    );
    let _ = writeln!(
        s,
        "- **median / p95**: wall time of the hook process from spawn to exit, including its \
         hook-tool calls and every ZooKeeper query it makes (4-letter words, client sessions).\n\
         - **in tools**: the summed wall time of its hook-tool processes, as each measured \
         itself (from `main`, so process start-up is not in it). The sim's tools \
         (`sim-jujuc`, release build) each lock and parse the model file; Juju's `jujuc` \
         makes an RPC to the unit agent instead.\n\
         - **outside tools**: median minus in tools: the charm's own work, starting the tool \
         processes, and waiting for ZooKeeper. The issue's target excludes ZooKeeper network \
         waits; they cannot be told apart from outside the process, so this column is an \
         upper bound of that figure and **charm CPU** a lower bound.\n\
         - **charm CPU**: CPU time of the charm process alone, without its tool processes: \
         its run time from `/proc/<pid>/schedstat`, read after it exited and before it was \
         reaped. It includes the charm's side of spawning each tool, not the tools' \
         start-up or work, nor the leader's health queries, which run on short-lived threads \
         (a 4-letter word's send, read and parse each).\n\
         - **charm peak RSS**: the charm process's own high-water mark (`VmHWM`, sampled every \
         millisecond while it runs). **tool peak RSS**: the largest `VmHWM` of its tool \
         processes. (`ru_maxrss` is not used: Linux counts in it the pages the spawning \
         process shared with the child before `exec`.)\n\
         - **tool calls**: hook-tool processes the hook ran (the charm caches reads within a \
         hook, so every one is a real invocation); `by tool` is the run with the median count.\n\
         - **workload subprocesses**: `snap` commands the hook ran (the local model's `snap` \
         records its calls like the hook tools). On a machine each is a call to snapd, and \
         `snap services`/`snap list` were in every hook before; now whether ZooKeeper runs is \
         read from `/proc` and whether the snap is installed from `/snap`, and the version is \
         asked only after an install or upgrade.\n\
         - **follow-up hooks**: hooks the measured runs queued (run unmeasured before the next \
         run). In a steady state this is 0, except after `pre-upgrade-check`, which prepares an \
         upgrade (every unit marks itself ready); it refuses to run again while an upgrade is \
         prepared, so it runs once, last.\n\
         - `leader-settings-changed` runs only on non-leaders and `leader-elected` only on the \
         leader, as Juju runs them. Relation hooks name the other measured unit as the remote \
         unit.\n\
         - Not measured here: `install`, `stop`, `remove`, `-relation-joined`/`-departed`, \
         `upgrade-charm` and `set-password` change the model (they start, stop, add or remove \
         servers, or roll a restart through every unit); their cost is in the convergence \
         figures below. The `zookeeper` client relation has no data of its own yet.\n"
    );
    for &n in &opts.sizes {
        let cells = Row::table(rows, n);
        let _ = writeln!(s, "### {n} units\n");
        s.push_str(&md_table(&HEADERS, &cells));
        s.push('\n');
    }
    let _ = writeln!(s, "### Against the targets\n");
    for line in verdicts(rows) {
        let _ = writeln!(s, "- {line}");
    }
    let _ = writeln!(
        s,
        "\nWhere the hook-tool calls go: every hook asks `is-leader` and `config-get`, and reads \
         its own bag and the app bag of each peer relation (`cluster`, `restart`, `upgrade`): \
         8 calls, which is all a steady non-leader does (it writes nothing, and `status-set` \
         runs only when the status changes). The leader also reads every other unit's `cluster` \
         and `restart` bags (one `relation-list` and one `relation-get` per unit each) and the \
         internal secret (it reads the membership in a session as `super`), so it makes \
         2N + 11 calls with N units: it decides membership and the restart lock from a \
         current view of every unit, read in the hook, rather than from a cache kept across \
         hooks that Juju's relation-changed events would have to keep right. Other units' \
         `upgrade` bags are read only while an upgrade is prepared or running."
    );
    let _ = writeln!(s, "\n### Where the time goes\n");
    for line in where_the_time_goes(rows, baseline) {
        let _ = writeln!(s, "- {line}");
    }
    let _ = writeln!(
        s,
        "- The leader also asks every other unit's server for its health (`mntr`, all at \
         once, one thread each) and one server for the voting members (`/zookeeper/config` \
         in a session as `super`), and runs 2N + 11 tools instead of 8."
    );
    let _ = writeln!(s, "\n## Packed charm\n");
    for (name, size) in sizes {
        let _ = writeln!(s, "- `{name}`: {size} bytes ({:.2} MB)", *size as f64 / 1e6);
    }
    if !conv.is_empty() {
        let _ = writeln!(s, "\n## Convergence\n");
        let _ = writeln!(
            s,
            "Fresh models on the same sim and ZooKeeper. `deploy -> all active`: from `deploy -n N` \
             until every unit's status is active. `refresh -> upgrade done`: after \
             `pre-upgrade-check` on the leader and the hooks it queues, from `refresh` to a \
             revision-2 charm (`cargo xtask pack --revision 2`) until every unit is active, idle \
             in the upgrade relation, with no upgrade pending and every ZooKeeper server \
             restarted. The sim runs one hook at a time (the unit picked by a seeded PRNG, seed \
             {}); when nothing is queued it fires an update-status round on every unit (a \
             simulated 5-minute tick) after {} ms of real time, so that ZooKeeper can start and \
             elect between rounds. `ticks` counts those rounds: on Juju each one is 5 minutes, \
             so it is the figure to read for a real deployment's convergence time. `to quiet` \
             runs on until a whole round changes nothing.\n",
            opts.seed,
            jvm_settle_limits().tick_interval.as_millis()
        );
        let cells: Vec<Vec<String>> = conv.iter().map(Converged::cells).collect();
        s.push_str(&md_table(&CONVERGENCE_HEADERS, &cells));
        s.push('\n');
        let _ = writeln!(s, "How it grows with N:\n");
        for line in growth(conv) {
            let _ = writeln!(s, "- {line}");
        }
    }
    s
}

/// Machine facts for the report.
pub fn machine() -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let mhz = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("cpu MHz"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| format!(" at {:.0} MHz", v.trim().parse::<f64>().unwrap_or(0.0)))
        .unwrap_or_default();
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                let kib: u64 = l
                    .strip_prefix("MemTotal:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()?;
                Some(format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)))
            })
        })
        .unwrap_or_else(|| "?".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    let cmd_line = |prog: &str, args: &[&str]| {
        Command::new(prog)
            .args(args)
            .output()
            .ok()
            .map(|o| {
                let text = if o.stdout.is_empty() {
                    o.stderr
                } else {
                    o.stdout
                };
                String::from_utf8_lossy(&text)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .unwrap_or_else(|| "?".into())
    };
    vec![
        ("CPU".into(), format!("{cpu}{mhz}")),
        ("nproc".into(), nproc),
        ("Memory".into(), mem),
        ("Kernel".into(), kernel),
        ("Java".into(), cmd_line("java", &["-version"])),
        ("rustc".into(), cmd_line("rustc", &["--version"])),
        (
            "ZooKeeper".into(),
            "Debian's 3.8.0 jars (/usr/share/java/zookeeper.jar), run as uid 584788 by the local \
             model's charmed-zookeeper snap (the charm's snap workload, each unit on a machine of \
             its own)"
                .into(),
        ),
    ]
}

pub fn now_utc() -> String {
    format!("{} UTC", charm_files::UtcTime::now())
}

pub(super) fn git_commit() -> String {
    Command::new("git")
        .current_dir(workspace_root())
        .args(["describe", "--always", "--dirty", "--abbrev=10"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_hook_tool_target_flags_only_update_status_and_relation_changed() {
        let row = |what: &str, calls: u32| Row {
            units: 3,
            what: what.into(),
            role: "leader",
            walls: vec![Duration::from_millis(1)],
            tool_walls: vec![Duration::ZERO],
            charm_cpus: vec![Duration::from_millis(1)],
            charm_rss_kib: vec![1000],
            tool_rss_kib: 1000,
            calls: vec![calls],
            workload_calls: vec![0],
            by_tool: BTreeMap::new(),
            follow_ups: 0,
            failures: vec![],
        };
        let v = verdicts(&[row("config-changed", 20), row("update-status", 8)]);
        assert!(v[5].ends_with(": met"), "{v:?}");
        assert!(v[4].ends_with(": met"), "{v:?}");
        let v = verdicts(&[row("cluster-relation-changed", 9)]);
        assert!(v[5].contains("NOT met") && v[5].contains("9"), "{v:?}");
    }
}
