/* Whether a string holds a MAC-shaped run of hex digits, in C.
 *
 * Why C: ``identify_mac`` asks this of every authenticated REGISTER's Contact and
 * User-Agent before it looks further (no run: no carrier can hold a MAC). With the
 * regular expression ``_HEX_RUN`` it cost 1.6 to 1.9 µs for a SIPp Contact, 4% of
 * the compiled core's CPU per registration (``python -m bench.core``): the engine
 * restarts at every digit of the extension, the IP and the port. The run has a fixed
 * shape, so one pass decides it.
 *
 * The contract is ``_HEX_RUN.search(text) is not None`` in ``pbx.phones.identity``,
 * the Python reference (``tests/phones/test_hexrun.py`` compares them): six pairs of
 * ASCII hex digits, each pair after the first optionally preceded by one of ``:.-``.
 * CPython API only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static int
is_hex(Py_UCS4 c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int
is_separator(Py_UCS4 c)
{
    return c == ':' || c == '.' || c == '-';
}

/* Whether a run starts at ``i``. Deterministic: a separator is never a hex digit,
 * so the optional separator needs no backtracking. */
static int
run_at(int kind, const void *data, Py_ssize_t n, Py_ssize_t i)
{
    if (i + 12 > n) {
        return 0;
    }
    if (!is_hex(PyUnicode_READ(kind, data, i)) || !is_hex(PyUnicode_READ(kind, data, i + 1))) {
        return 0;
    }
    Py_ssize_t j = i + 2;
    for (int pair = 1; pair < 6; pair++) {
        if (j < n && is_separator(PyUnicode_READ(kind, data, j))) {
            j++;
        }
        if (j + 2 > n || !is_hex(PyUnicode_READ(kind, data, j))
            || !is_hex(PyUnicode_READ(kind, data, j + 1))) {
            return 0;
        }
        j += 2;
    }
    return 1;
}

/* has_hex_run(text) -> bool */
static PyObject *
has_hex_run(PyObject *module, PyObject *text)
{
    (void)module;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "has_hex_run takes a str");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i + 12 <= n; i++) {
        if (run_at(kind, data, n, i)) {
            Py_RETURN_TRUE;
        }
    }
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"has_hex_run", has_hex_run, METH_O,
     "Whether text holds six pairs of hex digits, each after the first optionally "
     "preceded by one of ':.-' (identity._HEX_RUN.search, in one pass)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_hexrun", "A MAC-shaped run of hex digits, found in C.", 0,
    methods,
};

PyMODINIT_FUNC
PyInit__hexrun(void)
{
    return PyModule_Create(&module_def);
}
