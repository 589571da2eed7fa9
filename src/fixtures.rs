//! Test fixtures shared by the unit tests of the decision and of the actions: a snapshot
//! builder fed with raw bags (so they go through the same parsers as in a hook).

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::CharmConfig;
use crate::decide::decide;
use crate::dispatch::EventFacts;
use crate::hooktools::SecretContent;
use crate::passwords::Credentials;
use crate::peers::{cluster, restart, RawRelation};
use crate::plan::Plan;
use crate::render::shared_inputs;
use crate::snapshot::{EnsembleView, Snapshot, WorkloadFacts};
use crate::status::{Status, StatusCollector};
use crate::workload::Paths;
use crate::zk::ensemble::ServerHealth;
use crate::zk::{EnsembleConfig, Role, ServerSpec};

pub(crate) fn addr(id: u32) -> String {
    format!("127.0.0.{}", 11 + id)
}

pub(crate) fn paths() -> Paths {
    Paths::under(Path::new("/z"))
}

pub(crate) fn following() -> ServerHealth {
    ServerHealth::following()
}

pub(crate) fn leading() -> ServerHealth {
    ServerHealth::leading()
}

pub(crate) fn down() -> ServerHealth {
    ServerHealth::down("connection refused")
}

/// A snapshot builder: unit `me` of an app whose peers are `units`. The relations are kept
/// as raw bags and parsed when the snapshot is taken.
#[derive(Clone)]
pub(crate) struct World {
    /// Everything but the relations.
    pub s: Snapshot,
    pub cluster: RawRelation,
    pub restart: RawRelation,
    pub upgrade: Option<RawRelation>,
    /// The internal secret's content.
    pub secret: BTreeMap<String, String>,
    /// The hook has read the internal passwords (a round that needs them).
    pub loaded: bool,
}

/// The internal secret's URI in the fixtures.
pub(crate) const SECRET_URI: &str = "secret://u/d3fo2nuve8s5g6ln8t8g";

impl World {
    pub(crate) fn unit(me: u32, units: &[u32]) -> World {
        let mut cluster = RawRelation {
            id: "cluster:0".into(),
            ..Default::default()
        };
        let mut restart = RawRelation {
            id: "restart:1".into(),
            ..Default::default()
        };
        for u in units {
            cluster
                .units
                .insert(*u, BTreeMap::from([("ip".to_string(), addr(*u))]));
            restart.units.insert(*u, BTreeMap::new());
        }
        cluster
            .app
            .insert("internal_secret".into(), SECRET_URI.into());
        let secret = BTreeMap::from([
            ("super-password".to_string(), "S".repeat(32)),
            ("sync-password".to_string(), "Y".repeat(32)),
        ]);
        World {
            s: Snapshot {
                unit_id: me,
                unit_name: format!("zookeeper/{me}"),
                app_name: "zookeeper".into(),
                leader: false,
                config: Ok(CharmConfig::default()),
                address: Some(addr(me).parse().unwrap()),
                cluster: None,
                restart: None,
                upgrade: None,
                planned: None,
                workload: WorkloadFacts {
                    installed: true,
                    ..Default::default()
                },
                local: Default::default(),
                ensemble: EnsembleView::default(),
                event: EventFacts {
                    now: "00000000000000000100".into(),
                    ..Default::default()
                },
                upgrade_facts: Default::default(),
                credentials: None,
                tls: Default::default(),
                clients: Default::default(),
                topology: crate::cos::Topology::new(
                    "testmodel",
                    "2c3d4e5f-6a7b-4c8d-9e0f-a1b2c3d4e5f6",
                    "zookeeper",
                ),
                cos_agent: None,
                purged: false,
            },
            cluster,
            restart,
            upgrade: None,
            secret,
            loaded: true,
        }
    }
    /// The snapshot a hook would take.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let me = self.s.unit_id;
        let mut s = self.s.clone();
        s.cluster = Some(cluster::parse(self.cluster.clone(), me));
        s.restart = Some(restart::parse(self.restart.clone(), me, &s.app_name));
        s.upgrade = self
            .upgrade
            .clone()
            .map(|raw| crate::peers::upgrade::parse(raw, me));
        if self.loaded {
            let app = &s.cluster.as_ref().unwrap().app;
            s.credentials = if app.internal_secret.is_some() {
                Some(
                    Credentials::from_content(&SecretContent(self.secret.clone()))
                        .map(|c| c.or(&Credentials::from_legacy(app).unwrap()))
                        .map_err(|e| e.to_string()),
                )
            } else if !app.legacy.is_empty() {
                Some(Credentials::from_legacy(app).map_err(|e| e.to_string()))
            } else {
                None
            };
        }
        s
    }
    pub(crate) fn passwords(&self) -> crate::passwords::Passwords {
        let s = self.snapshot();
        crate::passwords::in_effect(
            &s.cluster.as_ref().unwrap().app,
            s.credentials().expect("the passwords"),
        )
        .unwrap()
    }
    /// The cluster app bag, parsed.
    pub(crate) fn cluster_app(&self) -> cluster::App {
        cluster::App::from_bag(&self.cluster.app)
    }
    /// A key of the internal secret's content.
    pub(crate) fn secret(mut self, k: &str, v: &str) -> Self {
        self.secret.insert(k.into(), v.into());
        self
    }
    /// The hook has not read the internal passwords yet.
    pub(crate) fn not_loaded(mut self) -> Self {
        self.loaded = false;
        self
    }
    pub(crate) fn leader(mut self) -> Self {
        self.s.leader = true;
        self
    }
    pub(crate) fn app(mut self, k: &str, v: &str) -> Self {
        self.cluster.app.insert(k.into(), v.into());
        self
    }
    pub(crate) fn cluster_unit(mut self, id: u32, k: &str, v: &str) -> Self {
        self.cluster
            .units
            .get_mut(&id)
            .unwrap()
            .insert(k.into(), v.into());
        self
    }
    pub(crate) fn no_passwords(mut self) -> Self {
        self.cluster.app.remove("internal_secret");
        self.secret.clear();
        self
    }
    pub(crate) fn started(mut self, ids: &[u32]) -> Self {
        for id in ids {
            self = self.cluster_unit(*id, "state", "started");
        }
        self
    }
    pub(crate) fn added(mut self, ids: &[u32]) -> Self {
        for id in ids {
            self = self.app(&id.to_string(), "added");
        }
        self
    }
    /// This unit's server runs with the current files and has `health`.
    /// The server runs with the current files, with `health`; its client port is open
    /// while it serves.
    pub(crate) fn running(mut self, health: ServerHealth) -> Self {
        let fp = self.current_fingerprint();
        self.s.local.opened_ports = Some(if health.serving {
            std::collections::BTreeSet::from([crate::zk::CLIENT_PORT])
        } else {
            Default::default()
        });
        self.s.workload.running = true;
        self.s.workload.health = Some(health);
        self.s.local.started_with = Some(fp);
        // It declared its client port when it started.
        self.s.local.opened_ports = Some([2181].into());
        self
    }
    pub(crate) fn current_fingerprint(&self) -> String {
        let config = self.s.config.as_ref().unwrap();
        crate::render::fingerprint(
            config,
            &paths(),
            self.s.unit_id,
            &self.cluster_app(),
            &self.s.workload.exporters,
            &crate::render::Sizing::for_machine(config, &self.s.workload.machine),
            &crate::render::TlsConfig::plaintext(),
        )
    }
    /// The live ensemble: `voters` as participants, and each unit's health.
    pub(crate) fn ensemble(mut self, voters: &[u32], health: &[(u32, ServerHealth)]) -> Self {
        let mut cfg = EnsembleConfig {
            version: 0x1_0000_0003,
            ..Default::default()
        };
        for v in voters {
            cfg.members.insert(
                v + 1,
                ServerSpec {
                    id: v + 1,
                    host: addr(*v),
                    role: Role::Participant,
                },
            );
        }
        self.s.ensemble = EnsembleView {
            config: Some(cfg),
            health: health.iter().cloned().collect(),
        };
        self
    }
    pub(crate) fn restart_unit(mut self, id: u32, k: &str, v: &str) -> Self {
        self.restart
            .units
            .get_mut(&id)
            .unwrap()
            .insert(k.into(), v.into());
        self
    }
    /// Units `ids` report that their servers run with the current app-wide inputs.
    pub(crate) fn up_to_date(mut self, ids: &[u32]) -> Self {
        let inputs = shared_inputs(
            self.s.config.as_ref().unwrap(),
            &self.cluster_app(),
            &self.s.workload.exporters,
        );
        for id in ids {
            self = self.restart_unit(*id, "inputs", &inputs);
        }
        self
    }
    pub(crate) fn restart_app(mut self, k: &str, v: &str) -> Self {
        self.restart.app.insert(k.into(), v.into());
        self
    }
    /// The machine's memory, data disk and data files.
    pub(crate) fn machine(mut self, machine: crate::machine::MachineFacts) -> Self {
        self.s.workload.machine = machine;
        self
    }
    /// The config changed to one that needs a restart.
    pub(crate) fn new_tick_time(mut self) -> Self {
        self.s.config = Ok(CharmConfig {
            tick_time: 3000,
            ..CharmConfig::default()
        });
        self
    }
    /// With an upgrade relation: `stack` (the raw value), and each unit's upgrade state.
    pub(crate) fn with_stack(mut self, stack: &str, states: &[(u32, &str)]) -> Self {
        let mut up = RawRelation {
            id: "upgrade:2".into(),
            ..Default::default()
        };
        up.app.insert("upgrade-stack".into(), stack.into());
        up.app
            .insert("dependencies".into(), crate::deps::compiled_dependencies());
        for (id, st) in states {
            up.units
                .insert(*id, BTreeMap::from([("state".to_string(), st.to_string())]));
        }
        self.upgrade = Some(up);
        self.s.upgrade_facts.compiled_dependencies = crate::deps::compiled_dependencies();
        self
    }
    /// With an upgrade relation: `stack`, and each unit's upgrade state.
    pub(crate) fn with_upgrade(self, stack: &[u32], states: &[(u32, &str)]) -> Self {
        self.with_stack(&serde_json::to_string(stack).unwrap(), states)
    }
    pub(crate) fn plan(&self) -> Plan {
        decide(&self.snapshot(), &paths())
    }
}

pub(crate) fn status(plan: &Plan) -> Status {
    let mut c = StatusCollector::new();
    for s in &plan.statuses {
        c.add(s.clone());
    }
    c.resolve()
}

/// A fully formed, healthy 3-unit ensemble seen from unit `me`, unit 0 leading.
pub(crate) fn healthy3(me: u32) -> World {
    let h = if me == 0 { leading() } else { following() };
    World::unit(me, &[0, 1, 2])
        .started(&[0, 1, 2])
        .added(&[0, 1, 2])
        .running(h)
        .ensemble(
            &[0, 1, 2],
            &[(0, leading()), (1, following()), (2, following())],
        )
        .up_to_date(&[0, 1, 2])
        .app("root-acl", "restricted")
}
