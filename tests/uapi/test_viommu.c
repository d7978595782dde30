/* SPDX-License-Identifier: MIT */
/*
 * The vIOMMU family through /dev/iommu, as a program sees it: the
 * errnos of VIOMMU_ALLOC, VDEVICE_ALLOC, VEVENTQ_ALLOC and HW_QUEUE_ALLOC
 * and their lifetimes (what is busy while what exists, a vdevice whose
 * device went first), a vEVENTQ fd (read sizes, poll, lost events; it is
 * a file: dup and fork share it, the queue lives until its last copy is
 * closed), and the mock vIOMMU's page mapped through the /dev/iommu fd
 * (busy while mapped, also after a partial munmap).  Run
 * linked, and under the launcher in both modes.  Single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#include "../unit/harness.h"

#define PS 4096UL

static int fd = -1;
static uint8_t *buf;

/* Under the launcher's daemon (state shared across fork)? */
static bool server_mode(void)
{
	const char *mode = getenv("UIOMMUFD_MODE");

	return mode && !strcmp(mode, "server");
}

struct fix {
	uint32_t ioas, stdev, dev, parent, viommu, nested;
};

static int test_cmd(struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return ioctl(fd, IOMMU_TEST_CMD, cmd) ? -errno : 0;
}

static int replace(uint32_t stdev, uint32_t pt)
{
	struct iommu_test_cmd cmd = { .op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
				      .id = stdev };

	cmd.mock_domain_replace.pt_id = pt;
	return test_cmd(&cmd);
}

static int trigger(uint32_t dev)
{
	struct iommu_test_cmd cmd = { .op = IOMMU_TEST_OP_TRIGGER_VEVENT };

	cmd.trigger_vevent.dev_id = dev;
	return test_cmd(&cmd);
}

static int destroy(uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(fd, IOMMU_DESTROY, &cmd) ? -errno : 0;
}

static int viommu_alloc(uint32_t dev, uint32_t hwpt, uint32_t type,
			void *data, uint32_t len, uint32_t *out)
{
	struct iommu_viommu_alloc cmd = {
		.size = sizeof(cmd), .type = type, .dev_id = dev,
		.hwpt_id = hwpt, .data_uptr = (uintptr_t)data, .data_len = len,
	};

	if (ioctl(fd, IOMMU_VIOMMU_ALLOC, &cmd))
		return -errno;
	*out = cmd.out_viommu_id;
	return 0;
}

static int vdevice_alloc(uint32_t viommu, uint32_t dev, uint64_t virt,
			 uint32_t *out)
{
	struct iommu_vdevice_alloc cmd = { .size = sizeof(cmd),
					   .viommu_id = viommu,
					   .dev_id = dev,
					   .virt_id = virt };

	if (ioctl(fd, IOMMU_VDEVICE_ALLOC, &cmd))
		return -errno;
	*out = cmd.out_vdevice_id;
	return 0;
}

static int veventq_alloc(uint32_t viommu, uint32_t depth, uint32_t *id,
			 int *qfd)
{
	struct iommu_veventq_alloc cmd = { .size = sizeof(cmd),
					   .viommu_id = viommu,
					   .type = IOMMU_VEVENTQ_TYPE_SELFTEST,
					   .veventq_depth = depth };

	if (ioctl(fd, IOMMU_VEVENTQ_ALLOC, &cmd))
		return -errno;
	*id = cmd.out_veventq_id;
	*qfd = (int)cmd.out_veventq_fd;
	return 0;
}

static int hw_queue_alloc(uint32_t viommu, uint32_t type, uint32_t index,
			  uint64_t iova, uint64_t len, uint32_t *out)
{
	struct iommu_hw_queue_alloc cmd = {
		.size = sizeof(cmd), .viommu_id = viommu, .type = type,
		.index = index, .nesting_parent_iova = iova, .length = len,
	};

	if (ioctl(fd, IOMMU_HW_QUEUE_ALLOC, &cmd))
		return -errno;
	*out = cmd.out_hw_queue_id;
	return 0;
}

/* Pass @fd through a unix socket: the received copy's number. */
static int pass_fd(int fdin)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int sv[2], out = -1;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fdin, sizeof(int));
	if (sendmsg(sv[0], &msg, 0) == 1 && recvmsg(sv[1], &msg, 0) == 1 &&
	    (c = CMSG_FIRSTHDR(&msg)) && c->cmsg_type == SCM_RIGHTS)
		memcpy(&out, CMSG_DATA(c), sizeof(int));
	close(sv[0]);
	close(sv[1]);
	return out;
}

static bool fix_setup(struct fix *f)
{
	struct iommu_ioas_alloc ia = { .size = sizeof(ia) };
	struct iommu_test_cmd md = { .op = IOMMU_TEST_OP_MOCK_DOMAIN };
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	struct iommu_hwpt_alloc ha = { .size = sizeof(ha) };

	memset(f, 0, sizeof(*f));
	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0 || ioctl(fd, IOMMU_IOAS_ALLOC, &ia))
		return false;
	f->ioas = ia.out_ioas_id;
	md.id = f->ioas;
	if (test_cmd(&md))
		return false;
	f->stdev = md.mock_domain.out_stdev_id;
	f->dev = md.mock_domain.out_idev_id;
	ha.dev_id = f->dev;
	ha.pt_id = f->ioas;
	ha.flags = IOMMU_HWPT_ALLOC_NEST_PARENT;
	if (ioctl(fd, IOMMU_HWPT_ALLOC, &ha))
		return false;
	f->parent = ha.out_hwpt_id;
	if (viommu_alloc(f->dev, f->parent, IOMMU_VIOMMU_TYPE_SELFTEST, NULL,
			 0, &f->viommu))
		return false;
	memset(&ha, 0, sizeof(ha));
	ha.size = sizeof(ha);
	ha.dev_id = f->dev;
	ha.pt_id = f->viommu;
	ha.data_type = IOMMU_HWPT_DATA_SELFTEST;
	ha.data_uptr = (uintptr_t)&data;
	ha.data_len = sizeof(data);
	if (ioctl(fd, IOMMU_HWPT_ALLOC, &ha))
		return false;
	f->nested = ha.out_hwpt_id;
	return true;
}

static void fix_close(void)
{
	close(fd);
	fd = -1;
}

static void test_alloc_errors(void)
{
	struct iommu_viommu_selftest data = { .in_data = 7 };
	uint32_t id, plain;
	struct iommu_hwpt_alloc ha = { .size = sizeof(ha) };
	struct fix f;

	REQUIRE(fix_setup(&f));
	CHECK_EQ(viommu_alloc(f.dev, f.parent, IOMMU_VIOMMU_TYPE_DEFAULT, NULL,
			      0, &id),
		 -EOPNOTSUPP);
	CHECK_EQ(viommu_alloc(f.dev, f.parent, 0xdead, NULL, 0, &id),
		 -EOPNOTSUPP);
	CHECK_EQ(viommu_alloc(0, f.parent, IOMMU_VIOMMU_TYPE_SELFTEST, NULL, 0,
			      &id),
		 -ENOENT);
	CHECK_EQ(viommu_alloc(f.dev, 0, IOMMU_VIOMMU_TYPE_SELFTEST, NULL, 0,
			      &id),
		 -ENOENT);
	CHECK_EQ(viommu_alloc(f.dev, f.viommu, IOMMU_VIOMMU_TYPE_SELFTEST,
			      NULL, 0, &id),
		 -ENOENT);
	ha.dev_id = f.dev;
	ha.pt_id = f.ioas;
	REQUIRE(ioctl(fd, IOMMU_HWPT_ALLOC, &ha) == 0);
	plain = ha.out_hwpt_id;
	CHECK_EQ(viommu_alloc(f.dev, plain, IOMMU_VIOMMU_TYPE_SELFTEST, NULL,
			      0, &id),
		 -EINVAL);
	CHECK_EQ(destroy(plain), 0);
	/* Driver data: at least up to out_data; a longer tail must be 0. */
	CHECK_EQ(viommu_alloc(f.dev, f.parent, IOMMU_VIOMMU_TYPE_SELFTEST,
			      &data, 4, &id),
		 -EINVAL);
	CHECK_EQ(viommu_alloc(f.dev, f.parent, IOMMU_VIOMMU_TYPE_SELFTEST,
			      &data, 8, &id),
		 0);
	CHECK_EQ(data.out_data, 7);
	CHECK_EQ(destroy(id), 0);

	CHECK_EQ(destroy(f.parent), -EBUSY);
	CHECK_EQ(destroy(f.viommu), -EBUSY); /* the nested HWPT */
	CHECK_EQ(vdevice_alloc(0, f.dev, 1, &id), -ENOENT);
	CHECK_EQ(vdevice_alloc(f.viommu, 0, 1, &id), -ENOENT);
	fix_close();
}

static void test_vdevice_and_tombstone(void)
{
	uint32_t vd, id, other;
	struct iommu_ioas_alloc ia = { .size = sizeof(ia) };
	struct fix f;

	REQUIRE(fix_setup(&f));
	CHECK_EQ(replace(f.stdev, f.nested), -ENOENT); /* no vdevice yet */
	REQUIRE(vdevice_alloc(f.viommu, f.dev, 0x99, &vd) == 0);
	CHECK_EQ(vdevice_alloc(f.viommu, f.dev, 0x98, &id), -EEXIST);
	CHECK_EQ(destroy(f.viommu), -EBUSY);
	CHECK_EQ(replace(f.stdev, f.nested), 0);
	CHECK_EQ(destroy(f.nested), -EBUSY);
	CHECK_EQ(replace(f.stdev, f.ioas), 0);
	/* The device goes first: the vdevice ID is never found again. */
	CHECK_EQ(destroy(f.stdev), 0);
	CHECK_EQ(destroy(vd), -ENOENT);
	REQUIRE(ioctl(fd, IOMMU_IOAS_ALLOC, &ia) == 0);
	other = ia.out_ioas_id;
	CHECK(other != vd);
	CHECK_EQ(destroy(f.nested), 0);
	CHECK_EQ(destroy(f.viommu), 0);
	CHECK_EQ(destroy(f.parent), 0);
	fix_close();
}

static void test_veventq(void)
{
	const size_t ev = sizeof(struct iommufd_vevent_header) +
			  sizeof(struct iommu_viommu_event_selftest);
	struct iommufd_vevent_header hdr;
	struct iommu_viommu_event_selftest e;
	uint32_t q, id, vd;
	uint8_t out[64];
	struct pollfd pfd;
	int qfd, qfd2, st;
	pid_t pid;
	struct fix f;

	REQUIRE(fix_setup(&f));
	CHECK_EQ(veventq_alloc(f.viommu, 0, &id, &qfd), -EINVAL);
	CHECK_EQ(veventq_alloc(f.viommu, (1u << 19) + 1, &id, &qfd), -EINVAL);
	CHECK_EQ(veventq_alloc(0, 2, &id, &qfd), -ENOENT);
	REQUIRE(veventq_alloc(f.viommu, 2, &q, &qfd) == 0);
	CHECK_EQ(veventq_alloc(f.viommu, 2, &id, &qfd2), -EEXIST);
	CHECK(fcntl(qfd, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ(read(qfd, out, 0), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(read(qfd, out, 7), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(read(qfd, out, sizeof(out)), 0);

	/* No event without a vdevice on the nested HWPT's vIOMMU. */
	CHECK_EQ(trigger(f.dev), -ENOENT);
	REQUIRE(vdevice_alloc(f.viommu, f.dev, 0x77, &vd) == 0);
	REQUIRE(replace(f.stdev, f.nested) == 0);
	CHECK_EQ(trigger(f.dev), 0);
	pfd = (struct pollfd){ .fd = qfd, .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 1000), 1);
	CHECK_EQ(read(qfd, out, sizeof(hdr)), -1); /* the data does not fit */
	CHECK_EQ(errno, EINVAL);

	/* A dup in a child reads it; the parent's queue sees it gone. */
	qfd2 = dup(qfd);
	REQUIRE(qfd2 >= 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (!pid) {
		ssize_t n = read(qfd2, out, sizeof(out));

		memcpy(&e, out + sizeof(hdr), sizeof(e));
		_exit(n == (ssize_t)ev && e.virt_id == 0x77 ? 0 : 1);
	}
	REQUIRE(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* In process, the child read a copy of the state. */
	CHECK_EQ(read(qfd, out, sizeof(out)), server_mode() ? 0 : (long)ev);

	/* Three into two: a lost-events header after the two. */
	CHECK_EQ(trigger(f.dev), 0);
	CHECK_EQ(trigger(f.dev), 0);
	CHECK_EQ(trigger(f.dev), 0);
	CHECK_EQ(read(qfd, out, sizeof(out)), (long)(2 * ev + sizeof(hdr)));
	memcpy(&hdr, out, sizeof(hdr));
	CHECK_EQ(hdr.sequence, 1);
	CHECK_EQ(hdr.flags, 0);
	memcpy(&hdr, out + 2 * ev, sizeof(hdr));
	CHECK_EQ(hdr.flags, IOMMU_VEVENTQ_FLAG_LOST_EVENTS);
	CHECK_EQ(hdr.sequence, 3);

	/*
	 * A copy passed with SCM_RIGHTS is the same queue (server mode: in
	 * process, a received fd is not recognised, as for fault queues).
	 */
	if (server_mode()) {
		int qfd3 = pass_fd(qfd);

		REQUIRE(qfd3 >= 0);
		CHECK_EQ(trigger(f.dev), 0);
		CHECK_EQ(read(qfd3, out, sizeof(out)), (long)ev);
		CHECK_EQ(read(qfd, out, sizeof(out)), 0);
		close(qfd3);
	}

	/* Held by its fd: destroy waits for the last copy. */
	CHECK_EQ(destroy(q), -EBUSY);
	close(qfd);
	CHECK_EQ(destroy(q), -EBUSY);
	close(qfd2);
	CHECK_EQ(destroy(q), 0);
	CHECK_EQ(replace(f.stdev, f.ioas), 0);
	CHECK_EQ(destroy(vd), 0);
	fix_close();
}

static void test_hw_queue(void)
{
	struct iommu_ioas_map map = { .size = sizeof(map) };
	struct iommu_ioas_unmap unmap = { .size = sizeof(unmap) };
	uint64_t iova = MOCK_APERTURE_START;
	uint32_t q0, q1, id;
	struct fix f;

	REQUIRE(fix_setup(&f));
	CHECK_EQ(hw_queue_alloc(f.viommu, IOMMU_HW_QUEUE_TYPE_DEFAULT, 0, iova,
				PS, &id),
		 -EOPNOTSUPP);
	CHECK_EQ(hw_queue_alloc(f.viommu, IOMMU_HW_QUEUE_TYPE_SELFTEST, 0,
				iova, 0, &id),
		 -EINVAL);
	CHECK_EQ(hw_queue_alloc(f.viommu, IOMMU_HW_QUEUE_TYPE_SELFTEST, 0,
				~0ULL, PS, &id),
		 -EOVERFLOW);
	CHECK_EQ(hw_queue_alloc(0, IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova, PS,
				&id),
		 -ENOENT);
	CHECK_EQ(hw_queue_alloc(f.viommu, IOMMU_HW_QUEUE_TYPE_SELFTEST, 0,
				iova, PS, &id),
		 -ENOENT);
	map.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
		    IOMMU_IOAS_MAP_WRITEABLE;
	map.ioas_id = f.ioas;
	map.user_va = (uintptr_t)buf;
	map.length = PS;
	map.iova = iova;
	REQUIRE(ioctl(fd, IOMMU_IOAS_MAP, &map) == 0);
	CHECK_EQ(hw_queue_alloc(f.viommu, IOMMU_HW_QUEUE_TYPE_SELFTEST, 1,
				iova, PS, &id),
		 -EIO);
	REQUIRE(hw_queue_alloc(f.viommu, IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova,
			       PS, &q0) == 0);
	unmap.ioas_id = f.ioas;
	unmap.iova = iova;
	unmap.length = PS;
	CHECK_EQ(ioctl(fd, IOMMU_IOAS_UNMAP, &unmap), -1);
	CHECK_EQ(errno, EBUSY);
	REQUIRE(hw_queue_alloc(f.viommu, IOMMU_HW_QUEUE_TYPE_SELFTEST, 1,
			       iova + 8, 8, &q1) == 0);
	CHECK_EQ(destroy(q0), -EBUSY);
	CHECK_EQ(destroy(f.viommu), -EBUSY);
	CHECK_EQ(destroy(q1), 0);
	CHECK_EQ(destroy(q0), 0);
	CHECK_EQ(ioctl(fd, IOMMU_IOAS_UNMAP, &unmap), 0);
	/* Closing the context with a queue alive releases its pin. */
	REQUIRE(ioctl(fd, IOMMU_IOAS_MAP, &map) == 0);
	REQUIRE(hw_queue_alloc(f.viommu, IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova,
			       PS, &q0) == 0);
	fix_close();
}

static void test_invalidate(void)
{
	struct iommu_viommu_invalidate_selftest req[2] = {
		{ .vdev_id = 0x99, .cache_id = 1 },
		{ .vdev_id = 0x98, .cache_id = 2 },
	};
	struct iommu_hwpt_invalidate cmd = {
		.size = sizeof(cmd),
		.data_uptr = (uintptr_t)req,
		.data_type = IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
		.entry_len = sizeof(req[0]),
		.entry_num = 2,
	};
	struct iommu_test_cmd chk = { .op = IOMMU_TEST_OP_DEV_CHECK_CACHE };
	uint32_t vd;
	struct fix f;

	REQUIRE(fix_setup(&f));
	REQUIRE(vdevice_alloc(f.viommu, f.dev, 0x99, &vd) == 0);
	cmd.hwpt_id = f.viommu;
	/* The second names no vdevice: the first is done, then -EINVAL. */
	CHECK_EQ(ioctl(fd, IOMMU_HWPT_INVALIDATE, &cmd), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(cmd.entry_num, 1);
	chk.id = f.dev;
	chk.check_dev_cache.id = 1;
	chk.check_dev_cache.cache = 0;
	CHECK_EQ(test_cmd(&chk), 0);
	chk.check_dev_cache.id = 2;
	chk.check_dev_cache.cache = IOMMU_TEST_DEV_CACHE_DEFAULT;
	CHECK_EQ(test_cmd(&chk), 0);

	/* Longer entries: a zero tail is fine, anything else -E2BIG. */
	{
		uint32_t big[2][4] = { { 0, 0x99, 2, 0 }, { 0, 0x99, 3, 5 } };

		cmd.data_uptr = (uintptr_t)big;
		cmd.entry_len = sizeof(big[0]);
		cmd.entry_num = 2;
		CHECK_EQ(ioctl(fd, IOMMU_HWPT_INVALIDATE, &cmd), -1);
		CHECK_EQ(errno, E2BIG);
		CHECK_EQ(cmd.entry_num, 0); /* all read before any is done */
		big[1][3] = 0;
		cmd.entry_num = 2;
		CHECK_EQ(ioctl(fd, IOMMU_HWPT_INVALIDATE, &cmd), 0);
		CHECK_EQ(cmd.entry_num, 2);
		chk.check_dev_cache.cache = 0;
		CHECK_EQ(test_cmd(&chk), 0);
	}
	fix_close();
}

static void test_mmap(void)
{
	struct iommu_viommu_selftest data = { .in_data = 0xbeef };
	uint32_t id, *p;
	struct fix f;

	REQUIRE(fix_setup(&f));
	REQUIRE(viommu_alloc(f.dev, f.parent, IOMMU_VIOMMU_TYPE_SELFTEST, &data,
			     sizeof(data), &id) == 0);
	CHECK_EQ(data.out_data, 0xbeef);
	CHECK_EQ(data.out_mmap_length, 2 * PS);
	CHECK(data.out_mmap_offset && !(data.out_mmap_offset % PS));
	CHECK(mmap(NULL, PS, PROT_READ, MAP_SHARED, fd,
		   (off_t)data.out_mmap_offset) == MAP_FAILED);
	CHECK_EQ(errno, ENXIO);
	CHECK(mmap(NULL, 2 * PS, PROT_READ, MAP_SHARED, fd,
		   (off_t)(data.out_mmap_offset + PS)) == MAP_FAILED);
	CHECK_EQ(errno, ENXIO);
	p = mmap(NULL, 2 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)data.out_mmap_offset);
	REQUIRE(p != MAP_FAILED);
	CHECK_EQ(p[0], 0xbeef);
	p[1] = 42;
	CHECK_EQ(p[1], 42);
	CHECK_EQ(destroy(id), -EBUSY);
	CHECK_EQ(munmap(p, PS), 0); /* the second page stays mapped */
	CHECK_EQ(p[PS / 4], 0);
	CHECK_EQ(destroy(id), -EBUSY);
	CHECK_EQ(munmap(p + PS / 4, PS), 0);
	CHECK_EQ(destroy(id), 0);
	fix_close();
}

int main(void)
{
	buf = mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	RUN(test_alloc_errors);
	RUN(test_vdevice_and_tombstone);
	RUN(test_veventq);
	RUN(test_hw_queue);
	RUN(test_invalidate);
	RUN(test_mmap);
	HARNESS_EXIT();
}
