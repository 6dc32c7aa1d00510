-- 0001_init: users, sessions, chats, members, and the partitioned messages
-- and change log, with the functions that build the API's JSON objects.
--
-- seq and version come from the chat row, locked in the writing
-- transaction (DESIGN.md "PostgreSQL"), so both are gapless per chat.
-- messages and chat_changes are partitioned by HASH (chat_id): every
-- history or catch-up query touches one partition.

CREATE FUNCTION api_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text COLLATE "C" NOT NULL CHECK (username ~ '^[a-z0-9_.-]{3,32}$'),
    display_name  text NOT NULL,
    password_hash text NOT NULL,
    token_version integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz
);
CREATE UNIQUE INDEX users_username_key ON users (username);

-- A login session; refresh tokens are derived from (id, generation, salt)
-- with the server key, so nothing token-equivalent is stored.
CREATE TABLE sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    salt         bytea NOT NULL,
    generation   integer NOT NULL DEFAULT 0,
    rotated_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    user_agent   text,
    ip           text
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE chats (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type             text NOT NULL CHECK (type IN ('direct', 'group')),
    title            text,
    member_ids       bigint[],            -- direct chats only: the pair, ascending
    direct_key       text UNIQUE,         -- direct chats only: 'low:high'
    created_by       bigint REFERENCES users,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    last_seq         bigint NOT NULL DEFAULT 0,
    version          bigint NOT NULL DEFAULT 0,
    members_count    integer NOT NULL DEFAULT 0
);

CREATE TABLE chat_members (
    chat_id       bigint NOT NULL REFERENCES chats ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    role          text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member')),
    joined_at     timestamptz NOT NULL DEFAULT now(),
    read_seq      bigint NOT NULL DEFAULT 0,
    delivered_seq bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX chat_members_user ON chat_members (user_id, chat_id);

CREATE SEQUENCE messages_id_seq;
CREATE TABLE messages (
    chat_id       bigint NOT NULL,
    seq           bigint NOT NULL,
    id            bigint NOT NULL DEFAULT nextval('messages_id_seq'),
    version       bigint NOT NULL,
    sender_id     bigint NOT NULL,
    content       text NOT NULL,
    client_msg_id text,
    reply_to_seq  bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    edited_at     timestamptz,
    deleted       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (chat_id, seq)
) PARTITION BY HASH (chat_id);
-- The idempotency key; a unique index on a partitioned table must hold chat_id.
CREATE UNIQUE INDEX messages_client_msg_id ON messages (chat_id, sender_id, client_msg_id);

-- Every durable change of a chat, one row per version. Message events name
-- the message by seq, so purging a message's content purges it here too.
CREATE TABLE chat_changes (
    chat_id    bigint NOT NULL,
    version    bigint NOT NULL,
    type       text NOT NULL,
    seq        bigint,
    user_id    bigint,
    data       jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, version)
) PARTITION BY HASH (chat_id);

DO $$
BEGIN
    FOR i IN 0..7 LOOP
        EXECUTE format('CREATE TABLE messages_p%s PARTITION OF messages
                        FOR VALUES WITH (MODULUS 8, REMAINDER %s)', i, i);
        EXECUTE format('CREATE TABLE chat_changes_p%s PARTITION OF chat_changes
                        FOR VALUES WITH (MODULUS 8, REMAINDER %s)', i, i);
    END LOOP;
END $$;

-- API.md "Users"
CREATE FUNCTION user_json(u users) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', u.id, 'username', u.username,
                             'display_name', u.display_name, 'created_at', api_ts(u.created_at))
$$;

-- API.md "Messages"
CREATE FUNCTION message_json(m messages) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', m.id, 'chat_id', m.chat_id, 'seq', m.seq,
        'version', m.version, 'sender_id', m.sender_id, 'content', m.content,
        'created_at', api_ts(m.created_at), 'edited_at', api_ts(m.edited_at),
        'deleted', m.deleted, 'reply_to_seq', m.reply_to_seq,
        'client_msg_id', m.client_msg_id)
$$;

-- API.md "Chats", without the per-caller fields (as events carry it).
CREATE FUNCTION chat_json(c chats) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', c.id, 'type', c.type, 'title', c.title,
        'member_ids', c.member_ids, 'created_at', api_ts(c.created_at),
        'last_activity_at', api_ts(c.last_activity_at), 'version', c.version,
        'last_seq', c.last_seq,
        'last_message', (SELECT message_json(m) FROM messages m
                         WHERE m.chat_id = c.id AND m.seq = c.last_seq),
        'members_count', c.members_count)
$$;

-- The chat as its member p_user sees it: chat_json plus unread_count,
-- read_seq, delivered_seq and role. NULL when p_user is not a member.
CREATE FUNCTION chat_json_for(c chats, p_user bigint) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT (chat_json(c)::jsonb || jsonb_build_object(
        'unread_count', (SELECT count(*) FROM (SELECT 1 FROM messages m
                          WHERE m.chat_id = c.id AND m.seq > cm.read_seq
                            AND m.sender_id <> p_user AND NOT m.deleted LIMIT 1000) x),
        'read_seq', cm.read_seq, 'delivered_seq', cm.delivered_seq, 'role', cm.role))::json
    FROM chat_members cm WHERE cm.chat_id = c.id AND cm.user_id = p_user
$$;

-- A change-log row as the event object the stream carries (API.md
-- "Real-time events"); the same function serves /changes and publishing.
CREATE FUNCTION change_event(ch chat_changes) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT CASE
    WHEN ch.type LIKE 'message.%' THEN
        json_build_object('type', ch.type, 'chat_id', ch.chat_id, 'version', ch.version,
            'message', (SELECT message_json(m) FROM messages m
                        WHERE m.chat_id = ch.chat_id AND m.seq = ch.seq))
    WHEN ch.type = 'member.joined' THEN
        json_build_object('type', ch.type, 'chat_id', ch.chat_id, 'version', ch.version,
            'user_id', ch.user_id, 'role', ch.data->>'role',
            'chat', (SELECT chat_json(c) FROM chats c WHERE c.id = ch.chat_id))
    WHEN ch.type = 'member.left' THEN
        json_build_object('type', ch.type, 'chat_id', ch.chat_id, 'version', ch.version,
            'user_id', ch.user_id)
    ELSE -- chat.created, chat.updated
        json_build_object('type', ch.type, 'chat_id', ch.chat_id, 'version', ch.version,
            'chat', (SELECT chat_json(c)::jsonb || coalesce(ch.data, '{}'::jsonb)
                     FROM chats c WHERE c.id = ch.chat_id))
    END
$$;
