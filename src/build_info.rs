//! Facts baked into the binary when it is built.
//!
//! `cargo xtask pack --revision N` builds with `ZK_CHARM_REVISION=N` in the environment, so a
//! charm "built with a new revision" differs from the previous one the way a new Charmhub
//! revision would (the upgrade logic compares revisions). Cargo rebuilds the crate when that
//! variable changes, because `option_env!` records it as a build input.

/// The charm revision this binary was built as; `"1"` unless `ZK_CHARM_REVISION` was set at
/// build time.
pub const CHARM_REVISION: &str = match option_env!("ZK_CHARM_REVISION") {
    Some(rev) => rev,
    None => "1",
};

/// The crate version (`0.1.0`).
pub const CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_revision_is_a_positive_integer() {
        let rev: u64 = CHARM_REVISION
            .parse()
            .expect("ZK_CHARM_REVISION is a number");
        assert!(rev >= 1);
    }
}
