//! TLS for clients and for the quorum (issue 16), as pure code: the unit's key and CSR,
//! the `certificates` relation (tls-certificates interface v3/v4), the PEM files ZooKeeper
//! reads and their `zoo.cfg` keys, and the three-step switch between plaintext and TLS.
//!
//! Nothing here does I/O except key generation (the OS CSPRNG). The module depends on no
//! other module of the charm.

pub mod cert;
pub mod csr;
pub mod files;
pub mod key;
mod pem;
pub mod relation;
pub mod switch;
#[cfg(test)]
mod testca;

pub use cert::{CertError, Certificate, Fingerprint};
pub use csr::{Csr, CsrError, CsrSubject};
pub use files::{keystore_pem, truststore_pem, zoo_cfg_tls, QuorumTls};
pub use key::{KeyError, PrivateKey};
pub use relation::{Answer, Bundle, BundleError, Issued, ProviderBag, Requests};
pub use switch::{
    client_tls, leader_step, unit_plan, AppTls, ClientTls, LeaderStep, QuorumSetting, Running,
    UnitPlan, UnitReport, Waiting,
};
