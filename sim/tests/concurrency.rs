//! Hooks of different units run at the same time, as Juju's unit agents run them: one hook
//! at a time per unit, up to K units at once; sequence numbers, contexts and commits stay
//! whole; a pause point holds a unit at a hook-tool call so that a test can force an
//! interleaving.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{charm, model, read};
use zk_sim::state::PauseState;
use zk_sim::{Model, SettleLimits};

/// Every run appends `<unit> <start ns> <end ns>` to `$CTL/spans`, sleeping in between.
const SPANS: &str = r#"
t0=$(date +%s%N)
sleep 0.15
echo "$U $t0 $(date +%s%N)" >> "$CTL/spans"
"#;

fn spans(c: &common::TestCharm) -> Vec<(String, u128, u128)> {
    read(&c.ctl.join("spans"))
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

/// The most spans that overlap at one instant, and whether two of one unit ever did.
fn overlap(spans: &[(String, u128, u128)]) -> (usize, bool) {
    let mut most = 0;
    let mut same_unit = false;
    for (u, a, _) in spans {
        let live: Vec<&String> = spans
            .iter()
            .filter(|(_, s, e)| s <= a && a < e)
            .map(|(v, _, _)| v)
            .collect();
        most = most.max(live.len());
        same_unit |= live.iter().filter(|v| **v == u).count() > 1;
    }
    (most, same_unit)
}

fn parallel(k: usize) -> SettleLimits {
    SettleLimits {
        parallel: k,
        ..SettleLimits::fast()
    }
}

#[test]
fn hooks_of_different_units_overlap_up_to_k_at_once_and_one_unit_never_runs_two() {
    let c = charm(SPANS);
    let mut m = model(&c, 41);
    m.deploy(5).unwrap();
    let report = m.settle(parallel(3)).unwrap();
    assert_eq!(report.max_parallel, 3, "{report}");
    let (most, same_unit) = overlap(&spans(&c));
    assert!(!same_unit, "one unit ran two hooks at once");
    assert!((2..=3).contains(&most), "{most} hooks at once with K=3");
    // Sequence numbers are unique and gapless; every context is its own.
    let log = m.hook_log().unwrap();
    let seqs: Vec<u64> = log.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=log.len() as u64).collect::<Vec<_>>());
    let contexts: BTreeSet<&String> = log.iter().map(|r| &r.context_id).collect();
    assert_eq!(contexts.len(), log.len());
    // And K=1 runs one hook at a time in the whole model.
    let c1 = charm(SPANS);
    let mut m1 = model(&c1, 41);
    m1.deploy(3).unwrap();
    assert_eq!(m1.settle(parallel(1)).unwrap().max_parallel, 1);
    assert_eq!(overlap(&spans(&c1)).0, 1);
}

#[test]
fn overlapping_hooks_commit_whole_so_no_unit_reads_half_of_another_units_hook() {
    // Each config-changed writes the two keys of one generation; every -changed reads both.
    let c = charm(
        r#"
if [ "$H" = config-changed ]; then
  g=$(config-get tick-time)
  relation-set -r cluster:0 "a=$g"
  sleep 0.05
  relation-set -r cluster:0 "b=$g"
fi
if [ "$H" = cluster-relation-changed ] && [ -n "$JUJU_REMOTE_UNIT" ]; then
  a=$(relation-get -r cluster:0 a "$JUJU_REMOTE_UNIT")
  b=$(relation-get -r cluster:0 b "$JUJU_REMOTE_UNIT")
  echo "$U $JUJU_REMOTE_UNIT $a $b" >> "$CTL/reads"
fi
"#,
    );
    let mut m = model(&c, 42);
    m.deploy(4).unwrap();
    m.settle(parallel(4)).unwrap();
    for t in ["2100", "2200", "2300"] {
        m.set_config(&[("tick-time", t)]).unwrap();
        let r = m.settle(parallel(4)).unwrap();
        assert!(r.max_parallel >= 2, "{r}");
    }
    let reads = read(&c.ctl.join("reads"));
    assert!(reads.lines().count() > 20, "{reads}");
    for l in reads.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f.get(2), f.get(3), "half a commit read: {l}");
    }
}

#[test]
fn a_pause_point_holds_one_unit_at_a_tool_call_while_the_others_go_on_until_released() {
    let c = charm(
        r#"
if [ "$H" = start ]; then juju-log "starting $U"; echo "$U started" >> "$CTL/started"; fi
"#,
    );
    let mut m = model(&c, 43);
    m.deploy(3).unwrap();
    let id = m
        .pause_at_matching("tiny/1", "juju-log", 1, "starting")
        .unwrap();
    let dir = m.dir().to_path_buf();
    let ctl = c.ctl.clone();
    // Another handle on the model, as a test thread beside the settle.
    let watcher = std::thread::spawn(move || {
        let h = Model::open(&dir).unwrap();
        assert!(h.wait_paused(id, Duration::from_secs(20)).unwrap());
        // While tiny/1 is held in its start hook, the others finish theirs.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let started = read(&ctl.join("started"));
            if started.contains("tiny/0 started") && started.contains("tiny/2 started") {
                assert!(!started.contains("tiny/1"), "{started}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{started}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let held = h.pause_point(id).unwrap();
        assert_eq!(held.state, PauseState::Holding);
        assert!(held.context.unwrap().starts_with("tiny/1-start-"));
        h.release(id).unwrap();
    });
    let report = m.settle(parallel(3)).unwrap();
    watcher.join().unwrap();
    assert!(read(&c.ctl.join("started")).contains("tiny/1 started"));
    assert_eq!(m.pause_point(id).unwrap().state, PauseState::Released);
    assert!(report.problems().is_empty(), "{report:?}");
}

#[test]
fn two_leaving_units_forced_to_act_at_once_each_depart_every_member_once() {
    // Each dying unit holds at its first -departed until both are held, then both go.
    let c = charm(
        r#"
if [ "$H" = cluster-relation-departed ]; then
  juju-log "departing $JUJU_REMOTE_UNIT as $JUJU_DEPARTING_UNIT"
  t0=$(date +%s%N); sleep 0.2
  echo "$U $t0 $(date +%s%N)" >> "$CTL/spans"
fi
"#,
    );
    let mut m = model(&c, 44);
    m.deploy(5).unwrap();
    m.settle(parallel(3)).unwrap();
    let mark = common::mark(&m);
    let p3 = m
        .pause_at_matching("tiny/3", "juju-log", 1, "departing")
        .unwrap();
    let p4 = m
        .pause_at_matching("tiny/4", "juju-log", 1, "departing")
        .unwrap();
    m.remove_unit("tiny/3").unwrap();
    m.remove_unit("tiny/4").unwrap();
    let dir = m.dir().to_path_buf();
    let releaser = std::thread::spawn(move || {
        let h = Model::open(&dir).unwrap();
        assert!(h.wait_paused(p3, Duration::from_secs(30)).unwrap());
        assert!(h.wait_paused(p4, Duration::from_secs(30)).unwrap());
        h.release(p3).unwrap();
        h.release(p4).unwrap();
    });
    let report = m.settle(parallel(3)).unwrap();
    releaser.join().unwrap();
    assert!(report.problems().is_empty(), "{report:?}");
    // The two held hooks ran at the same time.
    let s = spans(&c);
    let first = |u: &str| s.iter().find(|x| x.0 == u).cloned().unwrap();
    let (a, b) = (first("tiny/3"), first("tiny/4"));
    assert!(a.1 < b.2 && b.1 < a.2, "not at once: {a:?} {b:?}");
    // One -departed per (unit, member), the departing unit decided as it ran.
    let log = m.hook_log().unwrap();
    let mut per: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in common::after(&log, mark) {
        if r.hook == "cluster-relation-departed" {
            let remote = r.remote_unit.clone().unwrap();
            let dying = r.unit == "tiny/3" || r.unit == "tiny/4";
            let departing = if dying { &r.unit } else { &remote };
            assert_eq!(r.env.get("JUJU_DEPARTING_UNIT"), Some(departing), "{r}");
            *per.entry((r.unit.clone(), remote)).or_default() += 1;
        }
    }
    assert!(per.values().all(|n| *n == 1), "{per:?}");
    assert_eq!(per.len(), 3 * 2 + 2 * 4, "{per:?}");
}

#[test]
fn one_units_update_status_timer_can_fire_while_another_unit_is_in_a_hook() {
    let c = charm(
        r#"
if [ "$A" = do ]; then juju-log "holding"; fi
if [ "$H" = update-status ]; then echo "$U" >> "$CTL/ticks"; fi
"#,
    );
    let mut m = model(&c, 45);
    m.deploy(2).unwrap();
    m.settle(parallel(2)).unwrap();
    let _ = std::fs::remove_file(c.ctl.join("ticks"));
    // tiny/0 is held in an action; tiny/1's timer fires meanwhile.
    let id = m
        .pause_at_matching("tiny/0", "juju-log", 1, "holding")
        .unwrap();
    m.enqueue_action("tiny/0", "do", Default::default())
        .unwrap();
    let dir = m.dir().to_path_buf();
    let ctl = c.ctl.clone();
    let other = std::thread::spawn(move || {
        let mut h = Model::open(&dir).unwrap();
        assert!(h.wait_paused(id, Duration::from_secs(20)).unwrap());
        assert!(h.queue_update_status("tiny/1").unwrap());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !read(&ctl.join("ticks")).contains("tiny/1") {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(20));
        }
        h.release(id).unwrap();
    });
    let limits = SettleLimits {
        tick_interval: Duration::from_millis(1),
        ..parallel(2)
    };
    m.settle(limits).unwrap();
    other.join().unwrap();
    let ticks = read(&c.ctl.join("ticks"));
    assert!(ticks.starts_with("tiny/1\n"), "{ticks}");
}
