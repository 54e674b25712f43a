//! The architecture of ARCHITECTURE.md, held against the code: every
//! `crate::…`/`super::…` path in non-test code is an import; between the
//! top-level modules only the edges of the allowed table may exist, and no
//! two files may import each other, directly or round a circle. A new
//! back-edge or circle fails here with the files that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// ARCHITECTURE.md's table: what each top-level module may import
/// (`sys` and `time`, the leaf helpers, are open to all).
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "cli",
        &[
            "exec",
            "convert",
            "build",
            "plan",
            "compose",
            "image",
            "runtime",
            "net",
            "supervise",
        ],
    ),
    (
        "exec",
        &[
            "plan",
            "compose",
            "build",
            "image",
            "runtime",
            "net",
            "supervise",
        ],
    ),
    ("convert", &["compose", "plan"]),
    ("plan", &["compose", "build", "runtime", "net"]),
    ("build", &["image", "runtime"]),
    ("supervise", &["runtime", "net", "image"]),
    ("net", &["runtime"]),
    ("runtime", &["image"]),
    ("image", &[]),
    ("compose", &[]),
    ("sys", &[]),
    ("time", &[]),
];
const OPEN_TO_ALL: &[&str] = &["sys", "time"];

/// The tree checked: this crate's src/, or WHARF_ARCH_SRC (to hold another
/// checkout, say an older commit, against the table).
fn src() -> PathBuf {
    std::env::var_os("WHARF_ARCH_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

/// Every .rs file under src/, as its module path (`["supervise", "start"]`).
fn modules() -> BTreeMap<Vec<String>, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read src")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            if p.is_dir() {
                let mut next = prefix.to_vec();
                next.push(name);
                walk(&p, &next, out);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let mut m = prefix.to_vec();
                if stem != "mod" && !(prefix.is_empty() && (stem == "lib" || stem == "main")) {
                    m.push(stem.to_string());
                }
                out.insert(m, p);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&src(), &[], &mut out);
    out
}

/// The code of a file without its comments and its test module: tests may
/// reach anywhere.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    // An inline test module runs to the end of its file by this project's
    // layout; `#[cfg(test)] mod tests;` (a file of its own) is skipped as a file.
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths a file names: `crate::a::b`, `super::x` (from its own
/// module), `use` groups included (`crate::a::{b, c::d}` names a::b and a::c::d).
fn imports(module: &[String], code: &str) -> Vec<Vec<String>> {
    let bytes: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 8)].iter().collect();
        let prev_ident = i > 0 && (bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        let mut base = if !prev_ident && rest.starts_with("crate::") {
            i += 7;
            Vec::new()
        } else if !prev_ident && rest.starts_with("super::") {
            // `super` of a module file (mod.rs is its directory's module).
            i += 7;
            module[..module.len().saturating_sub(1)].to_vec()
        } else {
            i += 1;
            continue;
        };
        while bytes[i..].starts_with(&['s', 'u', 'p', 'e', 'r', ':', ':']) {
            i += 7;
            base.pop();
        }
        for path in expand(&bytes, &mut i) {
            let mut full = base.clone();
            full.extend(path);
            out.push(full);
        }
    }
    out
}

/// Reads `a::b::{c, d::e}` at `*i` into its paths of identifiers.
fn expand(chars: &[char], i: &mut usize) -> Vec<Vec<String>> {
    let mut prefix = Vec::new();
    loop {
        let start = *i;
        while *i < chars.len() && (chars[*i].is_alphanumeric() || chars[*i] == '_') {
            *i += 1;
        }
        if *i == start {
            break;
        }
        prefix.push(chars[start..*i].iter().collect::<String>());
        if chars.get(*i) == Some(&':') && chars.get(*i + 1) == Some(&':') {
            *i += 2;
            if chars.get(*i) == Some(&'{') {
                *i += 1;
                let mut out = Vec::new();
                loop {
                    while chars
                        .get(*i)
                        .is_some_and(|c| c.is_whitespace() || *c == ',')
                    {
                        *i += 1;
                    }
                    match chars.get(*i) {
                        Some('}') | None => {
                            *i += 1;
                            break;
                        }
                        _ => {}
                    }
                    let before = *i;
                    for tail in expand(chars, i) {
                        let mut p = prefix.clone();
                        p.extend(tail);
                        out.push(p);
                    }
                    // `self`, `*` and `as` names: step over what expand left.
                    while chars.get(*i).is_some_and(|c| !matches!(c, ',' | '}')) {
                        *i += 1;
                    }
                    if *i == before {
                        *i += 1;
                    }
                }
                return out;
            }
            continue;
        }
        break;
    }
    vec![prefix]
}

/// The file a module path lands in: its longest prefix that is a file.
fn resolve(mods: &BTreeMap<Vec<String>, PathBuf>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| mods.contains_key(p))
}

/// File-level import edges, except a module's to its own descendants (a
/// mod.rs declaring and re-exporting its children is their facade).
fn file_edges() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mods = modules();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, path) in &mods {
        if module.last().is_some_and(|m| m == "tests") || module.is_empty() {
            continue;
        }
        for target in imports(module, &code(path)) {
            let Some(to) = resolve(&mods, &target) else {
                continue;
            };
            if to == *module || to.starts_with(module) || to.last().is_some_and(|m| m == "tests") {
                continue;
            }
            edges.entry(module.clone()).or_default().insert(to);
        }
    }
    edges
}

fn name(m: &[String]) -> String {
    m.join("::")
}

#[test]
fn top_level_modules_import_only_what_the_table_allows() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut bad = Vec::new();
    for (from, tos) in file_edges() {
        let top = from[0].as_str();
        for to in tos {
            let dst = to[0].as_str();
            if dst == top || OPEN_TO_ALL.contains(&dst) {
                continue;
            }
            let ok = allowed.get(top).is_some_and(|list| list.contains(&dst));
            if !ok {
                bad.push(format!("{} -> {}", name(&from), name(&to)));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "imports ARCHITECTURE.md does not allow (add to the table only with a reason there):\n{}",
        bad.join("\n")
    );
    // Every top-level module is in the table.
    for m in modules().keys().filter(|m| !m.is_empty()) {
        assert!(
            allowed.contains_key(m[0].as_str()),
            "module {} is not in ARCHITECTURE.md's table",
            m[0]
        );
    }
}

#[test]
fn no_file_imports_round_a_circle() {
    let edges = file_edges();
    // Tarjan's strongly connected components.
    struct State<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<Vec<String>, usize>,
        low: BTreeMap<Vec<String>, usize>,
        stack: Vec<Vec<String>>,
        on_stack: BTreeSet<Vec<String>>,
        next: usize,
        circles: Vec<Vec<String>>,
    }
    fn visit(s: &mut State, v: &Vec<String>) {
        s.index.insert(v.clone(), s.next);
        s.low.insert(v.clone(), s.next);
        s.next += 1;
        s.stack.push(v.clone());
        s.on_stack.insert(v.clone());
        let succ: Vec<Vec<String>> = s
            .edges
            .get(v)
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        for w in succ {
            if !s.index.contains_key(&w) {
                visit(s, &w);
                let lw = s.low[&w];
                let lv = s.low[v];
                s.low.insert(v.clone(), lv.min(lw));
            } else if s.on_stack.contains(&w) {
                let iw = s.index[&w];
                let lv = s.low[v];
                s.low.insert(v.clone(), lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(&w);
                let done = w == *v;
                comp.push(name(&w));
                if done {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.circles.push(comp);
            }
        }
    }
    let mut s = State {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        circles: Vec::new(),
    };
    let nodes: Vec<Vec<String>> = edges.keys().cloned().collect();
    for v in &nodes {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    let text: Vec<String> = s.circles.iter().map(|c| c.join(" <-> ")).collect();
    assert!(text.is_empty(), "import circles:\n{}", text.join("\n"));
}

#[test]
fn the_scanner_sees_paths_groups_and_super() {
    let m = |s: &str| s.split("::").map(str::to_string).collect::<Vec<_>>();
    let found = imports(
        &m("exec::up"),
        "use crate::plan::{converge::{self, Action}, graph};\nlet x = super::env::Env::open();\nfoo_crate::bar; super::super::time::now();",
    );
    assert!(found.contains(&m("plan::converge::self")), "{found:?}");
    assert!(found.contains(&m("plan::converge::Action")), "{found:?}");
    assert!(found.contains(&m("plan::graph")), "{found:?}");
    assert!(found.contains(&m("exec::env::Env::open")), "{found:?}");
    assert!(found.contains(&m("time::now")), "{found:?}");
    assert_eq!(found.len(), 5, "{found:?}");
}
