//! The repository's own guards, over the whole workspace: every crate's
//! modules form layers, and every citation of `docs/` resolves.

use std::path::Path;

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
