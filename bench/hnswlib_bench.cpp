/*
 * hnswlib_bench: the data set of bench/hnsw.sh and its reference index, hnswlib.
 *
 *   hnswlib_bench gen DIR N DIM NQ
 *       writes one data set, deterministically (the same files on every machine for the same
 *       arguments): N points and NQ queries drawn from 100 Gaussian clusters (centres uniform
 *       in [-1, 1]^DIM, noise 0.2 per coordinate), normalised to unit length so that cosine
 *       distance, inner product and L2 rank them alike. Point i (1..N) is in cluster
 *       i * 7 % 100 and has f = (i / 100) % 100, so that f = 7 keeps 1% of the points, drawn
 *       from every cluster; query q (1..NQ) is in cluster q * 13 % 100. Then the exact 10
 *       nearest of every query by brute force, over all points and over those with f = 7.
 *       Files: base.f32, queries.f32 (raw floats), base.csv (id,f,"[..]"), queries.csv
 *       (qid,"[..]"), truth.csv and truthf.csv (qid,id), for COPY.
 *   hnswlib_bench run DIR M EF_CONSTRUCTION EF_SEARCH[,EF_SEARCH...] [REPEAT]
 *       builds an hnswlib index of base.f32 (inner product on unit vectors, that is cosine),
 *       single-threaded, and prints "build SECONDS", then "ef EF recall R qps Q" per ef_search
 *       (recall@10 against truth.csv, queries one after another on one thread; Q the best of
 *       REPEAT passes over the queries, 1 by default).
 *
 * A benchmark tool, not part of the service: it exits on the first error.
 */
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

static const int K = 10;
static const int CLUSTERS = 100;

[[noreturn]] static void die(const std::string &msg)
{
    fprintf(stderr, "hnswlib_bench: %s\n", msg.c_str());
    exit(1);
}

/* splitmix64: a fixed generator, so that the data set does not depend on the C++ library */
static uint64_t rng_state = 0x2026013ULL;
static double uniform01()
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((z >> 11) + 0.5) / 9007199254740992.0;
}
static double gaussian()
{
    return sqrt(-2 * log(uniform01())) * cos(2 * M_PI * uniform01());
}

static void point(const std::vector<float> &centres, int cluster, int dim, float *out)
{
    double norm = 0;
    for (int j = 0; j < dim; j++) {
        out[j] = (float)(centres[(size_t)cluster * dim + j] + 0.2 * gaussian());
        norm += (double)out[j] * out[j];
    }
    norm = sqrt(norm);
    for (int j = 0; j < dim; j++)
        out[j] = (float)(out[j] / norm);
}

static FILE *open_file(const std::string &path, const char *mode)
{
    FILE *f = fopen(path.c_str(), mode);
    if (!f)
        die("cannot open " + path);
    return f;
}

static void write_csv_vector(FILE *f, const float *v, int dim)
{
    fputs("\"[", f);
    for (int j = 0; j < dim; j++)
        fprintf(f, j ? ",%.7g" : "%.7g", v[j]);
    fputs("]\"\n", f);
}

static std::vector<float> read_floats(const std::string &path, size_t count)
{
    std::vector<float> v(count);
    FILE *f = open_file(path, "rb");
    if (fread(v.data(), sizeof(float), count, f) != count)
        die(path + " is shorter than expected");
    fclose(f);
    return v;
}

static double dot(const float *a, const float *b, int dim)
{
    float s = 0;
    for (int j = 0; j < dim; j++)
        s += a[j] * b[j];
    return s;
}

/* the exact K nearest (largest inner product) of every query among the points that keep() */
template <typename Keep>
static void brute_force(const std::vector<float> &base, const std::vector<float> &queries, int n,
                        int nq, int dim, Keep keep, const std::string &path)
{
    FILE *f = open_file(path, "w");
    std::vector<std::pair<double, int>> best;
    for (int q = 0; q < nq; q++) {
        best.clear();
        for (int i = 0; i < n; i++) {
            if (!keep(i + 1))
                continue;
            double d = 1 - dot(&queries[(size_t)q * dim], &base[(size_t)i * dim], dim);
            if ((int)best.size() < K || d < best.front().first) {
                best.emplace_back(d, i + 1);
                std::push_heap(best.begin(), best.end());
                if ((int)best.size() > K) {
                    std::pop_heap(best.begin(), best.end());
                    best.pop_back();
                }
            }
        }
        for (auto &b : best)
            fprintf(f, "%d,%d\n", q + 1, b.second);
    }
    fclose(f);
}

static void gen(const std::string &dir, int n, int dim, int nq)
{
    std::vector<float> centres((size_t)CLUSTERS * dim);
    for (auto &c : centres)
        c = (float)(uniform01() * 2 - 1);
    std::vector<float> base((size_t)n * dim), queries((size_t)nq * dim);
    for (int i = 1; i <= n; i++)
        point(centres, i * 7 % CLUSTERS, dim, &base[(size_t)(i - 1) * dim]);
    for (int q = 1; q <= nq; q++)
        point(centres, q * 13 % CLUSTERS, dim, &queries[(size_t)(q - 1) * dim]);

    FILE *f = open_file(dir + "/base.f32", "wb");
    fwrite(base.data(), sizeof(float), base.size(), f);
    fclose(f);
    f = open_file(dir + "/queries.f32", "wb");
    fwrite(queries.data(), sizeof(float), queries.size(), f);
    fclose(f);
    f = open_file(dir + "/base.csv", "w");
    for (int i = 1; i <= n; i++) {
        fprintf(f, "%d,%d,", i, (i / 100) % 100);
        write_csv_vector(f, &base[(size_t)(i - 1) * dim], dim);
    }
    fclose(f);
    f = open_file(dir + "/queries.csv", "w");
    for (int q = 1; q <= nq; q++) {
        fprintf(f, "%d,", q);
        write_csv_vector(f, &queries[(size_t)(q - 1) * dim], dim);
    }
    fclose(f);

    brute_force(
        base, queries, n, nq, dim, [](int) { return true; }, dir + "/truth.csv");
    brute_force(
        base, queries, n, nq, dim, [](int i) { return (i / 100) % 100 == 7; }, dir + "/truthf.csv");
}

static void run(const std::string &dir, int m, int efc, const std::string &efs, int repeat)
{
    /* the data set's shape: from the files' sizes and the truth's query count */
    std::vector<std::set<int>> truth;
    FILE *f = open_file(dir + "/truth.csv", "r");
    int qid, id;
    while (fscanf(f, "%d,%d", &qid, &id) == 2) {
        if ((int)truth.size() < qid)
            truth.resize(qid);
        truth[qid - 1].insert(id);
    }
    fclose(f);
    int nq = (int)truth.size();
    f = open_file(dir + "/queries.f32", "rb");
    fseek(f, 0, SEEK_END);
    long qbytes = ftell(f);
    fclose(f);
    f = open_file(dir + "/base.f32", "rb");
    fseek(f, 0, SEEK_END);
    long bbytes = ftell(f);
    fclose(f);
    if (nq == 0 || qbytes % (nq * (long)sizeof(float)))
        die("queries.f32 does not match truth.csv");
    int dim = (int)(qbytes / nq / (long)sizeof(float));
    int n = (int)(bbytes / dim / (long)sizeof(float));
    std::vector<float> base = read_floats(dir + "/base.f32", (size_t)n * dim);
    std::vector<float> queries = read_floats(dir + "/queries.f32", (size_t)nq * dim);

    hnswlib::InnerProductSpace space(dim);
    auto start = std::chrono::steady_clock::now();
    hnswlib::HierarchicalNSW<float> index(&space, n, m, efc, 100);
    for (int i = 0; i < n; i++)
        index.addPoint(&base[(size_t)i * dim], (hnswlib::labeltype)(i + 1));
    std::chrono::duration<double> build = std::chrono::steady_clock::now() - start;
    printf("build %.2f\n", build.count());

    size_t pos = 0;
    while (pos < efs.size()) {
        size_t comma = efs.find(',', pos);
        int ef = atoi(efs.substr(pos, comma - pos).c_str());
        pos = comma == std::string::npos ? efs.size() : comma + 1;
        index.setEf(ef);
        long hits = 0;
        double best = 0;
        for (int pass = 0; pass < repeat; pass++) {
            hits = 0;
            start = std::chrono::steady_clock::now();
            for (int q = 0; q < nq; q++) {
                auto result = index.searchKnn(&queries[(size_t)q * dim], K);
                while (!result.empty()) {
                    hits += truth[q].count((int)result.top().second);
                    result.pop();
                }
            }
            std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
            best = std::max(best, nq / took.count());
        }
        printf("ef %d recall %.4f qps %.1f\n", ef, (double)hits / ((double)nq * K), best);
    }
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "gen") == 0 && atoi(argv[3]) > 0 && atoi(argv[4]) > 0 &&
        atoi(argv[5]) > 0)
        gen(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    else if ((argc == 6 || (argc == 7 && atoi(argv[6]) > 0)) && strcmp(argv[1], "run") == 0)
        run(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5], argc == 7 ? atoi(argv[6]) : 1);
    else
        die("usage: hnswlib_bench gen DIR N DIM NQ | run DIR M EF_CONSTRUCTION EF,EF,... [REPEAT]");
    return 0;
}
