-- The W3C traceparent of what caused each mail and webhook delivery (the consuming
-- handler's span when tracing is on): the sender's span of that mail or delivery is its
-- child, so the send belongs to the command's trace. Null for rows written before.
ALTER TABLE notifications ADD COLUMN traceparent text;
ALTER TABLE webhook_deliveries ADD COLUMN traceparent text;
