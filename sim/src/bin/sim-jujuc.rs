//! The fake hook tools of the local model: one binary, linked under every tool name
//! (`relation-get`, `status-set`, ...), dispatching on `argv[0]`.

fn main() {
    let mut argv = std::env::args();
    let argv0 = argv.next().unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let env = |k: &str| std::env::var(k).ok();
    let code = zk_sim::tools::main_with(
        &argv0,
        args,
        &env,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code);
}
