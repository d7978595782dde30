/* SPDX-License-Identifier: MIT */
/*
 * SR-IOV and VF tokens as a program sees them, under uiommufd-run
 * --device igb --device ioat (server mode): the PF's sriov_totalvfs and
 * sriov_numvfs in sysfs, the errnos of a write (ERANGE, EINVAL, EBUSY),
 * the VF that appears (virtfn0, physfn, its IDs, vfio-pci, its own IOMMU
 * group and cdev) and disappears, removal refused while a file of the VF
 * is open (also one a fork child shares), and the VF token rules of
 * BIND_IOMMUFD, GROUP_GET_DEVICE_FD and VFIO_DEVICE_FEATURE_PCI_VF_TOKEN;
 * then a PF driver and a VF driver through their mmap'd BARs, each
 * device on its own IOAS: a mailbox message each way with the MSI-X
 * interrupts on eventfds, and a frame from the VF's memory to the PF's.
 * Written from the sysfs ABI (Documentation/ABI/testing/sysfs-bus-pci)
 * and linux/vfio.h.
 */
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <linux/vfio.h>

#include "common.h"

#define PF "0000:00:04.0"
#define OTHER "0000:00:05.0" /* the ioat: neither PF nor VF */
#define SYS "/sys/bus/pci/devices/"

static const uint8_t token_a[16] = { 0x52, 0xac, 0x9b, 0xff, 0x3a, 0x88,
				     0x4f, 0xbd, 0x90, 0x1a, 0x0d, 0x76,
				     0x7c, 0x3b, 0x6c, 0x97 };
static const uint8_t token_b[16] = { 0x88, 0x59, 0x46, 0x74, 0x90, 0xa0,
				     0x47, 0xa9, 0xae, 0xa8, 0x9d, 0x9b,
				     0x35, 0x2a, 0xc0, 0x8a };
#define TOKEN_A_STR "52ac9bff-3a88-4fbd-901a-0d767c3b6c97"

/* The text of a sysfs file, or "" (errno kept in *@err). */
static const char *sys_read(const char *path, int *err)
{
	static char buf[256];
	ssize_t n;
	int fd;

	buf[0] = 0;
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		*err = errno;
		return buf;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	*err = n < 0 ? errno : 0;
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	return buf;
}

/* write(2) of @text to sriov_numvfs: 0 or -errno. */
static int set_numvfs(const char *text)
{
	int fd = open(SYS PF "/sriov_numvfs", O_WRONLY);
	ssize_t n;
	int rc;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	rc = n < 0 ? -errno : n == (ssize_t)strlen(text) ? 0 : -EIO;
	close(fd);
	return rc;
}

/* The basename of symlink @path, or "". */
static const char *link_base(const char *path)
{
	static char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);

	if (n < 0)
		return "";
	buf[n] = 0;
	return basename(buf);
}

/* The cdev number of @bdf (its vfio-dev/vfioN), or -1. */
static int cdev_of(const char *bdf)
{
	char path[PATH_MAX];
	struct dirent *e;
	int nr = -1;
	DIR *d;

	snprintf(path, sizeof(path), SYS "%s/vfio-dev", bdf);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "vfio", 4))
			nr = atoi(e->d_name + 4);
	closedir(d);
	return nr;
}

static int open_cdev(int nr)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/vfio/devices/vfio%d", nr);
	return open(path, O_RDWR);
}

/* BIND_IOMMUFD of @dev to @iommufd, with @token (NULL: none). */
static int bind_dev(int dev, int iommufd, const uint8_t *token)
{
	struct vfio_device_bind_iommufd b = { .argsz = sizeof(b),
					      .iommufd = iommufd };

	if (token) {
		b.flags = VFIO_DEVICE_BIND_FLAG_TOKEN;
		b.token_uuid_ptr = (uintptr_t)token;
	}
	return xioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &b);
}

static int feature_token(int dev, uint32_t flags, const uint8_t *token,
			 uint32_t len)
{
	struct {
		struct vfio_device_feature f;
		uint8_t uuid[16];
	} a = { .f = { .argsz = (uint32_t)sizeof(a.f) + len,
		       .flags = flags | VFIO_DEVICE_FEATURE_PCI_VF_TOKEN } };

	if (token)
		memcpy(a.uuid, token, sizeof(a.uuid));
	return xioctl(dev, VFIO_DEVICE_FEATURE, &a);
}

static char vf_bdf[16];
static int vf_cdev = -1, vf_group = -1;

static void test_sysfs_and_numvfs(void)
{
	char path[PATH_MAX];
	int err, fd, fd2;
	char buf[8];

	CHECK(!strcmp(sys_read(SYS PF "/sriov_totalvfs", &err), "8\n"));
	CHECK(!strcmp(sys_read(SYS PF "/sriov_numvfs", &err), "0\n"));
	CHECK(!strcmp(sys_read(SYS PF "/sriov_vf_device", &err), "10ca\n"));
	CHECK(access(SYS PF "/virtfn0", F_OK) && errno == ENOENT);
	/* The ioat has no SR-IOV. */
	CHECK(access(SYS OTHER "/sriov_numvfs", F_OK) && errno == ENOENT);

	/* Bad values: the kernel's kstrtou16 and TotalVFs. */
	CHECK_EQ(set_numvfs("9"), -ERANGE);
	CHECK_EQ(set_numvfs("70000"), -EINVAL);
	CHECK_EQ(set_numvfs("x1"), -EINVAL);
	CHECK_EQ(set_numvfs("-1"), -EINVAL);
	CHECK_EQ(set_numvfs("0"), 0); /* what it is already */

	CHECK_EQ(set_numvfs("1\n"), 0);
	CHECK(!strcmp(sys_read(SYS PF "/sriov_numvfs", &err), "1\n"));
	/* More while some are enabled: 0 first. */
	CHECK_EQ(set_numvfs("2"), -EBUSY);
	CHECK_EQ(set_numvfs("1"), 0);

	/* A shared file position across dup, and pread at 0. */
	fd = open(SYS PF "/sriov_numvfs", O_RDONLY);
	REQUIRE(fd >= 0);
	fd2 = dup(fd);
	CHECK_EQ(read(fd, buf, 1), 1);
	CHECK_EQ(buf[0], '1');
	CHECK_EQ(read(fd2, buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], '\n');
	CHECK_EQ(read(fd, buf, sizeof(buf)), 0);
	CHECK_EQ(pread(fd2, buf, sizeof(buf), 0), 2);
	close(fd);
	close(fd2);

	/* The VF: its name, IDs, driver, group, cdev and PF. */
	snprintf(vf_bdf, sizeof(vf_bdf), "%s", link_base(SYS PF "/virtfn0"));
	CHECK(!strcmp(vf_bdf, "0000:01:14.0"));
	snprintf(path, sizeof(path), SYS "%s/physfn", vf_bdf);
	CHECK(!strcmp(link_base(path), PF));
	snprintf(path, sizeof(path), SYS "%s/vendor", vf_bdf);
	CHECK(!strcmp(sys_read(path, &err), "0x8086\n"));
	snprintf(path, sizeof(path), SYS "%s/device", vf_bdf);
	CHECK(!strcmp(sys_read(path, &err), "0x10ca\n"));
	snprintf(path, sizeof(path), SYS "%s/driver", vf_bdf);
	CHECK(!strcmp(link_base(path), "vfio-pci"));
	snprintf(path, sizeof(path), SYS "%s/iommu_group", vf_bdf);
	vf_group = atoi(link_base(path));
	snprintf(path, sizeof(path), SYS PF "/iommu_group");
	CHECK(vf_group > 0 && vf_group != atoi(link_base(path)));
	vf_cdev = cdev_of(vf_bdf);
	CHECK(vf_cdev >= 2);
}

static void test_tokens(void)
{
	int iommufd = open("/dev/iommu", O_RDWR);
	int pf, vf, other;

	REQUIRE(iommufd >= 0);
	/* A PF bound with a token takes it (no VF is open). */
	pf = open_cdev(cdev_of(PF));
	REQUIRE(pf >= 0);
	CHECK_EQ(bind_dev(pf, iommufd, token_a), 0);
	/* The feature: SET only, 16 bytes; probing says it is there. */
	CHECK_EQ(feature_token(pf, VFIO_DEVICE_FEATURE_GET, NULL, 16),
		 -EINVAL);
	CHECK_EQ(feature_token(pf,
			       VFIO_DEVICE_FEATURE_PROBE |
				       VFIO_DEVICE_FEATURE_SET,
			       NULL, 0),
		 0);
	CHECK_EQ(feature_token(pf, VFIO_DEVICE_FEATURE_SET, token_a, 15),
		 -EINVAL);

	/* A VF needs the PF's token. */
	vf = open_cdev(vf_cdev);
	REQUIRE(vf >= 0);
	CHECK_EQ(bind_dev(vf, iommufd, NULL), -EACCES);
	CHECK_EQ(bind_dev(vf, iommufd, token_b), -EACCES);
	CHECK_EQ(bind_dev(vf, iommufd, token_a), 0);

	/* With a VF open, the PF too needs the token to be opened. */
	close(pf);
	pf = open_cdev(cdev_of(PF));
	CHECK_EQ(bind_dev(pf, iommufd, NULL), -EACCES);
	CHECK_EQ(bind_dev(pf, iommufd, token_b), -EACCES);
	CHECK_EQ(bind_dev(pf, iommufd, token_a), 0);
	/* An override takes effect for the next VF user. */
	CHECK_EQ(feature_token(pf, VFIO_DEVICE_FEATURE_SET, token_b, 16), 0);
	close(vf);
	vf = open_cdev(vf_cdev);
	CHECK_EQ(bind_dev(vf, iommufd, token_a), -EACCES);
	CHECK_EQ(bind_dev(vf, iommufd, token_b), 0);

	/* Neither PF nor VF: a token is refused, the feature absent. */
	other = open_cdev(cdev_of(OTHER));
	REQUIRE(other >= 0);
	CHECK_EQ(bind_dev(other, iommufd, token_a), -EINVAL);
	CHECK_EQ(bind_dev(other, iommufd, NULL), 0);
	CHECK_EQ(feature_token(other, VFIO_DEVICE_FEATURE_SET, token_a, 16),
		 -ENOTTY);

	/* The VF cannot be removed while open, nor while a child has it. */
	CHECK_EQ(set_numvfs("0"), -EBUSY);
	close(other);
	close(pf);
	{
		int pipefd[2];
		pid_t child;
		char c;

		REQUIRE(pipe(pipefd) == 0);
		child = fork();
		REQUIRE(child >= 0);
		if (!child) {
			close(pipefd[1]);
			/* Hold the VF until the parent lets go. */
			(void)!read(pipefd[0], &c, 1);
			_exit(0);
		}
		close(pipefd[0]);
		close(vf);
		CHECK_EQ(set_numvfs("0"), -EBUSY); /* the child's copy */
		close(pipefd[1]);
		CHECK_EQ(waitpid(child, NULL, 0), child);
	}
	/* The child's exit closed the last copy. */
	CHECK_EQ(set_numvfs("0"), 0);
	close(iommufd);
}

static void test_group_path_and_removal(void)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	char path[64], name[96];
	int container, group, err, dev;

	/* The VF is gone: its node, its group, its sysfs. */
	CHECK(access(SYS PF "/virtfn0", F_OK) && errno == ENOENT);
	CHECK(access(SYS "0000:01:14.0", F_OK) && errno == ENOENT);
	CHECK(open_cdev(vf_cdev) < 0 && errno == ENOENT);
	snprintf(path, sizeof(path), "/dev/vfio/%d", vf_group);
	CHECK(open(path, O_RDWR) < 0 && errno == ENOENT);
	CHECK(!strcmp(sys_read(SYS PF "/sriov_numvfs", &err), "0\n"));

	/* Made again: the same VF, through the group path. */
	CHECK_EQ(set_numvfs("1"), 0);
	container = open("/dev/vfio/vfio", O_RDWR);
	group = open(path, O_RDWR);
	REQUIRE(container >= 0 && group >= 0);
	CHECK_EQ(xioctl(group, VFIO_GROUP_GET_STATUS, &st), 0);
	CHECK(st.flags & VFIO_GROUP_FLAGS_VIABLE);
	CHECK_EQ(xioctl(group, VFIO_GROUP_SET_CONTAINER, &container), 0);
	CHECK_EQ(ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	/* Bad options, a missing token, the PF's (still token_b). */
	snprintf(name, sizeof(name), "%s vf_token=zz", vf_bdf);
	CHECK(ioctl(group, VFIO_GROUP_GET_DEVICE_FD, name) < 0 &&
	      errno == EINVAL);
	snprintf(name, sizeof(name), "%s mode=1", vf_bdf);
	CHECK(ioctl(group, VFIO_GROUP_GET_DEVICE_FD, name) < 0 &&
	      errno == EINVAL);
	CHECK(ioctl(group, VFIO_GROUP_GET_DEVICE_FD, vf_bdf) < 0 &&
	      errno == EACCES);
	snprintf(name, sizeof(name), "%s vf_token=%s", vf_bdf, TOKEN_A_STR);
	CHECK(ioctl(group, VFIO_GROUP_GET_DEVICE_FD, name) < 0 &&
	      errno == EACCES);
	snprintf(name, sizeof(name),
		 "%s  vf_token=88594674-90A0-47a9-aea8-9d9b352ac08a", vf_bdf);
	dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, name);
	CHECK(dev >= 0);
	/* An open group keeps the VF, even with no device file. */
	close(dev);
	CHECK_EQ(set_numvfs("0"), -EBUSY);
	close(group);
	close(container);
	CHECK_EQ(set_numvfs("0"), 0);
}

/* ---- a PF driver and a VF driver through their BARs -------------------- */

#define FN_MEM (1ULL << 20)
#define PF_IOVA (1ULL << 32)
#define VF_IOVA (1ULL << 36) /* mapped in the VF's IOAS only */

struct fn {
	int dev;
	uint32_t ioas;
	volatile uint32_t *bar;
	size_t bar_size;
	uint8_t *mem;
	uint64_t iova;
	int efd[4]; /* MSI-X vectors 0..3 */
};

/* Open @bdf with @token on a new IOAS mapping FN_MEM at @iova; BAR0
 * mapped, bus master on, MSI-X vectors [0, @vectors) on eventfds. */
static int fn_open(struct fn *f, int iommufd, const char *bdf,
		   const uint8_t *token, uint64_t iova, unsigned int vectors)
{
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	struct {
		struct vfio_irq_set s;
		int32_t fd[4];
	} irq = { .s = { .argsz = sizeof(irq), .index = VFIO_PCI_MSIX_IRQ_INDEX,
			 .flags = VFIO_IRQ_SET_DATA_EVENTFD |
				  VFIO_IRQ_SET_ACTION_TRIGGER,
			 .count = vectors } };
	uint16_t cmd = 0x6; /* memory, bus master */
	unsigned int v;
	void *p;

	memset(f, 0, sizeof(*f));
	f->iova = iova;
	f->dev = open_cdev(cdev_of(bdf));
	if (f->dev < 0 || bind_dev(f->dev, iommufd, token) ||
	    ioas_alloc(iommufd, &f->ioas))
		return -1;
	at.pt_id = f->ioas;
	if (ioctl(f->dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at))
		return -1;
	f->mem = mmap(NULL, FN_MEM, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (f->mem == MAP_FAILED ||
	    ioas_map(iommufd, f->ioas, f->mem, FN_MEM, iova))
		return -1;
	ri.index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(f->dev, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return -1;
	p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, f->dev,
		 (off_t)ri.offset);
	if (p == MAP_FAILED)
		return -1;
	f->bar = p;
	f->bar_size = ri.size;
	ri.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(f->dev, VFIO_DEVICE_GET_REGION_INFO, &ri) ||
	    pwrite(f->dev, &cmd, 2, (off_t)(ri.offset + 4)) != 2)
		return -1;
	for (v = 0; v < vectors; v++) {
		f->efd[v] = eventfd(0, EFD_NONBLOCK);
		irq.fd[v] = f->efd[v];
	}
	return ioctl(f->dev, VFIO_DEVICE_SET_IRQS, &irq) ? -1 : 0;
}

static void fn_close(struct fn *f)
{
	unsigned int v;

	for (v = 0; v < 4; v++)
		if (f->efd[v] > 0)
			close(f->efd[v]);
	if (f->bar)
		munmap((void *)f->bar, f->bar_size);
	if (f->mem && f->mem != MAP_FAILED)
		munmap(f->mem, FN_MEM);
	if (f->dev >= 0)
		close(f->dev);
}

static uint32_t rd(struct fn *f, unsigned int off)
{
	return f->bar[off / 4];
}

static void wr(struct fn *f, unsigned int off, uint32_t v)
{
	f->bar[off / 4] = v;
}

/* Did vector @v fire (within 5 s)?  Consumes the count. */
static bool fired(struct fn *f, unsigned int v)
{
	struct pollfd pfd = { .fd = f->efd[v], .events = POLLIN };
	uint64_t n;

	if (poll(&pfd, 1, 5000) != 1)
		return false;
	return read(f->efd[v], &n, sizeof(n)) == sizeof(n) && n > 0;
}

static bool wait_bar(struct fn *f, unsigned int off, uint32_t val)
{
	unsigned int i;

	for (i = 0; i < 50000; i++) {
		if (rd(f, off) == val)
			return true;
		usleep(100);
	}
	return false;
}

static void test_vf_datapath(void)
{
	static const uint8_t vf_mac[6] = { 0x02, 0, 0, 0, 0, 0x20 };
	int iommufd = open("/dev/iommu", O_RDWR);
	struct fn pf, vf;
	uint8_t pf_mac[6], *frame, *d;
	uint32_t ral, rah, ctl, z = 0;
	uint64_t a;
	unsigned int i;

	REQUIRE(iommufd >= 0);
	REQUIRE(set_numvfs("1") == 0);
	snprintf(vf_bdf, sizeof(vf_bdf), "%s", link_base(SYS PF "/virtfn0"));
	REQUIRE(fn_open(&pf, iommufd, PF, token_a, PF_IOVA, 4) == 0);
	REQUIRE(fn_open(&vf, iommufd, vf_bdf, token_a, VF_IOVA, 3) == 0);

	/* The PF's driver: reset, the mailbox on its "other" vector 3. */
	wr(&pf, 0x0000, 1u << 26);
	wr(&pf, 0x1514, 0x10);		/* GPIE: MSI-X */
	wr(&pf, 0x1740, (0x80 | 3) << 8); /* IVAR_MISC */
	wr(&pf, 0x00d0, 0x100);		/* IMS: VMMB */
	wr(&pf, 0x1524, 1u << 3);	/* EIMS */
	wr(&pf, 0x0c84, 0xff);		/* MBVFIMR */
	/* The VF's: its mailbox on vector 2. */
	wr(&vf, 0x1740, 0x80 | 2);	/* VTIVAR_MISC */
	wr(&vf, 0x1524, 0x7);		/* VTEIMS */

	/* VF -> PF: a message, the PF's interrupt, then its ACK. */
	wr(&vf, 0x0c40, 0x4); /* VFU */
	CHECK(rd(&vf, 0x0c40) & 0x4);
	wr(&vf, 0x0800, 0x1234);
	wr(&vf, 0x0c40, 0x1); /* REQ */
	CHECK(fired(&pf, 3));
	CHECK_EQ(rd(&pf, 0x0c80), 1u); /* MBVFICR.VFREQ(0) */
	CHECK_EQ(rd(&pf, 0x0800), 0x1234u);
	wr(&pf, 0x0c80, 1);
	wr(&pf, 0x0c00, 0x2); /* ACK */
	CHECK(fired(&vf, 2));
	CHECK(rd(&vf, 0x0c40) & 0x20); /* PFACK */
	/* PF -> VF. */
	wr(&pf, 0x0c00, 0x8); /* PFU */
	wr(&pf, 0x0804, 0x5678);
	wr(&pf, 0x0c00, 0x1); /* STS */
	CHECK(fired(&vf, 2));
	CHECK(rd(&vf, 0x0c40) & 0x10); /* PFSTS */
	CHECK_EQ(rd(&vf, 0x0804), 0x5678u);

	/* Pools: the PF's is 1 (its queue 1), VF 0's is 0 (PF queue 0). */
	ral = rd(&pf, 0x5400);
	rah = rd(&pf, 0x5404);
	memcpy(pf_mac, &ral, 4);
	pf_mac[4] = (uint8_t)rah;
	pf_mac[5] = (uint8_t)(rah >> 8);
	wr(&pf, 0x5404, rah | 1u << 19); /* RAH0.POOLSEL: pool 1 */
	wr(&pf, 0x5ac0, 1u << 7);	  /* VT_CTL.DEF_PL = 1 */
	wr(&pf, 0x0c8c, 1);		  /* VFRE */
	wr(&pf, 0x0c90, 1);		  /* VFTE */
	wr(&pf, 0xc040, (uint32_t)pf.iova); /* PF queue 1 receive ring */
	wr(&pf, 0xc044, (uint32_t)(pf.iova >> 32));
	wr(&pf, 0xc048, 16 * 16);
	wr(&pf, 0xc04c, 2); /* SRRCTL: 2 KiB, legacy */
	wr(&pf, 0xc050, 0);
	wr(&pf, 0xc058, 0);
	wr(&pf, 0xc068, 1u << 25);
	a = pf.iova + 0x10000;
	memset(pf.mem, 0, 256);
	memcpy(pf.mem, &a, 8);
	wr(&pf, 0x0100, 0x2 | 0x8000); /* RCTL: EN, BAM */
	wr(&pf, 0x0400, 0x2 | 0x8);	/* TCTL: EN, PSP */
	wr(&pf, 0xc058, 1);		/* RDT: one buffer */
	/* The VF's transmit ring and frame in its own memory. */
	frame = vf.mem + 0x10000;
	for (i = 0; i < 200; i++)
		frame[i] = (uint8_t)(i * 3 + 1);
	memcpy(frame, pf_mac, 6);
	memcpy(frame + 6, vf_mac, 6);
	d = vf.mem;
	a = vf.iova + 0x10000;
	ctl = 200 | 0x01000000 | 0x02000000 | 0x08000000; /* EOP IFCS RS */
	memcpy(d, &a, 8);
	memcpy(d + 8, &ctl, 4);
	memcpy(d + 12, &z, 4);
	wr(&vf, 0x3800, (uint32_t)vf.iova);
	wr(&vf, 0x3804, (uint32_t)(vf.iova >> 32));
	wr(&vf, 0x3808, 16 * 16);
	wr(&vf, 0x3810, 0);
	wr(&vf, 0x3818, 0);
	wr(&vf, 0x3828, 1u << 25);
	CHECK(rd(&vf, 0x3828) & (1u << 25)); /* enabled, the pool may run */
	wr(&vf, 0x3818, 1); /* TDT */
	CHECK(wait_bar(&vf, 0x3810, 1));
	CHECK(wait_bar(&pf, 0xc050, 1));
	CHECK(!memcmp(pf.mem + 0x10000, frame, 200));
	CHECK(pf.mem[12] & 1);	/* DD, in the PF's memory */
	CHECK(vf.mem[12] & 1);	/* DD, in the VF's */

	fn_close(&vf);
	fn_close(&pf);
	close(iommufd);
	CHECK_EQ(set_numvfs("0"), 0);
}

int main(void)
{
	if (!server_mode())
		return 77;
	RUN(test_sysfs_and_numvfs);
	RUN(test_tokens);
	RUN(test_group_path_and_removal);
	RUN(test_vf_datapath);
	HARNESS_EXIT();
}
