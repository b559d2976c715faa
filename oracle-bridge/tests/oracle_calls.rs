//! Package subprograms as procedures, end to end through the router: arguments, types, result
//! shapes, errors, injection attempts, overloads, identity, transactions. Needs Oracle (see
//! `common`); prints `SKIPPED (no Oracle configured): <test>` otherwise.

mod common;

use common::*;
use wamp::{dict, Dict, Value};

const API: &str = r#"
create table {o}.audit (note varchar2(200))
/
create table {o}.employee (id number primary key, name varchar2(100) not null, salary number(10,2), hired date)
/
begin
  insert into {o}.employee values (1, 'Ada', 1000.50, date '2020-01-02');
  insert into {o}.employee values (2, 'Bob', 2000, date '2021-03-04');
  commit;
end;
/
create or replace package {o}.test_api as
  function add(a number, b number default 10) return number;
  function greet(name varchar2, greeting varchar2 default 'Hello') return varchar2;
  procedure nothing;
  procedure echo(t in varchar2, n in number, i in integer, f in binary_double, b in boolean, d in date,
                 ts in timestamp, tz in timestamp with time zone, raw_in in raw, doc_json in clob,
                 o_t out varchar2, o_n out number, o_i out number, o_f out binary_double, o_b out boolean, o_d out date,
                 o_ts out timestamp, o_tz out timestamp with time zone, o_raw out raw, o_doc_json out clob);
  procedure get_employee(id in number, name out varchar2, salary out number, hired out date);
  procedure stats(total out number, top out varchar2);
  function list_employees return sys_refcursor;
  procedure open_employees(min_salary in number default 0, rows_out out sys_refcursor);
  procedure report;
  function find(id number) return varchar2;
  function find(name varchar2, exact boolean default true) return varchar2;
  procedure whoami(authid out varchar2, client_info out varchar2, module out varchar2, action out varchar2);
  procedure note(t varchar2);
  procedure note_then_fail(t varchar2);
  function fail_plain return number;
  function divide(a number, b number) return number;
  function broken return number;
  function swap(x in out varchar2) return varchar2;
end;
/
create or replace package body {o}.test_api as
  function add(a number, b number default 10) return number is begin return a + b; end;
  function greet(name varchar2, greeting varchar2 default 'Hello') return varchar2 is begin return greeting || ', ' || name; end;
  procedure nothing is begin null; end;
  procedure echo(t in varchar2, n in number, i in integer, f in binary_double, b in boolean, d in date,
                 ts in timestamp, tz in timestamp with time zone, raw_in in raw, doc_json in clob,
                 o_t out varchar2, o_n out number, o_i out number, o_f out binary_double, o_b out boolean, o_d out date,
                 o_ts out timestamp, o_tz out timestamp with time zone, o_raw out raw, o_doc_json out clob) is
  begin
    o_t := t; o_n := n; o_i := i; o_f := f; o_b := b; o_d := d; o_ts := ts; o_tz := tz; o_raw := raw_in; o_doc_json := doc_json;
  end;
  procedure get_employee(id in number, name out varchar2, salary out number, hired out date) is
  begin
    select e.name, e.salary, e.hired into get_employee.name, get_employee.salary, get_employee.hired
      from {o}.employee e where e.id = get_employee.id;
  exception when no_data_found then
    raise_application_error(-20001, 'com.test.error.not_found: employee ' || id || ' not found');
  end;
  procedure stats(total out number, top out varchar2) is
  begin select count(*), max(name) into total, top from {o}.employee; end;
  function list_employees return sys_refcursor is c sys_refcursor;
  begin open c for select id, name, salary, hired from {o}.employee order by id; return c; end;
  procedure open_employees(min_salary in number default 0, rows_out out sys_refcursor) is
  begin open rows_out for select id, name from {o}.employee where salary >= min_salary order by id; end;
  procedure report is c sys_refcursor;
  begin open c for select id, name from {o}.employee order by id; dbms_sql.return_result(c); end;
  function find(id number) return varchar2 is begin return 'by id'; end;
  function find(name varchar2, exact boolean default true) return varchar2 is begin return 'by name'; end;
  procedure whoami(authid out varchar2, client_info out varchar2, module out varchar2, action out varchar2) is
  begin
    authid := sys_context('USERENV', 'CLIENT_IDENTIFIER'); client_info := sys_context('USERENV', 'CLIENT_INFO');
    module := sys_context('USERENV', 'MODULE'); action := sys_context('USERENV', 'ACTION');
  end;
  procedure note(t varchar2) is begin insert into {o}.audit values (t); end;
  procedure note_then_fail(t varchar2) is
  begin insert into {o}.audit values (t); raise_application_error(-20002, 'com.test.error.after_insert: rolled back'); end;
  function fail_plain return number is begin raise_application_error(-20005, 'plain failure'); end;
  function divide(a number, b number) return number is begin return a / b; end;
  function broken return number is n number;
  begin execute immediate 'select count(*) from {o}.no_such_table' into n; return n; end;
  function swap(x in out varchar2) return varchar2 is old varchar2(100) := x; begin x := upper(x); return old; end;
end;
/
"#;

async fn setup(test: &str) -> Option<(TestDb, std::sync::Arc<wamp::router::Router>, bridge::BridgeHandle, Peer)> {
    let env = oracle_env(test)?;
    let db = TestDb::new(env, API, "TEST_API");
    let router = router();
    let bridge = start_bridge(&router, &db.config("TEST_API"), Some("com.test.whoami")).await;
    let caller = Peer::join(&router, "anonymous").await;
    Some((db, router, bridge, caller))
}

async fn oracle_positional_named_and_default_arguments() {
    let Some((_db, _r, bridge, mut c)) = setup("oracle_positional_named_and_default_arguments").await else { return };
    assert_eq!(c.call_ok("com.test.add", vec![1.into(), 2.into()], Dict::new()).await, Value::from(3));
    assert_eq!(c.call_ok("com.test.add", vec![1.into()], Dict::new()).await, Value::from(11));
    assert_eq!(c.call_ok("com.test.add", vec![], dict! {"b" => 5, "a" => 1}).await, Value::from(6));
    assert_eq!(c.call_ok("com.test.greet", vec!["Ada".into()], Dict::new()).await, Value::from("Hello, Ada"));
    assert_eq!(c.call_ok("com.test.greet", vec![], dict! {"name" => "Bob", "greeting" => "Hi"}).await, Value::from("Hi, Bob"));
    bridge.stop().await;
}

async fn oracle_every_type_round_trips() {
    let Some((_db, _r, bridge, mut c)) = setup("oracle_every_type_round_trips").await else { return };
    let doc = Value::Dict(dict! {"a" => Value::List(vec![1.into(), "x".into(), Value::Null])});
    let kwargs = dict! {
        "t" => "héllo", "n" => "12345678901234567890.123456789", "i" => 9007199254740993i64, "f" => 0.1, "b" => true,
        "d" => "2024-02-29T13:45:00", "ts" => "2024-02-29T13:45:00.5", "tz" => "2024-02-29T13:45:00.5+01:00",
        "raw_in" => Value::Bytes(vec![0, 1, 255]), "doc_json" => doc.clone(),
    };
    let r = c.call_ok("com.test.echo", vec![], kwargs).await;
    let expect = dict! {
        "o_t" => "héllo", "o_n" => "12345678901234567890.123456789", "o_i" => 9007199254740993i64, "o_f" => 0.1, "o_b" => true,
        "o_d" => "2024-02-29T13:45:00", "o_ts" => "2024-02-29T13:45:00.5", "o_tz" => "2024-02-29T13:45:00.5+01:00",
        "o_raw" => Value::Bytes(vec![0, 1, 255]), "o_doc_json" => doc,
    };
    assert_eq!(r, Value::Dict(expect));
    let nulls: Dict = ["t", "n", "i", "f", "b", "d", "ts", "tz", "raw_in", "doc_json"].iter().map(|k| (k.to_string(), Value::Null)).collect();
    let Value::Dict(r) = c.call_ok("com.test.echo", vec![], nulls).await else { panic!("a record") };
    assert!(r.values().all(|v| *v == Value::Null), "NULL in, null out: {r:?}");
    bridge.stop().await;
}

async fn oracle_result_shapes() {
    let Some((_db, _r, bridge, mut c)) = setup("oracle_result_shapes").await else { return };
    match c.call_wait("com.test.nothing", vec![], Dict::new()).await {
        wamp::Message::Result { payload, .. } => assert!(payload.is_empty(), "void returns no arguments: {payload:?}"),
        other => panic!("{other:?}"),
    }
    let emp = c.call_ok("com.test.get_employee", vec![1.into()], Dict::new()).await;
    assert_eq!(emp, Value::Dict(dict! {"name" => "Ada", "salary" => 1000.5, "hired" => "2020-01-02T00:00:00"}));
    assert_eq!(c.call_ok("com.test.stats", vec![], Dict::new()).await, Value::Dict(dict! {"total" => 2, "top" => "Bob"}));
    let Value::List(all) = c.call_ok("com.test.list_employees", vec![], Dict::new()).await else { panic!("rows") };
    assert_eq!(all[1], Value::Dict(dict! {"id" => 2, "name" => "Bob", "salary" => 2000, "hired" => "2021-03-04T00:00:00"}));
    let rows = Value::List(vec![Value::Dict(dict! {"id" => 1, "name" => "Ada"}), Value::Dict(dict! {"id" => 2, "name" => "Bob"})]);
    assert_eq!(c.call_ok("com.test.open_employees", vec![], Dict::new()).await, rows);
    assert_eq!(c.call_ok("com.test.report", vec![], Dict::new()).await, rows, "implicit results");
    assert_eq!(c.call_ok("com.test.swap", vec!["ab".into()], Dict::new()).await, Value::Dict(dict! {"return" => "ab", "x" => "AB"}));
    bridge.stop().await;
}

async fn oracle_raised_errors_map_to_uris_runtime_errors_or_a_generic_message() {
    let Some((_db, _r, bridge, mut c)) = setup("oracle_raised_errors_map_to_uris_runtime_errors_or_a_generic_message").await else { return };
    let (uri, args, _) = c.call_err("com.test.get_employee", vec![7.into()], Dict::new()).await;
    assert_eq!((uri.as_str(), args), ("com.test.error.not_found", vec![Value::from("employee 7 not found")]));
    let (uri, args, kwargs) = c.call_err("com.test.fail_plain", vec![], Dict::new()).await;
    assert_eq!((uri.as_str(), args), ("wamp.error.runtime_error", vec![Value::from("plain failure")]));
    assert_eq!(kwargs["sqlstate"], Value::from("ORA-20005"));
    for (procedure, args) in [("com.test.divide", vec![1.into(), 0.into()]), ("com.test.broken", vec![])] {
        let (uri, args, kwargs) = c.call_err(procedure, args, Dict::new()).await;
        assert_eq!(uri, "wamp.error.runtime_error");
        let text = args[0].as_str().unwrap();
        assert!(!text.contains("NO_SUCH_TABLE") && text.contains("incident"), "internal detail leaked: {text}");
        assert!(kwargs.contains_key("incident"));
    }
    bridge.stop().await;
}

async fn oracle_invalid_arguments_and_injection_attempts_stay_data() {
    let Some((db, _r, bridge, mut c)) = setup("oracle_invalid_arguments_and_injection_attempts_stay_data").await else { return };
    let (uri, msg, _) = c.call_err("com.test.add", vec![], Dict::new()).await;
    assert_eq!((uri.as_str(), msg[0].as_str()), ("wamp.error.invalid_argument", Some("missing required argument 'a'")));
    let (_, msg, _) = c.call_err("com.test.get_employee", vec![], dict! {"id" => "1; drop table x"}).await;
    assert!(msg[0].as_str().unwrap().starts_with("argument 'id'"), "{msg:?}");
    for evil in ["name\" => 'x'); drop table employee; --", "NAME", "\"name\""] {
        let (uri, _, _) = c.call_err("com.test.greet", vec![], dict! {evil => "x"}).await;
        assert_eq!(uri, "wamp.error.invalid_argument", "kwarg name {evil:?}");
    }
    for evil in ["x'); drop table employee; --", "x\"); end; /", "&&oops"] {
        assert_eq!(c.call_ok("com.test.greet", vec![], dict! {"name" => evil}).await, Value::from(format!("Hello, {evil}")));
    }
    assert_eq!(db.count("select count(*) from {o}.employee"), 2);
    bridge.stop().await;
}

async fn oracle_overloads_resolve_by_names_and_arity() {
    let Some((_db, _r, bridge, mut c)) = setup("oracle_overloads_resolve_by_names_and_arity").await else { return };
    assert_eq!(c.call_ok("com.test.find", vec![], dict! {"id" => 1}).await, Value::from("by id"));
    assert_eq!(c.call_ok("com.test.find", vec![], dict! {"name" => "Ada"}).await, Value::from("by name"));
    assert_eq!(c.call_ok("com.test.find", vec!["Ada".into(), false.into()], Dict::new()).await, Value::from("by name"));
    let (uri, msg, _) = c.call_err("com.test.find", vec![1.into()], Dict::new()).await;
    assert_eq!(uri, "wamp.error.invalid_argument");
    assert!(msg[0].as_str().unwrap().starts_with("ambiguous call"), "{msg:?}");
    bridge.stop().await;
}

async fn oracle_caller_identity_and_transactions() {
    let Some((db, router, bridge, mut c)) = setup("oracle_caller_identity_and_transactions").await else { return };
    let who = c.call_ok("com.test.whoami", vec![], Dict::new()).await;
    let info = format!("session={};role=anonymous", c.id.0);
    let expected = dict! {"authid" => "anonymous-user", "client_info" => info.as_str(), "module" => "wamp", "action" => "com.test.whoami"};
    assert_eq!(who, Value::Dict(expected));
    let mut hidden = Peer::join(&router, "hidden").await;
    let who = hidden.call_ok("com.test.whoami", vec![], Dict::new()).await;
    assert_eq!(who.as_dict().unwrap()["authid"], Value::Null, "nothing disclosed, nothing set");
    c.call_ok("com.test.note", vec!["kept".into()], Dict::new()).await;
    let (uri, _, _) = c.call_err("com.test.note_then_fail", vec!["lost".into()], Dict::new()).await;
    assert_eq!(uri, "com.test.error.after_insert");
    assert_eq!(db.count("select count(*) from {o}.audit where note = 'kept'"), 1);
    assert_eq!(db.count("select count(*) from {o}.audit"), 1);
    bridge.stop().await;
}

oracle_suite!(oracle_calls: oracle_positional_named_and_default_arguments, oracle_every_type_round_trips, oracle_result_shapes, oracle_raised_errors_map_to_uris_runtime_errors_or_a_generic_message, oracle_invalid_arguments_and_injection_attempts_stay_data, oracle_overloads_resolve_by_names_and_arity, oracle_caller_identity_and_transactions);
