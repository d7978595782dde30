/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the server-mode tests: thin ioctl wrappers over the iommufd
 * uAPI and the selftest's IOMMU_TEST_CMD, and fd passing.  Each returns 0
 * or -errno.  The tests run under uiommufd-run; those that need the
 * daemon skip (exit 77) in in-process mode.
 */
#ifndef UFD_TESTS_SERVER_COMMON_H
#define UFD_TESTS_SERVER_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#include "../unit/harness.h"

#define PAGE 4096UL

static inline int server_mode(void)
{
	const char *m = getenv("UIOMMUFD_MODE");

	return m && !strcmp(m, "server");
}

static inline int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? -errno : 0;
}

static inline int ioas_alloc(int fd, uint32_t *id)
{
	struct iommu_ioas_alloc c = { .size = sizeof(c) };
	int rc = xioctl(fd, IOMMU_IOAS_ALLOC, &c);

	*id = c.out_ioas_id;
	return rc;
}

static inline int destroy(int fd, uint32_t id)
{
	struct iommu_destroy c = { .size = sizeof(c), .id = id };

	return xioctl(fd, IOMMU_DESTROY, &c);
}

static inline int ioas_map(int fd, uint32_t ioas, void *va, uint64_t len,
			   uint64_t iova)
{
	struct iommu_ioas_map c = {
		.size = sizeof(c),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};

	return xioctl(fd, IOMMU_IOAS_MAP, &c);
}

static inline int ioas_unmap(int fd, uint32_t ioas, uint64_t iova,
			     uint64_t len)
{
	struct iommu_ioas_unmap c = {
		.size = sizeof(c), .ioas_id = ioas, .iova = iova, .length = len,
	};

	return xioctl(fd, IOMMU_IOAS_UNMAP, &c);
}

static inline int create_access(int fd, uint32_t ioas, uint32_t flags,
				int *access_fd)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_CREATE_ACCESS,
		.id = ioas,
		.create_access = { .flags = flags },
	};
	int rc = xioctl(fd, IOMMU_TEST_CMD, &c);

	*access_fd = (int)c.create_access.out_access_fd;
	return rc;
}

static inline int access_rw(int fd, int access_fd, uint64_t iova, void *buf,
			    uint64_t len, uint32_t flags)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_ACCESS_RW,
		.id = (uint32_t)access_fd,
		.access_rw = { .iova = iova, .length = len,
			       .uptr = (uintptr_t)buf, .flags = flags },
	};

	return xioctl(fd, IOMMU_TEST_CMD, &c);
}

static inline int access_pages(int fd, int access_fd, uint64_t iova,
			       uint64_t len, void *uptr, uint32_t *id)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_ACCESS_PAGES,
		.id = (uint32_t)access_fd,
		.access_pages = { .iova = iova, .length = len,
				  .uptr = (uintptr_t)uptr },
	};
	int rc = xioctl(fd, IOMMU_TEST_CMD, &c);

	*id = c.access_pages.out_access_pages_id;
	return rc;
}

static inline int destroy_access_pages(int fd, int access_fd, uint32_t id)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
		.id = (uint32_t)access_fd,
		.destroy_access_pages = { .access_pages_id = id },
	};

	return xioctl(fd, IOMMU_TEST_CMD, &c);
}

static inline int check_refs(int fd, void *uptr, uint64_t len, uint32_t refs)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_MD_CHECK_REFS,
		.check_refs = { .length = len, .uptr = (uintptr_t)uptr,
				.refs = refs },
	};

	return xioctl(fd, IOMMU_TEST_CMD, &c);
}

/* Pins on [uptr, uptr + len) as seen through a fresh /dev/iommu. */
static inline int refs_now(void *uptr, uint64_t len, uint32_t refs)
{
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	rc = check_refs(fd, uptr, len, refs);
	close(fd);
	return rc;
}

/* Send @len bytes of @buf, with @fd attached if >= 0, over @sock. */
static inline int send_buf_fd(int sock, const void *buf, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

/* Send @fd (and 4 bytes of @data) over unix socket @sock. */
static inline int send_fd(int sock, int fd, uint32_t data)
{
	return send_buf_fd(sock, &data, sizeof(data), fd);
}

/* Receive what send_fd() sent: the new fd (or -1) and the data. */
static inline int recv_fd(int sock, uint32_t *data)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(*data) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	int fd = -1;

	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != sizeof(*data))
		return -EIO;
	c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

#endif
