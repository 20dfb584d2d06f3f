-- Back to 0027: audit triggers that skip counter updates compare the rows as jsonb (0002's
-- attach_audit_except), with the ignored columns read back from the triggers' comments.

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
    EXECUTE format('CREATE TRIGGER trg_audit_update AFTER UPDATE ON %s FOR EACH ROW '
                   'WHEN ((to_jsonb(OLD.*) - %L::text[]) IS DISTINCT FROM (to_jsonb(NEW.*) - %L::text[])) '
                   'EXECUTE FUNCTION agentbase.audit_trigger(%s)', p_table, p_ignore, p_ignore, v_args);
END
$$;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tgrelid::regclass AS tbl,
                    (regexp_match(obj_description(oid, 'pg_trigger'), 'only (\{[^}]*\})'))[1]::text[] AS ignore,
                    (regexp_match(pg_get_triggerdef(oid), 'audit_trigger\((.*)\)$'))[1] AS args
               FROM pg_trigger
              WHERE tgname = 'trg_audit_update' AND obj_description(oid, 'pg_trigger') LIKE 'audits an update unless%'
              ORDER BY tgrelid LOOP
        EXECUTE format('DROP TRIGGER trg_audit_update ON %s', t.tbl);
        EXECUTE format('CREATE TRIGGER trg_audit_update AFTER UPDATE ON %s FOR EACH ROW '
                       'WHEN ((to_jsonb(OLD.*) - %L::text[]) IS DISTINCT FROM (to_jsonb(NEW.*) - %L::text[])) '
                       'EXECUTE FUNCTION agentbase.audit_trigger(%s)', t.tbl, t.ignore, t.ignore, t.args);
    END LOOP;
END
$$;

DROP FUNCTION agentbase.attach_audit_update(regclass, text[], text);
