/*
 * The graph on disk: pages, tuples, the layer search (algorithm 2 of the paper) and the
 * insertion of one element (algorithm 1), with the neighbour-selection heuristic
 * (algorithm 4, hnswselect.c) both for the new element's lists and for shrinking a
 * neighbour's list that overflows.
 *
 * Every page change goes through page_edit_begin/page_edit_end: a generic WAL record
 * (GenericXLogStart, GenericXLogRegisterBuffer, GenericXLogFinish) for each change, or,
 * during CREATE INDEX, a plain dirty buffer, the whole relation being WAL-logged once at the
 * end of the build (log_newpage_range).
 *
 * The order of an insertion is what keeps readers safe without holding two locks: the new
 * element's neighbour tuple and element tuple are written first (no one links to them
 * yet), then its neighbours' lists are rewritten one page at a time to point to it, and
 * last the meta page's entry point moves if the new element is the highest.
 */
#include "hnsw.h"

#include <math.h>

#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "hnswselect.h"
#include "miscadmin.h"
#include "storage/buf_internals.h"
#include "storage/bufpage.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

/* The largest tuple a page takes (one item on an empty page). */
#define HNSW_MAX_ITEM                                                                              \
    (BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(HnswPageOpaqueData)) -              \
     sizeof(ItemIdData))

/* ---- pages --------------------------------------------------------------------------------- */

typedef struct PageEdit {
    Buffer buf;
    Page page;
    GenericXLogState *state;
} PageEdit;

/* buf is exclusively locked; returns the page to change (a copy under generic WAL). */
static Page page_edit_begin(HnswGraph *g, Buffer buf, bool fresh, PageEdit *e)
{
    e->buf = buf;
    if (g->building) {
        e->state = NULL;
        e->page = BufferGetPage(buf);
    } else {
        e->state = GenericXLogStart(g->index);
        e->page = GenericXLogRegisterBuffer(e->state, buf, fresh ? GENERIC_XLOG_FULL_IMAGE : 0);
    }
    return e->page;
}

/* Logs (or dirties) the change and releases the buffer. */
static void page_edit_end(PageEdit *e)
{
    if (e->state)
        GenericXLogFinish(e->state);
    else
        MarkBufferDirty(e->buf);
    UnlockReleaseBuffer(e->buf);
}

Page hnsw_page_init(Page page)
{
    HnswPageOpaqueData *opaque;

    PageInit(page, BLCKSZ, sizeof(HnswPageOpaqueData));
    opaque = (HnswPageOpaqueData *)PageGetSpecialPointer(page);
    opaque->page_id = HNSW_PAGE_ID;
    return page;
}

/* A new page at the end of the relation, exclusively locked. */
static Buffer new_buffer(Relation index, ForkNumber fork)
{
    Buffer buf;

    LockRelationForExtension(index, ExclusiveLock);
    buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);
    UnlockRelationForExtension(index, ExclusiveLock);
    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    return buf;
}

static HnswMetaPageData *meta_of(Page page)
{
    return (HnswMetaPageData *)PageGetContents(page);
}

static void meta_check(Relation index, const HnswMetaPageData *meta)
{
    if (meta->magic != HNSW_MAGIC || meta->version != HNSW_VERSION)
        ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                        errmsg("index \"%s\" is not an hnsw index of version %d",
                               RelationGetRelationName(index), HNSW_VERSION)));
}

void hnsw_meta_read(Relation index, HnswMetaPageData *meta)
{
    Buffer buf = ReadBuffer(index, HNSW_METAPAGE);

    LockBuffer(buf, BUFFER_LOCK_SHARE);
    *meta = *meta_of(BufferGetPage(buf));
    UnlockReleaseBuffer(buf);
    meta_check(index, meta);
}

void hnsw_meta_init(Relation index, ForkNumber fork, int dims, int m, int ef_construction,
                    bool building)
{
    HnswGraph g = {.index = index, .building = building};
    PageEdit e;
    Page page;
    HnswMetaPageData *meta;
    Buffer buf = new_buffer(index, fork);

    Assert(BufferGetBlockNumber(buf) == HNSW_METAPAGE);
    page = hnsw_page_init(page_edit_begin(&g, buf, true, &e));
    meta = meta_of(page);
    meta->magic = HNSW_MAGIC;
    meta->version = HNSW_VERSION;
    meta->dims = dims;
    meta->m = m;
    meta->ef_construction = ef_construction;
    meta->entry_level = -1;
    meta->entry_blkno = InvalidBlockNumber;
    meta->entry_offno = InvalidOffsetNumber;
    meta->insert_page = InvalidBlockNumber;
    ((PageHeader)page)->pd_lower = ((char *)meta + sizeof(HnswMetaPageData)) - (char *)page;
    page_edit_end(&e);
}

/*
 * Adds one tuple on the last page tuples went to, or on a new page, and returns where.
 * The caller holds the writers' lock, so insert_page is read and moved by one writer at a
 * time; the meta page is changed only when a new page is started.
 */
static void add_tuple(HnswGraph *g, void *item, Size size, ItemPointer tid)
{
    HnswMetaPageData meta;
    Buffer buf = InvalidBuffer;
    PageEdit e;
    Page page;
    OffsetNumber off;
    bool fresh = false;

    hnsw_meta_read(g->index, &meta);
    if (meta.insert_page != InvalidBlockNumber) {
        buf = ReadBuffer(g->index, meta.insert_page);
        LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
        if (PageGetFreeSpace(BufferGetPage(buf)) < MAXALIGN(size)) {
            UnlockReleaseBuffer(buf);
            buf = InvalidBuffer;
        }
    }
    if (!BufferIsValid(buf)) {
        Buffer metabuf;
        PageEdit me;

        buf = new_buffer(g->index, MAIN_FORKNUM);
        fresh = true;
        metabuf = ReadBuffer(g->index, HNSW_METAPAGE);
        LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
        meta_of(page_edit_begin(g, metabuf, false, &me))->insert_page = BufferGetBlockNumber(buf);
        page_edit_end(&me);
    }
    page = page_edit_begin(g, buf, fresh, &e);
    if (fresh)
        hnsw_page_init(page);
    off = PageAddItem(page, (Item)item, size, InvalidOffsetNumber, false, false);
    if (off == InvalidOffsetNumber)
        elog(ERROR, "failed to add a tuple of %zu bytes to index \"%s\"", size,
             RelationGetRelationName(g->index));
    ItemPointerSet(tid, BufferGetBlockNumber(buf), off);
    page_edit_end(&e);
}

/* ---- distances ------------------------------------------------------------------------------ */

double hnsw_distance(HnswGraph *g, Vector *a, Vector *b)
{
    if (g->kernel)
        return g->kernel(a, b);
    return DatumGetFloat8(
        FunctionCall2Coll(g->distance, g->collation, PointerGetDatum(a), PointerGetDatum(b)));
}

bool hnsw_indexable(HnswGraph *g, Vector *v)
{
    if (g->norm == NULL)
        return true;
    return DatumGetFloat8(FunctionCall1Coll(g->norm, g->collation, PointerGetDatum(v))) > 0;
}

/* ---- elements ---------------------------------------------------------------------------------
 */

/*
 * The search's elements by tid: a simplehash table (open addressing, one probe mostly) of
 * pointers, the elements themselves allocated in blocks, so that they never move (the
 * search's heaps point to them) and cost no allocation each.
 */
typedef struct MetEntry {
    uint64 key; /* the tid: block << 16 | offset */
    char status;
    HnswElement *el;
} MetEntry;

static inline uint32 met_hash_key(uint64 key)
{
    return murmurhash32((uint32)(key >> 16)) ^ (uint32)(key & 0xffff);
}

#define SH_PREFIX          met
#define SH_ELEMENT_TYPE    MetEntry
#define SH_KEY_TYPE        uint64
#define SH_KEY             key
#define SH_HASH_KEY(tb, k) met_hash_key(k)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE           static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

#define HNSW_ARENA_BLOCK 256

static uint64 tid_key(const ItemPointerData *tid)
{
    return ((uint64)ItemPointerGetBlockNumber(tid) << 16) | ItemPointerGetOffsetNumber(tid);
}

/* The element at tid; *found: whether the search met it before (else it is new, to fill). */
static HnswElement *met_enter(HnswSearch *s, const ItemPointerData *tid, bool *found)
{
    MetEntry *entry = met_insert(s->elements, tid_key(tid), found);

    if (!*found) {
        if (s->arena_left == 0) {
            s->arena = palloc(sizeof(HnswElement) * HNSW_ARENA_BLOCK);
            s->arena_left = HNSW_ARENA_BLOCK;
        }
        entry->el = s->arena++;
        s->arena_left--;
        entry->el->tid = *tid;
    }
    return entry->el;
}

void hnsw_search_begin(HnswSearch *s, HnswGraph *g, Vector *query, bool keep_vectors)
{
    s->graph = g;
    s->query = query;
    s->elements = met_create(CurrentMemoryContext, 1024, NULL);
    s->arena = NULL;
    s->arena_left = 0;
    s->mark = 0;
    s->keep_vectors = keep_vectors;
    s->resume = NULL;
}

/*
 * The buffer each block of the index was last found in, kept in the relation cache entry
 * (rd_amcache, dropped with it): ReadRecentBuffer pins a block there without a lookup in
 * the shared buffer table when it is still there, which it mostly is. The lookups were a
 * fifth of a search's time.
 */
typedef struct RecentBuffers {
    BlockNumber nblocks;
    Buffer recent[FLEXIBLE_ARRAY_MEMBER];
} RecentBuffers;

static Buffer *recent_slot(Relation index, BlockNumber blk)
{
    RecentBuffers *r = index->rd_amcache;

    if (r == NULL || blk >= r->nblocks) {
        BlockNumber n = Max(blk + 1, RelationGetNumberOfBlocks(index)) + 64;
        RecentBuffers *bigger = MemoryContextAllocZero(
            index->rd_indexcxt, offsetof(RecentBuffers, recent) + sizeof(Buffer) * n);

        bigger->nblocks = n;
        if (r) {
            memcpy(bigger->recent, r->recent, sizeof(Buffer) * r->nblocks);
            pfree(r);
        }
        index->rd_amcache = r = bigger;
    }
    return &r->recent[blk];
}

/* The block pinned, as ReadBuffer does. */
static Buffer read_block(Relation index, BlockNumber blk)
{
    Buffer *slot = recent_slot(index, blk);

    if (*slot != InvalidBuffer && ReadRecentBuffer(index->rd_node, MAIN_FORKNUM, blk, *slot))
        return *slot;
    *slot = ReadBuffer(index, blk);
    return *slot;
}

/* Fills el, new to the search, from its element tuple t: its links and its distance. */
static void element_fill(HnswSearch *s, HnswElement *el, HnswElementTupleData *t)
{
    Vector *v = HNSW_ELEMENT_VECTOR(t);

    if (t->type != HNSW_ELEMENT_TUPLE)
        ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                        errmsg("index \"%s\" links to a tuple that is not an element",
                               RelationGetRelationName(s->graph->index))));
    el->heaptid = t->heaptid;
    el->neighbortid = t->neighbortid;
    el->level = t->level;
    el->deleted = t->deleted != 0;
    el->mark = 0;
    el->distance = hnsw_distance(s->graph, s->query, v);
    el->vec = NULL;
    if (s->keep_vectors) {
        el->vec = palloc(VARSIZE(v));
        memcpy(el->vec, v, VARSIZE(v));
    }
}

static void prefetch(const void *p, Size size)
{
    for (Size off = 0; off < size; off += 64)
        __builtin_prefetch((const char *)p + off);
}

/*
 * At most this many elements are read together: the pins of a batch fit the backend's
 * array of private buffer reference counts (8 entries; more go to a hash table).
 */
#define HNSW_READ_BATCH 8

typedef struct Fetch {
    HnswElement *el;
    const ItemPointerData *tid;
    Buffer buf;
} Fetch;

/*
 * Reads the element tuples of a batch of elements new to the search. Most of a search's
 * time is memory loads (the tuples are spread over shared buffers), not arithmetic, so the
 * loads of a batch are issued together, in two waves: the buffer descriptor and the line
 * pointer where each block was last found, then the tuple where that line pointer says;
 * then each block is pinned (ReadRecentBuffer, which mostly finds it there) and its tuple
 * read. The first waves read the page before it is pinned: only to prefetch, and a
 * prefetch of a wrong address costs nothing; after the pin, every read is checked.
 *
 * An element tuple is read under the pin alone, without the buffer's content lock: once
 * written, an element tuple and its line pointer never change and never move (index pages
 * are never compacted; VACUUM only sets the deleted byte, which is read as either value),
 * so what holds a heap tuple's data stable under a pin holds here. A neighbour list changes
 * in place and is read under the share lock (neighbors_get).
 */
static void fetch_batch(HnswSearch *s, Fetch *f, int n)
{
    Relation index = s->graph->index;
    Size size = HNSW_ELEMENT_SIZE(s->graph->dims);

    for (int i = 0; i < n; i++) {
        f[i].buf = *recent_slot(index, ItemPointerGetBlockNumber(f[i].tid));
        if (f[i].buf > 0) { /* a shared buffer */
            __builtin_prefetch(GetBufferDescriptor(f[i].buf - 1));
            __builtin_prefetch(
                PageGetItemId(BufferGetPage(f[i].buf), ItemPointerGetOffsetNumber(f[i].tid)));
        }
    }
    for (int i = 0; i < n; i++)
        if (f[i].buf > 0) {
            Page page = BufferGetPage(f[i].buf);
            ItemId id = PageGetItemId(page, ItemPointerGetOffsetNumber(f[i].tid));

            prefetch(page + Min(ItemIdGetOffset(id), BLCKSZ - size), size);
        }
    for (int i = 0; i < n; i++)
        f[i].buf = read_block(index, ItemPointerGetBlockNumber(f[i].tid));
    for (int i = 0; i < n; i++) {
        Page page = BufferGetPage(f[i].buf);

        element_fill(s, f[i].el,
                     (HnswElementTupleData *)PageGetItem(
                         page, PageGetItemId(page, ItemPointerGetOffsetNumber(f[i].tid))));
    }
    for (int i = n - 1; i >= 0; i--) /* the last pinned first: the owner finds it first */
        ReleaseBuffer(f[i].buf);
}

/*
 * The elements at tids[0..n), into out[0..n): those the search met before from its table,
 * the others read from their pages in batches.
 */
static void elements_get(HnswSearch *s, const ItemPointerData *tids, int n, HnswElement **out)
{
    Fetch batch[HNSW_READ_BATCH];
    int nbatch = 0;

    /* the table's slots first, where their probes start (the table's loads overlap too) */
    for (int i = 0; i < n; i++)
        __builtin_prefetch(
            &s->elements->data[met_hash_key(tid_key(&tids[i])) & s->elements->sizemask]);
    for (int i = 0; i < n; i++) {
        bool found;

        out[i] = met_enter(s, &tids[i], &found);
        if (found)
            continue;
        batch[nbatch].el = out[i];
        batch[nbatch++].tid = &tids[i];
        if (nbatch == HNSW_READ_BATCH) {
            fetch_batch(s, batch, nbatch);
            nbatch = 0;
        }
    }
    if (nbatch > 0)
        fetch_batch(s, batch, nbatch);
}

static HnswElement *element_get(HnswSearch *s, const ItemPointerData *tid)
{
    HnswElement *el;

    elements_get(s, tid, 1, &el);
    return el;
}

static int level_first_slot(int m, int level)
{
    return level == 0 ? 0 : 2 * m + (level - 1) * m;
}

static int level_slots(int m, int level)
{
    return level == 0 ? 2 * m : m;
}

/* Copies el's neighbours at level into out (room for 2m); returns how many. */
static int neighbors_get(HnswSearch *s, HnswElement *el, int level, ItemPointerData *out)
{
    HnswGraph *g = s->graph;
    Buffer buf = read_block(g->index, ItemPointerGetBlockNumber(&el->neighbortid));
    Page page;
    HnswNeighborTupleData *t;
    int first = level_first_slot(g->m, level), n = 0;

    LockBuffer(buf, BUFFER_LOCK_SHARE);
    page = BufferGetPage(buf);
    t = (HnswNeighborTupleData *)PageGetItem(
        page, PageGetItemId(page, ItemPointerGetOffsetNumber(&el->neighbortid)));
    if (t->type != HNSW_NEIGHBOR_TUPLE || first + level_slots(g->m, level) > t->count)
        ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                        errmsg("index \"%s\" has a broken neighbour list",
                               RelationGetRelationName(g->index))));
    for (int i = 0; i < level_slots(g->m, level); i++)
        if (ItemPointerIsValid(&t->slots[first + i]))
            out[n++] = t->slots[first + i];
    UnlockReleaseBuffer(buf);
    return n;
}

/* Rewrites el's list at level with the n tids given (the rest of its slots emptied). */
static void neighbors_set(HnswGraph *g, ItemPointer neighbortid, int level, ItemPointerData *tids,
                          int n)
{
    Buffer buf = read_block(g->index, ItemPointerGetBlockNumber(neighbortid));
    PageEdit e;
    Page page;
    HnswNeighborTupleData *t;
    int first = level_first_slot(g->m, level);

    LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
    page = page_edit_begin(g, buf, false, &e);
    t = (HnswNeighborTupleData *)PageGetItem(
        page, PageGetItemId(page, ItemPointerGetOffsetNumber(neighbortid)));
    Assert(t->type == HNSW_NEIGHBOR_TUPLE);
    for (int i = 0; i < level_slots(g->m, level); i++) {
        if (i < n)
            t->slots[first + i] = tids[i];
        else
            ItemPointerSetInvalid(&t->slots[first + i]);
    }
    page_edit_end(&e);
}

/* ---- heaps of elements by distance ------------------------------------------------------------
 */

typedef struct Heap {
    HnswElement **items;
    int n, cap;
    bool max; /* the root is the farthest, else the nearest */
} Heap;

static void heap_init(Heap *h, bool max)
{
    h->n = 0;
    h->cap = 64;
    h->items = palloc(sizeof(HnswElement *) * h->cap);
    h->max = max;
}

/* Whether a belongs nearer the root than b. */
static bool heap_before(Heap *h, HnswElement *a, HnswElement *b)
{
    return h->max ? a->distance > b->distance : a->distance < b->distance;
}

static void heap_push(Heap *h, HnswElement *el)
{
    int i;

    if (h->n == h->cap) {
        h->cap *= 2;
        h->items = repalloc_huge(h->items, sizeof(HnswElement *) * h->cap);
    }
    i = h->n++;
    while (i > 0 && heap_before(h, el, h->items[(i - 1) / 2])) {
        h->items[i] = h->items[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->items[i] = el;
}

static HnswElement *heap_pop(Heap *h)
{
    HnswElement *top = h->items[0], *last = h->items[--h->n];
    int i = 0;

    for (;;) {
        int c = 2 * i + 1;

        if (c >= h->n)
            break;
        if (c + 1 < h->n && heap_before(h, h->items[c + 1], h->items[c]))
            c++;
        if (!heap_before(h, h->items[c], last))
            break;
        h->items[i] = h->items[c];
        i = c;
    }
    if (h->n > 0)
        h->items[i] = last;
    return top;
}

/* ---- the layer search (algorithm 2) -------------------------------------------------------- */

/*
 * The ef nearest elements of one layer met from the entry elements; written to *out, nearest
 * first (palloc'd), their count returned. An element counts as visited in this layer when
 * its mark is this search's.
 */
static int search_layer(HnswSearch *s, HnswElement **entries, int nentries, int ef, int level,
                        HnswElement ***out)
{
    Heap cand, found;
    ItemPointerData *nbrs = palloc(sizeof(ItemPointerData) * 2 * s->graph->m);
    HnswElement **met = palloc(sizeof(HnswElement *) * 2 * s->graph->m);
    HnswElement **result;
    int n;

    s->mark++;
    heap_init(&cand, false);
    heap_init(&found, true);
    for (int i = 0; i < nentries; i++) {
        if (entries[i]->mark == s->mark)
            continue;
        entries[i]->mark = s->mark;
        heap_push(&cand, entries[i]);
        heap_push(&found, entries[i]);
        if (found.n > ef)
            heap_pop(&found);
    }
    while (cand.n > 0) {
        HnswElement *c = heap_pop(&cand);
        int nn;

        if (found.n >= ef && c->distance > found.items[0]->distance)
            break;
        CHECK_FOR_INTERRUPTS();
        nn = neighbors_get(s, c, level, nbrs);
        elements_get(s, nbrs, nn, met);
        for (int i = 0; i < nn; i++) {
            HnswElement *e = met[i];

            if (e->mark == s->mark)
                continue;
            e->mark = s->mark;
            if (found.n < ef || e->distance < found.items[0]->distance) {
                heap_push(&cand, e);
                heap_push(&found, e);
                if (found.n > ef)
                    heap_pop(&found);
            }
        }
    }
    n = found.n;
    result = palloc(sizeof(HnswElement *) * Max(n, 1));
    for (int i = n - 1; i >= 0; i--)
        result[i] = heap_pop(&found);
    pfree(nbrs);
    pfree(met);
    *out = result;
    return n;
}

/* Greedy descent from the entry point to level+1; the nearest element met. */
static HnswElement *descend(HnswSearch *s, const HnswMetaPageData *meta, int level)
{
    ItemPointerData tid;
    HnswElement *ep;

    ItemPointerSet(&tid, meta->entry_blkno, meta->entry_offno);
    ep = element_get(s, &tid);
    for (int l = meta->entry_level; l > level; l--) {
        HnswElement **w;

        if (search_layer(s, &ep, 1, 1, l, &w) > 0)
            ep = w[0];
    }
    return ep;
}

/*
 * Layer 0's search of an iterative scan, kept between its rounds: the candidates not yet
 * expanded, the ef nearest found, and what was dropped (met but not among the ef nearest,
 * or pushed out of them). The next round, with a larger ef, takes the dropped back and goes
 * on from the candidates where the last round stopped, so that the rounds together cost
 * what the last one would cost alone.
 */
typedef struct Resume {
    Heap cand, found, dropped;
} Resume;

static void admit(Resume *r, HnswElement *e, int ef)
{
    if (r->found.n < ef || e->distance < r->found.items[0]->distance) {
        heap_push(&r->cand, e);
        heap_push(&r->found, e);
        if (r->found.n > ef)
            heap_push(&r->dropped, heap_pop(&r->found));
    } else {
        heap_push(&r->dropped, e);
    }
}

static int element_cmp(const void *a, const void *b)
{
    double da = (*(HnswElement *const *)a)->distance, db = (*(HnswElement *const *)b)->distance;

    return da < db ? -1 : da > db ? 1 : 0;
}

HnswElement **hnsw_search_more(HnswSearch *s, const HnswMetaPageData *meta, int ef, int *n)
{
    Resume *r = s->resume;
    ItemPointerData *nbrs = palloc(sizeof(ItemPointerData) * 2 * s->graph->m);
    HnswElement **met = palloc(sizeof(HnswElement *) * 2 * s->graph->m);
    HnswElement **result;

    if (r == NULL) {
        HnswElement *ep;

        if (meta->entry_level < 0) {
            *n = 0;
            return NULL;
        }
        ep = descend(s, meta, 0);
        r = s->resume = palloc(sizeof(Resume));
        heap_init(&r->cand, false);
        heap_init(&r->found, true);
        heap_init(&r->dropped, false);
        s->mark++;
        ep->mark = s->mark;
        heap_push(&r->cand, ep);
        heap_push(&r->found, ep);
    } else {
        Heap old = r->dropped;

        heap_init(&r->dropped, false);
        while (old.n > 0)
            admit(r, heap_pop(&old), ef);
        pfree(old.items);
    }
    while (r->cand.n > 0) {
        HnswElement *c = r->cand.items[0];
        int nn;

        /* c stays a candidate: the next round starts from it */
        if (r->found.n >= ef && c->distance > r->found.items[0]->distance)
            break;
        heap_pop(&r->cand);
        CHECK_FOR_INTERRUPTS();
        nn = neighbors_get(s, c, 0, nbrs);
        elements_get(s, nbrs, nn, met);
        for (int i = 0; i < nn; i++) {
            HnswElement *e = met[i];

            if (e->mark == s->mark)
                continue;
            e->mark = s->mark;
            admit(r, e, ef);
        }
    }
    pfree(nbrs);
    pfree(met);
    *n = r->found.n;
    result = palloc(sizeof(HnswElement *) * Max(*n, 1));
    memcpy(result, r->found.items, sizeof(HnswElement *) * *n);
    qsort(result, *n, sizeof(HnswElement *), element_cmp);
    return result;
}

/* ---- insertion (algorithm 1) ------------------------------------------------------------------
 */

/*
 * A new element takes only the heuristic's picks (as the paper's algorithm 4 without
 * keepPrunedConnections); a full list that is shrunk keeps its size, the pruned nearest
 * filling the places the heuristic left, so that fewer elements lose their last link
 * (measured: recall@10 0.888 -> 0.896 at ef_search 40 on 20,000 x 32 uniform vectors).
 */
#define HNSW_FILL_SHRUNK 1
#define HNSW_FILL_NEW    0

typedef struct PairContext {
    HnswGraph *graph;
    HnswElement **cands;
} PairContext;

static double pair_distance(void *ctx, int i, int j)
{
    PairContext *pc = ctx;

    return hnsw_distance(pc->graph, pc->cands[i]->vec, pc->cands[j]->vec);
}

/* The highest level whose neighbour tuple still fits on a page. */
static int max_level(int m)
{
    int slots = (HNSW_MAX_ITEM - HNSW_NEIGHBOR_SIZE(0)) / sizeof(ItemPointerData);
    int levels = (slots - 2 * m) / m;

    return Min(levels, HNSW_MAX_LEVEL);
}

typedef struct SortItem {
    HnswElement *el;
    double distance;
} SortItem;

static int sort_item_cmp(const void *a, const void *b)
{
    double da = ((const SortItem *)a)->distance, db = ((const SortItem *)b)->distance;

    return da < db ? -1 : da > db ? 1 : 0;
}

/*
 * Adds the new element to nb's list at level; when the list is full, keeps what the
 * heuristic picks among its neighbours and the new element, by their distance to nb.
 */
static void link_back(HnswSearch *s, HnswElement *nb, HnswElement *added, int level)
{
    HnswGraph *g = s->graph;
    int cap = level_slots(g->m, level);
    ItemPointerData *tids = palloc(sizeof(ItemPointerData) * (cap + 1));
    int n = neighbors_get(s, nb, level, tids);

    for (int i = 0; i < n; i++)
        if (ItemPointerEquals(&tids[i], &added->tid))
            return;
    if (n < cap) {
        tids[n++] = added->tid;
    } else {
        SortItem *items = palloc(sizeof(SortItem) * (n + 1));
        HnswElement **cands = palloc(sizeof(HnswElement *) * (n + 1));
        double *dist = palloc(sizeof(double) * (n + 1));
        int *chosen = palloc(sizeof(int) * cap);
        PairContext pc = {g, cands};
        int k;

        HnswElement **els = palloc(sizeof(HnswElement *) * n);

        elements_get(s, tids, n, els);
        for (int i = 0; i < n; i++) {
            items[i].el = els[i];
            items[i].distance = hnsw_distance(g, nb->vec, items[i].el->vec);
        }
        items[n].el = added;
        items[n].distance = hnsw_distance(g, nb->vec, added->vec);
        qsort(items, n + 1, sizeof(SortItem), sort_item_cmp);
        for (int i = 0; i <= n; i++) {
            cands[i] = items[i].el;
            dist[i] = items[i].distance;
        }
        k = ab_hnsw_select(n + 1, dist, cap, pair_distance, &pc, HNSW_FILL_SHRUNK, chosen);
        for (int i = 0; i < k; i++)
            tids[i] = cands[chosen[i]]->tid;
        n = k;
    }
    neighbors_set(g, &nb->neighbortid, level, tids, n);
}

void hnsw_insert(HnswGraph *g, Vector *v, ItemPointer heaptid)
{
    MemoryContext tmp =
        AllocSetContextCreate(CurrentMemoryContext, "hnsw insert", ALLOCSET_DEFAULT_SIZES);
    MemoryContext old = MemoryContextSwitchTo(tmp);
    int level = ab_hnsw_level(1.0 - pg_prng_double(&pg_global_prng_state), 1.0 / log(g->m),
                              max_level(g->m));
    int nslots = 2 * g->m + level * g->m;
    Size nsize = HNSW_NEIGHBOR_SIZE(nslots), esize = HNSW_ELEMENT_SIZE(g->dims);
    HnswNeighborTupleData *ntup = palloc0(nsize);
    HnswElementTupleData *etup = palloc0(esize);
    HnswMetaPageData meta;
    HnswSearch s;
    HnswElement *added, *ep;
    ItemPointerData etid;
    bool found;
    ItemPointerData **chosen;
    int *nchosen, top;

    if (!g->building)
        LockPage(g->index, HNSW_METAPAGE, ExclusiveLock);
    hnsw_meta_read(g->index, &meta);

    /* 1. the tuples, reachable by no one yet */
    ntup->type = HNSW_NEIGHBOR_TUPLE;
    ntup->count = nslots;
    for (int i = 0; i < nslots; i++)
        ItemPointerSetInvalid(&ntup->slots[i]);
    etup->type = HNSW_ELEMENT_TUPLE;
    etup->level = level;
    etup->heaptid = *heaptid;
    memcpy(HNSW_ELEMENT_VECTOR(etup), v, VARSIZE(v));
    add_tuple(g, ntup, nsize, &etup->neighbortid);
    add_tuple(g, etup, esize, &etid);

    if (meta.entry_level < 0)
        goto entry;

    /* 2. the neighbours of each level, from the searches of the layers */
    hnsw_search_begin(&s, g, v, true);
    added = met_enter(&s, &etid, &found);
    added->heaptid = *heaptid;
    added->neighbortid = etup->neighbortid;
    added->level = level;
    added->deleted = false;
    added->distance = 0;
    added->vec = v;
    added->mark = UINT32_MAX; /* never a candidate of its own searches */
    top = Min(level, meta.entry_level);
    chosen = palloc0(sizeof(ItemPointerData *) * (top + 1));
    nchosen = palloc0(sizeof(int) * (top + 1));
    ep = descend(&s, &meta, top);
    {
        HnswElement **entries = &ep;
        int nentries = 1;

        for (int l = top; l >= 0; l--) {
            HnswElement **w;
            int nw = search_layer(&s, entries, nentries, g->ef_construction, l, &w);
            int cap = level_slots(g->m, l);
            double *dist = palloc(sizeof(double) * Max(nw, 1));
            int *pick = palloc(sizeof(int) * cap);
            PairContext pc = {g, w};

            for (int i = 0; i < nw; i++)
                dist[i] = w[i]->distance;
            nchosen[l] = ab_hnsw_select(nw, dist, cap, pair_distance, &pc, HNSW_FILL_NEW, pick);
            chosen[l] = palloc(sizeof(ItemPointerData) * cap);
            for (int i = 0; i < nchosen[l]; i++)
                chosen[l][i] = w[pick[i]]->tid;
            entries = w;
            nentries = nw;
        }
    }

    /* 3. its own lists, then its neighbours' lists, level by level */
    for (int l = top; l >= 0; l--)
        neighbors_set(g, &etup->neighbortid, l, chosen[l], nchosen[l]);
    for (int l = top; l >= 0; l--)
        for (int i = 0; i < nchosen[l]; i++)
            link_back(&s, element_get(&s, &chosen[l][i]), added, l);

    if (level <= meta.entry_level)
        goto out;
entry:
    /* 4. the new highest element is the entry point */
    {
        Buffer metabuf = ReadBuffer(g->index, HNSW_METAPAGE);
        PageEdit me;
        HnswMetaPageData *m;

        LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
        m = meta_of(page_edit_begin(g, metabuf, false, &me));
        m->entry_level = level;
        m->entry_blkno = ItemPointerGetBlockNumber(&etid);
        m->entry_offno = ItemPointerGetOffsetNumber(&etid);
        page_edit_end(&me);
    }
out:
    if (!g->building)
        UnlockPage(g->index, HNSW_METAPAGE, ExclusiveLock);
    MemoryContextSwitchTo(old);
    MemoryContextDelete(tmp);
}
