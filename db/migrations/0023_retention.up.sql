-- Retention by plan (issue 14, part 3): how long each kind of data is kept, per subscription
-- plan, shortened by a tenant for itself, and retention_run(), which removes what has expired
-- in bounded steps. `agentbase maintain retention` calls it until a call removes nothing.
--
-- Kinds and their defaults (the specifications': request and execution logs 90 days, audit
-- logs and metrics a year, RAG queries, tool and MCP executions 90 days): ai_requests 90,
-- payloads 30 (the prompts and answers of ai_requests, where the tenant keeps them, emptied
-- sooner than their rows), tool_executions 90, mcp_tool_executions 90,
-- rag_queries 90, audit_logs 365, usage_metrics 365, performance_metrics 365,
-- workflow_executions 90 (finished ones: completed, failed, cancelled or timed out; their
-- step executions, quality gate results and orchestration runs go with them), token_holds 30
-- (resolved holds: settled, released or expired; a hold still held waits for its expiry),
-- token_ledger 365 (folded, never lost: below). subscription_plans.retention overrides the
-- defaults per plan; tenants.settings.retention shortens them for one tenant and may not
-- lengthen them beyond its plan (checked on write, and the shorter of the two applies at run
-- time, so a plan made shorter later wins). Idempotency keys go past their own expires_at.
-- Periods are UTC's (0022): a row expires `days` whole days of 24 hours after it was created.
--
-- Partitions. A monthly partition of a log is dropped once every tenant's retention (and the
-- default's, for rows of tenants that are gone) has passed its upper bound; inside a
-- partition some tenant still keeps, expired rows are deleted in batches of at most p_batch
-- rows per kind and call, each call one transaction, so no transaction grows with the
-- backlog. A partition whose lock cannot be had within lock_timeout (5 s, set on the
-- function) is skipped and tried by the next run; `agentbase maintain` sets a
-- statement_timeout for each call.
--
-- The ledger. A wallet's balance must stay provable from its ledger (balance = credits +
-- adjustments - debits, held = reserves - releases, the invariants the tests check), and the
-- ledger is append-only for the service. So the old entries of a wallet are not deleted but
-- folded: the oldest entries created before the wallet's tenant's cutoff, up to the latest
-- transaction after which nothing was held (so that the held sum of the folded entries is 0,
-- and no reserve is folded without its release), are replaced by one entry carried forward:
-- an adjustment, source 'retention', whose amount is their balance sum (balance_after that
-- sum, held_after 0), dated at the last folded transaction, metadata.carried_forward saying
-- how many original entries it stands for and the time of the first and the last. Both sums
-- are unchanged, so every invariant still holds; a later fold folds the carried entry too.
-- Entries summing to nothing leave no carried entry. Entries of wallets that no longer exist
-- (their user was deleted) are deleted after the tenant's retention. A ledger partition is
-- dropped only once it is empty as well.
--
-- Audit. What retention deletes is not audited row by row (workflow executions are the only
-- audited kind): an audit row would keep the deleted row's content for the audit log's year.
-- audit_trigger() skips a row while agentbase.retention is 'on' and the session's login is a
-- member of agentbase_owner: retention_run() sets it around its delete, and a client that
-- sets it is still audited (the service's login is no member of the owner).
--
-- Access. retention_run() is SECURITY DEFINER, owned by agentbase_owner like everything here,
-- and executable by no one else: the migrator or the owner runs it (psql, `agentbase maintain`
-- connects as the migrating user and becomes the owner); the service's roles cannot.

-- ------------------------------------------------------------------------------------
-- Audit: retention's deletes are not audited row by row (see the header)
-- ------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION agentbase.audit_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_type text := TG_ARGV[0];
    v_tenant_col text := coalesce(NULLIF(TG_ARGV[1], ''), 'tenant_id');
    v_old jsonb;
    v_new jsonb;
    v_row jsonb;
    v_action text;
    v_i int;
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('agentbase.retention', true) = 'on'
       AND pg_has_role(session_user, 'agentbase_owner', 'MEMBER') THEN
        RETURN NULL;  -- retention_run's delete
    END IF;
    IF TG_OP <> 'INSERT' THEN
        v_old := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        v_new := to_jsonb(NEW);
    END IF;
    v_row := coalesce(v_new, v_old);

    v_action := CASE TG_OP WHEN 'INSERT' THEN 'created' WHEN 'DELETE' THEN 'deleted' ELSE 'updated' END;
    IF TG_OP = 'UPDATE' AND v_new ? 'deleted_at'
       AND v_old ->> 'deleted_at' IS NULL AND v_new ->> 'deleted_at' IS NOT NULL THEN
        v_action := 'deleted';
    END IF;
    IF TG_OP = 'UPDATE' AND v_old = v_new THEN
        RETURN NULL;  -- nothing changed: nothing to audit
    END IF;

    FOR v_i IN 2 .. coalesce(TG_NARGS, 0) - 1 LOOP
        IF v_old ? TG_ARGV[v_i] AND v_old ->> TG_ARGV[v_i] IS NOT NULL THEN
            v_old := jsonb_set(v_old, ARRAY[TG_ARGV[v_i]], '"[redacted]"');
        END IF;
        IF v_new ? TG_ARGV[v_i] AND v_new ->> TG_ARGV[v_i] IS NOT NULL THEN
            v_new := jsonb_set(v_new, ARRAY[TG_ARGV[v_i]], '"[redacted]"');
        END IF;
    END LOOP;

    INSERT INTO agentbase.audit_logs
        (tenant_id, action, resource_type, resource_id, old_values, new_values,
         actor_type, actor_id, ip_address, user_agent, request_id)
    VALUES
        ((v_row ->> v_tenant_col)::uuid, v_type || '.' || v_action, v_type,
         v_row ->> 'id', v_old, v_new,
         agentbase.current_actor_type(), agentbase.current_actor_id(),
         NULLIF(current_setting('agentbase.ip', true), '')::inet,
         NULLIF(current_setting('agentbase.user_agent', true), ''),
         NULLIF(current_setting('agentbase.request_id', true), ''));
    RETURN NULL;
END
$$;

-- ------------------------------------------------------------------------------------
-- Settings
-- ------------------------------------------------------------------------------------

CREATE FUNCTION agentbase.retention_defaults() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"ai_requests": 90, "payloads": 30, "tool_executions": 90,
             "mcp_tool_executions": 90, "rag_queries": 90, "audit_logs": 365, "usage_metrics": 365,
             "performance_metrics": 365, "workflow_executions": 90, "token_holds": 30,
             "token_ledger": 365}'::jsonb
$$;
COMMENT ON FUNCTION agentbase.retention_defaults() IS
    'days each kind of data is kept when the plan says nothing (retention_run removes what is older)';

-- NULL when p is a valid retention setting (an object of known kinds, each a whole number of
-- days from 1 to 36500), else what is wrong with it.
CREATE FUNCTION agentbase.retention_problem(p jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p IS NULL THEN NULL
        WHEN jsonb_typeof(p) <> 'object' THEN 'retention must be an object of kinds and days'
        ELSE (SELECT format('retention %s: %s', e.key,
                            CASE WHEN NOT agentbase.retention_defaults() ? e.key
                                 THEN 'unknown kind (known: ' || (SELECT string_agg(k, ', ' ORDER BY k)
                                                                  FROM jsonb_object_keys(agentbase.retention_defaults()) k) || ')'
                                 ELSE 'must be a whole number of days from 1 to 36500' END)
                FROM jsonb_each(p) e
               WHERE NOT agentbase.retention_defaults() ? e.key
                  OR jsonb_typeof(e.value) <> 'number' OR e.value::text !~ '^[0-9]+$'
                  OR e.value::text::numeric NOT BETWEEN 1 AND 36500
               ORDER BY e.key LIMIT 1) END
$$;

ALTER TABLE agentbase.subscription_plans ADD COLUMN retention jsonb NOT NULL DEFAULT '{}';
COMMENT ON COLUMN agentbase.subscription_plans.retention IS
    'days each kind of data is kept, e.g. {"audit_logs": 730}; kinds not named keep retention_defaults()';
ALTER TABLE agentbase.subscription_plans ADD CONSTRAINT chk_subscription_plans_retention
    CHECK (agentbase.retention_problem(retention) IS NULL);

-- A tenant's own retention (settings.retention) is valid and never longer than its plan's.
-- SECURITY DEFINER: the service writes tenants but executes none of the retention functions.
CREATE FUNCTION agentbase.tenants_retention_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_problem text := agentbase.retention_problem(NEW.settings -> 'retention');
    v_kind text;
    v_days int;
    v_plan int;
BEGIN
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'field settings: %', v_problem USING ERRCODE = '22023', COLUMN = 'settings';
    END IF;
    FOR v_kind, v_days IN SELECT key, value::text::int FROM jsonb_each(NEW.settings -> 'retention') LOOP
        SELECT coalesce((p.retention ->> v_kind)::int, (agentbase.retention_defaults() ->> v_kind)::int)
          INTO v_plan FROM (SELECT NULL) x LEFT JOIN agentbase.subscription_plans p ON p.level = NEW.plan;
        IF v_days > v_plan THEN
            RAISE EXCEPTION 'field settings: retention %: % days is longer than the plan''s % (a tenant may only shorten it)',
                  v_kind, v_days, v_plan USING ERRCODE = '22023', COLUMN = 'settings';
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.tenants_retention_check() IS
    'BEFORE INSERT OR UPDATE trigger: settings.retention is valid and no longer than the plan''s';
CREATE TRIGGER trg_retention BEFORE INSERT OR UPDATE OF settings, plan ON agentbase.tenants
    FOR EACH ROW WHEN (NEW.settings ? 'retention') EXECUTE FUNCTION agentbase.tenants_retention_check();

-- Every tenant's days for every kind: the shorter of its own and its plan's (or the default).
CREATE FUNCTION agentbase.retention_policy()
RETURNS TABLE (tenant_id uuid, kind text, days integer)
LANGUAGE sql STABLE AS $$
    SELECT t.id, d.key,
           least(coalesce((p.retention ->> d.key)::int, d.value::text::int),
                 coalesce((t.settings #>> ARRAY['retention', d.key])::int, 36500))
      FROM agentbase.tenants t
      LEFT JOIN agentbase.subscription_plans p ON p.level = t.plan
     CROSS JOIN jsonb_each(agentbase.retention_defaults()) d
$$;
COMMENT ON FUNCTION agentbase.retention_policy() IS
    'days each tenant keeps each kind of data: its own settings.retention, its plan''s, or the default, whichever is shortest';

-- ------------------------------------------------------------------------------------
-- The run
-- ------------------------------------------------------------------------------------

-- The monthly partitions of p_parent with their bounds (the default partition left out).
CREATE FUNCTION agentbase.retention_partitions(p_parent regclass)
RETURNS TABLE (part regclass, lower_bound timestamptz, upper_bound timestamptz)
LANGUAGE sql STABLE SET "TimeZone" = 'UTC' AS $$
    SELECT c.oid::regclass,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([^'']+)''\)')::timestamptz,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = p_parent AND NOT c.relpartbound IS NULL
       AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
     ORDER BY 2
$$;

-- Drops the partitions of p_parent wholly before p_before (only empty ones if p_empty_only);
-- a partition whose lock is not to be had within lock_timeout is left for the next run.
CREATE FUNCTION agentbase.retention_drop_partitions(p_parent regclass, p_before timestamptz, p_empty_only boolean)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_part regclass;
    v_rows boolean;
    v_dropped integer := 0;
BEGIN
    FOR v_part IN SELECT part FROM agentbase.retention_partitions(p_parent) WHERE upper_bound <= p_before LOOP
        BEGIN
            IF p_empty_only THEN
                EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', v_part) INTO v_rows;
                CONTINUE WHEN v_rows;
            END IF;
            EXECUTE format('DROP TABLE %s', v_part);
            v_dropped := v_dropped + 1;
        EXCEPTION WHEN lock_not_available THEN
            RAISE NOTICE 'retention: % is busy, left for the next run', v_part;
        END;
    END LOOP;
    RETURN v_dropped;
END
$$;

-- Deletes at most p_batch rows of p_table older than each tenant's days for p_kind (by column
-- p_column; p_where narrows which rows may go), by primary key (tenant_id, id and, in a
-- partitioned log, created_at). Returns how many it deleted.
CREATE FUNCTION agentbase.retention_delete(p_table regclass, p_kind text, p_column name, p_where text, p_batch integer)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_rows bigint;
BEGIN
    EXECUTE format(
        'WITH d AS (SELECT x.tenant_id, x.id, x.created_at FROM %1$s x'
        '             JOIN agentbase.retention_policy() p ON p.tenant_id = x.tenant_id AND p.kind = %2$L'
        '            WHERE x.%3$I < now() - make_interval(days => p.days) AND (%4$s) LIMIT %5$s) '
        'DELETE FROM %1$s x USING d WHERE x.tenant_id = d.tenant_id AND x.id = d.id AND x.created_at = d.created_at',
        p_table, p_kind, p_column, coalesce(p_where, 'true'), p_batch);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;

-- Folds the oldest foldable entries of at most p_batch entries of one wallet (see the
-- header). Returns how many entries it removed (folded ones minus the carried one).
CREATE FUNCTION agentbase.retention_fold_wallet(p_tenant uuid, p_wallet uuid, p_before timestamptz, p_batch integer)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_user uuid;
    f record;
    v_deleted bigint;
BEGIN
    -- No lock on the wallet: the service appends only entries of now, never ones this old.
    SELECT user_id INTO v_user FROM agentbase.token_wallets WHERE tenant_id = p_tenant AND id = p_wallet;
    WITH e AS (
        SELECT created_at, entry_type, amount, source, metadata FROM agentbase.token_ledger
         WHERE tenant_id = p_tenant AND wallet_id = p_wallet AND created_at < p_before
         ORDER BY created_at, id LIMIT p_batch),
    g AS (
        SELECT created_at,
               sum(CASE entry_type WHEN 'credit' THEN amount WHEN 'debit' THEN -amount
                                   WHEN 'adjustment' THEN amount ELSE 0 END) AS balance,
               sum(CASE entry_type WHEN 'reserve' THEN amount WHEN 'release' THEN -amount ELSE 0 END) AS held,
               count(*) AS entries,
               sum(CASE WHEN source = 'retention' THEN (metadata #>> '{carried_forward,entries}')::bigint ELSE 1 END) AS originals,
               min(CASE WHEN source = 'retention' THEN (metadata #>> '{carried_forward,from}')::timestamptz
                        ELSE created_at END) AS first_at
          FROM e GROUP BY created_at),
    r AS (
        SELECT created_at, sum(balance) OVER w AS balance, sum(held) OVER w AS held,
               sum(entries) OVER w AS entries, sum(originals) OVER w AS originals, min(first_at) OVER w AS first_at
          FROM g WINDOW w AS (ORDER BY created_at))
    SELECT * INTO f FROM r
     WHERE held = 0 AND entries > 1 AND balance >= 0
       -- a transaction cut by the LIMIT is not whole: never fold up to it
       AND ((SELECT count(*) FROM e) < p_batch OR created_at < (SELECT max(created_at) FROM g))
     ORDER BY created_at DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    DELETE FROM agentbase.token_ledger
     WHERE tenant_id = p_tenant AND wallet_id = p_wallet AND created_at <= f.created_at;
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    IF v_deleted <> f.entries THEN
        RAISE EXCEPTION 'retention: wallet % changed while its ledger was folded', p_wallet;
    END IF;
    IF f.balance <> 0 THEN
        INSERT INTO agentbase.token_ledger
            (tenant_id, created_at, wallet_id, user_id, entry_type, amount, balance_after, held_after,
             reason, source, metadata, created_by)
        VALUES (p_tenant, f.created_at, p_wallet, v_user, 'adjustment', f.balance, f.balance, 0,
                'carried forward', 'retention',
                jsonb_build_object('carried_forward', jsonb_build_object(
                    'entries', f.originals, 'from', f.first_at, 'to', f.created_at)),
                'retention');
        RETURN v_deleted - 1;
    END IF;
    RETURN v_deleted;
END
$$;

-- One step of retention: for every kind, the partitions wholly expired for every tenant
-- dropped, and at most p_batch expired rows removed (ledger: folded). Returns what it removed,
-- one row per kind; call it again while it removes anything.
CREATE FUNCTION agentbase.retention_run(p_batch integer DEFAULT 5000)
RETURNS TABLE (kind text, rows_removed bigint, partitions_dropped integer)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = agentbase, pg_temp SET "TimeZone" = 'UTC' SET lock_timeout = '5s' AS $$
DECLARE
    v_kind text;
    v_keep timestamptz;
    v_rows bigint;
    v_parts integer;
    w record;
BEGIN
    IF p_batch IS NULL OR p_batch < 1 THEN
        RAISE EXCEPTION 'invalid p_batch %: must be at least 1', coalesce(p_batch::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    -- the partitioned logs
    FOREACH v_kind IN ARRAY ARRAY['ai_requests', 'tool_executions', 'mcp_tool_executions', 'rag_queries',
                                  'audit_logs', 'usage_metrics'] LOOP
        SELECT least(min(now() - make_interval(days => p.days)),
                     now() - make_interval(days => (retention_defaults() ->> v_kind)::int))
          INTO v_keep FROM retention_policy() p WHERE p.kind = v_kind;
        v_parts := retention_drop_partitions(('agentbase.' || v_kind)::regclass, v_keep, false);
        v_rows := retention_delete(('agentbase.' || v_kind)::regclass, v_kind, 'created_at', NULL, p_batch);
        kind := v_kind; rows_removed := v_rows; partitions_dropped := v_parts;
        RETURN NEXT;
    END LOOP;

    -- prompts and answers: emptied, their rows kept
    WITH d AS (SELECT x.tenant_id, x.id, x.created_at FROM ai_requests x
                 JOIN retention_policy() p ON p.tenant_id = x.tenant_id AND p.kind = 'payloads'
                WHERE x.created_at < now() - make_interval(days => p.days)
                  AND (x.request_payload IS NOT NULL OR x.response_payload IS NOT NULL)
                LIMIT p_batch)
    UPDATE ai_requests x SET request_payload = NULL, response_payload = NULL
      FROM d WHERE x.tenant_id = d.tenant_id AND x.id = d.id AND x.created_at = d.created_at;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    kind := 'payloads'; rows_removed := v_rows; partitions_dropped := 0;
    RETURN NEXT;

    kind := 'performance_metrics'; partitions_dropped := 0;
    rows_removed := retention_delete('agentbase.performance_metrics', kind, 'recorded_at', NULL, p_batch);
    RETURN NEXT;
    kind := 'token_holds';
    rows_removed := retention_delete('agentbase.token_holds', kind, 'created_at',
                                     'x.status <> ''held''', p_batch);
    RETURN NEXT;
    -- finished executions, with what cascades from them, unaudited (see the header)
    PERFORM set_config('agentbase.retention', 'on', true);
    kind := 'workflow_executions';
    rows_removed := retention_delete('agentbase.workflow_executions', kind, 'created_at',
                                     'x.status NOT IN (''pending'', ''running'')', p_batch);
    PERFORM set_config('agentbase.retention', '', true);
    RETURN NEXT;

    WITH d AS (SELECT tenant_id, id FROM idempotency_keys WHERE expires_at < now() LIMIT p_batch)
    DELETE FROM idempotency_keys x USING d WHERE x.tenant_id = d.tenant_id AND x.id = d.id;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    kind := 'idempotency_keys'; rows_removed := v_rows;
    RETURN NEXT;

    -- the ledger: folded per wallet, entries of wallets that are gone deleted
    kind := 'token_ledger'; rows_removed := 0;
    FOR w IN SELECT l.tenant_id, l.wallet_id, now() - make_interval(days => p.days) AS before
               FROM token_ledger l
               JOIN retention_policy() p ON p.tenant_id = l.tenant_id AND p.kind = 'token_ledger'
              WHERE l.created_at < now() - make_interval(days => p.days)
              GROUP BY 1, 2, 3 HAVING count(*) > 1
              ORDER BY 1, 2 LOOP
        EXIT WHEN rows_removed >= p_batch;
        IF EXISTS (SELECT 1 FROM token_wallets WHERE tenant_id = w.tenant_id AND id = w.wallet_id) THEN
            rows_removed := rows_removed + retention_fold_wallet(w.tenant_id, w.wallet_id, w.before, p_batch);
        END IF;
    END LOOP;
    WITH d AS (SELECT l.tenant_id, l.id, l.created_at FROM token_ledger l
                 JOIN retention_policy() p ON p.tenant_id = l.tenant_id AND p.kind = 'token_ledger'
                WHERE l.created_at < now() - make_interval(days => p.days)
                  AND NOT EXISTS (SELECT 1 FROM token_wallets t WHERE t.tenant_id = l.tenant_id AND t.id = l.wallet_id)
                LIMIT p_batch)
    DELETE FROM token_ledger x USING d WHERE x.tenant_id = d.tenant_id AND x.id = d.id AND x.created_at = d.created_at;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    rows_removed := rows_removed + v_rows;
    SELECT least(min(now() - make_interval(days => p.days)),
                 now() - make_interval(days => (retention_defaults() ->> 'token_ledger')::int))
      INTO v_keep FROM retention_policy() p WHERE p.kind = 'token_ledger';
    partitions_dropped := retention_drop_partitions('agentbase.token_ledger', v_keep, true);
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION agentbase.retention_run(integer) IS
    'one bounded step of retention (see 0023): what it removed per kind; call it again while it removes anything';

-- Only the owner runs these (PUBLIC executes nothing of agentbase's; nothing is granted).
REVOKE EXECUTE ON FUNCTION agentbase.retention_run(integer), agentbase.retention_fold_wallet(uuid, uuid, timestamptz, integer),
    agentbase.retention_delete(regclass, text, name, text, integer),
    agentbase.retention_drop_partitions(regclass, timestamptz, boolean), agentbase.retention_partitions(regclass),
    agentbase.retention_policy() FROM PUBLIC;
