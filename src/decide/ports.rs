//! The ports this unit opens with `open-port`, so that `juju expose` opens the firewall for
//! them: its client ports while its server runs, none otherwise (not installed, not running,
//! or the unit is leaving). Whether the server serves at this moment does not count: it
//! stops serving for a moment at every election, and nothing wakes the unit when it serves
//! again, so a port closed then would stay closed until the next `update-status` (found on
//! the local model: a unit left with no port after its ZooKeeper leader's unit was removed).
//! ZooKeeper's quorum and election ports are never opened: only the units talk on them, on
//! the addresses Juju gave them.

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
    if s.workload.running && !s.event.dying {
        client_ports(s)
    } else {
        BTreeSet::new()
    }
}
