//! The error type of the local model's library layer.

use std::path::PathBuf;

use crate::SettleReport;

/// Anything that can go wrong while driving the model.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A file or directory operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `model.json` is not what this version of the sim writes.
    #[error("model state {} is unreadable", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The charm (zip or directory) is missing something Juju needs, or cannot be unpacked.
    #[error("charm {}: {detail}", path.display())]
    Charm { path: PathBuf, detail: String },
    /// `metadata.yaml`, `config.yaml` or `actions.yaml` is missing or not what Juju accepts.
    #[error(transparent)]
    CharmFile(#[from] charm_files::FileError),
    /// A config value does not fit its option's type.
    #[error(transparent)]
    ConfigValue(#[from] charm_files::ConfigValueError),
    /// No unit, action, option, relation or hook tool of that name in this model.
    #[error("{what} {name:?} not found")]
    NotFound { what: &'static str, name: String },
    /// There is no model in this directory.
    #[error("no model in {}", .0.display())]
    NoModel(PathBuf),
    /// An action's params do not fit its schema in `actions.yaml` (Juju's message after the
    /// colon).
    #[error("validation failed: {0}")]
    ActionParams(String),
    /// Juju would refuse the request in this model's state (already deployed, a dying
    /// unit, a charm of another name, ...).
    #[error("{0}")]
    Refused(String),
    /// The sim cannot run here: no hook-tool binary, no free loopback block.
    #[error("{0}")]
    Setup(String),
    /// `settle` hit one of its bounds, or a unit stayed in error after its retries.
    #[error("model did not settle: {reason} ({report})")]
    Unsettled {
        reason: String,
        report: Box<SettleReport>,
    },
    /// Another process is already running hooks in this model.
    #[error("model {} is busy: another zk-sim process is running its hooks", .0.display())]
    Busy(PathBuf),
}

impl SimError {
    pub(crate) fn not_found(what: &'static str, name: impl ToString) -> SimError {
        SimError::NotFound {
            what,
            name: name.to_string(),
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> SimError {
        let path = path.into();
        move |source| SimError::Io {
            action,
            path,
            source,
        }
    }
}

/// An error and its sources, `: `-separated, for places that print one line (a hook
/// tool's `ERROR` line, a test's panic message) where `{:#}` of anyhow is not at hand.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_says_its_cause_once() {
        let e = SimError::io("read", "/m/model.json")(std::io::ErrorKind::NotFound.into());
        assert_eq!(e.to_string(), "cannot read /m/model.json");
        assert_eq!(
            Chain(&e).to_string(),
            "cannot read /m/model.json: entity not found"
        );
    }
}
