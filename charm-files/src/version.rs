//! The `version` file of a packed charm: `<crate version>-r<revision>[-g<commit>[-dirty]]`,
//! written by `cargo xtask pack` and shown by Juju as the charm's version.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What `cargo xtask pack` recorded about the build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackedVersion {
    /// The charm crate's version (`0.1.0`).
    pub crate_version: String,
    /// The charm revision the binary was built as (`--revision N`, default 1).
    pub revision: u64,
    /// The short git commit, when packed from a checkout.
    pub commit: Option<String>,
    /// The checkout had uncommitted changes to tracked files.
    pub dirty: bool,
}

impl PackedVersion {
    /// The file's name in the charm directory.
    pub const FILE: &'static str = "version";

    /// Reads `<dir>/version`; `None` when it is missing or was not written by
    /// `cargo xtask pack` (other charms put any text there).
    pub fn load(dir: &Path) -> Option<PackedVersion> {
        std::fs::read_to_string(dir.join(Self::FILE))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl fmt::Display for PackedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-r{}", self.crate_version, self.revision)?;
        if let Some(c) = &self.commit {
            write!(f, "-g{c}")?;
            if self.dirty {
                write!(f, "-dirty")?;
            }
        }
        Ok(())
    }
}

/// The text is not `<crate version>-r<revision>[-g<commit>[-dirty]]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not <crate version>-r<revision>[-g<commit>[-dirty]]")]
pub struct NotPackedVersion(pub String);

impl FromStr for PackedVersion {
    type Err = NotPackedVersion;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || NotPackedVersion(text.to_string());
        let (rest, dirty) = match text.strip_suffix("-dirty") {
            Some(r) => (r, true),
            None => (text, false),
        };
        let (rest, commit) = match rest.rsplit_once("-g") {
            Some((r, c)) if !c.is_empty() && c.bytes().all(|b| b.is_ascii_hexdigit()) => {
                (r, Some(c.to_string()))
            }
            _ if dirty => return Err(bad()),
            _ => (rest, None),
        };
        let (crate_version, revision) = rest.rsplit_once("-r").ok_or_else(bad)?;
        if crate_version.is_empty() || !revision.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Ok(PackedVersion {
            crate_version: crate_version.to_string(),
            revision: revision.parse().map_err(|_| bad())?,
            commit,
            dirty,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_versions_print_as_they_parse() {
        for text in [
            "0.1.0-r1",
            "0.1.0-r12-gabc1234",
            "0.1.0-r2-gabc1234-dirty",
            "1.0.0-rc1-r3",
        ] {
            let v: PackedVersion = text.parse().unwrap();
            assert_eq!(v.to_string(), text);
        }
        let v: PackedVersion = "0.1.0-r7-g0a1b2c3-dirty".parse().unwrap();
        assert_eq!(
            (v.crate_version.as_str(), v.revision, v.dirty),
            ("0.1.0", 7, true)
        );
        assert_eq!(v.commit.as_deref(), Some("0a1b2c3"));
    }

    #[test]
    fn other_version_texts_are_not_packed_versions() {
        for text in ["", "0.1.0", "0.1.0-rc1", "-r1", "0.1.0-r1-dirty", "v3.2-r"] {
            assert!(text.parse::<PackedVersion>().is_err(), "{text}");
        }
    }
}
