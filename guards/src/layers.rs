//! Whether a crate's modules form layers: the module graph, built from
//! what each module's code refers to, and its cycles.
//!
//! A path is resolved the way rustc resolves it, as far as modules go:
//! `crate::`, `self::`, `super::` and names in scope (child modules,
//! items, `use` imports, glob imports), following every re-export (a
//! `pub use` in the crate root or anywhere else) to the module that
//! defines the item. `use crate::{Session, Message}`, where the root has
//! `pub use app::Session`, is an arrow to `app`, not to the root. Paths
//! that leave the crate (`std::`, `::tokio`, other crates) are not
//! arrows.
//!
//! Arrows are counted between siblings: when module `a::x` refers to
//! `b::y`, that is the arrow `a -> b` among the root's children. A
//! module referring to its own ancestors or descendants is no arrow (a
//! parent is the facade of its children: `mod.rs` declares its children
//! and re-exports them; they use what it defines). The modules under each
//! parent must form a directed acyclic graph.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::PathBuf;

use crate::tree::{ModPath, ModuleTree};

/// Where a path ends: in a module (the module itself) or at an item
/// defined in one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Module(ModPath),
    Item(ModPath),
}

impl Place {
    fn module(self) -> ModPath {
        match self {
            Place::Module(m) | Place::Item(m) => m,
        }
    }
}

/// How deep re-exports are followed (a glob re-exporting itself would
/// loop).
const MAX_DEPTH: usize = 32;

/// Why an arrow exists: the first mention that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The file of the mention.
    pub file: PathBuf,
    /// Its line.
    pub line: usize,
    /// The path as written.
    pub path: String,
    /// The module the path resolved to.
    pub target: String,
}

/// The modules under one parent and the arrows between them.
#[derive(Debug, Clone, Default)]
pub struct Siblings {
    /// The modules.
    pub nodes: BTreeSet<String>,
    /// `(from, to)` and the mention behind it.
    pub arrows: BTreeMap<(String, String), Evidence>,
}

/// A crate's module graph: one [`Siblings`] per module with children.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    /// By parent module (`[]`: the crate root's children).
    pub groups: BTreeMap<ModPath, Siblings>,
}

/// A cycle among the modules under one parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// The parent (`[]` for the crate root).
    pub parent: ModPath,
    /// Every module of the strongly connected component, sorted.
    pub members: Vec<String>,
    /// One loop through it, its first module repeated at the end, with
    /// the mention behind each arrow.
    pub path: Vec<(String, Option<Evidence>)>,
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parent = if self.parent.is_empty() { "the crate root".to_owned() } else { self.parent.join("::") };
        let names: Vec<&str> = self.path.iter().map(|(n, _)| n.as_str()).collect();
        write!(f, "import cycle under {parent}: {} (modules {})", names.join(" -> "), self.members.join(", "))?;
        for pair in self.path.windows(2) {
            if let (from, Some(e)) = (&pair[0].0, &pair[1].1) {
                write!(
                    f,
                    "\n    {from} -> {}: {}:{} `{}` (defined in {})",
                    pair[1].0,
                    e.file.display(),
                    e.line,
                    e.path,
                    e.target
                )?;
            }
        }
        Ok(())
    }
}

impl Layers {
    /// The module graph of `tree`.
    pub fn of(tree: &ModuleTree) -> Layers {
        let mut layers = Layers::default();
        for (path, module) in &tree.modules {
            if !module.children.is_empty() {
                let group = layers.groups.entry(path.clone()).or_default();
                group.nodes.extend(module.children.iter().cloned());
            }
        }
        let resolver = Resolver { tree, looking_up: RefCell::default() };
        for (from, module) in &tree.modules {
            for mention in &module.mentions {
                let Some(to) = resolver.resolve(from, &mention.path, 0).map(Place::module) else { continue };
                let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
                if common == from.len() || common == to.len() {
                    continue; // itself, an ancestor or a descendant
                }
                let (parent, a, b) = (from[..common].to_vec(), from[common].clone(), to[common].clone());
                let evidence = Evidence {
                    file: module.file.clone(),
                    line: mention.line,
                    path: mention.path.join("::"),
                    target: format!("crate::{}", to.join("::")),
                };
                layers.groups.entry(parent).or_default().arrows.entry((a, b)).or_insert(evidence);
            }
        }
        layers
    }

    /// How many arrows there are, in every group.
    pub fn arrow_count(&self) -> usize {
        self.groups.values().map(|g| g.arrows.len()).sum()
    }

    /// Every cycle: one per strongly connected component of more than one
    /// module.
    pub fn cycles(&self) -> Vec<Cycle> {
        let mut cycles = Vec::new();
        for (parent, group) in &self.groups {
            for members in components(group) {
                let path = loop_through(group, &members);
                cycles.push(Cycle { parent: parent.clone(), members, path });
            }
        }
        cycles
    }
}

/// Resolves paths in one crate. A name being looked up in a module is
/// not looked up there again further down (two globs reading from each
/// other would loop).
struct Resolver<'a> {
    tree: &'a ModuleTree,
    looking_up: RefCell<BTreeSet<(ModPath, String)>>,
}

impl Resolver<'_> {
    /// Resolves `path` as written in module `from`.
    fn resolve(&self, from: &ModPath, path: &[String], depth: usize) -> Option<Place> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (first, rest) = path.split_first()?;
        let mut place = match first.as_str() {
            "crate" => Place::Module(Vec::new()),
            "self" => Place::Module(from.clone()),
            "super" => Place::Module(from[..from.len().checked_sub(1)?].to_vec()),
            "Self" => return None,
            name => self.lookup(from, name, depth)?,
        };
        for segment in rest {
            match place {
                Place::Item(_) => break, // an associated item or a variant
                Place::Module(ref module) => {
                    if segment == "super" {
                        place = Place::Module(module[..module.len().checked_sub(1)?].to_vec());
                        continue;
                    }
                    match self.lookup(module, segment, depth) {
                        Some(next) => place = next,
                        // Not a name we know (made by a macro, say): it is
                        // in this module all the same.
                        None => break,
                    }
                }
            }
        }
        Some(place)
    }

    /// What `name` means in module `module`'s scope.
    fn lookup(&self, module: &ModPath, name: &str, depth: usize) -> Option<Place> {
        let m = self.tree.modules.get(module)?;
        if m.children.contains(name) {
            let mut child = module.clone();
            child.push(name.to_owned());
            return Some(Place::Module(child));
        }
        if m.items.contains(name) {
            return Some(Place::Item(module.clone()));
        }
        let key = (module.clone(), name.to_owned());
        if !self.looking_up.borrow_mut().insert(key.clone()) {
            return None;
        }
        let found = self.through_imports(module, name, depth);
        self.looking_up.borrow_mut().remove(&key);
        found
    }

    /// `name` in `module`, brought in by a `use`.
    fn through_imports(&self, module: &ModPath, name: &str, depth: usize) -> Option<Place> {
        let m = self.tree.modules.get(module)?;
        for import in m.imports.iter().filter(|i| i.name.as_deref() == Some(name)) {
            if let Some(place) = self.resolve(module, &import.path, depth + 1) {
                return Some(place);
            }
        }
        for glob in m.imports.iter().filter(|i| i.name.is_none()) {
            if let Some(Place::Module(source)) = self.resolve(module, &glob.path, depth + 1) {
                if &source != module {
                    if let Some(place) = self.lookup(&source, name, depth + 1) {
                        return Some(place);
                    }
                }
            }
        }
        None
    }
}

/// The strongly connected components of more than one node (Tarjan's
/// algorithm), each sorted.
fn components(group: &Siblings) -> Vec<Vec<String>> {
    struct State<'a> {
        group: &'a Siblings,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn strong<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        let group = s.group;
        for ((_, w), _) in group.arrows.range((v.to_owned(), String::new())..).take_while(|((a, _), _)| a == v) {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                strong(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        group,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    let mut nodes: BTreeSet<&str> = group.nodes.iter().map(String::as_str).collect();
    nodes.extend(group.arrows.keys().flat_map(|(a, b)| [a.as_str(), b.as_str()]));
    for v in nodes {
        if !state.index.contains_key(v) {
            strong(&mut state, v);
        }
    }
    state.found.sort();
    state.found
}

/// The shortest loop from the component's first module back to itself,
/// staying inside the component.
fn loop_through(group: &Siblings, members: &[String]) -> Vec<(String, Option<Evidence>)> {
    let start = &members[0];
    let inside: BTreeSet<&String> = members.iter().collect();
    let mut came_from: BTreeMap<&String, &String> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for ((_, w), _) in group.arrows.range((v.clone(), String::new())..).take_while(|((a, _), _)| a == v) {
            if !inside.contains(w) || came_from.contains_key(w) {
                continue;
            }
            came_from.insert(w, v);
            if w == start {
                queue.clear();
                break;
            }
            queue.push_back(w);
        }
    }
    let mut names = vec![start.clone()];
    let mut at = start;
    while let Some(prev) = came_from.get(at) {
        names.push((*prev).clone());
        at = prev;
        if at == start {
            break;
        }
    }
    names.reverse();
    let mut path = vec![(names[0].clone(), None)];
    for pair in names.windows(2) {
        let evidence = group.arrows.get(&(pair[0].clone(), pair[1].clone())).cloned();
        path.push((pair[1].clone(), evidence));
    }
    path
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn layers(files: &[(&str, &str)]) -> Layers {
        let files: BTreeMap<PathBuf, String> = files.iter().map(|(p, s)| (PathBuf::from(p), s.to_string())).collect();
        let read = |p: &Path| files.get(p).cloned().ok_or_else(|| std::io::ErrorKind::NotFound.into());
        Layers::of(&ModuleTree::parse(Path::new("src/lib.rs"), &read).unwrap())
    }

    fn arrows(layers: &Layers, parent: &[&str]) -> Vec<String> {
        let parent: ModPath = parent.iter().map(|s| s.to_string()).collect();
        layers
            .groups
            .get(&parent)
            .map(|g| g.arrows.keys().map(|(a, b)| format!("{a}->{b}")).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_cycle_through_a_re_export_of_the_root_is_found_and_named() {
        let l = layers(&[
            ("src/lib.rs", "mod a; mod b; pub use a::Session;"),
            ("src/a.rs", "use crate::b::helper; pub struct Session;"),
            ("src/b.rs", "use crate::Session;\npub fn helper(_: &Session) {}"),
        ]);
        assert_eq!(arrows(&l, &[]), ["a->b", "b->a"]);
        let cycles = l.cycles();
        assert_eq!(cycles.len(), 1);
        let message = cycles[0].to_string();
        assert!(message.starts_with("import cycle under the crate root: a -> b -> a"), "{message}");
        assert!(message.contains("b -> a: src/b.rs:1 `crate::Session` (defined in crate::a)"), "{message}");
    }

    #[test]
    fn re_exports_are_followed_through_every_hop_and_globs() {
        let l = layers(&[
            ("src/lib.rs", "mod a; mod b; mod c; pub use b::*;"),
            ("src/a.rs", "fn f() { let _ = crate::Thing::new(); }"),
            ("src/b.rs", "pub use crate::c::Thing as Thing;"),
            ("src/c.rs", "pub struct Thing;"),
        ]);
        assert_eq!(arrows(&l, &[]), ["a->c", "b->c"]);
        assert!(l.cycles().is_empty());
    }

    #[test]
    fn a_doc_link_or_a_comment_is_no_arrow() {
        let l = layers(&[
            ("src/lib.rs", "mod a; mod b; pub use a::A;"),
            ("src/a.rs", "use crate::b::B; pub struct A(B);"),
            ("src/b.rs", "/// Made from an [`A`](crate::A) or a [`crate::a::A`].\n// crate::a::A\npub struct B;"),
        ]);
        assert_eq!(arrows(&l, &[]), ["a->b"]);
        assert!(l.cycles().is_empty());
    }

    #[test]
    fn test_modules_are_no_arrow() {
        let l = layers(&[
            ("src/lib.rs", "mod a; mod b;"),
            ("src/a.rs", "use crate::b::B; pub struct A;"),
            ("src/b.rs", "pub struct B;\n#[cfg(test)]\nmod tests { use crate::a::A; }"),
        ]);
        assert_eq!(arrows(&l, &[]), ["a->b"]);
    }

    #[test]
    fn nested_modules_count_as_their_top_module_among_its_siblings() {
        let l = layers(&[
            ("src/lib.rs", "mod outer; mod other;"),
            ("src/outer/mod.rs", "mod x; mod y; pub(crate) use y::*; pub fn run() { x::go(); }"),
            ("src/outer/x.rs", "use super::helper; pub fn go() { helper(); super::run(); }"),
            ("src/outer/y.rs", "pub fn helper() { crate::other::f(); }"),
            ("src/other.rs", "pub fn f() {}"),
        ]);
        // x uses y's helper through the parent's glob re-export; neither
        // the parent's use of x nor x's use of the parent is an arrow.
        assert_eq!(arrows(&l, &["outer"]), ["x->y"]);
        assert_eq!(arrows(&l, &[]), ["outer->other"]);
    }

    #[test]
    fn a_cycle_among_nested_siblings_names_its_parent() {
        let l = layers(&[
            ("src/lib.rs", "mod p;"),
            ("src/p.rs", "mod x; mod y; mod z;"),
            ("src/p/x.rs", "pub fn a() { super::y::b(); }"),
            ("src/p/y.rs", "pub fn b() { super::z::c(); }"),
            ("src/p/z.rs", "pub fn c() { vec![super::x::a()]; }"),
        ]);
        let cycles = l.cycles();
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].members, ["x", "y", "z"]);
        assert!(cycles[0].to_string().starts_with("import cycle under p: x -> y -> z -> x"), "{}", cycles[0]);
    }

    #[test]
    fn other_crates_and_locals_are_no_arrow() {
        let l = layers(&[
            ("src/lib.rs", "mod a; mod b;"),
            ("src/a.rs", "use std::fmt; use ::b::x; pub fn f(b: u8) -> u8 { b }"),
            ("src/b.rs", "pub fn g() {}"),
        ]);
        assert!(arrows(&l, &[]).is_empty(), "{:?}", arrows(&l, &[]));
    }
}
