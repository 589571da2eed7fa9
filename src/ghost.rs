//! Ghost voters: voting members of ZooKeeper's live config that no unit stands behind.
//!
//! Every voter the charm adds is a unit's server, with server id = unit id + 1 and the
//! unit's published address. A voter that is not one of those (a unit removed while its
//! server kept its seat, or a server of an earlier deployment) still counts towards the
//! quorum: with one more voter than there are units, upgrading or restarting a real unit can
//! leave a minority of the voters serving. So `pre-upgrade-check`, `set-password` and the
//! restart lock all ask the one rule here, [`ghost_voters`], before they let a unit go down.
//!
//! Pure: it reads the live config and the members' addresses, nothing else.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::zk::{EnsembleConfig, Role};

/// A voter no unit stands behind, by its server id and the address the config gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ghost {
    pub server_id: u32,
    pub host: String,
    /// Why no unit stands behind it.
    pub why: Why,
}

/// Why a voter is a ghost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Its server id is no current unit's (unit id + 1).
    NoUnit,
    /// Its server id is unit `unit`'s, but that unit published another address (`address`:
    /// what it published, as shown).
    OtherAddress { unit: u32, address: String },
}

/// Where a member unit says its server is: the address it published and, after a refresh
/// from Charmed ZooKeeper (whose servers are named by FQDN in the config), its host names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    pub ip: Option<IpAddr>,
    /// Lower case, without a trailing dot.
    pub names: Vec<String>,
}

impl Published {
    /// Whether a config's `host` is this unit's; a host it cannot be told against (an IP
    /// address when the unit published none, a name when it published no name) is.
    fn is(&self, host: &str) -> bool {
        match host_ip(host) {
            Some(ip) => self.ip.is_none_or(|mine| mine == ip),
            None => {
                let name = host.trim_end_matches('.').to_ascii_lowercase();
                self.names.is_empty() || self.names.contains(&name)
            }
        }
    }

    fn shown(&self) -> String {
        let mut parts: Vec<String> = self.ip.iter().map(IpAddr::to_string).collect();
        parts.extend(self.names.iter().cloned());
        parts.join(", ")
    }
}

impl std::fmt::Display for Ghost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "voter server.{} at {} ", self.server_id, self.host)?;
        match &self.why {
            Why::NoUnit => write!(f, "has no unit behind it"),
            Why::OtherAddress { unit, address } => write!(
                f,
                "is not unit {unit}'s server (the unit's address is {address})"
            ),
        }
    }
}

impl Ghost {
    /// What the operator can do about it: the leader removes a voter whose unit left once
    /// the others keep a majority without it; any other needs removing by hand.
    pub fn remedy(&self) -> String {
        let by_hand = format!(
            "remove it as super (`reconfig -remove {}` in zkCli.sh, with the password from the get-super-password action)",
            self.server_id
        );
        match self.why {
            Why::NoUnit => format!(
                "the leader removes it once the other voters keep a serving majority without it; or {by_hand}"
            ),
            Why::OtherAddress { .. } => by_hand,
        }
    }
}

/// The address in a config's server line, as an IP address when it is one
/// (`[::1]` and `::1` alike).
fn host_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The voters of `config` that no member stands behind: `members` maps each current
/// member unit to where it says its server is (what it did not publish cannot disagree).
/// In server id order.
pub fn ghost_voters(config: &EnsembleConfig, members: &BTreeMap<u32, Published>) -> Vec<Ghost> {
    config
        .members
        .values()
        .filter(|spec| spec.role == Role::Participant)
        .filter_map(|spec| {
            let why = match spec
                .id
                .checked_sub(1)
                .and_then(|unit| Some((unit, members.get(&unit)?)))
            {
                None => Why::NoUnit,
                Some((_, published)) if published.is(&spec.host) => return None,
                Some((unit, published)) => Why::OtherAddress {
                    unit,
                    address: published.shown(),
                },
            };
            Some(Ghost {
                server_id: spec.id,
                host: spec.host.clone(),
                why,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::ServerSpec;

    fn config(lines: &[Line]) -> EnsembleConfig {
        EnsembleConfig {
            members: lines
                .iter()
                .map(|(id, host, role)| {
                    (
                        *id,
                        ServerSpec {
                            id: *id,
                            host: host.to_string(),
                            role: *role,
                        },
                    )
                })
                .collect(),
            version: 0x1_0000_0003,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const P: Role = Role::Participant;

    /// A config line: server id, host, role.
    type Line = (u32, &'static str, Role);
    type Members = BTreeMap<u32, Published>;

    fn at(ip_text: &str) -> Published {
        Published {
            ip: Some(ip(ip_text)),
            names: Vec::new(),
        }
    }

    fn named(ip_text: &str, names: &[&str]) -> Published {
        Published {
            ip: Some(ip(ip_text)),
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    #[test]
    fn each_voter_without_its_unit_at_its_address_is_a_ghost_and_nothing_else_is() {
        let three = BTreeMap::from([
            (0, at("127.0.0.11")),
            (1, at("127.0.0.12")),
            (2, at("127.0.0.13")),
        ]);
        let healthy = [
            (1, "127.0.0.11", P),
            (2, "127.0.0.12", P),
            (3, "127.0.0.13", P),
        ];
        let ghost = |server_id: u32, host: &str, why: Why| Ghost {
            server_id,
            host: host.into(),
            why,
        };
        // (what, config lines, members, the ghosts)
        let table: Vec<(&str, Vec<Line>, Members, Vec<Ghost>)> = vec![
            (
                "every voter is a member's",
                healthy.to_vec(),
                three.clone(),
                vec![],
            ),
            (
                "a voter of a unit that left",
                healthy.to_vec(),
                BTreeMap::from([(0, at("127.0.0.11")), (1, at("127.0.0.12"))]),
                vec![ghost(3, "127.0.0.13", Why::NoUnit)],
            ),
            (
                "a server no unit ever had",
                [healthy.as_slice(), &[(10, "127.0.0.99", P)]].concat(),
                three.clone(),
                vec![ghost(10, "127.0.0.99", Why::NoUnit)],
            ),
            (
                "a server of an earlier deployment in a member's seat",
                vec![
                    (1, "127.0.0.11", P),
                    (2, "127.0.0.99", P),
                    (3, "127.0.0.13", P),
                ],
                three.clone(),
                vec![ghost(
                    2,
                    "127.0.0.99",
                    Why::OtherAddress {
                        unit: 1,
                        address: "127.0.0.12".into(),
                    },
                )],
            ),
            (
                "a server id 0 is no unit's",
                [healthy.as_slice(), &[(0, "127.0.0.98", P)]].concat(),
                three.clone(),
                vec![ghost(0, "127.0.0.98", Why::NoUnit)],
            ),
            (
                "a host name where the member published none is taken at its word",
                vec![
                    (1, "127.0.0.11", P),
                    (2, "zk-1.example", P),
                    (3, "127.0.0.13", P),
                ],
                three.clone(),
                vec![],
            ),
            (
                "Charmed ZooKeeper's FQDNs, the members' own",
                vec![
                    (1, "juju-0.lxd", P),
                    (2, "JUJU-1.lxd.", P),
                    (3, "127.0.0.13", P),
                ],
                BTreeMap::from([
                    (0, named("127.0.0.11", &["juju-0", "juju-0.lxd"])),
                    (1, named("127.0.0.12", &["juju-1", "juju-1.lxd"])),
                    (2, at("127.0.0.13")),
                ]),
                vec![],
            ),
            (
                "another name in a member's seat",
                vec![(1, "juju-0.lxd", P), (2, "juju-7.lxd", P)],
                BTreeMap::from([
                    (0, named("127.0.0.11", &["juju-0.lxd"])),
                    (1, named("127.0.0.12", &["juju-1", "juju-1.lxd"])),
                ]),
                vec![ghost(
                    2,
                    "juju-7.lxd",
                    Why::OtherAddress {
                        unit: 1,
                        address: "127.0.0.12, juju-1, juju-1.lxd".into(),
                    },
                )],
            ),
            (
                "observers do not vote",
                [healthy.as_slice(), &[(10, "127.0.0.99", Role::Observer)]].concat(),
                three.clone(),
                vec![],
            ),
            (
                "a member that published no address yet is taken at its word",
                healthy.to_vec(),
                BTreeMap::from([
                    (0, at("127.0.0.11")),
                    (1, Published::default()),
                    (2, at("127.0.0.13")),
                ]),
                vec![],
            ),
            (
                "IPv6, bracketed or not",
                vec![(1, "[::1]", P), (2, "fd00::2", P)],
                BTreeMap::from([(0, at("::1")), (1, at("fd00:0::2"))]),
                vec![],
            ),
            (
                "two ghosts, in server id order",
                vec![
                    (1, "127.0.0.11", P),
                    (7, "127.0.0.97", P),
                    (5, "127.0.0.95", P),
                ],
                BTreeMap::from([(0, at("127.0.0.11"))]),
                vec![
                    ghost(5, "127.0.0.95", Why::NoUnit),
                    ghost(7, "127.0.0.97", Why::NoUnit),
                ],
            ),
        ];
        for (what, lines, members, expected) in table {
            assert_eq!(ghost_voters(&config(&lines), &members), expected, "{what}");
        }
    }

    #[test]
    fn a_ghost_is_named_by_server_id_and_address_with_what_to_do() {
        let left = Ghost {
            server_id: 10,
            host: "127.0.0.99".into(),
            why: Why::NoUnit,
        };
        assert_eq!(
            left.to_string(),
            "voter server.10 at 127.0.0.99 has no unit behind it"
        );
        assert!(left.remedy().contains("the leader removes it"));
        assert!(left.remedy().contains("reconfig -remove 10"));
        let squatter = Ghost {
            server_id: 2,
            host: "127.0.0.99".into(),
            why: Why::OtherAddress {
                unit: 1,
                address: "127.0.0.12".into(),
            },
        };
        assert_eq!(
            squatter.to_string(),
            "voter server.2 at 127.0.0.99 is not unit 1's server (the unit's address is 127.0.0.12)"
        );
        assert!(!squatter.remedy().contains("the leader removes it"));
    }
}
