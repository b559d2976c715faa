//! The dealer: registrations, calls and invocations.
//!
//! Supports shared registrations (`invoke` policies), pattern-based registrations, progressive
//! call results, call canceling (`skip`, `kill`, `killnowait`), router-enforced call timeouts and
//! caller disclosure. Pending invocations are keyed by (callee, invocation id) and indexed by
//! (caller, call request id) for CANCEL; a late YIELD or ERROR for a forgotten invocation is dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::AbortHandle;

use crate::ids::{IdMap, RegistrationId, RequestId, SessionId};
use crate::message::{code, Message, Payload};
use crate::router::matching::PatternTable;
use crate::router::observe::{CallObservation, CallOutcome, CallStart, TraceContext};
use crate::router::realm::{opt_bool, opt_match, Action, Peer, Realm, Reject, State};
use crate::uri::MatchPolicy;
use crate::value::{Dict, Value};

/// The outcome of a call the router ended (cancel, timeout, a party left).
const CANCELED: CallOutcome<'static> = CallOutcome::Error("wamp.error.canceled");

/// How a shared registration picks a callee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invoke {
    Single,
    RoundRobin,
    Random,
    First,
    Last,
}

impl Invoke {
    fn parse(options: &Dict) -> Result<Invoke, Reject> {
        Ok(match options.get("invoke").map(|v| v.as_str()) {
            None | Some(Some("single")) => Invoke::Single,
            Some(Some("roundrobin")) => Invoke::RoundRobin,
            Some(Some("random")) => Invoke::Random,
            Some(Some("first")) => Invoke::First,
            Some(Some("last")) => Invoke::Last,
            _ => {
                return Err(Reject::new(
                    "wamp.error.invalid_argument",
                    "option 'invoke' must be one of single, roundrobin, random, first, last",
                ))
            }
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Invoke::Single => "single",
            Invoke::RoundRobin => "roundrobin",
            Invoke::Random => "random",
            Invoke::First => "first",
            Invoke::Last => "last",
        }
    }
}

/// One registration: a URI under a match policy, and the callees that serve it.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) id: RegistrationId,
    pub(crate) uri: String,
    pub(crate) policy: MatchPolicy,
    pub(crate) invoke: Invoke,
    pub(crate) created: SystemTime,
    /// In registration order (`first`/`last` rely on it).
    pub(crate) callees: Vec<SessionId>,
    next: usize,
}

/// A call in flight.
struct Invocation {
    caller: SessionId,
    call_request: RequestId,
    receive_progress: bool,
    /// Set once a `kill` cancel was forwarded: the callee's answer still goes to the caller.
    interrupted: bool,
    timer: Option<AbortHandle>,
    /// Telemetry's handle on this call (a span, a latency timer), finished when the call ends.
    observation: Option<Box<dyn CallObservation>>,
}

/// The dealer's tables.
#[derive(Default)]
pub(crate) struct Dealer {
    pub(crate) registrations: IdMap<RegistrationId, Registration>,
    pub(crate) by_uri: PatternTable<RegistrationId>,
    invocations: IdMap<(SessionId, RequestId), Invocation>,
    by_caller: HashMap<(SessionId, RequestId), (SessionId, RequestId)>,
}

impl Dealer {
    /// The registration a call to `procedure` would use.
    pub(crate) fn lookup(&self, procedure: &str) -> Option<(&Registration, MatchPolicy)> {
        let (id, policy) = self.by_uri.best(procedure)?;
        self.registrations.get(id).map(|r| (r, policy))
    }

    /// Calls in flight (for tests and metrics).
    pub(crate) fn pending(&self) -> usize {
        self.invocations.len()
    }
}

impl State {
    pub(crate) fn register(
        &mut self,
        realm: &Arc<Realm>,
        from: SessionId,
        request: RequestId,
        options: &Dict,
        procedure: String,
    ) {
        match self.try_register(realm, from, options, procedure) {
            Ok(registration) => {
                self.send(from, Message::Registered { request, registration });
            }
            Err(reject) => self.reply_error(from, code::REGISTER, request, reject),
        }
    }

    fn try_register(
        &mut self,
        realm: &Arc<Realm>,
        from: SessionId,
        options: &Dict,
        procedure: String,
    ) -> Result<RegistrationId, Reject> {
        let policy = opt_match(options)?;
        realm.check_uri(&procedure, policy)?;
        if crate::uri::is_reserved(&procedure) {
            return Err(Reject::new("wamp.error.invalid_uri", format!("'{procedure}' is reserved for the router")));
        }
        self.authorize(from, &procedure, Action::Register)?;
        let invoke = Invoke::parse(options)?;
        if let Some(&id) = self.dealer.by_uri.get(&procedure, policy) {
            let reg = self.dealer.registrations.get_mut(&id).expect("URI index points at a live registration");
            if reg.invoke != invoke {
                return Err(Reject::new(
                    "wamp.error.procedure_exists_with_different_invocation_policy",
                    format!("'{procedure}' is registered with invocation policy '{}'", reg.invoke.name()),
                ));
            }
            if invoke == Invoke::Single || reg.callees.contains(&from) {
                return Err(Reject::new(
                    "wamp.error.procedure_already_exists",
                    format!("'{procedure}' is already registered"),
                ));
            }
            reg.callees.push(from);
            self.sessions.get_mut(&from).map(|p| p.registrations.insert(id));
            self.meta_event("wamp.registration.on_register", vec![from.into(), id.into()]);
            return Ok(id);
        }
        let id = RegistrationId(realm.ids.next());
        let reg = Registration {
            id,
            uri: procedure.clone(),
            policy,
            invoke,
            created: SystemTime::now(),
            callees: vec![from],
            next: 0,
        };
        let created = registration_details(&reg);
        self.dealer.registrations.insert(id, reg);
        self.dealer.by_uri.insert(&procedure, policy, id);
        self.sessions.get_mut(&from).map(|p| p.registrations.insert(id));
        self.meta_event("wamp.registration.on_create", vec![from.into(), created.into()]);
        self.meta_event("wamp.registration.on_register", vec![from.into(), id.into()]);
        Ok(id)
    }

    pub(crate) fn unregister(
        &mut self,
        from: SessionId,
        request: RequestId,
        registration: RegistrationId,
    ) {
        if self.remove_callee(from, registration) {
            self.send(from, Message::Unregistered { request, details: None });
        } else {
            let reject = Reject::new("wamp.error.no_such_registration", format!("no registration {registration}"));
            self.reply_error(from, code::UNREGISTER, request, reject);
        }
    }

    /// Takes `callee` off a registration, deleting the registration when it was the last one.
    pub(crate) fn remove_callee(&mut self, callee: SessionId, id: RegistrationId) -> bool {
        let Some(reg) = self.dealer.registrations.get_mut(&id) else { return false };
        let Some(pos) = reg.callees.iter().position(|&c| c == callee) else { return false };
        reg.callees.remove(pos);
        let now_empty = reg.callees.is_empty();
        if let Some(p) = self.sessions.get_mut(&callee) {
            p.registrations.remove(&id);
        }
        self.meta_event("wamp.registration.on_unregister", vec![callee.into(), id.into()]);
        if now_empty {
            let reg = self.dealer.registrations.remove(&id).expect("checked above");
            self.dealer.by_uri.remove(&reg.uri, reg.policy);
            self.meta_event("wamp.registration.on_delete", vec![callee.into(), id.into()]);
        }
        true
    }

    /// Removes a departing session's registrations (it is already out of the session table).
    pub(crate) fn drop_registrations(&mut self, peer: &Peer) {
        for &id in &peer.registrations {
            self.remove_callee(peer.id, id);
        }
    }

    /// Ends the calls a departing session was part of: its callers get an ERROR, its callees an INTERRUPT.
    pub(crate) fn drop_calls(&mut self, gone: SessionId) {
        let as_callee: Vec<_> = self.dealer.invocations.keys().filter(|(callee, _)| *callee == gone).copied().collect();
        for key in as_callee {
            let inv = self.forget_invocation(key, CANCELED).expect("key taken from the table");
            let reject = Reject::new("wamp.error.canceled", "the callee left before answering");
            self.reply_error(inv.caller, code::CALL, inv.call_request, reject);
        }
        let as_caller: Vec<_> = self.dealer.by_caller.keys().filter(|(caller, _)| *caller == gone).copied().collect();
        for caller_key in as_caller {
            let Some(&key) = self.dealer.by_caller.get(&caller_key) else { continue };
            self.forget_invocation(key, CANCELED);
            self.interrupt(key, "killnowait", "wamp.error.canceled");
        }
    }

    pub(crate) fn call(
        &mut self,
        realm: &Arc<Realm>,
        from: SessionId,
        request: RequestId,
        options: Dict,
        procedure: String,
        payload: Payload,
    ) {
        let context = TraceContext::from_options(&options);
        if let Err(reject) = self.try_call(realm, from, request, &context, options, &procedure, payload) {
            if let Some(o) = self.observe_call(realm, from, &procedure, None, None, &context) {
                o.finish(CallOutcome::Error(&reject.uri));
            }
            self.reply_error(from, code::CALL, request, reject);
        }
    }

    fn observe_call(
        &self,
        realm: &Realm,
        caller: SessionId,
        procedure: &str,
        registration: Option<&str>,
        callee: Option<SessionId>,
        context: &TraceContext,
    ) -> Option<Box<dyn CallObservation>> {
        let caller_authid = self.sessions.get(&caller).map_or("", |p| p.identity.authid.as_str());
        let call = CallStart { realm: realm.name(), procedure, registration, caller, caller_authid, callee, context };
        realm.observer.call_started(&call)
    }

    #[allow(clippy::too_many_arguments)] // the CALL's fields plus where it came from
    fn try_call(
        &mut self,
        realm: &Arc<Realm>,
        from: SessionId,
        request: RequestId,
        context: &TraceContext,
        options: Dict,
        procedure: &str,
        payload: Payload,
    ) -> Result<(), Reject> {
        realm.check_uri(procedure, MatchPolicy::Exact)?;
        let disclose = self.authorize(from, procedure, Action::Call)?.disclose_caller;
        if self.dealer.by_caller.contains_key(&(from, request)) {
            return Err(Reject::new("wamp.error.protocol_violation", "request id already in use"));
        }
        if crate::uri::is_reserved(procedure) {
            let result = self.meta_call(realm, from, procedure, payload)?;
            if let Some(o) = self.observe_call(realm, from, procedure, Some(procedure), None, context) {
                o.finish(CallOutcome::Result);
            }
            self.send(from, Message::Result { request, details: Dict::new(), payload: result });
            return Ok(());
        }
        let Some((reg, policy)) = self.dealer.lookup(procedure) else {
            return Err(Reject::new("wamp.error.no_such_procedure", format!("no callee registered for '{procedure}'")));
        };
        let reg_id = reg.id;
        let callee = self.pick_callee(reg_id);
        let reg_uri = self.dealer.registrations[&reg_id].uri.as_str();
        let observation = self.observe_call(realm, from, procedure, Some(reg_uri), Some(callee), context);
        let forward = observation.as_ref().map(|o| o.forward()).filter(|f| !f.is_empty());
        let caller = self.sessions.get(&from).expect("caller is in the session table");
        let mut details = Dict::new();
        if policy != MatchPolicy::Exact {
            details.insert("procedure".into(), procedure.into());
        }
        if disclose || opt_bool(&options, "disclose_me", false) {
            details.insert("caller".into(), from.into());
            details.insert("caller_authid".into(), caller.identity.authid.clone().into());
            details.insert("caller_authrole".into(), caller.identity.authrole.clone().into());
        }
        let wants_progress = opt_bool(&options, "receive_progress", false);
        let callee_peer = self.sessions.get_mut(&callee).expect("registered callees are in the session table");
        let receive_progress = wants_progress && callee_peer.features.callee_progress;
        if receive_progress {
            details.insert("receive_progress".into(), true.into());
        }
        forward.as_ref().unwrap_or(context).write_to(&mut details);
        let inv_id = callee_peer.next_invocation_id();
        let timer = match options.get("timeout").and_then(Value::as_u64) {
            Some(ms) if ms > 0 => start_timer(realm, (callee, inv_id), Duration::from_millis(ms)),
            _ => None,
        };
        let inv = Invocation {
            caller: from,
            call_request: request,
            receive_progress,
            interrupted: false,
            timer,
            observation,
        };
        self.dealer.invocations.insert((callee, inv_id), inv);
        self.dealer.by_caller.insert((from, request), (callee, inv_id));
        callee_peer.send(Message::Invocation { request: inv_id, registration: reg_id, details, payload });
        Ok(())
    }

    fn pick_callee(&mut self, id: RegistrationId) -> SessionId {
        let reg = self.dealer.registrations.get_mut(&id).expect("looked up just before");
        let n = reg.callees.len();
        let idx = match reg.invoke {
            Invoke::Single | Invoke::First => 0,
            Invoke::Last => n - 1,
            Invoke::Random => rand::random_range(0..n),
            Invoke::RoundRobin => {
                let i = reg.next % n;
                reg.next = (i + 1) % n;
                i
            }
        };
        reg.callees[idx]
    }

    pub(crate) fn yield_(&mut self, from: SessionId, request: RequestId, options: &Dict, payload: Payload) {
        let key = (from, request);
        let Some(inv) = self.dealer.invocations.get(&key) else { return };
        if opt_bool(options, "progress", false) {
            if inv.receive_progress {
                let (caller, call_request) = (inv.caller, inv.call_request);
                let details = crate::dict! { "progress" => true };
                self.send(caller, Message::Result { request: call_request, details, payload });
            }
            return;
        }
        let inv = self.forget_invocation(key, CallOutcome::Result).expect("present above");
        self.send(inv.caller, Message::Result { request: inv.call_request, details: Dict::new(), payload });
    }

    pub(crate) fn invocation_error(
        &mut self,
        from: SessionId,
        request: RequestId,
        details: Dict,
        error: String,
        payload: Payload,
    ) {
        let Some(inv) = self.forget_invocation((from, request), CallOutcome::Error(&error)) else { return };
        self.send(
            inv.caller,
            Message::Error { request_type: code::CALL, request: inv.call_request, details, error, payload },
        );
    }

    pub(crate) fn cancel(&mut self, from: SessionId, request: RequestId, options: &Dict) {
        let mode = match options.get("mode").map(|m| m.as_str()) {
            None => "killnowait",
            Some(Some(m @ ("skip" | "kill" | "killnowait"))) => m,
            _ => {
                let reject =
                    Reject::new("wamp.error.invalid_argument", "option 'mode' must be skip, kill or killnowait");
                return self.reply_error(from, code::CANCEL, request, reject);
            }
        };
        // A CANCEL for a call that already ended (or never existed) is ignored, per the spec.
        let Some(&key) = self.dealer.by_caller.get(&(from, request)) else { return };
        self.end_call(key, mode, "wamp.error.canceled", "the call was canceled");
    }

    /// A call's timer expired.
    ///
    /// The caller gets ERROR `wamp.error.canceled` (our product contract: a timeout is a cancel the
    /// router makes) with `details.reason = "wamp.error.timeout"`, so a client can tell the two
    /// apart; the spec's dealer-initiated timeout would use `wamp.error.timeout` as the URI. The
    /// callee's INTERRUPT carries reason `wamp.error.timeout`.
    pub(crate) fn timeout(&mut self, key: (SessionId, RequestId)) {
        if self.dealer.invocations.contains_key(&key) {
            self.end_call(key, "killnowait", "wamp.error.timeout", "the call timed out");
        }
    }

    /// Cancels a pending call in `mode`; `reason` goes to the callee's INTERRUPT and to the
    /// caller's ERROR details (its URI is always `wamp.error.canceled`).
    fn end_call(&mut self, key: (SessionId, RequestId), mode: &str, reason: &str, message: &str) {
        let callee_cancels = self.sessions.get(&key.0).is_some_and(|p| p.features.callee_canceling);
        let mode = if callee_cancels { mode } else { "skip" };
        if mode == "kill" {
            let Some(inv) = self.dealer.invocations.get_mut(&key) else { return };
            if !std::mem::replace(&mut inv.interrupted, true) {
                self.interrupt(key, "kill", reason);
            }
            return;
        }
        let Some(inv) = self.forget_invocation(key, CANCELED) else { return };
        let payload = Payload::args(vec![message.into()]);
        self.send(
            inv.caller,
            Message::Error {
                request_type: code::CALL,
                request: inv.call_request,
                details: crate::dict! { "reason" => reason },
                error: "wamp.error.canceled".into(),
                payload,
            },
        );
        if mode == "killnowait" {
            self.interrupt(key, "killnowait", reason);
        }
    }

    fn interrupt(&self, (callee, request): (SessionId, RequestId), mode: &str, reason: &str) {
        if self.sessions.get(&callee).is_some_and(|p| p.features.callee_canceling) {
            let options = crate::dict! { "mode" => mode, "reason" => reason };
            self.send(callee, Message::Interrupt { request, options });
        }
    }

    /// Removes a call from the tables, ending its timer and its observation with `outcome`.
    fn forget_invocation(&mut self, key: (SessionId, RequestId), outcome: CallOutcome<'_>) -> Option<Invocation> {
        let mut inv = self.dealer.invocations.remove(&key)?;
        if let Some(o) = inv.observation.take() {
            o.finish(outcome);
        }
        self.dealer.by_caller.remove(&(inv.caller, inv.call_request));
        if let Some(t) = &inv.timer {
            t.abort();
        }
        Some(inv)
    }
}

/// The meta API's view of a registration.
pub(crate) fn registration_details(reg: &Registration) -> crate::value::Dict {
    crate::dict! {
        "id" => reg.id,
        "created" => crate::router::realm::iso8601(reg.created),
        "uri" => reg.uri.clone(),
        "match" => reg.policy.name(),
        "invoke" => reg.invoke.name(),
    }
}

/// Arms a call timeout; `None` outside a tokio runtime (then the timeout is not enforced, and logged).
fn start_timer(realm: &Arc<Realm>, key: (SessionId, RequestId), after: Duration) -> Option<AbortHandle> {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("call timeout requested outside a tokio runtime; not enforced");
        return None;
    };
    let realm = Arc::downgrade(realm);
    let task = rt.spawn(async move {
        tokio::time::sleep(after).await;
        if let Some(realm) = realm.upgrade() {
            realm.lock().timeout(key);
        }
    });
    Some(task.abort_handle())
}
