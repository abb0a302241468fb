/*
 * The tap's hand-over from the workers to the main thread: one bounded
 * single-producer single-consumer ring per worker, so that publishing
 * never takes a lock or waits. A full ring drops the event and counts
 * it; the tap streams say how many were lost.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy.h"
#include "snapshot.h"
#include "tap.h"

#define TAPQ_SIZE 256 /* a power of two */

struct tap_queue {
	uint32_t head; /* next slot the worker writes */
	uint32_t tail; /* next slot the main thread reads */
	struct tap_event ev[TAPQ_SIZE];
};

int
tap_queue_alloc(struct proxy *px)
{
	struct tap_queue **q;
	int i;

	if (px->tapq != NULL)
		return 0;
	if ((q = calloc((size_t)px->nworkers, sizeof(*q))) == NULL)
		return -1;
	for (i = 0; i < px->nworkers; i++) {
		if ((q[i] = calloc(1, sizeof(**q))) == NULL) {
			while (i-- > 0)
				free(q[i]);
			free(q);
			return -1;
		}
	}
	/* Filled before the workers can see it. */
	__atomic_store_n(&px->tapq, q, __ATOMIC_RELEASE);
	return 0;
}

void
tap_queue_free(struct proxy *px)
{
	int i;

	if (px->tapq == NULL)
		return;
	for (i = 0; i < px->nworkers; i++)
		free(px->tapq[i]);
	free(px->tapq);
	px->tapq = NULL;
}

void
tap_publish(struct session *s, uint64_t duration_ns)
{
	struct proxy *px = s->w->px;
	struct http_exchange *hx = &s->hx;
	struct tap_queue **qs, *q;
	struct tap_event *ev;
	struct timespec now;
	uint32_t head, tail;
	const char *src, *src_ns;
	int out = s->direction == METRICS_OUTBOUND;

	if ((qs = __atomic_load_n(&px->tapq, __ATOMIC_ACQUIRE)) == NULL)
		return;
	q = qs[s->w->id];
	head = q->head;
	tail = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
	if (head - tail >= TAPQ_SIZE) {
		__atomic_fetch_add(&px->tap_dropped, 1, __ATOMIC_RELAXED);
		return;
	}
	ev = &q->ev[head % TAPQ_SIZE];
	memset(ev, 0, sizeof(*ev));
	clock_gettime(CLOCK_REALTIME, &now);
	ev->time_ns =
	    (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	if (ev->time_ns > duration_ns)
		ev->time_ns -= duration_ns;
	ev->duration_ns = duration_ns;
	ev->req_bytes = hx->req_bytes;
	ev->resp_bytes = hx->resp_bytes;
	ev->direction = (uint8_t)s->direction;
	ev->rflag = (uint8_t)hx->rflag;
	ev->status = (uint16_t)hx->status;
	ev->mtls = out ? hx->mtls : s->tcpkey.mtls;
	tap_copy(ev->method, sizeof(ev->method), hx->method_str, SIZE_MAX);
	netaddr_str(&s->peer, ev->src_addr, sizeof(ev->src_addr));
	tap_copy(ev->dst_service, sizeof(ev->dst_service),
	    hx->service[0] != '\0' ? hx->service : s->tcpkey.service, SIZE_MAX);
	if (out) {
		tap_copy(ev->src_workload, sizeof(ev->src_workload),
		    px->conf.workload, SIZE_MAX);
		tap_copy(ev->src_namespace, sizeof(ev->src_namespace),
		    px->conf.namespace, SIZE_MAX);
		tap_copy(ev->src_principal, sizeof(ev->src_principal),
		    px->principal, SIZE_MAX);
		if (hx->endpoint != NULL) {
			tap_copy(ev->dst_workload, sizeof(ev->dst_workload),
			    hx->endpoint->workload, SIZE_MAX);
			tap_copy(ev->dst_namespace, sizeof(ev->dst_namespace),
			    hx->endpoint->namespace, SIZE_MAX);
		}
		netaddr_str(&hx->target, ev->dst_addr, sizeof(ev->dst_addr));
	} else {
		tap_copy(ev->src_principal, sizeof(ev->src_principal),
		    s->tcpkey.peer[0] != '\0' ? s->tcpkey.peer : "unknown",
		    SIZE_MAX);
		if ((src = session_source(s, &src_ns)) != NULL) {
			tap_copy(ev->src_workload, sizeof(ev->src_workload),
			    src, SIZE_MAX);
			tap_copy(ev->src_namespace, sizeof(ev->src_namespace),
			    src_ns, SIZE_MAX);
		}
		tap_copy(ev->dst_workload, sizeof(ev->dst_workload),
		    px->conf.workload, SIZE_MAX);
		tap_copy(ev->dst_namespace, sizeof(ev->dst_namespace),
		    px->conf.namespace, SIZE_MAX);
		netaddr_str(&s->orig, ev->dst_addr, sizeof(ev->dst_addr));
	}
	tap_copy(ev->authority, sizeof(ev->authority), hx->authority, SIZE_MAX);
	tap_copy(ev->path, sizeof(ev->path), hx->path, SIZE_MAX);
	tap_copy(ev->route, sizeof(ev->route),
	    hx->route[0] != '\0' ? hx->route : "default", SIZE_MAX);
	tap_copy(
	    ev->request_id, sizeof(ev->request_id), hx->request_id, SIZE_MAX);
	if (hx->trace.valid)
		trace_id_hex(&hx->trace, ev->trace_id);
	else
		ev->trace_id[0] = '\0';
	/* The event is complete before the main thread can see it. */
	__atomic_store_n(&q->head, head + 1, __ATOMIC_RELEASE);
}

size_t
tap_queue_drain(
    struct proxy *px, void (*cb)(const struct tap_event *, void *), void *arg)
{
	struct tap_queue *q;
	uint32_t head, tail;
	size_t n = 0;
	int i;

	if (px->tapq == NULL)
		return 0;
	for (i = 0; i < px->nworkers; i++) {
		q = px->tapq[i];
		head = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
		for (tail = q->tail; tail != head; tail++, n++)
			cb(&q->ev[tail % TAPQ_SIZE], arg);
		__atomic_store_n(&q->tail, tail, __ATOMIC_RELEASE);
	}
	return n;
}
