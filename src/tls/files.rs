//! What ZooKeeper reads for TLS: two PEM files in its conf dir and the `zoo.cfg` keys that
//! point at them (reference §3.3 and §3.4).
//!
//! ZooKeeper 3.8 and 3.9 read PEM key and trust stores directly (`ssl.*.type=PEM`), so no
//! keytool and no store passwords are needed. `ssl.keyStore.password` stays unset: a
//! password would mean "the key is encrypted".
//!
//! Write both files atomically (a temporary file in the same directory, then rename), owned
//! by the workload user, mode 0600. The quorum reloads its stores when the files change
//! (`sslQuorumReloadCertFiles`); the client port does so only from 3.9
//! (`client.certReload`), so on 3.8 a new certificate is served on 2182 after a restart.
//!
//! **Debian's jars (the local workload).** The `Class-Path` of Debian's `zookeeper.jar`
//! lacks `netty-codec` and `netty-resolver`: the secure port then binds, but every TLS
//! connection dies with `ClassNotFoundException: io.netty.handler.codec.ByteToMessageDecoder`.
//! The local workload's classpath needs
//! `/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar` (harmless without
//! TLS). The snap ships the whole Apache distribution and is not affected.

use std::path::Path;

use super::key::{KeyError, PrivateKey, SecretBytes};
use super::relation::Bundle;

/// The key store: this unit's key and certificate chain.
pub const KEYSTORE_FILE: &str = "keystore.pem";
/// The trust store: the CA and the rest of the chain.
pub const TRUSTSTORE_FILE: &str = "truststore.pem";
/// The TLS client port (static config; the plaintext 2181 stays in `zoo.cfg`: reconfig
/// and the charm's own admin session need it).
pub const SECURE_CLIENT_PORT: u16 = 2182;
/// The server connection factory that can do TLS (the NIO one cannot).
pub const NETTY_FACTORY: &str = "org.apache.zookeeper.server.NettyServerCnxnFactory";
/// Protocols offered to clients (as the Python charm, #161).
pub const ENABLED_PROTOCOLS: &str = "TLSv1.3,TLSv1.2";

/// The content of [`KEYSTORE_FILE`]: the PKCS#8 key, then the leaf certificate, then the
/// rest of the bundle. ZooKeeper takes the key from anywhere in the file and the
/// certificates in file order; the first certificate must be the key's.
///
/// # Errors
/// When the key cannot be encoded (it can for any valid key).
pub fn keystore_pem(key: &PrivateKey, bundle: &Bundle) -> Result<SecretBytes, KeyError> {
    let mut out = key.to_pkcs8_pem()?;
    for cert in std::iter::once(bundle.leaf()).chain(bundle.rest()) {
        out.extend(cert.pem().as_bytes());
        out.extend(b"\n");
    }
    Ok(out)
}

/// The content of [`TRUSTSTORE_FILE`], and the subjects of the certificates left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truststore {
    pub pem: Vec<u8>,
    /// Subjects of bundle certificates dropped because an earlier one has the same subject.
    pub shadowed: Vec<String>,
}

/// The CA and the rest of the chain (every bundle item but the leaf, as the Python charm
/// trusts them all).
///
/// ZooKeeper's PEM trust store names each entry by its subject DN, so of two certificates
/// with the same subject only the last in the file would count (a CA rotation that reuses
/// the subject is the usual case). This writes one certificate per subject, the first in
/// bundle order (the provider's `ca` comes first), and reports the others in
/// [`Truststore::shadowed`] so the caller can log them.
pub fn truststore_pem(bundle: &Bundle) -> Truststore {
    let mut kept: Vec<&super::cert::Certificate> = Vec::new();
    let mut shadowed = Vec::new();
    for cert in bundle.rest() {
        if kept.iter().any(|k| k.same_subject(cert)) {
            shadowed.push(cert.subject().to_string());
        } else {
            kept.push(cert);
        }
    }
    let mut pem = Vec::new();
    for cert in kept {
        pem.extend_from_slice(cert.pem().as_bytes());
        pem.push(b'\n');
    }
    Truststore { pem, shadowed }
}

/// How a server's quorum port treats TLS: `portUnification` (accept TLS and plaintext) and
/// `sslQuorum` (connect to peers with TLS). The switch (see `switch`) moves every server
/// through these one restart at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuorumTls {
    /// Neither: plaintext only.
    Plaintext,
    /// `portUnification=true`: accepts both, connects in plaintext.
    Unified,
    /// `portUnification=true`, `sslQuorum=true`: accepts both, connects with TLS.
    UnifiedSsl,
    /// `sslQuorum=true`: TLS only.
    SslOnly,
}

impl QuorumTls {
    pub const ALL: [QuorumTls; 4] = [
        QuorumTls::Plaintext,
        QuorumTls::Unified,
        QuorumTls::UnifiedSsl,
        QuorumTls::SslOnly,
    ];

    pub fn from_flags(port_unification: bool, ssl_quorum: bool) -> QuorumTls {
        match (port_unification, ssl_quorum) {
            (false, false) => QuorumTls::Plaintext,
            (true, false) => QuorumTls::Unified,
            (true, true) => QuorumTls::UnifiedSsl,
            (false, true) => QuorumTls::SslOnly,
        }
    }

    pub fn port_unification(self) -> bool {
        matches!(self, QuorumTls::Unified | QuorumTls::UnifiedSsl)
    }

    pub fn ssl_quorum(self) -> bool {
        matches!(self, QuorumTls::UnifiedSsl | QuorumTls::SslOnly)
    }

    /// Whether a server in this mode accepts a quorum connection from one in `from`'s.
    pub fn accepts(self, from: QuorumTls) -> bool {
        self.port_unification() || self.ssl_quorum() == from.ssl_quorum()
    }
}

/// `sslQuorum` was asked for without the stores it needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sslQuorum needs this unit's certificate to be installed first")]
pub struct NoCertificateForQuorum;

/// The TLS lines of `zoo.cfg`, in order, for a server whose quorum port is in mode
/// `quorum`. With `certificate_installed` (both files written in `conf_dir`) the client
/// TLS keys are present (`secureClientPort` 2182 served) and the quorum stores are set;
/// without, there are no `ssl.*` keys and nothing about 2182.
///
/// `secure_client_address` binds 2182 to one address (`secureClientPortAddress`); `None`
/// binds every interface, as the Python charm. The local model, with several servers on
/// one machine, must give each server's own loopback address or the second server cannot
/// bind 2182.
///
/// `client.certReload` is read by 3.9 only; on 3.8 it becomes an unused
/// `zookeeper.client.certReload` system property (harmless). Keys false are left out.
///
/// # Errors
/// [`NoCertificateForQuorum`] for an `sslQuorum` mode without `certificate_installed`.
pub fn zoo_cfg_tls(
    quorum: QuorumTls,
    certificate_installed: bool,
    conf_dir: &Path,
    secure_client_address: Option<&str>,
) -> Result<Vec<(&'static str, String)>, NoCertificateForQuorum> {
    if quorum.ssl_quorum() && !certificate_installed {
        return Err(NoCertificateForQuorum);
    }
    let mut lines: Vec<(&'static str, String)> = Vec::new();
    if certificate_installed {
        let keystore = conf_dir.join(KEYSTORE_FILE).display().to_string();
        let truststore = conf_dir.join(TRUSTSTORE_FILE).display().to_string();
        lines.push(("secureClientPort", SECURE_CLIENT_PORT.to_string()));
        if let Some(address) = secure_client_address {
            lines.push(("secureClientPortAddress", address.to_string()));
        }
        lines.extend([
            ("serverCnxnFactory", NETTY_FACTORY.to_string()),
            ("ssl.keyStore.location", keystore.clone()),
            ("ssl.keyStore.type", "PEM".to_string()),
            ("ssl.trustStore.location", truststore.clone()),
            ("ssl.trustStore.type", "PEM".to_string()),
            ("ssl.clientAuth", "none".to_string()),
            ("ssl.enabledProtocols", ENABLED_PROTOCOLS.to_string()),
            ("client.certReload", "true".to_string()),
            ("ssl.quorum.keyStore.location", keystore),
            ("ssl.quorum.keyStore.type", "PEM".to_string()),
            ("ssl.quorum.trustStore.location", truststore),
            ("ssl.quorum.trustStore.type", "PEM".to_string()),
            // Required on loopback too: with the default (`need`) a server checks a peer's
            // certificate against the connection's source address.
            ("ssl.quorum.clientAuth", "none".to_string()),
            ("sslQuorumReloadCertFiles", "true".to_string()),
        ]);
    }
    if quorum.port_unification() {
        lines.push(("portUnification", "true".to_string()));
    }
    if quorum.ssl_quorum() {
        lines.push(("sslQuorum", "true".to_string()));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::key::tests::{openssl, shared_key};
    use crate::tls::relation::{Answer, ProviderBag};
    use crate::tls::testca::TestCa;
    use crate::tls::{Csr, CsrSubject};

    fn bundle(ca_field: &str, chain: &[&str], leaf_ca: &TestCa) -> Bundle {
        let csr = Csr::generate(
            shared_key(),
            &CsrSubject::new("10.0.0.1", ["10.0.0.1".parse().unwrap()], []).unwrap(),
        )
        .unwrap();
        let leaf = leaf_ca.sign_now(&csr, 5);
        let v = serde_json::json!([{
            "certificate_signing_request": csr.pem(),
            "certificate": leaf,
            "ca": ca_field,
            "chain": chain,
        }]);
        let Answer::Issued(i) = ProviderBag::parse(Some(&v.to_string())).answer_for(&csr) else {
            panic!()
        };
        i.bundle(shared_key()).unwrap()
    }

    fn labels(pem: &[u8]) -> Vec<String> {
        String::from_utf8(pem.to_vec())
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("-----BEGIN "))
            .map(|l| l.trim_end_matches('-').to_string())
            .collect()
    }

    #[test]
    fn the_keystore_holds_the_pkcs8_key_then_the_leaf_then_the_chain_and_openssl_verifies_it() {
        let root = TestCa::root("Root");
        let mid = root.intermediate("Intermediate", 3);
        let b = bundle(&mid.pem(), &[&root.pem(), &mid.pem()], &mid);
        let ks = keystore_pem(shared_key(), &b).unwrap();
        assert_eq!(
            labels(ks.as_bytes()),
            ["PRIVATE KEY", "CERTIFICATE", "CERTIFICATE", "CERTIFICATE"]
        );
        let text = ks.as_str().unwrap().to_string();
        assert!(!format!("{ks:?}").contains("PRIVATE"));
        let leaf_at = text.find(b.leaf().pem()).unwrap();
        let mid_at = text.find(&mid.pem()).unwrap();
        let root_at = text.find(&root.pem()).unwrap();
        assert!(leaf_at < mid_at && mid_at < root_at);

        let ts = truststore_pem(&b);
        assert_eq!(labels(&ts.pem), ["CERTIFICATE", "CERTIFICATE"]);
        assert!(ts.shadowed.is_empty());
        assert!(!String::from_utf8(ts.pem.clone())
            .unwrap()
            .contains(b.leaf().pem()));

        // openssl: the first certificate in the key store is the key's, and the chain
        // verifies against the trust store.
        let dir = tempfile::tempdir().unwrap();
        let ks_path = dir.path().join(KEYSTORE_FILE);
        let ts_path = dir.path().join(TRUSTSTORE_FILE);
        std::fs::write(&ks_path, ks.as_bytes()).unwrap();
        std::fs::write(&ts_path, &ts.pem).unwrap();
        let leaf_key = openssl(&["x509", "-noout", "-pubkey"], text.as_bytes());
        let key = openssl(&["pkey", "-pubout"], text.as_bytes());
        assert_eq!(leaf_key, key);
        let verified = openssl(
            &[
                "verify",
                "-CAfile",
                ts_path.to_str().unwrap(),
                "-untrusted",
                ks_path.to_str().unwrap(),
            ],
            b.leaf().pem().as_bytes(),
        );
        assert!(verified.contains("OK"), "{verified}");
    }

    #[test]
    fn the_truststore_keeps_one_certificate_per_subject_the_providers_ca_first() {
        let new_root = TestCa::root_with_key("Same Name", 2);
        let old_root = TestCa::root_with_key("Same Name", 4);
        let b = bundle(&new_root.pem(), &[&old_root.pem()], &new_root);
        assert_eq!(b.rest().len(), 2);
        let ts = truststore_pem(&b);
        assert_eq!(ts.pem, format!("{}\n", new_root.pem()).into_bytes());
        assert_eq!(ts.shadowed, ["CN=Same Name"]);
    }

    #[test]
    fn quorum_modes_accept_connections_as_zookeeper_does() {
        use QuorumTls::*;
        // (server, connecting peer) pairs that fail: a plaintext-only port gets TLS, or a
        // TLS-only port gets plaintext.
        for server in QuorumTls::ALL {
            for peer in QuorumTls::ALL {
                let refused = matches!(
                    (server, peer),
                    (Plaintext, UnifiedSsl | SslOnly) | (SslOnly, Plaintext | Unified)
                );
                assert_eq!(server.accepts(peer), !refused, "{server:?} <- {peer:?}");
            }
            assert_eq!(
                QuorumTls::from_flags(server.port_unification(), server.ssl_quorum()),
                server
            );
        }
    }

    #[test]
    fn zoo_cfg_gets_client_tls_keys_with_a_certificate_and_the_quorum_flags_of_its_mode() {
        let conf = Path::new("/var/snap/charmed-zookeeper/current/etc/zookeeper");
        let plain = zoo_cfg_tls(QuorumTls::Plaintext, false, conf, None).unwrap();
        assert!(plain.is_empty());
        let unified = zoo_cfg_tls(QuorumTls::Unified, false, conf, None).unwrap();
        assert_eq!(unified, [("portUnification", "true".to_string())]);
        assert_eq!(
            zoo_cfg_tls(QuorumTls::SslOnly, false, conf, None),
            Err(NoCertificateForQuorum)
        );
        assert_eq!(
            zoo_cfg_tls(QuorumTls::UnifiedSsl, false, conf, None),
            Err(NoCertificateForQuorum)
        );

        let full = zoo_cfg_tls(QuorumTls::UnifiedSsl, true, conf, None).unwrap();
        let text: String = full.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        let ks = "/var/snap/charmed-zookeeper/current/etc/zookeeper/keystore.pem";
        let ts = "/var/snap/charmed-zookeeper/current/etc/zookeeper/truststore.pem";
        for line in [
            "secureClientPort=2182".to_string(),
            format!("serverCnxnFactory={NETTY_FACTORY}"),
            format!("ssl.keyStore.location={ks}"),
            "ssl.keyStore.type=PEM".into(),
            format!("ssl.trustStore.location={ts}"),
            "ssl.trustStore.type=PEM".into(),
            format!("ssl.quorum.keyStore.location={ks}"),
            "ssl.quorum.keyStore.type=PEM".into(),
            format!("ssl.quorum.trustStore.location={ts}"),
            "ssl.quorum.trustStore.type=PEM".into(),
            "ssl.clientAuth=none".into(),
            "ssl.quorum.clientAuth=none".into(),
            "ssl.enabledProtocols=TLSv1.3,TLSv1.2".into(),
            "sslQuorumReloadCertFiles=true".into(),
            "client.certReload=true".into(),
            "portUnification=true".into(),
            "sslQuorum=true".into(),
        ] {
            assert!(
                text.contains(&format!("{line}\n")),
                "{line} missing from\n{text}"
            );
        }
        assert!(!text.contains("password"), "{text}");
        assert!(!text.contains("secureClientPortAddress"), "{text}");
        let ssl_only = zoo_cfg_tls(QuorumTls::SslOnly, true, conf, Some("10.1.2.3")).unwrap();
        assert_eq!(ssl_only.last().unwrap(), &("sslQuorum", "true".to_string()));
        assert_eq!(
            ssl_only[1],
            ("secureClientPortAddress", "10.1.2.3".to_string())
        );
        assert!(!ssl_only.iter().any(|(k, _)| *k == "portUnification"));
        let plain_with_cert = zoo_cfg_tls(QuorumTls::Plaintext, true, conf, None).unwrap();
        assert!(plain_with_cert
            .iter()
            .any(|(k, _)| *k == "secureClientPort"));
        assert!(!plain_with_cert
            .iter()
            .any(|(k, _)| *k == "sslQuorum" || *k == "portUnification"));
    }
}
