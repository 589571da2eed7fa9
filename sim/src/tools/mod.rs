//! The fake hook tools (`relation-get`, `status-set`, ...): one multi-call program that picks
//! the tool from `argv[0]`, finds its hook context in the model (`JUJU_CONTEXT_ID` and the
//! model directory) and answers with the real tools' flags, outputs, exit codes (0 ok, 2 usage,
//! 1 runtime) and `ERROR ...` lines on stderr. Reads snapshot each bag on first read in a
//! context; relation, state and port writes are buffered in the context until the process
//! exits 0; status, logs, version, `leader-set` and action results apply at once.

pub mod args;
pub mod format;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::state::{Bag, Context, Guard, ModelState, StatusRecord, Store, Unit};
use crate::{logs, util};
use args::{boolean, value, Args, Flag};
use format::{render, Format};

/// Every tool name the binary serves (the sim links each to it).
pub const TOOL_NAMES: &[&str] = &[
    "action-fail",
    "action-get",
    "action-log",
    "action-set",
    "application-version-set",
    "close-port",
    "config-get",
    "goal-state",
    "is-leader",
    "juju-log",
    "leader-get",
    "leader-set",
    "network-get",
    "open-port",
    "opened-ports",
    "relation-get",
    "relation-ids",
    "relation-list",
    "relation-set",
    "state-delete",
    "state-get",
    "state-set",
    "status-get",
    "status-set",
    "unit-get",
];

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
    if !TOOL_NAMES.contains(&name.as_str())
        && !args.is_empty()
        && TOOL_NAMES.contains(&args[0].as_str())
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
    if !TOOL_NAMES.contains(&name) {
        return Err(ToolFail::runtime(format!("unknown hook tool {name:?}")));
    }
    let dir = state_dir(env)?;
    let ctx_id = env("JUJU_CONTEXT_ID")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ToolFail::runtime("JUJU_CONTEXT_ID not set"))?;
    let store = Store::new(&dir);
    let mut guard = store
        .lock()
        .map_err(|e| ToolFail::runtime(format!("cannot open the model: {e}")))?;
    if !guard.st.contexts.contains_key(&ctx_id) {
        return Err(ToolFail::runtime(format!(
            "bad request: unknown context {ctx_id:?}"
        )));
    }
    let mut tool = Tool {
        g: &mut guard,
        ctx_id,
        dirty: false,
        stdin,
    };
    let injected = tool.injected_failure(name);
    let result = match injected {
        Some(f) => Err(f),
        None => tool.dispatch(name, args),
    };
    if tool.dirty {
        guard
            .save()
            .map_err(|e| ToolFail::runtime(format!("cannot save the model: {e}")))?;
    }
    result
}

/// Appends the call to the tool-call log if it exists (no file: nothing to do), with this
/// process's own cost: `<context> <tool> <wall µs> <cpu µs> <peak rss KiB>`.
fn note_call(env: &dyn Fn(&str) -> Option<String>, name: &str, wall: std::time::Duration) {
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

/// `zookeeper/3` -> valid; `zookeeper`, `x/y` -> not a unit name.
fn valid_unit_name(s: &str) -> bool {
    let Some((app, n)) = s.split_once('/') else {
        return false;
    };
    let ab = app.as_bytes();
    !ab.is_empty()
        && ab[0].is_ascii_lowercase()
        && ab
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !n.is_empty()
        && n.bytes().all(|c| c.is_ascii_digit())
}

fn split_kv(arg: &str) -> Option<(String, String)> {
    match arg.split_once('=') {
        Some((k, v)) if !k.is_empty() => Some((k.to_string(), v.to_string())),
        _ => None,
    }
}

/// Parses a settings map as `relation-set --file` and `state-set --file` accept it: JSON or
/// YAML, values stringified, null meaning "delete" (empty string).
fn parse_settings(text: &str) -> Result<Bag, ToolFail> {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
        .map_err(|e| ToolFail::runtime(format!("cannot parse settings: {e}")))?;
    match v {
        serde_yaml_ng::Value::Null => Ok(Bag::new()),
        serde_yaml_ng::Value::Mapping(m) => Ok(m
            .iter()
            .map(|(k, v)| (yaml_scalar_string(k), yaml_scalar_string(v)))
            .collect()),
        _ => Err(ToolFail::runtime(
            "cannot parse settings: expected a map of keys to values",
        )),
    }
}

/// A YAML scalar as text (`true`, `5`, `abc`); `~` is the empty string.
fn yaml_scalar_string(v: &serde_yaml_ng::Value) -> String {
    match v {
        serde_yaml_ng::Value::Null => String::new(),
        serde_yaml_ng::Value::Bool(b) => b.to_string(),
        serde_yaml_ng::Value::Number(n) => n.to_string(),
        serde_yaml_ng::Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
    }
}

/// Applies `changes` ("" deletes) onto `base`.
fn overlay(mut base: Bag, changes: Option<&Bag>) -> Bag {
    for (k, v) in changes.into_iter().flatten() {
        if v.is_empty() {
            base.remove(k);
        } else {
            base.insert(k.clone(), v.clone());
        }
    }
    base
}

fn bag_value(b: &Bag) -> Value {
    Value::Object(
        b.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// `2181`, `2181/tcp`, `1000-2000/udp`, `icmp` -> canonical `2181/tcp` etc.
fn parse_port(spec: &str) -> Result<String, ToolFail> {
    let bad = || ToolFail::usage(format!("invalid port or range {spec:?}"));
    if spec == "icmp" {
        return Ok("icmp".to_string());
    }
    let (range, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if proto != "tcp" && proto != "udp" {
        return Err(bad());
    }
    let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
    match range.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a > b {
                return Err(bad());
            }
            Ok(if a == b {
                format!("{a}/{proto}")
            } else {
                format!("{a}-{b}/{proto}")
            })
        }
        None => Ok(format!("{}/{proto}", port(range)?)),
    }
}

fn port_sort_key(p: &str) -> (u32, String) {
    let first = p
        .split(['-', '/'])
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (first, p.to_string())
}

enum BagRef {
    Unit(String),
    App(String),
}

struct Tool<'a> {
    g: &'a mut Guard,
    ctx_id: String,
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
    fn is_leader(&self) -> bool {
        self.st().leader.as_deref() == Some(self.ctx().unit.as_str())
    }

    fn injected_failure(&mut self, tool: &str) -> Option<ToolFail> {
        let unit = self.unit_name();
        let f = self
            .g
            .st
            .tool_failures
            .iter_mut()
            .find(|f| f.unit == unit && f.tool == tool && f.remaining > 0)?;
        f.remaining -= 1;
        self.g.st.tool_failures.retain(|f| f.remaining > 0);
        self.dirty = true;
        Some(ToolFail::runtime(format!(
            "injected failure of {tool} (zk-sim chaos)"
        )))
    }

    fn dispatch(&mut self, name: &str, argv: &[String]) -> Result<Out, ToolFail> {
        match name {
            "is-leader" => self.is_leader_tool(argv),
            "relation-ids" => self.relation_ids(argv),
            "relation-list" => self.relation_list(argv),
            "relation-get" => self.relation_get(argv),
            "relation-set" => self.relation_set(argv),
            "leader-get" => self.leader_get(argv),
            "leader-set" => self.leader_set(argv),
            "config-get" => self.config_get(argv),
            "status-set" => self.status_set(argv),
            "status-get" => self.status_get(argv),
            "juju-log" => self.juju_log(argv),
            "action-get" => self.action_get(argv),
            "action-set" => self.action_set(argv),
            "action-fail" => self.action_fail(argv),
            "action-log" => self.action_log(argv),
            "application-version-set" => self.application_version_set(argv),
            "network-get" => self.network_get(argv),
            "unit-get" => self.unit_get(argv),
            "open-port" => self.port(argv, true),
            "close-port" => self.port(argv, false),
            "opened-ports" => self.opened_ports(argv),
            "goal-state" => self.goal_state(argv),
            "state-get" => self.state_get(argv),
            "state-set" => self.state_set(argv),
            "state-delete" => self.state_delete(argv),
            other => Err(ToolFail::runtime(format!("unknown hook tool {other:?}"))),
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
                if self.unit().scope.contains_key(&id) && self.st().relations.contains_key(&id) {
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
                .filter(|id| self.unit().scope.contains_key(id))
                .ok_or_else(|| ToolFail::usage("no relation id specified")),
        }
    }

    fn rel_key(&self, id: u32) -> String {
        self.st().relations[&id].key()
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

    // --- leadership, relations -------------------------------------------------------------

    fn is_leader_tool(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(0)?;
        Ok(Out::value(f, &Value::Bool(self.is_leader())))
    }

    fn relation_ids(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(1)?;
        let name = match a.positional.first() {
            Some(n) => n.clone(),
            None => self
                .ctx()
                .hook
                .as_ref()
                .and_then(|h| h.endpoint.clone())
                .ok_or_else(|| ToolFail::usage("no endpoint name specified"))?,
        };
        let mut ids: Vec<String> = self
            .unit()
            .scope
            .keys()
            .filter_map(|id| self.st().relations.get(id))
            .filter(|r| r.endpoint == name)
            .map(|r| r.key())
            .collect();
        ids.sort();
        Ok(Out::value(f, &json!(ids)))
    }

    fn relation_list(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, RELATION, APP])?;
        let f = Format::parse(a.value("format"))?;
        let id = self.relation(a.value("r"))?;
        a.no_more(0)?;
        if a.flag("app") {
            return Ok(Out::value(f, &Value::String(self.st().app.clone())));
        }
        // BTreeSet iteration is text order, as Juju sorts (zookeeper/10 < zookeeper/2).
        let members: Vec<String> = self.unit().scope[&id].members.iter().cloned().collect();
        Ok(Out::value(f, &json!(members)))
    }

    fn snapshot(&mut self, key: String, committed: impl FnOnce(&ModelState) -> Bag) -> Bag {
        if let Some(b) = self.ctx().snapshots.get(&key) {
            return b.clone();
        }
        let b = committed(self.st());
        self.ctx_mut().snapshots.insert(key, b.clone());
        b
    }

    fn read_bag(&mut self, id: u32, which: &BagRef) -> Result<Bag, ToolFail> {
        let me = self.unit_name();
        let rel_key = self.rel_key(id);
        match which {
            BagRef::Unit(u) if *u == me => {
                let u = u.clone();
                let base = self.snapshot(format!("{id}/{u}"), |st| {
                    st.relations[&id]
                        .units
                        .get(&u)
                        .map(|b| b.bag.clone())
                        .unwrap_or_default()
                });
                Ok(overlay(base, self.ctx().pending.unit_bags.get(&id)))
            }
            BagRef::Unit(u) => {
                let committed = self.st().relations[&id]
                    .units
                    .get(u)
                    .map(|b| b.bag.clone())
                    .ok_or_else(|| {
                        ToolFail::runtime(format!(
                            "cannot read settings for unit {u:?} in relation {rel_key:?}: settings not found"
                        ))
                    })?;
                let member = self.unit().scope[&id].members.contains(u);
                if member && self.st().switches.stale_member_cache {
                    if let Some(cached) = self.unit().scope[&id].member_cache.get(u) {
                        return Ok(cached.clone());
                    }
                    self.dirty = true;
                    let unit = self.g.st.units.get_mut(&me).expect("unit exists");
                    unit.scope
                        .get_mut(&id)
                        .expect("in scope")
                        .member_cache
                        .insert(u.clone(), committed.clone());
                    return Ok(committed);
                }
                Ok(self.snapshot(format!("{id}/{u}"), |_| committed))
            }
            BagRef::App(app) => {
                if *app != self.st().app {
                    return Err(ToolFail::runtime(format!(
                        "application {app:?} is not part of relation {rel_key:?}"
                    )));
                }
                let peer = self.st().relations[&id].peer;
                if !peer && !self.is_leader() {
                    return Err(ToolFail::runtime("permission denied"));
                }
                let base =
                    self.snapshot(format!("{id}/app"), |st| st.relations[&id].app_bag.clone());
                Ok(overlay(base, self.ctx().pending.app_bags.get(&id)))
            }
        }
    }

    fn relation_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, RELATION, APP])?;
        let f = Format::parse(a.value("format"))?;
        let id = self.relation(a.value("r"))?;
        a.no_more(2)?;
        let key = a.positional.first().filter(|k| *k != "-").cloned();
        let app_flag = a.flag("app");
        let remote_unit = self
            .ctx()
            .hook
            .as_ref()
            .and_then(|h| h.remote_unit.clone())
            .filter(|u| !u.is_empty());
        let in_relation_hook = self
            .ctx()
            .hook
            .as_ref()
            .is_some_and(|h| h.relation_id.is_some());
        let which = match a.positional.get(1).cloned().or(remote_unit) {
            Some(t) if t.contains('/') => {
                if !valid_unit_name(&t) {
                    return Err(ToolFail::usage(format!("invalid unit name {t:?}")));
                }
                if app_flag {
                    BagRef::App(t.split('/').next().unwrap_or_default().to_string())
                } else {
                    BagRef::Unit(t)
                }
            }
            Some(t) => {
                if app_flag {
                    BagRef::App(t)
                } else {
                    return Err(ToolFail::usage(format!(
                        "expected unit name, got application name {t:?}"
                    )));
                }
            }
            None if app_flag || in_relation_hook => BagRef::App(self.st().app.clone()),
            None => return Err(ToolFail::usage("no unit or application specified")),
        };
        let bag = self.read_bag(id, &which)?;
        let v = match key {
            Some(k) => bag
                .get(&k)
                .map(|v| Value::String(v.clone()))
                .unwrap_or(Value::Null),
            None => bag_value(&bag),
        };
        Ok(Out::value(f, &v))
    }

    fn read_file_arg(&mut self, path: &str) -> Result<String, ToolFail> {
        if path == "-" {
            let mut s = String::new();
            self.stdin
                .read_to_string(&mut s)
                .map_err(|e| ToolFail::runtime(format!("cannot read settings from stdin: {e}")))?;
            Ok(s)
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| ToolFail::runtime(format!("cannot read {path}: {e}")))
        }
    }

    fn kv_args(&mut self, a: &Args, file: bool) -> Result<Bag, ToolFail> {
        let mut kv = Bag::new();
        if file {
            if let Some(path) = a.value("file").map(str::to_string) {
                let text = self.read_file_arg(&path)?;
                kv.extend(parse_settings(&text)?);
            }
        }
        for p in &a.positional {
            let (k, v) = split_kv(p)
                .ok_or_else(|| ToolFail::usage(format!("expected \"key=value\", got {p:?}")))?;
            kv.insert(k, v);
        }
        Ok(kv)
    }

    fn relation_set(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, RELATION, APP, value(&["file"])])?;
        let id = self.relation(a.value("r"))?;
        let kv = self.kv_args(&a, true)?;
        let mut out = Out::default();
        if a.value("format").is_some() {
            out.stderr = "--format flag deprecated for command \"relation-set\"\n".to_string();
        }
        if a.flag("app") {
            if !self.is_leader() {
                return Err(ToolFail::runtime("cannot write relation settings"));
            }
            self.ctx_mut()
                .pending
                .app_bags
                .entry(id)
                .or_default()
                .extend(kv);
        } else {
            self.ctx_mut()
                .pending
                .unit_bags
                .entry(id)
                .or_default()
                .extend(kv);
        }
        Ok(out)
    }

    fn leader_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(1)?;
        let key = a.positional.first().filter(|k| *k != "-").cloned();
        if let Some(k) = &key {
            if k.contains('=') {
                return Err(ToolFail::usage(format!("invalid key {k:?}")));
            }
        }
        let settings = match &self.ctx().leader_settings {
            Some(s) => s.clone(),
            None => {
                let s = self.st().leader_settings.clone();
                self.ctx_mut().leader_settings = Some(s.clone());
                s
            }
        };
        let v = match key {
            Some(k) => settings
                .get(&k)
                .map(|v| Value::String(v.clone()))
                .unwrap_or(Value::Null),
            None => bag_value(&settings),
        };
        Ok(Out::value(f, &v))
    }

    fn leader_set(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[])?;
        let kv = self.kv_args(&a, false)?;
        if !self.is_leader() {
            return Err(ToolFail::runtime(
                "cannot write leadership settings: cannot write settings: not the leader",
            ));
        }
        let before = self.st().leader_settings.clone();
        let after = overlay(before.clone(), Some(&kv));
        if after != before {
            self.g.st.leader_settings = after;
            self.g.st.fan_out_leader_settings();
        }
        // Re-read after our own write.
        self.ctx_mut().leader_settings = None;
        Ok(Out::default())
    }

    fn config_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, boolean(&["a", "all"])])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(1)?;
        let all = a.flag("a");
        if let (true, Some(k)) = (all, a.positional.first()) {
            return Err(ToolFail::usage(format!(
                "cannot use argument --all together with key {k:?}"
            )));
        }
        let cfg = match &self.ctx().config {
            Some(c) => c.clone(),
            None => {
                let c = self
                    .st()
                    .charm
                    .meta
                    .effective_config(&self.st().config, true);
                self.ctx_mut().config = Some(c.clone());
                c
            }
        };
        let v = match a.positional.first() {
            Some(k) => cfg.get(k).cloned().unwrap_or(Value::Null),
            None => Value::Object(
                cfg.into_iter()
                    .filter(|(_, v)| all || !v.is_null())
                    .collect(),
            ),
        };
        Ok(Out::value(f, &v))
    }

    // --- status and logs ---------------------------------------------------------------------

    fn status_set(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[boolean(&["application", "service"])])?;
        let Some(status) = a.positional.first() else {
            return Err(ToolFail::usage("invalid args, require <status> [message]"));
        };
        if !["maintenance", "blocked", "waiting", "active"].contains(&status.as_str()) {
            return Err(ToolFail::usage(format!(
                "invalid status {status:?}, expected one of [maintenance blocked waiting active]"
            )));
        }
        let message = a.positional[1..].join(" ");
        let rec = StatusRecord::new(status, &message);
        if a.flag("application") {
            if !self.is_leader() {
                return Err(ToolFail::runtime("this unit is not the leader"));
            }
            self.g.st.app_status = rec;
        } else {
            let me = self.unit_name();
            let u = self.g.st.units.get_mut(&me).expect("unit exists");
            u.workload = rec;
            u.status_set = true;
        }
        self.dirty = true;
        Ok(Out::default())
    }

    fn status_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(
            argv,
            &[
                FORMAT,
                boolean(&["include-data"]),
                boolean(&["application", "service"]),
            ],
        )?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(0)?;
        let detail =
            |r: &StatusRecord| json!({"status": r.status, "message": r.message, "status-data": {}});
        if a.flag("application") {
            if !self.is_leader() {
                return Err(ToolFail::runtime(
                    "finding application status: this unit is not the leader",
                ));
            }
            let mut app = detail(&self.st().app_status);
            let units: serde_json::Map<String, Value> = self
                .st()
                .units
                .values()
                .map(|u| (u.name.clone(), detail(&u.workload)))
                .collect();
            app["units"] = Value::Object(units);
            return Ok(Out::value(f, &json!({ "application-status": app })));
        }
        let w = &self.unit().workload;
        if a.flag("include-data") {
            Ok(Out::value(f, &detail(w)))
        } else {
            Ok(Out::value(f, &Value::String(w.status.clone())))
        }
    }

    fn juju_log(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(
            argv,
            &[value(&["l", "log-level"]), boolean(&["debug"]), FORMAT],
        )?;
        if a.positional.is_empty() {
            return Err(ToolFail::usage("no message specified"));
        }
        let mut out = Out::default();
        let mut level = a.value("l").unwrap_or("INFO").to_ascii_uppercase();
        if a.flag("debug") {
            level = "DEBUG".to_string();
        }
        if !["TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].contains(&level.as_str()) {
            out.stderr = format!("WARNING invalid log level {level:?}; using INFO\n");
            level = "INFO".to_string();
        }
        let mut msg = a.positional.join(" ");
        if let Some(id) = self.ctx().hook.as_ref().and_then(|h| h.relation_id) {
            msg = format!("{}: {msg}", self.rel_key(id));
        }
        let module = format!("unit.{}.juju-log", self.unit_name());
        self.log(&level, &module, &msg);
        Ok(out)
    }

    // --- actions -----------------------------------------------------------------------------

    fn action_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        let id = self.action_id()?;
        let params = Value::Object(self.st().actions[&id].params.clone());
        let v = match a.positional.first() {
            None => params,
            Some(key) => {
                let mut cur = &params;
                let mut found = true;
                for part in a.positional.iter().flat_map(|k| k.split('.')) {
                    match cur.get(part) {
                        Some(next) => cur = next,
                        None => {
                            found = false;
                            break;
                        }
                    }
                }
                let _ = key;
                if found {
                    cur.clone()
                } else {
                    Value::Null
                }
            }
        };
        Ok(Out::value(f, &v))
    }

    fn action_set(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[])?;
        let id = self.action_id()?;
        if a.positional.is_empty() {
            return Err(ToolFail::usage("no key=value pairs specified"));
        }
        let mut pairs = Vec::new();
        for p in &a.positional {
            let (k, v) = split_kv(p).ok_or_else(|| {
                ToolFail::usage(format!("argument {p:?} must be of the form key...=value"))
            })?;
            let parts: Vec<String> = k.split('.').map(str::to_string).collect();
            for part in &parts {
                if !util::is_juju_key_part(part) {
                    return Err(ToolFail::usage(format!(
                        "key {part:?} must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods"
                    )));
                }
            }
            if ["stdout", "stdout-encoding", "stderr", "stderr-encoding"]
                .contains(&parts[0].as_str())
            {
                return Err(ToolFail::usage(format!(
                    "cannot set reserved action key {:?}",
                    parts[0]
                )));
            }
            pairs.push((parts, v));
        }
        let rec = self.g.st.actions.get_mut(&id).expect("action exists");
        for (parts, v) in pairs {
            let mut cur = &mut rec.results;
            for part in &parts[..parts.len() - 1] {
                let slot = cur.entry(part.clone()).or_insert_with(|| json!({}));
                if !slot.is_object() {
                    *slot = json!({});
                }
                cur = slot.as_object_mut().expect("object");
            }
            cur.insert(parts[parts.len() - 1].clone(), Value::String(v));
        }
        self.dirty = true;
        Ok(Out::default())
    }

    fn action_fail(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[])?;
        let id = self.action_id()?;
        let mut msg = a.positional.join(" ");
        if msg.is_empty() {
            msg = "action failed without reason given, check action for errors".to_string();
        }
        let rec = self.g.st.actions.get_mut(&id).expect("action exists");
        rec.failed_by_charm = true;
        rec.message = msg;
        self.dirty = true;
        Ok(Out::default())
    }

    fn action_log(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[])?;
        let id = self.action_id()?;
        if a.positional.is_empty() {
            return Err(ToolFail::usage("no message specified"));
        }
        let msg = a.positional.join(" ");
        self.g
            .st
            .actions
            .get_mut(&id)
            .expect("action exists")
            .logs
            .push(msg.clone());
        self.dirty = true;
        let module = format!("unit.{}.action-log", self.unit_name());
        self.log("INFO", &module, &msg);
        Ok(Out::default())
    }

    fn application_version_set(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[])?;
        let Some(v) = a.positional.first() else {
            return Err(ToolFail::usage("no version specified"));
        };
        a.no_more(1)?;
        self.g.st.app_version = v.clone();
        self.dirty = true;
        Ok(Out::default())
    }

    // --- network and ports -------------------------------------------------------------------

    fn network_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        const SELECTORS: [&str; 4] = [
            "bind-address",
            "ingress-address",
            "egress-subnets",
            "primary-address",
        ];
        let a = args::parse(
            argv,
            &[
                FORMAT,
                RELATION,
                boolean(&["bind-address"]),
                boolean(&["ingress-address"]),
                boolean(&["egress-subnets"]),
                boolean(&["primary-address"]),
            ],
        )?;
        let f = Format::parse(a.value("format"))?;
        if a.value("r").is_some() {
            self.relation(a.value("r"))?;
        }
        let Some(binding) = a.positional.first().cloned() else {
            return Err(ToolFail::usage("no arguments specified"));
        };
        a.no_more(1)?;
        if !self.st().charm.meta.bindings().any(|b| *b == binding) {
            return Err(ToolFail::runtime(format!(
                "no network config found for binding {binding:?}"
            )));
        }
        let addr = self.unit().address.clone();
        let selected: Vec<&str> = SELECTORS.iter().copied().filter(|s| a.flag(s)).collect();
        let pick = |s: &str| -> Value {
            match s {
                "egress-subnets" => Value::String(format!("{addr}/32")),
                _ => Value::String(addr.clone()),
            }
        };
        let v = match selected.as_slice() {
            [] => json!({
                "bind-addresses": [{
                    "mac-address": "",
                    "interface-name": "lo",
                    "addresses": [{"hostname": "", "value": addr, "cidr": "127.0.0.0/8"}],
                }],
                "egress-subnets": [format!("{addr}/32")],
                "ingress-addresses": [addr],
            }),
            [one] => pick(one),
            many => Value::Object(many.iter().map(|s| (s.to_string(), pick(s))).collect()),
        };
        Ok(Out::value(f, &v))
    }

    fn unit_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        let Some(key) = a.positional.first() else {
            return Err(ToolFail::usage("no setting specified"));
        };
        a.no_more(1)?;
        match key.as_str() {
            "private-address" | "public-address" => {
                Ok(Out::value(f, &Value::String(self.unit().address.clone())))
            }
            other => Err(ToolFail::usage(format!("unknown setting {other:?}"))),
        }
    }

    fn port(&mut self, argv: &[String], open: bool) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[value(&["endpoints"]), FORMAT])?;
        let Some(spec) = a.positional.first() else {
            return Err(ToolFail::usage("no port or range specified"));
        };
        a.no_more(1)?;
        let port = parse_port(spec)?;
        self.ctx_mut().pending.ports.push((open, port));
        Ok(Out::default())
    }

    fn opened_ports(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, boolean(&["endpoints"])])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(0)?;
        let mut ports = self.unit().ports.clone();
        if self.st().switches.opened_ports_include_pending {
            for (open, p) in &self.ctx().pending.ports {
                if *open {
                    ports.insert(p.clone());
                } else {
                    ports.remove(p);
                }
            }
        }
        let mut list: Vec<String> = ports.into_iter().collect();
        list.sort_by_key(|p| port_sort_key(p));
        if a.flag("endpoints") {
            list = list.into_iter().map(|p| format!("{p} (*)")).collect();
        }
        Ok(Out::value(f, &json!(list)))
    }

    fn goal_state(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(0)?;
        let st = self.st();
        let entry = |u: &Unit| {
            let status = if u.life == crate::state::Life::Dying {
                "dying".to_string()
            } else {
                u.workload.status.clone()
            };
            json!({"status": status, "since": util::utc_string(u.workload.since)})
        };
        let units: serde_json::Map<String, Value> = st
            .units
            .values()
            .map(|u| (u.name.clone(), entry(u)))
            .collect();
        let mut relations = serde_json::Map::new();
        for r in st.relations.values() {
            let mut m = serde_json::Map::new();
            m.insert(
                st.app.clone(),
                json!({"status": "joined", "since": util::utc_string(st.app_status.since)}),
            );
            for u in st.units.values() {
                if u.name != self.ctx().unit {
                    m.insert(u.name.clone(), entry(u));
                }
            }
            relations.insert(r.endpoint.clone(), Value::Object(m));
        }
        Ok(Out::value(
            f,
            &json!({"units": units, "relations": relations}),
        ))
    }

    // --- unit state --------------------------------------------------------------------------

    fn state_view(&self) -> Bag {
        let mut s = self.unit().state.clone();
        for (k, v) in &self.ctx().pending.state {
            match v {
                Some(v) => {
                    s.insert(k.clone(), v.clone());
                }
                None => {
                    s.remove(k);
                }
            }
        }
        s
    }

    fn state_get(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[FORMAT, boolean(&["strict"])])?;
        let f = Format::parse(a.value("format"))?;
        a.no_more(1)?;
        let s = self.state_view();
        let v = match a.positional.first() {
            None => bag_value(&s),
            Some(k) => match s.get(k) {
                Some(v) => Value::String(v.clone()),
                None if a.flag("strict") => {
                    return Err(ToolFail::runtime(format!("{k:?} not found")))
                }
                None => Value::String(String::new()),
            },
        };
        Ok(Out::value(f, &v))
    }

    fn state_set(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[value(&["file"])])?;
        let kv = self.kv_args(&a, true)?;
        for (k, v) in &kv {
            if k.len() > 256 {
                return Err(ToolFail::runtime(format!(
                    "key {k:?} exceeds the 256-byte limit"
                )));
            }
            if v.len() > 64 * 1024 {
                return Err(ToolFail::runtime(format!(
                    "value of {k:?} exceeds the 65536-byte limit"
                )));
            }
        }
        let pending = &mut self.ctx_mut().pending.state;
        for (k, v) in kv {
            pending.insert(k, if v.is_empty() { None } else { Some(v) });
        }
        Ok(Out::default())
    }

    fn state_delete(&mut self, argv: &[String]) -> Result<Out, ToolFail> {
        let a = args::parse(argv, &[])?;
        let Some(k) = a.positional.first().cloned() else {
            return Err(ToolFail::usage("no key specified"));
        };
        a.no_more(1)?;
        self.ctx_mut().pending.state.insert(k, None);
        Ok(Out::default())
    }
}

/// Parses YAML-typed `k=v` pairs (as `juju run` does) into a JSON map; dotted keys nest.
pub fn typed_params(
    pairs: &[(String, String)],
    string_args: bool,
) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for (k, v) in pairs {
        let value = if string_args {
            Value::String(v.clone())
        } else {
            serde_yaml_ng::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.clone()))
        };
        let parts: Vec<&str> = k.split('.').collect();
        let mut cur = &mut out;
        for part in &parts[..parts.len() - 1] {
            let slot = cur.entry(part.to_string()).or_insert_with(|| json!({}));
            if !slot.is_object() {
                *slot = json!({});
            }
            cur = slot.as_object_mut().expect("object");
        }
        cur.insert(parts[parts.len() - 1].to_string(), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_need_an_application_and_a_number() {
        assert!(valid_unit_name("zookeeper/0"));
        assert!(valid_unit_name("zk-2/10"));
        assert!(!valid_unit_name("zookeeper"));
        assert!(!valid_unit_name("zookeeper/x"));
        assert!(!valid_unit_name("Zoo/1"));
    }

    #[test]
    fn ports_are_canonicalised_and_bad_ones_refused() {
        assert_eq!(parse_port("2181").unwrap(), "2181/tcp");
        assert_eq!(parse_port("1000-2000/UDP").unwrap(), "1000-2000/udp");
        assert_eq!(parse_port("icmp").unwrap(), "icmp");
        assert_eq!(parse_port("0").unwrap_err().code, 2);
        assert_eq!(parse_port("5-4/tcp").unwrap_err().code, 2);
        assert_eq!(parse_port("22/sctp").unwrap_err().code, 2);
    }

    #[test]
    fn settings_accept_json_and_yaml_with_null_as_delete() {
        let b = parse_settings("{\"myid\":\"2\",\"stale\":\"\"}").unwrap();
        assert_eq!(b.get("myid").map(String::as_str), Some("2"));
        assert_eq!(b.get("stale").map(String::as_str), Some(""));
        let y = parse_settings("port: 2181\ngone: ~\n").unwrap();
        assert_eq!(y.get("port").map(String::as_str), Some("2181"));
        assert_eq!(y.get("gone").map(String::as_str), Some(""));
        assert!(parse_settings("- a\n- b\n").is_err());
    }

    #[test]
    fn action_params_are_yaml_typed_unless_string_args() {
        let pairs = vec![
            ("n".to_string(), "5".to_string()),
            ("a.b".to_string(), "x".to_string()),
        ];
        let typed = typed_params(&pairs, false);
        assert_eq!(typed["n"], json!(5));
        assert_eq!(typed["a"]["b"], json!("x"));
        assert_eq!(typed_params(&pairs, true)["n"], json!("5"));
    }
}
