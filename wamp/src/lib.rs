//! # WAMP protocol and routing core
//!
//! No web framework and no database lives here: transports (in `gateway`) feed decoded messages to a
//! [`Session`](router::Session), and database bridges attach as ordinary sessions over the in-process link.
//!
//! ## Layout
//! - [`value`]: the dynamic payload model ([`Value`], [`Dict`]).
//! - [`message`]: every WAMP v2 message and its generic list form.
//! - [`codec`]: JSON, MessagePack and CBOR byte formats ([`Serializer`]).
//! - [`uri`]: URI validation rules and match policies.
//! - [`ids`]: id newtypes and generators.
//! - [`router`]: realms, sessions, broker, dealer, authentication hooks, meta API.
//! - [`monitor`]: what a database bridge reports (readiness, pool and call metrics) to the gateway.

pub mod codec;
pub mod error;
pub mod ids;
pub mod message;
pub mod monitor;
pub mod router;
pub mod uri;
pub mod value;

pub use codec::Serializer;
pub use error::ProtocolError;
pub use ids::{PublicationId, RegistrationId, RequestId, SessionId, SubscriptionId};
pub use message::{Message, Payload};
pub use value::{Dict, List, Value};
