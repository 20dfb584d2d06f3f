-- pgTAP: properties of the whole agentbase catalog, checked generically so that every
-- module (present and future) is covered without listing its tables. Each test lists the
-- offending objects, so the plan does not depend on how many tables exist.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(24);

-- Relations of schema agentbase that are not partitions (partitions are made by
-- ensure_monthly_partitions and inherit their parent's definition).
CREATE TEMP VIEW ab_rel AS
SELECT c.oid, c.relname, c.relkind, c.relispartition,
       EXISTS (SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS has_tenant
  FROM pg_class c
 WHERE c.relnamespace = 'agentbase'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f');

-- Sanity: the walk sees the core tables, so the properties below cannot pass vacuously.
SELECT is(ARRAY(SELECT relname::text FROM ab_rel
                 WHERE has_tenant AND relname IN ('users', 'api_keys', 'audit_logs', 'agents', 'conversations', 'messages')
                 ORDER BY 1),
          ARRAY['agents', 'api_keys', 'audit_logs', 'conversations', 'messages', 'users'],
          'the catalog walk finds the core tenant tables');

-- ------------------------------------------------------------------------------------
-- Row Level Security
-- ------------------------------------------------------------------------------------

SELECT is(ARRAY(SELECT c.relname::text FROM ab_rel r JOIN pg_class c ON c.oid = r.oid
                 WHERE r.relkind IN ('r', 'p') AND (r.has_tenant OR r.relname = 'tenants')
                   AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
                 ORDER BY 1),
          '{}', 'every tenant table (and every partition, and tenants) has RLS enabled and forced');

SELECT is(ARRAY(SELECT r.relname::text FROM ab_rel r
                 WHERE r.relkind IN ('r', 'p') AND (r.has_tenant OR r.relname = 'tenants')
                   AND NOT EXISTS (SELECT 1 FROM pg_policy p
                                    WHERE p.polrelid = r.oid
                                      AND (p.polroles @> ARRAY['agentbase_app'::regrole::oid]
                                           OR p.polroles @> ARRAY[0::oid]))
                 ORDER BY 1),
          '{}', 'every tenant table has a policy for agentbase_app');

SELECT is(ARRAY(SELECT r.relname || '.' || p.polname FROM ab_rel r JOIN pg_policy p ON p.polrelid = r.oid
                 WHERE r.has_tenant AND p.polpermissive
                   AND (p.polroles @> ARRAY['agentbase_app'::regrole::oid] OR p.polroles @> ARRAY[0::oid])
                   AND (coalesce(pg_get_expr(p.polqual, p.polrelid), '') !~ 'current_tenant_id\(\)|is_platform_admin\(\)'
                        AND coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '') !~ 'current_tenant_id\(\)|is_platform_admin\(\)')
                 ORDER BY 1),
          '{}', 'every permissive policy of agentbase_app on a tenant table depends on the tenant (or platform admin) context');

SELECT is(ARRAY(SELECT r.relname::text FROM ab_rel r
                 WHERE r.has_tenant AND r.relkind IN ('r', 'p')
                   AND NOT EXISTS (SELECT 1 FROM pg_policy p
                                    WHERE p.polrelid = r.oid AND p.polcmd IN ('*', 'a')
                                      AND p.polroles @> ARRAY['agentbase_app'::regrole::oid]
                                      AND pg_get_expr(coalesce(p.polwithcheck, p.polqual), p.polrelid)
                                          ~ 'current_tenant_id\(\)')
                 ORDER BY 1),
          '{}', 'every tenant table checks new rows of agentbase_app against current_tenant_id()');

-- ------------------------------------------------------------------------------------
-- Roles
-- ------------------------------------------------------------------------------------

SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'agentbase_app'), false, 'agentbase_app is not a superuser');
SELECT is((SELECT rolbypassrls FROM pg_roles WHERE rolname = 'agentbase_app'), false, 'agentbase_app has no BYPASSRLS');
SELECT is(ARRAY(SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
                  FROM pg_shdepend d
                 WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = 'agentbase_app'::regrole
                   AND d.deptype = 'o'
                   AND d.dbid IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
                 ORDER BY 1),
          '{}', 'agentbase_app owns no object');
SELECT is(ARRAY(SELECT r.rolname::text FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
                 WHERE m.member = 'agentbase_app'::regrole ORDER BY 1),
          '{}', 'agentbase_app is a member of no role (in particular not of agentbase_owner)');

-- ------------------------------------------------------------------------------------
-- Views, functions, constraints
-- ------------------------------------------------------------------------------------

SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'agentbase'::regnamespace AND c.relkind = 'v'
                   AND NOT EXISTS (SELECT 1 FROM unnest(c.reloptions) o
                                    WHERE lower(o) IN ('security_invoker=true', 'security_invoker=on',
                                                       'security_invoker=1', 'security_invoker=yes'))
                 ORDER BY 1),
          '{}', 'every view has security_invoker = true');

SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'agentbase'::regnamespace AND p.prosecdef
                   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) s WHERE s LIKE 'search_path=%pg_temp%')
                 ORDER BY 1),
          '{}', 'every SECURITY DEFINER function pins search_path (with pg_temp)');

-- Calendar periods are UTC's (0022): date_trunc, current_date, to_char(now()), a date
-- made a timestamptz, a day or a month added to one, all follow the session's TimeZone.
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'agentbase'::regnamespace
                   AND p.prosrc ~* '(date_trunc|current_date|localtime|to_char\(\s*now|::date|interval ''[^'']*(day|week|mon|year))'
                   AND NOT 'TimeZone=UTC' = ANY (coalesce(p.proconfig, '{}'))
                 ORDER BY 1),
          '{}', 'every function that computes a calendar period runs with TimeZone UTC');
SELECT is(ARRAY(SELECT d.adrelid::regclass || '.' || a.attname FROM pg_attrdef d
                  JOIN pg_class c ON c.oid = d.adrelid
                  JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                 WHERE c.relnamespace = 'agentbase'::regnamespace
                   AND pg_get_expr(d.adbin, d.adrelid) ~* '(date_trunc|current_date|localtime|::date)'
                   AND pg_get_expr(d.adbin, d.adrelid) !~ '''UTC'''
                 ORDER BY 1),
          '{}', 'every column default that computes a calendar period names UTC');

SELECT is(ARRAY(SELECT c.conrelid::regclass || '.' || c.conname FROM pg_constraint c
                 WHERE c.connamespace = 'agentbase'::regnamespace AND c.contype = 'c'
                   AND c.conname !~ '^chk_'
                 ORDER BY 1),
          '{}', 'every CHECK constraint is named chk_*');

-- ------------------------------------------------------------------------------------
-- Comments
-- ------------------------------------------------------------------------------------

SELECT is(ARRAY(SELECT r.relname::text FROM ab_rel r
                 WHERE NOT r.relispartition AND obj_description(r.oid, 'pg_class') IS NULL
                 ORDER BY 1),
          '{}', 'every table and view has a comment');

SELECT is(ARRAY(SELECT r.relname || '.' || a.attname FROM ab_rel r
                  JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
                 WHERE NOT r.relispartition AND col_description(r.oid, a.attnum) IS NULL
                 ORDER BY 1),
          '{}', 'every column of every table and view has a comment');

-- ------------------------------------------------------------------------------------
-- Foreign keys
-- ------------------------------------------------------------------------------------

-- A foreign key between two tenant tables must pair tenant_id with tenant_id, so that a
-- row can never point into another tenant.
SELECT is(ARRAY(SELECT c.conrelid::regclass || '.' || c.conname FROM pg_constraint c
                  JOIN ab_rel s ON s.oid = c.conrelid AND s.has_tenant
                  JOIN ab_rel t ON t.oid = c.confrelid AND t.has_tenant
                 WHERE c.contype = 'f' AND c.conparentid = 0
                   AND NOT EXISTS (
                       SELECT 1 FROM unnest(c.conkey, c.confkey) AS k(src, dst)
                        WHERE k.src = (SELECT attnum FROM pg_attribute WHERE attrelid = c.conrelid AND attname = 'tenant_id')
                          AND k.dst = (SELECT attnum FROM pg_attribute WHERE attrelid = c.confrelid AND attname = 'tenant_id'))
                 ORDER BY 1),
          '{}', 'every foreign key between tenant tables is composite with tenant_id = tenant_id');

-- ON DELETE SET NULL on a composite key must name its columns, or it would null tenant_id.
SELECT is(ARRAY(SELECT c.conrelid::regclass || '.' || c.conname FROM pg_constraint c
                  JOIN ab_rel s ON s.oid = c.conrelid AND s.has_tenant
                 WHERE c.contype = 'f' AND c.conparentid = 0 AND c.confdeltype IN ('n', 'd')
                   AND (SELECT attnum FROM pg_attribute WHERE attrelid = c.conrelid AND attname = 'tenant_id')
                       = ANY (coalesce(c.confdelsetcols, c.conkey))
                 ORDER BY 1),
          '{}', 'no ON DELETE SET NULL/DEFAULT clears tenant_id');

-- An index supports a foreign key when its leading columns are the key's columns.
SELECT is(ARRAY(SELECT c.conrelid::regclass || '.' || c.conname FROM pg_constraint c
                 WHERE c.contype = 'f' AND c.conparentid = 0
                   AND c.connamespace = 'agentbase'::regnamespace
                   AND NOT EXISTS (
                       SELECT 1 FROM pg_index i
                        WHERE i.indrelid = c.conrelid AND i.indpred IS NULL
                          AND i.indnkeyatts >= cardinality(c.conkey)
                          AND (SELECT array_agg(x ORDER BY x)
                                 FROM unnest((i.indkey::int2[])[0:cardinality(c.conkey) - 1]) x)
                              = (SELECT array_agg(x ORDER BY x) FROM unnest(c.conkey) x))
                 ORDER BY 1),
          '{}', 'every foreign key has a supporting index');

-- Nothing references an append-only log (partitioned table).
SELECT is(ARRAY(SELECT c.conrelid::regclass || '.' || c.conname FROM pg_constraint c
                  JOIN pg_class t ON t.oid = c.confrelid
                 WHERE c.contype = 'f' AND c.conparentid = 0 AND t.relkind = 'p'
                   AND t.relnamespace = 'agentbase'::regnamespace
                 ORDER BY 1),
          '{}', 'no foreign key references a partitioned log');

-- ------------------------------------------------------------------------------------
-- The indexes the agentic platform spec lists (issue 12), each as the definition that
-- serves it: the spec's columns, after tenant_id (RLS puts it in every query), partial
-- where the table soft-deletes (its lists ask for live rows). Some predate 0019 (0016's
-- filter indexes); usage_metrics (metric_type, period range) comes with its own migration.
-- ------------------------------------------------------------------------------------
CREATE TEMP TABLE spec_indexes (tbl text, def text);
INSERT INTO spec_indexes VALUES
    ('tenants', '(status) WHERE (deleted_at IS NULL)'),
    ('users', '(tenant_id, status) WHERE (deleted_at IS NULL)'),
    ('agents', 'UNIQUE (tenant_id, slug) WHERE (deleted_at IS NULL)'),
    ('workflows', 'UNIQUE (tenant_id, slug) WHERE (deleted_at IS NULL)'),
    ('collections', 'UNIQUE (tenant_id, slug) WHERE (deleted_at IS NULL)'),
    ('conversations', '(tenant_id, status) WHERE (deleted_at IS NULL)'),
    ('messages', '(tenant_id, created_at DESC)'),
    ('tool_executions', '(tenant_id, tool_name, status, started_at DESC)'),
    ('workflows', '(tenant_id, status) WHERE (deleted_at IS NULL)'),
    ('workflow_executions', '(tenant_id, started_at DESC)'),
    ('audit_logs', '(tenant_id, actor_id, created_at DESC)'),
    ('audit_logs', '(tenant_id, action, created_at DESC)'),
    ('audit_logs', '(tenant_id, status, created_at DESC)'),
    ('collections', '(tenant_id, status) WHERE (deleted_at IS NULL)'),
    ('documents', '(tenant_id, uploaded_at DESC) WHERE (deleted_at IS NULL)'),
    ('mcp_servers', '(category, status)'),
    ('mcp_server_configs', '(tenant_id, enabled) WHERE (deleted_at IS NULL)'),
    ('mcp_server_configs', 'UNIQUE (tenant_id, server_id) WHERE ((deleted_at IS NULL) AND (server_id IS NOT NULL))'),
    ('mcp_server_configs', 'UNIQUE (tenant_id, tenant_server_id) WHERE ((deleted_at IS NULL) AND (tenant_server_id IS NOT NULL))');
SELECT is(ARRAY(SELECT s.tbl || ' ' || s.def FROM spec_indexes s
                 WHERE NOT EXISTS (
                     SELECT 1 FROM pg_indexes i
                      WHERE i.schemaname = 'agentbase' AND i.tablename = s.tbl
                        AND regexp_replace(i.indexdef, '^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ USING btree ', '\1')
                            = s.def)
                 ORDER BY 1),
          '{}', 'every index the platform spec lists exists, as the definition that serves it');
SELECT is((SELECT count(*)::int FROM pg_indexes WHERE schemaname = 'agentbase' AND tablename = 'audit_logs'
              AND indexdef LIKE '%(tenant_id, actor_id)'), 0,
          'the actor''s trail has one index, newest first (0019 replaced 0016''s)');

-- The hot path's tables vacuum at a fixed count of dead rows, and its counters keep room on
-- their pages for HOT updates (0024).
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'agentbase'::regnamespace
                   AND c.relname IN ('token_wallets', 'quotas', 'tenant_quotas', 'user_budgets')
                   AND NOT (c.reloptions @> ARRAY['fillfactor=70', 'autovacuum_vacuum_scale_factor=0',
                                                 'autovacuum_vacuum_threshold=1000',
                                                 'autovacuum_vacuum_cost_delay=0'])
                 ORDER BY 1),
          '{}', 'the counters: fillfactor 70, autovacuum at 1,000 dead rows without cost delay');
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'agentbase'::regnamespace
                   AND c.relname IN ('token_holds', 'agent_leases', 'idempotency_keys')
                   AND NOT (c.reloptions @> ARRAY['autovacuum_vacuum_threshold=1000'] AND
                            EXISTS (SELECT 1 FROM unnest(c.reloptions) o
                                     WHERE o LIKE 'autovacuum_vacuum_scale_factor=0.0%'))
                 ORDER BY 1),
          '{}', 'holds, leases and idempotency keys: autovacuum at 2% to 5% of the table');

SELECT * FROM finish();
ROLLBACK;
