//! Measured runs for benchmarks: run one hook or action on a unit now, through the normal
//! hook machinery (context, tools, commit, fan-out), and report what its process cost:
//! wall time from spawn to exit, CPU time and peak RSS from `wait4(2)`, and the hook-tool
//! calls it made, by tool.
//!
//! The normal runner ([`process::run`]) polls for the exit with growing naps, which is fine
//! for a model but blurs a few-millisecond hook; a measured run blocks in `wait4` instead
//! (a watchdog thread enforces the hook timeout).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ActionResult, HookRecord, Model, Work};
use crate::process::{self, Finished, HookProcess};
use crate::state::{HookSpec, Life};
use crate::tools::TOOL_CALL_LOG;
use crate::SimError;

/// The commands of the units' machines (not hook tools) whose calls are recorded with the
/// hook tools'.
pub const WORKLOAD_COMMANDS: [&str; 1] = ["snap"];

/// What one hook or action process cost, from `wait4(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// From just before the spawn to the exit being reaped.
    pub wall: Duration,
    /// User CPU time of the process and of the children it waited for (its hook tools).
    pub user: Duration,
    /// System CPU time, likewise.
    pub system: Duration,
    /// `ru_maxrss` in KiB: the larger of the process's peak and its waited-for children's.
    /// Linux also counts the spawner's resident pages from before the `exec` (the child
    /// shared them), so this is at least the runner's own size: prefer `own_peak_rss_kib`.
    pub max_rss_kib: u64,
    /// The process's own peak resident set in KiB (`VmHWM`, sampled every millisecond while
    /// it runs; growth in its last millisecond can be missed).
    pub own_peak_rss_kib: u64,
    /// CPU time of the process alone, without its children: its main thread's run time
    /// (`/proc/<pid>/schedstat`, read once it exited and before it is reaped; the time of
    /// other threads is not in it). `None` where the kernel does not report it.
    pub own_cpu: Option<Duration>,
}

/// One hook-tool call of a measured run, as the tool process reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRun {
    pub tool: String,
    /// Inside the tool process (its start-up before `main` is not included).
    pub wall: Duration,
    /// User + system CPU time of the tool process.
    pub cpu: Duration,
    /// Its own peak resident set (`VmHWM`), in KiB.
    pub peak_rss_kib: u64,
}

/// A measured hook or action run.
#[derive(Debug, Clone)]
pub struct Measured {
    pub record: HookRecord,
    /// None when no process ran (a hook without handler, or skipped).
    pub usage: Option<Usage>,
    /// Hook-tool invocations of this run, by tool (`relation-get` -> 3), and the workload
    /// commands it ran (`snap`, see [`WORKLOAD_COMMANDS`]), which record themselves the same
    /// way.
    pub tool_calls: BTreeMap<String, u32>,
    /// Each call with its cost, in the order they finished.
    pub tool_runs: Vec<ToolRun>,
}

impl Measured {
    /// Hook-tool invocations (the workload commands not counted).
    pub fn total_tool_calls(&self) -> u32 {
        self.tool_calls
            .iter()
            .filter(|(t, _)| !WORKLOAD_COMMANDS.contains(&t.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    /// Workload subprocesses the run started (`snap` commands).
    pub fn workload_calls(&self) -> u32 {
        WORKLOAD_COMMANDS
            .iter()
            .filter_map(|w| self.tool_calls.get(*w))
            .sum()
    }
}

impl Model {
    /// Runs `hook` on `unit` now, ahead of anything queued (its queue is left as it is), and
    /// measures the process. Its writes commit and fan out as for any hook, so the caller
    /// may want to run what they queue (see [`Model::step`]).
    pub fn run_hook_measured(&mut self, unit: &str, hook: HookSpec) -> Result<Measured, SimError> {
        let _runner = self.runner()?;
        let g = self.lock()?;
        match g.st.units.get(unit) {
            None => return Err(SimError::not_found("unit", unit)),
            Some(u) if u.life != Life::Alive => {
                return Err(SimError::Refused(format!("unit {unit:?} is dying")))
            }
            Some(u) if u.error.is_some() => {
                return Err(SimError::Refused(format!("unit {unit:?} is in error")))
            }
            Some(_) => {}
        }
        self.measured(|m| m.execute(g, unit, Work::Hook(hook, 1)))
    }

    /// Runs the action on `unit` now and measures its process. Params are typed (see
    /// [`Model::run_action_with`]).
    pub fn run_action_measured(
        &mut self,
        unit: &str,
        action: &str,
        params: serde_json::Map<String, Value>,
    ) -> Result<(ActionResult, Measured), SimError> {
        let id = self.enqueue_action(unit, action, params)?;
        let _runner = self.runner()?;
        let mut g = self.lock()?;
        if let Some(u) = g.st.units.get_mut(unit) {
            u.actions.retain(|a| *a != id);
        }
        let measured = self.measured(|m| m.execute(g, unit, Work::Action(id)))?;
        let result = self
            .action_result(id)?
            .ok_or_else(|| SimError::Refused(format!("action {id} did not finish")))?;
        Ok((result, measured))
    }

    /// Runs `f` with measuring on and the tool-call log open, and collects both.
    fn measured(
        &mut self,
        f: impl FnOnce(&mut Model) -> Result<HookRecord, SimError>,
    ) -> Result<Measured, SimError> {
        let log = self.dir().join(TOOL_CALL_LOG);
        fs::write(&log, "").map_err(SimError::io("create", &log))?;
        self.measuring = true;
        self.last_usage = None;
        let result = f(self);
        self.measuring = false;
        let calls = fs::read_to_string(&log).unwrap_or_default();
        let _ = fs::remove_file(&log);
        let record = result?;
        let mut tool_calls = BTreeMap::new();
        let mut tool_runs = Vec::new();
        for line in calls.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() < 2 || f[0] != record.context_id {
                continue;
            }
            *tool_calls.entry(f[1].to_string()).or_default() += 1;
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            tool_runs.push(ToolRun {
                tool: f[1].to_string(),
                wall: Duration::from_micros(num(2)),
                cpu: Duration::from_micros(num(3)),
                peak_rss_kib: num(4),
            });
        }
        Ok(Measured {
            record,
            usage: self.last_usage.take(),
            tool_calls,
            tool_runs,
        })
    }

    /// The hook runner: [`process::run`], or [`run_measured`] while measuring.
    pub(super) fn run_process(&mut self, p: &HookProcess) -> io::Result<Finished> {
        if !self.measuring {
            return process::run(p);
        }
        let (finished, usage) = run_measured(p)?;
        self.last_usage = Some(usage);
        Ok(finished)
    }
}

/// `VmHWM` of a live process, in KiB (None once it exited).
fn vm_hwm_kib(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The run time of a process's main thread in ns (`/proc/<pid>/schedstat`, first field).
fn schedstat_run_time(pid: i32) -> Option<Duration> {
    let text = fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Waits until `pid` exited without reaping it (`waitid` with `WNOWAIT`), so that its
/// `/proc` entry can still be read.
fn wait_exited(pid: i32) -> io::Result<()> {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child with a valid out-pointer.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

/// [`process::run`] with a blocking `wait4(2)`: the same environment, cwd, stdin, output
/// files and process group, plus the child's resource use.
pub fn run_measured(p: &HookProcess) -> io::Result<(Finished, Usage)> {
    let (out_path, err_path) = p.output_paths();
    let timeout = p.timeout;
    let start = Instant::now();
    let child = p.spawn()?;
    let pid = child.id() as i32;
    assert!(pid > 1, "child pid {pid}");
    let (done, wait) = mpsc::channel::<()>();
    // Samples the child's VmHWM until it is reaped, and kills it at the timeout.
    let watchdog = std::thread::spawn(move || {
        let deadline = start + timeout;
        let mut hwm = 0;
        loop {
            hwm = hwm.max(vm_hwm_kib(pid).unwrap_or(0));
            match wait.recv_timeout(Duration::from_millis(1)) {
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                    // SAFETY: kill(2) on the process group the child leads (pgid = pid > 1).
                    unsafe {
                        libc::kill(-pid, libc::SIGKILL);
                    }
                    return (true, hwm);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => return (false, hwm),
            }
        }
    });
    // The exited process is a zombie until reaped: its own run time is still readable.
    let own_cpu = wait_exited(pid).ok().and_then(|()| schedstat_run_time(pid));
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = loop {
        // SAFETY: wait4 on our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            break Err(e);
        }
    };
    let wall = start.elapsed();
    let _ = done.send(());
    let (timed_out, own_peak_rss_kib) = watchdog.join().unwrap_or((false, 0));
    drop(child);
    reaped?;
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    let finished = Finished {
        code,
        signal,
        timed_out,
        stdout: process::read_and_remove(&out_path),
        stderr: process::read_and_remove(&err_path),
        duration: wall,
    };
    let usage = Usage {
        wall,
        user: timeval(ru.ru_utime),
        system: timeval(ru.ru_stime),
        max_rss_kib: ru.ru_maxrss.max(0) as u64,
        own_peak_rss_kib,
        own_cpu,
    };
    Ok((finished, usage))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::TestHook;

    #[test]
    fn a_measured_run_reports_exit_output_wall_time_and_memory() {
        let hook = TestHook::new("echo out; echo err >&2; sleep 0.2; exit 4");
        let (f, u) = run_measured(&hook.process(Duration::from_secs(10))).unwrap();
        assert_eq!(f.code, Some(4));
        assert_eq!(f.stdout, "out\n");
        assert_eq!(f.stderr, "err\n");
        assert!(u.wall >= Duration::from_millis(200), "{u:?}");
        assert!(u.wall < Duration::from_secs(5), "{u:?}");
        // A shell and a sleep use at least a few hundred KiB, and far less than a GiB; the
        // shell's own peak was sampled while it slept.
        assert!(u.max_rss_kib > 100 && u.max_rss_kib < 1 << 20, "{u:?}");
        assert!(
            u.own_peak_rss_kib > 100 && u.own_peak_rss_kib <= u.max_rss_kib,
            "{u:?}"
        );
    }

    #[test]
    fn own_cpu_counts_the_process_and_not_its_children() {
        // The shell itself only waits; its child burns CPU.
        let hook = TestHook::new("sh -c 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done'");
        let (f, u) = run_measured(&hook.process(Duration::from_secs(30))).unwrap();
        assert_eq!(f.code, Some(0));
        let own = u.own_cpu.expect("schedstat is available on Linux");
        let all = u.user + u.system;
        assert!(all >= Duration::from_millis(20), "{u:?}");
        assert!(
            own * 4 < all,
            "the child's loop is not the shell's own time: {u:?}"
        );
        assert!(own > Duration::ZERO, "{u:?}");
    }

    #[test]
    fn a_measured_run_past_its_timeout_is_killed() {
        let hook = TestHook::new("sleep 30");
        let (f, u) = run_measured(&hook.process(Duration::from_millis(300))).unwrap();
        assert!(f.timed_out);
        assert_eq!(f.signal, Some(libc::SIGKILL));
        assert!(u.wall < Duration::from_secs(10), "{u:?}");
    }
}
