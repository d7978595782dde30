// SPDX-License-Identifier: MIT
/*
 * The protocol's framing, once for the client and the daemon (wire.h has
 * the model and the result convention).  No locking.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server/wire.h"

/* Room for the credentials and more fds than any message may carry. */
#define WIRE_MAX_FDS 16

static void wire_close(int fd)
{
	syscall(SYS_close, fd);
}

void ufd_wire_init(struct ufd_msg *m, enum ufd_msg_type type)
{
	memset(m, 0, sizeof(*m));
	m->magic = UFD_PROTO_MAGIC;
	m->version = UFD_PROTO_VERSION;
	m->type = (uint16_t)type;
}

int ufd_wire_send(int sock, struct ufd_msg *m, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	m->magic = UFD_PROTO_MAGIC;
	m->version = UFD_PROTO_VERSION;
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(*m) ? 0 : -EPROTO;
}

int ufd_wire_recv(int sock, struct ufd_msg *m, int *fdp, struct ucred *cred,
		  bool *has_cred)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred)) +
			 CMSG_SPACE(WIRE_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	bool got_cred = false;
	int first = -1;
	ssize_t n;

	if (fdp)
		*fdp = -1;
	if (has_cred)
		*has_cred = false;
	do {
		n = (ssize_t)syscall(SYS_recvmsg, sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS) {
			size_t i, nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (i = 0; i < nfd; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(int));
				if (first < 0 && fdp)
					first = fd;
				else
					wire_close(fd);
			}
		} else if (c->cmsg_type == SCM_CREDENTIALS &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			if (cred)
				memcpy(cred, CMSG_DATA(c), sizeof(*cred));
			got_cred = true;
		}
	}
	if (n == 0 && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		if (first >= 0)
			wire_close(first);
		return 0;
	}
	if (n != (ssize_t)sizeof(*m) || (mh.msg_flags & MSG_TRUNC) ||
	    m->magic != UFD_PROTO_MAGIC || m->version != UFD_PROTO_VERSION) {
		if (first >= 0)
			wire_close(first);
		return -EPROTO;
	}
	if (fdp)
		*fdp = first;
	if (has_cred)
		*has_cred = got_cred;
	return 1;
}
