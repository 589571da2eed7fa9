//! Whole hooks and actions, run in-process against the in-memory Juju (`FakeHookTools`),
//! workload (`MemWorkload`) and ensemble (`FakeEnsemble`), in the shape of ops' Scenario:
//! a world in, the charm's real entry point, and what it did out (the hook-tool calls made
//! and not made, the bag writes, the status, the reconfigs, the workload's operations).
//!
//! - [`scenario`]: the harness (`Hook::update_status().steady(1, 3).leader(false).run()`);
//! - [`lifecycle`]: install, start, config-changed, update-status, leader hooks,
//!   upgrade-charm, stop, remove, and the storage hooks;
//! - [`relations`]: each peer relation's created, joined, changed, departed and broken;
//! - [`actions`]: every action on the leader and on a non-leader, and their refusals;
//! - [`budgets`]: the hook-tool call counts `BENCHMARKS.md` reports, exactly;
//! - [`failures`]: a failed upgrade, failing tools, workload and ensemble faults;
//! - [`cos_agent`]: the COS agent's config in each unit's `cos-agent` bag;
//! - [`machine`]: the data disk's watchdog, the heap from the machine, swap, conflicting
//!   options;
//! - [`tls`]: the `certificates` relation's hooks and `set-tls-private-key`.

mod actions;
mod budgets;
mod clients;
mod cos_agent;
mod failures;
mod lifecycle;
mod machine;
mod relations;
mod scenario;
mod tls;
