/*
 * The ordered scan, iterative: a search of layer 0 with ef = hnsw.ef_search gives the
 * first candidates, nearest first; when the executor has taken them all and still asks
 * (a WHERE clause threw most of them away), the search goes on where it stopped with twice
 * the ef (hnsw_search_more), and the rows it finds that were not returned yet come next. It stops
 * when a search meets fewer elements than its ef: it has then seen every element the graph
 * reaches from the entry point. Rows come nearest first within one round; a later round
 * may find a row nearer than the last one of the round before (the search is approximate).
 *
 * Elements that VACUUM marked deleted are walked through but never returned. The heap
 * tids returned go in a hash table, so that no row is returned twice.
 */
#include "hnsw.h"

#include "access/relscan.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/rel.h"

typedef struct HnswScanState {
    HnswGraph graph;
    Vector *query; /* NULL: no row can be returned */
    bool started, exhausted;
    int ef;
    HnswElement **round; /* the current round's elements, nearest first */
    int nround, next;
    HTAB *returned;
    HnswSearch search; /* kept from round to round */
    MemoryContext round_cxt;
} HnswScanState;

IndexScanDesc hnswbeginscan(Relation index, int nkeys, int norderbys)
{
    IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
    HnswScanState *so = palloc0(sizeof(HnswScanState));
    HnswMetaPageData meta;

    hnsw_meta_read(index, &meta);
    hnsw_graph_init(&so->graph, index, &meta);
    so->round_cxt =
        AllocSetContextCreate(CurrentMemoryContext, "hnsw scan round", ALLOCSET_DEFAULT_SIZES);
    scan->opaque = so;
    return scan;
}

void hnswrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
    HnswScanState *so = scan->opaque;
    HASHCTL ctl;

    if (orderbys && scan->numberOfOrderBys > 0)
        memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
    MemoryContextReset(so->round_cxt);
    so->query = NULL;
    so->started = false;
    so->exhausted = false;
    so->round = NULL;
    so->nround = so->next = 0;
    ctl.keysize = sizeof(ItemPointerData);
    ctl.entrysize = sizeof(ItemPointerData);
    ctl.hcxt = so->round_cxt;
    so->returned = NULL;
    if (scan->numberOfOrderBys == 0 || (scan->orderByData[0].sk_flags & SK_ISNULL))
        return;
    {
        MemoryContext old = MemoryContextSwitchTo(so->round_cxt);
        Vector *q = DatumGetVector(scan->orderByData[0].sk_argument);

        if (q->dim != so->graph.dims)
            ereport(ERROR,
                    (errcode(ERRCODE_DATA_EXCEPTION),
                     errmsg("different vector dimensions %d and %d", so->graph.dims, q->dim)));
        so->query = palloc(VARSIZE(q));
        memcpy(so->query, q, VARSIZE(q));
        so->returned =
            hash_create("hnsw scan returned", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
        MemoryContextSwitchTo(old);
    }
    if (so->query) {
        MemoryContext old = MemoryContextSwitchTo(so->round_cxt);

        so->query = hnsw_index_form(&so->graph, so->query);
        MemoryContextSwitchTo(old);
    }
}

/* One more round of the search, with twice the ef of the last. */
static void next_round(IndexScanDesc scan)
{
    HnswScanState *so = scan->opaque;
    MemoryContext old = MemoryContextSwitchTo(so->round_cxt);
    HnswMetaPageData meta;

    if (!so->started) {
        pgstat_count_index_scan(scan->indexRelation);
        hnsw_search_begin(&so->search, &so->graph, so->query, false);
    }
    so->ef = so->started ? so->ef * 2 : hnsw_ef_search;
    so->started = true;
    hnsw_meta_read(scan->indexRelation, &meta);
    so->round = hnsw_search_more(&so->search, &meta, so->ef, &so->nround);
    so->next = 0;
    if (so->nround < so->ef)
        so->exhausted = true;
    MemoryContextSwitchTo(old);
}

bool hnswgettuple(IndexScanDesc scan, ScanDirection dir)
{
    HnswScanState *so = scan->opaque;

    if (so->query == NULL)
        return false;
    for (;;) {
        while (so->next < so->nround) {
            HnswElement *el = so->round[so->next++];
            bool found;

            if (el->deleted)
                continue;
            hash_search(so->returned, &el->heaptid, HASH_ENTER, &found);
            if (found)
                continue;
            scan->xs_heaptid = el->heaptid;
            scan->xs_recheck = false;
            scan->xs_recheckorderby = false;
            return true;
        }
        if (so->exhausted && so->started)
            return false;
        next_round(scan);
    }
}

void hnswendscan(IndexScanDesc scan)
{
    HnswScanState *so = scan->opaque;

    MemoryContextDelete(so->round_cxt);
    pfree(so);
    scan->opaque = NULL;
}
