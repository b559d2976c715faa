//! Why a call failed, and the one place that turns it into a WAMP ERROR.
//!
//! Adapters classify database errors into [`CallError`]; [`CallError::to_wamp`] applies the
//! conventions: a message of the form `"<uri>: <text>"` raised by user code becomes an ERROR with
//! that URI and `[text]`; other user-raised errors become `wamp.error.runtime_error` with the
//! message and SQLSTATE; internal errors reach the caller only as a generic message with an
//! incident number, their detail goes to the log.

use thiserror::Error;
use wamp::{Dict, List, Value};

/// Why a call did not produce a result.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CallError {
    /// The arguments do not fit the procedure (named parameter in the message).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An error raised by the procedure's code (or a constraint it hit): its text goes to the caller.
    #[error("raised {sqlstate}: {message}")]
    Raised { sqlstate: String, message: String, detail: Option<String>, hint: Option<String> },
    /// The database refused for lack of privilege.
    #[error("not authorized: {0}")]
    NotAuthorized(String),
    /// The call was canceled (WAMP cancel or call timeout) and the statement stopped.
    #[error("canceled")]
    Canceled,
    /// No worker can take the call now.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything the caller should not see the detail of: syntax, connection, bugs.
    #[error("internal: {0}")]
    Internal(String),
}

/// The parts of a WAMP ERROR.
#[derive(Debug, Clone, PartialEq)]
pub struct WampError {
    pub uri: String,
    pub args: List,
    pub kwargs: Dict,
}

pub const INVALID_ARGUMENT: &str = "wamp.error.invalid_argument";
pub const RUNTIME_ERROR: &str = "wamp.error.runtime_error";
pub const CANCELED: &str = "wamp.error.canceled";
pub const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
pub const UNAVAILABLE: &str = "wamp.error.unavailable";

impl CallError {
    /// The ERROR a caller receives. `incident` tags internal errors so the log entry can be found.
    pub fn to_wamp(&self, incident: u64) -> WampError {
        let simple = |uri: &str, msg: String| WampError { uri: uri.into(), args: vec![msg.into()], kwargs: Dict::new() };
        match self {
            CallError::InvalidArgument(m) => simple(INVALID_ARGUMENT, m.clone()),
            CallError::Raised { sqlstate, message, detail, hint } => {
                if let Some((uri, text)) = split_uri_message(message) {
                    return WampError { uri: uri.into(), args: vec![text.into()], kwargs: Dict::new() };
                }
                let mut kwargs = Dict::new();
                kwargs.insert("sqlstate".into(), sqlstate.clone().into());
                if let Some(d) = detail {
                    kwargs.insert("detail".into(), d.clone().into());
                }
                if let Some(h) = hint {
                    kwargs.insert("hint".into(), h.clone().into());
                }
                WampError { uri: RUNTIME_ERROR.into(), args: vec![message.clone().into()], kwargs }
            }
            CallError::NotAuthorized(_) => simple(NOT_AUTHORIZED, "the database refused this call for lack of privilege".into()),
            CallError::Canceled => simple(CANCELED, "the call was canceled and its statement stopped".into()),
            CallError::Unavailable(m) => simple(UNAVAILABLE, m.clone()),
            CallError::Internal(_) => {
                let mut w = simple(RUNTIME_ERROR, format!("internal database error (incident {incident}, details in the gateway log)"));
                w.kwargs.insert("incident".into(), Value::from(incident));
                w
            }
        }
    }

    /// Whether the detail must stay out of the caller's sight (and so be logged).
    pub fn is_internal(&self) -> bool {
        matches!(self, CallError::Internal(_) | CallError::NotAuthorized(_))
    }
}

/// Splits `"com.example.error.not_found: employee 7 not found"` into its URI and text. The URI
/// needs at least two components of lower-case letters, digits and underscores (a strict WAMP
/// URI), so ordinary messages that merely contain a colon are left alone.
pub fn split_uri_message(message: &str) -> Option<(&str, &str)> {
    let (uri, text) = message.split_once(": ")?;
    let components: Vec<&str> = uri.split('.').collect();
    let strict = components.len() >= 2
        && components.iter().all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
    strict.then_some((uri, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_prefixed_messages_split() {
        assert_eq!(
            split_uri_message("com.example.hr.error.not_found: employee 7 not found"),
            Some(("com.example.hr.error.not_found", "employee 7 not found"))
        );
        assert_eq!(split_uri_message("a.b: "), Some(("a.b", "")));
        assert_eq!(split_uri_message("error: something"), None);
        assert_eq!(split_uri_message("Com.Example: x"), None);
        assert_eq!(split_uri_message("invalid input syntax for type integer: \"x\""), None);
        assert_eq!(split_uri_message("a..b: x"), None);
        assert_eq!(split_uri_message("com.example.x"), None);
    }

    #[test]
    fn raised_errors_map_to_their_uri_or_runtime_error() {
        let raised = |m: &str| CallError::Raised { sqlstate: "P0001".into(), message: m.into(), detail: None, hint: None };
        let w = raised("com.example.hr.error.not_found: employee 7 not found").to_wamp(1);
        assert_eq!((w.uri.as_str(), w.args), ("com.example.hr.error.not_found", vec![Value::from("employee 7 not found")]));
        assert!(w.kwargs.is_empty());
        let w = CallError::Raised { sqlstate: "23505".into(), message: "duplicate key".into(), detail: Some("Key (id)=(1)".into()), hint: None }.to_wamp(1);
        assert_eq!(w.uri, RUNTIME_ERROR);
        assert_eq!(w.args, vec![Value::from("duplicate key")]);
        assert_eq!(w.kwargs["sqlstate"], Value::from("23505"));
        assert_eq!(w.kwargs["detail"], Value::from("Key (id)=(1)"));
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let e = CallError::Internal("syntax error at or near \"selec\" in secret_table".into());
        let w = e.to_wamp(42);
        assert_eq!(w.uri, RUNTIME_ERROR);
        let text = w.args[0].as_str().unwrap();
        assert!(!text.contains("secret_table") && text.contains("incident 42"));
        assert_eq!(w.kwargs["incident"], Value::from(42));
        assert!(e.is_internal());
        assert_eq!(CallError::Canceled.to_wamp(0).uri, CANCELED);
        assert_eq!(CallError::NotAuthorized("permission denied for table x".into()).to_wamp(0).uri, NOT_AUTHORIZED);
        assert_eq!(CallError::InvalidArgument("argument 'a'".into()).to_wamp(0).uri, INVALID_ARGUMENT);
    }
}
