-- Audit triggers that skip counter updates decide it column by column (issue 15).
--
-- attach_audit_except() gave a table's AFTER UPDATE audit trigger the condition
--   (to_jsonb(OLD.*) - ignored) IS DISTINCT FROM (to_jsonb(NEW.*) - ignored)
-- which makes two jsonb documents of every updated row (numbers and times made text, keys
-- sorted) to find out that only counters changed. The accounting batch updates a wallet, a
-- quota and budgets for every user it serves, so that condition took about 8% of the
-- database's time under bench/usage.sh (perf: ExecARUpdateTriggers -> to_jsonb), the
-- costliest part of the counters' write back.
--
-- Now the condition names the columns that are audited, as a row of OLD's against the same
-- row of NEW's: ROW(OLD.a, OLD.b, ...) IS DISTINCT FROM ROW(NEW.a, NEW.b, ...), every column
-- of the table but the ignored ones, typed comparisons and no documents. Which columns are
-- ignored is kept in the trigger's comment ("... only {a,b}: ..."), so that tests/sql/
-- audit_when.sql can check that every column of the table is either compared or ignored: a
-- column added later to such a table must be added to its trigger (attach_audit_update
-- again), or the test fails.

-- Creates t's trg_audit_update: an audit row (audit_trigger(p_args)) for each update that
-- changes a column not in p_ignore.
CREATE FUNCTION agentbase.attach_audit_update(p_table regclass, p_ignore text[], p_args text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_old text;
    v_new text;
BEGIN
    SELECT string_agg(format('OLD.%I', attname), ', ' ORDER BY attnum),
           string_agg(format('NEW.%I', attname), ', ' ORDER BY attnum)
      INTO v_old, v_new
      FROM pg_attribute
     WHERE attrelid = p_table AND attnum > 0 AND NOT attisdropped AND attname <> ALL (p_ignore);
    EXECUTE format('CREATE TRIGGER trg_audit_update AFTER UPDATE ON %s FOR EACH ROW '
                   'WHEN (ROW(%s) IS DISTINCT FROM ROW(%s)) '
                   'EXECUTE FUNCTION agentbase.audit_trigger(%s)', p_table, v_old, v_new, p_args);
    EXECUTE format('COMMENT ON TRIGGER trg_audit_update ON %s IS %L', p_table,
                   format('audits an update unless it changes only %s: every other column is compared', p_ignore));
END
$$;
COMMENT ON FUNCTION agentbase.attach_audit_update(regclass, text[], text) IS
    'creates the audit trigger for updates that change a column other than the ignored ones (compared column by column)';

CREATE OR REPLACE FUNCTION agentbase.attach_audit_except(
    p_table regclass, p_type text, p_ignore text[], p_tenant_column text DEFAULT 'tenant_id',
    p_redact text[] DEFAULT '{}'
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_args text := format('%L, %L', p_type, p_tenant_column);
    v_col text;
BEGIN
    FOREACH v_col IN ARRAY p_redact LOOP
        v_args := v_args || format(', %L', v_col);
    END LOOP;
    EXECUTE format('CREATE TRIGGER trg_audit AFTER INSERT OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION agentbase.audit_trigger(%s)', p_table, v_args);
    PERFORM agentbase.attach_audit_update(p_table, p_ignore, v_args);
END
$$;

-- The existing triggers, made again with the same ignored columns and the same arguments
-- (both read back from the trigger's definition, which attach_audit_except wrote).
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tgrelid::regclass AS tbl,
                    (regexp_match(pg_get_triggerdef(oid), $r$ - '(\{[^']*\})'::text\[\]$r$))[1]::text[] AS ignore,
                    (regexp_match(pg_get_triggerdef(oid), 'audit_trigger\((.*)\)$'))[1] AS args
               FROM pg_trigger
              WHERE tgname = 'trg_audit_update' AND pg_get_triggerdef(oid) LIKE '%to_jsonb(old.*) - %'
              ORDER BY tgrelid LOOP
        EXECUTE format('DROP TRIGGER trg_audit_update ON %s', t.tbl);
        PERFORM agentbase.attach_audit_update(t.tbl, t.ignore, t.args);
    END LOOP;
END
$$;
