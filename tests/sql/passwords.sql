-- pgTAP: 0012_passwords. user_set_password() called as the service calls it (agentbase_app,
-- or agentbase_member for a plain user, with the request context of a key): for oneself,
-- by an admin, the platform and the system; refused for another user, another tenant's
-- user and anything but an argon2id hash. Which sessions end, the sign-in lock cleared,
-- the hash redacted from the audit trail, and no way around the function for a request.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(32);

\set ta '''a0000012-0000-7000-8000-00000000000a'''
\set tb '''b0000012-0000-7000-8000-00000000000b'''
\set ann '''a0000012-0000-7000-8000-0000000000a1'''
\set bo '''a0000012-0000-7000-8000-0000000000a2'''
\set old '''$argon2id$v=19$m=65536,t=2,p=1$b2xkc2FsdG9sZA$b2xkaGFzaG9sZGhhc2g'''
\set new '''$argon2id$v=19$m=65536,t=2,p=1$bmV3c2FsdG5ldw$bmV3aGFzaG5ld2hhc2g'''
SELECT abtest.fixture_0002_tenancy(:ta);
SELECT abtest.fixture_0002_tenancy(:tb);
SELECT id AS admin FROM users WHERE tenant_id = :ta AND role = 'admin' LIMIT 1 \gset
SELECT id AS ub, password_hash AS ub_hash FROM users WHERE tenant_id = :tb LIMIT 1 \gset

INSERT INTO users (tenant_id, id, email, role, password_hash) VALUES
    (:ta, :ann, 'ann@fixture.test', 'user', :old),
    (:ta, :bo, 'bo@fixture.test', 'user', :old);
-- ann: sessions s1 (the request's) and s2, and a long-lived key k1; bo: session s3
INSERT INTO api_keys (tenant_id, id, user_id, name, kind, key_prefix, key_hash) VALUES
    (:ta, 'a0000012-0000-7000-8000-0000000000c1', :ann, 's1', 'session', 'ab_s1', repeat('1', 64)),
    (:ta, 'a0000012-0000-7000-8000-0000000000c2', :ann, 's2', 'session', 'ab_s2', repeat('2', 64)),
    (:ta, 'a0000012-0000-7000-8000-0000000000c3', :ann, 'k1', 'api', 'ab_k1', repeat('3', 64)),
    (:ta, 'a0000012-0000-7000-8000-0000000000c4', :bo, 's3', 'session', 'ab_s3', repeat('4', 64));

-- Acts as the service does for a request of key p_key acting as p_user with p_role.
CREATE FUNCTION pg_temp.act(p_tenant uuid, p_key text, p_user uuid, p_role text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('role', 'agentbase_app', true);
    PERFORM agentbase.set_request_context(p_tenant, 'api_key', p_key, NULL, NULL, 'req-pw',
                                          p_role = 'platform', p_user, p_role);
END
$$;

-- A session's state: 'live' or 'revoked'.
CREATE FUNCTION pg_temp.key_state(p_id uuid) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN revoked_at IS NULL THEN 'live' ELSE 'revoked' END FROM agentbase.api_keys WHERE id = p_id
$$;

-- ------------------------------------------------------------------------------------
-- Structure and privileges
-- ------------------------------------------------------------------------------------
SELECT has_function('agentbase', 'user_set_password', ARRAY['uuid', 'text', 'boolean'], 'user_set_password exists');
SELECT is_definer('agentbase', 'user_set_password', ARRAY['uuid', 'text', 'boolean'], 'it is SECURITY DEFINER');
SELECT function_owner_is('agentbase', 'user_set_password', ARRAY['uuid', 'text', 'boolean'], 'agentbase_owner',
                         'owned by the owner');
SELECT ok(has_function_privilege('agentbase_app', 'agentbase.user_set_password(uuid, text, boolean)', 'EXECUTE'),
          'the service may call it');
SELECT ok(NOT has_function_privilege('agentbase_readonly', 'agentbase.user_set_password(uuid, text, boolean)', 'EXECUTE')
          AND NOT EXISTS (SELECT 1 FROM pg_proc p, aclexplode(p.proacl) a
                           WHERE p.oid IN ('agentbase.user_set_password(uuid, text, boolean)'::regprocedure,
                                           'agentbase.users_password_guard()'::regprocedure)
                             AND a.grantee = 0),
          'neither PUBLIC nor analytics may');
SELECT has_trigger('agentbase', 'users', 'trg_password_guard', 'users has the password guard');

-- ------------------------------------------------------------------------------------
-- A user changes their own password
-- ------------------------------------------------------------------------------------
SELECT pg_temp.act(:ta, 'a0000012-0000-7000-8000-0000000000c1', :ann, 'user');
SELECT is(current_user::text, 'agentbase_member', 'a plain user''s request runs as agentbase_member');
SELECT is(user_set_password(:ann, :new, false),
          jsonb_build_object('user_id', :ann::uuid, 'must_change_password', false, 'sessions_ended', 1),
          'a user sets their own password; one other session ends');
SELECT throws_ok(format($$SELECT user_set_password(%L, %L, false)$$, :bo, :new), '42501',
                 'only an admin may set another user''s password', 'a user cannot set another user''s password');
SELECT throws_ok(format($$UPDATE users SET password_hash = %L WHERE id = %L$$, :old, :ann), '42501',
                 'field password_hash changes only through agentbase.user_set_password()',
                 'nor write their own hash directly');
SELECT throws_ok(format($$UPDATE users SET must_change_password = true WHERE id = %L$$, :ann), '42501',
                 'field must_change_password changes only through agentbase.user_set_password()',
                 'nor the must-change flag');
SELECT abtest.unbecome();
SELECT is((SELECT password_hash FROM users WHERE id = :ann), :new, 'the new hash is stored');
SELECT is((SELECT password_hash FROM users WHERE id = :bo), :old, 'the other user''s is untouched');
SELECT is(pg_temp.key_state('a0000012-0000-7000-8000-0000000000c1'), 'live', 'the request''s own session lives on');
SELECT is(pg_temp.key_state('a0000012-0000-7000-8000-0000000000c2'), 'revoked', 'the user''s other session ended');
SELECT is(pg_temp.key_state('a0000012-0000-7000-8000-0000000000c3'), 'live', 'the user''s API key is not a session');
SELECT is(pg_temp.key_state('a0000012-0000-7000-8000-0000000000c4'), 'live', 'another user''s session lives on');
SELECT is((SELECT new_values ->> 'password_hash' FROM audit_logs
            WHERE resource_id = :ann AND action = 'user.updated' ORDER BY created_at DESC LIMIT 1),
          '[redacted]', 'the audit trail records the change without the hash');

-- ------------------------------------------------------------------------------------
-- An admin resets a password; the platform and the system may too
-- ------------------------------------------------------------------------------------
UPDATE users SET failed_login_attempts = 5, locked_until = now() + interval '15 minutes' WHERE id = :bo;
SELECT pg_temp.act(:ta, 'some-admin-key', :'admin', 'admin');
SELECT is(user_set_password(:bo, :new, true),
          jsonb_build_object('user_id', :bo::uuid, 'must_change_password', true, 'sessions_ended', 1),
          'an admin resets a user''s password; all of the user''s sessions end');
SELECT throws_ok(format($$SELECT user_set_password(%L, %L, true)$$, :'ub', :new), 'AB404', NULL,
                 'an admin of one tenant does not find another tenant''s user');
SELECT throws_ok(format($$SELECT user_set_password(%L, 'hunter2hunter2', true)$$, :bo), '22023', NULL,
                 'a plain password is refused: only argon2id hashes are stored');
SELECT throws_ok(format($$SELECT user_set_password(%L, %L, NULL)$$, :bo, :new), '22023', NULL,
                 'the must-change flag is true or false');
SELECT throws_ok(format($$UPDATE users SET password_hash = %L WHERE id = %L$$, :old, :bo), '42501', NULL,
                 'an admin request cannot write a hash around the function either');
SELECT abtest.unbecome();
SELECT results_eq(format($$SELECT password_hash = %L, must_change_password, failed_login_attempts, locked_until IS NULL
                             FROM users WHERE id = %L$$, :new, :bo),
                  $$VALUES (true, true, 0, true)$$, 'the reset sets hash and flag and clears the sign-in lock');
SELECT is(pg_temp.key_state('a0000012-0000-7000-8000-0000000000c4'), 'revoked', 'the user''s session ended');
SELECT is((SELECT password_hash FROM users WHERE id = :'ub'), :'ub_hash', 'the other tenant''s user is untouched');

SELECT pg_temp.act(:ta, 'platform-key', NULL, 'platform');
SELECT lives_ok(format($$SELECT user_set_password(%L, %L, false)$$, :ann, :old), 'the platform admin sets a password');
SELECT abtest.unbecome();
SELECT is(pg_temp.key_state('a0000012-0000-7000-8000-0000000000c1'), 'revoked',
          'and every session of the user ends (the platform key is none of them)');

SELECT agentbase.set_request_context(:ta, 'system', 'agentbase users set-password');
SELECT lives_ok(format($$SELECT user_set_password(%L, %L, true)$$, :bo, :old),
                'the system (the CLI as the owner) sets a password');
SELECT is((SELECT must_change_password FROM users WHERE id = :bo), true, 'with the flag asked for');
SELECT agentbase.set_request_context(NULL, 'system', 'agentbase users set-password');
SELECT throws_ok(format($$SELECT user_set_password(%L, %L, true)$$, :bo, :old), 'AB404', NULL,
                 'without a tenant in the context no user is found');
SELECT agentbase.set_request_context(NULL);

-- A viewer writes nothing through ordinary SQL, but changes their own password.
UPDATE users SET role = 'viewer' WHERE id = :ann;
SELECT pg_temp.act(:ta, 'a0000012-0000-7000-8000-0000000000c1', :ann, 'viewer');
SELECT lives_ok(format($$SELECT user_set_password(%L, %L, false)$$, :ann, :new), 'a viewer changes their own password');
SELECT abtest.unbecome();

SELECT * FROM finish();
ROLLBACK;
