-- chat_add_members: POST /chats/{id}/members. One member.joined per added
-- user; users already in the chat are skipped. status: ok | not_found (chat)
-- | forbidden | direct | no_user | too_many. events, versions, user_ids: the
-- member.joined events to publish, in version order, with the version of each
-- and the user it adds (ok only; empty when nobody was added).
-- Called by cgi/chats.c (chats_members_add).
CREATE OR REPLACE FUNCTION chat_add_members(
    p_chat bigint, p_actor bigint, p_users bigint[], p_max int, OUT status text, OUT events json[],
    OUT versions bigint[], OUT user_ids bigint[])
LANGUAGE plpgsql AS $$
DECLARE c chats; r text; l record; u bigint;
BEGIN
    SELECT * INTO l FROM chat_lock_for_change(p_chat, p_actor);
    IF l.status IS NOT NULL THEN status := l.status; RETURN; END IF;
    c := l.chat;
    r := l.role;
    IF r <> 'admin' THEN status := 'forbidden'; RETURN; END IF;
    SELECT array_agg(DISTINCT x ORDER BY x) INTO user_ids FROM unnest(p_users) x
    WHERE NOT EXISTS (SELECT 1 FROM chat_members WHERE chat_id = p_chat AND user_id = x);
    user_ids := coalesce(user_ids, '{}');
    IF (SELECT count(*) FROM users WHERE id = ANY (user_ids)) <> cardinality(user_ids) THEN
        status := 'no_user'; RETURN;
    END IF;
    IF c.members_count + cardinality(user_ids) > p_max THEN status := 'too_many'; RETURN; END IF;
    events := '{}'; versions := '{}';
    FOREACH u IN ARRAY user_ids LOOP
        UPDATE chats SET version = version + 1, members_count = members_count + 1,
                         last_activity_at = now()
        WHERE id = p_chat RETURNING * INTO c;
        INSERT INTO chat_members (chat_id, user_id, role) VALUES (p_chat, u, 'member');
        events := events || chat_change_add(p_chat, c.version, 'member.joined', NULL, u,
                                            jsonb_build_object('role', 'member'));
        versions := versions || c.version;
    END LOOP;
    status := 'ok';
END $$;
