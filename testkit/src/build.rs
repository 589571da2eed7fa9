//! Building the charm binary with its build-time variables, and charm directories.
//!
//! The charm bakes three variables in at build time (`option_env!`, so Cargo rebuilds when
//! one changes): `ZK_CHARM_REVISION` (the charm revision), and `ZK_CHARM_VERSION` and
//! `ZK_CHARM_UPGRADE_SUPPORTED` (its version in the upgrade dependency model, and which
//! versions it upgrades from).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::workspace_root;

/// The charm revision baked into the binary.
pub const REVISION_VAR: &str = "ZK_CHARM_REVISION";
/// The charm version in the upgrade dependency model.
pub const VERSION_VAR: &str = "ZK_CHARM_VERSION";
/// The charm versions this build upgrades from.
pub const UPGRADE_SUPPORTED_VAR: &str = "ZK_CHARM_UPGRADE_SUPPORTED";

/// `cargo build` failed or did not say where the binary is.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot run `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("`{command}` did not report the {bin} executable")]
    NoExecutable { command: String, bin: String },
}

/// One `cargo build -p <package> --bin <bin>`.
#[derive(Debug, Clone, Default)]
pub struct CargoBuild {
    pub package: String,
    pub bin: String,
    pub release: bool,
    /// `--target-dir`; `None` is the workspace's.
    pub target_dir: Option<PathBuf>,
    /// Build-time variables: `Some` sets one, `None` removes it from cargo's environment;
    /// variables not listed are inherited.
    pub vars: Vec<(String, Option<String>)>,
}

impl CargoBuild {
    pub fn new(package: &str, bin: &str) -> CargoBuild {
        CargoBuild {
            package: package.to_string(),
            bin: bin.to_string(),
            ..CargoBuild::default()
        }
    }

    /// The charm binary (`-p zookeeper-charm --bin zookeeper-charm`).
    pub fn charm() -> CargoBuild {
        CargoBuild::new("zookeeper-charm", "zookeeper-charm")
    }

    pub fn release(mut self, yes: bool) -> CargoBuild {
        self.release = yes;
        self
    }

    pub fn target_dir(mut self, dir: impl Into<PathBuf>) -> CargoBuild {
        self.target_dir = Some(dir.into());
        self
    }

    /// Sets (`Some`) or removes (`None`) one build-time variable.
    pub fn var(mut self, name: &str, value: Option<&str>) -> CargoBuild {
        self.vars
            .push((name.to_string(), value.map(str::to_string)));
        self
    }

    /// The charm's three build-time variables, each set or removed: a build that depends
    /// on nothing in the caller's environment.
    pub fn charm_vars(
        self,
        revision: Option<&str>,
        version: Option<&str>,
        upgrade_supported: Option<&str>,
    ) -> CargoBuild {
        self.var(REVISION_VAR, revision)
            .var(VERSION_VAR, version)
            .var(UPGRADE_SUPPORTED_VAR, upgrade_supported)
    }

    /// Runs the build (in the workspace root) and returns the executable cargo reports, so
    /// that the profile, `--target-dir` and `CARGO_TARGET_DIR` are all honoured.
    pub fn run(&self) -> Result<PathBuf, BuildError> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(workspace_root())
            .args(["build", "-p", &self.package, "--bin", &self.bin])
            .arg("--message-format=json-render-diagnostics")
            .stdin(Stdio::null());
        if self.release {
            cmd.arg("--release");
        }
        if let Some(dir) = &self.target_dir {
            cmd.arg("--target-dir").arg(dir);
        }
        for (name, value) in &self.vars {
            match value {
                Some(v) => cmd.env(name, v),
                None => cmd.env_remove(name),
            };
        }
        let command = self.describe();
        log::info!("{command}");
        let out = cmd.output().map_err(|source| BuildError::Spawn {
            command: command.clone(),
            source,
        })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = stderr.lines().collect();
            return Err(BuildError::Failed {
                command,
                status: out.status,
                stderr: lines[lines.len().saturating_sub(40)..].join("\n"),
            });
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == self.bin)
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .ok_or(BuildError::NoExecutable {
                command,
                bin: self.bin.clone(),
            })
    }

    /// The command line, with the variables it sets or removes.
    fn describe(&self) -> String {
        let mut s = String::new();
        for (name, value) in &self.vars {
            match value {
                Some(v) => s += &format!("{name}={v} "),
                None => s += &format!("-u {name} "),
            }
        }
        s += &format!("cargo build -p {} --bin {}", self.package, self.bin);
        if self.release {
            s += " --release";
        }
        if let Some(dir) = &self.target_dir {
            s += &format!(" --target-dir {}", dir.display());
        }
        s
    }
}

/// The files of this repository a charm directory holds besides `dispatch`.
pub const METADATA_FILES: [&str; 3] = ["metadata.yaml", "config.yaml", "actions.yaml"];

/// A charm directory (what Juju unpacks) around a charm binary: `<into>/dispatch` (a new
/// file: a hook of an earlier model may still run the old one) and the metadata files of
/// this repository.
pub fn charm_dir(binary: &Path, into: &Path) -> std::io::Result<PathBuf> {
    let root = workspace_root();
    std::fs::create_dir_all(into)?;
    let dispatch = into.join("dispatch");
    let _ = std::fs::remove_file(&dispatch);
    std::fs::copy(binary, &dispatch)?;
    for f in METADATA_FILES {
        std::fs::copy(root.join(f), into.join(f))?;
    }
    Ok(into.to_path_buf())
}
