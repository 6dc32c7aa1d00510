-- 0009_notify_claim: chat-notify's claim looks at the head of each
-- (webhook, chat) queue and at pending redeliveries; this index keeps the
-- latter from scanning every delivery kept in the log.
CREATE INDEX webhook_deliveries_redelivery ON webhook_deliveries (id)
    WHERE state = 'pending' AND redelivery;
