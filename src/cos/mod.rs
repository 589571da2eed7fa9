//! Observability through the Canonical Observability Stack: the server settings that serve
//! the metrics ([`exporters`]).
//!
//! Everything here is pure. The assets live under `cos/` at the root of the repository,
//! where an operator can read and change them.

pub mod exporters;

pub use exporters::Capabilities;
