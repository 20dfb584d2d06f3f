-- A test API key for the demo tenant, with every tenant scope. The seed command generates
-- the key, passes only its hash and display prefix in agentbase.seed_api_key_hash and
-- agentbase.seed_api_key_prefix, and writes the key itself to $AGENTBASE_HOME/dev-api-key.
-- Runs once: a demo tenant that already has the key keeps it.
INSERT INTO agentbase.api_keys (tenant_id, user_id, name, kind, key_prefix, key_hash, scopes,
                                created_by, metadata)
SELECT t.id, u.id, 'dev test key', 'api',
       current_setting('agentbase.seed_api_key_prefix'),
       current_setting('agentbase.seed_api_key_hash'),
       ARRAY['admin'], 'agentbase seed --dev', '{"seed": "dev"}'
  FROM agentbase.tenants t
  JOIN agentbase.users u ON u.tenant_id = t.id AND u.email = 'admin@demo.local'
 WHERE t.slug = 'demo'
   AND NOT EXISTS (SELECT 1 FROM agentbase.api_keys k
                    WHERE k.tenant_id = t.id AND k.name = 'dev test key');
