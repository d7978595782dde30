/* SPDX-License-Identifier: MIT */
/*
 * An emulated VFIO device as a program sees it, under uiommufd-run
 * --device ioat (server mode): the cdev bound to an iommufd, BAR0 mapped
 * and driven with plain loads and stores (reads waited for, writes posted
 * and still ordered before the next read), the same registers through
 * pread; the device shared with a fork child; BAR accesses racing device
 * resets; an instruction the MMIO trap cannot emulate (reported, then the
 * program's own disposition); the program's own SIGSEGV handler for every
 * other fault; a client killed in the middle of MMIO, after which the
 * device and the daemon serve the others.  Written from the VFIO uAPI
 * (linux/vfio.h) and the I/OAT register layout.
 */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <linux/vfio.h>

#include "common.h"

/* I/OAT general registers (BAR0). */
#define IOAT_CHANCNT 0x00   /* u8: channels */
#define IOAT_CBVER 0x08     /* u8: register set version */
#define IOAT_INTRDELAY 0x0c /* u16: interrupt coalescing delay, read/write */

static int iommufd = -1, dev = -1;
static uint32_t ioas;
static volatile uint8_t *bar;
static size_t bar_size;
static uint64_t bar_offset;

static uint8_t rd8(size_t off)
{
	return *(volatile uint8_t *)(bar + off);
}

static uint16_t rd16(size_t off)
{
	return *(volatile uint16_t *)(bar + off);
}

static void wr16(size_t off, uint16_t v)
{
	*(volatile uint16_t *)(bar + off) = v;
}

static int setup(void)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	void *p;

	iommufd = open("/dev/iommu", O_RDWR);
	dev = open("/dev/vfio/devices/vfio0", O_RDWR);
	if (iommufd < 0 || dev < 0 || ioas_alloc(iommufd, &ioas))
		return -1;
	bind.iommufd = iommufd;
	at.pt_id = ioas;
	if (ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind) ||
	    ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at))
		return -1;
	ri.index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri) ||
	    !(ri.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return -1;
	p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev,
		 (off_t)ri.offset);
	if (p == MAP_FAILED)
		return -1;
	bar = p;
	bar_size = ri.size;
	bar_offset = ri.offset;
	return 0;
}

static int wait_status(pid_t pid)
{
	int status;

	return waitpid(pid, &status, 0) == pid ? status : -1;
}

/* Loads, posted stores, and pread of the same registers agree. */
static void test_mmio_and_pread(void)
{
	uint8_t ver = 0;
	uint16_t v = 0;
	int i;

	CHECK_EQ(rd8(IOAT_CBVER), 0x33);
	CHECK_EQ(rd8(IOAT_CHANCNT), 1);
	CHECK_EQ(pread(dev, &ver, 1, (off_t)(bar_offset + IOAT_CBVER)), 1);
	CHECK_EQ(ver, 0x33);
	/* Each posted store is done before the read that follows it. */
	for (i = 0; i < 200; i++) {
		wr16(IOAT_INTRDELAY, (uint16_t)(0x1000 + i));
		if (rd16(IOAT_INTRDELAY) != 0x1000 + i)
			break;
	}
	CHECK_EQ(i, 200);
	/* A burst longer than any post queue, then the read. */
	for (i = 0; i < 1000; i++)
		wr16(IOAT_INTRDELAY, (uint16_t)(0x2000 + i));
	CHECK_EQ(rd16(IOAT_INTRDELAY), 0x2000 + 999);
	/* And before any other call of the thread. */
	wr16(IOAT_INTRDELAY, 0x2a2a);
	CHECK_EQ(pread(dev, &v, 2, (off_t)(bar_offset + IOAT_INTRDELAY)), 2);
	CHECK_EQ(v, 0x2a2a);
	v = 0x0505;
	CHECK_EQ(pwrite(dev, &v, 2, (off_t)(bar_offset + IOAT_INTRDELAY)), 2);
	CHECK_EQ(rd16(IOAT_INTRDELAY), 0x0505);
	/* pread of a file without positions: not this one, but a pipe's. */
	CHECK_EQ(pread(dev, &v, 2, -1), -1);
	CHECK_EQ(errno, EINVAL);
}

/* A fork child's mapping and fd reach the same device. */
static void test_fork_shares_device(void)
{
	pid_t pid = fork();

	if (!pid) {
		if (rd8(IOAT_CBVER) != 0x33)
			_exit(2);
		wr16(IOAT_INTRDELAY, 0x1321);
		_exit(rd16(IOAT_INTRDELAY) == 0x1321 ? 0 : 3);
	}
	CHECK_EQ(wait_status(pid), 0);
	CHECK_EQ(rd16(IOAT_INTRDELAY), 0x1321);
}

static volatile int racing;

static void *mmio_reader(void *arg)
{
	unsigned long *odd = arg;

	while (racing) {
		uint8_t v = rd8(IOAT_CBVER);

		/* During a reset an access may be dropped: all ones. */
		if (v != 0x33 && v != 0xff)
			(*odd)++;
	}
	return NULL;
}

/* BAR accesses from one thread while another resets the device. */
static void test_bar_races_reset(void)
{
	unsigned long odd = 0;
	pthread_t t;
	int i, failed = 0;

	racing = 1;
	REQUIRE(!pthread_create(&t, NULL, mmio_reader, &odd));
	for (i = 0; i < 100; i++) {
		if (ioctl(dev, VFIO_DEVICE_RESET) && errno != EAGAIN)
			failed++;
	}
	racing = 0;
	pthread_join(t, NULL);
	CHECK_EQ(failed, 0);
	CHECK_EQ(odd, 0);
	CHECK_EQ(rd8(IOAT_CBVER), 0x33);
	/* The reset put the register back to its power-on value. */
	CHECK_EQ(rd16(IOAT_INTRDELAY), 0);
}

/*
 * A locked read-modify-write is no access the trap emulates: a message
 * names it, then the program's disposition for SIGSEGV applies (the
 * default: the child dies of it).
 */
static void test_unknown_instruction(void)
{
	char msg[512] = "";
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	REQUIRE(!pipe(pfd));
	pid = fork();
	if (!pid) {
		dup2(pfd[1], STDERR_FILENO);
		__asm__ volatile("lock orl $1, %0"
				 : "+m"(*(volatile uint32_t *)(bar + 0x80)));
		_exit(0);
	}
	close(pfd[1]);
	status = wait_status(pid);
	n = read(pfd[0], msg, sizeof(msg) - 1);
	close(pfd[0]);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	CHECK(n > 0);
	if (n > 0) {
		msg[n] = 0;
		CHECK(strstr(msg, "BAR0") != NULL);
		CHECK(strstr(msg, "f0") != NULL); /* the LOCK prefix byte */
	}
	/* The parent's mapping is as it was. */
	CHECK_EQ(rd8(IOAT_CBVER), 0x33);
}

static sigjmp_buf fault_jmp;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

/* The program's own SIGSEGV handler still gets the faults that are its. */
static void test_program_handler(void)
{
	struct sigaction sa, old;
	volatile int caught = 0;
	char *guard = mmap(NULL, PAGE, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	REQUIRE(guard != MAP_FAILED);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	REQUIRE(!sigaction(SIGSEGV, &sa, &old));
	if (!sigsetjmp(fault_jmp, 1))
		*(volatile char *)guard = 1;
	else
		caught = 1;
	CHECK(caught);
	/* BAR accesses are still ours, not the program's handler's. */
	CHECK_EQ(rd8(IOAT_CBVER), 0x33);
	REQUIRE(!sigaction(SIGSEGV, &old, NULL));
	munmap(guard, PAGE);
}

/* A client killed in the middle of MMIO hurts nobody. */
static void test_killed_mid_mmio(void)
{
	int i;

	for (i = 0; i < 5; i++) {
		pid_t pid = fork();

		if (!pid) {
			for (;;) {
				wr16(IOAT_INTRDELAY, 7);
				(void)rd8(IOAT_CBVER);
			}
		}
		usleep(20000 + 10000 * i);
		kill(pid, SIGKILL);
		wait_status(pid);
		CHECK_EQ(rd8(IOAT_CBVER), 0x33);
	}
	CHECK(!ioctl(dev, VFIO_DEVICE_RESET) || errno == EAGAIN);
	CHECK_EQ(rd16(IOAT_INTRDELAY), 0);
}

static char cli[4096];

/* uiommufd dump --machine shows the device open, bound and attached. */
static void test_dump_machine(void)
{
	char cmd[4200], out[4096] = "";
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s dump --machine", cli);
	p = popen(cmd, "r");
	REQUIRE(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	CHECK_EQ(pclose(p), 0);
	CHECK(strstr(out, "device 0000:00:04.0  ioat 8086:2021") != NULL);
	CHECK(strstr(out, "open 1 time(s) (cdev), bound as device") != NULL);
	CHECK(strstr(out, "attached to HWPT") != NULL);
	CHECK(strstr(out, "group 0  /dev/vfio/0: closed, no container") != NULL);
}

int main(int argc, char **argv)
{
	char *slash;

	(void)argc;
	/* The CLI sits two levels up: build/tests/server/dev_vfio. */
	snprintf(cli, sizeof(cli), "%s", argv[0]);
	slash = strrchr(cli, '/');
	if (slash)
		snprintf(slash + 1, sizeof(cli) - (size_t)(slash + 1 - cli),
			 "../../uiommufd");
	else
		snprintf(cli, sizeof(cli), "../../uiommufd");
	if (!getenv("UIOMMUFD_DEVICES")) {
		fprintf(stderr, "SKIP: run under uiommufd-run --device ioat\n");
		return 77;
	}
	if (setup()) {
		fprintf(stderr, "setup: %s\n", strerror(errno));
		return 1;
	}
	RUN(test_mmio_and_pread);
	RUN(test_fork_shares_device);
	RUN(test_bar_races_reset);
	RUN(test_unknown_instruction);
	RUN(test_program_handler);
	RUN(test_killed_mid_mmio);
	RUN(test_dump_machine);
	munmap((void *)bar, bar_size);
	close(dev);
	close(iommufd);
	return harness_failed;
}
