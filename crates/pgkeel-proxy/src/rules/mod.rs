//! The rule language: Citus's failure-test forms plus extensions. See docs/proxy-rules.md.

mod action;
mod compile;
mod error;
mod fields;
mod lexer;
mod ruleset;
mod syntax;
mod typeset;

pub use action::{Action, InjectedError};
pub use compile::{Command, Rule, compile, parse_command};
pub use error::RuleError;
pub use ruleset::{ConnRuleState, Fired, MessageView, RuleSet};
