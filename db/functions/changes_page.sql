-- changes_page: GET /chats/{id}/changes: every durable change after p_since,
-- in version order (versions are gapless, so a page is a version range);
-- version is the last one the page covers, where the next page starts. NULL
-- when p_user is not a member.
-- Called by cgi/messages.c (GET /changes).
CREATE OR REPLACE FUNCTION changes_page(p_chat bigint, p_user bigint, p_since bigint, p_limit int)
RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE v bigint; n bigint;
BEGIN
    SELECT c.version INTO v FROM chats c JOIN chat_members cm ON cm.chat_id = c.id
    WHERE c.id = p_chat AND cm.user_id = p_user;
    IF NOT FOUND THEN RETURN NULL; END IF;
    n := least(v, p_since + p_limit);
    RETURN json_build_object(
        'events', coalesce((SELECT json_agg(change_event(ch) ORDER BY ch.version)
                            FROM chat_changes ch WHERE ch.chat_id = p_chat
                              AND ch.version > p_since AND ch.version <= n), '[]'),
        'version', n,
        'has_more', n < v);
END $$;
