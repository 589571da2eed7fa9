//! Replies of ZooKeeper's four-letter words (`srvr`, `mntr`, `conf`) and the
//! `/zookeeper/config` text: whatever a server (or anything listening on its port) sends
//! back goes through these parsers. None of them may panic, and what they accept must hold
//! up: a parsed membership is consistent, and a member line the charm writes back reads as
//! the same member.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zookeeper_charm::zk::four::{
    parse_conf, parse_config, parse_mntr, parse_server_line, parse_srvr, NOT_SERVING,
};

/// Hosts the charm itself writes (addresses, host names): for those a member line must
/// survive a write and a read unchanged. Hosts with brackets, spaces, `=` or `;` can be
/// parsed from a reply but are never written by the charm.
fn plain_host(host: &str) -> bool {
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-'))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    if let Ok(srvr) = parse_srvr(text) {
        assert!(!text.contains(NOT_SERVING));
        assert!(!srvr.version.is_empty());
    }

    if let Ok(mntr) = parse_mntr(text) {
        assert!(!text.contains(NOT_SERVING));
        assert_eq!(
            mntr.raw.get("server_state"),
            Some(&mntr.server_state),
            "the typed state is the raw one"
        );
    }

    for config in [parse_conf(text), parse_config(text)].into_iter().flatten() {
        for (id, spec) in &config.members {
            assert_eq!(*id, spec.id, "members are keyed by their own id");
            assert!(!spec.host.is_empty());
        }
    }

    for line in text.lines() {
        if let Ok(spec) = parse_server_line(line) {
            assert!(!spec.host.is_empty());
            if plain_host(&spec.host) {
                let again = parse_server_line(&spec.line())
                    .unwrap_or_else(|e| panic!("{:?} does not read back: {e}", spec.line()));
                assert_eq!(
                    again, spec,
                    "a written member line reads back as the same member"
                );
            }
        }
    }
});
