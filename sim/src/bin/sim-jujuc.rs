//! The fake hook tools of the local model: one binary, linked under every tool name
//! (`relation-get`, `status-set`, ...) and as the units' `snap`, dispatching on `argv[0]`.

fn main() {
    let mut argv = std::env::args();
    let argv0 = argv.next().unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let env = |k: &str| std::env::var(k).ok();
    let called_as = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    if called_as.as_deref() == Some("snap") {
        let code = zk_sim::snap::main_with(
            &args,
            &env,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        );
        std::process::exit(code);
    }
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
