//! The shape of `src/`, read as text: no module import circle, `src/cmd/*` files import no other
//! cmd file, no file over 800 lines, no function over 100 lines, no build-tree path outside test
//! code. What a newcomer meets first; checked here so it stays that way.
//!
//! The reading is deliberately simple (a small Rust lexer: comments, strings, raw strings, char
//! literals and lifetimes), and its own tests below show it on small sources.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 800;
const MAX_FN_LINES: usize = 100;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The source with comments, string and char literals blanked (same length, same lines), so
/// braces and paths can be read off it.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let (mut depth, mut j) = (1, i + 2);
                while j < b.len() && depth > 0 {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                blank(&mut out, i, j);
                i = j;
            }
            b'r' if raw_string_hashes(&b[i..]).is_some() && raw_string_start(b, i) => {
                let hashes = raw_string_hashes(&b[i..]).unwrap();
                let close = format!("\"{}", "#".repeat(hashes)).into_bytes();
                let start = i + 2 + hashes;
                let end = b[start..]
                    .windows(close.len())
                    .position(|w| w == close.as_slice())
                    .map_or(b.len(), |n| start + n + close.len());
                blank(&mut out, i, end);
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                blank(&mut out, i, (j + 1).min(b.len()));
                i = j + 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}', '{') or a lifetime ('a).
                let end = if b.get(i + 1) == Some(&b'\\') {
                    // An escape is at least two bytes (`\n`, `\'`): its closing quote comes after.
                    b.get(i + 3..)
                        .and_then(|rest| rest.iter().position(|&c| c == b'\''))
                        .map(|n| i + 3 + n + 1)
                } else {
                    let ch_len = (1..=4)
                        .find(|&n| {
                            b.get(i + 1..i + 1 + n)
                                .is_some_and(|s| std::str::from_utf8(s).is_ok())
                        })
                        .unwrap_or(1);
                    (b.get(i + 1 + ch_len) == Some(&b'\'')).then_some(i + 2 + ch_len)
                };
                match end {
                    Some(e) => {
                        blank(&mut out, i, e);
                        i = e;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    String::from_utf8(out).unwrap()
}

/// An `r` at `i` starts a raw string (`r"`, `br"`), not the end of an identifier.
fn raw_string_start(b: &[u8], i: usize) -> bool {
    let before = i.wrapping_sub(1);
    !ident_byte(b, before) || (b[before] == b'b' && !ident_byte(b, before.wrapping_sub(1)))
}

fn ident_byte(b: &[u8], i: usize) -> bool {
    b.get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `r"`, `r#"`, `r##"` … (and `br"`): the number of hashes.
fn raw_string_hashes(b: &[u8]) -> Option<usize> {
    let hashes = b[1..].iter().take_while(|&&c| c == b'#').count();
    (b.get(1 + hashes) == Some(&b'"')).then_some(hashes)
}

/// Functions longer than `max` lines: (first line, name, lines).
fn long_functions(code: &str, max: usize) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        let (mut depth, mut opened) = (0i32, false);
        let mut end = None;
        'scan: for (j, l) in lines.iter().enumerate().skip(i) {
            let from = if j == i { line.find("fn ").unwrap() } else { 0 };
            for c in l[from..].chars() {
                match c {
                    ';' if !opened && depth == 0 => break 'scan,
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
                if opened && depth == 0 {
                    end = Some(j);
                    break 'scan;
                }
            }
        }
        if let Some(end) = end {
            let n = end - i + 1;
            if n > max {
                out.push((i + 1, name, n));
            }
        }
    }
    out
}

/// The name of the function a line starts, if it starts one.
fn fn_name(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "fn")?;
    let qualifiers = ["pub", "const", "async", "unsafe", "extern", "default"];
    let all_qualifiers = words[..at]
        .iter()
        .all(|w| qualifiers.contains(w) || w.starts_with("pub(") || w.starts_with('"'));
    let name: String = words
        .get(at + 1)?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (all_qualifiers && !name.is_empty()).then_some(name)
}

/// A module's path (`["gallery", "format"]`) from a file under `src/`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

/// A unit-test module in its own file (`#[cfg(test)] mod tests;` beside the code): test code
/// as a whole.
fn is_test_file(rel: &Path) -> bool {
    rel.file_name().is_some_and(|n| n == "tests.rs")
}

/// The code before the file's `#[cfg(test)]` unit-test module (tests may import anything).
fn without_test_module(code: &str) -> &str {
    let mut at = 0;
    while let Some(n) = code[at..].find("#[cfg(test)]") {
        let after = code[at + n + "#[cfg(test)]".len()..].trim_start();
        if after.starts_with("mod ") {
            return &code[..at + n];
        }
        at += n + 1;
    }
    code
}

/// Every module path the code names: `crate::a::b`, `super::x`, `self::y`, and the branches of
/// `use crate::{a, b::{c, d}}` groups, each resolved against `here` (the file's module).
fn named_paths(code: &str, here: &[String]) -> Vec<Vec<String>> {
    let toks = tokens(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let root: Option<Vec<String>> = match toks[i].as_str() {
            "crate" => Some(Vec::new()),
            "super" | "self" if i == 0 || toks[i - 1] != "::" => {
                // `self` is this module; each `super` one level up.
                let mut base = here.to_vec();
                if toks[i] == "super" {
                    let mut j = i;
                    loop {
                        base.pop();
                        if toks.get(j + 1).map(String::as_str) == Some("::")
                            && toks.get(j + 2).map(String::as_str) == Some("super")
                        {
                            j += 2;
                        } else {
                            break;
                        }
                    }
                    i = j;
                }
                Some(base)
            }
            _ => None,
        };
        if let Some(root) = root {
            let mut j = i + 1;
            collect_tree(&toks, &mut j, root, &mut out);
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// After `prefix`, read `::ident::ident` or `::{tree, tree}` and push every path.
fn collect_tree(
    toks: &[String],
    j: &mut usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    while toks.get(*j).map(String::as_str) == Some("::") {
        match toks.get(*j + 1).map(String::as_str) {
            Some("{") => {
                *j += 2;
                loop {
                    let mut k = *j;
                    let mut branch = prefix.clone();
                    if let Some(t) = toks.get(k).filter(|t| is_ident(t)) {
                        branch.push(t.clone());
                        k += 1;
                    }
                    collect_tree(toks, &mut k, branch, out);
                    // Skip `as x` and anything else up to `,` or `}` at this level.
                    let mut depth = 0;
                    while let Some(t) = toks.get(k) {
                        match t.as_str() {
                            "{" => depth += 1,
                            "}" if depth == 0 => break,
                            "}" => depth -= 1,
                            "," if depth == 0 => break,
                            _ => {}
                        }
                        k += 1;
                    }
                    *j = k + 1;
                    if toks.get(k).map(String::as_str) != Some(",") {
                        return;
                    }
                }
            }
            Some(t) if is_ident(t) => {
                prefix.push(t.to_owned());
                *j += 2;
            }
            _ => break,
        }
    }
    out.push(prefix);
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

fn tokens(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut s = c.to_string();
            while let Some(&n) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_') {
                s.push(n);
                chars.next();
            }
            out.push(s);
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.push("::".into());
        } else if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    out
}

struct Tree {
    /// module path → the file's code with comments and literals blanked.
    code: BTreeMap<Vec<String>, String>,
}

fn read_tree(root: &Path) -> Tree {
    let mut code = BTreeMap::new();
    for f in rust_files(root) {
        let rel = f.strip_prefix(root).unwrap();
        if is_test_file(rel) {
            continue;
        }
        let m = module_of(rel);
        code.insert(m, code_only(&std::fs::read_to_string(&f).unwrap()));
    }
    Tree { code }
}

/// Module → the modules it names (the longest known prefix of each path), leaving out its own
/// ancestors (a child reading its parent's re-exports is not a dependency of the parent on it).
fn import_graph(t: &Tree) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut g = BTreeMap::new();
    for (m, code) in &t.code {
        let mut to = BTreeSet::new();
        for p in named_paths(without_test_module(code), m) {
            let known = (0..=p.len())
                .rev()
                .map(|k| p[..k].to_vec())
                .find(|k| t.code.contains_key(k));
            if let Some(k) = known.filter(|k| k != m && !m.starts_with(k)) {
                to.insert(k);
            }
        }
        g.insert(m.clone(), to);
    }
    g
}

/// Strongly connected components with more than one module (Tarjan).
fn circles(g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    struct S<'a> {
        g: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut S<'a>, v: &'a Vec<String>) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        for w in s.g.get(v).into_iter().flatten() {
            let Some((w, _)) = s.g.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                s.low.entry(v).and_modify(|l| *l = (*l).min(lw));
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                s.low.entry(v).and_modify(|l| *l = (*l).min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                comp.push(w.join("::"));
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = S {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_import_circle_in_src() {
    let t = read_tree(&src_dir());
    let found = circles(&import_graph(&t));
    assert!(
        found.is_empty(),
        "modules that import each other in a circle: {found:?}"
    );
}

#[test]
fn cmd_files_import_no_other_cmd_file() {
    let t = read_tree(&src_dir());
    let g = import_graph(&t);
    let cmd = vec!["cmd".to_owned()];
    let mut bad = Vec::new();
    for (m, to) in &g {
        if m.len() == 2 && m.starts_with(&cmd) {
            bad.extend(
                to.iter()
                    .filter(|k| k.len() >= 2 && k.starts_with(&cmd))
                    .map(|k| format!("{} -> {}", m.join("::"), k.join("::"))),
            );
        }
    }
    assert!(
        bad.is_empty(),
        "cmd files importing other cmd files: {bad:?}"
    );
}

#[test]
fn no_file_in_src_over_800_lines() {
    let long: Vec<String> = rust_files(&src_dir())
        .into_iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            (n > MAX_FILE_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines: {long:?}"
    );
}

#[test]
fn no_function_in_src_over_100_lines() {
    let root = src_dir();
    let mut long = Vec::new();
    for f in rust_files(&root) {
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for (line, name, n) in long_functions(&code, MAX_FN_LINES) {
            long.push(format!(
                "{}:{line} {name} ({n} lines)",
                f.strip_prefix(&root).unwrap().display()
            ));
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines: {long:?}"
    );
}

/// `env!("CARGO_MANIFEST_DIR")` is the folder the binary was compiled in: an installed or copied
/// binary must never look there. Allowed only in unit-test modules.
#[test]
fn no_build_tree_path_outside_test_code() {
    let root = src_dir();
    let mut bad = Vec::new();
    for f in rust_files(&root) {
        let rel = f.strip_prefix(&root).unwrap();
        if is_test_file(rel) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let before_tests = without_test_module(&text);
        for (i, l) in before_tests.lines().enumerate() {
            if l.contains("CARGO_MANIFEST_DIR") && !l.trim_start().starts_with("//") {
                bad.push(format!("{}:{}", rel.display(), i + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "build-tree paths outside test code: {bad:?}"
    );
}

#[test]
fn the_reader_finds_circles_paths_and_long_functions_in_small_sources() {
    // Literals and comments hide braces and paths.
    let code = code_only(
        "let s = \"crate::x { \"; // crate::y {\nlet c = '{'; let r = r#\"}\"#; fn f<'a>() {}\n",
    );
    assert!(!code.contains("crate::"), "{code}");
    assert_eq!(code.matches('{').count(), 1, "{code}");
    assert_eq!(code.lines().count(), 2);

    // Use groups, super and self.
    let here = vec!["gallery".to_owned(), "rank".to_owned()];
    let paths = named_paths(
        "use crate::{app::{Event, State}, ui};\nuse super::format::Gallery;\nself::x();",
        &here,
    );
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    for want in [
        "app::Event",
        "app::State",
        "ui",
        "gallery::format::Gallery",
        "gallery::rank::x",
    ] {
        assert!(
            joined.contains(&want.to_owned()),
            "{want} not in {joined:?}"
        );
    }

    // A two-module circle is found; a chain is not.
    let mut g: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let m = |s: &str| vec![s.to_owned()];
    g.insert(m("a"), [m("b")].into());
    g.insert(m("b"), [m("a")].into());
    g.insert(m("c"), [m("a")].into());
    assert_eq!(circles(&g), vec![vec!["a".to_owned(), "b".to_owned()]]);
    g.insert(m("b"), BTreeSet::new());
    assert!(circles(&g).is_empty());

    // Function length, braces inside the body included; a declaration without a body is not one.
    let body: String = (0..101).map(|_| "    x();\n").collect();
    let src =
        format!("pub(crate) fn long() {{\n{body}}}\nfn short() {{ if a {{ b }} }}\nfn decl();\n");
    assert_eq!(long_functions(&src, 100), vec![(1, "long".to_owned(), 103)]);
    assert!(long_functions(&src, 103).is_empty());
}
