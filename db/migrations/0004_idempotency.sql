-- 0004_idempotency: Idempotency-Key on every POST (API.md "Idempotency"),
-- scoped to (user, method, path), kept 24 h. status is NULL while the
-- first request runs; secret answers (tokens, tickets) keep no body, so a
-- repeated key gets 409 instead of the secret again.
CREATE TABLE idempotency_keys (
    user_id      bigint NOT NULL,          -- 0 for requests without a token
    method       text NOT NULL,
    path         text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,           -- SHA-256 of the body
    status       integer,
    body         text,
    secret       boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, method, path, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
