//! Every WAMP v2 message, and its conversion to and from the generic array form.
//!
//! A serializer turns bytes into a [`Value`] (a list such as `[48, 7814135, {}, "com.x", [1]]`);
//! [`Message::from_value`] checks that list's shape and builds the typed message, and
//! [`Message::to_value`] does the reverse. Keeping the shape rules here means the three codecs
//! share them and differ only in byte formats.

use crate::error::ProtocolError;
use crate::ids::{PublicationId, RegistrationId, RequestId, SessionId, SubscriptionId, MAX_ID};
use crate::value::{Dict, List, Value};

/// Message type codes (the first element of every message).
pub mod code {
    pub const HELLO: u64 = 1;
    pub const WELCOME: u64 = 2;
    pub const ABORT: u64 = 3;
    pub const CHALLENGE: u64 = 4;
    pub const AUTHENTICATE: u64 = 5;
    pub const GOODBYE: u64 = 6;
    pub const ERROR: u64 = 8;
    pub const PUBLISH: u64 = 16;
    pub const PUBLISHED: u64 = 17;
    pub const SUBSCRIBE: u64 = 32;
    pub const SUBSCRIBED: u64 = 33;
    pub const UNSUBSCRIBE: u64 = 34;
    pub const UNSUBSCRIBED: u64 = 35;
    pub const EVENT: u64 = 36;
    pub const CALL: u64 = 48;
    pub const CANCEL: u64 = 49;
    pub const RESULT: u64 = 50;
    pub const REGISTER: u64 = 64;
    pub const REGISTERED: u64 = 65;
    pub const UNREGISTER: u64 = 66;
    pub const UNREGISTERED: u64 = 67;
    pub const INVOCATION: u64 = 68;
    pub const INTERRUPT: u64 = 69;
    pub const YIELD: u64 = 70;
}

/// Positional and keyword arguments carried by PUBLISH, EVENT, CALL, RESULT, INVOCATION, YIELD, ERROR.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Payload {
    pub args: Option<List>,
    pub kwargs: Option<Dict>,
}

impl Payload {
    pub fn new(args: List, kwargs: Dict) -> Self {
        Payload { args: Some(args), kwargs: Some(kwargs) }
    }

    pub fn args(args: List) -> Self {
        Payload { args: Some(args), kwargs: None }
    }

    pub fn is_empty(&self) -> bool {
        self.args.as_ref().is_none_or(|a| a.is_empty()) && self.kwargs.as_ref().is_none_or(|k| k.is_empty())
    }
}

/// A WAMP v2 message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Hello { realm: String, details: Dict },
    Welcome { session: SessionId, details: Dict },
    Abort { details: Dict, reason: String },
    Challenge { authmethod: String, extra: Dict },
    Authenticate { signature: String, extra: Dict },
    Goodbye { details: Dict, reason: String },
    Error { request_type: u64, request: RequestId, details: Dict, error: String, payload: Payload },
    Publish { request: RequestId, options: Dict, topic: String, payload: Payload },
    Published { request: RequestId, publication: PublicationId },
    Subscribe { request: RequestId, options: Dict, topic: String },
    Subscribed { request: RequestId, subscription: SubscriptionId },
    Unsubscribe { request: RequestId, subscription: SubscriptionId },
    /// `details` is present only in the router-initiated form (subscription revoked).
    Unsubscribed { request: RequestId, details: Option<Dict> },
    Event { subscription: SubscriptionId, publication: PublicationId, details: Dict, payload: Payload },
    Call { request: RequestId, options: Dict, procedure: String, payload: Payload },
    Cancel { request: RequestId, options: Dict },
    Result { request: RequestId, details: Dict, payload: Payload },
    Register { request: RequestId, options: Dict, procedure: String },
    Registered { request: RequestId, registration: RegistrationId },
    Unregister { request: RequestId, registration: RegistrationId },
    /// `details` is present only in the router-initiated form (registration revoked).
    Unregistered { request: RequestId, details: Option<Dict> },
    Invocation { request: RequestId, registration: RegistrationId, details: Dict, payload: Payload },
    Interrupt { request: RequestId, options: Dict },
    Yield { request: RequestId, options: Dict, payload: Payload },
}

impl Message {
    /// The message's type code.
    pub fn code(&self) -> u64 {
        use code::*;
        match self {
            Message::Hello { .. } => HELLO,
            Message::Welcome { .. } => WELCOME,
            Message::Abort { .. } => ABORT,
            Message::Challenge { .. } => CHALLENGE,
            Message::Authenticate { .. } => AUTHENTICATE,
            Message::Goodbye { .. } => GOODBYE,
            Message::Error { .. } => ERROR,
            Message::Publish { .. } => PUBLISH,
            Message::Published { .. } => PUBLISHED,
            Message::Subscribe { .. } => SUBSCRIBE,
            Message::Subscribed { .. } => SUBSCRIBED,
            Message::Unsubscribe { .. } => UNSUBSCRIBE,
            Message::Unsubscribed { .. } => UNSUBSCRIBED,
            Message::Event { .. } => EVENT,
            Message::Call { .. } => CALL,
            Message::Cancel { .. } => CANCEL,
            Message::Result { .. } => RESULT,
            Message::Register { .. } => REGISTER,
            Message::Registered { .. } => REGISTERED,
            Message::Unregister { .. } => UNREGISTER,
            Message::Unregistered { .. } => UNREGISTERED,
            Message::Invocation { .. } => INVOCATION,
            Message::Interrupt { .. } => INTERRUPT,
            Message::Yield { .. } => YIELD,
        }
    }

    /// The upper-case name of the message type, for logs and metrics.
    pub fn name(&self) -> &'static str {
        code_name(self.code()).unwrap_or("UNKNOWN")
    }

    /// Builds a typed message from its generic list form, checking every element's type.
    pub fn from_value(value: Value) -> Result<Message, ProtocolError> {
        let Value::List(items) = value else {
            return Err(ProtocolError::NotAList);
        };
        let mut it = Fields { items: items.into_iter(), kind: "message", index: 0 };
        let code = it.id_raw("message type")?;
        it.kind = code_name(code).ok_or(ProtocolError::UnknownType(code))?;
        use code::*;
        let msg = match code {
            HELLO => Message::Hello { realm: it.string("Realm")?, details: it.dict("Details")? },
            WELCOME => Message::Welcome { session: SessionId(it.id("Session")?), details: it.dict("Details")? },
            ABORT => Message::Abort { details: it.dict("Details")?, reason: it.string("Reason")? },
            CHALLENGE => Message::Challenge { authmethod: it.string("AuthMethod")?, extra: it.dict("Extra")? },
            AUTHENTICATE => {
                Message::Authenticate { signature: it.string("Signature")?, extra: it.dict("Extra")? }
            }
            GOODBYE => Message::Goodbye { details: it.dict("Details")?, reason: it.string("Reason")? },
            ERROR => Message::Error {
                request_type: it.id_raw("REQUEST.Type")?,
                request: RequestId(it.id("Request")?),
                details: it.dict("Details")?,
                error: it.string("Error")?,
                payload: it.payload()?,
            },
            PUBLISH => Message::Publish {
                request: RequestId(it.id("Request")?),
                options: it.dict("Options")?,
                topic: it.string("Topic")?,
                payload: it.payload()?,
            },
            PUBLISHED => Message::Published {
                request: RequestId(it.id("Request")?),
                publication: PublicationId(it.id("Publication")?),
            },
            SUBSCRIBE => Message::Subscribe {
                request: RequestId(it.id("Request")?),
                options: it.dict("Options")?,
                topic: it.string("Topic")?,
            },
            SUBSCRIBED => Message::Subscribed {
                request: RequestId(it.id("Request")?),
                subscription: SubscriptionId(it.id("Subscription")?),
            },
            UNSUBSCRIBE => Message::Unsubscribe {
                request: RequestId(it.id_or_zero("Request")?),
                subscription: SubscriptionId(it.id("Subscription")?),
            },
            UNSUBSCRIBED => Message::Unsubscribed {
                request: RequestId(it.id_or_zero("Request")?),
                details: it.opt_dict("Details")?,
            },
            EVENT => Message::Event {
                subscription: SubscriptionId(it.id("Subscription")?),
                publication: PublicationId(it.id("Publication")?),
                details: it.dict("Details")?,
                payload: it.payload()?,
            },
            CALL => Message::Call {
                request: RequestId(it.id("Request")?),
                options: it.dict("Options")?,
                procedure: it.string("Procedure")?,
                payload: it.payload()?,
            },
            CANCEL => Message::Cancel { request: RequestId(it.id("Request")?), options: it.dict("Options")? },
            RESULT => Message::Result {
                request: RequestId(it.id("Request")?),
                details: it.dict("Details")?,
                payload: it.payload()?,
            },
            REGISTER => Message::Register {
                request: RequestId(it.id("Request")?),
                options: it.dict("Options")?,
                procedure: it.string("Procedure")?,
            },
            REGISTERED => Message::Registered {
                request: RequestId(it.id("Request")?),
                registration: RegistrationId(it.id("Registration")?),
            },
            UNREGISTER => Message::Unregister {
                request: RequestId(it.id("Request")?),
                registration: RegistrationId(it.id("Registration")?),
            },
            UNREGISTERED => Message::Unregistered {
                request: RequestId(it.id_or_zero("Request")?),
                details: it.opt_dict("Details")?,
            },
            INVOCATION => Message::Invocation {
                request: RequestId(it.id("Request")?),
                registration: RegistrationId(it.id("Registration")?),
                details: it.dict("Details")?,
                payload: it.payload()?,
            },
            INTERRUPT => {
                Message::Interrupt { request: RequestId(it.id("Request")?), options: it.dict("Options")? }
            }
            YIELD => Message::Yield {
                request: RequestId(it.id("Request")?),
                options: it.dict("Options")?,
                payload: it.payload()?,
            },
            other => return Err(ProtocolError::UnknownType(other)),
        };
        it.finish()?;
        Ok(msg)
    }

    /// The generic list form of this message, ready for any serializer.
    pub fn to_value(&self) -> Value {
        self.clone().into_value()
    }

    /// Like [`Message::to_value`], consuming the message so payloads are moved, not copied.
    pub fn into_value(self) -> Value {
        let code = self.code();
        let mut v: List = Vec::with_capacity(7);
        v.push(Value::from(code));
        match self {
            Message::Hello { realm, details } => push!(v, realm, details),
            Message::Welcome { session, details } => push!(v, session, details),
            Message::Abort { details, reason } => push!(v, details, reason),
            Message::Challenge { authmethod, extra } => push!(v, authmethod, extra),
            Message::Authenticate { signature, extra } => push!(v, signature, extra),
            Message::Goodbye { details, reason } => push!(v, details, reason),
            Message::Error { request_type, request, details, error, payload } => {
                push!(v, request_type, request, details, error);
                push_payload(&mut v, payload);
            }
            Message::Publish { request, options, topic, payload } => {
                push!(v, request, options, topic);
                push_payload(&mut v, payload);
            }
            Message::Published { request, publication } => push!(v, request, publication),
            Message::Subscribe { request, options, topic } => push!(v, request, options, topic),
            Message::Subscribed { request, subscription } => push!(v, request, subscription),
            Message::Unsubscribe { request, subscription } => push!(v, request, subscription),
            Message::Unsubscribed { request, details } => {
                push!(v, request);
                if let Some(d) = details {
                    push!(v, d);
                }
            }
            Message::Event { subscription, publication, details, payload } => {
                push!(v, subscription, publication, details);
                push_payload(&mut v, payload);
            }
            Message::Call { request, options, procedure, payload } => {
                push!(v, request, options, procedure);
                push_payload(&mut v, payload);
            }
            Message::Cancel { request, options } => push!(v, request, options),
            Message::Result { request, details, payload } => {
                push!(v, request, details);
                push_payload(&mut v, payload);
            }
            Message::Register { request, options, procedure } => push!(v, request, options, procedure),
            Message::Registered { request, registration } => push!(v, request, registration),
            Message::Unregister { request, registration } => push!(v, request, registration),
            Message::Unregistered { request, details } => {
                push!(v, request);
                if let Some(d) = details {
                    push!(v, d);
                }
            }
            Message::Invocation { request, registration, details, payload } => {
                push!(v, request, registration, details);
                push_payload(&mut v, payload);
            }
            Message::Interrupt { request, options } => push!(v, request, options),
            Message::Yield { request, options, payload } => {
                push!(v, request, options);
                push_payload(&mut v, payload);
            }
        }
        Value::List(v)
    }
}

/// The upper-case name for a message type code, if the code is a WAMP v2 message.
pub fn code_name(code: u64) -> Option<&'static str> {
    use code::*;
    Some(match code {
        HELLO => "HELLO",
        WELCOME => "WELCOME",
        ABORT => "ABORT",
        CHALLENGE => "CHALLENGE",
        AUTHENTICATE => "AUTHENTICATE",
        GOODBYE => "GOODBYE",
        ERROR => "ERROR",
        PUBLISH => "PUBLISH",
        PUBLISHED => "PUBLISHED",
        SUBSCRIBE => "SUBSCRIBE",
        SUBSCRIBED => "SUBSCRIBED",
        UNSUBSCRIBE => "UNSUBSCRIBE",
        UNSUBSCRIBED => "UNSUBSCRIBED",
        EVENT => "EVENT",
        CALL => "CALL",
        CANCEL => "CANCEL",
        RESULT => "RESULT",
        REGISTER => "REGISTER",
        REGISTERED => "REGISTERED",
        UNREGISTER => "UNREGISTER",
        UNREGISTERED => "UNREGISTERED",
        INVOCATION => "INVOCATION",
        INTERRUPT => "INTERRUPT",
        YIELD => "YIELD",
        _ => return None,
    })
}

macro_rules! push {
    ($v:ident, $($x:expr),+) => {{ $( $v.push(Value::from($x)); )+ }};
}
use push;

/// Appends `args` and `kwargs` in the spec's short forms: kwargs only when non-empty (then args too,
/// as `[]` if absent), args only when present.
fn push_payload(v: &mut List, payload: Payload) {
    let Payload { args, kwargs } = payload;
    match (args, kwargs) {
        (args, Some(kw)) if !kw.is_empty() => {
            v.push(Value::List(args.unwrap_or_default()));
            v.push(Value::Dict(kw));
        }
        (Some(args), _) => v.push(Value::List(args)),
        (None, _) => {}
    }
}

/// Reads a message's elements in order, naming the message and element in every error.
struct Fields {
    items: std::vec::IntoIter<Value>,
    kind: &'static str,
    index: usize,
}

impl Fields {
    fn next(&mut self, what: &'static str) -> Result<Value, ProtocolError> {
        self.index += 1;
        self.items.next().ok_or(ProtocolError::MissingElement { message: self.kind, element: what })
    }

    fn bad(&self, what: &'static str, expected: &'static str, got: &Value) -> ProtocolError {
        ProtocolError::BadElement { message: self.kind, element: what, expected, got: got.type_name() }
    }

    fn id_raw(&mut self, what: &'static str) -> Result<u64, ProtocolError> {
        let v = self.next(what)?;
        v.as_u64().ok_or_else(|| self.bad(what, "a non-negative integer", &v))
    }

    fn id(&mut self, what: &'static str) -> Result<u64, ProtocolError> {
        let v = self.next(what)?;
        match v.as_u64() {
            Some(id) if (1..=MAX_ID).contains(&id) => Ok(id),
            _ => Err(self.bad(what, "an id in [1, 2^53]", &v)),
        }
    }

    /// Router-initiated UNSUBSCRIBED/UNREGISTERED carry request id 0.
    fn id_or_zero(&mut self, what: &'static str) -> Result<u64, ProtocolError> {
        let v = self.next(what)?;
        match v.as_u64() {
            Some(id) if id <= MAX_ID => Ok(id),
            _ => Err(self.bad(what, "an id in [0, 2^53]", &v)),
        }
    }

    fn string(&mut self, what: &'static str) -> Result<String, ProtocolError> {
        match self.next(what)? {
            Value::Str(s) => Ok(s),
            v => Err(self.bad(what, "a string", &v)),
        }
    }

    fn dict(&mut self, what: &'static str) -> Result<Dict, ProtocolError> {
        match self.next(what)? {
            Value::Dict(d) => Ok(d),
            v => Err(self.bad(what, "a dict", &v)),
        }
    }

    fn opt_dict(&mut self, what: &'static str) -> Result<Option<Dict>, ProtocolError> {
        if self.items.len() == 0 {
            return Ok(None);
        }
        self.dict(what).map(Some)
    }

    fn payload(&mut self) -> Result<Payload, ProtocolError> {
        let args = match self.items.next() {
            None => return Ok(Payload::default()),
            Some(Value::List(l)) => Some(l),
            Some(v) => return Err(self.bad("Arguments", "a list", &v)),
        };
        let kwargs = match self.items.next() {
            None => None,
            Some(Value::Dict(d)) => Some(d),
            Some(v) => return Err(self.bad("ArgumentsKw", "a dict", &v)),
        };
        Ok(Payload { args, kwargs })
    }

    fn finish(mut self) -> Result<(), ProtocolError> {
        match self.items.next() {
            None => Ok(()),
            Some(_) => Err(ProtocolError::TrailingElements { message: self.kind }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;

    #[test]
    fn call_round_trips_through_value() {
        let msg = Message::Call {
            request: RequestId(7),
            options: dict! { "receive_progress" => true },
            procedure: "com.example.add".into(),
            payload: Payload::new(vec![Value::from(1), Value::from(2)], dict! { "x" => "y" }),
        };
        assert_eq!(Message::from_value(msg.to_value()).unwrap(), msg);
    }

    #[test]
    fn empty_kwargs_are_omitted_and_args_kept() {
        let msg = Message::Result {
            request: RequestId(1),
            details: Dict::new(),
            payload: Payload { args: Some(vec![]), kwargs: Some(Dict::new()) },
        };
        assert_eq!(msg.to_value(), Value::List(vec![Value::from(50u64), Value::from(1), Value::Dict(Dict::new()), Value::List(vec![])]));
    }

    #[test]
    fn kwargs_without_args_gets_empty_args() {
        let msg = Message::Yield { request: RequestId(1), options: Dict::new(), payload: Payload { args: None, kwargs: Some(dict! {"a" => 1}) } };
        let Value::List(items) = msg.to_value() else { panic!("not a list") };
        assert_eq!(items[3], Value::List(vec![]));
    }

    #[test]
    fn shape_errors_are_typed() {
        assert!(matches!(Message::from_value(Value::Int(1)), Err(ProtocolError::NotAList)));
        assert!(matches!(Message::from_value(Value::List(vec![])), Err(ProtocolError::MissingElement { .. })));
        assert!(matches!(
            Message::from_value(Value::List(vec![Value::from(99)])),
            Err(ProtocolError::UnknownType(99))
        ));
        let bad_id = Value::List(vec![Value::from(48), Value::from(0), Value::Dict(Dict::new()), Value::from("p")]);
        assert!(matches!(Message::from_value(bad_id), Err(ProtocolError::BadElement { element: "Request", .. })));
        let too_big = Value::List(vec![Value::from(48), Value::from(MAX_ID + 1), Value::Dict(Dict::new()), Value::from("p")]);
        assert!(Message::from_value(too_big).is_err());
        let trailing = Value::List(vec![Value::from(6), Value::Dict(Dict::new()), Value::from("r"), Value::Null]);
        assert!(matches!(Message::from_value(trailing), Err(ProtocolError::TrailingElements { .. })));
        let bad_args = Value::List(vec![Value::from(48), Value::from(1), Value::Dict(Dict::new()), Value::from("p"), Value::from(3)]);
        assert!(matches!(Message::from_value(bad_args), Err(ProtocolError::BadElement { element: "Arguments", .. })));
    }
}
