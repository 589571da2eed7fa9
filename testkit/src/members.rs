//! The live membership of a model's ensemble, read from outside the charm as the charm
//! reads it: `/zookeeper/config` in a session as `super` (the charm's servers answer the
//! 4-letter word `conf` to nobody), or, from servers still running an earlier revision's
//! files (no SASL, `conf` whitelisted), `conf`.
//!
//! [`MembershipReader`] keeps its session between reads, so that a watch sampling every
//! 100 ms does not open a session (and a runtime thread) each time.

use std::time::Duration;

use zk_sim::Model;
use zookeeper_charm::zk::admin::Admin;
use zookeeper_charm::zk::{four, EnsembleConfig};

use crate::model::super_password;

/// Reads the membership, keeping one `super` session open between reads.
#[derive(Default)]
pub struct MembershipReader {
    /// The session, and the password it authenticated with.
    session: Option<(String, Admin)>,
}

impl MembershipReader {
    pub fn new() -> MembershipReader {
        MembershipReader::default()
    }

    /// The membership as `hosts` (addresses of serving servers, the first preferred) see
    /// it, with `timeout` per call; `Err` says why no server gave it.
    pub fn read(
        &mut self,
        model: &Model,
        hosts: &[String],
        timeout: Duration,
    ) -> Result<EnsembleConfig, String> {
        let password = super_password(model);
        if let (Some((with, session)), Some(pw)) = (&mut self.session, &password) {
            if with == pw {
                if let Ok(config) = session.get_config() {
                    return Ok(config);
                }
            }
        }
        self.session = None;
        let mut why = Vec::new();
        if let Some(pw) = password {
            if !hosts.is_empty() {
                match Admin::connect(hosts, &pw, timeout).and_then(|mut a| {
                    let config = a.get_config()?;
                    Ok((a, config))
                }) {
                    Ok((admin, config)) => {
                        self.session = Some((pw, admin));
                        return Ok(config);
                    }
                    Err(e) => why.push(format!("as super: {e}")),
                }
            }
        } else {
            why.push("no super password in the model yet".to_string());
        }
        for host in hosts {
            match four::conf_within(host, timeout) {
                Ok(config) => return Ok(config),
                Err(e) => why.push(format!("conf: {e}")),
            }
        }
        Err(why.join("; "))
    }
}

/// The membership, read once (see [`MembershipReader::read`]).
pub fn live_config(
    model: &Model,
    hosts: &[String],
    timeout: Duration,
) -> Result<EnsembleConfig, String> {
    MembershipReader::new().read(model, hosts, timeout)
}
