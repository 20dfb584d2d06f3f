-- Agents: agents and their assignment to users, conversations with their messages, the
-- log of tool calls, and generated content (code, documents, media, templates).
--
-- Decisions worth knowing:
--   * Messages get a gap-free sequence per conversation: a BEFORE INSERT trigger
--     increments conversations.last_sequence_number (and the counters) and takes the new
--     value. The row lock on the conversation serializes appends to one conversation; a
--     rolled-back insert rolls the counter back with it, so there are no gaps.
--   * Messages are immutable except metadata (annotations, feedback flags): any other
--     change is refused (22023). The service may not delete single messages either (it
--     would leave a gap): they go with their conversation. Messages are a log of the
--     conversation, so only their metadata updates are audited, with content, tool calls
--     and tool results redacted.
--   * Conversation counters (message_count, total_tokens, total_cost,
--     last_sequence_number) start at 0 and only the message trigger changes them; updates
--     that change only counters (every message) or agents.current_load are not audited.
--   * generated_content survives the deletion of its agent or conversation (SET NULL):
--     it is the user's work product (public downloads, templates).

-- ------------------------------------------------------------------------------------
-- agents
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.agents (
    tenant_id       uuid         NOT NULL,
    id              uuid         NOT NULL DEFAULT agentbase.uuid_v7(),
    name            text         NOT NULL,
    description     text,
    agent_type      text         NOT NULL DEFAULT 'assistant',
    model_provider  text         NOT NULL,
    model_name      text         NOT NULL,
    temperature     numeric(3,2) NOT NULL DEFAULT 0.7,
    max_tokens      integer      NOT NULL DEFAULT 4096,
    system_prompt   text,
    capabilities    text[]       NOT NULL DEFAULT '{}',
    tools           jsonb        NOT NULL DEFAULT '[]',
    timeout_seconds integer      NOT NULL DEFAULT 300,
    max_iterations  integer      NOT NULL DEFAULT 10,
    memory_enabled  boolean      NOT NULL DEFAULT false,
    status          text         NOT NULL DEFAULT 'active',
    version         integer      NOT NULL DEFAULT 1,
    current_load    integer      NOT NULL DEFAULT 0,
    tags            text[]       NOT NULL DEFAULT '{}',
    config          jsonb        NOT NULL DEFAULT '{}',
    metadata        jsonb        NOT NULL DEFAULT '{}',
    created_by      uuid,
    created_at      timestamptz  NOT NULL DEFAULT now(),
    updated_at      timestamptz  NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    CONSTRAINT agents_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_agents_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_agents_users FOREIGN KEY (tenant_id, created_by)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (created_by),
    CONSTRAINT chk_agents_name CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT chk_agents_agent_type CHECK (agent_type IN (
        'development_manager', 'product_manager', 'data_analyst', 'senior_engineer', 'architect',
        'platform_engineer', 'qa_engineer', 'security_engineer', 'technical_writer', 'researcher',
        'assistant', 'custom')),
    CONSTRAINT chk_agents_model_provider CHECK (model_provider ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    CONSTRAINT chk_agents_model_name CHECK (length(btrim(model_name)) BETWEEN 1 AND 200),
    CONSTRAINT chk_agents_temperature CHECK (temperature BETWEEN 0 AND 2),
    CONSTRAINT chk_agents_max_tokens CHECK (max_tokens > 0),
    CONSTRAINT chk_agents_tools CHECK (jsonb_typeof(tools) = 'array'),
    CONSTRAINT chk_agents_timeout_seconds CHECK (timeout_seconds > 0),
    CONSTRAINT chk_agents_max_iterations CHECK (max_iterations > 0),
    CONSTRAINT chk_agents_status CHECK (status IN ('active', 'inactive', 'busy', 'error', 'maintenance')),
    CONSTRAINT chk_agents_version CHECK (version > 0),
    CONSTRAINT chk_agents_current_load CHECK (current_load >= 0),
    CONSTRAINT chk_agents_config CHECK (jsonb_typeof(config) = 'object'),
    CONSTRAINT chk_agents_metadata CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE UNIQUE INDEX uq_agents_name ON agentbase.agents (tenant_id, name) WHERE deleted_at IS NULL;
CREATE INDEX idx_agents_status ON agentbase.agents (tenant_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_agents_created_by ON agentbase.agents (tenant_id, created_by);

COMMENT ON TABLE agentbase.agents IS 'AI agents of a tenant: model, prompt, tools and limits';
COMMENT ON COLUMN agentbase.agents.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.agents.id IS 'agent id';
COMMENT ON COLUMN agentbase.agents.name IS 'name, unique per tenant among live agents';
COMMENT ON COLUMN agentbase.agents.description IS 'what the agent is for';
COMMENT ON COLUMN agentbase.agents.agent_type IS
    'role: development_manager, product_manager, data_analyst, senior_engineer, architect, platform_engineer, qa_engineer, security_engineer, technical_writer, researcher, assistant or custom';
COMMENT ON COLUMN agentbase.agents.model_provider IS 'LLM provider key (anthropic, openai, ...)';
COMMENT ON COLUMN agentbase.agents.model_name IS 'model name at the provider';
COMMENT ON COLUMN agentbase.agents.temperature IS 'sampling temperature, 0..2';
COMMENT ON COLUMN agentbase.agents.max_tokens IS 'maximum output tokens per model call (> 0)';
COMMENT ON COLUMN agentbase.agents.system_prompt IS 'system prompt';
COMMENT ON COLUMN agentbase.agents.capabilities IS 'capability labels (code_review, planning, sql ...)';
COMMENT ON COLUMN agentbase.agents.tools IS 'array of tool definitions the agent may call';
COMMENT ON COLUMN agentbase.agents.timeout_seconds IS 'time limit of one agent run, seconds (> 0)';
COMMENT ON COLUMN agentbase.agents.max_iterations IS 'maximum reasoning/tool iterations per run (> 0)';
COMMENT ON COLUMN agentbase.agents.memory_enabled IS 'whether the agent keeps long-term memory';
COMMENT ON COLUMN agentbase.agents.status IS 'active, inactive, busy, error or maintenance';
COMMENT ON COLUMN agentbase.agents.version IS 'configuration version (> 0), set by the client';
COMMENT ON COLUMN agentbase.agents.current_load IS 'requests in progress (not audited)';
COMMENT ON COLUMN agentbase.agents.tags IS 'free tags';
COMMENT ON COLUMN agentbase.agents.config IS 'further configuration (stop sequences, top_p, ...)';
COMMENT ON COLUMN agentbase.agents.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.agents.created_by IS 'user who created the agent (NULL once that user is deleted)';
COMMENT ON COLUMN agentbase.agents.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.agents.updated_at IS 'last update time (trigger-maintained)';
COMMENT ON COLUMN agentbase.agents.deleted_at IS 'soft-delete time; NULL while live';

SELECT agentbase.enable_tenant_rls('agentbase.agents');
SELECT agentbase.attach_updated_at('agentbase.agents');
SELECT agentbase.attach_audit_except('agentbase.agents', 'agent', ARRAY['current_load', 'updated_at']);

-- ------------------------------------------------------------------------------------
-- agent_assignments: which users may use which agents
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.agent_assignments (
    tenant_id               uuid        NOT NULL,
    id                      uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    user_id                 uuid        NOT NULL,
    agent_id                uuid        NOT NULL,
    allocation_type         text        NOT NULL DEFAULT 'shared',
    priority                integer     NOT NULL DEFAULT 0,
    max_concurrent_requests integer     NOT NULL DEFAULT 5,
    is_active               boolean     NOT NULL DEFAULT true,
    assigned_at             timestamptz NOT NULL DEFAULT now(),
    expires_at              timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_assignments_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_agent_assignments_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_agent_assignments_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_agent_assignments_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_agent_assignments_user_id_agent_id UNIQUE (tenant_id, user_id, agent_id),
    CONSTRAINT chk_agent_assignments_allocation_type CHECK (allocation_type IN ('shared', 'dedicated', 'pool')),
    CONSTRAINT chk_agent_assignments_max_concurrent_requests CHECK (max_concurrent_requests > 0),
    CONSTRAINT chk_agent_assignments_expires_at CHECK (expires_at IS NULL OR expires_at > assigned_at)
);
CREATE INDEX idx_agent_assignments_agent_id ON agentbase.agent_assignments (tenant_id, agent_id);

COMMENT ON TABLE agentbase.agent_assignments IS 'which user may use which agent, and how (one row per user and agent)';
COMMENT ON COLUMN agentbase.agent_assignments.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.agent_assignments.id IS 'assignment id';
COMMENT ON COLUMN agentbase.agent_assignments.user_id IS 'assigned user (deleted with the user)';
COMMENT ON COLUMN agentbase.agent_assignments.agent_id IS 'assigned agent (deleted with the agent)';
COMMENT ON COLUMN agentbase.agent_assignments.allocation_type IS
    'shared (with other users), dedicated (this user only) or pool (one of a pool of agents)';
COMMENT ON COLUMN agentbase.agent_assignments.priority IS 'routing priority; higher is preferred';
COMMENT ON COLUMN agentbase.agent_assignments.max_concurrent_requests IS 'concurrent requests this user may run on the agent (> 0)';
COMMENT ON COLUMN agentbase.agent_assignments.is_active IS 'whether the assignment is in force';
COMMENT ON COLUMN agentbase.agent_assignments.assigned_at IS 'start of the assignment';
COMMENT ON COLUMN agentbase.agent_assignments.expires_at IS 'end of the assignment; NULL for open-ended';
COMMENT ON COLUMN agentbase.agent_assignments.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.agent_assignments.updated_at IS 'last update time (trigger-maintained)';

SELECT agentbase.enable_tenant_rls('agentbase.agent_assignments');
SELECT agentbase.attach_updated_at('agentbase.agent_assignments');
SELECT agentbase.attach_audit('agentbase.agent_assignments', 'agent_assignment');

-- ------------------------------------------------------------------------------------
-- conversations
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.conversations (
    tenant_id            uuid           NOT NULL,
    id                   uuid           NOT NULL DEFAULT agentbase.uuid_v7(),
    user_id              uuid,
    agent_id             uuid,
    title                text,
    status               text           NOT NULL DEFAULT 'active',
    context              jsonb          NOT NULL DEFAULT '{}',
    ai_config            jsonb          NOT NULL DEFAULT '{}',
    message_count        integer        NOT NULL DEFAULT 0,
    total_tokens         bigint         NOT NULL DEFAULT 0,
    total_cost           numeric(20,10) NOT NULL DEFAULT 0,
    last_sequence_number bigint         NOT NULL DEFAULT 0,
    analytics            jsonb          NOT NULL DEFAULT '{}',
    started_at           timestamptz    NOT NULL DEFAULT now(),
    ended_at             timestamptz,
    last_message_at      timestamptz,
    created_at           timestamptz    NOT NULL DEFAULT now(),
    updated_at           timestamptz    NOT NULL DEFAULT now(),
    deleted_at           timestamptz,
    CONSTRAINT conversations_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_conversations_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_conversations_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_conversations_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT chk_conversations_status CHECK (status IN ('active', 'paused', 'completed', 'archived', 'failed')),
    CONSTRAINT chk_conversations_context CHECK (jsonb_typeof(context) = 'object'),
    CONSTRAINT chk_conversations_ai_config CHECK (jsonb_typeof(ai_config) = 'object'),
    CONSTRAINT chk_conversations_message_count CHECK (message_count >= 0),
    CONSTRAINT chk_conversations_total_tokens CHECK (total_tokens >= 0),
    CONSTRAINT chk_conversations_total_cost CHECK (total_cost >= 0),
    CONSTRAINT chk_conversations_last_sequence_number CHECK (last_sequence_number >= 0),
    CONSTRAINT chk_conversations_analytics CHECK (jsonb_typeof(analytics) = 'object'),
    CONSTRAINT chk_conversations_ended_at CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX idx_conversations_started_at ON agentbase.conversations (tenant_id, started_at DESC);
CREATE INDEX idx_conversations_user_id ON agentbase.conversations (tenant_id, user_id, started_at DESC);
CREATE INDEX idx_conversations_agent_id ON agentbase.conversations (tenant_id, agent_id);

COMMENT ON TABLE agentbase.conversations IS 'conversations between a user and an agent, with running totals of their messages';
COMMENT ON COLUMN agentbase.conversations.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.conversations.id IS 'conversation id';
COMMENT ON COLUMN agentbase.conversations.user_id IS 'user who holds the conversation; NULL when started by a service key';
COMMENT ON COLUMN agentbase.conversations.agent_id IS 'agent answering; NULL for a direct model conversation';
COMMENT ON COLUMN agentbase.conversations.title IS 'title';
COMMENT ON COLUMN agentbase.conversations.status IS 'active, paused, completed, archived or failed';
COMMENT ON COLUMN agentbase.conversations.context IS 'conversation context (memory, variables, attached resources)';
COMMENT ON COLUMN agentbase.conversations.ai_config IS 'model settings for this conversation (model, temperature, max_tokens ...)';
COMMENT ON COLUMN agentbase.conversations.message_count IS 'number of messages (maintained by the message trigger)';
COMMENT ON COLUMN agentbase.conversations.total_tokens IS 'sum of the messages'' token counts (maintained by the message trigger)';
COMMENT ON COLUMN agentbase.conversations.total_cost IS 'sum of the messages'' costs, USD (maintained by the message trigger)';
COMMENT ON COLUMN agentbase.conversations.last_sequence_number IS
    'sequence number of the newest message; the next message gets this + 1 (gap-free)';
COMMENT ON COLUMN agentbase.conversations.analytics IS 'derived analytics (sentiment, topics, satisfaction ...)';
COMMENT ON COLUMN agentbase.conversations.started_at IS 'start of the conversation';
COMMENT ON COLUMN agentbase.conversations.ended_at IS 'end of the conversation';
COMMENT ON COLUMN agentbase.conversations.last_message_at IS 'time of the newest message (maintained by the message trigger)';
COMMENT ON COLUMN agentbase.conversations.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.conversations.updated_at IS 'last update time (trigger-maintained)';
COMMENT ON COLUMN agentbase.conversations.deleted_at IS 'soft-delete time; NULL while live (no messages can be added then)';

-- Counters start at 0 and only the message trigger (one trigger level down) changes them.
CREATE FUNCTION agentbase.conversations_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.message_count := 0;
        NEW.total_tokens := 0;
        NEW.total_cost := 0;
        NEW.last_sequence_number := 0;
    ELSIF pg_trigger_depth() < 2 THEN
        NEW.message_count := OLD.message_count;
        NEW.total_tokens := OLD.total_tokens;
        NEW.total_cost := OLD.total_cost;
        NEW.last_sequence_number := OLD.last_sequence_number;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.conversations_guard() IS
    'BEFORE trigger: message counters start at 0 and only the message trigger changes them';
CREATE TRIGGER trg_guard BEFORE INSERT OR UPDATE ON agentbase.conversations
    FOR EACH ROW EXECUTE FUNCTION agentbase.conversations_guard();

SELECT agentbase.enable_tenant_rls('agentbase.conversations');
SELECT agentbase.attach_updated_at('agentbase.conversations');
SELECT agentbase.attach_audit_except('agentbase.conversations', 'conversation',
                                     ARRAY['message_count', 'total_tokens', 'total_cost',
                                           'last_sequence_number', 'last_message_at', 'updated_at']);

-- ------------------------------------------------------------------------------------
-- messages
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.messages (
    tenant_id       uuid           NOT NULL,
    id              uuid           NOT NULL DEFAULT agentbase.uuid_v7(),
    conversation_id uuid           NOT NULL,
    sequence_number bigint         NOT NULL,
    role            text           NOT NULL,
    content         text           NOT NULL DEFAULT '',
    content_type    text           NOT NULL DEFAULT 'text',
    token_count     bigint         NOT NULL DEFAULT 0,
    model           text,
    tool_calls      jsonb          NOT NULL DEFAULT '[]',
    tool_results    jsonb          NOT NULL DEFAULT '[]',
    latency_ms      integer,
    cost            numeric(20,10) NOT NULL DEFAULT 0,
    metadata        jsonb          NOT NULL DEFAULT '{}',
    created_at      timestamptz    NOT NULL DEFAULT now(),
    CONSTRAINT messages_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_messages_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_messages_conversations FOREIGN KEY (tenant_id, conversation_id)
        REFERENCES agentbase.conversations (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_messages_conversation_id_sequence_number UNIQUE (tenant_id, conversation_id, sequence_number),
    CONSTRAINT chk_messages_role CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    CONSTRAINT chk_messages_content_type CHECK (content_type IN (
        'text', 'markdown', 'json', 'code', 'html', 'image', 'audio', 'file')),
    CONSTRAINT chk_messages_token_count CHECK (token_count >= 0),
    CONSTRAINT chk_messages_tool_calls CHECK (jsonb_typeof(tool_calls) = 'array'),
    CONSTRAINT chk_messages_tool_results CHECK (jsonb_typeof(tool_results) = 'array'),
    CONSTRAINT chk_messages_latency_ms CHECK (latency_ms >= 0),
    CONSTRAINT chk_messages_cost CHECK (cost >= 0),
    CONSTRAINT chk_messages_metadata CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX idx_messages_conversation_id_sequence_number ON agentbase.messages (conversation_id, sequence_number);

COMMENT ON TABLE agentbase.messages IS
    'messages of a conversation, numbered 1, 2, 3 ... without gaps; immutable except metadata';
COMMENT ON COLUMN agentbase.messages.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.messages.id IS 'message id';
COMMENT ON COLUMN agentbase.messages.conversation_id IS 'conversation (messages are deleted with it)';
COMMENT ON COLUMN agentbase.messages.sequence_number IS 'position in the conversation, assigned on insert (1, 2, 3 ... no gaps)';
COMMENT ON COLUMN agentbase.messages.role IS 'user, assistant, system or tool';
COMMENT ON COLUMN agentbase.messages.content IS 'message text (empty for a pure tool call)';
COMMENT ON COLUMN agentbase.messages.content_type IS 'text, markdown, json, code, html, image, audio or file';
COMMENT ON COLUMN agentbase.messages.token_count IS 'tokens of this message';
COMMENT ON COLUMN agentbase.messages.model IS 'model that produced an assistant message';
COMMENT ON COLUMN agentbase.messages.tool_calls IS 'array of tool calls requested by the model';
COMMENT ON COLUMN agentbase.messages.tool_results IS 'array of tool results returned to the model';
COMMENT ON COLUMN agentbase.messages.latency_ms IS 'time to produce the message, milliseconds';
COMMENT ON COLUMN agentbase.messages.cost IS 'cost of producing the message, USD';
COMMENT ON COLUMN agentbase.messages.metadata IS 'free-form metadata; the only column that may change after insert';
COMMENT ON COLUMN agentbase.messages.created_at IS 'creation time';

-- Appends the message to its conversation: takes the next sequence number under the
-- conversation's row lock and adds to its counters. When the conversation cannot be
-- seen (unknown, or another tenant's), the number stays 0 and the row is refused by RLS
-- or by the foreign key; a soft-deleted conversation takes no new messages.
CREATE FUNCTION agentbase.messages_append() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agentbase.conversations c
       SET last_sequence_number = c.last_sequence_number + 1,
           message_count = c.message_count + 1,
           total_tokens = c.total_tokens + greatest(coalesce(NEW.token_count, 0), 0),
           total_cost = c.total_cost + greatest(coalesce(NEW.cost, 0), 0),
           last_message_at = greatest(c.last_message_at, NEW.created_at)
     WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.conversation_id AND c.deleted_at IS NULL
    RETURNING c.last_sequence_number INTO NEW.sequence_number;
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM agentbase.conversations c
                    WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.conversation_id) THEN
            RAISE EXCEPTION 'conversation % is deleted: no message can be added', NEW.conversation_id
                  USING ERRCODE = '23503';
        END IF;
        NEW.sequence_number := 0;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.messages_append() IS
    'BEFORE INSERT trigger: gap-free sequence number per conversation, conversation counters';
CREATE TRIGGER trg_append BEFORE INSERT ON agentbase.messages
    FOR EACH ROW EXECUTE FUNCTION agentbase.messages_append();

CREATE FUNCTION agentbase.messages_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'metadata') IS DISTINCT FROM (to_jsonb(OLD) - 'metadata') THEN
        RAISE EXCEPTION 'messages are immutable: only metadata may change'
              USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.messages_guard() IS 'BEFORE UPDATE trigger: a message may change only its metadata';
CREATE TRIGGER trg_guard BEFORE UPDATE ON agentbase.messages
    FOR EACH ROW EXECUTE FUNCTION agentbase.messages_guard();

SELECT agentbase.enable_tenant_rls('agentbase.messages');
REVOKE DELETE, TRUNCATE ON agentbase.messages FROM agentbase_app;
CREATE TRIGGER trg_audit AFTER UPDATE ON agentbase.messages
    FOR EACH ROW EXECUTE FUNCTION agentbase.audit_trigger('message', 'tenant_id', 'content', 'tool_calls', 'tool_results');

-- ------------------------------------------------------------------------------------
-- tool_executions: one row per tool call of an agent (append-only, monthly partitions)
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.tool_executions (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    agent_id        uuid,
    conversation_id uuid,
    message_id      uuid,
    tool_name       text        NOT NULL,
    input           jsonb       NOT NULL DEFAULT '{}',
    output          jsonb,
    status          text        NOT NULL DEFAULT 'success',
    error_message   text,
    duration_ms     integer,
    started_at      timestamptz,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tool_executions_pkey PRIMARY KEY (tenant_id, id, created_at),
    CONSTRAINT fk_tool_executions_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_tool_executions_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_tool_executions_conversations FOREIGN KEY (tenant_id, conversation_id)
        REFERENCES agentbase.conversations (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT chk_tool_executions_tool_name CHECK (length(btrim(tool_name)) BETWEEN 1 AND 200),
    CONSTRAINT chk_tool_executions_status CHECK (status IN ('pending', 'running', 'success', 'error', 'timeout')),
    CONSTRAINT chk_tool_executions_duration_ms CHECK (duration_ms >= 0),
    CONSTRAINT chk_tool_executions_completed_at CHECK (completed_at IS NULL OR started_at IS NULL
                                                       OR completed_at >= started_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX idx_tool_executions_created_at ON agentbase.tool_executions (tenant_id, created_at DESC);
CREATE INDEX idx_tool_executions_agent_id ON agentbase.tool_executions (tenant_id, agent_id, created_at);
CREATE INDEX idx_tool_executions_conversation_id ON agentbase.tool_executions (tenant_id, conversation_id, created_at);

COMMENT ON TABLE agentbase.tool_executions IS
    'log of tool calls made by agents (append-only, monthly partitions); usually written once the call ends';
COMMENT ON COLUMN agentbase.tool_executions.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.tool_executions.id IS 'execution id (UUID v7)';
COMMENT ON COLUMN agentbase.tool_executions.agent_id IS 'agent that called the tool';
COMMENT ON COLUMN agentbase.tool_executions.conversation_id IS 'conversation of the call';
COMMENT ON COLUMN agentbase.tool_executions.message_id IS 'message that requested the call (no foreign key)';
COMMENT ON COLUMN agentbase.tool_executions.tool_name IS 'name of the tool';
COMMENT ON COLUMN agentbase.tool_executions.input IS 'arguments passed to the tool';
COMMENT ON COLUMN agentbase.tool_executions.output IS 'result returned by the tool';
COMMENT ON COLUMN agentbase.tool_executions.status IS 'pending, running, success, error or timeout';
COMMENT ON COLUMN agentbase.tool_executions.error_message IS 'error text when the call failed';
COMMENT ON COLUMN agentbase.tool_executions.duration_ms IS 'duration of the call, milliseconds';
COMMENT ON COLUMN agentbase.tool_executions.started_at IS 'start of the call';
COMMENT ON COLUMN agentbase.tool_executions.completed_at IS 'end of the call';
COMMENT ON COLUMN agentbase.tool_executions.created_at IS 'time the row was written; partition key';

SELECT agentbase.restrict_app_to_append('agentbase.tool_executions');
SELECT agentbase.ensure_monthly_partitions('agentbase.tool_executions');
SELECT agentbase.enable_tenant_rls('agentbase.tool_executions');

-- ------------------------------------------------------------------------------------
-- generated_content: code, documents and media produced by agents, with versions
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.generated_content (
    tenant_id          uuid        NOT NULL,
    id                 uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    user_id            uuid,
    agent_id           uuid,
    conversation_id    uuid,
    parent_id          uuid,
    content_type       text        NOT NULL,
    title              text        NOT NULL,
    content            text,
    language           text,
    file_name          text,
    file_path          text,
    mime_type          text,
    file_size_bytes    bigint,
    checksum           text,
    version            integer     NOT NULL DEFAULT 1,
    validation_status  text        NOT NULL DEFAULT 'pending',
    validation_errors  jsonb       NOT NULL DEFAULT '[]',
    is_public          boolean     NOT NULL DEFAULT false,
    download_count     bigint      NOT NULL DEFAULT 0,
    is_template        boolean     NOT NULL DEFAULT false,
    template_variables jsonb       NOT NULL DEFAULT '{}',
    tags               text[]      NOT NULL DEFAULT '{}',
    metadata           jsonb       NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz,
    CONSTRAINT generated_content_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_generated_content_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_generated_content_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (user_id),
    CONSTRAINT fk_generated_content_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE SET NULL (agent_id),
    CONSTRAINT fk_generated_content_conversations FOREIGN KEY (tenant_id, conversation_id)
        REFERENCES agentbase.conversations (tenant_id, id) ON DELETE SET NULL (conversation_id),
    CONSTRAINT fk_generated_content_parent FOREIGN KEY (tenant_id, parent_id)
        REFERENCES agentbase.generated_content (tenant_id, id) ON DELETE SET NULL (parent_id),
    CONSTRAINT chk_generated_content_parent_id CHECK (parent_id <> id),
    CONSTRAINT chk_generated_content_content_type CHECK (content_type IN (
        'code', 'document', 'media', 'image', 'diagram', 'data', 'config', 'test', 'other')),
    CONSTRAINT chk_generated_content_title CHECK (length(btrim(title)) BETWEEN 1 AND 500),
    CONSTRAINT chk_generated_content_file_size_bytes CHECK (file_size_bytes >= 0),
    CONSTRAINT chk_generated_content_version CHECK (version > 0),
    CONSTRAINT chk_generated_content_validation_status CHECK (
        validation_status IN ('pending', 'valid', 'invalid', 'skipped')),
    CONSTRAINT chk_generated_content_validation_errors CHECK (jsonb_typeof(validation_errors) = 'array'),
    CONSTRAINT chk_generated_content_download_count CHECK (download_count >= 0),
    CONSTRAINT chk_generated_content_template_variables CHECK (jsonb_typeof(template_variables) IN ('object', 'array')),
    CONSTRAINT chk_generated_content_metadata CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX idx_generated_content_user_id ON agentbase.generated_content (tenant_id, user_id);
CREATE INDEX idx_generated_content_agent_id ON agentbase.generated_content (tenant_id, agent_id);
CREATE INDEX idx_generated_content_conversation_id ON agentbase.generated_content (tenant_id, conversation_id);
CREATE INDEX idx_generated_content_parent_id ON agentbase.generated_content (tenant_id, parent_id);

COMMENT ON TABLE agentbase.generated_content IS
    'content produced by agents (code, documents, media), with versions, file metadata and templates';
COMMENT ON COLUMN agentbase.generated_content.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.generated_content.id IS 'content id';
COMMENT ON COLUMN agentbase.generated_content.user_id IS 'user it was produced for (NULL once that user is deleted)';
COMMENT ON COLUMN agentbase.generated_content.agent_id IS 'agent that produced it (NULL once that agent is deleted)';
COMMENT ON COLUMN agentbase.generated_content.conversation_id IS 'conversation it came from (NULL once deleted)';
COMMENT ON COLUMN agentbase.generated_content.parent_id IS 'previous version of this content';
COMMENT ON COLUMN agentbase.generated_content.content_type IS 'code, document, media, image, diagram, data, config, test or other';
COMMENT ON COLUMN agentbase.generated_content.title IS 'title';
COMMENT ON COLUMN agentbase.generated_content.content IS 'the content itself when stored inline (not copied into audit_logs)';
COMMENT ON COLUMN agentbase.generated_content.language IS 'programming or natural language';
COMMENT ON COLUMN agentbase.generated_content.file_name IS 'file name';
COMMENT ON COLUMN agentbase.generated_content.file_path IS 'path in the file store';
COMMENT ON COLUMN agentbase.generated_content.mime_type IS 'MIME type';
COMMENT ON COLUMN agentbase.generated_content.file_size_bytes IS 'file size, bytes';
COMMENT ON COLUMN agentbase.generated_content.checksum IS 'checksum of the content (e.g. sha256:...)';
COMMENT ON COLUMN agentbase.generated_content.version IS 'version number (> 0)';
COMMENT ON COLUMN agentbase.generated_content.validation_status IS 'pending, valid, invalid or skipped';
COMMENT ON COLUMN agentbase.generated_content.validation_errors IS 'array of validation errors';
COMMENT ON COLUMN agentbase.generated_content.is_public IS 'downloadable by anyone with the link';
COMMENT ON COLUMN agentbase.generated_content.download_count IS 'number of downloads (not audited)';
COMMENT ON COLUMN agentbase.generated_content.is_template IS 'usable as a template';
COMMENT ON COLUMN agentbase.generated_content.template_variables IS 'variables a template expects';
COMMENT ON COLUMN agentbase.generated_content.tags IS 'free tags';
COMMENT ON COLUMN agentbase.generated_content.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.generated_content.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.generated_content.updated_at IS 'last update time (trigger-maintained)';
COMMENT ON COLUMN agentbase.generated_content.deleted_at IS 'soft-delete time; NULL while live';

SELECT agentbase.enable_tenant_rls('agentbase.generated_content');
SELECT agentbase.attach_updated_at('agentbase.generated_content');
SELECT agentbase.attach_audit_except('agentbase.generated_content', 'generated_content',
                                     ARRAY['download_count', 'updated_at'], 'tenant_id', ARRAY['content']);
