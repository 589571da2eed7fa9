//! Unit addresses: a loopback prefix per model, or a free `127.0.<k>.` block reserved by a
//! lock file so that models running at the same time never share ZooKeeper addresses.

use std::fs;

use crate::SimError;

/// True for `127.a.b.` (three octets of 127.0.0.0/8 and a trailing dot).
pub(super) fn is_loopback_prefix(p: &str) -> bool {
    let o: Vec<&str> = p.split('.').collect();
    o.len() == 4
        && o[0] == "127"
        && o[3].is_empty()
        && o[1..3].iter().all(|x| x.parse::<u8>().is_ok())
}

/// Takes the first free prefix `127.0.<k>.` (k = 1..254) by an exclusive lock on
/// `<tmp>/zk-sim-127.0.<k>.lock`, and returns it with the held lock.
pub(super) fn reserve_address_block() -> Result<(String, fs::File), SimError> {
    let tmp = std::env::temp_dir();
    for k in 1..=254u8 {
        let path = tmp.join(format!("zk-sim-127.0.{k}.lock"));
        let file = crate::state::open_lock(&path)?;
        if crate::state::flock(&file, &path, libc::LOCK_EX | libc::LOCK_NB)? {
            let prefix = format!("127.0.{k}.");
            if block_is_quiet(&prefix) {
                return Ok((prefix, file));
            }
            log::warn!(
                "skipping the address block {prefix}*: a process outside any model still \
                 listens there (a ZooKeeper server left by a killed run?)"
            );
        }
    }
    Err(SimError::Setup(
        "no free 127.0.<k>. address block (254 models in use?)".into(),
    ))
}

/// The ports a model's servers listen on (client, TLS client, admin, quorum, election).
const SERVER_PORTS: [u16; 5] = [2181, 2182, 8080, 2888, 3888];

/// The first unit addresses of a block (units are numbered from `.11`).
const CHECKED_UNITS: u8 = 8;

/// True when nothing listens on the server ports of the block's first unit addresses. The
/// lock file proves that no live model holds the block, but not that a server of a model
/// whose owner was killed (and whose lock died with it) is gone: a new model on the same
/// addresses would then meet a stranger with other passwords ("authentication failed").
fn block_is_quiet(prefix: &str) -> bool {
    (11..11 + CHECKED_UNITS).all(|host| {
        SERVER_PORTS.iter().all(|port| {
            let addr = format!("{prefix}{host}:{port}");
            std::net::TcpListener::bind(addr.as_str()).is_ok()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_prefixes_must_be_three_loopback_octets_and_a_dot() {
        for (prefix, ok) in [
            ("127.0.0.", true),
            ("127.0.3.", true),
            ("10.0.0.", false),
            ("127.0.0", false),
            ("127.0.300.", false),
        ] {
            assert_eq!(is_loopback_prefix(prefix), ok, "{prefix}");
        }
    }

    #[test]
    fn isolated_address_blocks_are_never_handed_out_twice_at_once() {
        let (a, _la) = reserve_address_block().unwrap();
        let (b, lb) = reserve_address_block().unwrap();
        assert_ne!(a, b);
        assert!(is_loopback_prefix(&a));
        drop(lb);
        let (c, _lc) = reserve_address_block().unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn a_block_where_a_stray_server_still_listens_is_skipped() {
        let (a, la) = reserve_address_block().unwrap();
        drop(la);
        // A server left behind by a killed run: its model's lock is gone, its port is not.
        let stray = std::net::TcpListener::bind(format!("{a}12:2888")).unwrap();
        let (b, _lb) = reserve_address_block().unwrap();
        assert_ne!(
            a, b,
            "the block with a listener on {a}12:2888 was handed out"
        );
        drop(stray);
    }
}
