//! The `certificates` relation (interface `tls-certificates`, the wire format shared by the
//! v3 and v4 libraries), requirer side, one certificate per unit (v4's APP mode is unused).
//!
//! | Bag | Key | Value (JSON in a string) |
//! |---|---|---|
//! | this unit's | [`REQUESTS_KEY`] | `[{"certificate_signing_request": <stripped PEM>, "ca": false}]`: one entry, replaced on renewal |
//! | provider app | [`CERTIFICATES_KEY`] | list of `{"certificate_signing_request", "certificate", "ca", "chain"?, "revoked"?, "recommended_expiry_notification_time"?}` |
//!
//! The provider's data is parsed leniently: other units' entries are ignored whatever they
//! hold; only a bag that is not a JSON list is [`ProviderBag::Invalid`], and only our own
//! entry's problems make our answer [`Answer::Unusable`].

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::cert::{Certificate, Fingerprint};
use super::csr::Csr;
use super::key::{KeyError, PrivateKey};

/// This unit's bag: the CSRs it asks to have signed.
pub const REQUESTS_KEY: &str = "certificate_signing_requests";
/// The provider's application bag: the certificates it issued.
pub const CERTIFICATES_KEY: &str = "certificates";

/// The value of [`REQUESTS_KEY`] asking for `csr` (and nothing else).
pub fn requests_value(csr: &Csr) -> String {
    serde_json::json!([{ "certificate_signing_request": csr.pem(), "ca": false }]).to_string()
}

/// [`REQUESTS_KEY`] as read back from this unit's bag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requests {
    /// No key (nothing requested yet).
    Absent,
    /// The CSRs that parse, in order, and how many entries did not.
    Csrs { csrs: Vec<Csr>, malformed: usize },
    /// Not a JSON list.
    Invalid,
}

impl Requests {
    pub fn parse(value: Option<&str>) -> Requests {
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
            return Requests::Absent;
        };
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(value) else {
            return Requests::Invalid;
        };
        let mut csrs = Vec::new();
        let mut malformed = 0;
        for item in &items {
            match item
                .get("certificate_signing_request")
                .and_then(Value::as_str)
                .map(Csr::from_pem)
            {
                Some(Ok(csr)) => csrs.push(csr),
                _ => malformed += 1,
            }
        }
        Requests::Csrs { csrs, malformed }
    }

    /// The published CSR that `key` signed, if any: the one to match provider entries with.
    pub fn for_key(&self, key: &PrivateKey) -> Option<&Csr> {
        let Requests::Csrs { csrs, .. } = self else {
            return None;
        };
        let ours = key.public_key_der().ok()?;
        csrs.iter().rev().find(|c| c.public_key_der() == ours)
    }
}

/// One entry of the provider's [`CERTIFICATES_KEY`] list, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEntry {
    csr: String,
    certificate: Option<String>,
    ca: Option<String>,
    chain: Vec<String>,
    revoked: bool,
    recommended_hours: Option<i64>,
    /// Why the entry cannot be used even though its CSR is readable.
    problem: Option<&'static str>,
}

impl ProviderEntry {
    /// `None` when the entry has no CSR text (nobody's entry, then).
    fn parse(item: &Value) -> Option<ProviderEntry> {
        let obj = item.as_object()?;
        let csr = obj
            .get("certificate_signing_request")?
            .as_str()?
            .to_string();
        let mut problem = None;
        let text = |key: &str, problem: &mut Option<&'static str>, what: &'static str| match obj
            .get(key)
        {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                problem.get_or_insert(what);
                None
            }
        };
        let certificate = text("certificate", &mut problem, "`certificate` is not a string");
        let ca = text("ca", &mut problem, "`ca` is not a string");
        let chain = match obj.get("chain") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let strings: Option<Vec<String>> = items
                    .iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect();
                strings.unwrap_or_else(|| {
                    problem.get_or_insert("`chain` is not a list of strings");
                    Vec::new()
                })
            }
            Some(_) => {
                problem.get_or_insert("`chain` is not a list");
                Vec::new()
            }
        };
        let revoked = match obj.get("revoked") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                problem.get_or_insert("`revoked` is not a boolean");
                false
            }
        };
        // Advice only: a value of the wrong type is ignored, not an error.
        let recommended_hours = obj
            .get("recommended_expiry_notification_time")
            .and_then(Value::as_i64);
        Some(ProviderEntry {
            csr,
            certificate,
            ca,
            chain,
            revoked,
            recommended_hours,
            problem,
        })
    }

    fn is_for(&self, csr: &Csr) -> bool {
        same_pem_text(&self.csr, csr.pem())
    }
}

/// PEM texts are compared without white space: the stripped text the libraries compare,
/// whatever line endings a provider re-wrapped it with.
fn same_pem_text(a: &str, b: &str) -> bool {
    let compact = |s: &str| {
        s.chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect::<String>()
    };
    compact(a) == compact(b)
}

/// The provider's application bag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderBag {
    /// No [`CERTIFICATES_KEY`] yet.
    Absent,
    /// The entries that carry a CSR, in order.
    Entries(Vec<ProviderEntry>),
    /// [`CERTIFICATES_KEY`] is not a JSON list.
    Invalid,
}

impl ProviderBag {
    pub fn parse(value: Option<&str>) -> ProviderBag {
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
            return ProviderBag::Absent;
        };
        match serde_json::from_str::<Value>(value) {
            Ok(Value::Array(items)) => {
                ProviderBag::Entries(items.iter().filter_map(ProviderEntry::parse).collect())
            }
            _ => ProviderBag::Invalid,
        }
    }

    /// What the provider answered to `csr` (the one this unit published).
    pub fn answer_for(&self, csr: &Csr) -> Answer {
        let ProviderBag::Entries(entries) = self else {
            return match self {
                ProviderBag::Invalid => Answer::Unusable(Unusable::InvalidBag),
                _ => Answer::NotYet,
            };
        };
        let ours: Vec<&ProviderEntry> = entries.iter().filter(|e| e.is_for(csr)).collect();
        // A revoked entry wins over another for the same CSR: its certificate must go.
        if ours.iter().any(|e| e.revoked) {
            return Answer::Revoked;
        }
        let Some(entry) = ours.first() else {
            return Answer::NotYet;
        };
        if let Some(problem) = entry.problem {
            return Answer::Unusable(Unusable::Entry(problem));
        }
        let Some(certificate) = &entry.certificate else {
            return Answer::Unusable(Unusable::Entry("no `certificate`"));
        };
        let leaf = match Certificate::from_pem(certificate) {
            Ok(c) => c,
            Err(_) => {
                return Answer::Unusable(Unusable::Entry("`certificate` is not one certificate"))
            }
        };
        let mut ca = Vec::new();
        if let Some(text) = entry.ca.as_deref().filter(|t| !t.trim().is_empty()) {
            match Certificate::all_from_pem(text) {
                Ok(c) => ca = c,
                Err(_) => return Answer::Unusable(Unusable::Entry("`ca` is not a certificate")),
            }
        }
        let mut chain = Vec::new();
        for item in entry.chain.iter().filter(|t| !t.trim().is_empty()) {
            match Certificate::all_from_pem(item) {
                Ok(c) => chain.extend(c),
                Err(_) => {
                    return Answer::Unusable(Unusable::Entry("a `chain` item is not a certificate"))
                }
            }
        }
        Answer::Issued(Box::new(Issued {
            leaf,
            ca,
            chain,
            recommended_hours: entry.recommended_hours,
        }))
    }
}

/// The provider's answer to this unit's CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// No entry for the CSR yet: wait. Keep any certificate already installed (after a
    /// renewal request the new CSR has no entry for a while).
    NotYet,
    /// The certificate was revoked: keep the installed files, and replace the CSR with a new
    /// one from the same key.
    Revoked,
    /// Our entry (or the whole bag) cannot be used; install nothing from it.
    Unusable(Unusable),
    /// A certificate (not yet checked against the key: see [`Issued::bundle`]).
    Issued(Box<Issued>),
}

/// Why the provider's answer cannot be used (for a status; quotes no certificate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("the certificates provider's data is not a JSON list")]
    InvalidBag,
    #[error("the certificates provider's entry for this unit is invalid: {0}")]
    Entry(&'static str),
}

/// A certificate issued for this unit's CSR, with the provider's CA and chain as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub leaf: Certificate,
    pub ca: Vec<Certificate>,
    pub chain: Vec<Certificate>,
    /// `recommended_expiry_notification_time`, in hours before expiry.
    pub recommended_hours: Option<i64>,
}

/// Why an issued certificate is not installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("the certificate's public key is not this unit's key")]
    KeyMismatch,
    #[error("the certificates provider sent no CA or chain with the certificate")]
    OnlyLeaf,
    #[error("no CA or chain certificate sent with the certificate is its issuer ({issuer})")]
    NoIssuer { issuer: String },
    #[error("the certificate's validity period is empty")]
    Validity,
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl Issued {
    /// The bundle to install for `key`: the leaf, then `ca`, then `chain`, each certificate
    /// once (first occurrence kept: chains come in any order and often repeat the CA or
    /// the leaf).
    ///
    /// # Errors
    /// The certificate is for another key; there is nothing but the leaf (peers and clients
    /// could not verify it); none of the others issued the leaf; or its validity is empty.
    pub fn bundle(&self, key: &PrivateKey) -> Result<Bundle, BundleError> {
        if self.leaf.public_key_der() != key.public_key_der()? {
            return Err(BundleError::KeyMismatch);
        }
        if self.leaf.not_after() <= self.leaf.not_before() {
            return Err(BundleError::Validity);
        }
        let mut all: Vec<Certificate> = vec![self.leaf.clone()];
        for c in self.ca.iter().chain(&self.chain) {
            if !all.iter().any(|seen| seen.der() == c.der()) {
                all.push(c.clone());
            }
        }
        let rest = all.split_off(1);
        if rest.is_empty() {
            return Err(BundleError::OnlyLeaf);
        }
        if !rest.iter().any(|c| self.leaf.issued_by(c)) {
            return Err(BundleError::NoIssuer {
                issuer: self.leaf.issuer().to_string(),
            });
        }
        Ok(Bundle {
            renew_at: renewal_instant(
                self.leaf.not_before(),
                self.leaf.not_after(),
                self.recommended_hours,
            ),
            leaf: self.leaf.clone(),
            rest,
        })
    }
}

/// What a unit installs: its certificate and the rest of the chain, de-duplicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    leaf: Certificate,
    rest: Vec<Certificate>,
    renew_at: SystemTime,
}

impl Bundle {
    /// The unit's certificate.
    pub fn leaf(&self) -> &Certificate {
        &self.leaf
    }

    /// The CA and the rest of the chain, in bundle order (`ca` first).
    pub fn rest(&self) -> &[Certificate] {
        &self.rest
    }

    /// When to ask for a new certificate (a new CSR from the same key).
    pub fn renew_at(&self) -> SystemTime {
        self.renew_at
    }

    /// Whether renewal is due at `now`.
    pub fn renewal_due(&self, now: SystemTime) -> bool {
        now >= self.renew_at
    }

    /// The fingerprint a unit publishes once this bundle is installed.
    pub fn fingerprint(&self) -> Fingerprint {
        self.leaf.fingerprint()
    }
}

/// When to renew a certificate valid from `not_before` to `not_after` (v3's
/// `calculate_expiry_notification_time` without the requirer's advice): the provider's
/// advice (`hours` before expiry, sign ignored) if that instant lies after `not_before`,
/// else two thirds into the validity period.
pub fn renewal_instant(
    not_before: SystemTime,
    not_after: SystemTime,
    provider_hours: Option<i64>,
) -> SystemTime {
    if let Some(hours) = provider_hours {
        let advice = Duration::from_secs(hours.unsigned_abs().saturating_mul(3600));
        if let Some(at) = not_after.checked_sub(advice) {
            if at > not_before {
                return at;
            }
        }
    }
    let period = not_after.duration_since(not_before).unwrap_or_default();
    not_after - period / 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::key::tests::{other_key, shared_key};
    use crate::tls::testca::TestCa;
    use crate::tls::CsrSubject;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn our_csr() -> Csr {
        let s = CsrSubject::new("10.0.0.1", ["10.0.0.1".parse().unwrap()], []).unwrap();
        Csr::generate(shared_key(), &s).unwrap()
    }

    fn entry(csr: &str, cert: &str, ca: &str, chain: &[&str]) -> Value {
        serde_json::json!({
            "certificate_signing_request": csr,
            "certificate": cert,
            "ca": ca,
            "chain": chain,
        })
    }

    fn bag(entries: &[Value]) -> ProviderBag {
        ProviderBag::parse(Some(&Value::Array(entries.to_vec()).to_string()))
    }

    fn subjects(b: &Bundle) -> Vec<String> {
        b.rest().iter().map(|c| c.subject().to_string()).collect()
    }

    #[test]
    fn our_request_is_one_entry_with_the_stripped_csr_and_ca_false_and_reads_back() {
        let csr = our_csr();
        let value = requests_value(&csr);
        let parsed: Value = serde_json::from_str(&value).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!([{ "certificate_signing_request": csr.pem(), "ca": false }])
        );
        assert!(!csr.pem().ends_with('\n'));
        let back = Requests::parse(Some(&value));
        assert_eq!(
            back,
            Requests::Csrs {
                csrs: vec![csr.clone()],
                malformed: 0
            }
        );
        assert_eq!(back.for_key(shared_key()), Some(&csr));
        assert_eq!(back.for_key(other_key()), None);
        assert_eq!(Requests::parse(None), Requests::Absent);
        assert_eq!(Requests::parse(Some("{}")), Requests::Invalid);
        assert_eq!(
            Requests::parse(Some(r#"[{"certificate_signing_request": "junk"}, 3]"#)),
            Requests::Csrs {
                csrs: vec![],
                malformed: 2
            }
        );
    }

    #[test]
    fn our_entry_is_found_by_its_csr_text_among_others_and_bad_others_do_not_matter() {
        let ca = TestCa::root("Root");
        let csr = our_csr();
        let other_csr =
            Csr::generate(other_key(), &CsrSubject::new("10.0.0.2", [], []).unwrap()).unwrap();
        let cert = ca.sign_now(&csr, 7);
        // The provider re-wrapped our CSR with CRLF and a final newline.
        let rewrapped = format!("{}\r\n", csr.pem().replace('\n', "\r\n"));
        let b = bag(&[
            serde_json::json!("not an object"),
            serde_json::json!({"certificate_signing_request": other_csr.pem(), "chain": 5}),
            entry(&rewrapped, &cert, &ca.pem(), &[&ca.pem()]),
        ]);
        let Answer::Issued(issued) = b.answer_for(&csr) else {
            panic!("{:?}", b.answer_for(&csr));
        };
        assert_eq!(issued.leaf.serial(), "07");
        // The other unit's broken entry is its own problem.
        assert_eq!(
            b.answer_for(&other_csr),
            Answer::Unusable(Unusable::Entry("`chain` is not a list"))
        );
        // A CSR nobody answered yet.
        let newer = our_csr();
        assert_eq!(b.answer_for(&newer), Answer::NotYet);
        assert_eq!(ProviderBag::parse(None).answer_for(&csr), Answer::NotYet);
        assert_eq!(
            ProviderBag::parse(Some("{\"a\":1}")).answer_for(&csr),
            Answer::Unusable(Unusable::InvalidBag)
        );
    }

    #[test]
    fn the_bundle_is_leaf_then_ca_then_chain_without_repeats_whatever_the_chain_order() {
        let root = TestCa::root("Root");
        let mid = root.intermediate("Intermediate", 3);
        let csr = our_csr();
        let leaf = mid.sign_now(&csr, 9);
        let (r, m) = (root.pem(), mid.pem());
        let orders: Vec<(&str, Vec<&str>)> = vec![
            // v3 examples: [ca, leaf]; leaf first; reversed; the leaf repeated.
            (&m, vec![&m, &leaf, &r]),
            (&m, vec![&leaf, &m, &r]),
            (&m, vec![&r, &m]),
            (&m, vec![&r, &leaf, &m, &r]),
        ];
        for (ca_field, chain) in orders {
            let b = bag(&[entry(csr.pem(), &leaf, ca_field, &chain)]);
            let Answer::Issued(issued) = b.answer_for(&csr) else {
                panic!()
            };
            let bundle = issued.bundle(shared_key()).unwrap();
            assert_eq!(bundle.leaf().serial(), "09");
            let got = subjects(&bundle);
            assert_eq!(got[0], "CN=Intermediate", "ca comes first: {got:?}");
            assert_eq!(got.len(), 2, "{got:?}");
            assert!(got.contains(&"CN=Root".to_string()));
        }
        // v4 without `chain`, and `chain` null.
        for v in [
            serde_json::json!({"certificate_signing_request": csr.pem(), "certificate": leaf, "ca": m}),
            serde_json::json!({"certificate_signing_request": csr.pem(), "certificate": leaf, "ca": m, "chain": null}),
        ] {
            let Answer::Issued(issued) = bag(&[v]).answer_for(&csr) else {
                panic!()
            };
            assert_eq!(
                subjects(&issued.bundle(shared_key()).unwrap()),
                ["CN=Intermediate"]
            );
        }
    }

    #[test]
    fn a_certificate_alone_or_for_another_key_or_from_an_unknown_issuer_is_refused() {
        let root = TestCa::root("Root");
        let csr = our_csr();
        let leaf = root.sign_now(&csr, 3);
        let issued = |ca: &str, chain: &[&str]| {
            let Answer::Issued(i) = bag(&[entry(csr.pem(), &leaf, ca, chain)]).answer_for(&csr)
            else {
                panic!()
            };
            i
        };
        assert_eq!(
            issued("", &[]).bundle(shared_key()).unwrap_err(),
            BundleError::OnlyLeaf
        );
        assert_eq!(
            issued(&leaf, &[&leaf]).bundle(shared_key()).unwrap_err(),
            BundleError::OnlyLeaf
        );
        assert_eq!(
            issued(&root.pem(), &[]).bundle(other_key()).unwrap_err(),
            BundleError::KeyMismatch
        );
        let stranger = TestCa::root_with_key("Stranger", 4);
        assert_eq!(
            issued(&stranger.pem(), &[])
                .bundle(shared_key())
                .unwrap_err(),
            BundleError::NoIssuer {
                issuer: "CN=Root".into()
            }
        );
        assert!(issued(&root.pem(), &[]).bundle(shared_key()).is_ok());
    }

    #[test]
    fn revoked_and_malformed_entries_are_told_apart_from_issued_ones() {
        let root = TestCa::root("Root");
        let csr = our_csr();
        let leaf = root.sign_now(&csr, 3);
        let mut revoked = entry(csr.pem(), &leaf, &root.pem(), &[]);
        revoked["revoked"] = Value::Bool(true);
        assert_eq!(bag(&[revoked.clone()]).answer_for(&csr), Answer::Revoked);
        let good = entry(csr.pem(), &leaf, &root.pem(), &[]);
        assert_eq!(bag(&[good, revoked]).answer_for(&csr), Answer::Revoked);

        let cases = [
            (
                serde_json::json!({"certificate_signing_request": csr.pem(), "ca": root.pem()}),
                "no `certificate`",
            ),
            (
                serde_json::json!({"certificate_signing_request": csr.pem(), "certificate": "x", "ca": root.pem()}),
                "`certificate` is not one certificate",
            ),
            (
                serde_json::json!({"certificate_signing_request": csr.pem(), "certificate": format!("{leaf}\n{leaf}"), "ca": root.pem()}),
                "`certificate` is not one certificate",
            ),
            (
                serde_json::json!({"certificate_signing_request": csr.pem(), "certificate": leaf, "ca": "junk"}),
                "`ca` is not a certificate",
            ),
            (
                serde_json::json!({"certificate_signing_request": csr.pem(), "certificate": leaf, "ca": root.pem(), "chain": ["junk"]}),
                "a `chain` item is not a certificate",
            ),
            (
                serde_json::json!({"certificate_signing_request": csr.pem(), "certificate": leaf, "ca": 1}),
                "`ca` is not a string",
            ),
            (
                serde_json::json!({"certificate_signing_request": csr.pem(), "certificate": leaf, "ca": root.pem(), "revoked": "yes"}),
                "`revoked` is not a boolean",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(
                bag(&[v]).answer_for(&csr),
                Answer::Unusable(Unusable::Entry(want)),
                "{want}"
            );
        }
    }

    #[test]
    fn renewal_follows_the_providers_advice_when_it_lies_in_the_validity_period() {
        let (start, end) = (at(1_000_000), at(1_000_000 + 90 * 86400));
        assert_eq!(
            renewal_instant(start, end, Some(24)),
            end - Duration::from_secs(86400)
        );
        // The sign is ignored, as v3 does.
        assert_eq!(
            renewal_instant(start, end, Some(-24)),
            end - Duration::from_secs(86400)
        );
        // Advice reaching before notBefore, or none: two thirds into the period.
        let two_thirds = end - Duration::from_secs(30 * 86400);
        assert_eq!(renewal_instant(start, end, Some(24 * 365)), two_thirds);
        assert_eq!(renewal_instant(start, end, Some(90 * 24)), two_thirds);
        assert_eq!(renewal_instant(start, end, None), two_thirds);
        assert_eq!(renewal_instant(start, end, Some(i64::MIN)), two_thirds);

        let root = TestCa::root("Root");
        let csr = our_csr();
        let leaf = root.sign(&csr, start, end, 1);
        let mut v = entry(csr.pem(), &leaf, &root.pem(), &[]);
        v["recommended_expiry_notification_time"] = serde_json::json!(48);
        let Answer::Issued(issued) = bag(&[v]).answer_for(&csr) else {
            panic!()
        };
        let b = issued.bundle(shared_key()).unwrap();
        assert_eq!(b.renew_at(), end - Duration::from_secs(2 * 86400));
        assert!(!b.renewal_due(b.renew_at() - Duration::from_secs(1)));
        assert!(b.renewal_due(b.renew_at()));
        assert_eq!(b.fingerprint(), b.leaf().fingerprint());
    }
}
