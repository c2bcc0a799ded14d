/* The To tag of a response, derived from the request, in C (bench/README.md,
 * "Session of 2026-11-28 from 14:46 UTC").
 *
 * Why C: every answer carries one (RFC 3261 §8.2.6.2), and derived with hashlib's
 * BLAKE2s it cost a microsecond per answer, most of it the hash object and its hex
 * digest, about 3% of a SIP worker's CPU. The tag needs no secrecy (it is sent in
 * the clear and only has to differ between requests), so a plain 64-bit FNV-1a,
 * folded to 48 bits, does.
 *
 * The contract is ``pbx.sip.response._to_tag``, the Python reference: the same 12
 * hex digits for every three strings (``tests/sip/test_totag.py``). CPython API
 * only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* Hash the UTF-8 (surrogateescape) bytes of ``text`` into ``h``; -1 on error. */
static int
mix(PyObject *text, uint64_t *h)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "to_tag takes three str");
        return -1;
    }
    PyObject *encoded = NULL;
    const unsigned char *p;
    Py_ssize_t n;
    if (PyUnicode_IS_ASCII(text)) {
        p = PyUnicode_1BYTE_DATA(text);
        n = PyUnicode_GET_LENGTH(text);
    } else {
        encoded = PyUnicode_AsEncodedString(text, "utf-8", "surrogateescape");
        if (encoded == NULL) {
            return -1;
        }
        p = (const unsigned char *)PyBytes_AS_STRING(encoded);
        n = PyBytes_GET_SIZE(encoded);
    }
    uint64_t x = *h;
    for (Py_ssize_t i = 0; i < n; i++) {
        x = (x ^ p[i]) * FNV_PRIME;
    }
    *h = x;
    Py_XDECREF(encoded);
    return 0;
}

/* to_tag(call_id, from_, cseq) -> 12 lower-case hex digits */
static PyObject *
to_tag(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "to_tag takes 3 arguments");
        return NULL;
    }
    uint64_t h = FNV_OFFSET;
    for (Py_ssize_t k = 0; k < 3; k++) {
        if (k > 0) {
            h = (h ^ (uint64_t)'|') * FNV_PRIME;
        }
        if (mix(args[k], &h) < 0) {
            return NULL;
        }
    }
    uint64_t tag = (h ^ (h >> 48)) & 0xffffffffffffULL;
    static const char HEX[] = "0123456789abcdef";
    PyObject *out = PyUnicode_New(12, 127);
    if (out == NULL) {
        return NULL;
    }
    Py_UCS1 *d = PyUnicode_1BYTE_DATA(out);
    for (int i = 11; i >= 0; i--) {
        d[i] = (Py_UCS1)HEX[tag & 0xf];
        tag >>= 4;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"to_tag", (PyCFunction)(void (*)(void))to_tag, METH_FASTCALL,
     "to_tag(call_id, from_, cseq) -> str\n\n"
     "The C twin of pbx.sip.response._to_tag (see the source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "pbx.sip._totag",
    "The To tag of a response, derived from the request, in C (see the source).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__totag(void)
{
    return PyModuleDef_Init(&module_def);
}
