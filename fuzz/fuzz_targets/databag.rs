//! Peer-relation data: every value in the `cluster`, `restart` and `upgrade` databags is
//! written by other units (or by an older charm, or by hand with `juju exec relation-set`),
//! so the charm must survive any of it.
//!
//! The fuzz bytes are decoded (with `arbitrary`) into raw bags, which go through the
//! charm's own parsers (`peers::{cluster, restart, upgrade}::parse`) into a whole
//! [`Snapshot`], as in a hook. The decoding is shaped so that short inputs mean a healthy,
//! steady cluster (an exhausted input decodes as zeros, so the first enum variant and
//! `false` are the common case) and the bytes then bend it: units with the charm's own keys
//! and values (written with the peer modules' own serialisers: `state`, `ip`, `starting`,
//! `"<id>": "added"`, restart grants, `upgrade-stack`, ...), plus raw keys and values
//! anywhere. The internal passwords are where the charm keeps them: in the Juju secret the
//! app bag names (`internal_secret`, with its `secret-generation` and the `zookeeper`
//! relations' users), in the bag as an earlier revision kept them, in both, or named but
//! gone; the secret's content gets raw keys and values too. As in a hook, the first round
//! decides without them, and when its plan asks for them (`need_credentials`) they are read
//! as the charm reads them (the secret's content, completed by the bag's) and it decides
//! again. The live ensemble config is the started units, members built from bytes, or a
//! `conf` reply parsed from fuzz text, as in a hook.
//!
//! Checked: the parsers, `decide::decide`, the upgrade checks and the snapshot helpers
//! never panic; the plan keeps the safety rules of `decide`'s module docs (only the leader
//! writes app bags and the internal secret; one restart grant at a time, and only while
//! nobody holds the lock or is starting; one removal at a time, only of a voter, never the
//! last one, and only while the other voters keep a serving majority; only the named unit
//! bootstraps and only when no ensemble exists; a unit starts with itself; a new start is
//! named only while nobody is starting or holds the restart lock; nothing new starts or
//! restarts while an upgrade is prepared or its stack is unreadable); no password is in a
//! bag write, a status, the fingerprint or the plan's `Debug`; a round asks for the
//! passwords only before they are read, and once read, an op that writes the files has them
//! (with the real passwords, not the fingerprint's placeholders); and every write reads
//! back as written.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use zookeeper_charm::client::ClientView;
use zookeeper_charm::config::{CharmConfig, ConfigError};
use zookeeper_charm::cos::relation::CosAgent;
use zookeeper_charm::cos::{Capabilities, Topology};
use zookeeper_charm::decide::decide;
use zookeeper_charm::deps::{compatible, compiled_dependencies};
use zookeeper_charm::dispatch::EventFacts;
use zookeeper_charm::env::unit_number;
use zookeeper_charm::hooktools::{parse_goal_state_units, Databag, SecretContent, SecretId};
use zookeeper_charm::local_state::LocalState;
use zookeeper_charm::machine::MachineFacts;
use zookeeper_charm::passwords::{
    client_key, in_effect, Credentials, SUPER_KEY, SYNC_KEY, SYNC_NEW_KEY,
};
use zookeeper_charm::peers::cluster::{self, Recorded, SyncRotation, SyncUser};
use zookeeper_charm::peers::restart::{self, Grant, LockRequest};
use zookeeper_charm::peers::upgrade::{self, cluster_state, UpgradeState};
use zookeeper_charm::peers::RawRelation;
use zookeeper_charm::plan::{Plan, WorkloadOp};
use zookeeper_charm::render::{fingerprint, Sizing, TlsConfig};
use zookeeper_charm::snapshot::{EnsembleView, Snapshot, TlsFacts, UpgradeFacts, WorkloadFacts};
use zookeeper_charm::upgrade::check::{build_stack, ensemble_ready, recovery_stack};
use zookeeper_charm::workload::Paths;
use zookeeper_charm::zk::ensemble::{MembershipOp, ServerHealth};
use zookeeper_charm::zk::{four, EnsembleConfig, Role, ServerSpec};

const APP: &str = "zookeeper";

/// Keys and values the charm reads or writes, so that random data often means something.
const WORDS: &[&str] = &[
    "",
    "state",
    "ip",
    "private-address",
    "starting",
    "super-password",
    "sync-password",
    "sync-password-new",
    "sync-rotation",
    "sync-phase",
    "sync-user",
    "sync2",
    "requested-at",
    "upgrade-stack",
    "dependencies",
    "added",
    "removed",
    "started",
    "granted",
    "idle",
    "acquire",
    "release",
    "relax",
    "switch",
    "enforce",
    "recovery",
    "failed",
    "ready",
    "upgrading",
    "completed",
    "leader",
    "follower",
    "observer",
    "standalone",
    "leading - broadcast",
    "following - broadcast",
    "following - synchronization",
    "127.0.0.1",
    "127.0.0.2",
    "::1",
    "[]",
    "[0]",
    "[2, 1, 0]",
    "{}",
    "3.8.0",
    "2024-01-01T00:00:00Z",
    "secret",
    "zookeeper/",
    "internal_secret",
    "secret-generation",
    SECRET_URI,
    "secret:d3fo2nuve8s5g6ln8t8g",
    "client-users",
    "client-relations",
    "relation-3",
    "[3]",
    "root-acl",
    "restricted",
    "hostname",
    "fqdn",
    "zookeeper-3.fuzz",
];

/// Unit ids stay small: Juju numbers units from 0 upwards, and collisions between the
/// ids in different bags are what exercises the logic.
fn unit(n: u8) -> u32 {
    u32::from(n % 7)
}

fn address(id: u32) -> String {
    format!("127.0.0.{}", id + 10)
}

#[derive(Arbitrary, Debug)]
enum Text {
    Word(u8),
    /// A unit id as text (`"3"`), as in `starting` and the `"<id>": "added"` records.
    Id(u8),
    /// A unit name (`zookeeper/3`), as in the restart lock's app bag.
    UnitName(u8),
    /// A JSON list of unit ids, as in `upgrade-stack`.
    Stack(Vec<u8>),
    Raw(String),
}

impl Text {
    fn text(&self) -> String {
        match self {
            Text::Word(i) => WORDS[usize::from(*i) % WORDS.len()].to_string(),
            Text::Id(n) => unit(*n).to_string(),
            Text::UnitName(n) => format!("{APP}/{}", unit(*n)),
            Text::Stack(ids) => stack(ids),
            Text::Raw(s) => s.clone(),
        }
    }
}

fn stack(ids: &[u8]) -> String {
    serde_json::to_string(&ids.iter().map(|n| unit(*n)).collect::<Vec<u32>>())
        .expect("a list of numbers is JSON")
}

fn put(bag: &mut Databag, extra: &[(Text, Text)]) {
    for (k, v) in extra {
        bag.insert(k.text(), v.text());
    }
}

/// One unit's bag: a `state` from the relation's own values (index 0 is the usual one),
/// its address, a request time, and raw extras.
#[derive(Arbitrary, Debug)]
struct UnitBag {
    state: u8,
    no_address: bool,
    requested_at: u8,
    extra: Vec<(Text, Text)>,
}

impl UnitBag {
    /// `states` are the relation's own state writes (an empty bag is "no state").
    fn build(&self, id: u32, states: &[Databag]) -> Databag {
        let mut bag = states[usize::from(self.state) % states.len()].clone();
        if !self.no_address {
            let ip = address(id).parse().ok();
            bag.extend(
                cluster::Unit {
                    ip,
                    private_address: ip,
                    ..cluster::Unit::default()
                }
                .to_bag(),
            );
        }
        bag.extend(
            restart::UnitPatch {
                requested_at: Some(Some(format!(
                    "2024-01-01T00:00:{:02}Z",
                    self.requested_at % 60
                ))),
                ..restart::UnitPatch::default()
            }
            .to_bag(),
        );
        put(&mut bag, &self.extra);
        bag
    }
}

fn units(list: &[(u8, UnitBag)], states: &[Databag]) -> BTreeMap<u32, Databag> {
    list.iter()
        .map(|(n, b)| (unit(*n), b.build(unit(*n), states)))
        .collect()
}

/// The internal passwords the fuzzer puts in the secret (or the bag): valid, and unlike
/// anything else in a bag or a status, so that a leak of one is seen.
const SUPER_PW: &str = "Fuzz-super-pw-1";
const SYNC_PW: &str = "Fuzz-sync-pw-1";
const SYNC_NEW_PW: &str = "Fuzz-sync-pw-2";

fn client_pw(id: u32) -> String {
    format!("Fuzz-client-pw-{id}")
}

/// The internal secret's URI in the `cluster` app bag.
const SECRET_URI: &str = "secret://fuzz-model/d3fo2nuve8s5g6ln8t8g";

/// Where the internal passwords are.
#[derive(Arbitrary, Debug)]
enum Store {
    /// In the Juju secret the bag names (`internal_secret`): this charm's way.
    Secret,
    /// In the app bag, as earlier revisions kept them: the leader moves them.
    Bag,
    /// In both: moved, and the bag's copies not deleted yet.
    Both,
    /// The bag names a secret that does not exist (`secret-get` finds none).
    Gone,
}

/// The internal secret: where it is, its generation, the `zookeeper` relations' users, and
/// raw content (keys this charm does not own, values that break the password rule).
#[derive(Arbitrary, Debug)]
struct Secret {
    store: Store,
    generation: u8,
    /// A rotation's new password is missing from the store.
    no_new_password: bool,
    /// Client users by relation id: listed in the bag's `client-users`, and whether the
    /// store holds the password (`relation-<id>`).
    clients: Vec<(u8, bool, bool)>,
    extra: Vec<(Text, Text)>,
}

#[derive(Arbitrary, Debug)]
enum Secrets {
    Shared(Secret),
    Missing,
    /// After a finished rotation, the servers log in as the second quorum user.
    SharedSecondUser(Secret),
    /// A `sync` rotation in progress, with each unit's phase.
    Rotating {
        secret: Secret,
        phase: u8,
        second_user: bool,
        unit_phases: Vec<(u8, u8)>,
    },
}

const PHASES: [Option<SyncRotation>; 4] = [
    Some(SyncRotation::Relax),
    Some(SyncRotation::Switch),
    Some(SyncRotation::Enforce),
    None,
];

/// The passwords where `secret` puts them: the app bag's keys (the bag's own ones, or
/// an earlier revision's passwords) and the secret's content, when the secret exists.
fn store(secret: &Secret, rotating: bool, bag: &mut AppBag) -> Option<SecretContent> {
    let mut content = Databag::new();
    content.insert(SUPER_KEY.into(), SUPER_PW.into());
    content.insert(SYNC_KEY.into(), SYNC_PW.into());
    if rotating && !secret.no_new_password {
        content.insert(SYNC_NEW_KEY.into(), SYNC_NEW_PW.into());
    }
    let mut users = BTreeSet::new();
    for (n, listed, stored) in &secret.clients {
        let id = unit(*n);
        if *listed {
            users.insert(id);
        }
        if *stored {
            content.insert(client_key(id), client_pw(id));
        }
    }
    put(&mut content, &secret.extra);
    if !users.is_empty() {
        bag.patch.client_users = Some(users);
    }
    bag.patch.secret_generation = Some(u64::from(secret.generation));
    if matches!(secret.store, Store::Bag | Store::Both) {
        bag.legacy = content.clone();
    }
    if !matches!(secret.store, Store::Bag) {
        bag.patch.internal_secret = SecretId::parse(SECRET_URI);
    }
    matches!(secret.store, Store::Secret | Store::Both).then(|| SecretContent(content))
}

#[derive(Arbitrary, Debug)]
struct Cluster {
    units: Vec<(u8, UnitBag)>,
    starting: Option<u8>,
    added: Vec<u8>,
    removed: Vec<u8>,
    secrets: Secrets,
    extra: Vec<(Text, Text)>,
}

/// The `cluster` app bag's writes, and the passwords an earlier revision kept there.
#[derive(Default)]
struct AppBag {
    patch: cluster::AppPatch,
    legacy: Databag,
}

impl Cluster {
    /// The raw relation, and the internal secret's content when the secret exists.
    fn build(&self) -> (RawRelation, Option<SecretContent>) {
        let mut bag = AppBag::default();
        let patch = &mut bag.patch;
        for id in &self.added {
            patch.recorded.insert(unit(*id), Recorded::Added);
        }
        for id in &self.removed {
            patch.recorded.insert(unit(*id), Recorded::Removed);
        }
        patch.starting = self.starting.map(|n| Some(unit(n)));
        let started = cluster::UnitPatch {
            started: true,
            ..cluster::UnitPatch::default()
        };
        let mut units = units(&self.units, &[started.to_bag(), Databag::new()]);
        let content = match &self.secrets {
            Secrets::Shared(secret) => store(secret, false, &mut bag),
            Secrets::Missing => None,
            Secrets::SharedSecondUser(secret) => {
                bag.patch.sync_user = Some(SyncUser::Sync2);
                store(secret, false, &mut bag)
            }
            Secrets::Rotating {
                secret,
                phase,
                second_user,
                unit_phases,
            } => {
                if *second_user {
                    bag.patch.sync_user = Some(SyncUser::Sync2);
                }
                let phase = PHASES[usize::from(*phase) % PHASES.len()];
                bag.patch.sync_rotation = Some(phase);
                for (n, p) in unit_phases {
                    if let Some(bag) = units.get_mut(&unit(*n)) {
                        let phase = cluster::UnitPatch {
                            sync_phase: Some(PHASES[usize::from(*p) % PHASES.len()]),
                            ..cluster::UnitPatch::default()
                        };
                        bag.extend(phase.to_bag());
                    }
                }
                store(secret, phase.is_some(), &mut bag)
            }
        };
        let mut app: Databag = bag
            .patch
            .to_bag()
            .into_iter()
            .chain(bag.legacy)
            .filter(|(_, v)| !v.is_empty())
            .collect();
        put(&mut app, &self.extra);
        for bag in units.values_mut() {
            bag.retain(|_, v| !v.is_empty());
        }
        (
            RawRelation {
                id: "cluster:0".into(),
                app,
                units,
            },
            content,
        )
    }
}

#[derive(Arbitrary, Debug)]
struct Restart {
    units: Vec<(u8, UnitBag)>,
    /// `zookeeper/<id>`: granted (0) or idle.
    grants: Vec<(u8, bool)>,
    extra: Vec<(Text, Text)>,
}

impl Restart {
    fn build(&self) -> RawRelation {
        let grants = restart::AppPatch {
            grants: self
                .grants
                .iter()
                .map(|(n, idle)| {
                    let g = if *idle { Grant::Idle } else { Grant::Granted };
                    (unit(*n), Some(g))
                })
                .collect(),
        };
        let mut app = grants.to_bag(APP);
        put(&mut app, &self.extra);
        let request = |r| {
            restart::UnitPatch {
                request: Some(Some(r)),
                ..restart::UnitPatch::default()
            }
            .to_bag()
        };
        RawRelation {
            id: "restart:1".into(),
            app,
            units: units(
                &self.units,
                &[
                    Databag::new(),
                    request(LockRequest::Acquire),
                    request(LockRequest::Release),
                ],
            ),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Dependencies {
    /// This charm's own model, as after a finished upgrade.
    Compiled,
    Absent,
    Given(Text),
}

#[derive(Arbitrary, Debug)]
struct Upgrade {
    units: Vec<(u8, UnitBag)>,
    stack: Option<Vec<u8>>,
    dependencies: Dependencies,
    extra: Vec<(Text, Text)>,
}

impl Upgrade {
    fn build(&self) -> RawRelation {
        let mut patch = upgrade::AppPatch {
            stack: self
                .stack
                .as_ref()
                .map(|ids| ids.iter().map(|n| unit(*n)).collect()),
            dependencies: None,
        };
        let mut app = Databag::new();
        match &self.dependencies {
            Dependencies::Compiled => patch.dependencies = Some(compiled_dependencies()),
            Dependencies::Absent => {}
            Dependencies::Given(t) => {
                app.insert("dependencies".into(), t.text());
            }
        }
        app.extend(patch.to_bag());
        put(&mut app, &self.extra);
        let mut states = vec![
            upgrade::UnitPatch {
                state: Some(UpgradeState::Idle),
            }
            .to_bag(),
            Databag::new(),
        ];
        states.extend(UpgradeState::ALL.map(|s| upgrade::UnitPatch { state: Some(s) }.to_bag()));
        RawRelation {
            id: "upgrade:2".into(),
            app,
            units: units(&self.units, &states),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Health {
    Synced,
    Down,
    Given {
        serving: bool,
        state: Option<Text>,
        peer_state: Option<Text>,
        pending_syncs: Option<u8>,
    },
}

impl Health {
    fn build(&self, leader: bool) -> ServerHealth {
        match self {
            Health::Synced => ServerHealth {
                serving: true,
                state: Some(if leader { "leader" } else { "follower" }.into()),
                peer_state: Some(
                    if leader {
                        "leading - broadcast"
                    } else {
                        "following - broadcast"
                    }
                    .into(),
                ),
                pending_syncs: leader.then_some(0),
                error: None,
            },
            Health::Down => ServerHealth {
                serving: false,
                error: Some("connection refused".into()),
                ..ServerHealth::default()
            },
            Health::Given {
                serving,
                state,
                peer_state,
                pending_syncs,
            } => ServerHealth {
                serving: *serving,
                state: state.as_ref().map(Text::text),
                peer_state: peer_state.as_ref().map(Text::text),
                pending_syncs: pending_syncs.map(u64::from),
                error: None,
            },
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Membership {
    /// The units whose bags say `started`, as participants, but for the one the leader
    /// named `starting` (it runs, and waits to be added): the steady or joining state.
    Started,
    Unknown,
    /// Members as the charm writes them: server id = unit id + 1.
    Built(Vec<(u8, bool)>),
    /// A `conf` reply of member lines, with any server id (0 included: ids that come back
    /// over the network are not the charm's to choose).
    ReplyLines(Vec<(u8, bool, Text)>),
    /// A `conf` reply as a server sent it.
    Reply(String),
}

/// Was a known bug, now fixed (kept as a switch): a member with server id 0 (which `parse_conf`
/// accepts) underflows `EnsembleView::voter_units` (server id - 1): a panic with overflow
/// checks, unit `u32::MAX` without. Such members are dropped so the fuzzer can look for
/// other bugs; set this to `false` once `voter_units` handles them (the `server_id_zero`
/// seed then reproduces it).
const SKIP_KNOWN_SERVER_ID_ZERO: bool = false;

fn spec(id: u32, observer: bool, host: String) -> (u32, ServerSpec) {
    let role = if observer {
        Role::Observer
    } else {
        Role::Participant
    };
    (id, ServerSpec { id, host, role })
}

impl Membership {
    fn build(&self, s: &Snapshot) -> Option<EnsembleConfig> {
        let mut config = self.decode(s)?;
        if SKIP_KNOWN_SERVER_ID_ZERO {
            config.members.remove(&0);
        }
        Some(config)
    }

    fn decode(&self, s: &Snapshot) -> Option<EnsembleConfig> {
        match self {
            Membership::Started => {
                let c = s.cluster.as_ref()?;
                let members = c
                    .units
                    .keys()
                    .filter(|id| s.started(**id) && s.starting() != Some(**id))
                    .map(|id| spec(id + 1, false, address(*id)))
                    .collect();
                Some(EnsembleConfig {
                    members,
                    version: 0x1_0000_0000,
                })
            }
            Membership::Unknown => None,
            Membership::Built(list) => Some(EnsembleConfig {
                members: list
                    .iter()
                    .map(|(n, observer)| spec(unit(*n) + 1, *observer, address(unit(*n))))
                    .collect(),
                version: 0x1_0000_0000,
            }),
            Membership::ReplyLines(list) => {
                let mut text = String::from("clientPort=2181\nmembership: \n");
                for (n, observer, host) in list {
                    let host = host.text();
                    let role = if *observer { "observer" } else { "participant" };
                    text.push_str(&format!(
                        "server.{}={host}:2888:3888:{role};{host}:2181\n",
                        n % 9
                    ));
                }
                text.push_str("version=100000000\n");
                four::parse_conf(&text).ok()
            }
            Membership::Reply(text) => four::parse_conf(text).ok(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum HealthView {
    /// Every voter and every started unit answers and is synced; the lowest voter leads.
    Steady,
    Given(Vec<(u8, Health)>),
}

#[derive(Arbitrary, Debug)]
enum Config {
    Default,
    /// `config-get` values, validated as in a hook (out-of-range ones give the error).
    Given {
        init_limit: u16,
        sync_limit: u16,
        tick_time: u16,
        log_level: Text,
    },
}

#[derive(Arbitrary, Debug)]
enum StartedWith {
    /// The files rendered from this very snapshot: no restart needed.
    CurrentFiles,
    Nothing,
    Other(Text),
}

#[derive(Arbitrary, Debug)]
struct Input {
    unit: u8,
    not_leader: bool,
    not_installed: bool,
    not_running: bool,
    dying: bool,
    stopping: bool,
    departing: Option<u8>,
    upgrade_charm: bool,
    upgrade_pending: bool,
    no_cluster: bool,
    config: Config,
    own_health: Health,
    started_with: StartedWith,
    membership: Membership,
    health: HealthView,
    cluster: Cluster,
    restart: Option<Restart>,
    upgrade: Option<Upgrade>,
    no_address: bool,
    /// The workload ships the metrics exporters (the snap's).
    exporters: bool,
    /// The `cos-agent` relation, with this unit's bag.
    cos_agent: Option<Vec<(Text, Text)>>,
    /// An earlier round of the hook purged the data disk.
    purged: bool,
    planned: Option<Vec<u8>>,
    now: u8,
    failure: Option<String>,
    /// Loose values for the parsers that take one string.
    loose: Vec<Text>,
}

fn config(c: &Config) -> Result<CharmConfig, ConfigError> {
    match c {
        Config::Default => Ok(CharmConfig::default()),
        Config::Given {
            init_limit,
            sync_limit,
            tick_time,
            log_level,
        } => {
            let mut map = Map::new();
            map.insert("init-limit".into(), Value::from(*init_limit));
            map.insert("sync-limit".into(), Value::from(*sync_limit));
            map.insert("tick-time".into(), Value::from(*tick_time));
            map.insert("log-level".into(), Value::from(log_level.text()));
            CharmConfig::from_juju(&map)
        }
    }
}

fn paths() -> Paths {
    Paths::under(Path::new("/fuzz"))
}

/// The internal passwords as a hook reads them once a round asks for them (what the charm's
/// `observe::credentials` and `load_credentials` do with `secret-get`'s answer): the
/// secret's content completed by what the bag still holds, every password checked against
/// the rule; `Err` says why they cannot be used.
fn read_credentials(
    app: &cluster::App,
    content: Option<&SecretContent>,
) -> Result<Credentials, String> {
    let Some(id) = &app.internal_secret else {
        return if app.legacy.is_empty() {
            Err("the leader has not generated them yet".into())
        } else {
            Credentials::from_legacy(app).map_err(|e| e.to_string())
        };
    };
    let Some(content) = content.filter(|_| id.as_str() == SECRET_URI) else {
        return Err(format!("the internal secret {id} does not exist"));
    };
    Credentials::with_leftovers(content, app)
}

/// The snapshot of the hook's first round (the passwords not read yet), and the internal
/// secret's content when the secret exists.
fn snapshot(input: &Input) -> (Snapshot, Option<SecretContent>) {
    let unit_id = unit(input.unit);
    let (cluster, content) = if input.no_cluster {
        (None, None)
    } else {
        let (raw, content) = input.cluster.build();
        (Some(cluster::parse(raw, unit_id)), content)
    };
    let running = !input.not_running;
    let upgrade = input
        .upgrade
        .as_ref()
        .map(|u| upgrade::parse(u.build(), unit_id));
    let stored = upgrade.as_ref().and_then(|u| u.app.dependencies.clone());
    let mut s = Snapshot {
        unit_id,
        unit_name: format!("{APP}/{unit_id}"),
        app_name: APP.to_string(),
        leader: !input.not_leader,
        config: config(&input.config),
        address: (!input.no_address).then(|| address(unit_id).parse().unwrap()),
        cluster,
        restart: input
            .restart
            .as_ref()
            .map(|r| restart::parse(r.build(), unit_id, APP)),
        upgrade,
        planned: input
            .planned
            .as_ref()
            .map(|p| p.iter().map(|n| unit(*n)).collect()),
        workload: WorkloadFacts {
            installed: !input.not_installed,
            running,
            health: running.then(|| input.own_health.build(false)),
            dynamic_config_file: None,
            exporters: if input.exporters {
                Capabilities::snap()
            } else {
                Capabilities::default()
            },
            machine: MachineFacts::default(),
        },
        local: LocalState {
            started_with: None,
            peer_ids: BTreeMap::new(),
            upgrade_pending: input.upgrade_pending,
            upgrade_failure: input.failure.clone(),
            client_relations: None,
            opened_ports: None,
            started_tls: None,
            certificates: None,
            planned_units: BTreeSet::new(),
        },
        ensemble: EnsembleView::default(),
        event: EventFacts {
            departing: input.departing.map(unit),
            dying: input.dying,
            stopping: input.stopping,
            charm_refreshed: input.upgrade_charm,
            now: format!("2024-01-01T00:00:{:02}Z", input.now % 60),
            ..EventFacts::default()
        },
        upgrade_facts: UpgradeFacts {
            compatible: compatible(stored.as_deref()),
            compiled_dependencies: compiled_dependencies(),
        },
        credentials: None,
        tls: TlsFacts::default(),
        clients: ClientView::default(),
        topology: Topology::new("fuzz", "2c3d4e5f-6a7b-4c8d-9e0f-a1b2c3d4e5f6", APP),
        cos_agent: input.cos_agent.as_ref().map(|extra| {
            let mut bag = Databag::new();
            put(&mut bag, extra);
            CosAgent::new("cos-agent:3".into(), bag)
        }),
        purged: input.purged,
    };
    s.local.started_with = match &input.started_with {
        StartedWith::Nothing => None,
        StartedWith::Other(t) => Some(t.text()),
        StartedWith::CurrentFiles => match (&s.config, &s.cluster) {
            (Ok(c), Some(cluster)) => Some(fingerprint(
                c,
                &paths(),
                unit_id,
                &cluster.app,
                &s.workload.exporters,
                &Sizing::for_machine(c, &s.workload.machine),
                &TlsConfig::plaintext(),
            )),
            _ => None,
        },
    };
    s.ensemble.config = input.membership.build(&s);
    s.ensemble.health = match &input.health {
        HealthView::Steady => {
            let voters: Vec<u32> = s
                .ensemble
                .config
                .as_ref()
                .map(|c| c.voters())
                .unwrap_or_default();
            let mut health: BTreeMap<u32, ServerHealth> = voters
                .iter()
                .enumerate()
                .filter_map(|(i, server)| {
                    Some((server.checked_sub(1)?, Health::Synced.build(i == 0)))
                })
                .collect();
            // Started units not (yet) voting follow and sync as well.
            for id in s.cluster.iter().flat_map(|c| c.units.keys()) {
                if s.started(*id) {
                    health
                        .entry(*id)
                        .or_insert_with(|| Health::Synced.build(false));
                }
            }
            health
        }
        HealthView::Given(list) => list
            .iter()
            .map(|(n, h)| (unit(*n), h.build(false)))
            .collect(),
    };
    if let Some(own) = s.ensemble.health.get(&unit_id) {
        if running {
            s.workload.health = Some(own.clone());
        }
    }
    (s, content)
}

/// The single-string parsers of databag values.
fn loose_values(values: &[Text]) {
    let mut units = Vec::new();
    for value in values {
        let v = value.text();
        let one = |key: &str| Databag::from([(key.to_string(), v.clone())]);
        let stack = upgrade::App::from_bag(&one("upgrade-stack")).stack;
        let empty_list = serde_json::from_str::<Vec<u32>>(&v).is_ok_and(|l| l.is_empty());
        assert_eq!(
            stack.is_active(),
            !(v.is_empty() || empty_list),
            "only an absent or empty stack reads as no upgrade: {v:?}"
        );
        if let Some(n) = unit_number(&v) {
            assert_eq!(unit_number(&format!("{APP}/{n}")), Some(n));
        }
        let app = cluster::App::from_bag(&one("sync-rotation"));
        assert_eq!(cluster::App::from_bag(&app.to_bag()), app);
        let u = cluster::Unit::from_bag(&one("ip"));
        if let Some(ip) = u.ip {
            assert_eq!(v.parse(), Ok(ip), "an address is an IP address");
        }
        let _ = restart::Unit::from_bag(&one("state"));
        let _ = compatible(Some(&v));
        if let Ok(json) = serde_json::from_str::<Value>(&v) {
            let _ = parse_goal_state_units(&json);
        }
        units.push(upgrade::Unit::from_bag(&one("state")));
    }
    if let Some(state) = cluster_state(&units) {
        assert!(units.iter().any(|u| u.state.known() == Some(state)));
    }
}

/// Every write reads back as written (the patches' serialisers and parsers agree).
fn check_round_trip(plan: &Plan) {
    for patch in [&plan.cluster_unit, &plan.client.unit] {
        assert_eq!(&cluster::UnitPatch::from_bag(&patch.to_bag()), patch);
    }
    for patch in [&plan.cluster_app, &plan.client.app, &plan.client.after] {
        assert_eq!(&cluster::AppPatch::from_bag(&patch.to_bag()), patch);
    }
    assert_eq!(
        restart::UnitPatch::from_bag(&plan.restart_unit.to_bag()),
        plan.restart_unit
    );
    assert_eq!(
        restart::AppPatch::from_bag(&plan.restart_app.to_bag(APP), APP),
        plan.restart_app
    );
    assert_eq!(
        upgrade::UnitPatch::from_bag(&plan.upgrade_unit.to_bag()),
        plan.upgrade_unit
    );
    assert_eq!(
        upgrade::AppPatch::from_bag(&plan.upgrade_app.to_bag()),
        plan.upgrade_app
    );
}

/// Whether `op` writes the files (which need the passwords themselves).
fn writes_files(op: &WorkloadOp) -> bool {
    matches!(
        op,
        WorkloadOp::Start { .. } | WorkloadOp::Restart | WorkloadOp::Upgrade { .. }
    )
}

/// Decides, and checks the plan against the safety rules. `secrets` are the passwords
/// the snapshot's secret or bag holds that the input does not spell out itself.
fn check_plan(s: &Snapshot, secrets: &[String]) -> Plan {
    let plan = decide(s, &paths());
    check_round_trip(&plan);

    if !s.leader {
        assert!(
            plan.cluster_app.is_empty()
                && plan.client.app.is_empty()
                && plan.client.after.is_empty(),
            "only the leader writes the cluster app bag"
        );
        assert!(
            plan.restart_app.is_empty(),
            "only the leader writes the restart app bag"
        );
        assert!(
            plan.upgrade_app.is_empty(),
            "only the leader writes the upgrade app bag"
        );
        assert!(
            plan.secret.is_none() && plan.client.credentials.is_none(),
            "only the leader writes the internal secret (and generates passwords)"
        );
    }

    // Passwords go to the secret and the files only: never to a bag, a status or the
    // fingerprint, and the plan's `Debug` (what a log would show) hides them.
    let shown = format!("{plan:?}");
    for secret in secrets {
        assert!(
            !shown.contains(secret.as_str()),
            "a password leaks: {shown}"
        );
    }

    if plan.need_credentials {
        assert!(
            s.credentials.is_none(),
            "a round asks for the passwords only when the hook has not read them: {plan:?}"
        );
    }
    if s.credentials.is_some() && plan.workload.iter().any(writes_files) {
        let rendered = plan.rendered.as_ref().unwrap_or_else(|| {
            panic!("an op that writes the files has them once the passwords are read: {plan:?}")
        });
        assert!(
            !rendered.jaas.contains("placeholder-"),
            "the files carry the passwords, never the fingerprint's placeholders"
        );
    }

    let restart_held: Vec<u32> = s
        .restart
        .iter()
        .flat_map(|r| {
            r.app.grants.iter().filter(move |(id, g)| {
                **g == Grant::Granted
                    && r.unit(**id).and_then(|u| u.request) != Some(LockRequest::Release)
            })
        })
        .map(|(id, _)| *id)
        .filter(|id| s.members().contains(id))
        .collect();
    let new_grants = plan
        .restart_app
        .grants
        .iter()
        .filter(|(id, g)| {
            **g == Some(Grant::Granted) && !s.restart.as_ref().is_some_and(|r| r.app.granted(**id))
        })
        .count();
    assert!(
        new_grants <= 1,
        "one restart lock grant at a time: {plan:?}"
    );
    if new_grants > 0 {
        assert!(
            restart_held.is_empty() && s.starting().is_none(),
            "the lock is granted only while nobody holds it and nobody is starting: {plan:?}"
        );
    }

    let voters: BTreeSet<u32> = s
        .ensemble
        .config
        .as_ref()
        .map(|c| c.voters().into_iter().collect())
        .unwrap_or_default();
    let removals: Vec<u32> = plan
        .membership
        .iter()
        .filter_map(|op| match op {
            MembershipOp::Remove { server_id } => Some(*server_id),
            MembershipOp::Add(_) => None,
        })
        .collect();
    assert!(removals.len() <= 1, "one removal per round: {plan:?}");
    for server_id in &removals {
        assert!(
            voters.contains(server_id),
            "only a voter is removed: {plan:?}"
        );
        assert!(
            voters.len() >= 2,
            "the last voter is never removed: {plan:?}"
        );
        // The voting units that stay keep a serving majority.
        let staying: Vec<u32> = s
            .ensemble
            .voter_units()
            .into_iter()
            .filter(|u| u + 1 != *server_id)
            .collect();
        let serving = staying.iter().filter(|u| s.ensemble.serves(**u)).count();
        assert!(
            !staying.is_empty() && serving > staying.len() / 2,
            "a voter is removed only while the others keep a serving majority: {plan:?}"
        );
    }

    for op in &plan.workload {
        if let WorkloadOp::Start {
            initial_members: Some(members),
        } = op
        {
            assert!(
                members.iter().any(|m| m.id == s.unit_id + 1),
                "a unit starts with itself: {plan:?}"
            );
            if members.len() == 1 {
                assert!(
                    s.ensemble.config.is_none() && s.recorded_voters().is_empty(),
                    "a unit bootstraps alone only when no ensemble exists: {plan:?}"
                );
                assert_eq!(
                    s.starting(),
                    Some(s.unit_id),
                    "only the named unit bootstraps"
                );
            }
        }
    }

    let names_a_start = matches!(plan.cluster_app.starting, Some(Some(_)));
    if names_a_start {
        assert_eq!(
            s.starting(),
            None,
            "a start is named only while nobody is starting"
        );
        assert!(
            restart_held.is_empty() && new_grants == 0,
            "a start is named only while nobody holds the restart lock: {plan:?}"
        );
    }
    if s.upgrade_in_progress() {
        assert!(
            !names_a_start && new_grants == 0,
            "nothing new starts or restarts while an upgrade is prepared or unreadable: {plan:?}"
        );
    }
    plan
}

fuzz_target!(|input: Input| {
    loose_values(&input.loose);

    let (mut s, content) = snapshot(&input);
    // The passwords the input does not spell out itself (a raw value may well equal one,
    // and a status may quote a raw value).
    let spelt = format!("{input:?}");
    let mut secrets = vec![
        SUPER_PW.to_string(),
        SYNC_PW.to_string(),
        SYNC_NEW_PW.to_string(),
    ];
    secrets.extend((0..7).map(client_pw));
    secrets.retain(|p| !spelt.contains(p.as_str()));

    // The snapshot's readings of the relation data.
    let _ = s.members();
    let _ = s.recorded_voters();
    let _ = s.starting();
    let _ = s.sync_rotation();
    let _ = s.passwords_shared();
    let _ = s.upgrade_in_progress();
    if let Some(up) = &s.upgrade {
        let _ = cluster_state(up.units.values());
    }
    for id in s.members() {
        let _ = s.started(id);
        let _ = s.server_spec(id);
    }
    let _ = s.ensemble.voter_units();
    let _ = s.ensemble.leader_unit();
    let _ = s.ghost_voters();
    let _ = ensemble_ready(&s);
    let _ = build_stack(&s);
    let _ = recovery_stack(&s);

    // As a hook's round: decide; when the plan asks for the passwords, read them and
    // decide again.
    let plan = check_plan(&s, &secrets);
    if plan.need_credentials {
        if let Some(cluster) = &s.cluster {
            s.credentials = Some(read_credentials(&cluster.app, content.as_ref()));
        }
        if let (Some(cluster), Some(creds)) = (&s.cluster, s.credentials()) {
            let _ = in_effect(&cluster.app, creds);
        }
        let again = check_plan(&s, &secrets);
        assert!(
            !again.need_credentials,
            "once read, the passwords are not asked for again: {again:?}"
        );
    }
});
