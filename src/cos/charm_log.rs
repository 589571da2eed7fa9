//! What the charm alone knows, for COS: one line per hook or action, in
//! [logfmt](https://brandur.org/logfmt), appended to [`FILE`] in the server's log
//! directory.
//!
//! That directory is what the snap's `logs` slot shares, and the agent ships every file
//! there to Loki labelled with this unit (`juju_application`, `juju_unit`), so the lines
//! reach COS with nothing else to configure. Loki turns them into series with LogQL, for
//! example failed hooks per unit:
//!
//! ```text
//! sum by (juju_unit) (count_over_time({juju_application="zookeeper", filename=~".*/charm.log"} | logfmt | outcome="failed" [1h]))
//! ```
//!
//! A line (one per hook; the keys after `outcome` are there when known):
//!
//! ```text
//! ts=2025-06-01T10:00:00Z unit=zookeeper/1 hook=update-status outcome=ok duration_ms=41 status=active message=follower juju_leader=false zk_role=follower upgrade=idle upgrade_running=false restart_lock=none
//! ```
//!
//! Why not metrics: a charm runs only during hooks, so it cannot serve `/metrics`, and the
//! agent's node exporter reads no textfile directory. Pure code: the hook runner appends the
//! line through the workload.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::peers::upgrade::UpgradeState;
use crate::status::Status;

/// The file, in the server's log directory.
pub const FILE: &str = "charm.log";
/// Past this size the file is rotated (one old file is kept, `charm.log.1`).
pub const ROTATE_AT: u64 = 1 << 20;
/// How much of an error the line keeps.
const MAX_ERROR: usize = 500;

/// How the hook or action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The hook succeeded (an action: it set its results).
    Ok,
    /// An action called `action-fail` with this message; the hook itself succeeded.
    ActionFailed(String),
    /// The hook failed (Juju retries it) with this error chain.
    Failed(String),
}

impl Outcome {
    fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ActionFailed(_) => "action-failed",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// What the last snapshot of the hook said about this unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFacts {
    pub juju_leader: bool,
    /// The server's role (`leader`, `follower`, ...), `not-serving`, or `stopped`.
    pub zk_role: String,
    /// This unit's upgrade state, if its bag holds one this charm knows.
    pub upgrade: Option<UpgradeState>,
    /// An upgrade is prepared or running in the application.
    pub upgrade_running: bool,
    /// The unit holding the restart lock, if one does.
    pub restart_lock: Option<String>,
}

/// One hook or action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub time: SystemTime,
    /// `zookeeper/1`.
    pub unit: String,
    /// `true` for an action (`action=<name>`), else a hook (`hook=<name>`).
    pub action: bool,
    /// The hook's or action's name.
    pub name: String,
    pub outcome: Outcome,
    pub duration: Duration,
    /// The status the hook ended with (none when it failed, or for an action that set none).
    pub status: Option<Status>,
    pub facts: Option<UnitFacts>,
}

impl Record {
    /// The line, without its newline.
    pub fn line(&self) -> String {
        let mut out = String::new();
        let ts = x509_cert::der::DateTime::from_system_time(self.time)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| "unknown".into());
        pair(&mut out, "ts", &ts);
        pair(&mut out, "unit", &self.unit);
        pair(
            &mut out,
            if self.action { "action" } else { "hook" },
            &self.name,
        );
        pair(&mut out, "outcome", self.outcome.as_str());
        match &self.outcome {
            Outcome::Ok => {}
            Outcome::ActionFailed(e) | Outcome::Failed(e) => pair(&mut out, "error", &cut(e)),
        }
        pair(
            &mut out,
            "duration_ms",
            &self.duration.as_millis().to_string(),
        );
        if let Some(status) = &self.status {
            pair(&mut out, "status", status.kind.as_str());
            pair(&mut out, "message", &status.message);
        }
        if let Some(f) = &self.facts {
            pair(&mut out, "juju_leader", &f.juju_leader.to_string());
            pair(&mut out, "zk_role", &f.zk_role);
            pair(
                &mut out,
                "upgrade",
                f.upgrade.map_or("unknown", UpgradeState::as_str),
            );
            pair(&mut out, "upgrade_running", &f.upgrade_running.to_string());
            pair(
                &mut out,
                "restart_lock",
                f.restart_lock.as_deref().unwrap_or("none"),
            );
        }
        out
    }
}

fn cut(text: &str) -> String {
    if text.len() <= MAX_ERROR {
        return text.to_string();
    }
    let mut end = MAX_ERROR;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// ` key=value`, the value quoted when logfmt needs it (empty, or with a space, `=` or
/// `"`), with `\`, `"` and line breaks escaped, so that one record is one line.
fn pair(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(key);
    out.push('=');
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=' && c != '\\');
    if plain {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A logfmt reader: the pairs of one line, values unquoted.
    fn parse(line: &str) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut chars = line.chars().peekable();
        while chars.peek().is_some() {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some(other) => value.push(other),
                            None => {}
                        },
                        c => value.push(c),
                    }
                }
                chars.next(); // the space after
            } else {
                value = chars.by_ref().take_while(|c| *c != ' ').collect();
            }
            pairs.push((key, value));
        }
        pairs
    }

    fn record() -> Record {
        Record {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_748_772_000),
            unit: "zookeeper/1".into(),
            action: false,
            name: "update-status".into(),
            outcome: Outcome::Ok,
            duration: Duration::from_millis(41),
            status: Some(Status::active("follower")),
            facts: Some(UnitFacts {
                juju_leader: false,
                zk_role: "follower".into(),
                upgrade: Some(UpgradeState::Idle),
                upgrade_running: false,
                restart_lock: None,
            }),
        }
    }

    #[test]
    fn a_steady_hook_is_one_line_of_plain_pairs() {
        assert_eq!(
            record().line(),
            "ts=2025-06-01T10:00:00Z unit=zookeeper/1 hook=update-status outcome=ok duration_ms=41 \
             status=active message=follower juju_leader=false zk_role=follower upgrade=idle \
             upgrade_running=false restart_lock=none"
        );
    }

    #[test]
    fn values_with_spaces_quotes_or_line_breaks_are_quoted_and_read_back_whole() {
        let mut r = record();
        r.outcome = Outcome::Failed("cannot \"run\" relation-get:\nERROR x=1 \\ y".into());
        r.status = Some(Status::waiting("waiting for restart lock"));
        r.facts = Some(UnitFacts {
            restart_lock: Some("zookeeper/2".into()),
            upgrade: None,
            ..UnitFacts::default()
        });
        let line = r.line();
        assert!(!line.contains('\n'), "{line}");
        let pairs = parse(&line);
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no {k} in {line}"))
        };
        assert_eq!(get("outcome"), "failed");
        assert_eq!(get("error"), "cannot \"run\" relation-get:\nERROR x=1 \\ y");
        assert_eq!(get("message"), "waiting for restart lock");
        assert_eq!(get("restart_lock"), "zookeeper/2");
        assert_eq!(get("upgrade"), "unknown");
        assert_eq!(get("zk_role"), "");
    }

    #[test]
    fn an_action_says_so_and_a_long_error_is_cut() {
        let mut r = record();
        r.action = true;
        r.name = "set-password".into();
        r.outcome = Outcome::ActionFailed("é".repeat(400));
        r.facts = None;
        r.status = None;
        let line = r.line();
        assert!(line.contains(" action=set-password outcome=action-failed error=\""));
        assert!(line.len() < 700, "{}", line.len());
        assert!(line.ends_with("...\" duration_ms=41"), "{line}");
    }
}
