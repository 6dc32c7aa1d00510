-- user_json: the user object of API.md "Users". Called by chat-api
-- (cgi/auth.c, users.c, chats.c).
CREATE OR REPLACE FUNCTION user_json(u users) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', u.id, 'username', u.username,
                             'display_name', u.display_name, 'created_at', api_ts(u.created_at))
$$;
