//! `/metrics`: a handful of atomics and a hand-written Prometheus text
//! exposition (no metrics crate: the set is fixed and small).

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Endpoint labels, in exposition order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointLabel {
    Discovery,
    ApiRoot,
    Collections,
    Collection,
    Objects,
    Object,
    Versions,
    Manifest,
    Status,
    Health,
    Metrics,
    Other,
    /// nginx's authentication subrequests (`/taxii-edge/auth`).
    AuthRequest,
}

const ENDPOINTS: [&str; 13] = [
    "discovery",
    "api_root",
    "collections",
    "collection",
    "objects",
    "object",
    "versions",
    "manifest",
    "status",
    "healthz",
    "metrics",
    "other",
    "auth_request",
];
const STATUSES: [u16; 13] = [
    200, 204, 206, 304, 400, 401, 403, 404, 405, 406, 413, 416, 500,
];
/// Latency bucket bounds, µs.
const BUCKETS_US: [u64; 12] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];

/// Process-wide counters of one server.
pub struct Metrics {
    /// [endpoint][status index; last = other status].
    requests: Vec<AtomicU64>,
    latency: [AtomicU64; BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
    bytes_out: AtomicU64,
    /// Compressed answers: [gzip stored, gzip on the fly, zstd stored,
    /// zstd on the fly].
    encoded: [AtomicU64; 4],
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    generation_created_us: AtomicI64,
    generation: Mutex<String>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: (0..ENDPOINTS.len() * (STATUSES.len() + 1))
                .map(|_| AtomicU64::new(0))
                .collect(),
            latency: Default::default(),
            latency_sum_us: AtomicU64::new(0),
            latency_count: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            encoded: Default::default(),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            generation_created_us: AtomicI64::new(0),
            generation: Mutex::new(String::new()),
        }
    }
}

impl Metrics {
    /// Counts one finished request.
    pub fn record(&self, ep: EndpointLabel, status: u16, bytes: u64, us: u64) {
        let s = STATUSES
            .iter()
            .position(|&c| c == status)
            .unwrap_or(STATUSES.len());
        self.requests[ep as usize * (STATUSES.len() + 1) + s].fetch_add(1, Relaxed);
        let b = BUCKETS_US
            .iter()
            .position(|&le| us <= le)
            .unwrap_or(BUCKETS_US.len());
        self.latency[b].fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(us, Relaxed);
        self.latency_count.fetch_add(1, Relaxed);
        self.bytes_out.fetch_add(bytes, Relaxed);
    }

    /// Counts one answer sent with a content coding: a stored copy, or
    /// compressed on the fly.
    pub fn encoded(&self, coding: crate::feed::Coding, on_the_fly: bool) {
        let c = match coding {
            crate::feed::Coding::Gzip => 0,
            crate::feed::Coding::Zstd => 2,
        };
        self.encoded[c + usize::from(on_the_fly)].fetch_add(1, Relaxed);
    }

    /// Records a reload outcome.
    pub fn reload(&self, ok: bool) {
        if ok {
            self.reloads_ok.fetch_add(1, Relaxed);
        } else {
            self.reloads_failed.fetch_add(1, Relaxed);
        }
    }

    /// The generation now served.
    pub fn set_generation(&self, id: &str, created_us: i64) {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner()) = id.to_string();
        self.generation_created_us.store(created_us, Relaxed);
    }

    /// Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(4096);
        o.push_str("# HELP taxii_edge_requests_total Requests answered, by endpoint and status.\n# TYPE taxii_edge_requests_total counter\n");
        for (e, ep) in ENDPOINTS.iter().enumerate() {
            for s in 0..=STATUSES.len() {
                let n = self.requests[e * (STATUSES.len() + 1) + s].load(Relaxed);
                if n > 0 {
                    let code = STATUSES
                        .get(s)
                        .map_or("other".to_string(), |c| c.to_string());
                    let _ = writeln!(
                        o,
                        "taxii_edge_requests_total{{endpoint=\"{ep}\",status=\"{code}\"}} {n}"
                    );
                }
            }
        }
        o.push_str("# HELP taxii_edge_request_duration_seconds Time to build a response.\n# TYPE taxii_edge_request_duration_seconds histogram\n");
        let mut cum = 0;
        for (i, le) in BUCKETS_US.iter().enumerate() {
            cum += self.latency[i].load(Relaxed);
            let _ = writeln!(
                o,
                "taxii_edge_request_duration_seconds_bucket{{le=\"{}\"}} {cum}",
                *le as f64 / 1e6
            );
        }
        cum += self.latency[BUCKETS_US.len()].load(Relaxed);
        let _ = writeln!(
            o,
            "taxii_edge_request_duration_seconds_bucket{{le=\"+Inf\"}} {cum}"
        );
        let _ = writeln!(
            o,
            "taxii_edge_request_duration_seconds_sum {}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            o,
            "taxii_edge_request_duration_seconds_count {}",
            self.latency_count.load(Relaxed)
        );
        o.push_str("# HELP taxii_edge_encoded_responses_total Answers sent gzip or zstd, by coding and source (a stored copy, or compressed on the fly).\n# TYPE taxii_edge_encoded_responses_total counter\n");
        for (i, (coding, source)) in [
            ("gzip", "stored"),
            ("gzip", "on_the_fly"),
            ("zstd", "stored"),
            ("zstd", "on_the_fly"),
        ]
        .iter()
        .enumerate()
        {
            let _ = writeln!(
                o,
                "taxii_edge_encoded_responses_total{{coding=\"{coding}\",source=\"{source}\"}} {}",
                self.encoded[i].load(Relaxed)
            );
        }
        let gen = self
            .generation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let _ = write!(
            o,
            "# HELP taxii_edge_response_bytes_total Response body bytes sent.\n# TYPE taxii_edge_response_bytes_total counter\ntaxii_edge_response_bytes_total {}\n\
             # HELP taxii_edge_reloads_total Feed reloads, by outcome.\n# TYPE taxii_edge_reloads_total counter\n\
             taxii_edge_reloads_total{{result=\"ok\"}} {}\ntaxii_edge_reloads_total{{result=\"failed\"}} {}\n\
             # HELP taxii_edge_feed_generation_info The feed generation being served.\n# TYPE taxii_edge_feed_generation_info gauge\n\
             taxii_edge_feed_generation_info{{generation=\"{gen}\"}} 1\n\
             # HELP taxii_edge_feed_created_seconds Creation time of the served generation.\n# TYPE taxii_edge_feed_created_seconds gauge\n\
             taxii_edge_feed_created_seconds {}\n",
            self.bytes_out.load(Relaxed),
            self.reloads_ok.load(Relaxed),
            self.reloads_failed.load(Relaxed),
            self.generation_created_us.load(Relaxed) as f64 / 1e6,
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts() {
        let m = Metrics::default();
        m.record(EndpointLabel::Objects, 200, 10, 300);
        m.record(EndpointLabel::Objects, 200, 5, 2_000_000);
        m.record(EndpointLabel::Discovery, 418, 1, 50);
        m.record(EndpointLabel::AuthRequest, 204, 0, 20);
        m.reload(true);
        m.encoded(crate::feed::Coding::Zstd, true);
        m.encoded(crate::feed::Coding::Gzip, false);
        m.set_generation("abc", 2_500_000);
        let t = m.render();
        assert!(
            t.contains("taxii_edge_requests_total{endpoint=\"objects\",status=\"200\"} 2\n"),
            "{t}"
        );
        assert!(
            t.contains("taxii_edge_requests_total{endpoint=\"discovery\",status=\"other\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("taxii_edge_requests_total{endpoint=\"auth_request\",status=\"204\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("taxii_edge_request_duration_seconds_bucket{le=\"0.0001\"} 2\n"),
            "{t}"
        );
        assert!(
            t.contains("taxii_edge_request_duration_seconds_bucket{le=\"0.0005\"} 3\n"),
            "{t}"
        );
        assert!(
            t.contains("taxii_edge_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"),
            "{t}"
        );
        assert!(t.contains("taxii_edge_response_bytes_total 16\n"), "{t}");
        assert!(
            t.contains("taxii_edge_reloads_total{result=\"ok\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("taxii_edge_feed_generation_info{generation=\"abc\"} 1\n"),
            "{t}"
        );
        assert!(t.contains("taxii_edge_feed_created_seconds 2.5\n"), "{t}");
        for (labels, n) in [
            ("coding=\"zstd\",source=\"on_the_fly\"", 1),
            ("coding=\"gzip\",source=\"stored\"", 1),
            ("coding=\"gzip\",source=\"on_the_fly\"", 0),
        ] {
            assert!(
                t.contains(&format!(
                    "taxii_edge_encoded_responses_total{{{labels}}} {n}\n"
                )),
                "{t}"
            );
        }
    }
}
