//! A borrowed view of a message's list form, for encoders.
//!
//! [`Message::into_value`] builds an owned [`Value`] list; encoding through it would clone every
//! payload of a message the router only borrows (an EVENT shared by many subscribers). This view
//! yields the same elements by reference instead. It must mirror `into_value` exactly: the codec
//! tests assert `encode(msg) == encode_value(&msg.to_value())` for every message type.

use crate::message::{Message, Payload};
use crate::value::{Dict, Value};

/// One top-level element of a message.
#[derive(Debug, Clone, Copy)]
pub(super) enum Elem<'a> {
    UInt(u64),
    Str(&'a str),
    Dict(&'a Dict),
    List(&'a [Value]),
}

/// The longest message (ERROR) has seven elements.
const MAX_ELEMENTS: usize = 7;

/// A message's elements in wire order.
pub(super) struct Elements<'a> {
    items: [Elem<'a>; MAX_ELEMENTS],
    len: usize,
}

impl<'a> Elements<'a> {
    fn new(code: u64) -> Self {
        Elements { items: [Elem::UInt(code); MAX_ELEMENTS], len: 1 }
    }

    /// Callers push at most [`MAX_ELEMENTS`] in total: every arm of [`of`] is fixed-length.
    fn push(&mut self, e: Elem<'a>) {
        self.items[self.len] = e;
        self.len += 1;
    }

    fn id(&mut self, id: u64) {
        self.push(Elem::UInt(id));
    }

    fn str(&mut self, s: &'a str) {
        self.push(Elem::Str(s));
    }

    fn dict(&mut self, d: &'a Dict) {
        self.push(Elem::Dict(d));
    }

    /// The spec's short forms, as in `message::push_payload`: kwargs only when non-empty (then
    /// args too, as `[]` if absent), args only when present.
    fn payload(&mut self, p: &'a Payload) {
        match (&p.args, &p.kwargs) {
            (args, Some(kw)) if !kw.is_empty() => {
                self.push(Elem::List(args.as_deref().unwrap_or(&[])));
                self.push(Elem::Dict(kw));
            }
            (Some(args), _) => self.push(Elem::List(args)),
            (None, _) => {}
        }
    }

    pub(super) fn as_slice(&self) -> &[Elem<'a>] {
        &self.items[..self.len]
    }
}

/// The elements of `msg`, borrowed.
pub(super) fn of(msg: &Message) -> Elements<'_> {
    let mut e = Elements::new(msg.code());
    match msg {
        Message::Hello { realm, details } => {
            e.str(realm);
            e.dict(details);
        }
        Message::Welcome { session, details } => {
            e.id(session.0);
            e.dict(details);
        }
        Message::Abort { details, reason } | Message::Goodbye { details, reason } => {
            e.dict(details);
            e.str(reason);
        }
        Message::Challenge { authmethod: s, extra } | Message::Authenticate { signature: s, extra } => {
            e.str(s);
            e.dict(extra);
        }
        Message::Error { request_type, request, details, error, payload } => {
            e.id(*request_type);
            e.id(request.0);
            e.dict(details);
            e.str(error);
            e.payload(payload);
        }
        Message::Publish { request, options, topic: uri, payload }
        | Message::Call { request, options, procedure: uri, payload } => {
            e.id(request.0);
            e.dict(options);
            e.str(uri);
            e.payload(payload);
        }
        Message::Subscribe { request, options, topic: uri }
        | Message::Register { request, options, procedure: uri } => {
            e.id(request.0);
            e.dict(options);
            e.str(uri);
        }
        Message::Published { request, publication } => {
            e.id(request.0);
            e.id(publication.0);
        }
        Message::Subscribed { request, subscription } | Message::Unsubscribe { request, subscription } => {
            e.id(request.0);
            e.id(subscription.0);
        }
        Message::Registered { request, registration } | Message::Unregister { request, registration } => {
            e.id(request.0);
            e.id(registration.0);
        }
        Message::Unsubscribed { request, details } | Message::Unregistered { request, details } => {
            e.id(request.0);
            if let Some(d) = details {
                e.dict(d);
            }
        }
        Message::Event { subscription, publication, details, payload } => {
            e.id(subscription.0);
            e.id(publication.0);
            e.dict(details);
            e.payload(payload);
        }
        Message::Cancel { request, options } | Message::Interrupt { request, options } => {
            e.id(request.0);
            e.dict(options);
        }
        Message::Result { request, details: dict, payload } | Message::Yield { request, options: dict, payload } => {
            e.id(request.0);
            e.dict(dict);
            e.payload(payload);
        }
        Message::Invocation { request, registration, details, payload } => {
            e.id(request.0);
            e.id(registration.0);
            e.dict(details);
            e.payload(payload);
        }
    }
    e
}
