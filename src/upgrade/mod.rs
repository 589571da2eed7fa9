//! In-place upgrades (`pre-upgrade-check`, then `juju refresh`), on the `upgrade` peer
//! relation ([`crate::peers::upgrade`]) with the data-platform upgrade lib's contract.
//!
//! - `decide`: the upgrade part of each round's decision (whose turn, when it is done,
//!   failure and rollback);
//! - [`check`]: `pre-upgrade-check`'s health check, the upgrade order, the rollback order.
//!
//! Whether the deployed revision may be upgraded to this one is the dependency model's
//! question ([`crate::deps`]); the snapshot carries its answer.

pub mod check;
pub(crate) mod decide;
