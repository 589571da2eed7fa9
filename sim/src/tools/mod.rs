//! The fake hook tools (`relation-get`, `status-set`, ...): one multi-call program that picks
//! the tool from `argv[0]`, finds its hook context in the model (`JUJU_CONTEXT_ID` and the
//! model directory) and answers with the real tools' flags, outputs, exit codes (0 ok, 2 usage,
//! 1 runtime) and `ERROR ...` lines on stderr. Reads snapshot each bag on first read in a
//! context; relation, state and port writes are buffered in the context until the process
//! exits 0; status, logs, version, `leader-set` and action results apply at once.
//!
//! # Layout
//!
//! - `mod.rs`: [`ToolName`], [`main_with`] (one invocation), the shared `Tool` context.
//! - One file per family: `relation.rs`, `leader.rs`, `config.rs`, `status.rs` (status,
//!   logs, version), `action.rs`, `network.rs`, `ports.rs`, `state.rs`, `goal_state.rs`,
//!   `secret.rs` (the `secret-*` tools), `storage.rs`.
//! - `args.rs`: Juju's gnuflag parsing; `format.rs`: juju/cmd's output formats.

mod action;
pub mod args;
mod config;
pub mod format;
mod goal_state;
mod leader;
mod network;
mod ports;
mod relation;
mod secret;
mod settings;
mod state;
mod status;
mod storage;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::state::{Application, Context, Databag, Guard, ModelState, PauseState, Store, Unit};
use crate::{logs, Chain};
use args::{boolean, value, Flag};
use format::{render, Format};

pub use action::typed_params;

/// Every hook tool the binary serves (the model links each name to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ToolName {
    ActionFail,
    ActionGet,
    ActionLog,
    ActionSet,
    ApplicationVersionSet,
    ClosePort,
    ConfigGet,
    GoalState,
    IsLeader,
    JujuLog,
    LeaderGet,
    LeaderSet,
    NetworkGet,
    OpenPort,
    OpenedPorts,
    RelationGet,
    RelationIds,
    RelationList,
    RelationModelGet,
    RelationSet,
    SecretAdd,
    SecretGet,
    SecretGrant,
    SecretIds,
    SecretInfoGet,
    SecretRemove,
    SecretRevoke,
    SecretSet,
    StateDelete,
    StateGet,
    StateSet,
    StatusGet,
    StatusSet,
    StorageGet,
    StorageList,
    UnitGet,
}

impl ToolName {
    /// Every tool, in name order.
    pub const ALL: [ToolName; 36] = [
        ToolName::ActionFail,
        ToolName::ActionGet,
        ToolName::ActionLog,
        ToolName::ActionSet,
        ToolName::ApplicationVersionSet,
        ToolName::ClosePort,
        ToolName::ConfigGet,
        ToolName::GoalState,
        ToolName::IsLeader,
        ToolName::JujuLog,
        ToolName::LeaderGet,
        ToolName::LeaderSet,
        ToolName::NetworkGet,
        ToolName::OpenPort,
        ToolName::OpenedPorts,
        ToolName::RelationGet,
        ToolName::RelationIds,
        ToolName::RelationList,
        ToolName::RelationModelGet,
        ToolName::RelationSet,
        ToolName::SecretAdd,
        ToolName::SecretGet,
        ToolName::SecretGrant,
        ToolName::SecretIds,
        ToolName::SecretInfoGet,
        ToolName::SecretRemove,
        ToolName::SecretRevoke,
        ToolName::SecretSet,
        ToolName::StateDelete,
        ToolName::StateGet,
        ToolName::StateSet,
        ToolName::StatusGet,
        ToolName::StatusSet,
        ToolName::StorageGet,
        ToolName::StorageList,
        ToolName::UnitGet,
    ];

    /// The name the tool is linked and called as.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolName::ActionFail => "action-fail",
            ToolName::ActionGet => "action-get",
            ToolName::ActionLog => "action-log",
            ToolName::ActionSet => "action-set",
            ToolName::ApplicationVersionSet => "application-version-set",
            ToolName::ClosePort => "close-port",
            ToolName::ConfigGet => "config-get",
            ToolName::GoalState => "goal-state",
            ToolName::IsLeader => "is-leader",
            ToolName::JujuLog => "juju-log",
            ToolName::LeaderGet => "leader-get",
            ToolName::LeaderSet => "leader-set",
            ToolName::NetworkGet => "network-get",
            ToolName::OpenPort => "open-port",
            ToolName::OpenedPorts => "opened-ports",
            ToolName::RelationGet => "relation-get",
            ToolName::RelationIds => "relation-ids",
            ToolName::RelationList => "relation-list",
            ToolName::RelationModelGet => "relation-model-get",
            ToolName::RelationSet => "relation-set",
            ToolName::SecretAdd => "secret-add",
            ToolName::SecretGet => "secret-get",
            ToolName::SecretGrant => "secret-grant",
            ToolName::SecretIds => "secret-ids",
            ToolName::SecretInfoGet => "secret-info-get",
            ToolName::SecretRemove => "secret-remove",
            ToolName::SecretRevoke => "secret-revoke",
            ToolName::SecretSet => "secret-set",
            ToolName::StateDelete => "state-delete",
            ToolName::StateGet => "state-get",
            ToolName::StateSet => "state-set",
            ToolName::StatusGet => "status-get",
            ToolName::StatusSet => "status-set",
            ToolName::StorageGet => "storage-get",
            ToolName::StorageList => "storage-list",
            ToolName::UnitGet => "unit-get",
        }
    }

    pub fn from_name(name: &str) -> Option<ToolName> {
        ToolName::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for ToolName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The environment variable naming the model directory (set in every hook's environment).
pub const STATE_DIR_ENV: &str = "SIM_STATE_DIR";

/// `<model>/<TOOL_CALL_LOG>`: while this file exists (measured runs create it), every tool
/// call appends a line `<context id> <tool> <wall µs> <cpu µs> <peak rss KiB>` to it, so that
/// a run's calls can be counted and their cost told apart from the hook's own.
pub const TOOL_CALL_LOG: &str = "tool-calls.log";

/// A tool failure: `ERROR <message>` on stderr and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFail {
    pub code: i32,
    pub message: String,
}

impl ToolFail {
    /// A flag/argument error (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        ToolFail {
            code: 2,
            message: message.into(),
        }
    }
    /// An error while running (exit code 1).
    pub fn runtime(message: impl Into<String>) -> Self {
        ToolFail {
            code: 1,
            message: message.into(),
        }
    }
}

/// What a successful tool prints.
#[derive(Debug, Default)]
struct Out {
    stdout: String,
    stderr: String,
}

impl Out {
    fn value(format: Format, v: &Value) -> Out {
        Out {
            stdout: render(format, v),
            stderr: String::new(),
        }
    }
}

const FORMAT: Flag = value(&["format"]);
const RELATION: Flag = value(&["r", "relation"]);
const APP: Flag = boolean(&["app"]);

/// Runs one tool invocation. `argv0` picks the tool (`sim-jujuc <tool> ...` also works).
/// Returns the exit code; output goes to `stdout`/`stderr`.
pub fn main_with(
    argv0: &str,
    mut args: Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    let mut name = Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if ToolName::from_name(&name).is_none()
        && args
            .first()
            .is_some_and(|a| ToolName::from_name(a).is_some())
    {
        name = args.remove(0);
    }
    let started = std::time::Instant::now();
    let result = run(&name, &args, env, stdin);
    let code = match result {
        Ok(out) => {
            let _ = stdout.write_all(out.stdout.as_bytes());
            let _ = stderr.write_all(out.stderr.as_bytes());
            0
        }
        Err(f) => {
            let _ = writeln!(stderr, "ERROR {}", f.message);
            f.code
        }
    };
    note_call(env, &name, started.elapsed());
    code
}

fn state_dir(env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, ToolFail> {
    if let Some(d) = env(STATE_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    // The sim copies this binary to <model>/tools/sim-jujuc.
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().and_then(Path::parent).map(Path::to_path_buf))
        .filter(|d| d.join(crate::state::STATE_FILE).is_file())
        .ok_or_else(|| {
            ToolFail::runtime(format!(
                "{STATE_DIR_ENV} not set and no model found beside this tool"
            ))
        })
}

fn run(
    name: &str,
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
) -> Result<Out, ToolFail> {
    let tool_name = ToolName::from_name(name)
        .ok_or_else(|| ToolFail::runtime(format!("unknown hook tool {name:?}")))?;
    let dir = state_dir(env)?;
    let ctx_id = env("JUJU_CONTEXT_ID")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ToolFail::runtime("JUJU_CONTEXT_ID not set"))?;
    let store = Store::new(&dir);
    let mut guard = store
        .lock()
        .map_err(|e| ToolFail::runtime(format!("cannot open the model: {}", Chain(&e))))?;
    if !guard.st.contexts.contains_key(&ctx_id) {
        return Err(ToolFail::runtime(format!(
            "bad request: unknown context {ctx_id:?}"
        )));
    }
    if let Some(id) = hit_pause(&mut guard.st, &ctx_id, tool_name, args) {
        // Held until the test releases it, without the model lock (the model goes on).
        guard
            .save()
            .map_err(|e| ToolFail::runtime(format!("cannot save the model: {}", Chain(&e))))?;
        drop(guard);
        wait_released(&store, id)?;
        guard = store
            .lock()
            .map_err(|e| ToolFail::runtime(format!("cannot open the model: {}", Chain(&e))))?;
        if !guard.st.contexts.contains_key(&ctx_id) {
            return Err(ToolFail::runtime(format!(
                "bad request: unknown context {ctx_id:?}"
            )));
        }
    }
    let mut tool = Tool {
        g: &mut guard,
        ctx_id,
        dirty: false,
        stdin,
    };
    let result = match tool.injected_failure(tool_name) {
        Some(f) => Err(f),
        None => tool.dispatch(tool_name, args),
    };
    if tool.dirty {
        guard
            .save()
            .map_err(|e| ToolFail::runtime(format!("cannot save the model: {}", Chain(&e))))?;
    }
    result
}

/// Counts this call against the armed pause points of its unit and tool (see
/// [`crate::state::PausePoint`]); returns the one it must hold at, if any.
fn hit_pause(st: &mut ModelState, ctx_id: &str, tool: ToolName, args: &[String]) -> Option<u64> {
    let unit = st.contexts.get(ctx_id)?.unit.clone();
    let text = args.join(" ");
    let mut hold = None;
    for p in st.pauses.iter_mut() {
        let matches = p.state == PauseState::Armed
            && p.unit == unit
            && p.tool == tool.as_str()
            && p.args_contain.as_ref().is_none_or(|t| text.contains(t));
        if !matches {
            continue;
        }
        p.calls += 1;
        if p.calls == p.nth && hold.is_none() {
            p.state = PauseState::Holding;
            p.context = Some(ctx_id.to_string());
            hold = Some(p.id);
        }
    }
    hold
}

/// Waits until pause point `id` is released (or gone).
fn wait_released(store: &Store, id: u64) -> Result<(), ToolFail> {
    loop {
        std::thread::sleep(std::time::Duration::from_millis(10));
        let g = store
            .lock()
            .map_err(|e| ToolFail::runtime(format!("cannot open the model: {}", Chain(&e))))?;
        let held =
            g.st.pauses
                .iter()
                .any(|p| p.id == id && p.state == PauseState::Holding);
        if !held {
            return Ok(());
        }
    }
}

/// Appends the call to the tool-call log if it exists (no file: nothing to do), with this
/// process's own cost: `<context> <tool> <wall µs> <cpu µs> <peak rss KiB>`.
pub(crate) fn note_call(
    env: &dyn Fn(&str) -> Option<String>,
    name: &str,
    wall: std::time::Duration,
) {
    let (Ok(dir), Some(ctx_id)) = (state_dir(env), env("JUJU_CONTEXT_ID")) else {
        return;
    };
    let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(TOOL_CALL_LOG))
    else {
        return;
    };
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage on this process with a valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec.max(0) as u64 * 1_000_000 + t.tv_usec.max(0) as u64;
    // VmHWM, not ru_maxrss: the latter also counts the spawning process's pages from
    // before the exec (vfork shares its memory), i.e. the charm's.
    let peak_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    // One write(2) per line, so that lines of concurrent calls never interleave.
    let line = format!(
        "{ctx_id} {name} {} {} {}\n",
        wall.as_micros(),
        us(ru.ru_utime) + us(ru.ru_stime),
        peak_kib
    );
    let _ = f.write_all(line.as_bytes());
}

/// Applies `changes` ("" deletes) onto `base`.
fn overlay(mut base: Databag, changes: Option<&Databag>) -> Databag {
    for (k, v) in changes.into_iter().flatten() {
        if v.is_empty() {
            base.remove(k);
        } else {
            base.insert(k.clone(), v.clone());
        }
    }
    base
}

fn bag_value(b: &Databag) -> Value {
    Value::Object(
        b.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// One key of a bag (`null` when absent), or the whole bag when no key is asked for.
fn key_or_all(b: &Databag, key: Option<&str>) -> Value {
    match key {
        Some(k) => b.get(k).map_or(Value::Null, |v| Value::String(v.clone())),
        None => bag_value(b),
    }
}

/// One tool call's view of the model: the locked state and its hook context.
struct Tool<'a> {
    g: &'a mut Guard,
    ctx_id: String,
    /// The model changed and must be saved.
    dirty: bool,
    stdin: &'a mut dyn Read,
}

impl Tool<'_> {
    fn st(&self) -> &ModelState {
        &self.g.st
    }

    fn ctx(&self) -> &Context {
        &self.g.st.contexts[&self.ctx_id]
    }

    fn ctx_mut(&mut self) -> &mut Context {
        self.dirty = true;
        self.g
            .st
            .contexts
            .get_mut(&self.ctx_id)
            .expect("context exists")
    }

    fn unit_name(&self) -> String {
        self.ctx().unit.clone()
    }

    fn unit(&self) -> &Unit {
        &self.g.st.units[&self.ctx().unit]
    }

    /// The unit's application.
    fn app(&self) -> &Application {
        self.st().app_of(&self.ctx().unit)
    }

    fn app_name(&self) -> String {
        self.unit().app.clone()
    }

    fn is_leader(&self) -> bool {
        self.st().is_leader(&self.ctx().unit)
    }

    fn injected_failure(&mut self, tool: ToolName) -> Option<ToolFail> {
        let unit = self.unit_name();
        let f = self
            .g
            .st
            .tool_failures
            .iter_mut()
            .find(|f| f.unit == unit && f.tool == tool.as_str() && f.remaining > 0)?;
        f.remaining -= 1;
        self.g.st.tool_failures.retain(|f| f.remaining > 0);
        self.dirty = true;
        Some(ToolFail::runtime(format!(
            "injected failure of {tool} (zk-sim chaos)"
        )))
    }

    fn dispatch(&mut self, tool: ToolName, argv: &[String]) -> Result<Out, ToolFail> {
        match tool {
            ToolName::ActionFail => self.action_fail(argv),
            ToolName::ActionGet => self.action_get(argv),
            ToolName::ActionLog => self.action_log(argv),
            ToolName::ActionSet => self.action_set(argv),
            ToolName::ApplicationVersionSet => self.application_version_set(argv),
            ToolName::ClosePort => self.port(argv, false),
            ToolName::ConfigGet => self.config_get(argv),
            ToolName::GoalState => self.goal_state(argv),
            ToolName::IsLeader => self.is_leader_tool(argv),
            ToolName::JujuLog => self.juju_log(argv),
            ToolName::LeaderGet => self.leader_get(argv),
            ToolName::LeaderSet => self.leader_set(argv),
            ToolName::NetworkGet => self.network_get(argv),
            ToolName::OpenPort => self.port(argv, true),
            ToolName::OpenedPorts => self.opened_ports(argv),
            ToolName::RelationGet => self.relation_get(argv),
            ToolName::RelationIds => self.relation_ids(argv),
            ToolName::RelationList => self.relation_list(argv),
            ToolName::RelationModelGet => self.relation_model_get(argv),
            ToolName::RelationSet => self.relation_set(argv),
            ToolName::SecretAdd => self.secret_add(argv),
            ToolName::SecretGet => self.secret_get(argv),
            ToolName::SecretGrant => self.secret_grant(argv),
            ToolName::SecretIds => self.secret_ids(argv),
            ToolName::SecretInfoGet => self.secret_info_get(argv),
            ToolName::SecretRemove => self.secret_remove(argv),
            ToolName::SecretRevoke => self.secret_revoke(argv),
            ToolName::SecretSet => self.secret_set(argv),
            ToolName::StateDelete => self.state_delete(argv),
            ToolName::StateGet => self.state_get(argv),
            ToolName::StateSet => self.state_set(argv),
            ToolName::StatusGet => self.status_get(argv),
            ToolName::StatusSet => self.status_set(argv),
            ToolName::StorageGet => self.storage_get(argv),
            ToolName::StorageList => self.storage_list(argv),
            ToolName::UnitGet => self.unit_get(argv),
        }
    }

    /// `-r` value (`3` or `cluster:3`) or the context's relation.
    fn relation(&self, r: Option<&str>) -> Result<u32, ToolFail> {
        match r {
            Some(v) => {
                let digits = v.rsplit(':').next().unwrap_or(v);
                let id: u32 = digits.parse().map_err(|_| {
                    ToolFail::usage(format!(
                        "invalid value {v:?} for option -r: invalid relation id"
                    ))
                })?;
                if self.known_relations().contains(&id) && self.st().relations.contains_key(&id) {
                    Ok(id)
                } else {
                    Err(ToolFail::usage(format!(
                        "invalid value {v:?} for option -r: relation not found"
                    )))
                }
            }
            None => self
                .ctx()
                .hook
                .as_ref()
                .and_then(|h| h.relation_id)
                .filter(|id| self.known_relations().contains(id))
                .ok_or_else(|| ToolFail::usage("no relation id specified")),
        }
    }

    /// The relations this unit's tools see: those it is in the scope of (until it ran their
    /// `-relation-broken`), and those established whose `-relation-created` it has yet to run
    /// (Juju lets that hook use the relation before the unit enters its scope).
    fn known_relations(&self) -> std::collections::BTreeSet<u32> {
        let u = self.unit();
        u.scope
            .keys()
            .chain(&u.awaiting_created)
            .copied()
            .filter(|id| self.st().relations.contains_key(id))
            .collect()
    }

    /// `<endpoint>:<id>` as this unit knows relation `id`.
    fn rel_key(&self, id: u32) -> String {
        self.st().relations[&id].rel_ref(&self.unit().app)
    }

    fn action_id(&self) -> Result<u64, ToolFail> {
        self.ctx()
            .action
            .ok_or_else(|| ToolFail::runtime("not running an action"))
    }

    fn log(&self, level: &str, module: &str, msg: &str) {
        let unit = self.ctx().unit.clone();
        let _ = logs::append(self.g.dir(), &logs::line(&unit, level, module, msg));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_found_by_its_name_and_other_names_are_not_tools() {
        for t in ToolName::ALL {
            assert_eq!(ToolName::from_name(t.as_str()), Some(t));
        }
        assert!(ToolName::ALL
            .windows(2)
            .all(|w| w[0].as_str() < w[1].as_str()));
        assert_eq!(ToolName::from_name("sim-jujuc"), None);
        assert_eq!(ToolName::from_name("leader"), None);
    }
}
