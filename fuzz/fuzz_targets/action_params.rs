//! What operators type: `juju config` values (`config-get --format=json`, an arbitrary JSON
//! object) and the `set-password` action's parameters (`action-get --format=json`).
//!
//! Input: bytes parsed as JSON; a non-object is skipped (Juju always gives an object), and
//! the raw text is also tried as a password. Checked: nothing panics; an accepted config is
//! inside the ranges of `config.yaml`, and a refused one names a real option; an accepted
//! password cannot break out of the quoted JAAS value it is written into.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use zookeeper_charm::actions::set_password::Params;
use zookeeper_charm::config::CharmConfig;
use zookeeper_charm::passwords::{acceptable, Passwords};
use zookeeper_charm::render::{Rendered, Sizing};
use zookeeper_charm::workload::Paths;

const OPTIONS: [&str; 4] = ["init-limit", "sync-limit", "tick-time", "log-level"];

fn check_password(password: &str) {
    if !acceptable(password) {
        return;
    }
    assert!(!password.is_empty() && password.len() <= 256);
    let paths = Paths::under(Path::new("/fuzz"));
    // As in the middle of a `sync` rotation: both quorum users accepted.
    let passwords = Passwords {
        super_password: password.to_string(),
        sync_login: ("sync".into(), password.to_string()),
        sync_accepted: vec![
            ("sync".into(), password.to_string()),
            ("sync2".into(), password.to_string()),
        ],
    };
    let r = Rendered::new(&CharmConfig::default(), &paths, 0, &passwords, &Sizing::default());
    let quoted = format!("password=\"{password}\";");
    assert!(r.client_jaas.contains(&quoted));
    // `username="super"` and `password="..."`: four quotes, one line each.
    assert_eq!(r.client_jaas.matches('"').count(), 4);
    assert_eq!(r.client_jaas.lines().count(), 5);
    // `user_sync="..."`, `user_sync2="..."`, `username="sync"`, `password="..."`.
    assert_eq!(r.jaas.matches('"').count(), 8);
    assert!(r.jaas.contains(&format!("user_sync2=\"{password}\"")));
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
        }
        Err(e) => {
            assert!(OPTIONS.contains(&e.option), "{e}");
            assert!(
                map.contains_key(e.option),
                "only a given option is refused: {e}"
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
