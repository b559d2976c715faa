-- Removes what plsql/install.sql created (the queue with its undelivered events, the overflow
-- table, the sequence and the packages WAMP and WAMP_CONSUMER). Run as the schema owner.
whenever sqlerror exit failure

declare
  procedure try(p_sql varchar2, p_absent number) is
  begin
    execute immediate p_sql;
  exception
    when others then
      if sqlcode != p_absent then
        raise;
      end if;
  end;
begin
  -- ORA-24002: queue table does not exist; ORA-04043: object does not exist;
  -- ORA-00942: table does not exist; ORA-02289: sequence does not exist.
  try('begin dbms_aqadm.drop_queue_table(queue_table => ''WAMP_EVENTS_QT'', force => true); end;', -24002);
  try('drop package wamp_consumer', -4043);
  try('drop package wamp', -4043);
  try('drop table wamp_event_overflow purge', -942);
  try('drop sequence wamp_event_seq', -2289);
end;
/
