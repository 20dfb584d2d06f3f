-- Workspaces: the AI development platform. Project templates (global), projects with
-- collaborators, their files, the containers that run them and their git branches.
--
-- projects.container_id and containers.project_id reference each other: containers is
-- created first, projects references it, and containers' foreign key to projects is added
-- once projects exists.

-- ------------------------------------------------------------------------------------
-- project_templates (global)
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.project_templates (
    id             uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    slug           text        NOT NULL,
    name           text        NOT NULL,
    description    text,
    language       text        NOT NULL,
    framework      text,
    files          jsonb       NOT NULL DEFAULT '{}',
    setup_commands text[]      NOT NULL DEFAULT '{}',
    default_config jsonb       NOT NULL DEFAULT '{}',
    is_active      boolean     NOT NULL DEFAULT true,
    sort_order     integer     NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT project_templates_pkey PRIMARY KEY (id),
    CONSTRAINT uq_project_templates_slug UNIQUE (slug),
    CONSTRAINT chk_project_templates_slug CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 64),
    CONSTRAINT chk_project_templates_name CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT chk_project_templates_language CHECK (language ~ '^[a-z0-9+#._-]{1,40}$'),
    CONSTRAINT chk_project_templates_files CHECK (jsonb_typeof(files) = 'object'),
    CONSTRAINT chk_project_templates_default_config CHECK (jsonb_typeof(default_config) = 'object')
);
CREATE INDEX idx_project_templates_sort_order ON agentbase.project_templates (sort_order, slug) WHERE is_active;

COMMENT ON TABLE agentbase.project_templates IS 'starter templates for new projects (global, read-only for the service)';
COMMENT ON COLUMN agentbase.project_templates.id IS 'template id';
COMMENT ON COLUMN agentbase.project_templates.slug IS 'unique key (e.g. react-typescript)';
COMMENT ON COLUMN agentbase.project_templates.name IS 'display name';
COMMENT ON COLUMN agentbase.project_templates.description IS 'what the template sets up';
COMMENT ON COLUMN agentbase.project_templates.language IS 'main language, lowercase (typescript, python, ...)';
COMMENT ON COLUMN agentbase.project_templates.framework IS 'main framework (react, nextjs, fastapi, ...)';
COMMENT ON COLUMN agentbase.project_templates.files IS
    'starter files: object mapping a relative path to its content (string) or a manifest object';
COMMENT ON COLUMN agentbase.project_templates.setup_commands IS 'shell commands run once after the files are written';
COMMENT ON COLUMN agentbase.project_templates.default_config IS
    'defaults for new projects and their containers (image, ports, commands)';
COMMENT ON COLUMN agentbase.project_templates.is_active IS 'offered to users';
COMMENT ON COLUMN agentbase.project_templates.sort_order IS 'display order (ascending)';
COMMENT ON COLUMN agentbase.project_templates.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.project_templates.updated_at IS 'last update time';

SELECT agentbase.attach_updated_at('agentbase.project_templates');
SELECT agentbase.restrict_app_to_read('agentbase.project_templates');

-- ------------------------------------------------------------------------------------
-- containers (its foreign key to projects is added below)
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.containers (
    tenant_id       uuid         NOT NULL,
    id              uuid         NOT NULL DEFAULT agentbase.uuid_v7(),
    project_id      uuid         NOT NULL,
    status          text         NOT NULL DEFAULT 'creating',
    image           text         NOT NULL,
    cpu_limit       numeric(6,3) NOT NULL DEFAULT 1,
    memory_limit_mb integer      NOT NULL DEFAULT 2048,
    disk_limit_mb   integer      NOT NULL DEFAULT 10240,
    ports           jsonb        NOT NULL DEFAULT '[]',
    preview_url     text,
    internal_host   text,
    last_active_at  timestamptz,
    started_at      timestamptz,
    stopped_at      timestamptz,
    metadata        jsonb        NOT NULL DEFAULT '{}',
    created_at      timestamptz  NOT NULL DEFAULT now(),
    updated_at      timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT containers_pkey PRIMARY KEY (tenant_id, id),
    -- target of projects' foreign key, which also checks the container is the project's own
    CONSTRAINT uq_containers_tenant_id_id_project_id UNIQUE (tenant_id, id, project_id),
    CONSTRAINT fk_containers_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT chk_containers_status CHECK (status IN ('creating', 'running', 'stopped', 'error', 'destroyed')),
    CONSTRAINT chk_containers_image CHECK (image ~ '^[^[:space:]]+$' AND length(image) <= 512),
    CONSTRAINT chk_containers_cpu_limit CHECK (cpu_limit > 0),
    CONSTRAINT chk_containers_memory_limit_mb CHECK (memory_limit_mb > 0),
    CONSTRAINT chk_containers_disk_limit_mb CHECK (disk_limit_mb > 0),
    CONSTRAINT chk_containers_ports CHECK (jsonb_typeof(ports) = 'array'),
    CONSTRAINT chk_containers_preview_url CHECK (preview_url IS NULL OR preview_url ~ '^https?://[^[:space:]]+$')
);
CREATE INDEX idx_containers_project_id ON agentbase.containers (tenant_id, project_id);
-- one live container per project: provisioning twice is a conflict, not a second box
CREATE UNIQUE INDEX uq_containers_tenant_id_project_id_live ON agentbase.containers (tenant_id, project_id)
    WHERE status IN ('creating', 'running');
-- the maintainer's idle sweep, across tenants
CREATE INDEX idx_containers_last_active_at ON agentbase.containers (last_active_at) WHERE status = 'running';

COMMENT ON TABLE agentbase.containers IS 'sandbox containers that run a project (current and past)';
COMMENT ON COLUMN agentbase.containers.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.containers.id IS 'container id';
COMMENT ON COLUMN agentbase.containers.project_id IS 'project the container runs';
COMMENT ON COLUMN agentbase.containers.status IS 'creating, running, stopped, error or destroyed';
COMMENT ON COLUMN agentbase.containers.image IS 'container image reference';
COMMENT ON COLUMN agentbase.containers.cpu_limit IS 'CPU limit in cores (> 0)';
COMMENT ON COLUMN agentbase.containers.memory_limit_mb IS 'memory limit in MiB (> 0)';
COMMENT ON COLUMN agentbase.containers.disk_limit_mb IS 'disk limit in MiB (> 0)';
COMMENT ON COLUMN agentbase.containers.ports IS 'exposed ports: array of {container_port, protocol, public}';
COMMENT ON COLUMN agentbase.containers.preview_url IS 'public URL of the running app preview';
COMMENT ON COLUMN agentbase.containers.internal_host IS 'host:port inside the platform network';
COMMENT ON COLUMN agentbase.containers.last_active_at IS 'last user or agent activity (idle shutdown)';
COMMENT ON COLUMN agentbase.containers.started_at IS 'last start';
COMMENT ON COLUMN agentbase.containers.stopped_at IS 'last stop';
COMMENT ON COLUMN agentbase.containers.metadata IS 'runtime details (node, runtime ids)';
COMMENT ON COLUMN agentbase.containers.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.containers.updated_at IS 'last update time';

-- ------------------------------------------------------------------------------------
-- projects
-- ------------------------------------------------------------------------------------

-- owner_id is ON DELETE SET NULL, not CASCADE: a project belongs to the tenant and may have
-- other collaborators; erasing its owner must not erase their work (an admin reassigns it).
CREATE TABLE agentbase.projects (
    tenant_id      uuid        NOT NULL,
    id             uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    owner_id       uuid,
    name           text        NOT NULL,
    description    text,
    template_id    uuid,
    status         text        NOT NULL DEFAULT 'active',
    visibility     text        NOT NULL DEFAULT 'private',
    container_id   uuid,
    git_repo_url   text,
    default_branch text        NOT NULL DEFAULT 'main',
    settings       jsonb       NOT NULL DEFAULT '{}',
    tags           text[]      NOT NULL DEFAULT '{}',
    metadata       jsonb       NOT NULL DEFAULT '{}',
    last_opened_at timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    CONSTRAINT projects_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_projects_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_projects_users FOREIGN KEY (tenant_id, owner_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (owner_id),
    CONSTRAINT fk_projects_project_templates FOREIGN KEY (template_id)
        REFERENCES agentbase.project_templates (id) ON DELETE SET NULL,
    -- the current container must be one of this project's containers
    CONSTRAINT fk_projects_containers FOREIGN KEY (tenant_id, container_id, id)
        REFERENCES agentbase.containers (tenant_id, id, project_id) ON DELETE SET NULL (container_id),
    CONSTRAINT chk_projects_name CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT chk_projects_status CHECK (status IN ('active', 'archived', 'building', 'error', 'deleted')),
    CONSTRAINT chk_projects_visibility CHECK (visibility IN ('private', 'team', 'public')),
    CONSTRAINT chk_projects_git_repo_url CHECK (git_repo_url IS NULL
        OR git_repo_url ~ '^(https?|ssh|git)://[^[:space:]]+$'
        OR git_repo_url ~ '^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^[:space:]]+$'),
    CONSTRAINT chk_projects_default_branch CHECK (default_branch ~ '^[A-Za-z0-9_][A-Za-z0-9._/-]{0,254}$'),
    CONSTRAINT chk_projects_settings CHECK (jsonb_typeof(settings) = 'object'),
    -- kept in step by trg_projects_sync_deleted
    CONSTRAINT chk_projects_deleted_at CHECK ((status = 'deleted') = (deleted_at IS NOT NULL))
);
CREATE UNIQUE INDEX uq_projects_tenant_id_owner_id_name ON agentbase.projects (tenant_id, owner_id, name)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_projects_owner_id ON agentbase.projects (tenant_id, owner_id);
CREATE INDEX idx_projects_template_id ON agentbase.projects (template_id);
CREATE INDEX idx_projects_container_id ON agentbase.projects (tenant_id, container_id, id);

COMMENT ON TABLE agentbase.projects IS 'development projects of the AI development platform';
COMMENT ON COLUMN agentbase.projects.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.projects.id IS 'project id';
COMMENT ON COLUMN agentbase.projects.owner_id IS 'owning user (NULL once that user is deleted: the project stays with the tenant)';
COMMENT ON COLUMN agentbase.projects.name IS 'name, unique per owner among live projects';
COMMENT ON COLUMN agentbase.projects.description IS 'what the project is';
COMMENT ON COLUMN agentbase.projects.template_id IS 'template the project was created from';
COMMENT ON COLUMN agentbase.projects.status IS 'active, archived, building, error or deleted (deleted iff deleted_at is set)';
COMMENT ON COLUMN agentbase.projects.visibility IS 'private, team or public';
COMMENT ON COLUMN agentbase.projects.container_id IS 'current container (one of the project''s own)';
COMMENT ON COLUMN agentbase.projects.git_repo_url IS 'remote git repository (https, ssh or scp-like URL)';
COMMENT ON COLUMN agentbase.projects.default_branch IS 'default git branch';
COMMENT ON COLUMN agentbase.projects.settings IS 'project settings (build, run, environment)';
COMMENT ON COLUMN agentbase.projects.tags IS 'tags';
COMMENT ON COLUMN agentbase.projects.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.projects.last_opened_at IS 'last time a user opened the project';
COMMENT ON COLUMN agentbase.projects.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.projects.updated_at IS 'last update time';
COMMENT ON COLUMN agentbase.projects.deleted_at IS 'soft-delete time';

-- Soft delete in either spelling: setting deleted_at sets status 'deleted', setting status
-- 'deleted' sets deleted_at. Restore in either spelling too: setting another status clears
-- deleted_at; clearing deleted_at (status left 'deleted') makes the project 'active'.
CREATE FUNCTION agentbase.projects_sync_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'deleted' THEN
        IF NEW.status <> 'deleted' THEN
            NEW.deleted_at := NULL;
        ELSIF NEW.deleted_at IS NULL THEN
            NEW.status := 'active';
        END IF;
    ELSIF NEW.deleted_at IS NOT NULL THEN
        NEW.status := 'deleted';
    ELSIF NEW.status = 'deleted' THEN
        NEW.deleted_at := now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.projects_sync_deleted() IS
    'BEFORE trigger on projects: keeps status = ''deleted'' and deleted_at in step';

CREATE TRIGGER trg_projects_sync_deleted BEFORE INSERT OR UPDATE ON agentbase.projects
    FOR EACH ROW EXECUTE FUNCTION agentbase.projects_sync_deleted();

SELECT agentbase.enable_tenant_rls('agentbase.projects');
SELECT agentbase.attach_updated_at('agentbase.projects');
-- opening a project (last_opened_at) alone writes no audit row
SELECT agentbase.attach_audit_except('agentbase.projects', 'project', ARRAY['last_opened_at', 'updated_at']);

-- the other half of the cycle
ALTER TABLE agentbase.containers ADD CONSTRAINT fk_containers_projects FOREIGN KEY (tenant_id, project_id)
    REFERENCES agentbase.projects (tenant_id, id) ON DELETE CASCADE;

SELECT agentbase.enable_tenant_rls('agentbase.containers');
SELECT agentbase.attach_updated_at('agentbase.containers');
-- activity heartbeats (last_active_at) alone write no audit row
SELECT agentbase.attach_audit_except('agentbase.containers', 'container', ARRAY['last_active_at', 'updated_at']);

-- ------------------------------------------------------------------------------------
-- project_collaborators
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.project_collaborators (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    project_id  uuid        NOT NULL,
    user_id     uuid        NOT NULL,
    role        text        NOT NULL DEFAULT 'viewer',
    invited_by  uuid,
    accepted_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT project_collaborators_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT uq_project_collaborators_tenant_id_project_id_user_id UNIQUE (tenant_id, project_id, user_id),
    CONSTRAINT fk_project_collaborators_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_project_collaborators_projects FOREIGN KEY (tenant_id, project_id)
        REFERENCES agentbase.projects (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_project_collaborators_users_user_id FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_project_collaborators_users_invited_by FOREIGN KEY (tenant_id, invited_by)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (invited_by),
    CONSTRAINT chk_project_collaborators_role CHECK (role IN ('owner', 'editor', 'viewer'))
);
CREATE INDEX idx_project_collaborators_user_id ON agentbase.project_collaborators (tenant_id, user_id);
CREATE INDEX idx_project_collaborators_invited_by ON agentbase.project_collaborators (tenant_id, invited_by);

COMMENT ON TABLE agentbase.project_collaborators IS 'users who may work on a project, with their role';
COMMENT ON COLUMN agentbase.project_collaborators.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.project_collaborators.id IS 'collaborator row id';
COMMENT ON COLUMN agentbase.project_collaborators.project_id IS 'project';
COMMENT ON COLUMN agentbase.project_collaborators.user_id IS 'collaborating user';
COMMENT ON COLUMN agentbase.project_collaborators.role IS 'owner, editor or viewer';
COMMENT ON COLUMN agentbase.project_collaborators.invited_by IS 'user who sent the invitation';
COMMENT ON COLUMN agentbase.project_collaborators.accepted_at IS 'when the invitation was accepted (NULL: pending)';
COMMENT ON COLUMN agentbase.project_collaborators.created_at IS 'invitation time';
COMMENT ON COLUMN agentbase.project_collaborators.updated_at IS 'last update time';

SELECT agentbase.enable_tenant_rls('agentbase.project_collaborators');
SELECT agentbase.attach_updated_at('agentbase.project_collaborators');
SELECT agentbase.attach_audit('agentbase.project_collaborators', 'project_collaborator');

-- ------------------------------------------------------------------------------------
-- project_files
-- ------------------------------------------------------------------------------------

-- Paths are relative, '/'-separated, without '.' or '..' segments, empty segments or a
-- trailing '/'. content_hash and size_bytes are computed from content when content is
-- stored here; files kept elsewhere (content NULL) carry the values the service sets.
CREATE TABLE agentbase.project_files (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    project_id   uuid        NOT NULL,
    path         text        NOT NULL,
    content      text,
    content_hash text,
    size_bytes   bigint      NOT NULL DEFAULT 0,
    mime_type    text,
    is_directory boolean     NOT NULL DEFAULT false,
    version      integer     NOT NULL DEFAULT 1,
    updated_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT project_files_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT uq_project_files_tenant_id_project_id_path UNIQUE (tenant_id, project_id, path),
    CONSTRAINT fk_project_files_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_project_files_projects FOREIGN KEY (tenant_id, project_id)
        REFERENCES agentbase.projects (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_project_files_users FOREIGN KEY (tenant_id, updated_by)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (updated_by),
    CONSTRAINT chk_project_files_path CHECK (
        length(path) BETWEEN 1 AND 1024
        AND path !~ '^/' AND path !~ '/$' AND path !~ '//'
        AND path !~ '(^|/)\.\.?(/|$)'),
    CONSTRAINT chk_project_files_content_hash CHECK (content_hash IS NULL OR content_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT chk_project_files_size_bytes CHECK (size_bytes >= 0),
    CONSTRAINT chk_project_files_mime_type CHECK (mime_type IS NULL OR mime_type ~ '^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$'),
    CONSTRAINT chk_project_files_is_directory CHECK (NOT is_directory OR content IS NULL),
    CONSTRAINT chk_project_files_version CHECK (version > 0)
);
CREATE INDEX idx_project_files_updated_by ON agentbase.project_files (tenant_id, updated_by);

COMMENT ON TABLE agentbase.project_files IS 'files and directories of a project';
COMMENT ON COLUMN agentbase.project_files.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.project_files.id IS 'file id';
COMMENT ON COLUMN agentbase.project_files.project_id IS 'project';
COMMENT ON COLUMN agentbase.project_files.path IS 'relative path, unique in the project (no leading or trailing /, no . or ..)';
COMMENT ON COLUMN agentbase.project_files.content IS 'text content (NULL for directories and files stored elsewhere)';
COMMENT ON COLUMN agentbase.project_files.content_hash IS 'SHA-256 of the content, lowercase hex (computed when content is set)';
COMMENT ON COLUMN agentbase.project_files.size_bytes IS 'size in bytes (computed when content is set)';
COMMENT ON COLUMN agentbase.project_files.mime_type IS 'media type, e.g. text/x-python';
COMMENT ON COLUMN agentbase.project_files.is_directory IS 'true for a directory entry (no content)';
COMMENT ON COLUMN agentbase.project_files.version IS 'starts at 1, incremented whenever the content changes';
COMMENT ON COLUMN agentbase.project_files.updated_by IS 'user who last changed the file';
COMMENT ON COLUMN agentbase.project_files.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.project_files.updated_at IS 'last update time';

CREATE FUNCTION agentbase.project_files_maintain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.content IS NOT NULL THEN
        NEW.content_hash := encode(sha256(convert_to(NEW.content, 'UTF8')), 'hex');
        NEW.size_bytes := octet_length(convert_to(NEW.content, 'UTF8'));
    ELSIF NEW.is_directory THEN
        NEW.content_hash := NULL;
        NEW.size_bytes := 0;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW.content IS DISTINCT FROM OLD.content
           OR NEW.content_hash IS DISTINCT FROM OLD.content_hash THEN
            NEW.version := OLD.version + 1;
        ELSE
            NEW.version := OLD.version;
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.project_files_maintain() IS
    'BEFORE trigger on project_files: computes content_hash and size_bytes, bumps version on content change';

CREATE TRIGGER trg_project_files_maintain BEFORE INSERT OR UPDATE ON agentbase.project_files
    FOR EACH ROW EXECUTE FUNCTION agentbase.project_files_maintain();

SELECT agentbase.enable_tenant_rls('agentbase.project_files');
SELECT agentbase.attach_updated_at('agentbase.project_files');
-- content is left out of the audit trail for size, not secrecy: content_hash, size_bytes
-- and version identify each change.
SELECT agentbase.attach_audit('agentbase.project_files', 'project_file', 'tenant_id', ARRAY['content']);

-- ------------------------------------------------------------------------------------
-- git_branches
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.git_branches (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    project_id      uuid        NOT NULL,
    name            text        NOT NULL,
    base_branch     text,
    head_commit_sha text,
    is_default      boolean     NOT NULL DEFAULT false,
    ahead_count     integer     NOT NULL DEFAULT 0,
    behind_count    integer     NOT NULL DEFAULT 0,
    last_commit_at  timestamptz,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT git_branches_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT uq_git_branches_tenant_id_project_id_name UNIQUE (tenant_id, project_id, name),
    CONSTRAINT fk_git_branches_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_git_branches_projects FOREIGN KEY (tenant_id, project_id)
        REFERENCES agentbase.projects (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_git_branches_users FOREIGN KEY (tenant_id, created_by)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (created_by),
    -- a subset of git's ref name rules: no leading '-', '/' or '.', no '..', '//', '/.',
    -- no trailing '/', '.' or '.lock', no spaces or control characters
    CONSTRAINT chk_git_branches_name CHECK (
        name ~ '^[A-Za-z0-9_][A-Za-z0-9._/-]{0,254}$' AND name !~ '(\.\.|//|/\.|/$|\.$|\.lock$)'),
    CONSTRAINT chk_git_branches_base_branch CHECK (base_branch IS NULL
        OR (base_branch ~ '^[A-Za-z0-9_][A-Za-z0-9._/-]{0,254}$' AND base_branch <> name)),
    CONSTRAINT chk_git_branches_head_commit_sha CHECK (head_commit_sha IS NULL OR head_commit_sha ~ '^[0-9a-f]{7,64}$'),
    CONSTRAINT chk_git_branches_ahead_count CHECK (ahead_count >= 0),
    CONSTRAINT chk_git_branches_behind_count CHECK (behind_count >= 0)
);
CREATE UNIQUE INDEX uq_git_branches_tenant_id_project_id_default ON agentbase.git_branches (tenant_id, project_id)
    WHERE is_default;
CREATE INDEX idx_git_branches_created_by ON agentbase.git_branches (tenant_id, created_by);

COMMENT ON TABLE agentbase.git_branches IS 'git branches of a project''s repository';
COMMENT ON COLUMN agentbase.git_branches.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.git_branches.id IS 'branch row id';
COMMENT ON COLUMN agentbase.git_branches.project_id IS 'project';
COMMENT ON COLUMN agentbase.git_branches.name IS 'branch name, unique in the project';
COMMENT ON COLUMN agentbase.git_branches.base_branch IS 'branch it was created from (differs from name)';
COMMENT ON COLUMN agentbase.git_branches.head_commit_sha IS 'head commit, lowercase hex, 7 to 64 digits (abbreviated, SHA-1 or SHA-256)';
COMMENT ON COLUMN agentbase.git_branches.is_default IS 'the project''s default branch (at most one per project)';
COMMENT ON COLUMN agentbase.git_branches.ahead_count IS 'commits ahead of the base branch';
COMMENT ON COLUMN agentbase.git_branches.behind_count IS 'commits behind the base branch';
COMMENT ON COLUMN agentbase.git_branches.last_commit_at IS 'time of the head commit';
COMMENT ON COLUMN agentbase.git_branches.created_by IS 'user who created the branch';
COMMENT ON COLUMN agentbase.git_branches.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.git_branches.updated_at IS 'last update time';

SELECT agentbase.enable_tenant_rls('agentbase.git_branches');
SELECT agentbase.attach_updated_at('agentbase.git_branches');
SELECT agentbase.attach_audit('agentbase.git_branches', 'git_branch');
