//! Maps a vector's `expected_attributes` (or a multi-session step's `message`) onto our types.
//!
//! Built from the fixture's JSON with `serde_json` and constructed field by field, never through
//! the codecs or `Message::from_value` under test. Every attribute must be consumed, so a new
//! attribute in the vectors fails loudly instead of going unchecked.

use serde_json::{Map, Value as J};
use wamp::{Dict, Message, Payload, PublicationId, RegistrationId, RequestId, SessionId, SubscriptionId, Value};

/// Converts fixture JSON into our value model (plain JSON: no binary convention).
pub fn value(j: &J) -> Value {
    match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::Int(i),
            (None, Some(u), _) => Value::UInt(u),
            (_, _, Some(f)) => Value::Float(f),
            _ => panic!("unrepresentable number {n}"),
        },
        J::String(s) => Value::Str(s.clone()),
        J::Array(a) => Value::List(a.iter().map(value).collect()),
        J::Object(o) => Value::Dict(dict(o)),
    }
}

pub fn dict(o: &Map<String, J>) -> Dict {
    o.iter().map(|(k, v)| (k.clone(), value(v))).collect()
}

pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("fixture hex")).collect()
}

/// Attributes not yet consumed.
pub struct Attrs(Map<String, J>);

impl Attrs {
    pub fn new(map: &Map<String, J>) -> Self {
        Attrs(map.clone())
    }

    /// Removes the first of `names` present (vectors spell some ids two ways).
    fn take(&mut self, names: &[&str]) -> Result<J, String> {
        names.iter().find_map(|n| self.0.remove(*n)).ok_or_else(|| format!("missing attribute {names:?}"))
    }

    fn take_opt(&mut self, name: &str) -> Option<J> {
        self.0.remove(name).filter(|v| !v.is_null())
    }

    pub fn id(&mut self, names: &[&str]) -> Result<u64, String> {
        let v = self.take(names)?;
        v.as_u64().ok_or_else(|| format!("{names:?} is not an id: {v}"))
    }

    pub fn string(&mut self, name: &str) -> Result<String, String> {
        match self.take(&[name])? {
            J::String(s) => Ok(s),
            v => Err(format!("{name} is not a string: {v}")),
        }
    }

    pub fn dict(&mut self, name: &str) -> Result<Dict, String> {
        match self.take(&[name])? {
            J::Object(o) => Ok(dict(&o)),
            v => Err(format!("{name} is not an object: {v}")),
        }
    }

    pub fn opt_dict(&mut self, name: &str) -> Result<Option<Dict>, String> {
        match self.take_opt(name) {
            None => Ok(None),
            Some(J::Object(o)) => Ok(Some(dict(&o))),
            Some(v) => Err(format!("{name} is not an object: {v}")),
        }
    }

    /// `details` built from a `roles` attribute (HELLO, WELCOME) or given directly.
    fn details_or_roles(&mut self) -> Result<Dict, String> {
        match self.take_opt("roles") {
            Some(roles) => Ok([("roles".to_owned(), value(&roles))].into_iter().collect()),
            None => self.dict("details"),
        }
    }

    pub fn payload(&mut self) -> Result<Payload, String> {
        let args = match self.take_opt("args") {
            None => None,
            Some(J::Array(a)) => Some(a.iter().map(value).collect()),
            Some(v) => return Err(format!("args is not a list: {v}")),
        };
        let kwargs = match self.take_opt("kwargs") {
            None => None,
            Some(J::Object(o)) => Some(dict(&o)),
            Some(v) => return Err(format!("kwargs is not an object: {v}")),
        };
        Ok(Payload { args, kwargs })
    }

    /// The transparent (end-to-end encrypted) payload, as bytes, if the vector has one.
    pub fn transparent_payload(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self.take_opt("payload") {
            None => Ok(None),
            Some(J::String(h)) => Ok(Some(hex(&h))),
            Some(v) => Err(format!("payload is not a hex string: {v}")),
        }
    }

    /// Fails if any attribute was left unmapped.
    pub fn finish(self) -> Result<(), String> {
        match self.0.keys().next() {
            None => Ok(()),
            Some(_) => Err(format!("unmapped attributes {:?}", self.0.keys().collect::<Vec<_>>())),
        }
    }
}

/// The message code for a type name, as used by the multi-session vectors.
pub fn code_of(name: &str) -> Option<u64> {
    Some(match name {
        "HELLO" => 1,
        "WELCOME" => 2,
        "ABORT" => 3,
        "CHALLENGE" => 4,
        "AUTHENTICATE" => 5,
        "GOODBYE" => 6,
        "ERROR" => 8,
        "PUBLISH" => 16,
        "PUBLISHED" => 17,
        "SUBSCRIBE" => 32,
        "SUBSCRIBED" => 33,
        "UNSUBSCRIBE" => 34,
        "UNSUBSCRIBED" => 35,
        "EVENT" => 36,
        "CALL" => 48,
        "CANCEL" => 49,
        "RESULT" => 50,
        "REGISTER" => 64,
        "REGISTERED" => 65,
        "UNREGISTER" => 66,
        "UNREGISTERED" => 67,
        "INVOCATION" => 68,
        "INTERRUPT" => 69,
        "YIELD" => 70,
        _ => return None,
    })
}

const REQUEST: &[&str] = &["request_id", "request"];

/// Builds the message the attributes describe. Absent Options/Details default to `{}` only where
/// the vectors omit them for messages whose wire form still carries one (CANCEL, INVOCATION, …).
pub fn message(code: u64, a: &mut Attrs) -> Result<Message, String> {
    let dict_or_empty = |a: &mut Attrs, name: &str| -> Result<Dict, String> {
        if a.0.contains_key(name) {
            a.dict(name)
        } else {
            Ok(Dict::new())
        }
    };
    Ok(match code {
        1 => Message::Hello { realm: a.string("realm")?, details: a.details_or_roles()? },
        2 => Message::Welcome { session: SessionId(a.id(&["session_id", "session"])?), details: a.details_or_roles()? },
        3 => Message::Abort { details: a.dict("details")?, reason: a.string("reason")? },
        4 => Message::Challenge { authmethod: a.string("method")?, extra: a.dict("extra")? },
        5 => Message::Authenticate { signature: a.string("signature")?, extra: a.dict("extra")? },
        6 => Message::Goodbye { details: a.dict("details")?, reason: a.string("reason")? },
        8 => Message::Error {
            request_type: a.id(&["request_type"])?,
            request: RequestId(a.id(REQUEST)?),
            details: a.dict("details")?,
            error: a.string("error")?,
            payload: a.payload()?,
        },
        16 => Message::Publish {
            request: RequestId(a.id(REQUEST)?),
            options: dict_or_empty(a, "options")?,
            topic: a.string("topic")?,
            payload: a.payload()?,
        },
        17 => Message::Published {
            request: RequestId(a.id(REQUEST)?),
            publication: PublicationId(a.id(&["publication_id", "publication"])?),
        },
        32 => Message::Subscribe {
            request: RequestId(a.id(REQUEST)?),
            options: dict_or_empty(a, "options")?,
            topic: a.string("topic")?,
        },
        33 => Message::Subscribed {
            request: RequestId(a.id(REQUEST)?),
            subscription: SubscriptionId(a.id(&["subscription_id", "subscription"])?),
        },
        34 => Message::Unsubscribe {
            request: RequestId(a.id(REQUEST)?),
            subscription: SubscriptionId(a.id(&["subscription_id", "subscription"])?),
        },
        35 => Message::Unsubscribed { request: RequestId(a.id(REQUEST)?), details: a.opt_dict("details")? },
        36 => Message::Event {
            subscription: SubscriptionId(a.id(&["subscription", "subscription_id"])?),
            publication: PublicationId(a.id(&["publication", "publication_id"])?),
            details: dict_or_empty(a, "details")?,
            payload: a.payload()?,
        },
        48 => Message::Call {
            request: RequestId(a.id(REQUEST)?),
            options: dict_or_empty(a, "options")?,
            procedure: a.string("procedure")?,
            payload: a.payload()?,
        },
        49 => Message::Cancel { request: RequestId(a.id(REQUEST)?), options: dict_or_empty(a, "options")? },
        50 => Message::Result {
            request: RequestId(a.id(REQUEST)?),
            details: dict_or_empty(a, "details")?,
            payload: a.payload()?,
        },
        64 => Message::Register {
            request: RequestId(a.id(REQUEST)?),
            options: dict_or_empty(a, "options")?,
            procedure: a.string("procedure")?,
        },
        65 => Message::Registered {
            request: RequestId(a.id(REQUEST)?),
            registration: RegistrationId(a.id(&["registration_id", "registration"])?),
        },
        66 => Message::Unregister {
            request: RequestId(a.id(REQUEST)?),
            registration: RegistrationId(a.id(&["registration_id", "registration"])?),
        },
        67 => Message::Unregistered { request: RequestId(a.id(REQUEST)?), details: a.opt_dict("details")? },
        68 => Message::Invocation {
            request: RequestId(a.id(REQUEST)?),
            registration: RegistrationId(a.id(&["registration_id", "registration"])?),
            details: dict_or_empty(a, "details")?,
            payload: a.payload()?,
        },
        69 => Message::Interrupt { request: RequestId(a.id(REQUEST)?), options: dict_or_empty(a, "options")? },
        70 => Message::Yield {
            request: RequestId(a.id(REQUEST)?),
            options: dict_or_empty(a, "options")?,
            payload: a.payload()?,
        },
        other => return Err(format!("no message type {other}")),
    })
}
