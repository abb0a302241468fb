#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4.h>
#include <string.h>

#include "proxy.h"

/* From linux/netfilter_ipv6/ip6_tables.h, which clashes with netinet/in.h. */
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

int
origdst_get(int fd, int family, struct sockaddr_storage *dst, socklen_t *len)
{
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);

	memset(dst, 0, sizeof(*dst));
	if (family == AF_INET) {
		*len = sizeof(struct sockaddr_in);
		if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, dst, len) == -1)
			return -1;
	} else {
		*len = sizeof(struct sockaddr_in6);
		if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, dst, len) ==
		    -1)
			return -1;
	}
	/*
	 * A connection made straight to the listener has itself as original
	 * destination: forwarding it would loop back into the proxy.
	 */
	if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0 &&
	    netaddr_eq(&local, dst))
		return -1;
	return 0;
}
