-- The AI development platform, field for field (issue 12): projects on tasks and
-- conversations, the tasks the seed's agents work through, branches, files and containers
-- as its runtime reports them, the six platform agents in every tenant, and generated
-- content as the AI agent system stores it.
--
-- Already on main and not repeated: project_id on ai_requests, token_holds and
-- cost_tracking, the index cost_tracking (tenant_id, project_id, period_start), and
-- usage_monthly(uuid, date) with its per-project figures (0018).
--
-- Tasks. project_id, primary_agent (the agent answerable for the task, a composite key to
-- agents like every other reference) and execution_time_seconds are new; the seed's
-- "results" is the existing `result` column (jsonb, 0005): a second column of the same
-- meaning would be two truths. Subtasks already reference their parent (parent_task_id,
-- 0005, which forbids only a task being its own parent); tasks_no_cycle() now refuses any
-- parent that is the task itself or one of its descendants. Two concurrent updates can
-- each close half of a cycle (A under B in one transaction, B under A in another: each
-- checks a tree without the other's change), so the check takes a transaction advisory
-- lock per tenant before it walks the tree: parent changes in one tenant are serialized,
-- and under READ COMMITTED (the service's level) the second one sees the first one's
-- commit. Moves are rare; the lock is taken only when parent_task_id changes.
--
-- Projects. template_type is the template's slug, a foreign key to project_templates
-- (slug); projects_template_sync() keeps it and template_id naming the same template, so
-- a write may give either (or both, agreeing).
--
-- Containers. container_id is the runtime's own id (docker, k8s pod), unique per tenant;
-- status 'sleeping' is a container stopped for idleness that keeps its state (it still
-- counts as the project's live container). containers_idle(minutes) lists the current
-- tenant's running containers idle for longer than that; containers_sleep_idle(minutes,
-- limit), run by `agentbase maintain containers`, marks them sleeping in all tenants.
--
-- Platform agents. platform_agents holds the six agent definitions of the development
-- platform, once (global, read-only for the service); seed_platform_agents(tenant) creates
-- the missing ones (by name among live agents) in a tenant. A trigger on tenants calls it
-- for each new tenant, and this migration for every existing one. The dev seed no longer
-- carries its own copy.
--
-- Agent performance: agent_performance(from, to) counts, per primary agent, the tasks
-- created in a period, their completions and failures, the average execution time and the
-- success rate (completed / (completed + failed)), under the caller's RLS.
--
-- Generated content. ai_request_id names the ai_request that produced it (checked within
-- the tenant by refs_check: ai_requests is a partitioned log, nothing references it by a
-- foreign key); binary_content is bytea of at most 10 MiB (larger content lives elsewhere,
-- named by file_path), with file_size_bytes computed from it and mime_type required;
-- framework; execution_status (not_run, running, succeeded, failed, skipped) beside
-- validation_status. generated_content_download(id) returns a row the caller can see with
-- its content and counts the download; generated_content_count_download(id) is its
-- owner-run half (the service may not write download_count otherwise, and viewers write
-- nothing).

-- ------------------------------------------------------------------------------------
-- tasks and conversations: project, primary agent, execution time, subtask trees
-- ------------------------------------------------------------------------------------

ALTER TABLE agentbase.tasks
    ADD COLUMN project_id uuid,
    ADD COLUMN primary_agent uuid,
    ADD COLUMN execution_time_seconds numeric(12,3),
    ADD CONSTRAINT fk_tasks_projects FOREIGN KEY (tenant_id, project_id)
        REFERENCES agentbase.projects (tenant_id, id) ON DELETE SET NULL (project_id),
    ADD CONSTRAINT fk_tasks_agents_primary_agent FOREIGN KEY (tenant_id, primary_agent)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE SET NULL (primary_agent),
    ADD CONSTRAINT chk_tasks_execution_time_seconds CHECK (execution_time_seconds >= 0);
CREATE INDEX idx_tasks_project_id_status ON agentbase.tasks (tenant_id, project_id, status);
CREATE INDEX idx_tasks_primary_agent ON agentbase.tasks (tenant_id, primary_agent);
COMMENT ON COLUMN agentbase.tasks.project_id IS 'project the task belongs to (NULL: none, or the project was deleted)';
COMMENT ON COLUMN agentbase.tasks.primary_agent IS 'agent answerable for the task (NULL once that agent is deleted)';
COMMENT ON COLUMN agentbase.tasks.execution_time_seconds IS 'time the task''s execution took, seconds (>= 0)';
COMMENT ON COLUMN agentbase.tasks.result IS 'result of the task (the seed''s "results")';
COMMENT ON COLUMN agentbase.tasks.parent_task_id IS
    'parent task of a subtask (never the task itself or a descendant; deleting the parent deletes its subtasks)';

-- BEFORE INSERT OR UPDATE OF parent_task_id: the new parent must not be the task or one of
-- its descendants (see the header for the lock).
CREATE FUNCTION agentbase.tasks_no_cycle() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_task_id IS NULL
       OR (TG_OP = 'UPDATE' AND NEW.parent_task_id IS NOT DISTINCT FROM OLD.parent_task_id) THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('agentbase.tasks.tree'), hashtext(NEW.tenant_id::text));
    IF EXISTS (WITH RECURSIVE up(id, depth) AS (
                   SELECT NEW.parent_task_id, 1
                   UNION ALL
                   SELECT t.parent_task_id, up.depth + 1 FROM agentbase.tasks t JOIN up ON t.id = up.id
                    WHERE t.tenant_id = NEW.tenant_id AND t.parent_task_id IS NOT NULL AND up.depth < 10000)
               SELECT 1 FROM up WHERE up.id = NEW.id) THEN
        RAISE EXCEPTION 'field parent_task_id would make task % its own ancestor', NEW.id
              USING ERRCODE = '23514', COLUMN = 'parent_task_id', CONSTRAINT = 'chk_tasks_parent_task_id';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.tasks_no_cycle() IS
    'BEFORE trigger on tasks: refuses a parent that is the task or one of its descendants (serialized per tenant)';
CREATE TRIGGER trg_no_cycle BEFORE INSERT OR UPDATE OF parent_task_id ON agentbase.tasks
    FOR EACH ROW EXECUTE FUNCTION agentbase.tasks_no_cycle();

ALTER TABLE agentbase.conversations
    ADD COLUMN project_id uuid,
    ADD CONSTRAINT fk_conversations_projects FOREIGN KEY (tenant_id, project_id)
        REFERENCES agentbase.projects (tenant_id, id) ON DELETE SET NULL (project_id);
CREATE INDEX idx_conversations_project_id_user_id ON agentbase.conversations (tenant_id, project_id, user_id);
COMMENT ON COLUMN agentbase.conversations.project_id IS 'project the conversation is about (NULL: none)';

-- ------------------------------------------------------------------------------------
-- branches, files, containers, projects' template by name
-- ------------------------------------------------------------------------------------

ALTER TABLE agentbase.git_branches
    ADD COLUMN is_merged boolean NOT NULL DEFAULT false,
    ADD COLUMN created_by_agent uuid,
    ADD CONSTRAINT fk_git_branches_agents FOREIGN KEY (tenant_id, created_by_agent)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE SET NULL (created_by_agent);
CREATE INDEX idx_git_branches_created_by_agent ON agentbase.git_branches (tenant_id, created_by_agent);
COMMENT ON COLUMN agentbase.git_branches.is_merged IS 'merged into its base branch';
COMMENT ON COLUMN agentbase.git_branches.created_by_agent IS 'agent that created the branch (NULL: a user, or the agent was deleted)';

ALTER TABLE agentbase.project_files
    ADD COLUMN created_by_agent uuid,
    ADD CONSTRAINT fk_project_files_agents FOREIGN KEY (tenant_id, created_by_agent)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE SET NULL (created_by_agent);
CREATE INDEX idx_project_files_created_by_agent ON agentbase.project_files (tenant_id, created_by_agent);
COMMENT ON COLUMN agentbase.project_files.created_by_agent IS 'agent that created the file (NULL: a user, or the agent was deleted)';

ALTER TABLE agentbase.containers
    DROP CONSTRAINT chk_containers_status,
    ADD CONSTRAINT chk_containers_status
        CHECK (status IN ('creating', 'running', 'sleeping', 'stopped', 'error', 'destroyed')),
    ADD COLUMN container_id text,
    ADD CONSTRAINT chk_containers_container_id CHECK (container_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$');
-- not partial: NULLs are distinct (containers without a runtime id yet), and a filter can lead it
CREATE UNIQUE INDEX uq_containers_tenant_id_container_id ON agentbase.containers (tenant_id, container_id);
-- a sleeping container is still the project's live one: waking it is not provisioning
DROP INDEX agentbase.uq_containers_tenant_id_project_id_live;
CREATE UNIQUE INDEX uq_containers_tenant_id_project_id_live ON agentbase.containers (tenant_id, project_id)
    WHERE status IN ('creating', 'running', 'sleeping');
COMMENT ON COLUMN agentbase.containers.status IS
    'creating, running, sleeping (stopped for idleness, state kept), stopped, error or destroyed';
COMMENT ON COLUMN agentbase.containers.container_id IS 'the runtime''s id of the container (docker id, pod name), unique in the tenant';

ALTER TABLE agentbase.projects
    ADD COLUMN template_type text,
    ADD CONSTRAINT fk_projects_project_templates_slug FOREIGN KEY (template_type)
        REFERENCES agentbase.project_templates (slug) ON UPDATE CASCADE ON DELETE SET NULL;
CREATE INDEX idx_projects_template_type ON agentbase.projects (template_type);
UPDATE agentbase.projects p SET template_type = t.slug FROM agentbase.project_templates t WHERE t.id = p.template_id;
COMMENT ON COLUMN agentbase.projects.template_type IS
    'slug of the template (react-typescript ...): the same template as template_id, either may be written';

-- BEFORE INSERT OR UPDATE OF template_id, template_type: the one given names the other; both
-- given must agree. On an update, the one that changed wins over the one left as it was.
CREATE FUNCTION agentbase.projects_template_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_id_changed boolean := TG_OP = 'INSERT' OR NEW.template_id IS DISTINCT FROM OLD.template_id;
    v_type_changed boolean := TG_OP = 'INSERT' OR NEW.template_type IS DISTINCT FROM OLD.template_type;
    v_slug text;
BEGIN
    IF v_id_changed AND NEW.template_id IS NOT NULL THEN
        SELECT slug INTO v_slug FROM agentbase.project_templates WHERE id = NEW.template_id;
        IF v_type_changed AND NEW.template_type IS NOT NULL AND v_slug IS DISTINCT FROM NEW.template_type THEN
            RAISE EXCEPTION 'fields template_id and template_type name different templates'
                  USING ERRCODE = '22023', COLUMN = 'template_type';
        END IF;
        NEW.template_type := coalesce(v_slug, NEW.template_type);  -- unknown id: the foreign key says so
    ELSIF v_type_changed AND NEW.template_type IS NOT NULL THEN
        NEW.template_id := (SELECT id FROM agentbase.project_templates WHERE slug = NEW.template_type);
        IF NEW.template_id IS NULL THEN
            RAISE EXCEPTION 'field template_type names no project template' USING ERRCODE = '23503',
                  COLUMN = 'template_type';
        END IF;
    ELSIF v_id_changed THEN
        NEW.template_type := NULL;
    ELSIF v_type_changed THEN
        NEW.template_id := NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.projects_template_sync() IS
    'BEFORE trigger on projects: template_id and template_type (the slug) name the same template';
CREATE TRIGGER trg_template_sync BEFORE INSERT OR UPDATE OF template_id, template_type ON agentbase.projects
    FOR EACH ROW EXECUTE FUNCTION agentbase.projects_template_sync();

-- ------------------------------------------------------------------------------------
-- idle containers
-- ------------------------------------------------------------------------------------

-- The current tenant's running containers without activity (last_active_at, or started_at
-- when none was recorded) for more than p_minutes, oldest activity first.
CREATE FUNCTION agentbase.containers_idle(p_minutes integer, p_limit integer DEFAULT 100) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_minutes IS NULL OR p_minutes NOT BETWEEN 1 AND 525600 THEN
        RAISE EXCEPTION 'parameter minutes must be 1 to 525600' USING ERRCODE = '22023', COLUMN = 'minutes';
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'parameter limit must be 1 to 1000' USING ERRCODE = '22023', COLUMN = 'limit';
    END IF;
    RETURN jsonb_build_object('minutes', p_minutes, 'data', coalesce((
        SELECT jsonb_agg(jsonb_build_object('id', c.id, 'project_id', c.project_id, 'container_id', c.container_id,
                                            'status', c.status, 'last_active_at', c.last_active_at,
                                            'started_at', c.started_at,
                                            'idle_minutes', floor(extract(epoch FROM now() - coalesce(c.last_active_at, c.started_at, c.created_at)) / 60)::bigint)
                         ORDER BY coalesce(c.last_active_at, c.started_at, c.created_at), c.id)
          FROM (SELECT * FROM agentbase.containers x
                 WHERE x.tenant_id = agentbase.current_tenant_id() AND x.status = 'running'
                   AND coalesce(x.last_active_at, x.started_at, x.created_at) < now() - make_interval(mins => p_minutes)
                 ORDER BY coalesce(x.last_active_at, x.started_at, x.created_at), x.id LIMIT p_limit) c), '[]'));
END
$$;
COMMENT ON FUNCTION agentbase.containers_idle(integer, integer) IS
    'the current tenant''s running containers inactive for more than p_minutes, oldest activity first';

-- Marks up to p_limit running containers idle for more than p_minutes sleeping (all
-- tenants; `agentbase maintain containers`); returns how many.
CREATE FUNCTION agentbase.containers_sleep_idle(p_minutes integer, p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_count integer;
BEGIN
    IF p_minutes IS NULL OR p_minutes < 1 THEN
        RAISE EXCEPTION 'idle minutes must be at least 1' USING ERRCODE = '22023';
    END IF;
    WITH idle AS (
        SELECT tenant_id, id FROM agentbase.containers
         WHERE status = 'running'
           AND coalesce(last_active_at, started_at, created_at) < now() - make_interval(mins => p_minutes)
         ORDER BY tenant_id, id LIMIT p_limit FOR UPDATE SKIP LOCKED)
    UPDATE agentbase.containers c SET status = 'sleeping', stopped_at = now()
      FROM idle WHERE c.tenant_id = idle.tenant_id AND c.id = idle.id;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION agentbase.containers_sleep_idle(integer, integer) IS
    'marks up to p_limit running containers inactive for more than p_minutes sleeping (all tenants); returns how many';

-- ------------------------------------------------------------------------------------
-- agent performance
-- ------------------------------------------------------------------------------------

CREATE FUNCTION agentbase.agent_performance(p_from timestamptz, p_to timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('from', p_from, 'to', p_to, 'data', coalesce(jsonb_agg(to_jsonb(s)
               ORDER BY s.tasks DESC, s.agent_id), '[]'))
      FROM (SELECT t.primary_agent AS agent_id, a.name AS agent_name, a.agent_type,
                   count(*) AS tasks,
                   count(*) FILTER (WHERE t.status = 'completed') AS completed,
                   count(*) FILTER (WHERE t.status = 'failed') AS failed,
                   round(avg(t.execution_time_seconds), 3) AS avg_execution_time_seconds,
                   round(count(*) FILTER (WHERE t.status = 'completed')::numeric
                         / NULLIF(count(*) FILTER (WHERE t.status IN ('completed', 'failed')), 0), 4) AS success_rate
              FROM agentbase.tasks t
              JOIN agentbase.agents a ON a.tenant_id = t.tenant_id AND a.id = t.primary_agent
             WHERE t.tenant_id = agentbase.current_tenant_id() AND t.created_at >= p_from AND t.created_at < p_to
             GROUP BY t.primary_agent, a.name, a.agent_type) s
$$;
COMMENT ON FUNCTION agentbase.agent_performance(timestamptz, timestamptz) IS
    'per primary agent, the current tenant''s tasks created in [p_from, p_to): count, completed, failed, average execution time, success rate';

-- ------------------------------------------------------------------------------------
-- the six platform agents, in every tenant
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.platform_agents (
    agent_type      text         NOT NULL,
    name            text         NOT NULL,
    description     text         NOT NULL,
    model_provider  text         NOT NULL,
    model_name      text         NOT NULL,
    temperature     numeric(3,2) NOT NULL,
    max_tokens      integer      NOT NULL,
    system_prompt   text         NOT NULL,
    capabilities    text[]       NOT NULL DEFAULT '{}',
    tools           jsonb        NOT NULL DEFAULT '[]',
    timeout_seconds integer      NOT NULL,
    max_iterations  integer      NOT NULL,
    memory_enabled  boolean      NOT NULL,
    tags            text[]       NOT NULL DEFAULT '{}',
    CONSTRAINT platform_agents_pkey PRIMARY KEY (agent_type),
    CONSTRAINT uq_platform_agents_name UNIQUE (name)
);
COMMENT ON TABLE agentbase.platform_agents IS
    'the AI development platform''s agents, created in every tenant (global, read-only for the service)';
COMMENT ON COLUMN agentbase.platform_agents.agent_type IS 'agent type (one per definition)';
COMMENT ON COLUMN agentbase.platform_agents.name IS 'agent name in each tenant';
COMMENT ON COLUMN agentbase.platform_agents.description IS 'what the agent does';
COMMENT ON COLUMN agentbase.platform_agents.model_provider IS 'model provider';
COMMENT ON COLUMN agentbase.platform_agents.model_name IS 'model';
COMMENT ON COLUMN agentbase.platform_agents.temperature IS 'sampling temperature';
COMMENT ON COLUMN agentbase.platform_agents.max_tokens IS 'output token limit';
COMMENT ON COLUMN agentbase.platform_agents.system_prompt IS 'system prompt';
COMMENT ON COLUMN agentbase.platform_agents.capabilities IS 'capabilities';
COMMENT ON COLUMN agentbase.platform_agents.tools IS 'tools (array of {name, description})';
COMMENT ON COLUMN agentbase.platform_agents.timeout_seconds IS 'timeout per run, seconds';
COMMENT ON COLUMN agentbase.platform_agents.max_iterations IS 'iterations per run';
COMMENT ON COLUMN agentbase.platform_agents.memory_enabled IS 'keeps memory between runs';
COMMENT ON COLUMN agentbase.platform_agents.tags IS 'tags';
SELECT agentbase.restrict_app_to_read('agentbase.platform_agents');

INSERT INTO agentbase.platform_agents (name, description, agent_type, model_provider, model_name, temperature,
                                       max_tokens, system_prompt, capabilities, tools, timeout_seconds,
                                       max_iterations, memory_enabled, tags) VALUES
    ('Development Manager',
     'Plans sprints, breaks features into tasks, assigns them to the engineering agents and tracks delivery.',
     'development_manager', 'anthropic', 'claude-sonnet-4-20250514', 0.40, 4096,
     $p$You are the development manager of a software team made of people and AI agents.
Turn goals into a plan: split each feature into tasks small enough to finish in a day, state
for each task its acceptance criteria, dependencies and the best-suited agent (architect,
senior engineer, platform engineer, data analyst). Track progress, surface risks and blocked
work early, and keep scope honest: say what will not fit. Write short status reports with
done / in progress / blocked / next, and ask for a decision when one is needed.$p$,
     ARRAY['sprint_planning', 'task_breakdown', 'estimation', 'risk_tracking', 'status_reporting', 'coordination'],
     '[{"name": "create_task", "description": "create a task with assignee and acceptance criteria"},
       {"name": "update_task", "description": "change the status or assignee of a task"},
       {"name": "list_tasks", "description": "list tasks by status, assignee or sprint"}]',
     600, 20, true, ARRAY['development-platform', 'management']),
    ('Product Manager',
     'Turns user needs into clear requirements, user stories and priorities.',
     'product_manager', 'anthropic', 'claude-sonnet-4-20250514', 0.60, 4096,
     $p$You are a product manager. Start from the user's problem, not the solution. For each
request, write who the users are, what they are trying to do, and how we will know it
works. Produce user stories ("As a ..., I want ..., so that ...") with testable acceptance
criteria, call out open questions and assumptions, and rank work by user value against
effort and risk. Keep documents brief and concrete; prefer examples to adjectives.$p$,
     ARRAY['requirements_analysis', 'user_stories', 'prioritization', 'roadmap_planning', 'acceptance_criteria'],
     '[{"name": "search_feedback", "description": "search customer feedback and support tickets"},
       {"name": "create_document", "description": "write a product document"}]',
     300, 10, true, ARRAY['development-platform', 'product']),
    ('Data Analyst',
     'Answers questions with data: writes SQL, checks the numbers and explains what they mean.',
     'data_analyst', 'anthropic', 'claude-sonnet-4-20250514', 0.20, 8192,
     $p$You are a data analyst. Before querying, restate the question and define every metric
precisely (numerator, denominator, time window, filters). Write readable SQL with comments,
check row counts and edge cases (NULLs, duplicates, time zones), and never present a number
you have not verified. Report the answer first, then the method and its limits, and suggest
a chart only when it helps. Say plainly when the data cannot answer the question.$p$,
     ARRAY['sql', 'statistical_analysis', 'data_visualization', 'reporting', 'metrics_design'],
     '[{"name": "run_sql", "description": "run a read-only SQL query and return the rows"},
       {"name": "make_chart", "description": "render a chart from a result set"}]',
     600, 15, false, ARRAY['development-platform', 'data']),
    ('Senior Engineer',
     'Writes, reviews, debugs and refactors production code with tests.',
     'senior_engineer', 'anthropic', 'claude-sonnet-4-20250514', 0.20, 8192,
     $p$You are a senior software engineer. Read the surrounding code before changing it and
follow its conventions. Make the smallest change that fully solves the problem, handle
errors explicitly, and add or update tests that fail without the change. In reviews, point
out correctness, security and maintainability issues in order of severity, each with a
concrete fix. Explain trade-offs briefly; do not guess about APIs you have not seen.$p$,
     ARRAY['code_generation', 'code_review', 'debugging', 'refactoring', 'testing'],
     '[{"name": "read_file", "description": "read a file of the project"},
       {"name": "write_file", "description": "create or replace a file of the project"},
       {"name": "run_tests", "description": "run the test suite and return the results"}]',
     900, 30, true, ARRAY['development-platform', 'engineering']),
    ('Architect',
     'Designs systems, reviews architecture and records decisions.',
     'architect', 'anthropic', 'claude-opus-4-20250514', 0.30, 8192,
     $p$You are a software architect. Clarify requirements and constraints first: load,
latency, data volume, consistency, security, team skills and budget. Propose the simplest
design that meets them, show its components and data flows, and compare at least one
alternative with its trade-offs. Identify failure modes and how the design contains them.
Record each significant decision as an ADR: context, decision, consequences.$p$,
     ARRAY['system_design', 'architecture_review', 'technology_selection', 'scalability_analysis', 'documentation'],
     '[{"name": "read_file", "description": "read a file of the project"},
       {"name": "create_diagram", "description": "draw a component or sequence diagram"}]',
     900, 20, true, ARRAY['development-platform', 'architecture']),
    ('Platform Engineer',
     'Builds and runs CI/CD, infrastructure as code, containers and monitoring.',
     'platform_engineer', 'anthropic', 'claude-sonnet-4-20250514', 0.20, 4096,
     $p$You are a platform engineer. Automate everything that runs more than twice, keep
infrastructure in code and reviewed like code, and make every change reversible. Prefer
boring, well-supported tools. Pipelines must be fast, reproducible and fail loudly. For
each service define health checks, metrics, logs and alerts that point to a cause. Never
put secrets in code or logs; apply least privilege. In incidents: stabilise first, then
find the root cause and write a blameless follow-up.$p$,
     ARRAY['ci_cd', 'infrastructure_as_code', 'containerization', 'monitoring', 'incident_response'],
     '[{"name": "run_command", "description": "run a shell command in the project container"},
       {"name": "read_logs", "description": "read recent service logs"}]',
     900, 25, false, ARRAY['development-platform', 'operations']);

-- Creates the platform agents a tenant lacks (by name among its live agents); returns how
-- many. Owner-run: the tenant being created is not yet the request's tenant.
CREATE FUNCTION agentbase.seed_platform_agents(p_tenant uuid) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_count integer;
BEGIN
    INSERT INTO agentbase.agents (tenant_id, name, description, agent_type, model_provider, model_name, temperature,
                                  max_tokens, system_prompt, capabilities, tools, timeout_seconds, max_iterations,
                                  memory_enabled, tags)
    SELECT p_tenant, d.name, d.description, d.agent_type, d.model_provider, d.model_name, d.temperature, d.max_tokens,
           d.system_prompt, d.capabilities, d.tools, d.timeout_seconds, d.max_iterations, d.memory_enabled, d.tags
      FROM agentbase.platform_agents d
     WHERE NOT EXISTS (SELECT 1 FROM agentbase.agents g
                        WHERE g.tenant_id = p_tenant AND g.name = d.name AND g.deleted_at IS NULL)
     ORDER BY d.agent_type;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION agentbase.seed_platform_agents(uuid) IS
    'creates the platform agents (platform_agents) a tenant lacks; returns how many';

CREATE FUNCTION agentbase.tenants_platform_agents() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    PERFORM agentbase.seed_platform_agents(NEW.id);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION agentbase.tenants_platform_agents() IS
    'AFTER INSERT trigger on tenants: every new tenant gets the platform agents';
CREATE TRIGGER trg_platform_agents AFTER INSERT ON agentbase.tenants
    FOR EACH ROW EXECUTE FUNCTION agentbase.tenants_platform_agents();

SELECT set_config('agentbase.actor_type', 'system', true), set_config('agentbase.actor_id', 'migration', true);
SELECT agentbase.seed_platform_agents(id) FROM agentbase.tenants WHERE deleted_at IS NULL ORDER BY id;

-- ------------------------------------------------------------------------------------
-- generated content: its request, binary content, framework, execution, downloads
-- ------------------------------------------------------------------------------------

ALTER TABLE agentbase.generated_content
    ADD COLUMN ai_request_id uuid,
    ADD COLUMN binary_content bytea,
    ADD COLUMN framework text,
    ADD COLUMN execution_status text NOT NULL DEFAULT 'not_run',
    ADD CONSTRAINT chk_generated_content_binary_content CHECK (octet_length(binary_content) <= 10485760),
    ADD CONSTRAINT chk_generated_content_binary_mime_type CHECK (binary_content IS NULL OR mime_type IS NOT NULL),
    ADD CONSTRAINT chk_generated_content_inline CHECK (content IS NULL OR binary_content IS NULL),
    ADD CONSTRAINT chk_generated_content_framework CHECK (framework IS NULL OR length(btrim(framework)) BETWEEN 1 AND 100),
    ADD CONSTRAINT chk_generated_content_execution_status CHECK (
        execution_status IN ('not_run', 'running', 'succeeded', 'failed', 'skipped'));
CREATE INDEX idx_generated_content_ai_request_id ON agentbase.generated_content (tenant_id, ai_request_id);
COMMENT ON COLUMN agentbase.generated_content.ai_request_id IS
    'ai_request that produced it (checked within the tenant; no foreign key into the partitioned log)';
COMMENT ON COLUMN agentbase.generated_content.binary_content IS
    'binary content stored inline, at most 10 MiB (larger content by reference: file_path); not copied into audit_logs';
COMMENT ON COLUMN agentbase.generated_content.framework IS 'framework of generated code (react, fastapi ...)';
COMMENT ON COLUMN agentbase.generated_content.execution_status IS
    'not_run, running, succeeded, failed or skipped: whether running the content worked (beside validation_status)';
COMMENT ON COLUMN agentbase.generated_content.file_size_bytes IS 'file size, bytes (computed from binary_content when set)';
COMMENT ON COLUMN agentbase.generated_content.mime_type IS 'MIME type (required with binary_content)';

CREATE FUNCTION agentbase.generated_content_binary_size() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.binary_content IS NOT NULL THEN
        NEW.file_size_bytes := octet_length(NEW.binary_content);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.generated_content_binary_size() IS
    'BEFORE trigger on generated_content: file_size_bytes is the size of binary_content when that is set';
CREATE TRIGGER trg_binary_size BEFORE INSERT OR UPDATE OF binary_content, file_size_bytes ON agentbase.generated_content
    FOR EACH ROW EXECUTE FUNCTION agentbase.generated_content_binary_size();
CREATE TRIGGER trg_refs BEFORE INSERT OR UPDATE ON agentbase.generated_content
    FOR EACH ROW EXECUTE FUNCTION agentbase.refs_check('ai_request_id:ai_requests');

-- binary content stays out of the audit trail, like the text content
DROP TRIGGER trg_audit ON agentbase.generated_content;
DROP TRIGGER trg_audit_update ON agentbase.generated_content;
SELECT agentbase.attach_audit_except('agentbase.generated_content', 'generated_content',
                                     ARRAY['download_count', 'updated_at'], 'tenant_id',
                                     ARRAY['content', 'binary_content']);

-- The owner-run half of a download: counts one download of a live row of the current
-- tenant; returns the new count (NULL: no such row).
CREATE FUNCTION agentbase.generated_content_count_download(p_id uuid) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
    UPDATE agentbase.generated_content SET download_count = download_count + 1
     WHERE tenant_id = agentbase.current_tenant_id() AND id = p_id AND deleted_at IS NULL
    RETURNING download_count
$$;
COMMENT ON FUNCTION agentbase.generated_content_count_download(uuid) IS
    'counts one download of live generated content of the current tenant; returns the new count';

-- A download: the row as the caller may see it (RLS: a user their own), with its content
-- (binary as base64) and the download counted. Not found: AB404.
CREATE FUNCTION agentbase.generated_content_download(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_row agentbase.generated_content;
BEGIN
    SELECT * INTO v_row FROM agentbase.generated_content
     WHERE tenant_id = agentbase.current_tenant_id() AND id = p_id AND deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'generated content % not found', p_id USING ERRCODE = 'AB404';
    END IF;
    RETURN jsonb_build_object('id', v_row.id, 'title', v_row.title, 'file_name', v_row.file_name,
                              'mime_type', v_row.mime_type, 'file_size_bytes', v_row.file_size_bytes,
                              'file_path', v_row.file_path, 'checksum', v_row.checksum,
                              'content', v_row.content, 'binary_content', encode(v_row.binary_content, 'base64'),
                              'download_count', agentbase.generated_content_count_download(p_id));
END
$$;
COMMENT ON FUNCTION agentbase.generated_content_download(uuid) IS
    'a download of generated content the caller can see: its content (binary as base64), the download counted';

GRANT EXECUTE ON FUNCTION
    agentbase.containers_idle(integer, integer),
    agentbase.agent_performance(timestamptz, timestamptz),
    agentbase.generated_content_download(uuid),
    agentbase.generated_content_count_download(uuid)
TO agentbase_app;
