-- Tenancy: tenants, users, API keys (tenant and platform), the audit log, and the
-- SECURITY DEFINER lookups that authenticate a request before any tenant context exists.
--
-- Decisions worth knowing:
--   * audit_logs has NO foreign key to tenants. Hard-deleting a tenant cascades into its
--     tables, whose audit triggers (and the tenants trigger itself) write audit rows for
--     that tenant after its row is gone; a foreign key would make every tenant hard delete
--     fail. The trail of a deleted tenant stays until retention removes it.
--   * A platform admin acting without a tenant (creating, suspending, deleting tenants)
--     writes audit rows for tenants other than current_tenant_id(): audit_logs has an extra
--     INSERT policy for platform admins.
--   * api_keys.user_id is ON DELETE CASCADE: a personal key must die with its user.
--     SET NULL would silently turn it into an ownerless tenant-wide service key.
--   * Within a tenant, the service may change the tenant's own profile and settings, but
--     its slug, status, plan, limits and deletion only as a platform admin (trg_guard).
--   * Counter-like columns that change on every request (api_keys.last_used_*) are left
--     out of the audit trail by attach_audit_except(): their changes alone write no row.

-- ------------------------------------------------------------------------------------
-- Audit helper: like attach_audit, but an UPDATE that changes only the ignored columns
-- writes no audit row.
-- ------------------------------------------------------------------------------------

CREATE FUNCTION agentbase.attach_audit_except(
    p_table regclass, p_type text, p_ignore text[], p_tenant_column text DEFAULT 'tenant_id',
    p_redact text[] DEFAULT '{}'
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_args text := format('%L, %L', p_type, p_tenant_column);
    v_col text;
BEGIN
    FOREACH v_col IN ARRAY p_redact LOOP
        v_args := v_args || format(', %L', v_col);
    END LOOP;
    EXECUTE format('CREATE TRIGGER trg_audit AFTER INSERT OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION agentbase.audit_trigger(%s)', p_table, v_args);
    EXECUTE format('CREATE TRIGGER trg_audit_update AFTER UPDATE ON %s FOR EACH ROW '
                   'WHEN ((to_jsonb(OLD.*) - %L::text[]) IS DISTINCT FROM (to_jsonb(NEW.*) - %L::text[])) '
                   'EXECUTE FUNCTION agentbase.audit_trigger(%s)', p_table, p_ignore, p_ignore, v_args);
END
$$;
COMMENT ON FUNCTION agentbase.attach_audit_except(regclass, text, text[], text, text[]) IS
    'adds audit triggers that skip updates changing only the ignored columns (counters, last-used times)';

-- ------------------------------------------------------------------------------------
-- audit_logs: every change to a tenant's data (append-only, monthly partitions)
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.audit_logs (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    action        text        NOT NULL,
    resource_type text        NOT NULL,
    resource_id   text,
    old_values    jsonb,
    new_values    jsonb,
    actor_type    text,
    actor_id      text,
    ip_address    inet,
    user_agent    text,
    request_id    text,
    metadata      jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT audit_logs_pkey PRIMARY KEY (tenant_id, id, created_at),
    CONSTRAINT chk_audit_logs_action CHECK (length(action) BETWEEN 1 AND 200),
    CONSTRAINT chk_audit_logs_resource_type CHECK (length(resource_type) BETWEEN 1 AND 100),
    CONSTRAINT chk_audit_logs_metadata CHECK (jsonb_typeof(metadata) = 'object')
) PARTITION BY RANGE (created_at);
CREATE INDEX idx_audit_logs_created_at ON agentbase.audit_logs (tenant_id, created_at DESC);
CREATE INDEX idx_audit_logs_resource ON agentbase.audit_logs (tenant_id, resource_type, resource_id);

COMMENT ON TABLE agentbase.audit_logs IS
    'audit trail: one row per change of a tenant''s data, written by the audit triggers (append-only, monthly partitions)';
COMMENT ON COLUMN agentbase.audit_logs.tenant_id IS 'tenant whose data changed (no foreign key: the trail outlives a deleted tenant)';
COMMENT ON COLUMN agentbase.audit_logs.id IS 'audit record id (UUID v7)';
COMMENT ON COLUMN agentbase.audit_logs.created_at IS 'time of the change (transaction start); partition key';
COMMENT ON COLUMN agentbase.audit_logs.action IS '<resource_type>.created, .updated or .deleted, or an application event name';
COMMENT ON COLUMN agentbase.audit_logs.resource_type IS 'kind of resource, singular (user, agent, api_key ...)';
COMMENT ON COLUMN agentbase.audit_logs.resource_id IS 'id of the changed row';
COMMENT ON COLUMN agentbase.audit_logs.old_values IS 'row before the change (secrets redacted); NULL on create';
COMMENT ON COLUMN agentbase.audit_logs.new_values IS 'row after the change (secrets redacted); NULL on hard delete';
COMMENT ON COLUMN agentbase.audit_logs.actor_type IS 'user, api_key or system (from the request context)';
COMMENT ON COLUMN agentbase.audit_logs.actor_id IS 'id of the acting user or key (from the request context)';
COMMENT ON COLUMN agentbase.audit_logs.ip_address IS 'client IP address (from the request context)';
COMMENT ON COLUMN agentbase.audit_logs.user_agent IS 'client User-Agent (from the request context)';
COMMENT ON COLUMN agentbase.audit_logs.request_id IS 'request id, to correlate with service logs';
COMMENT ON COLUMN agentbase.audit_logs.metadata IS 'free-form details of application events';

SELECT agentbase.restrict_app_to_append('agentbase.audit_logs');
SELECT agentbase.ensure_monthly_partitions('agentbase.audit_logs');
SELECT agentbase.enable_tenant_rls('agentbase.audit_logs');
CREATE POLICY platform_admin_insert ON agentbase.audit_logs FOR INSERT TO agentbase_app
    WITH CHECK (agentbase.is_platform_admin());

-- ------------------------------------------------------------------------------------
-- tenants
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.tenants (
    id            uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    slug          text        NOT NULL,
    name          text        NOT NULL,
    status        text        NOT NULL DEFAULT 'active',
    plan          text        NOT NULL DEFAULT 'free',
    limits        jsonb       NOT NULL DEFAULT '{}',
    contact_email text,
    contact_name  text,
    settings      jsonb       NOT NULL DEFAULT '{}',
    metadata      jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz,
    CONSTRAINT tenants_pkey PRIMARY KEY (id),
    CONSTRAINT chk_tenants_slug CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    CONSTRAINT chk_tenants_name CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT chk_tenants_status CHECK (status IN ('active', 'suspended', 'deleted')),
    CONSTRAINT chk_tenants_plan CHECK (plan ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    CONSTRAINT chk_tenants_limits CHECK (jsonb_typeof(limits) = 'object'),
    CONSTRAINT chk_tenants_contact_email CHECK (
        contact_email IS NULL OR (contact_email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'
                                  AND length(contact_email) <= 320)),
    CONSTRAINT chk_tenants_settings CHECK (jsonb_typeof(settings) = 'object'),
    CONSTRAINT chk_tenants_metadata CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE UNIQUE INDEX uq_tenants_slug ON agentbase.tenants (slug) WHERE deleted_at IS NULL;

COMMENT ON TABLE agentbase.tenants IS
    'customers of the platform; every tenant-scoped row belongs to one (RLS: the service sees its own tenant)';
COMMENT ON COLUMN agentbase.tenants.id IS 'tenant id; the tenant_id of all its rows';
COMMENT ON COLUMN agentbase.tenants.slug IS 'URL and login name, lowercase [a-z0-9-], unique among live tenants';
COMMENT ON COLUMN agentbase.tenants.name IS 'display name';
COMMENT ON COLUMN agentbase.tenants.status IS 'active, suspended (requests refused) or deleted';
COMMENT ON COLUMN agentbase.tenants.plan IS 'subscription plan level (e.g. free, pro, enterprise)';
COMMENT ON COLUMN agentbase.tenants.limits IS 'per-tenant overrides of plan limits (requests, tokens, users ...)';
COMMENT ON COLUMN agentbase.tenants.contact_email IS 'billing and operations contact e-mail';
COMMENT ON COLUMN agentbase.tenants.contact_name IS 'contact person';
COMMENT ON COLUMN agentbase.tenants.settings IS 'tenant-wide settings (defaults for models, features ...)';
COMMENT ON COLUMN agentbase.tenants.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.tenants.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.tenants.updated_at IS 'last update time (trigger-maintained)';
COMMENT ON COLUMN agentbase.tenants.deleted_at IS 'soft-delete time; NULL while live';

-- The service in its own tenant may edit the profile and settings; what decides access
-- and billing only a platform admin (or the owner: migrations, SQL functions) may change.
CREATE FUNCTION agentbase.tenants_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.slug, NEW.status, NEW.plan, NEW.limits, NEW.deleted_at)
           IS DISTINCT FROM (OLD.id, OLD.slug, OLD.status, OLD.plan, OLD.limits, OLD.deleted_at)
       AND NOT agentbase.is_platform_admin()
       AND NOT pg_has_role(current_user, 'agentbase_owner', 'USAGE') THEN
        RAISE EXCEPTION 'only a platform admin may change a tenant''s id, slug, status, plan, limits or deletion'
              USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.tenants_guard() IS
    'BEFORE UPDATE trigger: slug, status, plan, limits and deletion of a tenant are for platform admins';
CREATE TRIGGER trg_guard BEFORE UPDATE ON agentbase.tenants
    FOR EACH ROW EXECUTE FUNCTION agentbase.tenants_guard();

SELECT agentbase.attach_updated_at('agentbase.tenants');
SELECT agentbase.attach_audit('agentbase.tenants', 'tenant', 'id');

-- RLS by hand (no tenant_id column): the service sees and updates its own tenant; a
-- platform admin sees, creates, updates and deletes any.
ALTER TABLE agentbase.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE agentbase.tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_select ON agentbase.tenants FOR SELECT TO agentbase_app
    USING (id = agentbase.current_tenant_id() OR agentbase.is_platform_admin());
CREATE POLICY tenant_update ON agentbase.tenants FOR UPDATE TO agentbase_app
    USING (id = agentbase.current_tenant_id() OR agentbase.is_platform_admin())
    WITH CHECK (id = agentbase.current_tenant_id() OR agentbase.is_platform_admin());
CREATE POLICY tenant_insert ON agentbase.tenants FOR INSERT TO agentbase_app
    WITH CHECK (agentbase.is_platform_admin());
CREATE POLICY tenant_delete ON agentbase.tenants FOR DELETE TO agentbase_app
    USING (agentbase.is_platform_admin());
CREATE POLICY owner_all ON agentbase.tenants TO agentbase_owner USING (true) WITH CHECK (true);
CREATE POLICY readonly_all ON agentbase.tenants FOR SELECT TO agentbase_readonly USING (true);

-- ------------------------------------------------------------------------------------
-- users
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.users (
    tenant_id                     uuid         NOT NULL,
    id                            uuid         NOT NULL DEFAULT agentbase.uuid_v7(),
    email                         text         NOT NULL,
    username                      text,
    password_hash                 text,
    full_name                     text,
    avatar_url                    text,
    profile                       jsonb        NOT NULL DEFAULT '{}',
    role                          text         NOT NULL DEFAULT 'user',
    permissions                   text[]       NOT NULL DEFAULT '{}',
    preferences                   jsonb        NOT NULL DEFAULT '{}',
    preferred_model               text,
    preferred_temperature         numeric(3,2),
    timezone                      text         NOT NULL DEFAULT 'UTC',
    email_verified                boolean      NOT NULL DEFAULT false,
    email_verified_at             timestamptz,
    email_verification_token_hash text,
    must_change_password          boolean      NOT NULL DEFAULT false,
    last_login_at                 timestamptz,
    failed_login_attempts         integer      NOT NULL DEFAULT 0,
    locked_until                  timestamptz,
    status                        text         NOT NULL DEFAULT 'active',
    level                         text         NOT NULL DEFAULT 'free',
    created_at                    timestamptz  NOT NULL DEFAULT now(),
    updated_at                    timestamptz  NOT NULL DEFAULT now(),
    deleted_at                    timestamptz,
    CONSTRAINT users_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_users_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT chk_users_email CHECK (
        email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' AND length(email) <= 320),
    CONSTRAINT chk_users_username CHECK (username IS NULL OR username ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    CONSTRAINT chk_users_password_hash CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%'),
    CONSTRAINT chk_users_avatar_url CHECK (avatar_url IS NULL OR avatar_url ~ '^https?://[^[:space:]]+$'),
    CONSTRAINT chk_users_profile CHECK (jsonb_typeof(profile) = 'object'),
    CONSTRAINT chk_users_role CHECK (role IN ('admin', 'user', 'viewer')),
    CONSTRAINT chk_users_preferences CHECK (jsonb_typeof(preferences) = 'object'),
    CONSTRAINT chk_users_preferred_temperature CHECK (preferred_temperature BETWEEN 0 AND 2),
    CONSTRAINT chk_users_timezone CHECK (timezone ~ '^[A-Za-z0-9_+/-]{1,64}$'),
    CONSTRAINT chk_users_email_verified_at CHECK (email_verified_at IS NULL OR email_verified),
    CONSTRAINT chk_users_failed_login_attempts CHECK (failed_login_attempts >= 0),
    CONSTRAINT chk_users_status CHECK (status IN ('active', 'inactive', 'suspended')),
    CONSTRAINT chk_users_level CHECK (level ~ '^[a-z0-9][a-z0-9_-]{0,63}$')
);
CREATE UNIQUE INDEX uq_users_email ON agentbase.users (tenant_id, lower(email)) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX uq_users_username ON agentbase.users (tenant_id, lower(username))
    WHERE deleted_at IS NULL AND username IS NOT NULL;

COMMENT ON TABLE agentbase.users IS 'people who sign in to a tenant (e-mail unique per tenant)';
COMMENT ON COLUMN agentbase.users.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.users.id IS 'user id';
COMMENT ON COLUMN agentbase.users.email IS 'sign-in e-mail, unique per tenant (case-insensitive) among live users';
COMMENT ON COLUMN agentbase.users.username IS 'optional handle, unique per tenant (case-insensitive)';
COMMENT ON COLUMN agentbase.users.password_hash IS 'argon2id encoded hash ($argon2id$...); NULL for SSO-only users';
COMMENT ON COLUMN agentbase.users.full_name IS 'display name';
COMMENT ON COLUMN agentbase.users.avatar_url IS 'avatar image URL';
COMMENT ON COLUMN agentbase.users.profile IS 'free-form profile (title, department, bio ...)';
COMMENT ON COLUMN agentbase.users.role IS 'admin, user or viewer within the tenant';
COMMENT ON COLUMN agentbase.users.permissions IS 'extra permission scopes granted beyond the role';
COMMENT ON COLUMN agentbase.users.preferences IS 'other UI and assistant preferences (the typed columns below win)';
COMMENT ON COLUMN agentbase.users.preferred_model IS 'default model for this user''s conversations';
COMMENT ON COLUMN agentbase.users.preferred_temperature IS 'default sampling temperature, 0..2';
COMMENT ON COLUMN agentbase.users.timezone IS 'IANA time zone name (default UTC)';
COMMENT ON COLUMN agentbase.users.email_verified IS 'whether the e-mail address has been verified';
COMMENT ON COLUMN agentbase.users.email_verified_at IS 'when the e-mail address was verified';
COMMENT ON COLUMN agentbase.users.email_verification_token_hash IS 'hash of the pending verification token (never the token)';
COMMENT ON COLUMN agentbase.users.must_change_password IS 'the password must be changed at next sign-in';
COMMENT ON COLUMN agentbase.users.last_login_at IS 'time of the last successful sign-in';
COMMENT ON COLUMN agentbase.users.failed_login_attempts IS 'failed sign-ins since the last successful one';
COMMENT ON COLUMN agentbase.users.locked_until IS 'sign-in refused until this time (after too many failures)';
COMMENT ON COLUMN agentbase.users.status IS 'active, inactive or suspended';
COMMENT ON COLUMN agentbase.users.level IS 'subscription level name (plans of the accounting module), default free';
COMMENT ON COLUMN agentbase.users.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.users.updated_at IS 'last update time (trigger-maintained)';
COMMENT ON COLUMN agentbase.users.deleted_at IS 'soft-delete time; NULL while live';

SELECT agentbase.enable_tenant_rls('agentbase.users');
SELECT agentbase.attach_updated_at('agentbase.users');
SELECT agentbase.attach_audit('agentbase.users', 'user', 'tenant_id',
                              ARRAY['password_hash', 'email_verification_token_hash']);

-- ------------------------------------------------------------------------------------
-- api_keys: tenant keys (service keys without a user, personal keys, session tokens)
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.api_keys (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    user_id      uuid,
    name         text        NOT NULL,
    kind         text        NOT NULL DEFAULT 'api',
    key_prefix   text        NOT NULL,
    key_hash     text        NOT NULL,
    scopes       text[]      NOT NULL DEFAULT '{}',
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    last_used_ip inet,
    created_by   text,
    metadata     jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_api_keys_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_api_keys_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_api_keys_key_hash UNIQUE (key_hash),
    CONSTRAINT chk_api_keys_name CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT chk_api_keys_kind CHECK (kind IN ('api', 'session')),
    CONSTRAINT chk_api_keys_session_user CHECK (kind <> 'session' OR user_id IS NOT NULL),
    CONSTRAINT chk_api_keys_key_prefix CHECK (key_prefix ~ '^[A-Za-z0-9_-]{1,32}$'),
    CONSTRAINT chk_api_keys_key_hash CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT chk_api_keys_metadata CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX idx_api_keys_user_id ON agentbase.api_keys (tenant_id, user_id);

COMMENT ON TABLE agentbase.api_keys IS
    'tenant API keys and session tokens; only a hash of the secret is stored';
COMMENT ON COLUMN agentbase.api_keys.tenant_id IS 'tenant the key acts in';
COMMENT ON COLUMN agentbase.api_keys.id IS 'key id';
COMMENT ON COLUMN agentbase.api_keys.user_id IS 'user the key acts as; NULL for a tenant service key (deleted with the user)';
COMMENT ON COLUMN agentbase.api_keys.name IS 'label chosen by its creator';
COMMENT ON COLUMN agentbase.api_keys.kind IS 'api (long-lived key) or session (sign-in token, always of a user)';
COMMENT ON COLUMN agentbase.api_keys.key_prefix IS 'first characters of the key, shown to identify it (e.g. ab_1a2b3c4d)';
COMMENT ON COLUMN agentbase.api_keys.key_hash IS 'SHA-256 (hex) of the whole key, computed by the service';
COMMENT ON COLUMN agentbase.api_keys.scopes IS 'permission scopes the key carries';
COMMENT ON COLUMN agentbase.api_keys.expires_at IS 'refused from this time on; NULL never expires';
COMMENT ON COLUMN agentbase.api_keys.revoked_at IS 'refused from this time on (revocation)';
COMMENT ON COLUMN agentbase.api_keys.last_used_at IS 'last time the key authenticated a request (not audited)';
COMMENT ON COLUMN agentbase.api_keys.last_used_ip IS 'client IP of that request (not audited)';
COMMENT ON COLUMN agentbase.api_keys.created_by IS 'actor id that created the key';
COMMENT ON COLUMN agentbase.api_keys.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.api_keys.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.api_keys.updated_at IS 'last update time (trigger-maintained)';

SELECT agentbase.enable_tenant_rls('agentbase.api_keys');
SELECT agentbase.attach_updated_at('agentbase.api_keys');
SELECT agentbase.attach_audit_except('agentbase.api_keys', 'api_key',
                                     ARRAY['last_used_at', 'last_used_ip', 'updated_at'], 'tenant_id',
                                     ARRAY['key_hash']);

-- ------------------------------------------------------------------------------------
-- platform_api_keys: keys of platform admins (global; the service never reads it)
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.platform_api_keys (
    id           uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    name         text        NOT NULL,
    key_prefix   text        NOT NULL,
    key_hash     text        NOT NULL,
    scopes       text[]      NOT NULL DEFAULT '{}',
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT platform_api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT uq_platform_api_keys_key_hash UNIQUE (key_hash),
    CONSTRAINT chk_platform_api_keys_name CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT chk_platform_api_keys_key_prefix CHECK (key_prefix ~ '^[A-Za-z0-9_-]{1,32}$'),
    CONSTRAINT chk_platform_api_keys_key_hash CHECK (key_hash ~ '^[0-9a-f]{64}$')
);

COMMENT ON TABLE agentbase.platform_api_keys IS
    'platform-admin keys (global); the service reaches them only through auth_lookup_key()';
COMMENT ON COLUMN agentbase.platform_api_keys.id IS 'key id';
COMMENT ON COLUMN agentbase.platform_api_keys.name IS 'label chosen by its creator';
COMMENT ON COLUMN agentbase.platform_api_keys.key_prefix IS 'first characters of the key, shown to identify it';
COMMENT ON COLUMN agentbase.platform_api_keys.key_hash IS 'SHA-256 (hex) of the whole key';
COMMENT ON COLUMN agentbase.platform_api_keys.scopes IS 'permission scopes the key carries';
COMMENT ON COLUMN agentbase.platform_api_keys.expires_at IS 'refused from this time on; NULL never expires';
COMMENT ON COLUMN agentbase.platform_api_keys.revoked_at IS 'refused from this time on (revocation)';
COMMENT ON COLUMN agentbase.platform_api_keys.last_used_at IS 'last time the key authenticated a request';
COMMENT ON COLUMN agentbase.platform_api_keys.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.platform_api_keys.updated_at IS 'last update time (trigger-maintained)';

SELECT agentbase.attach_updated_at('agentbase.platform_api_keys');
REVOKE ALL ON agentbase.platform_api_keys FROM agentbase_app;

-- ------------------------------------------------------------------------------------
-- Authentication lookups: they run before any tenant context exists, so they read as
-- the owner. Each returns at most one row, and nothing for unknown inputs.
-- ------------------------------------------------------------------------------------

-- The key with this hash: a tenant key (of a live tenant, and of a live, active user if
-- it has one) or a platform key. Expiry and revocation are returned for the caller to
-- judge (so it can say why a key is refused).
CREATE FUNCTION agentbase.auth_lookup_key(p_key_hash text)
RETURNS TABLE (key_id uuid, tenant_id uuid, user_id uuid, scopes text[], expires_at timestamptz,
               revoked_at timestamptz, is_platform boolean, tenant_status text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
    SELECT k.id, k.tenant_id, k.user_id, k.scopes, k.expires_at, k.revoked_at, false, t.status
      FROM agentbase.api_keys k
      JOIN agentbase.tenants t ON t.id = k.tenant_id
      LEFT JOIN agentbase.users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
     WHERE k.key_hash = p_key_hash
       AND t.deleted_at IS NULL AND t.status <> 'deleted'
       AND (k.user_id IS NULL OR (u.deleted_at IS NULL AND u.status = 'active'))
    UNION ALL
    SELECT p.id, NULL, NULL, p.scopes, p.expires_at, p.revoked_at, true, NULL
      FROM agentbase.platform_api_keys p
     WHERE p.key_hash = p_key_hash
    LIMIT 1
$$;
COMMENT ON FUNCTION agentbase.auth_lookup_key(text) IS
    'authentication: the tenant or platform key with this SHA-256 hash (nothing if unknown, or its tenant or user is gone)';
REVOKE ALL ON FUNCTION agentbase.auth_lookup_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.auth_lookup_key(text) TO agentbase_app;

-- The live user with this e-mail (case-insensitive) in the live tenant with this slug.
CREATE FUNCTION agentbase.auth_lookup_login(p_tenant_slug text, p_email text)
RETURNS TABLE (tenant_id uuid, user_id uuid, password_hash text, status text, locked_until timestamptz,
               failed_login_attempts integer, tenant_status text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
    SELECT u.tenant_id, u.id, u.password_hash, u.status, u.locked_until, u.failed_login_attempts, t.status
      FROM agentbase.tenants t
      JOIN agentbase.users u ON u.tenant_id = t.id
     WHERE t.slug = lower(p_tenant_slug)
       AND t.deleted_at IS NULL AND t.status <> 'deleted'
       AND lower(u.email) = lower(p_email)
       AND u.deleted_at IS NULL
    LIMIT 1
$$;
COMMENT ON FUNCTION agentbase.auth_lookup_login(text, text) IS
    'authentication: password hash and lock state of a user by tenant slug and e-mail (nothing if unknown)';
REVOKE ALL ON FUNCTION agentbase.auth_lookup_login(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.auth_lookup_login(text, text) TO agentbase_app;

-- Records that a key authenticated a request (tenant key when p_tenant_id is given,
-- platform key otherwise), at most once a minute per key unless the IP changed.
CREATE FUNCTION agentbase.auth_touch_key(p_key_id uuid, p_tenant_id uuid DEFAULT NULL, p_ip inet DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    IF p_tenant_id IS NULL THEN
        UPDATE agentbase.platform_api_keys
           SET last_used_at = now()
         WHERE id = p_key_id
           AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');
    ELSE
        UPDATE agentbase.api_keys
           SET last_used_at = now(), last_used_ip = coalesce(p_ip, last_used_ip)
         WHERE tenant_id = p_tenant_id AND id = p_key_id
           AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute'
                OR (p_ip IS NOT NULL AND last_used_ip IS DISTINCT FROM p_ip));
    END IF;
END
$$;
COMMENT ON FUNCTION agentbase.auth_touch_key(uuid, uuid, inet) IS
    'authentication: records the last use of a tenant or platform key (throttled to once a minute)';
REVOKE ALL ON FUNCTION agentbase.auth_touch_key(uuid, uuid, inet) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.auth_touch_key(uuid, uuid, inet) TO agentbase_app;
