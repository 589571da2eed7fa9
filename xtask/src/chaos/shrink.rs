//! Shrinking a failing scenario: events are removed one at a time while it still fails the
//! same way, within a time budget.

use std::time::{Duration, Instant};

use super::run::{run_scenario, Failure};
use super::scenario::Scenario;
use crate::artifacts::Artifacts;

/// Removes events while the scenario still fails the same way, within `budget`.
pub(super) fn shrink(
    art: &Artifacts,
    seed: u64,
    sc: &Scenario,
    first: &Failure,
    budget: Duration,
) -> (Scenario, Failure, bool) {
    let deadline = Instant::now() + budget;
    let mut best = sc.clone();
    let mut best_failure = first.clone();
    // Events after the failing step never ran.
    best.events.truncate(first.step);
    let mut complete = true;
    let mut i = 0;
    while i < best.events.len() {
        if Instant::now() >= deadline {
            complete = false;
            break;
        }
        let mut candidate = best.clone();
        let removed = candidate.events.remove(i);
        log::info!("shrink: without step {} ({removed}): {candidate}", i + 1);
        match run_scenario(art, seed, &candidate, false) {
            Err(f) if f.kind == first.kind => {
                log::info!("shrink:   still fails ({})", f.kind);
                best_failure = f.clone();
                best = candidate;
                best.events.truncate(f.step);
            }
            Err(f) => {
                log::info!("shrink:   fails differently ({}), keeping the step", f.kind);
                i += 1;
            }
            Ok(_) => {
                log::info!("shrink:   passes, keeping the step");
                i += 1;
            }
        }
    }
    (best, best_failure, complete)
}
