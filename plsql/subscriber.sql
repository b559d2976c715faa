-- Adds the gateway's consumer name (config key `consumer`, default "gateway") as a subscriber of
-- WAMP_EVENTS. Run as the queue owner after plsql/install.sql; safe to run again. Each consumer
-- name receives every event published after it subscribed.
--
--   sql HR/secret@//localhost:1521/FREEPDB1 @plsql/subscriber.sql    (asks for consumer)
whenever sqlerror exit failure

begin
  dbms_aqadm.add_subscriber(
    queue_name => 'WAMP_EVENTS',
    subscriber => sys.aq$_agent(upper('&&consumer'), null, null));
exception
  when others then
    -- ORA-24034: already a subscriber.
    if sqlcode != -24034 then
      raise;
    end if;
end;
/
