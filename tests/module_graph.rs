//! The charm library's module graph has no cycle.
//!
//! Two granularities are checked:
//! - files: a module depends on another when its code (not its comments, not its
//!   `#[cfg(test)]` code) names a `crate::` path into it; the path is resolved to the longest
//!   module prefix (`crate::peers::cluster::App` is `peers::cluster`). A child's `super::`
//!   and a parent's relative paths to its own children are not counted;
//! - top-level modules (a directory is one node, `lib.rs` and `main.rs` are none): every
//!   `crate::<name>` counts, doc comments included, because a doc link that points up the
//!   layering is a dependency too (a reader follows it, rustdoc resolves it).
//!
//! The graph is read from the sources, so the check needs no build of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` -> `a::b`; `src/lib.rs` -> `crate`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    if parts.is_empty() {
        "crate".into()
    } else {
        parts.join("::")
    }
}

/// The code of `text` without comments, string and char literals, and without the items
/// that follow a `#[cfg(test)]` attribute (a test module, function or import).
fn code_only(text: &str) -> String {
    strip(text, false)
}

/// As [`code_only`], but keeping the comments (doc comments included).
fn code_and_comments(text: &str) -> String {
    strip(text, true)
}

fn strip(text: &str, keep_comments: bool) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            let start = i;
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            if keep_comments {
                out.push_str(&text[start..i]);
            }
        } else if b[i..].starts_with(b"/*") {
            let start = i;
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            if keep_comments {
                out.push_str(&text[start..i.min(b.len())]);
            }
        } else if b[i] == b'r'
            && (b[i..].starts_with(b"r\"") || b[i..].starts_with(b"r#"))
            && !ident_before(b, i)
        {
            // Raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while j < b.len() && b[j] == b'#' {
                hashes += 1;
                j += 1;
            }
            if j < b.len() && b[j] == b'"' {
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                j += 1;
                while j < b.len() && !b[j..].starts_with(&close) {
                    j += 1;
                }
                i = (j + close.len()).min(b.len());
                out.push_str("\"\"");
            } else {
                out.push('r');
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('x' or '\n'); a lifetime has no closing quote.
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    drop_cfg_test_items(&out)
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// Removes each item that follows `#[cfg(test)]`: up to the `;` that ends it, or through
/// the braces of its body, whichever comes first.
fn drop_cfg_test_items(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at + "#[cfg(test)]".len()..];
        let mut depth = 0usize;
        let mut end = item.len();
        for (k, c) in item.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = k + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// Every `crate::` path in `code`, grouped imports expanded (`crate::{a::X, b}` gives
/// `a::X` and `b`).
fn crate_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before_ok = !rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let after = &rest[at + "crate::".len()..];
        if before_ok {
            expand(after, String::new(), &mut paths);
        }
        rest = after;
    }
    paths
}

/// Reads one path (or `{...}` group) at the start of `text`, after `prefix`.
fn expand(text: &str, prefix: String, out: &mut Vec<String>) {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 1;
        let mut start = 0;
        for (k, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' | ',' if depth == 1 => {
                    expand(&group[start..k], prefix.clone(), out);
                    start = k + 1;
                    if c == '}' {
                        return;
                    }
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        return;
    }
    let mut path = prefix;
    let mut rest = text;
    loop {
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            break;
        }
        if !path.is_empty() {
            path.push_str("::");
        }
        path.push_str(&ident);
        rest = &rest[ident.len()..];
        match rest.strip_prefix("::") {
            Some(r) if r.trim_start().starts_with('{') => {
                expand(r, path, out);
                return;
            }
            Some(r) => rest = r,
            None => break,
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// The module `path` names: its longest prefix that is a module.
fn resolve(path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|p| modules.contains(p))
}

/// The graph of modules `sources` (module path -> code) form.
fn graph(sources: &BTreeMap<String, String>) -> Graph {
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    sources
        .iter()
        .map(|(module, text)| {
            let deps = crate_paths(&code_only(text))
                .iter()
                .filter_map(|p| resolve(p, &modules))
                .filter(|d| d != module)
                .collect();
            (module.clone(), deps)
        })
        .collect()
}

/// The graph of top-level modules: `peers::cluster` is `peers`; the crate root is no node.
/// Every `crate::` path in the code or its comments counts.
fn top_level_graph(sources: &BTreeMap<String, String>) -> Graph {
    let top = |module: &str| module.split("::").next().unwrap_or(module).to_string();
    let mut g = Graph::new();
    for (module, text) in sources.iter().filter(|(m, _)| *m != "crate") {
        let from = top(module);
        let deps = g.entry(from.clone()).or_default();
        for path in crate_paths(&code_and_comments(text)) {
            let to = top(&path);
            if to != from && sources.keys().any(|m| top(m) == to) {
                deps.insert(to);
            }
        }
    }
    g
}

/// A cycle in `g`, as the modules along it (first = last), if there is one.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &str,
        g: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_string(), Mark::Open);
        stack.push(node.to_string());
        for dep in g.get(node).into_iter().flatten() {
            match marks.get(dep).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = stack.iter().position(|m| m == dep).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(dep.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(dep, g, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in g.keys() {
        if marks.get(node).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(node, g, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// The modules `text` (the file of module `module`) declares under `#[cfg(test)]`.
fn test_only_children(module: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        rest = &rest[at + "#[cfg(test)]".len()..];
        let item = rest.trim_start();
        let item = item.strip_prefix("pub(crate) ").unwrap_or(item);
        if let Some(decl) = item.strip_prefix("mod ") {
            let name: String = decl
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if decl[name.len()..].trim_start().starts_with(';') {
                out.push(if module == "crate" {
                    name
                } else {
                    format!("{module}::{name}")
                });
            }
        }
    }
    out
}

/// The charm library's sources: every file under `src/` but the binary's `main.rs` and the
/// files of modules declared under `#[cfg(test)]` (and their children).
fn charm_sources() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let all: BTreeMap<String, String> = files
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "main.rs"))
        .map(|f| (module_of(&src, &f), std::fs::read_to_string(f).unwrap()))
        .collect();
    let test_only: Vec<String> = all
        .iter()
        .flat_map(|(m, text)| test_only_children(m, text))
        .collect();
    all.into_iter()
        .filter(|(m, _)| {
            !test_only
                .iter()
                .any(|t| m == t || m.starts_with(&format!("{t}::")))
        })
        .collect()
}

#[test]
fn the_charm_modules_depend_on_each_other_without_a_cycle() {
    let g = graph(&charm_sources());
    assert!(g.len() > 30, "the sources were not found: {:?}", g.keys());
    assert!(
        !g.contains_key("fixtures") && !g.contains_key("decide::tests"),
        "test-only modules are not part of the graph: {:?}",
        g.keys()
    );
    // The layering the crate is built on, as a sample that the graph is read right.
    assert!(g["charm"].contains("observe") && g["observe"].contains("peers::cluster"));
    assert!(g["decide"].contains("upgrade::decide"));
    if let Some(cycle) = find_cycle(&g) {
        panic!("the module graph has a cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_top_level_modules_and_their_doc_links_depend_on_each_other_without_a_cycle() {
    let sources = charm_sources();
    let g = top_level_graph(&sources);
    assert!(
        !g.contains_key("fixtures") && !g.contains_key("crate"),
        "neither test-only modules nor the crate root are nodes: {:?}",
        g.keys()
    );
    // A sample that the graph is read right: a directory is one node.
    assert!(g["charm"].contains("observe") && g["observe"].contains("peers"));
    assert!(!g.contains_key("peers::cluster"));
    if let Some(cycle) = find_cycle(&g) {
        panic!(
            "the top-level module graph has a cycle (doc links count: write plain words where a link would point up the layering): {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn a_doc_link_up_the_layering_is_a_top_level_cycle() {
    let sources: BTreeMap<String, String> = [
        ("a", "use crate::b::X;"),
        ("b", "//! Built for [`crate::a::f`].\npub struct X;"),
        ("c", "/* crate::a */ use crate::b::X;"),
        ("d::e", "use crate::d::f::Y; use super::f;"),
        ("d::f", "pub struct Y;"),
        ("crate", "//! [`crate::a`], [`crate::b`]"),
    ]
    .into_iter()
    .map(|(m, t)| (m.to_string(), t.to_string()))
    .collect();
    let g = top_level_graph(&sources);
    assert_eq!(g["c"], BTreeSet::from(["a".to_string(), "b".to_string()]));
    assert!(g["d"].is_empty(), "a directory's own paths are no edge");
    let cycle = find_cycle(&g).expect("a -> b -> a through a doc link");
    assert_eq!(cycle.len(), 3, "{cycle:?}");
    // Without comments (the file-level graph) there is none.
    assert_eq!(find_cycle(&graph(&sources)), None);
}

#[test]
fn a_cycle_in_a_small_graph_is_found_and_a_layered_one_has_none() {
    let sources = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(m, t)| (m.to_string(), t.to_string()))
            .collect()
    };
    let layered = sources(&[
        ("a", "use crate::b::X; fn f() { crate::c::g(); }"),
        ("b", "use crate::{c::Y, d};"),
        ("c", "pub fn g() {}"),
        ("d", ""),
    ]);
    assert_eq!(find_cycle(&graph(&layered)), None);
    let cyclic = sources(&[
        ("a", "use crate::b::X;"),
        ("b", "use crate::{c::{Y, Z}};"),
        ("c", "fn h() -> crate::a::T { todo!() }"),
        ("d", "use crate::a;"),
    ]);
    let cycle = find_cycle(&graph(&cyclic)).expect("a -> b -> c -> a");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4, "{cycle:?}");
}

#[test]
fn paths_in_comments_strings_and_test_code_are_not_dependencies() {
    let code = r##"
//! See [`crate::b`].
/* crate::c */
use crate::peers::cluster::{App, Unit};
const S: &str = "crate::d";
const R: &str = r#"crate::e"#;
#[cfg(test)]
use crate::f;
#[cfg(test)]
mod tests {
    use crate::g::{x, y};
}
fn k<'a>(_: &'a str) -> char { 'x' }
"##;
    let mods: BTreeSet<String> = ["b", "c", "d", "e", "f", "g", "peers", "peers::cluster"]
        .into_iter()
        .map(String::from)
        .collect();
    let deps: BTreeSet<String> = crate_paths(&code_only(code))
        .iter()
        .filter_map(|p| resolve(p, &mods))
        .collect();
    assert_eq!(deps, BTreeSet::from(["peers::cluster".to_string()]));
}
