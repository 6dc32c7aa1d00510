-- roles.sql - the roles of the chat database (docs/OPERATIONS.md "Roles and
-- secrets"). chatctl runs it as the superuser on database chat at every
-- start, before db/migrate.sh; it is idempotent. Passwords are not set here
-- (chatctl sets them from $CHAT_HOME/secrets); what each role may do is in
-- the migrations (0014_roles.sql and later), which run as chat_owner.
--
--   chat         the superuser initdb made: administration only (chatctl psql)
--   chat_owner   owns the database, schema public and every object in it;
--                runs the migrations
--   chat_api     chat-api, chat_push chat-push, chat_notify chat-notify:
--                logins with only the rights the migrations grant them
SET client_min_messages = warning;

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['chat_owner', 'chat_api', 'chat_push', 'chat_notify'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', r);
        END IF;
        EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
                       'NOBYPASSRLS', r);
    END LOOP;
END $$;

ALTER DATABASE chat OWNER TO chat_owner;
ALTER SCHEMA public OWNER TO chat_owner;
REVOKE ALL ON DATABASE chat FROM PUBLIC;
GRANT CONNECT ON DATABASE chat TO chat_api, chat_push, chat_notify;

-- Data directories of older versions: the superuser made every object.
-- Hand them to the owner (an identity sequence follows its table).
DO $$
DECLARE
    o record;
BEGIN
    FOR o IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
               AND c.relowner <> 'chat_owner'::regrole LOOP
        EXECUTE format('ALTER %s %s OWNER TO chat_owner',
                       CASE o.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                      WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, o.name);
    END LOOP;
    FOR o IN SELECT c.oid::regclass AS name FROM pg_class c
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
               AND c.relowner <> 'chat_owner'::regrole
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = c.oid AND d.deptype IN ('a', 'i')) LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO chat_owner', o.name);
    END LOOP;
    FOR o IN SELECT p.oid::regprocedure AS name FROM pg_proc p
             WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> 'chat_owner'::regrole LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO chat_owner', o.name);
    END LOOP;
    FOR o IN SELECT t.oid::regtype AS name FROM pg_type t
             WHERE t.typnamespace = 'public'::regnamespace AND t.typowner <> 'chat_owner'::regrole
               AND t.typtype IN ('d', 'e', 'r') LOOP
        EXECUTE format('ALTER TYPE %s OWNER TO chat_owner', o.name);
    END LOOP;
END $$;
