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
use zk_sim::tools::ToolName;
use zk_sim::{HookRecord, Model, ModelOptions, SimError};

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

/// Settles unless --no-settle, printing the progress line.
fn settle(m: &mut Model, a: &SettleArgs, what: &str) -> Result<()> {
    if a.no_settle {
        println!("{what}: queued, not settled (--no-settle); `zk-sim settle` runs the hooks");
        return Ok(());
    }
    settle_now(m, &a.limits, &format!("{what}: "))
}

fn settle_now(m: &mut Model, limits: &LimitArgs, prefix: &str) -> Result<()> {
    match m.settle(limits.limits()) {
        Ok(report) => {
            println!("{prefix}settled: {report}");
            Ok(())
        }
        Err(SimError::Unsettled { reason, report }) => {
            println!("{prefix}NOT settled: {report}");
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

fn deploy(dir: &Path, args: &DeployArgs) -> Result<()> {
    let path = match &args.path {
        Some(p) => p.clone(),
        None => find_charm()?,
    };
    let seed: u64 = match args.seed {
        Some(s) => s,
        None => {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            zk_sim::rng::mix(t.as_nanos() as u64 ^ u64::from(std::process::id())) % 1_000_000
        }
    };
    // This binary also serves the hook tools (see `main`), so the model needs nothing else.
    let mut opts = ModelOptions {
        jujuc: Some(std::env::current_exe().context("finding the zk-sim executable")?),
        ..ModelOptions::default()
    };
    if let Some(p) = &args.address_prefix {
        opts.address_prefix = p.clone();
    }
    let mut m = Model::create_with(dir, &path, seed, opts)?;
    // The CLI model lives on after this process.
    m.set_destroy_on_drop(false);
    let pairs = kvs(&args.config)?;
    if !pairs.is_empty() {
        m.set_config(&refs(&pairs))?;
    }
    let units = m.deploy(args.n)?;
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
    let mut m = open(dir)?;
    settle(&mut m, &args.settle, "deploy")
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

fn config(dir: &Path, args: &[String], settle_args: &SettleArgs) -> Result<()> {
    let mut m = open(dir)?;
    if args.is_empty() || (args.len() == 1 && !args[0].contains('=')) {
        return show::config(&m, args.first().map(String::as_str));
    }
    let pairs = kvs(args)?;
    if m.set_config(&refs(&pairs))? {
        settle(&mut m, settle_args, "config")
    } else {
        println!("config: unchanged, no config-changed queued");
        Ok(())
    }
}

fn run(dir: &Path, args: &RunArgs) -> Result<()> {
    let pairs = kvs(&args.params)?;
    let params = zk_sim::tools::typed_params(&pairs, args.string_args);
    let mut m = open(dir)?;
    let r = m.run_action_with(&args.unit, &args.action, params)?;
    if args.format == Some(Format::Json) {
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
    settle(&mut m, &args.settle, "run")?;
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

fn destroy(dir: &Path) -> Result<()> {
    let mut m =
        Model::open(dir).with_context(|| format!("nothing to destroy in {}", dir.display()))?;
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

fn dispatch(cli: Cli) -> Result<()> {
    let dir = cli.model_dir.as_path();
    match cli.verb {
        Verb::Deploy(args) => deploy(dir, &args),
        Verb::AddUnit { n, settle: s } => {
            let mut m = open(dir)?;
            let mut names = Vec::new();
            for _ in 0..n {
                names.push(m.add_unit()?);
            }
            warn_taken_addresses(&m, &names)?;
            println!("added {}", names.join(", "));
            settle(&mut m, &s, "add-unit")
        }
        Verb::RemoveUnit { units, settle: s } => {
            let mut m = open(dir)?;
            for u in &units {
                m.remove_unit(u)?;
            }
            println!("removing {}", units.join(", "));
            settle(&mut m, &s, "remove-unit")
        }
        Verb::Config { args, settle: s } => config(dir, &args, &s),
        Verb::Run(args) => run(dir, &args),
        Verb::Refresh { path, settle: s } => {
            let mut m = open(dir)?;
            m.refresh(&path)?;
            let rev = m.state()?.charm.shown_revision();
            println!("refreshing to revision {rev} from {}", path.display());
            settle(&mut m, &s, "refresh")
        }
        Verb::Leader { unit, settle: s } => {
            let mut m = open(dir)?;
            m.set_leader(&unit)?;
            println!("{unit} is the leader");
            settle(&mut m, &s, "leader")
        }
        Verb::Settle { limits } => settle_now(&mut open(dir)?, &limits, ""),
        Verb::Status { format } => show::status(&open(dir)?, format),
        Verb::ShowUnit { unit, format } => show::unit(&open(dir)?, &unit, format),
        Verb::DebugLog { unit, lines } => {
            let m = open(dir)?;
            let mut out = std::io::stdout().lock();
            for l in m.debug_log(unit.as_deref(), lines)? {
                writeln!(out, "{l}")?;
            }
            Ok(())
        }
        Verb::HookLog { unit, format } => {
            let m = open(dir)?;
            let mut out = std::io::stdout().lock();
            for r in m
                .hook_log()?
                .iter()
                .filter(|r| unit.as_deref().is_none_or(|u| r.unit == u))
            {
                if format == Some(Format::Json) {
                    writeln!(out, "{}", serde_json::to_string(r)?)?;
                } else {
                    writeln!(out, "{:>5} {r}", r.seq)?;
                }
            }
            Ok(())
        }
        Verb::InjectFailure { unit, tool, times } => {
            let mut m = open(dir)?;
            m.inject_tool_failures(&unit, &tool, times)?;
            println!("{tool} will fail the next {times} time(s) {unit} calls it");
            Ok(())
        }
        Verb::Destroy => destroy(dir),
    }
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
    // Linked under a hook tool's name (the models this CLI creates do that), act as the tool.
    let mut all = std::env::args();
    let argv0 = all.next().unwrap_or_default();
    let base = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
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
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR {e:#}");
            ExitCode::FAILURE
        }
    }
}
