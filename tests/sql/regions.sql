-- pgTAP: 0009_regions (regions, tenant_regions, replication_status, cross_region_sync_logs).
-- Structure, every named CHECK, the one-primary rules, the tenant placement foreign keys,
-- privileges and the append-only log.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(91);

\set ta '''a0000009-0000-7000-8000-00000000000a'''
\set tb '''b0000009-0000-7000-8000-00000000000b'''
DO $$
DECLARE
    f name;
    t uuid;
BEGIN
    FOREACH t IN ARRAY ARRAY['a0000009-0000-7000-8000-00000000000a', 'b0000009-0000-7000-8000-00000000000b']::uuid[] LOOP
        FOR f IN SELECT proname FROM pg_proc
                  WHERE pronamespace = 'abtest'::regnamespace AND proname ~ '^fixture_000[23]_'
                  ORDER BY proname LOOP
            EXECUTE format('SELECT abtest.%I($1)', f) USING t;
        END LOOP;
    END LOOP;
END
$$;

CREATE FUNCTION pg_temp.rejects(p_sql text, p_con text) RETURNS text LANGUAGE sql AS $$
    SELECT throws_like(p_sql, '%violates check constraint "' || p_con || '"%', p_con || ' rejects a bad value')
$$;

-- Test regions independent of the seed (whose primary, if seeded, is cleared for the test).
UPDATE regions SET is_primary = false WHERE is_primary;
INSERT INTO regions (code, name, provider, latitude, longitude, is_primary)
VALUES ('tst-east-1', 'Test East', 'aws', 38.9, -77.4, true),
       ('tst-west-1', 'Test West', 'aws', 45.8, -119.7, false),
       ('tst-south-1', 'Test South', 'gcp', -33.9, 151.2, false);
SELECT id AS r1 FROM regions WHERE code = 'tst-east-1' \gset
SELECT id AS r2 FROM regions WHERE code = 'tst-west-1' \gset
SELECT id AS r3 FROM regions WHERE code = 'tst-south-1' \gset

-- ------------------------------------------------------------------------------------
-- Structure
-- ------------------------------------------------------------------------------------
SELECT has_table('agentbase', t, t || ' exists')
  FROM unnest(ARRAY['regions', 'tenant_regions', 'replication_status', 'cross_region_sync_logs']) AS t;
SELECT columns_are('agentbase', 'regions', ARRAY[
    'id', 'code', 'name', 'provider', 'endpoint_url', 'status', 'is_primary', 'latitude', 'longitude', 'capacity',
    'metadata', 'created_at', 'updated_at'], 'regions columns');
SELECT columns_are('agentbase', 'tenant_regions', ARRAY[
    'tenant_id', 'id', 'region_id', 'role', 'status', 'data_residency_required', 'created_at', 'updated_at'],
    'tenant_regions columns');
SELECT columns_are('agentbase', 'replication_status', ARRAY[
    'tenant_id', 'id', 'source_region_id', 'target_region_id', 'lag_seconds', 'last_replicated_at', 'status',
    'bytes_pending', 'last_error', 'created_at', 'updated_at'], 'replication_status columns');
SELECT columns_are('agentbase', 'cross_region_sync_logs', ARRAY[
    'tenant_id', 'id', 'source_region_id', 'target_region_id', 'sync_type', 'records_synced', 'bytes_synced',
    'status', 'error_message', 'started_at', 'completed_at', 'duration_ms', 'created_at'],
    'cross_region_sync_logs columns');
SELECT hasnt_column('agentbase', 'regions', 'tenant_id', 'regions is global');
SELECT col_type_is('agentbase', 'regions', 'latitude', 'numeric(8,6)', 'latitude is numeric');
SELECT col_type_is('agentbase', 'regions', 'longitude', 'numeric(9,6)', 'longitude is numeric');
SELECT col_type_is('agentbase', 'replication_status', 'bytes_pending', 'bigint', 'bytes_pending is bigint');
SELECT col_type_is('agentbase', 'cross_region_sync_logs', 'bytes_synced', 'bigint', 'bytes_synced is bigint');

SELECT col_is_pk('agentbase', 'regions', ARRAY['id'], 'regions PK (id)');
SELECT col_is_pk('agentbase', 'tenant_regions', ARRAY['tenant_id', 'id'], 'tenant_regions PK (tenant_id, id)');
SELECT col_is_pk('agentbase', 'replication_status', ARRAY['tenant_id', 'id'], 'replication_status PK (tenant_id, id)');
SELECT col_is_pk('agentbase', 'cross_region_sync_logs', ARRAY['tenant_id', 'id', 'created_at'],
                 'cross_region_sync_logs PK (tenant_id, id, created_at)');
SELECT col_is_unique('agentbase', 'regions', ARRAY['code'], 'region code unique');
SELECT col_is_unique('agentbase', 'tenant_regions', ARRAY['tenant_id', 'region_id'], 'one placement per tenant and region');
SELECT col_is_unique('agentbase', 'replication_status', ARRAY['tenant_id', 'source_region_id', 'target_region_id'],
                     'one status row per tenant and direction');

SELECT fk_ok('agentbase', t, ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], t || ' -> tenants')
  FROM unnest(ARRAY['tenant_regions', 'replication_status', 'cross_region_sync_logs']) AS t;
SELECT fk_ok('agentbase', 'tenant_regions', ARRAY['region_id'], 'agentbase', 'regions', ARRAY['id'], 'tenant_regions -> regions');
SELECT fk_ok('agentbase', 'replication_status', ARRAY['tenant_id', 'source_region_id'], 'agentbase', 'tenant_regions',
             ARRAY['tenant_id', 'region_id'], 'replication_status source -> tenant_regions');
SELECT fk_ok('agentbase', 'replication_status', ARRAY['tenant_id', 'target_region_id'], 'agentbase', 'tenant_regions',
             ARRAY['tenant_id', 'region_id'], 'replication_status target -> tenant_regions');
SELECT fk_ok('agentbase', 'cross_region_sync_logs', ARRAY['source_region_id'], 'agentbase', 'regions', ARRAY['id'],
             'cross_region_sync_logs source -> regions');
SELECT fk_ok('agentbase', 'cross_region_sync_logs', ARRAY['target_region_id'], 'agentbase', 'regions', ARRAY['id'],
             'cross_region_sync_logs target -> regions');

SELECT has_index('agentbase', 'regions', 'uq_regions_is_primary', ARRAY['is_primary'], 'at most one primary region');
SELECT has_index('agentbase', 'tenant_regions', 'uq_tenant_regions_tenant_id_primary', ARRAY['tenant_id'],
                 'at most one primary region per tenant');
SELECT has_index('agentbase', 'tenant_regions', 'idx_tenant_regions_region_id', ARRAY['region_id'],
                 'index on tenant_regions.region_id');
SELECT has_index('agentbase', 'replication_status', 'idx_replication_status_target_region_id',
                 ARRAY['tenant_id', 'target_region_id'], 'index on replication_status.target_region_id');
SELECT has_index('agentbase', 'cross_region_sync_logs', 'idx_cross_region_sync_logs_source_region_id',
                 ARRAY['source_region_id', 'created_at'], 'index on cross_region_sync_logs.source_region_id');
SELECT has_index('agentbase', 'cross_region_sync_logs', 'idx_cross_region_sync_logs_target_region_id',
                 ARRAY['target_region_id', 'created_at'], 'index on cross_region_sync_logs.target_region_id');

SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'agentbase.cross_region_sync_logs'::regclass), 'p',
          'cross_region_sync_logs is partitioned');
SELECT ok((SELECT bool_and(relrowsecurity AND relforcerowsecurity) FROM pg_class
            WHERE oid IN ('agentbase.tenant_regions'::regclass, 'agentbase.replication_status'::regclass,
                          'agentbase.cross_region_sync_logs'::regclass)),
          'RLS enabled and forced on every region tenant table');
SELECT table_privs_are('agentbase', 'regions', 'agentbase_app', ARRAY['SELECT'], 'the service may only read regions');
SELECT table_privs_are('agentbase', 'cross_region_sync_logs', 'agentbase_app', ARRAY['SELECT', 'INSERT'],
                       'the service may only append to cross_region_sync_logs');
SELECT has_trigger('agentbase', 'tenant_regions', 'trg_audit', 'tenant_regions is audited');
SELECT has_trigger('agentbase', 'replication_status', 'trg_audit', 'replication_status is audited');
SELECT has_trigger('agentbase', 'regions', 'trg_updated_at', 'regions keeps updated_at');
SELECT is_empty($$
    SELECT c.relname || '.' || coalesce(a.attname, '')
      FROM pg_class c
      LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                              AND col_description(c.oid, a.attnum) IS NULL
     WHERE c.oid IN ('agentbase.regions'::regclass, 'agentbase.tenant_regions'::regclass,
                     'agentbase.replication_status'::regclass, 'agentbase.cross_region_sync_logs'::regclass)
       AND (a.attname IS NOT NULL OR obj_description(c.oid, 'pg_class') IS NULL)
$$, 'every region table and column has a comment');

-- ------------------------------------------------------------------------------------
-- Every named CHECK rejects a bad value
-- ------------------------------------------------------------------------------------
SELECT set_eq($$
    SELECT conname::text FROM pg_constraint
     WHERE contype = 'c' AND conrelid IN ('agentbase.regions'::regclass, 'agentbase.tenant_regions'::regclass,
                                          'agentbase.replication_status'::regclass,
                                          'agentbase.cross_region_sync_logs'::regclass)
$$, ARRAY[
    'chk_regions_code', 'chk_regions_name', 'chk_regions_provider', 'chk_regions_endpoint_url', 'chk_regions_status',
    'chk_regions_latitude', 'chk_regions_longitude', 'chk_regions_capacity',
    'chk_tenant_regions_role', 'chk_tenant_regions_status',
    'chk_replication_status_target_region_id', 'chk_replication_status_lag_seconds', 'chk_replication_status_status',
    'chk_replication_status_bytes_pending',
    'chk_cross_region_sync_logs_target_region_id', 'chk_cross_region_sync_logs_sync_type',
    'chk_cross_region_sync_logs_records_synced', 'chk_cross_region_sync_logs_bytes_synced',
    'chk_cross_region_sync_logs_status', 'chk_cross_region_sync_logs_completed_at',
    'chk_cross_region_sync_logs_duration_ms'],
  'the CHECK constraints tested below are exactly those of the module');

SELECT lives_ok($$INSERT INTO regions (code, name, provider, endpoint_url, latitude, longitude, capacity)
                  VALUES ('chk-ok-1', 'OK', 'self-hosted', 'https://eu.example.test', -90, 180, 0)$$,
                'a valid region (coordinates at their limits) is accepted');
SELECT pg_temp.rejects($$INSERT INTO regions (code, name, provider) VALUES ('US_EAST', 'X', 'aws')$$, 'chk_regions_code');
SELECT pg_temp.rejects($$INSERT INTO regions (code, name, provider) VALUES ('cc-1', ' ', 'aws')$$, 'chk_regions_name');
SELECT pg_temp.rejects($$INSERT INTO regions (code, name, provider) VALUES ('cc-2', 'X', 'AWS')$$, 'chk_regions_provider');
SELECT pg_temp.rejects($$INSERT INTO regions (code, name, provider, endpoint_url) VALUES ('cc-3', 'X', 'aws', 'eu.example.test')$$, 'chk_regions_endpoint_url');
SELECT pg_temp.rejects($$INSERT INTO regions (code, name, provider, status) VALUES ('cc-4', 'X', 'aws', 'down')$$, 'chk_regions_status');
SELECT pg_temp.rejects($$INSERT INTO regions (code, name, provider, latitude) VALUES ('cc-5', 'X', 'aws', 90.5)$$, 'chk_regions_latitude');
SELECT pg_temp.rejects($$INSERT INTO regions (code, name, provider, longitude) VALUES ('cc-6', 'X', 'aws', -180.000001)$$, 'chk_regions_longitude');
SELECT pg_temp.rejects($$INSERT INTO regions (code, name, provider, capacity) VALUES ('cc-7', 'X', 'aws', -1)$$, 'chk_regions_capacity');

SELECT lives_ok(format($$INSERT INTO tenant_regions (tenant_id, region_id, role, status, data_residency_required)
                         VALUES (%L, %L, 'primary', 'active', true)$$, :ta, :'r1'), 'a valid placement is accepted');
SELECT pg_temp.rejects(format($$INSERT INTO tenant_regions (tenant_id, region_id, role) VALUES (%L, %L, 'leader')$$, :ta, :'r2'), 'chk_tenant_regions_role');
SELECT pg_temp.rejects(format($$INSERT INTO tenant_regions (tenant_id, region_id, status) VALUES (%L, %L, 'gone')$$, :ta, :'r2'), 'chk_tenant_regions_status');

INSERT INTO tenant_regions (tenant_id, region_id, role, status) VALUES (:ta, :'r2', 'replica', 'active');
SELECT lives_ok(format($$INSERT INTO replication_status (tenant_id, source_region_id, target_region_id, lag_seconds, bytes_pending)
                         VALUES (%L, %L, %L, 0.5, 1024)$$, :ta, :'r1', :'r2'), 'a valid replication status is accepted');
SELECT pg_temp.rejects(format($$INSERT INTO replication_status (tenant_id, source_region_id, target_region_id) VALUES (%L, %L, %L)$$, :ta, :'r1', :'r1'), 'chk_replication_status_target_region_id');
SELECT pg_temp.rejects(format($$UPDATE replication_status SET lag_seconds = -0.001 WHERE tenant_id = %L$$, :ta), 'chk_replication_status_lag_seconds');
SELECT pg_temp.rejects(format($$UPDATE replication_status SET status = 'ok' WHERE tenant_id = %L$$, :ta), 'chk_replication_status_status');
SELECT pg_temp.rejects(format($$UPDATE replication_status SET bytes_pending = -1 WHERE tenant_id = %L$$, :ta), 'chk_replication_status_bytes_pending');

SELECT lives_ok(format($$INSERT INTO cross_region_sync_logs (tenant_id, source_region_id, target_region_id, sync_type, status,
                                                             records_synced, bytes_synced, started_at, completed_at, duration_ms)
                         VALUES (%L, %L, %L, 'full', 'success', 10, 100, now() - interval '1 second', now(), 1000)$$, :ta, :'r1', :'r2'),
                'a valid sync log row is accepted');
SELECT pg_temp.rejects(format($$INSERT INTO cross_region_sync_logs (tenant_id, source_region_id, target_region_id, sync_type, status, started_at) VALUES (%L, %L, %L, 'full', 'success', now())$$, :ta, :'r1', :'r1'), 'chk_cross_region_sync_logs_target_region_id');
SELECT pg_temp.rejects(format($$INSERT INTO cross_region_sync_logs (tenant_id, source_region_id, target_region_id, sync_type, status, started_at) VALUES (%L, %L, %L, 'delta', 'success', now())$$, :ta, :'r1', :'r2'), 'chk_cross_region_sync_logs_sync_type');
SELECT pg_temp.rejects(format($$INSERT INTO cross_region_sync_logs (tenant_id, source_region_id, target_region_id, sync_type, status, started_at, records_synced) VALUES (%L, %L, %L, 'full', 'success', now(), -1)$$, :ta, :'r1', :'r2'), 'chk_cross_region_sync_logs_records_synced');
SELECT pg_temp.rejects(format($$INSERT INTO cross_region_sync_logs (tenant_id, source_region_id, target_region_id, sync_type, status, started_at, bytes_synced) VALUES (%L, %L, %L, 'full', 'success', now(), -1)$$, :ta, :'r1', :'r2'), 'chk_cross_region_sync_logs_bytes_synced');
SELECT pg_temp.rejects(format($$INSERT INTO cross_region_sync_logs (tenant_id, source_region_id, target_region_id, sync_type, status, started_at) VALUES (%L, %L, %L, 'full', 'running', now())$$, :ta, :'r1', :'r2'), 'chk_cross_region_sync_logs_status');
SELECT pg_temp.rejects(format($$INSERT INTO cross_region_sync_logs (tenant_id, source_region_id, target_region_id, sync_type, status, started_at, completed_at) VALUES (%L, %L, %L, 'full', 'success', now(), now() - interval '1 minute')$$, :ta, :'r1', :'r2'), 'chk_cross_region_sync_logs_completed_at');
SELECT pg_temp.rejects(format($$INSERT INTO cross_region_sync_logs (tenant_id, source_region_id, target_region_id, sync_type, status, started_at, duration_ms) VALUES (%L, %L, %L, 'full', 'failed', now(), -5)$$, :ta, :'r1', :'r2'), 'chk_cross_region_sync_logs_duration_ms');

SELECT id AS rs FROM replication_status WHERE tenant_id = :ta \gset
UPDATE replication_status SET lag_seconds = 3.5, bytes_pending = 10, last_replicated_at = now() WHERE tenant_id = :ta AND id = :'rs';
SELECT is((SELECT count(*) FROM audit_logs WHERE tenant_id = :ta AND resource_id = :'rs'), 1::bigint,
          'lag measurements alone write no audit row');
UPDATE replication_status SET status = 'lagging' WHERE tenant_id = :ta AND id = :'rs';
SELECT is((SELECT count(*) FROM audit_logs WHERE tenant_id = :ta AND resource_id = :'rs'), 2::bigint,
          'a replication status change is audited');

-- ------------------------------------------------------------------------------------
-- One primary: per platform and per tenant
-- ------------------------------------------------------------------------------------
SELECT throws_ok($$UPDATE regions SET is_primary = true WHERE code = 'tst-west-1'$$, '23505', NULL,
                 'a second primary region is rejected');
UPDATE regions SET is_primary = false WHERE code = 'tst-east-1';
SELECT lives_ok($$UPDATE regions SET is_primary = true WHERE code = 'tst-west-1'$$,
                'the primary flag moves once the old primary is cleared');
SELECT throws_ok(format($$UPDATE tenant_regions SET role = 'primary' WHERE tenant_id = %L AND region_id = %L$$, :ta, :'r2'),
                 '23505', NULL, 'a tenant has at most one primary region');
SELECT throws_ok(format($$INSERT INTO tenant_regions (tenant_id, region_id, role) VALUES (%L, %L, 'backup')$$, :ta, :'r1'),
                 '23505', NULL, 'a tenant is placed in a region once');
SELECT lives_ok(format($$INSERT INTO tenant_regions (tenant_id, region_id, role) VALUES (%L, %L, 'primary')$$, :tb, :'r1'),
                'another tenant may have its own primary in the same region');

-- ------------------------------------------------------------------------------------
-- Replication only between the tenant's own regions; referential actions
-- ------------------------------------------------------------------------------------
SELECT throws_ok(format($$INSERT INTO replication_status (tenant_id, source_region_id, target_region_id) VALUES (%L, %L, %L)$$, :ta, :'r1', :'r3'),
                 '23503', NULL, 'replication to a region the tenant is not placed in is rejected');
SELECT throws_ok(format($$INSERT INTO replication_status (tenant_id, source_region_id, target_region_id) VALUES (%L, %L, %L)$$, :tb, :'r1', :'r2'),
                 '23503', NULL, 'tenant B cannot use tenant A''s placement in a region');
SELECT throws_ok(format($$INSERT INTO replication_status (tenant_id, source_region_id, target_region_id) VALUES (%L, %L, %L)$$, :ta, :'r1', :'r2'),
                 '23505', NULL, 'one status row per tenant and direction');
SELECT throws_ok(format($$DELETE FROM regions WHERE id = %L$$, :'r2'), '23503', NULL,
                 'a region holding tenant data cannot be deleted');
DELETE FROM tenant_regions WHERE tenant_id = :ta AND region_id = :'r2';
SELECT is((SELECT count(*) FROM replication_status WHERE tenant_id = :ta), 0::bigint,
          'removing a placement removes its replication status');
SELECT is((SELECT count(*) FROM cross_region_sync_logs WHERE tenant_id = :ta), 1::bigint,
          'sync history outlives the placement');

-- ------------------------------------------------------------------------------------
-- As the service
-- ------------------------------------------------------------------------------------
INSERT INTO tenant_regions (tenant_id, region_id, role, status) VALUES (:tb, :'r2', 'replica', 'active');
INSERT INTO replication_status (tenant_id, source_region_id, target_region_id, status) VALUES (:tb, :'r1', :'r2', 'lagging');
SELECT abtest.become(:ta);
SELECT isnt_empty($$SELECT 1 FROM regions WHERE code = 'tst-south-1'$$, 'the service reads regions');
SELECT throws_ok($$INSERT INTO regions (code, name, provider) VALUES ('evil-1', 'E', 'aws')$$, '42501', NULL,
                 'the service cannot add regions');
SELECT throws_ok($$UPDATE regions SET status = 'offline'$$, '42501', NULL, 'the service cannot change regions');
SELECT is_empty($$SELECT 1 FROM replication_status$$, 'tenant A does not see tenant B''s replication status');
SELECT set_eq($$SELECT role FROM tenant_regions$$, ARRAY['primary'], 'tenant A sees only its own placements');
SELECT lives_ok(format($$INSERT INTO cross_region_sync_logs (tenant_id, source_region_id, target_region_id, sync_type, status, started_at)
                         VALUES (agentbase.current_tenant_id(), %L, %L, 'incremental', 'partial', now())$$, :'r1', :'r3'),
                'the service appends sync log rows');
SELECT throws_ok($$UPDATE cross_region_sync_logs SET status = 'success'$$, '42501', NULL, 'the service cannot update sync logs');
SELECT throws_ok($$DELETE FROM cross_region_sync_logs$$, '42501', NULL, 'the service cannot delete sync logs');
SELECT throws_ok(format($$INSERT INTO tenant_regions (tenant_id, region_id, role) VALUES (%L, %L, 'backup')$$, :tb, :'r3'),
                 '42501', NULL, 'tenant A cannot place tenant B''s data');
SELECT abtest.unbecome();
SELECT results_eq(format($$SELECT action FROM audit_logs WHERE tenant_id = %L AND resource_type = 'tenant_region' ORDER BY created_at, action$$, :ta),
                  $$VALUES ('tenant_region.created'), ('tenant_region.created'), ('tenant_region.deleted')$$,
                  'placements are audited');

SELECT * FROM finish();
ROLLBACK;
