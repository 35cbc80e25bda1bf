/*
 * kbroker_slow_fsync.c — an LD_PRELOAD shim for t_kbroker_flush.sh: while
 * the file named by $KB_SLOW_FSYNC_FLAG exists, every fsync() and
 * fdatasync() of the process first sleeps $KB_SLOW_FSYNC_MS milliseconds
 * (default 600), then calls the real one. So a test can make the disk slow
 * on demand and see who waits for it. While the file named by
 * $KB_FAIL_FSYNC_FLAG exists, they fail with EIO instead (after the sleep),
 * as a dying disk does. Built by the script with cc -shared -fPIC (it
 * needs -ldl on older C libraries).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int failing(void)
{
    const char *flag = getenv("KB_FAIL_FSYNC_FLAG");
    if (!flag || access(flag, F_OK) != 0)
        return 0;
    errno = EIO;
    return 1;
}

static void maybe_sleep(void)
{
    const char *flag = getenv("KB_SLOW_FSYNC_FLAG");
    if (!flag || access(flag, F_OK) != 0)
        return;
    const char *ms = getenv("KB_SLOW_FSYNC_MS");
    long n = ms ? atol(ms) : 600;
    struct timespec ts = {n / 1000, (n % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    maybe_sleep();
    return failing() ? -1 : real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    maybe_sleep();
    return failing() ? -1 : real(fd);
}
