-- webhook_json: the webhook object of API.md "Outgoing webhooks and push"
-- (never the secret).
-- Called by cgi/webhooks.c.
CREATE OR REPLACE FUNCTION webhook_json(w webhooks) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', w.id, 'url', w.url, 'events', w.events,
                             'chat_ids', w.chat_ids, 'created_at', api_ts(w.created_at))
$$;
