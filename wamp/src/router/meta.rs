//! The meta API: router-provided `wamp.session.*`, `wamp.registration.*` and `wamp.subscription.*`
//! procedures (meta topics are published from the broker and dealer as things change).
//!
//! Results follow the spec and Crossbar's documented shapes, e.g. `wamp.registration.list` returns
//! `{"exact": [...], "prefix": [...], "wildcard": [...]}`. Beyond the spec, as Crossbar has them:
//! `wamp.registration.remove_callee(registration, callee, reason?)` (the callee gets a
//! router-initiated UNREGISTERED when it announced `registration_revocation`) and
//! `wamp.subscription.remove_subscriber(subscription, subscriber, reason?)` (see there why the
//! subscriber is not told).

use std::sync::Arc;

use crate::ids::{RegistrationId, RequestId, SessionId, SubscriptionId};
use crate::message::{Message, Payload};
use crate::router::broker::subscription_details;
use crate::router::dealer::registration_details;
use crate::router::outbox::CloseReason;
use crate::router::realm::{Realm, Reject, State, Testament};
use crate::uri::{self, MatchPolicy};
use crate::value::{Dict, List, Value};

/// Positional and keyword arguments of a meta call, with typed accessors that reject bad input.
struct Args {
    args: List,
    kwargs: Dict,
}

impl Args {
    fn arg(&self, i: usize, name: &str) -> Result<&Value, Reject> {
        self.args.get(i).or_else(|| self.kwargs.get(name)).ok_or_else(|| {
            Reject::new("wamp.error.invalid_argument", format!("missing argument {} '{name}'", i + 1))
        })
    }

    fn id(&self, i: usize, name: &str) -> Result<u64, Reject> {
        let v = self.arg(i, name)?;
        v.as_u64().ok_or_else(|| invalid(name, "an integer id", v))
    }

    fn string(&self, i: usize, name: &str) -> Result<&str, Reject> {
        let v = self.arg(i, name)?;
        v.as_str().ok_or_else(|| invalid(name, "a string", v))
    }

    fn opt_str(&self, name: &str) -> Result<Option<&str>, Reject> {
        match self.kwargs.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(v) => Err(invalid(name, "a string", v)),
        }
    }

    /// An optional list of strings given positionally or by name (e.g. `filter_authroles`).
    fn opt_strings(&self, i: usize, name: &str) -> Result<Option<Vec<String>>, Reject> {
        match self.args.get(i).or_else(|| self.kwargs.get(name)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::List(l)) => Ok(Some(l.iter().filter_map(|v| v.as_str().map(String::from)).collect())),
            Some(v) => Err(invalid(name, "a list of strings", v)),
        }
    }
}

fn invalid(name: &str, expected: &str, got: &Value) -> Reject {
    Reject::new("wamp.error.invalid_argument", format!("argument '{name}' must be {expected}, not {}", got.type_name()))
}

fn one(v: impl Into<Value>) -> Payload {
    Payload::args(vec![v.into()])
}

fn ids<T: Into<Value> + Copy>(items: impl IntoIterator<Item = T>) -> Value {
    Value::List(items.into_iter().map(Into::into).collect())
}

impl State {
    /// Runs a `wamp.*` meta procedure for `caller`.
    pub(crate) fn meta_call(
        &mut self,
        realm: &Arc<Realm>,
        caller: SessionId,
        procedure: &str,
        payload: Payload,
    ) -> Result<Payload, Reject> {
        let a = Args { args: payload.args.unwrap_or_default(), kwargs: payload.kwargs.unwrap_or_default() };
        match procedure {
            "wamp.session.count" => {
                let roles = a.opt_strings(0, "filter_authroles")?;
                Ok(one(self.sessions_with_roles(roles.as_deref()).len()))
            }
            "wamp.session.list" => {
                let roles = a.opt_strings(0, "filter_authroles")?;
                Ok(one(ids(self.sessions_with_roles(roles.as_deref()))))
            }
            "wamp.session.get" => {
                let id = SessionId(a.id(0, "session")?);
                let peer = self.sessions.get(&id).ok_or_else(|| no_such_session(id))?;
                Ok(one(peer.details()))
            }
            "wamp.session.kill" => {
                let id = SessionId(a.id(0, "session")?);
                let reason = kill_reason(realm, &a)?;
                match self.sessions.get(&id) {
                    Some(peer) if id != caller => {
                        peer.mailbox.close(reason);
                        Ok(Payload::default())
                    }
                    _ => Err(no_such_session(id)),
                }
            }
            "wamp.session.kill_by_authid" | "wamp.session.kill_by_authrole" | "wamp.session.kill_all" => {
                let (by_role, wanted) = match procedure {
                    "wamp.session.kill_by_authid" => (false, Some(a.string(0, "authid")?.to_owned())),
                    "wamp.session.kill_by_authrole" => (true, Some(a.string(0, "authrole")?.to_owned())),
                    _ => (false, None),
                };
                let reason = kill_reason(realm, &a)?;
                let mut killed = Vec::new();
                for peer in self.sessions.values().filter(|p| p.id != caller) {
                    let field = if by_role { &peer.identity.authrole } else { &peer.identity.authid };
                    if wanted.as_ref().is_none_or(|w| w == field) {
                        peer.mailbox.close(reason.clone());
                        killed.push(peer.id);
                    }
                }
                Ok(match procedure {
                    "wamp.session.kill_by_authid" => one(ids(killed)),
                    _ => one(killed.len()),
                })
            }
            "wamp.session.add_testament" => {
                let topic = a.string(0, "topic")?.to_owned();
                realm.check_uri(&topic, MatchPolicy::Exact)?;
                let args = match a.args.get(1) {
                    None | Some(Value::Null) => None,
                    Some(Value::List(l)) => Some(l.clone()),
                    Some(v) => return Err(invalid("args", "a list", v)),
                };
                let kwargs = match a.args.get(2) {
                    None | Some(Value::Null) => None,
                    Some(Value::Dict(d)) => Some(d.clone()),
                    Some(v) => return Err(invalid("kwargs", "a dict", v)),
                };
                let options = match a.kwargs.get("publish_options") {
                    None | Some(Value::Null) => Dict::new(),
                    Some(Value::Dict(d)) => d.clone(),
                    Some(v) => return Err(invalid("publish_options", "a dict", v)),
                };
                let scope = testament_scope(&a)?;
                let peer = self.sessions.get_mut(&caller).expect("the caller is joined");
                peer.testaments.push(Testament { scope, topic, payload: Payload { args, kwargs }, options });
                Ok(Payload::default())
            }
            "wamp.session.flush_testaments" => {
                let scope = testament_scope(&a)?;
                let peer = self.sessions.get_mut(&caller).expect("the caller is joined");
                let before = peer.testaments.len();
                peer.testaments.retain(|t| t.scope != scope);
                Ok(one(before - peer.testaments.len()))
            }
            "wamp.registration.list" => Ok(one(by_policy(self.dealer.by_uri.by_policy()))),
            "wamp.registration.lookup" => {
                let uri = a.string(0, "procedure")?;
                let policy = lookup_policy(&a)?;
                Ok(one(self.dealer.by_uri.get(uri, policy).copied().map(Value::from).unwrap_or(Value::Null)))
            }
            "wamp.registration.match" => {
                let uri = a.string(0, "procedure")?;
                Ok(one(self.dealer.lookup(uri).map(|(r, _)| Value::from(r.id)).unwrap_or(Value::Null)))
            }
            "wamp.registration.get" => Ok(one(registration_details(self.registration(&a)?))),
            "wamp.registration.list_callees" => Ok(one(ids(self.registration(&a)?.callees.iter().copied()))),
            "wamp.registration.count_callees" => Ok(one(self.registration(&a)?.callees.len())),
            "wamp.registration.remove_callee" => {
                let id = self.registration(&a)?.id;
                let callee = SessionId(a.id(1, "callee")?);
                let reason = revocation_reason(realm, &a)?;
                if !self.remove_callee(callee, id) {
                    return Err(no_such_session(callee));
                }
                if self.sessions.get(&callee).is_some_and(|p| p.features.registration_revocation) {
                    let mut details = crate::dict! { "registration" => id };
                    if let Some(reason) = reason {
                        details.insert("reason".into(), reason.into());
                    }
                    self.send(callee, Message::Unregistered { request: RequestId(0), details: Some(details) });
                }
                Ok(Payload::default())
            }
            "wamp.subscription.list" => Ok(one(by_policy(self.broker.by_uri.by_policy()))),
            "wamp.subscription.lookup" => {
                let uri = a.string(0, "topic")?;
                let policy = lookup_policy(&a)?;
                Ok(one(self.broker.by_uri.get(uri, policy).copied().map(Value::from).unwrap_or(Value::Null)))
            }
            "wamp.subscription.match" => {
                let uri = a.string(0, "topic")?;
                let matches: Vec<SubscriptionId> = self.broker.by_uri.all(uri).map(|(id, _)| *id).collect();
                Ok(one(if matches.is_empty() { Value::Null } else { ids(matches) }))
            }
            "wamp.subscription.get" => Ok(one(subscription_details(self.subscription(&a)?))),
            "wamp.subscription.list_subscribers" => {
                Ok(one(ids(self.subscription(&a)?.subscribers.iter().copied())))
            }
            "wamp.subscription.count_subscribers" => Ok(one(self.subscription(&a)?.subscribers.len())),
            "wamp.subscription.remove_subscriber" => {
                let id = self.subscription(&a)?.id;
                let subscriber = SessionId(a.id(1, "subscriber")?);
                // Checked as for remove_callee, but not sent: the subscriber is not told with the
                // router-initiated UNSUBSCRIBED the spec describes, because autobahn-python (26.10)
                // announces `subscription_revocation` and then ends its session on that message
                // ("UNSUBSCRIBED received for non-pending request ID 0"). Its events simply stop.
                revocation_reason(realm, &a)?;
                if !self.remove_subscriber(subscriber, id) {
                    return Err(no_such_session(subscriber));
                }
                Ok(Payload::default())
            }
            _ => Err(Reject::new("wamp.error.no_such_procedure", format!("no meta procedure '{procedure}'"))),
        }
    }

    fn sessions_with_roles(&self, roles: Option<&[String]>) -> Vec<SessionId> {
        self.sessions
            .values()
            .filter(|p| roles.is_none_or(|r| r.contains(&p.identity.authrole)))
            .map(|p| p.id)
            .collect()
    }

    fn registration(&self, a: &Args) -> Result<&crate::router::dealer::Registration, Reject> {
        let id = RegistrationId(a.id(0, "registration")?);
        self.dealer
            .registrations
            .get(&id)
            .ok_or_else(|| Reject::new("wamp.error.no_such_registration", format!("no registration {id}")))
    }

    fn subscription(&self, a: &Args) -> Result<&crate::router::broker::Subscription, Reject> {
        let id = SubscriptionId(a.id(0, "subscription")?);
        self.broker
            .subscriptions
            .get(&id)
            .ok_or_else(|| Reject::new("wamp.error.no_such_subscription", format!("no subscription {id}")))
    }
}

fn no_such_session(id: SessionId) -> Reject {
    Reject::new("wamp.error.no_such_session", format!("no other session {id} in this realm"))
}

/// The `reason` of a revocation (third argument, or kwarg `reason`): a URI, if given (clients
/// refuse a `null` reason, so none is sent then).
fn revocation_reason(realm: &Realm, a: &Args) -> Result<Option<String>, Reject> {
    match a.args.get(2).or_else(|| a.kwargs.get("reason")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(uri)) => realm.check_uri(uri, MatchPolicy::Exact).map(|()| Some(uri.clone())),
        Some(_) => Err(Reject::new("wamp.error.invalid_uri", "reason must be a URI")),
    }
}

/// `reason`/`message` keyword arguments of the kill procedures.
fn kill_reason(realm: &Realm, a: &Args) -> Result<CloseReason, Reject> {
    let reason = a.opt_str("reason")?.unwrap_or("wamp.close.killed").to_owned();
    if reason.is_empty() || !uri::is_valid(&reason, realm.uri_rules(), MatchPolicy::Exact) {
        return Err(Reject::new("wamp.error.invalid_uri", format!("invalid reason URI '{reason}'")));
    }
    Ok(CloseReason::Killed { reason, message: a.opt_str("message")?.map(String::from) })
}

fn testament_scope(a: &Args) -> Result<String, Reject> {
    match a.opt_str("scope")? {
        None | Some("destroyed") => Ok("destroyed".into()),
        Some("detached") => Ok("detached".into()),
        Some(other) => Err(Reject::new(
            "wamp.error.invalid_argument",
            format!("scope must be 'destroyed' or 'detached', not '{other}'"),
        )),
    }
}

/// The `match` policy of a lookup, from the second positional argument (an options dict) or kwargs.
fn lookup_policy(a: &Args) -> Result<MatchPolicy, Reject> {
    let options = match a.args.get(1) {
        Some(Value::Dict(d)) => d,
        _ => &a.kwargs,
    };
    crate::router::realm::opt_match(options)
}

fn by_policy<T: Into<Value> + Copy>(groups: [(MatchPolicy, Vec<&T>); 3]) -> Dict {
    groups.into_iter().map(|(policy, items)| (policy.name().to_owned(), ids(items.into_iter().copied()))).collect()
}
