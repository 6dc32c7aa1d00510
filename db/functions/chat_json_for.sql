-- chat_json_for: the chat as its member p_user sees it: chat_json plus
-- unread_count, read_seq, delivered_seq and role; NULL when p_user is not
-- a member. Called by chat-api (cgi/chats.c: GET /chats, /chats/{id}).
CREATE OR REPLACE FUNCTION chat_json_for(c chats, p_user bigint) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT (chat_json(c)::jsonb || jsonb_build_object(
        'unread_count', (SELECT count(*) FROM (SELECT 1 FROM messages m
                          WHERE m.chat_id = c.id AND m.seq > cm.read_seq
                            AND m.sender_id <> p_user AND NOT m.deleted LIMIT 1000) x),
        'read_seq', cm.read_seq, 'delivered_seq', cm.delivered_seq, 'role', cm.role))::json
    FROM chat_members cm WHERE cm.chat_id = c.id AND cm.user_id = p_user
$$;
