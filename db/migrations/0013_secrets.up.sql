-- Secrets: what the service needs to store MCP configuration secrets and per-tenant AI
-- provider API keys encrypted, to say which are set without ever showing one, and to
-- audit every read of their values.
--
-- The contract. The service seals every secret with libsodium's XChaCha20-Poly1305 under
-- AGENTBASE_SECRET_KEY before it reaches the database (src/secret/secret.h): a column
-- group <name>_ciphertext, <name>_nonce, <name>_key_id holds it, and the additional data
-- of the seal is "<tenant id>/<row id>/<table>.<name>", so a ciphertext copied into
-- another row, tenant or column does not open. The plaintext is never a statement
-- parameter (PostgreSQL may log slow statements with their parameters): the database
-- neither sees nor can decrypt a secret. Next to each group, <name>_hint says which
-- secrets are set and, for those of twelve characters or more, their last four
-- characters; that is all the API ever answers about them.
--
-- What this migration adds:
--   * mcp_server_configs.secrets_hint ({"GITHUB_TOKEN": {"set": true, "last4": "x9Qz"}}),
--     and mcp_server_configs_check_config(), which refuses a config value under a name the
--     server's env_schema marks "secret": true (22023, naming the field): such a value
--     belongs in the encrypted secrets, and config is stored, dumped and audited in plain
--     text. A trigger applies it to every write; the service calls it beforehand with the
--     names alone, so that the refused value is not even a parameter of a statement.
--   * ai_provider_keys: a tenant's API key for an AI provider (the Vanilla SaaS seed's
--     "default AI providers (add your API keys)"), sealed like the MCP secrets. Its audit
--     trigger redacts the ciphertext and the nonce, as 0007 does for mcp_server_configs.
--   * audit_secret_read(): the audit row the service writes, in the same transaction,
--     each time it decrypts a secret for a caller with the scope secrets:read.
--
-- Privileges of agentbase_app:
--   ai_provider_keys: SELECT, INSERT, DELETE, and UPDATE of name, is_active, metadata
--     and the api_key_* columns only (never tenant_id, id, provider_id, created_at);
--     nothing else (no TRUNCATE, REFERENCES or TRIGGER).
--   audit_secret_read(text, uuid, text, text[]) and
--   mcp_server_configs_check_config(uuid, uuid, uuid, text[]): EXECUTE (PUBLIC: nothing).
--   mcp_server_configs_refuse_secret_config(): nobody executes it (PUBLIC: nothing); a
--     trigger function needs no EXECUTE privilege to fire.
-- Key rotation (`agentbase secrets rotate`) runs as agentbase_owner.

-- ------------------------------------------------------------------------------------
-- mcp_server_configs: which secrets are set, and no secret in config
-- ------------------------------------------------------------------------------------

ALTER TABLE agentbase.mcp_server_configs
    ADD COLUMN secrets_hint jsonb NOT NULL DEFAULT '{}',
    ADD CONSTRAINT chk_mcp_server_configs_secrets_hint CHECK (jsonb_typeof(secrets_hint) = 'object');
COMMENT ON COLUMN agentbase.mcp_server_configs.secrets_hint IS
    'which secrets are set, by name: {"set": true, "last4": ...} (last4 only for secrets of 12 characters or more); never a value';

-- The rule, in one place: raises 22023 naming the first of p_names (names of config
-- values) that the env_schema of the config's server marks "secret": true. The trigger
-- below applies it to every write; the service calls it first with the names alone, so
-- that a refused value never even reaches PostgreSQL as a statement parameter.
CREATE FUNCTION agentbase.mcp_server_configs_check_config(p_tenant_id uuid, p_server_id uuid,
                                                          p_tenant_server_id uuid, p_names text[])
RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_schema jsonb;
    v_name text;
BEGIN
    IF p_server_id IS NOT NULL THEN
        SELECT s.env_schema INTO v_schema FROM agentbase.mcp_servers s WHERE s.id = p_server_id;
    ELSE
        SELECT t.env_schema INTO v_schema FROM agentbase.tenant_mcp_servers t
         WHERE t.tenant_id = p_tenant_id AND t.id = p_tenant_server_id;
    END IF;
    SELECT k INTO v_name FROM unnest(p_names) AS k
     WHERE v_schema -> 'properties' -> k ->> 'secret' = 'true'
     ORDER BY k LIMIT 1;
    IF v_name IS NOT NULL THEN
        RAISE EXCEPTION 'field ''config.%'' is a secret of this MCP server: send it in ''secrets'', which is stored encrypted', v_name
              USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION agentbase.mcp_server_configs_check_config(uuid, uuid, uuid, text[]) IS
    'refuses (22023) config value names that the server''s env_schema marks secret';
REVOKE ALL ON FUNCTION agentbase.mcp_server_configs_check_config(uuid, uuid, uuid, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.mcp_server_configs_check_config(uuid, uuid, uuid, text[]) TO agentbase_app;

CREATE FUNCTION agentbase.mcp_server_configs_refuse_secret_config() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF jsonb_typeof(NEW.config) IS DISTINCT FROM 'object'
       OR (TG_OP = 'UPDATE' AND NEW.config IS NOT DISTINCT FROM OLD.config) THEN
        RETURN NEW;  -- the CHECK constraint judges the shape
    END IF;
    PERFORM agentbase.mcp_server_configs_check_config(NEW.tenant_id, NEW.server_id, NEW.tenant_server_id,
                                                      ARRAY(SELECT jsonb_object_keys(NEW.config)));
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.mcp_server_configs_refuse_secret_config() IS
    'BEFORE trigger: a config value under a name the server''s env_schema marks secret is refused (22023)';
REVOKE ALL ON FUNCTION agentbase.mcp_server_configs_refuse_secret_config() FROM PUBLIC;
CREATE TRIGGER trg_refuse_secret_config BEFORE INSERT OR UPDATE OF config ON agentbase.mcp_server_configs
    FOR EACH ROW EXECUTE FUNCTION agentbase.mcp_server_configs_refuse_secret_config();

-- ------------------------------------------------------------------------------------
-- ai_provider_keys: a tenant's API keys for the AI providers
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.ai_provider_keys (
    tenant_id          uuid        NOT NULL,
    id                 uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    provider_id        uuid        NOT NULL,
    name               text        NOT NULL DEFAULT 'default',
    api_key_ciphertext bytea       NOT NULL,
    api_key_nonce      bytea       NOT NULL,
    api_key_key_id     text        NOT NULL,
    api_key_hint       jsonb       NOT NULL,
    is_active          boolean     NOT NULL DEFAULT true,
    metadata           jsonb       NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ai_provider_keys_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_ai_provider_keys_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_ai_provider_keys_ai_providers FOREIGN KEY (provider_id)
        REFERENCES agentbase.ai_providers (id) ON DELETE RESTRICT,
    CONSTRAINT uq_ai_provider_keys_tenant_id_provider_id_name UNIQUE (tenant_id, provider_id, name),
    CONSTRAINT chk_ai_provider_keys_name CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    -- XChaCha20-Poly1305: a 24-byte nonce; a 16-byte tag and at least one byte of key.
    CONSTRAINT chk_ai_provider_keys_api_key_nonce CHECK (octet_length(api_key_nonce) = 24),
    CONSTRAINT chk_ai_provider_keys_api_key_ciphertext CHECK (octet_length(api_key_ciphertext) >= 17),
    CONSTRAINT chk_ai_provider_keys_api_key_key_id CHECK (api_key_key_id ~ '^[A-Za-z0-9._-]{1,64}$'),
    CONSTRAINT chk_ai_provider_keys_api_key_hint CHECK (jsonb_typeof(api_key_hint) = 'object'),
    CONSTRAINT chk_ai_provider_keys_metadata CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX idx_ai_provider_keys_provider_id ON agentbase.ai_provider_keys (provider_id);

COMMENT ON TABLE agentbase.ai_provider_keys IS
    'a tenant''s API keys for AI providers, only as ciphertext sealed by the service with AGENTBASE_SECRET_KEY';
COMMENT ON COLUMN agentbase.ai_provider_keys.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.ai_provider_keys.id IS 'key id (part of the sealed key''s additional data)';
COMMENT ON COLUMN agentbase.ai_provider_keys.provider_id IS 'the provider the key is for';
COMMENT ON COLUMN agentbase.ai_provider_keys.name IS 'label, unique per tenant and provider (default: default)';
COMMENT ON COLUMN agentbase.ai_provider_keys.api_key_ciphertext IS
    'the API key sealed with XChaCha20-Poly1305 (libsodium) by the service; never plaintext';
COMMENT ON COLUMN agentbase.ai_provider_keys.api_key_nonce IS '24-byte nonce of api_key_ciphertext';
COMMENT ON COLUMN agentbase.ai_provider_keys.api_key_key_id IS
    'id of the AGENTBASE_SECRET_KEY key that sealed it (key rotation)';
COMMENT ON COLUMN agentbase.ai_provider_keys.api_key_hint IS
    '{"set": true, "last4": ...}: the key''s last four characters (for keys of 12 or more); never the key';
COMMENT ON COLUMN agentbase.ai_provider_keys.is_active IS 'whether agents may use the key';
COMMENT ON COLUMN agentbase.ai_provider_keys.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.ai_provider_keys.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.ai_provider_keys.updated_at IS 'last update time (trigger-maintained)';

SELECT agentbase.enable_tenant_rls('agentbase.ai_provider_keys');
SELECT agentbase.attach_updated_at('agentbase.ai_provider_keys');
SELECT agentbase.attach_audit('agentbase.ai_provider_keys', 'ai_provider_key', 'tenant_id',
                              ARRAY['api_key_ciphertext', 'api_key_nonce']);

REVOKE ALL ON agentbase.ai_provider_keys FROM agentbase_app;
GRANT SELECT, INSERT, DELETE ON agentbase.ai_provider_keys TO agentbase_app;
GRANT UPDATE (name, is_active, metadata, api_key_ciphertext, api_key_nonce, api_key_key_id, api_key_hint)
    ON agentbase.ai_provider_keys TO agentbase_app;

-- Who may see and change them (0011): admins; users and viewers see none.
INSERT INTO agentbase.role_access
    (resource, table_name, owned_by, user_read, user_write, viewer_read, admin_write, note)
VALUES ('ai-provider-keys', 'ai_provider_keys', NULL, 'none', 'none', 'none', 'all',
        'the tenant''s provider API keys (write-only), for admins');
SELECT agentbase.apply_role_access('ai-provider-keys');

-- ------------------------------------------------------------------------------------
-- audit_secret_read: the trail of every decryption for a caller
-- ------------------------------------------------------------------------------------

-- One audit_logs row: action '<resource type>.<secret>_read' (mcp_server_config.secrets_read,
-- ai_provider_key.api_key_read), with the request context's actor, IP, user agent and
-- request id, and in metadata the names of the secrets read (never a value), through
-- audit_event() (0011): into the request's own tenant.
CREATE FUNCTION agentbase.audit_secret_read(p_resource_type text, p_resource_id uuid, p_secret text,
                                            p_names text[] DEFAULT NULL)
RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT agentbase.audit_event(p_resource_type || '.' || p_secret || '_read', p_resource_type,
                                 p_resource_id::text,
                                 jsonb_strip_nulls(jsonb_build_object('secret', p_secret, 'names', to_jsonb(p_names))))
$$;
COMMENT ON FUNCTION agentbase.audit_secret_read(text, uuid, text, text[]) IS
    'audits one decryption of a stored secret for a caller (action <type>.<secret>_read; names only, never values)';
REVOKE ALL ON FUNCTION agentbase.audit_secret_read(text, uuid, text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.audit_secret_read(text, uuid, text, text[]) TO agentbase_app;
