//! Where the `sim-jujuc` hook-tool binary is, or how to build it.

use std::path::PathBuf;

use serde_json::Value;

use crate::SimError;

/// Finds the `sim-jujuc` binary: `$SIM_JUJUC`, else beside the running executable or one
/// directory up (where cargo puts binaries relative to test executables in `deps/`), else,
/// when run by cargo (`$CARGO` set, e.g. another crate's integration tests), builds it with
/// `cargo build -p zk-sim --bin sim-jujuc`.
pub fn locate_jujuc() -> Result<PathBuf, SimError> {
    if let Some(p) = std::env::var_os("SIM_JUJUC") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        return Err(SimError::Setup(format!(
            "SIM_JUJUC={} is not a file",
            p.display()
        )));
    }
    let exe = std::env::current_exe().map_err(SimError::io("find", "the running executable"))?;
    let mut dir = exe.parent();
    for _ in 0..2 {
        let Some(d) = dir else { break };
        let candidate = d.join("sim-jujuc");
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = d.parent();
    }
    // Under `cargo test`/`cargo run` of another package, cargo did not build our binaries:
    // build the tool with the same cargo (it holds no lock while tests run).
    if let Some(cargo) = std::env::var_os("CARGO") {
        if let Some(p) = build_jujuc(&cargo) {
            return Ok(p);
        }
    }
    Err(SimError::Setup(format!(
        "cannot find the sim-jujuc hook-tool binary near {}; build it with `cargo build -p zk-sim` \
         or set SIM_JUJUC=/path/to/sim-jujuc",
        exe.display()
    )))
}

/// `cargo build -p zk-sim --bin sim-jujuc`, returning the executable cargo reports.
fn build_jujuc(cargo: &std::ffi::OsStr) -> Option<PathBuf> {
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "zk-sim",
        "--bin",
        "sim-jujuc",
        "--message-format=json",
    ])
    .stdin(std::process::Stdio::null())
    .stderr(std::process::Stdio::inherit());
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        cmd.current_dir(dir);
    }
    let out = cmd.output().ok().filter(|o| o.status.success())?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let v: Value = serde_json::from_str(l).ok()?;
        let exe = v.get("executable")?.as_str()?;
        exe.ends_with("/sim-jujuc").then(|| PathBuf::from(exe))
    })
}
