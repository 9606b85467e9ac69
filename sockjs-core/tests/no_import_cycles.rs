//! No module of sockjs-core refers to another that refers back to it,
//! directly or through others: the crate's modules form layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every `crate::<module>` a source file names, outside its tests.
fn references(source: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or(source);
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if modules.contains(&name) {
            found.insert(name);
        }
        // `use crate::{a, b::C}` names several.
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if modules.contains(&name) {
                    found.insert(name);
                }
            }
        }
    }
    found
}

#[test]
fn modules_form_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: Vec<_> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    let modules: BTreeSet<String> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|m| m != "lib" && m != "tests")
        .collect();
    assert!(modules.len() > 10, "found the modules: {modules:?}");
    let graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| {
            let source = std::fs::read_to_string(src.join(format!("{m}.rs"))).unwrap();
            let mut refs = references(&source, &modules);
            refs.remove(m);
            (m.clone(), refs)
        })
        .collect();
    // Depth-first search for a path back to the start.
    for start in &modules {
        let mut stack: Vec<Vec<&String>> = vec![vec![start]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = *path.last().unwrap();
            for next in &graph[last] {
                let cycle = || path.iter().map(|m| m.as_str()).chain([next.as_str()]).collect::<Vec<_>>().join(" -> ");
                assert_ne!(next, start, "import cycle: {}", cycle());
                if seen.insert(next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push(longer);
                }
            }
        }
    }
}

#[test]
fn the_check_sees_a_cycle() {
    let modules: BTreeSet<String> = ["a", "b"].into_iter().map(String::from).collect();
    assert_eq!(references("use crate::{a, b::X};", &modules), modules);
    assert!(references("#[cfg(test)]\nmod tests { use crate::a; }", &modules).is_empty());
}
