//! Small helpers: UTC timestamps without a date crate, file writes with private modes.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::SimError;

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Days since 1970-01-01 to a (year, month, day) civil date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `2025-05-01 10:00:00Z`, the form Juju's `since` fields use.
pub fn utc_string(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// `HH:MM:SS` of now, for debug-log lines.
pub fn clock() -> String {
    let s = now_secs() % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
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
    fn utc_string_formats_known_instants() {
        assert_eq!(utc_string(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc_string(1_746_093_600), "2025-05-01 10:00:00Z");
        assert_eq!(utc_string(951_782_400), "2000-02-29 00:00:00Z");
    }

    #[test]
    fn juju_key_parts_follow_the_action_name_rule() {
        assert!(is_juju_key_part("a"));
        assert!(is_juju_key_part("return-code"));
        assert!(!is_juju_key_part("Foo"));
        assert!(!is_juju_key_part("-a"));
        assert!(!is_juju_key_part("a-"));
        assert!(!is_juju_key_part(""));
        assert!(!is_juju_key_part("a_b"));
    }
}
