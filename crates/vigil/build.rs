//! With the `kafka` feature: links vigil-ingest's guard around librdkafka's leader hints in
//! place of `rd_kafka_metadata_update_op` (see crates/vigil-ingest/build.rs).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_KAFKA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--wrap=rd_kafka_metadata_update_op");
    }
}
