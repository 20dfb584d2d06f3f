/*
 * search_load: POST /v1/collections/{id}/search for every query of a data set, one after
 * another over one keep-alive connection (libcurl), as hnswlib_bench searches on one thread.
 *
 *   search_load URL KEY COLLECTION QUERIES.f32 DIM ROUNDS OUT.csv
 *
 * Sends each query (top_k 10) ROUNDS times in turn (the first round also warms the cache),
 * writes the first round's answers to OUT.csv as qid,chunk_id for the recall, and prints
 * "qps Q errors E" over the rounds after the first (over the first one if ROUNDS is 1).
 *
 * A benchmark tool, not part of the service: it exits on the first setup error.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ANSWER_MAX (1 << 20)

struct answer {
    char buf[ANSWER_MAX];
    size_t len;
};

static void die(const char *msg)
{
    fprintf(stderr, "search_load: %s\n", msg);
    exit(1);
}

static size_t on_data(char *data, size_t size, size_t n, void *user)
{
    struct answer *a = user;
    size_t len = size * n;
    if (a->len + len >= ANSWER_MAX)
        return 0; /* an answer this large is an error: curl stops the transfer */
    memcpy(a->buf + a->len, data, len);
    a->len += len;
    return len;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* the request body of one query: {"query_embedding":[...],"top_k":10}; the caller frees it */
static char *query_body(const float *v, int dim)
{
    size_t cap = (size_t)dim * 20 + 64, len = 0;
    char *body = malloc(cap);
    if (!body)
        die("out of memory");
    len += (size_t)snprintf(body + len, cap - len, "{\"query_embedding\":[");
    for (int j = 0; j < dim; j++)
        len += (size_t)snprintf(body + len, cap - len, j ? ",%.7g" : "%.7g", v[j]);
    snprintf(body + len, cap - len, "],\"top_k\":10}");
    return body;
}

int main(int argc, char **argv)
{
    if (argc != 8)
        die("usage: search_load URL KEY COLLECTION QUERIES.f32 DIM ROUNDS OUT.csv");
    int dim = atoi(argv[5]), rounds = atoi(argv[6]);
    if (dim <= 0 || rounds <= 0)
        die("DIM and ROUNDS must be positive");

    FILE *f = fopen(argv[4], "rb");
    if (!f)
        die("cannot open the queries");
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    rewind(f);
    int nq = (int)(bytes / (long)sizeof(float) / dim);
    float *queries = malloc((size_t)nq * dim * sizeof(float));
    if (!queries || nq == 0 ||
        fread(queries, sizeof(float), (size_t)nq * dim, f) != (size_t)nq * dim)
        die("cannot read the queries");
    fclose(f);
    char **bodies = malloc((size_t)nq * sizeof(*bodies));
    if (!bodies)
        die("out of memory");
    for (int q = 0; q < nq; q++)
        bodies[q] = query_body(&queries[(size_t)q * dim], dim);

    FILE *out = fopen(argv[7], "w");
    if (!out)
        die("cannot open the output");
    char url[1024], auth[512];
    snprintf(url, sizeof(url), "%s/v1/collections/%s/search", argv[1], argv[3]);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", argv[2]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    static struct answer answer;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);

    long errors = 0;
    double start = now();
    for (int r = 0; r < rounds; r++) {
        if (r == 1)
            start = now(); /* the rounds after the first are the measured ones */
        for (int q = 0; q < nq; q++) {
            long status = 0;
            answer.len = 0;
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, bodies[q]);
            if (curl_easy_perform(curl) != CURLE_OK ||
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
                status != 200) {
                errors++;
                continue;
            }
            if (r > 0)
                continue;
            json_error_t jerr;
            json_t *doc = json_loadb(answer.buf, answer.len, 0, &jerr);
            json_t *results = json_object_get(doc, "results");
            size_t i;
            json_t *row;
            json_array_foreach(results, i, row)
            {
                const char *id = json_string_value(json_object_get(row, "chunk_id"));
                if (id)
                    fprintf(out, "%d,%s\n", q + 1, id);
            }
            json_decref(doc);
        }
    }
    double took = now() - start;
    int measured = rounds > 1 ? rounds - 1 : 1;
    printf("qps %.1f errors %ld\n", (double)nq * measured / took, errors);

    fclose(out);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    for (int q = 0; q < nq; q++)
        free(bodies[q]);
    free(bodies);
    free(queries);
    return errors ? 1 : 0;
}
