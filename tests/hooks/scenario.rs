//! The Scenario-style harness: a [`Hook`] names a hook or action and the world it runs in
//! (this unit, leadership, the peers and their bags, the servers, the workload, the charm's
//! private state); [`Hook::run`] runs the charm's real entry point (`charm::run`) against
//! the in-memory fakes and returns an [`Outcome`]: the hook-tool calls made, the bags after,
//! the status, the reconfigs and the workload's operations.
//!
//! Bags are built with the peer modules' own typed patches, so no key string of the wire
//! format is repeated here. `config-get` answers with `config.yaml`'s defaults and
//! `action-get` with `actions.yaml`'s, as Juju does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use charm_files::{ActionsYaml, CharmFile, ConfigYaml};
use serde_json::{Map, Value};
use zookeeper_charm::charm;
use zookeeper_charm::config::CharmConfig;
use zookeeper_charm::cos::Capabilities;
use zookeeper_charm::deps;
use zookeeper_charm::dispatch::ENDPOINTS;
use zookeeper_charm::env::HookEnv;
use zookeeper_charm::hooktools::fake::{Call, FakeHookTools, FakeRelation, FakeSecret};
use zookeeper_charm::hooktools::{Bag, Databag, SecretContent};
use zookeeper_charm::local_state::{self, LocalState};
use zookeeper_charm::machine::MachineFacts;
use zookeeper_charm::passwords::{self, Credentials, Passwords};
use zookeeper_charm::peers::upgrade::UpgradeState;
use zookeeper_charm::peers::{cluster, restart, upgrade};
use zookeeper_charm::render::{self, Rendered, Sizing};
use zookeeper_charm::status::Status;
use zookeeper_charm::tls::files::{KEYSTORE_FILE, TRUSTSTORE_FILE};
use zookeeper_charm::tls::{keystore_pem, truststore_pem, Bundle, PrivateKey, Running};
use zookeeper_charm::workload::mem::{MemWorkload, Op, WorkloadCall};
use zookeeper_charm::workload::Workload;
use zookeeper_charm::zk::ensemble::ServerHealth;
use zookeeper_charm::zk::fake::{Asked, FakeEnsemble, Fault, Reconfigured};

pub const APP: &str = "zookeeper";
pub const CLUSTER: &str = "cluster:0";
pub const RESTART: &str = "restart:1";
pub const UPGRADE: &str = "upgrade:2";
/// The `certificates` relation with the provider `tls` (one unit, `tls/0`).
pub const CERTIFICATES: &str = "certificates:3";
pub const PROVIDER: &str = "tls";
pub const COS_AGENT: &str = "cos-agent:5";
/// The subordinate COS agent on this unit's machine.
pub const AGENT_UNIT: &str = "grafana-agent/0";
pub const MODEL_NAME: &str = "mymodel";
pub const MODEL_UUID: &str = "1a2b3c4d-5e6f-4a0b-8c9d-0123456789ab";
/// The internal secret's URI, and its label (Charmed ZooKeeper's).
pub const SECRET_URI: &str = "secret://1e5d7c2a-0000-4000-8000-00000000000a/d3fo2nuve8s5g6ln8t8g";
pub const SECRET_LABEL: &str = "cluster.zookeeper.app";

/// Unit `id`'s address.
pub fn addr(id: u32) -> String {
    format!("127.0.0.{}", 11 + id)
}

pub fn unit_name(id: u32) -> String {
    format!("{APP}/{id}")
}

fn charm_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What `config-get --format=json` prints for an application with no option set: every
/// option of `config.yaml` that has a default.
pub fn default_config() -> Map<String, Value> {
    ConfigYaml::load(charm_dir())
        .unwrap()
        .options
        .into_iter()
        .filter_map(|(name, option)| Some((name, option.default?)))
        .collect()
}

/// `action-get`'s answer: the action's params with `actions.yaml`'s defaults filled in.
fn action_params(action: &str, given: &Map<String, Value>) -> Map<String, Value> {
    let actions = ActionsYaml::load(charm_dir()).unwrap();
    let mut params: Map<String, Value> = actions
        .0
        .get(action)
        .map(|spec| {
            spec.params
                .iter()
                .filter_map(|(k, schema)| Some((k.clone(), schema.get("default")?.clone())))
                .collect()
        })
        .unwrap_or_default();
    params.extend(given.clone());
    params
}

/// A `zookeeper` relation as this unit sees it.
#[derive(Debug, Clone, Default)]
pub struct ClientWorld {
    /// The requirer application.
    pub remote_app: String,
    /// The requirer's application bag.
    pub request: Databag,
    /// This application's bag in the relation.
    pub provided: Databag,
    /// The requirer's units that joined.
    pub units: Vec<String>,
}

/// This unit's TLS as earlier hooks left it.
#[derive(Debug, Clone, Default)]
pub struct TlsWorld {
    /// The private key in the charm's state.
    pub key: Option<PrivateKey>,
    /// The PEM stores installed from this bundle (and `key`).
    pub installed: Option<Bundle>,
    /// What the running server was started with (`None`: nothing recorded, as before TLS).
    pub started: Option<Running>,
}

/// The world one hook sees, as plain data the tests edit.
#[derive(Debug, Clone)]
pub struct World {
    pub me: u32,
    pub leader: bool,
    /// Units in the peer relations as this unit sees them, itself included.
    pub units: BTreeSet<u32>,
    /// The peer relations exist (not yet in `install`).
    pub related: bool,
    pub config: Map<String, Value>,
    pub cluster_app: Databag,
    /// The internal secret's content; `None`: no secret.
    pub secret: Option<Databag>,
    pub cluster_units: BTreeMap<u32, Databag>,
    pub restart_app: Databag,
    pub restart_units: BTreeMap<u32, Databag>,
    pub upgrade_app: Databag,
    pub upgrade_units: BTreeMap<u32, Databag>,
    /// Each unit's server: its health when asked (the own one only once it runs).
    pub servers: BTreeMap<u32, ServerHealth>,
    /// The voting members, by unit id.
    pub voters: BTreeSet<u32>,
    pub config_version: u64,
    pub ensemble_faults: Vec<Fault>,
    /// The installed ZooKeeper version; `None`: not installed.
    pub installed: Option<String>,
    pub running: bool,
    pub workload_faults: Vec<Op>,
    pub exits_after_start: bool,
    /// What the server logs when it exits after a start.
    pub exit_cause: Option<String>,
    /// The refresh target.
    pub pinned: String,
    /// What the running server was started with: the fingerprint of its files and its
    /// `zoo.cfg` (a config change after [`World::steady`] makes the files differ).
    pub started_with: Option<(String, String)>,
    /// The status the unit set last (`status-set` is skipped when it is the same).
    pub last_status: Option<Status>,
    /// The peer relation ids are remembered from an earlier hook.
    pub peer_ids_remembered: bool,
    pub upgrade_pending: bool,
    pub upgrade_failure: Option<String>,
    pub failing_tools: Vec<String>,
    pub goal: Option<BTreeMap<String, String>>,
    /// The `certificates` relation: this unit's bag and the provider's app bag.
    pub certificates: Option<(Databag, Databag)>,
    /// The `certificates` relation is remembered from an earlier hook.
    pub certificates_remembered: bool,
    /// This unit's key, installed stores and the TLS its server was started with.
    pub tls: TlsWorld,
    /// The `zookeeper` relations, by id.
    pub clients: BTreeMap<u32, ClientWorld>,
    /// Secrets of the model besides the internal one (the provider secrets).
    pub secrets: Vec<FakeSecret>,
    /// The servers' znodes (other than the root) and their ACLs.
    pub znodes: BTreeMap<String, Vec<zookeeper_charm::zk::admin::AclEntry>>,
    /// The unit's opened ports (`2181/tcp`), as earlier hooks left them.
    pub ports: Vec<String>,
    /// The opened TCP ports the charm remembers from an earlier hook.
    pub ports_remembered: Option<BTreeSet<u16>>,
    /// The `cos-agent` relation exists, with this unit's own bag in it (the agent's unit
    /// joined with an empty bag of its own).
    pub cos_agent: Option<Databag>,
    /// The metrics exporters the installed workload ships (none: Debian's jars).
    pub exporters: Capabilities,
    /// The machine's memory, data disk and data files (nothing known by default).
    pub machine: MachineFacts,
    /// A purge deletes nothing.
    pub purge_keeps_everything: bool,
}

impl World {
    /// A new application of `units` units, seen by unit `me`: installed, related, nothing
    /// started, no passwords, no server answering.
    pub fn new(me: u32, units: u32) -> World {
        let ids: BTreeSet<u32> = (0..units).collect();
        let mut w = World {
            me,
            leader: false,
            units: ids.clone(),
            related: true,
            config: default_config(),
            cluster_app: Databag::new(),
            secret: None,
            cluster_units: BTreeMap::new(),
            restart_app: Databag::new(),
            restart_units: BTreeMap::new(),
            upgrade_app: Databag::new(),
            upgrade_units: BTreeMap::new(),
            servers: BTreeMap::new(),
            voters: BTreeSet::new(),
            config_version: 0x1_0000_0003,
            ensemble_faults: Vec::new(),
            installed: Some(deps::ZOOKEEPER_VERSION.to_string()),
            running: false,
            workload_faults: Vec::new(),
            exits_after_start: false,
            exit_cause: None,
            pinned: deps::ZOOKEEPER_VERSION.to_string(),
            started_with: None,
            last_status: None,
            peer_ids_remembered: false,
            upgrade_pending: false,
            upgrade_failure: None,
            failing_tools: Vec::new(),
            goal: None,
            certificates: None,
            certificates_remembered: false,
            tls: TlsWorld::default(),
            clients: BTreeMap::new(),
            secrets: Vec::new(),
            znodes: BTreeMap::new(),
            ports: Vec::new(),
            ports_remembered: None,
            cos_agent: None,
            exporters: Capabilities::none(),
            machine: MachineFacts::default(),
            purge_keeps_everything: false,
        };
        for id in ids {
            w.cluster_units.insert(
                id,
                cluster::UnitPatch {
                    ip: Some(addr(id).parse().unwrap()),
                    ..Default::default()
                }
                .to_bag(),
            );
            w.restart_units.insert(id, Databag::new());
            w.upgrade_units.insert(id, Databag::new());
        }
        w
    }

    /// A settled, healthy ensemble of `units` units seen by unit `me`: every unit started,
    /// recorded as added and a voter, unit 0's server the quorum leader, the internal
    /// passwords shared, every unit up to date with the current files and idle in upgrades,
    /// and this unit's server running with the current files, its status set and its peer
    /// relation ids remembered.
    pub fn steady(me: u32, units: u32) -> World {
        let mut w = World::new(me, units);
        w.cluster_app = cluster::AppPatch {
            recorded: w
                .units
                .iter()
                .map(|id| (*id, cluster::Recorded::Added))
                .collect(),
            root_acl_restricted: Some(true),
            ..Default::default()
        }
        .to_bag();
        w.share_passwords();
        w.upgrade_app = upgrade::AppPatch {
            dependencies: Some(deps::compiled_dependencies()),
            ..Default::default()
        }
        .to_bag();
        let inputs = w.inputs();
        for id in w.units.clone() {
            w.set_started(id);
            w.restart_units.insert(
                id,
                restart::UnitPatch {
                    inputs: Some(inputs.clone()),
                    ..Default::default()
                }
                .to_bag(),
            );
            w.set_upgrade_state(id, UpgradeState::Idle);
            w.voters.insert(id);
            let health = if id == 0 {
                ServerHealth::leading()
            } else {
                ServerHealth::following()
            };
            w.servers.insert(id, health);
        }
        w.running = true;
        w.started_with = Some(w.rendered_now());
        w.peer_ids_remembered = true;
        w.ports = vec!["2181/tcp".into()];
        w.ports_remembered = Some(BTreeSet::from([2181]));
        let role = w.servers[&me].state.clone().unwrap();
        w.last_status = Some(Status::active(role));
        w
    }

    /// The leader shared the internal passwords: `super` all `S`, `sync` all `Y`, in the
    /// internal secret.
    pub fn share_passwords(&mut self) {
        self.secret = Some(Databag::from([
            ("super-password".to_string(), "S".repeat(32)),
            ("sync-password".to_string(), "Y".repeat(32)),
        ]));
        self.cluster_app.extend(
            cluster::AppPatch {
                internal_secret: zookeeper_charm::hooktools::SecretId::parse(SECRET_URI),
                ..Default::default()
            }
            .to_bag(),
        );
    }

    /// The fingerprint and `zoo.cfg` this unit's files have with the world as it is now.
    pub fn rendered_now(&self) -> (String, String) {
        let paths = MemWorkload::new().paths().clone();
        let sizing = Sizing::for_machine(&self.config(), &self.machine);
        // As the charm renders TLS: from what the server was started with, its address
        // and the installed certificate.
        let tls = match self.tls.started {
            Some(mode) => {
                let certificate = self.tls.installed.as_ref().map(|b| b.leaf().fingerprint());
                render::TlsConfig::new(
                    mode,
                    &paths.conf_dir,
                    Some(&addr(self.me)),
                    certificate.as_ref(),
                )
                .expect("the stores the mode needs are installed")
            }
            None => render::TlsConfig::plaintext(),
        };
        let rendered = Rendered::new(&self.config(), &paths, self.me, &self.passwords(), &sizing)
            .with_exporters(&self.exporters, &paths)
            .with_tls(tls.clone());
        (
            render::fingerprint(
                &self.config(),
                &paths,
                self.me,
                &self.app(),
                &self.exporters,
                &sizing,
                &tls,
            ),
            rendered.zoo_cfg(&paths.initial_dynamic()),
        )
    }

    pub fn config(&self) -> CharmConfig {
        CharmConfig::from_juju(&self.config).unwrap()
    }

    pub fn app(&self) -> cluster::App {
        cluster::App::from_bag(&self.cluster_app)
    }

    pub fn credentials(&self) -> Credentials {
        Credentials::from_content(&SecretContent(self.secret.clone().unwrap_or_default()))
            .unwrap()
            .or(&Credentials::from_legacy(&self.app()).unwrap())
    }

    pub fn passwords(&self) -> Passwords {
        passwords::in_effect(&self.app(), &self.credentials()).expect("the passwords are shared")
    }

    /// What every up-to-date unit reports in its restart bag.
    pub fn inputs(&self) -> String {
        render::shared_inputs(&self.config(), &self.app(), &self.exporters)
    }

    /// Unit `id` recorded `state=started`.
    pub fn set_started(&mut self, id: u32) {
        let bag = self.cluster_units.entry(id).or_default();
        bag.extend(
            cluster::UnitPatch {
                started: true,
                ..Default::default()
            }
            .to_bag(),
        );
    }

    pub fn set_upgrade_state(&mut self, id: u32, state: UpgradeState) {
        self.upgrade_units
            .insert(id, upgrade::UnitPatch { state: Some(state) }.to_bag());
    }

    /// The upgrade stack (top = last).
    pub fn set_stack(&mut self, stack: &[u32]) {
        self.upgrade_app.extend(
            upgrade::AppPatch {
                stack: Some(stack.to_vec()),
                ..Default::default()
            }
            .to_bag(),
        );
    }

    /// The config version the ensemble has.
    pub fn version(&self) -> u64 {
        self.config_version
    }

    fn tools(&self) -> FakeHookTools {
        let me = unit_name(self.me);
        let mut tools = FakeHookTools::new(&me)
            .leader(self.leader)
            .config(Value::Object(self.config.clone()))
            .address(&addr(self.me))
            .bindings(ENDPOINTS);
        if self.related {
            let peer = |app: &Databag, units: &BTreeMap<u32, Databag>| {
                let mut rel = FakeRelation::peer().app_bag(APP, app.clone());
                for (id, bag) in units {
                    let mut bag = bag.clone();
                    // Juju's own keys, in every unit's bag.
                    bag.entry("private-address".into())
                        .or_insert_with(|| addr(*id));
                    if *id == self.me {
                        rel = rel.unit_bag(&me, bag);
                    } else if self.units.contains(id) {
                        rel = rel.member(&unit_name(*id), bag);
                    } else {
                        // Departed: its bag stays readable.
                        rel = rel.unit_bag(&unit_name(*id), bag);
                    }
                }
                rel
            };
            tools = tools
                .relation(CLUSTER, peer(&self.cluster_app, &self.cluster_units))
                .relation(RESTART, peer(&self.restart_app, &self.restart_units))
                .relation(UPGRADE, peer(&self.upgrade_app, &self.upgrade_units));
            for (id, c) in &self.clients {
                let mut rel = FakeRelation::with_remote_app(&c.remote_app)
                    .app_bag(&c.remote_app, c.request.clone())
                    .app_bag(APP, c.provided.clone());
                for u in &c.units {
                    rel = rel.member(u, Databag::new());
                }
                tools = tools.relation(&format!("zookeeper:{id}"), rel);
            }
        }
        for secret in &self.secrets {
            tools = tools.secret(secret.clone());
        }
        if let Some(own) = &self.cos_agent {
            tools = tools.relation(
                COS_AGENT,
                FakeRelation::with_remote_app("grafana-agent")
                    .unit_bag(&me, own.clone())
                    .member(AGENT_UNIT, Databag::new()),
            );
        }
        if let Some((own, provider)) = &self.certificates {
            tools = tools.relation(
                CERTIFICATES,
                FakeRelation::with_remote_app(PROVIDER)
                    .member(&format!("{PROVIDER}/0"), Databag::new())
                    .unit_bag(&me, own.clone())
                    .app_bag(PROVIDER, provider.clone()),
            );
        }
        if let Some(content) = &self.secret {
            tools = tools.secret(
                FakeSecret::of_app(SECRET_URI, APP, SecretContent(content.clone()))
                    .label(SECRET_LABEL),
            );
        }
        for tool in &self.failing_tools {
            tools = tools.fail_tool(tool);
        }
        if let Some(goal) = &self.goal {
            tools = tools.goal_units(goal.clone());
        }
        let ports: Vec<&str> = self.ports.iter().map(String::as_str).collect();
        tools.ports(&ports)
    }

    fn workload(&self) -> MemWorkload {
        let mut w = MemWorkload::new()
            .pinned(&self.pinned)
            .with_exporters(self.exporters.clone())
            .with_machine(self.machine.clone());
        if let Some(v) = &self.installed {
            w = w.installed_at(v);
        }
        if self.running {
            w = w.running();
        }
        for op in &self.workload_faults {
            w = w.fail(*op);
        }
        if self.purge_keeps_everything {
            w = w.purge_keeps_everything();
        }
        if let Some(cause) = self
            .exit_cause
            .as_deref()
            .filter(|_| self.exits_after_start)
        {
            w = w.exits_after_start_logging(cause);
        } else if self.exits_after_start {
            w = w.exits_after_start();
        }
        if let Some((fingerprint, zoo_cfg)) = &self.started_with {
            local_state::record_started_with(&w, fingerprint).unwrap();
            w.write_file(&w.paths().zoo_cfg(), zoo_cfg.as_bytes(), 0o600)
                .unwrap();
        }
        if let Some(status) = &self.last_status {
            local_state::record_status(&w, status);
        }
        if self.peer_ids_remembered {
            let ids = [
                ("cluster", CLUSTER),
                ("restart", RESTART),
                ("upgrade", UPGRADE),
            ]
            .into_iter()
            .map(|(e, id)| (e.to_string(), id.to_string()))
            .collect();
            local_state::save_peer_ids(&w, &ids);
            let clients = self
                .clients
                .iter()
                .map(|(id, c)| (*id, c.remote_app.clone()))
                .collect();
            local_state::save_client_relations(&w, &clients);
        }
        if self.upgrade_pending {
            local_state::mark_upgrade_pending(&w).unwrap();
        }
        if self.certificates_remembered && self.certificates.is_some() {
            let record = local_state::CertificatesRecord {
                id: CERTIFICATES.into(),
                provider: Some(PROVIDER.into()),
            };
            local_state::save_certificates(&w, Some(&record)).unwrap();
        }
        if let Some(key) = &self.tls.key {
            local_state::store_tls_key(&w, key).unwrap();
        }
        if let (Some(key), Some(bundle)) = (&self.tls.key, &self.tls.installed) {
            let conf = &w.paths().conf_dir;
            w.write_file(
                &conf.join(TRUSTSTORE_FILE),
                &truststore_pem(bundle).pem,
                0o600,
            )
            .unwrap();
            let keystore = keystore_pem(key, bundle).unwrap();
            w.write_file(&conf.join(KEYSTORE_FILE), keystore.as_bytes(), 0o600)
                .unwrap();
        }
        if let Some(running) = self.tls.started {
            local_state::record_started_tls(&w, running).unwrap();
        }
        if let Some(cause) = &self.upgrade_failure {
            local_state::record_upgrade_failure(&w, cause).unwrap();
        }
        if let Some(ports) = &self.ports_remembered {
            local_state::record_opened_ports(&w, ports);
        }
        // What the harness wrote is the world, not the hook's doing.
        w.clear_calls();
        w
    }

    fn ensemble(&self) -> FakeEnsemble {
        let mut zk = FakeEnsemble::new().with_version(self.config_version);
        for (id, health) in &self.servers {
            zk = if self.voters.contains(id) {
                zk.voter(id + 1, &addr(*id), health.clone())
            } else {
                zk.server(&addr(*id), health.clone())
            };
        }
        for fault in &self.ensemble_faults {
            zk = zk.fault(fault.clone());
        }
        for (path, acl) in &self.znodes {
            zk = zk.znode(path, acl);
        }
        zk
    }
}

/// A hook or action to run, and the world it runs in.
#[derive(Debug, Clone)]
pub struct Hook {
    /// `hooks/update-status`, `actions/set-password`.
    dispatch_path: String,
    relation_id: Option<String>,
    remote_unit: Option<String>,
    departing_unit: Option<String>,
    params: Option<Map<String, Value>>,
    /// `JUJU_SECRET_ID` and `JUJU_SECRET_REVISION`.
    secret: Option<(String, Option<String>)>,
    /// The client relation whose first unit is the remote unit (set at run time).
    client_remote: Option<u32>,
    pub world: World,
}

impl Hook {
    fn of(name: &str) -> Hook {
        Hook {
            dispatch_path: format!("hooks/{name}"),
            relation_id: None,
            remote_unit: None,
            departing_unit: None,
            params: None,
            secret: None,
            client_remote: None,
            world: World::steady(0, 1),
        }
    }

    pub fn named(name: &str) -> Hook {
        Hook::of(name)
    }
    pub fn install() -> Hook {
        Hook::of("install")
    }
    pub fn start() -> Hook {
        Hook::of("start")
    }
    pub fn stop() -> Hook {
        Hook::of("stop")
    }
    pub fn remove() -> Hook {
        Hook::of("remove")
    }
    pub fn config_changed() -> Hook {
        Hook::of("config-changed")
    }
    pub fn upgrade_charm() -> Hook {
        Hook::of("upgrade-charm")
    }
    pub fn update_status() -> Hook {
        Hook::of("update-status")
    }
    pub fn leader_elected() -> Hook {
        Hook::of("leader-elected")
    }
    pub fn leader_settings_changed() -> Hook {
        Hook::of("leader-settings-changed")
    }
    /// `<endpoint>-relation-<kind>` on that peer relation; `-joined`, `-changed` and
    /// `-departed` name another unit as the remote unit (the next one, or the departing).
    pub fn relation(endpoint: &str, kind: &str) -> Hook {
        let mut h = Hook::of(&format!("{endpoint}-relation-{kind}"));
        h.relation_id = Some(
            match endpoint {
                "cluster" => CLUSTER,
                "restart" => RESTART,
                "upgrade" => UPGRADE,
                "certificates" => CERTIFICATES,
                "cos-agent" => COS_AGENT,
                other => panic!("no relation {other}"),
            }
            .to_string(),
        );
        h
    }
    /// `zookeeper-relation-<kind>` of client relation `id`; `-joined`, `-changed` and
    /// `-departed` name its first unit as the remote unit.
    pub fn client(kind: &str, id: u32) -> Hook {
        let mut h = Hook::of(&format!("zookeeper-relation-{kind}"));
        h.relation_id = Some(format!("zookeeper:{id}"));
        h.client_remote = matches!(kind, "joined" | "changed" | "departed").then_some(id);
        h
    }
    /// `secret-remove` of the internal secret's `revision`.
    pub fn secret_remove(revision: u32) -> Hook {
        let mut h = Hook::of("secret-remove");
        h.secret = Some((SECRET_URI.to_string(), Some(revision.to_string())));
        h
    }
    pub fn storage_attached() -> Hook {
        Hook::of("data-storage-attached")
    }
    pub fn storage_detaching() -> Hook {
        Hook::of("data-storage-detaching")
    }
    pub fn action(name: &str) -> Hook {
        let mut h = Hook::of("");
        h.dispatch_path = format!("actions/{name}");
        h.params = Some(Map::new());
        h
    }

    // ---- the world ------------------------------------------------------------------------

    /// The settled ensemble of `units` units seen by unit `me` ([`World::steady`]).
    pub fn steady(mut self, me: u32, units: u32) -> Self {
        let leader = self.world.leader;
        self.world = World::steady(me, units);
        self.world.leader = leader;
        self
    }

    /// A new application ([`World::new`]).
    pub fn fresh(mut self, me: u32, units: u32) -> Self {
        let leader = self.world.leader;
        self.world = World::new(me, units);
        self.world.leader = leader;
        self
    }

    pub fn leader(mut self, leader: bool) -> Self {
        self.world.leader = leader;
        self
    }

    /// Edits the world.
    pub fn with(mut self, edit: impl FnOnce(&mut World)) -> Self {
        edit(&mut self.world);
        self
    }

    pub fn remote(mut self, id: u32) -> Self {
        self.remote_unit = Some(unit_name(id));
        self
    }

    /// `-relation-departed` of unit `id`: it is no member any more (its bags stay readable).
    pub fn departing(mut self, id: u32) -> Self {
        self.departing_unit = Some(unit_name(id));
        self.remote_unit = Some(unit_name(id));
        if id != self.world.me {
            self.world.units.remove(&id);
        }
        self
    }

    /// The action's parameters as given by the operator.
    pub fn params(mut self, params: Value) -> Self {
        let Value::Object(map) = params else {
            panic!("params must be an object")
        };
        self.params = Some(map);
        self
    }

    pub fn fail_tool(mut self, tool: &str) -> Self {
        self.world.failing_tools.push(tool.to_string());
        self
    }

    // ---- running --------------------------------------------------------------------------

    pub fn run(self) -> Outcome {
        let world = self.world;
        let remote_unit = self.remote_unit.or_else(|| {
            let id = self.client_remote?;
            world.clients.get(&id)?.units.first().cloned()
        });
        let workload = world.workload();
        // Juju mounts the data storage where the server keeps its data.
        let storage_hook = self.dispatch_path.ends_with("-storage-attached")
            || self.dispatch_path.ends_with("-storage-detaching");
        let storage_location = storage_hook.then(|| {
            let data = &workload.paths().data_dir;
            data.parent().unwrap_or(data).to_string_lossy().into_owned()
        });
        let env = HookEnv {
            unit_name: unit_name(world.me),
            dispatch_path: Some(self.dispatch_path.clone()),
            argv0: "./dispatch".into(),
            relation_id: self.relation_id,
            remote_unit,
            departing_unit: self.departing_unit,
            charm_dir: Some("/var/lib/juju/agents/unit-zookeeper-0/charm".into()),
            juju_version: Some("3.6.4".into()),
            secret_id: self.secret.as_ref().map(|s| s.0.clone()),
            secret_revision: self.secret.as_ref().and_then(|s| s.1.clone()),
            storage_location,
            model_name: MODEL_NAME.into(),
            model_uuid: MODEL_UUID.into(),
        };
        let mut tools = world.tools();
        if let (Some(given), Some(action)) =
            (&self.params, self.dispatch_path.strip_prefix("actions/"))
        {
            tools = tools.action_params(Value::Object(action_params(action, given)));
        }
        let ensemble = world.ensemble();
        let result = charm::run(&env, &tools, &workload, &ensemble)
            .map_err(|e| zookeeper_charm::report::chain(&e));
        Outcome {
            hook: self.dispatch_path,
            result,
            tools,
            workload,
            ensemble,
            world,
        }
    }
}

/// What a hook did.
pub struct Outcome {
    pub hook: String,
    /// The hook's error (its cause chain), if it failed.
    pub result: Result<(), String>,
    pub tools: FakeHookTools,
    pub workload: MemWorkload,
    pub ensemble: FakeEnsemble,
    /// The world it ran in.
    pub world: World,
}

impl Outcome {
    /// Panics unless the hook succeeded.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        if let Err(e) = &self.result {
            panic!("{} failed: {e}\ncalls: {:#?}", self.hook, self.lines());
        }
        self
    }

    /// Everything the hook did, for a failing assertion's message.
    pub fn describe(&self) -> String {
        format!(
            "{}: {:?}\nstatus {:?}\ncalls {:#?}\nwrites {:?}\nworkload {:?}\nreconfigs {:?}\naction {:?} / {:?}",
            self.hook,
            self.result,
            self.status(),
            self.lines(),
            self.written_keys(),
            self.lifecycle(),
            self.reconfigs(),
            self.action_results(),
            self.action_failure()
        )
    }

    /// The hook-tool calls, as command lines.
    pub fn lines(&self) -> Vec<String> {
        self.tools.calls().iter().map(Call::line).collect()
    }

    /// How many times each tool ran.
    pub fn by_tool(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for c in self.tools.calls() {
            *counts.entry(c.tool).or_default() += 1;
        }
        counts
    }

    pub fn ran(&self, tool: &str) -> usize {
        self.tools.call_count(tool)
    }

    pub fn total_calls(&self) -> usize {
        self.tools.calls().len()
    }

    /// The unit status set in this hook, last.
    pub fn status(&self) -> Option<Status> {
        self.tools.unit_status()
    }

    /// The status the unit shows after the hook: set now, or kept from before.
    pub fn shown_status(&self) -> Option<Status> {
        self.status().or_else(|| self.world.last_status.clone())
    }

    /// The writes to one bag (merged, in order): `relation` is the relation id, `app` the app
    /// bag.
    pub fn writes(&self, relation: &str, app: bool) -> Databag {
        let mut merged = Databag::new();
        for c in self.tools.calls() {
            let is_it = c.tool == "relation-set"
                && c.args.get(1).map(String::as_str) == Some(relation)
                && c.args.contains(&"--app".to_string()) == app;
            if is_it {
                let bag: Databag = serde_json::from_str(c.stdin.as_deref().unwrap()).unwrap();
                merged.extend(bag);
            }
        }
        merged
    }

    /// Every relation write, as (relation, app, keys).
    pub fn written_keys(&self) -> Vec<(String, bool, Vec<String>)> {
        self.tools
            .calls()
            .iter()
            .filter(|c| c.tool == "relation-set")
            .map(|c| {
                let bag: Databag = serde_json::from_str(c.stdin.as_deref().unwrap()).unwrap();
                (
                    c.args[1].clone(),
                    c.args.contains(&"--app".to_string()),
                    bag.into_keys().collect(),
                )
            })
            .collect()
    }

    /// A bag after the hook.
    pub fn bag(&self, relation: &str, bag: Bag) -> Databag {
        self.tools.relation_data(relation, &bag)
    }

    pub fn own_bag(&self, relation: &str) -> Databag {
        self.bag(relation, Bag::Unit(unit_name(self.world.me)))
    }

    pub fn app_bag(&self, relation: &str) -> Databag {
        self.bag(relation, Bag::App(APP.into()))
    }

    /// The cluster app bag after the hook, parsed.
    pub fn cluster_app(&self) -> cluster::App {
        cluster::App::from_bag(&self.app_bag(CLUSTER))
    }

    /// The internal secret after the hook (the one the bag names), parsed.
    pub fn credentials(&self) -> Option<Credentials> {
        let id = self.cluster_app().internal_secret?;
        let secret = self.tools.secret_state(id.as_str())?;
        (!secret.is_removed()).then(|| Credentials::from_content(&secret.current()).unwrap())
    }

    /// This unit's upgrade state after the hook.
    pub fn upgrade_state(&self) -> Option<UpgradeState> {
        upgrade::Unit::from_bag(&self.own_bag(UPGRADE))
            .state
            .known()
    }

    pub fn reconfigs(&self) -> Vec<Reconfigured> {
        self.ensemble.reconfigs()
    }

    /// The hosts whose health the hook asked.
    pub fn health_asked(&self) -> Vec<String> {
        self.ensemble.health_asked()
    }

    /// Whether the hook asked any server for the membership.
    pub fn asked_members(&self) -> bool {
        self.ensemble
            .asked()
            .iter()
            .any(|a| matches!(a, Asked::Members(_)))
    }

    /// Install, refresh, start, stop, in order.
    pub fn lifecycle(&self) -> Vec<WorkloadCall> {
        self.workload.lifecycle()
    }

    /// The charm's private state after the hook.
    pub fn local(&self) -> LocalState {
        LocalState::load(&self.workload).unwrap()
    }

    pub fn action_results(&self) -> BTreeMap<String, String> {
        self.tools.action_results()
    }

    pub fn action_failure(&self) -> Option<String> {
        self.tools.action_failure()
    }
}
