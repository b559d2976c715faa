//! The anonymous PL/SQL block of a call, and its bind plan. Pure.
//!
//! ```sql
//! begin
//!   dbms_session.set_identifier(:wamp_authid);
//!   dbms_application_info.set_module('wamp', :wamp_action);
//!   dbms_application_info.set_client_info(:wamp_client_info);
//!   :ret := "HR"."HR_API"."GET_EMP"("P_ID" => :p1);
//! end;
//! ```
//! Arguments go in **named notation**, in declaration order whatever order the caller's kwargs
//! came in, so one signature (the same set of supplied parameters) always gives the same text
//! and the session's statement cache hits. Omitted defaulted parameters are left out so PL/SQL
//! applies their defaults. Identifiers come from the catalog (canonical upper-case names,
//! validated package references) and are quoted; every value is a bind variable named after the
//! parameter's position (`:p1`), never after caller-supplied text. The caller's identity is
//! set in the same round trip; [`CLEAR_IDENTITY`] resets it after commit or rollback.

use bridge::args::BoundCall;
use bridge::{CallContext, ParamMode};

use crate::catalog::is_function;
use crate::values::truncate_bytes;

/// Resets what the call block set, so a pooled session carries no caller identity.
pub const CLEAR_IDENTITY: &str =
    "begin dbms_session.clear_identifier; dbms_application_info.set_module(null, null); dbms_application_info.set_client_info(null); end;";

/// The identity bind variables, in the order the block uses them.
pub const IDENTITY_BINDS: [&str; 3] = ["wamp_authid", "wamp_action", "wamp_client_info"];

/// How one bind variable is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindKind {
    /// IN: the value of `call.args[arg]`.
    In { arg: usize },
    /// OUT (a function's value, OUT parameters, cursors).
    Out,
    /// IN OUT: bound with the argument's value (or NULL), read back after.
    InOut { arg: Option<usize> },
}

/// One bind variable of the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBind {
    /// Without the colon.
    pub name: String,
    /// Index into the procedure's params.
    pub param: usize,
    pub kind: BindKind,
}

/// The block text and its bind variables (besides the identity ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPlan {
    pub text: String,
    pub binds: Vec<PlannedBind>,
}

/// `"NAME"`: catalog names are canonical identifiers, so quoting is exact.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.to_ascii_uppercase().replace('"', ""))
}

/// Plans `call`; `schema` of its procedure is the SQL reference of the package.
pub fn plan(call: &BoundCall) -> CallPlan {
    let p = &call.procedure;
    let function = is_function(p);
    let mut binds = Vec::new();
    let mut actuals = Vec::new();
    for (i, param) in p.params.iter().enumerate() {
        if function && i == 0 {
            binds.push(PlannedBind { name: "ret".into(), param: 0, kind: BindKind::Out });
            continue;
        }
        let arg = call.args.iter().position(|a| a.param == i);
        let kind = match (param.mode, arg) {
            (ParamMode::Out, _) => BindKind::Out,
            (ParamMode::InOut, arg) => BindKind::InOut { arg },
            (_, Some(arg)) => BindKind::In { arg },
            // Omitted: PL/SQL applies the default.
            (_, None) => continue,
        };
        let name = format!("p{i}");
        let formal = param.name.as_deref().map(quote).unwrap_or_default();
        actuals.push(format!("{formal} => :{name}"));
        binds.push(PlannedBind { name, param: i, kind });
    }
    let target = format!("{}.{}", p.schema, quote(&p.name));
    let invoke = match (function, actuals.is_empty()) {
        (true, true) => format!(":ret := {target};"),
        (true, false) => format!(":ret := {target}({});", actuals.join(", ")),
        (false, true) => format!("{target};"),
        (false, false) => format!("{target}({});", actuals.join(", ")),
    };
    let text = format!(
        "begin\n  dbms_session.set_identifier(:{});\n  dbms_application_info.set_module('wamp', :{});\n  dbms_application_info.set_client_info(:{});\n  {invoke}\nend;",
        IDENTITY_BINDS[0], IDENTITY_BINDS[1], IDENTITY_BINDS[2]
    );
    CallPlan { text, binds }
}

/// What the session shows in `V$SESSION` during a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `CLIENT_IDENTIFIER` (`SYS_CONTEXT('USERENV', 'CLIENT_IDENTIFIER')`): the authid.
    pub authid: String,
    /// `ACTION` (module `wamp`): the procedure URI.
    pub action: String,
    /// `CLIENT_INFO`: `session=<id>;role=<authrole>`, led by the W3C `traceparent` when there is one.
    pub client_info: String,
}

/// The identity values of one call (each within Oracle's 64-byte limit).
pub fn identity(ctx: &CallContext, uri: &str, traceparent: Option<&str>) -> Identity {
    let caller = &ctx.caller;
    let mut info = String::new();
    if let Some(tp) = traceparent {
        info.push_str(tp);
        info.push(';');
    }
    if let Some(s) = caller.session {
        info.push_str(&format!("session={s};"));
    }
    if let Some(r) = &caller.authrole {
        info.push_str(&format!("role={r}"));
    }
    let info = info.trim_end_matches(';');
    Identity {
        authid: truncate_bytes(caller.authid.as_deref().unwrap_or_default(), 64).to_owned(),
        action: truncate_bytes(uri, 64).to_owned(),
        client_info: truncate_bytes(info, 64).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge::args::{resolve, BoundArg};
    use bridge::convert::SqlValue;
    use bridge::{Caller, Param, Procedure, Returns, SqlType, Volatility};
    use std::sync::Arc;
    use wamp::{dict, Dict};

    fn param(name: Option<&str>, mode: ParamMode, ty: SqlType, has_default: bool) -> Param {
        Param { name: name.map(Into::into), mode, ty, db_type: "X".into(), has_default }
    }

    fn get_emp() -> Arc<Procedure> {
        Arc::new(Procedure {
            id: 1,
            schema: "\"HR\".\"HR_API\"".into(),
            name: "get_emp".into(),
            params: vec![
                param(None, ParamMode::Out, SqlType::Text, false),
                param(Some("p_id"), ParamMode::In, SqlType::Int64, false),
                param(Some("p_upper"), ParamMode::In, SqlType::Bool, true),
                param(Some("p_note"), ParamMode::In, SqlType::Text, true),
            ],
            returns: Returns::Scalar(SqlType::Text),
            volatility: Volatility::Volatile,
        })
    }

    #[test]
    fn functions_use_named_notation_and_leave_defaults_out() {
        let call = resolve("x.get_emp", &[get_emp()], &[7.into()], &Dict::new()).unwrap();
        let plan = plan(&call);
        assert_eq!(
            plan.text,
            "begin\n  dbms_session.set_identifier(:wamp_authid);\n  dbms_application_info.set_module('wamp', :wamp_action);\n  \
             dbms_application_info.set_client_info(:wamp_client_info);\n  :ret := \"HR\".\"HR_API\".\"GET_EMP\"(\"P_ID\" => :p1);\nend;"
        );
        assert_eq!(
            plan.binds,
            vec![
                PlannedBind { name: "ret".into(), param: 0, kind: BindKind::Out },
                PlannedBind { name: "p1".into(), param: 1, kind: BindKind::In { arg: 0 } },
            ]
        );
    }

    #[test]
    fn the_text_depends_on_the_signature_not_on_kwarg_order() {
        let p = get_emp();
        let a = plan(&resolve("x", std::slice::from_ref(&p), &[], &dict! {"p_note" => "n", "p_id" => 1}).unwrap());
        let b = plan(&resolve("x", std::slice::from_ref(&p), &[1.into()], &dict! {"p_note" => "other"}).unwrap());
        assert_eq!(a.text, b.text);
        assert!(a.text.contains("(\"P_ID\" => :p1, \"P_NOTE\" => :p3)"), "{}", a.text);
        // The bind plan still points at each value's place in the call's arguments.
        assert_eq!(a.binds[2], PlannedBind { name: "p3".into(), param: 3, kind: BindKind::In { arg: 0 } });
        assert_eq!(b.binds[2], PlannedBind { name: "p3".into(), param: 3, kind: BindKind::In { arg: 1 } });
    }

    #[test]
    fn procedures_with_out_and_in_out_parameters() {
        let p = Arc::new(Procedure {
            id: 2,
            schema: "\"HR_API\"".into(),
            name: "stats".into(),
            params: vec![
                param(Some("p_dept"), ParamMode::In, SqlType::Int64, true),
                param(Some("p_total"), ParamMode::Out, SqlType::Numeric, false),
                param(Some("p_since"), ParamMode::InOut, SqlType::Timestamp, false),
            ],
            returns: Returns::Record,
            volatility: Volatility::Volatile,
        });
        let call = BoundCall { procedure: p.clone(), args: vec![BoundArg { param: 2, value: SqlValue::Null, named: true }] };
        let plan = plan(&call);
        assert!(plan.text.ends_with("  \"HR_API\".\"STATS\"(\"P_TOTAL\" => :p1, \"P_SINCE\" => :p2);\nend;"), "{}", plan.text);
        assert_eq!(plan.binds.iter().map(|b| b.kind.clone()).collect::<Vec<_>>(), vec![BindKind::Out, BindKind::InOut { arg: Some(0) }]);
        let none = Arc::new(Procedure { params: vec![], returns: Returns::Void, ..(*p).clone() });
        let plan = super::plan(&BoundCall { procedure: none, args: vec![] });
        assert!(plan.text.contains("\n  \"HR_API\".\"STATS\";\nend;") && plan.binds.is_empty(), "{}", plan.text);
    }

    #[test]
    fn identity_fits_oracle_limits() {
        let ctx = CallContext {
            caller: Caller { session: Some(123), authid: Some("ada".into()), authrole: Some("hr_reader".into()) },
            stream_batch: None,
            trace: None,
        };
        let id = identity(&ctx, "com.example.hr.get_emp", None);
        assert_eq!(id, Identity { authid: "ada".into(), action: "com.example.hr.get_emp".into(), client_info: "session=123;role=hr_reader".into() });
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let id = identity(&ctx, &"x".repeat(100), Some(tp));
        assert!(id.client_info.starts_with(tp) && id.client_info.len() <= 64, "{}", id.client_info);
        assert_eq!(id.action.len(), 64);
        let hidden = identity(&CallContext { caller: Caller::default(), stream_batch: None, trace: None }, "a.b", None);
        assert_eq!((hidden.authid.as_str(), hidden.client_info.as_str()), ("", ""));
    }
}
