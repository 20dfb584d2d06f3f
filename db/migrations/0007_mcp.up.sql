-- MCP (Model Context Protocol): the server registry, per-tenant server configurations
-- with encrypted secrets, and the log of MCP tool calls.
--
-- Registry model. Two tables instead of one table with a nullable tenant_id:
--   mcp_servers         GLOBAL public registry (no tenant_id): every tenant reads it, only
--                       agentbase_owner (seed, platform operators) writes it.
--   tenant_mcp_servers  a tenant's private servers: an ordinary tenant table with the
--                       standard RLS, PK (tenant_id, id) and composite foreign keys.
-- Why: a nullable tenant_id cannot be part of the (tenant_id, id) primary key, a config could
-- then only reference a server by id alone (so a row could point at another tenant's private
-- server unless a trigger checked it), the standard tenant_isolation policy would not fit,
-- and for Citus the registry is a reference table while private servers are distributed by
-- tenant_id: one table cannot be both. The view mcp_server_catalog unions the two for
-- reading: a tenant sees the listed public servers and its own private ones.
--
-- A configuration (mcp_server_configs) points at exactly one of the two.

-- ------------------------------------------------------------------------------------
-- mcp_servers: the public registry (global)
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.mcp_servers (
    id           uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    name         text        NOT NULL,
    display_name text        NOT NULL,
    description  text,
    transport    text        NOT NULL,
    command      text,
    args         text[]      NOT NULL DEFAULT '{}',
    url          text,
    env_schema   jsonb       NOT NULL DEFAULT '{}',
    tools        jsonb       NOT NULL DEFAULT '[]',
    resources    jsonb       NOT NULL DEFAULT '[]',
    prompts      jsonb       NOT NULL DEFAULT '[]',
    version      text,
    author       text,
    homepage     text,
    is_public    boolean     NOT NULL DEFAULT true,
    is_verified  boolean     NOT NULL DEFAULT false,
    status       text        NOT NULL DEFAULT 'active',
    metadata     jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mcp_servers_pkey PRIMARY KEY (id),
    CONSTRAINT uq_mcp_servers_name UNIQUE (name),
    CONSTRAINT chk_mcp_servers_name CHECK (name ~ '^[a-z0-9][a-z0-9._/-]{0,127}$'),
    CONSTRAINT chk_mcp_servers_display_name CHECK (length(btrim(display_name)) BETWEEN 1 AND 200),
    CONSTRAINT chk_mcp_servers_transport CHECK (transport IN ('stdio', 'sse', 'streamable_http')),
    CONSTRAINT chk_mcp_servers_endpoint CHECK (
        (transport = 'stdio' AND command IS NOT NULL AND length(btrim(command)) > 0)
        OR (transport <> 'stdio' AND url IS NOT NULL)),
    CONSTRAINT chk_mcp_servers_url CHECK (url IS NULL OR url ~ '^https?://[^[:space:]]+$'),
    CONSTRAINT chk_mcp_servers_homepage CHECK (homepage IS NULL OR homepage ~ '^https?://[^[:space:]]+$'),
    CONSTRAINT chk_mcp_servers_env_schema CHECK (jsonb_typeof(env_schema) = 'object'),
    CONSTRAINT chk_mcp_servers_tools CHECK (jsonb_typeof(tools) = 'array'),
    CONSTRAINT chk_mcp_servers_resources CHECK (jsonb_typeof(resources) = 'array'),
    CONSTRAINT chk_mcp_servers_prompts CHECK (jsonb_typeof(prompts) = 'array'),
    CONSTRAINT chk_mcp_servers_status CHECK (status IN ('active', 'deprecated', 'disabled'))
);
COMMENT ON TABLE agentbase.mcp_servers IS
    'public MCP server registry (global): readable by every tenant, written only by the platform';
COMMENT ON COLUMN agentbase.mcp_servers.id IS 'server id';
COMMENT ON COLUMN agentbase.mcp_servers.name IS 'unique registry key, lowercase (e.g. filesystem, brave-search)';
COMMENT ON COLUMN agentbase.mcp_servers.display_name IS 'human-readable name';
COMMENT ON COLUMN agentbase.mcp_servers.description IS 'what the server offers';
COMMENT ON COLUMN agentbase.mcp_servers.transport IS 'stdio, sse or streamable_http';
COMMENT ON COLUMN agentbase.mcp_servers.command IS 'executable to launch (stdio transport)';
COMMENT ON COLUMN agentbase.mcp_servers.args IS 'default command arguments (stdio transport)';
COMMENT ON COLUMN agentbase.mcp_servers.url IS 'endpoint URL (sse and streamable_http transports)';
COMMENT ON COLUMN agentbase.mcp_servers.env_schema IS
    'JSON Schema of the configuration and secrets the server needs (e.g. GITHUB_TOKEN)';
COMMENT ON COLUMN agentbase.mcp_servers.tools IS 'array of tools the server exposes ({name, description, ...})';
COMMENT ON COLUMN agentbase.mcp_servers.resources IS 'array of resources the server exposes';
COMMENT ON COLUMN agentbase.mcp_servers.prompts IS 'array of prompts the server exposes';
COMMENT ON COLUMN agentbase.mcp_servers.version IS 'server package version';
COMMENT ON COLUMN agentbase.mcp_servers.author IS 'author or publisher';
COMMENT ON COLUMN agentbase.mcp_servers.homepage IS 'project homepage URL';
COMMENT ON COLUMN agentbase.mcp_servers.is_public IS
    'listed for tenants; false hides the entry from the service (staged or internal entries)';
COMMENT ON COLUMN agentbase.mcp_servers.is_verified IS 'reviewed by the platform operator';
COMMENT ON COLUMN agentbase.mcp_servers.status IS 'active, deprecated or disabled';
COMMENT ON COLUMN agentbase.mcp_servers.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.mcp_servers.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.mcp_servers.updated_at IS 'last update time';

SELECT agentbase.attach_updated_at('agentbase.mcp_servers');
SELECT agentbase.restrict_app_to_read('agentbase.mcp_servers');

-- Unlisted entries (is_public = false) are invisible to the service unless it acts as a
-- platform admin; the owner and analytics see everything.
ALTER TABLE agentbase.mcp_servers ENABLE ROW LEVEL SECURITY;
ALTER TABLE agentbase.mcp_servers FORCE ROW LEVEL SECURITY;
CREATE POLICY public_read ON agentbase.mcp_servers FOR SELECT TO agentbase_app
    USING (is_public OR agentbase.is_platform_admin());
CREATE POLICY owner_all ON agentbase.mcp_servers TO agentbase_owner USING (true) WITH CHECK (true);
CREATE POLICY readonly_all ON agentbase.mcp_servers FOR SELECT TO agentbase_readonly USING (true);

-- ------------------------------------------------------------------------------------
-- tenant_mcp_servers: a tenant's private servers
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.tenant_mcp_servers (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    name         text        NOT NULL,
    display_name text        NOT NULL,
    description  text,
    transport    text        NOT NULL,
    command      text,
    args         text[]      NOT NULL DEFAULT '{}',
    url          text,
    env_schema   jsonb       NOT NULL DEFAULT '{}',
    tools        jsonb       NOT NULL DEFAULT '[]',
    resources    jsonb       NOT NULL DEFAULT '[]',
    prompts      jsonb       NOT NULL DEFAULT '[]',
    version      text,
    author       text,
    homepage     text,
    status       text        NOT NULL DEFAULT 'active',
    metadata     jsonb       NOT NULL DEFAULT '{}',
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_mcp_servers_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_tenant_mcp_servers_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_tenant_mcp_servers_users FOREIGN KEY (tenant_id, created_by)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (created_by),
    CONSTRAINT uq_tenant_mcp_servers_tenant_id_name UNIQUE (tenant_id, name),
    CONSTRAINT chk_tenant_mcp_servers_name CHECK (name ~ '^[a-z0-9][a-z0-9._/-]{0,127}$'),
    CONSTRAINT chk_tenant_mcp_servers_display_name CHECK (length(btrim(display_name)) BETWEEN 1 AND 200),
    CONSTRAINT chk_tenant_mcp_servers_transport CHECK (transport IN ('stdio', 'sse', 'streamable_http')),
    CONSTRAINT chk_tenant_mcp_servers_endpoint CHECK (
        (transport = 'stdio' AND command IS NOT NULL AND length(btrim(command)) > 0)
        OR (transport <> 'stdio' AND url IS NOT NULL)),
    CONSTRAINT chk_tenant_mcp_servers_url CHECK (url IS NULL OR url ~ '^https?://[^[:space:]]+$'),
    CONSTRAINT chk_tenant_mcp_servers_homepage CHECK (homepage IS NULL OR homepage ~ '^https?://[^[:space:]]+$'),
    CONSTRAINT chk_tenant_mcp_servers_env_schema CHECK (jsonb_typeof(env_schema) = 'object'),
    CONSTRAINT chk_tenant_mcp_servers_tools CHECK (jsonb_typeof(tools) = 'array'),
    CONSTRAINT chk_tenant_mcp_servers_resources CHECK (jsonb_typeof(resources) = 'array'),
    CONSTRAINT chk_tenant_mcp_servers_prompts CHECK (jsonb_typeof(prompts) = 'array'),
    CONSTRAINT chk_tenant_mcp_servers_status CHECK (status IN ('active', 'deprecated', 'disabled'))
);
CREATE INDEX idx_tenant_mcp_servers_created_by ON agentbase.tenant_mcp_servers (tenant_id, created_by);

COMMENT ON TABLE agentbase.tenant_mcp_servers IS
    'MCP servers registered privately by one tenant (invisible to other tenants)';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.id IS 'server id';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.name IS 'key unique within the tenant, lowercase';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.display_name IS 'human-readable name';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.description IS 'what the server offers';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.transport IS 'stdio, sse or streamable_http';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.command IS 'executable to launch (stdio transport)';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.args IS 'default command arguments (stdio transport)';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.url IS 'endpoint URL (sse and streamable_http transports)';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.env_schema IS
    'JSON Schema of the configuration and secrets the server needs';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.tools IS 'array of tools the server exposes';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.resources IS 'array of resources the server exposes';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.prompts IS 'array of prompts the server exposes';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.version IS 'server version';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.author IS 'author or publisher';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.homepage IS 'project homepage URL';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.status IS 'active, deprecated or disabled';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.created_by IS 'user who registered it (NULL once that user is deleted)';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.tenant_mcp_servers.updated_at IS 'last update time';

SELECT agentbase.enable_tenant_rls('agentbase.tenant_mcp_servers');
SELECT agentbase.attach_updated_at('agentbase.tenant_mcp_servers');
SELECT agentbase.attach_audit('agentbase.tenant_mcp_servers', 'tenant_mcp_server');

-- ------------------------------------------------------------------------------------
-- mcp_server_catalog: what a tenant may configure
-- ------------------------------------------------------------------------------------

CREATE VIEW agentbase.mcp_server_catalog WITH (security_invoker = true) AS
SELECT 'public'::text AS scope, NULL::uuid AS tenant_id, s.id, s.name, s.display_name,
       s.description, s.transport, s.command, s.args, s.url, s.env_schema, s.tools,
       s.resources, s.prompts, s.version, s.author, s.homepage, s.is_public, s.is_verified,
       s.status, s.metadata, s.created_at, s.updated_at
  FROM agentbase.mcp_servers s
UNION ALL
SELECT 'private'::text, t.tenant_id, t.id, t.name, t.display_name,
       t.description, t.transport, t.command, t.args, t.url, t.env_schema, t.tools,
       t.resources, t.prompts, t.version, t.author, t.homepage, false, false,
       t.status, t.metadata, t.created_at, t.updated_at
  FROM agentbase.tenant_mcp_servers t;

COMMENT ON VIEW agentbase.mcp_server_catalog IS
    'MCP servers visible to the caller: listed public registry entries and the tenant''s private ones';
COMMENT ON COLUMN agentbase.mcp_server_catalog.scope IS
    'public (mcp_servers, use server_id in configs) or private (tenant_mcp_servers, use tenant_server_id)';
COMMENT ON COLUMN agentbase.mcp_server_catalog.tenant_id IS 'owning tenant of a private server; NULL for public ones';
COMMENT ON COLUMN agentbase.mcp_server_catalog.id IS 'server id';
COMMENT ON COLUMN agentbase.mcp_server_catalog.name IS 'server key (public: unique; private: unique in the tenant)';
COMMENT ON COLUMN agentbase.mcp_server_catalog.display_name IS 'human-readable name';
COMMENT ON COLUMN agentbase.mcp_server_catalog.description IS 'what the server offers';
COMMENT ON COLUMN agentbase.mcp_server_catalog.transport IS 'stdio, sse or streamable_http';
COMMENT ON COLUMN agentbase.mcp_server_catalog.command IS 'executable to launch (stdio transport)';
COMMENT ON COLUMN agentbase.mcp_server_catalog.args IS 'default command arguments';
COMMENT ON COLUMN agentbase.mcp_server_catalog.url IS 'endpoint URL (sse and streamable_http transports)';
COMMENT ON COLUMN agentbase.mcp_server_catalog.env_schema IS 'JSON Schema of the configuration and secrets needed';
COMMENT ON COLUMN agentbase.mcp_server_catalog.tools IS 'tools the server exposes';
COMMENT ON COLUMN agentbase.mcp_server_catalog.resources IS 'resources the server exposes';
COMMENT ON COLUMN agentbase.mcp_server_catalog.prompts IS 'prompts the server exposes';
COMMENT ON COLUMN agentbase.mcp_server_catalog.version IS 'server version';
COMMENT ON COLUMN agentbase.mcp_server_catalog.author IS 'author or publisher';
COMMENT ON COLUMN agentbase.mcp_server_catalog.homepage IS 'project homepage URL';
COMMENT ON COLUMN agentbase.mcp_server_catalog.is_public IS 'true for listed registry entries, false for private servers';
COMMENT ON COLUMN agentbase.mcp_server_catalog.is_verified IS 'reviewed by the platform operator (private: false)';
COMMENT ON COLUMN agentbase.mcp_server_catalog.status IS 'active, deprecated or disabled';
COMMENT ON COLUMN agentbase.mcp_server_catalog.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.mcp_server_catalog.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.mcp_server_catalog.updated_at IS 'last update time';

-- A view is not a table: the default privileges gave the service INSERT/UPDATE/DELETE on
-- it. A UNION view is not updatable anyway; say so in the grants too.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON agentbase.mcp_server_catalog FROM agentbase_app;

-- ------------------------------------------------------------------------------------
-- mcp_server_configs: a tenant's configuration of a (public or private) server
-- ------------------------------------------------------------------------------------

-- Secrets: the service encrypts the secret part of a configuration (API tokens, passwords:
-- the fields env_schema marks secret) with AGENTBASE_SECRET_KEY using libsodium's
-- authenticated encryption, and stores only the ciphertext, the nonce and the id of the
-- key (for rotation). The database never sees plaintext secrets and cannot decrypt them.
-- The CHECKs below catch gross misuse (a missing nonce, a nonce of the wrong size, a value
-- too short to carry an authentication tag); they cannot prove a value is ciphertext.
CREATE TABLE agentbase.mcp_server_configs (
    tenant_id          uuid        NOT NULL,
    id                 uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    server_id          uuid,
    tenant_server_id   uuid,
    name               text        NOT NULL,
    config             jsonb       NOT NULL DEFAULT '{}',
    secrets_ciphertext bytea,
    secrets_nonce      bytea,
    secrets_key_id     text,
    enabled            boolean     NOT NULL DEFAULT true,
    user_id            uuid,
    last_connected_at  timestamptz,
    last_error         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz,
    CONSTRAINT mcp_server_configs_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_mcp_server_configs_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_mcp_server_configs_mcp_servers FOREIGN KEY (server_id)
        REFERENCES agentbase.mcp_servers (id) ON DELETE RESTRICT,
    CONSTRAINT fk_mcp_server_configs_tenant_mcp_servers FOREIGN KEY (tenant_id, tenant_server_id)
        REFERENCES agentbase.tenant_mcp_servers (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_mcp_server_configs_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (user_id),
    CONSTRAINT chk_mcp_server_configs_server CHECK (num_nonnulls(server_id, tenant_server_id) = 1),
    CONSTRAINT chk_mcp_server_configs_name CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT chk_mcp_server_configs_config CHECK (jsonb_typeof(config) = 'object'),
    CONSTRAINT chk_mcp_server_configs_secrets CHECK (
        num_nonnulls(secrets_ciphertext, secrets_nonce, secrets_key_id) IN (0, 3)),
    -- libsodium: XChaCha20-Poly1305 / XSalsa20-Poly1305 nonces are 24 bytes, AES-256-GCM 12.
    CONSTRAINT chk_mcp_server_configs_secrets_nonce CHECK (
        secrets_nonce IS NULL OR octet_length(secrets_nonce) IN (12, 24)),
    -- a 16-byte authentication tag plus at least one byte of message.
    CONSTRAINT chk_mcp_server_configs_secrets_ciphertext CHECK (
        secrets_ciphertext IS NULL OR octet_length(secrets_ciphertext) >= 17),
    CONSTRAINT chk_mcp_server_configs_secrets_key_id CHECK (
        secrets_key_id IS NULL OR secrets_key_id ~ '^[A-Za-z0-9._:-]{1,64}$')
);
CREATE UNIQUE INDEX uq_mcp_server_configs_tenant_id_name ON agentbase.mcp_server_configs (tenant_id, name)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_mcp_server_configs_server_id ON agentbase.mcp_server_configs (server_id);
CREATE INDEX idx_mcp_server_configs_tenant_server_id ON agentbase.mcp_server_configs (tenant_id, tenant_server_id);
CREATE INDEX idx_mcp_server_configs_user_id ON agentbase.mcp_server_configs (tenant_id, user_id);

COMMENT ON TABLE agentbase.mcp_server_configs IS
    'a tenant''s configuration of one MCP server (public or private); secrets only as ciphertext';
COMMENT ON COLUMN agentbase.mcp_server_configs.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.mcp_server_configs.id IS 'configuration id';
COMMENT ON COLUMN agentbase.mcp_server_configs.server_id IS 'public registry server (exactly one of server_id, tenant_server_id)';
COMMENT ON COLUMN agentbase.mcp_server_configs.tenant_server_id IS 'the tenant''s private server (exactly one of server_id, tenant_server_id)';
COMMENT ON COLUMN agentbase.mcp_server_configs.name IS 'configuration name, unique in the tenant among live rows';
COMMENT ON COLUMN agentbase.mcp_server_configs.config IS 'non-secret settings (never put secrets here)';
COMMENT ON COLUMN agentbase.mcp_server_configs.secrets_ciphertext IS
    'secret settings encrypted by the service with AGENTBASE_SECRET_KEY (libsodium AEAD); never plaintext';
COMMENT ON COLUMN agentbase.mcp_server_configs.secrets_nonce IS 'nonce used to encrypt secrets_ciphertext (12 or 24 bytes)';
COMMENT ON COLUMN agentbase.mcp_server_configs.secrets_key_id IS 'id of the key that encrypted the secrets (key rotation)';
COMMENT ON COLUMN agentbase.mcp_server_configs.enabled IS 'whether agents may use this configuration';
COMMENT ON COLUMN agentbase.mcp_server_configs.user_id IS 'optional owning user (NULL: tenant-wide or owner deleted)';
COMMENT ON COLUMN agentbase.mcp_server_configs.last_connected_at IS 'last successful connection to the server';
COMMENT ON COLUMN agentbase.mcp_server_configs.last_error IS 'last connection error, if any';
COMMENT ON COLUMN agentbase.mcp_server_configs.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.mcp_server_configs.updated_at IS 'last update time';
COMMENT ON COLUMN agentbase.mcp_server_configs.deleted_at IS 'soft-delete time';

SELECT agentbase.enable_tenant_rls('agentbase.mcp_server_configs');
SELECT agentbase.attach_updated_at('agentbase.mcp_server_configs');
-- connection bookkeeping (last_connected_at, last_error) alone writes no audit row
SELECT agentbase.attach_audit_except('agentbase.mcp_server_configs', 'mcp_server_config',
                                     ARRAY['last_connected_at', 'last_error', 'updated_at'], 'tenant_id',
                                     ARRAY['secrets_ciphertext', 'secrets_nonce']);

-- ------------------------------------------------------------------------------------
-- mcp_tool_executions: append-only log of MCP tool calls
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.mcp_tool_executions (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    config_id       uuid,
    server_name     text        NOT NULL,
    tool_name       text        NOT NULL,
    user_id         uuid,
    agent_id        uuid,
    conversation_id uuid,
    arguments       jsonb       NOT NULL DEFAULT '{}',
    result          jsonb,
    status          text        NOT NULL,
    error_message   text,
    duration_ms     integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mcp_tool_executions_pkey PRIMARY KEY (tenant_id, id, created_at),
    CONSTRAINT fk_mcp_tool_executions_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_mcp_tool_executions_mcp_server_configs FOREIGN KEY (tenant_id, config_id)
        REFERENCES agentbase.mcp_server_configs (tenant_id, id) ON DELETE SET NULL (config_id),
    CONSTRAINT fk_mcp_tool_executions_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (user_id),
    CONSTRAINT fk_mcp_tool_executions_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_mcp_tool_executions_conversations FOREIGN KEY (tenant_id, conversation_id)
        REFERENCES agentbase.conversations (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT chk_mcp_tool_executions_server_name CHECK (length(server_name) BETWEEN 1 AND 200),
    CONSTRAINT chk_mcp_tool_executions_tool_name CHECK (length(tool_name) BETWEEN 1 AND 200),
    CONSTRAINT chk_mcp_tool_executions_status CHECK (status IN ('success', 'error', 'timeout', 'cancelled')),
    CONSTRAINT chk_mcp_tool_executions_duration_ms CHECK (duration_ms IS NULL OR duration_ms >= 0)
) PARTITION BY RANGE (created_at);
CREATE INDEX idx_mcp_tool_executions_config_id ON agentbase.mcp_tool_executions (tenant_id, config_id, created_at);
CREATE INDEX idx_mcp_tool_executions_user_id ON agentbase.mcp_tool_executions (tenant_id, user_id, created_at);
CREATE INDEX idx_mcp_tool_executions_agent_id ON agentbase.mcp_tool_executions (tenant_id, agent_id, created_at);
CREATE INDEX idx_mcp_tool_executions_conversation_id
    ON agentbase.mcp_tool_executions (tenant_id, conversation_id, created_at);
CREATE INDEX idx_mcp_tool_executions_created_at ON agentbase.mcp_tool_executions (tenant_id, created_at);

COMMENT ON TABLE agentbase.mcp_tool_executions IS 'append-only log of MCP tool calls (partitioned by month)';
COMMENT ON COLUMN agentbase.mcp_tool_executions.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.mcp_tool_executions.id IS 'execution id';
COMMENT ON COLUMN agentbase.mcp_tool_executions.config_id IS 'server configuration used (NULL once it is deleted)';
COMMENT ON COLUMN agentbase.mcp_tool_executions.server_name IS 'server name at call time (kept when the config goes)';
COMMENT ON COLUMN agentbase.mcp_tool_executions.tool_name IS 'MCP tool called';
COMMENT ON COLUMN agentbase.mcp_tool_executions.user_id IS 'user on whose behalf the tool ran';
COMMENT ON COLUMN agentbase.mcp_tool_executions.agent_id IS 'agent that called the tool';
COMMENT ON COLUMN agentbase.mcp_tool_executions.conversation_id IS 'conversation the call belongs to';
COMMENT ON COLUMN agentbase.mcp_tool_executions.arguments IS 'tool arguments';
COMMENT ON COLUMN agentbase.mcp_tool_executions.result IS 'tool result (NULL on failure)';
COMMENT ON COLUMN agentbase.mcp_tool_executions.status IS 'success, error, timeout or cancelled';
COMMENT ON COLUMN agentbase.mcp_tool_executions.error_message IS 'error text when the call failed';
COMMENT ON COLUMN agentbase.mcp_tool_executions.duration_ms IS 'wall time of the call in milliseconds (>= 0)';
COMMENT ON COLUMN agentbase.mcp_tool_executions.created_at IS 'time of the call (partition key)';

SELECT agentbase.enable_tenant_rls('agentbase.mcp_tool_executions');
SELECT agentbase.restrict_app_to_append('agentbase.mcp_tool_executions');
SELECT agentbase.ensure_monthly_partitions('agentbase.mcp_tool_executions');
