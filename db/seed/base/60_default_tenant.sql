-- The default tenant (slug 'default', plan free): the SaaS seed's "Default tenant", where an
-- installation that serves a single organization keeps its users. Created once: when a
-- live tenant 'default' exists (or an operator renamed it, see the metadata) nothing
-- changes. The token policy of each level is the plans' (10_accounting.sql).

SELECT set_config('agentbase.actor_type', 'system', true), set_config('agentbase.actor_id', 'seed', true);

INSERT INTO agentbase.tenants (slug, name, status, plan, metadata)
SELECT 'default', 'Default', 'active', 'free', '{"default": true}'
 WHERE NOT EXISTS (SELECT 1 FROM agentbase.tenants
                    WHERE (slug = 'default' OR metadata @> '{"default": true}') AND deleted_at IS NULL);
