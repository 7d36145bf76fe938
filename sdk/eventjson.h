/*
 * eventjson.h — a cairn_event_t as a JSON object, for people and tools:
 * {"type":"ActivityCompleted","workflow_id":...,"result":{...}}. Only the
 * fields of the event's type appear; JSON-carrying fields (input, payload,
 * result, data) are embedded as JSON values, not strings.
 */
#ifndef CAIRN_EVENTJSON_H
#define CAIRN_EVENTJSON_H

#include <jansson.h>

#include "event.h"

/* New reference, or NULL on out-of-memory. */
json_t *cairn_event_to_json(const cairn_event_t *ev);

#endif
