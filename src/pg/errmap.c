/*
 * The SQLSTATE -> HTTP table (see errmap.h). A state is looked up exactly first, then by
 * its two-character class; what matches neither is a 500 that the server logs.
 */
#include "pg/errmap.h"

#include <stdio.h>
#include <string.h>

/* A message for a database that did not answer, or a state this table does not know. */
static const struct ab_pg_rule unavailable = {NULL, 503, "database_unavailable",
                                              "the database did not answer; retry shortly", false};
static const struct ab_pg_rule unknown = {"", 500, "internal", "internal error", false};

const struct ab_pg_rule ab_pg_rules[] = {
    /* integrity: the client's data breaks a rule of the schema */
    {"23502", 400, "missing_field", "{field} is required and may not be null", false},
    {"23514", 422, "constraint_violation", "{field} has a value that {what} does not allow", false},
    {"23503", 422, "invalid_reference", "{field} refers to an object that does not exist", true},
    {"23505", 409, "conflict", "another object of {what} has the same {field}", false},
    {"23P01", 409, "conflict", "the object overlaps another object of {what}", false},
    {"23", 409, "conflict", "the change conflicts with the state of {what}", false},
    /* data: a value of the wrong form or size */
    {"22001", 400, "invalid_field", "{field} is too long", false},
    {"22003", 400, "invalid_field", "{field} is out of range", false},
    {"22007", 400, "invalid_field", "{field} is not a valid date or time", false},
    {"22008", 400, "invalid_field", "{field} is not a valid date or time", false},
    {"22P02", 400, "invalid_field", "{field} does not have the form its type needs", false},
    {"22023", 400, "invalid_field", "{field} is invalid", true},
    {"22", 400, "invalid_field", "{field} is invalid", true},
    /* who may do what: our triggers say which field; RLS and grants say less */
    {"42501", 403, "forbidden",
     "your role may not make this change to {what} (not your row, or not writable by your role)",
     true},
    /* our own functions' refusals */
    {"AB001", 409, "insufficient_tokens", "not enough tokens", true},
    {"AB002", 409, "nothing_held", "nothing is held", true},
    {"AB404", 404, "not_found", "not found", true},
    {"AB409", 409, "lease_released", "the lease was released already", true},
    {"AB410", 409, "lease_expired", "the lease expired", true},
    {"AB429", 429, "concurrency_limit", "every slot is taken", true},
    {"P0001", 422, "invalid_request", "the request cannot be carried out", true},
    /* the database is busy, tired or away: retry */
    {"40001", 503, "retry", "the request collided with another; retry it", false},
    {"40P01", 503, "retry", "the request collided with another; retry it", false},
    {"55P03", 503, "retry", "the object is locked by another request; retry it", false},
    {"57014", 503, "timeout", "the request took too long", false},
    {"57P", 503, "database_unavailable", "the database is restarting; retry shortly", false},
    {"53", 503, "database_unavailable", "the database is out of resources; retry shortly", false},
    {"08", 503, "database_unavailable", "the database did not answer; retry shortly", false},
};
const unsigned ab_pg_nrules = sizeof(ab_pg_rules) / sizeof(ab_pg_rules[0]);

static const struct ab_pg_rule *rule_for(const char *state)
{
    if (!state || strlen(state) != 5)
        return &unavailable;
    for (unsigned i = 0; i < ab_pg_nrules; i++)
        if (strlen(ab_pg_rules[i].sqlstate) == 5 && strcmp(ab_pg_rules[i].sqlstate, state) == 0)
            return &ab_pg_rules[i];
    /* a class: two characters, or three for 57P (operator intervention: shutdowns) */
    for (unsigned i = 0; i < ab_pg_nrules; i++) {
        size_t n = strlen(ab_pg_rules[i].sqlstate);

        if (n < 5 && strncmp(ab_pg_rules[i].sqlstate, state, n) == 0)
            return &ab_pg_rules[i];
    }
    return &unknown;
}

/* Copies s without prefix into out when s starts with it; false otherwise. */
static bool strip(const char *s, const char *prefix, char *out, size_t n)
{
    size_t len = strlen(prefix);

    if (strncmp(s, prefix, len) != 0 || !s[len])
        return false;
    snprintf(out, n, "%s", s + len);
    return true;
}

/*
 * The field at fault: the column PostgreSQL names, the column our constraint names carry
 * (chk_<table>_<column>, uq_<table>[_tenant_id]_<columns>, <table>_pkey), or the field our
 * own message begins with ("field <name> ...").
 */
static void find_param(const struct ab_pg_failure *f, bool own, char *out, size_t n)
{
    char prefix[160];

    out[0] = '\0';
    if (f->column && f->column[0]) {
        snprintf(out, n, "%s", f->column);
        return;
    }
    if (own && f->message && strncmp(f->message, "field ", 6) == 0) {
        size_t len = strspn(f->message + 6, "abcdefghijklmnopqrstuvwxyz0123456789_");

        snprintf(out, n, "%.*s", (int)len, f->message + 6);
        return;
    }
    if (!f->constraint || !f->table)
        return;
    snprintf(prefix, sizeof(prefix), "%s_pkey", f->table);
    if (strcmp(f->constraint, prefix) == 0) {
        snprintf(out, n, "id");
        return;
    }
    snprintf(prefix, sizeof(prefix), "chk_%s_", f->table);
    if (strip(f->constraint, prefix, out, n))
        return;
    snprintf(prefix, sizeof(prefix), "uq_%s_tenant_id_", f->table);
    if (strip(f->constraint, prefix, out, n))
        return;
    snprintf(prefix, sizeof(prefix), "uq_%s_", f->table);
    strip(f->constraint, prefix, out, n);
}

/* Expands {field} and {what} in the rule's message. */
static void expand(const char *tmpl, const char *param, const char *what, char *out, size_t n)
{
    size_t used = 0;

    out[0] = '\0';
    for (const char *p = tmpl; *p && used + 1 < n;) {
        const char *add = NULL;
        char field[96];

        if (strncmp(p, "{field}", 7) == 0) {
            if (param[0])
                snprintf(field, sizeof(field), "field '%s'", param);
            else
                snprintf(field, sizeof(field), "a field");
            add = field;
            p += 7;
        } else if (strncmp(p, "{what}", 6) == 0) {
            add = what && what[0] ? what : "the object";
            p += 6;
        }
        if (add) {
            used += (size_t)snprintf(out + used, n - used, "%s", add);
            used = used < n ? used : n - 1;
        } else {
            out[used++] = *p++;
            out[used] = '\0';
        }
    }
}

void ab_pg_answer_for(const struct ab_pg_failure *f, const char *what, struct ab_pg_answer *out)
{
    const struct ab_pg_rule *r = rule_for(f->sqlstate);
    /* Raised by PL/pgSQL (ours): written for clients. PostgreSQL's own words never are. */
    bool own = r->own && f->message && f->source && strcmp(f->source, "exec_stmt_raise") == 0;

    out->status = r->status;
    out->code = r->code;
    out->retry = r->status == 503;
    out->log = r == &unknown;
    find_param(f, own, out->param, sizeof(out->param));
    if (own)
        snprintf(out->message, sizeof(out->message), "%s", f->message);
    else
        expand(r->message, out->param, what, out->message, sizeof(out->message));
}

void ab_pg_answer_result(const PGresult *res, const char *what, struct ab_pg_answer *out)
{
    struct ab_pg_failure f = {0};

    if (res) {
        f.sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        f.message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        f.source = PQresultErrorField(res, PG_DIAG_SOURCE_FUNCTION);
        f.table = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
        f.column = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
        f.constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    }
    ab_pg_answer_for(&f, what, out);
}
