/*
 * files.c — whole files on top of io.c's seam: a file replaced through a
 * temporary and rename (fsynced or not), a file read whole with a size
 * cap, and the advisory lock files. Every call here goes through io.c's
 * wrappers, so the fault seam reaches each step (the rename, the fsync,
 * the write), except flock(2) and the unlink of a failed temporary.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "platform/platform.h"

static int write_file_replace(const char *dir, const char *name, const void *data, size_t len,
                              int sync)
{
    char *tmp = klog__asprintf("%s/%s.tmp", dir, name);
    char *dst = klog__asprintf("%s/%s", dir, name);
    int rc = -ENOMEM, fd = -1;
    if (!tmp || !dst)
        goto out;
    fd = klog__open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    rc = klog__pwrite_all(fd, data, len, 0);
    if (!rc && sync)
        rc = klog__fsync(fd);
    klog__close(fd);
    if (!rc)
        rc = klog__rename(tmp, dst);
    if (rc)
        unlink(tmp);
    else if (sync)
        rc = klog__fsync_dir(dir);
out:
    free(tmp);
    free(dst);
    return rc;
}

int klog__write_file_atomic(const char *dir, const char *name, const void *data, size_t len)
{
    return write_file_replace(dir, name, data, len, 1);
}

int klog__write_file_replace(const char *dir, const char *name, const void *data, size_t len)
{
    return write_file_replace(dir, name, data, len, 0);
}

int klog__read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
    int fd = klog__open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    int rc;
    int64_t size = klog__fsize(fd);
    uint8_t *buf = NULL;
    if (size < 0) {
        rc = (int)size;
        goto out;
    }
    if ((uint64_t)size > max) {
        rc = -EFBIG;
        goto out;
    }
    buf = klog__malloc((size_t)size + 1);
    if (!buf) {
        rc = -ENOMEM;
        goto out;
    }
    ssize_t n = klog__pread_full(fd, buf, (size_t)size, 0);
    if (n < 0) {
        rc = (int)n;
        free(buf);
        goto out;
    }
    buf[n] = 0;
    *out = buf;
    *len = (size_t)n;
    rc = 0;
out:
    klog__close(fd);
    return rc;
}

int klog__lock_held(const char *path)
{
    int fd = klog__open(path, O_RDONLY, 0);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return fd;
    int held = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0)
        held = errno == EWOULDBLOCK ? 1 : -errno;
    else
        flock(fd, LOCK_UN);
    klog__close(fd);
    return held;
}

int klog__lock_file(const char *path)
{
    int fd = klog__open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        return fd;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int err = errno;
        klog__close(fd);
        return err == EWOULDBLOCK ? KLOG_ELOCKED : -err;
    }
    return fd;
}
