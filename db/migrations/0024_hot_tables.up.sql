-- Autovacuum and page room for the tables the accounting hot path rewrites (issue 14, part 4).
--
-- Every accounting request updates a handful of small rows many times a second (the wallets,
-- the users' daily quotas, the tenants' quotas, the budgets); holds are inserted, updated
-- once and deleted in bulk; agent leases and idempotency keys come and go. For them:
--   * fillfactor 70 on the counters: room on each page, so that an update stays on its row's
--     page (a HOT update: no new index entries, and the old version is pruned in place);
--   * autovacuum at a fixed count of dead rows (scale factor 0, threshold 1000) rather than
--     at 20% of the table, and without the cost delay: the tables are small, a vacuum cheap;
--   * the holds, leases and keys at 2% to 5% of the table (they grow with the traffic), and
--     the holds also after inserts (autovacuum_vacuum_insert_scale_factor), so that their
--     visibility map stays current for index-only scans.
-- A fillfactor applies to pages written from now on; existing pages fill as they are.
-- docs/operations.md ("Autovacuum for the hot tables") explains them to operators, and
-- `agentbase status` shows them.

ALTER TABLE agentbase.token_wallets SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.05,
    autovacuum_vacuum_cost_delay = 0);
ALTER TABLE agentbase.quotas SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE agentbase.tenant_quotas SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE agentbase.user_budgets SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE agentbase.token_holds SET (autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE agentbase.agent_leases SET (autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE agentbase.idempotency_keys SET (autovacuum_vacuum_scale_factor = 0.05,
    autovacuum_vacuum_threshold = 1000);
