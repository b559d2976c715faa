//! The broker: subscriptions and event delivery.
//!
//! Supports pattern-based subscriptions, publisher exclusion and identification, subscriber
//! black/white listing and event retention. An EVENT is built once per matching subscription and
//! shared by all its subscribers as one [`Outgoing`]: its bytes are encoded once per serializer,
//! not once per subscriber.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use indexmap::IndexSet;

use crate::ids::{random_id, IdMap, PublicationId, RequestId, SessionId, SubscriptionId};
use crate::message::{code, Message, Payload};
use crate::router::matching::PatternTable;
use crate::router::observe::TraceContext;
use crate::router::outbox::{Mailbox, Outgoing};
use crate::router::realm::{opt_bool, opt_match, Action, Peer, Realm, Reject, State};
use crate::uri::MatchPolicy;
use crate::value::{Dict, Value};

/// One subscription: a topic under a match policy, and its subscribers.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) id: SubscriptionId,
    pub(crate) uri: String,
    pub(crate) policy: MatchPolicy,
    pub(crate) created: SystemTime,
    pub(crate) subscribers: IndexSet<SessionId>,
}

/// The last retained event of a topic.
#[derive(Debug, Clone)]
struct Retained {
    publication: PublicationId,
    payload: Payload,
    /// Publisher details to disclose, if the publication disclosed them.
    publisher: Dict,
}

/// The broker's tables.
#[derive(Default)]
pub(crate) struct Broker {
    pub(crate) subscriptions: IdMap<SubscriptionId, Subscription>,
    pub(crate) by_uri: PatternTable<SubscriptionId>,
    retained: HashMap<String, Retained>,
}

impl Broker {
    /// Whether any subscription would receive an event on `topic`.
    pub(crate) fn has_subscribers(&self, topic: &str) -> bool {
        !self.by_uri.is_empty() && self.by_uri.all(topic).next().is_some()
    }
}

/// Who published, for exclusion and black/white listing.
struct Publisher<'a> {
    id: Option<SessionId>,
    exclude_me: bool,
    options: &'a Dict,
}

impl State {
    pub(crate) fn subscribe(
        &mut self,
        realm: &Arc<Realm>,
        from: SessionId,
        request: RequestId,
        options: &Dict,
        topic: String,
    ) {
        match self.try_subscribe(realm, from, options, &topic) {
            Ok(subscription) => {
                self.send(from, Message::Subscribed { request, subscription });
                if opt_bool(options, "get_retained", false) {
                    self.send_retained(from, subscription);
                }
            }
            Err(reject) => self.reply_error(from, code::SUBSCRIBE, request, reject),
        }
    }

    fn try_subscribe(
        &mut self,
        realm: &Arc<Realm>,
        from: SessionId,
        options: &Dict,
        topic: &str,
    ) -> Result<SubscriptionId, Reject> {
        let policy = opt_match(options)?;
        realm.check_uri(topic, policy)?;
        self.authorize(from, topic, Action::Subscribe)?;
        let id = match self.broker.by_uri.get(topic, policy) {
            Some(&id) => id,
            None => {
                let id = SubscriptionId(realm.ids.next());
                let sub = Subscription {
                    id,
                    uri: topic.to_owned(),
                    policy,
                    created: SystemTime::now(),
                    subscribers: IndexSet::new(),
                };
                let created = subscription_details(&sub);
                self.broker.subscriptions.insert(id, sub);
                self.broker.by_uri.insert(topic, policy, id);
                self.meta_event("wamp.subscription.on_create", vec![from.into(), created.into()]);
                id
            }
        };
        let sub = self.broker.subscriptions.get_mut(&id).expect("created or found above");
        if sub.subscribers.insert(from) {
            self.sessions.get_mut(&from).map(|p| p.subscriptions.insert(id));
            self.meta_event("wamp.subscription.on_subscribe", vec![from.into(), id.into()]);
        }
        Ok(id)
    }

    pub(crate) fn unsubscribe(
        &mut self,
        from: SessionId,
        request: RequestId,
        subscription: SubscriptionId,
    ) {
        if self.remove_subscriber(from, subscription) {
            self.send(from, Message::Unsubscribed { request, details: None });
        } else {
            let reject = Reject::new("wamp.error.no_such_subscription", format!("no subscription {subscription}"));
            self.reply_error(from, code::UNSUBSCRIBE, request, reject);
        }
    }

    pub(crate) fn remove_subscriber(&mut self, session: SessionId, id: SubscriptionId) -> bool {
        let Some(sub) = self.broker.subscriptions.get_mut(&id) else { return false };
        if !sub.subscribers.shift_remove(&session) {
            return false;
        }
        let now_empty = sub.subscribers.is_empty();
        if let Some(p) = self.sessions.get_mut(&session) {
            p.subscriptions.remove(&id);
        }
        self.meta_event("wamp.subscription.on_unsubscribe", vec![session.into(), id.into()]);
        if now_empty {
            let sub = self.broker.subscriptions.remove(&id).expect("checked above");
            self.broker.by_uri.remove(&sub.uri, sub.policy);
            self.meta_event("wamp.subscription.on_delete", vec![session.into(), id.into()]);
        }
        true
    }

    /// Removes a departing session from its subscriptions.
    pub(crate) fn drop_subscriptions(&mut self, peer: &Peer) {
        for &id in &peer.subscriptions {
            self.remove_subscriber(peer.id, id);
        }
    }

    pub(crate) fn publish(
        &mut self,
        realm: &Arc<Realm>,
        from: SessionId,
        request: RequestId,
        options: &Dict,
        topic: String,
        payload: Payload,
    ) {
        let acknowledge = opt_bool(options, "acknowledge", false);
        let checked = realm
            .check_uri(&topic, MatchPolicy::Exact)
            .and_then(|()| {
                if crate::uri::is_reserved(&topic) {
                    Err(Reject::new("wamp.error.invalid_uri", format!("'{topic}' is reserved for the router")))
                } else {
                    Ok(())
                }
            })
            .and_then(|()| self.authorize(from, &topic, Action::Publish).map(|p| p.disclose_publisher));
        let disclose = match checked {
            Ok(d) => d || opt_bool(options, "disclose_me", false),
            Err(reject) => {
                // Without acknowledge the spec gives a publisher no reply at all.
                if acknowledge {
                    self.reply_error(from, code::PUBLISH, request, reject);
                }
                return;
            }
        };
        let mut publisher = Dict::new();
        if disclose {
            if let Some(p) = self.sessions.get(&from) {
                publisher.insert("publisher".into(), from.into());
                publisher.insert("publisher_authid".into(), p.identity.authid.clone().into());
                publisher.insert("publisher_authrole".into(), p.identity.authrole.clone().into());
            }
        }
        // Custom attributes (`_name`, per the spec's extension rule) travel from PUBLISH options to
        // EVENT details: database bridges put the outbox event id there for deduplication.
        for (k, v) in options.iter().filter(|(k, _)| is_custom_attribute(k)) {
            publisher.insert(k.clone(), v.clone());
        }
        let who = Publisher { id: Some(from), exclude_me: opt_bool(options, "exclude_me", true), options };
        let publication = self.deliver(realm, &topic, &payload, &publisher, &who, options);
        if opt_bool(options, "retain", false) {
            self.broker.retained.insert(topic, Retained { publication, payload, publisher });
        }
        if acknowledge {
            self.send(from, Message::Published { request, publication });
        }
    }

    /// Publishes on behalf of the router (meta events, testaments).
    pub(crate) fn publish_internal(&mut self, realm: &Realm, topic: &str, payload: Payload, options: &Dict) {
        let who = Publisher { id: None, exclude_me: false, options };
        let publication = self.deliver(realm, topic, &payload, &Dict::new(), &who, options);
        if opt_bool(options, "retain", false) {
            self.broker.retained.insert(topic.to_owned(), Retained { publication, payload, publisher: Dict::new() });
        }
    }

    /// Sends one EVENT per matching subscription to its eligible subscribers.
    fn deliver(
        &self,
        realm: &Realm,
        topic: &str,
        payload: &Payload,
        publisher: &Dict,
        who: &Publisher<'_>,
        options: &Dict,
    ) -> PublicationId {
        let context = TraceContext::from_options(who.options);
        let observation = realm.observer.publishing(realm.name(), topic, who.id, &context);
        let forward = observation.as_ref().map(|o| o.forward()).filter(|f| !f.is_empty()).unwrap_or(context);
        let mut deliveries = 0;
        let publication = self.deliver_to(topic, payload, publisher, &forward, who, options, |peer, out| {
            peer.mailbox.send(out);
            deliveries += 1;
        });
        if let Some(o) = observation {
            o.finish(deliveries);
        }
        publication
    }

    /// Builds the EVENTs of a publication and hands each (recipient, event) to `emit`.
    #[allow(clippy::too_many_arguments)] // one private helper; a struct would only rename them
    fn deliver_to(
        &self,
        topic: &str,
        payload: &Payload,
        publisher: &Dict,
        context: &TraceContext,
        who: &Publisher<'_>,
        options: &Dict,
        mut emit: impl FnMut(&Peer, Outgoing),
    ) -> PublicationId {
        let publication = PublicationId(random_id());
        let filter = Filter::new(options);
        for (&sub_id, policy) in self.broker.by_uri.all(topic) {
            let sub = &self.broker.subscriptions[&sub_id];
            let mut event: Option<Outgoing> = None;
            for sid in &sub.subscribers {
                if who.exclude_me && who.id == Some(*sid) {
                    continue;
                }
                let Some(peer) = self.sessions.get(sid) else { continue };
                if !filter.admits(peer) {
                    continue;
                }
                let out = event.get_or_insert_with(|| {
                    let mut details = publisher.clone();
                    if policy != MatchPolicy::Exact {
                        details.insert("topic".into(), topic.into());
                    }
                    context.write_to(&mut details);
                    Outgoing::new(Message::Event {
                        subscription: sub_id,
                        publication,
                        details,
                        payload: payload.clone(),
                    })
                });
                emit(peer, out.clone());
            }
        }
        publication
    }

    /// Builds a router meta event for the subscribers of `topic` as they are now, for sending later.
    pub(crate) fn meta_deliveries(&self, topic: &str, args: crate::value::List) -> Vec<(Mailbox, Outgoing)> {
        let mut out = Vec::new();
        let (payload, none) = (Payload::args(args), Dict::new());
        let who = Publisher { id: None, exclude_me: false, options: &none };
        let context = TraceContext::default();
        self.deliver_to(topic, &payload, &none, &context, &who, &none, |peer, ev| out.push((peer.mailbox.clone(), ev)));
        out
    }

    /// Sends a new subscriber the retained events its subscription covers.
    fn send_retained(&self, to: SessionId, id: SubscriptionId) {
        let Some(sub) = self.broker.subscriptions.get(&id) else { return };
        let mut table = PatternTable::default();
        table.insert(&sub.uri, sub.policy, ());
        for (topic, r) in &self.broker.retained {
            if table.all(topic).next().is_none() {
                continue;
            }
            let mut details = r.publisher.clone();
            details.insert("retained".into(), true.into());
            if sub.policy != MatchPolicy::Exact {
                details.insert("topic".into(), topic.clone().into());
            }
            let event = Message::Event { subscription: id, publication: r.publication, details, payload: r.payload.clone() };
            self.send(to, event);
        }
    }
}

/// `_` followed by at least three of `[a-z0-9_]`: the WAMP spec's form for implementation-specific keys.
fn is_custom_attribute(key: &str) -> bool {
    key.strip_prefix('_').is_some_and(|rest| rest.len() >= 3 && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
}

/// Subscriber black/white listing from PUBLISH options.
struct Filter {
    exclude: Vec<u64>,
    exclude_authid: Vec<String>,
    exclude_authrole: Vec<String>,
    eligible: Option<Vec<u64>>,
    eligible_authid: Option<Vec<String>>,
    eligible_authrole: Option<Vec<String>>,
}

impl Filter {
    fn new(options: &Dict) -> Self {
        let ids = |k: &str| options.get(k).and_then(Value::as_list).map(|l| l.iter().filter_map(Value::as_u64).collect());
        let strs = |k: &str| {
            options.get(k).and_then(Value::as_list).map(|l| l.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        };
        Filter {
            exclude: ids("exclude").unwrap_or_default(),
            exclude_authid: strs("exclude_authid").unwrap_or_default(),
            exclude_authrole: strs("exclude_authrole").unwrap_or_default(),
            eligible: ids("eligible"),
            eligible_authid: strs("eligible_authid"),
            eligible_authrole: strs("eligible_authrole"),
        }
    }

    fn admits(&self, peer: &Peer) -> bool {
        let (id, authid, authrole) = (peer.id.0, &peer.identity.authid, &peer.identity.authrole);
        !self.exclude.contains(&id)
            && !self.exclude_authid.contains(authid)
            && !self.exclude_authrole.contains(authrole)
            && self.eligible.as_ref().is_none_or(|e| e.contains(&id))
            && self.eligible_authid.as_ref().is_none_or(|e| e.contains(authid))
            && self.eligible_authrole.as_ref().is_none_or(|e| e.contains(authrole))
    }
}

/// The meta API's view of a subscription.
pub(crate) fn subscription_details(sub: &Subscription) -> Dict {
    crate::dict! {
        "id" => sub.id,
        "created" => crate::router::realm::iso8601(sub.created),
        "uri" => sub.uri.clone(),
        "match" => sub.policy.name(),
    }
}
