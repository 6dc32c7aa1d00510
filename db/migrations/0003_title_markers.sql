-- 0003_title_markers: renaming a group (chat.updated, a durable change) and
-- the read/delivered markers (API.md "Messages"), which move only forward,
-- are clamped to last_seq, and where read implies delivered.

-- PATCH /chats/{id}. status: ok | not_found | forbidden | direct.
CREATE FUNCTION chat_update_title(p_chat bigint, p_actor bigint, p_title text,
                                  OUT status text, OUT event json)
LANGUAGE plpgsql AS $$
DECLARE c chats; r text;
BEGIN
    SELECT ch.* INTO c FROM chats ch JOIN chat_members cm ON cm.chat_id = ch.id
    WHERE ch.id = p_chat AND cm.user_id = p_actor FOR UPDATE OF ch;
    IF NOT FOUND THEN status := 'not_found'; RETURN; END IF;
    IF c.type = 'direct' THEN status := 'direct'; RETURN; END IF;
    SELECT role INTO r FROM chat_members WHERE chat_id = p_chat AND user_id = p_actor;
    IF r <> 'admin' THEN status := 'forbidden'; RETURN; END IF;
    UPDATE chats SET title = p_title, version = version + 1, last_activity_at = now()
    WHERE id = p_chat RETURNING * INTO c;
    event := chat_change_add(p_chat, c.version, 'chat.updated', NULL, p_actor, NULL);
    status := 'ok';
END $$;

-- POST /chats/{id}/read and /delivered: p_read or p_delivered may be NULL.
-- No row when p_user is not a member; moved says whether a marker changed.
CREATE FUNCTION chat_mark(p_chat bigint, p_user bigint, p_read bigint, p_delivered bigint,
                          OUT read_seq bigint, OUT delivered_seq bigint, OUT moved boolean)
RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE last bigint; old_r bigint; old_d bigint;
BEGIN
    SELECT c.last_seq, cm.read_seq, cm.delivered_seq INTO last, old_r, old_d
    FROM chats c JOIN chat_members cm ON cm.chat_id = c.id
    WHERE c.id = p_chat AND cm.user_id = p_user FOR UPDATE OF cm;
    IF NOT FOUND THEN RETURN; END IF;
    read_seq := greatest(old_r, least(coalesce(p_read, 0), last));
    delivered_seq := greatest(old_d, read_seq, least(coalesce(p_delivered, 0), last));
    moved := read_seq <> old_r OR delivered_seq <> old_d;
    IF moved THEN
        UPDATE chat_members cm SET read_seq = chat_mark.read_seq,
                                   delivered_seq = chat_mark.delivered_seq
        WHERE cm.chat_id = p_chat AND cm.user_id = p_user;
    END IF;
    RETURN NEXT;
END $$;
