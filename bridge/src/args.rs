//! WAMP arguments to a procedure's parameters: overload resolution and binding.
//!
//! Positional arguments fill input parameters in order (a `VARIADIC` parameter collects the rest);
//! keyword arguments fill parameters by exact name; parameters with a default may be left out.
//! Among overloads, the ones whose names and arity fit the call are candidates; exactly one must
//! remain. Argument names never reach SQL text: they only select parameters the catalog knows.

use std::sync::Arc;

use wamp::{Dict, Value};

use crate::catalog::{ParamMode, Procedure};
use crate::convert::{to_sql, SqlValue};
use crate::error::CallError;

/// One argument, bound to a parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundArg {
    /// Index into [`Procedure::params`].
    pub param: usize,
    pub value: SqlValue,
    /// Passed by name (after every positional argument) rather than by position.
    pub named: bool,
}

/// A call ready for an adapter: the chosen overload and its arguments, positional ones first.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundCall {
    pub procedure: Arc<Procedure>,
    pub args: Vec<BoundArg>,
}

impl BoundCall {
    /// The name of the parameter `arg` is bound to, if it has one.
    pub fn param_name(&self, arg: &BoundArg) -> Option<&str> {
        self.procedure.params[arg.param].name.as_deref()
    }
}

/// Where each supplied value goes, before type checks.
#[derive(Debug)]
enum Slot<'a> {
    Positional(usize, &'a Value),
    Variadic(usize, Vec<&'a Value>),
    Named(usize, &'a Value),
}

/// Picks the overload that fits `args`/`kwargs` and checks every value against its parameter type.
pub fn resolve(uri: &str, overloads: &[Arc<Procedure>], args: &[Value], kwargs: &Dict) -> Result<BoundCall, CallError> {
    let mut fits = Vec::new();
    let mut reasons = Vec::new();
    for p in overloads {
        match shape(p, args, kwargs) {
            Ok(slots) => fits.push((p, slots)),
            Err(reason) => reasons.push((p, reason)),
        }
    }
    match fits.len() {
        1 => {
            let (p, slots) = fits.pop().expect("exactly one");
            bind(p, slots)
        }
        0 if reasons.len() == 1 => Err(CallError::InvalidArgument(reasons.remove(0).1)),
        0 => {
            let tried: Vec<String> = reasons.iter().map(|(p, r)| format!("{}: {r}", p.signature())).collect();
            Err(CallError::InvalidArgument(format!("no overload of '{uri}' takes these arguments ({})", tried.join("; "))))
        }
        _ => {
            let sigs: Vec<String> = fits.iter().map(|(p, _)| p.signature()).collect();
            Err(CallError::InvalidArgument(format!(
                "ambiguous call: {} overloads of '{uri}' take these arguments ({}); pass arguments by name to choose one",
                fits.len(),
                sigs.join("; ")
            )))
        }
    }
}

/// Maps supplied arguments to parameters by position and name, without looking at values.
fn shape<'a>(p: &Procedure, args: &'a [Value], kwargs: &'a Dict) -> Result<Vec<Slot<'a>>, String> {
    let inputs: Vec<(usize, &crate::catalog::Param)> = p.inputs().collect();
    let variadic = inputs.last().filter(|(_, q)| q.mode == ParamMode::Variadic).map(|(i, _)| *i);
    let fixed = inputs.len() - usize::from(variadic.is_some());
    let mut slots = Vec::with_capacity(args.len() + kwargs.len());
    let mut covered = vec![false; inputs.len()];
    for (k, value) in args.iter().enumerate().take(fixed) {
        slots.push(Slot::Positional(inputs[k].0, value));
        covered[k] = true;
    }
    if args.len() > fixed {
        match variadic {
            Some(v) => {
                slots.push(Slot::Variadic(v, args[fixed..].iter().collect()));
                covered[fixed] = true;
            }
            None => {
                return Err(format!(
                    "too many positional arguments: {} takes at most {fixed}, got {}",
                    p.name,
                    args.len()
                ))
            }
        }
    }
    for (name, value) in kwargs {
        let Some(k) = inputs.iter().position(|(_, q)| q.name.as_deref() == Some(name.as_str())) else {
            return Err(format!("unknown argument '{}'", printable(name)));
        };
        if covered[k] {
            return Err(format!("argument '{name}' given both by position and by name"));
        }
        covered[k] = true;
        slots.push(Slot::Named(inputs[k].0, value));
    }
    for (k, (_, q)) in inputs.iter().enumerate() {
        // An omitted VARIADIC parameter would be an empty array; the database refuses that call.
        if !covered[k] && !q.has_default {
            let name = q.name.clone().unwrap_or_else(|| format!("#{}", k + 1));
            return Err(format!("missing required argument '{name}'"));
        }
    }
    Ok(slots)
}

/// Type-checks each value against its parameter.
fn bind(p: &Arc<Procedure>, slots: Vec<Slot<'_>>) -> Result<BoundCall, CallError> {
    let label = |i: usize| match &p.params[i].name {
        Some(n) => format!("argument '{n}'"),
        None => format!("argument #{}", i + 1),
    };
    let mut bound = Vec::with_capacity(slots.len());
    for slot in slots {
        let (param, value, named) = match slot {
            Slot::Positional(i, v) => (i, to_sql(&p.params[i].ty, v), false),
            Slot::Named(i, v) => (i, to_sql(&p.params[i].ty, v), true),
            Slot::Variadic(i, vs) => {
                let list = Value::List(vs.into_iter().cloned().collect());
                (i, to_sql(&p.params[i].ty, &list), false)
            }
        };
        let value = value.map_err(|e| CallError::InvalidArgument(format!("{}: {e}", label(param))))?;
        bound.push(BoundArg { param, value, named });
    }
    Ok(BoundCall { procedure: p.clone(), args: bound })
}

/// A caller-supplied name, shortened and stripped of control characters for an error message.
fn printable(name: &str) -> String {
    let mut s: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    if name.chars().count() > 64 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Param, Returns, SqlType, Volatility};
    use wamp::dict;

    fn param(name: &str, ty: SqlType, has_default: bool) -> Param {
        Param { name: Some(name.into()), mode: ParamMode::In, ty, db_type: "t".into(), has_default }
    }

    fn procedure(id: u64, params: Vec<Param>) -> Arc<Procedure> {
        Arc::new(Procedure { id, schema: "s".into(), name: "f".into(), params, returns: Returns::Void, volatility: Volatility::Volatile })
    }

    fn invalid(r: Result<BoundCall, CallError>) -> String {
        match r {
            Err(CallError::InvalidArgument(m)) => m,
            other => panic!("expected invalid_argument, got {other:?}"),
        }
    }

    #[test]
    fn positional_named_and_defaults() {
        let p = procedure(1, vec![param("a", SqlType::Int32, false), param("b", SqlType::Text, true), param("c", SqlType::Bool, true)]);
        let call = resolve("x.f", std::slice::from_ref(&p), &[1.into()], &dict! {"c" => true}).unwrap();
        assert_eq!(
            call.args,
            vec![
                BoundArg { param: 0, value: SqlValue::Int(1), named: false },
                BoundArg { param: 2, value: SqlValue::Bool(true), named: true },
            ]
        );
        assert_eq!(call.param_name(&call.args[1]), Some("c"));
        let call = resolve("x.f", std::slice::from_ref(&p), &[], &dict! {"a" => 5, "b" => "x"}).unwrap();
        assert!(call.args.iter().all(|a| a.named));
    }

    #[test]
    fn unknown_missing_duplicate_and_surplus_arguments_name_the_parameter() {
        let p = procedure(1, vec![param("a", SqlType::Int32, false), param("b", SqlType::Text, true)]);
        let ps = [p];
        assert_eq!(invalid(resolve("x.f", &ps, &[], &dict! {"zz" => 1})), "unknown argument 'zz'");
        assert_eq!(invalid(resolve("x.f", &ps, &[], &dict! {"b" => "x"})), "missing required argument 'a'");
        assert_eq!(invalid(resolve("x.f", &ps, &[1.into()], &dict! {"a" => 1})), "argument 'a' given both by position and by name");
        assert!(invalid(resolve("x.f", &ps, &[1.into(), "b".into(), 3.into()], &Dict::new())).starts_with("too many positional arguments"));
        assert_eq!(invalid(resolve("x.f", &ps, &["one".into()], &Dict::new())), "argument 'a': expected integer (32 bit), got string");
    }

    #[test]
    fn kwarg_names_match_exactly_and_hostile_names_are_just_unknown() {
        let ps = [procedure(1, vec![param("a", SqlType::Int32, true)])];
        assert_eq!(invalid(resolve("x.f", &ps, &[], &dict! {"A" => 1})), "unknown argument 'A'");
        let evil = "a\" => 1); drop table t; --";
        assert_eq!(invalid(resolve("x.f", &ps, &[], &dict! {evil => 1})), format!("unknown argument '{evil}'"));
        let long = "x".repeat(100);
        assert!(invalid(resolve("x.f", &ps, &[], &dict! {long.as_str() => 1})).ends_with("…'"));
    }

    #[test]
    fn overloads_are_chosen_by_names_and_arity() {
        let one = procedure(1, vec![param("id", SqlType::Int32, false)]);
        let two = procedure(2, vec![param("first", SqlType::Text, false), param("last", SqlType::Text, false)]);
        let ps = [one, two];
        assert_eq!(resolve("x.f", &ps, &[7.into()], &Dict::new()).unwrap().procedure.id, 1);
        assert_eq!(resolve("x.f", &ps, &["a".into(), "b".into()], &Dict::new()).unwrap().procedure.id, 2);
        assert_eq!(resolve("x.f", &ps, &[], &dict! {"first" => "a", "last" => "b"}).unwrap().procedure.id, 2);
        let m = invalid(resolve("x.f", &ps, &[], &Dict::new()));
        assert!(m.starts_with("no overload of 'x.f' takes these arguments"), "{m}");
    }

    #[test]
    fn ambiguity_is_an_invalid_argument() {
        let a = procedure(1, vec![param("x", SqlType::Int32, false)]);
        let b = procedure(2, vec![param("x", SqlType::Text, false), param("y", SqlType::Text, true)]);
        let m = invalid(resolve("x.f", &[a.clone(), b.clone()], &[1.into()], &Dict::new()));
        assert!(m.starts_with("ambiguous call: 2 overloads"), "{m}");
        // Naming the parameter only the second one has resolves it.
        assert_eq!(resolve("x.f", &[a, b], &["1".into()], &dict! {"y" => "z"}).unwrap().procedure.id, 2);
    }

    #[test]
    fn variadic_collects_the_rest() {
        let mut v = param("xs", SqlType::Array(Box::new(SqlType::Int32)), false);
        v.mode = ParamMode::Variadic;
        let p = procedure(1, vec![param("a", SqlType::Text, false), v]);
        let call = resolve("x.f", std::slice::from_ref(&p), &["a".into(), 1.into(), 2.into()], &Dict::new()).unwrap();
        assert_eq!(call.args[1].value, SqlValue::Array(vec![SqlValue::Int(1), SqlValue::Int(2)]));
        let call = resolve("x.f", &[p], &["a".into()], &dict! {"xs" => Value::List(vec![3.into()])}).unwrap();
        assert_eq!(call.args[1], BoundArg { param: 1, value: SqlValue::Array(vec![SqlValue::Int(3)]), named: true });
    }

    #[test]
    fn out_parameters_take_no_arguments() {
        let mut out = param("total", SqlType::Int64, false);
        out.mode = ParamMode::Out;
        let p = procedure(1, vec![param("a", SqlType::Int32, false), out]);
        assert_eq!(resolve("x.f", std::slice::from_ref(&p), &[1.into()], &Dict::new()).unwrap().args.len(), 1);
        assert_eq!(invalid(resolve("x.f", &[p], &[1.into()], &dict! {"total" => 1})), "unknown argument 'total'");
    }
}
