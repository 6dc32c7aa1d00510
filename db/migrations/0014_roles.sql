-- What each service role may do (db/roles.sql creates the roles; this runs
-- as their owner, chat_owner). None owns anything, so none can DROP, ALTER
-- or CREATE in the schema. Default privileges give chat-api its rights on
-- whatever later migrations create; chat-push and chat-notify get rights
-- table by table, so a migration whose table they need must GRANT it.
-- No function needs SECURITY DEFINER: each runs with its caller's rights,
-- and triggers (outbox, snapshots, purge) fire only on chat-api's writes.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO chat_api, chat_push, chat_notify;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE chat_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO chat_api, chat_push, chat_notify;
ALTER DEFAULT PRIVILEGES FOR ROLE chat_owner IN SCHEMA public
    GRANT EXECUTE ON FUNCTIONS TO chat_api, chat_push, chat_notify;

-- chat-api: reads and writes every table; no TRUNCATE, no DDL.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO chat_api;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO chat_api;
ALTER DEFAULT PRIVILEGES FOR ROLE chat_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO chat_api;
ALTER DEFAULT PRIVILEGES FOR ROLE chat_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO chat_api;
REVOKE ALL ON schema_migrations FROM chat_api;

-- chat-push (sse/http.c, sync.c, presence.c): the stream's baseline, API
-- tokens, catch-up through change_event(), and users.last_seen_at when a
-- user's last stream closes.
GRANT SELECT ON users, sessions, api_tokens, chats, chat_members, chat_changes, messages
    TO chat_push;
GRANT UPDATE (last_seen_at) ON users TO chat_push;

-- chat-notify (notify/main.c, webhook.c, push.c): claims and records
-- webhook deliveries (FOR UPDATE needs UPDATE), expands the push outbox
-- into the queue, forgets subscriptions a gateway rejected.
GRANT SELECT ON users, chats, chat_members, chat_changes, messages, webhooks TO chat_notify;
GRANT SELECT, UPDATE, DELETE ON webhook_deliveries, push_outbox TO chat_notify;
GRANT INSERT ON webhook_attempts TO chat_notify;
GRANT SELECT, INSERT, UPDATE, DELETE ON push_queue TO chat_notify;
GRANT SELECT, DELETE ON push_subscriptions TO chat_notify;
