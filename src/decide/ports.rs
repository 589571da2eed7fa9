//! The ports this unit opens with `open-port`, so that `juju expose` opens the firewall for
//! them: its client ports while its server serves clients, none otherwise (not installed,
//! not running, not serving, or the unit is leaving). ZooKeeper's quorum and election ports
//! are never opened: only the units talk on them, on the addresses Juju gave them.

use std::collections::BTreeSet;

use crate::snapshot::Snapshot;
use crate::zk::CLIENT_PORT;

/// The TCP ports clients reach this unit's server on: the plaintext client port. (TLS adds
/// its secure client port here, once the snapshot tells that TLS is on.)
pub fn client_ports(_s: &Snapshot) -> BTreeSet<u16> {
    BTreeSet::from([CLIENT_PORT])
}

/// The TCP ports this unit should have opened now.
pub fn wanted(s: &Snapshot) -> BTreeSet<u16> {
    let serving = s.workload.running && s.workload.health.as_ref().is_some_and(|h| h.serving);
    if serving && !s.event.dying {
        client_ports(s)
    } else {
        BTreeSet::new()
    }
}
