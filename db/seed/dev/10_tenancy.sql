-- Development seed: the demo tenant (slug 'demo'), its admin user and two sample
-- assistants. The six agents of the AI development platform come with the tenant itself
-- (platform_agents, migration 0020), as in every tenant. Idempotent: each row is inserted only
-- when its natural key (live tenant slug, live user e-mail, live agent name) is missing;
-- existing rows are left as they are (an operator may have changed them).
--
-- `agentbase seed --dev` hashes a fresh random password with argon2id and passes the hash
-- in agentbase.seed_admin_password_hash; the admin must change it at first sign-in.

-- Audit rows written by this seed name it as their actor.
SELECT set_config('agentbase.actor_type', 'system', true), set_config('agentbase.actor_id', 'seed', true);

INSERT INTO agentbase.tenants (slug, name, status, plan, contact_email, contact_name, settings)
SELECT 'demo', 'Demo', 'active', 'free', 'admin@demo.local', 'Demo Admin',
       '{"default_model_provider": "anthropic", "default_model": "claude-sonnet-4-20250514"}'
 WHERE NOT EXISTS (SELECT 1 FROM agentbase.tenants WHERE slug = 'demo' AND deleted_at IS NULL);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM agentbase.users u JOIN agentbase.tenants t ON t.id = u.tenant_id
                    WHERE t.slug = 'demo' AND t.deleted_at IS NULL
                      AND lower(u.email) = 'admin@demo.local' AND u.deleted_at IS NULL)
       AND NULLIF(current_setting('agentbase.seed_admin_password_hash', true), '') IS NULL THEN
        RAISE EXCEPTION 'the demo admin needs a password hash in agentbase.seed_admin_password_hash'
              USING HINT = 'load the development seed with `agentbase seed --dev`';
    END IF;
END
$$;

INSERT INTO agentbase.users (tenant_id, email, username, password_hash, full_name, role, permissions,
                             preferred_model, preferred_temperature, timezone, email_verified, email_verified_at,
                             must_change_password, status, level)
SELECT t.id, 'admin@demo.local', 'admin', current_setting('agentbase.seed_admin_password_hash', true),
       'Demo Admin', 'admin', '{}', 'claude-sonnet-4-20250514', 0.7, 'UTC', true, now(), true, 'active', 'free'
  FROM agentbase.tenants t
 WHERE t.slug = 'demo' AND t.deleted_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM agentbase.users u
                    WHERE u.tenant_id = t.id AND lower(u.email) = 'admin@demo.local' AND u.deleted_at IS NULL);

INSERT INTO agentbase.agents (tenant_id, name, description, agent_type, model_provider, model_name, temperature,
                              max_tokens, system_prompt, capabilities, tools, timeout_seconds, max_iterations,
                              memory_enabled, tags, config, created_by)
SELECT t.id, a.name, a.description, a.agent_type, a.model_provider, a.model_name, a.temperature, a.max_tokens,
       a.system_prompt, a.capabilities, a.tools::jsonb, a.timeout_seconds, a.max_iterations, a.memory_enabled,
       a.tags, '{}'::jsonb,
       (SELECT u.id FROM agentbase.users u
         WHERE u.tenant_id = t.id AND lower(u.email) = 'admin@demo.local' AND u.deleted_at IS NULL)
  FROM agentbase.tenants t
 CROSS JOIN (VALUES
    ('General Assistant',
     'A friendly general-purpose assistant for questions, summaries and drafts.',
     'assistant', 'anthropic', 'claude-3-5-haiku-20241022', 0.70::numeric(3,2), 2048,
     $p$You are a helpful assistant. Answer clearly and concisely, ask a short question when
the request is ambiguous, and say when you do not know. Use lists and headings only when
they make the answer easier to read.$p$,
     ARRAY['question_answering', 'summarization', 'drafting'],
     '[]', 120, 5, true, ARRAY['sample']),
    ('Writing Assistant',
     'Edits and improves texts: clarity, tone, structure and grammar.',
     'assistant', 'openai', 'gpt-4o', 0.80::numeric(3,2), 4096,
     $p$You are an editor. Improve the text the user gives you for clarity, structure and
tone while keeping its meaning and the author's voice. Fix grammar and spelling, remove
filler, and prefer short sentences and active verbs. Return the revised text first, then a
brief list of the main changes.$p$,
     ARRAY['editing', 'proofreading', 'rewriting'],
     '[]', 120, 5, false, ARRAY['sample'])
 ) AS a(name, description, agent_type, model_provider, model_name, temperature, max_tokens, system_prompt,
        capabilities, tools, timeout_seconds, max_iterations, memory_enabled, tags)
 WHERE t.slug = 'demo' AND t.deleted_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM agentbase.agents g
                    WHERE g.tenant_id = t.id AND g.name = a.name AND g.deleted_at IS NULL);
