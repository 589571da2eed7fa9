//! A charm's own files, as types: `metadata.yaml`, `config.yaml` and `actions.yaml` (read
//! by the local model, by `cargo xtask pack` and by the consistency tests), the `version`
//! file `cargo xtask pack` writes, and the UTC timestamps Juju and charmcraft print.
//!
//! Parsing is lenient where Juju is (unknown keys are ignored, `config.yaml` and
//! `actions.yaml` may be missing or empty) and strict where Juju refuses a charm (a
//! `metadata.yaml` without `name`, a config option of an unknown type or with a default
//! that does not fit its type).
//!
//! # Layout
//!
//! - [`metadata`]: [`Metadata`], its endpoints and storage, in file order.
//! - [`config`]: [`ConfigYaml`], option types, and Juju's rules for config values.
//! - [`actions`]: [`ActionsYaml`], each action's JSON-schema fragments.
//! - [`version`]: [`PackedVersion`], `<crate version>-r<revision>[-g<commit>[-dirty]]`.
//! - [`timestamp`]: [`UtcTime`], civil dates from seconds since the epoch.

pub mod actions;
pub mod config;
pub mod metadata;
mod ordered;
pub mod timestamp;
pub mod version;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use actions::{ActionSpec, ActionsYaml};
pub use config::{ConfigOption, ConfigType, ConfigValueError, ConfigYaml};
pub use metadata::{Endpoint, Metadata, Storage};
pub use ordered::Ordered;
pub use timestamp::UtcTime;
pub use version::PackedVersion;

/// Why a charm file's text is not what Juju accepts.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("invalid YAML")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Why a charm file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid {name}", path.display())]
    Parse {
        path: PathBuf,
        name: &'static str,
        #[source]
        source: ParseError,
    },
}

/// One of the YAML files at the top of a charm directory.
pub trait CharmFile: DeserializeOwned {
    /// The file's name in the charm directory (`metadata.yaml`).
    const NAME: &'static str;

    /// Juju's checks beyond the shape (types of defaults, ...). The default accepts all.
    fn check(self) -> Result<Self, String> {
        Ok(self)
    }

    /// Parses the file's text. An empty document reads as `{}`.
    fn parse(text: &str) -> Result<Self, ParseError> {
        let doc: Option<Self> = serde_yaml_ng::from_str(text)?;
        let doc = match doc {
            Some(d) => d,
            None => serde_yaml_ng::from_str("{}")?,
        };
        doc.check().map_err(ParseError::Invalid)
    }

    /// Reads `<dir>/<NAME>`; a missing file is an error.
    fn load(dir: &Path) -> Result<Self, FileError> {
        Self::load_if_present(dir)?.ok_or_else(|| FileError::Read {
            path: dir.join(Self::NAME),
            source: std::io::ErrorKind::NotFound.into(),
        })
    }

    /// Reads `<dir>/<NAME>`, or `None` when there is no such file.
    fn load_if_present(dir: &Path) -> Result<Option<Self>, FileError> {
        let path = dir.join(Self::NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(FileError::Read { path, source }),
        };
        Self::parse(&text)
            .map(Some)
            .map_err(|source| FileError::Parse {
                path,
                name: Self::NAME,
                source,
            })
    }
}
