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
    if (meta->magic != HNSW_MAGIC || meta->version < 1 || meta->version > HNSW_VERSION)
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

/*
 * The vector as the index stores and searches it: v itself, or with a norm function v
 * divided by its norm (palloc'd) when the graph is normalized; NULL when v has no place in
 * the index (a norm of zero, or none).
 */
Vector *hnsw_index_form(HnswGraph *g, Vector *v)
{
    double norm;
    Vector *r;

    if (g->norm == NULL)
        return v;
    norm = DatumGetFloat8(FunctionCall1Coll(g->norm, g->collation, PointerGetDatum(v)));
    if (!(norm > 0) || isinf(norm))
        return NULL;
    if (!g->normalized)
        return v;
    r = palloc(VARSIZE(v));
    memcpy(r, v, offsetof(Vector, x));
    for (int i = 0; i < v->dim; i++)
        r->x[i] = (float)(v->x[i] / norm);
    return r;
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
 * array of private buffer reference counts (8 entries; more go to a hash table) beside the
 * two the executor holds meanwhile (the heap page of the row returned last, and an outer
 * scan's page): at 8, every pin beyond them took a hash table entry (4% of a search).
 */
#define HNSW_READ_BATCH 6

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

/* Copies the neighbours at level of the list at neighbortid into out (room for 2m); returns
 * how many. */
static int list_get(HnswGraph *g, const ItemPointerData *neighbortid, int level,
                    ItemPointerData *out)
{
    Buffer buf = read_block(g->index, ItemPointerGetBlockNumber(neighbortid));
    Page page;
    HnswNeighborTupleData *t;
    int first = level_first_slot(g->m, level), n = 0;

    LockBuffer(buf, BUFFER_LOCK_SHARE);
    page = BufferGetPage(buf);
    t = (HnswNeighborTupleData *)PageGetItem(
        page, PageGetItemId(page, ItemPointerGetOffsetNumber(neighbortid)));
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

static int neighbors_get(HnswSearch *s, HnswElement *el, int level, ItemPointerData *out)
{
    return list_get(s->graph, &el->neighbortid, level, out);
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
    if (t->type != HNSW_NEIGHBOR_TUPLE || first + level_slots(g->m, level) > t->count)
        ereport(ERROR,
                (errcode(ERRCODE_INDEX_CORRUPTED),
                 errmsg("index \"%s\": a write to a broken neighbour list at (%u,%u)",
                        RelationGetRelationName(g->index), ItemPointerGetBlockNumber(neighbortid),
                        ItemPointerGetOffsetNumber(neighbortid))));
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

/* Room for one more item. */
static void heap_reserve(Heap *h)
{
    if (h->n == h->cap) {
        h->cap *= 2;
        h->items = repalloc_huge(h->items, sizeof(HnswElement *) * h->cap);
    }
}

static void heap_push(Heap *h, HnswElement *el)
{
    int i;

    heap_reserve(h);
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
 * or pushed out of them). The next round, with a larger ef, takes the dropped back, nearest
 * first, and goes on from the candidates where the last round stopped, so that the rounds
 * together cost what the last one would cost alone. The dropped are only appended (most
 * elements a search meets are dropped, and most scans end after one round): they are sorted
 * when a next round takes them back.
 */
typedef struct Resume {
    Heap cand, found;
    Heap dropped; /* in no order */
} Resume;

static void drop(Resume *r, HnswElement *e)
{
    heap_reserve(&r->dropped);
    r->dropped.items[r->dropped.n++] = e;
}

static void admit(Resume *r, HnswElement *e, int ef)
{
    if (r->found.n < ef || e->distance < r->found.items[0]->distance) {
        heap_push(&r->cand, e);
        heap_push(&r->found, e);
        if (r->found.n > ef)
            drop(r, heap_pop(&r->found));
    } else {
        drop(r, e);
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
        qsort(old.items, old.n, sizeof(HnswElement *), element_cmp);
        for (int i = 0; i < old.n; i++)
            admit(r, old.items[i], ef);
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
 * What a walk of layer 0 found of the tuples of the index's first nblocks blocks: a bit per
 * tuple, whether it reached it, and how many of the lists it reached link to it (up to
 * 255); the tuples of block b are numbered from first[b] on (first[b + 1] - first[b]).
 */
#define HNSW_ROOM_MAX 65536

typedef struct Reach {
    BlockNumber nblocks;
    uint32 *first;
    uint8 *seen, *links;
    /* reached elements whose layer 0 list had room when the walk read it (the last resort
     * of an element none of its near lists takes), nroom of them (at most HNSW_ROOM_MAX),
     * the next to try at next */
    HnswElement *room;
    uint32 nroom, next;
} Reach;

/* The bit of the tuple at tid, or false when it is beyond what r covers. */
static bool reach_bit(const Reach *r, const ItemPointerData *tid, uint32 *bit)
{
    BlockNumber blk = ItemPointerGetBlockNumber(tid);
    OffsetNumber off = ItemPointerGetOffsetNumber(tid);

    if (blk == HNSW_METAPAGE || blk >= r->nblocks || off < FirstOffsetNumber ||
        r->first[blk] + off > r->first[blk + 1])
        return false;
    *bit = r->first[blk] + off - 1;
    return true;
}

static bool reached(const Reach *r, const ItemPointerData *tid)
{
    uint32 bit;

    return reach_bit(r, tid, &bit) && (r->seen[bit / 8] & (1 << (bit % 8)));
}

/* Counts a link (delta 1) or a link removed (-1) from a reached list to the tuple at tid. */
static void reach_link(Reach *r, const ItemPointerData *tid, int delta)
{
    uint32 bit;

    if (reach_bit(r, tid, &bit) && r->links[bit] + delta >= 0 && r->links[bit] + delta <= 255)
        r->links[bit] += delta;
}

static int reach_links(const Reach *r, const ItemPointerData *tid)
{
    uint32 bit;

    return reach_bit(r, tid, &bit) ? r->links[bit] : 0;
}

/* Marks the tuple at tid reached; returns whether it was not before (and r covers it). */
static bool reach_mark(Reach *r, const ItemPointerData *tid)
{
    uint32 bit;

    if (!reach_bit(r, tid, &bit) || (r->seen[bit / 8] & (1 << (bit % 8))))
        return false;
    r->seen[bit / 8] |= 1 << (bit % 8);
    return true;
}

/*
 * Adds the new element to nb's list at level: in a free slot, else (with heuristic) in a
 * full list when the heuristic picks it among nb's neighbours and the new element, by
 * their distance to nb. Returns whether the list links to the new element.
 */
static bool link_back(HnswSearch *s, HnswElement *nb, HnswElement *added, int level, bool heuristic)
{
    HnswGraph *g = s->graph;
    int cap = level_slots(g->m, level);
    ItemPointerData *tids = palloc(sizeof(ItemPointerData) * (cap + 1));
    int n = neighbors_get(s, nb, level, tids);

    for (int i = 0; i < n; i++)
        if (ItemPointerEquals(&tids[i], &added->tid))
            return true;
    if (n < cap) {
        tids[n++] = added->tid;
    } else if (!heuristic) {
        return false;
    } else {
        SortItem *items = palloc(sizeof(SortItem) * (n + 1));
        HnswElement **cands = palloc(sizeof(HnswElement *) * (n + 1));
        double *dist = palloc(sizeof(double) * (n + 1));
        int *chosen = palloc(sizeof(int) * cap);
        PairContext pc = {g, cands};
        int k;
        bool kept = false;
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
        for (int i = 0; i < k; i++) {
            tids[i] = cands[chosen[i]]->tid;
            kept |= cands[chosen[i]] == added;
        }
        n = k;
        if (!kept)
            return false; /* the same neighbours */
    }
    neighbors_set(g, &nb->neighbortid, level, tids, n);
    return true;
}

/*
 * Adds an element that layer 0 does not reach to the layer 0 list of nb, which the walk r
 * reached: in a free slot, else (with evict) in the place of a link whose target other
 * reached lists link to as well, so that nothing the walk reached is lost. Returns whether
 * it did.
 */
static bool link_reached(HnswSearch *s, HnswElement *nb, HnswElement *added, Reach *r, bool evict)
{
    int cap = level_slots(s->graph->m, 0), n;
    ItemPointerData *tids = palloc(sizeof(ItemPointerData) * cap);

    n = neighbors_get(s, nb, 0, tids);
    if (n < cap) {
        tids[n++] = added->tid;
    } else {
        int at = -1;

        for (int i = n - 1; evict && at < 0 && i >= 0; i--) /* the farthest first, mostly */
            if (reach_links(r, &tids[i]) >= 2)
                at = i;
        if (at < 0)
            return false;
        reach_link(r, &tids[at], -1);
        tids[at] = added->tid;
    }
    neighbors_set(s->graph, &nb->neighbortid, 0, tids, n);
    reach_link(r, &added->tid, 1);
    return true;
}

/*
 * Links the element at etid (its vector v, its level, its neighbour tuple at neighbortid)
 * into the graph below the entry point of meta: the neighbours of each level from the
 * searches of the layers, its own lists, then its neighbours' lists, level by level. With
 * relink (an element layer 0 does not reach, linked again), a list of layer 0 that the walk
 * in relink reached links to it even where the heuristic would leave it out of every list,
 * and it is marked reached. The caller holds
 * the writers' lock, and the element is not the entry point.
 */
static void link_element(HnswGraph *g, const HnswMetaPageData *meta, Vector *v, ItemPointer etid,
                         int level, ItemPointer neighbortid, ItemPointer heaptid, Reach *relink)
{
    HnswSearch s;
    HnswElement *added, *ep, **entries, ***near;
    bool found;
    ItemPointerData **chosen;
    int *nchosen, *nnear, top = Min(level, meta->entry_level), nentries = 1;

    hnsw_search_begin(&s, g, v, true);
    added = met_enter(&s, etid, &found);
    added->heaptid = *heaptid;
    added->neighbortid = *neighbortid;
    added->level = level;
    added->deleted = false;
    added->distance = 0;
    added->vec = v;
    added->mark = UINT32_MAX; /* never a candidate of its own searches */
    chosen = palloc0(sizeof(ItemPointerData *) * (top + 1));
    nchosen = palloc0(sizeof(int) * (top + 1));
    near = palloc0(sizeof(HnswElement **) * (top + 1));
    nnear = palloc0(sizeof(int) * (top + 1));
    ep = descend(&s, meta, top);
    entries = &ep;
    for (int l = top; l >= 0; l--) {
        HnswElement **w;
        int nw = search_layer(&s, entries, nentries, g->ef_construction, l, &w);
        int cap = level_slots(g->m, l);
        HnswElement **cands = palloc(sizeof(HnswElement *) * Max(nw, 1));
        double *dist = palloc(sizeof(double) * Max(nw, 1));
        int *pick = palloc(sizeof(int) * cap), ncands = 0;
        PairContext pc = {g, cands};

        /* an element linked again can be met on the layers that still reach it: never
         * its own neighbour, but a fine place for the next layer's search to start */
        for (int i = 0; i < nw; i++)
            if (w[i] != added) {
                cands[ncands] = w[i];
                dist[ncands++] = w[i]->distance;
            }
        nchosen[l] = ab_hnsw_select(ncands, dist, cap, pair_distance, &pc, HNSW_FILL_NEW, pick);
        chosen[l] = palloc(sizeof(ItemPointerData) * cap);
        for (int i = 0; i < nchosen[l]; i++)
            chosen[l][i] = cands[pick[i]]->tid;
        near[l] = cands;
        nnear[l] = ncands;
        entries = w;
        nentries = nw;
    }
    for (int l = top; l >= 0; l--)
        neighbors_set(g, neighbortid, l, chosen[l], nchosen[l]);
    for (int l = top; l >= 0; l--) {
        bool held = false; /* a list the walk reached links to it */

        for (int i = 0; i < nchosen[l]; i++) {
            HnswElement *nb = element_get(&s, &chosen[l][i]);

            /* relinking shrinks no list: that could lose another element */
            if (link_back(&s, nb, added, l, relink == NULL) && relink && l == 0 &&
                reached(relink, &nb->tid)) {
                reach_link(relink, etid, 1);
                held = true;
            }
        }
        if (!relink || l > 0)
            continue;
        for (int evict = 0; evict < 2; evict++)
            for (int i = 0; !held && i < nnear[l]; i++)
                if (reached(relink, &near[l][i]->tid))
                    held = link_reached(&s, near[l][i], added, relink, evict);
        /* else any list the walk found with room, far as it may be: reached is what counts */
        while (!held && relink->next < relink->nroom)
            if (!(held = link_reached(&s, &relink->room[relink->next], added, relink, false)))
                relink->next++;
        if (held)
            reach_mark(relink, etid);
    }
}

/* Makes the element at etid, of the given level, the graph's entry point. */
static void entry_set(HnswGraph *g, ItemPointer etid, int level)
{
    Buffer metabuf = ReadBuffer(g->index, HNSW_METAPAGE);
    PageEdit me;
    HnswMetaPageData *m;

    LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
    m = meta_of(page_edit_begin(g, metabuf, false, &me));
    m->entry_level = level;
    m->entry_blkno = ItemPointerGetBlockNumber(etid);
    m->entry_offno = ItemPointerGetOffsetNumber(etid);
    page_edit_end(&me);
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
    ItemPointerData etid;

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

    /* 2. its links, and its neighbours' links to it */
    if (meta.entry_level >= 0)
        link_element(g, &meta, v, &etid, level, &etup->neighbortid, heaptid, NULL);

    /* 3. the new highest element is the entry point */
    if (level > meta.entry_level)
        entry_set(g, &etid, level);
    if (!g->building)
        UnlockPage(g->index, HNSW_METAPAGE, ExclusiveLock);
    MemoryContextSwitchTo(old);
    MemoryContextDelete(tmp);
}

/* ---- unreachable elements ---------------------------------------------------------------------
 */

/*
 * The live elements of the index's first blocks that layer 0 does not reach from the entry
 * point (a breadth-first walk, which fills r), into *out (palloc'd); returns their count.
 */
static int unreachable(HnswGraph *g, const HnswMetaPageData *meta, Reach *r, ItemPointerData **out)
{
    ItemPointerData *queue, *nbrs = palloc(sizeof(ItemPointerData) * 2 * g->m), entry;
    uint32 total = 0, head = 0, tail = 0;
    int n = 0;

    r->nblocks = RelationGetNumberOfBlocks(g->index);
    r->first = palloc(sizeof(uint32) * (r->nblocks + 1));
    r->first[HNSW_METAPAGE] = r->first[HNSW_METAPAGE + 1] = 0;
    for (BlockNumber blk = HNSW_METAPAGE + 1; blk < r->nblocks; blk++) {
        Buffer buf = read_block(g->index, blk);

        LockBuffer(buf, BUFFER_LOCK_SHARE);
        total += PageGetMaxOffsetNumber(BufferGetPage(buf));
        UnlockReleaseBuffer(buf);
        r->first[blk + 1] = total;
    }
    r->seen = palloc0(total / 8 + 1);
    r->links = palloc0(Max(total, 1));
    r->room = palloc(sizeof(HnswElement) * HNSW_ROOM_MAX);
    r->nroom = r->next = 0;
    queue = palloc(sizeof(ItemPointerData) * Max(total, 1));
    ItemPointerSet(&entry, meta->entry_blkno, meta->entry_offno);
    if (reach_mark(r, &entry))
        queue[tail++] = entry;
    while (head < tail) {
        ItemPointerData *tid = &queue[head++], list;
        Buffer buf = read_block(g->index, ItemPointerGetBlockNumber(tid));
        Page page;
        int nn;

        CHECK_FOR_INTERRUPTS();
        LockBuffer(buf, BUFFER_LOCK_SHARE);
        page = BufferGetPage(buf);
        list = ((HnswElementTupleData *)PageGetItem(
                    page, PageGetItemId(page, ItemPointerGetOffsetNumber(tid))))
                   ->neighbortid;
        UnlockReleaseBuffer(buf);
        nn = list_get(g, &list, 0, nbrs);
        if (nn < 2 * g->m && r->nroom < HNSW_ROOM_MAX) {
            r->room[r->nroom].tid = *tid;
            r->room[r->nroom++].neighbortid = list;
        }
        for (int i = 0; i < nn; i++) {
            reach_link(r, &nbrs[i], 1);
            if (reach_mark(r, &nbrs[i]))
                queue[tail++] = nbrs[i];
        }
    }
    for (BlockNumber blk = HNSW_METAPAGE + 1; blk < r->nblocks; blk++) {
        Buffer buf = read_block(g->index, blk);
        Page page;
        OffsetNumber last = r->first[blk + 1] - r->first[blk]; /* the tuples counted */

        LockBuffer(buf, BUFFER_LOCK_SHARE);
        page = BufferGetPage(buf);
        for (OffsetNumber off = FirstOffsetNumber; off <= last; off++) {
            HnswElementTupleData *t =
                (HnswElementTupleData *)PageGetItem(page, PageGetItemId(page, off));
            ItemPointerData tid;

            ItemPointerSet(&tid, blk, off);
            if (t->type == HNSW_ELEMENT_TUPLE && !t->deleted && !reached(r, &tid))
                queue[n++] = tid; /* the walk is over: its queue is free */
        }
        UnlockReleaseBuffer(buf);
    }
    pfree(nbrs);
    *out = queue;
    return n;
}

/*
 * Links again the live elements that no search can reach. When a full neighbour list is
 * shrunk for a new element, an element it drops can lose its last incoming link (none in
 * 50,000 at m = 16, 4% at m = 4, a third at m = 2): a walk of layer 0 from the entry point
 * finds them, and each is linked as if it were inserted again (its searches, its lists),
 * into its neighbours' lists where they have room, and in any case into one list the walk
 * reached: in a free slot, else in the place of a link to an element that another reached
 * list links to too, so that relinking loses nothing the walk reached, else in any
 * reached list with room. The walk is repeated while it finds some, at most 10 times.
 * Runs without the writers' lock for the walk (an element inserted meanwhile is beyond
 * the blocks walked, or reachable), then takes it to relink. Memory: 1 byte, a bit and an
 * item pointer per tuple, and 3 MB of lists with room. Returns how many were relinked.
 */
int64 hnsw_relink_unreachable(Relation index)
{
    MemoryContext tmp =
        AllocSetContextCreate(CurrentMemoryContext, "hnsw relink", ALLOCSET_DEFAULT_SIZES);
    MemoryContext old = MemoryContextSwitchTo(tmp);
    HnswGraph g;
    HnswMetaPageData meta;
    int64 relinked = 0;

    for (int round = 0; round < 10; round++) {
        ItemPointerData *lost;
        Reach reach;
        int n;

        hnsw_meta_read(index, &meta);
        hnsw_graph_init(&g, index, &meta);
        if (meta.entry_level < 0)
            break;
        n = unreachable(&g, &meta, &reach, &lost);
        if (n == 0)
            break;
        LockPage(index, HNSW_METAPAGE, ExclusiveLock);
        hnsw_meta_read(index, &meta);
        for (int i = 0; i < n; i++) {
            Buffer buf = read_block(index, ItemPointerGetBlockNumber(&lost[i]));
            Page page;
            HnswElementTupleData *t;
            ItemPointerData heaptid, list;
            Vector *v;
            int level;

            LockBuffer(buf, BUFFER_LOCK_SHARE);
            page = BufferGetPage(buf);
            t = (HnswElementTupleData *)PageGetItem(
                page, PageGetItemId(page, ItemPointerGetOffsetNumber(&lost[i])));
            heaptid = t->heaptid;
            list = t->neighbortid;
            level = t->level;
            v = palloc(VARSIZE(HNSW_ELEMENT_VECTOR(t)));
            memcpy(v, HNSW_ELEMENT_VECTOR(t), VARSIZE(HNSW_ELEMENT_VECTOR(t)));
            UnlockReleaseBuffer(buf);
            if (ItemPointerGetBlockNumber(&lost[i]) == meta.entry_blkno &&
                ItemPointerGetOffsetNumber(&lost[i]) == meta.entry_offno)
                continue;
            link_element(&g, &meta, v, &lost[i], level, &list, &heaptid, &reach);
            relinked++;
        }
        UnlockPage(index, HNSW_METAPAGE, ExclusiveLock);
        MemoryContextReset(tmp); /* lost and what the links took */
    }
    MemoryContextSwitchTo(old);
    MemoryContextDelete(tmp);
    return relinked;
}
