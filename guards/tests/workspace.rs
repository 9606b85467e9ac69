//! The repository's own guards, over the whole workspace: every crate's
//! modules form layers, and every citation of `docs/` resolves.

use std::path::Path;

use sockjs_guards::citations::{self, headings, Doc, Sections};
use sockjs_guards::layers::Layers;
use sockjs_guards::tree::ModuleTree;
use sockjs_guards::workspace;

/// Each crate of the workspace (each library and binary root of each
/// member, `examples` included): no cycle among the modules under any
/// parent.
#[test]
fn every_crate_s_modules_form_layers() {
    let root = workspace::root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = workspace::members(&manifest);
    assert!(members.len() >= 8, "the workspace's members: {members:?}");
    let mut failures = Vec::new();
    let mut modules = 0;
    for member in &members {
        let roots = workspace::crate_roots(&root.join(member));
        assert!(!roots.is_empty(), "{member} has no crate root");
        for crate_root in roots {
            // Relative to the workspace, so that messages name files as
            // the repository does.
            let crate_root = crate_root.strip_prefix(&root).unwrap_or(&crate_root).to_path_buf();
            let shown = crate_root.display().to_string();
            let read = |path: &Path| std::fs::read_to_string(root.join(path));
            let tree = ModuleTree::parse(&crate_root, &read).unwrap_or_else(|e| panic!("{shown}: {e}"));
            let layers = Layers::of(&tree);
            let cycles = layers.cycles();
            println!(
                "{shown}: {} modules, {} arrows, {} cycles",
                tree.modules.len() - 1,
                layers.arrow_count(),
                cycles.len()
            );
            modules += tree.modules.len();
            failures.extend(cycles.iter().map(|c| format!("{shown}: {c}")));
        }
    }
    // Every crate of the workspace together has well over this many.
    assert!(modules > 60, "found only {modules} modules");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The kinds of text file that cite the documents: sources, documents,
/// manifests, scripts, the browser and node test pages, the HAProxy
/// configuration, the fuzz dictionaries.
const CITING: &[&str] = &["rs", "md", "toml", "sh", "js", "json", "html", "cfg", "dict"];

/// Every citation of `PROTOCOL.md` or `DESIGN.md` (by section, or of the
/// document alone) in the repository's text files resolves to a heading
/// of docs/PROTOCOL.md or docs/DESIGN.md.
#[test]
fn every_cited_section_exists_in_docs() {
    let root = workspace::root();
    let doc = |name: &str| {
        std::fs::read_to_string(root.join("docs").join(name)).unwrap_or_else(|e| panic!("docs/{name}: {e}"))
    };
    let sections = Sections { protocol: headings(&doc("PROTOCOL.md")), design: headings(&doc("DESIGN.md")) };
    assert!(sections.protocol.len() > 20 && sections.design.len() > 3, "{sections:?}");
    let files = workspace::text_files(&root, CITING);
    let mut problems = Vec::new();
    let mut cited = 0;
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        let shown = file.strip_prefix(&root).unwrap_or(file).display().to_string();
        let default = if shown == "docs/DESIGN.md" { Doc::Design } else { Doc::Protocol };
        cited += citations::citations(&text, default).iter().filter(|c| c.section.is_some()).count();
        problems.extend(sections.unresolved(&shown, &text, default));
    }
    println!("{} files, {cited} citations of a section", files.len());
    // The sources cite sections by the hundred; finding few means the
    // scan is broken, not that the citations went away.
    assert!(cited > 300, "only {cited} citations found in {} files", files.len());
    assert!(problems.is_empty(), "{} citations do not resolve:\n{}", problems.len(), problems.join("\n"));
}
