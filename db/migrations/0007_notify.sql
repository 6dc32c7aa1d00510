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
--
-- Functions and the trigger in db/functions/ (notify_outbox_add with the
-- trigger chat_changes_notify, notify_lock_live, webhook_json,
-- webhook_delivery_json, push_subscription_json, push_notifications).

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
