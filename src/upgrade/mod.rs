//! In-place upgrades: the version language and the dependency model that decide whether
//! the deployed charm and ZooKeeper may be refreshed to this revision.
//!
//! - [`version`]: PEP 440 versions and Poetry (poetry-core) version constraints.

pub mod version;
