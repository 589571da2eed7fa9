//! `zk-sim`: a local Juju model on this machine, driven with juju's verbs.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use serde_json::{json, Value};
use zk_sim::tools::args::{self, boolean, value, Args, Flag};
use zk_sim::{HookRecord, Model, ModelOptions, SettleLimits, SimError, UnitStatus};

const HELP: &str = "\
zk-sim: a local Juju model. Runs a real machine charm (a .charm zip or a charm directory)
the way Juju 3.6 would: one application, units on 127.0.0.11, .12, ..., fake hook tools,
hooks one at a time in an order chosen by a seed (same seed, same order).

Usage: zk-sim [--model-dir DIR] <verb> [args]

Verbs (juju's):
  deploy [--path CHARM] [-n N] [--seed S] [--config k=v]... [--address-prefix 127.0.K.]
                          create the model and its units (default -n 1; --path defaults to
                          the one *.charm in the current directory; the seed to a random one,
                          printed so the run can be replayed; unit n gets <prefix><11+n>,
                          default prefix 127.0.0.)
  add-unit [-n N]         add units
  remove-unit <unit>...   depart, stop and remove units (their ZooKeeper is stopped by pid)
  config                  print the config; `config <key>` prints one value
  config k=v ...          change it (`k=` resets to the default)
  run <unit> <action> [k=v...] [--format json] [--string-args]
                          run an action and print its results (values YAML-typed like
                          `juju run`; --string-args keeps them strings); exit 1 if it failed
  refresh --path CHARM    upgrade the charm (upgrade-charm, config-changed on every unit)
  leader <unit>           move leadership (leader-elected there)
  settle                  run queued hooks until the model is quiet (see below)
  status [--format json]  units: workload status, agent, address, ports, ZooKeeper role
  show-unit <unit> [--format json]
                          a unit's relation data (its bag, the others', the app bag)
  debug-log [--unit U] [--lines N]
  hook-log [--unit U] [--format json]
                          every hook and action run: unit, hook, remote unit, outcome
  inject-failure <unit> <tool> [--times N]
                          make a hook tool fail (exit 1) the next N calls by that unit
  destroy                 stop every ZooKeeper the units started (by pid), delete the model

Settling: deploy, add-unit, remove-unit, config k=v, run, refresh and leader queue hooks and
then settle by default (--no-settle only queues; `zk-sim settle` runs them later). Settle
runs queued hooks, retries failed hooks (up to 5 times), then simulated 5-minute
update-status ticks until one tick queues nothing, changes no status and leaves no unit in
error. One summary line per settle, failed hooks as they happen, every hook with -v.
Settle options:
  --max-hooks N     give up after N hook runs (default 2000)
  --timeout S       give up after S seconds (default 600)
  --tick S          real seconds between update-status ticks (default 1)
  --until-active    keep ticking until every unit is active (or the timeout)
  --no-settle       only queue
  -v, --verbose     print every hook run

Global: --model-dir DIR (or $SIM_DIR; default ./.sim). Exit code 0 on success, 1 on error.
";

const COMMON: &[Flag] = &[
    value(&["model-dir"]),
    boolean(&["v", "verbose"]),
    boolean(&["h", "help"]),
    boolean(&["no-settle"]),
    value(&["max-hooks"]),
    value(&["timeout"]),
    value(&["tick"]),
    boolean(&["until-active"]),
];

fn parse(argv: &[String], extra: &[Flag]) -> Result<Args> {
    let mut flags: Vec<Flag> = COMMON.to_vec();
    flags.extend_from_slice(extra);
    args::parse(argv, &flags).map_err(|e| anyhow!("{}", e.message))
}

fn model_dir(a: &Args) -> PathBuf {
    a.value("model-dir")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("SIM_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".sim"))
}

fn number<T: std::str::FromStr>(a: &Args, key: &str, default: T) -> Result<T> {
    match a.value(key) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| anyhow!("--{key}: {v:?} is not a number")),
    }
}

fn limits(a: &Args) -> Result<SettleLimits> {
    let d = SettleLimits::default();
    Ok(SettleLimits {
        max_hooks: number(a, "max-hooks", d.max_hooks)?,
        timeout: Duration::from_secs_f64(number(a, "timeout", d.timeout.as_secs_f64())?),
        tick_interval: Duration::from_secs_f64(number(a, "tick", d.tick_interval.as_secs_f64())?),
        retry_delay: d.retry_delay,
        until_active: a.flag("until-active"),
    })
}

fn kv(s: &str) -> Result<(String, String)> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| anyhow!("expected key=value, got {s:?}"))
}

fn open(a: &Args) -> Result<Model> {
    let dir = model_dir(a);
    let mut m = Model::open(&dir)
        .with_context(|| "no model here; run `zk-sim deploy` first".to_string())?;
    let verbose = a.flag("v");
    m.on_hook(move |r: &HookRecord| {
        if verbose || !r.succeeded() {
            eprintln!("  {r}");
        }
    });
    Ok(m)
}

/// Settles unless --no-settle, printing the progress line.
fn settle(m: &mut Model, a: &Args, what: &str) -> Result<()> {
    if a.flag("no-settle") {
        println!("{what}: queued, not settled (--no-settle); `zk-sim settle` runs the hooks");
        return Ok(());
    }
    match m.settle(limits(a)?) {
        Ok(report) => {
            println!("{what}: settled: {report}");
            Ok(())
        }
        Err(SimError::Unsettled { reason, report }) => {
            println!("{what}: NOT settled: {report}");
            bail!("{reason}")
        }
        Err(e) => Err(e.into()),
    }
}

fn find_charm() -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(".")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "charm"))
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!(
            "no --path given and no *.charm in the current directory (run `cargo xtask pack`)"
        ),
        _ => bail!("no --path given and several *.charm here: {found:?}"),
    }
}

fn cmd_deploy(argv: &[String]) -> Result<()> {
    let a = parse(
        argv,
        &[
            value(&["path"]),
            value(&["n", "num-units"]),
            value(&["seed"]),
            value(&["config"]),
            value(&["address-prefix"]),
        ],
    )?;
    a.no_more(0).map_err(|e| anyhow!("{}", e.message))?;
    let path = match a.value("path") {
        Some(p) => PathBuf::from(p),
        None => find_charm()?,
    };
    let n: u32 = number(&a, "n", 1)?;
    let seed: u64 = match a.value("seed") {
        Some(s) => s
            .parse()
            .map_err(|_| anyhow!("--seed: {s:?} is not a number"))?,
        None => {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            zk_sim::rng::mix(t.as_nanos() as u64 ^ u64::from(std::process::id())) % 1_000_000
        }
    };
    let dir = model_dir(&a);
    // This binary also serves the hook tools (see `main`), so the model needs nothing else.
    let mut opts = ModelOptions {
        jujuc: Some(std::env::current_exe().context("finding the zk-sim executable")?),
        ..ModelOptions::default()
    };
    if let Some(p) = a.value("address-prefix") {
        opts.address_prefix = p.to_string();
    }
    let mut m = Model::create_with(&dir, &path, seed, opts)?;
    // The CLI model lives on after this process.
    m.set_destroy_on_drop(false);
    let pairs: Vec<(String, String)> = a
        .all("config")
        .iter()
        .map(|s| kv(s))
        .collect::<Result<_>>()?;
    if !pairs.is_empty() {
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        m.set_config(&refs)?;
    }
    let units = m.deploy(n)?;
    warn_taken_addresses(&m, &units)?;
    println!(
        "deployed {} ({} unit{}) from {} in {}; seed {seed} (replay with --seed {seed})",
        m.app_name()?,
        units.len(),
        if units.len() == 1 { "" } else { "s" },
        path.display(),
        dir.display()
    );
    drop(m);
    let mut m = open(&a)?;
    settle(&mut m, &a, "deploy")
}

/// Warns when something already answers on a new unit's ZooKeeper port (another model on
/// the same addresses): that unit's server could not start.
fn warn_taken_addresses(m: &Model, units: &[String]) -> Result<()> {
    for u in m.status()?.iter().filter(|u| units.contains(&u.unit)) {
        let Ok(addr) = format!("{}:2181", u.address).parse::<std::net::SocketAddr>() else {
            continue;
        };
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            eprintln!(
                "WARNING {addr} already answers (another model on these addresses?); {} cannot serve \
                 there. Destroy the other model or deploy with --address-prefix 127.0.<k>.",
                u.unit
            );
        }
    }
    Ok(())
}

fn cmd_add_unit(argv: &[String]) -> Result<()> {
    let a = parse(argv, &[value(&["n", "num-units"])])?;
    let mut m = open(&a)?;
    let n: u32 = number(&a, "n", 1)?;
    let mut names = Vec::new();
    for _ in 0..n {
        names.push(m.add_unit()?);
    }
    warn_taken_addresses(&m, &names)?;
    println!("added {}", names.join(", "));
    settle(&mut m, &a, "add-unit")
}

fn cmd_remove_unit(argv: &[String]) -> Result<()> {
    let a = parse(argv, &[])?;
    if a.positional.is_empty() {
        bail!("remove-unit needs at least one unit");
    }
    let mut m = open(&a)?;
    for u in &a.positional {
        m.remove_unit(u)?;
    }
    println!("removing {}", a.positional.join(", "));
    settle(&mut m, &a, "remove-unit")
}

fn cmd_config(argv: &[String]) -> Result<()> {
    let a = parse(argv, &[])?;
    let mut m = open(&a)?;
    if a.positional.is_empty() || (a.positional.len() == 1 && !a.positional[0].contains('=')) {
        let st = m.state()?;
        let effective = st.charm.meta.effective_config(&st.config, true);
        if let Some(key) = a.positional.first() {
            let v = effective
                .get(key)
                .ok_or_else(|| anyhow!("unknown option {key:?}"))?;
            println!(
                "{}",
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            );
            return Ok(());
        }
        let mut settings = serde_json::Map::new();
        for (k, opt) in &st.charm.meta.options {
            let mut e = serde_json::Map::new();
            if let Some(d) = &opt.default {
                e.insert("default".into(), d.clone());
            }
            e.insert(
                "description".into(),
                json!(opt.description.as_deref().unwrap_or_default().trim_end()),
            );
            e.insert(
                "source".into(),
                json!(if st.config.contains_key(k) {
                    "user"
                } else {
                    "default"
                }),
            );
            e.insert("type".into(), serde_json::to_value(opt.kind)?);
            if let Some(v) = effective.get(k).filter(|v| !v.is_null()) {
                e.insert("value".into(), v.clone());
            }
            settings.insert(k.clone(), Value::Object(e));
        }
        let out = json!({"application": st.app, "charm": st.app, "settings": settings});
        print!("{}", serde_yaml_ng::to_string(&out)?);
        return Ok(());
    }
    let pairs: Vec<(String, String)> = a.positional.iter().map(|s| kv(s)).collect::<Result<_>>()?;
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if m.set_config(&refs)? {
        settle(&mut m, &a, "config")
    } else {
        println!("config: unchanged, no config-changed queued");
        Ok(())
    }
}

fn cmd_run(argv: &[String]) -> Result<()> {
    let a = parse(argv, &[value(&["format"]), boolean(&["string-args"])])?;
    let (unit, action) = match a.positional.as_slice() {
        [u, act, ..] => (u.clone(), act.clone()),
        _ => bail!("usage: zk-sim run <unit> <action> [k=v...]"),
    };
    let pairs: Vec<(String, String)> = a.positional[2..]
        .iter()
        .map(|s| kv(s))
        .collect::<Result<_>>()?;
    let params = zk_sim::tools::typed_params(&pairs, a.flag("string-args"));
    let mut m = open(&a)?;
    let r = m.run_action_with(&unit, &action, params)?;
    if a.value("format") == Some("json") {
        let out = json!({ r.unit.clone(): {
            "id": r.id.to_string(),
            "unit": r.unit,
            "status": r.status,
            "message": r.message,
            "results": r.juju_results(),
        }});
        println!("{}", serde_json::to_string(&out)?);
    } else {
        let mut shown = r.results.clone();
        if !r.stdout.is_empty() {
            shown.insert("stdout".into(), json!(r.stdout));
        }
        if !shown.is_empty() {
            print!("{}", serde_yaml_ng::to_string(&Value::Object(shown))?);
        }
    }
    let failed = !r.completed();
    if failed {
        eprintln!(
            "ERROR action {} on {} failed: {}",
            r.action, r.unit, r.message
        );
    }
    settle(&mut m, &a, "run")?;
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

fn cmd_refresh(argv: &[String]) -> Result<()> {
    let a = parse(argv, &[value(&["path"])])?;
    let path = a
        .value("path")
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("refresh needs --path CHARM"))?;
    let mut m = open(&a)?;
    m.refresh(&path)?;
    let rev = m.state()?.charm.shown_revision();
    println!("refreshing to revision {rev} from {}", path.display());
    settle(&mut m, &a, "refresh")
}

fn cmd_leader(argv: &[String]) -> Result<()> {
    let a = parse(argv, &[])?;
    let [unit] = a.positional.as_slice() else {
        bail!("usage: zk-sim leader <unit>");
    };
    let mut m = open(&a)?;
    m.set_leader(unit)?;
    println!("{unit} is the leader");
    settle(&mut m, &a, "leader")
}

fn cmd_settle(argv: &[String]) -> Result<()> {
    let a = parse(argv, &[])?;
    let mut m = open(&a)?;
    match m.settle(limits(&a)?) {
        Ok(report) => {
            println!("settled: {report}");
            Ok(())
        }
        Err(SimError::Unsettled { reason, report }) => {
            println!("NOT settled: {report}");
            bail!("{reason}")
        }
        Err(e) => Err(e.into()),
    }
}

fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line += cell;
            } else {
                line += &format!("{cell:<w$}  ", w = widths[i]);
            }
        }
        out += line.trim_end();
        out.push('\n');
    }
    out
}

fn cmd_status(argv: &[String]) -> Result<()> {
    let a = parse(argv, &[value(&["format"])])?;
    let m = open(&a)?;
    let st = m.state()?;
    let units: Vec<UnitStatus> = m.status_with_roles()?;
    let (app_status, app_message, version) = m.app_status()?;
    if a.value("format") == Some("json") {
        let out = json!({
            "model": {"name": st.model_name, "uuid": st.model_uuid, "version": zk_sim::JUJU_VERSION, "seed": st.seed, "dir": m.dir()},
            "application": {"name": st.app, "status": app_status, "message": app_message, "version": version,
                            "charm-rev": st.charm.shown_revision(), "scale": units.len(), "leader": st.leader},
            "units": units,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let mut out = String::new();
    out += &table(&[
        vec![
            "Model".into(),
            "Version".into(),
            "Seed".into(),
            "Directory".into(),
        ],
        vec![
            st.model_name.clone(),
            zk_sim::JUJU_VERSION.into(),
            st.seed.to_string(),
            m.dir().display().to_string(),
        ],
    ]);
    out.push('\n');
    out += &table(&[
        vec![
            "App".into(),
            "Version".into(),
            "Status".into(),
            "Scale".into(),
            "Charm".into(),
            "Rev".into(),
            "Message".into(),
        ],
        vec![
            st.app.clone(),
            version,
            app_status,
            units.len().to_string(),
            st.app.clone(),
            st.charm.shown_revision().to_string(),
            app_message,
        ],
    ]);
    out.push('\n');
    let mut rows = vec![vec![
        "Unit".to_string(),
        "Workload".into(),
        "Agent".into(),
        "Address".into(),
        "Ports".into(),
        "Role".into(),
        "Message".into(),
    ]];
    for u in &units {
        let ports: Vec<String> = st
            .units
            .get(&u.unit)
            .map(|x| x.ports.iter().cloned().collect())
            .unwrap_or_default();
        rows.push(vec![
            format!("{}{}", u.unit, if u.leader { "*" } else { "" }),
            u.workload.clone(),
            u.agent.clone(),
            u.address.clone(),
            if ports.is_empty() {
                "-".into()
            } else {
                ports.join(",")
            },
            u.role.clone().unwrap_or_else(|| "-".into()),
            u.message.clone(),
        ]);
    }
    out += &table(&rows);
    print!("{out}");
    Ok(())
}

fn cmd_show_unit(argv: &[String]) -> Result<()> {
    let a = parse(argv, &[value(&["format"])])?;
    let [unit] = a.positional.as_slice() else {
        bail!("usage: zk-sim show-unit <unit>");
    };
    let m = open(&a)?;
    let st = m.state()?;
    let u = st
        .units
        .get(unit)
        .ok_or_else(|| anyhow!("unit {unit:?} not found"))?;
    let bag =
        |b: &zk_sim::Bag| Value::Object(b.iter().map(|(k, v)| (k.clone(), json!(v))).collect());
    let mut rels = Vec::new();
    for r in st.relations.values() {
        let Some(scope) = u.scope.get(&r.id) else {
            continue;
        };
        let related: serde_json::Map<String, Value> = scope
            .members
            .iter()
            .map(|mbr| {
                let data = r.units.get(mbr).map(|b| bag(&b.bag)).unwrap_or(json!({}));
                (
                    mbr.clone(),
                    json!({"in-scope": st.units.contains_key(mbr), "data": data}),
                )
            })
            .collect();
        rels.push(json!({
            "endpoint": r.endpoint,
            "related-endpoint": r.endpoint,
            "relation-id": r.id,
            "application-data": bag(&r.app_bag),
            "local-unit": {"in-scope": true, "data": r.units.get(unit).map(|b| bag(&b.bag)).unwrap_or(json!({}))},
            "related-units": related,
        }));
    }
    let out = json!({ unit.clone(): {
        "workload-version": st.app_version,
        "charm": format!("local:{}-{}", st.app, u.charm_revision),
        "leader": st.leader.as_deref() == Some(unit.as_str()),
        "life": if u.life == zk_sim::state::Life::Alive { "alive" } else { "dying" },
        "public-address": u.address,
        "opened-ports": u.ports,
        "relation-info": rels,
        "unit-dir": u.dir,
    }});
    if a.value("format") == Some("json") {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", serde_yaml_ng::to_string(&out)?);
    }
    Ok(())
}

fn cmd_debug_log(argv: &[String]) -> Result<()> {
    let a = parse(argv, &[value(&["unit"]), value(&["lines", "n"])])?;
    let m = open(&a)?;
    let lines: Option<usize> = match a.value("lines") {
        Some(v) => Some(
            v.parse()
                .map_err(|_| anyhow!("--lines: {v:?} is not a number"))?,
        ),
        None => None,
    };
    let mut out = std::io::stdout().lock();
    for l in m.debug_log(a.value("unit"), lines)? {
        writeln!(out, "{l}")?;
    }
    Ok(())
}

fn cmd_hook_log(argv: &[String]) -> Result<()> {
    let a = parse(argv, &[value(&["unit"]), value(&["format"])])?;
    let m = open(&a)?;
    let mut out = std::io::stdout().lock();
    for r in m
        .hook_log()?
        .iter()
        .filter(|r| a.value("unit").is_none_or(|u| r.unit == u))
    {
        if a.value("format") == Some("json") {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        } else {
            writeln!(out, "{:>5} {r}", r.seq)?;
        }
    }
    Ok(())
}

fn cmd_inject_failure(argv: &[String]) -> Result<()> {
    let a = parse(argv, &[value(&["times"])])?;
    let [unit, tool] = a.positional.as_slice() else {
        bail!("usage: zk-sim inject-failure <unit> <tool> [--times N]");
    };
    let mut m = open(&a)?;
    let times: u32 = number(&a, "times", 1)?;
    m.inject_tool_failures(unit, tool, times)?;
    println!("{tool} will fail the next {times} time(s) {unit} calls it");
    Ok(())
}

fn cmd_destroy(argv: &[String]) -> Result<()> {
    let a = parse(argv, &[])?;
    let dir = model_dir(&a);
    let mut m =
        Model::open(&dir).with_context(|| format!("nothing to destroy in {}", dir.display()))?;
    let pids = m.destroy()?;
    println!(
        "destroyed the model in {}; stopped {} ZooKeeper process(es){}",
        dir.display(),
        pids.len(),
        if pids.is_empty() {
            String::new()
        } else {
            format!(" (pids {pids:?})")
        }
    );
    Ok(())
}

fn run(argv: Vec<String>) -> Result<()> {
    let verb_pos = argv
        .iter()
        .position(|a| !a.starts_with('-') && !is_value_of_flag(&argv, a));
    let Some(i) = verb_pos else {
        print!("{HELP}");
        return Ok(());
    };
    let verb = argv[i].clone();
    let mut rest: Vec<String> = argv[..i].to_vec();
    rest.extend_from_slice(&argv[i + 1..]);
    if rest.iter().any(|a| a == "-h" || a == "--help") || verb == "help" {
        print!("{HELP}");
        return Ok(());
    }
    match verb.as_str() {
        "deploy" => cmd_deploy(&rest),
        "add-unit" => cmd_add_unit(&rest),
        "remove-unit" => cmd_remove_unit(&rest),
        "config" => cmd_config(&rest),
        "run" => cmd_run(&rest),
        "refresh" => cmd_refresh(&rest),
        "leader" => cmd_leader(&rest),
        "settle" => cmd_settle(&rest),
        "status" => cmd_status(&rest),
        "show-unit" => cmd_show_unit(&rest),
        "debug-log" => cmd_debug_log(&rest),
        "hook-log" => cmd_hook_log(&rest),
        "inject-failure" => cmd_inject_failure(&rest),
        "destroy" => cmd_destroy(&rest),
        other => bail!("unknown verb {other:?}; see `zk-sim --help`"),
    }
}

/// True when `arg` is the value of a preceding global value flag (`--model-dir X`).
fn is_value_of_flag(argv: &[String], arg: &String) -> bool {
    let i = argv.iter().position(|a| std::ptr::eq(a, arg)).unwrap_or(0);
    i > 0 && matches!(argv[i - 1].as_str(), "--model-dir" | "-model-dir")
}

fn main() -> ExitCode {
    // Linked under a hook tool's name (the models this CLI creates do that), act as the tool.
    let mut all = std::env::args();
    let argv0 = all.next().unwrap_or_default();
    let base = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    if base.is_some_and(|b| zk_sim::tools::ToolName::from_name(&b).is_some()) {
        let env = |k: &str| std::env::var(k).ok();
        let code = zk_sim::tools::main_with(
            &argv0,
            all.collect(),
            &env,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        );
        return ExitCode::from(code as u8);
    }
    let argv: Vec<String> = all.collect();
    match run(argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR {e:#}");
            ExitCode::FAILURE
        }
    }
}
