//! Functions as procedures, end to end through the router: arguments, types, result shapes,
//! errors, injection attempts, overloads, identity, transactions.

mod common;

use std::time::Duration;

use common::*;
use wamp::{dict, Dict, Value};

const SCHEMA: &str = r#"
create type {s}.mood as enum ('sad', 'ok', 'happy');
create table {s}.employee (id int primary key, name text not null, salary numeric(10,2), hired date);
insert into {s}.employee values (1, 'Ada', 1000.50, '2020-01-02'), (2, 'Bob', 2000, '2021-03-04');
create table {s}.audit (note text);

create function {s}.add(a int, b int default 10) returns int language sql immutable as 'select a + b';
create function {s}.greet(name text, greeting text default 'Hello') returns text language sql immutable
  as $$ select greeting || ', ' || name $$;
create function {s}.nothing() returns void language plpgsql as $$ begin end $$;
create function {s}.doc(x int) returns jsonb language sql immutable
  as $$ select jsonb_build_object('x', x, 'list', jsonb_build_array(1, 'two', null), 'nested', jsonb_build_object('ok', true)) $$;
create function {s}.get_employee(id int) returns {s}.employee language plpgsql stable as $$
declare r {s}.employee;
begin
  select * into r from {s}.employee e where e.id = get_employee.id;
  if not found then raise exception 'com.test.error.not_found: employee % not found', id; end if;
  return r;
end $$;
create function {s}.stats(out total int, out top text) language sql stable
  as $$ select count(*)::int, max(name) from {s}.employee $$;
create function {s}.list_employees() returns setof {s}.employee language sql stable
  as $$ select * from {s}.employee order by id $$;
create function {s}.employee_names() returns table (id int, name text) language sql stable
  as $$ select id, name from {s}.employee order by id $$;
create function {s}.series(n int) returns setof int language sql immutable as 'select generate_series(1, n)';
create function {s}.echo(t text, i2 smallint, i4 int, i8 bigint, f4 real, f8 double precision, n numeric,
                         b bool, j json, jb jsonb, ts timestamp, tstz timestamptz, d date, tm time, u uuid,
                         raw bytea, arr int[], tarr text[], m {s}.mood)
  returns table (o_t text, o_i2 smallint, o_i4 int, o_i8 bigint, o_f4 real, o_f8 double precision, o_n numeric,
                 o_b bool, o_j json, o_jb jsonb, o_ts timestamp, o_tstz timestamptz, o_d date, o_tm time, o_u uuid,
                 o_raw bytea, o_arr int[], o_tarr text[], o_m {s}.mood)
  language sql immutable as $$ select t, i2, i4, i8, f4, f8, n, b, j, jb, ts, tstz, d, tm, u, raw, arr, tarr, m $$;
create function {s}.span() returns interval language sql immutable as $$ select interval '1 day 2 hours' $$;
create function {s}.fail_plain() returns int language plpgsql as $$ begin raise exception 'plain failure'; end $$;
create function {s}.fail_custom() returns int language plpgsql as $$
begin raise exception 'custom failure' using errcode = 'U0001', detail = 'some detail', hint = 'some hint'; end $$;
create function {s}.divide(a int, b int) returns int language sql immutable as 'select a / b';
create function {s}.broken() returns bigint language plpgsql as $$
begin return (select count(*) from {s}.no_such_table); end $$;
create function {s}.find(id int) returns text language sql stable as $$ select 'by id' $$;
create function {s}.find(name text, exact bool default true) returns text language sql stable as $$ select 'by name' $$;
create function {s}.whoami() returns jsonb language sql stable as $$
  select jsonb_build_object('session', current_setting('wamp.session'), 'authid', current_setting('wamp.authid'),
                            'authrole', current_setting('wamp.authrole'), 'read_only', current_setting('transaction_read_only')) $$;
create function {s}.note(t text) returns void language sql as $$ insert into {s}.audit values (t) $$;
create function {s}.note_then_fail(t text) returns void language plpgsql as $$
begin insert into {s}.audit values (t); raise exception 'com.test.error.after_insert: rolled back'; end $$;
create function {s}.sneaky_write() returns void language plpgsql stable as $$ begin perform {s}.note('stable'); end $$;
"#;

async fn setup() -> (TestDb, std::sync::Arc<wamp::router::Router>, bridge::BridgeHandle, Peer) {
    let db = TestDb::new(SCHEMA).await;
    let router = router();
    let bridge = start_bridge(&router, &db.config(), Some("com.test.whoami")).await;
    let caller = Peer::join(&router, "anonymous").await;
    (db, router, bridge, caller)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positional_named_and_default_arguments() {
    let (_db, _r, bridge, mut c) = setup().await;
    assert_eq!(c.call_ok("com.test.add", vec![1.into(), 2.into()], Dict::new()).await, Value::from(3));
    assert_eq!(c.call_ok("com.test.add", vec![1.into()], Dict::new()).await, Value::from(11));
    assert_eq!(c.call_ok("com.test.add", vec![], dict! {"b" => 5, "a" => 1}).await, Value::from(6));
    assert_eq!(c.call_ok("com.test.add", vec![1.into()], dict! {"b" => 1}).await, Value::from(2));
    assert_eq!(c.call_ok("com.test.greet", vec!["Ada".into()], Dict::new()).await, Value::from("Hello, Ada"));
    assert_eq!(c.call_ok("com.test.greet", vec![], dict! {"name" => "Bob", "greeting" => "Hi"}).await, Value::from("Hi, Bob"));
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips() {
    let (_db, _r, bridge, mut c) = setup().await;
    let json = Value::Dict(dict! {"a" => Value::List(vec![1.into(), "x".into(), Value::Null])});
    let ints = Value::List(vec![Value::List(vec![1.into(), 2.into()]), Value::List(vec![3.into(), Value::Null])]);
    let texts = Value::List(vec!["a\"b".into(), "c,d}".into(), "NULL".into(), Value::Null, "back\\slash".into()]);
    let kwargs = dict! {
        "t" => "héllo", "i2" => -32768, "i4" => 2147483647, "i8" => 9007199254740993i64, "f4" => 1.5, "f8" => 0.1,
        "n" => "12345678901234567890.123456789", "b" => true, "j" => json.clone(), "jb" => json.clone(),
        "ts" => "2024-02-29T13:45:00", "tstz" => "2024-02-29T13:45:00.5+01:00", "d" => "2024-02-29", "tm" => "13:45:00.25",
        "u" => "123E4567-E89B-12D3-A456-426614174000", "raw" => Value::Bytes(vec![0, 1, 255]), "arr" => ints.clone(),
        "tarr" => texts.clone(), "m" => "happy",
    };
    let rows = c.call_ok("com.test.echo", vec![], kwargs).await;
    let Value::List(rows) = rows else { panic!("expected a list of rows, got {rows:?}") };
    let Value::Dict(r) = &rows[0] else { panic!("expected a row object") };
    let expect = [
        ("o_t", Value::from("héllo")),
        ("o_i2", Value::from(-32768)),
        ("o_i4", Value::from(2147483647)),
        ("o_i8", Value::from(9007199254740993i64)),
        ("o_f4", Value::from(1.5)),
        ("o_f8", Value::from(0.1)),
        ("o_n", Value::from("12345678901234567890.123456789")),
        ("o_b", Value::from(true)),
        ("o_j", json.clone()),
        ("o_jb", json),
        ("o_ts", Value::from("2024-02-29T13:45:00")),
        ("o_tstz", Value::from("2024-02-29T12:45:00.5Z")),
        ("o_d", Value::from("2024-02-29")),
        ("o_tm", Value::from("13:45:00.25")),
        ("o_u", Value::from("123e4567-e89b-12d3-a456-426614174000")),
        ("o_raw", Value::Bytes(vec![0, 1, 255])),
        ("o_arr", ints),
        ("o_tarr", texts),
        ("o_m", Value::from("happy")),
    ];
    for (k, v) in expect {
        assert_eq!(r.get(k), Some(&v), "column {k}");
    }
    // Exact numerics come back as numbers.
    let mut kw = Dict::new();
    for k in ["t", "i2", "i4", "i8", "f4", "f8", "b", "j", "jb", "ts", "tstz", "d", "tm", "u", "raw", "arr", "tarr", "m"] {
        kw.insert(k.into(), Value::Null);
    }
    kw.insert("n".into(), Value::from(12.5));
    let Value::List(rows) = c.call_ok("com.test.echo", vec![], kw).await else { panic!() };
    let Value::Dict(r) = &rows[0] else { panic!() };
    assert_eq!(r["o_n"], Value::from(12.5));
    assert!(r.iter().filter(|(k, _)| *k != "o_n").all(|(_, v)| *v == Value::Null), "NULL in, null out: {r:?}");
    // A type the decoder does not know comes back as its text.
    assert_eq!(c.call_ok("com.test.span", vec![], Dict::new()).await, Value::from("1 day 02:00:00"));
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_shapes() {
    let (_db, _r, bridge, mut c) = setup().await;
    match c.call_wait("com.test.nothing", vec![], Dict::new()).await {
        wamp::Message::Result { payload, .. } => assert!(payload.is_empty(), "void returns no arguments: {payload:?}"),
        other => panic!("{other:?}"),
    }
    let doc = c.call_ok("com.test.doc", vec![7.into()], Dict::new()).await;
    assert_eq!(
        doc,
        Value::Dict(dict! {"x" => 7, "list" => Value::List(vec![1.into(), "two".into(), Value::Null]), "nested" => Value::Dict(dict! {"ok" => true})})
    );
    let emp = c.call_ok("com.test.get_employee", vec![1.into()], Dict::new()).await;
    assert_eq!(emp, Value::Dict(dict! {"id" => 1, "name" => "Ada", "salary" => 1000.5, "hired" => "2020-01-02"}));
    assert_eq!(c.call_ok("com.test.stats", vec![], Dict::new()).await, Value::Dict(dict! {"total" => 2, "top" => "Bob"}));
    let Value::List(all) = c.call_ok("com.test.list_employees", vec![], Dict::new()).await else { panic!() };
    assert_eq!(all.len(), 2);
    assert_eq!(all[1], Value::Dict(dict! {"id" => 2, "name" => "Bob", "salary" => 2000, "hired" => "2021-03-04"}));
    let names = c.call_ok("com.test.employee_names", vec![], Dict::new()).await;
    assert_eq!(names, Value::List(vec![Value::Dict(dict! {"id" => 1, "name" => "Ada"}), Value::Dict(dict! {"id" => 2, "name" => "Bob"})]));
    assert_eq!(c.call_ok("com.test.series", vec![3.into()], Dict::new()).await, Value::List(vec![1.into(), 2.into(), 3.into()]));
    assert_eq!(c.call_ok("com.test.series", vec![0.into()], Dict::new()).await, Value::List(vec![]));
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raised_errors_map_to_uris_runtime_errors_or_a_generic_message() {
    let (_db, _r, bridge, mut c) = setup().await;
    let (uri, args, kwargs) = c.call_err("com.test.get_employee", vec![7.into()], Dict::new()).await;
    assert_eq!((uri.as_str(), args), ("com.test.error.not_found", vec![Value::from("employee 7 not found")]));
    assert!(kwargs.is_empty());
    let (uri, args, kwargs) = c.call_err("com.test.fail_plain", vec![], Dict::new()).await;
    assert_eq!((uri.as_str(), args), ("wamp.error.runtime_error", vec![Value::from("plain failure")]));
    assert_eq!(kwargs["sqlstate"], Value::from("P0001"));
    let (uri, _, kwargs) = c.call_err("com.test.fail_custom", vec![], Dict::new()).await;
    assert_eq!(uri, "wamp.error.runtime_error");
    assert_eq!((&kwargs["sqlstate"], &kwargs["detail"], &kwargs["hint"]), (&Value::from("U0001"), &Value::from("some detail"), &Value::from("some hint")));
    let (uri, args, kwargs) = c.call_err("com.test.divide", vec![1.into(), 0.into()], Dict::new()).await;
    assert_eq!((uri.as_str(), args), ("wamp.error.runtime_error", vec![Value::from("division by zero")]));
    assert_eq!(kwargs["sqlstate"], Value::from("22012"));
    let (uri, args, kwargs) = c.call_err("com.test.broken", vec![], Dict::new()).await;
    assert_eq!(uri, "wamp.error.runtime_error");
    let text = args[0].as_str().unwrap();
    assert!(!text.contains("no_such_table") && text.contains("incident"), "internal detail leaked: {text}");
    assert!(kwargs.contains_key("incident") && !kwargs.contains_key("sqlstate"));
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_arguments_name_the_parameter() {
    let (_db, _r, bridge, mut c) = setup().await;
    let cases: Vec<(Vec<Value>, Dict, &str)> = vec![
        (vec![], Dict::new(), "missing required argument 'a'"),
        (vec![1.into()], dict! {"zz" => 2}, "unknown argument 'zz'"),
        (vec!["x".into()], Dict::new(), "argument 'a': expected integer (32 bit), got string"),
        (vec![1.into(), 2.into(), 3.into()], Dict::new(), "too many positional arguments"),
        (vec![1.into()], dict! {"a" => 2}, "argument 'a' given both by position and by name"),
        (vec![3_000_000_000i64.into()], Dict::new(), "argument 'a': expected integer (32 bit)"),
    ];
    for (args, kwargs, expected) in cases {
        let (uri, msg, _) = c.call_err("com.test.add", args, kwargs).await;
        assert_eq!(uri, "wamp.error.invalid_argument");
        let msg = msg[0].as_str().unwrap();
        assert!(msg.contains(expected), "'{msg}' should contain '{expected}'");
    }
    let (uri, msg, _) = c.call_err("com.test.echo", vec![], dict! {"u" => "not-a-uuid"}).await;
    assert_eq!(uri, "wamp.error.invalid_argument");
    assert!(msg[0].as_str().unwrap().starts_with("missing required argument"));
    let (_, msg, _) = c.call_err("com.test.get_employee", vec![], dict! {"id" => "1; drop table x"}).await;
    assert_eq!(msg[0], Value::from("argument 'id': expected integer (32 bit), got string"));
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_attempts_in_names_and_values_stay_data() {
    let (db, _r, bridge, mut c) = setup().await;
    let drop = format!("drop table {}.employee", db.schema);
    let names = [
        format!("name\" => 'x'); {drop}; --"),
        format!("name => 'x'); {drop}; --"),
        "\"name\"".to_string(),
        "NAME".to_string(),
        format!("name\u{0}{drop}"),
    ];
    for evil in names {
        let (uri, _, _) = c.call_err("com.test.greet", vec![], dict! {evil.as_str() => "x"}).await;
        assert_eq!(uri, "wamp.error.invalid_argument", "kwarg name {evil:?}");
    }
    for evil in [format!("x'); {drop}; --"), format!("x\"); {drop}; --"), "$$; select 1; $$".to_string(), "\\'; --".to_string()] {
        let got = c.call_ok("com.test.greet", vec![], dict! {"name" => evil.as_str()}).await;
        assert_eq!(got, Value::from(format!("Hello, {evil}")));
    }
    let arr = Value::List(vec!["}\"), ({".into(), format!("'; {drop}; --").into()]);
    let mut kw: Dict = ["t", "i2", "i4", "i8", "f4", "f8", "n", "b", "j", "jb", "ts", "tstz", "d", "tm", "u", "raw", "arr", "m"]
        .iter()
        .map(|k| (k.to_string(), Value::Null))
        .collect();
    kw.insert("tarr".into(), arr.clone());
    let Value::List(rows) = c.call_ok("com.test.echo", vec![], kw).await else { panic!() };
    assert_eq!(rows[0].as_dict().unwrap()["o_tarr"], arr);
    let n = db.client.query_one(&format!("select count(*) from {}.employee", db.schema), &[]).await.expect("table still exists");
    assert_eq!(n.get::<_, i64>(0), 2);
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overloads_resolve_by_names_and_arity() {
    let (_db, _r, bridge, mut c) = setup().await;
    assert_eq!(c.call_ok("com.test.find", vec![], dict! {"id" => 1}).await, Value::from("by id"));
    assert_eq!(c.call_ok("com.test.find", vec![], dict! {"name" => "Ada"}).await, Value::from("by name"));
    assert_eq!(c.call_ok("com.test.find", vec!["Ada".into(), false.into()], Dict::new()).await, Value::from("by name"));
    let (uri, msg, _) = c.call_err("com.test.find", vec![1.into()], Dict::new()).await;
    assert_eq!(uri, "wamp.error.invalid_argument");
    assert!(msg[0].as_str().unwrap().starts_with("ambiguous call"), "{msg:?}");
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_identity_and_transactions() {
    let (db, router, bridge, mut c) = setup().await;
    let who = c.call_ok("com.test.whoami", vec![], Dict::new()).await;
    let expected = dict! {"session" => c.id.0.to_string(), "authid" => "anonymous-user", "authrole" => "anonymous", "read_only" => "on"};
    assert_eq!(who, Value::Dict(expected));
    // A role without caller disclosure: the settings are empty.
    let mut hidden = Peer::join(&router, "hidden").await;
    let who = hidden.call_ok("com.test.whoami", vec![], Dict::new()).await;
    assert_eq!(who, Value::Dict(dict! {"session" => "", "authid" => "", "authrole" => "", "read_only" => "on"}));
    // Commit on success, rollback on error, read-only for STABLE.
    c.call_ok("com.test.note", vec!["kept".into()], Dict::new()).await;
    let (uri, _, _) = c.call_err("com.test.note_then_fail", vec!["lost".into()], Dict::new()).await;
    assert_eq!(uri, "com.test.error.after_insert");
    let (uri, args, kwargs) = c.call_err("com.test.sneaky_write", vec![], Dict::new()).await;
    assert_eq!(uri, "wamp.error.runtime_error", "{args:?}");
    assert_eq!(kwargs["sqlstate"], Value::from("25006"));
    let notes: Vec<String> = db.client.query(&format!("select note from {}.audit", db.schema), &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(notes, vec!["kept".to_string()]);
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_role_runs_the_call_as_the_callers_role() {
    let db = TestDb::new(
        "do $$ begin create role hr_test_reader nologin; exception when others then null; end $$;
         create table {s}.secret (x int); insert into {s}.secret values (42);
         create table {s}.public_data (x int); insert into {s}.public_data values (7);
         grant usage on schema {s} to hr_test_reader; grant select on {s}.public_data to hr_test_reader;
         create function {s}.me() returns text language sql stable as 'select current_user::text';
         create function {s}.read_public() returns int language sql stable as $$ select x from {s}.public_data $$;
         create function {s}.read_secret() returns int language sql stable as $$ select x from {s}.secret $$;",
    )
    .await;
    let router = router();
    let mut config = db.config();
    config.set_role = true;
    let bridge = start_bridge(&router, &config, Some("com.test.read_secret")).await;
    let mut reader = Peer::join(&router, "hr_test_reader").await;
    assert_eq!(reader.call_ok("com.test.me", vec![], Dict::new()).await, Value::from("hr_test_reader"));
    assert_eq!(reader.call_ok("com.test.read_public", vec![], Dict::new()).await, Value::from(7));
    let (uri, _, _) = reader.call_err("com.test.read_secret", vec![], Dict::new()).await;
    assert_eq!(uri, "wamp.error.not_authorized");
    // A caller whose role is not disclosed cannot run as anyone.
    let mut hidden = Peer::join(&router, "hidden").await;
    let (uri, _, _) = hidden.call_err("com.test.me", vec![], Dict::new()).await;
    assert_eq!(uri, "wamp.error.not_authorized");
    bridge.stop().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_redefined_with_another_result_type_is_called_in_its_new_shape() {
    // One pooled connection, so the second call meets the statement the first one prepared.
    let db = TestDb::new("create function {s}.shape() returns table (a int) language sql as 'select 1';").await;
    let router = router();
    let mut config = db.config();
    config.pool_size = 1;
    let bridge = start_bridge(&router, &config, Some("com.test.shape")).await;
    let mut c = Peer::join(&router, "anonymous").await;
    let first = c.call_ok("com.test.shape", vec![], Dict::new()).await;
    assert_eq!(first, Value::List(vec![Value::Dict(dict! {"a" => 1})]));
    db.exec("drop function {s}.shape(); create function {s}.shape() returns table (a int, b text) language sql as $$ select 2, 'two' $$;")
        .await;
    // While the bridge re-reads the catalog the procedure may be briefly unregistered; it must
    // never fail with the stale statement's error.
    let mut tries = 0;
    loop {
        match c.call_wait("com.test.shape", vec![], Dict::new()).await {
            wamp::Message::Result { payload, .. } => {
                assert_eq!(payload.args, Some(vec![Value::List(vec![Value::Dict(dict! {"a" => 2, "b" => "two"})])]));
                break;
            }
            wamp::Message::Error { error, .. } if error.as_str() == "wamp.error.no_such_procedure" && tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("the redefined function failed: {other:?}"),
        }
    }
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_parameters_take_objects_or_row_literals() {
    let db = TestDb::new(
        "create type {s}.person as (name text, age int, tags text[]);
         create function {s}.describe(p {s}.person) returns text language sql immutable
           as $$ select p.name || ':' || coalesce(p.age::text, '?') || ':' || coalesce(array_to_string(p.tags, '+'), '-') $$;
         create function {s}.names(ps {s}.person[]) returns text language sql immutable
           as $$ select string_agg(x.name, ',' order by x.ord) from unnest(ps) with ordinality as x(name, age, tags, ord) $$;",
    )
    .await;
    let router = router();
    let bridge = start_bridge(&router, &db.config(), Some("com.test.names")).await;
    let mut c = Peer::join(&router, "anonymous").await;
    let ada = Value::Dict(dict! {"name" => "Ada", "age" => 36, "tags" => Value::List(vec!["math".into(), "code".into()])});
    assert_eq!(c.call_ok("com.test.describe", vec![ada.clone()], Dict::new()).await, Value::from("Ada:36:math+code"));
    // Missing keys are NULL; keys are bound, never spliced: a quote in a value is just data.
    let partial = Value::Dict(dict! {"name" => "O'Brien\"); drop table x; --"});
    assert_eq!(c.call_ok("com.test.describe", vec![], dict! {"p" => partial}).await, Value::from("O'Brien\"); drop table x; --:?:-"));
    // The row literal still works.
    assert_eq!(c.call_ok("com.test.describe", vec!["(Bob,7,{x})".into()], Dict::new()).await, Value::from("Bob:7:x"));
    let people = Value::List(vec![ada, Value::Dict(dict! {"name" => "Grace"}), Value::Dict(dict! {"name" => "Linus"})]);
    assert_eq!(c.call_ok("com.test.names", vec![people], Dict::new()).await, Value::from("Ada,Grace,Linus"));
    // A value of the wrong kind names the parameter.
    let (error, args, _) = c.call_err("com.test.describe", vec![42.into()], Dict::new()).await;
    assert_eq!(error, "wamp.error.invalid_argument");
    assert!(format!("{args:?}").contains("argument 'p': expected object"), "{args:?}");
    bridge.stop().await;
}
