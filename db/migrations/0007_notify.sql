-- 0007_notify: outgoing webhooks and push for offline users (API.md
-- "Outgoing webhooks and push"), drained by chat-notify.
--
-- The outbox is written by a trigger on chat_changes, so it commits in the
-- same transaction as the change and the write-path functions stay as
-- they are. A webhook delivery row is made at that moment for every
-- webhook whose owner is a member at the event's version (chat_members is
-- exactly that while the writer holds the chat row), so a later join or
-- leave never changes who sees an event. No event body is kept here: it is
-- built with change_event() when sent, so a deleted message's content is
-- purged from the outbox as from the change log; attempts keep no bodies.
--
-- chat-notify claims rows by setting locked_by = pg_backend_pid() under
-- FOR UPDATE SKIP LOCKED. A lock is void once its backend is gone (the
-- process died: its connection closed) or after the lease, so a killed
-- chat-notify loses nothing; the delivery id stays the same on a resend,
-- for the receiver to dedupe on.

CREATE TABLE webhooks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    url        text NOT NULL,
    events     text[] NOT NULL,
    chat_ids   bigint[],                 -- NULL: every chat of the owner
    secret     text NOT NULL,            -- needed in clear to sign
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_user ON webhooks (user_id);

CREATE TABLE webhook_deliveries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id  bigint NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    chat_id     bigint NOT NULL,
    version     bigint NOT NULL,
    type        text NOT NULL,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    redelivery  boolean NOT NULL DEFAULT false, -- asked for again: outside the per-chat order
    attempts    integer NOT NULL DEFAULT 0,
    next_at     timestamptz NOT NULL DEFAULT now(),
    retry_from  timestamptz NOT NULL DEFAULT now(), -- the retry window starts here
    locked_by   integer,                 -- pg_backend_pid() of the claiming chat-notify
    locked_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    done_at     timestamptz,
    last_status integer,
    last_error  text
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';
-- Per webhook and chat, a delivery waits for every earlier version.
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, chat_id, version)
    WHERE state = 'pending' AND NOT redelivery;
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (done_at) WHERE state <> 'pending';

CREATE TABLE webhook_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES webhook_deliveries ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    http_status integer,                 -- NULL when no answer came
    latency_ms  integer NOT NULL,
    error       text                     -- timeout, connect, address refused...; never a body
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- A device of a user (Matrix push gateway API): one pushkey per app.
CREATE TABLE push_subscriptions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    app_id      text NOT NULL,
    pushkey     text NOT NULL,
    gateway_url text NOT NULL,
    format      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, pushkey)
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

-- message.created events not yet fanned out to push_queue.
CREATE TABLE push_outbox (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id bigint NOT NULL,
    version bigint NOT NULL,
    seq     bigint NOT NULL
);

-- One pending notification per (user, chat): a burst of messages
-- coalesces into it; due_at is set by the first one.
CREATE TABLE push_queue (
    user_id   bigint NOT NULL,
    chat_id   bigint NOT NULL,
    version   bigint NOT NULL,               -- the latest message's event
    seq       bigint NOT NULL,
    due_at    timestamptz NOT NULL,
    locked_by integer,
    locked_at timestamptz,
    PRIMARY KEY (user_id, chat_id)
);
CREATE INDEX push_queue_due ON push_queue (due_at);

CREATE FUNCTION notify_outbox_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (webhook_id, chat_id, version, type)
    SELECT w.id, NEW.chat_id, NEW.version, NEW.type FROM webhooks w
    WHERE NEW.type = ANY (w.events)
      AND (w.chat_ids IS NULL OR NEW.chat_id = ANY (w.chat_ids))
      AND (EXISTS (SELECT 1 FROM chat_members cm
                   WHERE cm.chat_id = NEW.chat_id AND cm.user_id = w.user_id)
           -- the one who left gets their member.left, as streams do
           OR (NEW.type = 'member.left' AND w.user_id = NEW.user_id));
    IF NEW.type = 'message.created' THEN
        INSERT INTO push_outbox (chat_id, version, seq) VALUES (NEW.chat_id, NEW.version, NEW.seq);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER chat_changes_notify AFTER INSERT ON chat_changes
    FOR EACH ROW EXECUTE FUNCTION notify_outbox_add();

-- true while the chat-notify that claimed a row still runs.
CREATE FUNCTION notify_lock_live(p_pid integer, p_at timestamptz, p_lease_s integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_pid IS NOT NULL AND p_at > now() - make_interval(secs => p_lease_s)
       AND EXISTS (SELECT 1 FROM pg_stat_activity a
                   WHERE a.pid = p_pid AND a.backend_start <= p_at)
$$;

CREATE FUNCTION webhook_json(w webhooks) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', w.id, 'url', w.url, 'events', w.events,
                             'chat_ids', w.chat_ids, 'created_at', api_ts(w.created_at))
$$;

CREATE FUNCTION webhook_delivery_json(d webhook_deliveries) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', d.id, 'webhook_id', d.webhook_id, 'event_type', d.type,
        'chat_id', d.chat_id, 'version', d.version, 'status', d.state,
        'redelivery', d.redelivery, 'attempt_count', d.attempts,
        'created_at', api_ts(d.created_at),
        'next_attempt_at', CASE WHEN d.state = 'pending' THEN api_ts(d.next_at) END,
        'completed_at', api_ts(d.done_at),
        'attempts', coalesce((SELECT json_agg(json_build_object('at', api_ts(a.at),
                                  'http_status', a.http_status, 'latency_ms', a.latency_ms,
                                  'error', a.error) ORDER BY a.id)
                              FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'))
$$;

CREATE FUNCTION push_subscription_json(s push_subscriptions) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', s.id, 'app_id', s.app_id, 'pushkey', s.pushkey,
                             'gateway_url', s.gateway_url, 'format', s.format,
                             'created_at', api_ts(s.created_at))
$$;

-- The notifications of one push, one per device of p_user:
-- [{id, pushkey, gateway_url, body}], body in the request shape of
-- Matrix's push gateway API (/_matrix/push/v1/notify). Empty when the user
-- left the chat, already read that message, or it was deleted. unread is
-- the user's unread messages over all chats (Matrix's badge count).
CREATE FUNCTION push_notifications(p_user bigint, p_chat bigint, p_version bigint, p_seq bigint)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(json_build_object('id', s.id, 'pushkey', s.pushkey,
        'gateway_url', s.gateway_url,
        'body', json_build_object('notification', json_strip_nulls(json_build_object(
            'event_id', p_chat || ':' || p_version,
            'room_id', p_chat::text,
            'type', CASE WHEN s.format IS DISTINCT FROM 'event_id_only' THEN 'message.created' END,
            'sender', CASE WHEN s.format IS DISTINCT FROM 'event_id_only' THEN m.sender_id::text END,
            'sender_display_name',
                CASE WHEN s.format IS DISTINCT FROM 'event_id_only' THEN u.display_name END,
            'room_name', CASE WHEN s.format IS DISTINCT FROM 'event_id_only' THEN c.title END,
            'prio', 'high',
            'counts', json_build_object('unread', unread.n),
            'devices', json_build_array(json_build_object('app_id', s.app_id,
                'pushkey', s.pushkey, 'pushkey_ts', extract(epoch FROM s.created_at)::bigint,
                'data', json_build_object('format', s.format))))))) ORDER BY s.id), '[]')
    FROM chat_members cm
    JOIN chats c ON c.id = cm.chat_id
    JOIN messages m ON m.chat_id = p_chat AND m.seq = p_seq AND NOT m.deleted
    JOIN users u ON u.id = m.sender_id
    JOIN push_subscriptions s ON s.user_id = p_user
    CROSS JOIN LATERAL (SELECT least(coalesce(sum(greatest(c2.last_seq - cm2.read_seq, 0)), 0),
                                     99999) AS n
                        FROM chat_members cm2 JOIN chats c2 ON c2.id = cm2.chat_id
                        WHERE cm2.user_id = p_user) unread
    WHERE cm.chat_id = p_chat AND cm.user_id = p_user AND cm.read_seq < p_seq
$$;
