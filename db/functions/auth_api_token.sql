-- auth_api_token: the unrevoked personal API token whose SHA-256 is p_hash
-- (API.md "Auth", "API tokens"): its user, scopes and id; no row for an
-- unknown or revoked token.
-- Called by chat-api (cgi/req_auth.c, every scope) and chat-push
-- (sse/auth.c, which wants events:read).
CREATE OR REPLACE FUNCTION auth_api_token(p_hash bytea)
RETURNS TABLE (user_id bigint, scopes text[], token_id bigint)
LANGUAGE sql STABLE AS $$
    SELECT t.user_id, t.scopes, t.id FROM api_tokens t
    WHERE t.token_hash = p_hash AND t.revoked_at IS NULL
$$;
