//! The built binary, run the way Juju runs it: from the charm directory, with a fresh
//! environment (no HOME, no USER) whose PATH starts with the hook tools.
//!
//! The hook tools here are one shell script (linked under every tool name, as Juju links
//! `jujuc`) that appends its name and argv to a log and prints a minimal answer. Tests
//! cover dispatch only: which hook or action the binary thinks it runs, and what happens
//! when it does not know it or a tool fails. The binary runs on a machine of its own (the
//! local model's private mount namespace over `/snap`, `/var/snap`,
//! `/var/lib/zookeeper-charm`, `/etc/environment`, ...), with no `snap` command, so
//! nothing of the host is touched and nothing is installed. Needs root, as the local model.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use zk_sim::machine::Machine;
use zk_sim::tools::ToolName;

/// A unit's charm directory, tools directory and call log, all under one temp dir.
struct Unit {
    dir: tempfile::TempDir,
}

impl Unit {
    fn new() -> Unit {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["tools", "charm/hooks", "charm/actions"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let log = root.join("calls.log");
        let fail_dir = root.join("fail");
        let script = format!(
            r#"#!/bin/sh
tool=${{0##*/}}
{{ printf '%s' "$tool"; for a in "$@"; do printf ' [%s]' "$a"; done; printf '\n'; }} >> '{log}'
# Juju gives hooks no HOME or USER; the tools see the binary's environment.
if [ -n "${{HOME+x}}${{USER+x}}" ]; then
    echo "ERROR test setup: HOME or USER is set" >&2
    exit 1
fi
if [ -e '{fail}/'"$tool" ]; then
    cat '{fail}/'"$tool" >&2
    exit 1
fi
case "$tool" in
    is-leader) echo false ;;
    config-get|leader-get|action-get|relation-get) echo '{{}}' ;;
    relation-ids|relation-list) echo '[]' ;;
    network-get) echo '{{"bind-addresses":[{{"addresses":[{{"value":"127.0.0.1"}}]}}],"ingress-addresses":["127.0.0.1"]}}' ;;
    unit-get) echo '"127.0.0.1"' ;;
    goal-state) echo '{{"units":{{"zookeeper/0":{{"status":"active"}}}},"relations":{{}}}}' ;;
    relation-set) cat > /dev/null ;;
esac
exit 0
"#,
            log = log.display(),
            fail = fail_dir.display(),
        );
        let jujuc = root.join("tools/jujuc");
        std::fs::write(&jujuc, script).unwrap();
        std::fs::set_permissions(&jujuc, std::fs::Permissions::from_mode(0o755)).unwrap();
        for tool in ToolName::ALL {
            symlink("jujuc", root.join("tools").join(tool.as_str())).unwrap();
        }
        // The charm directory as Juju unpacks a packed charm: the binary is `dispatch`.
        symlink(
            env!("CARGO_BIN_EXE_zookeeper-charm"),
            root.join("charm/dispatch"),
        )
        .unwrap();
        Unit { dir }
    }

    fn charm_dir(&self) -> PathBuf {
        self.dir.path().join("charm")
    }

    /// Adds `hooks/<name>` -> `../dispatch`.
    fn hook_link(&self, name: &str) -> PathBuf {
        let link = self.charm_dir().join("hooks").join(name);
        symlink("../dispatch", &link).unwrap();
        link
    }

    /// Makes `tool` print `stderr` and exit 1.
    fn fail(&self, tool: &str, stderr: &str) {
        let dir = self.dir.path().join("fail");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(tool), stderr).unwrap();
    }

    /// Runs `program` with only the variables Juju sets (no HOME, USER, SHELL...).
    fn run(&self, program: &Path, dispatch_path: Option<&str>) -> Output {
        let root = self.dir.path();
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .current_dir(self.charm_dir())
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", root.join("tools").display()),
            )
            .env("JUJU_UNIT_NAME", "zookeeper/0")
            .env("JUJU_MODEL_NAME", "test")
            .env("JUJU_CHARM_DIR", self.charm_dir())
            .env("JUJU_VERSION", "3.6.8");
        let machine = Machine::of_unit(root);
        machine.create().expect("the unit's machine");
        zk_sim::machine::ensure_mount_points().expect("the mount points (run as root)");
        zk_sim::machine::isolate(&mut cmd, &machine.mounts(&[])).unwrap();
        if let Some(p) = dispatch_path {
            cmd.env("JUJU_DISPATCH_PATH", p);
        }
        cmd.output().expect("the binary runs")
    }

    /// Every tool call, one line each: `tool [arg] [arg]`.
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn calls_of(&self, tool: &str) -> Vec<String> {
        let prefix = format!("{tool} ");
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with(&prefix))
            .collect()
    }
}

fn explain(out: &Output, unit: &Unit) -> String {
    format!(
        "exit {:?}\nstderr: {}\ncalls:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        unit.calls().join("\n")
    )
}

#[test]
fn an_unknown_hook_run_through_a_hook_symlink_is_logged_and_succeeds() {
    let unit = Unit::new();
    let link = unit.hook_link("frobnicate-changed");
    let out = unit.run(&link, None);
    assert!(out.status.success(), "{}", explain(&out, &unit));
    let logs = unit.calls_of("juju-log");
    assert_eq!(logs.len(), 1, "{}", explain(&out, &unit));
    assert!(
        logs[0].starts_with("juju-log [--log-level] [WARNING] [--] [")
            && logs[0].contains("frobnicate-changed"),
        "{}",
        logs[0]
    );
    assert!(
        unit.calls_of("status-set").is_empty(),
        "an ignored hook changes nothing"
    );
}

#[test]
fn a_known_hook_run_through_a_hook_symlink_is_handled_and_sets_one_status() {
    let unit = Unit::new();
    let link = unit.hook_link("update-status");
    let out = unit.run(&link, None);
    assert!(
        unit.calls_of("juju-log")
            .iter()
            .all(|l| !l.contains("unknown hook")),
        "{}",
        explain(&out, &unit)
    );
    assert!(out.status.success(), "{}", explain(&out, &unit));
    let statuses = unit.calls_of("status-set");
    assert_eq!(statuses.len(), 1, "{}", explain(&out, &unit));
    assert!(statuses[0].starts_with("status-set [--application=False] ["));
}

#[test]
fn the_dispatch_path_names_the_hook_when_the_binary_is_dispatch() {
    let unit = Unit::new();
    let out = unit.run(
        &unit.charm_dir().join("dispatch"),
        Some("hooks/no-such-hook"),
    );
    assert!(out.status.success(), "{}", explain(&out, &unit));
    let logs = unit.calls_of("juju-log");
    assert!(
        logs.len() == 1 && logs[0].contains("no-such-hook"),
        "{}",
        explain(&out, &unit)
    );
}

#[test]
fn the_dispatch_path_wins_over_the_program_name() {
    let unit = Unit::new();
    let link = unit.hook_link("update-status");
    let out = unit.run(&link, Some("hooks/bogus-hook"));
    assert!(out.status.success(), "{}", explain(&out, &unit));
    let logs = unit.calls_of("juju-log");
    assert!(
        logs.len() == 1 && logs[0].contains("bogus-hook"),
        "{}",
        explain(&out, &unit)
    );
    assert!(
        unit.calls_of("status-set").is_empty(),
        "update-status must not run"
    );
}

#[test]
fn an_unknown_action_fails_with_a_message_naming_it() {
    let unit = Unit::new();
    let out = unit.run(
        &unit.charm_dir().join("dispatch"),
        Some("actions/frobnicate"),
    );
    assert!(out.status.success(), "{}", explain(&out, &unit));
    let fails = unit.calls_of("action-fail");
    assert_eq!(fails.len(), 1, "{}", explain(&out, &unit));
    assert!(
        fails[0].starts_with("action-fail [--] [") && fails[0].contains("frobnicate"),
        "{}",
        fails[0]
    );
    assert!(
        unit.calls_of("status-set").is_empty(),
        "actions set no status"
    );
}

#[test]
fn a_failing_juju_log_does_not_fail_the_hook_and_the_record_goes_to_stderr() {
    let unit = Unit::new();
    unit.fail("juju-log", "ERROR connection to the unit agent lost");
    let out = unit.run(
        &unit.charm_dir().join("dispatch"),
        Some("hooks/no-such-hook"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out, &unit));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ignoring unknown hook \"no-such-hook\"")
            && stderr.contains("ERROR connection to the unit agent lost"),
        "{stderr}"
    );
    assert_eq!(unit.calls_of("juju-log").len(), 1);
}

#[test]
fn a_failing_hook_tool_fails_the_hook_with_its_command_line_and_stderr() {
    let unit = Unit::new();
    unit.fail("is-leader", "ERROR connection to the unit agent lost");
    let out = unit.run(
        &unit.charm_dir().join("dispatch"),
        Some("hooks/update-status"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out, &unit));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is-leader --format=json")
            && stderr.contains("ERROR connection to the unit agent lost"),
        "{stderr}"
    );
    // After the failure the binary also logged the error at ERROR level.
    let logs = unit.calls_of("juju-log");
    assert_eq!(logs.len(), 1, "{}", explain(&out, &unit));
    assert!(logs[0].starts_with("juju-log [--log-level] [ERROR] [--] [update-status failed: "));
}

#[test]
fn missing_hook_tools_fail_the_hook_instead_of_crashing() {
    let unit = Unit::new();
    std::fs::remove_file(unit.dir.path().join("tools/is-leader")).unwrap();
    let out = unit.run(
        &unit.charm_dir().join("dispatch"),
        Some("hooks/update-status"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out, &unit));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot run `is-leader"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
