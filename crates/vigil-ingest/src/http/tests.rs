use std::io::Write;

use bytes::Bytes;

use super::body::{self, DecodeError, HecError, NOT_JSON, OVERSIZED};

fn datas(p: &[body::Piece]) -> Vec<&[u8]> {
    p.iter().map(|p| &p.data[..]).collect()
}

#[test]
fn ingest_reads_ndjson_and_keeps_malformed_lines_marked() {
    let b = Bytes::from_static(b"{\"a\":1}\r\n\n  \nnot json\n{\"b\":2}");
    let p = body::ingest(&b, 1024);
    assert_eq!(datas(&p), [&b"{\"a\":1}"[..], b"not json", b"{\"b\":2}"]);
    assert_eq!(p[1].error, Some(NOT_JSON));
    assert_eq!(p[0].error, None);
}

#[test]
fn ingest_reads_a_json_array_element_by_element() {
    let b = Bytes::from_static(b" [{\"a\":1}, \"text\", {\"b\":[1,2]}]");
    let p = body::ingest(&b, 1024);
    assert_eq!(
        datas(&p),
        [&b"{\"a\":1}"[..], b"\"text\"", b"{\"b\":[1,2]}"]
    );
    // a broken array is read as lines, kept and marked
    let b = Bytes::from_static(b"[{\"a\":1}");
    let p = body::ingest(&b, 1024);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].error, Some(NOT_JSON));
}

#[test]
fn oversized_events_are_cut_and_marked() {
    let b = Bytes::from(format!("{{\"a\":\"{}\"}}\n", "x".repeat(100)));
    let p = body::ingest(&b, 20);
    assert_eq!(p[0].data.len(), 20);
    assert_eq!(p[0].error, Some(OVERSIZED));
}

#[test]
fn bulk_takes_index_and_create_and_answers_the_rest_per_item() {
    let b = Bytes::from_static(
        b"{\"index\":{\"_index\":\"logs\",\"_id\":\"1\"}}\n{\"msg\":\"one\"}\n\
          {\"create\":{}}\n{\"msg\":\"two\"}\n\
          {\"delete\":{\"_id\":\"1\"}}\n\
          {\"update\":{\"_id\":\"1\"}}\n{\"doc\":{\"x\":1}}\n\
          garbage\n",
    );
    let (p, items) = body::bulk(&b, Some("path-index"), 1024);
    assert_eq!(
        datas(&p)[..2],
        [&b"{\"msg\":\"one\"}"[..], b"{\"msg\":\"two\"}"]
    );
    assert_eq!(p.len(), 4, "update's doc and the garbage line are kept");
    assert!(p[2].error.is_some() && p[3].error.is_some());
    assert_eq!(items.len(), 5);
    assert_eq!(items[0].index, "logs");
    assert_eq!(items[0].id.as_deref(), Some("1"));
    assert_eq!(items[1].index, "path-index");
    assert!(items[0].error.is_none() && items[1].error.is_none());
    assert_eq!(items[2].action, "delete");
    assert!(items[2].error.is_some() && items[3].error.is_some() && items[4].error.is_some());
    // an action line at the very end, without its document
    let (p, items) = body::bulk(&Bytes::from_static(b"{\"index\":{}}\n"), None, 1024);
    assert!(p.is_empty());
    assert_eq!(items[0].index, "vigil");
    assert!(items[0].error.is_some());
}

#[test]
fn hec_event_bodies_are_concatenated_objects() {
    let b = Bytes::from_static(
        b"{\"event\":\"hello world\",\"sourcetype\":\"x\"}{\"event\":{\"k\":\"v\"}}\n {\"time\":1,\"event\":\"three\"}",
    );
    let (p, fault) = body::hec_event(&b, 1024);
    assert_eq!(fault, None);
    assert_eq!(datas(&p), [&b"hello world"[..], b"{\"k\":\"v\"}", b"three"]);
}

#[test]
fn hec_event_faults_keep_the_rest_marked() {
    let b = Bytes::from_static(b"{\"event\":\"ok\"}{\"host\":\"h\"}{\"event\":\"later\"}");
    let (p, fault) = body::hec_event(&b, 1024);
    assert_eq!(
        fault,
        Some(HecError {
            code: 12,
            text: "Event field is required",
            event: 1
        })
    );
    assert_eq!(p.len(), 2);
    assert_eq!(&p[1].data[..], b"{\"host\":\"h\"}{\"event\":\"later\"}");
    assert!(p[1].error.is_some());
    let (p, fault) = body::hec_event(&Bytes::from_static(b"{\"event\":\"a\"} {oops"), 1024);
    assert_eq!(fault.map(|f| f.code), Some(6));
    assert_eq!(&p[1].data[..], b"{oops");
}

#[test]
fn hec_raw_is_line_per_record() {
    let p = body::hec_raw(&Bytes::from_static(b"line one\nline two\n"), 1024);
    assert_eq!(datas(&p), [&b"line one"[..], b"line two"]);
}

#[test]
fn decode_inflates_gzip_and_zstd_within_the_cap() {
    let plain = b"{\"a\":1}\n".repeat(1000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = Bytes::from(gz.finish().unwrap());
    assert_eq!(
        body::decode(gz.clone(), Some("gzip"), 1 << 20).unwrap(),
        plain[..]
    );
    assert_eq!(
        body::decode(gz.clone(), Some("gzip"), 100),
        Err(DecodeError::TooLarge)
    );
    let zs = Bytes::from(zstd::encode_all(&plain[..], 3).unwrap());
    assert_eq!(
        body::decode(zs.clone(), Some("zstd"), 1 << 20).unwrap(),
        plain[..]
    );
    assert_eq!(
        body::decode(zs, Some("zstd"), plain.len() - 1),
        Err(DecodeError::TooLarge)
    );
    assert_eq!(
        body::decode(Bytes::from_static(b"not gzip"), Some("gzip"), 100),
        Err(DecodeError::Corrupt)
    );
    assert_eq!(
        body::decode(Bytes::from_static(b"x"), Some("br"), 100),
        Err(DecodeError::UnsupportedEncoding)
    );
    assert_eq!(
        body::decode(Bytes::from_static(b"x"), None, 100).unwrap(),
        Bytes::from_static(b"x")
    );
}

#[test]
fn basic_auth_yields_the_password() {
    // "elastic:s3cret-token"
    assert_eq!(
        body::basic_password("ZWxhc3RpYzpzM2NyZXQtdG9rZW4=").as_deref(),
        Some("s3cret-token")
    );
    assert_eq!(body::basic_password("!!!"), None);
    assert_eq!(body::basic_password("bm9jb2xvbg=="), None);
}
