-- 0001_init: users, sessions, chats, members, and the partitioned messages
-- and change log. The functions that build the API's JSON objects
-- (api_ts, user_json, message_json, chat_json, chat_json_for,
-- change_event) are in db/functions/.
--
-- seq and version come from the chat row, locked in the writing
-- transaction (DESIGN.md "PostgreSQL"), so both are gapless per chat.
-- messages and chat_changes are partitioned by HASH (chat_id): every
-- history or catch-up query touches one partition.

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
