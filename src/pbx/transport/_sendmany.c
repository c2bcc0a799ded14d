/* Several UDP datagrams handed to the kernel in one sendmmsg(2) call (bench/README.md,
 * HISTORY.md: session of 2026-12-07 from 11:18 UTC).
 *
 * Why: a SIP worker sends its answers in bursts (every 200 OK a group commit released,
 * every 401 of one read burst), and through uvloop each one is a Python call that
 * converts its (host, port) tuple and a system call of its own. Measured on this
 * machine (a loopback receiver draining, 480-byte datagrams): 7.5 to 8 µs of CPU per
 * datagram through ``transport.sendto``, 5.3 to 5.8 in sendmmsg batches of 8 to 32;
 * the rest is the kernel delivering each datagram, which no batching removes.
 *
 * The contract is deliberately narrow: what it cannot do the caller's slow path
 * (uvloop's ``sendto``) does, so behaviour at the edges stays uvloop's. It stops at
 * the first datagram that is not a bytes object to a numeric (host, port), at one the
 * kernel would not take now (EAGAIN, ENOBUFS: uvloop queues it) and at one the kernel
 * refused (uvloop reports the error to the protocol), and returns its index. CPython
 * API and POSIX only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* Datagrams per sendmmsg call (the kernel's own bound is UIO_MAXIOV, 1024). */
#define CHUNK 64

typedef union {
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
} address;

/* Fill ``out`` from a (host, port) tuple for a socket of ``family``; its length, or 0
 * when it is not a numeric address this can send to (the slow path decides). */
static socklen_t
to_sockaddr(PyObject *destination, int family, address *out)
{
    if (!PyTuple_Check(destination) || PyTuple_GET_SIZE(destination) < 2) {
        return 0;
    }
    PyObject *host = PyTuple_GET_ITEM(destination, 0);
    PyObject *port_obj = PyTuple_GET_ITEM(destination, 1);
    if (!PyUnicode_Check(host) || !PyUnicode_IS_ASCII(host) || !PyLong_CheckExact(port_obj)) {
        return 0;
    }
    long port = PyLong_AsLong(port_obj);
    if (port <= 0 || port > 65535) {
        PyErr_Clear();
        return 0;
    }
    const char *text = (const char *)PyUnicode_1BYTE_DATA(host);
    if ((Py_ssize_t)strlen(text) != PyUnicode_GET_LENGTH(host)) {
        return 0; /* an embedded NUL */
    }
    memset(out, 0, sizeof *out);
    struct in_addr v4;
    if (inet_pton(AF_INET, text, &v4) == 1) {
        if (family == AF_INET) {
            out->v4.sin_family = AF_INET;
            out->v4.sin_port = htons((uint16_t)port);
            out->v4.sin_addr = v4;
            return sizeof out->v4;
        }
        if (family != AF_INET6) {
            return 0;
        }
        /* An IPv4 peer of a dual-stack socket: its IPv4-mapped address. */
        out->v6.sin6_family = AF_INET6;
        out->v6.sin6_port = htons((uint16_t)port);
        out->v6.sin6_addr.s6_addr[10] = 0xff;
        out->v6.sin6_addr.s6_addr[11] = 0xff;
        memcpy(&out->v6.sin6_addr.s6_addr[12], &v4, 4);
        return sizeof out->v6;
    }
    if (family == AF_INET6 && inet_pton(AF_INET6, text, &out->v6.sin6_addr) == 1) {
        out->v6.sin6_family = AF_INET6;
        out->v6.sin6_port = htons((uint16_t)port);
        return sizeof out->v6;
    }
    return 0;
}

/* send_many(fd, family, flat, start) -> index
 *
 * ``flat`` is [data0, destination0, data1, destination1, ...]; sends datagrams from
 * index ``start`` and returns the index of the first one not sent (their count when
 * all were). */
static PyObject *
send_many(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 4 || !PyLong_Check(args[0]) || !PyLong_Check(args[1]) ||
        !PyList_CheckExact(args[2]) || !PyLong_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "send_many(fd: int, family: int, flat: list, start: int)");
        return NULL;
    }
    int fd = (int)PyLong_AsLong(args[0]);
    int family = (int)PyLong_AsLong(args[1]);
    Py_ssize_t start = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    PyObject *flat = args[2];
    Py_ssize_t size = PyList_GET_SIZE(flat);
    if (size % 2 != 0) {
        PyErr_SetString(PyExc_ValueError, "send_many: flat must hold (data, destination) pairs");
        return NULL;
    }
    Py_ssize_t count = size / 2;
    if (start < 0 || start > count) {
        PyErr_SetString(PyExc_ValueError, "send_many: start out of range");
        return NULL;
    }
    struct mmsghdr messages[CHUNK];
    struct iovec vectors[CHUNK];
    address addresses[CHUNK];
    Py_ssize_t next = start;
    while (next < count) {
        /* Up to CHUNK datagrams from ``next``, stopping before one the slow path takes. */
        int filled = 0;
        int stop = 0;
        while (filled < CHUNK && next + filled < count) {
            Py_ssize_t at = 2 * (next + filled);
            PyObject *data = PyList_GET_ITEM(flat, at);
            if (!PyBytes_CheckExact(data)) {
                stop = 1;
                break;
            }
            socklen_t length = to_sockaddr(PyList_GET_ITEM(flat, at + 1), family, &addresses[filled]);
            if (length == 0) {
                stop = 1;
                break;
            }
            vectors[filled].iov_base = PyBytes_AS_STRING(data);
            vectors[filled].iov_len = (size_t)PyBytes_GET_SIZE(data);
            memset(&messages[filled], 0, sizeof messages[filled]);
            messages[filled].msg_hdr.msg_name = &addresses[filled];
            messages[filled].msg_hdr.msg_namelen = length;
            messages[filled].msg_hdr.msg_iov = &vectors[filled];
            messages[filled].msg_hdr.msg_iovlen = 1;
            filled++;
        }
        int done = 0;
        while (done < filled) {
            int sent = sendmmsg(fd, messages + done, (unsigned int)(filled - done), 0);
            if (sent < 0) {
                if (errno == EINTR) {
                    continue;
                }
                /* The kernel will not take datagram next + done now, or refused it. */
                return PyLong_FromSsize_t(next + done);
            }
            done += sent;
        }
        next += filled;
        if (stop) {
            break;
        }
    }
    return PyLong_FromSsize_t(next);
}

static PyMethodDef methods[] = {
    {"send_many", (PyCFunction)(void (*)(void))send_many, METH_FASTCALL,
     "send_many(fd, family, flat, start) -> index of the first datagram not sent"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_sendmany",
    .m_doc = "UDP datagrams in sendmmsg batches (pbx.transport.udp).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__sendmany(void)
{
    return PyModule_Create(&module_def);
}
