//! A realm: its sessions and routing tables, owned behind one mutex.
//!
//! Every operation locks the state, updates it, and queues resulting messages into the target
//! sessions' bounded mailboxes without waiting (see [`Mailbox::send`]); nothing awaits under the
//! lock. The broker and dealer halves live in `broker.rs` and `dealer.rs` as `impl State` blocks so
//! they can reach the session table directly; the meta API lives in `meta.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::{Mutex, MutexGuard};

use crate::ids::{random_id, IdMap, IdSequence, RegistrationId, RequestId, SessionId, SubscriptionId};
use crate::message::{code, Message, Payload};
use crate::router::auth::Identity;
use crate::router::broker::Broker;
use crate::router::config::{Permission, RealmConfig};
use crate::router::dealer::Dealer;
use crate::router::matching::PatternTable;
use crate::router::outbox::{Batch, CloseReason, Mailbox, Outgoing};
use crate::router::observe::Observer;
use crate::router::session::TransportInfo;
use crate::uri::{self, MatchPolicy, UriRules};
use crate::value::{Dict, List, Value};

/// What a realm holds right now: for monitoring, and for tests that check nothing leaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RealmStats {
    pub sessions: usize,
    pub registrations: usize,
    pub subscriptions: usize,
    pub pending_calls: usize,
}

/// An action a permission can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Action {
    Call,
    Register,
    Publish,
    Subscribe,
}

impl Action {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Register => "register",
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }
}

/// A role's permissions, indexed for most-specific-match lookup.
#[derive(Debug, Default)]
pub(crate) struct Role {
    permissions: PatternTable<Permission>,
    /// The dynamic authorizer procedure, if the role has one.
    pub(crate) authorizer: Option<String>,
}

/// A dynamic authorizer's answer for one (session, URI, action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allow: bool,
    pub disclose: bool,
    pub cache: bool,
}

impl Role {
    /// The permission that governs `uri`: exact > longest prefix > wildcard; none means denied.
    pub(crate) fn permission(&self, uri: &str) -> Option<&Permission> {
        self.permissions.best(uri).map(|(p, _)| p)
    }
}

/// A realm.
pub(crate) struct Realm {
    name: String,
    uri_rules: UriRules,
    roles: HashMap<String, Arc<Role>>,
    /// The allow-all role of router-internal in-process sessions (see [`crate::router::caller`]).
    trusted: Arc<Role>,
    /// Router-scope ids for registrations and subscriptions.
    pub(crate) ids: IdSequence,
    /// Telemetry's view of this realm.
    pub(crate) observer: Arc<dyn Observer>,
    state: Mutex<State>,
}

/// The locked routing state. The lock is released before the sessions that were sent messages
/// under it are woken: fields drop in order, the guard first.
pub(crate) struct Locked<'a> {
    state: MutexGuard<'a, State>,
    _batch: Batch,
}

impl std::ops::Deref for Locked<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.state
    }
}

/// Everything the realm routes with.
pub(crate) struct State {
    pub(crate) sessions: IdMap<SessionId, Peer>,
    pub(crate) broker: Broker,
    pub(crate) dealer: Dealer,
    /// A dynamic authorizer's decision for the message being routed right now. Set and cleared
    /// by [`Realm::handle`] under the same lock, so it can only apply to that one message.
    decision: Option<Decision>,
    /// Meta events raised while handling one message, published after its replies went out (a
    /// session subscribing to `wamp.subscription.on_subscribe` must see SUBSCRIBED first).
    meta_queue: Vec<(Mailbox, Outgoing)>,
}

/// Features a peer announced in HELLO that change how the router talks to it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Features {
    pub(crate) callee_canceling: bool,
    pub(crate) callee_progress: bool,
    /// The peer takes a router-initiated UNREGISTERED (registration revocation,
    /// `wamp.registration.remove_callee`).
    pub(crate) registration_revocation: bool,
}

/// A joined session, as the realm sees it.
pub(crate) struct Peer {
    pub(crate) id: SessionId,
    pub(crate) identity: Identity,
    pub(crate) transport: TransportInfo,
    pub(crate) mailbox: Mailbox,
    pub(crate) role: Arc<Role>,
    pub(crate) features: Features,
    /// Session-scope ids for the INVOCATIONs this router sends to the peer.
    pub(crate) next_invocation: u64,
    pub(crate) subscriptions: HashSet<SubscriptionId>,
    pub(crate) registrations: HashSet<RegistrationId>,
    /// Events to publish when the session leaves (meta API testaments).
    pub(crate) testaments: Vec<Testament>,
}

/// An event a session asked the router to publish when it leaves.
#[derive(Debug, Clone)]
pub(crate) struct Testament {
    /// `destroyed` or `detached`; without session resumption both are published on leave, but
    /// `wamp.session.flush_testaments` removes them by scope.
    pub(crate) scope: String,
    pub(crate) topic: String,
    pub(crate) payload: Payload,
    pub(crate) options: Dict,
}

impl Peer {
    /// The next INVOCATION request id for this peer (session scope, sequential).
    pub(crate) fn next_invocation_id(&mut self) -> RequestId {
        self.next_invocation = if self.next_invocation >= crate::ids::MAX_ID { 1 } else { self.next_invocation + 1 };
        RequestId(self.next_invocation)
    }

    pub(crate) fn send(&self, msg: Message) -> bool {
        self.mailbox.send(Outgoing::new(msg))
    }

    /// The session's details as the meta API and `on_join` present them.
    pub(crate) fn details(&self) -> Dict {
        let transport = self.transport.details();
        crate::dict! {
            "session" => self.id,
            "authid" => self.identity.authid.clone(),
            "authrole" => self.identity.authrole.clone(),
            "authmethod" => self.identity.authmethod.clone(),
            "authprovider" => self.identity.authprovider.clone(),
            "authextra" => self.identity.authextra.clone(),
            "transport" => transport,
        }
    }
}

/// An error reply to a request: URI plus a human-readable message (sent as the first argument).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reject {
    pub(crate) uri: String,
    pub(crate) payload: Payload,
}

impl Reject {
    pub(crate) fn new(uri: &str, message: impl Into<String>) -> Self {
        Reject { uri: uri.into(), payload: Payload::args(vec![Value::Str(message.into())]) }
    }
}

impl Realm {
    pub(crate) fn new(config: RealmConfig, uri_rules: UriRules, observer: Arc<dyn Observer>) -> Self {
        let roles = config
            .roles
            .into_iter()
            .map(|r| {
                let mut role = Role { authorizer: r.authorizer, ..Role::default() };
                for p in r.permissions {
                    let (uri, policy) = (p.uri.clone(), p.match_);
                    role.permissions.insert(&uri, policy, p);
                }
                (r.name, Arc::new(role))
            })
            .collect();
        let mut trusted = Role::default();
        trusted.permissions.insert("", MatchPolicy::Prefix, Permission::allow_all(""));
        Realm {
            name: config.name,
            uri_rules,
            roles,
            trusted: Arc::new(trusted),
            observer,
            ids: IdSequence::new(),
            state: Mutex::new(State {
                sessions: IdMap::default(),
                broker: Broker::default(),
                dealer: Dealer::default(),
                decision: None,
                meta_queue: Vec::new(),
            }),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn uri_rules(&self) -> UriRules {
        self.uri_rules
    }

    /// Locks the routing state. Held only for in-memory updates; the messages sent under it are
    /// queued at once and their sessions woken when it is released (see [`Batch`]).
    ///
    /// parking_lot's mutex rather than std's: every message of every session takes this lock, and
    /// when two workers meet on it std's parks the second in the kernel after a short spin, where
    /// parking_lot spins and yields longer (on two shared cores: 269–276k → 286–291k routed
    /// calls/s, see bench/README.md).
    /// It does not poison: a panic under it (a bug; peer input is checked before routing) ends the
    /// task that hit it and unlocks the realm, where std's would fail every later message.
    pub(crate) fn lock(&self) -> Locked<'_> {
        let batch = Batch::begin();
        Locked { state: self.state.lock(), _batch: batch }
    }

    /// Adds a session with `identity`, queues its WELCOME and announces it on `wamp.session.on_join`.
    /// The session gets `proposed` as its id (the one a challenge announced) unless another has it.
    pub(crate) fn join(
        self: &Arc<Self>,
        proposed: SessionId,
        identity: Identity,
        hello: &Dict,
        transport: TransportInfo,
        mailbox: Mailbox,
    ) -> Result<(SessionId, Option<String>), (&'static str, String)> {
        let builtin = (transport.kind == "local" && identity.authrole == crate::router::caller::TRUSTED_ROLE)
            .then(|| self.trusted.clone());
        let Some(role) = self.roles.get(&identity.authrole).cloned().or(builtin) else {
            return Err((
                "wamp.error.no_such_role",
                format!("role '{}' is not defined in realm '{}'", identity.authrole, self.name),
            ));
        };
        let features = announced_features(hello);
        let authorizer = role.authorizer.clone();
        let mut st = self.lock();
        let mut id = proposed;
        while st.sessions.contains_key(&id) {
            id = SessionId(random_id());
        }
        let mut details = crate::dict! {
            "realm" => self.name.clone(),
            "authid" => identity.authid.clone(),
            "authrole" => identity.authrole.clone(),
            "authmethod" => identity.authmethod.clone(),
            "authprovider" => identity.authprovider.clone(),
            "roles" => router_roles(),
        };
        if !identity.authextra.is_empty() {
            details.insert("authextra".into(), identity.authextra.clone().into());
        }
        mailbox.send(Outgoing::new(Message::Welcome { session: id, details }));
        let peer = Peer {
            id,
            identity,
            transport,
            mailbox,
            role,
            features,
            next_invocation: 0,
            subscriptions: HashSet::new(),
            registrations: HashSet::new(),
            testaments: Vec::new(),
        };
        let on_join = peer.details();
        self.observer.session_joined(&self.name, &peer.transport);
        st.sessions.insert(id, peer);
        st.meta_event("wamp.session.on_join", vec![on_join.into()]);
        st.flush_meta();
        tracing::debug!(session = %id, realm = %self.name, "session joined");
        Ok((id, authorizer))
    }

    /// Removes a session and everything it owned: subscriptions, registrations, pending calls.
    pub(crate) fn leave(self: &Arc<Self>, id: SessionId) {
        let mut st = self.lock();
        let Some(peer) = st.sessions.remove(&id) else { return };
        self.observer.session_left(&self.name, &peer.transport);
        st.drop_subscriptions(&peer);
        st.drop_registrations(&peer);
        st.drop_calls(id);
        for t in &peer.testaments {
            st.publish_internal(self, &t.topic, t.payload.clone(), &t.options);
        }
        let leave_args = vec![
            Value::from(id),
            peer.identity.authid.clone().into(),
            peer.identity.authrole.clone().into(),
        ];
        st.meta_event("wamp.session.on_leave", leave_args);
        st.flush_meta();
        tracing::debug!(session = %id, realm = %self.name, "session left");
    }

    /// Routes one message from an established session. `Err` is a protocol violation that ends it.
    pub(crate) fn handle(
        self: &Arc<Self>,
        from: SessionId,
        msg: Message,
        decision: Option<Decision>,
    ) -> Result<(), String> {
        let mut st = self.lock();
        if !st.sessions.contains_key(&from) {
            return Ok(()); // already removed (killed); the transport is closing it
        }
        st.decision = decision;
        let result = st.dispatch(self, from, msg);
        st.decision = None;
        st.flush_meta();
        result
    }

    /// The session's details (as `wamp.session.get` shows them), if it is joined.
    pub(crate) fn session_details(&self, id: SessionId) -> Option<Dict> {
        self.lock().sessions.get(&id).map(Peer::details)
    }

    /// Asks every session to close.
    pub(crate) fn close_all(&self, reason: CloseReason) {
        for peer in self.lock().sessions.values() {
            peer.mailbox.close(reason.clone());
        }
    }

    pub(crate) fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    pub(crate) fn stats(&self) -> RealmStats {
        let st = self.lock();
        RealmStats {
            sessions: st.sessions.len(),
            registrations: st.dealer.registrations.len(),
            subscriptions: st.broker.subscriptions.len(),
            pending_calls: st.dealer.pending(),
        }
    }

    /// Validates a URI a peer sent, under this realm's rules and the given match policy.
    pub(crate) fn check_uri(&self, uri: &str, policy: MatchPolicy) -> Result<(), Reject> {
        if uri::is_valid(uri, self.uri_rules, policy) {
            Ok(())
        } else {
            Err(Reject::new("wamp.error.invalid_uri", format!("invalid URI '{uri}' for {} match", policy.name())))
        }
    }
}

impl State {
    fn dispatch(&mut self, realm: &Arc<Realm>, from: SessionId, msg: Message) -> Result<(), String> {
        match msg {
            Message::Subscribe { request, options, topic } => self.subscribe(realm, from, request, &options, topic),
            Message::Unsubscribe { request, subscription } => self.unsubscribe(from, request, subscription),
            Message::Publish { request, options, topic, payload } => {
                self.publish(realm, from, request, &options, topic, payload);
            }
            Message::Register { request, options, procedure } => {
                self.register(realm, from, request, &options, procedure);
            }
            Message::Unregister { request, registration } => self.unregister(from, request, registration),
            Message::Call { request, options, procedure, payload } => {
                self.call(realm, from, request, options, procedure, payload);
            }
            Message::Cancel { request, options } => self.cancel(from, request, &options),
            Message::Yield { request, options, payload } => self.yield_(from, request, &options, payload),
            Message::Error { request_type: code::INVOCATION, request, details, error, payload } => {
                self.invocation_error(from, request, details, error, payload);
            }
            Message::Error { request_type, .. } => {
                return Err(format!("ERROR for request type {request_type} is not allowed from a client"));
            }
            other => return Err(format!("{} is not allowed in an established session", other.name())),
        }
        Ok(())
    }

    /// Whether `session` may perform `action` on `uri`, and the permission that decided it.
    pub(crate) fn authorize(&self, session: SessionId, uri: &str, action: Action) -> Result<&Permission, Reject> {
        let denied = || {
            Reject::new(
                "wamp.error.not_authorized",
                format!("session is not authorized to {} '{uri}'", action.name()),
            )
        };
        let peer = self.sessions.get(&session).ok_or_else(denied)?;
        if peer.role.authorizer.is_some() {
            // The session layer asked the dynamic authorizer before routing this message.
            return match self.decision {
                Some(d) if d.allow => Ok(if d.disclose { &DISCLOSE } else { &NO_DISCLOSE }),
                _ => Err(denied()),
            };
        }
        let perm = peer.role.permission(uri).ok_or_else(denied)?;
        let allowed = match action {
            Action::Call => perm.call,
            Action::Register => perm.register,
            Action::Publish => perm.publish,
            Action::Subscribe => perm.subscribe,
        };
        if allowed {
            Ok(perm)
        } else {
            Err(denied())
        }
    }

    /// Sends an ERROR reply for a request.
    pub(crate) fn reply_error(&self, to: SessionId, request_type: u64, request: RequestId, reject: Reject) {
        if let Some(peer) = self.sessions.get(&to) {
            peer.send(Message::Error {
                request_type,
                request,
                details: Dict::new(),
                error: reject.uri,
                payload: reject.payload,
            });
        }
    }

    pub(crate) fn send(&self, to: SessionId, msg: Message) -> bool {
        self.sessions.get(&to).is_some_and(|p| p.send(msg))
    }

    /// Raises a meta event from the router itself (no publisher, no exclusions): its recipients
    /// are the subscribers of this moment, but it is sent by `flush_meta`, after the replies.
    pub(crate) fn meta_event(&mut self, topic: &'static str, args: List) {
        if self.broker.has_subscribers(topic) {
            let deliveries = self.meta_deliveries(topic, args);
            self.meta_queue.extend(deliveries);
        }
    }

    /// Sends the queued meta events, in the order they were raised.
    fn flush_meta(&mut self) {
        for (mailbox, event) in self.meta_queue.drain(..) {
            mailbox.send(event);
        }
    }
}

/// What a dynamic authorizer's allow grants, as a permission (disclosure included or not).
static DISCLOSE: Permission = Permission::everything(true);
static NO_DISCLOSE: Permission = Permission::everything(false);

/// The roles and features this router announces in WELCOME.
fn router_roles() -> Dict {
    let broker = crate::dict! {
        "pattern_based_subscription" => true,
        "publisher_exclusion" => true,
        "publisher_identification" => true,
        "subscriber_blackwhite_listing" => true,
        "event_retention" => true,
        "subscription_meta_api" => true,
        "session_meta_api" => true,
        "testament_meta_api" => true,
    };
    let dealer = crate::dict! {
        "progressive_call_results" => true,
        "call_canceling" => true,
        "call_timeout" => true,
        "caller_identification" => true,
        "shared_registration" => true,
        "pattern_based_registration" => true,
        "registration_meta_api" => true,
        "registration_revocation" => true,
        "session_meta_api" => true,
        "testament_meta_api" => true,
    };
    crate::dict! {
        "broker" => crate::dict! { "features" => broker },
        "dealer" => crate::dict! { "features" => dealer },
    }
}

/// Reads the callee features from HELLO.Details.roles that change how invocations are sent.
fn announced_features(hello: &Dict) -> Features {
    let callee = hello
        .get("roles")
        .and_then(Value::as_dict)
        .and_then(|r| r.get("callee"))
        .and_then(Value::as_dict)
        .and_then(|c| c.get("features"))
        .and_then(Value::as_dict);
    let flag = |name: &str| callee.and_then(|f| f.get(name)).and_then(Value::as_bool).unwrap_or(false);
    Features {
        callee_canceling: flag("call_canceling"),
        callee_progress: flag("progressive_call_results"),
        registration_revocation: flag("registration_revocation"),
    }
}

/// Reads a boolean option, defaulting when absent or not a boolean.
pub(crate) fn opt_bool(options: &Dict, key: &str, default: bool) -> bool {
    options.get(key).and_then(Value::as_bool).unwrap_or(default)
}

/// Reads a match policy option (`match`), defaulting to exact.
pub(crate) fn opt_match(options: &Dict) -> Result<MatchPolicy, Reject> {
    match options.get("match") {
        None => Ok(MatchPolicy::Exact),
        Some(v) => v.as_str().and_then(MatchPolicy::from_name).ok_or_else(|| {
            Reject::new("wamp.error.invalid_argument", "option 'match' must be 'exact', 'prefix' or 'wildcard'")
        }),
    }
}

/// The current time as an ISO 8601 UTC string (for meta API `created` fields).
pub(crate) fn iso8601(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let (ms, s) = ((secs % 1000) as u64, (secs / 1000) as i64);
    let (days, rem) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn iso8601_formats_known_instants() {
        assert_eq!(iso8601(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        assert_eq!(iso8601(t), "2026-11-18T11:06:40.123Z");
    }
}
