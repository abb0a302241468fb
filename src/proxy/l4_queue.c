/*
 * NFQUEUE through libmnl and libnetfilter_queue (the nfq_nlmsg_* API),
 * and the verdict process (see l4_queue.h). The process is one loop:
 * poll the netlink socket with a timeout, answer every queued packet,
 * and look at the policy DB between packets at most every
 * L4_DB_POLL_MS. Each queued packet is the first of a new flow
 * (weft-init queues conntrack NEW only), so a verdict is one lookup per
 * flow, from the snapshot in force: a new DB version applies to the
 * flows that start after it is loaded.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "l4_queue.h"
#include "l4_verdict.h"
#include "log.h"
#include "policy_db.h"
#include "proxy.h"
#include "snapshot.h"
#include "xmalloc.h"

#define L4_COPY_RANGE  128  /* IPv6, extension headers, TCP header */
#define L4_QUEUE_MAX   4096 /* packets waiting for a verdict */
#define L4_RCVBUF      (4 * 1024 * 1024)
#define L4_DB_POLL_MS  200
#define L4_BATCH       64 /* netlink reads before looking at the DB */
#define L4_MSG_BUF     8192
#define L4_VERDICT_BUF 256 /* header, nfgenmsg, one verdict attribute */
#define L4_RECV_BUF    (128 * 1024)

struct l4_queue {
	struct mnl_socket *nl;
	unsigned int portid;
	int num;
};

/* The verdict process's state. */
struct l4_child {
	struct l4_queue *q;
	struct l4_shared *sh;
	struct policy_db *db;
	struct snapshot *snap;
	uint32_t td_seq;
	char td[256];
	time_t last_log;
	uint64_t unlogged; /* denials and bad packets since the last line */
	char *last_failure;
};

/* Whether this thread has CAP_NET_ADMIN in its effective set. */
static int
l4_queue_net_admin(void)
{
	struct __user_cap_header_struct h;
	struct __user_cap_data_struct d[2];

	memset(&h, 0, sizeof(h));
	memset(d, 0, sizeof(d));
	h.version = _LINUX_CAPABILITY_VERSION_3;
	if (syscall(SYS_capget, &h, d) == -1)
		return 0;
	return (d[0].effective & (1U << CAP_NET_ADMIN)) != 0;
}

/*
 * Sends one config message and waits for its acknowledgement. The
 * kernel answers EPERM both without the capability and for a queue
 * that another socket has bound.
 */
static int
l4_queue_talk(struct l4_queue *q, struct nlmsghdr *nlh, char **cause)
{
	char buf[L4_MSG_BUF];
	unsigned int seq = (unsigned int)time(NULL);
	ssize_t n;
	int e;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) == -1 ||
	    (n = mnl_socket_recvfrom(q->nl, buf, sizeof(buf))) == -1 ||
	    mnl_cb_run(buf, (size_t)n, seq, q->portid, NULL, NULL) == -1) {
		e = errno;
		xasprintf(cause, "NFQUEUE %d: %s%s", q->num, strerror(e),
		    e != EPERM                 ? ""
			: l4_queue_net_admin() ? " (another process reads this "
						 "queue)"
					       : " (binding a queue needs "
						 "CAP_NET_ADMIN: start as root "
						 "with --uid, or grant the "
						 "capability)");
		return -1;
	}
	return 0;
}

struct l4_queue *
l4_queue_open(int num, int fail_open, char **cause)
{
	char buf[L4_MSG_BUF];
	struct l4_queue *q;
	struct nlmsghdr *nlh;
	uint32_t flags;
	int size = L4_RCVBUF;

	q = xcalloc(1, sizeof(*q));
	q->num = num;
	if ((q->nl = mnl_socket_open(NETLINK_NETFILTER)) == NULL) {
		xasprintf(cause, "NFQUEUE %d: netlink socket: %s", num,
		    strerror(errno));
		free(q);
		return NULL;
	}
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) == -1) {
		xasprintf(cause, "NFQUEUE %d: netlink bind: %s", num,
		    strerror(errno));
		l4_queue_free(q);
		return NULL;
	}
	q->portid = mnl_socket_get_portid(q->nl);

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, (uint32_t)num);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (l4_queue_talk(q, nlh, cause) == -1) {
		l4_queue_free(q);
		return NULL;
	}
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, (uint32_t)num);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, L4_COPY_RANGE);
	flags = NFQA_CFG_F_GSO | (fail_open ? NFQA_CFG_F_FAIL_OPEN : 0);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(
	    nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
	nfq_nlmsg_cfg_put_qmaxlen(nlh, L4_QUEUE_MAX);
	if (l4_queue_talk(q, nlh, cause) == -1) {
		l4_queue_free(q);
		return NULL;
	}
	/* Lost messages are packets left without a verdict: say so, keep
	 * reading (ENOBUFS), with a buffer that makes them rare. */
	if (setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVBUFFORCE,
		&size, sizeof(size)) == -1)
		(void)setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET,
		    SO_RCVBUF, &size, sizeof(size));
	return q;
}

void
l4_queue_free(struct l4_queue *q)
{
	if (q == NULL)
		return;
	if (q->nl != NULL)
		mnl_socket_close(q->nl);
	free(q);
}

struct l4_shared *
l4_shared_new(void)
{
	struct l4_shared *sh;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		fatal("mmap of the L4 counters");
	return sh;
}

void
l4_shared_trust_domain(struct l4_shared *sh, const char *td)
{
	uint32_t seq = __atomic_load_n(&sh->td_seq, __ATOMIC_RELAXED);

	__atomic_store_n(&sh->td_seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	snprintf(sh->trust_domain, sizeof(sh->trust_domain), "%s",
	    td != NULL ? td : "cluster.local");
	__atomic_store_n(&sh->td_seq, seq + 2, __ATOMIC_RELEASE);
}

/* The trust domain, when the proxy changed it (a few tries at most). */
static void
l4_child_trust_domain(struct l4_child *c)
{
	char td[sizeof(c->td)];
	uint32_t s1, s2;
	int i;

	for (i = 0; i < 4; i++) {
		s1 = __atomic_load_n(&c->sh->td_seq, __ATOMIC_ACQUIRE);
		if (s1 == c->td_seq)
			return;
		if (s1 & 1)
			continue;
		memcpy(td, c->sh->trust_domain, sizeof(td));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&c->sh->td_seq, __ATOMIC_RELAXED);
		if (s1 != s2)
			continue;
		td[sizeof(td) - 1] = '\0';
		memcpy(c->td, td, sizeof(td));
		c->td_seq = s1;
		return;
	}
}

int
l4_queue_caps(int net_admin)
{
	struct __user_cap_header_struct h;
	struct __user_cap_data_struct d[2];
	uint32_t want = net_admin ? 1U << CAP_NET_ADMIN : 0;

	memset(&h, 0, sizeof(h));
	memset(d, 0, sizeof(d));
	h.version = _LINUX_CAPABILITY_VERSION_3;
	d[0].effective = d[0].permitted = want;
	if (syscall(SYS_capset, &h, d) == -1)
		return -1;
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) == -1)
		return -1;
	if (d[0].effective != want || d[0].permitted != want ||
	    d[1].effective != 0 || d[1].permitted != 0 ||
	    d[0].inheritable != 0 || d[1].inheritable != 0) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/*
 * The child: the proxy uid, CAP_NET_ADMIN and nothing else. A uid
 * change clears the parent-death signal: it is set again after.
 */
static void
l4_child_privileges(const struct proxy_conf *conf, pid_t parent)
{
	uid_t r, e, s;

	if (geteuid() == 0) {
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1 ||
		    setgroups(0, NULL) == -1 ||
		    setresgid(conf->gid, conf->gid, conf->gid) == -1 ||
		    setresuid(conf->uid, conf->uid, conf->uid) == -1)
			fatal("L4 verdicts: cannot drop privileges to uid %u",
			    (unsigned int)conf->uid);
		if (getresuid(&r, &e, &s) == -1 || r != conf->uid ||
		    e != conf->uid || s != conf->uid)
			fatalx("L4 verdicts: privileges were not dropped");
	}
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (l4_queue_caps(1) == -1)
		fatal("L4 verdicts: cannot keep CAP_NET_ADMIN alone");
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == -1 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		fatal("L4 verdicts: prctl");
	if (getppid() != parent)
		_exit(1);
}

/* A new snapshot when the DB changed; a failed load keeps the old one. */
static void
l4_child_reload(struct l4_child *c)
{
	struct snapshot *snap;
	char *cause = NULL;
	int64_t version;
	int r;

	r = policy_db_changed(c->db, &cause);
	if (r == 1) {
		if (policy_db_version(c->db, &version, &cause) == 0 &&
		    (snap = policy_db_load(c->db, &cause)) != NULL) {
			if (c->snap != NULL)
				snapshot_unref(c->snap);
			c->snap = snap;
			free(c->last_failure);
			c->last_failure = NULL;
			log_debug("L4 verdicts: policy version %lld",
			    (long long)snapshot_version(snap));
			return;
		}
		r = -1;
	}
	if (r == -1) {
		/* The proxy logs reload failures; the child, once each. */
		if (c->last_failure == NULL ||
		    strcmp(c->last_failure, cause) != 0) {
			log_warnx("L4 verdicts: policy reload failed, keeping "
				  "the policy in force: %s",
			    cause);
			free(c->last_failure);
			c->last_failure = cause;
			cause = NULL;
		}
	}
	free(cause);
}

/* At most one line a second, with the count of those left out. */
static int
l4_child_may_log(struct l4_child *c, char *more, size_t len)
{
	time_t now = time(NULL);

	more[0] = '\0';
	if (now == c->last_log) {
		c->unlogged++;
		return 0;
	}
	if (c->unlogged > 0)
		snprintf(more, len, " (and %llu more not logged)",
		    (unsigned long long)c->unlogged);
	c->last_log = now;
	c->unlogged = 0;
	return 1;
}

static void
l4_child_count(struct l4_child *c, enum metrics_l4 what)
{
	uint64_t *p = &c->sh->counters[what];

	__atomic_store_n(
	    p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* The verdict on one queued packet: 1 accept, 0 drop. */
static int
l4_child_judge(struct l4_child *c, const uint8_t *pkt, size_t len, int hook)
{
	struct authz_decision d;
	struct l4_flow f;
	const char *why;
	char principal[320], line[768], more[64];
	enum l4_dir dir;

	if (l4_packet_parse(pkt, len, &f, &why) == -1) {
		l4_child_count(c, METRICS_L4_MALFORMED);
		if (l4_child_may_log(c, more, sizeof(more)))
			log_warnx("L4: dropped a queued packet of %zu bytes: "
				  "%s%s",
			    len, why, more);
		return 0;
	}
	dir = hook == NF_INET_LOCAL_OUT || hook == NF_INET_POST_ROUTING
	    ? L4_OUTBOUND
	    : L4_INBOUND;
	if (l4_decide(
		c->snap, &f, dir, c->td, &d, principal, sizeof(principal))) {
		l4_child_count(c, METRICS_L4_ACCEPT);
		return 1;
	}
	l4_child_count(c, METRICS_L4_DENY);
	if (l4_child_may_log(c, more, sizeof(more))) {
		l4_deny_text(c->snap, &f, principal, &d, line, sizeof(line));
		log_info("L4 flow denied: %s%s", line, more);
	}
	return 0;
}

static void
l4_child_verdict(struct l4_child *c, uint32_t id, int accept)
{
	char buf[L4_VERDICT_BUF];
	struct nlmsghdr *nlh;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, (uint32_t)c->q->num);
	nfq_nlmsg_verdict_put(nlh, (int)id, accept ? NF_ACCEPT : NF_DROP);
	if (mnl_socket_sendto(c->q->nl, nlh, nlh->nlmsg_len) == -1)
		log_warn("L4: verdict on packet %u", id);
}

static int
l4_child_packet_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct l4_child *c = arg;
	struct nlattr *attr[NFQA_MAX + 1];
	struct nfqnl_msg_packet_hdr *ph;
	const uint8_t *pkt = NULL;
	size_t len = 0;

	memset(attr, 0, sizeof(attr));
	if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL ||
	    mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof(*ph)) {
		log_warnx("L4: a queue message without a packet header");
		return MNL_CB_OK;
	}
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	if (attr[NFQA_PAYLOAD] != NULL) {
		pkt = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
		len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	}
	l4_child_verdict(
	    c, ntohl(ph->packet_id), l4_child_judge(c, pkt, len, ph->hook));
	return MNL_CB_OK;
}

/* Reads what is queued, at most L4_BATCH datagrams. */
static void
l4_child_read(struct l4_child *c, char *buf, size_t size)
{
	ssize_t n;
	int i;

	for (i = 0; i < L4_BATCH; i++) {
		n = recv(mnl_socket_get_fd(c->q->nl), buf, size, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == ENOBUFS) {
				log_warnx("L4: netlink overrun: some queued "
					  "packets wait without a verdict");
				continue;
			}
			if (errno != EAGAIN && errno != EINTR)
				log_warn("L4: netlink receive");
			return;
		}
		if (mnl_cb_run(buf, (size_t)n, 0, c->q->portid,
			l4_child_packet_cb, c) == -1)
			log_warn("L4: netlink message");
	}
}

static void __attribute__((noreturn))
l4_child_main(struct l4_queue *q, const struct proxy_conf *conf,
    struct l4_shared *sh, pid_t parent, int ready)
{
	static char buf[L4_RECV_BUF];
	struct l4_child c;
	struct pollfd pfd;
	struct timespec now, next = {0, 0};

	log_init("weft-proxy[l4]", conf->log_level);
	l4_child_privileges(conf, parent);
	memset(&c, 0, sizeof(c));
	c.q = q;
	c.sh = sh;
	snprintf(c.td, sizeof(c.td), "cluster.local");
	c.db = policy_db_new(conf->db_path);
	policy_db_identity(c.db, conf->namespace, conf->labels);
	pfd.fd = mnl_socket_get_fd(q->nl);
	pfd.events = POLLIN;
	l4_child_reload(&c);
	log_info("L4 verdicts on NFQUEUE %d (fail %s when full), uid %u, "
		 "CAP_NET_ADMIN only",
	    q->num, conf->l4_fail_open ? "open" : "closed",
	    (unsigned int)geteuid());
	/* The proxy waits for this before it serves. */
	if (write(ready, "r", 1) != 1)
		_exit(1);
	close(ready);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > next.tv_sec ||
		    (now.tv_sec == next.tv_sec &&
			now.tv_nsec >= next.tv_nsec)) {
			l4_child_reload(&c);
			l4_child_trust_domain(&c);
			next = now;
			next.tv_nsec += L4_DB_POLL_MS * 1000000L;
			if (next.tv_nsec >= 1000000000L) {
				next.tv_sec++;
				next.tv_nsec -= 1000000000L;
			}
		}
		if (poll(&pfd, 1, L4_DB_POLL_MS) == -1 && errno != EINTR)
			fatal("L4 verdicts: poll");
		if (pfd.revents & POLLIN)
			l4_child_read(&c, buf, sizeof(buf));
	}
}

pid_t
l4_queue_spawn(
    struct l4_queue *q, const struct proxy_conf *conf, struct l4_shared *sh)
{
	pid_t parent = getpid(), pid;
	ssize_t n;
	int fds[2];
	char c = 0;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		log_warn("L4 verdicts: pipe");
		return -1;
	}
	fflush(stderr);
	if ((pid = fork()) == -1) {
		log_warn("L4 verdicts: fork");
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid > 0) {
		/* A child that fails to start closes the pipe unwritten. */
		close(fds[1]);
		do
			n = read(fds[0], &c, 1);
		while (n == -1 && errno == EINTR);
		close(fds[0]);
		if (n != 1 || c != 'r') {
			log_warnx("L4 verdicts: the verdict process did not "
				  "start");
			return -1;
		}
		return pid;
	}
	close(fds[0]);
	/* Dies with the proxy: then the queue has no reader (fail closed
	 * unless weft-init gave the rules --queue-bypass). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != parent)
		_exit(1);
	/* The proxy ends it (SIGTERM) after its drain: a ^C or a hangup
	 * of the terminal's process group is the proxy's business. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	l4_child_main(q, conf, sh, parent, fds[1]);
}
