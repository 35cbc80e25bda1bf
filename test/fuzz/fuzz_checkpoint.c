/*
 * fuzz_checkpoint.c — klog__ckpt_parse on arbitrary bytes. When the input
 * parses, the entries are written back in Kafka's text form and parsed
 * again: the second parse must succeed and give the same entries, and
 * lookups must agree with the "last duplicate wins" rule.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void format(const klog__ckpt_t *c, klog__buf_t *b)
{
    char line[KLOG__TOPIC_NAME_MAX + 48];
    int n = snprintf(line, sizeof line, "0\n%zu\n", c->count);
    if (klog__buf_append(b, line, (size_t)n))
        abort();
    for (size_t i = 0; i < c->count; i++) {
        n = snprintf(line, sizeof line, "%s %" PRId32 " %" PRId64 "\n", c->entries[i].topic,
                     c->entries[i].partition, c->entries[i].offset);
        if (n < 0 || (size_t)n >= sizeof line || klog__buf_append(b, line, (size_t)n))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    klog__ckpt_t c, again;
    int rc = klog__ckpt_parse(data, size, &c);
    if (rc == -ENOMEM)
        abort(); /* no allocation here should fail */
    if (rc) {
        if ((rc != KLOG_ECORRUPT && rc != KLOG_EVERSION) || c.entries || c.count)
            abort();
        return 0;
    }
    for (size_t i = 0; i < c.count; i++) {
        const klog__ckpt_entry_t *e = &c.entries[i];
        if (!klog_topic_name_valid(e->topic) || e->partition < 0 || e->offset < 0)
            abort();
    }
    klog__buf_t b = {0};
    format(&c, &b);
    if (klog__ckpt_parse(b.data, b.len, &again) != 0 || again.count != c.count)
        abort();
    for (size_t i = 0; i < c.count; i++) {
        const klog__ckpt_entry_t *x = &c.entries[i], *y = &again.entries[i];
        if (strcmp(x->topic, y->topic) || x->partition != y->partition || x->offset != y->offset)
            abort();
        /* The last entry for a key wins: no later entry has the same key. */
        int64_t v = klog__ckpt_lookup(&c, x->topic, x->partition, -1);
        int later = 0;
        for (size_t j = i + 1; j < c.count && !later; j++)
            later = c.entries[j].partition == x->partition && !strcmp(c.entries[j].topic, x->topic);
        if (!later && v != x->offset)
            abort();
    }
    klog__buf_free(&b);
    klog__ckpt_free(&again);
    klog__ckpt_free(&c);
    return 0;
}
