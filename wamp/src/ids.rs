//! Identifier newtypes and their generators.
//!
//! WAMP ids are all integers in `[1, 2^53]`; giving each scope its own type keeps a subscription id
//! from ever being passed where a registration id belongs. Generation follows the spec's three
//! scopes: *global* (session and publication ids: random), *router* (registration and subscription
//! ids: unique within the router, here sequential), *session* (request ids: sequential per peer).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The largest id the spec allows: 2^53, so every id is exact in a JavaScript number.
pub const MAX_ID: u64 = 1 << 53;

macro_rules! id_type {
    ($($(#[$m:meta])* $name:ident),* $(,)?) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for crate::Value {
            fn from(id: $name) -> Self {
                crate::Value::from(id.0)
            }
        }
    )*};
}

id_type! {
    /// A session's id within the router (global scope, random).
    SessionId,
    /// A request id chosen by the peer that sends the request (session scope).
    RequestId,
    /// A registration's id (router scope).
    RegistrationId,
    /// A subscription's id (router scope).
    SubscriptionId,
    /// A publication's id (global scope, random).
    PublicationId,
}

/// A map keyed by ids the *router* chooses (session, registration, subscription and invocation
/// ids), looked up several times per routed message. SipHash's resistance to chosen keys buys
/// nothing for keys no peer picks, so these use foldhash (randomly seeded per process), which
/// is several times cheaper for integer keys. Maps keyed by peer-chosen request ids keep std's
/// hasher.
pub(crate) type IdMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A random id in `[1, 2^53]`, for the global scope.
pub fn random_id() -> u64 {
    rand::random_range(1..=MAX_ID)
}

/// Sequential ids in `[1, 2^53]`, wrapping back to 1: for the router and session scopes.
#[derive(Debug)]
pub struct IdSequence(AtomicU64);

impl IdSequence {
    pub const fn new() -> Self {
        IdSequence(AtomicU64::new(0))
    }

    pub fn next(&self) -> u64 {
        // fetch_update never fails with a closure that always returns Some.
        let prev = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(if v >= MAX_ID { 1 } else { v + 1 }))
            .unwrap_or_default();
        if prev >= MAX_ID { 1 } else { prev + 1 }
    }
}

impl Default for IdSequence {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_stay_in_range() {
        for _ in 0..10_000 {
            let id = random_id();
            assert!((1..=MAX_ID).contains(&id));
        }
    }

    #[test]
    fn sequence_starts_at_one_and_wraps() {
        let seq = IdSequence::new();
        assert_eq!(seq.next(), 1);
        assert_eq!(seq.next(), 2);
        let seq = IdSequence(AtomicU64::new(MAX_ID - 1));
        assert_eq!(seq.next(), MAX_ID);
        assert_eq!(seq.next(), 1);
    }
}
