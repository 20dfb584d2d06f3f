-- The platform's own tenant (slug 'platform', metadata {"platform": true}) and its super
-- admin, admin@platform.local (username superadmin, role admin), who must change the
-- password at the first sign-in: the Vanilla SaaS seed's "super admin user (CHANGE
-- PASSWORD!)", present on every installation, with or without the demo tenant.
--
-- Created once, together with the tenant: when a live tenant 'platform' exists this file
-- changes nothing, so an operator who removed or renamed the super admin does not get it
-- back from a later `agentbase seed`. `agentbase seed` hashes a fresh random password with
-- argon2id and passes only the hash in agentbase.seed_superadmin_password_hash; it writes
-- the password to $AGENTBASE_HOME/superadmin-password (mode 0600) only when this run
-- stored that hash.

SELECT set_config('agentbase.actor_type', 'system', true), set_config('agentbase.actor_id', 'seed', true);

DO $$
DECLARE
    v_hash text := NULLIF(current_setting('agentbase.seed_superadmin_password_hash', true), '');
    v_tenant uuid;
BEGIN
    IF EXISTS (SELECT 1 FROM agentbase.tenants WHERE slug = 'platform' AND deleted_at IS NULL) THEN
        RETURN;
    END IF;
    IF v_hash IS NULL THEN
        RAISE EXCEPTION 'the super admin needs a password hash in agentbase.seed_superadmin_password_hash'
              USING HINT = 'load the seed with `agentbase seed`';
    END IF;
    INSERT INTO agentbase.tenants (slug, name, status, contact_email, contact_name, metadata)
    VALUES ('platform', 'Platform', 'active', 'admin@platform.local', 'Super Admin', '{"platform": true}')
    RETURNING id INTO v_tenant;
    INSERT INTO agentbase.users (tenant_id, email, username, password_hash, full_name, role,
                                 must_change_password, status)
    VALUES (v_tenant, 'admin@platform.local', 'superadmin', v_hash, 'Super Admin', 'admin', true, 'active');
END
$$;
