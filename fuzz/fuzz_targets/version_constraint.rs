//! Version constraints and versions: the `upgrade_supported` constraint comes from the
//! `dependencies` model another revision of the charm stored in the upgrade relation, and
//! the versions from that model and the installed workload.
//!
//! Input: UTF-8 (lossy) text; the first line is a constraint, each further line a version.
//! Checked: nothing panics; a parsed version prints in a normal form that parses back to an
//! equal version and prints the same; ordering is antisymmetric; PEP 440-equal versions
//! (`3.8` and `3.8.0`) are allowed alike; `verify_requirement` agrees with
//! `Constraint::allows`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zookeeper_charm::deps::version::{verify_requirement, Constraint, Version};

/// Was a known bug, now fixed (kept as a switch): a release, pre, post or dev number equal to
/// `u64::MAX` overflows when a constraint computes its bound (`^18446744073709551615`,
/// `~=1.18446744073709551615`, `==1.0.dev18446744073709551615.*`, ...): a panic with
/// overflow checks, a wrapped (wrong) bound without. Inputs holding that number are
/// skipped so the fuzzer can look for other bugs; set this to `false` once the bound
/// computations are checked (the `overflow_*` seeds then reproduce it).
const SKIP_KNOWN_U64_MAX_OVERFLOW: bool = false;

fn holds_u64_max(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_digit())
        .any(|digits| digits.trim_start_matches('0') == u64::MAX.to_string())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if SKIP_KNOWN_U64_MAX_OVERFLOW && holds_u64_max(&text) {
        return;
    }
    let mut lines = text.split('\n');
    let constraint_text = lines.next().unwrap_or("");
    let version_texts: Vec<&str> = lines.take(8).collect();

    let constraint = Constraint::parse(constraint_text).ok();
    if let Some(c) = &constraint {
        assert_eq!(c.as_str(), constraint_text);
        let _ = c.expanded();
    }
    // The constraint line is also a version string.
    let _ = Version::parse(constraint_text);

    let mut versions = Vec::new();
    for v_text in &version_texts {
        let Ok(v) = Version::parse(v_text) else {
            if let Some(c) = &constraint {
                assert!(verify_requirement(v_text, c.as_str()).is_err());
            }
            continue;
        };
        let shown = v.to_string();
        let again = Version::parse(&shown).unwrap_or_else(|e| {
            panic!("{v_text:?} prints as {shown:?}, which does not parse: {e}")
        });
        assert_eq!(
            again, v,
            "{v_text:?} -> {shown:?} reads back as another version"
        );
        assert_eq!(again.to_string(), shown, "the printed form is normal");
        let _ = v.as_semver();

        if let Some(c) = &constraint {
            let allowed = c.allows(&v);
            assert_eq!(verify_requirement(v_text, c.as_str()), Ok(allowed));
            assert_eq!(c.allows(&again), allowed, "{c} on {v_text:?} vs {shown:?}");
        }
        versions.push(v);
    }

    for a in &versions {
        for b in &versions {
            assert_eq!(a.cmp(b), b.cmp(a).reverse(), "{a} vs {b}");
            if a == b {
                if let Some(c) = &constraint {
                    assert_eq!(c.allows(a), c.allows(b), "{c}: {a} == {b}");
                }
            }
        }
    }
});
