//! A Juju machine charm for Apache ZooKeeper, as one Rust binary.
//!
//! # Layout
//!
//! - [`dispatch`] and [`env`]: which hook or action runs, from Juju's environment.
//! - [`hooktools`]: the one boundary to Juju (hook-tool subprocesses, and an in-memory fake).
//! - [`workload`]: the one boundary to ZooKeeper's service and files (snap, or local process).
//! - [`zk`]: the one ZooKeeper client (4-letter words, dynamic reconfig as `super`).
//! - [`config`]: charm config validated into a struct.
//! - [`status`]: candidate statuses collected during a hook, one `status-set` at the end.
//! - [`tls`]: keys, CSRs, the `certificates` relation, ZooKeeper's TLS files and the
//!   plaintext/TLS switch, as pure code.
//!
//! Each hook reads a typed snapshot of the world, decides a plan with pure code, executes
//! it, then computes the unit status once from the whole picture.

pub mod build_info;
pub mod charm;
pub mod config;
pub mod decide;
pub mod dispatch;
pub mod env;
pub mod execute;
pub mod hooktools;
pub mod observe;
pub mod passwords;
pub mod render;
pub mod snapshot;
pub mod status;
pub mod tls;
pub mod upgrade;
pub mod upgrade_flow;
pub mod workload;
pub mod zk;
