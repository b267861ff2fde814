//! taxii-edge: a TAXII 2.1/2.0 threat-intelligence feed compiler and edge
//! server. See ARCHITECTURE.md for the map of modules.
//!
//! Data flow: [`input`] → [`record`] → [`filter`] (collections) →
//! [`stix`] + [`mapping`] → [`feed`] (one file per generation) →
//! [`server`]. [`compile`] drives the first half, [`config`] feeds both;
//! [`export`] renders a feed as static files through the server.

pub mod cli;
pub mod compile;
pub mod config;
pub mod exit;
pub mod export;
pub mod feed;
pub(crate) mod files;
pub mod filter;
pub mod input;
pub mod mapping;
pub mod record;
pub mod server;
pub mod stix;
pub mod synth;
pub mod time;
pub mod upstream;
