/*
 * leave.h — makes a static group member leave its group at once.
 *
 * A consumer with group.instance.id does not send LeaveGroup when it closes
 * (KIP-345): its partitions stay with it until session.timeout.ms expires,
 * which is right for a restart but wrong for a node being stopped for good.
 * librdkafka 2.0.2 has no API for this, so on SIGTERM cairnd sends the two
 * requests itself: FindCoordinator (v1) to locate the group coordinator, then
 * LeaveGroup (v3) naming the member by its group.instance.id — what Java's
 * Admin.removeMembersFromConsumerGroup() sends.
 */
#ifndef CAIRN_LEAVE_H
#define CAIRN_LEAVE_H

#include <stddef.h>

#include "err.h"

/*
 * bootstrap: "host:port[,host:port...]". Returns CAIRN_ERR_OK once the
 * coordinator confirmed, else an error with the reason in errstr.
 */
cairn_err_t cairn_leave_group(const char *bootstrap, const char *group,
                              const char *instance_id, int timeout_ms,
                              char *errstr, size_t errstr_size);

#endif
