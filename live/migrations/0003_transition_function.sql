-- payharness live schema, version 3: a transition as one function call with cached plans.
--
-- Until version 2 the adapter sent a transition as one large statement (a FOR UPDATE CTE,
-- the compare-and-set UPDATE, the transition-log INSERT, and cas_refused() when nothing was
-- updated). A transaction of several writes goes out as one simple-protocol query, which
-- Postgres parses and plans anew every time: about 0.3 ms of server CPU per transition, two
-- transitions per new hardened payment. This function does the same steps; PL/pgSQL keeps
-- its statements' plans for the session, so a call costs only its execution.
--
-- Semantics (as the in-memory PostgresModel has them, checked by
-- tests/live/test_postgres_differential.py): lock the row; a missing row, or with p_cas a
-- row in another state than p_expected, raises PHCAS through cas_refused() and stops the
-- transaction; otherwise set the state (and charge_id / error when given), log the
-- transition with its legality (the prior state is one of p_legal), return the updated row.

CREATE OR REPLACE FUNCTION ph_transition(
    p_id text,
    p_cas boolean,
    p_expected text,
    p_target text,
    p_charge_id text,
    p_error text,
    p_at bigint,
    p_legal text[]
)
RETURNS payments
LANGUAGE plpgsql
AS $$
DECLARE
    prior text;
    updated payments;
BEGIN
    SELECT state INTO prior FROM payments WHERE id = p_id FOR UPDATE;
    IF prior IS NULL OR (p_cas AND prior IS DISTINCT FROM p_expected) THEN
        PERFORM cas_refused(p_id, prior, p_expected);
    END IF;
    UPDATE payments
       SET state = p_target,
           charge_id = COALESCE(p_charge_id, charge_id),
           error = COALESCE(p_error, error),
           updated_ms = p_at
     WHERE id = p_id
    RETURNING * INTO updated;
    INSERT INTO payment_transitions (payment_id, source, target, legal, at_ms)
    VALUES (p_id, prior, p_target, prior = ANY (p_legal), p_at);
    RETURN updated;
END
$$;
