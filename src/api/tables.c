/*
 * The descriptor table: every table of the schema that the REST API serves, and how.
 * The engine (resource.c) does the rest; a new table is a new entry here.
 *
 * Conventions, so that a reader can check an entry at a glance:
 * - create/update list what a client may send; counters and columns kept by triggers or by
 *   the accounting functions are left out, so they cannot be forged;
 * - logs (append-only tables) take create and no update or delete;
 * - tables whose rows only the database writes (wallets, ledger, holds, rollups, alert
 *   events) are read-only: own_create with no update and no delete;
 * - global reference data is read-only for every tenant.
 * The order matters for the examples: "{{name}}" refers to an entry listed earlier.
 */
#include "api/api.h"

#define READ_ONLY .create = "", .update = "", .own_create = true, .no_delete = true

/* The feedback given on an ai_requests or rag_queries row t, oldest first (0018). */
#define FEEDBACK                                                                                   \
    .extra = "'feedback', agentbase.request_feedback_of(t.tenant_id, t.id)",                       \
    .extra_fields = ab_op_feedback_extra, .nextra_fields = &ab_op_feedback_nextra

/* Write-only secrets (see struct ab_resource_secret): MCP configuration secrets and
 * environment variables by name, and a provider's API key. */
static const struct ab_resource_secret mcp_config_secrets = {
    .field = "secrets", .columns = "secrets", .named = true, .audit_type = "mcp_server_config"};
static const struct ab_resource_secret provider_api_key = {
    .field = "api_key", .columns = "api_key", .named = false, .audit_type = "ai_provider_key"};

const struct ab_resource ab_resources[] = {
    /* ---- tenancy ------------------------------------------------------------------- */
    {
        /* Platform keys create and manage tenants; a tenant key sees its own tenant only. */
        .name = "tenants",
        .table = "tenants",
        .create = "slug,name,status,plan,limits,contact_email,contact_name,settings,metadata",
        .update = "name,status,plan,limits,contact_email,contact_name,settings,metadata",
        .hidden = "",
        .filters = "slug,status,plan",
        .soft_delete = true,
        .example = "{\"slug\": \"tenant-{{n}}\", \"name\": \"Tenant {{n}}\"}",
        .platform = true,
    },
    {
        /* POST is password.c's: the engine's create, with an optional password. */
        .name = "users",
        .table = "users",
        .create = "email,username,full_name,first_name,last_name,avatar_url,profile,role,"
                  "permissions,preferences,preferred_model,preferred_temperature,timezone,status,"
                  "level,must_change_password",
        .update = "username,full_name,first_name,last_name,avatar_url,profile,role,permissions,"
                  "preferences,preferred_model,preferred_temperature,timezone,status,level",
        .hidden = "password_hash,email_verification_token_hash",
        .filters = "email,role,status,level",
        .soft_delete = true,
        .example = "{\"email\": \"user{{n}}@example.com\", \"username\": \"user{{n}}\", "
                   "\"role\": \"user\"}",
        .own_create = true,
    },
    {
        /* Issued and revoked by keys.c: the secret exists only in the POST response. */
        .name = "api-keys",
        .table = "api_keys",
        .create = "",
        .update = "name,metadata",
        .hidden = "key_hash",
        .filters = "user_id,kind",
        .example = "{\"name\": \"key {{n}}\", \"scopes\": [\"agents:read\"]}",
        .no_delete = true,
        .own_create = true,
    },
    /* ---- agents ---------------------------------------------------------------------- */
    {
        .name = "agents",
        .table = "agents",
        .create = "name,slug,description,agent_type,model_provider,model_name,temperature,"
                  "max_tokens,system_prompt,capabilities,tools,timeout_seconds,max_iterations,"
                  "memory_enabled,status,version,version_label,tags,config,metadata,created_by",
        .update = "name,slug,description,agent_type,model_provider,model_name,temperature,"
                  "max_tokens,system_prompt,capabilities,tools,timeout_seconds,max_iterations,"
                  "memory_enabled,status,version,version_label,tags,config,metadata",
        .hidden = "",
        .filters = "slug,status,agent_type,model_provider,model_name,created_by,created_at",
        .filled = "slug", /* from the name */
        .soft_delete = true,
        .slugs = true,
        .example = "{\"name\": \"agent {{n}}\", \"model_provider\": \"openai\", "
                   "\"model_name\": \"gpt-4o\", \"temperature\": 0.7, \"max_tokens\": 1024}",
    },
    {
        .name = "agent-assignments",
        .table = "agent_assignments",
        .create = "user_id,agent_id,allocation_type,priority,max_concurrent_requests,is_active,"
                  "expires_at",
        .update = "allocation_type,priority,max_concurrent_requests,is_active,expires_at",
        .hidden = "",
        .filters = "user_id,agent_id,allocation_type,is_active",
        .example = "{\"user_id\": \"{{users}}\", \"agent_id\": \"{{agents}}\", "
                   "\"allocation_type\": \"dedicated\"}",
    },
    {
        /* Slots of assignments: taken and given back by leases.c (acquire, release), and
         * reclaimed by the database when they expire. */
        .name = "agent-leases",
        .table = "agent_leases",
        READ_ONLY,
        .hidden = "",
        .filters = "user_id,agent_id,assignment_id",
        .example = "{}",
    },
    {
        .name = "conversations",
        .table = "conversations",
        .create = "user_id,agent_id,title,status,context,ai_config,analytics,metadata,project_id",
        .update = "title,status,context,ai_config,analytics,ended_at,metadata,project_id",
        .hidden = "",
        .filters = "user_id,agent_id,status,project_id",
        .soft_delete = true,
        .example = "{\"user_id\": \"{{users}}\", \"agent_id\": \"{{agents}}\", "
                   "\"title\": \"hello\"}",
    },
    {
        /* Appending is gap-free per conversation: the messages_append trigger numbers it. */
        .name = "messages",
        .table = "messages",
        .create = "role,content,content_type,token_count,model,tool_calls,tool_results,latency_ms,"
                  "cost,metadata",
        .update = "metadata",
        .hidden = "",
        .filters = "role,model,created_at",
        .example = "{\"role\": \"user\", \"content\": \"hello\", \"token_count\": 3, "
                   "\"metadata\": {\"source\": \"example\"}}",
        .parent = "conversations",
        .parent_column = "conversation_id",
        .order_by = "sequence_number",
        .no_delete = true,
    },
    {
        /* An append-only log: written once, when the call has ended; never changed. */
        .name = "tool-executions",
        .table = "tool_executions",
        .create = "agent_id,conversation_id,message_id,tool_name,input,output,status,"
                  "error_message,duration_ms,started_at,completed_at,metadata",
        .update = "",
        .hidden = "",
        .filters = "agent_id,conversation_id,tool_name,created_at",
        .example = "{\"agent_id\": \"{{agents}}\", \"conversation_id\": \"{{conversations}}\", "
                   "\"tool_name\": \"web_search\", \"input\": {\"q\": \"agentbase\"}, "
                   "\"status\": \"success\", \"duration_ms\": 120}",
        .no_delete = true,
    },
    {
        .name = "generated-content",
        .table = "generated_content",
        .create = "user_id,agent_id,conversation_id,parent_id,content_type,title,content,language,"
                  "file_name,file_path,mime_type,file_size_bytes,checksum,version,"
                  "validation_status,validation_errors,is_public,is_template,template_variables,"
                  "tags,metadata,ai_request_id,framework,execution_status",
        .update = "title,content,language,file_name,file_path,mime_type,file_size_bytes,checksum,"
                  "version,validation_status,validation_errors,is_public,is_template,"
                  "template_variables,tags,metadata,framework,execution_status",
        /* up to 10 MiB: served by GET /v1/generated-content/{id}/download, not in rows */
        .hidden = "binary_content",
        .filters = "user_id,agent_id,conversation_id,parent_id,content_type,validation_status,"
                   "ai_request_id",
        .soft_delete = true,
        .example = "{\"agent_id\": \"{{agents}}\", \"content_type\": \"code\", "
                   "\"title\": \"hello.py\", \"content\": \"print('hello')\", "
                   "\"language\": \"python\"}",
    },
    /* ---- accounting --------------------------------------------------------------------- */
    {
        .name = "ai-providers",
        .table = "ai_providers",
        .hidden = "",
        .filters = "name,status",
        .example = "{}",
        .global = true,
        READ_ONLY,
    },
    {
        .name = "ai-models",
        .table = "ai_models",
        .hidden = "",
        .filters = "provider_id,name,status",
        .example = "{}",
        .global = true,
        READ_ONLY,
    },
    {
        .name = "ai-model-prices",
        .table = "ai_model_prices",
        .hidden = "",
        .filters = "model_id",
        .example = "{}",
        .global = true,
        READ_ONLY,
    },
    {
        /* A tenant's own keys for the providers: the key is write-only (see api_key). */
        .name = "ai-provider-keys",
        .table = "ai_provider_keys",
        .create = "provider_id,name,is_active,metadata",
        .update = "name,is_active,metadata",
        .hidden = "api_key_ciphertext,api_key_nonce,api_key_key_id,api_key_hint",
        .filters = "provider_id,name,is_active",
        .example = "{\"provider_id\": \"{{ai-providers}}\", \"name\": \"key {{n}}\", "
                   "\"api_key\": \"sk-example-0123456789abcdef\"}",
        .secret = &provider_api_key,
    },
    {
        .name = "subscription-plans",
        .table = "subscription_plans",
        .hidden = "",
        .filters = "level,is_active",
        .example = "{}",
        .global = true,
        READ_ONLY,
    },
    {
        /* One row per LLM call; the usage operations write most of them. Feedback given
         * later (POST /v1/ai-requests/{id}/feedback) is joined in. */
        .name = "ai-requests",
        .table = "ai_requests",
        .create = "user_id,agent_id,conversation_id,message_id,project_id,provider,model,model_id,"
                  "request_type,input_tokens,output_tokens,cached_tokens,total_tokens,"
                  "input_per_1m,output_per_1m,cached_input_per_1m,price_effective_from,input_cost,"
                  "output_cost,total_cost,latency_ms,time_to_first_token_ms,tokens_per_second,"
                  "status,error_code,error_message,quality_score,relevance_score,coherence_score,"
                  "confidence_score,safety_score,user_rating,user_feedback,started_at,"
                  "completed_at,request_payload,response_payload,metadata",
        .update = "",
        .hidden = "",
        .filters = "user_id,created_at",
        FEEDBACK,
        .example = "{\"user_id\": \"{{users}}\", \"provider\": \"openai\", \"model\": \"gpt-4o\", "
                   "\"input_tokens\": 10, \"output_tokens\": 20, \"total_tokens\": 30}",
        .no_delete = true,
    },
    {
        .name = "usage-metrics",
        .table = "usage_metrics",
        .create = "user_id,agent_id,metric_type,value,tokens,cost,dimensions,period_start",
        .update = "",
        .hidden = "",
        .filters = "user_id,created_at",
        .example = "{\"user_id\": \"{{users}}\", \"metric_type\": \"tokens\", \"value\": 30, "
                   "\"tokens\": 30}",
        .no_delete = true,
    },
    {
        /* The counters belong to usage accounting; clients set the limits. */
        .name = "quotas",
        .table = "quotas",
        .create = "user_id,daily_token_limit,daily_request_limit,monthly_token_limit",
        .update = "daily_token_limit,daily_request_limit,monthly_token_limit",
        .hidden = "",
        .filters = "user_id",
        .example = "{\"user_id\": \"{{users}}\", \"daily_token_limit\": 100000}",
    },
    {
        .name = "tenant-quotas",
        .table = "tenant_quotas",
        .create = "resource_type,period,limit_value",
        .update = "limit_value",
        .hidden = "",
        .filters = "resource_type,period",
        .example = "{\"resource_type\": \"requests\", \"period\": \"daily\", "
                   "\"limit_value\": 10000}",
        /* The plan's limits: platform-governed (role_access, and the policies from it). */
        .write_scope = "billing:admin",
    },
    {
        /* Balances change only through adjust_user_tokens and the usage operations. */
        .name = "token-wallets",
        .table = "token_wallets",
        .hidden = "",
        .filters = "user_id,level",
        .example = "{}",
        READ_ONLY,
    },
    {
        .name = "token-ledger",
        .table = "token_ledger",
        .hidden = "",
        .filters = "wallet_id",
        .example = "{}",
        READ_ONLY,
    },
    {
        .name = "token-holds",
        .table = "token_holds",
        .hidden = "",
        .filters = "wallet_id,user_id",
        .example = "{}",
        READ_ONLY,
    },
    {
        .name = "user-budgets",
        .table = "user_budgets",
        .create = "user_id,name,period,amount_usd,alert_thresholds,hard_limit,is_active",
        .update = "name,amount_usd,alert_thresholds,hard_limit,is_active",
        .hidden = "",
        .filters = "user_id,period,is_active",
        .example = "{\"user_id\": \"{{users}}\", \"name\": \"monthly\", \"amount_usd\": 50}",
    },
    {
        .name = "budget-alert-events",
        .table = "budget_alert_events",
        .hidden = "",
        .filters = "budget_id",
        .example = "{}",
        READ_ONLY,
    },
    {
        .name = "system-alerts",
        .table = "system_alerts",
        .create = "alert_type,severity,title,message,resource_type,resource_id,metadata",
        .update = "status,acknowledged_at,resolved_at,metadata",
        .hidden = "",
        .filters = "alert_type,severity,status,resource_type",
        .example = "{\"alert_type\": \"other\", \"title\": \"hello\", \"severity\": \"info\", "
                   "\"metadata\": {\"source\": \"example\"}}",
    },
    {
        .name = "cost-tracking",
        .table = "cost_tracking",
        .hidden = "",
        .filters = "period_type,user_id,project_id,provider,model",
        .example = "{}",
        READ_ONLY,
    },
    {
        .name = "billing-records",
        .table = "billing_records",
        .create = "period_start,period_end,amount_usd,tokens,status,invoice_number,line_items,"
                  "paid_at,metadata",
        .update = "amount_usd,tokens,status,line_items,paid_at,metadata",
        .hidden = "",
        .filters = "status,invoice_number",
        .example = "{\"period_start\": \"2026-01-01T00:00:00Z\", "
                   "\"period_end\": \"2026-02-01T00:00:00Z\", \"invoice_number\": \"INV-{{n}}\", "
                   "\"tokens\": 1000}",
    },
    {
        .name = "performance-metrics",
        .table = "performance_metrics",
        .create = "agent_id,metric_name,value,unit,recorded_at",
        .update = "",
        .hidden = "",
        .filters = "agent_id,metric_name",
        .example = "{\"agent_id\": \"{{agents}}\", \"metric_name\": \"success_rate\", "
                   "\"value\": 0.98}",
        .no_delete = true,
    },
    {
        /* count, min, max, avg, p50, p95, p99 per hour and day: `agentbase maintain metrics`. */
        .name = "performance-metric-rollups",
        .table = "performance_metric_rollups",
        .hidden = "",
        .filters = "period_type,agent_id,metric_name",
        .example = "{}",
        READ_ONLY,
    },
    {
        /* Given by POST /v1/ai-requests/{id}/feedback and /v1/rag-queries/{id}/feedback. */
        .name = "request-feedback",
        .table = "request_feedback",
        .hidden = "",
        .filters = "target_id,user_id",
        .example = "{}",
        READ_ONLY,
    },
    /* The legacy (Alembic) system's tables, as the views over ours that replace them. */
    {
        .name = "usage-logs",
        .table = "usage_logs",
        .hidden = "",
        .filters = "",
        .example = "{}",
        READ_ONLY,
    },
    {
        .name = "token-transactions",
        .table = "token_transactions",
        .hidden = "",
        .filters = "",
        .example = "{}",
        READ_ONLY,
    },
    {
        .name = "user-quotas",
        .table = "user_quotas",
        .hidden = "",
        .filters = "",
        .example = "{}",
        READ_ONLY,
    },
    {
        .name = "system-metrics",
        .table = "system_metrics",
        .hidden = "",
        .filters = "component,metric_name",
        .example = "{}",
        .global = true,
        READ_ONLY,
    },
    /* ---- workflows ---------------------------------------------------------------------- */
    {
        .name = "workflows",
        .table = "workflows",
        .create = "name,slug,description,definition,agent_ids,timeout_seconds,max_retries,"
                  "retry_delay_seconds,status,version,is_template,template_id,tags,metadata,"
                  "created_by",
        .update = "name,slug,description,definition,agent_ids,timeout_seconds,max_retries,"
                  "retry_delay_seconds,status,version,is_template,tags,metadata",
        .hidden = "",
        .filters = "slug,status,is_template,template_id,created_by",
        .filled = "slug", /* from the name */
        .soft_delete = true,
        .slugs = true,
        .example = "{\"name\": \"review {{n}}\", \"definition\": {\"nodes\": [{\"id\": \"a\"}], "
                   "\"edges\": []}}",
    },
    {
        .name = "workflow-executions",
        .table = "workflow_executions",
        .create = "workflow_id,workflow_version,status,input,output,error,triggered_by,"
                  "triggered_by_user_id,started_at,completed_at,duration_ms,retry_count,context,"
                  "steps_total,metadata",
        .update = "status,output,error,started_at,completed_at,duration_ms,retry_count,context,"
                  "steps_total,metadata",
        .hidden = "",
        /* current_step and steps_completed are the step executions' to keep (0019) */
        .filters = "workflow_id,status,triggered_by_user_id,started_at",
        .filled = "workflow_version", /* the workflow's current version */
        .example = "{\"workflow_id\": \"{{workflows}}\", \"input\": {\"topic\": \"x\"}, "
                   "\"context\": {}}",
    },
    {
        .name = "workflow-step-executions",
        .table = "workflow_step_executions",
        .create = "execution_id,step_id,step_name,agent_id,status,input,output,error,attempt,"
                  "started_at,completed_at,duration_ms",
        .update = "status,output,error,started_at,completed_at,duration_ms",
        .hidden = "",
        .filters = "execution_id,step_id,agent_id,status",
        .example = "{\"execution_id\": \"{{workflow-executions}}\", \"step_id\": \"a\", "
                   "\"output\": {}}",
    },
    {
        .name = "quality-gates",
        .table = "quality_gates",
        .create = "workflow_id,name,description,gate_type,criteria,threshold,is_blocking,status,"
                  "metadata",
        .update = "name,description,gate_type,criteria,threshold,is_blocking,status,metadata",
        .hidden = "",
        .filters = "workflow_id,gate_type,status",
        .example = "{\"workflow_id\": \"{{workflows}}\", \"name\": \"tests pass\", "
                   "\"gate_type\": \"test_coverage\", \"threshold\": 0.8}",
    },
    {
        .name = "quality-gate-results",
        .table = "quality_gate_results",
        .create = "quality_gate_id,workflow_execution_id,task_id,status,score,details,"
                  "evaluated_by,evaluated_at",
        .update = "",
        .hidden = "",
        .filters = "quality_gate_id,workflow_execution_id,task_id,status",
        .example = "{\"quality_gate_id\": \"{{quality-gates}}\", \"status\": \"passed\", "
                   "\"score\": 0.9}",
        .no_delete = true,
    },
    {
        .name = "tasks",
        .table = "tasks",
        .create = "title,description,task_type,status,priority,parent_task_id,"
                  "workflow_execution_id,assigned_agent_ids,assigned_user_id,created_by,result,"
                  "error,scheduled_at,due_at,started_at,completed_at,estimated_hours,actual_hours,"
                  "dependencies,tags,metadata,project_id,primary_agent,execution_time_seconds",
        .update = "title,description,task_type,status,priority,parent_task_id,assigned_agent_ids,"
                  "assigned_user_id,result,error,scheduled_at,due_at,started_at,completed_at,"
                  "estimated_hours,actual_hours,dependencies,tags,metadata,project_id,"
                  "primary_agent,execution_time_seconds",
        .hidden = "",
        .filters = "status,priority,parent_task_id,workflow_execution_id,assigned_user_id,"
                   "project_id,primary_agent",
        .example = "{\"title\": \"write the tests\", \"assigned_agent_ids\": [\"{{agents}}\"]}",
    },
    {
        .name = "engines",
        .table = "engines",
        .create = "name,description,engine_type,status,capabilities,config,capacity,current_load,"
                  "endpoint,last_heartbeat_at,metadata",
        .update = "name,description,engine_type,status,capabilities,config,capacity,current_load,"
                  "endpoint,last_heartbeat_at,metadata",
        .hidden = "",
        .filters = "engine_type,status",
        .example = "{\"name\": \"engine {{n}}\", \"engine_type\": \"orchestrator\"}",
    },
    {
        .name = "engine-assignments",
        .table = "engine_assignments",
        .create = "engine_id,agent_id,workflow_id,priority,is_active,config",
        .update = "priority,is_active,config",
        .hidden = "",
        .filters = "engine_id,agent_id,workflow_id,is_active",
        .example = "{\"engine_id\": \"{{engines}}\", \"agent_id\": \"{{agents}}\", "
                   "\"priority\": 1}",
    },
    {
        .name = "routing-strategies",
        .table = "routing_strategies",
        .create = "name,description,strategy_type,rules,weights,is_default,is_active",
        .update = "name,description,strategy_type,rules,weights,is_default,is_active",
        .hidden = "",
        .filters = "strategy_type,is_default,is_active",
        .example = "{\"name\": \"least loaded {{n}}\", \"strategy_type\": \"least_loaded\"}",
    },
    {
        .name = "workers",
        .table = "workers",
        .create = "engine_id,name,worker_type,status,capacity,current_load,capabilities,host,"
                  "last_heartbeat_at,metadata",
        .update = "name,worker_type,status,capacity,current_load,capabilities,host,"
                  "last_heartbeat_at,metadata",
        .hidden = "",
        .filters = "engine_id,worker_type,status",
        .example = "{\"engine_id\": \"{{engines}}\", \"name\": \"worker {{n}}\"}",
    },
    {
        .name = "orchestration-runs",
        .table = "orchestration_runs",
        .create = "workflow_execution_id,step_execution_id,task_id,routing_strategy_id,engine_id,"
                  "worker_id,agent_id,status,attempt,decision,error,queued_at,started_at,"
                  "completed_at,duration_ms",
        .update = "status,decision,error,started_at,completed_at,duration_ms",
        .hidden = "",
        .filters = "workflow_execution_id,task_id,engine_id,worker_id,status",
        .example = "{\"workflow_execution_id\": \"{{workflow-executions}}\", "
                   "\"engine_id\": \"{{engines}}\", \"decision\": {}}",
    },
    /* ---- knowledge (RAG) ---------------------------------------------------------------- */
    {
        /* The counts are kept by triggers from documents and chunks. */
        .name = "collections",
        .table = "collections",
        .create = "name,slug,description,embedding_model,embedding_dimensions,distance_metric,"
                  "chunk_size,chunk_overlap,chunking_config,text_search_config,status,is_public,"
                  "metadata,created_by",
        .update = "name,slug,description,chunk_size,chunk_overlap,chunking_config,"
                  "text_search_config,status,is_public,metadata",
        .hidden = "",
        .filters = "slug,status,embedding_model,is_public",
        .filled = "slug", /* from the name */
        .soft_delete = true,
        .slugs = true,
        .example = "{\"name\": \"docs {{n}}\", \"embedding_model\": \"text-embedding-3-small\", "
                   "\"embedding_dimensions\": 3}",
    },
    {
        .name = "documents",
        .table = "documents",
        .create = "collection_id,title,filename,source_type,source_uri,mime_type,content_hash,"
                  "size_bytes,processing_status,processing_error,token_count,metadata,created_by,"
                  "uploaded_at,processed_at",
        .update = "title,filename,source_uri,mime_type,content_hash,size_bytes,processing_status,"
                  "processing_error,token_count,metadata,processed_at",
        .hidden = "",
        .filters = "collection_id,processing_status,source_type,uploaded_at",
        .soft_delete = true,
        .example = "{\"collection_id\": \"{{collections}}\", \"title\": \"readme\"}",
    },
    {
        /*
         * The embedding's length is checked against the collection by a trigger. It is a
         * vector (0021), answered as the JSON array it was given as; the text search
         * columns are the database's own. Batches: POST /v1/documents/{id}/chunks.
         */
        .name = "chunks",
        .table = "chunks",
        .create = "collection_id,document_id,chunk_index,content,token_count,start_char,end_char,"
                  "embedding,embedding_model,metadata",
        .update = "content,token_count,start_char,end_char,embedding,embedding_model,metadata",
        .hidden = "text_config,content_tsv",
        .extra = "'embedding', t.embedding::real[]",
        .filters = "collection_id,document_id",
        .example = "{\"collection_id\": \"{{collections}}\", \"document_id\": \"{{documents}}\", "
                   "\"chunk_index\": 0, \"content\": \"hello\", \"embedding\": [0.1, 0.2, 0.3]}",
    },
    {
        .name = "rag-queries",
        .table = "rag_queries",
        .create = "collection_id,user_id,agent_id,conversation_id,query_text,query_embedding,"
                  "top_k,similarity_threshold,retrieval_strategy,filters,result_count,results,"
                  "top_score,latency_ms",
        .update = "",
        .hidden = "",
        .filters = "collection_id,user_id,agent_id,conversation_id",
        .example = "{\"collection_id\": \"{{collections}}\", \"query_text\": \"what is it?\", "
                   "\"top_k\": 5}",
        .no_delete = true,
        FEEDBACK,
    },
    /* ---- MCP ----------------------------------------------------------------------------- */
    {
        .name = "mcp-servers",
        .table = "mcp_servers",
        .hidden = "",
        .filters = "name,category,transport,status,is_verified",
        .example = "{}",
        .global = true,
        READ_ONLY,
    },
    {
        .name = "tenant-mcp-servers",
        .table = "tenant_mcp_servers",
        .create = "name,display_name,description,transport,command,args,url,env_schema,tools,"
                  "resources,prompts,version,author,homepage,status,metadata,created_by",
        .update = "display_name,description,transport,command,args,url,env_schema,tools,"
                  "resources,prompts,version,author,homepage,status,metadata",
        .hidden = "",
        .filters = "name,transport,status",
        .example = "{\"name\": \"private-{{n}}\", \"display_name\": \"Private\", "
                   "\"transport\": \"stdio\", \"command\": \"npx\"}",
    },
    {
        /* Secrets (tokens, passwords, secret environment variables) go in the write-only
         * `secrets`, never in config (those env_schema marks secret are refused). */
        .name = "mcp-server-configs",
        .table = "mcp_server_configs",
        .create = "server_id,tenant_server_id,name,config,resource_limits,allowed_user_ids,"
                  "enabled,user_id",
        .update = "name,config,resource_limits,allowed_user_ids,enabled",
        .hidden = "secrets_ciphertext,secrets_nonce,secrets_key_id,secrets_hint",
        .filters = "server_id,tenant_server_id,enabled,user_id",
        .soft_delete = true,
        .example = "{\"tenant_server_id\": \"{{tenant-mcp-servers}}\", \"name\": \"config {{n}}\", "
                   "\"secrets\": {\"API_TOKEN\": \"tok-example-0123456789\"}}",
        .secret = &mcp_config_secrets,
        .check = ab_api_mcp_config_check,
    },
    {
        .name = "mcp-tool-executions",
        .table = "mcp_tool_executions",
        .create = "config_id,server_name,tool_name,user_id,agent_id,conversation_id,message_id,"
                  "arguments,result,status,error_code,error_message,server_instance_id,duration_ms,"
                  "started_at,completed_at,metadata",
        .update = "",
        .hidden = "",
        .filters = "config_id,agent_id,created_at",
        .example = "{\"config_id\": \"{{mcp-server-configs}}\", \"server_name\": \"private\", "
                   "\"tool_name\": \"read_file\", \"status\": \"success\"}",
        .no_delete = true,
    },
    /* ---- workspaces ------------------------------------------------------------------ */
    {
        .name = "project-templates",
        .table = "project_templates",
        .hidden = "",
        .filters = "slug,language,framework,is_active",
        .example = "{}",
        .global = true,
        READ_ONLY,
    },
    {
        .name = "projects",
        .table = "projects",
        /* template_type (the template's slug) or template_id: a trigger fills the other */
        .create = "owner_id,name,description,template_id,template_type,status,visibility,"
                  "git_repo_url,default_branch,settings,tags,metadata",
        .update = "name,description,status,visibility,container_id,git_repo_url,default_branch,"
                  "settings,tags,metadata,last_opened_at",
        .hidden = "",
        .filters = "owner_id,status,visibility,template_id,template_type",
        .soft_delete = true,
        .example = "{\"owner_id\": \"{{users}}\", \"name\": \"project {{n}}\"}",
    },
    {
        .name = "project-collaborators",
        .table = "project_collaborators",
        .create = "project_id,user_id,role,invited_by,accepted_at",
        .update = "role,accepted_at",
        .hidden = "",
        .filters = "project_id,user_id,role",
        .example = "{\"project_id\": \"{{projects}}\", \"user_id\": \"{{users}}\", "
                   "\"role\": \"editor\"}",
    },
    {
        /* The hash, size and version follow the content (a trigger computes them). */
        .name = "project-files",
        .table = "project_files",
        .create = "project_id,path,content,mime_type,is_directory,updated_by,created_by_agent",
        .update = "content,mime_type,updated_by",
        .hidden = "",
        .filters = "project_id,path",
        .example = "{\"project_id\": \"{{projects}}\", \"path\": \"src/main.py\", "
                   "\"content\": \"print(1)\"}",
    },
    {
        .name = "containers",
        .table = "containers",
        .create = "project_id,status,image,cpu_limit,memory_limit_mb,disk_limit_mb,ports,"
                  "preview_url,internal_host,last_active_at,started_at,stopped_at,metadata,"
                  "container_id",
        .update = "status,image,cpu_limit,memory_limit_mb,disk_limit_mb,ports,preview_url,"
                  "internal_host,last_active_at,started_at,stopped_at,metadata,container_id",
        .hidden = "",
        /* idle containers: [lt], or GET /v1/containers/idle */
        .filters = "project_id,status,last_active_at,container_id",
        .example = "{\"project_id\": \"{{projects}}\", \"image\": \"python:3.12-slim\"}",
    },
    {
        .name = "git-branches",
        .table = "git_branches",
        .create = "project_id,name,base_branch,head_commit_sha,is_default,ahead_count,"
                  "behind_count,last_commit_at,created_by,is_merged,created_by_agent",
        .update = "base_branch,head_commit_sha,is_default,ahead_count,behind_count,last_commit_at,"
                  "is_merged",
        .hidden = "",
        .filters = "project_id,name,is_default",
        .example = "{\"project_id\": \"{{projects}}\", \"name\": \"feature-{{n}}\", "
                   "\"base_branch\": \"main\"}",
    },
    /* ---- regions ------------------------------------------------------------------------ */
    {
        .name = "regions",
        .table = "regions",
        .hidden = "",
        .filters = "code,provider,status",
        .example = "{}",
        .global = true,
        READ_ONLY,
    },
    {
        .name = "tenant-regions",
        .table = "tenant_regions",
        .create = "region_id,role,status,data_residency_required",
        .update = "role,status,data_residency_required",
        .hidden = "",
        .filters = "region_id,role,status",
        .example = "{\"region_id\": \"{{regions}}\", \"role\": \"replica\"}",
    },
    {
        /* Written by the replication machinery; tenants read their own health. */
        .name = "replication-status",
        .table = "replication_status",
        .hidden = "",
        .filters = "source_region_id,target_region_id,status",
        .example = "{}",
        READ_ONLY,
    },
    {
        .name = "cross-region-sync-logs",
        .table = "cross_region_sync_logs",
        .hidden = "",
        .filters = "source_region_id,target_region_id,created_at",
        .example = "{}",
        READ_ONLY,
    },
    /* ---- audit ------------------------------------------------------------------------ */
    {
        /* Written by the database's audit triggers only; clients read it. */
        .name = "audit-logs",
        .table = "audit_logs",
        .hidden = "",
        .filters = "resource_type,actor_id,action,status,created_at",
        .example = "{}",
        READ_ONLY,
    },
};
const size_t ab_nresources = AB_ARRAY_LEN(ab_resources);
