//! In-place upgrades (`pre-upgrade-check`, then `juju refresh`), on the `upgrade` peer
//! relation ([`crate::peers::upgrade`]) with the data-platform upgrade lib's contract.
//!
//! - `decide`: the upgrade part of each round's decision (whose turn, when it is done,
//!   failure and rollback);
//! - [`check`]: `pre-upgrade-check`'s health check, the upgrade order, the rollback order;
//! - [`facts`]: whether the deployed revision may be upgraded to this one;
//! - [`deps`]: the dependency model compiled into the charm, and the compatibility check
//!   against the model stored in the relation;
//! - [`version`]: PEP 440 versions and Poetry (poetry-core) version constraints, the
//!   language of that model.

pub mod check;
pub(crate) mod decide;
pub mod deps;
pub mod facts;
pub mod version;
