/*
 * errmap: the one table that turns a failed statement into an HTTP answer (status, code,
 * message, the field at fault). Every endpoint and the accounting batchers answer
 * PostgreSQL's errors through it, so the same error is the same answer everywhere.
 *
 * Messages never carry PostgreSQL's own wording, constraint names or paths: a message
 * raised by our own functions (PL/pgSQL RAISE, written for clients) is passed on; anything
 * PostgreSQL itself said is replaced by the table's text.
 */
#ifndef AB_PG_ERRMAP_H
#define AB_PG_ERRMAP_H

#include <libpq-fe.h>
#include <stdbool.h>

/* What an error said, as libpq reports it (any field may be NULL). */
struct ab_pg_failure {
    const char *sqlstate;
    const char *message;    /* the primary message */
    const char *source;     /* the server's function that raised it (exec_stmt_raise: ours) */
    const char *table;      /* PG_DIAG_TABLE_NAME */
    const char *column;     /* PG_DIAG_COLUMN_NAME */
    const char *constraint; /* PG_DIAG_CONSTRAINT_NAME */
};

struct ab_pg_answer {
    int status;        /* HTTP status */
    const char *code;  /* the error code clients branch on */
    char message[512]; /* for people */
    char param[64];    /* the field at fault, "" when none is known */
    bool retry;        /* worth retrying as is (a Retry-After of 1 s) */
    bool log;          /* unexpected: the server logs it */
};

/* One row of the table (exposed for the tests, which check it entry by entry). */
struct ab_pg_rule {
    const char *sqlstate; /* five characters, or a two-character class; NULL: no answer */
    int status;
    const char *code;
    /*
     * The message: "{param}" stands for the field, "{what}" for the object the request was
     * about. With own, a message our functions raised replaces it.
     */
    const char *message;
    bool own;
};
extern const struct ab_pg_rule ab_pg_rules[];
extern const unsigned ab_pg_nrules;

/* The answer for a failure about `what` (a resource name, "the reservation" ...). */
void ab_pg_answer_for(const struct ab_pg_failure *f, const char *what, struct ab_pg_answer *out);
/* The same for a failed result; res NULL or without SQLSTATE: the database did not answer. */
void ab_pg_answer_result(const PGresult *res, const char *what, struct ab_pg_answer *out);

#endif
