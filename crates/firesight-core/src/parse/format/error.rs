//! Why a format setting was refused.

use super::presets::PRESETS;

/// Why a format setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("unknown log format preset '{0}' (presets: {presets}; or a format string with $variables or %directives)", presets = preset_names())]
    UnknownPreset(String),
    #[error("the log format has no variables ($name for nginx, %x for Apache)")]
    NoVariables,
    #[error("the log format has two variables with nothing between them ({0} and {1}): a line cannot be split there")]
    Adjacent(String, String),
    #[error("log format syntax: {0}")]
    Syntax(String),
}

fn preset_names() -> String {
    PRESETS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}
