//! What operators type: `juju config` values (`config-get --format=json`, an arbitrary JSON
//! object) and the `set-password` action's parameters (`action-get --format=json`).
//!
//! Input: bytes parsed as JSON; a non-object is skipped (Juju always gives an object), and
//! the raw text is also tried as a password. Checked: nothing panics; an accepted config is
//! inside the ranges of `config.yaml` and its options agree with each other, and a refused
//! one names an option of `config.yaml` that was given (itself, or the one it conflicts
//! with); a password the rule (`passwords::Password::new`) accepts changes nothing in the
//! JAAS file but its own quoted values, and appears nowhere else in the rendered files.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use zookeeper_charm::actions::set_password::Params;
use zookeeper_charm::config::{CharmConfig, MAX_HEAP_SIZE_MIB, MIN_HEAP_SIZE_MIB};
use zookeeper_charm::passwords::{Password, Passwords, MAX_LENGTH, MIN_LENGTH};
use zookeeper_charm::render::{Rendered, Sizing};
use zookeeper_charm::workload::Paths;

/// The options of `config.yaml` (two-space indented keys under `options:`), so that a new
/// option is known here without editing this file.
fn options() -> Vec<&'static str> {
    include_str!("../../config.yaml")
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
        .filter(|k| !k.starts_with(' '))
        .collect()
}

/// A password that appears nowhere else in the rendered files: the reference rendering.
const REFERENCE: &str = "REFERENCEpw";

/// Every user with `password`, as in the middle of a `sync` rotation (both quorum users
/// accepted) with one client relation's user.
fn passwords(password: &Password) -> Passwords {
    Passwords {
        super_password: password.clone(),
        sync_login: ("sync".into(), password.clone()),
        sync_accepted: vec![
            ("sync".into(), password.clone()),
            ("sync2".into(), password.clone()),
        ],
        clients: vec![("relation-7".into(), password.clone())],
    }
}

fn render(password: &Password) -> Rendered {
    Rendered::new(
        &CharmConfig::default(),
        &Paths::under(Path::new("/fuzz")),
        0,
        &passwords(password),
        &Sizing::default(),
    )
}

fn check_password(password: &str) {
    let Ok(p) = Password::new(password) else {
        return;
    };
    assert!((MIN_LENGTH..=MAX_LENGTH).contains(&password.chars().count()));
    assert_eq!(p.as_str(), password);
    assert_eq!(format!("{p:?}"), "Password(<redacted>)");
    let reference = render(&Password::new(REFERENCE).expect("a valid password"));
    let r = render(&p);
    // `user_sync`, `user_sync2`, `password` (QuorumLearner), `user_super`, `user_relation-7`:
    // the password stays inside each quoted value and changes nothing else.
    assert_eq!(reference.jaas.matches(REFERENCE).count(), 5);
    assert_eq!(
        r.jaas,
        reference.jaas.replace(REFERENCE, password),
        "an accepted password stays inside its quoted JAAS values"
    );
    assert_eq!(r.zoo_cfg_static, reference.zoo_cfg_static);
    assert_eq!(r.jvm_flags, reference.jvm_flags);
    assert_eq!(r.myid, reference.myid);
}

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    check_password(&raw);

    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(data) else {
        return;
    };

    match CharmConfig::from_juju(&map) {
        Ok(c) => {
            assert!((1..=1000).contains(&c.init_limit));
            assert!((1..=1000).contains(&c.sync_limit));
            assert!((1..=60_000).contains(&c.tick_time));
            assert!((1..=3_600_000).contains(&c.min_session_timeout));
            assert!((1..=3_600_000).contains(&c.max_session_timeout));
            assert!((3..=1000).contains(&c.snap_retain_count));
            assert!(c.purge_interval_hours <= 8760);
            assert!((1..=99).contains(&c.disk_purge_threshold));
            assert!((1..=99).contains(&c.disk_blocked_threshold));
            if let Some(heap) = c.heap_size_mib {
                assert!((MIN_HEAP_SIZE_MIB..=MAX_HEAP_SIZE_MIB).contains(&heap));
            }
            // The options that are valid alone but not together.
            assert!(c.sync_limit <= c.init_limit);
            assert!(c.min_session_timeout <= c.max_session_timeout);
            assert!(c.max_session_timeout >= 2 * c.tick_time);
            assert!(c.disk_purge_threshold < c.disk_blocked_threshold);
        }
        Err(e) => {
            assert!(options().contains(&e.option), "{e}");
            let named = |k: &str| e.option == k || e.allowed.contains(&format!("`{k}`"));
            assert!(
                map.keys().any(|k| named(k)),
                "only a given option is refused, or one it conflicts with: {e}"
            );
        }
    }

    // set-password: the parameters as the action deserialises them.
    if let Ok(params) = serde_json::from_value::<Params>(Value::Object(map.clone())) {
        assert!(map.contains_key("username") || params.username == "super");
        if let Some(p) = &params.password {
            check_password(p);
        }
    }
});
