//! `zk-sim`: a local Juju model on this machine, driven with juju's verbs.
//!
//! The same binary serves the hook tools: linked under a tool's name (the models this CLI
//! creates do that), it acts as the tool.

mod cli;
mod show;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Parser;
use serde_json::{json, Value};
use zk_sim::charm::Role;
use zk_sim::tools::ToolName;
use zk_sim::{HookRecord, Model, ModelOptions, SettleReport, SimError, StubSpec};

use cli::{Cli, DeployArgs, Format, LimitArgs, RunArgs, SettleArgs, Verb};

fn kv(s: &str) -> Result<(String, String)> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| anyhow!("expected key=value, got {s:?}"))
}

fn kvs(args: &[String]) -> Result<Vec<(String, String)>> {
    args.iter().map(|s| kv(s)).collect()
}

fn refs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Where a verb's result goes: a line of text, or one JSON document, on stdout.
#[derive(Debug, Clone, Copy)]
struct Out {
    json: bool,
}

impl Out {
    /// Prints `text` (a line) or `doc` (JSON), as the format asks.
    fn result(&self, text: &str, doc: Value) -> Result<()> {
        let mut out = std::io::stdout().lock();
        if self.json {
            writeln!(out, "{}", serde_json::to_string(&doc)?)?;
        } else if !text.is_empty() {
            writeln!(out, "{text}")?;
        }
        Ok(())
    }
}

/// Opens the model; every hook run is logged (failed ones at info, the rest at debug).
fn open(dir: &Path) -> Result<Model> {
    let mut m = Model::open(dir).context("no model here; run `zk-sim deploy` first")?;
    m.on_hook(|r: &HookRecord| {
        if r.succeeded() {
            log::debug!("  {r}");
        } else {
            log::info!("  {r}");
        }
    });
    Ok(m)
}

fn report_json(r: &SettleReport) -> Value {
    json!({
        "hooks": r.hooks,
        "retries": r.retries,
        "update-status-rounds": r.update_status_rounds,
        "elapsed-seconds": r.elapsed.as_secs_f64(),
        "model-seconds": r.model_time.as_secs_f64(),
        "longest-hook-seconds": r.longest.as_secs_f64(),
        "most-at-once": r.max_parallel,
        "failed": r.failed,
        "slow": r.slow,
        "after-tick": r.after_tick,
        "status-by-tick": r.status_by_tick,
        "units-in-error": r.units_in_error,
    })
}

/// Settles unless --no-settle, with the progress line on stderr; the report as JSON (null
/// when not settled).
fn settle(m: &mut Model, a: &SettleArgs, what: &str) -> Result<Value> {
    if a.no_settle {
        eprintln!("{what}: queued, not settled (--no-settle); `zk-sim settle` runs the hooks");
        return Ok(Value::Null);
    }
    settle_now(m, &a.limits, &format!("{what}: "))
}

fn settle_now(m: &mut Model, limits: &LimitArgs, prefix: &str) -> Result<Value> {
    match m.settle(limits.limits()) {
        Ok(report) => {
            eprintln!("{prefix}settled: {report}");
            Ok(report_json(&report))
        }
        Err(SimError::Unsettled { reason, report }) => {
            eprintln!("{prefix}NOT settled: {report}");
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
        0 => {
            bail!("no charm given and no *.charm in the current directory (run `cargo xtask pack`)")
        }
        _ => bail!("no charm given and several *.charm here: {found:?}"),
    }
}

/// The stub `deploy stub APP --provides ... --requires ...` describes.
fn stub_spec(args: &DeployArgs) -> Result<StubSpec> {
    let mut spec = StubSpec::new();
    for (role, list) in [
        (Role::Peer, &args.peer),
        (Role::Provides, &args.provides),
        (Role::Requires, &args.requires),
    ] {
        for e in list {
            spec.endpoints
                .push(StubSpec::endpoint_arg(role, e).map_err(|e| anyhow!(e))?);
        }
    }
    if let Some(e) = &args.subordinate_to {
        let mut ep = StubSpec::endpoint_arg(Role::Requires, e).map_err(|e| anyhow!(e))?;
        ep.container = true;
        spec.endpoints.push(ep);
        spec.subordinate = true;
    }
    Ok(spec)
}

fn deploy(dir: &Path, args: &DeployArgs, out: Out) -> Result<()> {
    // `stub` (no slash, as juju tells local charms by `./`) is the built-in scripted stub.
    let stub = args.charm.as_deref() == Some("stub");
    let path = match (&args.path, &args.charm) {
        _ if stub => None,
        (Some(p), _) => Some(p.clone()),
        (None, Some(c)) => Some(PathBuf::from(c)),
        (None, None) => Some(find_charm()?),
    };
    if !stub && (!args.provides.is_empty() || !args.requires.is_empty() || !args.peer.is_empty()) {
        bail!("--provides, --requires and --peer describe a stub: deploy `stub APP`");
    }
    let created = !zk_sim::state::Store::new(dir).exists();
    let seed: u64 = match args.seed {
        Some(s) => s,
        None => {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            zk_sim::rng::mix(t.as_nanos() as u64 ^ u64::from(std::process::id())) % 1_000_000
        }
    };
    let mut m = if created {
        // This binary also serves the hook tools (see `main`), so the model needs nothing else.
        let mut opts = ModelOptions {
            jujuc: Some(std::env::current_exe().context("finding the zk-sim executable")?),
            ..ModelOptions::default()
        };
        if let Some(p) = &args.address_prefix {
            opts.address_prefix = p.clone();
        }
        let mut m = Model::create_empty(dir, seed, opts)?;
        // The CLI model lives on after this process.
        m.set_destroy_on_drop(false);
        m
    } else {
        if args.seed.is_some() || args.address_prefix.is_some() {
            bail!("--seed and --address-prefix only apply to the deploy that creates the model");
        }
        open(dir)?
    };
    let result: Result<(String, Vec<String>)> = match &path {
        None => {
            let app = args.app.as_deref().ok_or_else(|| {
                anyhow!("deploy stub needs an application name: `deploy stub APP`")
            })?;
            let spec = stub_spec(args)?;
            let n = if spec.subordinate { 0 } else { args.n };
            m.deploy_stub(app, &spec, n)
                .map(|u| (app.to_string(), u))
                .map_err(Into::into)
        }
        Some(path) => deploy_app_with_config(&mut m, path, args),
    };
    let (app, units) = match result {
        Ok(r) => r,
        Err(e) => {
            if created {
                let _ = m.destroy();
            }
            return Err(e);
        }
    };
    warn_taken_addresses(&m, &units)?;
    let seed = m.state()?.seed;
    eprintln!(
        "deployed {app} ({} unit{}){} in {}; seed {seed} (replay with --seed {seed})",
        units.len(),
        if units.len() == 1 { "" } else { "s" },
        if stub {
            " as a scripted stub".to_string()
        } else {
            format!(" from {}", path_shown(args))
        },
        dir.display()
    );
    drop(m);
    let mut m = open(dir)?;
    let report = settle(&mut m, &args.settle, "deploy")?;
    out.result(
        "",
        json!({"application": app, "units": units, "seed": seed, "model": dir, "settle": report}),
    )
}

fn path_shown(args: &DeployArgs) -> String {
    args.path
        .as_ref()
        .map(|p| p.display().to_string())
        .or_else(|| args.charm.clone())
        .unwrap_or_else(|| "the *.charm here".into())
}

/// Adds the application, configures it, then adds its units (a subordinate takes none), so
/// that the config applies before the first hook.
fn deploy_app_with_config(
    m: &mut Model,
    path: &Path,
    args: &DeployArgs,
) -> Result<(String, Vec<String>)> {
    let pairs = kvs(&args.config)?;
    m.deploy_app(path, args.app.as_deref(), 0)?;
    let st = m.state()?;
    let app = st.app_order.last().cloned().expect("just added");
    if !pairs.is_empty() {
        m.set_app_config(&app, &refs(&pairs))?;
    }
    let n = if st.applications[&app].subordinate() {
        0
    } else {
        args.n
    };
    let units = if n > 0 {
        m.add_units(&app, n)?
    } else {
        Vec::new()
    };
    Ok((app, units))
}

/// Warns when something already answers on a new unit's ZooKeeper port (another model on
/// the same addresses): that unit's server could not start.
fn warn_taken_addresses(m: &Model, units: &[String]) -> Result<()> {
    for u in m.status()?.iter().filter(|u| units.contains(&u.unit)) {
        let Ok(addr) = format!("{}:2181", u.address).parse::<std::net::SocketAddr>() else {
            continue;
        };
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            log::warn!(
                "{addr} already answers (another model on these addresses?); {} cannot serve \
                 there. Destroy the other model or deploy with --address-prefix 127.0.<k>.",
                u.unit
            );
        }
    }
    Ok(())
}

fn config(dir: &Path, args: &[String], settle_args: &SettleArgs, out: Out) -> Result<()> {
    let mut m = open(dir)?;
    let st = m.state()?;
    let (app, rest) = match args.first() {
        Some(a) if st.applications.contains_key(a) => (a.clone(), &args[1..]),
        _ => (m.app_name()?, args),
    };
    if rest.is_empty() || (rest.len() == 1 && !rest[0].contains('=')) {
        return show::config(&m, &app, rest.first().map(String::as_str), out.json);
    }
    let pairs = kvs(rest)?;
    if m.set_app_config(&app, &refs(&pairs))? {
        let report = settle(&mut m, settle_args, "config")?;
        out.result(
            "",
            json!({"application": app, "changed": true, "settle": report}),
        )
    } else {
        eprintln!("config: unchanged, no config-changed queued");
        out.result(
            "",
            json!({"application": app, "changed": false, "settle": null}),
        )
    }
}

fn run(dir: &Path, args: &RunArgs, out: Out) -> Result<()> {
    let pairs = kvs(&args.params)?;
    let params = zk_sim::tools::typed_params(&pairs, args.string_args);
    let mut m = open(dir)?;
    let r = m.run_action_with(&args.unit, &args.action, params)?;
    if out.json {
        out.result(
            "",
            json!({ r.unit.clone(): {
                "id": r.id.to_string(),
                "unit": r.unit,
                "status": r.status,
                "message": r.message,
                "results": r.juju_results(),
            }}),
        )?;
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
    settle(&mut m, &args.settle, "run")?;
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

fn exec(dir: &Path, unit: &str, command: &[String], out: Out) -> Result<ExitCode> {
    let mut m = open(dir)?;
    let argv: Vec<&str> = command.iter().map(String::as_str).collect();
    let r = m.exec(unit, &argv)?;
    let code = r.code.unwrap_or(1);
    if out.json {
        let mut results = json!({"return-code": code});
        if !r.stdout.is_empty() {
            results["stdout"] = json!(r.stdout);
        }
        if !r.stderr.is_empty() {
            results["stderr"] = json!(r.stderr);
        }
        out.result(
            "",
            json!({ unit: {
                "unit": unit,
                "status": if r.success() { "completed" } else { "failed" },
                "message": r.reason.clone().unwrap_or_default(),
                "results": results,
            }}),
        )?;
    } else {
        print!("{}", r.stdout);
        eprint!("{}", r.stderr);
    }
    if r.code == Some(0) && !r.committed {
        eprintln!(
            "ERROR the command's writes were refused: {}",
            r.reason.unwrap_or_default()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

fn stub_set(
    dir: &Path,
    target: &str,
    relation: Option<u32>,
    pairs: &[String],
    settle_args: &SettleArgs,
    out: Out,
) -> Result<()> {
    let (who, endpoint) = target
        .split_once(':')
        .ok_or_else(|| anyhow!("expected APP:ENDPOINT or APP/N:ENDPOINT, got {target:?}"))?;
    let mut m = open(dir)?;
    let app = who.split('/').next().unwrap_or(who);
    let id = match relation {
        Some(id) => id,
        None => m.relation_id(app, endpoint)?,
    };
    let (unit, app_bag) = if who.contains('/') {
        (who.to_string(), false)
    } else {
        let leader = m
            .app_leader(app)?
            .ok_or_else(|| anyhow!("{app} has no leader (no units?)"))?;
        (leader, true)
    };
    let pairs = kvs(pairs)?;
    m.set_relation_data(&unit, id, app_bag, &refs(&pairs))?;
    eprintln!(
        "stub-set: {} bag of {unit} in relation {id}",
        if app_bag { "application" } else { "unit" }
    );
    let report = settle(&mut m, settle_args, "stub-set")?;
    out.result(
        "",
        json!({"relation-id": id, "unit": unit, "application-bag": app_bag, "settle": report}),
    )
}

fn destroy(dir: &Path, out: Out) -> Result<()> {
    let mut m =
        Model::open(dir).with_context(|| format!("nothing to destroy in {}", dir.display()))?;
    let pids = m.destroy()?;
    out.result(
        &format!(
            "destroyed the model in {}; stopped {} ZooKeeper process(es){}",
            dir.display(),
            pids.len(),
            if pids.is_empty() {
                String::new()
            } else {
                format!(" (pids {pids:?})")
            }
        ),
        json!({"destroyed": dir, "stopped-pids": pids}),
    )
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let dir = cli.model_dir.as_path();
    let out = Out {
        json: cli.format == Some(Format::Json),
    };
    match cli.verb {
        Verb::Deploy(args) => deploy(dir, &args, out)?,
        Verb::AddUnit { app, n, settle: s } => {
            let mut m = open(dir)?;
            let app = match app {
                Some(a) => a,
                None => m.app_name()?,
            };
            let names = m.add_units(&app, n)?;
            warn_taken_addresses(&m, &names)?;
            eprintln!("added {}", names.join(", "));
            let report = settle(&mut m, &s, "add-unit")?;
            out.result("", json!({"units": names, "settle": report}))?;
        }
        Verb::RemoveUnit { units, settle: s } => {
            let mut m = open(dir)?;
            for u in &units {
                m.remove_unit(u)?;
            }
            eprintln!("removing {}", units.join(", "));
            let report = settle(&mut m, &s, "remove-unit")?;
            out.result("", json!({"removing": units, "settle": report}))?;
        }
        Verb::Integrate { a, b, settle: s } => {
            let mut m = open(dir)?;
            let id = m.integrate(&a, &b)?;
            let key = m
                .relations()?
                .into_iter()
                .find(|r| r.id == id)
                .map(|r| r.key)
                .unwrap_or_default();
            eprintln!("integrated {key} (relation {id})");
            let report = settle(&mut m, &s, "integrate")?;
            out.result("", json!({"relation-id": id, "key": key, "settle": report}))?;
        }
        Verb::RemoveRelation { a, b, settle: s } => {
            let mut m = open(dir)?;
            let id = m.remove_relation(&a, b.as_deref())?;
            eprintln!("removing relation {id}");
            let report = settle(&mut m, &s, "remove-relation")?;
            out.result("", json!({"relation-id": id, "settle": report}))?;
        }
        Verb::Config { args, settle: s } => config(dir, &args, &s, out)?,
        Verb::Run(args) => run(dir, &args, out)?,
        Verb::Exec { unit, command } => return exec(dir, &unit, &command, out),
        Verb::StubSet {
            target,
            relation,
            pairs,
            settle: s,
        } => stub_set(dir, &target, relation, &pairs, &s, out)?,
        Verb::Refresh {
            app,
            path,
            settle: s,
        } => {
            let mut m = open(dir)?;
            let app = match app {
                Some(a) => a,
                None => m.app_name()?,
            };
            m.refresh_app(&app, &path)?;
            let rev = m.state()?.applications[&app].charm.shown_revision();
            eprintln!("refreshing {app} to revision {rev} from {}", path.display());
            let report = settle(&mut m, &s, "refresh")?;
            out.result(
                "",
                json!({"application": app, "revision": rev, "settle": report}),
            )?;
        }
        Verb::Leader { unit, settle: s } => {
            let mut m = open(dir)?;
            m.set_leader(&unit)?;
            eprintln!("{unit} is the leader");
            let report = settle(&mut m, &s, "leader")?;
            out.result("", json!({"leader": unit, "settle": report}))?;
        }
        Verb::Settle { limits } => {
            let report = settle_now(&mut open(dir)?, &limits, "")?;
            out.result("", report)?;
        }
        Verb::Status { relations: _ } => show::status(&open(dir)?, out.json)?,
        Verb::ShowUnit { unit } => show::unit(&open(dir)?, &unit, out.json)?,
        Verb::ShowSecret { secret, reveal } => {
            show::secret(&open(dir)?, &secret, reveal, out.json)?
        }
        Verb::Secrets => show::secrets(&open(dir)?, out.json)?,
        Verb::DebugLog { unit, lines } => {
            let m = open(dir)?;
            let lines = m.debug_log(unit.as_deref(), lines)?;
            if out.json {
                out.result("", json!(lines))?;
            } else {
                let mut o = std::io::stdout().lock();
                for l in lines {
                    writeln!(o, "{l}")?;
                }
            }
        }
        Verb::HookLog { unit } => {
            let m = open(dir)?;
            let records: Vec<HookRecord> = m
                .hook_log()?
                .into_iter()
                .filter(|r| unit.as_deref().is_none_or(|u| r.unit == u))
                .collect();
            if out.json {
                out.result("", serde_json::to_value(&records)?)?;
            } else {
                let mut o = std::io::stdout().lock();
                for r in &records {
                    writeln!(o, "{:>5} {r}", r.seq)?;
                }
            }
        }
        Verb::InjectFailure { unit, tool, times } => {
            let mut m = open(dir)?;
            m.inject_tool_failures(&unit, &tool, times)?;
            out.result(
                &format!("{tool} will fail the next {times} time(s) {unit} calls it"),
                json!({"unit": unit, "tool": tool, "times": times}),
            )?;
        }
        Verb::Destroy => destroy(dir, out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Progress and diagnostics on stderr: failed hooks by default, every hook with `-v`
/// (`RUST_LOG` overrides both).
fn init_logging(verbose: bool) {
    let default = if verbose { "debug" } else { "info" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format(|buf, record| match record.level() {
            log::Level::Error => writeln!(buf, "ERROR {}", record.args()),
            log::Level::Warn => writeln!(buf, "WARNING {}", record.args()),
            _ => writeln!(buf, "{}", record.args()),
        })
        .init();
}

fn main() -> ExitCode {
    // Linked under a hook tool's name or as the units' `snap` (the models this CLI creates
    // do that), act as the tool, as `sim-jujuc` does.
    let mut all = std::env::args();
    let argv0 = all.next().unwrap_or_default();
    let base = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    if base.as_deref() == Some("snap") {
        let env = |k: &str| std::env::var(k).ok();
        let code = zk_sim::snap::main_with(
            &all.collect::<Vec<_>>(),
            &env,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        );
        return ExitCode::from(code as u8);
    }
    if base.is_some_and(|b| ToolName::from_name(&b).is_some()) {
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
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ERROR {e:#}");
            ExitCode::FAILURE
        }
    }
}
