/* wsapi._speedups: the masking of client frames (RFC 6455 section 5.3) in C, and
 * BytesBuilder, which receives a large message into its final bytes object.
 *
 * Optional: when this module cannot be built, wsapi.protocol.framing uses its
 * pure-Python code, which gives the same bytes about 50 times slower on large
 * payloads: XOR-ing 32 or eight bytes at a time is what makes the difference.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* out[i] = in[i] ^ key[i % 4].
 *
 * With GCC or Clang, 32 bytes per step in vector registers (SSE2 on any x86-64,
 * NEON on ARM; AVX2 where the CPU has it, chosen at load time on x86-64 glibc):
 * a third of the instructions of eight bytes at a time, the copy the message makes
 * on its way out anyway. Otherwise, and for the tail, eight bytes then one at a time.
 * memcpy keeps unaligned access legal; compilers make it a plain load or store. */
#if defined(__GNUC__) || defined(__clang__)
#define WSAPI_VECTOR_BYTES 32
typedef uint8_t wsapi_vector __attribute__((vector_size(WSAPI_VECTOR_BYTES)));
#endif

#if defined(WSAPI_VECTOR_BYTES) && defined(__x86_64__) && defined(__GLIBC__) \
    && !defined(__clang__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define WSAPI_TARGET_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef WSAPI_TARGET_CLONES
#define WSAPI_TARGET_CLONES
#endif

WSAPI_TARGET_CLONES static void
xor_mask(uint8_t *out, const uint8_t *in, Py_ssize_t length, const uint8_t key4[4])
{
    Py_ssize_t i = 0;
    uint64_t key8;

    memcpy(&key8, key4, 4);
    memcpy((uint8_t *)&key8 + 4, key4, 4);
#ifdef WSAPI_VECTOR_BYTES
    {
        wsapi_vector key_vector;
        int k;

        for (k = 0; k < WSAPI_VECTOR_BYTES; k += 8) {
            memcpy((uint8_t *)&key_vector + k, &key8, 8);
        }
        for (; i + WSAPI_VECTOR_BYTES <= length; i += WSAPI_VECTOR_BYTES) {
            wsapi_vector chunk;
            memcpy(&chunk, in + i, WSAPI_VECTOR_BYTES);
            chunk ^= key_vector;
            memcpy(out + i, &chunk, WSAPI_VECTOR_BYTES);
        }
    }
#endif
    for (; i + 8 <= length; i += 8) {
        uint64_t chunk;
        memcpy(&chunk, in + i, 8);
        chunk ^= key8;
        memcpy(out + i, &chunk, 8);
    }
    for (; i < length; i++) {
        out[i] = in[i] ^ key4[i & 3];
    }
}

static PyObject *
apply_mask(PyObject *module, PyObject *args)
{
    Py_buffer data, key;
    PyObject *result;
    const uint8_t *in;
    uint8_t *out;
    Py_ssize_t length;
    uint8_t key4[4];

    if (!PyArg_ParseTuple(args, "y*y*:apply_mask", &data, &key)) {
        return NULL;
    }
    if (key.len != 4) {
        PyErr_SetString(PyExc_ValueError, "the masking key must be 4 bytes");
        PyBuffer_Release(&data);
        PyBuffer_Release(&key);
        return NULL;
    }
    memcpy(key4, key.buf, 4);
    PyBuffer_Release(&key);
    length = data.len;
    result = PyBytes_FromStringAndSize(NULL, length);
    if (result == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    in = (const uint8_t *)data.buf;
    out = (uint8_t *)PyBytes_AS_STRING(result);

    Py_BEGIN_ALLOW_THREADS
    xor_mask(out, in, length, key4);
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&data);
    return result;
}

/* mask_frame(head, key, payload) -> head + key + masked payload, in one allocation:
 * a big message is copied once on its way out, not three times. */
static PyObject *
mask_frame(PyObject *module, PyObject *args)
{
    Py_buffer head, key, data;
    PyObject *result;
    const uint8_t *in;
    uint8_t *out;
    Py_ssize_t length;
    uint8_t key4[4];

    if (!PyArg_ParseTuple(args, "y*y*y*:mask_frame", &head, &key, &data)) {
        return NULL;
    }
    if (key.len != 4) {
        PyErr_SetString(PyExc_ValueError, "the masking key must be 4 bytes");
        PyBuffer_Release(&head);
        PyBuffer_Release(&key);
        PyBuffer_Release(&data);
        return NULL;
    }
    memcpy(key4, key.buf, 4);
    length = data.len;
    result = PyBytes_FromStringAndSize(NULL, head.len + 4 + length);
    if (result == NULL) {
        PyBuffer_Release(&head);
        PyBuffer_Release(&key);
        PyBuffer_Release(&data);
        return NULL;
    }
    out = (uint8_t *)PyBytes_AS_STRING(result);
    memcpy(out, head.buf, head.len);
    memcpy(out + head.len, key4, 4);
    out += head.len + 4;
    in = (const uint8_t *)data.buf;

    Py_BEGIN_ALLOW_THREADS
    xor_mask(out, in, length, key4);
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&head);
    PyBuffer_Release(&key);
    PyBuffer_Release(&data);
    return result;
}

/* BytesBuilder(size): a bytes object of ``size`` bytes, filled in place, then taken.
 *
 * A large message is received into its final bytes object: the socket reads
 * into the builder (it exports its unfilled part as a writable buffer, so
 * recv_into() works on it) and take() hands the bytes object over, without the
 * copy that bytes(bytearray) makes. The object is not reachable from Python
 * until take(), which is what makes writing into it safe; take() copies
 * instead if a buffer view is still alive.
 */
typedef struct {
    PyObject_HEAD
    PyObject *bytes;        /* NULL once taken */
    Py_ssize_t size;
    Py_ssize_t filled;
    Py_ssize_t exports;
} BytesBuilder;

static PyObject *
builder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t size;
    BytesBuilder *self;
    static char *keywords[] = {"size", NULL};

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n:BytesBuilder", keywords, &size)) {
        return NULL;
    }
    if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "size must not be negative");
        return NULL;
    }
    self = (BytesBuilder *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->bytes = PyBytes_FromStringAndSize(NULL, size);
    if (self->bytes == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->size = size;
    return (PyObject *)self;
}

static void
builder_dealloc(BytesBuilder *self)
{
    Py_XDECREF(self->bytes);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
builder_getbuffer(BytesBuilder *self, Py_buffer *view, int flags)
{
    if (self->bytes == NULL) {
        PyErr_SetString(PyExc_BufferError, "the bytes were taken");
        view->obj = NULL;
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)self, PyBytes_AS_STRING(self->bytes) + self->filled,
                          self->size - self->filled, 0, flags) < 0) {
        return -1;
    }
    self->exports++;
    return 0;
}

static void
builder_releasebuffer(BytesBuilder *self, Py_buffer *view)
{
    self->exports--;
}

static PyBufferProcs builder_as_buffer = {
    (getbufferproc)builder_getbuffer,
    (releasebufferproc)builder_releasebuffer,
};

static Py_ssize_t
builder_length(BytesBuilder *self)
{
    return self->bytes == NULL ? 0 : self->size - self->filled;
}

static PySequenceMethods builder_as_sequence = {
    .sq_length = (lenfunc)builder_length,
};

static PyObject *
builder_write(BytesBuilder *self, PyObject *arg)
{
    Py_buffer data;
    Py_ssize_t count;

    if (self->bytes == NULL) {
        PyErr_SetString(PyExc_ValueError, "the bytes were taken");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    count = data.len < self->size - self->filled ? data.len : self->size - self->filled;
    memcpy(PyBytes_AS_STRING(self->bytes) + self->filled, data.buf, count);
    self->filled += count;
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(count);
}

static PyObject *
builder_advance(BytesBuilder *self, PyObject *arg)
{
    Py_ssize_t count = PyLong_AsSsize_t(arg);

    if (count == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (self->bytes == NULL || count < 0 || count > self->size - self->filled) {
        PyErr_SetString(PyExc_ValueError, "advance() past the end, or after take()");
        return NULL;
    }
    self->filled += count;
    Py_RETURN_NONE;
}

static PyObject *
builder_take(BytesBuilder *self, PyObject *unused)
{
    PyObject *result;

    if (self->bytes == NULL || self->filled != self->size) {
        PyErr_SetString(PyExc_ValueError, "take() before the bytes are all written, or twice");
        return NULL;
    }
    if (self->exports) {
        /* A view could still write into it: hand out a copy instead. */
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(self->bytes), self->size);
    }
    result = self->bytes;
    self->bytes = NULL;
    return result;
}

static PyObject *
builder_remaining(BytesBuilder *self, void *closure)
{
    return PyLong_FromSsize_t(builder_length(self));
}

static PyMethodDef builder_methods[] = {
    {"write", (PyCFunction)builder_write, METH_O,
     "write(data) -> int: copy data's first bytes in; how many fitted."},
    {"advance", (PyCFunction)builder_advance, METH_O,
     "advance(count): count bytes were written through the buffer (recv_into)."},
    {"take", (PyCFunction)builder_take, METH_NOARGS,
     "take() -> bytes: the bytes object, once every byte is written."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef builder_getset[] = {
    {"remaining", (getter)builder_remaining, NULL, "bytes still to write", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BytesBuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wsapi._speedups.BytesBuilder",
    .tp_basicsize = sizeof(BytesBuilder),
    .tp_dealloc = (destructor)builder_dealloc,
    .tp_as_sequence = &builder_as_sequence,
    .tp_as_buffer = &builder_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "BytesBuilder(size): a bytes object filled in place (see take()).",
    .tp_methods = builder_methods,
    .tp_getset = builder_getset,
    .tp_new = builder_new,
};

static PyMethodDef speedups_methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS,
     "apply_mask(data, key) -> bytes: XOR data with the 4-byte key repeated."},
    {"mask_frame", mask_frame, METH_VARARGS,
     "mask_frame(head, key, payload) -> bytes: head + key + the masked payload."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "wsapi._speedups",
    "Optional C routines of wsapi (masking, filling a bytes object in place).",
    -1,
    speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *module;

    if (PyType_Ready(&BytesBuilderType) < 0) {
        return NULL;
    }
    module = PyModule_Create(&speedups_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&BytesBuilderType);
    if (PyModule_AddObject(module, "BytesBuilder", (PyObject *)&BytesBuilderType) < 0) {
        Py_DECREF(&BytesBuilderType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
