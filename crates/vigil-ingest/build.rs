//! With the `kafka` feature: compiles the guard around librdkafka's leader hints
//! (`src/kafka/leader_hint.c`, against the headers of the librdkafka that rdkafka-sys built)
//! and links it in with `--wrap=rd_kafka_metadata_update_op` for this crate's tests. Binaries
//! that link this crate pass the same `--wrap` (crates/vigil/build.rs); one that does not
//! simply runs librdkafka unguarded.

fn main() {
    println!("cargo:rerun-if-changed=src/kafka/leader_hint.c");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_KAFKA").is_none() {
        return;
    }
    let Some(root) = std::env::var_os("DEP_RDKAFKA_ROOT") else {
        println!(
            "cargo:warning=DEP_RDKAFKA_ROOT is not set: librdkafka's leader hints are not guarded"
        );
        return;
    };
    let root = std::path::PathBuf::from(root);
    cc::Build::new()
        .file("src/kafka/leader_hint.c")
        .include(root.join("src"))
        .include(&root)
        .define("_GNU_SOURCE", None)
        .warnings(false)
        .link_lib_modifier("+whole-archive")
        .compile("vigil_rdkafka_guard");
    println!("cargo:rustc-link-arg=-Wl,--wrap=rd_kafka_metadata_update_op");
}
