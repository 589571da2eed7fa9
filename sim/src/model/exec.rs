//! `juju exec --unit U -- cmd`: a command run in a unit's hook context between hooks (its
//! hook tools work, its writes commit if it exits 0), and the helpers a test uses to act for
//! a scripted stub's units with it (set relation data as the stub's leader or unit, read
//! secrets as a consumer).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::commit::commit;
use super::env::{hook_env, unit_mounts};
use super::Model;
use crate::process::{self, HookProcess};
use crate::rng::mix;
use crate::state::{Context, Life, Pending};
use crate::SimError;

/// How an exec'd command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    /// The exit code (None when killed by a signal or the timeout).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Its buffered writes were committed (it exited 0 and the commit was accepted).
    pub committed: bool,
    /// Why it failed or why its writes were refused.
    pub reason: Option<String>,
}

impl ExecResult {
    pub fn success(&self) -> bool {
        self.code == Some(0) && self.committed
    }
}

/// `program` as the hook's PATH finds it.
fn resolve(program: &str, env: &[(String, String)]) -> PathBuf {
    if program.contains('/') {
        return PathBuf::from(program);
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    path.split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}

/// How long `exec` waits for its command (`juju exec`'s default `--wait`, 5 minutes).
const EXEC_TIMEOUT: Duration = Duration::from_secs(300);

impl Model {
    /// `juju exec --unit <unit> -- <argv>`: runs `argv` now, between hooks, in a context of
    /// the unit (its hook tools work; `JUJU_*` variables as in a hook, without a hook name),
    /// on its machine (its mount namespace), with the charm dir as cwd and no stdin. Its buffered writes commit if it exits 0,
    /// like a hook's, and fan out; a failure does not put the unit in error.
    pub fn exec(&mut self, unit: &str, argv: &[&str]) -> Result<ExecResult, SimError> {
        let Some(program) = argv.first() else {
            return Err(SimError::Refused("exec: no command given".into()));
        };
        let _runner = self.runner()?;
        let dir = self.dir().to_path_buf();
        let (ctx_id, env, mounts, cwd, scratch, timeout) = {
            let mut g = self.lock()?;
            let st = &mut g.st;
            match st.units.get(unit) {
                None => return Err(SimError::not_found("unit", unit)),
                Some(u) if u.life != Life::Alive => {
                    return Err(SimError::Refused(format!("unit {unit:?} is dying")))
                }
                Some(_) => {}
            }
            st.next_context += 1;
            let ctx_id = format!(
                "{unit}-exec-{}",
                mix(st.seed ^ st.next_context.wrapping_mul(0x5851_F42D)) >> 1
            );
            let env = hook_env(st, &dir, unit, &ctx_id, None, None);
            let mounts = unit_mounts(st, unit);
            let u = &st.units[unit];
            let (cwd, scratch) = (u.charm_dir(), u.dir.clone());
            st.contexts.insert(
                ctx_id.clone(),
                Context {
                    id: ctx_id.clone(),
                    unit: unit.to_string(),
                    hook: None,
                    action: None,
                    pending: Pending::default(),
                    snapshots: BTreeMap::new(),
                    config: None,
                    leader_settings: None,
                },
            );
            let timeout = EXEC_TIMEOUT;
            g.save()?;
            (ctx_id, env, mounts, cwd, scratch, timeout)
        };
        let program = resolve(program, &env);
        // HookProcess runs a program without arguments: a one-line script in the unit's
        // agent directory carries them (quoted for sh).
        let quoted: Vec<String> = std::iter::once(program.to_string_lossy().into_owned())
            .chain(argv[1..].iter().map(|a| a.to_string()))
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect();
        let script = scratch.join(".exec");
        let run = fs::write(&script, format!("#!/bin/sh\nexec {}\n", quoted.join(" ")))
            .and_then(|()| fs::set_permissions(&script, fs::Permissions::from_mode(0o700)))
            .and_then(|()| {
                process::run(&HookProcess {
                    program: &script,
                    cwd: &cwd,
                    env: &env,
                    scratch: &scratch,
                    timeout,
                    mounts: &mounts,
                })
            });
        let _ = fs::remove_file(&script);
        let mut g = self.lock()?;
        let ctx = g.st.contexts.remove(&ctx_id);
        let mut result = match run {
            Ok(f) => ExecResult {
                code: f.code,
                stdout: f.stdout.clone(),
                stderr: f.stderr.clone(),
                committed: false,
                reason: (!f.success()).then(|| f.reason(timeout)),
            },
            Err(e) => ExecResult {
                code: None,
                stdout: String::new(),
                stderr: String::new(),
                committed: false,
                reason: Some(format!("cannot start {}: {e}", argv[0])),
            },
        };
        if result.code == Some(0) {
            if let Some(ctx) = &ctx {
                match commit(&mut g.st, ctx) {
                    Ok(()) => result.committed = true,
                    Err(e) => result.reason = Some(e),
                }
            }
        }
        g.save()?;
        Ok(result)
    }

    /// [`Model::exec`] that must succeed: its stdout, or an error with its stderr.
    pub fn exec_ok(&mut self, unit: &str, argv: &[&str]) -> Result<String, SimError> {
        let r = self.exec(unit, argv)?;
        if r.success() {
            Ok(r.stdout)
        } else {
            Err(SimError::Refused(format!(
                "{} on {unit} failed: {}{}",
                argv.join(" "),
                r.reason.unwrap_or_default(),
                if r.stderr.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.stderr.trim_end())
                }
            )))
        }
    }

    /// The one alive relation on `app`'s endpoint `endpoint` (several: give the id instead).
    pub fn relation_id(&self, app: &str, endpoint: &str) -> Result<u32, SimError> {
        let g = self.lock()?;
        let ids: Vec<u32> =
            g.st.relations
                .values()
                .filter(|r| r.alive() && r.end_of(app).is_some_and(|e| e.endpoint == endpoint))
                .map(|r| r.id)
                .collect();
        match ids.as_slice() {
            [id] => Ok(*id),
            [] => Err(SimError::not_found(
                "relation on",
                format!("{app}:{endpoint}"),
            )),
            _ => Err(SimError::Refused(format!(
                "{app}:{endpoint} has relations {ids:?}; say which"
            ))),
        }
    }

    /// Writes relation data as a unit would in a hook (`relation-set -r <id> [--app]`): the
    /// unit's own bag, or with `app` its application's bag (the unit must lead). Commits at
    /// once and fans out like a hook's writes. For scripted stubs, or any unit.
    pub fn set_relation_data(
        &mut self,
        unit: &str,
        relation: u32,
        app: bool,
        pairs: &[(&str, &str)],
    ) -> Result<(), SimError> {
        let rel = relation.to_string();
        let kv: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut argv = vec!["relation-set", "-r", rel.as_str()];
        if app {
            argv.push("--app");
        }
        argv.extend(kv.iter().map(String::as_str));
        self.exec_ok(unit, &argv).map(|_| ())
    }

    /// Reads a relation bag as `unit` sees it (`relation-get --format=json -r <id> -
    /// <unit-or-app> [--app]`), with Juju's access rules.
    pub fn relation_data_as(
        &mut self,
        unit: &str,
        relation: u32,
        of: &str,
    ) -> Result<BTreeMap<String, String>, SimError> {
        let rel = relation.to_string();
        let mut argv = vec!["relation-get", "--format=json", "-r", rel.as_str(), "-", of];
        if !of.contains('/') {
            argv.push("--app");
        }
        let out = self.exec_ok(unit, &argv)?;
        serde_json::from_str(&out)
            .map_err(|e| SimError::Refused(format!("relation-get printed {out:?}: {e}")))
    }

    /// Reads a secret's content as `unit` (`secret-get --format=json`), with its flags
    /// (`--label L`, `--refresh`, `--peek`).
    pub fn secret_get_as(
        &mut self,
        unit: &str,
        args: &[&str],
    ) -> Result<BTreeMap<String, String>, SimError> {
        let mut argv = vec!["secret-get", "--format=json"];
        argv.extend_from_slice(args);
        let out = self.exec_ok(unit, &argv)?;
        serde_json::from_str(&out)
            .map_err(|e| SimError::Refused(format!("secret-get printed {out:?}: {e}")))
    }
}
