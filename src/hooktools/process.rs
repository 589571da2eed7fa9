//! [`HookTools`] over the real hook-tool subprocesses.
//!
//! Each method runs one tool with an argv vector (never a shell string), in the exact form
//! ops 3.x uses: `--format=json` wherever the tool has it, free text after `--`, and
//! relation data as a JSON map on stdin (`relation-set --file -`), so values never go
//! through argv quoting.
//!
//! # Caching
//!
//! A [`ProcessHookTools`] lives for one hook. Reads (`is-leader`, `relation-ids`,
//! `relation-list`, `relation-get` per bag, `config-get`, `action-get`,
//! `network-get`, `unit-get`, `goal-state`) are run at most once and then served from memory, as Juju's own
//! hook context does. Writes update the cache (read-your-writes): `relation-set` merges into
//! the cached bag and `""` deletes a key.
//!
//! # Errors
//!
//! A tool that exits non-zero gives [`ToolError::Failed`] with the command line and the
//! trimmed stderr. The command line never carries a value that may be a secret:
//! `relation-set` and `action-set` are shown with their keys only.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{
    Bag, Databag, HookTools, NetworkInfo, SecretContent, SecretGrantee, SecretId, SecretInfo,
    SecretOwner, SecretRead, SecretRef, ToolError,
};
use crate::status::Status;
use crate::subprocess::RunError;

/// Longest stderr kept in an error (a tool that dumps a stack trace should not flood the
/// unit log).
const MAX_STDERR: usize = 4000;

/// One hook-tool invocation: the tool, its argv, what goes to its stdin, and how it is
/// shown in errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invocation {
    pub tool: &'static str,
    pub args: Vec<String>,
    pub stdin: Option<String>,
    /// Secret content to pass as files: each argument `key#file=<FILE_TOKEN>` is given the
    /// path of a file holding that key's value when the tool runs.
    pub content: Option<SecretContent>,
    /// The command line for messages: secret-bearing values replaced by the key list.
    pub display: String,
}

/// What stands for a content file's path in an argument (`key#file=<file>`), until the
/// tool runs and the file exists.
pub(crate) const FILE_TOKEN: &str = "<file>";

impl Invocation {
    /// An invocation whose every argument may be shown.
    fn plain(tool: &'static str, args: Vec<String>) -> Invocation {
        let display = display_command(tool, &args, None);
        Invocation {
            tool,
            args,
            stdin: None,
            content: None,
            display,
        }
    }

    /// An invocation that passes secret `content` as `key#file=` arguments after `args`; the
    /// display shows the keys only.
    fn with_content(
        tool: &'static str,
        mut args: Vec<String>,
        content: &SecretContent,
    ) -> Invocation {
        let display = display_command(
            tool,
            &args,
            Some(&content.0.keys().map(String::as_str).collect::<Vec<_>>()),
        );
        args.extend(content.0.keys().map(|k| format!("{k}#file={FILE_TOKEN}")));
        Invocation {
            tool,
            args,
            stdin: None,
            content: Some(content.clone()),
            display,
        }
    }

    /// An invocation whose values must not be shown: `display` lists only `keys`, after the
    /// arguments `shown` (which carry no values).
    fn with_secret_values(
        tool: &'static str,
        args: Vec<String>,
        shown: &[String],
        keys: Vec<&str>,
        stdin: Option<String>,
    ) -> Invocation {
        let display = display_command(tool, shown, Some(&keys));
        Invocation {
            tool,
            args,
            stdin,
            content: None,
            display,
        }
    }
}

/// `tool arg 'arg with space' (keys: a, b)`.
fn display_command(tool: &str, args: &[String], keys: Option<&[&str]>) -> String {
    let mut out = tool.to_string();
    for a in args {
        out.push(' ');
        out.push_str(&shell_quote(a));
    }
    if let Some(keys) = keys {
        out.push_str(&format!(" (keys: {})", keys.join(", ")));
    }
    out
}

fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if safe {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The argv of every tool, shared with the fake so that what unit tests record is exactly
/// what production sends.
pub(crate) mod argv {
    use super::*;

    pub fn is_leader() -> Invocation {
        Invocation::plain("is-leader", vec!["--format=json".into()])
    }
    pub fn relation_ids(endpoint: &str) -> Invocation {
        Invocation::plain(
            "relation-ids",
            vec!["--format=json".into(), endpoint.to_string()],
        )
    }
    pub fn relation_list(relation_id: &str) -> Invocation {
        Invocation::plain(
            "relation-list",
            vec!["--format=json".into(), "-r".into(), relation_id.to_string()],
        )
    }
    pub fn relation_list_app(relation_id: &str) -> Invocation {
        Invocation::plain(
            "relation-list",
            vec![
                "--format=json".into(),
                "-r".into(),
                relation_id.to_string(),
                "--app".into(),
            ],
        )
    }
    pub fn relation_get(relation_id: &str, bag: &Bag) -> Invocation {
        let mut args = vec!["--format=json".into(), "-r".into(), relation_id.to_string()];
        let name = match bag {
            Bag::Unit(unit) => unit,
            Bag::App(app) => {
                args.push("--app".into());
                app
            }
        };
        args.push("-".into());
        args.push(name.clone());
        Invocation::plain("relation-get", args)
    }
    pub fn relation_set(relation_id: &str, app: bool, values: &Databag) -> Invocation {
        let mut args = vec!["-r".into(), relation_id.to_string()];
        if app {
            args.push("--app".into());
        }
        args.push("--file".into());
        args.push("-".into());
        let json = serde_json::to_string(values).unwrap_or_else(|_| "{}".into());
        Invocation::with_secret_values(
            "relation-set",
            args.clone(),
            &args,
            values.keys().map(String::as_str).collect(),
            Some(json),
        )
    }
    pub fn config_get() -> Invocation {
        Invocation::plain("config-get", vec!["--format=json".into()])
    }
    pub fn status_set(status: &Status, application: bool) -> Invocation {
        let flag = if application {
            "--application=True"
        } else {
            "--application=False"
        };
        Invocation::plain(
            "status-set",
            vec![
                flag.to_string(),
                status.kind.as_str().into(),
                "--".into(),
                status.message.clone(),
            ],
        )
    }
    pub fn juju_log(level: log::Level, message: &str) -> Invocation {
        let level = match level {
            log::Level::Error => "ERROR",
            log::Level::Warn => "WARNING",
            log::Level::Info => "INFO",
            log::Level::Debug => "DEBUG",
            log::Level::Trace => "TRACE",
        };
        Invocation::plain(
            "juju-log",
            vec![
                "--log-level".into(),
                level.into(),
                "--".into(),
                message.to_string(),
            ],
        )
    }
    pub fn action_get() -> Invocation {
        Invocation::plain("action-get", vec!["--format=json".into()])
    }
    pub fn action_set(results: &BTreeMap<String, String>) -> Invocation {
        let args = results.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Invocation::with_secret_values(
            "action-set",
            args,
            &[],
            results.keys().map(String::as_str).collect(),
            None,
        )
    }
    pub fn action_fail(message: &str) -> Invocation {
        Invocation::plain("action-fail", vec!["--".into(), message.to_string()])
    }
    pub fn application_version_set(version: &str) -> Invocation {
        Invocation::plain(
            "application-version-set",
            vec!["--".into(), version.to_string()],
        )
    }
    pub fn network_get(binding: &str) -> Invocation {
        Invocation::plain(
            "network-get",
            vec!["--format=json".into(), binding.to_string()],
        )
    }
    pub fn network_get_relation(binding: &str, relation_id: &str) -> Invocation {
        Invocation::plain(
            "network-get",
            vec![
                "--format=json".into(),
                "-r".into(),
                relation_id.to_string(),
                binding.to_string(),
            ],
        )
    }
    pub fn unit_get(key: &str) -> Invocation {
        Invocation::plain("unit-get", vec!["--format=json".into(), key.to_string()])
    }
    pub fn goal_state() -> Invocation {
        Invocation::plain("goal-state", vec!["--format=json".into()])
    }
    pub fn open_port(port: u16, protocol: &str) -> Invocation {
        Invocation::plain("open-port", vec![format!("{port}/{protocol}")])
    }
    pub fn close_port(port: u16, protocol: &str) -> Invocation {
        Invocation::plain("close-port", vec![format!("{port}/{protocol}")])
    }
    pub fn opened_ports() -> Invocation {
        Invocation::plain("opened-ports", vec!["--format=json".into()])
    }

    /// `secret-get`'s selector arguments: the id, `--label L`, or both.
    fn secret_ref(args: &mut Vec<String>, secret: &SecretRef) {
        match secret {
            SecretRef::Id(id) => args.push(id.to_string()),
            SecretRef::Label(l) => {
                args.push("--label".into());
                args.push(l.clone());
            }
            SecretRef::IdWithLabel(id, l) => {
                args.push(id.to_string());
                args.push("--label".into());
                args.push(l.clone());
            }
        }
    }

    pub fn secret_add(
        content: &SecretContent,
        label: Option<&str>,
        description: Option<&str>,
        owner: SecretOwner,
    ) -> Invocation {
        let mut args = Vec::new();
        if let Some(l) = label {
            args.extend(["--label".to_string(), l.to_string()]);
        }
        if let Some(d) = description {
            args.extend(["--description".to_string(), d.to_string()]);
        }
        args.extend(["--owner".to_string(), owner.as_str().to_string()]);
        Invocation::with_content("secret-add", args, content)
    }
    pub fn secret_get(secret: &SecretRef, read: SecretRead) -> Invocation {
        let mut args = vec!["--format=json".to_string()];
        secret_ref(&mut args, secret);
        match read {
            SecretRead::Tracked => {}
            SecretRead::Refresh => args.push("--refresh".into()),
            SecretRead::Peek => args.push("--peek".into()),
        }
        Invocation::plain("secret-get", args)
    }
    pub fn secret_set(id: &SecretId, content: &SecretContent, label: Option<&str>) -> Invocation {
        let mut args = vec![id.to_string()];
        if let Some(l) = label {
            args.extend(["--label".to_string(), l.to_string()]);
        }
        Invocation::with_content("secret-set", args, content)
    }
    fn grant_args(id: &SecretId, who: &SecretGrantee) -> Vec<String> {
        let mut args = vec!["--relation".to_string(), who.relation_id.clone()];
        if let Some(u) = &who.unit {
            args.extend(["--unit".to_string(), u.clone()]);
        }
        args.push(id.to_string());
        args
    }
    pub fn secret_grant(id: &SecretId, to: &SecretGrantee) -> Invocation {
        Invocation::plain("secret-grant", grant_args(id, to))
    }
    pub fn secret_revoke(id: &SecretId, from: &SecretGrantee) -> Invocation {
        Invocation::plain("secret-revoke", grant_args(id, from))
    }
    pub fn secret_remove(id: &SecretId, revision: Option<u32>) -> Invocation {
        let mut args = vec![id.to_string()];
        if let Some(r) = revision {
            args.extend(["--revision".to_string(), r.to_string()]);
        }
        Invocation::plain("secret-remove", args)
    }
    pub fn secret_ids() -> Invocation {
        Invocation::plain("secret-ids", vec!["--format=json".into()])
    }
    pub fn secret_info_get(secret: &SecretRef) -> Invocation {
        let mut args = vec!["--format=json".to_string()];
        secret_ref(&mut args, secret);
        Invocation::plain("secret-info-get", args)
    }
}

/// A private directory of content files for one tool call: mode 0700, each file created
/// new with mode 0600, all removed when dropped (also when the call fails).
struct ContentFiles {
    dir: PathBuf,
}

impl ContentFiles {
    /// Writes each value of `content` to its own file and returns `args` with every
    /// `key#file=<file>` pointing at the key's file.
    fn create(
        content: &SecretContent,
        args: &[String],
    ) -> std::io::Result<(ContentFiles, Vec<String>)> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let base = std::env::temp_dir();
        let mut attempt = 0u32;
        let dir = loop {
            let mut nonce = [0u8; 8];
            rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut nonce)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let name: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
            let dir = base.join(format!("zk-charm-secret-{name}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 5 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let files = ContentFiles { dir };
        let mut out = Vec::with_capacity(args.len());
        for (i, arg) in args.iter().enumerate() {
            let Some(key) = arg.strip_suffix(&format!("#file={FILE_TOKEN}")) else {
                out.push(arg.clone());
                continue;
            };
            let path = files.dir.join(format!("v{i}"));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)?;
            f.write_all(content.get(key).unwrap_or_default().as_bytes())?;
            f.sync_all()?;
            out.push(format!("{key}#file={}", path.display()));
        }
        Ok((files, out))
    }
}

impl Drop for ContentFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Parses `network-get --format=json` output.
pub(crate) fn parse_network_info(value: &Value) -> NetworkInfo {
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut bind_addresses = Vec::new();
    if let Some(binds) = value.get("bind-addresses").and_then(Value::as_array) {
        for bind in binds {
            if let Some(addrs) = bind.get("addresses").and_then(Value::as_array) {
                for a in addrs {
                    if let Some(v) = a.get("value").and_then(Value::as_str) {
                        bind_addresses.push(v.to_string());
                    }
                }
            }
        }
    }
    NetworkInfo {
        bind_addresses,
        ingress_addresses: strings(value.get("ingress-addresses")),
    }
}

/// What one hook has read so far.
#[derive(Debug, Default)]
struct Cache {
    is_leader: Option<bool>,
    relation_ids: HashMap<String, Vec<String>>,
    relation_list: HashMap<String, Vec<String>>,
    relation_app: HashMap<String, String>,
    bags: HashMap<(String, Bag), Databag>,
    config: Option<Map<String, Value>>,
    action: Option<Map<String, Value>>,
    network: HashMap<String, NetworkInfo>,
    network_relation: HashMap<(String, String), NetworkInfo>,
    unit_get: HashMap<String, String>,
    goal_units: Option<BTreeMap<String, String>>,
    secrets: SecretCache,
}

/// The secrets one hook has read or written: plain reads (`secret-get` without `--refresh`
/// or `--peek`) by the reference they used, and the labels known to name an id. A write
/// replaces what is cached for its secret (read-your-writes), and forgets label reads whose
/// secret is not known.
#[derive(Debug, Default, Clone)]
pub(crate) struct SecretCache {
    reads: HashMap<SecretRef, SecretContent>,
    labels: HashMap<String, String>,
}

impl SecretCache {
    pub(crate) fn get(&self, r: &SecretRef) -> Option<SecretContent> {
        self.reads.get(r).cloned()
    }

    /// A read that ran the tool.
    pub(crate) fn read(&mut self, r: &SecretRef, content: &SecretContent) {
        if let SecretRef::IdWithLabel(id, l) = r {
            self.labels.insert(l.clone(), id.short().to_string());
        }
        self.reads.insert(r.clone(), content.clone());
    }

    /// `secret-add`/`secret-set` of `id` (with its owner `label`, if given).
    pub(crate) fn wrote(&mut self, id: &SecretId, label: Option<&str>, content: &SecretContent) {
        let short = id.short().to_string();
        if let Some(l) = label {
            self.labels.insert(l.to_string(), short.clone());
        }
        let labels = self.labels.clone();
        self.reads.retain(|r, _| match r {
            SecretRef::Id(i) | SecretRef::IdWithLabel(i, _) => i.short() != short,
            SecretRef::Label(l) => labels.get(l).is_some_and(|s| *s != short),
        });
        self.reads
            .insert(SecretRef::Id(id.clone()), content.clone());
        for (l, s) in labels {
            if s == short {
                self.reads.insert(SecretRef::Label(l), content.clone());
            }
        }
    }

    /// `secret-remove` of `id`.
    pub(crate) fn removed(&mut self, id: &SecretId) {
        let short = id.short().to_string();
        let labels = self.labels.clone();
        self.reads
            .retain(|r, _| short_of(r, &labels).is_some_and(|s| s != short));
        self.labels.retain(|_, s| *s != short);
    }
}

fn short_of(r: &SecretRef, labels: &HashMap<String, String>) -> Option<String> {
    match r {
        SecretRef::Id(id) | SecretRef::IdWithLabel(id, _) => Some(id.short().to_string()),
        SecretRef::Label(l) => labels.get(l).cloned(),
    }
}

/// Parses `secret-get --format=json` output: a map of strings. Values never appear in an
/// error.
pub(crate) fn parse_secret_content(inv: &Invocation, v: Value) -> Result<SecretContent, ToolError> {
    databag(inv, v).map(SecretContent)
}

/// Parses `secret-add`'s output: the new secret's id.
pub(crate) fn parse_secret_id(inv: &Invocation, out: &str) -> Result<SecretId, ToolError> {
    SecretId::parse(out)
        .ok_or_else(|| output_err(inv, format!("not a secret id: {:?}", out.trim())))
}

/// The hook tools of a real Juju unit agent, run as subprocesses.
///
/// One value serves one hook: its cache assumes the world does not change under it except
/// through its own writes, which is what Juju guarantees within a hook.
#[derive(Debug)]
pub struct ProcessHookTools {
    tool_dir: Option<PathBuf>,
    unit_name: Option<String>,
    cache: RefCell<Cache>,
    calls: RefCell<BTreeMap<String, usize>>,
}

impl Default for ProcessHookTools {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessHookTools {
    /// Tools found on `PATH` (Juju puts its tools directory first). The unit's own name is
    /// read from `JUJU_UNIT_NAME`, to find its own bags in the cache after a write.
    pub fn new() -> ProcessHookTools {
        ProcessHookTools {
            tool_dir: None,
            unit_name: std::env::var("JUJU_UNIT_NAME")
                .ok()
                .filter(|u| !u.is_empty()),
            cache: RefCell::default(),
            calls: RefCell::default(),
        }
    }

    /// Tools taken from `dir` (`<dir>/relation-get`, ...) instead of `PATH`.
    pub fn with_tool_dir(dir: impl Into<PathBuf>) -> ProcessHookTools {
        ProcessHookTools {
            tool_dir: Some(dir.into()),
            ..Self::new()
        }
    }

    /// Sets the unit this process runs as (`zookeeper/2`), overriding `JUJU_UNIT_NAME`.
    pub fn for_unit(mut self, unit_name: &str) -> ProcessHookTools {
        self.unit_name = Some(unit_name.to_string());
        self
    }

    /// How many times each tool was actually run (cache hits are not runs).
    pub fn calls(&self) -> BTreeMap<String, usize> {
        self.calls.borrow().clone()
    }

    /// Runs one tool and returns its stdout.
    fn run(&self, inv: &Invocation) -> Result<String, ToolError> {
        *self
            .calls
            .borrow_mut()
            .entry(inv.tool.to_string())
            .or_default() += 1;
        run_tool(self.tool_dir.as_deref(), inv)
    }

    /// Where the charm's log records go: `juju-log`, from the same tools directory. It
    /// holds no cache, so the `log` backend can keep it for the whole process.
    pub fn juju_log(&self) -> JujuLog {
        JujuLog {
            tool_dir: self.tool_dir.clone(),
        }
    }

    /// Runs a `--format=json` tool and parses its stdout.
    fn run_json(&self, inv: &Invocation) -> Result<Value, ToolError> {
        let out = self.run(inv)?;
        let text = out.trim();
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(text).map_err(|e| ToolError::Output {
            cmd: inv.display.clone(),
            detail: format!("not JSON ({e})"),
        })
    }
}

/// How long one hook-tool call may take before it is killed. Juju's tools answer in
/// milliseconds (an RPC to the unit agent); a minute means the agent is wedged, and a hook
/// that failed is retried by Juju, where one that hangs blocks the unit (and its actions)
/// for good.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs one tool (from `tool_dir`, else `PATH`) and returns its stdout.
fn run_tool(tool_dir: Option<&std::path::Path>, inv: &Invocation) -> Result<String, ToolError> {
    let program = match tool_dir {
        Some(dir) => dir.join(inv.tool),
        None => PathBuf::from(inv.tool),
    };
    let spawn_err = |source| ToolError::Spawn {
        cmd: inv.display.clone(),
        source,
    };
    let (_files, args) = match &inv.content {
        Some(content) => {
            let (files, args) = ContentFiles::create(content, &inv.args).map_err(spawn_err)?;
            (Some(files), args)
        }
        None => (None, inv.args.clone()),
    };
    let mut cmd = Command::new(program);
    cmd.args(&args);
    let out = crate::subprocess::run(
        &mut cmd,
        inv.stdin.as_deref().map(str::as_bytes),
        TOOL_TIMEOUT,
    )
    .map_err(|e| match e {
        RunError::Spawn(source) | RunError::Wait(source) => spawn_err(source),
        RunError::TimedOut { after, stderr } => ToolError::TimedOut {
            cmd: inv.display.clone(),
            after,
            stderr: clip(stderr.trim().to_string()),
        },
    })?;
    if !out.status.success() {
        return Err(ToolError::Failed {
            cmd: inv.display.clone(),
            code: out.status.code().unwrap_or(-1),
            stderr: clip(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        });
    }
    String::from_utf8(out.stdout).map_err(|_| ToolError::Output {
        cmd: inv.display.clone(),
        detail: "stdout is not UTF-8".into(),
    })
}

/// At most [`MAX_STDERR`] bytes of a tool's stderr.
fn clip(mut stderr: String) -> String {
    if stderr.len() > MAX_STDERR {
        let mut cut = MAX_STDERR;
        while !stderr.is_char_boundary(cut) {
            cut -= 1;
        }
        stderr.truncate(cut);
        stderr.push_str(" [...]");
    }
    stderr
}

/// `juju-log`, as the sink of the charm's `log` backend.
#[derive(Debug, Clone)]
pub struct JujuLog {
    tool_dir: Option<PathBuf>,
}

impl JujuLog {
    /// `juju-log --log-level <level> -- <message>`.
    ///
    /// # Errors
    /// When the tool cannot run or fails.
    pub fn write(&self, level: log::Level, message: &str) -> Result<(), ToolError> {
        run_tool(self.tool_dir.as_deref(), &argv::juju_log(level, message)).map(drop)
    }
}

fn output_err(inv: &Invocation, detail: impl Into<String>) -> ToolError {
    ToolError::Output {
        cmd: inv.display.clone(),
        detail: detail.into(),
    }
}

/// A JSON list of strings; `null` (Go's nil slice) is empty.
fn string_list(inv: &Invocation, v: Value) -> Result<Vec<String>, ToolError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                other => Err(output_err(inv, format!("expected strings, got {other}"))),
            })
            .collect(),
        other => Err(output_err(
            inv,
            format!("expected a list, got {}", kind(&other)),
        )),
    }
}

/// A JSON map; `null` is empty.
fn object(inv: &Invocation, v: Value) -> Result<Map<String, Value>, ToolError> {
    match v {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        other => Err(output_err(
            inv,
            format!("expected a map, got {}", kind(&other)),
        )),
    }
}

/// A JSON map of strings. Values are never echoed in the error (they may be secrets).
fn databag(inv: &Invocation, v: Value) -> Result<Databag, ToolError> {
    object(inv, v)?
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(output_err(
                inv,
                format!("value of {k:?} is a {}, not a string", kind(&other)),
            )),
        })
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// Applies a write to a bag: `""` deletes, anything else sets.
pub(crate) fn merge(bag: &mut Databag, values: &Databag) {
    for (k, v) in values {
        if v.is_empty() {
            bag.remove(k);
        } else {
            bag.insert(k.clone(), v.clone());
        }
    }
}

impl HookTools for ProcessHookTools {
    fn is_leader(&self) -> Result<bool, ToolError> {
        if let Some(v) = self.cache.borrow().is_leader {
            return Ok(v);
        }
        let inv = argv::is_leader();
        let v = match self.run_json(&inv)? {
            Value::Bool(b) => b,
            other => {
                return Err(output_err(
                    &inv,
                    format!("expected true/false, got {other}"),
                ))
            }
        };
        self.cache.borrow_mut().is_leader = Some(v);
        Ok(v)
    }

    fn relation_ids(&self, endpoint: &str) -> Result<Vec<String>, ToolError> {
        if let Some(v) = self.cache.borrow().relation_ids.get(endpoint) {
            return Ok(v.clone());
        }
        let inv = argv::relation_ids(endpoint);
        let v = string_list(&inv, self.run_json(&inv)?)?;
        self.cache
            .borrow_mut()
            .relation_ids
            .insert(endpoint.to_string(), v.clone());
        Ok(v)
    }

    fn relation_list(&self, relation_id: &str) -> Result<Vec<String>, ToolError> {
        if let Some(v) = self.cache.borrow().relation_list.get(relation_id) {
            return Ok(v.clone());
        }
        let inv = argv::relation_list(relation_id);
        let v = string_list(&inv, self.run_json(&inv)?)?;
        self.cache
            .borrow_mut()
            .relation_list
            .insert(relation_id.to_string(), v.clone());
        Ok(v)
    }

    fn relation_app(&self, relation_id: &str) -> Result<String, ToolError> {
        if let Some(v) = self.cache.borrow().relation_app.get(relation_id) {
            return Ok(v.clone());
        }
        let inv = argv::relation_list_app(relation_id);
        let v = match self.run_json(&inv)? {
            Value::String(s) if !s.is_empty() => s,
            other => {
                return Err(output_err(
                    &inv,
                    format!("expected an application name, got {}", kind(&other)),
                ))
            }
        };
        self.cache
            .borrow_mut()
            .relation_app
            .insert(relation_id.to_string(), v.clone());
        Ok(v)
    }

    fn relation_get(&self, relation_id: &str, bag: &Bag) -> Result<Databag, ToolError> {
        let key = (relation_id.to_string(), bag.clone());
        if let Some(v) = self.cache.borrow().bags.get(&key) {
            return Ok(v.clone());
        }
        let inv = argv::relation_get(relation_id, bag);
        let v = databag(&inv, self.run_json(&inv)?)?;
        self.cache.borrow_mut().bags.insert(key, v.clone());
        Ok(v)
    }

    fn relation_set(
        &self,
        relation_id: &str,
        app: bool,
        values: &Databag,
    ) -> Result<(), ToolError> {
        if values.is_empty() {
            return Ok(());
        }
        self.run(&argv::relation_set(relation_id, app, values))?;
        let mut cache = self.cache.borrow_mut();
        let own = self.unit_name.as_deref().map(|unit| {
            if app {
                Bag::App(unit.split('/').next().unwrap_or(unit).to_string())
            } else {
                Bag::Unit(unit.to_string())
            }
        });
        match own {
            // Merge into the cached bag if it was read; otherwise the next read asks Juju,
            // which includes this hook's pending writes.
            Some(bag) => {
                if let Some(cached) = cache.bags.get_mut(&(relation_id.to_string(), bag)) {
                    merge(cached, values);
                }
            }
            // Without our own name, forget every bag of that kind in the relation.
            None => cache
                .bags
                .retain(|(rid, b), _| rid != relation_id || matches!(b, Bag::App(_)) != app),
        }
        Ok(())
    }

    fn config_get(&self) -> Result<Map<String, Value>, ToolError> {
        if let Some(v) = &self.cache.borrow().config {
            return Ok(v.clone());
        }
        let inv = argv::config_get();
        let v = object(&inv, self.run_json(&inv)?)?;
        self.cache.borrow_mut().config = Some(v.clone());
        Ok(v)
    }

    fn status_set(&self, status: &Status, application: bool) -> Result<(), ToolError> {
        self.run(&argv::status_set(status, application)).map(drop)
    }

    fn action_get(&self) -> Result<Map<String, Value>, ToolError> {
        if let Some(v) = &self.cache.borrow().action {
            return Ok(v.clone());
        }
        let inv = argv::action_get();
        let v = object(&inv, self.run_json(&inv)?)?;
        self.cache.borrow_mut().action = Some(v.clone());
        Ok(v)
    }

    fn action_set(&self, results: &BTreeMap<String, String>) -> Result<(), ToolError> {
        if results.is_empty() {
            return Ok(());
        }
        self.run(&argv::action_set(results)).map(drop)
    }

    fn action_fail(&self, message: &str) -> Result<(), ToolError> {
        self.run(&argv::action_fail(message)).map(drop)
    }

    fn application_version_set(&self, version: &str) -> Result<(), ToolError> {
        self.run(&argv::application_version_set(version)).map(drop)
    }

    fn network_get(&self, binding: &str) -> Result<NetworkInfo, ToolError> {
        if let Some(v) = self.cache.borrow().network.get(binding) {
            return Ok(v.clone());
        }
        let inv = argv::network_get(binding);
        let value = self.run_json(&inv)?;
        if !value.is_object() {
            return Err(output_err(
                &inv,
                format!("expected a map, got {}", kind(&value)),
            ));
        }
        let v = parse_network_info(&value);
        self.cache
            .borrow_mut()
            .network
            .insert(binding.to_string(), v.clone());
        Ok(v)
    }

    fn network_get_relation(
        &self,
        binding: &str,
        relation_id: &str,
    ) -> Result<NetworkInfo, ToolError> {
        let key = (binding.to_string(), relation_id.to_string());
        if let Some(v) = self.cache.borrow().network_relation.get(&key) {
            return Ok(v.clone());
        }
        let inv = argv::network_get_relation(binding, relation_id);
        let value = self.run_json(&inv)?;
        if !value.is_object() {
            return Err(output_err(
                &inv,
                format!("expected a map, got {}", kind(&value)),
            ));
        }
        let v = parse_network_info(&value);
        self.cache
            .borrow_mut()
            .network_relation
            .insert(key, v.clone());
        Ok(v)
    }

    fn unit_get(&self, key: &str) -> Result<String, ToolError> {
        if let Some(v) = self.cache.borrow().unit_get.get(key) {
            return Ok(v.clone());
        }
        let inv = argv::unit_get(key);
        let v = match self.run_json(&inv)? {
            Value::String(s) => s,
            other => {
                return Err(output_err(
                    &inv,
                    format!("expected a string, got {}", kind(&other)),
                ))
            }
        };
        self.cache
            .borrow_mut()
            .unit_get
            .insert(key.to_string(), v.clone());
        Ok(v)
    }

    fn goal_state_units(&self) -> Result<BTreeMap<String, String>, ToolError> {
        if let Some(v) = &self.cache.borrow().goal_units {
            return Ok(v.clone());
        }
        let inv = argv::goal_state();
        let value = self.run_json(&inv)?;
        let v = super::parse_goal_state_units(&value);
        self.cache.borrow_mut().goal_units = Some(v.clone());
        Ok(v)
    }

    fn open_port(&self, port: u16, protocol: &str) -> Result<(), ToolError> {
        self.run(&argv::open_port(port, protocol)).map(drop)
    }

    fn close_port(&self, port: u16, protocol: &str) -> Result<(), ToolError> {
        self.run(&argv::close_port(port, protocol)).map(drop)
    }

    fn opened_ports(&self) -> Result<BTreeSet<String>, ToolError> {
        let inv = argv::opened_ports();
        let value = self.run_json(&inv)?;
        Ok(string_list(&inv, value)?.into_iter().collect())
    }

    fn secret_add(
        &self,
        content: &SecretContent,
        label: Option<&str>,
        description: Option<&str>,
        owner: SecretOwner,
    ) -> Result<SecretId, ToolError> {
        let inv = argv::secret_add(content, label, description, owner);
        let id = parse_secret_id(&inv, &self.run(&inv)?)?;
        self.cache.borrow_mut().secrets.wrote(&id, label, content);
        Ok(id)
    }

    fn secret_get(&self, secret: &SecretRef, read: SecretRead) -> Result<SecretContent, ToolError> {
        if read == SecretRead::Tracked {
            if let Some(c) = self.cache.borrow().secrets.get(secret) {
                return Ok(c);
            }
        }
        let inv = argv::secret_get(secret, read);
        let content = parse_secret_content(&inv, self.run_json(&inv)?)?;
        if read == SecretRead::Tracked {
            self.cache.borrow_mut().secrets.read(secret, &content);
        }
        Ok(content)
    }

    fn secret_set(
        &self,
        id: &SecretId,
        content: &SecretContent,
        label: Option<&str>,
    ) -> Result<(), ToolError> {
        self.run(&argv::secret_set(id, content, label))?;
        self.cache.borrow_mut().secrets.wrote(id, label, content);
        Ok(())
    }

    fn secret_grant(&self, id: &SecretId, to: &SecretGrantee) -> Result<(), ToolError> {
        self.run(&argv::secret_grant(id, to)).map(drop)
    }

    fn secret_revoke(&self, id: &SecretId, from: &SecretGrantee) -> Result<(), ToolError> {
        self.run(&argv::secret_revoke(id, from)).map(drop)
    }

    fn secret_remove(&self, id: &SecretId, revision: Option<u32>) -> Result<(), ToolError> {
        self.run(&argv::secret_remove(id, revision))?;
        if revision.is_none() {
            self.cache.borrow_mut().secrets.removed(id);
        }
        Ok(())
    }

    fn secret_ids(&self) -> Result<Vec<String>, ToolError> {
        let inv = argv::secret_ids();
        let v = self.run_json(&inv)?;
        string_list(&inv, v)
    }

    fn secret_info_get(&self, secret: &SecretRef) -> Result<SecretInfo, ToolError> {
        let inv = argv::secret_info_get(secret);
        let v = self.run_json(&inv)?;
        super::parse_secret_info(&v)
            .ok_or_else(|| output_err(&inv, "expected a map of one secret id to its metadata"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// A directory of fake tools: each appends `<tool> <args...>` and its stdin to `log`,
    /// then prints a canned answer (or fails) as the test asks.
    struct Tools {
        dir: tempfile::TempDir,
    }

    impl Tools {
        fn new() -> Tools {
            Tools {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn log_path(&self) -> PathBuf {
            self.dir.path().join("calls.log")
        }
        /// A tool that logs its argv (one arg per line after the name) and stdin, then runs
        /// `body` (shell).
        fn tool(&self, name: &str, body: &str) -> &Self {
            let path = self.dir.path().join(name);
            let script = format!(
                "#!/bin/sh\n{{ printf '%s' '{name}'; for a in \"$@\"; do printf ' [%s]' \"$a\"; done; echo; }} >> '{log}'\n{body}\n",
                log = self.log_path().display()
            );
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            self
        }
        fn answer(&self, name: &str, json: &str) -> &Self {
            self.tool(name, &format!("printf '%s\\n' '{json}'"))
        }
        fn hook_tools(&self) -> ProcessHookTools {
            ProcessHookTools::with_tool_dir(self.dir.path()).for_unit("zookeeper/0")
        }
        fn log(&self) -> Vec<String> {
            read_lines(&self.log_path())
        }
    }

    fn read_lines(p: &Path) -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn bag(pairs: &[(&str, &str)]) -> Databag {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_use_the_argv_ops_uses_and_parse_json() {
        let t = Tools::new();
        t.answer("is-leader", "true")
            .answer("relation-ids", r#"["cluster:0"]"#)
            .answer("relation-list", r#"["zookeeper/1","zookeeper/10"]"#)
            .answer("relation-get", r#"{"myid":"2","private-address":"127.0.0.2"}"#)
            .answer("config-get", r#"{"tick-time":2000,"log-level":"INFO"}"#)
            .answer(
                "network-get",
                r#"{"bind-addresses":[{"interface-name":"lo","addresses":[{"value":"127.0.0.3","cidr":"127.0.0.0/8"}]}],"ingress-addresses":["127.0.0.4"]}"#,
            )
            .answer("unit-get", r#""127.0.0.5""#);
        let h = t.hook_tools();
        assert!(h.is_leader().unwrap());
        assert_eq!(h.relation_ids("cluster").unwrap(), vec!["cluster:0"]);
        assert_eq!(
            h.relation_list("cluster:0").unwrap(),
            vec!["zookeeper/1", "zookeeper/10"]
        );
        assert_eq!(
            h.relation_get("cluster:0", &Bag::Unit("zookeeper/2".into()))
                .unwrap(),
            bag(&[("myid", "2"), ("private-address", "127.0.0.2")])
        );
        h.relation_get("cluster:0", &Bag::App("zookeeper".into()))
            .unwrap();
        assert_eq!(h.config_get().unwrap()["tick-time"], 2000);
        assert_eq!(
            h.network_get("cluster").unwrap(),
            NetworkInfo {
                bind_addresses: vec!["127.0.0.3".into()],
                ingress_addresses: vec!["127.0.0.4".into()],
            }
        );
        assert_eq!(h.unit_get("private-address").unwrap(), "127.0.0.5");
        assert_eq!(
            t.log(),
            vec![
                "is-leader [--format=json]",
                "relation-ids [--format=json] [cluster]",
                "relation-list [--format=json] [-r] [cluster:0]",
                "relation-get [--format=json] [-r] [cluster:0] [-] [zookeeper/2]",
                "relation-get [--format=json] [-r] [cluster:0] [--app] [-] [zookeeper]",
                "config-get [--format=json]",
                "network-get [--format=json] [cluster]",
                "unit-get [--format=json] [private-address]",
            ]
        );
    }

    #[test]
    fn reads_are_cached_for_the_life_of_the_value() {
        let t = Tools::new();
        t.answer("is-leader", "false")
            .answer("config-get", "{}")
            .answer("relation-get", r#"{"a":"1"}"#)
            .answer("action-get", r#"{"username":"super"}"#)
            .answer("relation-ids", "[]")
            .answer("relation-list", "null")
            .answer(
                "goal-state",
                r#"{"units":{"zookeeper/0":{"status":"active"},"zookeeper/1":{"status":"dying"}}}"#,
            );
        let h = t.hook_tools();
        for _ in 0..3 {
            assert!(!h.is_leader().unwrap());
            h.config_get().unwrap();
            h.relation_get("cluster:0", &Bag::Unit("zookeeper/1".into()))
                .unwrap();
            assert_eq!(h.action_get().unwrap()["username"], "super");
            assert!(h.relation_ids("cluster").unwrap().is_empty());
            assert!(h.relation_list("cluster:0").unwrap().is_empty());
            assert_eq!(h.goal_state_units().unwrap()["zookeeper/1"], "dying");
        }
        // A different bag is a different read.
        h.relation_get("cluster:0", &Bag::Unit("zookeeper/2".into()))
            .unwrap();
        let calls = h.calls();
        for tool in [
            "is-leader",
            "config-get",
            "action-get",
            "relation-ids",
            "relation-list",
            "goal-state",
        ] {
            assert_eq!(calls[tool], 1, "{tool}: {calls:?}");
        }
        assert_eq!(calls["relation-get"], 2);
        assert_eq!(t.log().len(), 8);
    }

    #[test]
    fn relation_set_sends_json_on_stdin_and_merges_into_the_cached_bag() {
        let t = Tools::new();
        t.answer("relation-get", r#"{"myid":"0","stale":"x"}"#)
            .tool(
                "relation-set",
                &format!("cat >> '{}'; echo >> '{0}'", t.log_path().display()),
            );
        let h = t.hook_tools();
        let own = Bag::Unit("zookeeper/0".into());
        h.relation_get("cluster:0", &own).unwrap();
        h.relation_set(
            "cluster:0",
            false,
            &bag(&[("stale", ""), ("state", "started")]),
        )
        .unwrap();
        assert_eq!(
            h.relation_get("cluster:0", &own).unwrap(),
            bag(&[("myid", "0"), ("state", "started")])
        );
        assert_eq!(
            t.log(),
            vec![
                "relation-get [--format=json] [-r] [cluster:0] [-] [zookeeper/0]",
                "relation-set [-r] [cluster:0] [--file] [-]",
                r#"{"stale":"","state":"started"}"#,
            ]
        );
    }

    #[test]
    fn app_relation_set_updates_the_cached_app_bag_only() {
        let t = Tools::new();
        t.answer("relation-get", r#"{"k":"old"}"#)
            .tool("relation-set", "cat > /dev/null");
        let h = t.hook_tools();
        let app = Bag::App("zookeeper".into());
        let unit = Bag::Unit("zookeeper/0".into());
        h.relation_get("cluster:0", &app).unwrap();
        h.relation_get("cluster:0", &unit).unwrap();
        h.relation_set("cluster:0", true, &bag(&[("k", "new")]))
            .unwrap();
        assert_eq!(h.relation_get("cluster:0", &app).unwrap()["k"], "new");
        assert_eq!(h.relation_get("cluster:0", &unit).unwrap()["k"], "old");
        assert!(t
            .log()
            .contains(&"relation-set [-r] [cluster:0] [--app] [--file] [-]".to_string()));
        assert_eq!(h.calls()["relation-get"], 2);
    }

    #[test]
    fn writes_run_the_same_argv_as_ops() {
        let t = Tools::new();
        for tool in [
            "status-set",
            "juju-log",
            "action-set",
            "action-fail",
            "application-version-set",
            "open-port",
            "close-port",
        ] {
            t.tool(tool, "");
        }
        let h = t.hook_tools();
        h.status_set(&Status::blocked("-starts with a dash"), false)
            .unwrap();
        h.status_set(&Status::active(""), true).unwrap();
        h.juju_log().write(log::Level::Warn, "hello world").unwrap();
        h.action_set(&bag(&[("a.b", "x=y"), ("c", "d")])).unwrap();
        h.action_fail("nope").unwrap();
        h.application_version_set("3.8.4").unwrap();
        h.open_port(2181, "tcp").unwrap();
        h.close_port(2182, "tcp").unwrap();
        assert_eq!(
            t.log(),
            vec![
                "status-set [--application=False] [blocked] [--] [-starts with a dash]",
                "status-set [--application=True] [active] [--] []",
                "juju-log [--log-level] [WARNING] [--] [hello world]",
                "action-set [a.b=x=y] [c=d]",
                "action-fail [--] [nope]",
                "application-version-set [--] [3.8.4]",
                "open-port [2181/tcp]",
                "close-port [2182/tcp]",
            ]
        );
    }

    #[test]
    fn empty_writes_run_no_tool() {
        let t = Tools::new();
        let h = t.hook_tools();
        h.relation_set("cluster:0", false, &Databag::new()).unwrap();
        h.action_set(&BTreeMap::new()).unwrap();
        assert!(h.calls().is_empty());
    }

    #[test]
    fn a_failing_tool_reports_its_command_line_exit_code_and_stderr() {
        let t = Tools::new();
        t.tool(
            "relation-get",
            "echo 'ERROR invalid value \"cluster:9\" for option -r: relation not found' >&2; exit 2",
        );
        let h = t.hook_tools();
        let err = h
            .relation_get("cluster:9", &Bag::Unit("zookeeper/1".into()))
            .unwrap_err();
        assert!(err.is_relation_not_found());
        match &err {
            ToolError::Failed { cmd, code, stderr } => {
                assert_eq!(cmd, "relation-get --format=json -r cluster:9 - zookeeper/1");
                assert_eq!(*code, 2);
                assert_eq!(
                    stderr,
                    "ERROR invalid value \"cluster:9\" for option -r: relation not found"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        // A failed read is not cached.
        assert!(h
            .relation_get("cluster:9", &Bag::Unit("zookeeper/1".into()))
            .is_err());
        assert_eq!(h.calls()["relation-get"], 2);
    }

    #[test]
    fn error_messages_never_show_values_of_writes() {
        let t = Tools::new();
        for tool in ["relation-set", "action-set"] {
            t.tool(
                tool,
                "cat > /dev/null; echo 'ERROR cannot write relation settings' >&2; exit 1",
            );
        }
        let h = t.hook_tools();
        let secret = bag(&[
            ("super-password", "hunter2-SECRET"),
            ("sync-password", "s3cr3t"),
        ]);
        let errors = [
            h.relation_set("cluster:0", true, &secret).unwrap_err(),
            h.action_set(&secret).unwrap_err(),
        ];
        for e in &errors {
            let text = e.to_string();
            assert!(
                !text.contains("hunter2") && !text.contains("s3cr3t"),
                "{text}"
            );
            assert!(
                text.contains("(keys: super-password, sync-password)"),
                "{text}"
            );
        }
        assert_eq!(
            errors[0].to_string(),
            "`relation-set -r cluster:0 --app --file - (keys: super-password, sync-password)` \
             failed with exit code 1: ERROR cannot write relation settings"
        );
    }

    #[test]
    fn a_missing_tool_is_a_spawn_error_naming_the_command() {
        let t = Tools::new();
        let err = t.hook_tools().is_leader().unwrap_err();
        assert!(matches!(err, ToolError::Spawn { .. }), "{err:?}");
        assert!(err
            .to_string()
            .starts_with("cannot run `is-leader --format=json`"));
    }

    #[test]
    fn malformed_output_is_an_output_error() {
        let t = Tools::new();
        t.answer("is-leader", "maybe")
            .answer("relation-get", r#"{"n":1}"#);
        let h = t.hook_tools();
        assert!(matches!(h.is_leader(), Err(ToolError::Output { .. })));
        let err = h
            .relation_get("cluster:0", &Bag::Unit("zookeeper/1".into()))
            .unwrap_err();
        assert!(
            err.to_string().contains("value of \"n\" is a number"),
            "{err}"
        );
    }

    #[test]
    fn secret_content_goes_in_private_files_that_are_gone_after_the_call_never_on_argv() {
        let t = Tools::new();
        // The tool records each file's mode, its directory's mode and content, then prints
        // a URI.
        t.tool(
            "secret-add",
            &format!(
                "for a in \"$@\"; do case \"$a\" in *'#file='*) f=\"${{a#*#file=}}\"; stat -c '%a' \"$f\" \"$(dirname \"$f\")\" >> '{log}'; cat \"$f\" >> '{log}'; echo >> '{log}'; echo \"$f\" > '{log}.path';; esac; done; echo secret://uuid/d3fo2nuve8s5g6ln8t8g",
                log = t.log_path().display()
            ),
        );
        let h = t.hook_tools();
        let content = SecretContent::from_pairs([("super-password", "Hunter2-VALUE")]);
        let id = h
            .secret_add(
                &content,
                Some("cluster.zookeeper.app"),
                None,
                SecretOwner::Application,
            )
            .unwrap();
        assert_eq!(id.as_str(), "secret://uuid/d3fo2nuve8s5g6ln8t8g");
        assert_eq!(id.short(), "d3fo2nuve8s5g6ln8t8g");
        let log = t.log();
        assert!(
            log[0].starts_with("secret-add [--label] [cluster.zookeeper.app] [--owner] [application] [super-password#file=/"),
            "{log:?}"
        );
        assert!(
            !log[0].contains("Hunter2"),
            "the value is not on argv: {log:?}"
        );
        assert_eq!(&log[1..], ["600", "700", "Hunter2-VALUE"]);
        let path = std::fs::read_to_string(format!("{}.path", t.log_path().display())).unwrap();
        let path = Path::new(path.trim());
        assert!(
            !path.exists() && !path.parent().unwrap().exists(),
            "removed after the call"
        );
        // The owner reads its own write back without running the tool.
        assert_eq!(
            h.secret_get(
                &SecretRef::Label("cluster.zookeeper.app".into()),
                SecretRead::Tracked
            )
            .unwrap(),
            content
        );
        assert_eq!(h.calls().get("secret-get"), None);
    }

    #[test]
    fn secret_errors_carry_stderr_and_keys_but_never_values() {
        let t = Tools::new();
        for tool in ["secret-set", "secret-add"] {
            t.tool(tool, "echo 'ERROR this unit is not the leader' >&2; exit 1");
        }
        t.tool(
            "secret-get",
            "echo 'ERROR secret \"x\" not found' >&2; exit 1",
        );
        let h = t.hook_tools();
        let content = SecretContent::from_pairs([("sync-password", "s3cr3t-Value")]);
        let id = SecretId::parse("secret:d3fo2nuve8s5g6ln8t8g").unwrap();
        let err = h.secret_set(&id, &content, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`secret-set secret:d3fo2nuve8s5g6ln8t8g (keys: sync-password)` failed with exit code 1: ERROR this unit is not the leader"
        );
        let err = h
            .secret_add(&content, None, None, SecretOwner::Unit)
            .unwrap_err();
        assert!(!format!("{err} {err:?}").contains("s3cr3t"), "{err:?}");
        let err = h
            .secret_get(&SecretRef::Id(id), SecretRead::Tracked)
            .unwrap_err();
        assert!(err.is_secret_not_found(), "{err}");
        assert!(!format!("{content:?}").contains("s3cr3t"));
    }

    #[test]
    fn secret_reads_parse_into_types_and_refreshes_are_not_cached() {
        let t = Tools::new();
        t.answer("secret-get", r#"{"password":"pw","username":"relation-4"}"#)
            .answer(
                "secret-info-get",
                r#"{"d3fo2nuve8s5g6ln8t8g":{"revision":3,"label":"zookeeper.4.user.secret","owner":"application","rotation":"never","access":[{"target":"application-kafka","scope":"relation-kafka.zookeeper#zookeeper.zookeeper","role":"view"}]}}"#,
            )
            .answer("secret-ids", r#"["d3fo2nuve8s5g6ln8t8g"]"#)
            .answer("secret-add", "not-a-uri");
        let h = t.hook_tools();
        let id = SecretId::parse("secret://m/d3fo2nuve8s5g6ln8t8g").unwrap();
        let r = SecretRef::IdWithLabel(id.clone(), "mine".into());
        for _ in 0..2 {
            assert_eq!(
                h.secret_get(&r, SecretRead::Tracked)
                    .unwrap()
                    .get("username"),
                Some("relation-4")
            );
            h.secret_get(&SecretRef::Label("mine".into()), SecretRead::Refresh)
                .unwrap();
        }
        assert_eq!(h.calls()["secret-get"], 3);
        let info = h
            .secret_info_get(&SecretRef::Label("zookeeper.4.user.secret".into()))
            .unwrap();
        assert_eq!(
            (info.id.as_str(), info.revision, info.owner.as_str()),
            ("d3fo2nuve8s5g6ln8t8g", 3, "application")
        );
        assert_eq!(info.access[0].0, "application-kafka");
        assert_eq!(h.secret_ids().unwrap(), ["d3fo2nuve8s5g6ln8t8g"]);
        let err = h
            .secret_add(
                &SecretContent::from_pairs([("k-ey", "v")]),
                None,
                None,
                SecretOwner::Unit,
            )
            .unwrap_err();
        assert!(matches!(err, ToolError::Output { .. }), "{err:?}");
        let lines = t.log();
        assert!(
            lines.contains(
                &"secret-get [--format=json] [secret://m/d3fo2nuve8s5g6ln8t8g] [--label] [mine]"
                    .to_string()
            ),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"secret-get [--format=json] [--label] [mine] [--refresh]".to_string()),
            "{lines:?}"
        );
    }

    #[test]
    fn secret_ids_accept_juju_forms_only() {
        for ok in [
            "secret:d3fo2nuve8s5g6ln8t8g",
            "secret://uuid-1/d3fo2nuve8s5g6ln8t8g",
            "d3fo2nuve8s5g6ln8t8g",
        ] {
            assert!(SecretId::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "secret:",
            "secret:a b",
            "notasecret",
            "secret:x;rm",
            "--label",
        ] {
            assert!(SecretId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn messages_with_spaces_are_quoted_in_the_displayed_command() {
        let inv = argv::status_set(&Status::waiting("it's waiting"), false);
        assert_eq!(
            inv.display,
            r"status-set --application=False waiting -- 'it'\''s waiting'"
        );
        assert_eq!(
            argv::status_set(&Status::active(""), true).display,
            "status-set --application=True active -- ''"
        );
    }
}
