-- payharness live schema, version 4: a transaction of several writes as one prepared call.
--
-- Until version 3 the adapter sent a DbTransaction of several writes as one simple-protocol
-- query of several statements, which Postgres parses and plans on every call (and the client
-- quotes every parameter into the text). ph_apply() takes the writes as one jsonb array and
-- applies them in order inside one statement, so the client sends one prepared statement
-- with one parameter and Postgres keeps the plans of the function's statements for the
-- session. As before, the statement is its own (implicit) transaction: the first error stops
-- it and nothing of it commits.
--
-- Each element is one of
--   {"k": "i", ...the payments columns...}                       insert a payment row
--   {"k": "t", "id", "cas", "exp", "at", "steps": [{"to", "ch", "err", "legal"}, ...]}
--   {"k": "o", "variant", "merchant", "order", "payment", "at"}  mark an order paid
-- A "t" element is a path of transitions of one payment that the adapter found consecutive in
-- the transaction, each after the first comparing against the state the one before it set
-- (or blind), every target a live state: lock the row; a missing row, or with "cas" a row in
-- another state than "exp", raises PHCAS through cas_refused() (migration 0002), as
-- ph_transition() does; then log every step with its legality (the prior state is one of the
-- step's "legal" states), return the row as each step leaves it, and write the row once, as
-- the last step leaves it. Within one transaction nobody sees the intermediate states, so the
-- one UPDATE has the effect of one per step, without a dead row version and index entries
-- for each intermediate state. Checked against the in-memory PostgresModel by
-- tests/live/test_postgres_differential.py.

CREATE OR REPLACE FUNCTION ph_apply(p_ops jsonb)
RETURNS SETOF payments
LANGUAGE plpgsql
AS $$
DECLARE
    op jsonb;
    step jsonb;
    cur payments;
    v_at bigint;
BEGIN
    FOR op IN SELECT value FROM jsonb_array_elements(p_ops) LOOP
        IF op->>'k' = 't' THEN
            SELECT * INTO cur FROM payments WHERE id = op->>'id' FOR UPDATE;
            IF NOT FOUND OR ((op->>'cas')::boolean AND cur.state IS DISTINCT FROM op->>'exp') THEN
                PERFORM cas_refused(op->>'id', cur.state, op->>'exp');
            END IF;
            v_at := (op->>'at')::bigint;
            FOR step IN SELECT value FROM jsonb_array_elements(op->'steps') LOOP
                INSERT INTO payment_transitions (payment_id, source, target, legal, at_ms)
                VALUES (cur.id, cur.state, step->>'to', (step->'legal') ? cur.state, v_at);
                cur.state := step->>'to';
                cur.charge_id := COALESCE(step->>'ch', cur.charge_id);
                cur.error := COALESCE(step->>'err', cur.error);
                cur.updated_ms := v_at;
                RETURN NEXT cur;
            END LOOP;
            UPDATE payments
               SET state = cur.state,
                   charge_id = cur.charge_id,
                   error = cur.error,
                   updated_ms = cur.updated_ms
             WHERE id = cur.id;
        ELSIF op->>'k' = 'o' THEN
            INSERT INTO orders (variant, merchant, order_id, payment_id, paid_ms)
            VALUES (op->>'variant', op->>'merchant', op->>'order', op->>'payment',
                    (op->>'at')::bigint)
            ON CONFLICT (variant, merchant, order_id)
            DO UPDATE SET payment_id = EXCLUDED.payment_id, paid_ms = EXCLUDED.paid_ms;
        ELSIF op->>'k' = 'i' THEN
            INSERT INTO payments (id, variant, key_scope, one_live_order, merchant, order_id,
                                  idempotency_key, amount, currency, source, fingerprint,
                                  provider_key, state, created_ms, updated_ms, charge_id, error)
            VALUES (op->>'id', op->>'variant', op->>'key_scope', (op->>'one_live_order')::boolean,
                    op->>'merchant', op->>'order', op->>'key', (op->>'amount')::bigint,
                    op->>'currency', op->>'source', op->>'fingerprint', op->>'provider_key',
                    op->>'state', (op->>'created_ms')::bigint, (op->>'at')::bigint,
                    op->>'charge_id', op->>'error');
        ELSE
            RAISE EXCEPTION 'ph_apply: unknown write kind %', op->>'k';
        END IF;
    END LOOP;
END
$$;
