//! Embeds the COS assets under `cos/` into the charm, once, at build time.
//!
//! - `cos/prometheus_alert_rules/*.yaml` (name order): Prometheus rule files. Each is checked
//!   here (only alerting rules; every rule has a name, an expression, a `severity` label and a
//!   valid `for` duration) and becomes static data in `$OUT_DIR/cos_alert_rules.rs`, so that
//!   a hook never parses YAML. A malformed file fails the build with its path and the reason.
//! - `cos/grafana_dashboards/*.json` (name order): Grafana dashboards. Each must be a JSON
//!   object with a `title`; it is xz-compressed and base64-encoded, the form the `cos-agent`
//!   requirer decodes with Python's `lzma.decompress(base64.b64decode(s))`, and the strings
//!   land in `$OUT_DIR/cos_dashboards.rs`.
//!
//! `src/cos/` includes both files; its tests check the result.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

const RULES_DIR: &str = "cos/prometheus_alert_rules";
const DASHBOARDS_DIR: &str = "cos/grafana_dashboards";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    rules: Vec<AlertRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertRule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    duration: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cos");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    if let Err(e) = run(&out_dir) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(out_dir: &Path) -> Result<(), String> {
    let rules = files_with_extension(Path::new(RULES_DIR), &["yaml", "yml"])?;
    let mut code = String::from("&[\n");
    for path in &rules {
        let text = read(path)?;
        let file: RuleFile = serde_yaml_ng::from_str(&text)
            .map_err(|e| format!("{}: not a rule file of alerting rules: {e}", path.display()))?;
        for group in &file.groups {
            check_group(group).map_err(|e| format!("{}: {e}", path.display()))?;
            group_code(&mut code, group);
        }
    }
    code.push(']');
    write(&out_dir.join("cos_alert_rules.rs"), &code)?;

    let dashboards = files_with_extension(Path::new(DASHBOARDS_DIR), &["json"])?;
    let mut code = String::from("&[\n");
    for path in &dashboards {
        let text = read(path)?;
        check_dashboard(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let _ = writeln!(code, "    {:?},", encode_dashboard(text.as_bytes())?);
    }
    code.push(']');
    write(&out_dir.join("cos_dashboards.rs"), &code)
}

/// The files of `dir` whose extension is one of `extensions`, sorted by name. A missing
/// folder is an error: the charm ships these assets.
fn files_with_extension(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("reading {}: {e}", dir.display()))?
            .path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if path.is_file() && extensions.contains(&ext) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

fn write(path: &Path, contents: &str) -> Result<(), String> {
    fs::write(path, contents).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn check_group(group: &RuleGroup) -> Result<(), String> {
    if group.name.trim().is_empty() {
        return Err("a group has an empty name".into());
    }
    if group.rules.is_empty() {
        return Err(format!("group {:?} has no rules", group.name));
    }
    for rule in &group.rules {
        let what = format!("group {:?}, alert {:?}", group.name, rule.alert);
        if rule.alert.trim().is_empty() {
            return Err(format!("group {:?}: an alert has no name", group.name));
        }
        if rule.expr.trim().is_empty() {
            return Err(format!("{what}: empty expr"));
        }
        if rule
            .labels
            .get("severity")
            .is_none_or(|s| s.trim().is_empty())
        {
            return Err(format!("{what}: no severity label"));
        }
        if let Some(d) = &rule.duration {
            if !is_prometheus_duration(d) {
                return Err(format!("{what}: `for: {d}` is not a duration such as 5m"));
            }
        }
    }
    Ok(())
}

/// A Prometheus duration: one or more `<digits><unit>`, units ms, s, m, h, d, w, y.
fn is_prometheus_duration(s: &str) -> bool {
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

/// Appends one `RuleGroup` literal (the types in `src/cos/rules.rs`). `{:?}` of a `str` is a
/// valid Rust string literal.
fn group_code(code: &mut String, group: &RuleGroup) {
    let _ = writeln!(
        code,
        "    RuleGroup {{\n        name: {:?},\n        rules: &[",
        group.name
    );
    for rule in &group.rules {
        let _ = writeln!(
            code,
            "            AlertRule {{\n                alert: {:?},\n                expr: {:?},\n                duration: {:?},",
            rule.alert, rule.expr, rule.duration
        );
        let _ = writeln!(code, "                labels: &{:?},", pairs(&rule.labels));
        let _ = writeln!(
            code,
            "                annotations: &{:?},\n            }},",
            pairs(&rule.annotations)
        );
    }
    code.push_str("        ],\n    },\n");
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
    map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn check_dashboard(text: &str) -> Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    match value.get("title").and_then(|t| t.as_str()) {
        Some(title) if !title.trim().is_empty() => Ok(()),
        _ => Err("a dashboard needs a non-empty \"title\"".into()),
    }
}

fn encode_dashboard(json: &[u8]) -> Result<String, String> {
    let options = lzma_rust2::XzOptions::with_preset(6);
    let mut writer = lzma_rust2::XzWriter::new(Vec::new(), options)
        .map_err(|e| format!("xz compression: {e}"))?;
    writer
        .write_all(json)
        .map_err(|e| format!("xz compression: {e}"))?;
    let compressed = writer
        .finish()
        .map_err(|e| format!("xz compression: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(compressed))
}
