//! Small helpers: Juju's timestamps, file writes with private modes, Juju's key names.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::SimError;

pub use charm_files::timestamp::now_secs;

/// `2025-05-01 10:00:00Z`, the form Juju's `since` fields use.
pub fn utc_string(secs: u64) -> String {
    charm_files::UtcTime::from_epoch(secs).juju()
}

/// `HH:MM:SS` of now, for debug-log lines.
pub fn clock() -> String {
    charm_files::UtcTime::now().clock()
}

/// Appends text to a file created with mode 0600.
pub fn append_private(path: &Path, text: &str) -> Result<(), SimError> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(SimError::io("open", path))?;
    f.write_all(text.as_bytes())
        .map_err(SimError::io("write", path))
}

/// Writes a whole file atomically (temp file + rename), mode 0600.
pub fn write_private_atomic(path: &Path, data: &[u8]) -> Result<(), SimError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(SimError::io("create", &tmp))?;
        f.write_all(data).map_err(SimError::io("write", &tmp))?;
    }
    fs::rename(&tmp, path).map_err(SimError::io("rename into place", path))
}

/// `abc` -> true when `s` matches Juju's name rule `^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`.
pub fn is_juju_key_part(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty() && ok(b[0]) && ok(b[b.len() - 1]) && b.iter().all(|&c| ok(c) || c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn juju_key_parts_follow_the_action_name_rule() {
        for (part, ok) in [
            ("a", true),
            ("return-code", true),
            ("Foo", false),
            ("-a", false),
            ("a-", false),
            ("", false),
            ("a_b", false),
        ] {
            assert_eq!(is_juju_key_part(part), ok, "{part:?}");
        }
    }
}
