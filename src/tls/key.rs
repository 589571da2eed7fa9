//! The unit's TLS private key: generated here (RSA 2048 from the operating system's CSPRNG)
//! or given by the operator through `set-tls-private-key` (`internal-key`).
//!
//! ZooKeeper's PEM loader reads only PKCS#8 (`BEGIN PRIVATE KEY`); a PKCS#1 key makes every
//! handshake fail with `algid parse error`. So a key is always written out as PKCS#8,
//! whatever form it came in.
//!
//! Nothing in this module prints key material: [`PrivateKey`] has a redacted `Debug` and no
//! `Display`, and [`KeyError`] never quotes the text it was given (a PEM label such as
//! `CERTIFICATE` is not key material and is named to help the operator).

use std::fmt;

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::der::pem::LineEnding;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use zeroize::Zeroizing;

use super::pem;

/// Size of generated keys, in bits (as the tls-certificates libraries).
pub const GENERATED_BITS: usize = 2048;
/// The smallest operator-given key accepted, in bits.
pub const MIN_BITS: usize = 2048;
/// The largest operator-given key accepted, in bits (bounds the cost of signing a CSR).
pub const MAX_BITS: usize = 8192;

/// Why a key could not be generated, read or written. No variant carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the operating system could not provide random numbers for a new key")]
    Random,
    #[error("the key is empty")]
    Empty,
    #[error("the key is neither PEM text nor base64 of PEM text")]
    NotPem,
    #[error("expected exactly one PEM block with a private key, found {found}")]
    BlockCount { found: usize },
    #[error("the key is encrypted; give it without a passphrase")]
    Encrypted,
    #[error("a PEM block labelled `{label}` is not a private key; give an `RSA PRIVATE KEY` (PKCS#1) or a `PRIVATE KEY` (PKCS#8)")]
    UnsupportedLabel { label: String },
    #[error("the PKCS#8 key is not an RSA key; only RSA keys are supported")]
    NotRsa,
    #[error("the {format} key is malformed")]
    Malformed { format: &'static str },
    #[error("an RSA key of {bits} bits is not accepted; use {MIN_BITS} to {MAX_BITS} bits")]
    Size { bits: usize },
    #[error("the key could not be encoded as PKCS#8")]
    Encode,
}

/// Secret bytes (a PEM private key, or a key store holding one): zeroed on drop, and
/// `Debug` shows only the length. Read them with [`SecretBytes::as_bytes`] to write a file.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub(super) fn new(bytes: Vec<u8>) -> SecretBytes {
        SecretBytes(Zeroizing::new(bytes))
    }

    pub(super) fn extend(&mut self, more: &[u8]) {
        self.0.extend_from_slice(more);
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as text (PEM is ASCII); `None` if they are not UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes, redacted)", self.0.len())
    }
}

/// An RSA private key. Its `Debug` shows the size only; the secret is zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey {
    inner: RsaPrivateKey,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(RSA {} bits, redacted)", self.bits())
    }
}

impl PrivateKey {
    /// A new RSA 2048 key from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`KeyError::Random`] when the operating system cannot provide random bytes.
    pub fn generate() -> Result<PrivateKey, KeyError> {
        let mut rng = rsa::rand_core::OsRng;
        let inner = RsaPrivateKey::new(&mut rng, GENERATED_BITS).map_err(|_| KeyError::Random)?;
        Ok(PrivateKey { inner })
    }

    /// The key from `set-tls-private-key`'s `internal-key`: PEM text if it contains a line
    /// like `-----BEGIN ...-----` (the Python charm's test), else base64 of PEM text.
    /// PKCS#1 (`RSA PRIVATE KEY`) and PKCS#8 (`PRIVATE KEY`) are accepted, unencrypted,
    /// RSA only, [`MIN_BITS`] to [`MAX_BITS`].
    ///
    /// # Errors
    /// A [`KeyError`] saying what is wrong, never quoting the value.
    pub fn from_action_value(value: &str) -> Result<PrivateKey, KeyError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(KeyError::Empty);
        }
        if pem::looks_like_pem(value) {
            return PrivateKey::from_pem(&Zeroizing::new(pem::unfold(value)));
        }
        let decoded = Zeroizing::new(pem::decode_base64_lenient(value).ok_or(KeyError::NotPem)?);
        let text = std::str::from_utf8(&decoded).map_err(|_| KeyError::NotPem)?;
        if !pem::looks_like_pem(text) {
            return Err(KeyError::NotPem);
        }
        PrivateKey::from_pem(&Zeroizing::new(pem::unfold(text)))
    }

    /// The key from PEM text holding exactly one private key block (PKCS#1 or PKCS#8).
    ///
    /// # Errors
    /// A [`KeyError`] saying what is wrong, never quoting the text.
    pub fn from_pem(text: &str) -> Result<PrivateKey, KeyError> {
        let blocks = pem::blocks(text);
        let [block] = blocks.as_slice() else {
            return Err(KeyError::BlockCount {
                found: blocks.len(),
            });
        };
        let inner = match block.label {
            "PRIVATE KEY" => {
                let der = Zeroizing::new(
                    block
                        .decode()
                        .ok_or(KeyError::Malformed { format: "PKCS#8" })?,
                );
                let info = rsa::pkcs8::PrivateKeyInfo::try_from(der.as_slice())
                    .map_err(|_| KeyError::Malformed { format: "PKCS#8" })?;
                if info.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
                    return Err(KeyError::NotRsa);
                }
                RsaPrivateKey::from_pkcs8_der(&der)
                    .map_err(|_| KeyError::Malformed { format: "PKCS#8" })?
            }
            "RSA PRIVATE KEY" => {
                if block.has_headers() {
                    // `Proc-Type: 4,ENCRYPTED` and `DEK-Info:` of OpenSSL's legacy format.
                    return Err(KeyError::Encrypted);
                }
                let der = Zeroizing::new(
                    block
                        .decode()
                        .ok_or(KeyError::Malformed { format: "PKCS#1" })?,
                );
                RsaPrivateKey::from_pkcs1_der(&der)
                    .map_err(|_| KeyError::Malformed { format: "PKCS#1" })?
            }
            "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
            other => {
                return Err(KeyError::UnsupportedLabel {
                    label: other.to_string(),
                })
            }
        };
        let format = if block.label == "PRIVATE KEY" {
            "PKCS#8"
        } else {
            "PKCS#1"
        };
        inner
            .validate()
            .map_err(|_| KeyError::Malformed { format })?;
        let key = PrivateKey { inner };
        let bits = key.bits();
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(KeyError::Size { bits });
        }
        Ok(key)
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.inner.size() * 8
    }

    /// The key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), LF line endings, ending in a
    /// newline: the form ZooKeeper reads, and the form to store (read it back with
    /// [`PrivateKey::from_pem`]).
    ///
    /// # Errors
    /// [`KeyError::Encode`] if encoding fails (it does not for a valid key).
    pub fn to_pkcs8_pem(&self) -> Result<SecretBytes, KeyError> {
        let pem = self
            .inner
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyError::Encode)?;
        Ok(SecretBytes::new(pem.as_bytes().to_vec()))
    }

    /// The public key as DER `SubjectPublicKeyInfo`, to compare with the key in a CSR or a
    /// certificate.
    ///
    /// # Errors
    /// [`KeyError::Encode`] if encoding fails (it does not for a valid key).
    pub fn public_key_der(&self) -> Result<Vec<u8>, KeyError> {
        self.inner
            .to_public_key()
            .to_public_key_der()
            .map(|d| d.into_vec())
            .map_err(|_| KeyError::Encode)
    }

    pub(super) fn rsa(&self) -> &RsaPrivateKey {
        &self.inner
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::Engine as _;
    use std::sync::OnceLock;
    use std::time::Instant;

    /// Generated keys shared by the tests of the `tls` module (generation takes a while):
    /// `test_key(0)` is the unit's key in most tests, the others are other units' or CAs'.
    pub(crate) fn test_key(i: usize) -> &'static PrivateKey {
        static KEYS: [OnceLock<PrivateKey>; 5] = [const { OnceLock::new() }; 5];
        KEYS[i].get_or_init(|| PrivateKey::generate().expect("generate a key"))
    }

    pub(crate) fn shared_key() -> &'static PrivateKey {
        test_key(0)
    }

    pub(crate) fn other_key() -> &'static PrivateKey {
        test_key(1)
    }

    fn pkcs1_pem(key: &PrivateKey) -> String {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        key.rsa().to_pkcs1_pem(LineEnding::LF).unwrap().to_string()
    }

    /// Every base64 line of a PEM text, to check that an error or a debug string quotes
    /// none of them.
    fn body_lines(pem: &str) -> Vec<String> {
        pem.lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_generated_key_is_rsa_2048_and_writes_as_pkcs8_pem() {
        let start = Instant::now();
        let key = PrivateKey::generate().unwrap();
        eprintln!("one RSA 2048 key generation took {:?}", start.elapsed());
        assert_eq!(key.bits(), 2048);
        let secret = key.to_pkcs8_pem().unwrap();
        let pem = secret.as_str().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
        assert_eq!(PrivateKey::from_pem(pem).unwrap(), key);
        assert_ne!(&key, other_key());
    }

    #[test]
    fn a_pkcs1_key_is_accepted_and_handed_out_as_pkcs8() {
        let key = shared_key();
        let pkcs1 = pkcs1_pem(key);
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let read = PrivateKey::from_action_value(&pkcs1).unwrap();
        assert_eq!(&read, key);
        let out = read.to_pkcs8_pem().unwrap();
        assert!(out
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----\n"));
        // openssl agrees that the output is an unencrypted PKCS#8 RSA key.
        let text = openssl(&["pkey", "-noout", "-text"], out.as_bytes());
        assert!(text.contains("Private-Key: (2048 bit"), "{text}");
    }

    #[test]
    fn a_pkcs8_key_is_accepted_as_pem_or_as_base64_of_pem_with_surrounding_space() {
        let key = shared_key();
        let pkcs8 = key.to_pkcs8_pem().unwrap().as_str().unwrap().to_string();
        assert_eq!(&PrivateKey::from_action_value(&pkcs8).unwrap(), key);
        let crlf = pkcs8.replace('\n', "\r\n");
        assert_eq!(&PrivateKey::from_action_value(&crlf).unwrap(), key);
        let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_bytes());
        assert_eq!(
            &PrivateKey::from_action_value(&format!("  {b64}\n")).unwrap(),
            key
        );
        // base64 wrapped over lines, as `base64` prints it.
        let wrapped: String = b64
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(&PrivateKey::from_action_value(&wrapped).unwrap(), key);
        let b64_pkcs1 = base64::engine::general_purpose::STANDARD.encode(pkcs1_pem(key));
        assert_eq!(&PrivateKey::from_action_value(&b64_pkcs1).unwrap(), key);
    }

    #[test]
    fn a_key_whose_line_breaks_juju_run_folded_into_spaces_is_accepted() {
        // `juju run u set-tls-private-key internal-key="$(cat key.pem)"`: the value is read
        // as YAML, and a multi-line plain scalar folds into one line.
        let key = shared_key();
        let pkcs8 = key.to_pkcs8_pem().unwrap().as_str().unwrap().to_string();
        for pem in [pkcs8.clone(), pkcs1_pem(key)] {
            let folded = pem.trim().replace('\n', " ");
            assert_eq!(&PrivateKey::from_action_value(&folded).unwrap(), key);
        }
        // A folded key with a corrupt body: the error quotes none of it.
        let folded = pkcs8.trim().replace('\n', " ").replacen("MII", "@@@", 1);
        let err = PrivateKey::from_action_value(&folded)
            .unwrap_err()
            .to_string();
        for line in body_lines(&pkcs8) {
            assert!(!err.contains(&line[..16]), "{err}");
        }
        assert!(err.len() < 120, "{err}");
    }

    #[test]
    fn garbage_and_other_pem_blocks_are_refused_with_errors_that_quote_nothing() {
        let key = shared_key();
        let pkcs8 = key.to_pkcs8_pem().unwrap().as_str().unwrap().to_string();
        let secret_lines = body_lines(&pkcs8);

        // One byte changed in the middle of the base64 body.
        let mut corrupt = pkcs8.clone().into_bytes();
        let mid = corrupt.len() / 2;
        corrupt[mid] = if corrupt[mid] == b'A' { b'B' } else { b'A' };
        let corrupt = String::from_utf8(corrupt).unwrap();
        // The body truncated to half.
        let lines: Vec<&str> = pkcs8.lines().collect();
        let truncated = format!(
            "{}\n{}\n{}\n",
            lines[0],
            lines[1..lines.len() / 2].join("\n"),
            lines[lines.len() - 1]
        );
        let two = format!("{pkcs8}{pkcs8}");
        let cert_label = pkcs8.replace("PRIVATE KEY", "CERTIFICATE");
        let ec_label = pkcs8.replace("PRIVATE KEY", "EC PRIVATE KEY");
        let encrypted8 = pkcs8.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY");
        let pkcs1 = pkcs1_pem(key);
        let encrypted1 = pkcs1.replacen(
            "-----\n",
            "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n",
            1,
        );
        let b64_of_garbage = base64::engine::general_purpose::STANDARD.encode("hello world");

        let cases: Vec<(&str, &str, KeyError)> = vec![
            ("empty", "  \n", KeyError::Empty),
            ("plain words", "not a key at all", KeyError::NotPem),
            ("base64 of non-PEM", &b64_of_garbage, KeyError::NotPem),
            (
                "corrupt body",
                &corrupt,
                KeyError::Malformed { format: "PKCS#8" },
            ),
            (
                "truncated body",
                &truncated,
                KeyError::Malformed { format: "PKCS#8" },
            ),
            ("two keys", &two, KeyError::BlockCount { found: 2 }),
            (
                "certificate label",
                &cert_label,
                KeyError::UnsupportedLabel {
                    label: "CERTIFICATE".into(),
                },
            ),
            (
                "EC label",
                &ec_label,
                KeyError::UnsupportedLabel {
                    label: "EC PRIVATE KEY".into(),
                },
            ),
            ("encrypted PKCS#8", &encrypted8, KeyError::Encrypted),
            ("encrypted PKCS#1", &encrypted1, KeyError::Encrypted),
        ];
        for (what, input, want) in cases {
            let err = PrivateKey::from_action_value(input).unwrap_err();
            assert_eq!(err, want, "{what}");
            let shown = format!("{err} {err:?}");
            for line in &secret_lines {
                assert!(!shown.contains(line.as_str()), "{what}: {shown}");
            }
        }
    }

    #[test]
    fn non_rsa_and_small_keys_are_refused() {
        let ec = openssl(
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ],
            b"",
        );
        assert_eq!(
            PrivateKey::from_action_value(&ec).unwrap_err(),
            KeyError::NotRsa
        );
        let small = openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:1024",
            ],
            b"",
        );
        assert_eq!(
            PrivateKey::from_action_value(&small).unwrap_err(),
            KeyError::Size { bits: 1024 }
        );
        let encrypted = openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-aes-128-cbc",
                "-pass",
                "pass:test-only",
            ],
            b"",
        );
        assert!(encrypted.contains("BEGIN ENCRYPTED PRIVATE KEY"));
        assert_eq!(
            PrivateKey::from_action_value(&encrypted).unwrap_err(),
            KeyError::Encrypted
        );
        // A key made by openssl is read like our own.
        let theirs = openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:3072",
            ],
            b"",
        );
        assert_eq!(PrivateKey::from_action_value(&theirs).unwrap().bits(), 3072);
    }

    #[test]
    fn the_debug_form_of_a_key_shows_no_key_material() {
        let key = shared_key();
        let pem = key.to_pkcs8_pem().unwrap();
        let shown = format!("{key:?} {:?} {pem:?}", Some(key.clone()));
        assert!(shown.contains("RSA 2048 bits, redacted"), "{shown}");
        assert!(shown.contains("bytes, redacted"), "{shown}");
        for line in body_lines(pem.as_str().unwrap()) {
            assert!(!shown.contains(line.as_str()));
        }
    }

    /// Runs `openssl <args>` with `input` on stdin (tests only), returning stdout.
    pub(crate) fn openssl(args: &[&str], input: &[u8]) -> String {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("openssl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl is installed (apt-get install -y openssl)");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}
