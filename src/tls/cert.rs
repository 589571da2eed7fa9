//! X.509 certificates from the provider: parsed once, keeping what the charm needs (validity,
//! serial, subject, issuer, public key) and the SHA-256 fingerprint a unit publishes as "my
//! installed certificate" (not secret).

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use x509_cert::der::{Decode, Encode};

use super::pem;

const PEM_LABEL: &str = "CERTIFICATE";

/// Why certificate text could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("no PEM certificate found")]
    NotPem,
    #[error("expected one certificate, found {0}")]
    Count(usize),
    #[error("a certificate is malformed")]
    Malformed,
}

/// One parsed certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    pem: String,
    not_before: SystemTime,
    not_after: SystemTime,
    serial: String,
    subject: String,
    subject_der: Vec<u8>,
    issuer: String,
    issuer_der: Vec<u8>,
    public_key_der: Vec<u8>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// Exactly one certificate from PEM text (text around the block is ignored).
    ///
    /// # Errors
    /// No certificate, more than one, or one that does not parse.
    pub fn from_pem(text: &str) -> Result<Certificate, CertError> {
        let mut all = Certificate::all_from_pem(text)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            n => Err(CertError::Count(n)),
        }
    }

    /// Every certificate in PEM text, in order (a `ca` or `chain` item may hold several).
    ///
    /// # Errors
    /// No certificate at all, or one that does not parse.
    pub fn all_from_pem(text: &str) -> Result<Vec<Certificate>, CertError> {
        let blocks: Vec<_> = pem::blocks(text)
            .into_iter()
            .filter(|b| b.label == PEM_LABEL)
            .collect();
        if blocks.is_empty() {
            return Err(CertError::NotPem);
        }
        blocks
            .iter()
            .map(|b| Certificate::from_der(&b.decode().ok_or(CertError::Malformed)?))
            .collect()
    }

    /// A certificate from DER.
    ///
    /// # Errors
    /// When it does not parse.
    pub fn from_der(der: &[u8]) -> Result<Certificate, CertError> {
        let cert = x509_cert::Certificate::from_der(der).map_err(|_| CertError::Malformed)?;
        let tbs = &cert.tbs_certificate;
        Ok(Certificate {
            der: der.to_vec(),
            pem: pem::encode_stripped(PEM_LABEL, der),
            not_before: tbs.validity.not_before.to_system_time(),
            not_after: tbs.validity.not_after.to_system_time(),
            serial: hex(tbs.serial_number.as_bytes()),
            subject: tbs.subject.to_string(),
            subject_der: enc(&tbs.subject)?,
            issuer: tbs.issuer.to_string(),
            issuer_der: enc(&tbs.issuer)?,
            public_key_der: enc(&tbs.subject_public_key_info)?,
        })
    }

    /// DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM text, 64-column lines, LF endings, no final newline.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The serial number in lower-case hex, as DER encodes it.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The subject as an RFC 4514 string.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Whether `other`'s subject is this certificate's issuer (compared as DER).
    pub fn issued_by(&self, other: &Certificate) -> bool {
        self.issuer_der == other.subject_der
    }

    /// Whether both certificates have the same subject (compared as DER).
    pub fn same_subject(&self, other: &Certificate) -> bool {
        self.subject_der == other.subject_der
    }

    /// The public key (DER `SubjectPublicKeyInfo`).
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    /// SHA-256 of the DER.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint(hex(&Sha256::digest(&self.der)))
    }
}

/// The SHA-256 fingerprint of a certificate's DER, as 64 lower-case hex digits. A unit
/// publishes the one of its installed certificate; it is not secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A published fingerprint that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 fingerprint (64 hex digits)")]
pub struct BadFingerprint;

impl FromStr for Fingerprint {
    type Err = BadFingerprint;

    /// Accepts upper or lower case and `:` separators (as `openssl x509 -fingerprint`
    /// prints); keeps lower case without separators.
    fn from_str(s: &str) -> Result<Fingerprint, BadFingerprint> {
        let compact: String = s.trim().chars().filter(|c| *c != ':').collect();
        if compact.len() == 64 && compact.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(Fingerprint(compact.to_ascii_lowercase()))
        } else {
            Err(BadFingerprint)
        }
    }
}

fn enc(value: &impl Encode) -> Result<Vec<u8>, CertError> {
    value.to_der().map_err(|_| CertError::Malformed)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::key::tests::{openssl, shared_key};
    use crate::tls::testca::TestCa;
    use crate::tls::{Csr, CsrSubject};
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_signed_certificate_shows_its_validity_serial_names_key_and_fingerprint() {
        let ca = TestCa::root("Test Root CA");
        let subject = CsrSubject::new("10.1.2.3", ["10.1.2.3".parse().unwrap()], []).unwrap();
        let csr = Csr::generate(shared_key(), &subject).unwrap();
        let pem = ca.sign(&csr, at(1_800_000_000), at(1_800_086_400), 0x1234_5678);
        let cert = Certificate::from_pem(&pem).unwrap();
        assert_eq!(cert.not_before(), at(1_800_000_000));
        assert_eq!(cert.not_after(), at(1_800_086_400));
        assert_eq!(cert.serial(), "12345678");
        let uid = csr.unique_id().unwrap();
        assert_eq!(
            cert.subject(),
            format!("X500UNIQUEIDENTIFIER={uid},CN=10.1.2.3")
        );
        assert_eq!(cert.issuer(), "CN=Test Root CA");
        assert!(cert.issued_by(&ca.certificate()));
        assert!(!ca.certificate().issued_by(&cert));
        assert_eq!(
            cert.public_key_der(),
            shared_key().public_key_der().unwrap()
        );
        assert_eq!(cert.pem(), pem.trim());

        // The fingerprint is openssl's SHA-256 fingerprint.
        let shown = openssl(
            &["x509", "-noout", "-fingerprint", "-sha256"],
            pem.as_bytes(),
        );
        let theirs: Fingerprint = shown.trim().rsplit('=').next().unwrap().parse().unwrap();
        assert_eq!(cert.fingerprint(), theirs);
        assert_eq!(cert.fingerprint().as_str().len(), 64);
        assert_eq!(
            cert.fingerprint()
                .to_string()
                .parse::<Fingerprint>()
                .unwrap(),
            cert.fingerprint()
        );
    }

    #[test]
    fn several_certificates_are_read_in_order_and_one_is_required_where_one_is_expected() {
        let root = TestCa::root("Root A");
        let other = TestCa::root("Root B");
        let two = format!("{}\n{}\n", root.pem(), other.pem());
        let all = Certificate::all_from_pem(&two).unwrap();
        assert_eq!(
            all.iter().map(Certificate::subject).collect::<Vec<_>>(),
            ["CN=Root A", "CN=Root B"]
        );
        assert_eq!(
            Certificate::from_pem(&two).unwrap_err(),
            CertError::Count(2)
        );
        assert_eq!(Certificate::from_pem("x").unwrap_err(), CertError::NotPem);
        let broken = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";
        assert_eq!(
            Certificate::from_pem(broken).unwrap_err(),
            CertError::Malformed
        );
    }

    #[test]
    fn fingerprints_must_be_64_hex_digits() {
        assert!("ab".parse::<Fingerprint>().is_err());
        assert!("g".repeat(64).parse::<Fingerprint>().is_err());
        assert_eq!(
            "AB".repeat(32).parse::<Fingerprint>().unwrap().as_str(),
            "ab".repeat(32)
        );
    }
}
