//! A Juju machine charm for Apache ZooKeeper, as one Rust binary.
//!
//! # Layout
//!
//! Boundaries (traits, each with a real implementation and an in-memory one for tests, so
//! that a whole hook runs in-process: `tests/hooks/`):
//! - [`hooktools`]: Juju's hook tools (subprocesses; [`hooktools::fake`]);
//! - [`workload`]: ZooKeeper's service and files (the snap, or a local process;
//!   [`workload::mem`]);
//! - [`zk`]: the ZooKeeper ensemble (4-letter words, reconfig and ACLs as `super` over
//!   SASL, the
//!   [`zk::ensemble::Ensemble`] trait; [`zk::fake`]);
//! - [`env`](mod@env): the hook's environment variables.
//!
//! One hook, in the order it runs:
//! - [`dispatch`]: which hook or action runs, and the [`dispatch::EventFacts`] it implies;
//! - [`charm`]: the reconcile loop (observe, decide, execute until idle; one status);
//! - `observe`: builds the [`snapshot::Snapshot`] through the boundaries;
//! - [`decide`]: the pure decision, a [`plan::Plan`] (with `quorum` for majorities and
//!   `upgrade::decide` for upgrades);
//! - `execute`: carries a plan out;
//! - [`actions`]: one module per action, returning results and a plan fragment.
//!
//! Data and rules:
//! - [`peers`]: the peer relations' bags as types, and the typed writes (and the `zookeeper`
//!   client relation's);
//! - [`client`]: the provider side of the `zookeeper` relation: which clients get what,
//!   chroots and their ACLs, publication through Juju secrets;
//! - [`config`]: charm config validated into a struct;
//! - [`machine`]: the machine's memory, the data filesystem and ZooKeeper's data files as
//!   facts, and the rules over them (the heap, the log sizing, what a purge deletes);
//! - [`passwords`]: the password rule, the internal secret's content, the passwords in
//!   effect and their placeholder shape, and the `sync` rotation;
//! - [`render`]: `zoo.cfg`, the dynamic config, JAAS, `myid`, and their fingerprint;
//! - [`ghost`]: voters of the live config that no unit stands behind;
//! - [`local_state`]: the charm's private state files on the unit;
//! - [`upgrade`]: the upgrade decision and `pre-upgrade-check`'s checks;
//! - [`deps`]: the upgrade lib's dependency model and its PEP 440 versions;
//! - [`status`]: candidate statuses collected during a hook, one `status-set` at the end;
//! - [`cos`]: observability: the `cos-agent` relation's bag ([`cos::relation`]) and the
//!   config every unit publishes there (alert rules, dashboard, scrape jobs, log slot), and
//!   the metrics exporters' settings;
//! - [`tls`]: keys, CSRs, the `certificates` relation, ZooKeeper's TLS files and the
//!   plaintext/TLS switch, as pure code (`decide`'s `tls` module wires it into the hooks);
//! - `logging` and `report`: `log` records to `juju-log`; error chains as text.
//!
//! Each hook reads a typed snapshot of the world, decides a plan with pure code, executes
//! it, then computes the unit status once from the whole picture. The module graph has no
//! cycle (`tests/module_graph.rs`).

pub mod actions;
pub mod charm;
pub mod client;
pub mod config;
pub mod cos;
pub mod decide;
pub mod deps;
pub mod dispatch;
pub mod env;
pub(crate) mod execute;
#[cfg(test)]
mod fixtures;
pub mod ghost;
pub mod hooktools;
pub mod local_state;
pub mod logging;
pub mod machine;
pub(crate) mod observe;
pub mod passwords;
pub mod peers;
pub mod plan;
pub(crate) mod quorum;
pub mod render;
pub mod report;
pub mod snapshot;
pub mod status;
pub mod subprocess;
pub mod tls;
pub mod upgrade;
pub mod workload;
pub mod zk;
