//! The nginx configuration for a static export (`export-static
//! --nginx-conf`).
//!
//! nginx answers what files can answer: GET/HEAD of TAXII 2.1 resources
//! with no query string or only `?next=T` (mapped onto `next/T.json`),
//! with `gzip_static` for the `.gz` siblings. Everything else (filters such
//! as `added_after` or `match[...]`, `limit`, TAXII 2.0 by `Accept`, other
//! methods, a token no file matches) goes to a `taxii-edge serve` origin,
//! which answers from the same feed.
//!
//! Credentials, [`NginxAuth::Origin`] (the default): nginx asks the origin
//! (`auth_request` to `/taxii-edge/auth`, see `server::auth_request`)
//! before it answers a collection that is not anonymous, and before it
//! passes any request to the origin. The origin checks the `Authorization`
//! header with its verified-credential cache (microseconds once a
//! credential has been verified) and the same users, states, throttle and
//! readers as every request, so nginx needs no password file and a change
//! takes effect at the origin's next reload. A subrequest costs far less
//! than nginx checking a crypt(3) hash itself (1–2 ms of CPU per request for
//! `openssl passwd -6`). Denials: a 401 (or a 429 from the failed-login
//! throttle) is answered by nginx with the origin's status, headers and
//! body; an authenticated caller who may not read the collection is
//! passed to the origin, which gives its exact answer (403, or 404 when the
//! collection is hidden).
//!
//! [`NginxAuth::Htpasswd`]: Basic auth from one htpasswd file per
//! collection, holding the readers' `htpasswd` hashes (nginx cannot check
//! the argon2 hashes `serve` uses). nginx then serves private pages even
//! while the origin is down, but pays the crypt(3) hash on every request,
//! and requests outside the private collections reach the origin with no
//! check at nginx (nginx Basic auth cannot make credentials optional).

use crate::config::{CollectionConfig, Config};
use crate::feed::{CollectionMeta, FeedMeta};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// How nginx checks credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum NginxAuth {
    /// Ask the `serve` origin (`auth_request`), which uses its
    /// verified-credential cache.
    #[default]
    Origin,
    /// htpasswd files from the users' `htpasswd` crypt(3) hashes.
    Htpasswd,
}

/// Where nginx listens and what it fronts.
pub struct NginxOptions {
    /// `listen` directive value, e.g. `127.0.0.1:8081` or `443 ssl`.
    pub listen: String,
    /// The export root (its `current` symlink is nginx's root).
    pub export_root: PathBuf,
    /// The origin, e.g. `127.0.0.1:8080`.
    pub origin: String,
    /// How credentials are checked.
    pub auth: NginxAuth,
    /// Directory for the htpasswd files ([`NginxAuth::Htpasswd`] only).
    pub htpasswd_dir: PathBuf,
}

/// The access rules `serve` applies to feed collection `cm`: its
/// `[[collections]]` entry, else `[owner_collections]` when it is an owner
/// collection; `None` when the config does not know it (nobody may read it).
fn collection_config(cfg: &Config, cm: &CollectionMeta) -> Option<CollectionConfig> {
    cfg.collections
        .iter()
        .find(|c| {
            c.id.as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(&cm.id))
        })
        .cloned()
        .or_else(|| crate::config::owners::served_config(cfg, cm))
}

/// Returns the configuration text and warnings; with
/// [`NginxAuth::Htpasswd`], also writes one htpasswd file per collection
/// that needs credentials (readers without an `htpasswd` hash, or disabled
/// or locked, are left out and named in the warnings).
pub fn write(
    cfg: &Config,
    meta: &FeedMeta,
    opts: &NginxOptions,
) -> std::io::Result<(String, Vec<String>)> {
    let mut warnings = Vec::new();
    match opts.auth {
        NginxAuth::Htpasswd => fs::create_dir_all(&opts.htpasswd_dir)?,
        NginxAuth::Origin if cfg.server.trusted_proxies.is_empty() => warnings.push(
            "server.trusted_proxies is empty: the origin will not answer nginx's auth subrequests (list nginx's address, e.g. \"127.0.0.1\")".into(),
        ),
        NginxAuth::Origin => {}
    }
    let base = crate::server::normalize_base(&cfg.server.base_path);
    let max_age = cfg.server.cache_max_age_secs;
    // Where a location sends what its files cannot answer: with the origin
    // checking credentials, a location that has not checked them yet sends
    // it to the location that does.
    let (public_fallback, private_fallback) = match opts.auth {
        NginxAuth::Origin => ("@taxii_edge_origin", "@taxii_edge_checked"),
        NginxAuth::Htpasswd => ("@taxii_edge_checked", "@taxii_edge_checked"),
    };
    let mut private = String::new();
    for cm in &meta.collections {
        let cc = collection_config(cfg, cm);
        if cc.as_ref().is_some_and(|c| c.anonymous) {
            continue;
        }
        let check = match opts.auth {
            NginxAuth::Origin => "        auth_request /_taxii_edge_auth;\n".to_string(),
            NginxAuth::Htpasswd => {
                let file = opts.htpasswd_dir.join(format!("{}.htpasswd", cm.id));
                fs::write(&file, htpasswd_lines(cfg, cc.as_ref(), cm, &mut warnings))?;
                format!(
                    "        auth_basic \"{title}\";\n        auth_basic_user_file {file};\n",
                    title = cm.title.replace(['"', '\\', '\n'], " "),
                    file = file.display(),
                )
            }
        };
        // By id, where the files are, and by alias (docs/decisions.md#d18), which
        // files never answer but which must be checked all the same.
        for name in std::iter::once(&cm.id).chain(cm.alias.as_ref()) {
            let _ = write!(
                private,
                "    location {base}{root}/collections/{name}/ {{\n{check}{body}    }}\n",
                root = cm.api_root,
                body = static_body("private", private_fallback),
            );
        }
    }
    let origin_locations = match opts.auth {
        NginxAuth::Origin => {
            r#"    # Asks the origin whether the request's credentials may have what it
    # names (204: yes; 401: nginx answers with the origin's refusal, below;
    # 403: authenticated but not a reader, the origin answers).
    location = /_taxii_edge_auth {
        internal;
        proxy_pass http://taxii_edge_origin/taxii-edge/auth;
        proxy_method GET;
        proxy_pass_request_body off;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Content-Length "";
        proxy_set_header Accept-Encoding "";
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header X-Real-IP $remote_addr;
    }

    # The origin's 401 or 429, its headers and its TAXII error body.
    location = /_taxii_edge_denied {
        internal;
        default_type "";
        add_header Content-Type $taxii_edge_denied_type always;
        add_header Cache-Control "no-store" always;
        add_header Vary "Accept, Accept-Encoding, Authorization" always;
        add_header Retry-After $taxii_edge_denied_retry always;
        if ($taxii_edge_denied_status = 429) { return 429 $taxii_edge_denied_body; }
        return 401 $taxii_edge_denied_body;
    }

    location @taxii_edge_origin {
        auth_request /_taxii_edge_auth;
        proxy_pass http://taxii_edge_origin;
    }

    # Only reached once this request's credentials were checked here.
    location @taxii_edge_checked {
        proxy_pass http://taxii_edge_origin;
    }
"#
        }
        NginxAuth::Htpasswd => {
            r#"    # Private collections checked their htpasswd file before reaching
    # this; anything else is checked by the origin alone.
    location @taxii_edge_checked {
        proxy_pass http://taxii_edge_origin;
    }
"#
        }
    };
    let server_auth = match opts.auth {
        NginxAuth::Origin => {
            r#"    # Credentials are checked by the origin (auth_request); its refusals
    # are answered from these.
    auth_request_set $taxii_edge_denied_status $upstream_http_x_taxii_edge_status;
    auth_request_set $taxii_edge_denied_body $upstream_http_x_taxii_edge_error;
    auth_request_set $taxii_edge_denied_type $upstream_http_content_type;
    auth_request_set $taxii_edge_denied_retry $upstream_http_retry_after;
    error_page 401 = /_taxii_edge_denied;
    error_page 403 = @taxii_edge_checked;
    recursive_error_pages on;
"#
        }
        NginxAuth::Htpasswd => "",
    };
    let conf = format!(
        r#"# Generated by `taxii-edge export-static --nginx-conf` for feed generation {gen}.
# Include it inside nginx's http {{}} block. Static files answer unfiltered
# TAXII 2.1 GETs (and `?next=` pages); everything else goes to the origin.

# No query, `next=T`, and the default page size (which pollers such as
# taxii2-client repeat after the first page) select the files.
map $args $taxii_edge_static_args {{
    ""                                          1;
    "limit={page}"                              1;
    "~^next=[A-Za-z0-9_-]+$"                    1;
    "~^limit={page}&next=[A-Za-z0-9_-]+$"       1;
    "~^next=[A-Za-z0-9_-]+&limit={page}$"       1;
    default                                     0;
}}
map $http_accept $taxii_edge_v20 {{
    "~*version=2\.0"            1;
    default                     0;
}}
# The file that answers: `next/T.json` for `?next=T`, else `index.json`.
map $arg_next $taxii_edge_file {{
    ""                          "index.json";
    default                     "next/$arg_next.json";
}}
map "$request_method:$taxii_edge_static_args:$taxii_edge_v20" $taxii_edge_static {{
    "GET:1:0"                   1;
    "HEAD:1:0"                  1;
    default                     0;
}}
# What try_files looks for: that file, or (for a request files do not
# answer) a name no export holds, so the request goes to the origin. A map
# rather than `if`: nginx checks access before try_files, never before a
# `return` inside `if`.
map $taxii_edge_static $taxii_edge_try {{
    1                           "$uri$taxii_edge_file";
    default                     "/.taxii-edge-origin";
}}

upstream taxii_edge_origin {{
    server {origin};
    keepalive 32;
}}

server {{
    listen {listen};
    root {root};
    charset off;
    types {{ }}
    default_type "application/taxii+json;version=2.1";
    gzip_static on;
    etag on;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
{server_auth}
{private}    location {base} {{
{public}    }}

{origin_locations}}}
"#,
        gen = meta.generation,
        page = meta.page_size,
        origin = opts.origin,
        listen = opts.listen,
        root = opts.export_root.join("current").display(),
        public = static_body(&format!("public, max-age={max_age}"), public_fallback),
    );
    Ok((conf, warnings))
}

/// The htpasswd file of one collection: its active readers' hashes.
fn htpasswd_lines(
    cfg: &Config,
    cc: Option<&CollectionConfig>,
    cm: &CollectionMeta,
    warnings: &mut Vec<String>,
) -> String {
    let mut lines = String::new();
    let readers = cc.map(|c| c.readers.as_slice()).unwrap_or_default();
    let everyone = readers.iter().any(|r| r == "*");
    for u in &cfg.users {
        if !everyone && !readers.contains(&u.name) {
            continue;
        }
        let usable = matches!(u.state.as_deref(), None | Some("active"));
        match (&u.htpasswd, usable) {
            (Some(h), true) => {
                let _ = writeln!(lines, "{}:{}", u.name, h);
            }
            (None, true) => warnings.push(format!(
                "user {} reads collection {} but has no htpasswd hash: nginx will refuse them (add `htpasswd = \"$(openssl passwd -6)\"`)",
                u.name, cm.id
            )),
            _ => {}
        }
    }
    lines
}

/// The body of a location that serves files when it can: the file for the
/// URI (`index.json`, or `next/<token>.json` for `?next=`), else `fallback`.
fn static_body(cache_control: &str, fallback: &str) -> String {
    format!(
        r#"        add_header Cache-Control "{cache_control}";
        add_header Vary "Accept, Accept-Encoding, Authorization";
        try_files $taxii_edge_try {fallback};
"#
    )
}

/// Writes the configuration to `path` (creating its directory).
pub fn write_conf(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        if !d.as_os_str().is_empty() {
            fs::create_dir_all(d)?;
        }
    }
    fs::write(path, text)
}
