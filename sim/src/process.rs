//! Running one hook or action process the way the uniter does (fresh environment, charm dir
//! as cwd, empty stdin), in the unit's own mount namespace (see [`crate::machine`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::machine::{Mount, PreparedMounts};

/// How a hook process ended.
#[derive(Debug, Clone)]
pub struct Finished {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }
    /// `exit status 1`, `signal: killed`, `timed out after 120s`, like Go's ExitError.
    pub fn reason(&self, timeout: Duration) -> String {
        if self.timed_out {
            return format!("timed out after {}s", timeout.as_secs());
        }
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(libc::SIGKILL)) => "signal: killed".to_string(),
            (None, Some(s)) => format!("signal: {s}"),
            (None, None) => "unknown exit".to_string(),
        }
    }
}

fn fresh_file(path: &Path) -> io::Result<File> {
    // Unlink first: a process left over from an earlier hook may still hold the old file.
    let _ = fs::remove_file(path);
    OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
}

pub(crate) fn read_and_remove(path: &Path) -> String {
    let mut s = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_end(&mut s);
    }
    let _ = fs::remove_file(path);
    String::from_utf8_lossy(&s).into_owned()
}

/// One hook or action process to run.
#[derive(Debug, Clone, Copy)]
pub struct HookProcess<'a> {
    pub program: &'a Path,
    pub cwd: &'a Path,
    /// Exactly the environment it gets.
    pub env: &'a [(String, String)],
    /// Where its output files go (`.hook-stdout`, `.hook-stderr`).
    pub scratch: &'a Path,
    /// Killed with its process group after this long.
    pub timeout: Duration,
    /// The bind mounts of the unit's namespace; none: the host's.
    pub mounts: &'a [Mount],
}

impl HookProcess<'_> {
    /// The files its stdout and stderr go to.
    pub(crate) fn output_paths(&self) -> (PathBuf, PathBuf) {
        (
            self.scratch.join(".hook-stdout"),
            self.scratch.join(".hook-stderr"),
        )
    }

    /// Starts it: exact environment, cwd, empty stdin, fresh output files, its own process
    /// group, and its own mount namespace when it has mounts.
    pub(crate) fn spawn(&self) -> io::Result<Child> {
        let (out_path, err_path) = self.output_paths();
        let mounts = PreparedMounts::new(self.mounts)?;
        let mut attempts = 0;
        loop {
            let out = fresh_file(&out_path)?;
            let err = fresh_file(&err_path)?;
            let mut cmd = Command::new(self.program);
            cmd.current_dir(self.cwd)
                .env_clear()
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .process_group(0);
            if !mounts.is_empty() {
                let m = mounts.clone();
                // SAFETY: `enter` makes only system calls, on data prepared before the fork.
                unsafe {
                    cmd.pre_exec(move || m.enter());
                }
            }
            let spawned = cmd.spawn();
            match spawned {
                // A freshly written script can be briefly "busy" while another thread of
                // this process forks with it open for writing; that clears within
                // milliseconds.
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 50 => {
                    attempts += 1;
                    sleep(Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }
}

/// Runs a hook process with stdout and stderr into files under its scratch dir (not pipes:
/// a daemon the hook starts may keep them open), in its own process group so a timeout can
/// kill everything it started.
pub fn run(p: &HookProcess) -> io::Result<Finished> {
    let (out_path, err_path) = p.output_paths();
    let timeout = p.timeout;
    let start = Instant::now();
    let mut child = p.spawn()?;
    // The child leads its own process group (process_group(0)), so -pgid is exactly it and
    // what it started; never signal a group id <= 1 (0 = ours, -1 = everything).
    let pgid = child.id() as i32;
    assert!(pgid > 1, "child pid {pgid}");
    let mut nap = Duration::from_millis(1);
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if start.elapsed() >= timeout {
            // SAFETY: kill(2) on the process group we created; no memory involved.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            timed_out = true;
            break child.wait()?;
        }
        sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    };
    Ok(Finished {
        code: status.code(),
        signal: status.signal(),
        timed_out,
        stdout: read_and_remove(&out_path),
        stderr: read_and_remove(&err_path),
        duration: start.elapsed(),
    })
}

/// True if `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// A shell script to run as a hook in the tests of the runners.
#[cfg(test)]
pub(crate) struct TestHook {
    pub dir: tempfile::TempDir,
    pub script: PathBuf,
    pub env: Vec<(String, String)>,
}

#[cfg(test)]
impl TestHook {
    /// `<tmp>/s` running `body` under `/bin/sh`, with only `PATH` in its environment.
    pub fn new(body: &str) -> TestHook {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s");
        fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let env = vec![("PATH".to_string(), "/usr/bin:/bin".to_string())];
        TestHook { dir, script, env }
    }

    /// Runs in its temp dir, output files there too.
    pub fn process(&self, timeout: Duration) -> HookProcess<'_> {
        HookProcess {
            program: &self.script,
            cwd: self.dir.path(),
            env: &self.env,
            scratch: self.dir.path(),
            timeout,
            mounts: &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_gets_only_the_given_environment_and_its_output_is_captured() {
        let mut hook = TestHook::new("env | sort\necho oops >&2\nexit 3");
        hook.env.push(("X".to_string(), "1".to_string()));
        // /bin/sh with no script reads stdin, which is /dev/null: exits 0 at once.
        let sh = HookProcess {
            program: Path::new("/bin/sh"),
            ..hook.process(Duration::from_secs(10))
        };
        assert!(run(&sh).unwrap().success());
        let f = run(&hook.process(Duration::from_secs(10))).unwrap();
        assert_eq!(f.code, Some(3));
        assert!(f.stdout.contains("X=1"), "{}", f.stdout);
        assert!(!f.stdout.contains("HOME="), "{}", f.stdout);
        assert_eq!(f.stderr, "oops\n");
        assert_eq!(f.reason(Duration::from_secs(1)), "exit status 3");
    }

    #[test]
    fn a_hook_that_runs_too_long_is_killed_with_its_process_group() {
        let hook = TestHook::new("sleep 30 &\necho $! > child.pid\nwait");
        let f = run(&hook.process(Duration::from_millis(300))).unwrap();
        assert!(f.timed_out);
        assert!(!f.success());
        let child: i32 = fs::read_to_string(hook.dir.path().join("child.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let start = Instant::now();
        while alive(child) && start.elapsed() < Duration::from_secs(5) {
            sleep(Duration::from_millis(20));
        }
        assert!(
            !alive(child),
            "the hook's background child survived the timeout"
        );
    }
}
