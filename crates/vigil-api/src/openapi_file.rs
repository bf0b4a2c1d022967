//! The OpenAPI document the console's types are generated from: `ui/openapi.json` must be
//! what [`crate::openapi`] serves. `VIGIL_BLESS=1 cargo test -p vigil-api openapi_file`
//! rewrites it; then `npm run gen:api` (in ui/) regenerates `ui/src/api/schema.d.ts`, which
//! `npm test` checks in turn.

#[test]
#[allow(clippy::disallowed_methods)] // test code: reads the committed document it compares
fn the_committed_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/openapi.json");
    let doc = crate::openapi();
    let mut want = serde_json::to_string_pretty(&doc).unwrap_or_default();
    want.push('\n');
    if std::env::var_os("VIGIL_BLESS").is_some() {
        if let Err(e) = std::fs::write(&path, &want) {
            panic!("writing {}: {e}", path.display());
        }
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "ui/openapi.json is not the API's document: run `VIGIL_BLESS=1 cargo test -p vigil-api \
         openapi_file`, then `npm run gen:api` in ui/, and commit both"
    );
}
