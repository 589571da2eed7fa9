//! An in-memory [`Workload`] for tests: files in a map, a running flag, the installed
//! version, and a record of every operation.
//!
//! [`MemWorkload`] keeps the trait's contract (installing an installed workload, starting a
//! running server and stopping a stopped one succeed and change nothing; a file write
//! replaces the whole file) and can be made to fail:
//! - [`MemWorkload::fail`] makes every call of one operation fail, as a snap command that
//!   exits non-zero does;
//! - [`MemWorkload::exits_after_start`] makes the server exit right after each start (the
//!   start succeeds, the process is gone when asked next);
//!   [`MemWorkload::exits_after_start_logging`] also has it log why, for
//!   [`Workload::exit_cause`].
//!
//! The machine's facts are whatever the test gives ([`MemWorkload::with_machine`], nothing
//! by default); a purge deletes what ZooKeeper's purge tool would
//! ([`crate::machine::DataFiles::purgeable`]) and frees that space on the disk.
//!
//! Whether it is installed and whether the server runs are answered from the state, as the
//! cheap local facts the trait asks for; the data directories' preparation and the removal of
//! the charm's private state are recorded (the latter removes the files under
//! [`Paths::charm_state_dir`]).
//!
//! ```
//! use zookeeper_charm::workload::mem::{MemWorkload, Op, WorkloadCall};
//! use zookeeper_charm::workload::Workload;
//!
//! let w = MemWorkload::new().fail(Op::Refresh);
//! w.install().unwrap();
//! w.start().unwrap();
//! assert!(w.is_running().unwrap());
//! assert!(w.refresh().is_err());
//! assert_eq!(w.calls(), [WorkloadCall::Install, WorkloadCall::Start]);
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{Paths, Workload, WorkloadError};
use crate::cos::exporters::Capabilities;
use crate::machine::MachineFacts;

/// An operation of the [`Workload`] trait, to make it fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Install,
    Refresh,
    Version,
    SetJvmFlags,
    Start,
    Stop,
    IsRunning,
    WriteFile,
    ReadFile,
    PrepareDataDirs,
    ClearPrivateState,
    Purge,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Install => "install",
            Op::Refresh => "refresh",
            Op::Version => "version",
            Op::SetJvmFlags => "set-jvm-flags",
            Op::Start => "start",
            Op::Stop => "stop",
            Op::IsRunning => "is-running",
            Op::WriteFile => "write-file",
            Op::ReadFile => "read-file",
            Op::PrepareDataDirs => "prepare-data-dirs",
            Op::ClearPrivateState => "clear-private-state",
            Op::Purge => "purge",
        }
    }
}

/// One operation that changed (or would have changed) the workload, in order. Reads are not
/// recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadCall {
    Install,
    Refresh,
    Start,
    Stop,
    SetJvmFlags(Vec<String>),
    /// A file written, with its mode.
    Write(PathBuf, u32),
    /// A file removed.
    Remove(PathBuf),
    /// The data directories (and their storage) made the server user's.
    PrepareDataDirs,
    /// The charm's private state directory removed.
    ClearPrivateState,
    /// Old snapshots and logs purged, keeping this many snapshots.
    Purge(u32),
}

#[derive(Debug)]
struct State {
    /// The installed version, `None` when not installed.
    version: Option<String>,
    /// The version `install` and `refresh` put in place.
    pinned: String,
    running: bool,
    jvm_flags: Vec<String>,
    files: BTreeMap<PathBuf, (String, u32)>,
    calls: Vec<WorkloadCall>,
    failing: BTreeSet<Op>,
    exits_after_start: bool,
    /// What the server logs when it exits after a start (`None`: nothing).
    exit_cause: Option<String>,
    /// The causes logged so far, one per start that exited: [`Workload::log_mark`] is
    /// their count.
    log: Vec<String>,
    /// The exporters the installed workload ships.
    exporters: Capabilities,
    machine: MachineFacts,
    /// A purge succeeds and deletes nothing.
    purge_keeps_all: bool,
}

/// The in-memory workload. See the module docs.
#[derive(Debug)]
pub struct MemWorkload {
    paths: Paths,
    state: RefCell<State>,
}

impl Default for MemWorkload {
    fn default() -> Self {
        MemWorkload::new()
    }
}

impl MemWorkload {
    /// Not installed, not running, no files; laid out under `/mem`; installs the ZooKeeper
    /// version this charm pins.
    pub fn new() -> MemWorkload {
        MemWorkload {
            paths: Paths::under(Path::new("/mem")),
            state: RefCell::new(State {
                version: None,
                pinned: crate::deps::ZOOKEEPER_VERSION.to_string(),
                running: false,
                jvm_flags: Vec::new(),
                files: BTreeMap::new(),
                calls: Vec::new(),
                failing: BTreeSet::new(),
                exits_after_start: false,
                exit_cause: None,
                log: Vec::new(),
                exporters: Capabilities::none(),
                machine: MachineFacts::default(),
                purge_keeps_all: false,
            }),
        }
    }

    /// Installed at `version`.
    pub fn installed_at(self, version: &str) -> Self {
        self.state.borrow_mut().version = Some(version.to_string());
        self
    }

    /// The server runs.
    pub fn running(self) -> Self {
        self.state.borrow_mut().running = true;
        self
    }

    /// The installed workload ships these exporters (the snap's: [`Capabilities::snap`]).
    pub fn with_exporters(self, exporters: Capabilities) -> Self {
        self.state.borrow_mut().exporters = exporters;
        self
    }

    /// `install` and `refresh` put `version` in place.
    pub fn pinned(self, version: &str) -> Self {
        self.state.borrow_mut().pinned = version.to_string();
        self
    }

    /// A file that is there already.
    pub fn with_file(self, path: impl Into<PathBuf>, contents: &str) -> Self {
        self.state
            .borrow_mut()
            .files
            .insert(path.into(), (contents.to_string(), 0o600));
        self
    }

    /// The machine's memory, data disk and data files.
    pub fn with_machine(self, machine: MachineFacts) -> Self {
        self.set_machine(machine);
        self
    }

    /// Changes the machine's facts (a test between two hooks).
    pub fn set_machine(&self, machine: MachineFacts) {
        self.state.borrow_mut().machine = machine;
    }

    /// A purge succeeds but deletes nothing (as ZooKeeper's tool keeps one more snapshot
    /// than the charm reckons when the newest is still being written).
    pub fn purge_keeps_everything(self) -> Self {
        self.state.borrow_mut().purge_keeps_all = true;
        self
    }

    /// Every call of `op` fails.
    pub fn fail(self, op: Op) -> Self {
        self.state.borrow_mut().failing.insert(op);
        self
    }

    /// The server exits right after each start.
    pub fn exits_after_start(self) -> Self {
        self.state.borrow_mut().exits_after_start = true;
        self
    }

    /// The server exits right after each start and logs `cause` as it does.
    pub fn exits_after_start_logging(self, cause: &str) -> Self {
        self.state.borrow_mut().exit_cause = Some(cause.to_string());
        self.exits_after_start()
    }

    // ---- what happened ------------------------------------------------------------------

    /// Forgets the changes recorded so far (a test that set up the world through the
    /// trait records only what the code under test does next).
    pub fn clear_calls(&self) {
        self.state.borrow_mut().calls.clear();
    }

    /// Every change, in order.
    pub fn calls(&self) -> Vec<WorkloadCall> {
        self.state.borrow().calls.clone()
    }

    /// The changes to the server: install, refresh, start, stop (not file writes, JVM
    /// flags, the data directories' preparation or the private state's removal).
    pub fn lifecycle(&self) -> Vec<WorkloadCall> {
        self.calls()
            .into_iter()
            .filter(|c| {
                matches!(
                    c,
                    WorkloadCall::Install
                        | WorkloadCall::Refresh
                        | WorkloadCall::Start
                        | WorkloadCall::Stop
                )
            })
            .collect()
    }

    /// A file's contents now.
    pub fn file(&self, path: &Path) -> Option<String> {
        self.state.borrow().files.get(path).map(|(c, _)| c.clone())
    }

    /// A file's mode now.
    pub fn mode(&self, path: &Path) -> Option<u32> {
        self.state.borrow().files.get(path).map(|(_, m)| *m)
    }

    /// The installed version now.
    pub fn installed_version(&self) -> Option<String> {
        self.state.borrow().version.clone()
    }

    /// Whether the server runs now.
    pub fn runs(&self) -> bool {
        self.state.borrow().running
    }

    /// The JVM flags set last.
    pub fn jvm_flags(&self) -> Vec<String> {
        self.state.borrow().jvm_flags.clone()
    }

    fn check(&self, op: Op) -> Result<(), WorkloadError> {
        if self.state.borrow().failing.contains(&op) {
            return Err(WorkloadError::Command {
                cmd: format!("mem-workload {}", op.name()),
                code: 1,
                stderr: format!("error: {} failed (injected)", op.name()),
            });
        }
        Ok(())
    }

    fn record(&self, call: WorkloadCall) {
        self.state.borrow_mut().calls.push(call);
    }
}

impl Workload for MemWorkload {
    fn paths(&self) -> &Paths {
        &self.paths
    }

    fn install(&self) -> Result<(), WorkloadError> {
        self.check(Op::Install)?;
        self.record(WorkloadCall::Install);
        let mut st = self.state.borrow_mut();
        if st.version.is_none() {
            st.version = Some(st.pinned.clone());
        }
        Ok(())
    }

    fn refresh(&self) -> Result<(), WorkloadError> {
        self.check(Op::Refresh)?;
        self.record(WorkloadCall::Refresh);
        let mut st = self.state.borrow_mut();
        st.version = Some(st.pinned.clone());
        Ok(())
    }

    fn version(&self) -> Result<Option<String>, WorkloadError> {
        self.check(Op::Version)?;
        Ok(self.state.borrow().version.clone())
    }

    fn exporters(&self) -> Result<Capabilities, WorkloadError> {
        let st = self.state.borrow();
        Ok(if st.version.is_some() {
            st.exporters.clone()
        } else {
            Capabilities::none()
        })
    }

    fn set_jvm_flags(&self, flags: &[String]) -> Result<(), WorkloadError> {
        self.check(Op::SetJvmFlags)?;
        self.record(WorkloadCall::SetJvmFlags(flags.to_vec()));
        self.state.borrow_mut().jvm_flags = flags.to_vec();
        Ok(())
    }

    fn start(&self) -> Result<(), WorkloadError> {
        self.check(Op::Start)?;
        if self.state.borrow().version.is_none() {
            return Err(WorkloadError::Other(
                "cannot start ZooKeeper: it is not installed".into(),
            ));
        }
        self.record(WorkloadCall::Start);
        let mut st = self.state.borrow_mut();
        st.running = !st.exits_after_start;
        if let Some(cause) = st.exit_cause.clone().filter(|_| st.exits_after_start) {
            st.log.push(cause);
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), WorkloadError> {
        self.check(Op::Stop)?;
        self.record(WorkloadCall::Stop);
        self.state.borrow_mut().running = false;
        Ok(())
    }

    fn is_running(&self) -> Result<bool, WorkloadError> {
        self.check(Op::IsRunning)?;
        Ok(self.state.borrow().running)
    }

    fn installed(&self) -> Result<bool, WorkloadError> {
        Ok(self.state.borrow().version.is_some())
    }

    fn prepare_data_dirs(&self) -> Result<(), WorkloadError> {
        self.check(Op::PrepareDataDirs)?;
        self.record(WorkloadCall::PrepareDataDirs);
        Ok(())
    }

    fn log_mark(&self) -> u64 {
        self.state.borrow().log.len() as u64
    }

    fn exit_cause(&self, mark: u64) -> Option<String> {
        let st = self.state.borrow();
        let since = usize::try_from(mark).unwrap_or(usize::MAX);
        st.log.get(since..).and_then(|l| l.last().cloned())
    }

    fn clear_private_state(&self) -> Result<(), WorkloadError> {
        self.check(Op::ClearPrivateState)?;
        self.record(WorkloadCall::ClearPrivateState);
        let dir = self.paths.charm_state_dir.clone();
        self.state
            .borrow_mut()
            .files
            .retain(|path, _| !path.starts_with(&dir));
        Ok(())
    }

    fn machine(&self) -> MachineFacts {
        self.state.borrow().machine.clone()
    }

    fn purge(&self, retain: u32) -> Result<(), WorkloadError> {
        self.check(Op::Purge)?;
        self.record(WorkloadCall::Purge(retain));
        let mut st = self.state.borrow_mut();
        if st.purge_keeps_all {
            return Ok(());
        }
        let machine = &mut st.machine;
        let freed = machine.data.purgeable(retain).bytes;
        machine.data = machine.data.after_purge(retain);
        if let Some(disk) = &mut machine.disk {
            disk.free = disk.free.saturating_add(freed).min(disk.total);
            disk.available = disk.available.saturating_add(freed).min(disk.total);
        }
        Ok(())
    }

    fn write_file(&self, path: &Path, contents: &[u8], mode: u32) -> Result<(), WorkloadError> {
        self.check(Op::WriteFile)?;
        self.record(WorkloadCall::Write(path.to_path_buf(), mode));
        self.state.borrow_mut().files.insert(
            path.to_path_buf(),
            (String::from_utf8_lossy(contents).into_owned(), mode),
        );
        Ok(())
    }

    /// Appends to the file while the workload is installed (before, its log directory does
    /// not exist); no rotation, and not recorded as a call: a log line changes nothing the
    /// server runs with.
    fn append_line(&self, path: &Path, line: &str, _rotate_at: u64) -> Result<(), WorkloadError> {
        self.check(Op::WriteFile)?;
        let mut st = self.state.borrow_mut();
        if st.version.is_none() {
            return Ok(());
        }
        let entry = st
            .files
            .entry(path.to_path_buf())
            .or_insert_with(|| (String::new(), 0o640));
        entry.0.push_str(line.trim_end_matches('\n'));
        entry.0.push('\n');
        Ok(())
    }

    fn read_file(&self, path: &Path) -> Result<Option<String>, WorkloadError> {
        self.check(Op::ReadFile)?;
        Ok(self.file(path))
    }

    fn remove_file(&self, path: &Path) -> Result<(), WorkloadError> {
        self.check(Op::WriteFile)?;
        self.record(WorkloadCall::Remove(path.to_path_buf()));
        self.state.borrow_mut().files.remove(path);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_start_and_stop_are_idempotent_and_recorded() {
        let w = MemWorkload::new();
        assert!(w.start().is_err(), "nothing to start before install");
        w.install().unwrap();
        w.install().unwrap();
        assert_eq!(
            w.installed_version().as_deref(),
            Some(crate::deps::ZOOKEEPER_VERSION)
        );
        w.start().unwrap();
        w.start().unwrap();
        assert!(w.is_running().unwrap());
        w.restart().unwrap();
        w.stop().unwrap();
        assert!(!w.is_running().unwrap());
        use WorkloadCall::*;
        assert_eq!(
            w.calls(),
            [Install, Install, Start, Start, Stop, Start, Stop]
        );
    }

    #[test]
    fn refresh_moves_to_the_pinned_version() {
        let w = MemWorkload::new().installed_at("3.8.4").pinned("3.9.3");
        assert_eq!(w.version().unwrap().as_deref(), Some("3.8.4"));
        w.install().unwrap();
        assert_eq!(w.version().unwrap().as_deref(), Some("3.8.4"));
        w.refresh().unwrap();
        assert_eq!(w.version().unwrap().as_deref(), Some("3.9.3"));
    }

    #[test]
    fn files_are_replaced_whole_and_keep_their_mode() {
        let w = MemWorkload::new().with_file("/mem/conf/zoo.cfg", "old");
        let p = w.paths().zoo_cfg();
        assert_eq!(w.read_file(&p).unwrap().as_deref(), Some("old"));
        w.write_file(&p, b"new", 0o640).unwrap();
        assert_eq!(w.read_file(&p).unwrap().as_deref(), Some("new"));
        assert_eq!(w.mode(&p), Some(0o640));
        assert_eq!(w.read_file(&w.paths().myid()).unwrap(), None);
        assert_eq!(w.calls(), [WorkloadCall::Write(p, 0o640)]);
    }

    #[test]
    fn a_failing_operation_fails_every_time_and_changes_nothing() {
        let w = MemWorkload::new().installed_at("3.9.2").fail(Op::Start);
        for _ in 0..2 {
            let e = w.start().unwrap_err();
            assert_eq!(
                e.to_string(),
                "`mem-workload start` failed with exit code 1: error: start failed (injected)"
            );
        }
        assert!(!w.runs());
        assert!(w.calls().is_empty());
        assert!(w.stop().is_ok(), "other operations still work");
    }

    #[test]
    fn a_server_that_exits_after_start_is_not_running_when_asked() {
        let w = MemWorkload::new().installed_at("3.9.2").exits_after_start();
        let mark = w.log_mark();
        w.start().unwrap();
        assert!(!w.is_running().unwrap());
        assert_eq!(w.lifecycle(), [WorkloadCall::Start]);
        assert_eq!(w.exit_cause(mark), None, "it logged nothing");
    }

    #[test]
    fn the_exit_cause_is_what_the_server_logged_since_the_mark() {
        let w = MemWorkload::new()
            .installed_at("3.9.2")
            .exits_after_start_logging("Address already in use");
        let before = w.log_mark();
        assert_eq!(w.exit_cause(before), None);
        w.start().unwrap();
        assert_eq!(
            w.exit_cause(before).as_deref(),
            Some("Address already in use")
        );
        assert_eq!(w.exit_cause(w.log_mark()), None, "nothing since");
    }

    #[test]
    fn whether_it_is_installed_is_a_cheap_fact_that_an_injected_version_failure_does_not_reach() {
        let w = MemWorkload::new().fail(Op::Version);
        assert!(!w.installed().unwrap());
        w.install().unwrap();
        assert!(w.installed().unwrap());
        assert!(w.version().is_err());
    }

    #[test]
    fn clearing_the_private_state_removes_only_its_files_and_is_recorded() {
        let w = MemWorkload::new()
            .with_file("/mem/charm-state/started-with", "f00d")
            .with_file("/mem/conf/zoo.cfg", "cfg");
        w.clear_private_state().unwrap();
        w.prepare_data_dirs().unwrap();
        assert_eq!(w.file(Path::new("/mem/charm-state/started-with")), None);
        assert_eq!(
            w.file(Path::new("/mem/conf/zoo.cfg")).as_deref(),
            Some("cfg")
        );
        assert_eq!(
            w.calls(),
            [
                WorkloadCall::ClearPrivateState,
                WorkloadCall::PrepareDataDirs
            ]
        );
        assert!(w.lifecycle().is_empty());
    }
}
