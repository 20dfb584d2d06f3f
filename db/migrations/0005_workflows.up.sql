-- Workflows: workflow definitions (a DAG of steps run by agents), their executions and
-- per-step rows, quality gates and their results, tasks (with subtasks), and the
-- orchestration layer: engines, engine assignments, routing strategies, workers and
-- orchestration runs (which strategy, engine and worker ran what).
--
-- Every table here is tenant-scoped and mutable (status transitions), so each gets the
-- standard RLS policies and the audit trigger.

-- ------------------------------------------------------------------------------------
-- Workflow definitions
-- ------------------------------------------------------------------------------------

-- Why a workflow definition is not a valid DAG, or NULL when it is one.
-- Shape: {"nodes": [{"id": "a", ...}, ...], "edges": [{"from": "a", "to": "b"}, ...]};
-- an edge may also name its ends "source"/"target". Node ids are non-empty strings (or
-- numbers), unique; edges join two distinct existing nodes; the edges have no cycle.
CREATE FUNCTION agentbase.workflow_definition_problem(p_definition jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v_nodes text[];
    v_src text[];
    v_dst text[];
    v_bad text;
    v_count int;
    v_from int[];      -- edges as node numbers (positions in v_nodes), by source
    v_to int[];
    v_first int[];     -- v_first[k] .. v_first[k + 1] - 1: the edges leaving node k
    v_indeg int[];     -- edges into each node from nodes not yet taken
    v_queue int[];     -- nodes taken, in order
    v_pos int := 1;
    v_j int;
    v_k int;
BEGIN
    IF p_definition IS NULL OR jsonb_typeof(p_definition) <> 'object' THEN
        RETURN 'definition must be a JSON object';
    END IF;
    IF jsonb_typeof(p_definition -> 'nodes') IS DISTINCT FROM 'array'
       OR jsonb_typeof(p_definition -> 'edges') IS DISTINCT FROM 'array' THEN
        RETURN 'definition must have "nodes" and "edges" arrays';
    END IF;

    IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_definition -> 'nodes') AS n(v)
                WHERE jsonb_typeof(n.v) <> 'object'
                   OR coalesce(jsonb_typeof(n.v -> 'id'), '') NOT IN ('string', 'number')
                   OR n.v ->> 'id' = '') THEN
        RETURN 'every node must be an object with a non-empty "id"';
    END IF;
    SELECT n.v ->> 'id' INTO v_bad
      FROM jsonb_array_elements(p_definition -> 'nodes') AS n(v)
     GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RETURN format('duplicate node id "%s"', v_bad);
    END IF;
    v_nodes := ARRAY(SELECT n.v ->> 'id' FROM jsonb_array_elements(p_definition -> 'nodes') AS n(v));

    IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_definition -> 'edges') AS e(v)
                WHERE jsonb_typeof(e.v) <> 'object'
                   OR coalesce(e.v ->> 'from', e.v ->> 'source') IS NULL
                   OR coalesce(e.v ->> 'to', e.v ->> 'target') IS NULL) THEN
        RETURN 'every edge must be an object with "from" and "to" (or "source" and "target")';
    END IF;
    SELECT array_agg(coalesce(e.v ->> 'from', e.v ->> 'source') ORDER BY e.i),
           array_agg(coalesce(e.v ->> 'to', e.v ->> 'target') ORDER BY e.i)
      INTO v_src, v_dst
      FROM jsonb_array_elements(p_definition -> 'edges') WITH ORDINALITY AS e(v, i);
    SELECT format('edge %s -> %s names an unknown node', e.s, e.d) INTO v_bad
      FROM unnest(v_src, v_dst) WITH ORDINALITY AS e(s, d, i)
      LEFT JOIN unnest(v_nodes) AS a(n) ON a.n = e.s
      LEFT JOIN unnest(v_nodes) AS b(n) ON b.n = e.d
     WHERE a.n IS NULL OR b.n IS NULL
     ORDER BY e.i LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RETURN v_bad;
    END IF;
    SELECT format('edge %s -> %s is a self-loop', e.s, e.d) INTO v_bad
      FROM unnest(v_src, v_dst) AS e(s, d) WHERE e.s = e.d LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RETURN v_bad;
    END IF;

    -- Kahn, on node numbers: take nodes no remaining edge points to, removing their
    -- outgoing edges; nodes never taken lie on (or behind) a cycle. Edges are sorted by
    -- source, and v_first[k] is the first edge of node k, so the walk is linear.
    SELECT coalesce(array_agg(a.i::int ORDER BY a.i, b.i), '{}'),
           coalesce(array_agg(b.i::int ORDER BY a.i, b.i), '{}')
      INTO v_from, v_to
      FROM unnest(v_src, v_dst) AS e(s, d)
      JOIN unnest(v_nodes) WITH ORDINALITY AS a(n, i) ON a.n = e.s
      JOIN unnest(v_nodes) WITH ORDINALITY AS b(n, i) ON b.n = e.d;
    v_count := cardinality(v_nodes);
    v_indeg := array_fill(0, ARRAY[v_count]);
    v_first := array_fill(0, ARRAY[v_count + 1]);
    FOR v_j IN 1 .. cardinality(v_to) LOOP
        v_indeg[v_to[v_j]] := v_indeg[v_to[v_j]] + 1;
        v_first[v_from[v_j] + 1] := v_first[v_from[v_j] + 1] + 1;
    END LOOP;
    v_first[1] := 1;
    FOR v_k IN 2 .. v_count + 1 LOOP
        v_first[v_k] := v_first[v_k] + v_first[v_k - 1];
    END LOOP;
    v_queue := '{}';
    FOR v_k IN 1 .. v_count LOOP
        IF v_indeg[v_k] = 0 THEN
            v_queue := array_append(v_queue, v_k);
        END IF;
    END LOOP;
    WHILE v_pos <= cardinality(v_queue) LOOP
        v_k := v_queue[v_pos];
        FOR v_j IN v_first[v_k] .. v_first[v_k + 1] - 1 LOOP
            v_indeg[v_to[v_j]] := v_indeg[v_to[v_j]] - 1;
            IF v_indeg[v_to[v_j]] = 0 THEN
                v_queue := array_append(v_queue, v_to[v_j]);
            END IF;
        END LOOP;
        v_pos := v_pos + 1;
    END LOOP;
    IF cardinality(v_queue) < cardinality(v_nodes) THEN
        RETURN 'edges form a cycle';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION agentbase.workflow_definition_problem(jsonb) IS
    'why a workflow definition is not a valid DAG (NULL when it is)';

CREATE TABLE agentbase.workflows (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    name text NOT NULL,
    description text,
    definition jsonb NOT NULL DEFAULT '{"nodes": [], "edges": []}',
    agent_ids uuid[] NOT NULL DEFAULT '{}',
    timeout_seconds integer NOT NULL DEFAULT 3600,
    max_retries integer NOT NULL DEFAULT 0,
    retry_delay_seconds integer NOT NULL DEFAULT 60,
    status text NOT NULL DEFAULT 'draft',
    version integer NOT NULL DEFAULT 1,
    is_template boolean NOT NULL DEFAULT false,
    template_id uuid,
    tags text[] NOT NULL DEFAULT '{}',
    metadata jsonb NOT NULL DEFAULT '{}',
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT workflows_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_workflows_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_workflows_workflows FOREIGN KEY (tenant_id, template_id)
        REFERENCES agentbase.workflows (tenant_id, id) ON DELETE SET NULL (template_id),
    CONSTRAINT fk_workflows_users FOREIGN KEY (tenant_id, created_by)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (created_by),
    CONSTRAINT chk_workflows_name CHECK (btrim(name) <> ''),
    CONSTRAINT chk_workflows_definition CHECK (
        jsonb_typeof(definition) = 'object'
        AND coalesce(jsonb_typeof(definition -> 'nodes'), '') = 'array'
        AND coalesce(jsonb_typeof(definition -> 'edges'), '') = 'array'),
    CONSTRAINT chk_workflows_definition_dag CHECK (agentbase.workflow_definition_problem(definition) IS NULL),
    CONSTRAINT chk_workflows_timeout_seconds CHECK (timeout_seconds > 0),
    CONSTRAINT chk_workflows_max_retries CHECK (max_retries >= 0),
    CONSTRAINT chk_workflows_retry_delay_seconds CHECK (retry_delay_seconds >= 0),
    CONSTRAINT chk_workflows_status CHECK (status IN ('draft', 'active', 'paused', 'archived')),
    CONSTRAINT chk_workflows_version CHECK (version > 0),
    CONSTRAINT chk_workflows_template_id CHECK (template_id <> id)
);
CREATE UNIQUE INDEX uq_workflows_name ON agentbase.workflows (tenant_id, name) WHERE deleted_at IS NULL;
CREATE INDEX idx_workflows_template_id ON agentbase.workflows (tenant_id, template_id);
CREATE INDEX idx_workflows_created_by ON agentbase.workflows (tenant_id, created_by);
CREATE INDEX idx_workflows_agent_ids ON agentbase.workflows USING gin (agent_ids);

COMMENT ON TABLE agentbase.workflows IS 'workflow definitions: a DAG of steps run by agents, with timeout and retry policy';
COMMENT ON COLUMN agentbase.workflows.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.workflows.id IS 'workflow id (UUID v7)';
COMMENT ON COLUMN agentbase.workflows.name IS 'name, unique in the tenant among workflows not deleted';
COMMENT ON COLUMN agentbase.workflows.description IS 'free-text description';
COMMENT ON COLUMN agentbase.workflows.definition IS 'the DAG: {"nodes":[{"id":..}], "edges":[{"from":..,"to":..}]}, checked acyclic';
COMMENT ON COLUMN agentbase.workflows.agent_ids IS 'agents involved in the workflow (not foreign keys)';
COMMENT ON COLUMN agentbase.workflows.timeout_seconds IS 'maximum run time of one execution, seconds (> 0)';
COMMENT ON COLUMN agentbase.workflows.max_retries IS 'how many times a failed execution is retried (>= 0)';
COMMENT ON COLUMN agentbase.workflows.retry_delay_seconds IS 'delay before a retry, seconds (>= 0)';
COMMENT ON COLUMN agentbase.workflows.status IS 'draft, active, paused or archived';
COMMENT ON COLUMN agentbase.workflows.version IS 'definition version (> 0), copied into each execution';
COMMENT ON COLUMN agentbase.workflows.is_template IS 'true when the workflow is a template for others';
COMMENT ON COLUMN agentbase.workflows.template_id IS 'template this workflow was created from (NULL when deleted)';
COMMENT ON COLUMN agentbase.workflows.tags IS 'free-form tags';
COMMENT ON COLUMN agentbase.workflows.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.workflows.created_by IS 'user who created the workflow (NULL when deleted)';
COMMENT ON COLUMN agentbase.workflows.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.workflows.updated_at IS 'last update time (trigger-maintained)';
COMMENT ON COLUMN agentbase.workflows.deleted_at IS 'soft-delete time; NULL while live';

SELECT agentbase.enable_tenant_rls('agentbase.workflows');
SELECT agentbase.attach_updated_at('agentbase.workflows');
SELECT agentbase.attach_audit('agentbase.workflows', 'workflow');

-- ------------------------------------------------------------------------------------
-- Executions
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.workflow_executions (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    workflow_id uuid NOT NULL,
    workflow_version integer NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    input jsonb NOT NULL DEFAULT '{}',
    output jsonb NOT NULL DEFAULT '{}',
    error text,
    triggered_by text NOT NULL DEFAULT 'manual',
    triggered_by_user_id uuid,
    started_at timestamptz,
    completed_at timestamptz,
    duration_ms bigint,
    retry_count integer NOT NULL DEFAULT 0,
    context jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_executions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_workflow_executions_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_workflow_executions_workflows FOREIGN KEY (tenant_id, workflow_id)
        REFERENCES agentbase.workflows (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_workflow_executions_users FOREIGN KEY (tenant_id, triggered_by_user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (triggered_by_user_id),
    CONSTRAINT chk_workflow_executions_workflow_version CHECK (workflow_version > 0),
    CONSTRAINT chk_workflow_executions_status CHECK (
        status IN ('pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out')),
    CONSTRAINT chk_workflow_executions_triggered_by CHECK (
        triggered_by IN ('manual', 'api', 'schedule', 'event', 'webhook', 'workflow', 'retry')),
    CONSTRAINT chk_workflow_executions_completed_at CHECK (completed_at >= started_at),
    CONSTRAINT chk_workflow_executions_duration_ms CHECK (duration_ms >= 0),
    CONSTRAINT chk_workflow_executions_retry_count CHECK (retry_count >= 0)
);
CREATE INDEX idx_workflow_executions_workflow_id_created_at
    ON agentbase.workflow_executions (tenant_id, workflow_id, created_at DESC);
CREATE INDEX idx_workflow_executions_triggered_by_user_id
    ON agentbase.workflow_executions (tenant_id, triggered_by_user_id);
CREATE INDEX idx_workflow_executions_status
    ON agentbase.workflow_executions (tenant_id, status, created_at)
    WHERE status IN ('pending', 'running');

COMMENT ON TABLE agentbase.workflow_executions IS 'one run of a workflow';
COMMENT ON COLUMN agentbase.workflow_executions.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.workflow_executions.id IS 'execution id (UUID v7)';
COMMENT ON COLUMN agentbase.workflow_executions.workflow_id IS 'workflow executed';
COMMENT ON COLUMN agentbase.workflow_executions.workflow_version IS 'workflow version executed (defaults to the workflow''s current version)';
COMMENT ON COLUMN agentbase.workflow_executions.status IS 'pending, running, completed, failed, cancelled or timed_out';
COMMENT ON COLUMN agentbase.workflow_executions.input IS 'input given to the execution';
COMMENT ON COLUMN agentbase.workflow_executions.output IS 'output of the execution';
COMMENT ON COLUMN agentbase.workflow_executions.error IS 'error message when failed';
COMMENT ON COLUMN agentbase.workflow_executions.triggered_by IS 'how it started: manual, api, schedule, event, webhook, workflow or retry';
COMMENT ON COLUMN agentbase.workflow_executions.triggered_by_user_id IS 'user who started it, if any (NULL when deleted)';
COMMENT ON COLUMN agentbase.workflow_executions.started_at IS 'when it started running';
COMMENT ON COLUMN agentbase.workflow_executions.completed_at IS 'when it ended (not before started_at)';
COMMENT ON COLUMN agentbase.workflow_executions.duration_ms IS 'run time, milliseconds (>= 0)';
COMMENT ON COLUMN agentbase.workflow_executions.retry_count IS 'retries so far (>= 0)';
COMMENT ON COLUMN agentbase.workflow_executions.context IS 'execution state shared between steps';
COMMENT ON COLUMN agentbase.workflow_executions.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.workflow_executions.updated_at IS 'last update time (trigger-maintained)';

-- An execution runs the workflow's current version unless told otherwise.
CREATE FUNCTION agentbase.workflow_executions_fill_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.workflow_version IS NULL THEN
        SELECT w.version INTO NEW.workflow_version
          FROM agentbase.workflows w
         WHERE w.tenant_id = NEW.tenant_id AND w.id = NEW.workflow_id;
        -- A row for another tenant than the caller's is RLS's to refuse (42501): say nothing
        -- about that tenant's workflows, not even that one is missing.
        IF NOT FOUND AND NEW.tenant_id IS NOT DISTINCT FROM
                         coalesce(agentbase.current_tenant_id(), NEW.tenant_id) THEN
            -- What the foreign key would say, before NOT NULL can say something less useful.
            RAISE EXCEPTION 'workflow % does not exist', NEW.workflow_id
                  USING ERRCODE = '23503', CONSTRAINT = 'fk_workflow_executions_workflows';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.workflow_executions_fill_version() IS
    'BEFORE INSERT trigger: workflow_version defaults to the workflow''s version';
CREATE TRIGGER trg_fill_version BEFORE INSERT ON agentbase.workflow_executions
    FOR EACH ROW EXECUTE FUNCTION agentbase.workflow_executions_fill_version();

SELECT agentbase.enable_tenant_rls('agentbase.workflow_executions');
SELECT agentbase.attach_updated_at('agentbase.workflow_executions');
SELECT agentbase.attach_audit('agentbase.workflow_executions', 'workflow_execution');

CREATE TABLE agentbase.workflow_step_executions (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    execution_id uuid NOT NULL,
    step_id text NOT NULL,
    step_name text,
    agent_id uuid,
    status text NOT NULL DEFAULT 'pending',
    input jsonb NOT NULL DEFAULT '{}',
    output jsonb NOT NULL DEFAULT '{}',
    error text,
    attempt integer NOT NULL DEFAULT 1,
    started_at timestamptz,
    completed_at timestamptz,
    duration_ms bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_step_executions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_workflow_step_executions_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_workflow_step_executions_workflow_executions FOREIGN KEY (tenant_id, execution_id)
        REFERENCES agentbase.workflow_executions (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_workflow_step_executions_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE SET NULL (agent_id),
    CONSTRAINT uq_workflow_step_executions_execution_id_step_id_attempt
        UNIQUE (tenant_id, execution_id, step_id, attempt),
    CONSTRAINT chk_workflow_step_executions_step_id CHECK (step_id <> ''),
    CONSTRAINT chk_workflow_step_executions_status CHECK (
        status IN ('pending', 'running', 'completed', 'failed', 'skipped', 'cancelled')),
    CONSTRAINT chk_workflow_step_executions_attempt CHECK (attempt > 0),
    CONSTRAINT chk_workflow_step_executions_completed_at CHECK (completed_at >= started_at),
    CONSTRAINT chk_workflow_step_executions_duration_ms CHECK (duration_ms >= 0)
);
CREATE INDEX idx_workflow_step_executions_agent_id
    ON agentbase.workflow_step_executions (tenant_id, agent_id);

COMMENT ON TABLE agentbase.workflow_step_executions IS 'one attempt of one step (DAG node) within a workflow execution';
COMMENT ON COLUMN agentbase.workflow_step_executions.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.workflow_step_executions.id IS 'step execution id (UUID v7)';
COMMENT ON COLUMN agentbase.workflow_step_executions.execution_id IS 'workflow execution this step belongs to';
COMMENT ON COLUMN agentbase.workflow_step_executions.step_id IS 'node id of the step in the workflow definition';
COMMENT ON COLUMN agentbase.workflow_step_executions.step_name IS 'display name of the step';
COMMENT ON COLUMN agentbase.workflow_step_executions.agent_id IS 'agent that ran the step (NULL when deleted)';
COMMENT ON COLUMN agentbase.workflow_step_executions.status IS 'pending, running, completed, failed, skipped or cancelled';
COMMENT ON COLUMN agentbase.workflow_step_executions.input IS 'input given to the step';
COMMENT ON COLUMN agentbase.workflow_step_executions.output IS 'output of the step';
COMMENT ON COLUMN agentbase.workflow_step_executions.error IS 'error message when failed';
COMMENT ON COLUMN agentbase.workflow_step_executions.attempt IS 'attempt number, from 1; unique per execution and step';
COMMENT ON COLUMN agentbase.workflow_step_executions.started_at IS 'when the attempt started';
COMMENT ON COLUMN agentbase.workflow_step_executions.completed_at IS 'when the attempt ended (not before started_at)';
COMMENT ON COLUMN agentbase.workflow_step_executions.duration_ms IS 'run time, milliseconds (>= 0)';
COMMENT ON COLUMN agentbase.workflow_step_executions.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.workflow_step_executions.updated_at IS 'last update time (trigger-maintained)';

SELECT agentbase.enable_tenant_rls('agentbase.workflow_step_executions');
SELECT agentbase.attach_updated_at('agentbase.workflow_step_executions');
SELECT agentbase.attach_audit('agentbase.workflow_step_executions', 'workflow_step_execution');

-- ------------------------------------------------------------------------------------
-- Quality gates
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.quality_gates (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    workflow_id uuid,
    name text NOT NULL,
    description text,
    gate_type text NOT NULL,
    criteria jsonb NOT NULL DEFAULT '{}',
    threshold numeric(5,4) NOT NULL DEFAULT 0.8,
    is_blocking boolean NOT NULL DEFAULT true,
    status text NOT NULL DEFAULT 'active',
    last_status text,
    last_score numeric(5,4),
    last_evaluated_at timestamptz,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quality_gates_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_quality_gates_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_quality_gates_workflows FOREIGN KEY (tenant_id, workflow_id)
        REFERENCES agentbase.workflows (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_quality_gates_workflow_id_name UNIQUE NULLS NOT DISTINCT (tenant_id, workflow_id, name),
    CONSTRAINT chk_quality_gates_name CHECK (btrim(name) <> ''),
    CONSTRAINT chk_quality_gates_gate_type CHECK (
        gate_type IN ('code_review', 'test_coverage', 'security_scan', 'performance', 'lint',
                      'accuracy', 'manual_approval', 'custom')),
    CONSTRAINT chk_quality_gates_threshold CHECK (threshold BETWEEN 0 AND 1),
    CONSTRAINT chk_quality_gates_status CHECK (status IN ('active', 'disabled', 'archived')),
    CONSTRAINT chk_quality_gates_last_status CHECK (
        last_status IN ('pending', 'passed', 'failed', 'warning', 'skipped', 'error')),
    CONSTRAINT chk_quality_gates_last_score CHECK (last_score BETWEEN 0 AND 1)
);

COMMENT ON TABLE agentbase.quality_gates IS 'quality gates: checks a workflow''s output must pass (per workflow or tenant-wide)';
COMMENT ON COLUMN agentbase.quality_gates.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.quality_gates.id IS 'gate id (UUID v7)';
COMMENT ON COLUMN agentbase.quality_gates.workflow_id IS 'workflow the gate applies to; NULL for a tenant-wide gate';
COMMENT ON COLUMN agentbase.quality_gates.name IS 'name, unique per workflow (and among tenant-wide gates)';
COMMENT ON COLUMN agentbase.quality_gates.description IS 'free-text description';
COMMENT ON COLUMN agentbase.quality_gates.gate_type IS 'code_review, test_coverage, security_scan, performance, lint, accuracy, manual_approval or custom';
COMMENT ON COLUMN agentbase.quality_gates.criteria IS 'gate-specific criteria';
COMMENT ON COLUMN agentbase.quality_gates.threshold IS 'minimum score to pass, 0..1';
COMMENT ON COLUMN agentbase.quality_gates.is_blocking IS 'true when failing the gate stops the workflow';
COMMENT ON COLUMN agentbase.quality_gates.status IS 'active, disabled or archived';
COMMENT ON COLUMN agentbase.quality_gates.last_status IS 'status of the latest result (trigger-maintained from quality_gate_results)';
COMMENT ON COLUMN agentbase.quality_gates.last_score IS 'score 0..1 of the latest result (trigger-maintained)';
COMMENT ON COLUMN agentbase.quality_gates.last_evaluated_at IS 'evaluation time of the latest result (trigger-maintained)';
COMMENT ON COLUMN agentbase.quality_gates.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.quality_gates.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.quality_gates.updated_at IS 'last update time (trigger-maintained)';

SELECT agentbase.enable_tenant_rls('agentbase.quality_gates');
SELECT agentbase.attach_updated_at('agentbase.quality_gates');
SELECT agentbase.attach_audit('agentbase.quality_gates', 'quality_gate');

-- ------------------------------------------------------------------------------------
-- Tasks (declared before the gate results that may point at them)
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.tasks (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    title text NOT NULL,
    description text,
    task_type text NOT NULL DEFAULT 'general',
    status text NOT NULL DEFAULT 'pending',
    priority text NOT NULL DEFAULT 'medium',
    parent_task_id uuid,
    workflow_execution_id uuid,
    assigned_agent_ids uuid[] NOT NULL DEFAULT '{}',
    assigned_user_id uuid,
    created_by uuid,
    result jsonb NOT NULL DEFAULT '{}',
    error text,
    scheduled_at timestamptz,
    due_at timestamptz,
    started_at timestamptz,
    completed_at timestamptz,
    estimated_hours numeric(10,2),
    actual_hours numeric(10,2),
    dependencies uuid[] NOT NULL DEFAULT '{}',
    tags text[] NOT NULL DEFAULT '{}',
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tasks_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_tasks_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_tasks_tasks FOREIGN KEY (tenant_id, parent_task_id)
        REFERENCES agentbase.tasks (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_tasks_workflow_executions FOREIGN KEY (tenant_id, workflow_execution_id)
        REFERENCES agentbase.workflow_executions (tenant_id, id) ON DELETE SET NULL (workflow_execution_id),
    CONSTRAINT fk_tasks_users_assigned_user FOREIGN KEY (tenant_id, assigned_user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (assigned_user_id),
    CONSTRAINT fk_tasks_users_created_by FOREIGN KEY (tenant_id, created_by)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (created_by),
    CONSTRAINT chk_tasks_title CHECK (btrim(title) <> ''),
    CONSTRAINT chk_tasks_task_type CHECK (task_type <> ''),
    CONSTRAINT chk_tasks_status CHECK (
        status IN ('pending', 'assigned', 'in_progress', 'blocked', 'review', 'completed',
                   'failed', 'cancelled')),
    CONSTRAINT chk_tasks_priority CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    CONSTRAINT chk_tasks_parent_task_id CHECK (parent_task_id <> id),
    CONSTRAINT chk_tasks_due_at CHECK (due_at >= scheduled_at),
    CONSTRAINT chk_tasks_completed_at CHECK (completed_at >= started_at),
    CONSTRAINT chk_tasks_estimated_hours CHECK (estimated_hours >= 0),
    CONSTRAINT chk_tasks_actual_hours CHECK (actual_hours >= 0),
    CONSTRAINT chk_tasks_dependencies CHECK (NOT (id = ANY (dependencies)))
);
CREATE INDEX idx_tasks_parent_task_id ON agentbase.tasks (tenant_id, parent_task_id);
CREATE INDEX idx_tasks_workflow_execution_id ON agentbase.tasks (tenant_id, workflow_execution_id);
CREATE INDEX idx_tasks_assigned_user_id ON agentbase.tasks (tenant_id, assigned_user_id);
CREATE INDEX idx_tasks_created_by ON agentbase.tasks (tenant_id, created_by);
CREATE INDEX idx_tasks_status_due_at ON agentbase.tasks (tenant_id, status, due_at);
CREATE INDEX idx_tasks_assigned_agent_ids ON agentbase.tasks USING gin (assigned_agent_ids);
CREATE INDEX idx_tasks_dependencies ON agentbase.tasks USING gin (dependencies);

COMMENT ON TABLE agentbase.tasks IS 'units of work for agents and users, with subtasks, dependencies and scheduling';
COMMENT ON COLUMN agentbase.tasks.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.tasks.id IS 'task id (UUID v7)';
COMMENT ON COLUMN agentbase.tasks.title IS 'short title';
COMMENT ON COLUMN agentbase.tasks.description IS 'free-text description';
COMMENT ON COLUMN agentbase.tasks.task_type IS 'kind of task (free text, e.g. code, review, research)';
COMMENT ON COLUMN agentbase.tasks.status IS 'pending, assigned, in_progress, blocked, review, completed, failed or cancelled';
COMMENT ON COLUMN agentbase.tasks.priority IS 'low, medium, high or critical';
COMMENT ON COLUMN agentbase.tasks.parent_task_id IS 'parent task of a subtask (deleting the parent deletes its subtasks)';
COMMENT ON COLUMN agentbase.tasks.workflow_execution_id IS 'workflow execution the task belongs to (NULL when deleted)';
COMMENT ON COLUMN agentbase.tasks.assigned_agent_ids IS 'agents assigned to the task (GIN-indexed; not foreign keys)';
COMMENT ON COLUMN agentbase.tasks.assigned_user_id IS 'user assigned to the task (NULL when deleted)';
COMMENT ON COLUMN agentbase.tasks.created_by IS 'user who created the task (NULL when deleted)';
COMMENT ON COLUMN agentbase.tasks.result IS 'result of the task';
COMMENT ON COLUMN agentbase.tasks.error IS 'error message when failed';
COMMENT ON COLUMN agentbase.tasks.scheduled_at IS 'when the task should start';
COMMENT ON COLUMN agentbase.tasks.due_at IS 'deadline (not before scheduled_at)';
COMMENT ON COLUMN agentbase.tasks.started_at IS 'when work started';
COMMENT ON COLUMN agentbase.tasks.completed_at IS 'when the task ended (not before started_at)';
COMMENT ON COLUMN agentbase.tasks.estimated_hours IS 'estimated effort, hours (>= 0)';
COMMENT ON COLUMN agentbase.tasks.actual_hours IS 'actual effort, hours (>= 0)';
COMMENT ON COLUMN agentbase.tasks.dependencies IS 'ids of tasks that must complete first (GIN-indexed; not foreign keys)';
COMMENT ON COLUMN agentbase.tasks.tags IS 'free-form tags';
COMMENT ON COLUMN agentbase.tasks.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.tasks.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.tasks.updated_at IS 'last update time (trigger-maintained)';

SELECT agentbase.enable_tenant_rls('agentbase.tasks');
SELECT agentbase.attach_updated_at('agentbase.tasks');
SELECT agentbase.attach_audit('agentbase.tasks', 'task');

CREATE TABLE agentbase.quality_gate_results (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    quality_gate_id uuid NOT NULL,
    workflow_execution_id uuid,
    task_id uuid,
    status text NOT NULL DEFAULT 'pending',
    score numeric(5,4),
    details jsonb NOT NULL DEFAULT '{}',
    evaluated_by uuid,
    evaluated_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quality_gate_results_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_quality_gate_results_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_quality_gate_results_quality_gates FOREIGN KEY (tenant_id, quality_gate_id)
        REFERENCES agentbase.quality_gates (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_quality_gate_results_workflow_executions FOREIGN KEY (tenant_id, workflow_execution_id)
        REFERENCES agentbase.workflow_executions (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_quality_gate_results_tasks FOREIGN KEY (tenant_id, task_id)
        REFERENCES agentbase.tasks (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_quality_gate_results_users FOREIGN KEY (tenant_id, evaluated_by)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (evaluated_by),
    CONSTRAINT chk_quality_gate_results_status CHECK (
        status IN ('pending', 'passed', 'failed', 'warning', 'skipped', 'error')),
    CONSTRAINT chk_quality_gate_results_score CHECK (score BETWEEN 0 AND 1)
);
CREATE INDEX idx_quality_gate_results_quality_gate_id_evaluated_at
    ON agentbase.quality_gate_results (tenant_id, quality_gate_id, evaluated_at DESC);
CREATE INDEX idx_quality_gate_results_workflow_execution_id
    ON agentbase.quality_gate_results (tenant_id, workflow_execution_id);
CREATE INDEX idx_quality_gate_results_task_id ON agentbase.quality_gate_results (tenant_id, task_id);
CREATE INDEX idx_quality_gate_results_evaluated_by ON agentbase.quality_gate_results (tenant_id, evaluated_by);

COMMENT ON TABLE agentbase.quality_gate_results IS 'evaluations of a quality gate (for an execution or a task)';
COMMENT ON COLUMN agentbase.quality_gate_results.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.quality_gate_results.id IS 'result id (UUID v7)';
COMMENT ON COLUMN agentbase.quality_gate_results.quality_gate_id IS 'gate evaluated';
COMMENT ON COLUMN agentbase.quality_gate_results.workflow_execution_id IS 'execution evaluated, if any';
COMMENT ON COLUMN agentbase.quality_gate_results.task_id IS 'task evaluated, if any';
COMMENT ON COLUMN agentbase.quality_gate_results.status IS 'pending, passed, failed, warning, skipped or error';
COMMENT ON COLUMN agentbase.quality_gate_results.score IS 'score 0..1 (compared with the gate''s threshold)';
COMMENT ON COLUMN agentbase.quality_gate_results.details IS 'findings, metrics, reviewer notes';
COMMENT ON COLUMN agentbase.quality_gate_results.evaluated_by IS 'user who approved or rejected (manual gates; NULL when deleted)';
COMMENT ON COLUMN agentbase.quality_gate_results.evaluated_at IS 'evaluation time';
COMMENT ON COLUMN agentbase.quality_gate_results.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.quality_gate_results.updated_at IS 'last update time (trigger-maintained)';

-- Copies a result into its gate's last_* columns unless the gate already holds a later one.
CREATE FUNCTION agentbase.quality_gate_results_update_gate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agentbase.quality_gates g
       SET last_status = NEW.status, last_score = NEW.score, last_evaluated_at = NEW.evaluated_at
     WHERE g.tenant_id = NEW.tenant_id AND g.id = NEW.quality_gate_id
       AND (g.last_evaluated_at IS NULL OR g.last_evaluated_at <= NEW.evaluated_at);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION agentbase.quality_gate_results_update_gate() IS
    'AFTER trigger: keeps quality_gates.last_status/last_score/last_evaluated_at on the latest result';
CREATE TRIGGER trg_update_gate AFTER INSERT OR UPDATE OF status, score, evaluated_at
    ON agentbase.quality_gate_results
    FOR EACH ROW EXECUTE FUNCTION agentbase.quality_gate_results_update_gate();

SELECT agentbase.enable_tenant_rls('agentbase.quality_gate_results');
SELECT agentbase.attach_updated_at('agentbase.quality_gate_results');
SELECT agentbase.attach_audit('agentbase.quality_gate_results', 'quality_gate_result');

-- ------------------------------------------------------------------------------------
-- Orchestration: engines, assignments, routing strategies, workers, runs
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.engines (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    name text NOT NULL,
    description text,
    engine_type text NOT NULL,
    status text NOT NULL DEFAULT 'active',
    capabilities text[] NOT NULL DEFAULT '{}',
    config jsonb NOT NULL DEFAULT '{}',
    capacity integer NOT NULL DEFAULT 10,
    current_load integer NOT NULL DEFAULT 0,
    endpoint text,
    last_heartbeat_at timestamptz,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT engines_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_engines_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT uq_engines_name UNIQUE (tenant_id, name),
    CONSTRAINT chk_engines_name CHECK (btrim(name) <> ''),
    CONSTRAINT chk_engines_engine_type CHECK (
        engine_type IN ('orchestrator', 'llm', 'tool', 'retrieval', 'code_execution', 'custom')),
    CONSTRAINT chk_engines_status CHECK (status IN ('active', 'inactive', 'maintenance', 'error')),
    CONSTRAINT chk_engines_capacity CHECK (capacity > 0),
    CONSTRAINT chk_engines_current_load CHECK (current_load >= 0)
);

COMMENT ON TABLE agentbase.engines IS 'execution engines (orchestrators, LLM backends, tool runners) that run agents and workflows';
COMMENT ON COLUMN agentbase.engines.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.engines.id IS 'engine id (UUID v7)';
COMMENT ON COLUMN agentbase.engines.name IS 'name, unique in the tenant';
COMMENT ON COLUMN agentbase.engines.description IS 'free-text description';
COMMENT ON COLUMN agentbase.engines.engine_type IS 'orchestrator, llm, tool, retrieval, code_execution or custom';
COMMENT ON COLUMN agentbase.engines.status IS 'active, inactive, maintenance or error';
COMMENT ON COLUMN agentbase.engines.capabilities IS 'capabilities offered, matched by capability routing';
COMMENT ON COLUMN agentbase.engines.config IS 'engine-specific configuration';
COMMENT ON COLUMN agentbase.engines.capacity IS 'concurrent jobs the engine accepts (> 0)';
COMMENT ON COLUMN agentbase.engines.current_load IS 'jobs running now (>= 0; may exceed capacity when overcommitted)';
COMMENT ON COLUMN agentbase.engines.endpoint IS 'where the engine is reached (URL)';
COMMENT ON COLUMN agentbase.engines.last_heartbeat_at IS 'last heartbeat received';
COMMENT ON COLUMN agentbase.engines.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.engines.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.engines.updated_at IS 'last update time (trigger-maintained)';

SELECT agentbase.enable_tenant_rls('agentbase.engines');
SELECT agentbase.attach_updated_at('agentbase.engines');
SELECT agentbase.attach_audit('agentbase.engines', 'engine');

CREATE TABLE agentbase.engine_assignments (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    engine_id uuid NOT NULL,
    agent_id uuid,
    workflow_id uuid,
    priority integer NOT NULL DEFAULT 0,
    is_active boolean NOT NULL DEFAULT true,
    config jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT engine_assignments_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_engine_assignments_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_engine_assignments_engines FOREIGN KEY (tenant_id, engine_id)
        REFERENCES agentbase.engines (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_engine_assignments_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_engine_assignments_workflows FOREIGN KEY (tenant_id, workflow_id)
        REFERENCES agentbase.workflows (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_engine_assignments_engine_id_agent_id UNIQUE (tenant_id, engine_id, agent_id),
    CONSTRAINT uq_engine_assignments_engine_id_workflow_id UNIQUE (tenant_id, engine_id, workflow_id),
    CONSTRAINT chk_engine_assignments_target CHECK (num_nonnulls(agent_id, workflow_id) = 1),
    CONSTRAINT chk_engine_assignments_priority CHECK (priority >= 0)
);
CREATE INDEX idx_engine_assignments_agent_id ON agentbase.engine_assignments (tenant_id, agent_id);
CREATE INDEX idx_engine_assignments_workflow_id ON agentbase.engine_assignments (tenant_id, workflow_id);

COMMENT ON TABLE agentbase.engine_assignments IS 'which engine runs an agent or a workflow (exactly one of the two)';
COMMENT ON COLUMN agentbase.engine_assignments.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.engine_assignments.id IS 'assignment id (UUID v7)';
COMMENT ON COLUMN agentbase.engine_assignments.engine_id IS 'engine assigned';
COMMENT ON COLUMN agentbase.engine_assignments.agent_id IS 'agent assigned to the engine (or NULL when workflow_id is set)';
COMMENT ON COLUMN agentbase.engine_assignments.workflow_id IS 'workflow assigned to the engine (or NULL when agent_id is set)';
COMMENT ON COLUMN agentbase.engine_assignments.priority IS 'preference among engines of the same agent or workflow, higher first (>= 0)';
COMMENT ON COLUMN agentbase.engine_assignments.is_active IS 'false to keep the assignment but not use it';
COMMENT ON COLUMN agentbase.engine_assignments.config IS 'per-assignment engine settings';
COMMENT ON COLUMN agentbase.engine_assignments.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.engine_assignments.updated_at IS 'last update time (trigger-maintained)';

SELECT agentbase.enable_tenant_rls('agentbase.engine_assignments');
SELECT agentbase.attach_updated_at('agentbase.engine_assignments');
SELECT agentbase.attach_audit('agentbase.engine_assignments', 'engine_assignment');

CREATE TABLE agentbase.routing_strategies (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    name text NOT NULL,
    description text,
    strategy_type text NOT NULL,
    rules jsonb NOT NULL DEFAULT '{}',
    weights jsonb NOT NULL DEFAULT '{}',
    is_default boolean NOT NULL DEFAULT false,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT routing_strategies_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_routing_strategies_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT uq_routing_strategies_name UNIQUE (tenant_id, name),
    CONSTRAINT chk_routing_strategies_name CHECK (btrim(name) <> ''),
    CONSTRAINT chk_routing_strategies_strategy_type CHECK (
        strategy_type IN ('round_robin', 'least_loaded', 'priority', 'capability_match',
                          'cost_optimized', 'latency_optimized', 'custom')),
    CONSTRAINT chk_routing_strategies_is_default CHECK (is_active OR NOT is_default)
);
CREATE UNIQUE INDEX uq_routing_strategies_is_default ON agentbase.routing_strategies (tenant_id)
    WHERE is_default;

COMMENT ON TABLE agentbase.routing_strategies IS 'how work is routed to engines and workers; at most one default per tenant';
COMMENT ON COLUMN agentbase.routing_strategies.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.routing_strategies.id IS 'strategy id (UUID v7)';
COMMENT ON COLUMN agentbase.routing_strategies.name IS 'name, unique in the tenant';
COMMENT ON COLUMN agentbase.routing_strategies.description IS 'free-text description';
COMMENT ON COLUMN agentbase.routing_strategies.strategy_type IS 'round_robin, least_loaded, priority, capability_match, cost_optimized, latency_optimized or custom';
COMMENT ON COLUMN agentbase.routing_strategies.rules IS 'routing rules (filters, fallbacks)';
COMMENT ON COLUMN agentbase.routing_strategies.weights IS 'weights of the scoring factors';
COMMENT ON COLUMN agentbase.routing_strategies.is_default IS 'the tenant''s default strategy (at most one; must be active)';
COMMENT ON COLUMN agentbase.routing_strategies.is_active IS 'false to keep the strategy but not use it';
COMMENT ON COLUMN agentbase.routing_strategies.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.routing_strategies.updated_at IS 'last update time (trigger-maintained)';

SELECT agentbase.enable_tenant_rls('agentbase.routing_strategies');
SELECT agentbase.attach_updated_at('agentbase.routing_strategies');
SELECT agentbase.attach_audit('agentbase.routing_strategies', 'routing_strategy');

CREATE TABLE agentbase.workers (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    engine_id uuid,
    name text NOT NULL,
    worker_type text NOT NULL DEFAULT 'general',
    status text NOT NULL DEFAULT 'idle',
    capacity integer NOT NULL DEFAULT 1,
    current_load integer NOT NULL DEFAULT 0,
    capabilities text[] NOT NULL DEFAULT '{}',
    host text,
    last_heartbeat_at timestamptz,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workers_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_workers_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_workers_engines FOREIGN KEY (tenant_id, engine_id)
        REFERENCES agentbase.engines (tenant_id, id) ON DELETE SET NULL (engine_id),
    CONSTRAINT uq_workers_name UNIQUE (tenant_id, name),
    CONSTRAINT chk_workers_name CHECK (btrim(name) <> ''),
    CONSTRAINT chk_workers_worker_type CHECK (worker_type <> ''),
    CONSTRAINT chk_workers_status CHECK (status IN ('idle', 'busy', 'offline', 'draining', 'error')),
    CONSTRAINT chk_workers_capacity CHECK (capacity > 0),
    CONSTRAINT chk_workers_current_load CHECK (current_load >= 0 AND current_load <= capacity)
);
CREATE INDEX idx_workers_engine_id ON agentbase.workers (tenant_id, engine_id);
-- The stale-worker sweep (across tenants) looks for old heartbeats of workers not offline.
CREATE INDEX idx_workers_last_heartbeat_at ON agentbase.workers (last_heartbeat_at)
    WHERE status <> 'offline';

COMMENT ON TABLE agentbase.workers IS 'worker processes that execute jobs, with capacity, load and heartbeat';
COMMENT ON COLUMN agentbase.workers.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.workers.id IS 'worker id (UUID v7)';
COMMENT ON COLUMN agentbase.workers.engine_id IS 'engine whose pool the worker belongs to, if any (NULL when deleted)';
COMMENT ON COLUMN agentbase.workers.name IS 'name, unique in the tenant';
COMMENT ON COLUMN agentbase.workers.worker_type IS 'kind of worker (free text, e.g. agent_runner, tool_runner)';
COMMENT ON COLUMN agentbase.workers.status IS 'idle, busy, offline, draining or error';
COMMENT ON COLUMN agentbase.workers.capacity IS 'concurrent jobs the worker accepts (> 0)';
COMMENT ON COLUMN agentbase.workers.current_load IS 'jobs running now, 0..capacity';
COMMENT ON COLUMN agentbase.workers.capabilities IS 'capabilities offered, matched by capability routing';
COMMENT ON COLUMN agentbase.workers.host IS 'host the worker runs on';
COMMENT ON COLUMN agentbase.workers.last_heartbeat_at IS 'last heartbeat received (indexed to find stale workers)';
COMMENT ON COLUMN agentbase.workers.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.workers.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.workers.updated_at IS 'last update time (trigger-maintained)';

SELECT agentbase.enable_tenant_rls('agentbase.workers');
SELECT agentbase.attach_updated_at('agentbase.workers');
SELECT agentbase.attach_audit('agentbase.workers', 'worker');

-- A routing decision and its outcome. Mutable (pending -> running -> completed), so a
-- plain table rather than a partitioned append-only log.
CREATE TABLE agentbase.orchestration_runs (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    workflow_execution_id uuid,
    step_execution_id uuid,
    task_id uuid,
    routing_strategy_id uuid,
    engine_id uuid,
    worker_id uuid,
    agent_id uuid,
    status text NOT NULL DEFAULT 'pending',
    attempt integer NOT NULL DEFAULT 1,
    decision jsonb NOT NULL DEFAULT '{}',
    error text,
    queued_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    completed_at timestamptz,
    duration_ms bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orchestration_runs_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_orchestration_runs_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_orchestration_runs_workflow_executions FOREIGN KEY (tenant_id, workflow_execution_id)
        REFERENCES agentbase.workflow_executions (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_orchestration_runs_workflow_step_executions FOREIGN KEY (tenant_id, step_execution_id)
        REFERENCES agentbase.workflow_step_executions (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_orchestration_runs_tasks FOREIGN KEY (tenant_id, task_id)
        REFERENCES agentbase.tasks (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_orchestration_runs_routing_strategies FOREIGN KEY (tenant_id, routing_strategy_id)
        REFERENCES agentbase.routing_strategies (tenant_id, id) ON DELETE SET NULL (routing_strategy_id),
    CONSTRAINT fk_orchestration_runs_engines FOREIGN KEY (tenant_id, engine_id)
        REFERENCES agentbase.engines (tenant_id, id) ON DELETE SET NULL (engine_id),
    CONSTRAINT fk_orchestration_runs_workers FOREIGN KEY (tenant_id, worker_id)
        REFERENCES agentbase.workers (tenant_id, id) ON DELETE SET NULL (worker_id),
    CONSTRAINT fk_orchestration_runs_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE SET NULL (agent_id),
    CONSTRAINT chk_orchestration_runs_target CHECK (
        num_nonnulls(workflow_execution_id, step_execution_id, task_id) > 0),
    CONSTRAINT chk_orchestration_runs_status CHECK (
        status IN ('pending', 'routed', 'running', 'completed', 'failed', 'cancelled', 'timed_out')),
    CONSTRAINT chk_orchestration_runs_attempt CHECK (attempt > 0),
    CONSTRAINT chk_orchestration_runs_started_at CHECK (started_at >= queued_at),
    CONSTRAINT chk_orchestration_runs_completed_at CHECK (completed_at >= started_at),
    CONSTRAINT chk_orchestration_runs_duration_ms CHECK (duration_ms >= 0)
);
CREATE INDEX idx_orchestration_runs_workflow_execution_id
    ON agentbase.orchestration_runs (tenant_id, workflow_execution_id);
CREATE INDEX idx_orchestration_runs_step_execution_id
    ON agentbase.orchestration_runs (tenant_id, step_execution_id);
CREATE INDEX idx_orchestration_runs_task_id ON agentbase.orchestration_runs (tenant_id, task_id);
CREATE INDEX idx_orchestration_runs_routing_strategy_id
    ON agentbase.orchestration_runs (tenant_id, routing_strategy_id);
CREATE INDEX idx_orchestration_runs_engine_id ON agentbase.orchestration_runs (tenant_id, engine_id);
CREATE INDEX idx_orchestration_runs_worker_id ON agentbase.orchestration_runs (tenant_id, worker_id);
CREATE INDEX idx_orchestration_runs_agent_id ON agentbase.orchestration_runs (tenant_id, agent_id);
CREATE INDEX idx_orchestration_runs_status ON agentbase.orchestration_runs (tenant_id, status, queued_at)
    WHERE status IN ('pending', 'routed', 'running');

COMMENT ON TABLE agentbase.orchestration_runs IS 'routing decisions: which strategy, engine, worker and agent ran an execution, step or task';
COMMENT ON COLUMN agentbase.orchestration_runs.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.orchestration_runs.id IS 'run id (UUID v7)';
COMMENT ON COLUMN agentbase.orchestration_runs.workflow_execution_id IS 'workflow execution routed, if any';
COMMENT ON COLUMN agentbase.orchestration_runs.step_execution_id IS 'workflow step execution routed, if any';
COMMENT ON COLUMN agentbase.orchestration_runs.task_id IS 'task routed, if any (at least one of execution, step, task is set)';
COMMENT ON COLUMN agentbase.orchestration_runs.routing_strategy_id IS 'strategy that made the decision (NULL when deleted)';
COMMENT ON COLUMN agentbase.orchestration_runs.engine_id IS 'engine chosen (NULL when deleted)';
COMMENT ON COLUMN agentbase.orchestration_runs.worker_id IS 'worker chosen (NULL when deleted)';
COMMENT ON COLUMN agentbase.orchestration_runs.agent_id IS 'agent chosen (NULL when deleted)';
COMMENT ON COLUMN agentbase.orchestration_runs.status IS 'pending, routed, running, completed, failed, cancelled or timed_out';
COMMENT ON COLUMN agentbase.orchestration_runs.attempt IS 'attempt number, from 1';
COMMENT ON COLUMN agentbase.orchestration_runs.decision IS 'why this route: candidates and their scores';
COMMENT ON COLUMN agentbase.orchestration_runs.error IS 'error message when failed';
COMMENT ON COLUMN agentbase.orchestration_runs.queued_at IS 'when the work was queued for routing';
COMMENT ON COLUMN agentbase.orchestration_runs.started_at IS 'when the chosen worker started (not before queued_at)';
COMMENT ON COLUMN agentbase.orchestration_runs.completed_at IS 'when the run ended (not before started_at)';
COMMENT ON COLUMN agentbase.orchestration_runs.duration_ms IS 'run time, milliseconds (>= 0)';
COMMENT ON COLUMN agentbase.orchestration_runs.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.orchestration_runs.updated_at IS 'last update time (trigger-maintained)';

SELECT agentbase.enable_tenant_rls('agentbase.orchestration_runs');
SELECT agentbase.attach_updated_at('agentbase.orchestration_runs');
SELECT agentbase.attach_audit('agentbase.orchestration_runs', 'orchestration_run');
