//! UTC calendar times from seconds since the Unix epoch, without a date crate.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC date and time to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Seconds since the epoch, now (0 if the clock is before 1970).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl UtcTime {
    pub fn from_epoch(secs: u64) -> UtcTime {
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        let rem = (secs % 86_400) as u32;
        UtcTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        }
    }

    pub fn now() -> UtcTime {
        UtcTime::from_epoch(now_secs())
    }

    /// `2026-11-23T08:25:49.000000Z`, as charmcraft writes `charmcraft-started-at`.
    pub fn rfc3339_micros(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000000Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `2025-05-01 10:00:00Z`, the form of Juju's `since` fields.
    pub fn juju(&self) -> String {
        format!("{self}Z")
    }

    /// `10:00:00`.
    pub fn clock(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }
}

/// `2025-05-01 10:00:00`.
impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {}",
            self.year,
            self.month,
            self.day,
            self.clock()
        )
    }
}

/// Days since 1970-01-01 to a (year, month, day) civil date (Howard Hinnant's algorithm):
/// days are counted from 0000-03-01 in 400-year eras of 146 097 days (the proleptic
/// Gregorian calendar repeats every 400 years), with years starting in March so that leap
/// days come last.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format_in_each_form() {
        let t = |s| UtcTime::from_epoch(s);
        assert_eq!(t(0).juju(), "1970-01-01 00:00:00Z");
        assert_eq!(t(1_746_093_600).juju(), "2025-05-01 10:00:00Z");
        assert_eq!(t(951_782_400).juju(), "2000-02-29 00:00:00Z");
        assert_eq!(t(0).rfc3339_micros(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            t(1_795_422_349).rfc3339_micros(),
            "2026-11-23T08:25:49.000000Z"
        );
        assert_eq!(
            t(4_107_542_399).rfc3339_micros(),
            "2100-02-28T23:59:59.000000Z"
        );
        assert_eq!(t(1_795_422_349).clock(), "08:25:49");
    }
}
