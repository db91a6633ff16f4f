//! The Worker's environment variables read into the typed [`Config`].

use hub_core::config::Config;
use worker::Env;

/// The configuration from the Worker's vars (see `Config::from_lookup`), and the
/// names of the variables that were invalid and kept their defaults.
pub fn config_from_env(env: &Env) -> (Config, Vec<&'static str>) {
    Config::from_lookup(|k| env.var(k).ok().map(|v| v.to_string()))
}
