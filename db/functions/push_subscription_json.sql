-- push_subscription_json: the push subscription object of API.md
-- "Outgoing webhooks and push".
-- Called by cgi/push.c.
CREATE OR REPLACE FUNCTION push_subscription_json(s push_subscriptions) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', s.id, 'app_id', s.app_id, 'pushkey', s.pushkey,
                             'gateway_url', s.gateway_url, 'format', s.format,
                             'created_at', api_ts(s.created_at))
$$;
