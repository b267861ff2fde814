#![no_main]
//! Arbitrary bytes as a feed file: opening, verifying and walking
//! everything an edge server would read must never panic.

use std::path::Path;
use taxii_edge::feed::{self, Coding, Feed, PageKind};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(f) = Feed::from_bytes(data.to_vec().into(), Path::new("fuzz.taxii")) else {
        return;
    };
    let _ = f.verify();
    let _ = feed::inspect(&f).to_string();
    for c in f.collections() {
        let n = c.len();
        for i in 0..n.min(4096) {
            let e = c.entry(i);
            let _ = (
                c.object_bytes(i),
                c.manifest_bytes(i),
                c.object20_bytes(i),
                c.rank(i),
            );
            let _ = c.versions_of(c.id_of(i));
            let _ = c.first_after(e.date_added_us);
            let _ = c.resume_after(&c.position(i));
            let _ = c.page_at(i);
            let _ = (
                c.objects_run(i, n),
                c.manifest_run(0, i + 1),
                c.objects20_run(i, n),
            );
        }
        for p in 0..c.default_page_count().min(1024) + 1 {
            let _ = c.default_page_entries(p);
            let _ = c.page_end_cut(p);
            for k in [PageKind::Objects, PageKind::Manifest] {
                for cd in [Coding::Gzip, Coding::Zstd] {
                    let _ = c.precompressed(k, p, cd);
                }
            }
        }
        let _ = c.state();
    }
});
