-- Regions (multi-region phase): the platform's regions (global), where each tenant's data
-- lives, the health of its replication between those regions, and a log of sync runs.
--
-- replication_status is TENANT-SCOPED, not global: with tenants distributed by tenant_id,
-- a tenant's data is placed and replicated per tenant (tenant_regions says primary here,
-- replica there), so lag is a property of (tenant, source, target). That lets a tenant
-- read its own replication health (data-residency and recovery reporting) through the
-- ordinary RLS, and lets the foreign keys require that both ends are regions the tenant
-- is actually placed in. Cluster-wide stream health belongs to monitoring, not here.

-- ------------------------------------------------------------------------------------
-- regions (global)
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.regions (
    id           uuid         NOT NULL DEFAULT agentbase.uuid_v7(),
    code         text         NOT NULL,
    name         text         NOT NULL,
    provider     text         NOT NULL,
    endpoint_url text,
    status       text         NOT NULL DEFAULT 'active',
    is_primary   boolean      NOT NULL DEFAULT false,
    latitude     numeric(8,6),
    longitude    numeric(9,6),
    capacity     integer,
    metadata     jsonb        NOT NULL DEFAULT '{}',
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT regions_pkey PRIMARY KEY (id),
    CONSTRAINT uq_regions_code UNIQUE (code),
    CONSTRAINT chk_regions_code CHECK (code ~ '^[a-z]{2,}(-[a-z0-9]+)+$' AND length(code) <= 64),
    CONSTRAINT chk_regions_name CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT chk_regions_provider CHECK (provider ~ '^[a-z0-9][a-z0-9-]{0,39}$'),
    CONSTRAINT chk_regions_endpoint_url CHECK (endpoint_url IS NULL OR endpoint_url ~ '^https?://[^[:space:]]+$'),
    CONSTRAINT chk_regions_status CHECK (status IN ('active', 'degraded', 'maintenance', 'offline')),
    CONSTRAINT chk_regions_latitude CHECK (latitude BETWEEN -90 AND 90),
    CONSTRAINT chk_regions_longitude CHECK (longitude BETWEEN -180 AND 180),
    CONSTRAINT chk_regions_capacity CHECK (capacity >= 0)
);
-- at most one primary region
CREATE UNIQUE INDEX uq_regions_is_primary ON agentbase.regions (is_primary) WHERE is_primary;

COMMENT ON TABLE agentbase.regions IS 'regions the platform runs in (global, read-only for the service)';
COMMENT ON COLUMN agentbase.regions.id IS 'region id';
COMMENT ON COLUMN agentbase.regions.code IS 'unique code, e.g. us-east-1';
COMMENT ON COLUMN agentbase.regions.name IS 'display name';
COMMENT ON COLUMN agentbase.regions.provider IS 'infrastructure provider, lowercase (aws, gcp, azure, self-hosted, ...)';
COMMENT ON COLUMN agentbase.regions.endpoint_url IS 'base URL of the region''s API';
COMMENT ON COLUMN agentbase.regions.status IS 'active, degraded, maintenance or offline';
COMMENT ON COLUMN agentbase.regions.is_primary IS 'the platform''s primary region (at most one)';
COMMENT ON COLUMN agentbase.regions.latitude IS 'latitude in degrees, -90..90';
COMMENT ON COLUMN agentbase.regions.longitude IS 'longitude in degrees, -180..180';
COMMENT ON COLUMN agentbase.regions.capacity IS 'maximum number of tenants placed here (NULL: unlimited)';
COMMENT ON COLUMN agentbase.regions.metadata IS 'free-form metadata (provider region ids, compliance zones)';
COMMENT ON COLUMN agentbase.regions.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.regions.updated_at IS 'last update time';

SELECT agentbase.attach_updated_at('agentbase.regions');
SELECT agentbase.restrict_app_to_read('agentbase.regions');

-- ------------------------------------------------------------------------------------
-- tenant_regions
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.tenant_regions (
    tenant_id               uuid        NOT NULL,
    id                      uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    region_id               uuid        NOT NULL,
    role                    text        NOT NULL DEFAULT 'replica',
    status                  text        NOT NULL DEFAULT 'provisioning',
    data_residency_required boolean     NOT NULL DEFAULT false,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_regions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT uq_tenant_regions_tenant_id_region_id UNIQUE (tenant_id, region_id),
    CONSTRAINT fk_tenant_regions_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_tenant_regions_regions FOREIGN KEY (region_id)
        REFERENCES agentbase.regions (id) ON DELETE RESTRICT,
    CONSTRAINT chk_tenant_regions_role CHECK (role IN ('primary', 'replica', 'backup')),
    CONSTRAINT chk_tenant_regions_status CHECK (status IN ('provisioning', 'active', 'draining', 'inactive'))
);
-- at most one primary region per tenant
CREATE UNIQUE INDEX uq_tenant_regions_tenant_id_primary ON agentbase.tenant_regions (tenant_id)
    WHERE role = 'primary';
CREATE INDEX idx_tenant_regions_region_id ON agentbase.tenant_regions (region_id);

COMMENT ON TABLE agentbase.tenant_regions IS 'regions holding a tenant''s data, and in which role';
COMMENT ON COLUMN agentbase.tenant_regions.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.tenant_regions.id IS 'placement id';
COMMENT ON COLUMN agentbase.tenant_regions.region_id IS 'region';
COMMENT ON COLUMN agentbase.tenant_regions.role IS 'primary (at most one per tenant), replica or backup';
COMMENT ON COLUMN agentbase.tenant_regions.status IS 'provisioning, active, draining or inactive';
COMMENT ON COLUMN agentbase.tenant_regions.data_residency_required IS
    'the tenant''s data is bound to this region by law or contract: do not copy it to regions without this flag';
COMMENT ON COLUMN agentbase.tenant_regions.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.tenant_regions.updated_at IS 'last update time';

SELECT agentbase.enable_tenant_rls('agentbase.tenant_regions');
SELECT agentbase.attach_updated_at('agentbase.tenant_regions');
SELECT agentbase.attach_audit('agentbase.tenant_regions', 'tenant_region');

-- ------------------------------------------------------------------------------------
-- replication_status (tenant-scoped: see the top of this file)
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.replication_status (
    tenant_id          uuid          NOT NULL,
    id                 uuid          NOT NULL DEFAULT agentbase.uuid_v7(),
    source_region_id   uuid          NOT NULL,
    target_region_id   uuid          NOT NULL,
    lag_seconds        numeric(12,3) NOT NULL DEFAULT 0,
    last_replicated_at timestamptz,
    status             text          NOT NULL DEFAULT 'healthy',
    bytes_pending      bigint        NOT NULL DEFAULT 0,
    last_error         text,
    created_at         timestamptz   NOT NULL DEFAULT now(),
    updated_at         timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT replication_status_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT uq_replication_status_tenant_id_source_target
        UNIQUE (tenant_id, source_region_id, target_region_id),
    CONSTRAINT fk_replication_status_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    -- both ends must be regions the tenant is placed in
    CONSTRAINT fk_replication_status_tenant_regions_source FOREIGN KEY (tenant_id, source_region_id)
        REFERENCES agentbase.tenant_regions (tenant_id, region_id) ON DELETE CASCADE,
    CONSTRAINT fk_replication_status_tenant_regions_target FOREIGN KEY (tenant_id, target_region_id)
        REFERENCES agentbase.tenant_regions (tenant_id, region_id) ON DELETE CASCADE,
    CONSTRAINT chk_replication_status_target_region_id CHECK (target_region_id <> source_region_id),
    CONSTRAINT chk_replication_status_lag_seconds CHECK (lag_seconds >= 0),
    CONSTRAINT chk_replication_status_status CHECK (status IN ('healthy', 'lagging', 'broken', 'paused')),
    CONSTRAINT chk_replication_status_bytes_pending CHECK (bytes_pending >= 0)
);
CREATE INDEX idx_replication_status_target_region_id ON agentbase.replication_status (tenant_id, target_region_id);

COMMENT ON TABLE agentbase.replication_status IS
    'current replication health of a tenant''s data from one of its regions to another';
COMMENT ON COLUMN agentbase.replication_status.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.replication_status.id IS 'row id';
COMMENT ON COLUMN agentbase.replication_status.source_region_id IS 'region replicated from (a region of the tenant)';
COMMENT ON COLUMN agentbase.replication_status.target_region_id IS 'region replicated to (a region of the tenant, not the source)';
COMMENT ON COLUMN agentbase.replication_status.lag_seconds IS 'replication lag in seconds (>= 0)';
COMMENT ON COLUMN agentbase.replication_status.last_replicated_at IS 'last change applied at the target';
COMMENT ON COLUMN agentbase.replication_status.status IS 'healthy, lagging, broken or paused';
COMMENT ON COLUMN agentbase.replication_status.bytes_pending IS 'bytes not yet replicated (>= 0)';
COMMENT ON COLUMN agentbase.replication_status.last_error IS 'last replication error, if any';
COMMENT ON COLUMN agentbase.replication_status.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.replication_status.updated_at IS 'last update time';

SELECT agentbase.enable_tenant_rls('agentbase.replication_status');
SELECT agentbase.attach_updated_at('agentbase.replication_status');
-- lag measurements alone write no audit row; status changes do
SELECT agentbase.attach_audit_except('agentbase.replication_status', 'replication_status',
                                     ARRAY['lag_seconds', 'last_replicated_at', 'bytes_pending', 'updated_at']);

-- ------------------------------------------------------------------------------------
-- cross_region_sync_logs: append-only log of sync runs
-- ------------------------------------------------------------------------------------

-- One row per finished run (the service cannot update log rows, so there is no 'running').
-- Regions are referenced directly, not through tenant_regions, so that history outlives a
-- placement.
CREATE TABLE agentbase.cross_region_sync_logs (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    source_region_id uuid        NOT NULL,
    target_region_id uuid        NOT NULL,
    sync_type        text        NOT NULL,
    records_synced   bigint      NOT NULL DEFAULT 0,
    bytes_synced     bigint      NOT NULL DEFAULT 0,
    status           text        NOT NULL,
    error_message    text,
    started_at       timestamptz NOT NULL,
    completed_at     timestamptz,
    duration_ms      bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cross_region_sync_logs_pkey PRIMARY KEY (tenant_id, id, created_at),
    CONSTRAINT fk_cross_region_sync_logs_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_cross_region_sync_logs_regions_source FOREIGN KEY (source_region_id)
        REFERENCES agentbase.regions (id) ON DELETE RESTRICT,
    CONSTRAINT fk_cross_region_sync_logs_regions_target FOREIGN KEY (target_region_id)
        REFERENCES agentbase.regions (id) ON DELETE RESTRICT,
    CONSTRAINT chk_cross_region_sync_logs_target_region_id CHECK (target_region_id <> source_region_id),
    CONSTRAINT chk_cross_region_sync_logs_sync_type CHECK (sync_type IN ('full', 'incremental', 'snapshot', 'failover')),
    CONSTRAINT chk_cross_region_sync_logs_records_synced CHECK (records_synced >= 0),
    CONSTRAINT chk_cross_region_sync_logs_bytes_synced CHECK (bytes_synced >= 0),
    CONSTRAINT chk_cross_region_sync_logs_status CHECK (status IN ('success', 'partial', 'failed', 'cancelled')),
    CONSTRAINT chk_cross_region_sync_logs_completed_at CHECK (completed_at >= started_at),
    CONSTRAINT chk_cross_region_sync_logs_duration_ms CHECK (duration_ms >= 0)
) PARTITION BY RANGE (created_at);
CREATE INDEX idx_cross_region_sync_logs_source_region_id ON agentbase.cross_region_sync_logs (source_region_id, created_at);
CREATE INDEX idx_cross_region_sync_logs_target_region_id ON agentbase.cross_region_sync_logs (target_region_id, created_at);
CREATE INDEX idx_cross_region_sync_logs_created_at ON agentbase.cross_region_sync_logs (tenant_id, created_at);

COMMENT ON TABLE agentbase.cross_region_sync_logs IS 'append-only log of cross-region sync runs (partitioned by month)';
COMMENT ON COLUMN agentbase.cross_region_sync_logs.tenant_id IS 'tenant whose data was synced';
COMMENT ON COLUMN agentbase.cross_region_sync_logs.id IS 'run id';
COMMENT ON COLUMN agentbase.cross_region_sync_logs.source_region_id IS 'region synced from';
COMMENT ON COLUMN agentbase.cross_region_sync_logs.target_region_id IS 'region synced to (not the source)';
COMMENT ON COLUMN agentbase.cross_region_sync_logs.sync_type IS 'full, incremental, snapshot or failover';
COMMENT ON COLUMN agentbase.cross_region_sync_logs.records_synced IS 'rows copied (>= 0)';
COMMENT ON COLUMN agentbase.cross_region_sync_logs.bytes_synced IS 'bytes copied (>= 0)';
COMMENT ON COLUMN agentbase.cross_region_sync_logs.status IS 'success, partial, failed or cancelled';
COMMENT ON COLUMN agentbase.cross_region_sync_logs.error_message IS 'error text when the run failed';
COMMENT ON COLUMN agentbase.cross_region_sync_logs.started_at IS 'start of the run';
COMMENT ON COLUMN agentbase.cross_region_sync_logs.completed_at IS 'end of the run (not before started_at)';
COMMENT ON COLUMN agentbase.cross_region_sync_logs.duration_ms IS 'duration in milliseconds (>= 0)';
COMMENT ON COLUMN agentbase.cross_region_sync_logs.created_at IS 'time the row was logged (partition key)';

SELECT agentbase.enable_tenant_rls('agentbase.cross_region_sync_logs');
SELECT agentbase.restrict_app_to_append('agentbase.cross_region_sync_logs');
SELECT agentbase.ensure_monthly_partitions('agentbase.cross_region_sync_logs');
