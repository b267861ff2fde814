//! Process exit codes (README, "Exit codes"). Each error type says which
//! one it means through [`ExitStatus`], so the CLI never decides a code
//! itself.

/// Success.
pub const OK: i32 = 0;
/// A configuration, input or usage error: nothing was published.
pub const ERROR: i32 = 1;
/// A guard refused to publish (reject threshold, `--strict`, shrink
/// guard): the previous feed stays live.
pub const REFUSED: i32 = 2;
/// The feed file could not be written or verified: the previous feed
/// stays live.
pub const NOT_WRITTEN: i32 = 3;

/// The exit code an error means.
pub trait ExitStatus {
    fn exit_code(&self) -> i32;
}

/// Errors that are always [`ERROR`].
macro_rules! plain_errors {
    ($($t:ty),*) => {$(
        impl ExitStatus for $t {
            fn exit_code(&self) -> i32 {
                ERROR
            }
        }
    )*};
}

plain_errors!(
    crate::config::ConfigError,
    crate::feed::FeedError,
    crate::server::ServeError,
    crate::export::ExportError
);
