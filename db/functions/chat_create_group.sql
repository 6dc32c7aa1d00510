-- chat_create_group: POST /chats {type: group}. p_members excludes
-- nobody: the creator is added as admin whether listed or not. status:
-- created | not_found | too_many. event and version: the chat.created to
-- publish; members: the member ids, ascending, for publishing on
-- user:{id} (created only).
-- Called by cgi/chats.c (create_group).
CREATE OR REPLACE FUNCTION chat_create_group(
    p_user bigint, p_title text, p_members bigint[], p_max int, OUT status text, OUT chat_id bigint,
    OUT event json, OUT version bigint, OUT members bigint[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
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
    version := 1;
    members := ids;
END $$;
