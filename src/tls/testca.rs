//! A certificate authority for unit tests: signs this module's CSRs the way a
//! tls-certificates provider would (tests only).

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use sha2::Sha256;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::{Decode, Encode};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, ExtensionReq};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use super::cert::Certificate;
use super::csr::Csr;
use super::key::tests::test_key;
use super::key::PrivateKey;

pub(crate) struct TestCa {
    key: &'static PrivateKey,
    name: Name,
    cert: Certificate,
}

fn validity(not_before: SystemTime, not_after: SystemTime) -> Validity {
    let t = |s: SystemTime| Time::try_from(s).expect("a representable time");
    Validity {
        not_before: t(not_before),
        not_after: t(not_after),
    }
}

fn signer(key: &PrivateKey) -> rsa::pkcs1v15::SigningKey<Sha256> {
    rsa::pkcs1v15::SigningKey::new(key.rsa().clone())
}

impl TestCa {
    /// A self-signed root valid from an hour ago for ten years, with test key 2.
    pub(crate) fn root(cn: &str) -> TestCa {
        TestCa::root_with_key(cn, 2)
    }

    pub(crate) fn root_with_key(cn: &str, key_index: usize) -> TestCa {
        let key = test_key(key_index);
        let name = Name::from_str(&format!("CN={cn}")).unwrap();
        let spki =
            x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(&key.public_key_der().unwrap())
                .unwrap();
        let now = SystemTime::now();
        let s = signer(key);
        let builder = CertificateBuilder::new(
            Profile::Root,
            SerialNumber::from(1u32),
            validity(
                now - Duration::from_secs(3600),
                now + Duration::from_secs(10 * 365 * 86400),
            ),
            name.clone(),
            spki,
            &s,
        )
        .unwrap();
        let der = builder
            .build::<rsa::pkcs1v15::Signature>()
            .unwrap()
            .to_der()
            .unwrap();
        TestCa {
            key,
            name,
            cert: Certificate::from_der(&der).unwrap(),
        }
    }

    /// An intermediate CA signed by this one, with test key `key_index`.
    pub(crate) fn intermediate(&self, cn: &str, key_index: usize) -> TestCa {
        let key = test_key(key_index);
        let name = Name::from_str(&format!("CN={cn}")).unwrap();
        let spki =
            x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(&key.public_key_der().unwrap())
                .unwrap();
        let now = SystemTime::now();
        let s = signer(self.key);
        let builder = CertificateBuilder::new(
            Profile::SubCA {
                issuer: self.name.clone(),
                path_len_constraint: Some(0),
            },
            SerialNumber::from(2u32),
            validity(
                now - Duration::from_secs(3600),
                now + Duration::from_secs(5 * 365 * 86400),
            ),
            name.clone(),
            spki,
            &s,
        )
        .unwrap();
        let der = builder
            .build::<rsa::pkcs1v15::Signature>()
            .unwrap()
            .to_der()
            .unwrap();
        TestCa {
            key,
            name,
            cert: Certificate::from_der(&der).unwrap(),
        }
    }

    /// Signs `csr` (its subject, key and requested extensions) as a leaf; returns PEM.
    pub(crate) fn sign(
        &self,
        csr: &Csr,
        not_before: SystemTime,
        not_after: SystemTime,
        serial: u32,
    ) -> String {
        let block = super::pem::blocks(csr.pem())[0].decode().unwrap();
        let req = CertReq::from_der(&block).unwrap();
        let s = signer(self.key);
        let mut builder = CertificateBuilder::new(
            Profile::Leaf {
                issuer: self.name.clone(),
                enable_key_agreement: false,
                enable_key_encipherment: true,
            },
            SerialNumber::from(serial),
            validity(not_before, not_after),
            req.info.subject.clone(),
            req.info.public_key.clone(),
            &s,
        )
        .unwrap();
        for attr in req.info.attributes.iter() {
            for value in attr.values.iter() {
                if let Ok(exts) = value.decode_as::<ExtensionReq>() {
                    for ext in exts.0 {
                        builder.add_extension(&RawExtension(ext)).unwrap();
                    }
                }
            }
        }
        let der = builder
            .build::<rsa::pkcs1v15::Signature>()
            .unwrap()
            .to_der()
            .unwrap();
        Certificate::from_der(&der).unwrap().pem().to_string()
    }

    /// Signs `csr` valid from an hour ago for 90 days.
    pub(crate) fn sign_now(&self, csr: &Csr, serial: u32) -> String {
        let now = SystemTime::now();
        self.sign(
            csr,
            now - Duration::from_secs(3600),
            now + Duration::from_secs(90 * 86400),
            serial,
        )
    }

    pub(crate) fn certificate(&self) -> Certificate {
        self.cert.clone()
    }

    pub(crate) fn pem(&self) -> String {
        self.cert.pem().to_string()
    }
}

/// A requested extension copied as it is.
struct RawExtension(x509_cert::ext::Extension);

impl x509_cert::der::oid::AssociatedOid for RawExtension {
    // Not used: `to_extension` below is overridden.
    const OID: x509_cert::der::oid::ObjectIdentifier =
        x509_cert::der::oid::ObjectIdentifier::new_unwrap("2.5.29.17");
}

impl x509_cert::der::Encode for RawExtension {
    fn encoded_len(&self) -> x509_cert::der::Result<x509_cert::der::Length> {
        self.0.extn_value.encoded_len()
    }

    fn encode(&self, writer: &mut impl x509_cert::der::Writer) -> x509_cert::der::Result<()> {
        writer.write(self.0.extn_value.as_bytes())
    }
}

impl x509_cert::ext::AsExtension for RawExtension {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        self.0.critical
    }

    fn to_extension(
        &self,
        _: &Name,
        _: &[x509_cert::ext::Extension],
    ) -> Result<x509_cert::ext::Extension, x509_cert::der::Error> {
        Ok(self.0.clone())
    }
}
