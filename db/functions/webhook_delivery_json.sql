-- webhook_delivery_json: a delivery with its attempts, as API.md "Outgoing
-- webhooks and push" lists them (no bodies are kept).
-- Called by cgi/webhooks.c.
CREATE OR REPLACE FUNCTION webhook_delivery_json(d webhook_deliveries) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', d.id, 'webhook_id', d.webhook_id, 'event_type', d.type,
        'chat_id', d.chat_id, 'version', d.version, 'status', d.state,
        'redelivery', d.redelivery, 'attempt_count', d.attempts,
        'created_at', api_ts(d.created_at),
        'next_attempt_at', CASE WHEN d.state = 'pending' THEN api_ts(d.next_at) END,
        'completed_at', api_ts(d.done_at),
        'attempts', coalesce((SELECT json_agg(json_build_object('at', api_ts(a.at),
                                  'http_status', a.http_status, 'latency_ms', a.latency_ms,
                                  'error', a.error) ORDER BY a.id)
                              FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'))
$$;
