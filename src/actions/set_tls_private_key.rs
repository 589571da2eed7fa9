//! `set-tls-private-key` (any unit): replaces this unit's TLS private key with the one given
//! (`internal-key`: PEM, or base64 of PEM; PKCS#1 or PKCS#8), or with a new one. The
//! reconcile that follows asks the `certificates` provider for a certificate for the new key
//! (a new CSR in this unit's bag); the certificate installed now stays in use until the
//! provider answers. Without a `certificates` relation the key is kept for when one comes.
//!
//! The key never appears in a result, a log line, an error or the `Debug` of the params;
//! an invalid one fails the action saying what is wrong with it, and nothing changes.

use std::fmt;

use serde::Deserialize;

use super::ActionOutcome;
use crate::tls::PrivateKey;

/// The action's parameters (`actions.yaml`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Params {
    /// The key as given; a new key when absent or empty.
    #[serde(default)]
    pub internal_key: Option<String>,
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Params")
            .field(
                "internal_key",
                &self.internal_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The key to store (or to generate), then a reconcile. No results.
pub fn run(params: &Params) -> ActionOutcome {
    let mut outcome = ActionOutcome {
        then_reconcile: true,
        ..ActionOutcome::default()
    };
    match params
        .internal_key
        .as_deref()
        .filter(|v| !v.trim().is_empty())
    {
        Some(value) => match PrivateKey::from_action_value(value) {
            Ok(key) => outcome.plan.tls.store_key = Some(key),
            Err(e) => {
                return ActionOutcome::fail(format!(
                    "the internal-key is refused: {e}; nothing was changed"
                ))
            }
        },
        None => outcome.plan.tls.generate_key = true,
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::key::tests::shared_key;

    fn params(v: serde_json::Value) -> Params {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_given_key_is_stored_and_never_shown() {
        let pem = shared_key().to_pkcs8_pem().unwrap();
        let text = pem.as_str().unwrap().to_string();
        let p = params(serde_json::json!({ "internal-key": text }));
        assert!(!format!("{p:?}").contains("PRIVATE"));
        let out = run(&p);
        assert_eq!(out.result, Ok(Default::default()));
        assert_eq!(out.plan.tls.store_key.as_ref(), Some(shared_key()));
        assert!(out.then_reconcile);
    }

    #[test]
    fn without_a_key_one_is_generated() {
        let out = run(&params(serde_json::json!({})));
        assert!(out.plan.tls.generate_key);
        assert!(out.plan.tls.store_key.is_none());
        let out = run(&params(serde_json::json!({ "internal-key": "  " })));
        assert!(out.plan.tls.generate_key);
    }

    #[test]
    fn an_invalid_key_fails_the_action_without_quoting_it_and_changes_nothing() {
        let out = run(&params(
            serde_json::json!({ "internal-key": "c2VjcmV0LW5vdC1hLWtleQ==" }),
        ));
        let message = out.result.unwrap_err();
        assert!(
            message.starts_with("the internal-key is refused"),
            "{message}"
        );
        assert!(!message.contains("c2VjcmV0"), "{message}");
        assert!(out.plan.is_idle());
        assert!(!out.then_reconcile);
    }
}
