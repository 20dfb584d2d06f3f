-- Back to 0022: no retention. What it removed stays removed; carried-forward ledger entries
-- stay (they are adjustments like any other, and keep the wallets equal to their ledgers).

DROP FUNCTION agentbase.retention_run(integer);
DROP FUNCTION agentbase.retention_fold_wallet(uuid, uuid, timestamptz, integer);
DROP FUNCTION agentbase.retention_delete(regclass, text, name, text, integer);
DROP FUNCTION agentbase.retention_drop_partitions(regclass, timestamptz, boolean);
DROP FUNCTION agentbase.retention_partitions(regclass);
DROP FUNCTION agentbase.retention_policy();
DROP TRIGGER trg_retention ON agentbase.tenants;
DROP FUNCTION agentbase.tenants_retention_check();
ALTER TABLE agentbase.subscription_plans DROP COLUMN retention;
DROP FUNCTION agentbase.retention_problem(jsonb);
DROP FUNCTION agentbase.retention_defaults();
