/*
 * platform.h — the platform layer: files, fsync (file and directory), mmap,
 * locks, clocks, allocation, logging. Every file operation in libklog goes
 * through these functions, which is the one seam where tests inject faults
 * (fail the Nth write, fsync, mmap, open, rename, unlink, directory read,
 * stat, mkdir or allocation; short writes; ENOSPC/EIO). All functions
 * return 0 / a count, or -errno.
 */
#ifndef KLOG_PLATFORM_H
#define KLOG_PLATFORM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "klog.h"

#if defined(__GNUC__)
#define KLOG__HIDDEN __attribute__((visibility("hidden")))
#define KLOG__PRINTF(a, b) __attribute__((format(printf, a, b)))
#define KLOG__LIKELY(x) __builtin_expect(!!(x), 1)
#define KLOG__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define KLOG__HIDDEN
#define KLOG__PRINTF(a, b)
#define KLOG__LIKELY(x) (x)
#define KLOG__UNLIKELY(x) (x)
#endif

/* ------------------------------------------------------- fault injection */
enum klog__fault_op {
    KLOG__FAULT_OPEN = 0,
    KLOG__FAULT_WRITE,    /* write/pwrite/pwritev */
    KLOG__FAULT_FSYNC,    /* fsync/fdatasync/msync */
    KLOG__FAULT_MMAP,
    KLOG__FAULT_RENAME,
    KLOG__FAULT_ALLOC,
    KLOG__FAULT_TRUNCATE, /* ftruncate/fallocate */
    KLOG__FAULT_READ,
    KLOG__FAULT_UNLINK,   /* unlink */
    KLOG__FAULT_DIR,      /* directory listing (opendir/readdir) */
    KLOG__FAULT_STAT,     /* stat of a path */
    KLOG__FAULT_MKDIR,    /* mkdir */
    KLOG__FAULT_NOPS
};

/*
 * Arm a fault: the `nth` next call (1 = the very next) of kind op fails with
 * -err. For KLOG__FAULT_WRITE, short > 0 instead makes that write transfer
 * only `short` bytes and then fail with -err (a torn write). `sticky` keeps
 * failing every later call too. Disarm with klog__fault_clear(). Test-only;
 * the counters are process-global and thread-safe.
 */
KLOG__HIDDEN void klog__fault_arm(int op, long nth, int err, size_t short_bytes, int sticky);
KLOG__HIDDEN void klog__fault_clear(void);
/* Crash sweeps: the nth call from now that can change a file (open,
 * write, fsync, rename, truncate, unlink, mkdir) makes the process _exit
 * with KLOG__FAULT_CRASH_STATUS before it happens, as a kill -9 there
 * would; klog__fault_crash_steps() counts those calls since the arm
 * (arm with a huge nth to count a workload's steps). Test-only. */
#define KLOG__FAULT_CRASH_STATUS 77
KLOG__HIDDEN void klog__fault_arm_crash(long nth);
KLOG__HIDDEN long klog__fault_crash_steps(void);
/* How many faults have fired since the last clear. */
KLOG__HIDDEN long klog__fault_fired(void);
/* Calls seen of kind op since the last clear (to find "the Nth"). */
KLOG__HIDDEN long klog__fault_calls(int op);
/* Races made deterministic: fn(ctx) runs once, right after the first
 * klog__pread_full() (any thread) from a descriptor opened after this call
 * for a path ending in `suffix` (at most 63 bytes): the reader has the old
 * bytes, holds no lock of the opener's, and goes on after fn returns.
 * fn NULL disarms. Test-only. */
KLOG__HIDDEN void klog__fault_after_read(const char *suffix, void (*fn)(void *), void *ctx);

/* ----------------------------------------------------------------- memory */
KLOG__HIDDEN void *klog__malloc(size_t n);
KLOG__HIDDEN void *klog__calloc(size_t n, size_t size);
KLOG__HIDDEN void *klog__realloc(void *p, size_t n);
KLOG__HIDDEN char *klog__strdup(const char *s);
KLOG__HIDDEN char *klog__asprintf(const char *fmt, ...) KLOG__PRINTF(1, 2);

/* A growable byte buffer. */
typedef struct klog__buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} klog__buf_t;
/* Ensure room for `extra` more bytes past len. -ENOMEM on failure. */
KLOG__HIDDEN int klog__buf_reserve(klog__buf_t *b, size_t extra);
KLOG__HIDDEN int klog__buf_append(klog__buf_t *b, const void *p, size_t n);
KLOG__HIDDEN void klog__buf_free(klog__buf_t *b);

/* ------------------------------------------------------------------ files */
KLOG__HIDDEN int klog__open(const char *path, int flags, mode_t mode);
KLOG__HIDDEN int klog__openat(int dirfd, const char *path, int flags, mode_t mode);
KLOG__HIDDEN int klog__close(int fd);
/* Write all of buf at off (loops over short writes). 0 or -errno. */
KLOG__HIDDEN int klog__pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Write all of iov at off. 0 or -errno. iov may be modified. */
KLOG__HIDDEN int klog__pwritev_all(int fd, struct iovec *iov, int iovcnt, off_t off);
/* Read up to len bytes at off (loops until len or EOF). Bytes read or -errno. */
KLOG__HIDDEN ssize_t klog__pread_full(int fd, void *buf, size_t len, off_t off);
KLOG__HIDDEN int klog__fsync(int fd);
KLOG__HIDDEN int klog__fdatasync(int fd);
KLOG__HIDDEN int klog__ftruncate(int fd, off_t len);
/* Reserve disk blocks for [off, off + len) (fallocate, keeping the size), so
 * a shared mapping of a sparse file never meets a full disk with SIGBUS.
 * File systems without fallocate get -EOPNOTSUPP. */
KLOG__HIDDEN int klog__fallocate(int fd, off_t off, off_t len);
/* Size of an open file, or -errno. */
KLOG__HIDDEN int64_t klog__fsize(int fd);
/* Offset of the first hole at or after from (SEEK_HOLE: the file size
 * when there is none, and on file systems that do not track holes; from
 * itself when from is at or past the end), or -errno. A hole has no disk
 * blocks: on tmpfs even a read fault of a mapping there must allocate. */
KLOG__HIDDEN int64_t klog__seek_hole(int fd, int64_t from);
KLOG__HIDDEN int klog__rename(const char *from, const char *to);
KLOG__HIDDEN int klog__unlink(const char *path);
/* stat a path (follows symlinks). 0 or -errno. */
KLOG__HIDDEN int klog__stat(const char *path, struct stat *st);
KLOG__HIDDEN int klog__fstat(int fd, struct stat *st);
/* Call fn(ctx, name) for each entry of directory path except "." and "..";
 * fn returning nonzero stops the walk and is returned. 0 or -errno. */
KLOG__HIDDEN int klog__dir_list(const char *path, int (*fn)(void *ctx, const char *name),
                                void *ctx);
/* An eventfd (non-blocking, close-on-exec) and a write of its counter. */
KLOG__HIDDEN int klog__eventfd(void);
KLOG__HIDDEN void klog__eventfd_signal(int fd);
/* sendfile from in_fd at *pos: bytes sent or -errno (-EAGAIN when out_fd
 * would block). */
KLOG__HIDDEN ssize_t klog__sendfile(int out_fd, int in_fd, off_t *pos, size_t len);
/* fsync a directory so entries created, renamed or removed in it persist. */
KLOG__HIDDEN int klog__fsync_dir(const char *dir);
/* mkdir -p for one level (EEXIST is success when it is a directory). */
KLOG__HIDDEN int klog__mkdir(const char *path, mode_t mode);
/* Remove a directory tree (files and subdirectories; no symlink following). */
KLOG__HIDDEN int klog__rmtree(const char *path);

/* mmap/munmap/msync. */
KLOG__HIDDEN int klog__mmap(int fd, size_t len, int writable, void **out);
KLOG__HIDDEN int klog__munmap(void *p, size_t len);
KLOG__HIDDEN int klog__msync(void *p, size_t len);

/*
 * Write a small file atomically and durably: dir/name.tmp, fsync, rename to
 * dir/name, fsync dir. 0 or -errno (the temporary is removed on failure).
 */
KLOG__HIDDEN int klog__write_file_atomic(const char *dir, const char *name, const void *data,
                                         size_t len);
/* The same without the fsyncs: readers see the old file or the whole new
 * one, but after a power loss the name may hold a torn file (for caches
 * whose readers check and discard them, as producer snapshots). */
KLOG__HIDDEN int klog__write_file_replace(const char *dir, const char *name, const void *data,
                                          size_t len);
/* Read a whole small file (at most max bytes; -EFBIG beyond). *out malloc'd
 * and NUL-terminated (not counted in *len). */
KLOG__HIDDEN int klog__read_file(const char *path, size_t max, uint8_t **out, size_t *len);

/* Exclusive non-blocking lock on path (created if needed): fd or
 * KLOG_ELOCKED / -errno. Released by closing the fd or process death. */
KLOG__HIDDEN int klog__lock_file(const char *path);
/* Is path flock()ed by another open (a read-write klog_open)? 1, 0 (also
 * when the file is missing), or -errno. Takes and drops a shared lock, so a
 * read-write open racing it may see KLOG_ELOCKED for that instant. */
KLOG__HIDDEN int klog__lock_held(const char *path);

/* ----------------------------------------------------------------- clocks */
KLOG__HIDDEN int64_t klog__now_ms(void);    /* wall clock, ms since epoch */
KLOG__HIDDEN int64_t klog__mono_ns(void);   /* monotonic ns */
/* The soft RLIMIT_NOFILE, -1 when unlimited or unknown. */
KLOG__HIDDEN int64_t klog__nofile_limit(void);

/* --------------------------------------------------------------- logging */
typedef struct klog__logger {
    klog_log_fn fn;
    void *ctx;
} klog__logger_t;
KLOG__HIDDEN void klog__log(const klog__logger_t *lg, int level, const char *fmt, ...)
    KLOG__PRINTF(3, 4);

#endif
