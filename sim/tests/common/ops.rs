//! A virtualenv with `ops` from PyPI, created once under the target dir and reused (offline)
//! afterwards, and the ops test charm of `tests/charms/ops-requirer`.

use std::fs;
use std::io::Read;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The ops release the tests install (its command lines and parsers are what the tests
/// check the model against).
pub const OPS: &str = "ops==3.9.0";

/// Runs `cmd` to completion within `limit`, killing it past that; (success, output).
fn run_with_timeout(mut cmd: Command, limit: Duration) -> (bool, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut out);
    }
    match status {
        Some(s) => (s.success(), out),
        None => (false, format!("{out}\n(killed after {}s)", limit.as_secs())),
    }
}

fn has_ops(python: &Path) -> bool {
    python.is_file()
        && run_with_timeout(
            {
                let mut c = Command::new(python);
                c.args(["-c", "import ops, ops.hookcmds"]);
                c
            },
            Duration::from_secs(60),
        )
        .0
}

/// The virtualenv's python, with ops installed: `<target>/tmp/ops-venv`, created on first
/// use (pip needs PyPI that once), shared by concurrent tests through a lock file.
pub fn ops_python() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ops-venv");
    let python = dir.join("bin").join("python3");
    let lock_path = dir.with_extension("lock");
    let lock = fs::File::create(&lock_path).unwrap();
    // SAFETY: flock on a file we opened; released when `lock` is dropped.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    if has_ops(&python) {
        return python;
    }
    let _ = fs::remove_dir_all(&dir);
    let mut venv = Command::new("python3");
    venv.arg("-m").arg("venv").arg(&dir);
    let (ok, out) = run_with_timeout(venv, Duration::from_secs(120));
    assert!(
        ok,
        "cannot create a virtualenv with `python3 -m venv` in {}: {out}",
        dir.display()
    );
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--timeout",
        "30",
        "--retries",
        "2",
        OPS,
    ]);
    let (ok, out) = run_with_timeout(pip, Duration::from_secs(600));
    if !ok {
        let _ = fs::remove_dir_all(&dir);
        panic!(
            "pip could not install {OPS} from PyPI into {} (PyPI is needed once; later runs \
             reuse the virtualenv offline):\n{out}",
            dir.display()
        );
    }
    assert!(has_ops(&python), "ops does not import after pip install");
    drop(lock);
    python
}

/// A copy of `tests/charms/ops-requirer` in `dest`, its dispatch pointed at the ops
/// virtualenv.
pub fn requirer_charm(dest: &Path) -> PathBuf {
    let python = ops_python();
    let venv = python.parent().and_then(Path::parent).unwrap();
    // The workspace's `tests/charms/` (this file is also compiled into the charm crate's
    // tests, whose manifest directory is the workspace root, not `sim/`).
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("tests/charms/ops-requirer"))
        .find(|d| d.is_dir())
        .expect("tests/charms/ops-requirer in the workspace");
    let charm = dest.join("ops-requirer");
    zk_sim::charm::copy_tree(&src, &charm, &src).unwrap();
    fs::write(charm.join("venv.path"), venv.to_string_lossy().as_bytes()).unwrap();
    charm
}
