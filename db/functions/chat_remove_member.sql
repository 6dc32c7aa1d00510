-- chat_remove_member: DELETE /chats/{id}/members/{user}: an admin removes, or
-- a member leaves. status: ok | not_found (chat, or target not a member) |
-- forbidden | direct. event and version: the member.left to publish (ok
-- only).
-- Called by cgi/chats.c (chats_members_remove).
CREATE OR REPLACE FUNCTION chat_remove_member(p_chat bigint, p_actor bigint, p_user bigint,
                                              OUT status text, OUT event json, OUT version bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE c chats; r text; l record;
BEGIN
    SELECT * INTO l FROM chat_lock_for_change(p_chat, p_actor);
    IF l.status IS NOT NULL THEN status := l.status; RETURN; END IF;
    c := l.chat;
    r := l.role;
    IF p_user <> p_actor AND r <> 'admin' THEN status := 'forbidden'; RETURN; END IF;
    DELETE FROM chat_members WHERE chat_id = p_chat AND user_id = p_user;
    IF NOT FOUND THEN status := 'not_found'; RETURN; END IF;
    UPDATE chats SET version = version + 1, members_count = members_count - 1,
                     last_activity_at = now()
    WHERE id = p_chat RETURNING * INTO c;
    event := chat_change_add(p_chat, c.version, 'member.left', NULL, p_user, NULL);
    version := c.version;
    status := 'ok';
END $$;
