//! In-place upgrades: the version language and the dependency model that decide whether
//! the deployed charm and ZooKeeper may be refreshed to this revision.
//!
//! - [`version`]: PEP 440 versions and Poetry (poetry-core) version constraints.
//! - [`deps`]: the dependency model compiled into the charm, and the compatibility check
//!   against the model stored in the `upgrade` relation.

pub mod deps;
pub mod version;
