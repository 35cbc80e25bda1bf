/*
 * bench_group.c — consumer-group rebalance latency: from a membership
 * change (a member joins, or leaves cleanly) to the moment every partition
 * is owned again exactly as the new assignment says, for each registry
 * backend with 3 and 10 members.
 *
 *   bench_group [--quick] [--partitions N] [--zk-helper PATH]
 *
 * Members are threads, each with its own registry session (as separate
 * processes would have) and default member options (10 ms between
 * registry checks while idle, 20 ms base backoff). The owners table is
 * kept from the members' claim/release callbacks; the clock stops when it
 * equals klog_assign(RANGE) of the new membership. ZooKeeper runs when a
 * server can be started through the test helper group_zkserver (default:
 * ../test/group_zkserver beside this program), else is reported skipped.
 */
#include <klog.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define MAXM 16
#define MAXP 256

static int quick;
static int nparts = 24;
static char tmpdir[256];
static klog_t *blog;

typedef struct world {
    pthread_mutex_t mu;
    char owner[MAXP][16]; /* "" = free */
    int violations;
} world_t;

static world_t W;

typedef struct mthread {
    klog_registry_t *reg;
    char id[16];
    atomic_int stop;
    int rc;
    pthread_t th;
} mthread_t;

static void on_event(void *ctx, const char *topic, int32_t p, int owned, int64_t off, int64_t t)
{
    (void)topic;
    (void)off;
    (void)t;
    mthread_t *mt = ctx;
    pthread_mutex_lock(&W.mu);
    if (owned) {
        if (W.owner[p][0])
            W.violations++;
        snprintf(W.owner[p], sizeof W.owner[p], "%s", mt->id);
    } else {
        W.owner[p][0] = 0;
    }
    pthread_mutex_unlock(&W.mu);
}

static void *member_main(void *v)
{
    mthread_t *mt = v;
    const char *topics[] = {"bench", NULL};
    klog_member_opts_t o = {.size = sizeof o, .member_id = mt->id, .on_event = on_event,
                            .event_ctx = mt, .auto_commit_ms = -1};
    klog_member_t *m;
    mt->rc = klog_member_new(blog, mt->reg, "bg", topics, &o, &m);
    if (mt->rc)
        return NULL;
    while (!atomic_load(&mt->stop)) {
        klog_member_record_t mr;
        int rc = klog_member_poll(m, &mr, 20);
        if (rc < 0) {
            mt->rc = rc;
            break;
        }
    }
    int rc = klog_member_close(m);
    if (!mt->rc)
        mt->rc = rc;
    return NULL;
}

/* Does the owners table equal the range assignment of members[0..n)? */
static int settled(mthread_t **ms, int n)
{
    klog_assign_topic_t t = {"bench", nparts};
    const char *subs[] = {"bench"};
    klog_assign_member_t mem[MAXM];
    for (int i = 0; i < n; i++)
        mem[i] = (klog_assign_member_t){ms[i]->id, subs, 1};
    klog_assign_input_t in = {.topics = &t, .topic_count = 1, .members = mem,
                              .member_count = (size_t)n};
    klog_assignment_t a;
    if (klog_assign(KLOG_ASSIGN_RANGE, &in, &a))
        return 0;
    int ok = 1;
    pthread_mutex_lock(&W.mu);
    for (size_t i = 0; i < a.count && ok; i++)
        ok = strcmp(W.owner[a.entries[i].partition], a.entries[i].member) == 0;
    pthread_mutex_unlock(&W.mu);
    klog_assignment_free(&a);
    return ok;
}

static double wait_settled(mthread_t **ms, int n, double t0)
{
    double end = t0 + 30;
    while (!settled(ms, n)) {
        if (bench_now() > end)
            return -1;
        usleep(200);
    }
    return (bench_now() - t0) * 1000;
}

typedef int (*open_fn)(klog_registry_t **out);
static char dirreg[300];
static char zkhosts[128];
static klog_registry_t *memroot;
static int open_mem(klog_registry_t **out) { return klog_registry_memory_new(memroot, out); }
static int open_dir(klog_registry_t **out) { return klog_registry_dir_new(dirreg, out); }
static int open_zk(klog_registry_t **out) { return klog_registry_zk_new(zkhosts, 4000, out); }

static int start_member(mthread_t *mt, open_fn op, const char *id)
{
    memset(mt, 0, sizeof *mt);
    snprintf(mt->id, sizeof mt->id, "%s", id);
    int rc = op(&mt->reg);
    if (rc)
        return rc;
    return pthread_create(&mt->th, NULL, member_main, mt);
}

static int stop_member(mthread_t *mt)
{
    atomic_store(&mt->stop, 1);
    pthread_join(mt->th, NULL);
    klog_registry_free(mt->reg);
    return mt->rc;
}

/* One backend, n members: rounds of (join one, leave one). */
static int run(const char *backend, open_fn op, int n, int rounds)
{
    bench_stat_t join = {0}, leave = {0};
    static mthread_t pool[MAXM + 1];
    mthread_t *ms[MAXM + 1];
    memset(&W.owner, 0, sizeof W.owner);
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%02d", i);
        ms[i] = &pool[i];
        if (start_member(ms[i], op, id)) {
            fprintf(stderr, "%s: cannot start members\n", backend);
            return 1;
        }
    }
    if (wait_settled(ms, n, bench_now()) < 0) {
        fprintf(stderr, "%s: initial assignment did not settle\n", backend);
        return 1;
    }
    for (int r = 0; r < rounds; r++) {
        char id[16];
        snprintf(id, sizeof id, "j%02d", r);
        ms[n] = &pool[n];
        double t0 = bench_now();
        if (start_member(ms[n], op, id))
            return 1;
        double ms_join = wait_settled(ms, n + 1, t0);
        t0 = bench_now();
        stop_member(ms[n]); /* leaves cleanly: commits, releases, unregisters */
        double ms_leave = wait_settled(ms, n, t0);
        if (ms_join < 0 || ms_leave < 0) {
            fprintf(stderr, "%s: did not settle within 30 s\n", backend);
            return 1;
        }
        bench_add(&join, ms_join);
        bench_add(&leave, ms_leave);
    }
    for (int i = 0; i < n; i++)
        stop_member(ms[i]);
    char name[96];
    snprintf(name, sizeof name, "group_rebalance_join_%s_%dm", backend, n);
    bench_report(name, "ms", &join, NULL);
    snprintf(name, sizeof name, "group_rebalance_leave_%s_%dm", backend, n);
    bench_report(name, "ms", &leave, NULL);
    return 0;
}

static pid_t zkpid = -1;
static FILE *zkin;

static int start_zk(const char *helper)
{
    if (access(helper, X_OK) != 0)
        return -1;
    int to[2], from[2];
    if (pipe(to) || pipe(from))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        execl(helper, helper, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    zkpid = pid;
    zkin = fdopen(to[1], "w");
    FILE *f = fdopen(from[0], "r");
    char line[256] = "";
    int port = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "PORT %d", &port) == 1 || strncmp(line, "SKIP", 4) == 0)
            break;
    if (f)
        fclose(f);
    if (port <= 0)
        return -1;
    snprintf(zkhosts, sizeof zkhosts, "127.0.0.1:%d/bench", port);
    return 0;
}

static void stop_zk(void)
{
    if (zkpid > 0) {
        fclose(zkin);
        int st;
        for (int i = 0; i < 150 && waitpid(zkpid, &st, WNOHANG) == 0; i++)
            usleep(100000);
        kill(zkpid, SIGKILL);
        waitpid(zkpid, &st, 0);
    }
}

int main(int argc, char **argv)
{
    char helper[512];
    const char *slash = strrchr(argv[0], '/');
    snprintf(helper, sizeof helper, "%.*s../test/group_zkserver",
             slash ? (int)(slash - argv[0] + 1) : 0, argv[0]);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--partitions") && i + 1 < argc)
            nparts = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--zk-helper") && i + 1 < argc)
            snprintf(helper, sizeof helper, "%s", argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--partitions N] [--zk-helper PATH]\n", argv[0]);
            return 2;
        }
    }
    if (nparts < 1 || nparts > MAXP)
        nparts = 24;
    signal(SIGPIPE, SIG_IGN);
    bench_header("bench_group", "rebalance latency: membership change to all partitions owned");
    const char *td = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/bench_group.XXXXXX", td);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    char logdir[300];
    snprintf(logdir, sizeof logdir, "%s/log", tmpdir);
    if (klog_open(logdir, NULL, 0, &blog) || klog_topic_create(blog, "bench", nparts, NULL)) {
        fprintf(stderr, "cannot create the log\n");
        return 1;
    }
    pthread_mutex_init(&W.mu, NULL);
    int rounds = quick ? 3 : 10;
    int sizes[2] = {3, 10};
    int fail = 0;
    printf("%d partitions, %d rounds of join + leave per configuration\n", nparts, rounds);
    klog_registry_memory_new(NULL, &memroot);
    for (int s = 0; s < 2; s++)
        fail |= run("memory", open_mem, sizes[s], rounds);
    for (int s = 0; s < 2; s++) {
        snprintf(dirreg, sizeof dirreg, "%s/reg%d", tmpdir, s);
        fail |= run("dir", open_dir, sizes[s], rounds);
    }
    if (start_zk(helper) == 0) {
        for (int s = 0; s < 2; s++)
            fail |= run("zk", open_zk, sizes[s], rounds);
    } else {
        printf("zk: skipped (no ZooKeeper: needs %s and the zookeeper package)\n", helper);
    }
    stop_zk();
    klog_registry_free(memroot);
    klog_close(blog);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    if (W.violations)
        fprintf(stderr, "ownership overlapped %d times\n", W.violations);
    return fail || W.violations ? 1 : 0;
}
