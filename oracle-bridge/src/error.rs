//! The adapter's errors, and Oracle errors classified into [`CallError`]s (a pure function of
//! the ORA code and message, [`classify`]).
//!
//! - `RAISE_APPLICATION_ERROR(-20001, 'com.example.hr.error.not_found: employee 7')` → an ERROR
//!   with that URI and text (the core's `"<uri>: <text>"` convention);
//! - any other -20000..-20999 → `wamp.error.runtime_error` with the text and the code
//!   (`sqlstate: "ORA-20002"`);
//! - ORA-01013 (a `break_execution` or call timeout) → canceled; ORA-01031 → not authorized;
//! - everything else → a generic message with an incident number; the detail goes to the log.
//!
//! ORA-04068 (existing state of packages discarded, after a recompile) is retried once by the
//! caller ([`Classified::retry`]); errors that leave the session unusable mark it
//! [`Classified::broken`] so it is dropped from the pool instead of returned.

use bridge::CallError;
use thiserror::Error;

/// Failures of the adapter's own connections (catalog, events, install).
#[derive(Debug, Error)]
pub enum OraBridgeError {
    #[error("database: {0}")]
    Db(#[from] oracle::Error),
    #[error("package {0} is not visible to the gateway user (missing grant or synonym?)")]
    PackageNotFound(String),
    #[error("the event thread stopped")]
    EventThread,
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
}

/// A classified call failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub error: CallError,
    /// Run the call once more (package state was discarded).
    pub retry: bool,
    /// The session cannot be reused.
    pub broken: bool,
}

/// ORA codes after which the session is gone or unusable.
const BROKEN: [i32; 12] = [28, 1012, 1033, 1034, 1089, 1092, 3113, 3114, 3135, 12537, 12570, 24338];

/// Classifies an Oracle error by its ORA code (`None` for client-side DPI errors) and message.
pub fn classify(code: Option<i32>, message: &str) -> Classified {
    let text = first_message(message);
    let plain = |error| Classified { error, retry: false, broken: false };
    match code {
        Some(1013) => plain(CallError::Canceled),
        Some(1031) => plain(CallError::NotAuthorized(text.to_owned())),
        Some(4068 | 4061 | 4065) => Classified { error: CallError::Internal(message.to_owned()), retry: true, broken: false },
        Some(c @ 20000..=20999) => plain(CallError::Raised { sqlstate: format!("ORA-{c:05}"), message: text.to_owned(), detail: None, hint: None }),
        Some(c) if BROKEN.contains(&c) => Classified { error: CallError::Internal(message.to_owned()), retry: false, broken: true },
        Some(_) => plain(CallError::Internal(message.to_owned())),
        // DPI-1067 (call timeout exceeded) and DPI-1080 (connection closed by ORA-3113) leave
        // the session unusable; other client-side errors are treated as such too.
        None => Classified { error: CallError::Internal(message.to_owned()), retry: false, broken: true },
    }
}

/// Classifies a driver error.
pub fn classify_oracle(err: &oracle::Error) -> Classified {
    match err.db_error() {
        Some(db) if db.code() != 0 => classify(Some(db.code()), db.message()),
        _ => match err.oci_code() {
            Some(code) => classify(Some(code), &err.to_string()),
            None => classify(None, &err.to_string()),
        },
    }
}

/// The first message of an Oracle error stack, without its `ORA-NNNNN: ` prefix:
/// `"ORA-20001: a.b: x\nORA-06512: at line 1"` → `"a.b: x"`.
pub fn first_message(message: &str) -> &str {
    let first = message.split("\nORA-").next().unwrap_or(message).trim_end();
    match first.strip_prefix("ORA-") {
        Some(rest) if rest.len() > 7 && rest.as_bytes()[..5].iter().all(u8::is_ascii_digit) && &rest[5..7] == ": " => &rest[7..],
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = "ORA-20001: com.example.hr.error.not_found: employee 7\nORA-06512: at \"HR.HR_API\", line 12\nORA-06512: at line 5";

    #[test]
    fn application_errors_carry_their_uri_or_code() {
        let c = classify(Some(20001), STACK);
        assert_eq!(c.error, CallError::Raised { sqlstate: "ORA-20001".into(), message: "com.example.hr.error.not_found: employee 7".into(), detail: None, hint: None });
        let w = c.error.to_wamp(1);
        assert_eq!((w.uri.as_str(), w.args), ("com.example.hr.error.not_found", vec![wamp::Value::from("employee 7")]));
        let w = classify(Some(20002), "ORA-20002: salary too low\nORA-06512: at line 1").error.to_wamp(1);
        assert_eq!((w.uri.as_str(), w.args[0].as_str()), ("wamp.error.runtime_error", Some("salary too low")));
        assert_eq!(w.kwargs["sqlstate"], wamp::Value::from("ORA-20002"));
    }

    #[test]
    fn other_errors_hide_their_detail() {
        let c = classify(Some(942), "ORA-00942: table or view \"HR\".\"SECRET\" does not exist");
        assert!(!c.retry && !c.broken);
        let w = c.error.to_wamp(9);
        assert!(!w.args[0].as_str().unwrap().contains("SECRET"));
        assert_eq!(w.uri, "wamp.error.runtime_error");
        assert!(c.error.is_internal());
        assert_eq!(classify(Some(1476), "ORA-01476: divisor is equal to zero").error.to_wamp(1).uri, "wamp.error.runtime_error");
    }

    #[test]
    fn cancel_privilege_retry_and_broken_sessions() {
        assert_eq!(classify(Some(1013), "ORA-01013: user requested cancel of current operation").error, CallError::Canceled);
        assert!(matches!(classify(Some(1031), "ORA-01031: insufficient privileges").error, CallError::NotAuthorized(m) if m == "insufficient privileges"));
        let discarded = classify(Some(4068), "ORA-04068: existing state of packages has been discarded\nORA-04061: ...");
        assert!(discarded.retry && !discarded.broken);
        assert!(classify(Some(3113), "ORA-03113: end-of-file on communication channel").broken);
        assert!(classify(Some(28), "ORA-00028: your session has been killed").broken);
        assert!(classify(None, "DPI-1067: call timeout of 1000 ms exceeded with ORA-3156").broken);
    }

    #[test]
    fn first_messages() {
        assert_eq!(first_message(STACK), "com.example.hr.error.not_found: employee 7");
        assert_eq!(first_message("DPI-1047: Cannot locate a 64-bit Oracle Client library"), "DPI-1047: Cannot locate a 64-bit Oracle Client library");
        assert_eq!(first_message("ORA-20005: "), "ORA-20005:");
        assert_eq!(first_message("ORA-20005: x"), "x");
    }
}
