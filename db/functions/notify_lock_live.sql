-- notify_lock_live: true while the chat-notify that claimed a row still runs.
-- Called by notify/webhook.c and push.c (claims).
CREATE OR REPLACE FUNCTION notify_lock_live(
    p_pid integer, p_at timestamptz, p_lease_s integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_pid IS NOT NULL AND p_at > now() - make_interval(secs => p_lease_s)
       AND EXISTS (SELECT 1 FROM pg_stat_activity a
                   WHERE a.pid = p_pid AND a.backend_start <= p_at)
$$;
