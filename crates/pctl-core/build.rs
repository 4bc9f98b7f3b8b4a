//! Embeds the workspace's `schemas/`, `blueprints/` and the example organisation config into the
//! core crate (and so into the binary), so that the binary alone works. Generates `$OUT_DIR/embedded.rs` with `(relative path, contents)` pairs,
//! sorted by path so the build is deterministic.
use std::{env, fs, path::Path};

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
}

fn table(name: &str, dir: &str) -> String {
    let root = workspace().join(dir);
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    let mut s = format!("pub static {name}: &[(&str, &str)] = &[\n");
    for f in files {
        let full = root.join(&f);
        println!("cargo:rerun-if-changed={}", full.display());
        s.push_str(&format!(
            "    ({f:?}, include_str!({:?})),\n",
            full.display().to_string()
        ));
    }
    s.push_str("];\n");
    s
}

/// The workspace root: schemas and blueprints are top-level folders of the repository.
fn workspace() -> std::path::PathBuf {
    let manifest = env::var("CARGO_MANIFEST_DIR").unwrap();
    Path::new(&manifest).join("../..")
}

fn main() {
    let mut src = String::new();
    src.push_str(&table("SCHEMAS", "schemas"));
    src.push_str(&table("BLUEPRINTS", "blueprints"));
    let org = workspace().join("examples/pctl-org.yaml");
    println!("cargo:rerun-if-changed={}", org.display());
    src.push_str(&format!(
        "pub static DEFAULT_ORG: &str = include_str!({:?});\n",
        org.display().to_string()
    ));
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("embedded.rs");
    fs::write(out, src).unwrap();
}
