//! The other charm revisions these tests refresh to: this crate built again with build-time
//! overrides, into their own target dir (`<target>/upgrade-revisions`, so the main build
//! lock and artifacts are left alone), once per test binary run.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use testkit::build::{charm_dir, CargoBuild};

/// Serialises the extra builds: they share one target dir, and each copies its binary out
/// before the next build overwrites it.
static BUILD_LOCK: Mutex<()> = Mutex::new(());
static NEW_REVISION: OnceLock<PathBuf> = OnceLock::new();
static REFUSING_REVISION: OnceLock<PathBuf> = OnceLock::new();

/// `<target>` of the running `cargo test` (the charm binary is `<target>/<profile>/...`).
fn target_dir() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_zookeeper-charm"));
    exe.parent()
        .and_then(Path::parent)
        .expect("the charm binary lives in <target>/<profile>/")
        .to_path_buf()
}

/// Builds the charm binary as `build` says, in its own target dir (so the main build lock
/// and artifacts are left alone), and returns a copy of it named after `name` (kept across
/// runs; cargo rebuilds only what changed).
fn build_charm_binary(name: &str, build: CargoBuild) -> PathBuf {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = target_dir().join("upgrade-revisions");
    let started = Instant::now();
    let built = build
        .target_dir(&dir)
        .run()
        .unwrap_or_else(|e| panic!("building the {name} revision failed: {e}"));
    let copy = dir.join(format!("zookeeper-charm-{name}"));
    std::fs::copy(&built, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
    eprintln!(
        "built the {name} revision in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    copy
}

/// The same charm as revision 2, charm version 0.2.0 (upgrade_supported unchanged: `>=0.1`).
pub fn new_revision_binary() -> &'static Path {
    NEW_REVISION.get_or_init(|| {
        build_charm_binary(
            "new",
            CargoBuild::charm().charm_vars(Some("2"), Some("0.2.0"), None),
        )
    })
}

/// A revision that only upgrades from charm versions `>=9`: the deployed 0.1.0 is refused.
pub fn refusing_revision_binary() -> &'static Path {
    REFUSING_REVISION.get_or_init(|| {
        build_charm_binary(
            "refusing",
            CargoBuild::charm().charm_vars(Some("3"), Some("9.0.0"), Some(">=9")),
        )
    })
}

/// A charm directory around `binary`.
pub fn charm_dir_with(binary: &Path, into: &Path) -> PathBuf {
    charm_dir(binary, into).expect("a charm directory")
}
