-- 0002_write_paths: the transactions that change a chat, one function each,
-- so a write is one round trip. Each locks the chat row, takes the next
-- version (and seq) from it, writes the row and its change-log entry, and
-- returns the events to publish after COMMIT (API.md "Chat versions").
-- Outcomes that are not errors of the database come back as a status
-- word; the caller maps it to the API's status code.

-- Append a change and return its event.
CREATE FUNCTION chat_change_add(p_chat bigint, p_version bigint, p_type text,
                                p_seq bigint, p_user bigint, p_data jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE ch chat_changes;
BEGIN
    INSERT INTO chat_changes (chat_id, version, type, seq, user_id, data)
    VALUES (p_chat, p_version, p_type, p_seq, p_user, p_data) RETURNING * INTO ch;
    RETURN change_event(ch);
END $$;

-- POST /chats/{id}/messages. status: created | replayed | reused | not_found | bad_reply.
CREATE FUNCTION message_post(p_chat bigint, p_sender bigint, p_content text,
                             p_client_msg_id text, p_reply_to bigint,
                             OUT status text, OUT message json, OUT event json)
LANGUAGE plpgsql AS $$
DECLARE c chats; m messages;
BEGIN
    -- Lock the chat first: concurrent retries of one client_msg_id then
    -- see each other's committed row below.
    SELECT ch.* INTO c FROM chats ch JOIN chat_members cm ON cm.chat_id = ch.id
    WHERE ch.id = p_chat AND cm.user_id = p_sender FOR UPDATE OF ch;
    IF NOT FOUND THEN status := 'not_found'; RETURN; END IF;
    IF p_client_msg_id IS NOT NULL THEN
        SELECT * INTO m FROM messages WHERE chat_id = p_chat AND sender_id = p_sender
                                        AND client_msg_id = p_client_msg_id;
        IF FOUND THEN
            -- The same key with other content is a reused key (API.md "Idempotency").
            status := CASE WHEN m.deleted OR (m.content = p_content AND
                                  m.reply_to_seq IS NOT DISTINCT FROM p_reply_to)
                           THEN 'replayed' ELSE 'reused' END;
            message := message_json(m);
            RETURN;
        END IF;
    END IF;
    IF p_reply_to IS NOT NULL AND (p_reply_to < 1 OR p_reply_to > c.last_seq) THEN
        status := 'bad_reply'; RETURN;
    END IF;
    UPDATE chats SET last_seq = last_seq + 1, version = version + 1, last_activity_at = now()
    WHERE id = p_chat RETURNING * INTO c;
    INSERT INTO messages (chat_id, seq, version, sender_id, content, client_msg_id, reply_to_seq)
    VALUES (p_chat, c.last_seq, c.version, p_sender, p_content, p_client_msg_id, p_reply_to)
    RETURNING * INTO m;
    UPDATE chat_members SET read_seq = m.seq, delivered_seq = m.seq
    WHERE chat_id = p_chat AND user_id = p_sender;
    INSERT INTO chat_changes (chat_id, version, type, seq) VALUES (p_chat, c.version, 'message.created', m.seq);
    status := 'created';
    message := message_json(m);
    event := json_build_object('type', 'message.created', 'chat_id', p_chat,
                               'version', c.version, 'message', message);
END $$;

-- POST /chats {type: direct}. status: created | existing | not_found (no such user) | self.
CREATE FUNCTION chat_create_direct(p_user bigint, p_other bigint,
                                   OUT status text, OUT chat_id bigint, OUT event json)
LANGUAGE plpgsql AS $$
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
    status := 'created';
END $$;

-- POST /chats {type: group}. p_members excludes nobody: the creator is
-- added as admin whether listed or not. status: created | not_found | too_many.
-- members: the member ids, space-separated, for publishing on user:{id}.
CREATE FUNCTION chat_create_group(p_user bigint, p_title text, p_members bigint[], p_max int,
                                  OUT status text, OUT chat_id bigint, OUT event json,
                                  OUT members text)
LANGUAGE plpgsql AS $$
DECLARE ids bigint[]; c chats;
BEGIN
    SELECT array_agg(DISTINCT x ORDER BY x) INTO ids
    FROM unnest(p_members || p_user) x;
    IF cardinality(ids) > p_max THEN status := 'too_many'; RETURN; END IF;
    IF (SELECT count(*) FROM users WHERE id = ANY (ids)) <> cardinality(ids) THEN
        status := 'not_found'; RETURN;
    END IF;
    INSERT INTO chats (type, title, created_by, version, members_count)
    VALUES ('group', p_title, p_user, 1, cardinality(ids)) RETURNING * INTO c;
    INSERT INTO chat_members (chat_id, user_id, role)
    SELECT c.id, x, CASE WHEN x = p_user THEN 'admin' ELSE 'member' END FROM unnest(ids) x;
    chat_id := c.id;
    event := chat_change_add(c.id, 1, 'chat.created', NULL, p_user,
                             jsonb_build_object('member_ids', ids));
    status := 'created';
    members := array_to_string(ids, ' ');
END $$;

-- POST /chats/{id}/members. One member.joined per added user; users already
-- in the chat are skipped. status: ok | not_found (chat) | forbidden |
-- direct | no_user | too_many. events: the events in version order, one
-- JSON object a line (JSON text never holds a raw newline); user_ids: the
-- users added.
CREATE FUNCTION chat_add_members(p_chat bigint, p_actor bigint, p_users bigint[], p_max int,
                                 OUT status text, OUT events text, OUT user_ids bigint[])
LANGUAGE plpgsql AS $$
DECLARE c chats; r text; u bigint; evs text[] := '{}';
BEGIN
    SELECT ch.* INTO c FROM chats ch JOIN chat_members cm ON cm.chat_id = ch.id
    WHERE ch.id = p_chat AND cm.user_id = p_actor FOR UPDATE OF ch;
    IF NOT FOUND THEN status := 'not_found'; RETURN; END IF;
    SELECT role INTO r FROM chat_members WHERE chat_id = p_chat AND user_id = p_actor;
    IF c.type = 'direct' THEN status := 'direct'; RETURN; END IF;
    IF r <> 'admin' THEN status := 'forbidden'; RETURN; END IF;
    SELECT array_agg(DISTINCT x ORDER BY x) INTO user_ids FROM unnest(p_users) x
    WHERE NOT EXISTS (SELECT 1 FROM chat_members WHERE chat_id = p_chat AND user_id = x);
    user_ids := coalesce(user_ids, '{}');
    IF (SELECT count(*) FROM users WHERE id = ANY (user_ids)) <> cardinality(user_ids) THEN
        status := 'no_user'; RETURN;
    END IF;
    IF c.members_count + cardinality(user_ids) > p_max THEN status := 'too_many'; RETURN; END IF;
    FOREACH u IN ARRAY user_ids LOOP
        UPDATE chats SET version = version + 1, members_count = members_count + 1,
                         last_activity_at = now()
        WHERE id = p_chat RETURNING * INTO c;
        INSERT INTO chat_members (chat_id, user_id, role) VALUES (p_chat, u, 'member');
        evs := evs || chat_change_add(p_chat, c.version, 'member.joined', NULL, u,
                                      jsonb_build_object('role', 'member'))::text;
    END LOOP;
    events := array_to_string(evs, E'\n');
    status := 'ok';
END $$;

-- DELETE /chats/{id}/members/{user}: an admin removes, or a member leaves.
-- status: ok | not_found (chat, or target not a member) | forbidden | direct.
CREATE FUNCTION chat_remove_member(p_chat bigint, p_actor bigint, p_user bigint,
                                   OUT status text, OUT event json)
LANGUAGE plpgsql AS $$
DECLARE c chats; r text;
BEGIN
    SELECT ch.* INTO c FROM chats ch JOIN chat_members cm ON cm.chat_id = ch.id
    WHERE ch.id = p_chat AND cm.user_id = p_actor FOR UPDATE OF ch;
    IF NOT FOUND THEN status := 'not_found'; RETURN; END IF;
    IF c.type = 'direct' THEN status := 'direct'; RETURN; END IF;
    SELECT role INTO r FROM chat_members WHERE chat_id = p_chat AND user_id = p_actor;
    IF p_user <> p_actor AND r <> 'admin' THEN status := 'forbidden'; RETURN; END IF;
    DELETE FROM chat_members WHERE chat_id = p_chat AND user_id = p_user;
    IF NOT FOUND THEN status := 'not_found'; RETURN; END IF;
    UPDATE chats SET version = version + 1, members_count = members_count - 1,
                     last_activity_at = now()
    WHERE id = p_chat RETURNING * INTO c;
    event := chat_change_add(p_chat, c.version, 'member.left', NULL, p_user, NULL);
    status := 'ok';
END $$;

-- GET /chats/{id}/messages. seq is gapless (messages are never removed,
-- deletes leave tombstones), so a page is a seq range computed from
-- last_seq, and has_more_* follow from its bounds. NULL when p_user is not
-- a member. At most one anchor is given; none means the newest page.
CREATE FUNCTION messages_page(p_chat bigint, p_user bigint, p_before bigint, p_after bigint,
                              p_around bigint, p_limit int) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE last bigint; lo bigint; hi bigint;
BEGIN
    SELECT c.last_seq INTO last FROM chats c JOIN chat_members cm ON cm.chat_id = c.id
    WHERE c.id = p_chat AND cm.user_id = p_user;
    IF NOT FOUND THEN RETURN NULL; END IF;
    IF p_before IS NOT NULL THEN
        hi := least(p_before - 1, last); lo := greatest(1, hi - p_limit + 1);
    ELSIF p_after IS NOT NULL THEN
        lo := greatest(p_after + 1, 1); hi := least(last, lo + p_limit - 1);
    ELSIF p_around IS NOT NULL THEN
        lo := greatest(1, p_around - p_limit / 2); hi := least(last, lo + p_limit - 1);
        lo := greatest(1, least(lo, hi - p_limit + 1));
    ELSE
        hi := last; lo := greatest(1, hi - p_limit + 1);
    END IF;
    RETURN json_build_object(
        'messages', coalesce((SELECT json_agg(message_json(m) ORDER BY m.seq) FROM messages m
                              WHERE m.chat_id = p_chat AND m.seq BETWEEN lo AND hi), '[]'),
        'has_more_before', lo > 1 AND last > 0,
        'has_more_after', hi < last);
END $$;
