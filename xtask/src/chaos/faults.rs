//! The faults a chaos scenario injects besides the Juju verbs and a failing tool: a server
//! that exits at start, a hook killed mid-way, a hook tool that hangs, a full disk, failing
//! secret reads; and the time bound every hook must end within.
//!
//! Each fault runs in two phases inside its step: the fault is put in place and the units'
//! hooks run (one at a time, [`Model::step`]) until the faulty unit met it, and what must
//! hold while it lasts is checked; then it is cleared, and the step's ordinary settle and
//! settled checks show that the unit converges (active, serving, a voter, writes kept).
//!
//! | event | fault | while it lasts |
//! |---|---|---|
//! | `start-fault U port` | U's server killed, another listener on its client port | U blocked/waiting naming the cause, no failed hook, the others keep quorum |
//! | `start-fault U perms` | U's server killed, its snapshot dir root's and 0700 | the same |
//! | `sigkill-hook U T N` | with a config change, U's hook is SIGKILLed at its N-th call of T | the hook counts as failed (Juju retries it) |
//! | `hang-tool U T` | with a config change, U's next call of T never answers (nor later ones in that hook) | the charm's tool timeout ends the hook, within the hook bound |
//! | `disk-full U` | U's `/var/lib/zookeeper-charm` is full; a config change makes it write | its hook fails or it is blocked, its files are intact |
//! | `fail-secret U K` | U's next K `secret-get` calls fail; a config change makes it read | no password in any log, status or hook error |

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use testkit::live_server;
use testkit::model::{internal_secret, Allow};
use testkit::server::signal_server;
use zk_sim::rng::SplitMix64;
use zk_sim::tools::ToolName;
use zk_sim::{HookRecord, Model};

use super::run::{Failure, Run};
use super::scenario::CONFIG;

/// Every hook (and action) must end within this: the charm's own bounds (a tool call at
/// most `TOOL_TIMEOUT`, 20 s, and the first tool timeout fails the hook; a server start
/// waited for in seconds) leave a hook well under it, and it is the sim's slow-hook bound.
pub(super) const HOOK_BOUND: Duration = Duration::from_secs(60);

/// The tools every `config-changed` of the charm calls, and how often (measured on a
/// steady one: one `config-get`, one `is-leader`, ten `relation-get` at 3 units, two
/// `relation-list`): where a hang or a kill is put, so that it is met in the hooks of the
/// config change that comes with it. (`status-set`, `juju-log` and `secret-get` are called
/// only when something changes.)
pub(super) const HOOK_TOOLS: [(ToolName, u32); 4] = [
    (ToolName::ConfigGet, 1),
    (ToolName::IsLeader, 1),
    (ToolName::RelationGet, 10),
    (ToolName::RelationList, 2),
];

/// How many hooks a fault phase runs at most before giving up on the fault being met.
const PHASE_HOOKS: usize = 60;

/// What makes a server exit at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartCause {
    /// Another listener holds the unit's client port.
    Port,
    /// The snapshot directory is root's alone (0700): the server's user cannot write it.
    Perms,
}

impl StartCause {
    fn as_str(self) -> &'static str {
        match self {
            StartCause::Port => "port",
            StartCause::Perms => "perms",
        }
    }

    /// What the unit's status must name (from ZooKeeper's own log).
    fn cause_text(self) -> &'static str {
        match self {
            StartCause::Port => "Address already in use",
            StartCause::Perms => "snap directory",
        }
    }
}

/// One injected fault (units by position among the live units, as elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Start { unit: u32, cause: StartCause },
    SigkillHook { unit: u32, tool: ToolName, nth: u32 },
    HangTool { unit: u32, tool: ToolName },
    DiskFull { unit: u32 },
    FailSecret { unit: u32, times: u32 },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Start { unit, cause } => write!(f, "start-fault {unit} {}", cause.as_str()),
            Fault::SigkillHook { unit, tool, nth } => write!(f, "sigkill-hook {unit} {tool} {nth}"),
            Fault::HangTool { unit, tool } => write!(f, "hang-tool {unit} {tool}"),
            Fault::DiskFull { unit } => write!(f, "disk-full {unit}"),
            Fault::FailSecret { unit, times } => write!(f, "fail-secret {unit} {times}"),
        }
    }
}

impl Fault {
    /// Parses the words of one event if it names a fault: `None` for another event.
    pub(super) fn parse(text: &str, words: &[&str]) -> Option<Result<Fault>> {
        let kind = *words.first()?;
        let arity = match kind {
            "start-fault" | "hang-tool" | "fail-secret" => 3,
            "sigkill-hook" => 4,
            "disk-full" => 2,
            _ => return None,
        };
        Some(Self::parse_words(text, kind, arity, words))
    }

    fn parse_words(text: &str, kind: &str, arity: usize, words: &[&str]) -> Result<Fault> {
        if words.len() != arity {
            bail!("{text:?}: expected {} arguments", arity - 1);
        }
        let num = |i: usize| -> Result<u32> {
            words[i]
                .parse()
                .with_context(|| format!("{text:?}: argument {i} is not a number"))
        };
        let tool = |i: usize| -> Result<ToolName> {
            ToolName::from_name(words[i])
                .with_context(|| format!("{text:?}: unknown hook tool {:?}", words[i]))
        };
        let unit = num(1)?;
        Ok(match kind {
            "start-fault" => Fault::Start {
                unit,
                cause: match words[2] {
                    "port" => StartCause::Port,
                    "perms" => StartCause::Perms,
                    other => bail!("{text:?}: the cause is port or perms, not {other:?}"),
                },
            },
            "sigkill-hook" => {
                let nth = num(3)?;
                if nth == 0 {
                    bail!("{text:?}: calls count from 1");
                }
                Fault::SigkillHook {
                    unit,
                    tool: tool(2)?,
                    nth,
                }
            }
            "hang-tool" => Fault::HangTool {
                unit,
                tool: tool(2)?,
            },
            "disk-full" => Fault::DiskFull { unit },
            _ => Fault::FailSecret {
                unit,
                times: num(2)?,
            },
        })
    }

    /// What the fault may cause in the settle of its step (see [`Run::settle`]): a killed
    /// or timed-out hook is a failed hook that Juju retries; a server that could not start
    /// is restarted by an update-status round.
    pub(super) fn allow(&self) -> Allow {
        match self {
            Fault::Start { .. } => Allow {
                failures: false,
                tick_progress: true,
            },
            _ => Allow {
                failures: true,
                tick_progress: true,
            },
        }
    }
}

/// A random fault.
pub(super) fn random_fault(rng: &mut SplitMix64) -> Fault {
    let pick = |rng: &mut SplitMix64, n: u32| rng.below(n as usize) as u32;
    let unit = pick(rng, 5);
    match rng.below(5) {
        0 => Fault::Start {
            unit,
            cause: if rng.below(2) == 0 {
                StartCause::Port
            } else {
                StartCause::Perms
            },
        },
        1 => {
            let (tool, calls) = HOOK_TOOLS[rng.below(HOOK_TOOLS.len())];
            Fault::SigkillHook {
                unit,
                tool,
                nth: 1 + pick(rng, calls),
            }
        }
        2 => Fault::HangTool {
            unit,
            tool: HOOK_TOOLS[rng.below(HOOK_TOOLS.len())].0,
        },
        3 => Fault::DiskFull { unit },
        _ => Fault::FailSecret {
            unit,
            times: 1 + pick(rng, 3),
        },
    }
}

/// A hook that ran past [`HOOK_BOUND`], described.
pub(super) fn over_bound(rec: &HookRecord) -> Option<String> {
    (Duration::from_millis(rec.duration_ms) > HOOK_BOUND).then(|| {
        format!(
            "{rec} took {:.1} s, over the {} s bound",
            rec.duration_ms as f64 / 1000.0,
            HOOK_BOUND.as_secs()
        )
    })
}

/// Where the unit's server keeps its snapshots (on its `data` storage).
const SNAPSHOT_DIR: &str = "/var/snap/charmed-zookeeper/common/var/lib/zookeeper/data/version-2";
/// The client port every unit's server listens on (on its own address).
const CLIENT_PORT: u16 = 2181;

/// A fault in place, cleared by [`Held::clear`] (or when dropped).
enum Held {
    Listener(std::net::TcpListener),
    Perms {
        dir: PathBuf,
        uid: u32,
        gid: u32,
        mode: u32,
    },
}

impl Held {
    fn clear(self) -> Result<(), String> {
        match self {
            Held::Listener(l) => {
                drop(l);
                Ok(())
            }
            Held::Perms {
                dir,
                uid,
                gid,
                mode,
            } => std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .and_then(|()| std::fs::set_permissions(&dir, PermissionsExt::from_mode(mode)))
                .map_err(|e| format!("cannot restore {}: {e}", dir.display())),
        }
    }
}

impl Run<'_> {
    /// Puts `fault` in place, runs the unit's hooks until it met it, checks what must hold
    /// meanwhile, and clears it.
    pub(super) fn apply_fault(&mut self, fault: &Fault) -> Result<(), Failure> {
        match fault {
            Fault::Start { unit, cause } => {
                let Some(u) = self.pick(*unit) else {
                    return Ok(());
                };
                self.start_fault(&u, *cause)
            }
            Fault::SigkillHook { unit, tool, nth } => {
                let Some(u) = self.pick(*unit) else {
                    return Ok(());
                };
                self.sigkill_hook(&u, *tool, *nth)
            }
            Fault::HangTool { unit, tool } => {
                let Some(u) = self.pick(*unit) else {
                    return Ok(());
                };
                self.hang_tool(&u, *tool)
            }
            Fault::DiskFull { unit } => {
                let Some(u) = self.pick(*unit) else {
                    return Ok(());
                };
                self.disk_full(&u)
            }
            Fault::FailSecret { unit, times } => {
                let Some(u) = self.pick(*unit) else {
                    return Ok(());
                };
                self.disarm(&u)?;
                let r = self
                    .m
                    .inject_tool_failures(&u, ToolName::SecretGet.as_str(), *times);
                self.sim("inject-failure", r)?;
                // A change that makes every unit render its files again, with the
                // passwords: it reads the secret.
                let change = self.change_config()?;
                self.note(format!("secret-get fails {times}x on {u}; {change}"));
                let mut failed = None;
                self.run_until(&u, |rec| {
                    if !rec.succeeded() {
                        failed = Some(rec.to_string());
                    }
                    failed.is_some()
                })?;
                self.note(format!(
                    "{u}: {}",
                    failed.as_deref().unwrap_or("no hook failed")
                ));
                Ok(())
            }
        }
    }

    /// Runs queued hooks one at a time (no retries) until `done` says a record of `unit`
    /// shows the fault met; returns that record, or `None` when the model ran out of work
    /// or [`PHASE_HOOKS`] ran.
    fn run_until(
        &mut self,
        unit: &str,
        mut done: impl FnMut(&HookRecord) -> bool,
    ) -> Result<Option<HookRecord>, Failure> {
        for _ in 0..PHASE_HOOKS {
            let r = self.m.step();
            let Some(rec) = self.sim("step", r)? else {
                return Ok(None);
            };
            self.checkpoint()?;
            if rec.unit == unit && done(&rec) {
                return Ok(Some(rec));
            }
        }
        Ok(None)
    }

    fn start_fault(&mut self, u: &str, cause: StartCause) -> Result<(), Failure> {
        let machine = self.sim("machine", self.m.machine(u))?;
        if live_server(&machine).is_some() {
            self.tracker.borrow_mut().invariants.mark_killed(u);
            signal_server(&machine, libc::SIGKILL, Duration::from_secs(10));
        }
        let held = match cause {
            StartCause::Port => {
                let status = self.sim("status", self.m.status())?;
                let Some(addr) = status
                    .iter()
                    .find(|s| s.unit == u)
                    .map(|s| s.address.clone())
                else {
                    return Ok(());
                };
                match std::net::TcpListener::bind((addr.as_str(), CLIENT_PORT)) {
                    Ok(l) => Held::Listener(l),
                    Err(e) => {
                        self.note(format!(
                            "start-fault skipped: cannot bind {addr}:{CLIENT_PORT}: {e}"
                        ));
                        return Ok(());
                    }
                }
            }
            StartCause::Perms => {
                let r = self.m.host_path(u, Path::new(SNAPSHOT_DIR));
                let dir = match self.sim("host-path", r)? {
                    Some(d) if d.is_dir() => d,
                    _ => {
                        self.note(format!(
                            "start-fault skipped: {u} has no snapshot directory yet"
                        ));
                        return Ok(());
                    }
                };
                let meta = std::fs::metadata(&dir).map_err(|e| self.err("sim", e.to_string()))?;
                let held = Held::Perms {
                    dir: dir.clone(),
                    uid: meta.uid(),
                    gid: meta.gid(),
                    mode: meta.mode() & 0o7777,
                };
                std::os::unix::fs::chown(&dir, Some(0), Some(0))
                    .and_then(|()| std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o700)))
                    .map_err(|e| self.err("sim", format!("cannot break {}: {e}", dir.display())))?;
                held
            }
        };
        self.note(format!(
            "{u}'s server killed; it cannot start: {}",
            cause.as_str()
        ));
        // Whatever is queued runs, then the unit's update-status notices its server is
        // gone and starts it: the start fails.
        let r = self.m.queue_update_status(u);
        self.sim("update-status", r)?;
        let result = self.start_fault_checks(u, cause);
        let cleared = held.clear();
        result?;
        cleared.map_err(|e| self.err("sim", e))?;
        self.note(format!("{u}'s start fault cleared"));
        Ok(())
    }

    fn start_fault_checks(&mut self, u: &str, cause: StartCause) -> Result<(), Failure> {
        let mut failed = Vec::new();
        let rec = self.run_until(u, |rec| {
            if !rec.succeeded() {
                failed.push(rec.to_string());
            }
            rec.hook == "update-status"
        })?;
        // The queue of every unit, drained: the fault is still there.
        let r = testkit::model::drain(&mut self.m);
        let (_, more) = self.sim("drain", r)?;
        self.checkpoint()?;
        failed.extend(more);
        if !failed.is_empty() {
            return Err(self.err(
                "start-fault-hook-failed",
                format!("a hook failed while {u}'s server could not start: {failed:?}"),
            ));
        }
        if rec.is_none() {
            self.note(format!("{u} ran no update-status (dying?)"));
            return Ok(());
        }
        let status = self.sim("status", self.m.status())?;
        let Some(s) = status.iter().find(|s| s.unit == u) else {
            return Ok(());
        };
        let named = s.message.contains(cause.cause_text());
        if !(matches!(s.workload.as_str(), "blocked" | "waiting") && named) {
            return Err(self.err(
                "start-fault-status",
                format!(
                    "{u}'s server cannot start ({}), but it shows {} {:?}",
                    cause.cause_text(),
                    s.workload,
                    s.message
                ),
            ));
        }
        // The others keep quorum when they are a majority of the voters: a write succeeds.
        // Only this application's units count (a related client's units are in the status).
        if self.alive().len() >= 3 {
            let name = format!("step-{}-start-fault", self.step);
            let deadline = Instant::now() + Duration::from_secs(30);
            while let Err(e) = self.write(&name, Duration::from_secs(5)) {
                if Instant::now() >= deadline {
                    return Err(self.err(
                        "start-fault-quorum",
                        format!("with only {u}'s server down, the ensemble refused a write: {e}"),
                    ));
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        Ok(())
    }

    fn sigkill_hook(&mut self, u: &str, tool: ToolName, nth: u32) -> Result<(), Failure> {
        // In the rolling restart of a config change: the hook may be rendering, writing,
        // restarting or handing the restart on when it dies.
        let change = self.change_config()?;
        let r = self.m.pause_at(u, tool.as_str(), nth);
        let id = self.sim("pause", r)?;
        self.note(format!("{change}; {u} dies at its call {nth} of {tool}"));
        // The killer: another handle on the model, waiting for the held call.
        let stop = Arc::new(AtomicBool::new(false));
        let dir = self.m.dir().to_path_buf();
        let killer = {
            let stop = stop.clone();
            std::thread::spawn(move || -> Result<Option<i32>, String> {
                let m = Model::open(&dir).map_err(|e| e.to_string())?;
                while !stop.load(Ordering::SeqCst) {
                    if m.wait_paused(id, Duration::from_millis(100))
                        .map_err(|e| e.to_string())?
                    {
                        return m.kill_held_hook(id).map_err(|e| e.to_string());
                    }
                }
                Ok(None)
            })
        };
        let met = self.run_until(u, |rec| !rec.succeeded());
        stop.store(true, Ordering::SeqCst);
        let killed = killer
            .join()
            .unwrap_or_else(|_| Err("the killer thread panicked".into()));
        // Disarm it if no call came (and never leave a call held).
        let _ = self.m.release(id);
        let met = met?;
        match (killed, met) {
            (Ok(Some(pid)), Some(rec)) => {
                self.note(format!(
                    "killed {u}'s hook process {pid} at its call {nth} of {tool}: {rec}"
                ));
                if !rec.reason.as_deref().unwrap_or_default().contains("killed") {
                    return Err(self.err(
                        "sigkill-hook",
                        format!("{u}'s hook was killed by SIGKILL, but it ended as {rec}"),
                    ));
                }
                Ok(())
            }
            (Ok(Some(pid)), None) => Err(self.err(
                "sigkill-hook",
                format!("killed {u}'s hook process {pid}, but no hook was recorded"),
            )),
            (Ok(None), _) => {
                self.note(format!("sigkill-hook: {u} made no call {nth} of {tool}"));
                Ok(())
            }
            (Err(e), _) => Err(self.err("sim", format!("sigkill-hook: {e}"))),
        }
    }

    fn hang_tool(&mut self, u: &str, tool: ToolName) -> Result<(), Failure> {
        let change = self.change_config()?;
        let r = self.m.hang_tool(u, tool.as_str());
        self.sim("hang-tool", r)?;
        self.note(format!("{change}; {tool} hangs on {u}"));
        let rec = self.run_until(u, |rec| !rec.succeeded());
        let r = self.m.disarm_tool_hangs(u);
        let disarmed = self.sim("hang-tool", r)?;
        match rec? {
            Some(rec) => self.note(format!("{tool} hung on {u}: {rec}")),
            None if disarmed > 0 => self.note(format!("hang-tool: {u} made no call of {tool}")),
            None => self.note(format!("{tool} hung on {u}, and its hook still succeeded")),
        }
        Ok(())
    }

    fn disk_full(&mut self, u: &str) -> Result<(), Failure> {
        let before = self.state_files(u)?;
        let r = self.m.fill_disk(u);
        let dir = self.sim("disk-full", r)?;
        // A change every unit must act on: a rolling restart, whose end the unit records.
        let change = self.change_config()?;
        self.note(format!("{u}'s disk is full ({}); {change}", dir.display()));
        let mut failed = None;
        let rec = self.run_until(u, |rec| {
            if !rec.succeeded() {
                failed = Some(rec.to_string());
                return true;
            }
            false
        });
        let after = self.state_files(u);
        let r = self.m.free_disk(u);
        let freed = self.sim("free-disk", r);
        rec?;
        let after = after?;
        freed?;
        let status = self.sim("status", self.m.status())?;
        let shown = status
            .iter()
            .find(|s| s.unit == u)
            .map(|s| format!("{} {:?}", s.workload, s.message))
            .unwrap_or_default();
        self.note(format!(
            "{u} while full: {}; shows {shown}",
            failed.as_deref().unwrap_or("no hook failed")
        ));
        // Every file the charm had is still there, whole (written or not, never cut short).
        for (name, old) in &before {
            match after.get(name) {
                None => {
                    return Err(self.err(
                        "disk-full",
                        format!("{u}'s state file {name} vanished on a full disk"),
                    ))
                }
                Some(new) if new != old && !whole(name, new) => {
                    return Err(self.err(
                        "disk-full",
                        format!("{u}'s state file {name} was cut short on a full disk: {new:?}"),
                    ))
                }
                Some(_) => {}
            }
        }
        let stray: Vec<&String> = after.keys().filter(|n| !before.contains_key(*n)).collect();
        if !stray.is_empty() && failed.is_some() {
            self.note(format!("{u}: new files after a full disk: {stray:?}"));
        }
        Ok(())
    }

    /// Sets `tick-time` to another of its values: every unit renders its files again and
    /// restarts in turn. Returns what it set.
    fn change_config(&mut self) -> Result<String, Failure> {
        let (key, values) = CONFIG[0];
        let current = self
            .m
            .config()
            .ok()
            .and_then(|c| c.get(key).and_then(|v| v.as_u64()));
        let value = values
            .iter()
            .find(|v| Some(u64::from(**v)) != current)
            .copied()
            .unwrap_or(values[0]);
        let v = value.to_string();
        let r = self.m.set_config(&[(key, v.as_str())]);
        self.sim("config", r)?;
        Ok(format!("config {key}={value}"))
    }

    /// The charm's state files of `u` (relative name -> content).
    fn state_files(&self, u: &str) -> Result<BTreeMap<String, Vec<u8>>, Failure> {
        let r = self.m.host_path(u, Path::new("/var/lib/zookeeper-charm"));
        let Some(root) = self.sim("host-path", r)? else {
            return Ok(BTreeMap::new());
        };
        let mut out = BTreeMap::new();
        let mut todo = vec![root.clone()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.file_name().is_some_and(|n| n == ".zk-sim-filler") {
                    continue;
                }
                if p.is_dir() {
                    todo.push(p);
                } else if let Ok(c) = std::fs::read(&p) {
                    let rel = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
                    out.insert(rel, c);
                }
            }
        }
        Ok(out)
    }

    /// Checked after a step with a `fail-secret`: no password of the model in any unit's
    /// log, status or hook error.
    pub(super) fn check_no_password_leak(&self) -> Result<(), Failure> {
        let Some(secret) = internal_secret(&self.m) else {
            return Ok(());
        };
        let passwords: Vec<&String> = secret
            .iter()
            .filter(|(k, v)| k.contains("password") && v.len() >= 8)
            .map(|(_, v)| v)
            .collect();
        let mut text = self.m.debug_log(None, None).unwrap_or_default().join("\n");
        for s in self.m.status().unwrap_or_default() {
            text.push_str(&s.message);
            text.push('\n');
        }
        for r in self.m.hook_log().unwrap_or_default() {
            text.push_str(r.reason.as_deref().unwrap_or_default());
            text.push('\n');
        }
        if passwords.iter().any(|p| text.contains(p.as_str())) {
            return Err(self.err(
                "password-leak",
                "a password of the model shows in a log, status or hook error",
            ));
        }
        Ok(())
    }
}

/// A state file that is not cut short: not empty, except `opened-ports`, whose empty form
/// is what the charm writes on purpose when a hook fails (Juju then discards the hook's
/// port changes, so the cache is forgotten) — and that write of no bytes succeeds on a
/// full disk. The charm's writes are atomic (temp file, then rename), so any other empty
/// file would be a torn write.
fn whole(name: &str, content: &[u8]) -> bool {
    !content.is_empty() || name.ends_with("/opened-ports") || name == "opened-ports"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_print_as_they_parse_and_bad_ones_are_refused() {
        for text in [
            "start-fault 1 port",
            "start-fault 0 perms",
            "sigkill-hook 2 relation-get 3",
            "hang-tool 4 status-set",
            "disk-full 1",
            "fail-secret 3 2",
        ] {
            let words: Vec<&str> = text.split_whitespace().collect();
            let f = Fault::parse(text, &words).unwrap().unwrap();
            assert_eq!(f.to_string(), text);
        }
        assert!(Fault::parse("kill 1", &["kill", "1"]).is_none());
        for bad in [
            "start-fault 1 disk",
            "start-fault 1",
            "sigkill-hook 1 relation-get 0",
            "sigkill-hook 1 no-tool 1",
            "hang-tool x status-set",
            "disk-full",
            "fail-secret 1",
        ] {
            let words: Vec<&str> = bad.split_whitespace().collect();
            assert!(Fault::parse(bad, &words).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_fault_is_drawn_and_a_hook_over_the_bound_is_named() {
        let mut rng = SplitMix64::new(3);
        let drawn: std::collections::BTreeSet<String> = (0..200)
            .map(|_| {
                let f = random_fault(&mut rng).to_string();
                f.split_whitespace().next().unwrap().to_string()
            })
            .collect();
        assert_eq!(drawn.len(), 5, "{drawn:?}");
        let rec = |ms: u64| -> HookRecord {
            serde_json::from_value(serde_json::json!({
                "seq": 7, "unit": "zookeeper/1", "hook": "update-status", "kind": "hook",
                "context_id": "c", "attempt": 1, "outcome": "failed",
                "duration_ms": ms, "env": {}
            }))
            .unwrap()
        };
        assert_eq!(over_bound(&rec(59_000)), None);
        assert_eq!(over_bound(&rec(60_000)), None);
        let slow = over_bound(&rec(61_500)).unwrap();
        assert!(
            slow.contains("zookeeper/1 update-status") && slow.contains("61.5 s"),
            "{slow}"
        );
    }
}
