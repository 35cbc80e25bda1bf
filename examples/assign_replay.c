/*
 * assign_replay.c — replay a consumer-group membership history through
 * each assignment strategy and print how many partitions move per event.
 *
 *   assign_replay [HISTORY_FILE]     (default: a built-in history; "-" = stdin)
 *
 * History lines ('#' starts a comment):
 *   topic NAME PARTITIONS    a topic every member subscribes to
 *   join ID                  a member joins
 *   leave ID                 a member leaves cleanly
 *   crash ID                 a member dies (its registry entries vanish:
 *                            for the assignment, the same as leave)
 * After each event every strategy recomputes the global assignment with
 * klog_assign() (sticky gets the previous owners as its current ones); a
 * partition "moves" when it had an owner and now has a different one.
 */
#include <klog.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXM 256
#define MAXT 32
#define MAXP 4096

static const char *builtin =
    "topic events 12\n"
    "topic clicks 5\n"
    "join a\njoin b\njoin c\n"
    "crash b\n"
    "join d\njoin e\n"
    "leave a\n"
    "join f\njoin g\njoin h\n"
    "crash e\ncrash f\n"
    "join b\n";

typedef struct state {
    klog_assignment_t prev;
    char owners[MAXP][64]; /* previous owner per entry ("" none) */
    size_t n;
} state_t;

static char topic_names[MAXT][250];
static klog_assign_topic_t topics[MAXT];
static size_t ntopics;
static char member_ids[MAXM][64];
static size_t nmembers;
static const char *subs[MAXT];

static long step(int strategy, state_t *st, size_t *maxload, size_t *minload)
{
    klog_assign_member_t members[MAXM];
    for (size_t i = 0; i < nmembers; i++)
        members[i] = (klog_assign_member_t){member_ids[i], subs, ntopics};
    static klog_assign_owner_t cur[MAXP];
    size_t ncur = 0;
    for (size_t i = 0; i < st->n; i++)
        if (st->owners[i][0])
            cur[ncur++] = (klog_assign_owner_t){st->prev.entries[i].topic,
                                                st->prev.entries[i].partition, st->owners[i]};
    klog_assign_input_t in = {topics, ntopics, members, nmembers, cur, ncur};
    klog_assignment_t a;
    int rc = klog_assign(strategy, &in, &a);
    if (rc) {
        fprintf(stderr, "klog_assign: %s\n", klog_strerror(rc));
        exit(1);
    }
    long moved = 0;
    for (size_t i = 0; i < a.count && i < st->n; i++)
        if (st->owners[i][0] &&
            (!a.entries[i].member || strcmp(st->owners[i], a.entries[i].member) != 0))
            moved++;
    *maxload = 0;
    *minload = nmembers ? (size_t)-1 : 0;
    for (size_t m = 0; m < nmembers; m++) {
        size_t l = 0;
        for (size_t i = 0; i < a.count; i++)
            l += a.entries[i].member && strcmp(a.entries[i].member, member_ids[m]) == 0;
        *maxload = l > *maxload ? l : *maxload;
        *minload = l < *minload ? l : *minload;
    }
    st->n = a.count < MAXP ? a.count : MAXP;
    for (size_t i = 0; i < st->n; i++)
        snprintf(st->owners[i], sizeof st->owners[i], "%s",
                 a.entries[i].member ? a.entries[i].member : "");
    klog_assignment_free(&st->prev);
    st->prev = a; /* topic pointers stay valid: topic_names is static */
    return moved;
}

int main(int argc, char **argv)
{
    FILE *in = NULL;
    if (argc > 1)
        in = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "r");
    else
        in = fmemopen((void *)builtin, strlen(builtin), "r");
    if (!in) {
        perror(argv[1]);
        return 2;
    }
    static state_t st[3];
    long total[3] = {0};
    char line[512];
    int events = 0;
    printf("%-16s %7s %9s %11s %7s   loads (min..max) range/rr/sticky\n", "event", "members",
           "range", "roundrobin", "sticky");
    while (fgets(line, sizeof line, in)) {
        char cmd[32], arg[250];
        long n = 0;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        int k = sscanf(line, "%31s %249s %ld", cmd, arg, &n);
        if (k <= 0)
            continue;
        if (strcmp(cmd, "topic") == 0 && k == 3 && ntopics < MAXT) {
            snprintf(topic_names[ntopics], sizeof topic_names[0], "%s", arg);
            topics[ntopics] = (klog_assign_topic_t){topic_names[ntopics], (int32_t)n};
            subs[ntopics] = topic_names[ntopics];
            ntopics++;
            continue;
        }
        if (k < 2) {
            fprintf(stderr, "bad line: %s", line);
            return 2;
        }
        if (strcmp(cmd, "join") == 0 && nmembers < MAXM) {
            snprintf(member_ids[nmembers++], sizeof member_ids[0], "%.63s", arg);
        } else if (strcmp(cmd, "leave") == 0 || strcmp(cmd, "crash") == 0) {
            size_t i = 0;
            while (i < nmembers && strcmp(member_ids[i], arg) != 0)
                i++;
            if (i == nmembers) {
                fprintf(stderr, "no member %s\n", arg);
                return 2;
            }
            memmove(member_ids[i], member_ids[i + 1], (nmembers - i - 1) * sizeof member_ids[0]);
            nmembers--;
        } else {
            fprintf(stderr, "bad line: %s", line);
            return 2;
        }
        long moved[3];
        size_t hi[3], lo[3];
        for (int s = 0; s < 3; s++) {
            moved[s] = step(s, &st[s], &hi[s], &lo[s]);
            total[s] += moved[s];
        }
        char ev[300];
        snprintf(ev, sizeof ev, "%s %s", cmd, arg);
        printf("%-16s %7zu %9ld %11ld %7ld   %zu..%zu / %zu..%zu / %zu..%zu\n", ev, nmembers,
               moved[0], moved[1], moved[2], lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]);
        events++;
    }
    printf("%-16s %7s %9ld %11ld %7ld   (partitions moved over %d events)\n", "total", "",
           total[0], total[1], total[2], events);
    for (int s = 0; s < 3; s++)
        klog_assignment_free(&st[s].prev);
    if (in != stdin)
        fclose(in);
    return 0;
}
