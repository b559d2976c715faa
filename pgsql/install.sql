-- WAMP bridge objects in schema `wamp` (installed idempotently by the bridge on start; also runnable with psql).
--
-- Events: `wamp.publish(topic, args, kwargs, options)` writes to the outbox table `wamp.event`.
-- The row, and so the event, exists only if the calling transaction commits. Each row records the
-- id of the top-level transaction that wrote it (`xid8`). A bridge (consumer) takes events ordered
-- by (transaction id, event id) and only from transactions older than the oldest transaction still
-- running (`pg_snapshot_xmin(pg_current_snapshot())`): such transactions have all ended, so no
-- event can ever appear before a position a consumer has passed. Each consumer keeps its position
-- in `wamp.consumer`; events every consumer has passed, or older than the retention, are deleted.
--
-- Catalog changes: an event trigger sends NOTIFY `wamp_catalog` after DDL on functions, types and
-- schemas, so bridges re-read their catalog at once (it needs superuser; without it the bridges
-- fall back to polling).

create schema if not exists wamp;
comment on schema wamp is 'WAMP bridge: transactional event outbox and catalog change notifications';

create table if not exists wamp.event (
    id         bigserial primary key,
    xid        xid8 not null default pg_current_xact_id(),
    topic      text not null,
    args       jsonb not null default '[]',
    kwargs     jsonb not null default '{}',
    options    jsonb not null default '{}',
    created_at timestamptz not null default now()
);
create index if not exists event_order on wamp.event (xid, id);
create index if not exists event_created on wamp.event (created_at);

create table if not exists wamp.consumer (
    name       text primary key,
    last_xid   xid8 not null,
    last_id    bigint not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create or replace function wamp.publish(
    topic text,
    args jsonb default '[]',
    kwargs jsonb default '{}',
    options jsonb default '{}'
) returns bigint
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    event_id bigint;
begin
    if topic is null or topic !~ '^[^\s#]+$' then
        raise exception 'wamp.error.invalid_uri: invalid topic %', coalesce(quote_literal(topic), 'NULL');
    end if;
    if jsonb_typeof(coalesce(args, '[]')) <> 'array' then
        raise exception 'wamp.error.invalid_argument: args must be a JSON array';
    end if;
    if jsonb_typeof(coalesce(kwargs, '{}')) <> 'object' then
        raise exception 'wamp.error.invalid_argument: kwargs must be a JSON object';
    end if;
    if jsonb_typeof(coalesce(options, '{}')) <> 'object' then
        raise exception 'wamp.error.invalid_argument: options must be a JSON object';
    end if;
    insert into wamp.event (topic, args, kwargs, options)
    values (publish.topic, coalesce(publish.args, '[]'), coalesce(publish.kwargs, '{}'), coalesce(publish.options, '{}'))
    returning id into event_id;
    -- Delivered on commit only, like the event itself; wakes the bridges' pumps.
    perform pg_notify('wamp_event', '');
    return event_id;
end
$$;
comment on function wamp.publish(text, jsonb, jsonb, jsonb) is
    'Publishes a WAMP event when (and only if) the calling transaction commits; returns the event id';

revoke all on function wamp.publish(text, jsonb, jsonb, jsonb) from public;
grant usage on schema wamp to public;
grant execute on function wamp.publish(text, jsonb, jsonb, jsonb) to public;

create or replace function wamp.notify_catalog_change() returns event_trigger
language plpgsql as $$
begin
    perform pg_notify('wamp_catalog', tg_tag);
end
$$;

do $$
begin
    if exists (select 1 from pg_event_trigger where evtname = 'wamp_catalog_change') then
        return;
    end if;
    if not (select rolsuper from pg_roles where rolname = current_user) then
        raise notice 'wamp: not a superuser, no event trigger: catalog changes are found by polling';
        return;
    end if;
    create event trigger wamp_catalog_change on ddl_command_end
        when tag in ('CREATE FUNCTION', 'ALTER FUNCTION', 'DROP FUNCTION',
                     'CREATE PROCEDURE', 'ALTER PROCEDURE', 'DROP PROCEDURE',
                     'CREATE SCHEMA', 'ALTER SCHEMA', 'DROP SCHEMA',
                     'CREATE TYPE', 'ALTER TYPE', 'DROP TYPE',
                     'CREATE DOMAIN', 'ALTER DOMAIN', 'DROP DOMAIN',
                     'CREATE EXTENSION', 'ALTER EXTENSION', 'DROP EXTENSION')
        execute function wamp.notify_catalog_change();
end
$$;
