/*
 * Socket addresses of the command line and of the X-Peer / X-Local
 * response headers.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testd.h"

int
addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len,
    const char **rest, const char **cause)
{
	struct addrinfo hints, *res;
	char host[256], port[16];
	const char *p, *hend, *pend;
	size_t hlen, plen;
	int error;

	if (rest != NULL)
		*rest = NULL;
	if (s[0] == '[') {
		if ((hend = strchr(s, ']')) == NULL || hend[1] != ':') {
			*cause = "expected [IPv6]:PORT";
			return -1;
		}
		p = s + 1;
		hlen = hend - p;
		pend = hend + 2;
	} else {
		if ((hend = strchr(s, ':')) == NULL) {
			*cause = "expected ADDR:PORT";
			return -1;
		}
		p = s;
		hlen = hend - p;
		pend = hend + 1;
	}
	if (hlen >= sizeof(host)) {
		*cause = "address too long";
		return -1;
	}
	memcpy(host, p, hlen);
	host[hlen] = '\0';

	plen = strcspn(pend, ":");
	if (pend[plen] == ':') {
		if (rest == NULL) {
			*cause = "unexpected text after the port";
			return -1;
		}
		*rest = pend + plen + 1;
	}
	if (plen == 0 || plen >= sizeof(port) ||
	    strspn(pend, "0123456789") != plen) {
		*cause = "bad port";
		return -1;
	}
	memcpy(port, pend, plen);
	port[plen] = '\0';
	if (strtol(port, NULL, 10) > 65535) {
		*cause = "bad port";
		return -1;
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((error = getaddrinfo(
		 hlen == 0 ? NULL : host, port, &hints, &res)) != 0) {
		*cause = gai_strerror(error);
		return -1;
	}
	if (res->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(res);
		*cause = "address too long";
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

void
addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	switch (sa->sa_family) {
	case AF_INET:
		if (len < (socklen_t)sizeof(*sin))
			break;
		sin = (const struct sockaddr_in *)sa;
		if (inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)) ==
		    NULL)
			break;
		snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
		return;
	case AF_INET6:
		if (len < (socklen_t)sizeof(*sin6))
			break;
		sin6 = (const struct sockaddr_in6 *)sa;
		if (inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host)) ==
		    NULL)
			break;
		snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
		return;
	}
	snprintf(buf, size, "unknown");
}
