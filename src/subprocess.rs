//! Running a program with a deadline: every subprocess the charm starts (hook tools, `snap`)
//! goes through [`run`], so that no hook can hang on one.
//!
//! The program runs in a process group of its own, with the given stdin (or `/dev/null`),
//! its stdout and stderr captured through pipes read in one `poll(2)` loop (so neither pipe
//! can fill up and block it). When it has not exited by the deadline, the whole group is
//! killed (`SIGKILL`) and reaped, and [`RunError::TimedOut`] says so. A descendant that keeps
//! the pipes open after the program exited (a daemon that forgot to close them) is not
//! waited for beyond a short grace.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long the output pipes are still read after the program exited, for what a
/// descendant holding them open may still write.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// What a program that ran to the end printed, and how it exited.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why [`run`] gave no [`Finished`].
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started.
    #[error("cannot start it")]
    Spawn(#[source] io::Error),
    /// Reading its output or waiting for it failed.
    #[error("cannot wait for it")]
    Wait(#[source] io::Error),
    /// It ran past its deadline and was killed with its process group.
    #[error("it did not finish within {after:?} and was killed")]
    TimedOut {
        after: Duration,
        /// What it had written to stderr by then.
        stderr: String,
    },
}

/// Runs `cmd` to completion or until `timeout`, feeding it `stdin`. The caller sets the
/// program, arguments, environment and directory; stdio and the process group are set here.
///
/// # Errors
/// See [`RunError`]. A non-zero exit is not an error here: look at [`Finished::status`].
pub fn run(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Finished, RunError> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let started = Instant::now();
    let mut child = spawn(cmd).map_err(RunError::Spawn)?;
    let deadline = started + timeout;
    match pump(&mut child, stdin.unwrap_or_default(), deadline) {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(stderr)) => {
            kill_group(&mut child);
            Err(RunError::TimedOut {
                after: timeout,
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
            })
        }
        Err(e) => {
            kill_group(&mut child);
            Err(RunError::Wait(e))
        }
    }
}

/// Spawns `cmd`, retrying briefly on `ETXTBSY`: a program file that was just written can be
/// held open for a moment by a concurrent fork (tests write their fake tools, and Juju
/// rewrites its tool symlinks on agent upgrade).
fn spawn(cmd: &mut Command) -> io::Result<Child> {
    let mut attempt = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && attempt < 20 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Kills the child's process group and reaps the child.
fn kill_group(child: &mut Child) {
    let pgid = child.id() as i32;
    if pgid > 1 {
        // SAFETY: kill(2) on the process group the child leads (process_group(0)); never 0
        // or -1 (our own group, every process).
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    let _ = child.wait();
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a pipe fd we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Feeds stdin and collects stdout and stderr until the child exited and its pipes are
/// closed (or the grace after its exit passed). `Ok(Err(stderr so far))` when the deadline
/// came first.
fn pump(
    child: &mut Child,
    input: &[u8],
    deadline: Instant,
) -> io::Result<Result<Finished, Vec<u8>>> {
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    for fd in [
        stdin.as_ref().map(AsRawFd::as_raw_fd),
        stdout.as_ref().map(AsRawFd::as_raw_fd),
        stderr.as_ref().map(AsRawFd::as_raw_fd),
    ]
    .into_iter()
    .flatten()
    {
        set_nonblocking(fd);
    }
    let mut written = 0;
    if input.is_empty() {
        stdin = None;
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut exited: Option<(ExitStatus, Instant)> = None;
    loop {
        if exited.is_none() {
            if let Some(status) = child.try_wait()? {
                exited = Some((status, Instant::now()));
            }
        }
        let pipes_open = stdout.is_some() || stderr.is_some();
        match exited {
            Some((status, at)) if !pipes_open || at.elapsed() >= DRAIN_GRACE => {
                return Ok(Ok(Finished {
                    status,
                    stdout: out,
                    stderr: err,
                }));
            }
            _ => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(Err(err));
        }
        let wait = (deadline - now).min(Duration::from_millis(if pipes_open { 50 } else { 2 }));
        let mut fds = Vec::with_capacity(3);
        if let Some(p) = &stdin {
            fds.push(libc::pollfd {
                fd: p.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            });
        }
        let readers = [
            stdout.as_ref().map(AsRawFd::as_raw_fd),
            stderr.as_ref().map(AsRawFd::as_raw_fd),
        ];
        for fd in readers.into_iter().flatten() {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if fds.is_empty() {
            std::thread::sleep(wait);
            continue;
        }
        // SAFETY: poll(2) on a valid array of pollfds we own, for its length.
        let n = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                wait.as_millis().max(1) as libc::c_int,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if let Some(p) = stdin.as_mut() {
            match p.write(&input[written..]) {
                Ok(k) => written += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The program exited or closed stdin without reading it all: its exit
                // status says more.
                Err(_) => written = input.len(),
            }
            if written >= input.len() {
                stdin = None;
            }
        }
        drain(&mut stdout, &mut out)?;
        drain(&mut stderr, &mut err)?;
    }
}

/// Reads what a non-blocking pipe holds; closes it (sets `None`) at end of file.
fn drain<R: Read>(pipe: &mut Option<R>, into: &mut Vec<u8>) -> io::Result<()> {
    let Some(p) = pipe.as_mut() else {
        return Ok(());
    };
    let mut buf = [0u8; 8192];
    loop {
        match p.read(&mut buf) {
            Ok(0) => {
                *pipe = None;
                return Ok(());
            }
            Ok(k) => into.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn output_stdin_and_exit_code_come_back() {
        let done = run(
            &mut sh("cat; echo err >&2; exit 3"),
            Some(b"hello"),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(done.stdout, b"hello");
        assert_eq!(done.stderr, b"err\n");
    }

    #[test]
    fn large_input_and_output_do_not_deadlock() {
        let input = vec![b'x'; 1 << 20];
        let done = run(&mut sh("cat"), Some(&input), Duration::from_secs(20)).unwrap();
        assert_eq!(done.stdout.len(), input.len());
    }

    #[test]
    fn a_program_past_its_deadline_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child");
        let script = format!(
            "echo started >&2; sleep 30 & echo $! > {}; wait",
            pidfile.display()
        );
        let started = Instant::now();
        let err = run(&mut sh(&script), None, Duration::from_millis(500)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        match &err {
            RunError::TimedOut { after, stderr } => {
                assert_eq!(*after, Duration::from_millis(500));
                assert_eq!(stderr, "started\n");
            }
            other => panic!("{other:?}"),
        }
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let gone = Instant::now() + Duration::from_secs(5);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < gone {
            // The orphaned sleep is reaped by init; a zombie counts as gone.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.contains(") Z") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(stat.is_empty() || stat.contains(") Z"), "{stat}");
        assert!(
            err.to_string().contains("did not finish within 500ms"),
            "{err}"
        );
    }

    #[test]
    fn a_daemon_holding_the_pipes_does_not_hold_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("daemon");
        let script = format!(
            "sleep 5 & echo $! > {}; echo parent done",
            pidfile.display()
        );
        let started = Instant::now();
        let done = run(&mut sh(&script), None, Duration::from_secs(10)).unwrap();
        let elapsed = started.elapsed();
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: kill(2) on the one pid the script started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert!(done.status.success());
        assert_eq!(done.stdout, b"parent done\n");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let err = run(
            &mut Command::new("/nonexistent/tool"),
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, RunError::Spawn(_)), "{err:?}");
    }
}
