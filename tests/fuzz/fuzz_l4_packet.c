/*
 * libFuzzer harness for the L4 queue's packet parser
 * (src/proxy/l4_packet.c): any bytes the kernel queues must be read or
 * refused without reading past them, and a prefix that reads as a flow
 * must read as the same flow as the whole packet (the copy range may
 * cut any packet short).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "l4_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l4_flow whole, part;
	const char *why = NULL;
	size_t n;
	int rc;

	rc = l4_packet_parse(data, size, &whole, &why);
	if (rc == -1 && why == NULL)
		abort();
	if (size > 512)
		return 0;
	for (n = 0; n < size; n++) {
		why = NULL;
		if (l4_packet_parse(data, n, &part, &why) == -1) {
			if (why == NULL)
				abort();
			continue;
		}
		if (rc != 0 || memcmp(&part, &whole, sizeof(part)) != 0)
			abort();
	}
	return 0;
}
