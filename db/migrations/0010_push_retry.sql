-- 0010_push_retry: a push whose gateways all failed (timeout, 5xx) is
-- tried again a few times with backoff before it is dropped.
ALTER TABLE push_queue ADD COLUMN attempts integer NOT NULL DEFAULT 0;
