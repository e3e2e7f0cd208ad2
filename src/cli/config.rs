//! `switchboard config check`: the effective configuration as TOML.

use crate::config::Config;

/// Prints the configuration (defaults < file < environment) with secrets
/// redacted; a bad key has already stopped `Config::load`.
pub fn check(config: &Config) {
    print!("{}", config.redacted_toml());
}
