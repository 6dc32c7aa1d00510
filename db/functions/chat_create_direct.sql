-- chat_create_direct: POST /chats {type: direct}. status: created |
-- existing | not_found (no such user) | self. event and version: the
-- chat.created to publish (created only).
-- Called by cgi/chats.c (create_direct).
CREATE OR REPLACE FUNCTION chat_create_direct(p_user bigint, p_other bigint,
                                              OUT status text, OUT chat_id bigint, OUT event json,
                                              OUT version bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE k text; lo bigint; hi bigint; c chats;
BEGIN
    IF p_user = p_other THEN status := 'self'; RETURN; END IF;
    PERFORM 1 FROM users WHERE id = p_other;
    IF NOT FOUND THEN status := 'not_found'; RETURN; END IF;
    lo := least(p_user, p_other); hi := greatest(p_user, p_other);
    k := lo || ':' || hi;
    INSERT INTO chats (type, member_ids, direct_key, created_by, version, members_count)
    VALUES ('direct', ARRAY[lo, hi], k, p_user, 1, 2)
    ON CONFLICT (direct_key) DO NOTHING RETURNING * INTO c;
    IF NOT FOUND THEN
        SELECT id INTO chat_id FROM chats WHERE direct_key = k;
        status := 'existing'; RETURN;
    END IF;
    INSERT INTO chat_members (chat_id, user_id, role)
    VALUES (c.id, lo, 'member'), (c.id, hi, 'member');
    chat_id := c.id;
    event := chat_change_add(c.id, 1, 'chat.created', NULL, p_user,
                             jsonb_build_object('member_ids', ARRAY[lo, hi]));
    version := 1;
    status := 'created';
END $$;
