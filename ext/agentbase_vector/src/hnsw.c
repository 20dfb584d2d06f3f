/*
 * The hnsw access method's handler: what PostgreSQL asks of an index AM (the IndexAmRoutine
 * of https://www.postgresql.org/docs/15/indexam.html), its options m and ef_construction,
 * the setting hnsw.ef_search, the planner's cost estimate and the operator class check.
 */
#include "hnsw.h"

#include <float.h>
#include <math.h>

#include "access/amvalidate.h"
#include "access/reloptions.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "distance.h"
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "utils/syscache.h"

int hnsw_ef_search = HNSW_DEFAULT_EF_SEARCH;
static relopt_kind hnsw_relopt_kind;

void _PG_init(void);

void _PG_init(void)
{
    hnsw_relopt_kind = add_reloption_kind();
    add_int_reloption(hnsw_relopt_kind, "m", "Neighbours of an element on each level above 0",
                      HNSW_DEFAULT_M, HNSW_MIN_M, HNSW_MAX_M, AccessExclusiveLock);
    add_int_reloption(hnsw_relopt_kind, "ef_construction",
                      "Candidates kept by the searches that insert an element",
                      HNSW_DEFAULT_EF_CONSTRUCTION, HNSW_MIN_EF_CONSTRUCTION,
                      HNSW_MAX_EF_CONSTRUCTION, AccessExclusiveLock);
    DefineCustomIntVariable("hnsw.ef_search", "Candidates an hnsw index scan keeps at first",
                            "A scan that runs out of them (because a WHERE clause filters the "
                            "rows) continues with twice as many, until the query stops asking.",
                            &hnsw_ef_search, HNSW_DEFAULT_EF_SEARCH, 1, HNSW_MAX_EF_SEARCH,
                            PGC_USERSET, 0, NULL, NULL, NULL);
    MarkGUCPrefixReserved("hnsw");
}

static bytea *hnswoptions(Datum reloptions, bool validate)
{
    static const relopt_parse_elt tab[] = {
        {"m", RELOPT_TYPE_INT, offsetof(HnswOptions, m)},
        {"ef_construction", RELOPT_TYPE_INT, offsetof(HnswOptions, ef_construction)},
    };

    return (bytea *)build_reloptions(reloptions, validate, hnsw_relopt_kind, sizeof(HnswOptions),
                                     tab, lengthof(tab));
}

HnswOptions *hnsw_options_of(Relation index)
{
    static HnswOptions defaults = {0, HNSW_DEFAULT_M, HNSW_DEFAULT_EF_CONSTRUCTION};

    return index->rd_options ? (HnswOptions *)index->rd_options : &defaults;
}

static double kernel_l2_squared(const Vector *a, const Vector *b)
{
    return (double)ab_vec_l2_squared(a->x, b->x, a->dim);
}

static double kernel_negative_inner_product(const Vector *a, const Vector *b)
{
    return -(double)ab_vec_dot(a->x, b->x, a->dim);
}

static double kernel_cosine(const Vector *a, const Vector *b)
{
    return ab_vec_cosine_distance(a->x, b->x, a->dim);
}

/* The cosine distance of two vectors of norm 1. */
static double kernel_unit_cosine(const Vector *a, const Vector *b)
{
    return 1.0 - (double)ab_vec_dot(a->x, b->x, a->dim);
}

/*
 * The kernel of the operator class's distance function when it is one of ours: the same
 * arithmetic as the SQL function, without its call overhead. An index's vectors all have
 * its dimension (the scan checks the query's), so the functions' dimension check is moot.
 */
static double (*direct_kernel(FmgrInfo *f, bool normalized))(const Vector *, const Vector *)
{
    if (f->fn_addr == vector_l2_squared_distance)
        return kernel_l2_squared;
    if (f->fn_addr == vector_negative_inner_product)
        return kernel_negative_inner_product;
    if (f->fn_addr == cosine_distance)
        return normalized ? kernel_unit_cosine : kernel_cosine;
    return NULL;
}

/* The graph of an index whose meta page says *meta. */
void hnsw_graph_init(HnswGraph *g, Relation index, const HnswMetaPageData *meta)
{
    memset(g, 0, sizeof(*g));
    g->index = index;
    g->dims = meta->dims;
    g->m = meta->m;
    g->ef_construction = meta->ef_construction;
    g->distance = index_getprocinfo(index, 1, HNSW_DISTANCE_PROC);
    g->norm = OidIsValid(index_getprocid(index, 1, HNSW_NORM_PROC))
                  ? index_getprocinfo(index, 1, HNSW_NORM_PROC)
                  : NULL;
    g->normalized = g->norm != NULL && meta->version >= 2;
    g->kernel = direct_kernel(g->distance, g->normalized);
    g->collation = index->rd_indcollation[0];
}

/*
 * A scan computes the distance of about ef_search * m elements of layer 0 (they share many
 * neighbours) before it returns its first row, on as large a share of the index's pages:
 * that is its startup cost; the rows after it cost the rest of a full index scan in
 * proportion. Without an ORDER BY on the index's operator the index cannot be used at all.
 */
static void hnswcostestimate(PlannerInfo *root, IndexPath *path, double loop_count, Cost *startup,
                             Cost *total, Selectivity *selectivity, double *correlation,
                             double *pages)
{
    GenericCosts costs;
    double tuples, visited, share;
    int m;

    if (path->indexorderbys == NIL) {
        *startup = *total = DBL_MAX;
        *selectivity = 0;
        *correlation = 0;
        *pages = 0;
        return;
    }
    MemSet(&costs, 0, sizeof(costs));
    genericcostestimate(root, path, loop_count, &costs);
    {
        Relation index = index_open(path->indexinfo->indexoid, NoLock);

        m = hnsw_options_of(index)->m;
        index_close(index, NoLock);
    }
    tuples = Max(path->indexinfo->tuples, 1);
    visited = Min((double)hnsw_ef_search * m, tuples);
    share = visited / tuples;
    *startup = visited * cpu_operator_cost + share * costs.numIndexPages * random_page_cost;
    *total = Max(*startup, costs.indexTotalCost);
    *selectivity = costs.indexSelectivity;
    *correlation = 0;
    *pages = costs.numIndexPages;
}

/* Strategy 1, an ordering operator; function 1 a distance, function 2 (optional) a norm. */
static bool hnswvalidate(Oid opclassoid)
{
    bool result = true, have_distance = false, have_order = false;
    HeapTuple classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
    Form_pg_opclass classform;
    Oid family, type;
    char *name;
    CatCList *procs, *ops;

    if (!HeapTupleIsValid(classtup))
        elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
    classform = (Form_pg_opclass)GETSTRUCT(classtup);
    family = classform->opcfamily;
    type = classform->opcintype;
    name = NameStr(classform->opcname);

    procs = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(family));
    for (int i = 0; i < procs->n_members; i++) {
        Form_pg_amproc p = (Form_pg_amproc)GETSTRUCT(&procs->members[i]->tuple);
        bool ok = false;

        if (p->amprocnum == HNSW_DISTANCE_PROC)
            ok = have_distance =
                check_amproc_signature(p->amproc, FLOAT8OID, true, 2, 2, type, type);
        else if (p->amprocnum == HNSW_NORM_PROC)
            ok = check_amproc_signature(p->amproc, FLOAT8OID, true, 1, 1, type);
        if (!ok) {
            ereport(INFO, (errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
                           errmsg("hnsw operator class \"%s\" has a wrong support function %d",
                                  name, p->amprocnum)));
            result = false;
        }
    }
    ops = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(family));
    for (int i = 0; i < ops->n_members; i++) {
        Form_pg_amop o = (Form_pg_amop)GETSTRUCT(&ops->members[i]->tuple);

        if (o->amopstrategy == 1 && o->amoppurpose == AMOP_ORDER &&
            check_amop_signature(o->amopopr, FLOAT8OID, type, type)) {
            have_order = true;
            continue;
        }
        ereport(INFO, (errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
                       errmsg("hnsw operator class \"%s\" has a wrong operator %d", name,
                              o->amopstrategy)));
        result = false;
    }
    if (!have_distance || !have_order) {
        ereport(INFO, (errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
                       errmsg("hnsw operator class \"%s\" needs an ordering operator 1 and "
                              "a distance function 1",
                              name)));
        result = false;
    }
    ReleaseCatCacheList(ops);
    ReleaseCatCacheList(procs);
    ReleaseSysCache(classtup);
    return result;
}

static char *hnswbuildphasename(int64 phase)
{
    return phase == HNSW_PHASE_LOAD ? "loading tuples" : NULL;
}

PG_FUNCTION_INFO_V1(hnswhandler);
Datum hnswhandler(PG_FUNCTION_ARGS)
{
    IndexAmRoutine *am = makeNode(IndexAmRoutine);

    am->amstrategies = 0;
    am->amsupport = 2;
    am->amoptsprocnum = 0;
    am->amcanorder = false;
    am->amcanorderbyop = true;
    am->amcanbackward = false;
    am->amcanunique = false;
    am->amcanmulticol = false;
    am->amoptionalkey = true;
    am->amsearcharray = false;
    am->amsearchnulls = false;
    am->amstorage = false;
    am->amclusterable = false;
    am->ampredlocks = false;
    am->amcanparallel = false;
    am->amcaninclude = false;
    am->amusemaintenanceworkmem = false;
    am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
    am->amkeytype = InvalidOid;

    am->ambuild = hnswbuild;
    am->ambuildempty = hnswbuildempty;
    am->aminsert = hnswinsert;
    am->ambulkdelete = hnswbulkdelete;
    am->amvacuumcleanup = hnswvacuumcleanup;
    am->amcanreturn = NULL;
    am->amcostestimate = hnswcostestimate;
    am->amoptions = hnswoptions;
    am->amproperty = NULL;
    am->ambuildphasename = hnswbuildphasename;
    am->amvalidate = hnswvalidate;
    am->amadjustmembers = NULL;
    am->ambeginscan = hnswbeginscan;
    am->amrescan = hnswrescan;
    am->amgettuple = hnswgettuple;
    am->amgetbitmap = NULL;
    am->amendscan = hnswendscan;
    am->ammarkpos = NULL;
    am->amrestrpos = NULL;
    am->amestimateparallelscan = NULL;
    am->aminitparallelscan = NULL;
    am->amparallelrescan = NULL;

    PG_RETURN_POINTER(am);
}
