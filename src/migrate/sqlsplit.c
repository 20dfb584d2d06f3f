/*
 * Splitting a SQL script into statements.
 *
 * We split instead of sending a whole file with PQexec so that a failure names the
 * statement and its line, a no-transaction file can be checked to hold one statement,
 * and `migrate plan` can print what runs. The scanner knows just enough of PostgreSQL's
 * lexical rules to find the semicolons that end statements: '...' (with '' inside),
 * E'...' (with backslash escapes), "...", $tag$...$tag$, -- comments and nested block
 * comments. Parentheses do not matter to it: a semicolon inside them would be a syntax
 * error anyway.
 */
#include "migrate/migrate.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct scanner {
    const char *s;
    size_t len, i;
    int line;
};

static void advance(struct scanner *sc, size_t n)
{
    for (; n > 0 && sc->i < sc->len; n--, sc->i++)
        if (sc->s[sc->i] == '\n')
            sc->line++;
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

/* Length of a dollar-quote tag ($tag$ or $$) starting at i, or 0 if there is none. */
static size_t dollar_tag(const struct scanner *sc, size_t i)
{
    size_t j = i + 1;

    if (i > 0 && ident_char(sc->s[i - 1]))
        return 0; /* part of an identifier such as a$b */
    if (j < sc->len && isdigit((unsigned char)sc->s[j]))
        return 0; /* $1 is a parameter */
    while (j < sc->len && ident_char(sc->s[j]) && sc->s[j] != '$')
        j++;
    return (j < sc->len && sc->s[j] == '$') ? j - i + 1 : 0;
}

/* Skips a quoted run starting at the opening quote; false when it never ends. */
static bool skip_quoted(struct scanner *sc, char q, bool backslash)
{
    advance(sc, 1);
    while (sc->i < sc->len) {
        char c = sc->s[sc->i];

        if (backslash && c == '\\') {
            advance(sc, 2);
        } else if (c == q) {
            if (sc->i + 1 < sc->len && sc->s[sc->i + 1] == q) {
                advance(sc, 2); /* doubled quote */
            } else {
                advance(sc, 1);
                return true;
            }
        } else {
            advance(sc, 1);
        }
    }
    return false;
}

static bool skip_block_comment(struct scanner *sc)
{
    int depth = 0;

    while (sc->i < sc->len) {
        if (sc->s[sc->i] == '/' && sc->i + 1 < sc->len && sc->s[sc->i + 1] == '*') {
            depth++;
            advance(sc, 2);
        } else if (sc->s[sc->i] == '*' && sc->i + 1 < sc->len && sc->s[sc->i + 1] == '/') {
            advance(sc, 2);
            if (--depth == 0)
                return true;
        } else {
            advance(sc, 1);
        }
    }
    return false;
}

static bool skip_dollar_quoted(struct scanner *sc, size_t taglen)
{
    const char *tag = sc->s + sc->i;

    advance(sc, taglen);
    while (sc->i < sc->len) {
        if (sc->s[sc->i] == '$' && sc->len - sc->i >= taglen &&
            memcmp(sc->s + sc->i, tag, taglen) == 0) {
            advance(sc, taglen);
            return true;
        }
        advance(sc, 1);
    }
    return false;
}

static int push(struct ab_sql_stmt **v, size_t *n, size_t *cap, struct ab_sql_stmt st)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct ab_sql_stmt *p = realloc(*v, ncap * sizeof(*p));

        if (!p)
            return AB_ENOMEM;
        *v = p;
        *cap = ncap;
    }
    (*v)[(*n)++] = st;
    return 0;
}

int ab_sql_split(const char *sql, size_t len, struct ab_sql_stmt **out, size_t *count,
                 struct ab_error *err)
{
    struct scanner sc = {sql, len, 0, 1};
    struct ab_sql_stmt cur = {0, 0, 0};
    struct ab_sql_stmt *v = NULL;
    size_t n = 0, cap = 0, taglen, end = 0;
    bool in_stmt = false;
    int start_line, rc = 0;

    *out = NULL;
    *count = 0;
    while (sc.i < sc.len) {
        char c = sql[sc.i];
        char next = sc.i + 1 < sc.len ? sql[sc.i + 1] : '\0';

        start_line = sc.line;
        if (c == '-' && next == '-') {
            while (sc.i < sc.len && sql[sc.i] != '\n')
                advance(&sc, 1);
            continue;
        }
        if (c == '/' && next == '*') {
            if (!skip_block_comment(&sc)) {
                rc = ab_error_set(err, AB_EINVAL, "unterminated /* comment starting at line %d",
                                  start_line);
                goto fail;
            }
            continue;
        }
        if (isspace((unsigned char)c)) {
            advance(&sc, 1);
            continue;
        }
        if (c == ';') {
            if (in_stmt) {
                cur.len = end - cur.offset;
                if ((rc = push(&v, &n, &cap, cur)))
                    goto nomem;
            }
            in_stmt = false;
            advance(&sc, 1);
            continue;
        }
        if (!in_stmt) {
            in_stmt = true;
            cur.offset = sc.i;
            cur.line = sc.line;
        }
        if (c == '\'' || c == '"') {
            bool esc = c == '\'' && sc.i > 0 && (sql[sc.i - 1] == 'E' || sql[sc.i - 1] == 'e') &&
                       (sc.i < 2 || !ident_char(sql[sc.i - 2]));
            if (!skip_quoted(&sc, c, esc)) {
                rc = ab_error_set(err, AB_EINVAL, "unterminated %s starting at line %d",
                                  c == '"' ? "quoted identifier" : "string", start_line);
                goto fail;
            }
        } else if (c == '$' && (taglen = dollar_tag(&sc, sc.i)) > 0) {
            const char *tag = sql + sc.i;

            if (!skip_dollar_quoted(&sc, taglen)) {
                rc = ab_error_set(err, AB_EINVAL,
                                  "unterminated dollar quote %.*s starting at line %d", (int)taglen,
                                  tag, start_line);
                goto fail;
            }
        } else {
            advance(&sc, 1);
        }
        end = sc.i; /* statements end at their last significant character */
    }
    if (in_stmt) {
        /* A last statement without a semicolon. */
        cur.len = end - cur.offset;
        if ((rc = push(&v, &n, &cap, cur)))
            goto nomem;
    }
    *out = v;
    *count = n;
    return 0;
nomem:
    rc = ab_error_set(err, AB_ENOMEM, "out of memory splitting SQL");
fail:
    free(v);
    return rc;
}
