/*
 * The bodies of the business operations, as field lists (fields.h): what each request may
 * carry and what each success answer holds. The OpenAPI document (openapi.c) renders them;
 * the handlers are to check their bodies with exactly these lists (ab_fields_check), so
 * that what is documented is what is enforced.
 *
 * The request lists say what the handlers accept today, rules and ranges included (a
 * field's doc names a rule a list cannot express, like cached_tokens <= input_tokens).
 * Optional fields of the accounting bodies are nullable: those handlers drop a null as if
 * the field were absent (AB_CHECK_DROP_NULL).
 *
 * In an answer list, `required` means "always present": PostgreSQL builds the answers,
 * and the accounting ones strip their null members (jsonb_strip_nulls).
 */
#include "api/api.h"
#include "auth/auth.h"

/* 1e10 tokens: more than any call (usage.c), and at most 2^31 - 1 ms. */
#define MAX_TOKENS 10000000000.0
#define MAX_MS     2147483647.0

/* A field of kind k; the other members by designated initializers after it. */
#define F(n, k, ...)                                                                               \
    {                                                                                              \
        .name = n, .kind = AB_KIND_##k, __VA_ARGS__                                                \
    }
#define TOKENS(n, req, lo, d)                                                                      \
    F(n, INTEGER, .required = req, .nullable = !(req), .has_min = true, .min = lo,                 \
      .has_max = true, .max = MAX_TOKENS, .doc = d)
#define MS(n, d)                                                                                   \
    F(n, INTEGER, .nullable = true, .has_min = true, .min = 0, .has_max = true, .max = MAX_MS,     \
      .doc = d)

#define NEW_PASSWORD(n)                                                                            \
    F(n, STRING, .required = true, .min_len = AB_PASSWORD_MIN_CHARS,                               \
      .max_len = AB_PASSWORD_MAX_BYTES,                                                            \
      .doc = "at least " AB_STR(AB_PASSWORD_MIN_CHARS) " characters and at most " AB_STR(          \
          AB_PASSWORD_MAX_BYTES) " bytes; not a common password, the e-mail or the username")

/* ---- auth ---------------------------------------------------------------------------- */

const struct ab_field ab_op_login_fields[] = {
    F("tenant", STRING, .required = true, .doc = "the tenant's slug"),
    F("email", STRING, .required = true),
    F("password", STRING, .required = true),
};
const size_t ab_op_login_nfields = AB_ARRAY_LEN(ab_op_login_fields);

const struct ab_field ab_op_login_answer[] = {
    F("key", STRING, .required = true,
      .doc = "the session key: send it as Authorization: Bearer <key>; shown only here"),
    F("tenant_id", UUID, .required = true),
    F("user_id", UUID, .required = true),
    F("role", STRING, .required = true, .choices = "viewer,user,admin"),
    F("expires_at", DATETIME, .required = true),
    F("scopes", ARRAY, .items = AB_KIND_STRING, .required = true),
    F("must_change_password", BOOLEAN, .required = true,
      .doc = "true: the session may only change the password (POST /v1/auth/password)"),
};
const size_t ab_op_login_nanswer = AB_ARRAY_LEN(ab_op_login_answer);

const struct ab_field ab_op_whoami_answer[] = {
    F("key_id", UUID, .required = true),
    F("tenant_id", UUID, .required = true, .nullable = true,
      .doc = "the tenant acted in; null for a platform key without Agentbase-Tenant"),
    F("user_id", UUID, .required = true, .nullable = true),
    F("platform_admin", BOOLEAN, .required = true),
    F("scopes", ARRAY, .items = AB_KIND_STRING, .required = true),
    F("role", STRING, .required = true, .choices = "viewer,user,admin,platform"),
    F("role_scopes", ARRAY, .items = AB_KIND_STRING, .required = true,
      .doc = "what the role allows now; it caps the key's scopes"),
};
const size_t ab_op_whoami_nanswer = AB_ARRAY_LEN(ab_op_whoami_answer);

/* ---- passwords ----------------------------------------------------------------------- */

const struct ab_field ab_op_password_change_fields[] = {
    F("old_password", STRING, .required = true),
    NEW_PASSWORD("new_password"),
};
const size_t ab_op_password_change_nfields = AB_ARRAY_LEN(ab_op_password_change_fields);

const struct ab_field ab_op_password_reset_fields[] = {
    NEW_PASSWORD("new_password"),
};
const size_t ab_op_password_reset_nfields = AB_ARRAY_LEN(ab_op_password_reset_fields);

const struct ab_field ab_op_password_answer[] = {
    F("user_id", UUID, .required = true),
    F("must_change_password", BOOLEAN, .required = true),
    F("sessions_ended", INTEGER, .required = true, .has_min = true, .min = 0),
};
const size_t ab_op_password_nanswer = AB_ARRAY_LEN(ab_op_password_answer);

/* POST /v1/users takes the users resource's create fields and this one. */
const struct ab_field ab_op_user_create_fields[] = {
    F("password", STRING, .min_len = AB_PASSWORD_MIN_CHARS, .max_len = AB_PASSWORD_MAX_BYTES,
      .doc = "optional; at least " AB_STR(AB_PASSWORD_MIN_CHARS) " characters and at most " AB_STR(
          AB_PASSWORD_MAX_BYTES) " bytes; not a common password, the e-mail or the username"),
};
const size_t ab_op_user_create_nfields = AB_ARRAY_LEN(ab_op_user_create_fields);

/* ---- API keys ------------------------------------------------------------------------ */

const struct ab_field ab_op_api_key_create_fields[] = {
    F("name", STRING, .required = true),
    F("scopes", ARRAY, .items = AB_KIND_STRING, .required = true, .min_len = 1,
      .doc = "each like agents:read, agents:* or admin, and held by the calling key and its role; "
             "billing:admin and secrets:read only a platform key grants"),
    F("user_id", UUID, .nullable = true,
      .doc = "the user the key acts for (a user or viewer: only themselves)"),
    F("expires_at", DATETIME, .nullable = true),
};
const size_t ab_op_api_key_create_nfields = AB_ARRAY_LEN(ab_op_api_key_create_fields);

/* The answer to POST /v1/api-keys: the api-keys columns and this one. */
const struct ab_field ab_op_api_key_answer[] = {
    F("key", STRING, .required = true, .doc = "the key itself; shown in this answer only"),
};
const size_t ab_op_api_key_nanswer = AB_ARRAY_LEN(ab_op_api_key_answer);

/* ---- accounting ---------------------------------------------------------------------- */

/* Whom and what a call is for (reserve, event). */
#define WHO_FIELDS(d)                                                                              \
    F("user_id", UUID, .nullable = true, .doc = d), F("agent_id", UUID, .nullable = true),         \
        F("conversation_id", UUID, .nullable = true),                                              \
        F("project_id", UUID, .nullable = true, .doc = "the project the call is for"),             \
        F("provider", STRING, .required = true, .min_len = 1, .max_len = 64),                      \
        F("model", STRING, .required = true, .min_len = 1, .max_len = 200)

const struct ab_field ab_op_reserve_fields[] = {
    WHO_FIELDS("whom the call is for; default: the key's user (a key without one must name it)"),
    TOKENS("estimated_input_tokens", true, 0, NULL),
    TOKENS("max_output_tokens", true, 1, NULL),
    F("expires_in_seconds", INTEGER, .nullable = true, .has_min = true, .min = 1, .has_max = true,
      .max = 86400, .doc = "default 600"),
    F("metadata", OBJECT, .nullable = true),
};
const size_t ab_op_reserve_nfields = AB_ARRAY_LEN(ab_op_reserve_fields);

/* What a finished call reports (settle); an event also names who and what. */
#define CALL_FIELDS                                                                                \
    TOKENS("input_tokens", true, 0, NULL), TOKENS("output_tokens", true, 0, NULL),                 \
        TOKENS("cached_tokens", false, 0, "at most input_tokens"), MS("latency_ms", NULL),         \
        MS("time_to_first_token_ms", NULL),                                                        \
        F("status", STRING, .nullable = true,                                                      \
          .choices = "success,error,timeout,cancelled,rate_limited", .doc = "default success"),    \
        F("error_code", STRING, .nullable = true, .max_len = 200),                                 \
        F("error_message", STRING, .nullable = true, .max_len = 4000),                             \
        F("message_id", UUID, .nullable = true),                                                   \
        F("tool_call_ids", ARRAY, .items = AB_KIND_STRING, .nullable = true, .max_len = 128,       \
          .item_max_len = 200, .doc = "at most 128, each at most 200 characters"),                 \
        F("request_type", STRING, .nullable = true,                                                \
          .choices = "chat,completion,embedding,image,audio,tool,other", .doc = "default chat"),   \
        F("metadata", OBJECT, .nullable = true),                                                   \
        F("started_at", DATETIME, .nullable = true, .doc = "when the call started"),               \
        F("completed_at", DATETIME, .nullable = true,                                              \
          .doc = "when it completed; default now; not before started_at"),                         \
        F("request_payload", ANY, .nullable = true,                                                \
          .doc = "the prompt sent: kept only when the tenant's settings say store_prompts"),       \
        F("response_payload", ANY, .nullable = true,                                               \
          .doc = "the answer received: kept only when the tenant's settings say store_prompts")

const struct ab_field ab_op_settle_fields[] = {CALL_FIELDS};
const size_t ab_op_settle_nfields = AB_ARRAY_LEN(ab_op_settle_fields);

const struct ab_field ab_op_event_fields[] = {
    WHO_FIELDS("whom the call was for; default: the key's user (a key without one must name it)"),
    CALL_FIELDS,
};
const size_t ab_op_event_nfields = AB_ARRAY_LEN(ab_op_event_fields);

/* A release takes no field: an empty body or {}. */
const struct ab_field ab_op_release_fields[] = {{0}};
const size_t ab_op_release_nfields = 0;

const struct ab_field ab_op_wallet_adjust_fields[] = {
    F("direction", STRING, .required = true, .choices = "credit,debit,reserve,release,adjustment"),
    F("amount", INTEGER, .required = true, .has_min = true, .min = -MAX_TOKENS, .has_max = true,
      .max = MAX_TOKENS,
      .doc = "not 0; negative reverses the direction (credit -n debits n, reserve -n releases "
             "n ...), an adjustment is signed"),
    F("reason", STRING, .nullable = true, .max_len = 500),
    F("reference_type", STRING, .nullable = true, .max_len = 100),
    F("reference_id", STRING, .nullable = true, .max_len = 200),
    F("metadata", OBJECT, .nullable = true),
};
const size_t ab_op_wallet_adjust_nfields = AB_ARRAY_LEN(ab_op_wallet_adjust_fields);

const struct ab_field ab_op_user_level_fields[] = {
    F("level", STRING, .required = true, .min_len = 1, .max_len = 64,
      .doc = "a plan level's name (free, basic, starter, pro, premium, enterprise) or its id "
             "(GET /v1/subscription-plans); PostgreSQL checks that an active plan has it"),
};
const size_t ab_op_user_level_nfields = AB_ARRAY_LEN(ab_op_user_level_fields);

/* The price a reservation or a charge used (agentbase.ai_model_prices). */
#define PRICE_DOC "the price in effect, USD per million tokens"
#define SUB(list) .sub = list, .nsub = AB_ARRAY_LEN(list)

static const struct ab_field price_fields[] = {
    F("input_per_1m", NUMBER, .required = true),
    F("output_per_1m", NUMBER, .required = true),
    F("cached_input_per_1m", NUMBER, .required = true),
    F("effective_from", DATETIME, .required = true),
};

/* What a budget has left after a reservation. */
static const struct ab_field budget_left_fields[] = {
    F("id", UUID, .required = true),
    F("name", STRING, .required = true),
    F("period", STRING, .required = true, .choices = "daily,weekly,monthly,yearly,total"),
    F("remaining_usd", NUMBER, .required = true),
};

/* Absent: no such limit. */
static const struct ab_field remaining_fields[] = {
    F("wallet_tokens", INTEGER),
    F("daily_tokens", INTEGER),
    F("monthly_tokens", INTEGER),
    F("daily_requests", INTEGER),
    F("plan_daily_requests", INTEGER),
    F("plan_monthly_tokens", INTEGER),
    F("budgets", ARRAY, .items = AB_KIND_OBJECT, .required = true, SUB(budget_left_fields)),
};

static const struct ab_field alert_fields[] = {
    F("budget_id", UUID, .required = true),
    F("threshold", INTEGER, .required = true, .doc = "the percentage of the budget crossed"),
};

const struct ab_field ab_op_reserve_answer[] = {
    F("id", UUID, .required = true, .doc = "the reservation"),
    F("status", STRING, .required = true, .choices = "held"),
    F("user_id", UUID, .required = true),
    F("agent_id", UUID, .required = false),
    F("conversation_id", UUID, .required = false),
    F("project_id", UUID, .required = false),
    F("provider", STRING, .required = true),
    F("model", STRING, .required = true),
    F("held_tokens", INTEGER, .required = true),
    F("estimated_cost_usd", NUMBER, .required = true),
    F("price", OBJECT, .required = true, .doc = PRICE_DOC, SUB(price_fields)),
    F("expires_at", DATETIME, .required = true),
    F("created_at", DATETIME, .required = true),
    F("remaining", OBJECT, .required = true,
      .doc = "what each limit has left after this reservation (absent: no such limit)",
      SUB(remaining_fields)),
};
const size_t ab_op_reserve_nanswer = AB_ARRAY_LEN(ab_op_reserve_answer);

/* What a charge answers (settle and event). */
#define CHARGE_ANSWER                                                                              \
    F("ai_request_id", UUID, .required = true, .doc = "the ai-requests row recorded"),             \
        F("input_tokens", INTEGER, .required = true),                                              \
        F("output_tokens", INTEGER, .required = true),                                             \
        F("cached_tokens", INTEGER, .required = true),                                             \
        F("total_tokens", INTEGER, .required = true), F("cost_usd", NUMBER, .required = true),     \
        F("price", OBJECT, .required = true, .nullable = true, .doc = PRICE_DOC,                   \
          SUB(price_fields)),                                                                      \
        F("debited_tokens", INTEGER, .required = true),                                            \
        F("overage_tokens", INTEGER, .required = true),                                            \
        F("alerts", ARRAY, .items = AB_KIND_OBJECT, .required = true,                              \
          .doc = "budget thresholds this call crossed", SUB(alert_fields)),                        \
        F("limits_exceeded", ARRAY, .items = AB_KIND_STRING, .required = true,                     \
          .doc = "limits the call went past (an event is recorded anyway)")

const struct ab_field ab_op_settle_answer[] = {
    F("id", UUID, .required = true),
    F("status", STRING, .required = true, .choices = "settled"),
    F("user_id", UUID, .required = true),
    F("held_tokens", INTEGER, .required = true),
    F("released_tokens", INTEGER, .required = true),
    CHARGE_ANSWER,
};
const size_t ab_op_settle_nanswer = AB_ARRAY_LEN(ab_op_settle_answer);

const struct ab_field ab_op_event_answer[] = {CHARGE_ANSWER};
const size_t ab_op_event_nanswer = AB_ARRAY_LEN(ab_op_event_answer);

const struct ab_field ab_op_release_answer[] = {
    F("id", UUID, .required = true),
    F("status", STRING, .required = true, .choices = "released"),
    F("user_id", UUID, .required = true),
    F("released_tokens", INTEGER, .required = true),
};
const size_t ab_op_release_nanswer = AB_ARRAY_LEN(ab_op_release_answer);

/* The figures of a group of the summary, and of its totals. */
#define FIGURES                                                                                    \
    F("requests", INTEGER, .required = true), F("successes", INTEGER, .required = true),           \
        F("errors", INTEGER, .required = true),                                                    \
        F("success_rate", NUMBER, .required = true, .nullable = true),                             \
        F("input_tokens", INTEGER, .required = true),                                              \
        F("output_tokens", INTEGER, .required = true),                                             \
        F("cached_tokens", INTEGER, .required = true),                                             \
        F("total_tokens", INTEGER, .required = true), F("cost_usd", NUMBER, .required = true),     \
        F("avg_latency_ms", NUMBER, .required = true, .nullable = true)

static const struct ab_field totals_fields[] = {FIGURES};

/* A group's key is the members its group_by names (provider and model for model). */
static const struct ab_field group_fields[] = {
    F("provider", STRING),
    F("model", STRING),
    F("user_id", UUID, .nullable = true),
    F("agent_id", UUID, .nullable = true),
    F("project_id", UUID, .nullable = true),
    F("day", DATETIME),
    F("hour", DATETIME),
    FIGURES,
};

static const struct ab_field budget_fields[] = {
    F("id", UUID, .required = true),
    F("name", STRING, .required = true),
    F("user_id", UUID, .required = true, .nullable = true, .doc = "null: the whole tenant's"),
    F("period", STRING, .required = true, .choices = "daily,weekly,monthly,yearly,total"),
    F("period_start", DATETIME, .required = true),
    F("amount_usd", NUMBER, .required = true),
    F("spent_usd", NUMBER, .required = true),
    F("reserved_usd", NUMBER, .required = true),
    F("utilization_pct", NUMBER, .required = true),
    F("hard_limit", BOOLEAN, .required = true),
};

const struct ab_field ab_op_summary_answer[] = {
    F("from", DATETIME, .required = true),
    F("to", DATETIME, .required = true),
    F("group_by", STRING, .required = true, .choices = "model,user,agent,project,day,hour"),
    F("groups", ARRAY, .items = AB_KIND_OBJECT, .required = true,
      .doc = "one per group: its key (provider and model, user_id, agent_id, project_id, day or "
             "hour) and its figures, by cost",
      SUB(group_fields)),
    F("totals", OBJECT, .required = true, SUB(totals_fields)),
    F("budgets", ARRAY, .items = AB_KIND_OBJECT, .required = true,
      .doc = "the tenant's active budgets with their utilization", SUB(budget_fields)),
};
const size_t ab_op_summary_nanswer = AB_ARRAY_LEN(ab_op_summary_answer);

/* GET /v1/usage/requests: the query (every parameter optional). */
const struct ab_field ab_op_usage_requests_query[] = {
    F("from", DATETIME, .doc = "the start: a date or an RFC 3339 time; default 30 days ago"),
    F("to", DATETIME, .doc = "the end (exclusive): a date or an RFC 3339 time; default now"),
    F("provider", STRING, .max_len = 64),
    F("model", STRING, .max_len = 200),
    F("user_id", UUID),
    F("agent_id", UUID),
    F("project_id", UUID),
    F("after", UUID, .doc = "the next_cursor of the previous page"),
    F("limit", INTEGER, .has_min = true, .min = 1, .has_max = true, .max = 500,
      .doc = "default 50"),
};
const size_t ab_op_usage_requests_nquery = AB_ARRAY_LEN(ab_op_usage_requests_query);

/* GET /v1/usage/monthly: the query. */
const struct ab_field ab_op_usage_monthly_query[] = {
    F("user_id", UUID, .doc = "default: the key's user (a key without one must name it)"),
    F("month", STRING, .min_len = 7, .max_len = 7,
      .doc = "YYYY-MM (UTC); default the current month"),
};
const size_t ab_op_usage_monthly_nquery = AB_ARRAY_LEN(ab_op_usage_monthly_query);

static const struct ab_field month_project_fields[] = {
    F("project_id", UUID, .required = true, .nullable = true),
    F("requests", INTEGER, .required = true),
    F("input_tokens", INTEGER, .required = true),
    F("output_tokens", INTEGER, .required = true),
    F("cached_tokens", INTEGER, .required = true),
    F("total_tokens", INTEGER, .required = true),
    F("cost_usd", NUMBER, .required = true),
};

/* A user's month, in all and by project (the figures of each project the same). */
const struct ab_field ab_op_usage_monthly_answer[] = {
    F("user_id", UUID, .required = true),
    F("month", STRING, .required = true, .doc = "YYYY-MM"),
    F("from", DATETIME, .required = true),
    F("to", DATETIME, .required = true),
    F("requests", INTEGER, .required = true),
    F("input_tokens", INTEGER, .required = true),
    F("output_tokens", INTEGER, .required = true),
    F("cached_tokens", INTEGER, .required = true),
    F("total_tokens", INTEGER, .required = true),
    F("cost_usd", NUMBER, .required = true),
    F("projects", ARRAY, .items = AB_KIND_OBJECT, .required = true,
      .doc = "one per project (project_id null: calls without one), by cost",
      SUB(month_project_fields)),
};
const size_t ab_op_usage_monthly_nanswer = AB_ARRAY_LEN(ab_op_usage_monthly_answer);

/* ---- the development platform's reports ------------------------------------------------ */

/* GET /v1/containers/idle: the query. */
const struct ab_field ab_op_containers_idle_query[] = {
    F("minutes", INTEGER, .has_min = true, .min = 1, .has_max = true, .max = 525600,
      .doc = "idle for more than this many minutes; default 30"),
    F("limit", INTEGER, .has_min = true, .min = 1, .has_max = true, .max = 1000,
      .doc = "default 100"),
};
const size_t ab_op_containers_idle_nquery = AB_ARRAY_LEN(ab_op_containers_idle_query);

static const struct ab_field idle_container_fields[] = {
    F("id", UUID, .required = true),
    F("project_id", UUID, .required = true),
    F("container_id", STRING, .required = true, .nullable = true, .doc = "the runtime's id"),
    F("status", STRING, .required = true, .choices = "running"),
    F("last_active_at", DATETIME, .required = true, .nullable = true),
    F("started_at", DATETIME, .required = true, .nullable = true),
    F("idle_minutes", INTEGER, .required = true),
};

/* The running containers idle for longer than the query's minutes, oldest activity first. */
const struct ab_field ab_op_containers_idle_answer[] = {
    F("minutes", INTEGER, .required = true),
    F("data", ARRAY, .items = AB_KIND_OBJECT, .required = true, SUB(idle_container_fields)),
};
const size_t ab_op_containers_idle_nanswer = AB_ARRAY_LEN(ab_op_containers_idle_answer);

/* GET /v1/tasks/agent-performance: the query. */
const struct ab_field ab_op_agent_performance_query[] = {
    F("from", DATETIME,
      .doc = "tasks created from: a date or an RFC 3339 time; default 30 days ago"),
    F("to", DATETIME, .doc = "to (exclusive): a date or an RFC 3339 time; default now"),
};
const size_t ab_op_agent_performance_nquery = AB_ARRAY_LEN(ab_op_agent_performance_query);

static const struct ab_field agent_performance_fields[] = {
    F("agent_id", UUID, .required = true),
    F("agent_name", STRING, .required = true),
    F("agent_type", STRING, .required = true),
    F("tasks", INTEGER, .required = true, .doc = "tasks with this primary agent"),
    F("completed", INTEGER, .required = true),
    F("failed", INTEGER, .required = true),
    F("avg_execution_time_seconds", NUMBER, .required = true, .nullable = true),
    F("success_rate", NUMBER, .required = true, .nullable = true,
      .doc = "completed / (completed + failed); null while none has ended"),
};

/* Per primary agent, the tasks created in the period. */
const struct ab_field ab_op_agent_performance_answer[] = {
    F("from", DATETIME, .required = true),
    F("to", DATETIME, .required = true),
    F("data", ARRAY, .items = AB_KIND_OBJECT, .required = true, .doc = "by tasks, most first",
      SUB(agent_performance_fields)),
};
const size_t ab_op_agent_performance_nanswer = AB_ARRAY_LEN(ab_op_agent_performance_answer);

/* GET /v1/generated-content/{id}/download: the content, the download counted. */
const struct ab_field ab_op_content_download_answer[] = {
    F("id", UUID, .required = true),
    F("title", STRING, .required = true),
    F("file_name", STRING, .required = true, .nullable = true),
    F("mime_type", STRING, .required = true, .nullable = true),
    F("file_size_bytes", INTEGER, .required = true, .nullable = true),
    F("file_path", STRING, .required = true, .nullable = true,
      .doc = "where content too large to store inline lives"),
    F("checksum", STRING, .required = true, .nullable = true),
    F("content", STRING, .required = true, .nullable = true, .doc = "text content"),
    F("binary_content", STRING, .required = true, .nullable = true,
      .doc = "binary content, base64 (at most 10 MiB before encoding)"),
    F("download_count", INTEGER, .required = true, .doc = "this download included"),
};
const size_t ab_op_content_download_nanswer = AB_ARRAY_LEN(ab_op_content_download_answer);

/* POST /v1/ai-requests/{id}/feedback and /v1/rag-queries/{id}/feedback. */
const struct ab_field ab_op_feedback_fields[] = {
    F("rating", INTEGER, .required = true, .has_min = true, .min = 1, .has_max = true, .max = 5),
    F("comment", STRING, .nullable = true, .max_len = 4000),
};
const size_t ab_op_feedback_nfields = AB_ARRAY_LEN(ab_op_feedback_fields);

static const struct ab_field feedback_item_fields[] = {
    F("id", UUID, .required = true),
    F("user_id", UUID, .required = true, .nullable = true),
    F("rating", INTEGER, .required = true, .has_min = true, .min = 1, .has_max = true, .max = 5),
    F("comment", STRING, .required = true, .nullable = true),
    F("created_at", DATETIME, .required = true),
};

/* What ai-requests and rag-queries objects carry beside their columns (tables.c). */
const struct ab_field ab_op_feedback_extra[] = {
    F("feedback", ARRAY, .items = AB_KIND_OBJECT, .required = true,
      .doc = "the feedback given on it, oldest first", SUB(feedback_item_fields)),
};
const size_t ab_op_feedback_nextra = AB_ARRAY_LEN(ab_op_feedback_extra);

/* The answer to a wallet adjustment: the token-ledger entry's columns and this one. */
const struct ab_field ab_op_wallet_adjust_answer[] = {
    F("available", INTEGER, .required = true, .doc = "the wallet's balance less what is held"),
};
const size_t ab_op_wallet_adjust_nanswer = AB_ARRAY_LEN(ab_op_wallet_adjust_answer);

/* A level whose plan allocates nothing; else the answer is the allocation's ledger entry. */
const struct ab_field ab_op_user_level_answer[] = {
    F("level", STRING, .required = true),
    F("credited", INTEGER, .required = true, .has_min = true, .min = 0, .has_max = true, .max = 0),
};
const size_t ab_op_user_level_nanswer = AB_ARRAY_LEN(ab_op_user_level_answer);

/* ---- retrieval (0021) ----------------------------------------------------------------- */

/* POST /v1/collections/{id}/search: PostgreSQL (search_chunks) checks the rest. */
static const struct ab_field search_filter_fields[] = {
    F("document_ids", ARRAY, .items = AB_KIND_UUID, .max_len = 1000,
      .doc = "only chunks of these documents of the collection (each must exist)"),
    F("metadata", OBJECT, .doc = "only chunks whose metadata contains this object (@>)"),
};

const struct ab_field ab_op_search_fields[] = {
    F("query_embedding", ARRAY, .items = AB_KIND_NUMBER, .nullable = true, .min_len = 1,
      .max_len = 16000, .doc = "the query's embedding, of the collection's dimension"),
    F("query_text", STRING, .nullable = true, .min_len = 1, .max_len = 10000,
      .doc = "the query's text, searched in the chunks' content (websearch syntax)"),
    F("top_k", INTEGER, .nullable = true, .has_min = true, .min = 1, .has_max = true, .max = 100,
      .doc = "how many chunks (default 10)"),
    F("strategy", STRING, .nullable = true, .choices = "vector,text,hybrid",
      .doc = "default: hybrid (reciprocal rank fusion) when both queries are given, else the one "
             "given"),
    F("filter", OBJECT, .nullable = true, SUB(search_filter_fields)),
    F("min_score", NUMBER, .nullable = true, .has_min = true, .min = 0, .has_max = true, .max = 1,
      .doc = "drop results scored below it"),
    F("agent_id", UUID, .nullable = true, .doc = "the agent asking, recorded in the rag query"),
    F("conversation_id", UUID, .nullable = true,
      .doc = "the conversation asking, recorded in the rag query"),
};
const size_t ab_op_search_nfields = AB_ARRAY_LEN(ab_op_search_fields);

static const struct ab_field search_result_fields[] = {
    F("chunk_id", UUID, .required = true),
    F("document_id", UUID, .required = true),
    F("chunk_index", INTEGER, .required = true),
    F("content", STRING, .required = true),
    F("metadata", OBJECT, .required = true),
    F("score", NUMBER, .required = true, .has_min = true, .min = 0, .has_max = true, .max = 1,
      .doc = "higher is better, in 0..1 for every metric and strategy (docs/knowledge.md)"),
    F("distance", NUMBER, .required = true, .nullable = true,
      .doc = "in the collection's metric; null when only the text matched"),
    F("vector_rank", INTEGER, .required = true, .nullable = true),
    F("text_rank", INTEGER, .required = true, .nullable = true),
    F("rank", INTEGER, .required = true, .has_min = true, .min = 1),
};

const struct ab_field ab_op_search_answer[] = {
    F("query_id", UUID, .required = true, .doc = "the rag-queries row recorded"),
    F("collection_id", UUID, .required = true),
    F("strategy", STRING, .required = true, .choices = "vector,text,hybrid"),
    F("results", ARRAY, .items = AB_KIND_OBJECT, .required = true, .doc = "best first",
      SUB(search_result_fields)),
    F("top_score", NUMBER, .required = true, .nullable = true),
    F("latency_ms", INTEGER, .required = true, .has_min = true, .min = 0),
};
const size_t ab_op_search_nanswer = AB_ARRAY_LEN(ab_op_search_answer);

/* POST /v1/documents/{id}/chunks: each element is checked by chunk_batch_problem(). */
static const struct ab_field chunk_batch_item_fields[] = {
    F("chunk_index", INTEGER, .required = true, .has_min = true, .min = 0),
    F("content", STRING, .required = true),
    F("token_count", INTEGER, .has_min = true, .min = 0),
    F("start_char", INTEGER, .has_min = true, .min = 0),
    F("end_char", INTEGER, .has_min = true, .min = 0),
    F("embedding", ARRAY, .items = AB_KIND_NUMBER, .nullable = true),
    F("embedding_model", STRING, .nullable = true),
    F("metadata", OBJECT),
};

const struct ab_field ab_op_chunk_batch_fields[] = {
    F("chunks", ARRAY, .items = AB_KIND_OBJECT, .required = true, .min_len = 1, .max_len = 1000,
      .doc = "1 to 1000 chunks, written in one statement", SUB(chunk_batch_item_fields)),
};
const size_t ab_op_chunk_batch_nfields = AB_ARRAY_LEN(ab_op_chunk_batch_fields);

const struct ab_field ab_op_chunk_batch_answer[] = {
    F("document_id", UUID, .required = true),
    F("collection_id", UUID, .required = true),
    F("added", INTEGER, .required = true, .has_min = true, .min = 1),
    F("document_chunk_count", INTEGER, .required = true),
    F("collection_chunk_count", INTEGER, .required = true),
    F("processing_status", STRING, .required = true, .choices = "completed"),
};
const size_t ab_op_chunk_batch_nanswer = AB_ARRAY_LEN(ab_op_chunk_batch_answer);

/* ---- agent leases ------------------------------------------------------------------- */

const struct ab_field ab_op_lease_acquire_fields[] = {
    F("user_id", UUID, .nullable = true,
      .doc = "whose assignments; default: the key's user (a key without one must name it)"),
    F("agent_type", STRING, .nullable = true, .min_len = 1, .max_len = 64,
      .doc = "only assignments of agents of this type"),
    F("ttl_seconds", INTEGER, .nullable = true, .has_min = true, .min = 1, .has_max = true,
      .max = 86400, .doc = "how long the lease holds its slot unless released; default 300"),
};
const size_t ab_op_lease_acquire_nfields = AB_ARRAY_LEN(ab_op_lease_acquire_fields);

const struct ab_field ab_op_lease_release_fields[] = {
    F("lease_id", UUID, .required = true),
};
const size_t ab_op_lease_release_nfields = AB_ARRAY_LEN(ab_op_lease_release_fields);

/* The answer to both: the agent-leases columns and these. */
const struct ab_field ab_op_lease_answer[] = {
    F("allocation_type", STRING, .required = true, .choices = "shared,dedicated,pool"),
    F("priority", INTEGER, .required = true),
    F("max_concurrent_requests", INTEGER, .required = true, .has_min = true, .min = 1),
    F("active_leases", INTEGER, .required = true, .has_min = true, .min = 0,
      .doc = "the assignment's leases holding a slot now, this one included while active"),
};
const size_t ab_op_lease_nanswer = AB_ARRAY_LEN(ab_op_lease_answer);

/* ---- operations ---------------------------------------------------------------------- */

const struct ab_field ab_op_healthz_answer[] = {
    F("status", STRING, .required = true, .choices = "ok"),
};
const size_t ab_op_healthz_nanswer = AB_ARRAY_LEN(ab_op_healthz_answer);

/* Backups of the embedded cluster (backup.h): reported, never a reason to be unready. */
static const struct ab_field readyz_backup_fields[] = {
    F("archiving", STRING, .required = true, .choices = "ok,failing,unknown",
      .doc = "failing: the last WAL archive attempt failed after the last success "
             "(pg_stat_archiver); unknown: not looked at yet, or it could not be read"),
    F("failed_wal", STRING, .doc = "the WAL file that failed, while failing"),
    F("newest_backup", STRING, .nullable = true, .doc = "its label; null: no backup yet"),
    F("newest_backup_age_seconds", INTEGER, .nullable = true,
      .doc = "since the newest backup finished; null: no backup yet"),
    F("repository", STRING, .required = true, .choices = "ok,unreadable,unknown",
      .doc = "whether the last look at the backup repository (pgbackrest info) succeeded"),
};

const struct ab_field ab_op_readyz_answer[] = {
    F("status", STRING, .required = true, .choices = "ready"),
    F("schema_version", INTEGER, .required = true),
    F("backup", OBJECT,
      .doc = "on the embedded cluster only: its backups and WAL archiving; readiness does not "
             "depend on them (alert on /metrics)",
      SUB(readyz_backup_fields)),
};
const size_t ab_op_readyz_nanswer = AB_ARRAY_LEN(ab_op_readyz_answer);
