-- Signing secrets are sealed at rest (Fernet, notifications.secret_box) under
-- NOTIFICATIONS_WEBHOOK_SECRET_KEYS. Sealing needs the key, so SQL cannot do it: every
-- replica seals the secrets still in clear (and re-seals those of an older key) at start,
-- then hourly (secret_resealer). The columns keep their names; what they hold changes.
COMMENT ON COLUMN webhook_subscriptions.secret IS
    'Fernet token of the whsec_ secret (in clear only until the resealer has run once)';
COMMENT ON COLUMN webhook_subscriptions.previous_secret IS
    'Fernet token of the previous whsec_ secret, signing until previous_expires_at';
