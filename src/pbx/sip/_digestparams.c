/* The parameters of a Digest Authorization in the shape nearly every phone sends,
 * read in C (bench/README.md, "Session of 2026-11-28 from 14:46 UTC").
 *
 * Why C: reading them was the largest single step of a registration's digest check
 * (about 5 of 7 microseconds of ``parse_credentials``), nearly all of it the regular
 * expression's match objects and the strings ``findall`` builds and the loop then
 * throws away. Here one pass builds only the dict.
 *
 * The contract is ``pbx.sip.digest._fast_params``, the Python reference: for an
 * ASCII string the same dict, or None for exactly the same strings (the items
 * ``name=token`` or ``name="text"``, each followed by a comma and at most one space
 * or by the end, tiling the whole string; no repeated name; at least one item).
 * A string that is not ASCII gives None (the caller only asks for ASCII ones).
 * ``tests/sip/test_digestparams.py`` holds the two together. CPython API only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* The names phones send, interned once: no new key string per parameter. */
static const char *const NAMES[] = {
    "username", "realm", "nonce", "uri", "response", "algorithm",
    "cnonce", "qop", "nc", "opaque", NULL,
};
static PyObject *interned[sizeof(NAMES) / sizeof(NAMES[0])];

static inline int
is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static inline int
is_name_char(unsigned char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* [^ \t\r\n",\\] */
static inline int
is_bare_char(unsigned char c)
{
    return c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '"' && c != ','
           && c != '\\';
}

/* The lower-cased name as a str: an interned one when it is a usual name. */
static PyObject *
name_str(const unsigned char *s, Py_ssize_t len)
{
    char lower[16];
    if (len < (Py_ssize_t)sizeof(lower)) {
        for (Py_ssize_t i = 0; i < len; i++) {
            unsigned char c = s[i];
            lower[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        }
        for (int k = 0; NAMES[k] != NULL; k++) {
            if ((Py_ssize_t)strlen(NAMES[k]) == len && memcmp(NAMES[k], lower, (size_t)len) == 0) {
                Py_INCREF(interned[k]);
                return interned[k];
            }
        }
    }
    PyObject *u = PyUnicode_New(len, 127);
    if (u == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(u);
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        out[i] = (Py_UCS1)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    return u;
}

static PyObject *
none_after(PyObject *params)
{
    Py_DECREF(params);
    Py_RETURN_NONE;
}

/* fast_params(rest: str) -> dict[str, str] | None */
static PyObject *
fast_params(PyObject *module, PyObject *rest)
{
    (void)module;
    if (!PyUnicode_Check(rest)) {
        PyErr_SetString(PyExc_TypeError, "fast_params takes a str");
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(rest)) {
        Py_RETURN_NONE;
    }
    const unsigned char *p = PyUnicode_1BYTE_DATA(rest);
    Py_ssize_t n = PyUnicode_GET_LENGTH(rest);
    if (n == 0) {
        Py_RETURN_NONE;
    }
    PyObject *params = PyDict_New();
    if (params == NULL) {
        return NULL;
    }
    Py_ssize_t at = 0;
    while (at < n) {
        /* name: [A-Za-z][A-Za-z0-9_-]* then "=" */
        Py_ssize_t name_at = at;
        if (!is_alpha(p[at])) {
            return none_after(params);
        }
        at++;
        while (at < n && is_name_char(p[at])) {
            at++;
        }
        Py_ssize_t name_len = at - name_at;
        if (at >= n || p[at] != '=') {
            return none_after(params);
        }
        at++;
        /* value: "[^"\\\r\n]*" or [^ \t\r\n",\\]+ */
        Py_ssize_t value_at, value_len;
        if (at < n && p[at] == '"') {
            value_at = ++at;
            while (at < n && p[at] != '"' && p[at] != '\\' && p[at] != '\r' && p[at] != '\n') {
                at++;
            }
            if (at >= n || p[at] != '"') {
                return none_after(params);
            }
            value_len = at - value_at;
            at++;
        } else {
            value_at = at;
            while (at < n && is_bare_char(p[at])) {
                at++;
            }
            value_len = at - value_at;
            if (value_len == 0) {
                return none_after(params);
            }
        }
        /* separator: ", ?" or the end */
        if (at < n) {
            if (p[at] != ',') {
                return none_after(params);
            }
            at++;
            if (at < n && p[at] == ' ') {
                at++;
            }
        }
        PyObject *name = name_str(p + name_at, name_len);
        if (name == NULL) {
            Py_DECREF(params);
            return NULL;
        }
        int seen = PyDict_Contains(params, name);
        if (seen != 0) {
            Py_DECREF(name);
            if (seen < 0) {
                Py_DECREF(params);
                return NULL;
            }
            return none_after(params); /* a repeated name */
        }
        PyObject *value = PyUnicode_New(value_len, 127);
        if (value == NULL) {
            Py_DECREF(name);
            Py_DECREF(params);
            return NULL;
        }
        if (value_len > 0) {
            memcpy(PyUnicode_1BYTE_DATA(value), p + value_at, (size_t)value_len);
        }
        int failed = PyDict_SetItem(params, name, value);
        Py_DECREF(name);
        Py_DECREF(value);
        if (failed < 0) {
            Py_DECREF(params);
            return NULL;
        }
    }
    return params;
}

static PyMethodDef methods[] = {
    {"fast_params", fast_params, METH_O,
     "fast_params(rest) -> dict | None\n\n"
     "The C twin of pbx.sip.digest._fast_params for ASCII strings (see the source)."},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *module)
{
    (void)module;
    for (int k = 0; NAMES[k] != NULL; k++) {
        if (interned[k] == NULL) {
            interned[k] = PyUnicode_InternFromString(NAMES[k]);
            if (interned[k] == NULL) {
                return -1;
            }
        }
    }
    return 0;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "pbx.sip._digestparams",
    "Digest Authorization parameters in the usual shape, read in C (see the source).",
    0,
    methods,
    slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__digestparams(void)
{
    return PyModuleDef_Init(&module_def);
}
