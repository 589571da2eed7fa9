//! The alert rules under `cos/prometheus_alert_rules/` do what their names say: Prometheus's
//! own `promtool test rules` runs the scenarios of `cos/tests/zookeeper.rules.test.yaml`
//! (every alert fires on a unit in trouble and stays quiet on a healthy one).
//!
//! Needs `promtool` (Debian's `prometheus` package; `.ci/run` installs it), or its path in
//! `PROMTOOL`. The annotations are taken out of the copy promtool reads: it compares them
//! exactly, and they are texts operators are meant to reword.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn promtool() -> PathBuf {
    if let Some(path) = std::env::var_os("PROMTOOL") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "promtool not found: install it with `apt-get install --no-install-recommends \
             prometheus`, or set PROMTOOL to its path"
        )
    })
}

/// The rule files with every rule's `annotations` removed, written into `dir`.
fn rule_files_without_annotations(dir: &Path) -> Vec<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("cos/prometheus_alert_rules");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&source)
        .expect("cos/prometheus_alert_rules")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no rule file in {}", source.display());
    names
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("rule file");
            let mut file: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
            for group in file["groups"].as_sequence_mut().expect("groups") {
                for rule in group["rules"].as_sequence_mut().expect("rules") {
                    rule.as_mapping_mut()
                        .expect("a rule is a mapping")
                        .remove("annotations");
                }
            }
            let out = dir.join(path.file_name().expect("file name"));
            std::fs::write(&out, serde_yaml_ng::to_string(&file).expect("YAML")).expect("write");
            out
        })
        .collect()
}

#[test]
fn every_alert_fires_on_a_unit_in_trouble_and_not_on_a_healthy_one() {
    let promtool = promtool();
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = rule_files_without_annotations(dir.path());
    let scenarios = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("cos/tests/zookeeper.rules.test.yaml"),
    )
    .expect("cos/tests/zookeeper.rules.test.yaml");
    let list: String = rules
        .iter()
        .map(|p| format!("  - {}\n", p.display()))
        .collect();
    assert!(scenarios.contains("  - RULE_FILES\n"));
    let test_file = dir.path().join("zookeeper.rules.test.yaml");
    std::fs::write(&test_file, scenarios.replace("  - RULE_FILES\n", &list)).expect("write");

    let mut child = Command::new(&promtool)
        .args(["test", "rules"])
        .arg(&test_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", promtool.display()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("promtool test rules took over 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
