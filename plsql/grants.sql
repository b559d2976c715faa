-- Least privilege for the gateway's database user: EXECUTE on the exposed package, DEQUEUE on
-- WAMP_EVENTS, EXECUTE on WAMP_CONSUMER (overflow envelopes). Nothing else: the gateway user
-- owns no objects and cannot publish or read tables. Run as the schema owner; run once per
-- exposed package (it asks for api_package and gateway_user).
--
--   sql HR/secret@//localhost:1521/FREEPDB1 @plsql/grants.sql
--
-- A DBA gives the gateway user CREATE SESSION (and, on some versions, EXECUTE on SYS.DBMS_AQ).
whenever sqlerror exit failure

grant execute on &&api_package to &&gateway_user
/

grant execute on wamp_consumer to &&gateway_user
/

begin
  dbms_aqadm.grant_queue_privilege(
    privilege    => 'DEQUEUE',
    queue_name   => 'WAMP_EVENTS',
    grantee      => upper('&&gateway_user'),
    grant_option => false);
end;
/
