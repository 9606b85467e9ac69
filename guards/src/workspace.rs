//! Finding things in the workspace: its member crates, each crate's root
//! files, and the repository's text files.

use std::path::{Path, PathBuf};

/// The workspace's root folder (where its `Cargo.toml` is).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the guards crate is in the workspace's folder").to_path_buf()
}

/// The `members` of the workspace manifest `manifest` (its text): the
/// folder of each member crate, as written.
pub fn members(manifest: &str) -> Vec<String> {
    let Some(start) = manifest.find("\nmembers") else { return Vec::new() };
    let rest = &manifest[start..];
    let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) else { return Vec::new() };
    rest[open + 1..close].split(',').map(|m| m.trim().trim_matches('"').to_owned()).filter(|m| !m.is_empty()).collect()
}

/// The crate roots of the package in `dir`: `src/lib.rs`, `src/main.rs`,
/// `src/bin/*.rs` and `src/bin/*/main.rs`, those that exist.
pub fn crate_roots(dir: &Path) -> Vec<PathBuf> {
    let src = dir.join("src");
    let mut roots: Vec<PathBuf> = ["lib.rs", "main.rs"].iter().map(|f| src.join(f)).filter(|f| f.is_file()).collect();
    let mut bins: Vec<PathBuf> = std::fs::read_dir(src.join("bin"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            if p.extension().is_some_and(|e| e == "rs") {
                Some(p)
            } else {
                Some(p.join("main.rs")).filter(|m| m.is_file())
            }
        })
        .collect();
    bins.sort();
    roots.extend(bins);
    roots
}

/// Folders never searched for text files: build output, installed node
/// modules, version control and other hidden folders.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || name.starts_with("target") || name == "node_modules"
}

/// Every file under `dir` whose name ends in one of `extensions`, sorted,
/// outside the folders of build output, node modules and hidden ones.
pub fn text_files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if !skipped(&name) {
                    pending.push(path);
                }
            } else if kind.is_file() && extensions.iter().any(|e| name.ends_with(&format!(".{e}"))) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_read_from_the_manifest() {
        let manifest = "[workspace]\nresolver = \"2\"\nmembers = [\"a\", \"b-c\",\n  \"d\"]\nexclude = [\"x\"]\n";
        assert_eq!(members(manifest), ["a", "b-c", "d"]);
        assert!(members("[package]\nname = \"x\"\n").is_empty());
    }

    #[test]
    fn this_workspace_has_its_crates() {
        let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
        let members = members(&manifest);
        for expected in ["sockjs-core", "sockjs-client", "examples", "guards"] {
            assert!(members.iter().any(|m| m == expected), "{expected} not in {members:?}");
        }
        let roots = crate_roots(&root().join("examples"));
        assert!(roots.len() > 2 && roots[0].ends_with("src/lib.rs"), "{roots:?}");
    }
}
