-- payharness live schema, version 1: payments, paid orders, and the transition log.
--
-- One schema can serve several design variants side by side: every row carries its variant,
-- and the unique indexes a variant's design relies on are partial indexes selected by two
-- row flags the adapter sets from the variant (core.runtime.world.schema_for):
--   key_scope      'merchant' -> one payment per (merchant, key)      (hardened)
--                  'global'   -> one payment per key across merchants (seed's unscoped lookup)
--   one_live_order true       -> one non-FAILED payment per (merchant, order)   (hardened)
-- Index names matter: the adapter reports a unique violation as Conflict(<index name>) and the
-- payment flow recognises "live_order".

CREATE TABLE IF NOT EXISTS payments (
    id              text PRIMARY KEY,
    variant         text NOT NULL,
    key_scope       text NOT NULL CHECK (key_scope IN ('merchant', 'global', 'none')),
    one_live_order  boolean NOT NULL,
    merchant        text NOT NULL,
    order_id        text NOT NULL,
    idempotency_key text NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        text NOT NULL,
    source          text NOT NULL,
    fingerprint     text NOT NULL,
    provider_key    text NOT NULL,
    state           text NOT NULL
                    CHECK (state IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'RECONCILE')),
    created_ms      bigint NOT NULL,
    updated_ms      bigint NOT NULL,
    charge_id       text,
    error           text
);

CREATE UNIQUE INDEX IF NOT EXISTS payments_key_per_merchant
    ON payments (variant, merchant, idempotency_key) WHERE key_scope = 'merchant';

CREATE UNIQUE INDEX IF NOT EXISTS payments_key_global
    ON payments (variant, idempotency_key) WHERE key_scope = 'global';

CREATE UNIQUE INDEX IF NOT EXISTS payments_live_order
    ON payments (variant, merchant, order_id) WHERE one_live_order AND state <> 'FAILED';

CREATE INDEX IF NOT EXISTS payments_by_key ON payments (variant, idempotency_key);

CREATE INDEX IF NOT EXISTS payments_unsettled
    ON payments (variant, created_ms)
    WHERE state IN ('PENDING', 'PROCESSING', 'RECONCILE');

CREATE TABLE IF NOT EXISTS orders (
    variant    text NOT NULL,
    merchant   text NOT NULL,
    order_id   text NOT NULL,
    payment_id text NOT NULL REFERENCES payments (id),
    paid_ms    bigint NOT NULL,
    PRIMARY KEY (variant, merchant, order_id)
);

CREATE TABLE IF NOT EXISTS payment_transitions (
    seq        bigserial PRIMARY KEY,
    payment_id text NOT NULL REFERENCES payments (id),
    source     text NOT NULL,
    target     text NOT NULL,
    legal      boolean NOT NULL,
    at_ms      bigint NOT NULL
);

CREATE INDEX IF NOT EXISTS payment_transitions_by_payment ON payment_transitions (payment_id);
