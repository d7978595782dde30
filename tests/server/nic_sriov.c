/* SPDX-License-Identifier: MIT */
/*
 * SR-IOV and VF tokens as a program sees them, under uiommufd-run
 * --device igb --device ioat (server mode): the PF's sriov_totalvfs and
 * sriov_numvfs in sysfs, the errnos of a write (ERANGE, EINVAL, EBUSY),
 * the VF that appears (virtfn0, physfn, its IDs, vfio-pci, its own IOMMU
 * group and cdev) and disappears, removal refused while a file of the VF
 * is open (also one a fork child shares), and the VF token rules of
 * BIND_IOMMUFD, GROUP_GET_DEVICE_FD and VFIO_DEVICE_FEATURE_PCI_VF_TOKEN.
 * Written from the sysfs ABI (Documentation/ABI/testing/sysfs-bus-pci)
 * and linux/vfio.h.
 */
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
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

int main(void)
{
	if (!server_mode())
		return 77;
	RUN(test_sysfs_and_numvfs);
	RUN(test_tokens);
	RUN(test_group_path_and_removal);
	HARNESS_EXIT();
}
