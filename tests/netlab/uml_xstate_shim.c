/*
 * LD_PRELOAD shim for Debian's linux.uml (6.1) on hosts whose CPUs have
 * AMX (or any dynamically enabled XSAVE feature).
 *
 * UML saves and restores a guest process's FPU state with
 * PTRACE_GETREGSET/PTRACE_SETREGSET(NT_X86_XSTATE), using a buffer the size
 * of the *default* XSAVE area (2696 bytes with AVX-512). Newer host kernels
 * refuse a SETREGSET whose length is not the *maximum* XSAVE size (which
 * includes AMX tile data), with EFAULT, and UML panics ("ptrace set fp regs
 * failed, errno = 14"). Guest processes cannot use AMX (they never asked for
 * permission), so their XSTATE_BV never names those components: padding the
 * buffer with zeros to the size the host wants restores exactly the same state.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef long (*ptrace_fn)(enum __ptrace_request, ...);

static ptrace_fn real_ptrace;
static size_t full_size;
static unsigned char *pad_buf;

long ptrace(enum __ptrace_request request, ...)
{
    va_list ap;
    va_start(ap, request);
    pid_t pid = va_arg(ap, pid_t);
    void *addr = va_arg(ap, void *);
    void *data = va_arg(ap, void *);
    va_end(ap);

    if (!real_ptrace)
        real_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");

    if (request == PTRACE_SETREGSET && (unsigned long)addr == NT_X86_XSTATE && data) {
        struct iovec *iov = data;
        if (!full_size) {
            size_t cap = 1 << 16;
            unsigned char *probe = calloc(1, cap);
            struct iovec q = {probe, cap};
            if (probe && real_ptrace(PTRACE_GETREGSET, pid, addr, &q) == 0) {
                full_size = q.iov_len;
                pad_buf = calloc(1, full_size);
            }
            free(probe);
        }
        if (pad_buf && full_size > iov->iov_len) {
            struct iovec big = {pad_buf, full_size};
            memset(pad_buf, 0, full_size);
            memcpy(pad_buf, iov->iov_base, iov->iov_len);
            return real_ptrace(request, pid, addr, &big);
        }
    }
    return real_ptrace(request, pid, addr, data);
}
