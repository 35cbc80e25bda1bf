/*
 * group_view.h — a rebalance's read of the registry (group_view.c), for
 * the group member (member.c).
 */
#ifndef KLOG_GROUP_VIEW_H
#define KLOG_GROUP_VIEW_H

#include "platform/platform.h"

typedef struct klog__gview klog__gview_t;

/*
 * Read the group's members (registering self_id with self_topics again
 * when it is missing), their topics' partition counts and, with sticky,
 * the current owners; fill *in, which points into the view *out until
 * klog__gview_free(*out). 0, or the registry's error (nothing to free).
 */
KLOG__HIDDEN int klog__gview_read(const klog_registry_ops_t *ops, const char *group,
                                  const char *self_id, const char *self_topics, int sticky,
                                  const klog__logger_t *lg, klog__gview_t **out,
                                  klog_assign_input_t *in);
/* NULL is accepted. */
KLOG__HIDDEN void klog__gview_free(klog__gview_t *g);

#endif
