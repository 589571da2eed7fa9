use super::*;
use std::collections::{HashMap, HashSet, VecDeque};

use QuorumSetting::{Plain, Ssl};
use QuorumTls::{Plaintext, SslOnly, Unified, UnifiedSsl};

fn report(mode: QuorumTls, certificate: bool) -> UnitReport {
    UnitReport::after_restart(mode, certificate)
}

fn units(reports: &[UnitReport]) -> BTreeMap<u32, UnitReport> {
    reports
        .iter()
        .enumerate()
        .map(|(i, r)| (i as u32, *r))
        .collect()
}

const E0_ON: AppTls = AppTls {
    enabled: true,
    switching: true,
    quorum: Plain,
};
const E1_ON: AppTls = AppTls {
    enabled: true,
    switching: true,
    quorum: Ssl,
};
const E0_OFF: AppTls = AppTls {
    enabled: false,
    switching: true,
    quorum: Ssl,
};
const E1_OFF: AppTls = AppTls {
    enabled: false,
    switching: true,
    quorum: Plain,
};

#[test]
fn turning_tls_on_goes_through_the_three_steps_and_each_waits_for_every_started_unit() {
    // Steady plaintext, relation appears: E0.
    let plain = units(&[report(Plaintext, false); 3]);
    assert_eq!(
        leader_step(true, AppTls::PLAINTEXT, &plain),
        LeaderStep::Write(E0_ON)
    );
    // E0 → E1 waits for the unified restarts...
    let mut u = units(&[
        report(Unified, true),
        report(Plaintext, true),
        report(Unified, true),
    ]);
    assert_eq!(
        leader_step(true, E0_ON, &u),
        LeaderStep::Wait(Waiting::Restarts(vec![1]))
    );
    // ...and for every certificate.
    u.insert(1, report(Unified, false));
    assert_eq!(
        leader_step(true, E0_ON, &u),
        LeaderStep::Wait(Waiting::Certificates(vec![1]))
    );
    u.insert(1, report(Unified, true));
    assert_eq!(leader_step(true, E0_ON, &u), LeaderStep::Write(E1_ON));
    // E1 → E2 waits for every unit to run sslQuorum.
    u.insert(0, report(UnifiedSsl, true));
    assert_eq!(
        leader_step(true, E1_ON, &u),
        LeaderStep::Wait(Waiting::Restarts(vec![1, 2]))
    );
    u.insert(1, report(UnifiedSsl, true));
    u.insert(2, report(UnifiedSsl, true));
    assert_eq!(leader_step(true, E1_ON, &u), LeaderStep::Write(AppTls::TLS));
    assert_eq!(leader_step(true, AppTls::TLS, &u), LeaderStep::Steady);
}

#[test]
fn turning_tls_off_runs_the_same_steps_back_without_waiting_for_certificates() {
    let tls = units(&[report(SslOnly, true); 3]);
    assert_eq!(
        leader_step(false, AppTls::TLS, &tls),
        LeaderStep::Write(E0_OFF)
    );
    assert_eq!(
        leader_step(false, E0_OFF, &tls),
        LeaderStep::Wait(Waiting::Restarts(vec![0, 1, 2]))
    );
    let unified = units(&[report(UnifiedSsl, true); 3]);
    assert_eq!(
        leader_step(false, E0_OFF, &unified),
        LeaderStep::Write(E1_OFF)
    );
    let mixed = units(&[
        report(Unified, true),
        report(UnifiedSsl, true),
        report(Unified, false),
    ]);
    assert_eq!(
        leader_step(false, E1_OFF, &mixed),
        LeaderStep::Wait(Waiting::Restarts(vec![1]))
    );
    let done = units(&[report(Unified, true); 3]);
    assert_eq!(
        leader_step(false, E1_OFF, &done),
        LeaderStep::Write(AppTls::PLAINTEXT)
    );
    assert_eq!(
        leader_step(false, AppTls::PLAINTEXT, &done),
        LeaderStep::Steady
    );
}

#[test]
fn a_unit_that_restarted_without_sslquorum_for_lack_of_a_certificate_holds_the_last_step() {
    // Python's bug: it recorded quorum=ssl anyway and the ensemble split after E2. Here
    // the unit reports what it runs, and E2 waits for its certificate.
    let u = units(&[
        report(UnifiedSsl, true),
        report(Unified, false),
        report(UnifiedSsl, true),
    ]);
    assert_eq!(
        leader_step(true, E1_ON, &u),
        LeaderStep::Wait(Waiting::Certificates(vec![1]))
    );
}

#[test]
fn no_step_is_taken_while_a_unit_holds_the_restart_lock_and_units_not_started_are_not_awaited() {
    let mut holding = report(Unified, true);
    holding.restarting = true;
    let u = units(&[report(Unified, true), holding, report(Unified, true)]);
    assert_eq!(
        leader_step(true, E0_ON, &u),
        LeaderStep::Wait(Waiting::Restarting(vec![1]))
    );
    let not_started = UnitReport {
        started: false,
        restarting: false,
        unified: false,
        quorum: Plain,
        certificate: false,
    };
    let u = units(&[report(Unified, true), not_started]);
    assert_eq!(leader_step(true, E0_ON, &u), LeaderStep::Write(E1_ON));
    // Reversing a switch midway starts the other direction from where it is.
    assert_eq!(leader_step(false, E1_ON, &u), LeaderStep::Write(E0_OFF));
    assert_eq!(leader_step(true, E1_OFF, &u), LeaderStep::Write(E0_ON));
    // A foreign state (TLS recorded, quorum plain, no switch) resumes the steps.
    let odd = AppTls {
        enabled: true,
        switching: false,
        quorum: Plain,
    };
    assert_eq!(leader_step(true, odd, &u), LeaderStep::Write(E0_ON));
}

#[test]
fn each_unit_renders_the_mode_of_the_current_step_and_its_certificate() {
    let run = |q, c| {
        Some(Running {
            quorum: q,
            client_tls: c,
        })
    };
    let plan = |q, c, r| UnitPlan {
        quorum: q,
        client_tls: c,
        remove_files: r,
    };
    let cases = [
        // (app, files, running, plan)
        (
            AppTls::PLAINTEXT,
            false,
            run(Plaintext, false),
            plan(Some(Plaintext), false, false),
        ),
        (
            E0_ON,
            false,
            run(Plaintext, false),
            plan(Some(Unified), false, false),
        ),
        (
            E0_ON,
            true,
            run(Unified, false),
            plan(Some(Unified), true, false),
        ),
        (
            E1_ON,
            true,
            run(Unified, true),
            plan(Some(UnifiedSsl), true, false),
        ),
        // quorum=ssl and no certificate (a unit joining): wait for it.
        (E1_ON, false, None, plan(None, false, false)),
        (E0_OFF, false, None, plan(None, false, false)),
        (
            AppTls::TLS,
            true,
            run(UnifiedSsl, true),
            plan(Some(SslOnly), true, false),
        ),
        // TLS only and no certificate: must not start.
        (AppTls::TLS, false, None, plan(None, false, false)),
        (
            E0_OFF,
            true,
            run(SslOnly, true),
            plan(Some(UnifiedSsl), true, false),
        ),
        (
            E1_OFF,
            true,
            run(UnifiedSsl, true),
            plan(Some(Unified), true, false),
        ),
        // Turn-off finished: first restart without 2182, then delete the files.
        (
            AppTls::PLAINTEXT,
            true,
            run(Unified, true),
            plan(Some(Plaintext), false, false),
        ),
        (
            AppTls::PLAINTEXT,
            true,
            run(Plaintext, false),
            plan(Some(Plaintext), false, true),
        ),
        (
            AppTls::PLAINTEXT,
            true,
            None,
            plan(Some(Plaintext), false, true),
        ),
    ];
    for (app, files, running, want) in cases {
        assert_eq!(
            unit_plan(app, files, running),
            want,
            "{app:?} {files} {running:?}"
        );
    }
    let p = unit_plan(E1_ON, true, run(Unified, true));
    assert!(p.needs_restart(run(Unified, true)));
    assert!(!p.needs_restart(run(UnifiedSsl, true)));
    assert!(!p.needs_restart(None));
}

#[test]
fn clients_move_to_2182_after_the_last_restart_and_back_to_2181_when_the_turn_off_ends() {
    use ClientTls::{Disabled, Enabled};
    let restarting_ssl = UnitReport {
        restarting: true,
        ..report(SslOnly, true)
    };
    let cases = [
        // (app, units, published, want)
        (
            AppTls::TLS,
            vec![report(SslOnly, true); 3],
            Some(Disabled),
            Enabled,
        ),
        (AppTls::TLS, vec![report(SslOnly, true); 3], None, Enabled),
        // One unit has not finished its E2 restart yet.
        (
            AppTls::TLS,
            vec![report(SslOnly, true), report(UnifiedSsl, true)],
            Some(Disabled),
            Disabled,
        ),
        (
            AppTls::TLS,
            vec![report(SslOnly, true), restarting_ssl],
            Some(Disabled),
            Disabled,
        ),
        (
            E1_ON,
            vec![report(UnifiedSsl, true); 3],
            Some(Disabled),
            Disabled,
        ),
        (E1_ON, vec![report(UnifiedSsl, true); 3], None, Disabled),
        // Turning off: clients keep 2182 until the last step is written.
        (
            E0_OFF,
            vec![report(UnifiedSsl, true); 3],
            Some(Enabled),
            Enabled,
        ),
        (
            E1_OFF,
            vec![report(Unified, true); 3],
            Some(Enabled),
            Enabled,
        ),
        (E1_OFF, vec![report(Unified, true); 3], None, Disabled),
        (
            AppTls::PLAINTEXT,
            vec![report(Unified, true); 3],
            Some(Enabled),
            Disabled,
        ),
        (
            AppTls::PLAINTEXT,
            vec![report(Plaintext, false); 3],
            None,
            Disabled,
        ),
    ];
    for (app, u, published, want) in cases {
        assert_eq!(
            client_tls(app, &units(&u), published),
            want,
            "{app:?} {u:?} {published:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// A model of the charm's hooks, explored over every interleaving.

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Unit {
    started: bool,
    /// Joins after the others (not checked against the client invariant: it cannot serve
    /// 2182 during a turn-off, having no certificate).
    joiner: bool,
    running: Running,
    files: bool,
    /// What its peer bag says (written at the end of its hooks).
    report: UnitReport,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct World {
    wanted: bool,
    toggles_left: u8,
    app: AppTls,
    units: Vec<Unit>,
    published: ClientTls,
}

impl World {
    fn settled(n: usize, tls: bool, toggles_left: u8, joiner: bool) -> World {
        let mode = if tls { SslOnly } else { Plaintext };
        let unit = Unit {
            started: true,
            joiner: false,
            running: Running {
                quorum: mode,
                client_tls: tls,
            },
            files: tls,
            report: report(mode, tls),
        };
        let mut units = vec![unit; n];
        if joiner {
            units.push(Unit {
                started: false,
                joiner: true,
                running: Running {
                    quorum: Plaintext,
                    client_tls: false,
                },
                files: false,
                report: UnitReport {
                    started: false,
                    restarting: false,
                    unified: false,
                    quorum: Plain,
                    certificate: false,
                },
            });
        }
        World {
            wanted: tls,
            toggles_left,
            app: if tls { AppTls::TLS } else { AppTls::PLAINTEXT },
            units,
            published: if tls {
                ClientTls::Enabled
            } else {
                ClientTls::Disabled
            },
        }
    }

    fn reports(&self) -> BTreeMap<u32, UnitReport> {
        self.units
            .iter()
            .enumerate()
            .map(|(i, u)| (i as u32, u.report))
            .collect()
    }

    fn lock_held(&self) -> bool {
        self.units.iter().any(|u| u.report.restarting)
    }

    fn is_settled(&self) -> bool {
        let w = self.wanted;
        let mode = if w { SslOnly } else { Plaintext };
        self.app == (if w { AppTls::TLS } else { AppTls::PLAINTEXT })
            && self.published
                == (if w {
                    ClientTls::Enabled
                } else {
                    ClientTls::Disabled
                })
            && self.units.iter().all(|u| {
                u.started
                    && u.files == w
                    && u.running
                        == Running {
                            quorum: mode,
                            client_tls: w,
                        }
                    && u.report == report(mode, w)
            })
    }

    /// Every state one event away, with the event's name.
    fn successors(&self) -> Vec<(String, World)> {
        let mut out = Vec::new();
        if self.toggles_left > 0 {
            let mut w = self.clone();
            w.wanted = !w.wanted;
            w.toggles_left -= 1;
            out.push(("toggle the certificates relation".to_string(), w));
        }
        // A leader hook: the next step, then the client data from the new state.
        {
            let mut w = self.clone();
            if let LeaderStep::Write(app) = leader_step(w.wanted, w.app, &w.reports()) {
                w.app = app;
            }
            w.published = client_tls(w.app, &w.reports(), Some(w.published));
            out.push(("leader hook".to_string(), w));
        }
        for i in 0..self.units.len() {
            // The provider's certificate is installed (the unit asked once it saw tls=enabled).
            if self.wanted && self.app.enabled && !self.units[i].files {
                let mut w = self.clone();
                w.units[i].files = true;
                out.push((format!("unit {i} installs its certificate"), w));
            }
            // A unit hook: plan, delete files, restart if the lock is free, report.
            {
                let mut w = self.clone();
                let lock_free = !w.lock_held();
                let u = &mut w.units[i];
                let plan = unit_plan(self.app, u.files, u.started.then_some(u.running));
                if plan.remove_files {
                    u.files = false;
                }
                if let Some(q) = plan.quorum {
                    let wants_start = !u.started && u.joiner;
                    if lock_free
                        && (plan.needs_restart(Some(u.running)) && u.started || wants_start)
                    {
                        u.started = true;
                        u.running = Running {
                            quorum: q,
                            client_tls: plan.client_tls,
                        };
                        u.report.started = true;
                        u.report.restarting = true;
                    }
                }
                if !u.report.restarting {
                    u.report.certificate = u.files;
                }
                out.push((format!("unit {i} hook"), w));
            }
            // The unit is back in the quorum: it releases the lock and reports.
            if self.units[i].report.restarting {
                let mut w = self.clone();
                let u = &mut w.units[i];
                u.report = report(u.running.quorum, u.files);
                out.push((format!("unit {i} releases the restart lock"), w));
            }
        }
        out
    }
}

/// The safety properties of one state; `Err` says which failed.
fn check_state(w: &World) -> Result<(), String> {
    let started: Vec<(usize, &Unit)> = w
        .units
        .iter()
        .enumerate()
        .filter(|(_, u)| u.started)
        .collect();
    for (i, a) in &started {
        for (j, b) in &started {
            // The brief's invariant, then the full one (every pair can talk both ways).
            if a.running.quorum == SslOnly && !b.running.quorum.ssl_quorum() {
                return Err(format!(
                    "unit {i} runs sslQuorum alone while unit {j} runs plaintext"
                ));
            }
            if !a.running.quorum.accepts(b.running.quorum) {
                return Err(format!("unit {i} refuses unit {j}'s quorum connections"));
            }
        }
        if (a.running.quorum.ssl_quorum() || a.running.client_tls) && !a.files {
            return Err(format!("unit {i} runs TLS without its files"));
        }
        if w.published == ClientTls::Enabled && !a.joiner && !a.running.client_tls {
            return Err(format!("clients use 2182 but unit {i} does not serve it"));
        }
    }
    Ok(())
}

/// The properties of one event.
fn check_step(before: &World, after: &World) -> Result<(), String> {
    let started = || after.units.iter().filter(|u| u.started);
    if before.app.quorum == Plain && after.app.quorum == Ssl && after.app.enabled {
        if let Some(u) = started().find(|u| !u.files) {
            return Err(format!("E1 without every certificate: {u:?}"));
        }
    }
    if before.published == ClientTls::Disabled && after.published == ClientTls::Enabled {
        if let Some(u) = started().find(|u| {
            u.running
                != Running {
                    quorum: SslOnly,
                    client_tls: true,
                }
        }) {
            return Err(format!("clients told 2182 before every E2 restart: {u:?}"));
        }
    }
    if before.published == ClientTls::Enabled && after.published == ClientTls::Disabled {
        if let Some(u) = started().find(|u| u.running.quorum.ssl_quorum()) {
            return Err(format!(
                "clients told 2181 while a server runs sslQuorum: {u:?}"
            ));
        }
    }
    Ok(())
}

/// Explores every interleaving from `start`; checks every state and event, that every
/// state where nothing but a toggle can happen any more is settled, and that from every
/// state a settled one can be reached without toggling. Returns the number of states.
fn explore(start: World) -> usize {
    let mut index: HashMap<World, usize> = HashMap::new();
    let mut states: Vec<World> = Vec::new();
    let mut parent: Vec<Option<(usize, String)>> = Vec::new();
    let mut reverse: Vec<Vec<usize>> = Vec::new();
    let mut queue = VecDeque::new();
    index.insert(start.clone(), 0);
    states.push(start);
    parent.push(None);
    reverse.push(Vec::new());
    queue.push_back(0);
    let trace = |parent: &Vec<Option<(usize, String)>>, mut at: usize| {
        let mut steps = Vec::new();
        while let Some((p, e)) = &parent[at] {
            steps.push(e.clone());
            at = *p;
        }
        steps.reverse();
        steps.join(" -> ")
    };
    while let Some(s) = queue.pop_front() {
        let world = states[s].clone();
        if let Err(e) = check_state(&world) {
            panic!("{e}\nstate: {world:#?}\nafter: {}", trace(&parent, s));
        }
        let mut moved = false;
        for (event, next) in world.successors() {
            if next == world {
                continue;
            }
            // Liveness is judged for the current wish: toggling does not count as progress.
            let toggle = event.starts_with("toggle");
            moved |= !toggle;
            if let Err(e) = check_step(&world, &next) {
                panic!("{e}\nevent: {event}\nafter: {}", trace(&parent, s));
            }
            let id = match index.get(&next) {
                Some(id) => *id,
                None => {
                    let id = states.len();
                    index.insert(next.clone(), id);
                    states.push(next);
                    parent.push(Some((s, event)));
                    reverse.push(Vec::new());
                    queue.push_back(id);
                    id
                }
            };
            if !toggle {
                reverse[id].push(s);
            }
        }
        if !moved {
            assert!(
                world.is_settled(),
                "stuck in an unsettled state: {world:#?}\nafter: {}",
                trace(&parent, s)
            );
        }
    }
    // Every state can still reach a settled one.
    let mut can_settle: HashSet<usize> = (0..states.len())
        .filter(|i| states[*i].is_settled())
        .collect();
    let mut todo: Vec<usize> = can_settle.iter().copied().collect();
    while let Some(s) = todo.pop() {
        for p in &reverse[s] {
            if can_settle.insert(*p) {
                todo.push(*p);
            }
        }
    }
    if let Some(s) = (0..states.len()).find(|s| !can_settle.contains(s)) {
        panic!(
            "no way to settle from {:#?}\nafter: {}",
            states[s],
            trace(&parent, s)
        );
    }
    states.len()
}

#[test]
fn every_interleaving_of_one_unit_at_a_time_restarts_keeps_every_pair_of_servers_talking() {
    for n in 1..=3 {
        // On, off, on again, with every interleaving of hooks, certificates and lock
        // releases, including reversals in the middle of a switch.
        let from_plain = explore(World::settled(n, false, 3, false));
        let from_tls = explore(World::settled(n, true, 3, false));
        eprintln!("{n} units: {from_plain} states from plaintext, {from_tls} from TLS");
        assert!(from_plain > 10 * n && from_tls > 10 * n);
    }
}

#[test]
fn a_unit_joining_during_a_switch_starts_in_the_current_step_and_never_splits_the_quorum() {
    let from_plain = explore(World::settled(2, false, 3, true));
    let from_tls = explore(World::settled(2, true, 3, true));
    eprintln!("2 units and a joiner: {from_plain} states from plaintext, {from_tls} from TLS");
}

/// Runs hooks in a fixed order until nothing changes; returns the restarts per unit.
fn run_to_the_end(w: &mut World) -> Vec<usize> {
    let mut restarts = vec![0; w.units.len()];
    for _ in 0..200 {
        let before = w.clone();
        for (event, next) in w.successors() {
            if event.starts_with("toggle") || next == *w {
                continue;
            }
            check_state(&next).unwrap();
            check_step(w, &next).unwrap();
            for (i, u) in next.units.iter().enumerate() {
                if u.report.restarting && !w.units[i].report.restarting {
                    restarts[i] += 1;
                }
            }
            *w = next;
            break;
        }
        if *w == before {
            return restarts;
        }
    }
    panic!("no end: {w:#?}");
}

#[test]
fn a_single_unit_switches_on_and_off_to_the_end() {
    let mut w = World::settled(1, false, 0, false);
    w.wanted = true;
    let on = run_to_the_end(&mut w);
    assert!(w.is_settled(), "{w:#?}");
    assert_eq!(w.app, AppTls::TLS);
    // portUnification, then sslQuorum, then portUnification off; the certificate arrived
    // before the first restart in this order of events.
    assert_eq!(on, [3]);
    w.wanted = false;
    let off = run_to_the_end(&mut w);
    assert!(w.is_settled(), "{w:#?}");
    assert_eq!(w.app, AppTls::PLAINTEXT);
    assert!(!w.units[0].files);
    assert_eq!(off, [3]);
}

#[test]
fn clients_are_told_the_port_and_the_tls_field_together() {
    assert_eq!(
        (ClientTls::Disabled.port(), ClientTls::Disabled.field()),
        (2181, "disabled")
    );
    assert_eq!(
        (ClientTls::Enabled.port(), ClientTls::Enabled.field()),
        (2182, "enabled")
    );
    for c in [ClientTls::Disabled, ClientTls::Enabled] {
        assert_eq!(ClientTls::from_field(c.field()), c);
    }
    assert_eq!(ClientTls::from_field(""), ClientTls::Disabled);
}
