/*
 * pbx._arenas: keep the small-object allocator's arenas instead of giving them back.
 *
 * Why: CPython's pymalloc takes memory from the system 1 MiB at a time (an arena,
 * by mmap) and gives an arena back (munmap) as soon as the last object in it is
 * freed. The registrar's long-lived state is first in, first out: answered
 * transactions are kept 32 s, nonces until they expire, bindings until the next
 * refresh. Objects made together die together, so under a steady load arenas
 * empty and are unmapped all the time, and new ones are mapped and faulted in
 * again, one page fault (and the kernel zeroing the page) per 4 KiB. On this
 * project's virtual machines a page the process has not touched costs 4 to 16 µs
 * to fault in: in a SIP worker at 8,000 registrations/s, 11% of its CPU samples
 * were page faults (perf, bench/HISTORY.md, 2026-12-06).
 *
 * install(limit) puts an arena allocator in front of pymalloc that keeps up to
 * `limit` freed arenas on a free list and hands them out again, so a process that
 * has reached its working size faults nothing more; what goes past `limit` is
 * unmapped as before. A new arena is mapped with MAP_POPULATE: pymalloc fills an
 * arena pool by pool, so its pages are all touched anyway, and one system call that
 * faults the 256 pages in at once is cheaper than 256 traps.
 *
 * Memory kept this way counts in the process's RSS: at most `limit` MiB more than
 * the live objects need (the process's high-water mark, like a fixed pool in
 * Kamailio). Every call of the allocator happens with the GIL held (pymalloc's own
 * rule), so the free list needs no lock. Standard library only: CPython's C API and
 * POSIX mmap.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sys/mman.h>

#ifndef MAP_POPULATE
#define MAP_POPULATE 0
#endif

/* More than any process here needs: 4,096 arenas are 4 GiB. */
#define MAX_LIMIT 4096

static void *kept[MAX_LIMIT];
static size_t kept_size;     /* every arena has one size (pymalloc's ARENA_SIZE) */
static Py_ssize_t nkept;     /* arenas on the free list */
static Py_ssize_t limit;     /* at most this many are kept */
static int installed;
static unsigned long long reused, mapped, unmapped;

static void *arena_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (nkept > 0 && size == kept_size) {
        reused++;
        return kept[--nkept];
    }
    void *address = mmap(NULL, size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (address == MAP_FAILED)
        return NULL;
    mapped++;
    return address;
}

static void arena_free(void *ctx, void *address, size_t size)
{
    (void)ctx;
    if (address == NULL)
        return;
    if (kept_size == 0)
        kept_size = size;
    if (size == kept_size && nkept < limit) {
        kept[nkept++] = address;
        return;
    }
    munmap(address, size);
    unmapped++;
}

static PyObject *install(PyObject *module, PyObject *arg)
{
    (void)module;
    Py_ssize_t wanted = PyLong_AsSsize_t(arg);
    if (wanted == -1 && PyErr_Occurred())
        return NULL;
    if (wanted < 0 || wanted > MAX_LIMIT)
        return PyErr_Format(PyExc_ValueError, "limit must be 0 to %d arenas", MAX_LIMIT);
    /* Lowering the limit unmaps what no longer fits. */
    while (nkept > wanted) {
        munmap(kept[--nkept], kept_size);
        unmapped++;
    }
    limit = wanted;
    if (!installed) {
        /* Arenas mapped by the default allocator before this are mmap'ed blocks of
           the same size: freeing them here (kept or unmapped) is what it would do. */
        PyObjectArenaAllocator allocator = {NULL, arena_alloc, arena_free};
        PyObject_SetArenaAllocator(&allocator);
        installed = 1;
    }
    Py_RETURN_NONE;
}

static PyObject *stats(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return Py_BuildValue("{s:i,s:n,s:n,s:K,s:K,s:K}", "installed", installed,
                         "limit", limit, "kept", nkept, "reused", reused,
                         "mapped", mapped, "unmapped", unmapped);
}

static PyMethodDef methods[] = {
    {"install", install, METH_O,
     "install(limit): keep up to limit freed arenas (1 MiB each) for reuse."},
    {"stats", stats, METH_NOARGS,
     "stats(): installed, limit, kept, and how many arenas were reused, mapped, unmapped."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "pbx._arenas",
    "Keep pymalloc's freed arenas for reuse (see the comment at the top of _arenas.c).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__arenas(void)
{
    return PyModule_Create(&module);
}
