-- api_ts: a timestamp as the API writes times (RFC 3339, milliseconds,
-- UTC: "2026-01-02T03:04:05.678Z"). Called by every *_json function and by
-- chat-api's queries (cgi/auth.c, chats.c, users.c) and chat-push's
-- presence (sse/presence.c).
CREATE OR REPLACE FUNCTION api_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
