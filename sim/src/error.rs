//! The error type of the local model's library layer.

use std::path::PathBuf;

use crate::SettleReport;

/// Anything that can go wrong while driving the model.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A file or directory operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `model.json` is not what this version of the sim writes.
    #[error("model state {path} is unreadable: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The charm (zip or directory) is missing something Juju needs, or cannot be unpacked.
    #[error("charm {path}: {detail}")]
    Charm { path: PathBuf, detail: String },
    /// `metadata.yaml`, `config.yaml` or `actions.yaml` is missing or not what Juju accepts.
    #[error(transparent)]
    CharmFile(#[from] charm_files::FileError),
    /// A config value does not fit its option's type.
    #[error(transparent)]
    ConfigValue(#[from] charm_files::ConfigValueError),
    /// The request does not make sense for this model (unknown unit, bad config value, ...).
    #[error("{0}")]
    Invalid(String),
    /// A hook or action process could not be started.
    #[error("cannot start {program} for {unit}: {source}")]
    Spawn {
        unit: String,
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `settle` hit one of its bounds, or a unit stayed in error after its retries.
    #[error("model did not settle: {reason} ({report})")]
    Unsettled {
        reason: String,
        report: Box<SettleReport>,
    },
    /// Another process is already running hooks in this model.
    #[error("model {0} is busy: another zk-sim process is running its hooks")]
    Busy(PathBuf),
}

impl SimError {
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
