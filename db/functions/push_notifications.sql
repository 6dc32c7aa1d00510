-- push_notifications: The notifications of one push, one per device of
-- p_user: [{id, pushkey, gateway_url, body}], body in the request shape of
-- Matrix's push gateway API (/_matrix/push/v1/notify). Empty when the user
-- left the chat, already read that message, or it was deleted. unread is the
-- user's unread messages over all chats (Matrix's badge count).
-- Called by notify/push.c.
CREATE OR REPLACE FUNCTION push_notifications(
    p_user bigint, p_chat bigint, p_version bigint, p_seq bigint) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(json_build_object('id', s.id, 'pushkey', s.pushkey,
        'gateway_url', s.gateway_url,
        'body', json_build_object('notification', json_strip_nulls(json_build_object(
            'event_id', p_chat || ':' || p_version,
            'room_id', p_chat::text,
            'type', CASE WHEN s.format IS DISTINCT FROM 'event_id_only' THEN 'message.created' END,
            'sender', CASE WHEN s.format IS DISTINCT FROM 'event_id_only' THEN m.sender_id::text END,
            'sender_display_name',
                CASE WHEN s.format IS DISTINCT FROM 'event_id_only' THEN u.display_name END,
            'room_name', CASE WHEN s.format IS DISTINCT FROM 'event_id_only' THEN c.title END,
            'prio', 'high',
            'counts', json_build_object('unread', unread.n),
            'devices', json_build_array(json_build_object('app_id', s.app_id,
                'pushkey', s.pushkey, 'pushkey_ts', extract(epoch FROM s.created_at)::bigint,
                'data', json_build_object('format', s.format))))))) ORDER BY s.id), '[]')
    FROM chat_members cm
    JOIN chats c ON c.id = cm.chat_id
    JOIN messages m ON m.chat_id = p_chat AND m.seq = p_seq AND NOT m.deleted
    JOIN users u ON u.id = m.sender_id
    JOIN push_subscriptions s ON s.user_id = p_user
    CROSS JOIN LATERAL (SELECT least(coalesce(sum(greatest(c2.last_seq - cm2.read_seq, 0)), 0),
                                     99999) AS n
                        FROM chat_members cm2 JOIN chats c2 ON c2.id = cm2.chat_id
                        WHERE cm2.user_id = p_user) unread
    WHERE cm.chat_id = p_chat AND cm.user_id = p_user AND cm.read_seq < p_seq
$$;
