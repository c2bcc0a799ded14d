/* Regular expressions of the fast lane and the steering, matched in C (bench/README.md,
 * "Session of 2026-11-28 from 14:46 UTC"): the Via nearly every phone sends, the plain
 * name-addr of a From, and the user of a datagram's To line (bench/HISTORY.md, 12-07).
 *
 * Why C: they run on every REGISTER, and the regular expression engine's match
 * object and its group strings were about 6% of a SIP worker's CPU. Each pattern is
 * one that backtracking cannot change (every run of characters is followed by a
 * character that cannot be in it), so one forward scan decides it.
 *
 * The contract is the Python reference beside each use: ``common_via`` gives what
 * ``fastlane._common_via`` gives (``_COMMON_VIA_RE``'s groups, or None) and
 * ``plain_name_addr`` what ``grammar._is_plain_name_addr`` gives, for every str
 * (``tests/sip/test_shapes.py``); ``register_to_user`` what
 * ``steering._plain_to_user`` gives for every datagram whose To value is ASCII, and
 * None for the others (``tests/sip/test_steering.py``). CPython API only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static inline int
is_alnum(Py_UCS4 c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [A-Za-z0-9\-.!%*_+`'~] (SIMPLE_TOKEN) */
static inline int
is_token(Py_UCS4 c)
{
    return is_alnum(c) || c == '-' || c == '.' || c == '!' || c == '%' || c == '*' || c == '_'
           || c == '+' || c == '`' || c == '\'' || c == '~';
}

/* [A-Za-z0-9\-.] */
static inline int
is_host(Py_UCS4 c)
{
    return is_alnum(c) || c == '-' || c == '.';
}

/* [A-Za-z0-9\-._~+] (the user part of a plain name-addr) */
static inline int
is_user(Py_UCS4 c)
{
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+';
}

typedef struct {
    const void *data;
    int kind;
    Py_ssize_t n;
} Text;

static inline Py_UCS4
at(const Text *t, Py_ssize_t i)
{
    return PyUnicode_READ(t->kind, t->data, i);
}

/* Does ``t`` hold the ASCII ``s`` at ``i``? */
static int
has(const Text *t, Py_ssize_t i, const char *s)
{
    Py_ssize_t len = (Py_ssize_t)strlen(s);
    if (i + len > t->n) {
        return 0;
    }
    for (Py_ssize_t k = 0; k < len; k++) {
        if (at(t, i + k) != (Py_UCS4)(unsigned char)s[k]) {
            return 0;
        }
    }
    return 1;
}

/* SIMPLE_HOST from ``i``: [A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?; its end, or -1. */
static Py_ssize_t
host_end(const Text *t, Py_ssize_t i)
{
    if (i >= t->n || !is_alnum(at(t, i))) {
        return -1;
    }
    Py_ssize_t j = i + 1;
    while (j < t->n && is_host(at(t, j))) {
        j++;
    }
    /* A shorter host would be followed by a host character, which nothing after a
     * host accepts: the whole run, and it must not end with '-'. */
    if (j - i > 1 && at(t, j - 1) == '-') {
        return -1;
    }
    return j;
}

/* (?::([0-9]{1,5}))? from ``i``: sets *port_end (= i when absent); the value via
 * *port (-1 when absent); returns 0, or -1 when a colon is not followed by 1 to 5
 * digits and then a character that is not a digit. */
static int
port_part(const Text *t, Py_ssize_t i, Py_ssize_t *port_end, long *port)
{
    *port_end = i;
    *port = -1;
    if (i >= t->n || at(t, i) != ':') {
        return 0;
    }
    Py_ssize_t j = i + 1;
    long value = 0;
    while (j < t->n && at(t, j) >= '0' && at(t, j) <= '9') {
        if (j - (i + 1) == 5) {
            return -1; /* a sixth digit: no shorter run is followed by a non-digit */
        }
        value = value * 10 + (long)(at(t, j) - '0');
        j++;
    }
    if (j == i + 1) {
        return -1;
    }
    *port_end = j;
    *port = value;
    return 0;
}

/* (?:;TOKEN(?:=TOKEN)?)* from ``i``: its end. */
static Py_ssize_t
params_end(const Text *t, Py_ssize_t i)
{
    for (;;) {
        if (i >= t->n || at(t, i) != ';') {
            return i;
        }
        Py_ssize_t j = i + 1;
        while (j < t->n && is_token(at(t, j))) {
            j++;
        }
        if (j == i + 1) {
            return i; /* ';' without a name: the repetition stops before it */
        }
        if (j < t->n && at(t, j) == '=') {
            Py_ssize_t k = j + 1;
            while (k < t->n && is_token(at(t, k))) {
                k++;
            }
            if (k > j + 1) {
                j = k;
            }
            /* '=' without a value: the optional part is left out, and the '=' then
             * stops everything after it. */
        }
        i = j;
    }
}

static int
read_text(PyObject *arg, Text *t)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "expected a str");
        return -1;
    }
    t->data = PyUnicode_DATA(arg);
    t->kind = PyUnicode_KIND(arg);
    t->n = PyUnicode_GET_LENGTH(arg);
    return 0;
}

static PyObject *
substring(PyObject *s, Py_ssize_t start, Py_ssize_t end)
{
    return PyUnicode_Substring(s, start, end);
}

/* common_via(via) -> (host, port text | None, ";rport" | None, branch, ";rport" | None)
 * | None: the groups of SIP/2.0/UDP (HOST)(?::([0-9]{1,5}))?(;rport)?
 * ;branch=(z9hG4bK TOKEN)(;rport)?\Z */
static PyObject *
common_via(PyObject *module, PyObject *via)
{
    (void)module;
    Text t;
    if (read_text(via, &t) < 0) {
        return NULL;
    }
    if (!has(&t, 0, "SIP/2.0/UDP ")) {
        Py_RETURN_NONE;
    }
    Py_ssize_t host_at = 12;
    Py_ssize_t i = host_end(&t, host_at);
    if (i < 0) {
        Py_RETURN_NONE;
    }
    Py_ssize_t host_stop = i, port_stop;
    long port;
    if (port_part(&t, i, &port_stop, &port) < 0) {
        Py_RETURN_NONE;
    }
    i = port_stop;
    int before = 0;
    if (has(&t, i, ";rport;branch=z9hG4bK")) {
        before = 1;
        i += 6;
    } else if (!has(&t, i, ";branch=z9hG4bK")) {
        Py_RETURN_NONE;
    }
    Py_ssize_t branch_at = i + 8; /* after ";branch=" */
    Py_ssize_t j = branch_at + 7; /* after the magic cookie */
    while (j < t.n && is_token(at(&t, j))) {
        j++;
    }
    if (j == branch_at + 7) {
        Py_RETURN_NONE;
    }
    int after = 0;
    if (j != t.n) {
        if (j + 6 == t.n && has(&t, j, ";rport")) {
            after = 1;
        } else {
            Py_RETURN_NONE;
        }
    }
    PyObject *host = substring(via, host_at, host_stop);
    PyObject *port_text = port_stop > host_stop ? substring(via, host_stop + 1, port_stop)
                                                : Py_NewRef(Py_None);
    PyObject *branch = substring(via, branch_at, j);
    static PyObject *RPORT = NULL; /* made once, kept for the process's life */
    if (RPORT == NULL && (RPORT = PyUnicode_InternFromString(";rport")) == NULL) {
        return NULL;
    }
    PyObject *rport = Py_NewRef(RPORT);
    if (host == NULL || port_text == NULL || branch == NULL || rport == NULL) {
        Py_XDECREF(host);
        Py_XDECREF(port_text);
        Py_XDECREF(branch);
        Py_XDECREF(rport);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(5, host, port_text, before ? rport : Py_None, branch,
                                    after ? rport : Py_None);
    Py_DECREF(host);
    Py_DECREF(port_text);
    Py_DECREF(branch);
    Py_DECREF(rport);
    return result;
}

/* Does ``t`` match _FAST_NAME_ADDR_RE, with a port (if any) in 1..65535? When it
 * does, [*user_at, *user_stop) is the user part (empty when there is none). */
static int
match_name_addr(const Text *t, Py_ssize_t *user_at, Py_ssize_t *user_stop)
{
    Py_ssize_t i = 0;
    /* (?:"([^"\\]*)" ?)? */
    if (t->n > 0 && at(t, 0) == '"') {
        Py_ssize_t j = 1;
        while (j < t->n && at(t, j) != '"' && at(t, j) != '\\') {
            j++;
        }
        if (j >= t->n || at(t, j) != '"') {
            return 0;
        }
        i = j + 1;
        if (i < t->n && at(t, i) == ' ') {
            i++;
        }
    }
    /* <sips?: */
    if (has(t, i, "<sip:")) {
        i += 5;
    } else if (has(t, i, "<sips:")) {
        i += 6;
    } else {
        return 0;
    }
    /* (?:([A-Za-z0-9\-._~+]+)@)? */
    *user_at = *user_stop = i;
    Py_ssize_t j = i;
    while (j < t->n && is_user(at(t, j))) {
        j++;
    }
    if (j > i && j < t->n && at(t, j) == '@') {
        *user_stop = j;
        i = j + 1;
    }
    i = host_end(t, i);
    if (i < 0) {
        return 0;
    }
    Py_ssize_t port_stop;
    long port;
    if (port_part(t, i, &port_stop, &port) < 0) {
        return 0;
    }
    i = params_end(t, port_stop);
    if (i >= t->n || at(t, i) != '>') {
        return 0;
    }
    i = params_end(t, i + 1);
    if (i != t->n) {
        return 0;
    }
    return port < 0 || (port > 0 && port < 65536);
}

/* plain_name_addr(text) -> bool: _FAST_NAME_ADDR_RE matches, with a port (if any)
 * in 1..65535. */
static PyObject *
plain_name_addr(PyObject *module, PyObject *text)
{
    (void)module;
    Text t;
    if (read_text(text, &t) < 0) {
        return NULL;
    }
    Py_ssize_t user_at, user_stop;
    return PyBool_FromLong(match_name_addr(&t, &user_at, &user_stop));
}

/* Python's str.strip() removes these (str.isspace) among the ASCII characters. */
static inline int
is_ascii_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* register_to_user(data) -> str | None: the user of the first To line of a datagram
 * (long or compact name, any case) when its value is ASCII and in the plain shape;
 * None otherwise. The C twin of pbx.sip.steering._plain_to_user for such values
 * (for a value with a byte above 0x7f it says None, and the caller reads the
 * datagram with the general parser, which is always right). */
static PyObject *
register_to_user(PyObject *module, PyObject *arg)
{
    (void)module;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "register_to_user takes bytes");
        return NULL;
    }
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(arg);
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    /* \n(?:to|t)[ \t]*:[ \t]*([^\r\n]*), case-insensitive, the first match. */
    Py_ssize_t value_at = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        const unsigned char *nl = memchr(d + i, '\n', (size_t)(n - i));
        if (nl == NULL) {
            break;
        }
        i = nl - d;
        Py_ssize_t j = i + 1;
        if (j >= n || (d[j] | 0x20) != 't') {
            continue;
        }
        j++;
        if (j < n && (d[j] | 0x20) == 'o') {
            j++; /* "to"; the "t" alternative then fails on the 'o' anyway */
        }
        while (j < n && (d[j] == ' ' || d[j] == '\t')) {
            j++;
        }
        if (j >= n || d[j] != ':') {
            continue;
        }
        j++;
        while (j < n && (d[j] == ' ' || d[j] == '\t')) {
            j++;
        }
        value_at = j;
        break;
    }
    if (value_at < 0) {
        Py_RETURN_NONE;
    }
    Py_ssize_t stop = value_at;
    while (stop < n && d[stop] != '\r' && d[stop] != '\n') {
        if (d[stop] >= 0x80) {
            Py_RETURN_NONE; /* not ASCII: left to the general parser */
        }
        stop++;
    }
    Py_ssize_t start = value_at;
    while (start < stop && is_ascii_space(d[start])) {
        start++;
    }
    while (stop > start && is_ascii_space(d[stop - 1])) {
        stop--;
    }
    PyObject *value = PyUnicode_DecodeASCII((const char *)d + start, stop - start, NULL);
    if (value == NULL) {
        return NULL;
    }
    Text t;
    t.data = PyUnicode_DATA(value);
    t.kind = PyUnicode_KIND(value);
    t.n = PyUnicode_GET_LENGTH(value);
    Py_ssize_t user_at, user_stop;
    PyObject *user = NULL;
    if (match_name_addr(&t, &user_at, &user_stop) && user_stop > user_at) {
        user = PyUnicode_Substring(value, user_at, user_stop);
    } else {
        user = Py_NewRef(Py_None);
    }
    Py_DECREF(value);
    return user;
}

static PyMethodDef methods[] = {
    {"common_via", common_via, METH_O,
     "common_via(via) -> groups | None: the C twin of pbx.sip.fastlane._common_via."},
    {"plain_name_addr", plain_name_addr, METH_O,
     "plain_name_addr(text) -> bool: the C twin of pbx.sip.grammar._is_plain_name_addr."},
    {"register_to_user", register_to_user, METH_O,
     "register_to_user(data) -> str | None: the To user of a datagram in the plain shape\n"
     "(see pbx.sip.steering._plain_to_user)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "pbx.sip._shapes",
    "Regular expressions of the fast lane and the steering, matched in C (see the source).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__shapes(void)
{
    return PyModuleDef_Init(&module_def);
}
