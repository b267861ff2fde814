//! What one feed generation plus one config generation look like to the
//! request handlers, and how a reload builds the next one.
//!
//! [`Served`] is immutable and swapped as a whole through an `ArcSwap`: a
//! request loads the current `Arc<Served>` once and uses it to the end, so
//! in-flight requests finish on the mapping they started with, and a reload
//! never shows a request half of one generation and half of another.
//!
//! Access rules come from the config, matched to the feed's collections by
//! id; a feed collection the config does not know is readable by nobody
//! (and logged), so a stale feed can never widen access.

use super::auth::{Caller, Users};
use crate::config::Config;
use crate::feed::{token, CollectionFeed, Feed, FeedError, SpecVersion};
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Access rules of one collection.
#[derive(Debug, Default)]
pub struct ColState {
    /// The config knows this collection (else nobody may read it).
    pub configured: bool,
    /// Readable without credentials.
    pub anonymous: bool,
    /// `"*"` in readers: every authenticated user.
    pub all_users: bool,
    pub readers: HashSet<String>,
    /// The collection is served over TAXII 2.1.
    pub v21: bool,
    /// The collection is served over TAXII 2.0.
    pub v20: bool,
    /// The unfiltered TAXII 2.0 view (built on first need, once per
    /// generation: one pass over the entry table).
    pub view20: OnceLock<super::list20::View20>,
    /// Holds both 2.0 and 2.1 object versions (computed on first need: it
    /// takes a pass over the entry table, and opening must stay O(1)).
    mixed_spec: OnceLock<bool>,
    /// The web console's figures (computed on the first collections page
    /// of a generation: a pass over the objects).
    pub(crate) console: OnceLock<super::console::stats::Stats>,
}

impl ColState {
    /// Whether the collection is served over TAXII version `v`.
    pub fn offers(&self, v: super::negotiate::TaxiiVersion) -> bool {
        match v {
            super::negotiate::TaxiiVersion::V20 => self.v20,
            super::negotiate::TaxiiVersion::V21 => self.v21,
        }
    }

    /// Whether the collection mixes STIX 2.0 and 2.1 versions. When it
    /// does not, `match[spec_version]` keeps all of an object's versions or
    /// none, so the feed's `first`/`last` flags and its precompressed
    /// default pages are exactly what version selection picks; when it
    /// does, selection looks at each object's versions
    /// (docs/decisions.md#d21).
    pub fn mixed_spec(&self, cf: &CollectionFeed) -> bool {
        *self.mixed_spec.get_or_init(|| {
            if let Some(stored) = cf.mixed_spec() {
                return stored;
            }
            let (mut v20, mut v21) = (false, false);
            for i in 0..cf.len() {
                match cf.entry(i).spec_version {
                    SpecVersion::V20 => v20 = true,
                    SpecVersion::V21 => v21 = true,
                }
                if v20 && v21 {
                    return true;
                }
            }
            false
        })
    }
}

/// The outcome of an access check on one collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    /// No credentials were sent, and credentials could help: 401.
    Unauthenticated,
    /// Listed but not readable: 403.
    Forbidden,
    /// Not visible to this caller: 404.
    Hidden,
}

/// What a request without credentials asks for, as far as docs/decisions.md#d22
/// (`docs/decisions.md#d22`) is concerned: see [`Served::challenges_anonymous`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum AnonScope<'a> {
    /// A discovery resource in TAXII version `v`.
    Discovery(super::negotiate::TaxiiVersion),
    /// An api root, its collections list or its status resources, in `v`.
    Root(&'a str, super::negotiate::TaxiiVersion),
    /// A collection (id or alias) or anything under it.
    Collection(&'a str, &'a str),
    /// A path under `base_path` that names no TAXII resource.
    Unknown,
}

/// One generation as served.
pub struct Served {
    pub feed: Arc<Feed>,
    /// xxh3 of the generation id: the generation part of every ETag.
    pub etag_gen: u64,
    /// MAC key of `next` tokens.
    pub key: [u8; 32],
    pub users: Arc<Users>,
    /// Parallel to `feed.collections()`.
    pub cols: Vec<ColState>,
    /// Default page size: the feed's, so uncompressed default pages match
    /// the precompressed ones byte for byte.
    pub page_size: u32,
}

impl Served {
    /// Opens `feed_path` and combines it with `cfg`. Blocking (mmap and
    /// header checks; O(1) in the feed's size).
    pub fn load(feed_path: &Path, cfg: &Config) -> Result<Served, FeedError> {
        let feed = Feed::open(feed_path)?;
        Served::from_feed(Arc::new(feed), feed_path, cfg)
    }

    /// Combines an open feed with `cfg` (O(collections)).
    pub(crate) fn from_feed(
        feed: Arc<Feed>,
        feed_path: &Path,
        cfg: &Config,
    ) -> Result<Served, FeedError> {
        let meta = feed.meta();
        let key = match &cfg.server.token_secret {
            Some(secret) => token::key_from_secret(secret),
            None => token::key_from_hex(&meta.token_key).map_err(|e| FeedError::Invalid {
                path: feed_path.to_path_buf(),
                what: format!("META token_key: {}", e.0),
            })?,
        };
        let page_size = meta.page_size.max(1);
        let mut cols = Vec::with_capacity(meta.collections.len());
        for (cm, cf) in meta.collections.iter().zip(feed.collections()) {
            let owner_conf = crate::config::owners::served_config(cfg, cm);
            let conf = cfg
                .collections
                .iter()
                .find(|c| {
                    c.id.as_deref().map(str::to_ascii_lowercase).as_deref() == Some(cm.id.as_str())
                })
                .or(owner_conf.as_ref());
            if conf.is_none() {
                tracing::warn!(
                    collection = %cm.id,
                    title = %cm.title,
                    "feed collection is not in the config: nobody may read it"
                );
            }
            let _ = cf;
            cols.push(ColState {
                configured: conf.is_some(),
                anonymous: conf.is_some_and(|c| c.anonymous),
                all_users: conf.is_some_and(|c| c.readers.iter().any(|r| r == "*")),
                readers: conf
                    .map(|c| c.readers.iter().filter(|r| *r != "*").cloned().collect())
                    .unwrap_or_default(),
                v21: cm.taxii_versions.iter().any(|v| v == "2.1"),
                v20: cm.taxii_versions.iter().any(|v| v == "2.0"),
                view20: OnceLock::new(),
                mixed_spec: OnceLock::new(),
                console: OnceLock::new(),
            });
        }
        Ok(Served {
            etag_gen: xxhash_rust::xxh3::xxh3_64(meta.generation.as_bytes()),
            key,
            users: Arc::new(Users::from_config(cfg)),
            cols,
            page_size,
            feed,
        })
    }

    /// Finds collection `c` (id or alias, docs/decisions.md#d18) of root
    /// `root`, whichever TAXII versions it offers.
    pub fn find_collection(&self, root: &str, c: &str) -> Option<usize> {
        self.feed
            .meta()
            .collections
            .iter()
            .position(|m| m.api_root == root && (m.id == c || m.alias.as_deref() == Some(c)))
    }

    /// Whether the feed has an api root named `root`.
    pub(crate) fn root_exists(&self, root: &str) -> bool {
        self.feed.meta().api_roots.iter().any(|r| r.name == root)
    }

    /// Whether `caller` may read collection `i`.
    pub fn readable(&self, i: usize, caller: &Caller) -> bool {
        let c = &self.cols[i];
        c.configured
            && (c.anonymous
                || match caller {
                    Caller::Anonymous => false,
                    Caller::User(u) => c.all_users || c.readers.contains(&**u),
                })
    }

    /// docs/decisions.md#d22 (`docs/decisions.md#d22`): whether a request without
    /// credentials (no `Authorization`, no client certificate) for `scope`
    /// gets 401 with the Basic challenge instead of the anonymous view,
    /// before any 404.
    ///
    /// Only where logging in could show more: some user exists and some
    /// configured collection is not anonymous. Then the challenge answers
    /// discovery and unknown paths when no collection (in the asked TAXII
    /// version) is anonymous, an api root or collections list in which no
    /// collection is anonymous, and every collection path except those of
    /// an anonymous collection, so an unknown id and a protected one answer
    /// alike and a caller without credentials learns nothing of what
    /// exists. Anonymous collections are served exactly as before.
    pub(crate) fn challenges_anonymous(&self, scope: AnonScope<'_>) -> bool {
        let login_shows_more =
            self.users.any() && self.cols.iter().any(|c| c.configured && !c.anonymous);
        if !login_shows_more {
            return false;
        }
        let meta = self.feed.meta();
        let open = |i: usize| self.cols[i].configured && self.cols[i].anonymous;
        let open_in = |root: Option<&str>, v: super::negotiate::TaxiiVersion| {
            meta.collections.iter().enumerate().any(|(i, m)| {
                open(i) && self.cols[i].offers(v) && root.is_none_or(|r| m.api_root == r)
            })
        };
        match scope {
            AnonScope::Discovery(v) => !open_in(None, v),
            AnonScope::Root(r, v) => !open_in(Some(r), v),
            AnonScope::Collection(r, c) => !self.find_collection(r, c).is_some_and(open),
            AnonScope::Unknown => !(0..self.cols.len()).any(open),
        }
    }

    /// The access decision for collection `i`.
    pub fn access(&self, i: usize, caller: &Caller, list_unreadable: bool) -> Access {
        if self.readable(i, caller) {
            Access::Read
        } else if *caller == Caller::Anonymous && self.cols[i].configured && self.users.any() {
            Access::Unauthenticated
        } else if list_unreadable && self.cols[i].configured {
            // A collection the config does not know is readable by nobody
            // and listed to nobody.
            Access::Forbidden
        } else {
            Access::Hidden
        }
    }
}
