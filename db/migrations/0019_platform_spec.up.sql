-- The agentic platform spec, field for field (issue 12): slugs, the columns its tables
-- name that ours lacked, the failed attempts in the audit trail, and the indexes it lists.
--
-- Slugs. agents, workflows and collections get a slug, unique per tenant among live rows
-- (uq_<table>_slug, partial like the names), accepted in place of the id in the API's
-- paths (/v1/agents/{id-or-slug}). A slug is lowercase letters, digits and single dashes,
-- 1 to 64 characters, and never shaped like a UUID, so that a path segment is one or the
-- other, never both. When a write leaves it out (or sets it to null), fill_slug() derives
-- it from the name (slugify()), with -2, -3 ... on a collision. The collision check and the
-- insert are serialized per tenant, table and base slug by a transaction advisory lock, so
-- two concurrent creates of "My agent" get my-agent and my-agent-2, not a unique violation.
-- A rename keeps the slug: a slug is an address, and addresses that change break links.
--
-- Progress of a workflow execution: current_step, steps_completed and steps_total are kept
-- by the step executions' trigger (workflow_step_progress): a step that starts running
-- becomes the current step, steps_completed counts the distinct steps completed or skipped;
-- steps_total is the number of nodes of the workflow's definition when the execution is
-- created (unless given).
--
-- Failed attempts in the audit trail. audit_logs.status is success (every change the
-- triggers record) or failure, with error_message. A refused write rolls its transaction
-- back, audit row and all, so the service records the refusal afterwards in a second short
-- transaction through audit_refused() (SECURITY DEFINER: the service still has no INSERT on
-- audit_logs), with the request context of the refused request (tenant, key, IP, request
-- id: never parameters). A failed sign-in of a known user is recorded by audit_failure() in
-- the transaction that counts it. The limits: a request refused before it is known whose it
-- is (no key, an invalid key, 401) has no tenant to record it in, and one refused by the
-- rate limit (429) is not recorded, so that a flood cannot flood the trail.
--
-- Indexes the spec lists. Already served, so not added again:
--   tenants (status, deleted_at)     idx_tenants_status (status) WHERE deleted_at IS NULL (0016)
--   users (status)                   idx_users_tenant_id_status (0016)
--   conversations (status)           idx_conversations_tenant_id_status (0016)
--   workflows (status)               idx_workflows_tenant_id_status (0016)
--   collections (status)             idx_collections_tenant_id_status (0016)
--   mcp_server_configs (enabled)     idx_mcp_server_configs_tenant_id_enabled (0016)
-- New: agents, workflows, collections (tenant_id, slug); messages (tenant_id, created_at
-- DESC); tool_executions (tenant_id, tool_name, status, started_at DESC);
-- workflow_executions (tenant_id, started_at DESC); audit_logs (tenant_id, actor_id,
-- created_at DESC), which replaces 0016's (tenant_id, actor_id), and (tenant_id, action,
-- created_at DESC) and (tenant_id, status, created_at DESC); documents (tenant_id,
-- uploaded_at DESC); mcp_servers (category, status). The spec's usage_metrics index comes
-- with usage_metrics.period_end, in another migration.
--
-- messages stays one table: bench/messages_partition.sh measured it against a monthly
-- partitioned layout on 10 million rows (docs/schema/strategy.md has the figures and the
-- reasons).
--
-- Privileges: agentbase_app executes audit_refused(text, text, integer, text, text) and
-- audit_failure(text, text, text, text, jsonb) (both SECURITY DEFINER), slugify(text) (what
-- a client may call to know a slug beforehand) and mcp_resource_limits_ok(jsonb) (a CHECK
-- calls it as the writer); PUBLIC nothing. Trigger functions need no EXECUTE to fire.

-- ------------------------------------------------------------------------------------
-- Slugs
-- ------------------------------------------------------------------------------------

CREATE FUNCTION agentbase.slugify(p_text text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT coalesce(NULLIF(left(trim(BOTH '-' FROM regexp_replace(lower(p_text), '[^a-z0-9]+', '-', 'g')),
                                56), ''), 'item')
$$;
COMMENT ON FUNCTION agentbase.slugify(text) IS
    'a slug from a name: lowercase ASCII letters and digits, runs of anything else as one dash, at most 56 characters (room for a suffix); "item" when nothing is left';

-- BEFORE INSERT OR UPDATE OF slug: a missing slug comes from the name, with -2, -3 ... when
-- a live row of the tenant has it. SECURITY DEFINER so that the check sees every live row
-- of the tenant (a user sees only their own rows of some tables, and a collision with a row
-- they cannot see must still be avoided); it reads only NEW's tenant.
CREATE FUNCTION agentbase.fill_slug() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_base text;
    v_slug text;
    v_n int := 1;
    v_taken boolean;
BEGIN
    IF NEW.slug IS NOT NULL THEN
        RETURN NEW;
    END IF;
    -- trim the stem so that "-<n>" still fits even for a long name (slugify keeps 56)
    v_base := agentbase.slugify(NEW.name);
    IF v_base ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        v_base := 'x-' || left(v_base, 54);
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended(TG_TABLE_NAME || '/' || NEW.tenant_id || '/' || v_base, 0));
    v_slug := v_base;
    LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM agentbase.%I WHERE tenant_id = $1 AND slug = $2 '
                       'AND deleted_at IS NULL AND id IS DISTINCT FROM $3)', TG_TABLE_NAME)
           INTO v_taken USING NEW.tenant_id, v_slug, NEW.id;
        EXIT WHEN NOT v_taken;
        v_n := v_n + 1;
        v_slug := v_base || '-' || v_n;
    END LOOP;
    NEW.slug := v_slug;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.fill_slug() IS
    'BEFORE trigger: a slug left out is derived from the name (slugify), with -2, -3 ... while a live row of the tenant has it';
REVOKE ALL ON FUNCTION agentbase.fill_slug() FROM PUBLIC;

DO $$
DECLARE
    v_table text;
    v_row record;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['agents', 'workflows', 'collections'] LOOP
        EXECUTE format('ALTER TABLE agentbase.%I ADD COLUMN slug text', v_table);
        EXECUTE format('ALTER TABLE agentbase.%I ADD CONSTRAINT %I CHECK (length(slug) <= 64 AND slug ~ %L AND slug !~ %L)',
                       v_table, 'chk_' || v_table || '_slug', '^[a-z0-9]+(-[a-z0-9]+)*$',
                       '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$');
        EXECUTE format('CREATE TRIGGER trg_slug BEFORE INSERT OR UPDATE OF slug ON agentbase.%I '
                       'FOR EACH ROW EXECUTE FUNCTION agentbase.fill_slug()', v_table);
        -- the rows there are: oldest first, so the first of two similar names keeps the plain slug
        -- (without audit rows or a new updated_at: the slug is new, nothing else changed)
        EXECUTE format('ALTER TABLE agentbase.%I DISABLE TRIGGER USER', v_table);
        EXECUTE format('ALTER TABLE agentbase.%I ENABLE TRIGGER trg_slug', v_table);
        FOR v_row IN EXECUTE format('SELECT tenant_id, id FROM agentbase.%I ORDER BY deleted_at IS NULL DESC, created_at, id', v_table) LOOP
            EXECUTE format('UPDATE agentbase.%I SET slug = NULL WHERE tenant_id = $1 AND id = $2', v_table)
              USING v_row.tenant_id, v_row.id;
        END LOOP;
        EXECUTE format('ALTER TABLE agentbase.%I ENABLE TRIGGER USER', v_table);
        EXECUTE format('ALTER TABLE agentbase.%I ALTER COLUMN slug SET NOT NULL', v_table);
        EXECUTE format('CREATE UNIQUE INDEX %I ON agentbase.%I (tenant_id, slug) WHERE deleted_at IS NULL',
                       'uq_' || v_table || '_slug', v_table);
        EXECUTE format('COMMENT ON COLUMN agentbase.%I.slug IS %L', v_table,
                       'URL name, unique per tenant among live rows; accepted in place of the id in paths. '
                       'Lowercase letters, digits and single dashes, 1-64 characters, never shaped like a UUID; '
                       'derived from the name when left out (-2, -3 ... on a collision), kept on a rename');
    END LOOP;
END
$$;

-- ------------------------------------------------------------------------------------
-- Columns
-- ------------------------------------------------------------------------------------

ALTER TABLE agentbase.users
    ADD COLUMN first_name text,
    ADD COLUMN last_name text,
    ADD CONSTRAINT chk_users_first_name CHECK (first_name IS NULL OR length(btrim(first_name)) BETWEEN 1 AND 100),
    ADD CONSTRAINT chk_users_last_name CHECK (last_name IS NULL OR length(btrim(last_name)) BETWEEN 1 AND 100);
COMMENT ON COLUMN agentbase.users.first_name IS 'given name (1-100 characters), beside full_name';
COMMENT ON COLUMN agentbase.users.last_name IS 'family name (1-100 characters), beside full_name';

ALTER TABLE agentbase.agents
    DROP CONSTRAINT chk_agents_status,
    ADD CONSTRAINT chk_agents_status
        CHECK (status IN ('active', 'inactive', 'busy', 'error', 'maintenance', 'archived')),
    ADD COLUMN version_label text,
    ADD CONSTRAINT chk_agents_version_label CHECK (version_label ~ '^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$');
COMMENT ON COLUMN agentbase.agents.status IS 'active, inactive, busy, error, maintenance or archived';
COMMENT ON COLUMN agentbase.agents.version_label IS
    'version string of the configuration as its authors name it (1.2.0, 2024-06-rc1 ...), beside the number in version';

ALTER TABLE agentbase.conversations
    DROP CONSTRAINT chk_conversations_status,
    ADD CONSTRAINT chk_conversations_status
        CHECK (status IN ('active', 'paused', 'completed', 'archived', 'failed', 'cancelled')),
    ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}',
    ADD CONSTRAINT chk_conversations_metadata CHECK (jsonb_typeof(metadata) = 'object');
COMMENT ON COLUMN agentbase.conversations.status IS 'active, paused, completed, archived, failed or cancelled';
COMMENT ON COLUMN agentbase.conversations.metadata IS 'free-form metadata';

ALTER TABLE agentbase.tool_executions
    ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}',
    ADD CONSTRAINT chk_tool_executions_metadata CHECK (jsonb_typeof(metadata) = 'object');
COMMENT ON COLUMN agentbase.tool_executions.metadata IS 'free-form metadata';

ALTER TABLE agentbase.workflow_executions
    ADD COLUMN current_step text,
    ADD COLUMN steps_completed integer NOT NULL DEFAULT 0,
    ADD COLUMN steps_total integer,
    ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}',
    ADD CONSTRAINT chk_workflow_executions_steps_completed CHECK (steps_completed >= 0),
    ADD CONSTRAINT chk_workflow_executions_steps_total CHECK (steps_total >= 0),
    ADD CONSTRAINT chk_workflow_executions_metadata CHECK (jsonb_typeof(metadata) = 'object');
COMMENT ON COLUMN agentbase.workflow_executions.current_step IS
    'step_id of the step that started running last (kept by the step executions)';
COMMENT ON COLUMN agentbase.workflow_executions.steps_completed IS
    'distinct steps completed or skipped (kept by the step executions)';
COMMENT ON COLUMN agentbase.workflow_executions.steps_total IS
    'steps of the run: the nodes of the workflow''s definition at creation unless given';
COMMENT ON COLUMN agentbase.workflow_executions.metadata IS 'free-form metadata';

ALTER TABLE agentbase.audit_logs
    ADD COLUMN status text NOT NULL DEFAULT 'success',
    ADD COLUMN error_message text,
    ADD CONSTRAINT chk_audit_logs_status CHECK (status IN ('success', 'failure')),
    ADD CONSTRAINT chk_audit_logs_error_message
        CHECK (error_message IS NULL OR (status = 'failure' AND length(error_message) <= 2000));
COMMENT ON COLUMN agentbase.audit_logs.status IS
    'success (a change that committed) or failure (a refused attempt: a refused write, a failed sign-in)';
COMMENT ON COLUMN agentbase.audit_logs.error_message IS 'why the attempt failed (failures only)';

ALTER TABLE agentbase.documents
    ADD COLUMN filename text,
    ADD COLUMN uploaded_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT chk_documents_filename
        CHECK (filename IS NULL OR (length(filename) BETWEEN 1 AND 255 AND filename !~ '[/\\[:cntrl:]]'));
COMMENT ON COLUMN agentbase.documents.filename IS 'original file name, without a path (1-255 characters)';
COMMENT ON COLUMN agentbase.documents.uploaded_at IS 'when the file was uploaded (default: creation time)';
UPDATE agentbase.documents SET uploaded_at = created_at WHERE uploaded_at <> created_at;

ALTER TABLE agentbase.chunks
    ADD COLUMN embedding_model text,
    ADD CONSTRAINT chk_chunks_embedding_model
        CHECK (embedding_model IS NULL OR length(btrim(embedding_model)) BETWEEN 1 AND 200);
COMMENT ON COLUMN agentbase.chunks.embedding_model IS
    'model that computed this chunk''s embedding; NULL: the collection''s embedding_model';

ALTER TABLE agentbase.rag_queries
    ADD COLUMN retrieval_strategy text NOT NULL DEFAULT 'similarity',
    ADD COLUMN filters jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN top_score double precision,
    ADD CONSTRAINT chk_rag_queries_retrieval_strategy
        CHECK (retrieval_strategy IN ('similarity', 'mmr', 'hybrid', 'keyword', 'rerank')),
    ADD CONSTRAINT chk_rag_queries_filters CHECK (jsonb_typeof(filters) = 'object'),
    ADD CONSTRAINT chk_rag_queries_top_score
        CHECK (top_score IS NULL OR top_score BETWEEN -1e30 AND 1e30);
COMMENT ON COLUMN agentbase.rag_queries.retrieval_strategy IS 'similarity, mmr, hybrid, keyword or rerank';
COMMENT ON COLUMN agentbase.rag_queries.filters IS 'metadata filters the retrieval applied';
COMMENT ON COLUMN agentbase.rag_queries.top_score IS 'score of the best result (in the collection''s metric); NULL without results';

ALTER TABLE agentbase.mcp_servers
    ADD COLUMN category text,
    ADD COLUMN repository_url text,
    ADD CONSTRAINT chk_mcp_servers_category CHECK (category ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    ADD CONSTRAINT chk_mcp_servers_repository_url CHECK (repository_url ~ '^https?://[^[:space:]]+$');
COMMENT ON COLUMN agentbase.mcp_servers.category IS 'registry category (filesystem, search, database, devtools ...)';
COMMENT ON COLUMN agentbase.mcp_servers.repository_url IS 'source repository URL';

-- Resource limits: an object of known limits, each a positive integer.
CREATE FUNCTION agentbase.mcp_resource_limits_ok(p_limits jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT NOT EXISTS (
        SELECT 1 FROM jsonb_each(p_limits) e(k, v)
         WHERE e.k NOT IN ('memory_mb', 'cpu_millicores', 'timeout_seconds', 'max_concurrent_calls')
            OR jsonb_typeof(e.v) <> 'number' OR e.v::text !~ '^[0-9]{1,9}$' OR e.v::text::int <= 0)
$$;
COMMENT ON FUNCTION agentbase.mcp_resource_limits_ok(jsonb) IS
    'true when every key of the object is a known MCP resource limit with a positive integer value';

-- The environment variables of a configuration are its sealed `secrets` (0007, 0013): by
-- variable name, encrypted by the service, answered only as secrets_hint.
ALTER TABLE agentbase.mcp_server_configs
    ADD COLUMN resource_limits jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN allowed_user_ids uuid[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT chk_mcp_server_configs_resource_limits CHECK (
        jsonb_typeof(resource_limits) = 'object'
        AND agentbase.mcp_resource_limits_ok(resource_limits)),
    ADD CONSTRAINT chk_mcp_server_configs_allowed_user_ids CHECK (array_position(allowed_user_ids, NULL) IS NULL);
COMMENT ON COLUMN agentbase.mcp_server_configs.secrets_ciphertext IS
    'the server''s secret environment variables by name (GITHUB_TOKEN ...), encrypted by the service with AGENTBASE_SECRET_KEY (libsodium AEAD); never plaintext';
COMMENT ON COLUMN agentbase.mcp_server_configs.resource_limits IS
    'limits of a server process: memory_mb, cpu_millicores, timeout_seconds, max_concurrent_calls (positive integers)';
COMMENT ON COLUMN agentbase.mcp_server_configs.allowed_user_ids IS
    'users of the tenant who may use this configuration; empty: every user';
CREATE UNIQUE INDEX uq_mcp_server_configs_tenant_id_server_id ON agentbase.mcp_server_configs (tenant_id, server_id)
    WHERE deleted_at IS NULL AND server_id IS NOT NULL;
CREATE UNIQUE INDEX uq_mcp_server_configs_tenant_id_tenant_server_id
    ON agentbase.mcp_server_configs (tenant_id, tenant_server_id) WHERE deleted_at IS NULL AND tenant_server_id IS NOT NULL;
CREATE TRIGGER trg_refs BEFORE INSERT OR UPDATE ON agentbase.mcp_server_configs
    FOR EACH ROW EXECUTE FUNCTION agentbase.refs_check('allowed_user_ids:users');

ALTER TABLE agentbase.mcp_tool_executions
    ADD COLUMN message_id uuid,
    ADD COLUMN error_code text,
    ADD COLUMN server_instance_id text,
    ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN started_at timestamptz,
    ADD COLUMN completed_at timestamptz,
    ADD CONSTRAINT chk_mcp_tool_executions_error_code CHECK (error_code ~ '^[A-Za-z0-9_.:-]{1,100}$'),
    ADD CONSTRAINT chk_mcp_tool_executions_server_instance_id
        CHECK (length(server_instance_id) BETWEEN 1 AND 200),
    ADD CONSTRAINT chk_mcp_tool_executions_metadata CHECK (jsonb_typeof(metadata) = 'object'),
    ADD CONSTRAINT chk_mcp_tool_executions_completed_at CHECK (completed_at >= started_at);
COMMENT ON COLUMN agentbase.mcp_tool_executions.message_id IS 'message that requested the call (no foreign key: checked in the tenant)';
COMMENT ON COLUMN agentbase.mcp_tool_executions.error_code IS 'machine-readable error (JSON-RPC code or the server''s own) when the call failed';
COMMENT ON COLUMN agentbase.mcp_tool_executions.server_instance_id IS 'the server process or container that ran the call';
COMMENT ON COLUMN agentbase.mcp_tool_executions.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.mcp_tool_executions.started_at IS 'when the call started';
COMMENT ON COLUMN agentbase.mcp_tool_executions.completed_at IS 'when the call ended (>= started_at)';
CREATE TRIGGER trg_refs BEFORE INSERT OR UPDATE ON agentbase.mcp_tool_executions
    FOR EACH ROW EXECUTE FUNCTION agentbase.refs_check('message_id:messages');

-- ------------------------------------------------------------------------------------
-- Workflow execution progress
-- ------------------------------------------------------------------------------------

CREATE FUNCTION agentbase.workflow_executions_fill_steps() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.steps_total IS NULL THEN
        SELECT jsonb_array_length(w.definition -> 'nodes') INTO NEW.steps_total
          FROM agentbase.workflows w
         WHERE w.tenant_id = NEW.tenant_id AND w.id = NEW.workflow_id
           AND jsonb_typeof(w.definition -> 'nodes') = 'array';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.workflow_executions_fill_steps() IS
    'BEFORE INSERT trigger: steps_total defaults to the number of nodes of the workflow''s definition';
REVOKE ALL ON FUNCTION agentbase.workflow_executions_fill_steps() FROM PUBLIC;
CREATE TRIGGER trg_fill_steps BEFORE INSERT ON agentbase.workflow_executions
    FOR EACH ROW EXECUTE FUNCTION agentbase.workflow_executions_fill_steps();

-- SECURITY DEFINER: whoever may write a step may move its execution's progress, which is
-- the database's to keep (a user's role may not update the execution row itself); it
-- writes only the step's own execution, in the step's tenant.
CREATE FUNCTION agentbase.workflow_step_progress() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    UPDATE agentbase.workflow_executions e
       SET current_step = CASE WHEN NEW.status = 'running' THEN NEW.step_id ELSE e.current_step END,
           steps_completed = (SELECT count(DISTINCT s.step_id)
                                FROM agentbase.workflow_step_executions s
                               WHERE s.tenant_id = NEW.tenant_id AND s.execution_id = NEW.execution_id
                                 AND s.status IN ('completed', 'skipped'))
     WHERE e.tenant_id = NEW.tenant_id AND e.id = NEW.execution_id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION agentbase.workflow_step_progress() IS
    'AFTER trigger on step executions: the execution''s current_step (the step that started last) and steps_completed';
REVOKE ALL ON FUNCTION agentbase.workflow_step_progress() FROM PUBLIC;
CREATE TRIGGER trg_progress AFTER INSERT OR UPDATE OF status ON agentbase.workflow_step_executions
    FOR EACH ROW EXECUTE FUNCTION agentbase.workflow_step_progress();

-- ------------------------------------------------------------------------------------
-- Failed attempts in the audit trail
-- ------------------------------------------------------------------------------------

-- A failed attempt in the current tenant's trail, with the request context (like
-- audit_event, 0011), status failure and the error's text.
CREATE FUNCTION agentbase.audit_failure(p_action text, p_resource_type text, p_resource_id text,
                                        p_error_message text, p_metadata jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    IF agentbase.current_tenant_id() IS NULL THEN
        RAISE EXCEPTION 'an audit record needs a tenant context' USING ERRCODE = '22023';
    END IF;
    INSERT INTO agentbase.audit_logs
        (tenant_id, action, resource_type, resource_id, actor_type, actor_id, ip_address, user_agent,
         request_id, metadata, status, error_message)
    VALUES
        (agentbase.current_tenant_id(), left(p_action, 200), left(p_resource_type, 100), p_resource_id,
         agentbase.current_actor_type(), agentbase.current_actor_id(),
         NULLIF(current_setting('agentbase.ip', true), '')::inet,
         NULLIF(current_setting('agentbase.user_agent', true), ''),
         NULLIF(current_setting('agentbase.request_id', true), ''), coalesce(p_metadata, '{}'),
         'failure', left(coalesce(p_error_message, 'refused'), 2000));
END
$$;
COMMENT ON FUNCTION agentbase.audit_failure(text, text, text, text, jsonb) IS
    'appends a failed attempt (status failure) to the current tenant''s audit trail, with the request context';

-- A write the service refused, recorded after its transaction rolled back. From the path
-- /v1/<resource>[/<id>[/.../<verb>]]: the resource (agents, usage ...); the id, which is
-- the path's first UUID or else the item's segment (a slug); the action
-- <resource>.create, .update or .delete for the resource routes, <resource>.<last segment>
-- for the others (usage.settle, conversations.messages ...).
CREATE FUNCTION agentbase.audit_refused(p_method text, p_path text, p_status integer, p_code text,
                                        p_message text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_parts text[] := string_to_array(trim(BOTH '/' FROM coalesce(p_path, '')), '/');
    v_n int := coalesce(cardinality(v_parts), 0);
    v_resource text := left(coalesce(NULLIF(v_parts[2], ''), 'request'), 100);
    v_id text := coalesce(
        (SELECT p FROM unnest(v_parts[3:]) WITH ORDINALITY u(p, i)
          WHERE p ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
          ORDER BY i LIMIT 1),
        CASE WHEN v_n = 3 THEN v_parts[3] END);
    v_verb text := CASE
        WHEN v_n >= 4 THEN v_parts[v_n]
        WHEN p_method = 'POST' THEN 'create'
        WHEN p_method = 'PATCH' THEN 'update'
        WHEN p_method = 'DELETE' THEN 'delete'
        ELSE lower(coalesce(p_method, 'request')) END;
BEGIN
    PERFORM agentbase.audit_failure(v_resource || '.' || v_verb, v_resource, left(v_id, 200), p_message,
                                    jsonb_build_object('method', p_method, 'path', left(p_path, 500),
                                                       'http_status', p_status, 'code', p_code));
END
$$;
COMMENT ON FUNCTION agentbase.audit_refused(text, text, integer, text, text) IS
    'records a write the service refused (its transaction rolled back) as a failure in the current tenant''s audit trail';

REVOKE ALL ON FUNCTION agentbase.mcp_resource_limits_ok(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.mcp_resource_limits_ok(jsonb) TO agentbase_app;
REVOKE ALL ON FUNCTION agentbase.slugify(text), agentbase.audit_failure(text, text, text, text, jsonb),
                       agentbase.audit_refused(text, text, integer, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.slugify(text), agentbase.audit_failure(text, text, text, text, jsonb),
                          agentbase.audit_refused(text, text, integer, text, text) TO agentbase_app;

-- ------------------------------------------------------------------------------------
-- Indexes
-- ------------------------------------------------------------------------------------

CREATE INDEX idx_messages_created_at ON agentbase.messages (tenant_id, created_at DESC);
CREATE INDEX idx_tool_executions_tool_name_status_started_at
    ON agentbase.tool_executions (tenant_id, tool_name, status, started_at DESC);
CREATE INDEX idx_workflow_executions_started_at ON agentbase.workflow_executions (tenant_id, started_at DESC);
DROP INDEX agentbase.idx_audit_logs_tenant_id_actor_id;
CREATE INDEX idx_audit_logs_actor_id_created_at ON agentbase.audit_logs (tenant_id, actor_id, created_at DESC);
CREATE INDEX idx_audit_logs_action_created_at ON agentbase.audit_logs (tenant_id, action, created_at DESC);
CREATE INDEX idx_audit_logs_status_created_at ON agentbase.audit_logs (tenant_id, status, created_at DESC);
CREATE INDEX idx_documents_uploaded_at ON agentbase.documents (tenant_id, uploaded_at DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_mcp_servers_category_status ON agentbase.mcp_servers (category, status);
