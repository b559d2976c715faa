-- WAMP events for Oracle: the queue, the overflow table and the packages WAMP and WAMP_CONSUMER.
--
-- Run as the application schema owner (e.g. HR), who needs CREATE TABLE, CREATE SEQUENCE,
-- CREATE PROCEDURE, a tablespace quota, and EXECUTE on SYS.DBMS_AQ and SYS.DBMS_AQADM (a DBA
-- grants these; see oracle-bridge/README.md). Works on 19c and 23ai; safe to run again (existing
-- objects are kept, the packages are replaced).
--
--   sql HR/secret@//localhost:1521/FREEPDB1 @plsql/install.sql
--
-- Then: plsql/subscriber.sql (the gateway's consumer name), plsql/grants.sql (the gateway user).
whenever sqlerror exit failure

-- Event ids and envelopes too large for a RAW message.
declare
  procedure ddl(p_sql varchar2) is
  begin
    execute immediate p_sql;
  exception
    when others then
      -- ORA-00955: name is already used by an existing object.
      if sqlcode != -955 then
        raise;
      end if;
  end;
begin
  ddl('create sequence wamp_event_seq cache 100');
  ddl('create table wamp_event_overflow ('
      || ' id number primary key,'
      || ' envelope clob not null,'
      || ' created_at timestamp with time zone default systimestamp not null)');
end;
/

-- A RAW multi-consumer queue: every subscriber (consumer name) receives every message.
begin
  dbms_aqadm.create_queue_table(
    queue_table        => 'WAMP_EVENTS_QT',
    queue_payload_type => 'RAW',
    multiple_consumers => true,
    comment            => 'WAMP events published with WAMP.PUBLISH');
exception
  when others then
    -- ORA-24001: the queue table already exists.
    if sqlcode != -24001 then
      raise;
    end if;
end;
/

begin
  dbms_aqadm.create_queue(queue_name => 'WAMP_EVENTS', queue_table => 'WAMP_EVENTS_QT');
exception
  when others then
    -- ORA-24006: the queue already exists.
    if sqlcode != -24006 then
      raise;
    end if;
end;
/

begin
  dbms_aqadm.start_queue(queue_name => 'WAMP_EVENTS');
end;
/

create or replace package wamp authid definer as
  -- Publishes an event to the WAMP topic p_topic when (and only if) the calling transaction
  -- commits. p_args is a JSON array, p_kwargs and p_options JSON objects (PUBLISH options such
  -- as exclude or eligible), each as text; NULL means none.
  procedure publish(
    p_topic   varchar2,
    p_args    clob default null,
    p_kwargs  clob default null,
    p_options clob default null);
end wamp;
/

create or replace package body wamp as
  -- Largest envelope sent inside the RAW message; larger ones go to WAMP_EVENT_OVERFLOW.
  c_max_raw constant pls_integer := 32000;

  e_no_recipients exception;
  pragma exception_init(e_no_recipients, -24033);

  function checked_json(p_json clob, p_name varchar2, p_open varchar2) return clob is
    l_valid pls_integer;
  begin
    if p_json is null then
      return 'null';
    end if;
    select count(*) into l_valid from dual where p_json is json;
    if l_valid = 0 or regexp_substr(dbms_lob.substr(p_json, 200, 1), '[^[:space:]]') != p_open then
      raise_application_error(-20090, 'wamp.error.invalid_argument: ' || p_name || ' must be a JSON '
        || case p_open when '[' then 'array' else 'object' end);
    end if;
    return p_json;
  end checked_json;

  procedure publish(
    p_topic   varchar2,
    p_args    clob default null,
    p_kwargs  clob default null,
    p_options clob default null)
  is
    l_id      number;
    l_env     clob;
    l_raw     raw(32767);
    l_enqueue dbms_aq.enqueue_options_t;
    l_props   dbms_aq.message_properties_t;
    l_msgid   raw(16);
  begin
    -- The topic is spliced into JSON text: refuse what would need escaping (and is no URI).
    if p_topic is null or length(p_topic) > 255 or regexp_like(p_topic, '[[:space:]#]')
       or instr(p_topic, '"') > 0 or instr(p_topic, chr(92)) > 0 then
      raise_application_error(-20091, 'wamp.error.invalid_uri: not a valid topic');
    end if;
    l_id := wamp_event_seq.nextval;
    l_env := '{"id":' || to_char(l_id) || ',"topic":"' || p_topic || '","args":'
      || checked_json(p_args, 'p_args', '[') || ',"kwargs":'
      || checked_json(p_kwargs, 'p_kwargs', '{') || ',"options":'
      || checked_json(p_options, 'p_options', '{') || '}';
    if dbms_lob.getlength(l_env) <= c_max_raw then
      begin
        l_raw := utl_i18n.string_to_raw(dbms_lob.substr(l_env, c_max_raw, 1), 'AL32UTF8');
      exception
        when value_error then
          l_raw := null;
      end;
    end if;
    if l_raw is null or utl_raw.length(l_raw) > c_max_raw then
      insert into wamp_event_overflow (id, envelope) values (l_id, l_env);
      l_raw := utl_i18n.string_to_raw('{"overflow":' || to_char(l_id) || '}', 'AL32UTF8');
    end if;
    -- Visible to consumers only when the caller commits; a rollback publishes nothing.
    l_enqueue.visibility := dbms_aq.on_commit;
    l_props.correlation := substr(p_topic, 1, 128);
    begin
      dbms_aq.enqueue(
        queue_name         => 'WAMP_EVENTS',
        enqueue_options    => l_enqueue,
        message_properties => l_props,
        payload            => l_raw,
        msgid              => l_msgid);
    exception
      when e_no_recipients then
        -- No consumer is subscribed yet: there is nobody to deliver to.
        delete from wamp_event_overflow where id = l_id;
    end;
  end publish;
end wamp;
/

create or replace package wamp_consumer authid definer as
  -- For the gateway's event pump (granted by plsql/grants.sql): reads and deletes an overflow
  -- envelope in the pump's dequeue transaction; NULL if it is gone.
  function take_overflow(p_id number) return clob;
  -- Deletes overflow envelopes older than p_age_seconds; returns how many.
  function purge_overflow(p_age_seconds number) return number;
end wamp_consumer;
/

create or replace package body wamp_consumer as
  function take_overflow(p_id number) return clob is
    l_stored clob;
    l_copy   clob;
  begin
    select envelope into l_stored from wamp_event_overflow where id = p_id;
    -- A copy: the stored LOB goes away with its row.
    dbms_lob.createtemporary(l_copy, true);
    dbms_lob.copy(l_copy, l_stored, dbms_lob.getlength(l_stored));
    delete from wamp_event_overflow where id = p_id;
    return l_copy;
  exception
    when no_data_found then
      return null;
  end take_overflow;

  function purge_overflow(p_age_seconds number) return number is
  begin
    delete from wamp_event_overflow
     where created_at < systimestamp - numtodsinterval(p_age_seconds, 'SECOND');
    return sql%rowcount;
  end purge_overflow;
end wamp_consumer;
/
