-- auth_check: whether the credentials a request or a stream carries still
-- stand (API.md "Auth"). One row while user p_user exists, none otherwise:
-- the user's token_version (a JWT minted before a "log out everywhere" has
-- an older one), whether session p_session is live (unrevoked, unexpired,
-- the user's), whether API token p_token is unrevoked and the user's. A
-- NULL p_session or p_token is not asked about and reads true; 0 is no
-- such row and reads false.
-- Called by chat-api (cgi/req_auth.c, a JWT's check) and chat-push
-- (sse/auth.c, the stream baseline and a cursor's API-token recheck), so
-- the two services cannot disagree on what revoked means.
CREATE OR REPLACE FUNCTION auth_check(p_user bigint, p_session bigint, p_token bigint)
RETURNS TABLE (token_version integer, session_ok boolean, token_ok boolean)
LANGUAGE sql STABLE AS $$
    SELECT u.token_version,
           p_session IS NULL OR EXISTS (
               SELECT 1 FROM sessions s
               WHERE s.id = p_session AND s.user_id = u.id AND session_live(s)),
           p_token IS NULL OR EXISTS (
               SELECT 1 FROM api_tokens t
               WHERE t.id = p_token AND t.user_id = u.id AND t.revoked_at IS NULL)
    FROM users u WHERE u.id = p_user
$$;
