-- Back to 0011's owner_fill, which reads the owner column before it looks whether a user acts.
CREATE OR REPLACE FUNCTION agentbase.owner_fill() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_col text := TG_ARGV[0];
    v_me uuid := agentbase.current_user_id();
    v_new text := to_jsonb(NEW) ->> v_col;
BEGIN
    IF v_me IS NULL THEN
        RETURN NEW;
    END IF;
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
