//! Deterministic identifiers: indicator ids in our own namespace, and STIX
//! 2.1 Cyber-observable (SCO) ids by the spec's rule.
//!
//! Indicator ids are name-based (UUIDv5's SHA-1 computation, stamped as
//! version 4 because STIX 2.0 only accepts v4 ids: see [`name_based_v4`])
//! so that a recompile gives every indicator the same id (docs/decisions.md#d33). The name input carries the
//! collection id (one id never holds two collections' different contents,
//! docs/decisions.md#d19) and, after a revocation, an epoch (revocation is final,
//! docs/decisions.md#d12).
//!
//! SCO ids follow STIX 2.1 §2.9: UUIDv5 in the namespace
//! `00abedb4-aa42-466c-9c01-fed23315a9b7` over the RFC 8785 (JCS) canonical
//! JSON of the object's ID-contributing properties. For `file` only one
//! hash contributes, the first present of MD5, SHA-1, SHA-256, SHA-512, as
//! the OASIS `stix2` library does (`_choose_one_hash`), so that our ids
//! equal the ones other STIX producers compute for the same file.

use super::json::{push_json_str, push_value};
use super::pattern::{asn_number, is_ipv6, present_hashes};
use crate::record::{Indicator, IndicatorType};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The taxii-edge namespace for indicator ids. Generated once (UUIDv4) and
/// hard-coded: it must NEVER change, or every indicator of every feed
/// would get a new id (and clients would see the whole feed as new).
pub const NAMESPACE: Uuid = Uuid::from_u128(0x934c1cbd_cf2b_42f4_84b5_a0f6f0fa9609);

/// The STIX 2.1 namespace for deterministic SCO ids (STIX 2.1 §2.9).
pub const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00abedb4_aa42_466c_9c01_fed23315a9b7);

/// The UUIDv5 name of an indicator id (see [`indicator_id`]).
///
/// Exactly: `<collection>:<type>:<value>` when `epoch` is 0, and
/// `<collection>#<epoch>:<type>:<value>` otherwise, where `<collection>` is
/// the collection id in lower-case hyphenated form (always 36 characters),
/// `<type>` the canonical type name ([`IndicatorType::as_str`], never
/// containing `:`), `<epoch>` decimal without leading zeros, and `<value>`
/// the normalised value, verbatim, to the end of the string. Parsing it back
/// is unambiguous: the 37th character says whether an epoch follows, the
/// epoch and the type end at the next `:`, the value is the rest. Epoch 0
/// has no marker so that ids minted before any revocation keep their form.
pub fn indicator_id_name(
    collection_id: &Uuid,
    kind: IndicatorType,
    value: &str,
    epoch: u32,
) -> String {
    let mut name = String::with_capacity(36 + 16 + value.len());
    name.push_str(&collection_id.hyphenated().to_string());
    if epoch > 0 {
        name.push('#');
        name.push_str(&epoch.to_string());
    }
    name.push(':');
    name.push_str(kind.as_str());
    name.push(':');
    name.push_str(value);
    name
}

/// The deterministic indicator id: `indicator--` + UUIDv5([`NAMESPACE`],
/// [`indicator_id_name`]) stamped as version 4 ([`name_based_v4`]). The
/// value should be the canonical (normalised) value; the input layer
/// already normalises, so it is used as given.
pub fn indicator_id(collection_id: &Uuid, kind: IndicatorType, value: &str, epoch: u32) -> String {
    let name = indicator_id_name(collection_id, kind, value, epoch);
    format!(
        "indicator--{}",
        name_based_v4(&NAMESPACE, name.as_bytes()).hyphenated()
    )
}

pub use crate::config::name_based_v4;

/// The namespace of XSOAR's TAXII2 server ids for one tenant:
/// UUIDv5(UUIDv5(URL namespace, `https://www.paloaltonetworks.com`),
/// license id), as demisto/content's TAXII2 server computes it
/// (`uuid.uuid5(PAWN_UUID, demisto.getLicenseID())`).
pub fn xsoar_namespace(license_id: &str) -> Uuid {
    let pawn = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://www.paloaltonetworks.com");
    Uuid::new_v5(&pawn, license_id.as_bytes())
}

/// XSOAR's id of an indicator SDO: `indicator--` + UUIDv5(`namespace`,
/// `indicator:<value>`), with the value exactly as XSOAR holds it
/// (`XSOAR2STIXParser.create_sdo_stix_uuid` in `TAXII2ApiModule.py`). A
/// true version 5 UUID: valid in STIX 2.1 (which only recommends v4 for
/// SDOs), invalid in STIX 2.0, so such ids are only served in 2.1.
pub fn xsoar_indicator_id(namespace: &Uuid, value: &str) -> String {
    let mut name = String::with_capacity(10 + value.len());
    name.push_str("indicator:");
    name.push_str(value);
    format!(
        "indicator--{}",
        Uuid::new_v5(namespace, name.as_bytes()).hyphenated()
    )
}

/// An XSOAR `CustomFields.stixid` usable as an indicator's id:
/// `indicator--<uuid>`, written back in lower case. Anything else (XSOAR
/// keeps the id of whatever object a feed delivered, e.g. `ipv4-addr--…`)
/// is `None`: XSOAR's server would put it on an indicator as it is, which
/// is invalid STIX.
pub fn indicator_stixid(stixid: &str) -> Option<String> {
    let uuid = stixid.trim().strip_prefix("indicator--")?;
    if uuid.len() != 36 {
        return None;
    }
    let u = Uuid::parse_str(uuid).ok()?;
    Some(format!("indicator--{}", u.hyphenated()))
}

/// A STIX 2.1 Cyber-observable object for an indicator's value (emitted
/// when a collection sets `emit_scos`). SCOs carry no `created` or
/// `modified`, so the object is complete and serialized once here; STIX
/// 2.0 has no standalone SCOs, so there is no 2.0 form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sco {
    /// `ipv4-addr--<uuid>` etc.
    pub id: String,
    /// The STIX type (`ipv4-addr`, `file`…).
    pub stix_type: &'static str,
    /// The whole object, compact JSON, STIX 2.1.
    pub json: String,
}

/// The SCO for an indicator, or `None` for types that have no simple one
/// (`user-agent` would need a whole `network-traffic` object with
/// addresses we do not know) or a value the SCO's schema refuses: a
/// non-numeric ASN, a URL that is not an RFC 3986 URI (no scheme, spaces,
/// non-ASCII: real exports contain such "URLs", and the indicator's pattern
/// still carries them), an e-mail address outside the OASIS validator's
/// `[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+`.
///
/// Properties emitted are exactly the ID-contributing ones we know (plus
/// the required `is_multipart` of `email-message`, and every hash of a
/// `file`): `value` (addresses, domain, url, email), `name` (mutex), `key`
/// and `values` (registry key), `number` (ASN), `subject` (email subject),
/// `hashes` (files).
pub fn sco(ind: &Indicator) -> Option<Sco> {
    // (type, id-contributing properties, extra properties)
    let (stix_type, contributing, extra): (&'static str, Map<String, Value>, Map<String, Value>) =
        match ind.kind {
            IndicatorType::Ipv4 => ("ipv4-addr", one("value", &ind.value), Map::new()),
            IndicatorType::Ipv6 => ("ipv6-addr", one("value", &ind.value), Map::new()),
            IndicatorType::Cidr => (
                if is_ipv6(&ind.value) {
                    "ipv6-addr"
                } else {
                    "ipv4-addr"
                },
                one("value", &ind.value),
                Map::new(),
            ),
            IndicatorType::Domain => ("domain-name", one("value", &ind.value), Map::new()),
            IndicatorType::Url if is_uri(&ind.value) => {
                ("url", one("value", &ind.value), Map::new())
            }
            IndicatorType::Email if is_simple_email(&ind.value) => {
                ("email-addr", one("value", &ind.value), Map::new())
            }
            IndicatorType::Url | IndicatorType::Email => return None,
            IndicatorType::Mutex => ("mutex", one("name", &ind.value), Map::new()),
            IndicatorType::EmailSubject => {
                let mut extra = Map::new();
                extra.insert("is_multipart".into(), Value::Bool(false));
                ("email-message", one("subject", &ind.value), extra)
            }
            IndicatorType::RegistryKey => {
                let mut c = one("key", &ind.value);
                if let Some(name) = ind.registry_value_name.as_deref().filter(|n| !n.is_empty()) {
                    c.insert("values".into(), json!([{ "name": name }]));
                }
                ("windows-registry-key", c, Map::new())
            }
            IndicatorType::Asn => {
                let n = asn_number(&ind.value)?;
                let mut c = Map::new();
                c.insert("number".into(), Value::from(n));
                ("autonomous-system", c, Map::new())
            }
            IndicatorType::Md5
            | IndicatorType::Sha1
            | IndicatorType::Sha256
            | IndicatorType::Sha512
            | IndicatorType::File => {
                let mut all = Map::new();
                for (name, _, v) in present_hashes(&ind.hashes) {
                    all.insert(name.into(), Value::String(v.into()));
                }
                if all.is_empty() {
                    let name = match ind.kind {
                        IndicatorType::Md5 => "MD5",
                        IndicatorType::Sha1 => "SHA-1",
                        IndicatorType::Sha256 => "SHA-256",
                        IndicatorType::Sha512 => "SHA-512",
                        _ => match ind.value.len() {
                            40 => "SHA-1",
                            64 => "SHA-256",
                            128 => "SHA-512",
                            _ => "MD5",
                        },
                    };
                    all.insert(name.into(), Value::String(ind.value.clone()));
                }
                // Only the most preferred hash contributes to the id.
                let (first_k, first_v) = all.iter().next().map(|(k, v)| (k.clone(), v.clone()))?;
                let mut chosen = Map::new();
                chosen.insert(first_k, first_v);
                let mut c = Map::new();
                c.insert("hashes".into(), Value::Object(chosen));
                let mut extra = Map::new();
                extra.insert("hashes".into(), Value::Object(all));
                ("file", c, extra)
            }
            IndicatorType::UserAgent => return None,
        };
    let id = sco_id(stix_type, &Value::Object(contributing.clone()));
    let mut json = String::with_capacity(96 + ind.value.len());
    json.push_str("{\"type\":");
    push_json_str(&mut json, stix_type);
    json.push_str(",\"spec_version\":\"2.1\",\"id\":");
    push_json_str(&mut json, &id);
    let mut props = contributing;
    for (k, v) in extra {
        props.insert(k, v);
    }
    for (k, v) in &props {
        json.push(',');
        push_json_str(&mut json, k);
        json.push(':');
        push_value(&mut json, v);
    }
    json.push('}');
    Some(Sco {
        id,
        stix_type,
        json,
    })
}

/// Whether `s` is an absolute URI by RFC 3986 (`scheme ":" hier-part
/// ["?" query] ["#" fragment]`), checked conservatively: IP-literal hosts
/// (`[…]`) are refused, so anything accepted is a valid URI.
pub(crate) fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut sc = scheme.bytes();
    if !sc.next().is_some_and(|b| b.is_ascii_alphabetic())
        || !sc.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return false;
    }
    let unreserved_or_sub = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            )
    };
    // Every byte in `part` is allowed by `ok` or starts a valid %HH.
    let valid = |part: &str, ok: &dyn Fn(u8) -> bool| {
        let b = part.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                if !(i + 2 < b.len()
                    && b[i + 1].is_ascii_hexdigit()
                    && b[i + 2].is_ascii_hexdigit())
                {
                    return false;
                }
                i += 3;
            } else if ok(b[i]) {
                i += 1;
            } else {
                return false;
            }
        }
        true
    };
    let pchar = |b: u8| unreserved_or_sub(b) || matches!(b, b':' | b'@');
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (hier, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    let tail_ok = |b: u8| pchar(b) || b == b'/' || b == b'?';
    if fragment.is_some_and(|f| !valid(f, &tail_ok)) || query.is_some_and(|q| !valid(q, &tail_ok)) {
        return false;
    }
    let path = match hier.strip_prefix("//") {
        Some(after) => {
            let end = after.find('/').unwrap_or(after.len());
            let (authority, path) = after.split_at(end);
            let (userinfo, hostport) = match authority.rsplit_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, authority),
            };
            if userinfo.is_some_and(|u| !valid(u, &|b| unreserved_or_sub(b) || b == b':')) {
                return false;
            }
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            };
            if port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit()))
                || !valid(host, &unreserved_or_sub)
            {
                return false;
            }
            path
        }
        None => hier,
    };
    valid(path, &|b| pchar(b) || b == b'/')
}

/// The OASIS validator's e-mail check (`EMAIL_RE` in stix2validator).
pub(crate) fn is_simple_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let Some((first, rest)) = domain.split_once('.') else {
        return false;
    };
    !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'))
        && !first.is_empty()
        && first
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn one(key: &str, value: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.into(), Value::String(value.into()));
    m
}

/// `<type>--` + UUIDv5([`SCO_NAMESPACE`], JCS(`contributing`)).
pub fn sco_id(stix_type: &str, contributing: &Value) -> String {
    let mut canon = String::new();
    push_canonical(&mut canon, contributing);
    format!(
        "{stix_type}--{}",
        Uuid::new_v5(&SCO_NAMESPACE, canon.as_bytes()).hyphenated()
    )
}

/// Appends the RFC 8785 canonical form of `v`: object members sorted by
/// their keys' UTF-16 code units, no whitespace, strings escaped as
/// ECMAScript `JSON.stringify` does (which is what [`push_json_str`]
/// writes). Numbers here are integers only (ASN), whose canonical form is
/// their decimal digits.
pub fn push_canonical(out: &mut String, v: &Value) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_str(out, k);
                out.push(':');
                push_canonical(out, &m[k.as_str()]);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_canonical(out, x);
            }
            out.push(']');
        }
        other => push_value(out, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::FileHashes;
    use crate::stix::pattern::tests::ind;

    const COL: Uuid = Uuid::from_u128(0x6f0c7e2a_1d3b_4c5e_8f90_a1b2c3d4e5f6);

    #[test]
    fn indicator_id_name_is_documented_form() {
        assert_eq!(
            indicator_id_name(&COL, IndicatorType::Ipv4, "198.51.100.1", 0),
            "6f0c7e2a-1d3b-4c5e-8f90-a1b2c3d4e5f6:ipv4:198.51.100.1"
        );
        assert_eq!(
            indicator_id_name(&COL, IndicatorType::Url, "http://a/:b", 3),
            "6f0c7e2a-1d3b-4c5e-8f90-a1b2c3d4e5f6#3:url:http://a/:b"
        );
    }

    /// One hard-coded id per type: a change here means every published
    /// feed changes ids, which must never happen by accident.
    #[test]
    fn indicator_ids_are_stable() {
        let got: Vec<String> = IndicatorType::ALL
            .iter()
            .map(|&t| indicator_id(&COL, t, "v", 0))
            .collect();
        let want = EXPECTED_IDS;
        assert_eq!(got, want);
        assert_ne!(
            indicator_id(&COL, IndicatorType::Ipv4, "v", 1),
            indicator_id(&COL, IndicatorType::Ipv4, "v", 0)
        );
        let other = Uuid::from_u128(1);
        assert_ne!(
            indicator_id(&other, IndicatorType::Ipv4, "v", 0),
            indicator_id(&COL, IndicatorType::Ipv4, "v", 0)
        );
        // Independently computed: Python uuid.uuid5(NAMESPACE, name) with
        // the version digit replaced by 4.
        assert_eq!(
            indicator_id(&COL, IndicatorType::Domain, "example.com", 2),
            EXPECTED_DOMAIN_EPOCH2
        );
    }

    #[test]
    fn uri_and_email_checks_agree_with_the_validator() {
        // Expected values from rfc3986_validator (rule URI), which the
        // OASIS validator uses; IP literals are refused on purpose.
        for (u, want) in [
            ("http://example.com/a'b?c=d#e", true),
            ("http://user:pw@example.com:8080/a%20c?q=1#f", true),
            ("http://x/*", true),
            ("mailto:a@b.c", true),
            ("1.2.3.4:89/wget", false),
            ("http://x/%zz", false),
            ("http://x/a b", false),
            ("http://a:b:c/", false),
            ("http://x/?a#b#c", false),
            ("http://x/\u{fc}", false),
            ("http://[::1]/", false),
            ("example.com/path", false),
        ] {
            assert_eq!(is_uri(u), want, "{u}");
        }
        assert!(is_simple_email("first.last+tag@mail.example.com"));
        assert!(!is_simple_email("o'brien@example.com"));
        assert!(!is_simple_email("a@localhost"));
        assert!(!is_simple_email("@example.com"));
        assert_eq!(sco(&ind(IndicatorType::Url, "1.2.3.4:89/wget")), None);
    }

    /// XSOAR's own test data: its TAXII2 server's objects for 8.8.8.8 and
    /// 1.1.1.1 with the license id `test` (demisto/content
    /// `Packs/TAXIIServer/Integrations/TAXII2Server/test_data/
    /// objects20-indicators.json`, built from `ip_iocs.json`).
    #[test]
    fn xsoar_ids_match_xsoars_test_data() {
        let ns = xsoar_namespace("test");
        assert_eq!(
            xsoar_indicator_id(&ns, "8.8.8.8"),
            "indicator--5858b9e9-063f-573b-bb34-42cab292eaeb"
        );
        assert_eq!(
            xsoar_indicator_id(&ns, "1.1.1.1"),
            "indicator--40037b66-eb32-562f-8ed0-60f8db598e40"
        );
        // The same intermediate namespace as XSOAR's identity object.
        assert_eq!(
            Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://www.paloaltonetworks.com").to_string(),
            "749249c0-f7c7-5428-a4ad-ea5e1627a221"
        );
        assert_ne!(
            xsoar_indicator_id(&xsoar_namespace("other"), "8.8.8.8"),
            xsoar_indicator_id(&ns, "8.8.8.8")
        );
        assert_eq!(
            indicator_stixid(" indicator--5858B9E9-063F-573B-BB34-42CAB292EAEB"),
            Some("indicator--5858b9e9-063f-573b-bb34-42cab292eaeb".into())
        );
        for bad in [
            "ipv4-addr--5858b9e9-063f-573b-bb34-42cab292eaeb",
            "indicator--5858b9e9063f573bbb3442cab292eaeb",
            "indicator--x",
            "",
        ] {
            assert_eq!(indicator_stixid(bad), None, "{bad}");
        }
    }

    const EXPECTED_IDS: [&str; 16] = [
        "indicator--371659b3-3d4d-43ca-a1b5-7d9e83058b2a",
        "indicator--9fcaf816-0474-4e60-9d45-5a1858333f6c",
        "indicator--c0a2af33-1a5c-4907-8ab4-d4ce1896ea46",
        "indicator--3adec5dd-dd7d-4f4e-a515-921d66ad7308",
        "indicator--6dca16fb-3df3-48b5-8859-c883d755b6f9",
        "indicator--bf37beb0-c875-4343-b195-73fac3085cf3",
        "indicator--9a27e458-945c-42fe-b8ce-e6a48963b6b8",
        "indicator--87064c6b-8599-4644-afb9-cfaa8f3fe066",
        "indicator--ad4bf34f-a7e5-487c-8c96-5227acb6a463",
        "indicator--6d932b72-ccfe-4b12-88d0-8ea8587b31dd",
        "indicator--f288f4af-8f97-4fb0-9b2a-0edb3fe067ea",
        "indicator--3101dac1-c8d4-44be-8e59-89ceb0ed4f02",
        "indicator--7cf2e66f-0c58-4585-bcc7-674d1460dc83",
        "indicator--610fae48-f827-425a-9617-0f70b2115ce0",
        "indicator--1d13df19-16c9-4ff0-b0e4-889b6b10a5dd",
        "indicator--1068ff6e-04bc-425a-906f-6090871c2208",
    ];
    const EXPECTED_DOMAIN_EPOCH2: &str = "indicator--29eaf26a-d19c-49f0-a859-3bed193a339b";

    /// Expected SCO ids computed with the OASIS `stix2` Python library
    /// (3.0.2), e.g. `stix2.v21.IPv4Address(value="198.51.100.3").id`; the
    /// ipv4 one is also the example in STIX 2.1 §2.9.
    #[test]
    fn sco_ids_match_the_stix2_library() {
        let e3 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let mut both = ind(IndicatorType::File, e3);
        both.hashes = FileHashes {
            md5: Some(md5.into()),
            sha256: Some(e3.into()),
            ..FileHashes::default()
        }
        .into();
        let mut reg = ind(IndicatorType::RegistryKey, "HKCU\\X");
        reg.registry_value_name = Some("Run".into());
        let cases: Vec<(Indicator, &str)> = vec![
            (
                ind(IndicatorType::Ipv4, "198.51.100.3"),
                "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4",
            ),
            (
                ind(IndicatorType::Cidr, "198.51.100.0/24"),
                "ipv4-addr--1ea47840-aa39-5aa8-b4a2-cd203eb6662a",
            ),
            (
                ind(IndicatorType::Ipv6, "2001:db8::1"),
                "ipv6-addr--6469e3a9-b053-5e34-a025-9396ae051d26",
            ),
            (
                ind(IndicatorType::Domain, "example.com"),
                "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7",
            ),
            (
                ind(IndicatorType::Url, "http://example.com/a'b?c=d#e"),
                "url--50add2ee-04a6-57c8-b3ed-ce44a3b6291a",
            ),
            (
                ind(IndicatorType::Email, "a@example.com"),
                "email-addr--8f5f7fba-cc24-5e3f-aca4-f7194112e042",
            ),
            (
                ind(IndicatorType::EmailSubject, "Invoice \u{fc}"),
                "email-message--36be2ef8-6e87-55d8-92e7-a8917a426168",
            ),
            (
                ind(IndicatorType::Sha256, e3),
                "file--22f8ff52-8f62-5f03-a53a-6f50f54fd74c",
            ),
            (both, "file--02fff920-f614-527c-81d1-6353633a6d21"),
            (
                ind(IndicatorType::Asn, "64500"),
                "autonomous-system--0a5f7072-df00-5729-9f0a-4eb18631a446",
            ),
            (
                ind(IndicatorType::Mutex, "Global\\m"),
                "mutex--59790132-c297-56b1-8b9d-3cf96ee21b8a",
            ),
            (
                ind(IndicatorType::RegistryKey, "HKEY_LOCAL_MACHINE\\Run"),
                "windows-registry-key--00a241bf-1464-5139-a4ed-e8a63210d971",
            ),
            (
                reg.clone(),
                "windows-registry-key--c5306127-fd66-5a5d-a097-af1818eeaf28",
            ),
        ];
        for (i, want) in cases {
            assert_eq!(
                sco(&i).map(|s| s.id),
                Some(want.to_string()),
                "{:?}",
                i.value
            );
        }
        assert_eq!(
            sco(&reg).unwrap().json,
            r#"{"type":"windows-registry-key","spec_version":"2.1","id":"windows-registry-key--c5306127-fd66-5a5d-a097-af1818eeaf28","key":"HKCU\\X","values":[{"name":"Run"}]}"#
        );
        assert_eq!(sco(&ind(IndicatorType::UserAgent, "x")), None);
        assert_eq!(sco(&ind(IndicatorType::Asn, "AS1")), None);
    }
}
