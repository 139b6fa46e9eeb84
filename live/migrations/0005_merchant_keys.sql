-- payharness live schema, version 5: merchants' API keys (issue 18, item 4).
--
-- A key is `phk_<key_id>_<secret>`: `key_id` (16 hex characters) is public and is the lookup;
-- the secret (32 random bytes, base64url) is never stored. `secret_hash` is
-- SHA-256(salt || secret) with a per-key 16-byte salt (live/merchant_keys.py says why a fast
-- hash is enough for a 256-bit random secret). A revoked key keeps its row (`revoked_at` set)
-- so `payharness merchants list` can show it; a revoked key authenticates nobody.

CREATE TABLE IF NOT EXISTS merchant_keys (
    key_id      text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    merchant    text NOT NULL CHECK (length(merchant) BETWEEN 1 AND 255),
    salt        bytea NOT NULL CHECK (length(salt) = 16),
    secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE INDEX IF NOT EXISTS merchant_keys_by_merchant ON merchant_keys (merchant);
