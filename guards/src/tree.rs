//! One crate's modules, parsed: for each module, its child modules, the
//! names it defines, its `use` declarations and every path its code
//! mentions.
//!
//! Only code counts. Comments and doc comments (doc links included) are
//! not code; neither are string literals, nor anything compiled only for
//! tests: items under `#[cfg(test)]` (or a `cfg` that needs `test`, like
//! `all(test, feature = "x")`) and `#[test]` functions are left out with
//! all they contain.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::visit::Visit;

/// A module's path from its crate root: empty for the root itself,
/// `["conformance", "xhr"]` for `crate::conformance::xhr`.
pub type ModPath = Vec<String>;

/// A `use` declaration, one name at a time: `use a::{b, c::D as E, f::*}`
/// is three of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The name it brings into scope, or `None` for a glob (`f::*`).
    pub name: Option<String>,
    /// The path as written (for a glob, the module it reads from).
    pub path: Vec<String>,
}

/// A path the code mentions (an import's path, a type, an expression, a
/// pattern, a macro's name or a path among a macro's tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// Its segments as written, `["crate", "app", "Session"]`.
    pub path: Vec<String>,
    /// The line of the file where it starts.
    pub line: usize,
}

/// One module of a crate.
#[derive(Debug, Clone, Default)]
pub struct Module {
    /// The file it is written in (an inline module: its parent's file).
    pub file: PathBuf,
    /// Its child modules (those compiled outside tests).
    pub children: BTreeSet<String>,
    /// The names of the items it defines (types, functions, traits,
    /// constants, statics, macros): what a path may end at.
    pub items: BTreeSet<String>,
    /// Its `use` declarations.
    pub imports: Vec<Import>,
    /// Every path its code mentions.
    pub mentions: Vec<Mention>,
}

/// Why a crate could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum TreeError {
    /// A file could not be read.
    Read {
        /// The file.
        file: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// A file is not valid Rust.
    Parse {
        /// The file.
        file: PathBuf,
        /// What the parser said.
        error: String,
    },
    /// `mod name;` names a module whose file exists in neither place.
    MissingFile {
        /// The module.
        module: String,
        /// The two places looked at (`name.rs`, `name/mod.rs`).
        tried: [PathBuf; 2],
    },
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TreeError::Read { file, error } => write!(f, "{}: {error}", file.display()),
            TreeError::Parse { file, error } => write!(f, "{}: not valid Rust: {error}", file.display()),
            TreeError::MissingFile { module, tried: [a, b] } => {
                write!(f, "module {module}: neither {} nor {} exists", a.display(), b.display())
            }
        }
    }
}

impl std::error::Error for TreeError {}

/// Every module of one crate, by path.
#[derive(Debug, Clone, Default)]
pub struct ModuleTree {
    /// The modules, the root (`[]`) included.
    pub modules: BTreeMap<ModPath, Module>,
}

impl ModuleTree {
    /// Reads the crate whose root file is `root` (`src/lib.rs`,
    /// `src/main.rs`, `src/bin/x.rs`), following `mod name;` to
    /// `name.rs` or `name/mod.rs` as rustc does, with `read` giving a
    /// file's text (the file system, or a test's strings).
    pub fn parse(root: &Path, read: &dyn Fn(&Path) -> std::io::Result<String>) -> Result<ModuleTree, TreeError> {
        let mut tree = ModuleTree::default();
        let dir = root.parent().unwrap_or(Path::new("")).to_path_buf();
        tree.read_file(Vec::new(), root, dir, read)?;
        Ok(tree)
    }

    /// Reads `file` as the module at `path`, whose child modules' files
    /// are in `dir`.
    fn read_file(
        &mut self,
        path: ModPath,
        file: &Path,
        dir: PathBuf,
        read: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<(), TreeError> {
        let text = read(file).map_err(|error| TreeError::Read { file: file.to_path_buf(), error })?;
        let syntax =
            syn::parse_file(&text).map_err(|e| TreeError::Parse { file: file.to_path_buf(), error: e.to_string() })?;
        self.read_items(path, file, dir, &syntax.items, read)
    }

    fn read_items(
        &mut self,
        path: ModPath,
        file: &Path,
        dir: PathBuf,
        items: &[syn::Item],
        read: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<(), TreeError> {
        let mut module = Module { file: file.to_path_buf(), ..Module::default() };
        let mut children = Vec::new();
        for item in items {
            if test_only(item_attrs(item)) {
                continue;
            }
            if let syn::Item::Mod(m) = item {
                let name = m.ident.to_string();
                module.children.insert(name.clone());
                children.push((name, m));
                continue;
            }
            if let Some(name) = item_name(item) {
                module.items.insert(name);
            }
            let mut visitor = Collector { module: &mut module };
            visitor.visit_item(item);
        }
        self.modules.insert(path.clone(), module);
        for (name, m) in children {
            let mut child = path.clone();
            child.push(name.clone());
            let child_dir = dir.join(&name);
            match &m.content {
                Some((_, items)) => self.read_items(child, file, child_dir, items, read)?,
                None => {
                    let tried = [dir.join(format!("{name}.rs")), dir.join(&name).join("mod.rs")];
                    let found = tried.iter().find(|f| read(f).is_ok()).cloned();
                    let Some(found) = found else {
                        return Err(TreeError::MissingFile { module: child.join("::"), tried });
                    };
                    self.read_file(child, &found, child_dir, read)?;
                }
            }
        }
        Ok(())
    }
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    use syn::Item::*;
    match item {
        Const(i) => &i.attrs,
        Enum(i) => &i.attrs,
        ExternCrate(i) => &i.attrs,
        Fn(i) => &i.attrs,
        ForeignMod(i) => &i.attrs,
        Impl(i) => &i.attrs,
        Macro(i) => &i.attrs,
        Mod(i) => &i.attrs,
        Static(i) => &i.attrs,
        Struct(i) => &i.attrs,
        Trait(i) => &i.attrs,
        TraitAlias(i) => &i.attrs,
        Type(i) => &i.attrs,
        Union(i) => &i.attrs,
        Use(i) => &i.attrs,
        _ => &[],
    }
}

/// The name an item defines in its module's namespace, if it has one.
fn item_name(item: &syn::Item) -> Option<String> {
    use syn::Item::*;
    let ident = match item {
        Const(i) => &i.ident,
        Enum(i) => &i.ident,
        ExternCrate(i) => i.rename.as_ref().map(|(_, r)| r).unwrap_or(&i.ident),
        Fn(i) => &i.sig.ident,
        Macro(i) => i.ident.as_ref()?,
        Static(i) => &i.ident,
        Struct(i) => &i.ident,
        Trait(i) => &i.ident,
        TraitAlias(i) => &i.ident,
        Type(i) => &i.ident,
        Union(i) => &i.ident,
        _ => return None,
    };
    Some(ident.to_string())
}

/// Whether these attributes make an item exist only in test builds:
/// `#[test]`, or a `#[cfg(...)]` whose predicate needs `test`.
pub fn test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        if a.path().is_ident("test") {
            return true;
        }
        match &a.meta {
            syn::Meta::List(list) if list.path.is_ident("cfg") => needs_test(list.tokens.clone()),
            _ => false,
        }
    })
}

/// Whether a `cfg` predicate can only hold in a test build.
fn needs_test(predicate: TokenStream) -> bool {
    let tokens: Vec<TokenTree> = predicate.into_iter().collect();
    match tokens.as_slice() {
        [TokenTree::Ident(i)] => i == "test",
        [TokenTree::Ident(op), TokenTree::Group(g)] if g.delimiter() == Delimiter::Parenthesis => {
            let parts = split_commas(g.stream());
            if op == "all" {
                parts.into_iter().any(needs_test)
            } else if op == "any" {
                !parts.is_empty() && parts.into_iter().all(needs_test)
            } else {
                false
            }
        }
        _ => false,
    }
}

fn split_commas(stream: TokenStream) -> Vec<TokenStream> {
    let mut parts = vec![TokenStream::new()];
    for token in stream {
        match &token {
            TokenTree::Punct(p) if p.as_char() == ',' => parts.push(TokenStream::new()),
            _ => parts.last_mut().expect("never empty").extend([token]),
        }
    }
    parts.retain(|p| !p.is_empty());
    parts
}

/// Walks one item's code and records its imports and mentions.
struct Collector<'a> {
    module: &'a mut Module,
}

impl Collector<'_> {
    fn mention(&mut self, path: Vec<String>, line: usize) {
        if !path.is_empty() {
            self.module.mentions.push(Mention { path, line });
        }
    }

    /// Flattens a use tree under `prefix`.
    fn use_tree(&mut self, prefix: &[String], tree: &syn::UseTree, line: usize) {
        let mut path = prefix.to_vec();
        match tree {
            syn::UseTree::Path(p) => {
                path.push(p.ident.to_string());
                self.use_tree(&path, &p.tree, line);
            }
            syn::UseTree::Name(n) if n.ident == "self" => {
                // `use a::{self}` imports `a` itself.
                if let Some(last) = path.last().cloned() {
                    self.import(Some(last), path, line);
                }
            }
            syn::UseTree::Name(n) => {
                path.push(n.ident.to_string());
                self.import(Some(n.ident.to_string()), path, line);
            }
            syn::UseTree::Rename(r) => {
                path.push(r.ident.to_string());
                if r.ident == "self" {
                    path.pop();
                }
                self.import(Some(r.rename.to_string()), path, line);
            }
            syn::UseTree::Glob(_) => self.import(None, path, line),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree, line);
                }
            }
        }
    }

    fn import(&mut self, name: Option<String>, path: Vec<String>, line: usize) {
        if name.as_deref() == Some("_") {
            // `use Trait as _` still needs the trait's module.
            self.mention(path, line);
            return;
        }
        self.mention(path.clone(), line);
        self.module.imports.push(Import { name, path });
    }

    /// The paths among a macro's tokens: `a::b` sequences (two segments
    /// or more; a lone name there is a local as often as an item, and an
    /// item it names was imported, which counts already).
    fn macro_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(g) => {
                    self.macro_tokens(g.stream());
                    i += 1;
                }
                TokenTree::Ident(first) if !after_path_separator(&tokens, i) => {
                    let line = first.span().start().line;
                    let mut path = vec![first.to_string()];
                    let mut j = i + 1;
                    while let (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(next))) =
                        (tokens.get(j), tokens.get(j + 1), tokens.get(j + 2))
                    {
                        if a.as_char() != ':' || b.as_char() != ':' {
                            break;
                        }
                        path.push(next.to_string());
                        j += 3;
                    }
                    if path.len() > 1 {
                        self.mention(path, line);
                    }
                    i = j;
                }
                _ => i += 1,
            }
        }
    }
}

/// Whether the token at `i` follows `::` (it continues a path that
/// starts before it, or a `::name` path to another crate).
fn after_path_separator(tokens: &[TokenTree], i: usize) -> bool {
    i >= 2
        && matches!((&tokens[i - 2], &tokens[i - 1]), (TokenTree::Punct(a), TokenTree::Punct(b))
            if a.as_char() == ':' && b.as_char() == ':')
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !test_only(item_attrs(item)) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs = match item {
            syn::ImplItem::Const(i) => &i.attrs,
            syn::ImplItem::Fn(i) => &i.attrs,
            syn::ImplItem::Type(i) => &i.attrs,
            syn::ImplItem::Macro(i) => &i.attrs,
            _ => return syn::visit::visit_impl_item(self, item),
        };
        if !test_only(attrs) {
            syn::visit::visit_impl_item(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if item.leading_colon.is_none() {
            let line = item.use_token.span.start().line;
            self.use_tree(&[], &item.tree, line);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            let line = path.segments.first().map(|s| s.ident.span().start().line).unwrap_or(0);
            self.mention(path.segments.iter().map(|s| s.ident.to_string()).collect(), line);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.visit_path(&mac.path);
        self.macro_tokens(mac.tokens.clone());
    }

    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // A module inside a function body: not reachable by path from
        // outside, and too rare to model; its code is not counted.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> ModuleTree {
        let files: BTreeMap<PathBuf, String> = files.iter().map(|(p, s)| (PathBuf::from(p), s.to_string())).collect();
        let read = |p: &Path| files.get(p).cloned().ok_or_else(|| std::io::ErrorKind::NotFound.into());
        ModuleTree::parse(Path::new("src/lib.rs"), &read).unwrap()
    }

    fn paths(module: &Module) -> Vec<String> {
        module.mentions.iter().map(|m| m.path.join("::")).collect()
    }

    #[test]
    fn follows_mod_declarations_to_files_and_inline_modules() {
        let t = tree(&[
            ("src/lib.rs", "mod a; pub mod b { pub mod c {} } #[cfg(test)] mod tests;"),
            ("src/a/mod.rs", "mod d;"),
            ("src/a/d.rs", "pub struct D;"),
        ]);
        let names: Vec<String> = t.modules.keys().map(|p| p.join("::")).collect();
        assert_eq!(names, ["", "a", "a::d", "b", "b::c"]);
        assert_eq!(t.modules[&vec!["a".to_string(), "d".to_string()]].items, BTreeSet::from(["D".to_string()]));
        assert_eq!(t.modules[&vec!["a".to_string(), "d".to_string()]].file, PathBuf::from("src/a/d.rs"));
    }

    #[test]
    fn a_missing_module_file_is_an_error() {
        let read = |_: &Path| -> std::io::Result<String> { Ok("mod gone;".into()) };
        let only_root =
            |p: &Path| if p == Path::new("src/lib.rs") { read(p) } else { Err(std::io::ErrorKind::NotFound.into()) };
        let err = ModuleTree::parse(Path::new("src/lib.rs"), &only_root).unwrap_err();
        assert!(err.to_string().contains("module gone"), "{err}");
    }

    #[test]
    fn use_trees_flatten_into_one_import_per_name() {
        let t = tree(&[("src/lib.rs", "use crate::a::{self, b::C as D, e::*, f::{g}}; use ::std::fmt;")]);
        let root = &t.modules[&Vec::new()];
        let imports: Vec<(Option<&str>, String)> =
            root.imports.iter().map(|i| (i.name.as_deref(), i.path.join("::"))).collect();
        assert_eq!(
            imports,
            [
                (Some("a"), "crate::a".to_string()),
                (Some("D"), "crate::a::b::C".to_string()),
                (None, "crate::a::e".to_string()),
                (Some("g"), "crate::a::f::g".to_string()),
            ]
        );
    }

    #[test]
    fn comments_doc_links_strings_and_tests_are_not_code() {
        let source = r#"
            //! See [`crate::x::A`].
            /// Uses [`crate::y::B`] and [crate::z].
            // crate::w::C
            /* crate::v::D */
            pub fn f() -> &'static str { "crate::u::E" }
            #[cfg(test)]
            mod tests { use crate::t::F; }
            #[cfg(all(test, feature = "x"))]
            fn only_in_tests() { crate::s::G(); }
            #[test]
            fn a_test() { crate::r::H(); }
        "#;
        let t = tree(&[("src/lib.rs", source)]);
        let root = &t.modules[&Vec::new()];
        assert!(root.mentions.iter().all(|m| m.path[0] != "crate"), "{:?}", paths(root));
        assert!(root.children.is_empty());
    }

    #[test]
    fn paths_in_code_and_in_macro_tokens_are_mentions() {
        let source = "
            fn f(x: crate::a::A) -> super::B {
                let y = crate::c::make();
                assert_eq!(y, crate::d::E::Variant, \"{}\", x.g::<u8>());
                if let crate::h::I(z) = y {}
                tokio::select! { _ = crate::j::k() => {} }
            }
        ";
        let t = tree(&[("src/lib.rs", source)]);
        let found = paths(&t.modules[&Vec::new()]);
        for expected in
            ["crate::a::A", "super::B", "crate::c::make", "crate::d::E::Variant", "crate::h::I", "crate::j::k"]
        {
            assert!(found.iter().any(|p| p == expected), "{expected} not in {found:?}");
        }
        assert!(!found.iter().any(|p| p.starts_with("g")), "a turbofish is no path: {found:?}");
    }

    #[test]
    fn mentions_carry_their_line() {
        let t = tree(&[("src/lib.rs", "\n\nuse crate::a::B;\n")]);
        assert_eq!(
            t.modules[&Vec::new()].mentions,
            [Mention { path: vec!["crate".into(), "a".into(), "B".into()], line: 3 }]
        );
    }
}
