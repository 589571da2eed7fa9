//! The certificate signing request a unit publishes in the `certificates` relation.
//!
//! Shaped like the tls-certificates v3 library's CSRs (the Python charm's): subject
//! `CN=<the unit's address>` plus an `x500UniqueIdentifier` holding a random UUID, each a
//! UTF8String in its own RDN (so that two requests for the same names differ), a
//! non-critical subjectAltName with an IP entry per given IP and a DNS entry per given
//! name, signed with SHA-256 and RSA (PKCS#1 v1.5). The PEM text is "stripped": 64-column
//! lines, LF endings, no final newline, as the libraries' `.strip()` leaves it.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use rand::TryRngCore;
use sha2::Sha256;
use x509_cert::builder::{Builder, RequestBuilder};
use x509_cert::der::asn1::{Ia5String, SetOfVec, Utf8StringRef};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Any, Decode, Encode, Tagged};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::name::{RdnSequence, RelativeDistinguishedName};
use x509_cert::request::{CertReq, ExtensionReq};

use super::key::PrivateKey;
use super::pem;

/// The longest common name X.509 allows (`ub-common-name`).
pub const MAX_COMMON_NAME: usize = 64;
const PEM_LABEL: &str = "CERTIFICATE REQUEST";
const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_UNIQUE_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.45");
const OID_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const OID_EXTENSION_REQ: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");

/// Why a CSR could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    #[error("the common name is empty")]
    EmptyCommonName,
    #[error("the common name `{0}` is longer than {MAX_COMMON_NAME} characters")]
    CommonNameTooLong(String),
    #[error("`{0}` is not a DNS name (ASCII letters, digits, `-`, `.` and `*` only)")]
    BadDnsName(String),
    #[error("the operating system could not provide random numbers")]
    Random,
    #[error("the CSR could not be signed or encoded")]
    Sign,
    #[error("not a PEM certificate signing request")]
    NotPem,
    #[error("the certificate signing request is malformed")]
    Malformed,
    #[error(transparent)]
    Key(#[from] super::key::KeyError),
}

/// The names a unit asks a certificate for. SANs are kept as sets: order does not matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrSubject {
    common_name: String,
    ips: BTreeSet<IpAddr>,
    dns_names: BTreeSet<String>,
}

impl CsrSubject {
    /// `common_name` is the unit's address (its IP, or its FQDN in DNS mode), at most
    /// [`MAX_COMMON_NAME`] characters. Every host the unit is reached by should be among the
    /// SANs (`ips`, `dns_names`) so that hostname checks pass; DNS names are compared
    /// without case.
    ///
    /// # Errors
    /// An empty or too long common name, or a DNS name with characters a DNS SAN cannot hold.
    pub fn new(
        common_name: &str,
        ips: impl IntoIterator<Item = IpAddr>,
        dns_names: impl IntoIterator<Item = String>,
    ) -> Result<CsrSubject, CsrError> {
        let common_name = common_name.trim();
        if common_name.is_empty() {
            return Err(CsrError::EmptyCommonName);
        }
        if common_name.chars().count() > MAX_COMMON_NAME {
            return Err(CsrError::CommonNameTooLong(common_name.to_string()));
        }
        let mut dns = BTreeSet::new();
        for name in dns_names {
            let ok = !name.is_empty()
                && name.len() <= 253
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'*'));
            if !ok {
                return Err(CsrError::BadDnsName(name));
            }
            dns.insert(name.to_ascii_lowercase());
        }
        Ok(CsrSubject {
            common_name: common_name.to_string(),
            ips: ips.into_iter().collect(),
            dns_names: dns,
        })
    }

    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    pub fn ips(&self) -> &BTreeSet<IpAddr> {
        &self.ips
    }

    pub fn dns_names(&self) -> &BTreeSet<String> {
        &self.dns_names
    }
}

/// A parsed certificate signing request and its stripped PEM text.
#[derive(Clone, PartialEq, Eq)]
pub struct Csr {
    pem: String,
    subject: CsrSubject,
    unique_id: Option<String>,
    public_key_der: Vec<u8>,
}

impl fmt::Debug for Csr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Csr")
            .field("subject", &self.subject)
            .field("unique_id", &self.unique_id)
            .finish_non_exhaustive()
    }
}

impl Csr {
    /// A new CSR for `subject`, signed with `key`, with a fresh random UUID.
    ///
    /// # Errors
    /// When random numbers are unavailable or signing fails.
    pub fn generate(key: &PrivateKey, subject: &CsrSubject) -> Result<Csr, CsrError> {
        let uuid = random_uuid()?;
        let name = RdnSequence(vec![
            utf8_rdn(OID_CN, &subject.common_name)?,
            utf8_rdn(OID_UNIQUE_ID, &uuid)?,
        ]);
        let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.rsa().clone());
        let mut builder = RequestBuilder::new(name, &signer).map_err(|_| CsrError::Sign)?;
        let mut sans: Vec<GeneralName> = subject.ips.iter().map(|ip| (*ip).into()).collect();
        for dns in &subject.dns_names {
            let name = Ia5String::new(dns).map_err(|_| CsrError::BadDnsName(dns.clone()))?;
            sans.push(GeneralName::DnsName(name));
        }
        if !sans.is_empty() {
            builder
                .add_extension(&SubjectAltName(sans))
                .map_err(|_| CsrError::Sign)?;
        }
        let req = builder
            .build::<rsa::pkcs1v15::Signature>()
            .map_err(|_| CsrError::Sign)?;
        let der = req.to_der().map_err(|_| CsrError::Sign)?;
        Csr::from_der(&der)
    }

    /// A CSR from PEM text (one `CERTIFICATE REQUEST` block; text around it is ignored).
    ///
    /// # Errors
    /// When there is no such block or it does not parse.
    pub fn from_pem(text: &str) -> Result<Csr, CsrError> {
        let der = pem::blocks(text)
            .into_iter()
            .find(|b| b.label == PEM_LABEL)
            .and_then(|b| b.decode())
            .ok_or(CsrError::NotPem)?;
        Csr::from_der(&der)
    }

    fn from_der(der: &[u8]) -> Result<Csr, CsrError> {
        let req = CertReq::from_der(der).map_err(|_| CsrError::Malformed)?;
        let mut common_name = None;
        let mut unique_id = None;
        for rdn in &req.info.subject.0 {
            for atv in rdn.0.iter() {
                if atv.oid == OID_CN {
                    common_name = Some(directory_string(&atv.value)?);
                } else if atv.oid == OID_UNIQUE_ID {
                    unique_id = Some(directory_string(&atv.value)?);
                }
            }
        }
        let mut ips = BTreeSet::new();
        let mut dns_names = BTreeSet::new();
        for attr in req.info.attributes.iter() {
            if attr.oid != OID_EXTENSION_REQ {
                continue;
            }
            for value in attr.values.iter() {
                let exts: ExtensionReq = value.decode_as().map_err(|_| CsrError::Malformed)?;
                for ext in exts.0.iter().filter(|e| e.extn_id == OID_SAN) {
                    let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
                        .map_err(|_| CsrError::Malformed)?;
                    for name in san.0 {
                        match name {
                            GeneralName::DnsName(d) => {
                                dns_names.insert(d.to_string().to_ascii_lowercase());
                            }
                            GeneralName::IpAddress(ip) => {
                                ips.insert(ip_from_bytes(ip.as_bytes())?);
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        let public_key_der = req
            .info
            .public_key
            .to_der()
            .map_err(|_| CsrError::Malformed)?;
        Ok(Csr {
            pem: pem::encode_stripped(PEM_LABEL, der),
            subject: CsrSubject {
                common_name: common_name.unwrap_or_default(),
                ips,
                dns_names,
            },
            unique_id,
            public_key_der,
        })
    }

    /// The stripped PEM text: what goes into the relation and what provider entries are
    /// matched against.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The names it asks for.
    pub fn subject(&self) -> &CsrSubject {
        &self.subject
    }

    /// The `x500UniqueIdentifier` of the subject, if any.
    pub fn unique_id(&self) -> Option<&str> {
        self.unique_id.as_deref()
    }

    /// The public key (DER `SubjectPublicKeyInfo`).
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    /// Whether this CSR asks for exactly `subject`'s names for `key`: if not (the unit's
    /// addresses changed, or a new key was set), a new CSR must replace it.
    pub fn requests(&self, subject: &CsrSubject, key: &PrivateKey) -> bool {
        self.subject == *subject && key.public_key_der().is_ok_and(|k| k == self.public_key_der)
    }
}

fn utf8_rdn(oid: ObjectIdentifier, value: &str) -> Result<RelativeDistinguishedName, CsrError> {
    let value = Any::encode_from(&Utf8StringRef::new(value).map_err(|_| CsrError::Sign)?)
        .map_err(|_| CsrError::Sign)?;
    let atv = x509_cert::attr::AttributeTypeAndValue { oid, value };
    let set = SetOfVec::try_from(vec![atv]).map_err(|_| CsrError::Sign)?;
    Ok(RelativeDistinguishedName(set))
}

/// A name attribute's text, whichever string type the other side chose.
fn directory_string(value: &Any) -> Result<String, CsrError> {
    let bytes = match value.tag() {
        x509_cert::der::Tag::BitString => {
            // x500UniqueIdentifier is a BIT STRING in X.520; skip the unused-bits octet.
            value.value().get(1..).ok_or(CsrError::Malformed)?
        }
        _ => value.value(),
    };
    String::from_utf8(bytes.to_vec()).map_err(|_| CsrError::Malformed)
}

pub(super) fn ip_from_bytes(bytes: &[u8]) -> Result<IpAddr, CsrError> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Ok(IpAddr::from(v4))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Ok(IpAddr::from(v6))
    } else {
        Err(CsrError::Malformed)
    }
}

/// A random (version 4) UUID in its usual text form.
fn random_uuid() -> Result<String, CsrError> {
    let mut b = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut b)
        .map_err(|_| CsrError::Random)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::key::tests::{openssl, other_key, shared_key};

    fn subject() -> CsrSubject {
        CsrSubject::new(
            "10.1.2.3",
            ["10.1.2.3".parse().unwrap(), "192.168.7.9".parse().unwrap()],
            ["zk-0.example.internal".to_string()],
        )
        .unwrap()
    }

    #[test]
    fn a_csr_names_the_unit_and_parses_back_with_its_public_key() {
        let key = shared_key();
        let csr = Csr::generate(key, &subject()).unwrap();
        assert!(csr
            .pem()
            .starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
        assert!(csr.pem().ends_with("\n-----END CERTIFICATE REQUEST-----"));
        assert_eq!(csr.pem(), csr.pem().trim());

        let back = Csr::from_pem(&format!("{}\n", csr.pem())).unwrap();
        assert_eq!(back, csr);
        assert_eq!(back.subject(), &subject());
        assert_eq!(back.public_key_der(), key.public_key_der().unwrap());
        assert!(back.requests(&subject(), key));
        assert!(!back.requests(&subject(), other_key()));
        let fewer = CsrSubject::new("10.1.2.3", ["10.1.2.3".parse().unwrap()], []).unwrap();
        assert!(!back.requests(&fewer, key));
        let uuid = back.unique_id().unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.as_bytes()[14], b'4', "{uuid}");
    }

    #[test]
    fn openssl_reads_the_csr_verifies_its_signature_and_sees_the_names() {
        let key = shared_key();
        let csr = Csr::generate(key, &subject()).unwrap();
        let text = openssl(&["req", "-noout", "-text", "-verify"], csr.pem().as_bytes());
        assert!(
            text.contains("Subject: CN = 10.1.2.3, x500UniqueIdentifier = "),
            "{text}"
        );
        assert!(text.contains("sha256WithRSAEncryption"), "{text}");
        assert!(
            text.contains("IP Address:10.1.2.3, IP Address:192.168.7.9, DNS:zk-0.example.internal"),
            "{text}"
        );
        assert!(!text.contains("critical"), "{text}");
        // The public key in the CSR is the key's.
        let from_csr = openssl(&["req", "-noout", "-pubkey"], csr.pem().as_bytes());
        let from_key = openssl(&["pkey", "-pubout"], key.to_pkcs8_pem().unwrap().as_bytes());
        assert_eq!(from_csr, from_key);
    }

    #[test]
    fn two_csrs_for_the_same_names_differ_by_their_unique_id() {
        let key = shared_key();
        let a = Csr::generate(key, &subject()).unwrap();
        let b = Csr::generate(key, &subject()).unwrap();
        assert_ne!(a.pem(), b.pem());
        assert_ne!(a.unique_id(), b.unique_id());
        assert!(a.requests(&subject(), key) && b.requests(&subject(), key));
    }

    #[test]
    fn an_ipv6_only_unit_gets_an_ipv6_san() {
        let key = shared_key();
        let s = CsrSubject::new("fd00::7", ["fd00::7".parse().unwrap()], []).unwrap();
        let csr = Csr::generate(key, &s).unwrap();
        let text = openssl(&["req", "-noout", "-text"], csr.pem().as_bytes());
        assert!(text.contains("IP Address:FD00:0:0:0:0:0:0:7"), "{text}");
        assert_eq!(Csr::from_pem(csr.pem()).unwrap().subject(), &s);
    }

    #[test]
    fn a_csr_made_by_the_python_library_shape_is_read() {
        // Made with openssl in the shape of the Python library's CSRs.
        let key_pem = key_file(shared_key());
        let text = openssl(
            &[
                "req",
                "-new",
                "-key",
                key_pem.path().to_str().unwrap(),
                "-subj",
                "/CN=zk-1.local/x500UniqueIdentifier=0b9b4d0e-8e0f-4a38-9a5c-0c7e2f5d1a11",
                "-addext",
                "subjectAltName=IP:10.9.9.9,DNS:zk-1.local",
            ],
            b"",
        );
        let csr = Csr::from_pem(&text).unwrap();
        assert_eq!(csr.subject().common_name(), "zk-1.local");
        assert_eq!(
            csr.unique_id(),
            Some("0b9b4d0e-8e0f-4a38-9a5c-0c7e2f5d1a11")
        );
        assert_eq!(csr.pem(), text.trim());
        let want = CsrSubject::new(
            "zk-1.local",
            ["10.9.9.9".parse().unwrap()],
            ["ZK-1.local".to_string()],
        )
        .unwrap();
        assert!(csr.requests(&want, shared_key()));
    }

    #[test]
    fn bad_names_and_bad_text_are_refused() {
        let long = "a".repeat(65);
        assert_eq!(
            CsrSubject::new(&long, [], []).unwrap_err(),
            CsrError::CommonNameTooLong(long.clone())
        );
        assert!(CsrSubject::new(&"a".repeat(64), [], []).is_ok());
        assert_eq!(
            CsrSubject::new(" ", [], []).unwrap_err(),
            CsrError::EmptyCommonName
        );
        assert_eq!(
            CsrSubject::new("x", [], ["bad name".to_string()]).unwrap_err(),
            CsrError::BadDnsName("bad name".into())
        );
        assert_eq!(Csr::from_pem("nothing").unwrap_err(), CsrError::NotPem);
        assert_eq!(
            Csr::from_pem(
                "-----BEGIN CERTIFICATE REQUEST-----\nAQID\n-----END CERTIFICATE REQUEST-----"
            )
            .unwrap_err(),
            CsrError::Malformed
        );
    }

    fn key_file(key: &PrivateKey) -> tempfile::NamedTempFile {
        use std::io::Write;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
        f
    }
}
