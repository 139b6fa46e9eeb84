-- payharness live schema, version 2: a compare-and-set refusal raised by the server.
--
-- The adapter sends a transaction's writes as one query (live/postgres_store.py), which
-- Postgres runs as one implicit transaction. A transition whose compare-and-set finds the row
-- missing or in another state must then stop the transaction on the server, as the in-memory
-- model stops at the first refused write: the transition statement calls this function,
-- which raises SQLSTATE PHCAS; Postgres skips the rest and rolls back, and the adapter
-- reports Conflict with the model's message.

CREATE OR REPLACE FUNCTION cas_refused(payment_id text, current_state text, expected_state text)
RETURNS text
LANGUAGE plpgsql
AS $$
BEGIN
    IF current_state IS NULL THEN
        RAISE EXCEPTION 'payment % does not exist', payment_id USING ERRCODE = 'PHCAS';
    END IF;
    RAISE EXCEPTION 'payment % is %, not %: compare-and-set refused',
        payment_id, current_state, expected_state
        USING ERRCODE = 'PHCAS';
END
$$;
