//! The charm's [`log`] backend: inside a hook every record goes to `juju-log`, so that it
//! lands in the unit's log (`juju debug-log`) at its level.
//!
//! Modules log with `log::info!` and friends and never call `juju-log` themselves. Logging
//! is best effort: a failing `juju-log` must not fail a hook whose work is done (Juju would
//! then discard its relation writes), so a record that cannot be sent is written to stderr
//! instead, which Juju also keeps in the unit log.
//!
//! Records below INFO are dropped: every `juju-log` is a process, and a steady hook logs
//! nothing at INFO, so logging costs a steady hook no tool call.

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Where records go; `juju-log` in production ([`crate::hooktools::process::JujuLog`]).
pub trait Sink: Send + Sync {
    /// Sends one record's text at `level`.
    ///
    /// # Errors
    /// When the record could not be delivered (the logger falls back to stderr).
    fn write(&self, level: Level, message: &str) -> Result<(), crate::hooktools::ToolError>;
}

impl Sink for crate::hooktools::process::JujuLog {
    fn write(&self, level: Level, message: &str) -> Result<(), crate::hooktools::ToolError> {
        crate::hooktools::process::JujuLog::write(self, level, message)
    }
}

/// The most detailed level that reaches the sink.
pub const MAX_LEVEL: LevelFilter = LevelFilter::Info;

/// A [`Log`] that sends each record to a [`Sink`], falling back to stderr.
pub struct HookLogger<S> {
    sink: S,
}

impl<S: Sink> HookLogger<S> {
    pub fn new(sink: S) -> Self {
        HookLogger { sink }
    }
}

impl<S: Sink> Log for HookLogger<S> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= MAX_LEVEL
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        if let Err(e) = self.sink.write(record.level(), &message) {
            eprintln!(
                "zookeeper-charm: {}: {message} (juju-log failed: {})",
                record.level(),
                crate::report::chain(&e)
            );
        }
    }

    fn flush(&self) {}
}

/// Installs `sink` as the process's logger (once; later calls change nothing).
pub fn init(sink: impl Sink + 'static) {
    // The logger lives as long as the process.
    let logger: &'static HookLogger<_> = Box::leak(Box::new(HookLogger::new(sink)));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(MAX_LEVEL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooktools::ToolError;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder {
        records: Mutex<Vec<(Level, String)>>,
        fail: bool,
    }

    impl Sink for &Recorder {
        fn write(&self, level: Level, message: &str) -> Result<(), ToolError> {
            self.records
                .lock()
                .unwrap()
                .push((level, message.to_string()));
            if self.fail {
                return Err(ToolError::Failed {
                    cmd: "juju-log".into(),
                    code: 1,
                    stderr: "ERROR connection to the unit agent lost".into(),
                });
            }
            Ok(())
        }
    }

    fn emit(logger: &dyn Log, level: Level, text: &str) {
        logger.log(
            &Record::builder()
                .level(level)
                .args(format_args!("{text}"))
                .build(),
        );
    }

    #[test]
    fn info_and_above_reach_juju_log_and_debug_does_not() {
        let rec = Recorder::default();
        let logger = HookLogger::new(&rec);
        emit(&logger, Level::Info, "plan: restart");
        emit(&logger, Level::Debug, "details");
        emit(&logger, Level::Error, "cannot start");
        assert_eq!(
            *rec.records.lock().unwrap(),
            [
                (Level::Info, "plan: restart".to_string()),
                (Level::Error, "cannot start".to_string())
            ]
        );
    }

    #[test]
    fn a_failing_juju_log_is_not_an_error_for_the_caller() {
        let rec = Recorder {
            fail: true,
            ..Recorder::default()
        };
        let logger = HookLogger::new(&rec);
        // Returns normally (the record goes to stderr instead).
        emit(&logger, Level::Warn, "reconfig: cannot add server 3");
        assert_eq!(rec.records.lock().unwrap().len(), 1);
    }
}
