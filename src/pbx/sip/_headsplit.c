/* The fast lane's first step in C: a REGISTER datagram -> its Request-URI and header
 * fields, or None (bench/README.md, "Session of 2026-11-28 from 14:46 UTC").
 *
 * Why C: in a SIP worker under load, this step (decode, split the lines, partition
 * and strip each, look the names up) was about a fifth of the fast lane's time, all
 * of it CPython building and freeing short-lived strings and tuples. Here one pass
 * over the bytes builds only what the caller keeps: the values, the pairs, the dict.
 *
 * The contract is ``pbx.sip.fastlane._split_register``, the Python function this
 * replaces when compiled (``make core``): the same result for every input, None for
 * exactly the same inputs, the same calls of ``canonical`` in the same order.
 * ``tests/sip/test_headsplit.py`` holds the two to that over the torture and phone
 * corpora, every prefix and generated variants. Standard library only: the CPython
 * C API, nothing else.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Characters str.strip() removes, among those a line can hold (no CR, no LF):
 * HT, VT, FF, the four separators 0x1C-0x1F, and space (Python's _Py_ascii_whitespace). */
static inline int
is_strip(unsigned char c)
{
    return c == ' ' || c == '\t' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1f);
}

/* A new str of ``len`` ASCII bytes (the caller checked they are ASCII). */
static PyObject *
ascii_str(const unsigned char *s, Py_ssize_t len)
{
    PyObject *u = PyUnicode_New(len, 127);
    if (u != NULL && len > 0) {
        memcpy(PyUnicode_1BYTE_DATA(u), s, (size_t)len);
    }
    return u;
}

static const char START[] = "REGISTER sip:";
static const char VERSION[] = " SIP/2.0";
#define START_LEN ((Py_ssize_t)(sizeof(START) - 1))
#define VERSION_LEN ((Py_ssize_t)(sizeof(VERSION) - 1))
#define METHOD_LEN ((Py_ssize_t)(sizeof("REGISTER ") - 1))

/* The canonical name of header ``raw``: the memo's entry, else ``canonical(raw)``.
 * New reference, or NULL with the exception ``canonical`` raised. */
static PyObject *
header_name(PyObject *known, PyObject *canonical, PyObject *raw)
{
    PyObject *name = PyDict_GetItemWithError(known, raw); /* borrowed */
    if (name != NULL && PyUnicode_Check(name) && PyUnicode_GET_LENGTH(name) > 0) {
        Py_INCREF(name);
        return name;
    }
    if (name == NULL && PyErr_Occurred()) {
        return NULL;
    }
    return PyObject_CallOneArg(canonical, raw);
}

/* split_register(data, max_size, known, canonical)
 *   -> (request_uri, fields, by_name) | None
 * See ``pbx.sip.fastlane._split_register`` for the meaning; it is the reference. */
static PyObject *
split_register(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "split_register takes 4 arguments");
        return NULL;
    }
    PyObject *data = args[0], *known = args[2], *canonical = args[3];
    if (!PyBytes_Check(data) || !PyDict_Check(known) || !PyCallable_Check(canonical)) {
        PyErr_SetString(PyExc_TypeError, "split_register(bytes, int, dict, callable)");
        return NULL;
    }
    Py_ssize_t max_size = PyLong_AsSsize_t(args[1]);
    if (max_size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t n = PyBytes_GET_SIZE(data);
    if (n > max_size || n < 4 || memcmp(p + n - 4, "\r\n\r\n", 4) != 0) {
        Py_RETURN_NONE;
    }
    Py_ssize_t head = n - 4;

    /* ASCII only; every CR followed by LF and every LF after a CR; count the lines. */
    Py_ssize_t breaks = 0;
    for (Py_ssize_t i = 0; i < head; i++) {
        unsigned char c = p[i];
        if (c >= 0x80 || c == '\n') {
            Py_RETURN_NONE;
        }
        if (c == '\r') {
            if (i + 1 >= head || p[i + 1] != '\n') {
                Py_RETURN_NONE;
            }
            i++;
            breaks++;
        }
    }

    /* The Request-Line: REGISTER (sip:[!-~]+) SIP/2.0 */
    const unsigned char *end0 = memchr(p, '\r', (size_t)head);
    Py_ssize_t len0 = end0 == NULL ? head : (Py_ssize_t)(end0 - p);
    if (len0 < START_LEN + 1 + VERSION_LEN || memcmp(p, START, START_LEN) != 0
        || memcmp(p + len0 - VERSION_LEN, VERSION, VERSION_LEN) != 0) {
        Py_RETURN_NONE;
    }
    for (Py_ssize_t i = START_LEN; i < len0 - VERSION_LEN; i++) {
        if (p[i] < 0x21 || p[i] > 0x7e) {
            Py_RETURN_NONE;
        }
    }

    PyObject *uri = NULL, *fields = NULL, *by_name = NULL, *result = NULL;
    uri = ascii_str(p + METHOD_LEN, len0 - VERSION_LEN - METHOD_LEN);
    fields = PyTuple_New(breaks);
    by_name = PyDict_New();
    if (uri == NULL || fields == NULL || by_name == NULL) {
        goto release;
    }
    Py_ssize_t at = len0 + 2; /* start of the next line */
    for (Py_ssize_t k = 0; k < breaks; k++) {
        const unsigned char *line = p + at;
        const unsigned char *eol = memchr(line, '\r', (size_t)(head - at));
        Py_ssize_t len = eol == NULL ? head - at : (Py_ssize_t)(eol - line);
        at += len + 2;
        const unsigned char *colon = memchr(line, ':', (size_t)len);
        if (colon == NULL || line[0] == ' ' || line[0] == '\t') {
            /* empty line (a body follows), no colon, or folding */
            result = Py_NewRef(Py_None);
            goto release;
        }
        const unsigned char *v = colon + 1, *v_end = line + len;
        while (v < v_end && is_strip(*v)) {
            v++;
        }
        while (v_end > v && is_strip(v_end[-1])) {
            v_end--;
        }
        PyObject *raw = ascii_str(line, (Py_ssize_t)(colon - line));
        if (raw == NULL) {
            goto release;
        }
        PyObject *name = header_name(known, canonical, raw);
        Py_DECREF(raw);
        if (name == NULL) {
            goto release;
        }
        PyObject *value = ascii_str(v, (Py_ssize_t)(v_end - v));
        if (value == NULL) {
            Py_DECREF(name);
            goto release;
        }
        if (PyDict_SetItem(by_name, name, value) < 0) {
            Py_DECREF(name);
            Py_DECREF(value);
            goto release;
        }
        PyObject *pair = PyTuple_New(2);
        if (pair == NULL) {
            Py_DECREF(name);
            Py_DECREF(value);
            goto release;
        }
        PyTuple_SET_ITEM(pair, 0, name);  /* steals */
        PyTuple_SET_ITEM(pair, 1, value); /* steals */
        PyTuple_SET_ITEM(fields, k, pair);
    }
    result = PyTuple_New(3);
    if (result == NULL) {
        goto release;
    }
    PyTuple_SET_ITEM(result, 0, uri);
    PyTuple_SET_ITEM(result, 1, fields);
    PyTuple_SET_ITEM(result, 2, by_name);
    return result;

release: /* None (not the plain shape) or NULL (an error, set) */
    Py_XDECREF(uri);
    Py_XDECREF(fields);
    Py_XDECREF(by_name);
    return result;
}

static PyMethodDef methods[] = {
    {"split_register", (PyCFunction)(void (*)(void))split_register, METH_FASTCALL,
     "split_register(data, max_size, known, canonical) -> (uri, fields, by_name) | None\n\n"
     "The C twin of pbx.sip.fastlane._split_register (its docstring is the contract)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "pbx.sip._headsplit",
    "A REGISTER datagram's Request-URI and header fields, read in C (see the source).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__headsplit(void)
{
    return PyModuleDef_Init(&module_def);
}
