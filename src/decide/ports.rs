//! The ports this unit opens with `open-port`, so that `juju expose` opens the firewall for
//! them: its client ports while its server runs, none otherwise (not installed, not running,
//! or the unit is leaving). Whether the server serves at this moment does not count: it
//! stops serving for a moment at every election, and nothing wakes the unit when it serves
//! again, so a port closed then would stay closed until the next `update-status` (found on
//! the local model: a unit left with no port after its ZooKeeper leader's unit was removed).
//! ZooKeeper's quorum and election ports are never opened: only the units talk on them, on
//! the addresses Juju gave them.
//!
//! Under TLS the client ports follow what the server was started with: 2182 while it serves
//! TLS; 2181 until the ensemble runs TLS and this server serves 2182, then only with
//! `keep-plaintext-client-port` (the server keeps listening on 2181 for the charm's own
//! session and reconfigurations; the port is only declared closed to Juju).

use std::collections::BTreeSet;

use crate::render::TlsConfig;
use crate::snapshot::Snapshot;
use crate::tls::{AppTls, ClientTls};
use crate::zk::CLIENT_PORT;

/// The TCP ports clients reach this unit's server on, by what it was started with.
pub fn client_ports(s: &Snapshot) -> BTreeSet<u16> {
    let running = super::tls::last_started(s).unwrap_or(TlsConfig::PLAINTEXT_MODE);
    let app_tls = s
        .cluster
        .as_ref()
        .map_or(AppTls::PLAINTEXT, |c| c.app.tls_state());
    let keep_plain = s
        .config
        .as_ref()
        .is_ok_and(|c| c.keep_plaintext_client_port);
    let mut ports = BTreeSet::new();
    if running.client_tls {
        ports.insert(ClientTls::Enabled.port());
    }
    if !(app_tls == AppTls::TLS && running.client_tls) || keep_plain {
        ports.insert(CLIENT_PORT);
    }
    ports
}

/// The TCP ports this unit should have opened now.
pub fn wanted(s: &Snapshot) -> BTreeSet<u16> {
    if s.workload.running && !s.event.dying {
        client_ports(s)
    } else {
        BTreeSet::new()
    }
}
