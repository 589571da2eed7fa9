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
            return Ok((format!("127.0.{k}."), file));
        }
    }
    Err(SimError::Setup(
        "no free 127.0.<k>. address block (254 models in use?)".into(),
    ))
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
}
