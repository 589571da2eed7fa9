//! The model's `debug-log` (one file, lines like Juju's `juju debug-log`) and its hook log
//! (`hooks.jsonl`, one JSON record per hook or action run).

use std::path::Path;

use crate::state::{DEBUG_LOG, HOOK_LOG};
use crate::{util, HookRecord, SimError};

/// `unit-zookeeper-0`, the agent tag prefix of a unit's debug-log lines.
pub fn unit_tag(unit: &str) -> String {
    format!("unit-{}", unit.replace('/', "-"))
}

/// One debug-log line: `unit-zookeeper-0: 12:00:00 INFO unit.zookeeper/0.juju-log message`.
pub fn line(unit: &str, level: &str, module: &str, msg: &str) -> String {
    format!(
        "{}: {} {level} {module} {msg}\n",
        unit_tag(unit),
        util::clock()
    )
}

/// Appends lines to the model's debug-log.
pub fn append(dir: &Path, text: &str) -> Result<(), SimError> {
    if text.is_empty() {
        return Ok(());
    }
    util::append_private(&dir.join(DEBUG_LOG), text)
}

pub fn append_hook_record(dir: &Path, rec: &HookRecord) -> Result<(), SimError> {
    let mut s = serde_json::to_string(rec).expect("hook record serialises");
    s.push('\n');
    util::append_private(&dir.join(HOOK_LOG), &s)
}

pub fn read_hook_log(dir: &Path) -> Result<Vec<HookRecord>, SimError> {
    let path = dir.join(HOOK_LOG);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SimError::io("read", &path)(e)),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|source| SimError::Corrupt {
                path: path.clone(),
                source,
            })
        })
        .collect()
}

/// The debug-log, optionally only one unit's lines, optionally only the last `lines`.
pub fn read_debug_log(
    dir: &Path,
    unit: Option<&str>,
    lines: Option<usize>,
) -> Result<Vec<String>, SimError> {
    let path = dir.join(DEBUG_LOG);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(SimError::io("read", &path)(e)),
    };
    let prefix = unit.map(|u| format!("{}: ", unit_tag(u)));
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| prefix.as_ref().is_none_or(|p| l.starts_with(p.as_str())))
        .map(str::to_string)
        .collect();
    if let Some(n) = lines {
        let skip = out.len().saturating_sub(n);
        out.drain(..skip);
    }
    Ok(out)
}
