//! What drives real ZooKeeper servers in tests, shared by the integration tests
//! (`tests/*.rs`), `cargo xtask bench` and `cargo xtask chaos`: one copy of each piece.
//!
//! # Layout
//!
//! - [`background`]: a thread that runs until stopped and hands back its result.
//! - [`host`]: [`require_zookeeper`], failing with the apt command when Java or the jars
//!   are missing.
//! - [`build`]: building the charm binary with build-time variables, and a charm directory
//!   around a binary.
//! - [`server`]: a unit's live ZooKeeper process, as its machine's fake snapd started it.
//! - [`invariants`]: the pure checker of "at most one server out of service through the
//!   charm" and "no quorum lost through the charm", fed one sample at a time.
//! - [`watch`]: sampling a model's servers (after each hook, or every period in a
//!   background thread) into that checker and into per-unit timelines of restarts.
//! - [`writes`]: acknowledged client writes (a background writer, one-shot writes, reading
//!   them back).
//! - [`members`]: the live membership read as the charm reads it (as `super`).
//! - [`model`]: helpers over a [`zk_sim::Model`] whose hooks start JVMs (settle limits,
//!   unit descriptions, addresses, passwords).
//! - [`cluster`]: [`Cluster`], a model with real ZooKeeper for tests (panics on failure).
//! - [`ensemble`]: [`Ensemble`], servers started directly with the local workload, no model.
//! - [`extra`]: [`extra::ExtraServer`], a server outside a model that joins its ensemble.
//! - [`local_workload`]: that test-only workload (Debian's jars as a plain process).
//! - [`tls_provider`]: a `tls-certificates` provider stub that signs with a test CA
//!   (`openssl`), and TLS probes of the servers (`openssl s_client`).

pub mod background;
pub mod build;
pub mod cluster;
pub mod ensemble;
pub mod extra;
pub mod host;
pub mod invariants;
pub mod local_workload;
pub mod members;
pub mod model;
pub mod server;
pub mod tls_provider;
pub mod watch;
pub mod writes;

use std::path::PathBuf;

pub use cluster::Cluster;
pub use ensemble::Ensemble;
pub use host::require_zookeeper;
pub use server::{live_server, ServerProcess};

/// The workspace root (the parent of `testkit/`).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// The event-order seeds of a test: `ZK_TEST_SEEDS=1,2,3` overrides `default`.
pub fn seeds(default: &[u64]) -> Vec<u64> {
    match std::env::var("ZK_TEST_SEEDS") {
        Ok(s) if !s.trim().is_empty() => s
            .split(',')
            .map(|x| x.trim().parse().expect("ZK_TEST_SEEDS: numbers"))
            .collect(),
        _ => default.to_vec(),
    }
}

/// The charm built by the calling crate's `cargo test` (its debug `zookeeper-charm`
/// binary), as a charm directory under `into`. Only the charm crate's integration tests
/// have that binary.
#[macro_export]
macro_rules! test_charm {
    ($into:expr) => {
        $crate::build::charm_dir(
            ::std::path::Path::new(env!("CARGO_BIN_EXE_zookeeper-charm")),
            $into,
        )
        .expect("a charm directory around the test binary")
    };
}
