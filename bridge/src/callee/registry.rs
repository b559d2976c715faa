//! Which catalog URIs are registered with the router, and the REGISTER/UNREGISTER traffic that
//! keeps them in line with the catalog.

use std::collections::HashMap;

use wamp::{dict, Message, RegistrationId, RequestId};

use crate::catalog::Catalog;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Entry {
    Registering(RequestId),
    Registered(RegistrationId),
}

/// The bridge session's registrations.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    by_uri: HashMap<String, Entry>,
    by_id: HashMap<RegistrationId, String>,
    registering: HashMap<RequestId, String>,
    next_request: u64,
}

impl Registry {
    fn request(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    /// REGISTER for every catalog URI not yet registered, UNREGISTER for every registered URI the
    /// catalog lost. A URI whose REGISTER is in flight is settled when REGISTERED arrives.
    pub(crate) fn sync(&mut self, catalog: &Catalog) -> Vec<Message> {
        let mut out = Vec::new();
        let new: Vec<String> = catalog.uris().filter(|u| !self.by_uri.contains_key(*u)).map(String::from).collect();
        for uri in new {
            let request = self.request();
            // Caller disclosure is what lets the procedure see `wamp.session`/`wamp.authid`/`wamp.authrole`;
            // this router decides it by the caller's role permission (`disclose_caller = true`).
            let options = dict! { "disclose_caller" => true };
            out.push(Message::Register { request, options, procedure: uri.clone() });
            self.registering.insert(request, uri.clone());
            self.by_uri.insert(uri, Entry::Registering(request));
        }
        let gone: Vec<(String, RegistrationId)> = self
            .by_uri
            .iter()
            .filter(|(u, _)| !catalog.contains(u))
            .filter_map(|(u, e)| match e {
                Entry::Registered(id) => Some((u.clone(), *id)),
                Entry::Registering(_) => None,
            })
            .collect();
        for (uri, registration) in gone {
            tracing::info!(procedure = %uri, "unregistering: gone from the catalog");
            self.by_uri.remove(&uri);
            self.by_id.remove(&registration);
            let request = self.request();
            out.push(Message::Unregister { request, registration });
        }
        out
    }

    /// REGISTERED: records it, or unregisters at once if the catalog lost the URI meanwhile.
    pub(crate) fn registered(&mut self, request: RequestId, registration: RegistrationId, catalog: &Catalog) -> Option<Message> {
        let uri = self.registering.remove(&request)?;
        if !catalog.contains(&uri) {
            self.by_uri.remove(&uri);
            let request = self.request();
            return Some(Message::Unregister { request, registration });
        }
        tracing::info!(procedure = %uri, registration = %registration, "registered");
        self.by_id.insert(registration, uri.clone());
        self.by_uri.insert(uri, Entry::Registered(registration));
        None
    }

    /// An ERROR for a REGISTER: forgets the URI so the next catalog change retries it.
    pub(crate) fn register_failed(&mut self, request: RequestId) -> Option<String> {
        let uri = self.registering.remove(&request)?;
        self.by_uri.remove(&uri);
        Some(uri)
    }

    /// The router revoked a registration (router-initiated UNREGISTERED).
    pub(crate) fn revoked(&mut self, registration: RegistrationId) {
        if let Some(uri) = self.by_id.remove(&registration) {
            self.by_uri.remove(&uri);
        }
    }

    /// The URI an INVOCATION's registration stands for.
    pub(crate) fn uri_of(&self, registration: RegistrationId) -> Option<&str> {
        self.by_id.get(&registration).map(String::as_str)
    }

    /// URIs currently registered.
    pub(crate) fn registered_count(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Exposure, Procedure, Returns, Volatility};

    fn catalog(names: &[&str]) -> Catalog {
        let procs = names
            .iter()
            .map(|n| Procedure { id: 1, schema: "s".into(), name: (*n).into(), params: vec![], returns: Returns::Void, volatility: Volatility::Volatile })
            .collect();
        Catalog::build(procs, &[Exposure { schema: "s".into(), prefix: "p".into() }])
    }

    #[test]
    fn follows_the_catalog() {
        let mut r = Registry::default();
        let c1 = catalog(&["a", "b"]);
        let out = r.sync(&c1);
        assert_eq!(out.len(), 2);
        let Message::Register { request, ref procedure, ref options } = out[0] else { panic!() };
        assert_eq!((procedure.as_str(), &options["disclose_caller"]), ("p.a", &wamp::Value::from(true)));
        assert_eq!(r.registered(request, RegistrationId(10), &c1), None);
        assert_eq!(r.uri_of(RegistrationId(10)), Some("p.a"));
        let Message::Register { request: rb, .. } = out[1] else { panic!() };
        // b disappears before its REGISTERED arrives: unregistered right away.
        let c2 = catalog(&["a", "c"]);
        let out = r.sync(&c2);
        assert!(matches!(&out[..], [Message::Register { procedure, .. }] if procedure == "p.c"));
        assert!(matches!(r.registered(rb, RegistrationId(11), &c2), Some(Message::Unregister { registration: RegistrationId(11), .. })));
        // a disappears: UNREGISTER.
        let out = r.sync(&catalog(&["c"]));
        assert!(matches!(&out[..], [Message::Unregister { registration: RegistrationId(10), .. }]));
        assert_eq!(r.uri_of(RegistrationId(10)), None);
        assert_eq!(r.registered_count(), 0);
    }

    #[test]
    fn failed_registrations_are_retried_on_the_next_sync() {
        let mut r = Registry::default();
        let c = catalog(&["a"]);
        let Message::Register { request, .. } = r.sync(&c).remove(0) else { panic!() };
        assert_eq!(r.register_failed(request).as_deref(), Some("p.a"));
        assert_eq!(r.sync(&c).len(), 1);
    }
}
