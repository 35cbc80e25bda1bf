/*
 * io.c — file operations and the fault-injection seam.
 *
 * Every system call that touches storage passes through here. Each kind of
 * call (open, write, fsync, mmap, rename, alloc, truncate, read, unlink,
 * directory listing, stat, mkdir) has a
 * process-global counter; a test arms "fail the Nth call of kind K with
 * errno E" (optionally after a partial transfer, optionally forever after).
 * The check costs one relaxed atomic load when nothing is armed, so the
 * seam stays in release builds and the tested code is the shipped code.
 *
 * Invariants: functions return 0 / a count, or -errno; they never print;
 * short writes are retried until complete or failed; EINTR is retried.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/platform.h"

/* ------------------------------------------------------- fault injection */

static atomic_int fault_armed;
static atomic_long fault_calls[KLOG__FAULT_NOPS];
static atomic_long fault_fired_count;
static atomic_long crash_at, crash_steps; /* klog__fault_arm_crash */
static struct {
    int op;
    long nth;
    int err;
    size_t short_bytes;
    int sticky;
} fault;

void klog__fault_arm(int op, long nth, int err, size_t short_bytes, int sticky)
{
    atomic_store(&fault_armed, 0);
    for (int i = 0; i < KLOG__FAULT_NOPS; i++)
        atomic_store(&fault_calls[i], 0);
    fault.op = op;
    fault.nth = nth < 1 ? 1 : nth;
    fault.err = err > 0 ? err : -err;
    fault.short_bytes = short_bytes;
    fault.sticky = sticky;
    atomic_store(&fault_fired_count, 0);
    atomic_store(&fault_armed, 1);
}

void klog__fault_arm_crash(long nth)
{
    klog__fault_arm(-1, 1, EIO, 0, 0); /* counts every call, fails none */
    atomic_store(&crash_steps, 0);
    atomic_store(&crash_at, nth);
}

long klog__fault_crash_steps(void) { return atomic_load(&crash_steps); }

void klog__fault_clear(void)
{
    atomic_store(&fault_armed, 0);
    atomic_store(&crash_at, 0);
    for (int i = 0; i < KLOG__FAULT_NOPS; i++)
        atomic_store(&fault_calls[i], 0);
}

/* klog__fault_after_read: armed by the hook, aimed at a descriptor by
 * the open of a matching path, fired (once) by a read from it. */
static _Atomic(void (*)(void *)) read_hook;
static atomic_int read_hook_fd = -1;
static char read_hook_suffix[64];
static void *read_hook_ctx;

void klog__fault_after_read(const char *suffix, void (*fn)(void *), void *ctx)
{
    atomic_store(&read_hook, NULL);
    atomic_store(&read_hook_fd, -1);
    if (!fn)
        return;
    snprintf(read_hook_suffix, sizeof read_hook_suffix, "%s", suffix);
    read_hook_ctx = ctx;
    atomic_store(&read_hook, fn); /* publishes the suffix and ctx */
}

static void read_hook_aim(const char *path, int fd)
{
    size_t n = strlen(path), k = strlen(read_hook_suffix);
    if (n >= k && strcmp(path + n - k, read_hook_suffix) == 0)
        atomic_store(&read_hook_fd, fd);
}

static void read_hook_fire(int fd)
{
    int want = fd;
    if (!atomic_compare_exchange_strong(&read_hook_fd, &want, -1))
        return;
    void (*fn)(void *) = atomic_exchange(&read_hook, NULL);
    if (fn)
        fn(read_hook_ctx);
}

long klog__fault_fired(void) { return atomic_load(&fault_fired_count); }
long klog__fault_calls(int op) { return atomic_load(&fault_calls[op]); }

/* 0 to proceed, or -errno to fail this call. *short_out gets the partial
 * transfer for writes. */
static int fault_check(int op, size_t *short_out)
{
    if (KLOG__LIKELY(!atomic_load_explicit(&fault_armed, memory_order_relaxed)))
        return 0;
    long n = atomic_fetch_add(&fault_calls[op], 1) + 1;
    if (op == KLOG__FAULT_OPEN || op == KLOG__FAULT_WRITE || op == KLOG__FAULT_FSYNC ||
        op == KLOG__FAULT_RENAME || op == KLOG__FAULT_TRUNCATE || op == KLOG__FAULT_UNLINK ||
        op == KLOG__FAULT_MKDIR) {
        long step = atomic_fetch_add(&crash_steps, 1) + 1;
        long at = atomic_load(&crash_at);
        if (at > 0 && step == at)
            _exit(KLOG__FAULT_CRASH_STATUS); /* the process dies before this step */
    }
    if (op != fault.op)
        return 0;
    if (n == fault.nth || (fault.sticky && n > fault.nth)) {
        atomic_fetch_add(&fault_fired_count, 1);
        if (short_out)
            *short_out = fault.short_bytes;
        return -fault.err;
    }
    return 0;
}

/* ----------------------------------------------------------------- memory */

void *klog__malloc(size_t n)
{
    if (fault_check(KLOG__FAULT_ALLOC, NULL))
        return NULL;
    return malloc(n ? n : 1);
}

void *klog__calloc(size_t n, size_t size)
{
    if (fault_check(KLOG__FAULT_ALLOC, NULL))
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *klog__realloc(void *p, size_t n)
{
    if (fault_check(KLOG__FAULT_ALLOC, NULL))
        return NULL;
    return realloc(p, n ? n : 1);
}

char *klog__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = klog__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *klog__asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = klog__malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

int klog__buf_reserve(klog__buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    uint8_t *d = klog__realloc(b->data, cap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int klog__buf_append(klog__buf_t *b, const void *p, size_t n)
{
    int rc = klog__buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void klog__buf_free(klog__buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------------ files */

int klog__open(const char *path, int flags, mode_t mode)
{
    return klog__openat(AT_FDCWD, path, flags, mode);
}

/* Opens ask for O_NOATIME: reading a log does not update its files'
 * access times. Each first read of a file written since its last access
 * (relatime) dirtied its inode in the journal, 13% of an open after a
 * kill -9 of 10,000 partitions. Linux refuses the flag (EPERM) on a file
 * the process does not own without CAP_FOWNER: then it opens without. */
static int open_noatime(int dirfd, const char *path, int flags, mode_t mode)
{
    int fd;
    do
        fd = openat(dirfd, path, flags | O_CLOEXEC | O_NOATIME, mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0 && errno == EPERM) {
        do
            fd = openat(dirfd, path, flags | O_CLOEXEC, mode);
        while (fd < 0 && errno == EINTR);
    }
    return fd < 0 ? -errno : fd;
}

int klog__openat(int dirfd, const char *path, int flags, mode_t mode)
{
    int rc = fault_check(KLOG__FAULT_OPEN, NULL);
    if (rc)
        return rc;
    int fd = open_noatime(dirfd, path, flags, mode);
    if (KLOG__UNLIKELY(atomic_load_explicit(&read_hook, memory_order_acquire) != NULL) &&
        fd >= 0)
        read_hook_aim(path, fd);
    return fd;
}

int klog__close(int fd)
{
    if (fd < 0)
        return 0;
    /* Linux closes the descriptor even when close() reports EINTR. */
    return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

int klog__pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    struct iovec iov = {(void *)buf, len};
    return klog__pwritev_all(fd, &iov, 1, off);
}

int klog__pwritev_all(int fd, struct iovec *iov, int iovcnt, off_t off)
{
    size_t short_bytes = 0;
    int frc = fault_check(KLOG__FAULT_WRITE, &short_bytes);
    if (frc && short_bytes) {
        /* A torn write: put part of the data down, then fail. */
        size_t left = short_bytes;
        for (int i = 0; i < iovcnt && left; i++) {
            size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
            if (pwrite(fd, iov[i].iov_base, n, off) < 0)
                break;
            off += (off_t)n;
            left -= n;
        }
    }
    if (frc)
        return frc;
    while (iovcnt > 0) {
        /* One buffer goes by pwrite: Linux's pwritev of a single iovec
         * costs about 12% more per call (its iovec import), which is most
         * of what a batch-1 append pays the kernel beyond the bytes. */
        ssize_t n = iovcnt == 1 ? pwrite(fd, iov->iov_base, iov->iov_len, off)
                                : pwritev(fd, iov, iovcnt, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        off += n;
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

ssize_t klog__pread_full(int fd, void *buf, size_t len, off_t off)
{
    int rc = fault_check(KLOG__FAULT_READ, NULL);
    if (rc)
        return rc;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, off + (off_t)done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    if (KLOG__UNLIKELY(atomic_load_explicit(&read_hook_fd, memory_order_relaxed) == fd))
        read_hook_fire(fd);
    return (ssize_t)done;
}

int klog__fsync(int fd)
{
    int rc = fault_check(KLOG__FAULT_FSYNC, NULL);
    if (rc)
        return rc;
    return fsync(fd) < 0 ? -errno : 0;
}

int klog__fdatasync(int fd)
{
    int rc = fault_check(KLOG__FAULT_FSYNC, NULL);
    if (rc)
        return rc;
    return fdatasync(fd) < 0 ? -errno : 0;
}

int klog__ftruncate(int fd, off_t len)
{
    int rc = fault_check(KLOG__FAULT_TRUNCATE, NULL);
    if (rc)
        return rc;
    while (ftruncate(fd, len) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

int klog__fallocate(int fd, off_t off, off_t len)
{
    int rc = fault_check(KLOG__FAULT_TRUNCATE, NULL);
    if (rc)
        return rc;
    while (fallocate(fd, FALLOC_FL_KEEP_SIZE, off, len) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

int64_t klog__fsize(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    return (int64_t)st.st_size;
}

int klog__fstat(int fd, struct stat *st)
{
    int rc = fault_check(KLOG__FAULT_STAT, NULL);
    if (rc)
        return rc;
    return fstat(fd, st) < 0 ? -errno : 0;
}

int64_t klog__seek_hole(int fd, int64_t from)
{
    off_t at = lseek(fd, (off_t)from, SEEK_HOLE);
    if (at < 0)
        return errno == ENXIO ? from : -errno;
    return (int64_t)at;
}

int klog__rename(const char *from, const char *to)
{
    int rc = fault_check(KLOG__FAULT_RENAME, NULL);
    if (rc)
        return rc;
    return rename(from, to) < 0 ? -errno : 0;
}

int klog__unlink(const char *path)
{
    int rc = fault_check(KLOG__FAULT_UNLINK, NULL);
    if (rc)
        return rc;
    return unlink(path) < 0 ? -errno : 0;
}

int klog__stat(const char *path, struct stat *st)
{
    int rc = fault_check(KLOG__FAULT_STAT, NULL);
    if (rc)
        return rc;
    return stat(path, st) < 0 ? -errno : 0;
}

/* A listing reads the directory with getdents64 into a buffer on the
 * stack: opendir's heap buffer (32 KiB, freed at closedir) made the heap
 * top grow and shrink once per directory, and an open of 10,000
 * partitions spent 6% of its time faulting those pages in again. */
int klog__dir_list(const char *path, int (*fn)(void *ctx, const char *name), void *ctx)
{
    int rc = fault_check(KLOG__FAULT_DIR, NULL);
    if (rc)
        return rc;
    int fd = open_noatime(AT_FDCWD, path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    _Alignas(struct dirent64) char buf[8192];
    for (;;) {
        ssize_t n = getdents64(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        for (ssize_t off = 0; off < n && !rc;) {
            const struct dirent64 *e = (const struct dirent64 *)(buf + off);
            off += e->d_reclen;
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                rc = fn(ctx, e->d_name);
        }
        if (rc)
            break;
    }
    close(fd);
    return rc;
}

int klog__eventfd(void)
{
    int rc = fault_check(KLOG__FAULT_OPEN, NULL);
    if (rc)
        return rc;
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

void klog__eventfd_signal(int fd)
{
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof one);
    (void)n; /* EAGAIN means it is already readable */
}

ssize_t klog__sendfile(int out_fd, int in_fd, off_t *pos, size_t len)
{
    for (;;) {
        ssize_t n = sendfile(out_fd, in_fd, pos, len);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

int klog__fsync_dir(const char *dir)
{
    int fd = klog__open(dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    int rc = klog__fsync(fd);
    klog__close(fd);
    return rc;
}

int klog__mkdir(const char *path, mode_t mode)
{
    int rc = fault_check(KLOG__FAULT_MKDIR, NULL);
    if (rc)
        return rc;
    if (mkdir(path, mode) == 0)
        return 0;
    int err = errno;
    struct stat st;
    if (err == EEXIST) {
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        return -ENOTDIR;
    }
    return -err;
}

static int rmtree_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (unlinkat(fd, e->d_name, 0) == 0)
            continue;
        if (errno == EISDIR || errno == EPERM) {
            int r = rmtree_at(fd, e->d_name);
            if (r && !rc)
                rc = r;
        } else if (errno != ENOENT && !rc) {
            rc = -errno;
        }
    }
    closedir(d);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && !rc)
        rc = -errno;
    return rc;
}

int klog__rmtree(const char *path)
{
    return rmtree_at(AT_FDCWD, path);
}

int klog__mmap(int fd, size_t len, int writable, void **out)
{
    int rc = fault_check(KLOG__FAULT_MMAP, NULL);
    if (rc)
        return rc;
    void *p = mmap(NULL, len, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

int klog__munmap(void *p, size_t len)
{
    if (!p)
        return 0;
    return munmap(p, len) < 0 ? -errno : 0;
}

int klog__msync(void *p, size_t len)
{
    int rc = fault_check(KLOG__FAULT_FSYNC, NULL);
    if (rc)
        return rc;
    if (!p || !len)
        return 0;
    return msync(p, len, MS_SYNC) < 0 ? -errno : 0;
}
