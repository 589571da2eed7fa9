//! TLS for clients and for the quorum (issue 16), as pure code: the unit's key and CSR,
//! the `certificates` relation (tls-certificates interface v3/v4), the PEM files ZooKeeper
//! reads and their `zoo.cfg` keys, and the three-step switch between plaintext and TLS.
//!
//! Nothing here does I/O except key generation (the OS CSPRNG). The module depends on no
//! other module of the charm. Crates: `rsa` (key generation, PKCS#1/PKCS#8, signing),
//! `x509-cert` (CSR building, certificate parsing), `sha2`.
//!
//! # How a hook uses it
//!
//! Every unit, from its snapshot:
//! 1. Its key: stored PKCS#8 ([`PrivateKey::to_pkcs8_pem`], mode 0600 in the charm's state
//!    directory, or a unit secret), read with [`PrivateKey::from_pem`]; made with
//!    [`PrivateKey::generate`] when absent; replaced by `set-tls-private-key`'s
//!    `internal-key` through [`PrivateKey::from_action_value`] (whose error is the
//!    `action-fail` message). Keep the key when TLS is turned off: a later relation reuses it.
//! 2. Once the app bag says `tls=enabled` and the `certificates` relation exists: its CSR is
//!    the one in its own unit bag ([`Requests::parse`], [`Requests::for_key`]). Publish a new
//!    one ([`Csr::generate`], [`relation::requests_value`] under [`relation::REQUESTS_KEY`])
//!    when there is none, when [`Csr::requests`] is false for the wanted [`CsrSubject`]
//!    (addresses changed, new key), when the answer is [`Answer::Revoked`], or when the
//!    installed bundle's [`Bundle::renewal_due`] (check on `update-status`).
//! 3. The provider's answer: [`ProviderBag::parse`] of the provider app bag's
//!    [`relation::CERTIFICATES_KEY`], then [`ProviderBag::answer_for`] our CSR. On
//!    [`Answer::Issued`], [`Issued::bundle`] with our key; if it is not installed yet (its
//!    [`Bundle::fingerprint`] differs from the published one), write [`keystore_pem`] and
//!    [`truststore_pem`] to `<conf>/keystore.pem` and `<conf>/truststore.pem` (atomically,
//!    0600, owned by the workload user) and publish the fingerprint in the peer unit bag
//!    (the certificate report). Other answers install nothing and keep what is installed.
//! 4. [`unit_plan`] with the app state, whether the files exist, and what the server was
//!    started with; render `zoo.cfg` with [`zoo_cfg_tls`] for the planned mode (the local
//!    model passes each unit's address for `secureClientPortAddress`), restart under the
//!    restart lock when [`UnitPlan::needs_restart`] (on 3.8 also after new certificate files:
//!    2182 does not reload them; include the files in what decides a restart), delete the
//!    files when told, and in the hook that releases the lock write `unified` and `quorum`
//!    from [`UnitReport::after_restart`]. With [`UnitPlan::quorum`] `None`, do not start or
//!    restart (waiting for the certificate).
//!
//! The leader, besides: [`leader_step`] with whether the `certificates` relation exists and
//! every unit's [`UnitReport`] (`restarting` = holds the restart lock), writing the app
//! bag's `tls`, `switching-encryption` and `quorum` when told; and [`client_tls`] for each
//! client relation, publishing the port and `tls` together. Open port 2181 to clients
//! while any relation is told [`ClientTls::Disabled`].
pub mod cert;
pub mod csr;
pub mod files;
pub mod key;
mod pem;
pub mod relation;
pub mod switch;
#[cfg(test)]
pub(crate) mod testca;

pub use cert::{CertError, Certificate, Fingerprint};
pub use csr::{Csr, CsrError, CsrSubject};
pub use files::{keystore_pem, truststore_pem, zoo_cfg_tls, QuorumTls};
pub use key::{KeyError, PrivateKey, SecretBytes};
pub use relation::{Answer, Bundle, BundleError, Issued, ProviderBag, Requests};
pub use switch::{
    client_tls, leader_step, unit_plan, AppTls, ClientTls, LeaderStep, QuorumSetting, Running,
    UnitPlan, UnitReport, Waiting,
};
