-- Removes everything pgsql/install.sql created, including undelivered events.
drop event trigger if exists wamp_catalog_change;
drop schema if exists wamp cascade;
