/*
 * util.c — clocks, the log callback, error names and the version.
 *
 * The error table is the X-macro KLOG_ERRNO_MAP in klog.h: the enum, the
 * names and the descriptions are generated from it, so they cannot drift.
 * System errors are -errno and are described by strerror_r's text, kept
 * in a thread-local buffer so klog_strerror() is thread-safe.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "platform/platform.h"

int64_t klog__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t klog__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void klog__log(const klog__logger_t *lg, int level, const char *fmt, ...)
{
    if (!lg || !lg->fn)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lg->fn(lg->ctx, level, msg);
}

int klog_version_number(void) { return KLOG_VERSION_NUMBER; }

#define KLOG__STR2(x) #x
#define KLOG__STR(x) KLOG__STR2(x)
const char *klog_version_string(void)
{
    return KLOG__STR(KLOG_VERSION_MAJOR) "." KLOG__STR(KLOG_VERSION_MINOR) "." KLOG__STR(
        KLOG_VERSION_PATCH);
}

const char *klog_strerror(int err)
{
    static _Thread_local char buf[128];
    switch (err) {
    case 0:
        return "success";
#define KLOG__ERR_DESC(name, val, desc) \
    case val:                           \
        return desc;
        KLOG_ERRNO_MAP(KLOG__ERR_DESC)
#undef KLOG__ERR_DESC
    default:
        break;
    }
    if (err < 0 && err > -4096) {
        /* GNU strerror_r returns a pointer that may or may not be buf. */
        const char *s = strerror_r(-err, buf, sizeof buf);
        return s ? s : "unknown error";
    }
    return "unknown error";
}

const char *klog_err_name(int err)
{
    switch (err) {
    case 0:
        return "KLOG_OK";
#define KLOG__ERR_NAME(name, val, desc) \
    case val:                           \
        return #name;
        KLOG_ERRNO_MAP(KLOG__ERR_NAME)
#undef KLOG__ERR_NAME
    default:
        break;
    }
    if (err < 0 && err > -4096) {
        const char *s = strerrorname_np(-err);
        if (s)
            return s;
    }
    return "KLOG_EUNKNOWN";
}

int64_t klog__nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return -1;
    return (int64_t)rl.rlim_cur;
}
