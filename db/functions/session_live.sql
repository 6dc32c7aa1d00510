-- session_live: whether session s still stands (API.md "Auth"): not
-- revoked (log out, log out everywhere, a refresh token replayed) and not
-- expired. The one definition for auth_check (every request's and stream's
-- check), the refresh (cgi/auth.c session_get) and the session list.
CREATE OR REPLACE FUNCTION session_live(s sessions) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT s.revoked_at IS NULL AND s.expires_at > now()
$$;
