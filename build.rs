//! Embeds `schemas/`, `blueprints/` and the example organisation config into the binary, so that
//! the binary alone works. Generates `$OUT_DIR/embedded.rs` with `(relative path, contents)` pairs,
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
    let manifest = env::var("CARGO_MANIFEST_DIR").unwrap();
    let root = Path::new(&manifest).join(dir);
    println!("cargo:rerun-if-changed={dir}");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    let mut s = format!("pub static {name}: &[(&str, &str)] = &[\n");
    for f in files {
        println!("cargo:rerun-if-changed={dir}/{f}");
        s.push_str(&format!(
            "    ({f:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{dir}/{f}\"))),\n"
        ));
    }
    s.push_str("];\n");
    s
}

fn main() {
    let mut src = String::new();
    src.push_str(&table("SCHEMAS", "schemas"));
    src.push_str(&table("BLUEPRINTS", "blueprints"));
    println!("cargo:rerun-if-changed=examples/pctl-org.yaml");
    src.push_str(
        "pub static DEFAULT_ORG: &str = include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/examples/pctl-org.yaml\"));\n",
    );
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("embedded.rs");
    fs::write(out, src).unwrap();
}
