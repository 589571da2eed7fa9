//! The two Juju fakes agree: one script of hook-tool calls, run through `HookTools` against
//! the in-memory `FakeHookTools` and, inside a real hook of the local model, against
//! `ProcessHookTools` over the model's `sim-jujuc` tools, gives the same answers, the same
//! errors (command line, exit code, stderr), the same tools run (the caches agree) and the
//! same state afterwards (bags, action results and failure, status, version, ports).
//!
//! How the script runs inside a hook: a tiny charm whose `dispatch` re-runs this test
//! executable, filtered to the ignored `script_runner_inside_a_hook` test, when the unit and
//! hook are the ones the test armed; the runner reads the script from a file, runs it with
//! `ProcessHookTools::new()` (the hook's `PATH` starts with the model's tools) and writes
//! the answers back. The fake is built from the model's state just before each run.
//!
//! Juju's argument checks and error texts that the local model's tools once answered
//! otherwise are in [`strict_steps`], a test of their own.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use zk_sim::state::{HookKind, HookSpec};
use zk_sim::{Model, ModelOptions, SettleLimits};
use zookeeper_charm::hooktools::fake::{FakeHookTools, FakeRelation, FakeSecret};
use zookeeper_charm::hooktools::process::ProcessHookTools;
use zookeeper_charm::hooktools::{
    Bag, HookTools, SecretContent, SecretGrantee, SecretId, SecretOwner, SecretRead, SecretRef,
    ToolError,
};
use zookeeper_charm::status::{Status, StatusKind};

const APP: &str = "tiny";
const PEERS: [&str; 3] = ["cluster", "restart", "upgrade"];
/// Where the runner finds its script and puts its answers (set by `dispatch`).
const DIR_ENV: &str = "HOOK_TOOLS_CONFORMANCE_DIR";
const RUNNER: &str = "script_runner_inside_a_hook";
/// The owner label of the application secret the script adds.
const SECRET_LABEL: &str = "conf.tiny.app";

/// One hook-tool call through the `HookTools` trait.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Step {
    IsLeader,
    RelationIds(String),
    RelationList(String),
    RelationGetUnit(String, String),
    RelationGetApp(String, String),
    RelationSet(String, bool, BTreeMap<String, String>),
    ConfigGet,
    StatusSet(String, String, bool),
    ActionGet,
    ActionSet(BTreeMap<String, String>),
    ActionFail(String),
    ApplicationVersionSet(String),
    NetworkGet(String),
    UnitGet(String),
    GoalState,
    OpenPort(u16, String),
    ClosePort(u16, String),
    OpenedPorts,
    /// content, label, application-owned
    SecretAdd(BTreeMap<String, String>, Option<String>, bool),
    SecretGet(Target, Read),
    SecretSet(Target, BTreeMap<String, String>),
    SecretInfoGet(Target),
    SecretIds,
    SecretGrant(Target, String),
    SecretRemove(Target),
}

/// The secret a step is about.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Target {
    /// The one the script added last (an unknown id before any).
    Last,
    Id(String),
    Label(String),
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Read {
    Tracked,
    Refresh,
    Peek,
}

/// An id no secret has.
const UNKNOWN_SECRET: &str = "secret:cvvvvvvvvvvvvvvvvvvv";

/// Runs the steps, resolving [`Target::Last`] to what the script added last.
fn run_steps(tools: &dyn HookTools, steps: &[Step]) -> Vec<Answer> {
    let mut last: Option<SecretId> = None;
    steps
        .iter()
        .map(|s| run_step(tools, s, &mut last))
        .collect()
}

fn target(t: &Target, last: &Option<SecretId>) -> SecretRef {
    match t {
        Target::Last => SecretRef::Id(
            last.clone()
                .unwrap_or_else(|| SecretId::parse(UNKNOWN_SECRET).unwrap()),
        ),
        Target::Id(id) => SecretRef::Id(SecretId::parse(id).unwrap()),
        Target::Label(l) => SecretRef::Label(l.clone()),
    }
}

fn target_id(t: &Target, last: &Option<SecretId>) -> SecretId {
    match target(t, last) {
        SecretRef::Id(id) => id,
        other => panic!("{other:?} is not an id"),
    }
}

/// What one call gave: its value as text, or its error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Answer {
    Ok(String),
    Failed {
        cmd: String,
        code: i32,
        stderr: String,
    },
    Other(String),
}

/// What the runner hands back: each call's answer, and the tools that ran.
#[derive(Debug, Serialize, Deserialize)]
struct Report {
    answers: Vec<Answer>,
    runs: BTreeMap<String, usize>,
}

fn answer<T: std::fmt::Debug>(r: Result<T, ToolError>) -> Answer {
    match r {
        Ok(v) => Answer::Ok(format!("{v:?}")),
        Err(ToolError::Failed { cmd, code, stderr }) => Answer::Failed { cmd, code, stderr },
        Err(other) => Answer::Other(other.to_string()),
    }
}

fn status(kind: &str, message: &str) -> Status {
    let kind = match kind {
        "active" => StatusKind::Active,
        "waiting" => StatusKind::Waiting,
        "maintenance" => StatusKind::Maintenance,
        _ => StatusKind::Blocked,
    };
    Status::new(kind, message)
}

fn run_step(tools: &dyn HookTools, step: &Step, last: &mut Option<SecretId>) -> Answer {
    match step {
        Step::IsLeader => answer(tools.is_leader()),
        Step::RelationIds(e) => answer(tools.relation_ids(e)),
        Step::RelationList(r) => answer(tools.relation_list(r)),
        Step::RelationGetUnit(r, u) => answer(tools.relation_get(r, &Bag::Unit(u.clone()))),
        Step::RelationGetApp(r, a) => answer(tools.relation_get(r, &Bag::App(a.clone()))),
        Step::RelationSet(r, app, values) => answer(tools.relation_set(r, *app, values)),
        Step::ConfigGet => answer(tools.config_get()),
        Step::StatusSet(kind, message, app) => {
            answer(tools.status_set(&status(kind, message), *app))
        }
        Step::ActionGet => answer(tools.action_get()),
        Step::ActionSet(results) => answer(tools.action_set(results)),
        Step::ActionFail(message) => answer(tools.action_fail(message)),
        Step::ApplicationVersionSet(v) => answer(tools.application_version_set(v)),
        Step::NetworkGet(b) => answer(tools.network_get(b)),
        Step::UnitGet(k) => answer(tools.unit_get(k)),
        Step::GoalState => answer(tools.goal_state_units()),
        Step::OpenPort(port, proto) => answer(tools.open_port(*port, proto)),
        Step::ClosePort(port, proto) => answer(tools.close_port(*port, proto)),
        Step::OpenedPorts => answer(tools.opened_ports()),
        Step::SecretAdd(content, label, app) => {
            let owner = if *app {
                SecretOwner::Application
            } else {
                SecretOwner::Unit
            };
            let r = tools.secret_add(
                &SecretContent(content.clone()),
                label.as_deref(),
                None,
                owner,
            );
            if let Ok(id) = &r {
                *last = Some(id.clone());
            }
            // Ids differ between the two models: compare what they are, not their value.
            answer(r.map(|id| SecretId::parse(id.short()).is_some()))
        }
        Step::SecretGet(t, read) => {
            let read = match read {
                Read::Tracked => SecretRead::Tracked,
                Read::Refresh => SecretRead::Refresh,
                Read::Peek => SecretRead::Peek,
            };
            answer(tools.secret_get(&target(t, last), read).map(|c| c.0))
        }
        Step::SecretSet(t, content) => {
            answer(tools.secret_set(&target_id(t, last), &SecretContent(content.clone()), None))
        }
        Step::SecretInfoGet(t) => answer(
            tools
                .secret_info_get(&target(t, last))
                .map(|i| (i.revision, i.label, i.owner, i.rotation, i.access)),
        ),
        Step::SecretIds => answer(tools.secret_ids().map(|ids| ids.len())),
        Step::SecretGrant(t, relation) => answer(tools.secret_grant(
            &target_id(t, last),
            &SecretGrantee {
                relation_id: relation.clone(),
                unit: None,
            },
        )),
        Step::SecretRemove(t) => answer(tools.secret_remove(&target_id(t, last), None)),
    }
}

fn bag(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The calls both fakes answer as Juju does. `me` is this unit, `other` the other unit,
/// `ids` the peer relation ids by endpoint; `in_action` tells whether the script runs in an
/// action (more checks in [`strict_steps`]).
fn agreed_steps(
    me: &str,
    other: &str,
    ids: &BTreeMap<String, String>,
    in_action: bool,
) -> Vec<Step> {
    let cluster = ids["cluster"].clone();
    let restart = ids["restart"].clone();
    let mut steps = vec![
        Step::IsLeader,
        Step::IsLeader,
        Step::RelationIds("cluster".into()),
        Step::RelationIds("restart".into()),
        Step::RelationIds("no-such-endpoint".into()),
        Step::RelationList(cluster.clone()),
        Step::RelationList("cluster:99".into()),
        Step::RelationGetUnit(cluster.clone(), other.into()),
        Step::RelationGetUnit(cluster.clone(), me.into()),
        Step::RelationGetApp(cluster.clone(), APP.into()),
        Step::RelationGetUnit("cluster:99".into(), me.into()),
        // A write, then the read of the same bag: read-your-writes, from the cache.
        Step::RelationSet(cluster.clone(), false, bag(&[("k", "v"), ("gone", "")])),
        Step::RelationGetUnit(cluster.clone(), me.into()),
        // The app bag: only the leader writes it.
        Step::RelationSet(cluster.clone(), true, bag(&[("a", "1")])),
        Step::RelationGetApp(cluster.clone(), APP.into()),
        // A write to a bag not read yet: the next read runs the tool.
        Step::RelationSet(restart.clone(), false, bag(&[("r", "x")])),
        Step::RelationGetUnit(restart.clone(), me.into()),
        Step::RelationSet(restart.clone(), false, BTreeMap::new()),
        Step::RelationSet("cluster:99".into(), false, bag(&[("k", "v")])),
        Step::ConfigGet,
        Step::ConfigGet,
        Step::NetworkGet("cluster".into()),
        Step::NetworkGet("no-such-binding".into()),
        Step::UnitGet("private-address".into()),
        Step::UnitGet("colour".into()),
        Step::GoalState,
        // Secrets: an application secret (the leader adds it, every unit reads it by its
        // owner label), a unit secret, the owner's rules, unknown ids and labels.
        Step::SecretAdd(
            bag(&[("one-key", "v1"), ("two", "x y")]),
            Some(SECRET_LABEL.into()),
            true,
        ),
        Step::SecretGet(Target::Label(SECRET_LABEL.into()), Read::Tracked),
        Step::SecretGet(Target::Label(SECRET_LABEL.into()), Read::Tracked),
        Step::SecretInfoGet(Target::Label(SECRET_LABEL.into())),
        Step::SecretSet(Target::Last, bag(&[("one-key", "v2")])),
        Step::SecretGet(Target::Last, Read::Tracked),
        Step::SecretGet(Target::Last, Read::Refresh),
        Step::SecretGet(Target::Label(SECRET_LABEL.into()), Read::Refresh),
        Step::SecretGet(Target::Label(SECRET_LABEL.into()), Read::Peek),
        Step::SecretGet(Target::Label("no-such-label".into()), Read::Tracked),
        Step::SecretGet(Target::Id(UNKNOWN_SECRET.into()), Read::Tracked),
        Step::SecretInfoGet(Target::Id(UNKNOWN_SECRET.into())),
        Step::SecretSet(Target::Id(UNKNOWN_SECRET.into()), bag(&[("one-key", "v")])),
        Step::SecretIds,
        Step::SecretAdd(bag(&[("Bad_Key", "v")]), None, false),
        Step::SecretAdd(bag(&[("mine", "u1")]), Some(format!("{me}.own")), false),
        Step::SecretGet(Target::Label(format!("{me}.own")), Read::Tracked),
        Step::SecretSet(Target::Last, bag(&[("mine", "u2")])),
        Step::SecretGet(Target::Last, Read::Tracked),
        Step::SecretGrant(Target::Last, "cluster:99".into()),
        Step::SecretRemove(Target::Last),
        Step::SecretGet(Target::Last, Read::Tracked),
        Step::SecretIds,
        Step::ActionGet,
        Step::ActionSet(bag(&[("result", "ok"), ("nested.key-1", "x")])),
        Step::ActionSet(BTreeMap::new()),
    ];
    if in_action {
        // Keys jujuc refuses, and one it splits: the error is the first bad part of the
        // first bad argument (keys go in text order).
        steps.extend([
            Step::ActionSet(bag(&[("Foo", "1")])),
            Step::ActionSet(bag(&[("a..b", "1")])),
            Step::ActionSet(bag(&[("stdout", "1")])),
            Step::ActionSet(bag(&[("b", "1"), ("A", "2")])),
            Step::ActionSet(bag(&[("k=v", "w")])),
        ]);
    }
    steps.extend([
        Step::StatusSet("maintenance".into(), "checking the tools".into(), false),
        Step::StatusSet("active".into(), "all good".into(), true),
        Step::ApplicationVersionSet("1.2.3".into()),
        // Ports: this hook's opens and closes land at its end, `opened-ports` shows the
        // earlier hooks' (the local model's default, as Juju 3.x documents it).
        Step::OpenedPorts,
        Step::OpenPort(2181, "tcp".into()),
        Step::OpenPort(8080, "tcp".into()),
        Step::ClosePort(8080, "tcp".into()),
        Step::ClosePort(9999, "tcp".into()),
        Step::OpenedPorts,
        Step::ActionFail("done with it".into()),
    ]);
    steps
}

/// Calls where the local model's tools once differed from Juju: `action-set`'s argument
/// checks and their order, relation-get of a unit never in the relation, open-port of a bad
/// protocol.
fn strict_steps(ids: &BTreeMap<String, String>, in_action: bool) -> Vec<Step> {
    let cluster = ids["cluster"].clone();
    let mut steps = vec![
        // jujuc checks every dotted part for being reserved, right after its naming rule.
        Step::ActionSet(bag(&[("a.stderr", "1")])),
        Step::ActionSet(bag(&[("stdout.X", "1")])),
        // `=1` splits into the key "" and the value 1: the key breaks the naming rule.
        Step::ActionSet(bag(&[("", "1")])),
        // A unit never in the relation: Juju names the unit again before "settings not
        // found".
        Step::RelationGetUnit(cluster, format!("{APP}/7")),
        // Juju validates the protocol with its own message.
        Step::OpenPort(2181, "sctp".into()),
    ];
    if !in_action {
        // jujuc checks the arguments (exit 2) before it looks for the action (exit 1).
        steps.extend([
            Step::ActionSet(bag(&[("Foo", "1")])),
            Step::ActionSet(bag(&[("stdout", "1")])),
        ]);
    }
    steps
}

// ---- the runner, inside a hook ----------------------------------------------------------

/// Not a test of its own: the conformance tests make the local model's `dispatch` run it
/// inside a hook (filtered by name, with `--ignored`); run any other way it does nothing.
#[test]
#[ignore = "run by the conformance tests inside a hook of the local model"]
fn script_runner_inside_a_hook() {
    let Some(dir) = std::env::var_os(DIR_ENV).map(PathBuf::from) else {
        return;
    };
    let steps: Vec<Step> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("script.json")).unwrap()).unwrap();
    let tools = ProcessHookTools::new();
    let answers = run_steps(&tools, &steps);
    let report = Report {
        answers,
        runs: tools.calls(),
    };
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string(&report).unwrap(),
    )
    .unwrap();
}

// ---- the model ----------------------------------------------------------------------------

/// A local model of two units of a charm whose `dispatch` runs the script runner when the
/// unit and hook match what `<dir>/armed` says, and does nothing otherwise.
struct Bench {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    model: Model,
}

const ACTIONS_YAML: &str = "\
conform:
  description: runs the conformance script
  params:
    arg:
      type: string
    level:
      type: integer
      default: 3
  additionalProperties: false
";

impl Bench {
    fn new() -> Bench {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("exchange");
        let charm = tmp.path().join("charm");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&charm).unwrap();
        let peers: String = PEERS
            .iter()
            .map(|p| format!("  {p}:\n    interface: {p}\n"))
            .collect();
        std::fs::write(
            charm.join("metadata.yaml"),
            format!("name: {APP}\nsummary: s\ndescription: d\npeers:\n{peers}"),
        )
        .unwrap();
        std::fs::write(
            charm.join("config.yaml"),
            "options:\n  tick-time:\n    type: int\n    default: 2000\n    description: t\n  log-level:\n    type: string\n    default: INFO\n    description: l\n",
        )
        .unwrap();
        std::fs::write(charm.join("actions.yaml"), ACTIONS_YAML).unwrap();
        let exe = std::env::current_exe().unwrap();
        let dispatch = charm.join("dispatch");
        std::fs::write(
            &dispatch,
            format!(
                "#!/bin/sh\nif [ \"$JUJU_UNIT_NAME $JUJU_DISPATCH_PATH\" = \"$(cat '{d}/armed' 2>/dev/null)\" ]; then\n  {DIR_ENV}='{d}' exec '{exe}' {RUNNER} --exact --ignored --test-threads=1 -q\nfi\n",
                d = dir.display(),
                exe = exe.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&dispatch, std::fs::Permissions::from_mode(0o755)).unwrap();
        let opts = ModelOptions {
            isolated_addresses: true,
            ..ModelOptions::default()
        };
        let mut model = Model::create_with(tmp.path().join("model"), &charm, 7, opts).unwrap();
        model.deploy(2).unwrap();
        model.settle(SettleLimits::fast()).unwrap();
        Bench {
            _tmp: tmp,
            dir,
            model,
        }
    }

    fn peer_ids(&self) -> BTreeMap<String, String> {
        self.model
            .state()
            .unwrap()
            .relations
            .values()
            .filter(|r| r.peer())
            .map(|r| {
                let endpoint = r.ends[0].endpoint.clone();
                let id = format!("{endpoint}:{}", r.id);
                (endpoint, id)
            })
            .collect()
    }

    /// The fake for `unit`, built from the model as it is now.
    fn fake(&self, unit: &str, action_params: Option<Value>) -> FakeHookTools {
        let m = &self.model;
        let status = m.status().unwrap();
        let leader = m.leader().unwrap();
        let config: Map<String, Value> = m
            .config()
            .unwrap()
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .collect();
        let own = status.iter().find(|u| u.unit == unit).unwrap();
        let mut fake = FakeHookTools::new(unit)
            .leader(leader.as_deref() == Some(unit))
            .config(Value::Object(config))
            .address(&own.address)
            .bindings(PEERS)
            .goal_units(status.iter().map(|u| (u.unit.clone(), u.workload.clone())))
            .ports(&own.ports.iter().map(String::as_str).collect::<Vec<_>>());
        for (endpoint, id) in self.peer_ids() {
            let mut rel = FakeRelation::peer().app_bag(APP, m.app_databag(&endpoint).unwrap());
            for (u, b) in m.unit_databags(&endpoint).unwrap() {
                rel = if u == unit {
                    rel.unit_bag(&u, b)
                } else {
                    rel.member(&u, b)
                };
            }
            fake = fake.relation(&id, rel);
        }
        for view in m.secrets().unwrap() {
            let content = m
                .show_secret(&view.id, true)
                .unwrap()
                .content
                .unwrap_or_default();
            let content = SecretContent(content.into_iter().collect());
            let mut secret = if view.owner_kind == "application" {
                FakeSecret::of_app(&view.uri, &view.owner, content.clone())
            } else {
                FakeSecret::of_unit(&view.uri, &view.owner, content.clone())
            };
            for _ in 1..view.revision {
                secret = secret.revision(content.clone());
            }
            if let Some(l) = &view.label {
                secret = secret.label(l);
            }
            fake = fake.secret(secret);
        }
        if let Some(params) = action_params {
            fake = fake.action_params(params);
        }
        fake
    }

    /// Runs `steps` on `unit`, in the action `conform` (with `params`) or in
    /// `update-status`, and returns the runner's report.
    fn run_in_model(&mut self, unit: &str, action: Option<Value>, steps: &[Step]) -> Run {
        std::fs::write(
            self.dir.join("script.json"),
            serde_json::to_string(steps).unwrap(),
        )
        .unwrap();
        let _ = std::fs::remove_file(self.dir.join("report.json"));
        let path = if action.is_some() {
            "actions/conform"
        } else {
            "hooks/update-status"
        };
        std::fs::write(self.dir.join("armed"), format!("{unit} {path}")).unwrap();
        let result = match &action {
            Some(Value::Object(params)) => Some(
                self.model
                    .run_action_with(unit, "conform", params.clone())
                    .unwrap(),
            ),
            Some(other) => panic!("params must be an object: {other}"),
            None => {
                let m = self
                    .model
                    .run_hook_measured(unit, HookSpec::plain(HookKind::UpdateStatus))
                    .unwrap();
                assert!(m.record.succeeded(), "{}", m.record);
                None
            }
        };
        std::fs::remove_file(self.dir.join("armed")).unwrap();
        let text = std::fs::read_to_string(self.dir.join("report.json")).unwrap_or_else(|e| {
            panic!(
                "the runner left no report ({e}); action: {result:?}; debug log:\n{}",
                std::fs::read_to_string(self.model.dir().join("debug-log")).unwrap_or_default()
            )
        });
        let report: Report = serde_json::from_str(&text).unwrap();
        let m = &self.model;
        let st = m.state().unwrap();
        let unit_status = m
            .status()
            .unwrap()
            .into_iter()
            .find(|u| u.unit == unit)
            .unwrap();
        let mut bags = BTreeMap::new();
        for endpoint in PEERS {
            let id = &self.peer_ids()[endpoint];
            bags.insert(
                (id.clone(), "unit"),
                m.unit_databags(endpoint).unwrap()[unit].clone(),
            );
            bags.insert((id.clone(), "app"), m.app_databag(endpoint).unwrap());
        }
        Run {
            report,
            bags,
            action: result.map(|r| {
                let mut flat = BTreeMap::new();
                flatten("", &Value::Object(r.results.clone()), &mut flat);
                (flat, (r.status == "failed").then(|| r.message.clone()))
            }),
            status: (unit_status.workload, unit_status.message),
            app_version: st.applications[&st.units[unit].app].version.clone(),
            ports: st.units[unit].ports.iter().cloned().collect(),
        }
    }
}

/// A run's results and the state it left, as comparable values.
#[derive(Debug)]
struct Run {
    report: Report,
    bags: BTreeMap<(String, &'static str), BTreeMap<String, String>>,
    /// The action's results (dotted keys) and failure message.
    action: Option<(BTreeMap<String, String>, Option<String>)>,
    status: (String, String),
    app_version: String,
    ports: Vec<String>,
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The answers with each secret URI or id (the models make different ones) replaced by
/// `<secret N>`, N counting distinct ids in order of appearance.
fn normalise_ids(answers: Vec<Answer>) -> Vec<Answer> {
    let mut seen: Vec<String> = Vec::new();
    let mut fix = |text: &str| -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("secret:") {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || ":/-".contains(c)))
                .unwrap_or(tail.len());
            let short = tail[..end]
                .rsplit('/')
                .next()
                .unwrap_or("")
                .trim_start_matches("secret:")
                .to_string();
            let n = seen.iter().position(|s| *s == short).unwrap_or_else(|| {
                seen.push(short.clone());
                seen.len() - 1
            });
            out.push_str(&format!("<secret {n}>"));
            rest = &tail[end..];
        }
        out.push_str(rest);
        // Bare ids in messages (`secret "<id>" not found`).
        for (n, short) in seen.iter().enumerate() {
            out = out.replace(short.as_str(), &format!("<secret {n}>"));
        }
        out
    };
    answers
        .into_iter()
        .map(|a| match a {
            Answer::Ok(t) => Answer::Ok(fix(&t)),
            Answer::Failed { cmd, code, stderr } => Answer::Failed {
                cmd: fix(&cmd),
                code,
                stderr: fix(&stderr),
            },
            Answer::Other(t) => Answer::Other(fix(&t)),
        })
        .collect()
}

/// Runs `steps` against the fake (built from the model now) and in the model, and returns
/// the differences, one line each.
fn differences(
    bench: &mut Bench,
    unit: &str,
    action: Option<Value>,
    steps: &[Step],
) -> Vec<String> {
    let fake = bench.fake(unit, action.as_ref().map(with_defaults));
    let fake_answers: Vec<Answer> = normalise_ids(run_steps(&fake, steps));
    let fake_runs: BTreeMap<String, usize> =
        fake.calls().into_iter().fold(BTreeMap::new(), |mut m, c| {
            *m.entry(c.tool).or_default() += 1;
            m
        });
    let mut run = bench.run_in_model(unit, action.clone(), steps);
    run.report.answers = normalise_ids(std::mem::take(&mut run.report.answers));
    let context = format!(
        "{unit} in {}",
        if action.is_some() {
            "an action"
        } else {
            "a hook"
        }
    );
    let mut diffs = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let (ours, theirs) = (&fake_answers[i], &run.report.answers[i]);
        if ours != theirs {
            diffs.push(format!(
                "{context}: {step:?}\n    fake:  {ours:?}\n    model: {theirs:?}"
            ));
        }
    }
    if fake_runs != run.report.runs {
        diffs.push(format!(
            "{context}: tools run\n    fake:  {fake_runs:?}\n    model: {:?}",
            run.report.runs
        ));
    }
    for ((id, which), theirs) in &run.bags {
        let b = if *which == "unit" {
            Bag::Unit(unit.into())
        } else {
            Bag::App(APP.into())
        };
        let ours = fake.relation_data(id, &b);
        if &ours != theirs {
            diffs.push(format!(
                "{context}: {id} {which} bag after\n    fake:  {ours:?}\n    model: {theirs:?}"
            ));
        }
    }
    if let Some((results, failure)) = &run.action {
        if &fake.action_results() != results || &fake.action_failure() != failure {
            diffs.push(format!(
                "{context}: action outcome\n    fake:  {:?} {:?}\n    model: {results:?} {failure:?}",
                fake.action_results(),
                fake.action_failure()
            ));
        }
    }
    let ours = fake
        .unit_status()
        .map(|s| (s.kind.as_str().to_string(), s.message));
    if ours.is_some() && ours.as_ref() != Some(&run.status) {
        diffs.push(format!(
            "{context}: unit status\n    fake:  {ours:?}\n    model: {:?}",
            run.status
        ));
    }
    if let Some(v) = fake.application_version() {
        if v != run.app_version {
            diffs.push(format!(
                "{context}: application version {v:?} vs {:?}",
                run.app_version
            ));
        }
    }
    let ours: Vec<String> = fake.ports_now().into_iter().collect();
    if ours != run.ports {
        diffs.push(format!("{context}: ports {ours:?} vs {:?}", run.ports));
    }
    diffs
}

/// `action-get`'s answer: the params given plus `actions.yaml`'s defaults.
fn with_defaults(given: &Value) -> Value {
    let mut params = json!({"level": 3});
    for (k, v) in given.as_object().unwrap() {
        params[k] = v.clone();
    }
    params
}

fn assert_same(diffs: Vec<String>) {
    assert!(
        diffs.is_empty(),
        "the fake hook tools and the local model's disagree:\n{}",
        diffs.join("\n")
    );
}

#[test]
fn the_fake_hook_tools_answer_as_the_local_models_tools_do() {
    let mut bench = Bench::new();
    let leader = bench.model.leader().unwrap().expect("a leader");
    let other = if leader == "tiny/0" {
        "tiny/1"
    } else {
        "tiny/0"
    };
    let ids = bench.peer_ids();
    let mut diffs = Vec::new();
    // The leader and a non-leader in an action; the non-leader in a hook.
    for (unit, action) in [
        (leader.as_str(), Some(json!({"arg": "hello"}))),
        (other, Some(json!({}))),
        (other, None),
    ] {
        let remote = if unit == leader {
            other
        } else {
            leader.as_str()
        };
        let steps = agreed_steps(unit, remote, &ids, action.is_some());
        diffs.extend(differences(&mut bench, unit, action, &steps));
    }
    assert_same(diffs);
}

#[test]
fn the_fake_and_the_local_models_tools_agree_on_jujus_argument_checks_and_error_texts() {
    let mut bench = Bench::new();
    let leader = bench.model.leader().unwrap().expect("a leader");
    let other = if leader == "tiny/0" {
        "tiny/1"
    } else {
        "tiny/0"
    };
    let ids = bench.peer_ids();
    let mut diffs = Vec::new();
    for (unit, action) in [(leader.as_str(), Some(json!({}))), (other, None)] {
        let steps = strict_steps(&ids, action.is_some());
        diffs.extend(differences(&mut bench, unit, action, &steps));
    }
    assert_same(diffs);
}

/// The tools the script reaches are the ones `HookTools` has: a new trait method needs a
/// step here.
#[test]
fn the_script_calls_every_hook_tool_the_charm_uses() {
    let ids: BTreeMap<String, String> = PEERS
        .iter()
        .enumerate()
        .map(|(i, p)| (p.to_string(), format!("{p}:{i}")))
        .collect();
    let fake = FakeHookTools::new("tiny/0")
        .leader(true)
        .address("127.0.0.11")
        .action_params(json!({}))
        .relation(&ids["cluster"], FakeRelation::peer())
        .relation(&ids["restart"], FakeRelation::peer())
        .relation(&ids["upgrade"], FakeRelation::peer());
    run_steps(&fake, &agreed_steps("tiny/0", "tiny/1", &ids, true));
    let ran: std::collections::BTreeSet<String> =
        fake.calls().into_iter().map(|c| c.tool).collect();
    let every: std::collections::BTreeSet<String> = [
        "is-leader",
        "relation-ids",
        "relation-list",
        "relation-get",
        "relation-set",
        "config-get",
        "status-set",
        "action-get",
        "action-set",
        "action-fail",
        "application-version-set",
        "network-get",
        "unit-get",
        "goal-state",
        "open-port",
        "close-port",
        "opened-ports",
        "secret-add",
        "secret-get",
        "secret-set",
        "secret-info-get",
        "secret-ids",
        "secret-grant",
        "secret-remove",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(ran, every);
}
