//! The client ports a unit opens.

use std::collections::BTreeSet;

use super::*;

type Ports = Option<BTreeSet<u16>>;

fn ports(ids: &[u16]) -> Ports {
    Some(ids.iter().copied().collect())
}

#[test]
fn the_client_port_is_open_exactly_while_the_server_runs_and_the_unit_stays() {
    let serving = healthy3(1);
    let mut not_serving = healthy3(1);
    not_serving.s.workload.health = Some(down());
    let mut stopped = healthy3(1);
    stopped.s.workload.running = false;
    stopped.s.workload.health = None;
    let mut leaving = healthy3(1);
    leaving.s.event.dying = true;
    // (what, world, opened ports the charm knows of, the plan's ports)
    let table: Vec<(&str, World, Ports, Ports)> = vec![
        ("serving, open", serving.clone(), ports(&[2181]), None),
        ("serving, not known", serving.clone(), None, ports(&[2181])),
        (
            "serving, closed",
            serving.clone(),
            ports(&[]),
            ports(&[2181]),
        ),
        (
            "serving, another open",
            serving,
            ports(&[2181, 8080]),
            ports(&[2181]),
        ),
        // An election: the server runs, and the port stays as it is.
        (
            "not serving, open",
            not_serving.clone(),
            ports(&[2181]),
            None,
        ),
        (
            "not serving, closed",
            not_serving.clone(),
            ports(&[]),
            ports(&[2181]),
        ),
        ("not serving, not known", not_serving, None, ports(&[2181])),
        ("stopped, open", stopped.clone(), ports(&[2181]), ports(&[])),
        ("stopped, not known", stopped, None, None),
        ("leaving, open", leaving.clone(), ports(&[2181]), ports(&[])),
        ("leaving, closed", leaving, ports(&[]), None),
    ];
    for (what, mut w, known, expected) in table {
        w.s.local.opened_ports = known;
        assert_eq!(w.plan().ports, expected, "{what}");
    }
}

#[test]
fn quorum_and_election_ports_are_never_opened() {
    let w = healthy3(0).leader();
    let open = crate::decide::ports::client_ports(&w.snapshot());
    assert!(open.contains(&crate::zk::CLIENT_PORT));
    for port in [crate::zk::QUORUM_PORT, crate::zk::ELECTION_PORT] {
        assert!(!open.contains(&port), "{port}");
    }
}
