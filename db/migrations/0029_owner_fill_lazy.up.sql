-- owner_fill (0011) reads the owner column only when a user acts (issue 15).
--
-- The trigger made a jsonb document of the whole new row (to_jsonb(NEW) ->> column) before
-- it looked whether a user acts at all. Where none does (the accounting batch, which acts
-- for many users at once; the owner's maintenance) it returns the row unchanged, and the
-- document was wasted: about 23 us per ai_requests and usage_metrics row, 3% of a reserve ->
-- settle cycle (bench/usage.sh, BENCH_PROFILE=1). Now the document is made after that test.
-- What the trigger allows and refuses is unchanged.
CREATE OR REPLACE FUNCTION agentbase.owner_fill() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_col text := TG_ARGV[0];
    v_me uuid := agentbase.current_user_id();
    v_new text;
BEGIN
    IF v_me IS NULL THEN
        RETURN NEW;
    END IF;
    v_new := to_jsonb(NEW) ->> v_col;
    IF TG_OP = 'INSERT' AND v_new IS NULL THEN
        RETURN jsonb_populate_record(NEW, jsonb_build_object(v_col, v_me));
    END IF;
    IF agentbase.current_user_role() IN ('user', 'viewer')
       AND v_new IS DISTINCT FROM v_me::text
       AND (TG_OP = 'INSERT' OR v_new IS DISTINCT FROM to_jsonb(OLD) ->> v_col) THEN
        RAISE EXCEPTION 'field % must be your own user id: only admins act for other users', v_col
              USING ERRCODE = '42501', COLUMN = v_col;
    END IF;
    RETURN NEW;
END
$$;
