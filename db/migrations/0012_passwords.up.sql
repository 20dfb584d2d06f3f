-- Passwords: set, changed and reset through one entry point, user_set_password(), which
-- decides who may set whose password and ends the sessions a new password must end.
--
-- What reaches the database is only ever an argon2id hash: the service hashes (with no
-- connection held, argon2id is slow on purpose) and checks the rules a new password must
-- pass (length, the most common passwords, not the e-mail or username); the old password
-- of a change is verified by the service too, before it calls here. So this function
-- cannot tell whether the caller knew the old password: it decides only who may act.
--
-- Who may set a password:
--   a request acting as the user themselves            their own (POST /v1/auth/password)
--   a request with role admin or platform               any user of the request's tenant
--   the system (no request: CLI, seeds) as the owner    any user of the tenant in context
-- anyone else gets 42501. The user is always looked up in current_tenant_id(), so another
-- tenant's user is not found (AB404), like a user that does not exist.
--
-- What a new password does: sets the hash and must_change_password as asked, clears the
-- sign-in lock (failed_login_attempts, locked_until: the guesses were against the old
-- password, and an admin reset is how a locked-out user gets back in), and revokes the
-- user's sessions except the one making the request (for API-key requests its id is
-- agentbase.current_actor_id()), so a change keeps its own session and ends the others,
-- and an admin's reset or the CLI ends them all. The user's long-lived API keys stay: they
-- are not signed in with the password.
--
-- A request cannot write the hash or the must-change flag around this function: the
-- trigger trg_password_guard refuses it (the API never lists them as writable either).

CREATE FUNCTION agentbase.user_set_password(p_user_id uuid, p_hash text, p_must_change boolean)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_tenant uuid := agentbase.current_tenant_id();
    v_request boolean := agentbase.current_actor_type() IS NOT NULL AND agentbase.current_actor_type() <> 'system';
    v_keep uuid;
    v_ended integer;
BEGIN
    IF p_hash IS NULL
       OR p_hash !~ '^\$argon2id\$v=19\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$' THEN
        RAISE EXCEPTION 'a password is stored only as an argon2id hash ($argon2id$v=19$...)'
              USING ERRCODE = '22023';
    END IF;
    IF p_must_change IS NULL THEN
        RAISE EXCEPTION 'p_must_change must be true or false' USING ERRCODE = '22023';
    END IF;
    IF v_request THEN
        IF p_user_id IS DISTINCT FROM agentbase.current_user_id()
           AND coalesce(agentbase.current_user_role(), '') NOT IN ('admin', 'platform') THEN
            RAISE EXCEPTION 'only an admin may set another user''s password' USING ERRCODE = '42501';
        END IF;
        IF agentbase.current_actor_type() = 'api_key'
           AND agentbase.current_actor_id() ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
            v_keep := agentbase.current_actor_id()::uuid;
        END IF;
    ELSIF NOT pg_has_role(session_user, 'agentbase_owner', 'MEMBER') THEN
        RAISE EXCEPTION 'only a request or the owner may set a password' USING ERRCODE = '42501';
    END IF;

    UPDATE agentbase.users
       SET password_hash = p_hash, must_change_password = p_must_change,
           failed_login_attempts = 0, locked_until = NULL
     WHERE tenant_id = v_tenant AND id = p_user_id AND deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', p_user_id USING ERRCODE = 'AB404';
    END IF;

    UPDATE agentbase.api_keys
       SET revoked_at = now()
     WHERE tenant_id = v_tenant AND user_id = p_user_id AND kind = 'session' AND revoked_at IS NULL
       AND id IS DISTINCT FROM v_keep;
    GET DIAGNOSTICS v_ended = ROW_COUNT;

    RETURN jsonb_build_object('user_id', p_user_id, 'must_change_password', p_must_change,
                              'sessions_ended', v_ended);
END
$$;
COMMENT ON FUNCTION agentbase.user_set_password(uuid, text, boolean) IS
    'sets a user''s argon2id hash and must-change flag, clears the sign-in lock and ends the user''s other sessions (self, admin, platform or the owner)';
REVOKE ALL ON FUNCTION agentbase.user_set_password(uuid, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.user_set_password(uuid, text, boolean) TO agentbase_app;

-- BEFORE UPDATE trigger: within a request (a role in the context), the password hash and
-- the must-change flag change only inside user_set_password, which runs as the owner.
-- The system (seeds, migrations, the CLI as the owner) is not a request and passes.
CREATE FUNCTION agentbase.users_password_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF agentbase.current_user_role() IS NOT NULL
       AND NOT pg_has_role(current_user, 'agentbase_owner', 'USAGE') THEN
        IF NEW.password_hash IS DISTINCT FROM OLD.password_hash THEN
            RAISE EXCEPTION 'field password_hash changes only through agentbase.user_set_password()'
                  USING ERRCODE = '42501', COLUMN = 'password_hash';
        ELSIF NEW.must_change_password IS DISTINCT FROM OLD.must_change_password THEN
            RAISE EXCEPTION 'field must_change_password changes only through agentbase.user_set_password()'
                  USING ERRCODE = '42501', COLUMN = 'must_change_password';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.users_password_guard() IS
    'BEFORE UPDATE trigger: a request changes a password hash or must_change_password only through user_set_password()';
REVOKE ALL ON FUNCTION agentbase.users_password_guard() FROM PUBLIC;
CREATE TRIGGER trg_password_guard BEFORE UPDATE OF password_hash, must_change_password ON agentbase.users
    FOR EACH ROW EXECUTE FUNCTION agentbase.users_password_guard();
