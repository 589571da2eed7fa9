//! The `snap` command the local model gives its units (on the hook `PATH`, like the hook
//! tools): the subset of snapd's CLI the charm uses, with snapd's output and error texts,
//! over a fake store that has one snap, `charmed-zookeeper` (see [`store`]), and services
//! run the way systemd and the snap's launcher run them (see [`service`]).
//!
//! | command | output |
//! |---|---|
//! | `snap install <snap> [--revision N]` | `charmed-zookeeper 3.8.0 from dataplatformbot installed`; already installed: `snap "…" is already installed, see 'snap help refresh'` (stderr, exit 0) |
//! | `snap refresh --hold <snap>` | `General refreshes of "…" held indefinitely` |
//! | `snap refresh <snap> [--revision N]` | same revision: `snap "…" has no updates available` (stderr, exit 0) |
//! | `snap list [<snap>]` | the `Name Version Rev Tracking Publisher Notes` table; none: `error: no matching snaps installed` |
//! | `snap services [<snap>[.<app>]]` | the `Service Startup Current Notes` table |
//! | `snap start\|stop\|restart <snap>.<app>` | `Started.`, `Stopped.`, `Restarted.` |
//! | `snap logs <snap>.<app> [-n N]` | the last N lines of the service's output |
//!
//! Errors are `error: <message>` on stderr with exit code 1; an unknown snap is
//! `snap "…" not found`. Installing, refreshing and service control need root (`access
//! denied (try with sudo)`), as with snapd. Every call is recorded in the model's tool-call
//! log like a hook tool's, so benchmarks count the workload subprocesses of a hook.
//!
//! The command finds its unit's machine through `SIM_MACHINE` (set in every hook): the
//! snap's read-only `/snap` is written there; everything else through the unit's own paths.

pub mod service;
pub mod state;
pub mod store;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::machine::Machine;
use state::{Installed, Service, SnapdState, FAIL_NEXT_REFRESH};

/// The variable naming the unit's machine directory (see [`crate::machine`]).
pub const MACHINE_ENV: &str = "SIM_MACHINE";

/// Why a `snap` command failed (`error: <this>` on stderr, exit 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapError {
    Failed(String),
}

impl std::fmt::Display for SnapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapError::Failed(m) => f.write_str(m),
        }
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, SnapError> {
    Err(SnapError::Failed(message.into()))
}

/// What a successful command prints.
#[derive(Debug, Default)]
struct Out {
    stdout: String,
    stderr: String,
}

impl Out {
    fn stdout(s: impl Into<String>) -> Out {
        Out {
            stdout: s.into(),
            stderr: String::new(),
        }
    }
    fn stderr(s: impl Into<String>) -> Out {
        Out {
            stdout: String::new(),
            stderr: s.into(),
        }
    }
}

/// Runs one `snap` command; returns its exit code.
pub fn main_with(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    let started = std::time::Instant::now();
    let result = run(args, env);
    crate::tools::note_call(env, "snap", started.elapsed());
    match result {
        Ok(out) => {
            let _ = stdout.write_all(out.stdout.as_bytes());
            let _ = stderr.write_all(out.stderr.as_bytes());
            0
        }
        Err(e) => {
            let _ = writeln!(stderr, "error: {e}");
            1
        }
    }
}

/// The command's context: the unit's machine and its snapd state directory.
struct Snapd {
    /// The machine's `/snap` as the model sees it (read-only inside the unit).
    snap_mount: PathBuf,
    /// `/var/lib/snapd`, inside the unit.
    dir: PathBuf,
}

impl Snapd {
    fn state(&self) -> SnapdState {
        SnapdState::load(&self.dir)
    }

    fn save(&self, st: &SnapdState) -> Result<(), SnapError> {
        st.save(&self.dir)
            .map_err(|e| SnapError::Failed(format!("cannot save the snapd state: {e}")))
    }
}

fn run(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Out, SnapError> {
    let machine = env(MACHINE_ENV)
        .filter(|m| !m.is_empty())
        .map(|m| Machine::at(Path::new(&m)))
        .ok_or_else(|| {
            SnapError::Failed(format!(
                "zk-sim's snap runs only in a unit's hooks ({MACHINE_ENV} is not set)"
            ))
        })?;
    let snapd = Snapd {
        snap_mount: machine
            .host_path(Path::new("/snap"))
            .expect("/snap is one of the machine's own paths"),
        dir: PathBuf::from("/var/lib/snapd"),
    };
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => return fail("missing command, see 'snap help'"),
    };
    let flags = Flags::parse(rest)?;
    match cmd {
        "install" => install(&snapd, &flags),
        "refresh" => refresh(&snapd, &flags),
        "list" => list(&snapd, &flags),
        "services" => services(&snapd, &flags),
        "start" | "stop" | "restart" => service_op(&snapd, cmd, &flags),
        "logs" => logs(&snapd, &flags),
        other => fail(format!("unknown command \"{other}\", see 'snap help'.")),
    }
}

/// The flags and positional arguments of one command.
#[derive(Debug, Default)]
struct Flags {
    revision: Option<String>,
    hold: bool,
    lines: Option<String>,
    names: Vec<String>,
}

impl Flags {
    fn parse(args: &[String]) -> Result<Flags, SnapError> {
        let mut f = Flags::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--revision" => f.revision = it.next().cloned(),
                s if s.starts_with("--revision=") => {
                    f.revision = Some(s["--revision=".len()..].to_string())
                }
                "--hold" => f.hold = true,
                "-n" => f.lines = it.next().cloned(),
                s if s.starts_with('-') => {
                    return fail(format!("unknown flag `{}'", s.trim_start_matches('-')))
                }
                s => f.names.push(s.to_string()),
            }
        }
        Ok(f)
    }

    fn revision(&self) -> Result<Option<u32>, SnapError> {
        self.revision
            .as_deref()
            .map(|r| {
                r.parse::<u32>()
                    .map_err(|_| SnapError::Failed(format!("invalid snap revision: \"{r}\"")))
            })
            .transpose()
    }
}

fn require_root() -> Result<(), SnapError> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return fail("access denied (try with sudo)");
    }
    Ok(())
}

/// The one snap name of a command that takes exactly one.
fn one_name(f: &Flags) -> Result<&str, SnapError> {
    match f.names.as_slice() {
        [n] => Ok(n),
        [] => fail("the required argument `<snap>` was not provided"),
        _ => fail("too many arguments for command"),
    }
}

fn known(name: &str) -> Result<(), SnapError> {
    if name == store::NAME {
        Ok(())
    } else {
        fail(format!("snap \"{name}\" not found"))
    }
}

fn install(snapd: &Snapd, f: &Flags) -> Result<Out, SnapError> {
    require_root()?;
    let name = one_name(f)?;
    known(name)?;
    let mut st = snapd.state();
    if st.snaps.contains_key(name) {
        return Ok(Out::stderr(format!(
            "snap \"{name}\" is already installed, see 'snap help refresh'\n"
        )));
    }
    let revision = f.revision()?.unwrap_or(store::REVISIONS[0]);
    if !store::REVISIONS.contains(&revision) {
        return fail(format!(
            "cannot install \"{name}\": no snap revision {revision} available"
        ));
    }
    store::install(revision, &snapd.snap_mount)?;
    let version = store::version();
    st.snaps.insert(
        name.to_string(),
        Installed {
            revision,
            version: version.clone(),
            held: false,
            services: store::SERVICES
                .iter()
                .map(|s| (s.to_string(), Service::default()))
                .collect(),
        },
    );
    snapd.save(&st)?;
    Ok(Out::stdout(format!(
        "{name} {version} from {} installed\n",
        store::PUBLISHER
    )))
}

fn refresh(snapd: &Snapd, f: &Flags) -> Result<Out, SnapError> {
    require_root()?;
    let name = one_name(f)?;
    let mut st = snapd.state();
    let Some(installed) = st.snaps.get_mut(name) else {
        return fail(format!("snap \"{name}\" is not installed"));
    };
    if f.hold {
        if f.revision.is_some() {
            return fail("cannot use --hold with other flags");
        }
        installed.held = true;
        snapd.save(&st)?;
        return Ok(Out::stdout(format!(
            "General refreshes of \"{name}\" held indefinitely\n"
        )));
    }
    let fault = snapd.dir.join(FAIL_NEXT_REFRESH);
    if fault.exists() {
        let _ = std::fs::remove_file(&fault);
        return fail(format!(
            "cannot refresh \"{name}\": download failed (fault injected by zk-sim)"
        ));
    }
    let revision = f.revision()?.unwrap_or(installed.revision);
    if revision == installed.revision {
        return Ok(Out::stderr(format!(
            "snap \"{name}\" has no updates available\n"
        )));
    }
    fail(format!(
        "cannot refresh \"{name}\": no snap revision {revision} available"
    ))
}

/// `tabwriter` as the snap CLI uses it: columns padded to their widest cell plus two.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[c] + 2));
            }
        }
        out.push('\n');
    }
    out
}

fn list(snapd: &Snapd, f: &Flags) -> Result<Out, SnapError> {
    let st = snapd.state();
    let rows: Vec<Vec<String>> = st
        .snaps
        .iter()
        .filter(|(n, _)| f.names.is_empty() || f.names.contains(n))
        .map(|(n, i)| {
            vec![
                n.clone(),
                i.version.clone(),
                i.revision.to_string(),
                "latest/stable".to_string(),
                store::PUBLISHER.to_string(),
                if i.held { "held" } else { "-" }.to_string(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return fail("no matching snaps installed");
    }
    let mut all = vec![["Name", "Version", "Rev", "Tracking", "Publisher", "Notes"]
        .map(String::from)
        .to_vec()];
    all.extend(rows);
    Ok(Out::stdout(table(&all)))
}

/// `<snap>` or `<snap>.<app>` as (snap, app).
fn service_name(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once('.') {
        Some((s, a)) => (s, Some(a)),
        None => (spec, None),
    }
}

fn services(snapd: &Snapd, f: &Flags) -> Result<Out, SnapError> {
    let st = snapd.state();
    let mut rows = vec![["Service", "Startup", "Current", "Notes"]
        .map(String::from)
        .to_vec()];
    let wanted: Vec<(&str, Option<&str>)> = f.names.iter().map(|n| service_name(n)).collect();
    for (snap, _) in &wanted {
        if !st.snaps.contains_key(*snap) {
            return fail(format!("snap \"{snap}\" not found"));
        }
    }
    for (snap, installed) in &st.snaps {
        for (app, svc) in &installed.services {
            let shown = wanted.is_empty()
                || wanted
                    .iter()
                    .any(|(s, a)| s == snap && a.is_none_or(|a| a == app));
            if !shown {
                continue;
            }
            let active = svc.process.is_some_and(|p| p.alive());
            rows.push(vec![
                format!("{snap}.{app}"),
                if svc.enabled { "enabled" } else { "disabled" }.to_string(),
                if active { "active" } else { "inactive" }.to_string(),
                "-".to_string(),
            ]);
        }
    }
    if rows.len() == 1 {
        return Ok(Out::stderr(
            "There are no services provided by installed snaps.\n",
        ));
    }
    Ok(Out::stdout(table(&rows)))
}

fn service_op(snapd: &Snapd, op: &str, f: &Flags) -> Result<Out, SnapError> {
    require_root()?;
    if f.names.is_empty() {
        return fail("the required argument `<service> (at least 1 argument)` was not provided");
    }
    let mut st = snapd.state();
    for spec in &f.names {
        let (snap, app) = service_name(spec);
        let Some(installed) = st.snaps.get_mut(snap) else {
            return fail(format!("snap \"{snap}\" not found"));
        };
        let revision = installed.revision;
        let apps: Vec<String> = match app {
            Some(a) if installed.services.contains_key(a) => vec![a.to_string()],
            Some(a) => return fail(format!("snap \"{snap}\" has no service \"{a}\"")),
            None => installed.services.keys().cloned().collect(),
        };
        for app in apps {
            let svc = installed.services.get_mut(&app).expect("listed above");
            let running = svc.process.filter(|p| p.alive());
            if op != "start" {
                if let Some(p) = running {
                    service::stop(p, service::STOP_TIMEOUT);
                }
                svc.process = None;
            }
            if op != "stop" && (op == "restart" || running.is_none()) {
                svc.process = Some(service::spawn(revision, &app, &snapd.dir)?);
            }
        }
    }
    snapd.save(&st)?;
    Ok(Out::stdout(match op {
        "start" => "Started.\n",
        "stop" => "Stopped.\n",
        _ => "Restarted.\n",
    }))
}

fn logs(snapd: &Snapd, f: &Flags) -> Result<Out, SnapError> {
    let spec = one_name(f)?;
    let (snap, app) = service_name(spec);
    known(snap)?;
    let n: usize = match f.lines.as_deref() {
        None => 10,
        Some("all") => usize::MAX,
        Some(v) => v.parse().map_err(|_| {
            SnapError::Failed(
                "invalid argument for flag ‘-n’: expected a non-negative integer argument, or “all”."
                    .into(),
            )
        })?,
    };
    let journal = snapd
        .dir
        .join(state::JOURNAL_DIR)
        .join(format!("{snap}.{}.log", app.unwrap_or(store::SERVICES[0])));
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(n)..];
    Ok(Out::stdout(tail.iter().fold(String::new(), |mut s, l| {
        s.push_str(l);
        s.push('\n');
        s
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_every_column_but_the_last_to_its_widest_cell_plus_two() {
        let t = table(&[
            vec![
                "Service".into(),
                "Startup".into(),
                "Current".into(),
                "Notes".into(),
            ],
            vec![
                "charmed-zookeeper.daemon".into(),
                "disabled".into(),
                "active".into(),
                "-".into(),
            ],
        ]);
        assert_eq!(
            t,
            "Service                   Startup   Current  Notes\n\
             charmed-zookeeper.daemon  disabled  active   -\n"
        );
    }

    #[test]
    fn flags_and_names_are_told_apart() {
        let f =
            Flags::parse(&["charmed-zookeeper".into(), "--revision".into(), "40".into()]).unwrap();
        assert_eq!(f.names, ["charmed-zookeeper"]);
        assert_eq!(f.revision().unwrap(), Some(40));
        assert!(Flags::parse(&["--bogus".into()]).is_err());
        let bad = Flags::parse(&["x".into(), "--revision=forty".into()]).unwrap();
        assert!(bad.revision().is_err());
    }
}
