//! Hand-built feeds for the feed tests: no compiler needed.
use taxii_edge::feed::{
    token, ApiRootMeta, CollectionData, CollectionMeta, FeedMeta, FeedSpec, ObjectVersion,
    SpecVersion,
};

pub const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
pub const T0: i64 = 1_704_164_645_000_000; // 2024-01-02T03:04:05Z

pub fn key() -> [u8; 32] {
    token::key_from_hex(KEY_HEX).unwrap()
}

/// An indicator version with a recognizable JSON body.
pub fn obj(id: &str, version_us: i64, date_added_us: i64) -> ObjectVersion {
    let json = format!(
        "{{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"{id}\",\"created\":\"2024-01-01T00:00:00.000Z\",\"modified\":\"{}\",\"pattern\":\"[ipv4-addr:value = '198.51.100.1']\",\"pattern_type\":\"stix\",\"valid_from\":\"2024-01-01T00:00:00.000Z\"}}",
        taxii_edge::time::fmt_ms(version_us)
    );
    ObjectVersion {
        id: id.to_string(),
        stix_type: "indicator".into(),
        spec_version: SpecVersion::V21,
        version_us,
        date_added_us,
        json21: json.into(),
        json20: None,
    }
}

pub fn uuid_id(prefix: &str, n: usize) -> String {
    format!("{prefix}--00000000-0000-4000-8000-{n:012}")
}

pub fn coll_meta(i: usize) -> CollectionMeta {
    CollectionMeta {
        id: format!("11111111-2222-4333-8444-{i:012}"),
        alias: Some(format!("c{i}")),
        title: format!("Collection {i}"),
        description: None,
        api_root: "feeds".into(),
        taxii_versions: vec!["2.1".into()],
    }
}

pub fn spec(collections: Vec<Vec<ObjectVersion>>, page_size: u32) -> FeedSpec {
    let metas = (0..collections.len()).map(coll_meta).collect();
    FeedSpec {
        meta: FeedMeta {
            generation: "0123456789abcdef0123456789abcdef".into(),
            created_us: T0,
            title: "test feed".into(),
            description: Some("feed tests".into()),
            contact: None,
            api_roots: vec![ApiRootMeta {
                name: "feeds".into(),
                title: "Feeds".into(),
                description: None,
                default: true,
            }],
            collections: metas,
            page_size,
            token_key: KEY_HEX.into(),
            compile: None,
        },
        collections: collections
            .into_iter()
            .enumerate()
            .map(|(i, objects)| CollectionData {
                objects,
                state: format!("state-{i}").into_bytes().into(),
                cuts: Vec::new(),
            })
            .collect(),
    }
}

/// `n` distinct indicators, one version each, date_added 1 µs apart.
pub fn simple(n: usize) -> Vec<ObjectVersion> {
    (0..n)
        .map(|i| {
            obj(
                &uuid_id("indicator", i),
                T0 + i as i64 * 1000,
                T0 + 1_000_000 + i as i64,
            )
        })
        .collect()
}

/// (kind, collection, offset, len) of every section, read from the file's
/// section table.
pub fn sections(b: &[u8]) -> Vec<(u16, u32, usize, usize)> {
    let off = u64::from_le_bytes(b[16..24].try_into().unwrap()) as usize;
    let len = u64::from_le_bytes(b[24..32].try_into().unwrap()) as usize;
    b[off..off + len]
        .chunks_exact(32)
        .map(|r| {
            (
                u16::from_le_bytes(r[0..2].try_into().unwrap()),
                u32::from_le_bytes(r[4..8].try_into().unwrap()),
                u64::from_le_bytes(r[8..16].try_into().unwrap()) as usize,
                u64::from_le_bytes(r[16..24].try_into().unwrap()) as usize,
            )
        })
        .collect()
}

/// Recomputes every checksum (sections whose offsets are out of range are
/// left alone), so a mutation reaches the semantic checks of open and
/// verify instead of stopping at a CRC.
pub fn refresh_checksums(b: &mut [u8]) {
    let off = u64::from_le_bytes(b[16..24].try_into().unwrap()) as usize;
    let len = u64::from_le_bytes(b[24..32].try_into().unwrap()) as usize;
    if off.checked_add(len).is_none_or(|e| e > b.len()) || len % 32 != 0 {
        return;
    }
    for r in (off..off + len).step_by(32) {
        let so = u64::from_le_bytes(b[r + 8..r + 16].try_into().unwrap()) as usize;
        let sl = u64::from_le_bytes(b[r + 16..r + 24].try_into().unwrap()) as usize;
        if so.checked_add(sl).is_some_and(|e| e <= b.len()) {
            let crc = crc32c::crc32c(&b[so..so + sl]);
            b[r + 24..r + 28].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let crc = crc32c::crc32c(&b[off..off + len]);
    b[32..36].copy_from_slice(&crc.to_le_bytes());
    let crc = crc32c::crc32c(&b[..60]);
    b[60..64].copy_from_slice(&crc.to_le_bytes());
}
