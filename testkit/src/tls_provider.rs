//! A `tls-certificates` provider on the local model: a scripted stub application the test
//! acts for, as the provider's leader would. It reads the CSRs the requirer's units publish
//! (`certificate_signing_requests` in each unit bag), signs them with a test CA made with the
//! `openssl` CLI, and writes the `certificates` list into its application bag in the wire
//! format of the tls-certificates libraries (v3/v4). It can sign only some units, re-sign a
//! unit's CSR with a new serial (a renewal by the provider), revoke, and order the chain as
//! different providers do.
//!
//! Signing is explicit (the test calls [`TlsProvider::sign`] between settles), so a test can
//! hold certificates back and see what the requirer does meanwhile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use zk_sim::{Model, StubSpec};
use zookeeper_charm::subprocess;

/// How a provider lists the chain next to `ca`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainOrder {
    /// `[ca]` (the v4 library's self-signed provider).
    Ca,
    /// `[ca, leaf]`.
    CaThenLeaf,
    /// `[leaf, ca]`.
    LeafFirst,
}

/// A test CA made with the `openssl` CLI in a temporary directory (its key never leaves
/// it): it signs CSRs as a certificates provider does, copying their extensions (SANs).
pub struct TestCa {
    dir: tempfile::TempDir,
    serial: u32,
}

impl TestCa {
    /// A new self-signed CA, valid for three days.
    pub fn new() -> TestCa {
        let dir = tempfile::Builder::new()
            .prefix("test-ca-")
            .tempdir()
            .expect("a temp dir");
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=zk-sim test CA",
                "-days",
                "3",
            ],
            None,
        );
        TestCa { dir, serial: 1000 }
    }

    /// The CA certificate (PEM file), for clients.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The CA certificate, PEM without the final newline (as providers send it).
    pub fn pem(&self) -> String {
        std::fs::read_to_string(self.ca_file())
            .expect("the CA file")
            .trim()
            .to_string()
    }

    /// Signs `csr` with a new serial; returns the certificate (PEM, trimmed).
    pub fn sign(&mut self, csr: &str) -> String {
        self.serial += 1;
        let dir = self.dir.path();
        std::fs::write(dir.join("req.pem"), csr).expect("write the CSR");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "req.pem",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &self.serial.to_string(),
                "-days",
                "2",
                "-copy_extensions",
                "copy",
                "-out",
                "leaf.pem",
            ],
            None,
        );
        std::fs::read_to_string(dir.join("leaf.pem"))
            .expect("the certificate")
            .trim()
            .to_string()
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// The provider application and its CA.
pub struct TlsProvider {
    pub app: String,
    ca: TestCa,
    pub chain: ChainOrder,
    /// The entries written, by CSR text (one per CSR a unit published).
    issued: BTreeMap<String, Value>,
}

/// Runs `openssl` in `dir`, panicking with its output when it fails.
pub fn openssl(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> String {
    let done = subprocess::run(
        Command::new("openssl").args(args).current_dir(dir),
        stdin,
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("openssl {args:?}: {e}"));
    let out = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(
        done.status.success(),
        "openssl {args:?}: {out}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    out
}

/// The CSRs in a unit's `certificate_signing_requests` value.
pub fn requested(bag: &BTreeMap<String, String>) -> Vec<String> {
    bag.get("certificate_signing_requests")
        .and_then(|v| serde_json::from_str::<Vec<Value>>(v).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            e["certificate_signing_request"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

impl TlsProvider {
    /// Deploys the stub `app` (one unit, `provides certificates: tls-certificates`) and
    /// makes its CA.
    pub fn deploy(model: &mut Model, app: &str) -> TlsProvider {
        let spec = StubSpec::new().provides("certificates", "tls-certificates");
        model
            .deploy_stub(app, &spec, 1)
            .unwrap_or_else(|e| panic!("deploy {app}: {}", zk_sim::Chain(&e)));
        // As a real provider does once its CA is ready (and so that "every unit active"
        // can hold in a model with this stub).
        model
            .exec_ok(
                &format!("{app}/0"),
                &["status-set", "active", "test CA ready"],
            )
            .unwrap_or_else(|e| panic!("status-set on {app}/0: {}", zk_sim::Chain(&e)));
        TlsProvider {
            app: app.to_string(),
            ca: TestCa::new(),
            chain: ChainOrder::Ca,
            issued: BTreeMap::new(),
        }
    }

    /// The CA certificate (PEM file), for clients.
    pub fn ca_file(&self) -> PathBuf {
        self.ca.ca_file()
    }

    /// The CSRs each unit of relation `rel` asks for now (the provider's own unit left out).
    pub fn requests(&self, model: &Model, rel: u32) -> BTreeMap<String, Vec<String>> {
        model
            .relation_unit_bags(rel)
            .expect("the relation's bags")
            .into_iter()
            .filter(|(unit, _)| !unit.starts_with(&format!("{}/", self.app)))
            .map(|(unit, bag)| (unit, requested(&bag)))
            .collect()
    }

    fn entry(&self, csr: &str, leaf: &str) -> Value {
        let ca = self.ca.pem();
        let chain = match self.chain {
            ChainOrder::Ca => vec![ca.clone()],
            ChainOrder::CaThenLeaf => vec![ca.clone(), leaf.to_string()],
            ChainOrder::LeafFirst => vec![leaf.to_string(), ca.clone()],
        };
        json!({
            "certificate_signing_request": csr,
            "certificate": leaf,
            "ca": ca,
            "chain": chain,
        })
    }

    /// Writes the `certificates` list as the provider's leader: the entries of the CSRs the
    /// units still ask for (a provider drops the others).
    fn publish(&mut self, model: &mut Model, rel: u32) {
        let wanted: Vec<String> = self.requests(model, rel).into_values().flatten().collect();
        self.issued.retain(|csr, _| wanted.contains(csr));
        let list = Value::Array(self.issued.values().cloned().collect()).to_string();
        model
            .set_relation_data(
                &format!("{}/0", self.app),
                rel,
                true,
                &[("certificates", &list)],
            )
            .unwrap_or_else(|e| panic!("write the certificates: {}", zk_sim::Chain(&e)));
    }

    /// Signs every CSR of the given units (every unit when `only` is `None`) that has no
    /// certificate yet, and publishes. Returns the units signed for.
    pub fn sign(&mut self, model: &mut Model, rel: u32, only: Option<&[&str]>) -> Vec<String> {
        let mut signed = Vec::new();
        for (unit, csrs) in self.requests(model, rel) {
            if only.is_some_and(|o| !o.contains(&unit.as_str())) {
                continue;
            }
            for csr in csrs {
                if !self.issued.contains_key(&csr) {
                    let leaf = self.ca.sign(&csr);
                    let entry = self.entry(&csr, &leaf);
                    self.issued.insert(csr, entry);
                    signed.push(unit.clone());
                }
            }
        }
        self.publish(model, rel);
        signed
    }

    /// Signs `unit`'s CSR again with a new serial (the provider renews), and publishes.
    /// Returns the new certificate.
    pub fn resign(&mut self, model: &mut Model, rel: u32, unit: &str) -> String {
        let csrs = self.requests(model, rel).remove(unit).unwrap_or_default();
        let csr = csrs
            .last()
            .expect("the unit asks for a certificate")
            .clone();
        let leaf = self.ca.sign(&csr);
        let entry = self.entry(&csr, &leaf);
        self.issued.insert(csr, entry);
        self.publish(model, rel);
        leaf
    }
}

/// `srvr` over TLS on `host:2182` with `openssl s_client`, verifying the server's
/// certificate against `ca` and its IP SAN against `host`. Returns whether the handshake
/// verified, and everything `s_client` printed (the server's answer included).
pub fn s_client_srvr(host: &str, ca: &Path) -> (bool, String) {
    let run = subprocess::run(
        Command::new("openssl").args([
            "s_client",
            "-connect",
            &format!("{host}:2182"),
            "-CAfile",
            &ca.display().to_string(),
            "-verify_ip",
            host,
            "-verify_return_error",
            "-ign_eof",
        ]),
        Some(b"srvr\n"),
        Duration::from_secs(15),
    );
    crate::host::outcome(run)
}

/// The first certificate `s_client` printed (the server's), as PEM.
pub fn served_certificate(s_client_output: &str) -> Option<String> {
    let start = s_client_output.find("-----BEGIN CERTIFICATE-----")?;
    let end_marker = "-----END CERTIFICATE-----";
    let end = s_client_output[start..].find(end_marker)? + start + end_marker.len();
    Some(s_client_output[start..end].to_string())
}
