/* SPDX-License-Identifier: MIT */
/*
 * The 82576's virtual functions driven as their drivers drive them: an
 * igb PF and two igbvf VFs, each its own engine device attached to its
 * own IOAS with its own memory, so every DMA lands in the domain of the
 * function that made it (a VF's rings and buffers sit at IOVAs only that
 * VF's IOAS maps).  This thread plays the PF's driver and the VFs'
 * drivers, polling their registers; a second thread plays the PF driver
 * in the reset handshake.  Checks the mailbox both ways with interrupts
 * and buffer ownership, the igbvf reset handshake (VTCTRL.RST, RSTD,
 * VF_RESET answered with ACK|CTS and the MAC), frames between pools
 * (VF to PF over the wire's loopback, PF to VF and VF to VF by VMDq local
 * switching) with their bytes, VFRE and VFTE gating, a VF destroyed while
 * its queue runs, and random register traffic on both sides.
 *
 * IOVA ranges here are [iova, iova + len).  The host ops count interrupts
 * per vector under a mutex: the models send them from their threads.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "devices/pci.h"
#include "uiommufd.h"
#define HARNESS_MMAP
#include "harness.h"
#include "pci_host.h"

#define PS 4096ULL
#define MiB (1ULL << 20)

/* PF registers (BAR0). */
#define CTRL 0x0000
#define CTRL_RST 0x04000000
#define ICR 0x00c0
#define IMS 0x00d0
#define IMC 0x00d8
#define RCTL 0x0100
#define TCTL 0x0400
#define GPIE 0x1514
#define EIMS 0x1524
#define IVAR_MISC 0x1740
#define VMBMEM(n) (0x0800 + 0x40 * (n))
#define PFMAILBOX(n) (0x0c00 + 4 * (n))
#define MBVFICR 0x0c80
#define MBVFIMR 0x0c84
#define VFLRE 0x0c88
#define VFRE 0x0c8c
#define VFTE 0x0c90
#define DTXSWC 0x3500
#define RAL(i) (0x5400 + 8 * (i))
#define RAH(i) (0x5404 + 8 * (i))
#define VT_CTL 0x5ac0
#define VMOLR(n) (0x5ad0 + 4 * (n))
#define PF_RXQ(q) (0xc000 + 0x40 * (q))
#define PF_TXQ(q) (0xe000 + 0x40 * (q))

/* VF registers (its BAR0). */
#define VTCTRL 0x0000
#define VTSTATUS 0x0008
#define VTEICR 0x1580
#define VTEIMS 0x1524
#define VTIVAR 0x1700
#define VTIVAR_MISC 0x1740
#define V2PMAILBOX 0x0c40
#define VF_VMBMEM 0x0800
#define VF_RXQ 0x2800
#define VF_TXQ 0x3800

/* Queue block offsets. */
#define Q_BAL 0x00
#define Q_BAH 0x04
#define Q_LEN 0x08
#define Q_SRRCTL 0x0c
#define Q_HEAD 0x10
#define Q_TAIL 0x18
#define Q_DCTL 0x28

#define PFMBX_STS 0x01
#define PFMBX_ACK 0x02
#define PFMBX_VFU 0x04
#define PFMBX_PFU 0x08
#define V2P_REQ 0x01
#define V2P_ACK 0x02
#define V2P_VFU 0x04
#define V2P_PFU 0x08
#define V2P_PFSTS 0x10
#define V2P_PFACK 0x20
#define V2P_RSTI 0x40
#define V2P_RSTD 0x80

#define ICR_VMMB 0x100
#define GPIE_MSIX 0x10
#define RCTL_EN 0x2
#define RCTL_BAM 0x8000
#define TCTL_EN 0x2
#define TCTL_PSP 0x8
#define DCTL_ENABLE 0x02000000
#define RAH_AV 0x80000000
#define POOLSEL(p) (1u << (18 + (p)))
#define VMOLR_BAM 0x08000000
#define DTXSWC_LLE 0x80000000
#define STATUS_LU 0x2

#define TXD_EOP 0x01000000
#define TXD_IFCS 0x02000000
#define TXD_RS 0x08000000

/* The igbvf mailbox messages (Linux's e1000_mbx.h numbers). */
#define VF_RESET 0x01
#define VT_MSGTYPE_ACK 0x80000000
#define VT_MSGTYPE_CTS 0x20000000

/* A function's memory layout (offsets in its mapping). */
#define MEM_LEN (8 * MiB)
#define TXR_OFF 0
#define RXR_OFF (64 * 1024)
#define SRC_OFF (1 * MiB)
#define DST_OFF (4 * MiB)
#define RING 256
#define PF_IOVA (1ULL << 32)
#define VF_IOVA (1ULL << 36) /* only the VFs' IOAS map it */
#define PF_POOL 2

static struct ufd_engine *eng;
static struct ufd_source *src;

/* ---- a function as its driver sees it ---------------------------------- */

struct fn {
	struct ufd_pci_dev *pdev;
	uint8_t *mem, *area;
	uint64_t iova;
	uint32_t ioas, dev, pt;
	struct host host;
	uint32_t rxq, txq; /* its queue's register blocks in its BAR0 */
	unsigned int tx_tail, rx_tail;
};

struct rig {
	struct ufd_ctx *ctx;
	struct fn pf, vf[2];
};

static unsigned int vec(struct fn *f, unsigned int v)
{
	unsigned int n;

	pthread_mutex_lock(&f->host.lock);
	n = f->host.vec[v];
	pthread_mutex_unlock(&f->host.lock);
	return n;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t rd32(struct fn *f, unsigned int off)
{
	uint64_t v = 0xdeadbeef;

	CHECK_EQ(ufd_pci_bar_read(f->pdev, 0, off, 4, &v), 0);
	return (uint32_t)v;
}

static void wr32(struct fn *f, unsigned int off, uint32_t v)
{
	CHECK_EQ(ufd_pci_bar_write(f->pdev, 0, off, 4, v), 0);
}

/* Wait until vector @v of @f has fired more than @n times (5 s). */
static bool wait_vec(struct fn *f, unsigned int v, unsigned int n)
{
	double end = now() + 5;

	while (now() < end) {
		if (vec(f, v) > n)
			return true;
		usleep(100);
	}
	return false;
}

static bool wait_reg(struct fn *f, unsigned int off, uint32_t val)
{
	double end = now() + 5;

	while (now() < end) {
		if (rd32(f, off) == val)
			return true;
		sched_yield();
	}
	return false;
}

/* An engine device on its own IOAS mapping @f's memory at @iova. */
static int fn_attach(struct rig *r, struct fn *f, uint64_t iova)
{
	pthread_mutex_init(&f->host.lock, NULL);
	f->mem = harness_map_aligned(MEM_LEN, &f->area);
	if (!f->mem)
		return -ENOMEM;
	f->iova = iova;
	return host_attach(&f->host, r->ctx, src, f->mem, MEM_LEN, iova,
			   PS | (2ULL << 20), &f->ioas, &f->dev, &f->pt);
}

static void fn_close(struct fn *f)
{
	if (f->pdev)
		ufd_pci_dev_destroy(f->pdev);
	f->pdev = NULL;
	if (f->host.port)
		ufd_dma_close(f->host.port);
	f->host.port = NULL;
	if (f->area)
		munmap(f->area, MEM_LEN + (2u << 20));
	f->area = NULL;
	pthread_mutex_destroy(&f->host.lock);
}

static void cfg_wr(struct fn *f, unsigned int off, unsigned int size,
		   uint32_t v)
{
	CHECK_EQ(ufd_pci_cfg_write(f->pdev, off, size, v), 0);
}

/*
 * The PF with two VFs enabled and made; the PF's driver's part: reset,
 * MSI-X with the "other" cause (the mailbox) on vector 3, MBVFIMR on.
 */
static int rig_open(struct rig *r)
{
	unsigned int i;
	int rc;
	struct ufd_cred cred;

	memset(r, 0, sizeof(*r));
	ufd_cred_self(&cred);
	cred.cap_ipc_lock = true;
	rc = ufd_ctx_open(eng, &cred, &r->ctx);
	if (!rc)
		rc = fn_attach(r, &r->pf, PF_IOVA);
	for (i = 0; i < 2 && !rc; i++)
		rc = fn_attach(r, &r->vf[i], VF_IOVA);
	if (!rc)
		rc = ufd_pci_dev_create(&ufd_pci_model_igb, NULL, &host_ops,
					&r->pf.host, &r->pf.pdev);
	if (!rc)
		rc = ufd_pci_sriov_set_num_vfs(r->pf.pdev, 2);
	for (i = 0; i < 2 && !rc; i++)
		rc = ufd_pci_vf_create(r->pf.pdev, i, &host_ops,
				       &r->vf[i].host, &r->vf[i].pdev);
	if (rc)
		return rc;
	r->pf.rxq = PF_RXQ(PF_POOL);
	r->pf.txq = PF_TXQ(PF_POOL);
	cfg_wr(&r->pf, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	wr32(&r->pf, CTRL, CTRL_RST);
	CHECK_EQ(ufd_pci_set_irq_enable(r->pf.pdev, UFD_PCI_IRQ_MSIX, true), 0);
	wr32(&r->pf, GPIE, GPIE_MSIX);
	wr32(&r->pf, IVAR_MISC, (0x80 | 3) << 8);
	wr32(&r->pf, IMS, ICR_VMMB);
	wr32(&r->pf, EIMS, 1u << 3);
	wr32(&r->pf, MBVFIMR, 0xff);
	for (i = 0; i < 2; i++) {
		struct fn *vf = &r->vf[i];

		vf->rxq = VF_RXQ;
		vf->txq = VF_TXQ;
		cfg_wr(vf, PCI_COMMAND, 2,
		       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
		CHECK_EQ(ufd_pci_set_irq_enable(vf->pdev, UFD_PCI_IRQ_MSIX,
						true),
			 0);
		/* Receive on vector 0, transmit on 1, the mailbox on 2. */
		wr32(vf, VTIVAR, 0x80 | (0x80 | 1) << 8);
		wr32(vf, VTIVAR_MISC, 0x80 | 2);
		wr32(vf, VTEIMS, 0x7);
	}
	return 0;
}

static void rig_close(struct rig *r)
{
	unsigned int i;

	for (i = 0; i < 2; i++)
		fn_close(&r->vf[i]);
	if (r->pf.pdev)
		CHECK_EQ(ufd_pci_sriov_set_num_vfs(r->pf.pdev, 0), 0);
	fn_close(&r->pf);
	if (r->ctx)
		ufd_ctx_close(r->ctx);
}

/* ---- the mailbox ----------------------------------------------------------- */

static void test_mailbox_both_ways(void)
{
	struct rig r;
	struct fn *pf = &r.pf, *vf = &r.vf[0];
	unsigned int pf_irqs, vf_irqs, i;
	uint32_t v;

	CHECK_EQ(rig_open(&r), 0);
	/* Power-on: the VF sees its reset done (read clears RSTD). */
	CHECK_EQ(rd32(vf, V2PMAILBOX) & V2P_RSTD, V2P_RSTD);
	CHECK_EQ(rd32(vf, V2PMAILBOX) & V2P_RSTD, 0);

	/* VF -> PF.  The VF takes the buffer; the PF cannot. */
	wr32(vf, V2PMAILBOX, V2P_VFU);
	CHECK_EQ(rd32(vf, V2PMAILBOX) & (V2P_VFU | V2P_PFU), V2P_VFU);
	wr32(pf, PFMAILBOX(0), PFMBX_PFU);
	CHECK_EQ(rd32(pf, PFMAILBOX(0)), PFMBX_VFU);
	wr32(pf, VMBMEM(0), 0xbad);
	for (i = 0; i < 16; i++)
		wr32(vf, VF_VMBMEM + 4 * i, 0x1000 + i);
	pf_irqs = vec(pf, 3);
	wr32(vf, V2PMAILBOX, V2P_REQ); /* and releases VFU */
	CHECK(wait_vec(pf, 3, pf_irqs));
	CHECK_EQ(rd32(pf, MBVFICR), 1u << 0);
	CHECK(rd32(pf, ICR) & ICR_VMMB);
	CHECK_EQ(rd32(pf, PFMAILBOX(0)), 0);
	wr32(pf, PFMAILBOX(0), PFMBX_PFU);
	CHECK_EQ(rd32(pf, PFMAILBOX(0)), PFMBX_PFU);
	/* Now the VF cannot take it, nor write it. */
	wr32(vf, V2PMAILBOX, V2P_VFU);
	CHECK_EQ(rd32(vf, V2PMAILBOX) & (V2P_VFU | V2P_PFU), V2P_PFU);
	wr32(vf, VF_VMBMEM, 0xbad);
	for (i = 0; i < 16; i++)
		CHECK_EQ(rd32(pf, VMBMEM(0) + 4 * i), 0x1000 + i);
	/* The other VF's buffer is its own. */
	CHECK_EQ(rd32(pf, VMBMEM(1)), 0);
	wr32(pf, MBVFICR, 1u << 0);
	CHECK_EQ(rd32(pf, MBVFICR), 0);
	vf_irqs = vec(vf, 2);
	wr32(pf, PFMAILBOX(0), PFMBX_ACK); /* and releases PFU */
	CHECK(wait_vec(vf, 2, vf_irqs));
	CHECK(rd32(vf, VTEICR) & (1u << 2));
	v = rd32(vf, V2PMAILBOX);
	CHECK_EQ(v & (V2P_PFACK | V2P_PFU), V2P_PFACK);
	CHECK_EQ(rd32(vf, V2PMAILBOX) & V2P_PFACK, 0); /* read cleared it */

	/* PF -> VF. */
	wr32(pf, PFMAILBOX(0), PFMBX_PFU);
	for (i = 0; i < 16; i++)
		wr32(pf, VMBMEM(0) + 4 * i, 0x2000 + i);
	vf_irqs = vec(vf, 2);
	wr32(pf, PFMAILBOX(0), PFMBX_STS);
	CHECK(wait_vec(vf, 2, vf_irqs));
	CHECK_EQ(rd32(vf, V2PMAILBOX) & V2P_PFSTS, V2P_PFSTS);
	wr32(vf, V2PMAILBOX, V2P_VFU);
	for (i = 0; i < 16; i++)
		CHECK_EQ(rd32(vf, VF_VMBMEM + 4 * i), 0x2000 + i);
	pf_irqs = vec(pf, 3);
	wr32(vf, V2PMAILBOX, V2P_ACK);
	CHECK(wait_vec(pf, 3, pf_irqs));
	CHECK_EQ(rd32(pf, MBVFICR), 1u << 16);
	wr32(pf, MBVFICR, 1u << 16);

	/* MBVFIMR masks the PF's interrupt, not the cause. */
	wr32(pf, MBVFIMR, 0);
	pf_irqs = vec(pf, 3);
	wr32(&r.vf[1], V2PMAILBOX, V2P_REQ);
	CHECK_EQ(rd32(pf, MBVFICR), 1u << 1);
	usleep(20000);
	CHECK_EQ(vec(pf, 3), pf_irqs);
	rig_close(&r);
}

/*
 * The VF's own registers: its interrupt causes (EICS of a masked cause
 * waits for EIMS, EIAC clears on delivery), byte writes of the mailbox
 * buffer merge, odd accesses anywhere never fail; an igbvf needs an igb
 * PF.
 */
static void test_vf_registers(void)
{
	struct rig r;
	struct fn *vf = &r.vf[1];
	uint64_t v = 0;
	unsigned int o, irqs;

	CHECK_EQ(rig_open(&r), 0);
	CHECK_EQ(ufd_pci_dev_create(&ufd_pci_model_igbvf, NULL, NULL, NULL,
				    &(struct ufd_pci_dev *){ NULL }),
		 -EINVAL);
	wr32(vf, VTEIMS, 0); /* (EIMS only sets) */
	wr32(vf, 0x1528, 0x7); /* VTEIMC */
	irqs = vec(vf, 1);
	wr32(vf, 0x152c, 0x2); /* VTEIAC */
	wr32(vf, 0x1520, 0x2); /* VTEICS */
	CHECK_EQ(vec(vf, 1), irqs);
	CHECK_EQ(rd32(vf, VTEICR), 0x2u); /* EIAC set: the read keeps it */
	wr32(vf, VTEIMS, 0x2);
	CHECK_EQ(vec(vf, 1), irqs + 1);
	CHECK_EQ(rd32(vf, VTEICR), 0u);
	wr32(vf, VF_VMBMEM, 0x11223344);
	CHECK_EQ(ufd_pci_bar_write(vf->pdev, 0, VF_VMBMEM + 1, 1, 0xaa), 0);
	CHECK_EQ(rd32(vf, VF_VMBMEM), 0x1122aa44u);
	CHECK_EQ(rd32(&r.pf, VMBMEM(1)), 0x1122aa44u);
	for (o = 0; o < 0x4000; o += 0x3f) {
		CHECK_EQ(ufd_pci_bar_write(vf->pdev, 0, o, 1 << (o % 4), ~0ULL),
			 0);
		CHECK_EQ(ufd_pci_bar_read(vf->pdev, 0, o, 1 << (o % 4), &v), 0);
	}
	rig_close(&r);
}

/* ---- the igbvf reset handshake ------------------------------------------ */

static const uint8_t vf_mac[2][6] = { { 0x02, 0, 0, 0, 0, 0x10 },
				      { 0x02, 0, 0, 0, 0, 0x11 } };

struct pf_driver {
	struct fn *pf;
	int quit;
	unsigned int resets_seen, messages;
};

/* What Linux's igb does with a VF's messages, in outline. */
static void *pf_driver_thread(void *arg)
{
	struct pf_driver *d = arg;
	struct fn *pf = d->pf;

	while (!__atomic_load_n(&d->quit, __ATOMIC_ACQUIRE)) {
		uint32_t lre = rd32(pf, VFLRE), icr = rd32(pf, MBVFICR);
		unsigned int n;

		if (lre) {
			wr32(pf, VFLRE, lre);
			d->resets_seen++;
		}
		for (n = 0; n < 2; n++) {
			uint32_t msg[3];

			if (!(icr & (1u << n)))
				continue;
			wr32(pf, MBVFICR, 1u << n);
			wr32(pf, PFMAILBOX(n), PFMBX_PFU);
			if (!(rd32(pf, PFMAILBOX(n)) & PFMBX_PFU))
				continue; /* the VF holds it: later */
			msg[0] = rd32(pf, VMBMEM(n));
			wr32(pf, PFMAILBOX(n), PFMBX_ACK);
			d->messages++;
			if ((msg[0] & 0xffff) != VF_RESET)
				continue;
			/* Its MAC in RAR 1 + n, pool n; its pool enabled. */
			wr32(pf, RAL(1 + n),
			     (uint32_t)vf_mac[n][0] | vf_mac[n][1] << 8 |
				     vf_mac[n][2] << 16 |
				     (uint32_t)vf_mac[n][3] << 24);
			wr32(pf, RAH(1 + n),
			     vf_mac[n][4] | vf_mac[n][5] << 8 | RAH_AV |
				     POOLSEL(n));
			wr32(pf, VFRE, rd32(pf, VFRE) | 1u << n);
			wr32(pf, VFTE, rd32(pf, VFTE) | 1u << n);
			msg[0] = VF_RESET | VT_MSGTYPE_ACK | VT_MSGTYPE_CTS;
			memcpy(&msg[1], vf_mac[n], 6);
			msg[2] &= 0xffff;
			wr32(pf, PFMAILBOX(n), PFMBX_PFU);
			wr32(pf, VMBMEM(n), msg[0]);
			wr32(pf, VMBMEM(n) + 4, msg[1]);
			wr32(pf, VMBMEM(n) + 8, msg[2]);
			wr32(pf, PFMAILBOX(n), PFMBX_STS);
		}
		sched_yield();
	}
	return NULL;
}

/* The igbvf side: V2PMAILBOX bits read-to-clear, gathered as it does. */
struct vf_driver {
	struct fn *vf;
	uint32_t seen;
};

static bool vf_poll(struct vf_driver *d, uint32_t bits)
{
	double end = now() + 5;

	while (now() < end) {
		d->seen |= rd32(d->vf, V2PMAILBOX);
		if (d->seen & bits) {
			d->seen &= ~bits;
			return true;
		}
		sched_yield();
	}
	return false;
}

static bool vf_lock(struct vf_driver *d)
{
	double end = now() + 5;

	while (now() < end) {
		wr32(d->vf, V2PMAILBOX, V2P_VFU);
		d->seen |= rd32(d->vf, V2PMAILBOX);
		if (d->seen & V2P_VFU) {
			d->seen &= ~V2P_VFU;
			return true;
		}
		sched_yield();
	}
	return false;
}

/*
 * Reset the VF as igbvf's e1000_reset_hw_vf does: CTRL.RST, wait for
 * RSTD or RSTI, post VF_RESET, wait for the ACK, then read the answer.
 */
static bool vf_reset_handshake(struct fn *vf, uint32_t reply[3])
{
	struct vf_driver d = { .vf = vf };
	unsigned int i;

	wr32(vf, VTCTRL, CTRL_RST);
	if (!vf_poll(&d, V2P_RSTD | V2P_RSTI))
		return false;
	if (!vf_lock(&d))
		return false;
	wr32(vf, VF_VMBMEM, VF_RESET);
	wr32(vf, V2PMAILBOX, V2P_REQ);
	if (!vf_poll(&d, V2P_PFACK))
		return false;
	if (!vf_poll(&d, V2P_PFSTS))
		return false;
	if (!vf_lock(&d))
		return false;
	for (i = 0; i < 3; i++)
		reply[i] = rd32(vf, VF_VMBMEM + 4 * i);
	wr32(vf, V2PMAILBOX, V2P_ACK);
	return true;
}

static void test_reset_handshake(void)
{
	struct rig r;
	struct pf_driver d;
	pthread_t t;
	uint32_t reply[3];
	unsigned int n;

	CHECK_EQ(rig_open(&r), 0);
	memset(&d, 0, sizeof(d));
	d.pf = &r.pf;
	CHECK_EQ(pthread_create(&t, NULL, pf_driver_thread, &d), 0);
	for (n = 0; n < 2; n++) {
		memset(reply, 0, sizeof(reply));
		CHECK(vf_reset_handshake(&r.vf[n], reply));
		CHECK_EQ(reply[0], VF_RESET | VT_MSGTYPE_ACK | VT_MSGTYPE_CTS);
		CHECK(!memcmp(&reply[1], vf_mac[n], 6));
	}
	/* Again: a reset clears VFRE/VFTE, the PF enables them again. */
	CHECK(vf_reset_handshake(&r.vf[0], reply));
	__atomic_store_n(&d.quit, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CHECK_EQ(d.resets_seen >= 1, 1);
	CHECK_EQ(d.messages, 3);
	CHECK_EQ(rd32(&r.pf, VFRE) & 3, 3);
	CHECK_EQ(rd32(&r.pf, VFTE) & 3, 3);
	/* The VF sees the PF's link. */
	CHECK(rd32(&r.vf[0], VTSTATUS) & STATUS_LU);
	rig_close(&r);
}

/* ---- frames through pools ---------------------------------------------- */

static const uint8_t pf_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void put_mac(struct fn *pf, unsigned int i, const uint8_t *m,
		    unsigned int pool)
{
	wr32(pf, RAL(i),
	     (uint32_t)m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24);
	wr32(pf, RAH(i), m[4] | m[5] << 8 | RAH_AV | POOLSEL(pool));
}

/* The function's own queue: rings at its TXR_OFF and RXR_OFF. */
static void queue_up(struct fn *f)
{
	uint64_t t = f->iova + TXR_OFF, rx = f->iova + RXR_OFF;

	memset(f->mem + TXR_OFF, 0, RING * 16);
	memset(f->mem + RXR_OFF, 0, RING * 16);
	wr32(f, f->txq + Q_BAL, (uint32_t)t);
	wr32(f, f->txq + Q_BAH, (uint32_t)(t >> 32));
	wr32(f, f->txq + Q_LEN, RING * 16);
	wr32(f, f->txq + Q_HEAD, 0);
	wr32(f, f->txq + Q_TAIL, 0);
	wr32(f, f->txq + Q_DCTL, DCTL_ENABLE);
	wr32(f, f->rxq + Q_BAL, (uint32_t)rx);
	wr32(f, f->rxq + Q_BAH, (uint32_t)(rx >> 32));
	wr32(f, f->rxq + Q_LEN, RING * 16);
	wr32(f, f->rxq + Q_SRRCTL, 2); /* 2 KiB buffers, legacy */
	wr32(f, f->rxq + Q_HEAD, 0);
	wr32(f, f->rxq + Q_TAIL, 0);
	wr32(f, f->rxq + Q_DCTL, DCTL_ENABLE);
	f->tx_tail = f->rx_tail = 0;
}

/* Give the device @n receive buffers (2 KiB each from DST_OFF). */
static void post_rx(struct fn *f, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint8_t *d = f->mem + RXR_OFF + 16 * f->rx_tail;
		uint64_t a = f->iova + DST_OFF + 2048ULL * f->rx_tail;

		memset(d, 0, 16);
		memcpy(d, &a, 8);
		f->rx_tail = (f->rx_tail + 1) % RING;
	}
	wr32(f, f->rxq + Q_TAIL, f->rx_tail);
}

/* Send a frame of @len to @da (pattern @seed) from @f's queue. */
static void send_frame(struct fn *f, const uint8_t *da, size_t len,
		       unsigned int seed)
{
	uint8_t *p = f->mem + SRC_OFF + 2048 * f->tx_tail;
	uint8_t *d = f->mem + TXR_OFF + 16 * f->tx_tail;
	uint64_t a = f->iova + SRC_OFF + 2048ULL * f->tx_tail;
	uint32_t ctl = (uint32_t)len | TXD_EOP | TXD_IFCS | TXD_RS, z = 0;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 13 + seed);
	memcpy(p, da, 6);
	memcpy(p + 6, pf_mac, 6);
	p[12] = 0x88;
	p[13] = 0xb5;
	memcpy(d, &a, 8);
	memcpy(d + 8, &ctl, 4);
	memcpy(d + 12, &z, 4);
	f->tx_tail = (f->tx_tail + 1) % RING;
	wr32(f, f->txq + Q_TAIL, f->tx_tail);
}

/* Receive descriptor @idx of @f holds the frame @seed of @len (+FCS). */
static bool got_frame(struct fn *f, unsigned int idx, const uint8_t *da,
		      size_t len, unsigned int seed)
{
	const uint8_t *d = f->mem + RXR_OFF + 16 * idx;
	const uint8_t *p = f->mem + DST_OFF + 2048ULL * idx;
	uint16_t got;
	size_t i;

	memcpy(&got, d + 8, 2);
	if (!(d[12] & 1) || got != len + 4 || memcmp(p, da, 6))
		return false;
	for (i = 14; i < len; i++)
		if (p[i] != (uint8_t)(i * 13 + seed))
			return false;
	return true;
}

/* The PF's part of VMDq: pools, addresses, VFRE/VFTE, RCTL/TCTL. */
static void pools_up(struct rig *r, bool local_switching)
{
	struct fn *pf = &r->pf;
	unsigned int p;

	wr32(pf, VT_CTL, PF_POOL << 7);
	put_mac(pf, 0, pf_mac, PF_POOL);
	put_mac(pf, 1, vf_mac[0], 0);
	put_mac(pf, 2, vf_mac[1], 1);
	for (p = 0; p < 3; p++)
		wr32(pf, VMOLR(p), VMOLR_BAM);
	wr32(pf, VFRE, 0x3);
	wr32(pf, VFTE, 0x3);
	wr32(pf, DTXSWC, local_switching ? DTXSWC_LLE : 0);
	wr32(pf, RCTL, RCTL_EN | RCTL_BAM);
	wr32(pf, TCTL, TCTL_EN | TCTL_PSP);
	queue_up(pf);
	queue_up(&r->vf[0]);
	queue_up(&r->vf[1]);
	post_rx(pf, 16);
	post_rx(&r->vf[0], 16);
	post_rx(&r->vf[1], 16);
}

static void test_pool_frames(void)
{
	struct rig r;
	struct fn *pf = &r.pf, *vf0 = &r.vf[0], *vf1 = &r.vf[1];
	unsigned int tx_irqs, rx_irqs;
	uint64_t unmapped = 0;
	uint8_t probe[4];

	CHECK_EQ(rig_open(&r), 0);
	/* The VFs' IOVA is nothing in the PF's domain. */
	CHECK(ufd_dma_read(pf->host.port, VF_IOVA, probe, 4) != 0);
	(void)unmapped;
	pools_up(&r, false);
	/* The VF's queue reads back enabled (pool, RCTL/TCTL allow it). */
	CHECK(rd32(vf0, VF_RXQ + Q_DCTL) & DCTL_ENABLE);
	CHECK(rd32(vf0, VF_TXQ + Q_DCTL) & DCTL_ENABLE);
	/* ... and is PF queue 0 as the PF sees it. */
	CHECK_EQ(rd32(pf, PF_RXQ(0) + Q_BAL), (uint32_t)(VF_IOVA + RXR_OFF));
	CHECK_EQ(rd32(pf, PF_TXQ(1) + Q_BAH), (uint32_t)(VF_IOVA >> 32));

	/* VF 0 -> PF over the wire (the loopback plug). */
	tx_irqs = vec(vf0, 1);
	send_frame(vf0, pf_mac, 200, 1);
	CHECK(wait_reg(pf, pf->rxq + Q_HEAD, 1));
	CHECK(got_frame(pf, 0, pf_mac, 200, 1));
	CHECK(wait_reg(vf0, VF_TXQ + Q_HEAD, 1));
	CHECK(vf0->mem[TXR_OFF + 12] & 1); /* DD in the VF's own memory */
	CHECK(wait_vec(vf0, 1, tx_irqs));
	CHECK_EQ(rd32(vf1, VF_RXQ + Q_HEAD), 0);

	/* PF -> VF 1 and VF 0 -> VF 1 by local switching. */
	wr32(pf, DTXSWC, DTXSWC_LLE);
	rx_irqs = vec(vf1, 0);
	send_frame(pf, vf_mac[1], 300, 2);
	CHECK(wait_reg(vf1, VF_RXQ + Q_HEAD, 1));
	CHECK(got_frame(vf1, 0, vf_mac[1], 300, 2));
	CHECK(wait_vec(vf1, 0, rx_irqs));
	send_frame(vf0, vf_mac[1], 400, 3);
	CHECK(wait_reg(vf1, VF_RXQ + Q_HEAD, 2));
	CHECK(got_frame(vf1, 1, vf_mac[1], 400, 3));
	/* Switched inside the port: not looped back a second time. */
	usleep(20000);
	CHECK_EQ(rd32(vf1, VF_RXQ + Q_HEAD), 2);
	CHECK_EQ(rd32(pf, pf->rxq + Q_HEAD), 1);
	CHECK_EQ(rd32(vf0, VF_RXQ + Q_HEAD), 0);

	/* The pools' statistics, as each VF reads them (bytes with FCS). */
	CHECK_EQ(rd32(vf0, 0x0f14), 2u);	/* VFGPTC */
	CHECK_EQ(rd32(vf0, 0x0f34), 204u + 404u); /* VFGOTC */
	CHECK_EQ(rd32(vf1, 0x0f10), 2u);	/* VFGPRC */
	CHECK_EQ(rd32(vf1, 0x0f18), 304u + 404u); /* VFGORC */
	CHECK_EQ(rd32(vf1, 0x0f10), 2u); /* not clear on read */
	/* Broadcast reaches every pool with VMOLR.BAM. */
	wr32(pf, DTXSWC, 0);
	send_frame(vf1, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", 100, 4);
	CHECK(wait_reg(pf, pf->rxq + Q_HEAD, 2));
	CHECK(wait_reg(vf0, VF_RXQ + Q_HEAD, 1));
	CHECK(wait_reg(vf1, VF_RXQ + Q_HEAD, 3));
	CHECK(got_frame(vf0, 0, (const uint8_t *)"\xff\xff\xff\xff\xff\xff",
			100, 4));
	rig_close(&r);
}

static void test_vfre_vfte_gating(void)
{
	struct rig r;
	struct fn *pf = &r.pf, *vf0 = &r.vf[0];

	CHECK_EQ(rig_open(&r), 0);
	pools_up(&r, true);
	/* VFTE off: the VF's queue does not send, ENABLE reads 0. */
	wr32(pf, VFTE, 0x2);
	CHECK_EQ(rd32(vf0, VF_TXQ + Q_DCTL) & DCTL_ENABLE, 0);
	send_frame(vf0, pf_mac, 100, 5);
	usleep(30000);
	CHECK_EQ(rd32(vf0, VF_TXQ + Q_HEAD), 0);
	CHECK_EQ(rd32(pf, pf->rxq + Q_HEAD), 0);
	wr32(pf, VFTE, 0x3);
	CHECK(wait_reg(vf0, VF_TXQ + Q_HEAD, 1));
	CHECK(wait_reg(pf, pf->rxq + Q_HEAD, 1));
	/* VFRE off: frames for the VF are dropped. */
	wr32(pf, VFRE, 0x2);
	CHECK_EQ(rd32(vf0, VF_RXQ + Q_DCTL) & DCTL_ENABLE, 0);
	send_frame(pf, vf_mac[0], 100, 6);
	CHECK(wait_reg(pf, pf->txq + Q_HEAD, 1));
	usleep(30000);
	CHECK_EQ(rd32(vf0, VF_RXQ + Q_HEAD), 0);
	wr32(pf, VFRE, 0x3);
	send_frame(pf, vf_mac[0], 120, 7);
	CHECK(wait_reg(vf0, VF_RXQ + Q_HEAD, 1));
	CHECK(got_frame(vf0, 0, vf_mac[0], 120, 7));
	/* RCTL.EN off stops every pool's receive. */
	wr32(pf, RCTL, 0);
	CHECK_EQ(rd32(vf0, VF_RXQ + Q_DCTL) & DCTL_ENABLE, 0);
	/* A VF reset stops its queue and clears its pool's bits. */
	wr32(pf, RCTL, RCTL_EN | RCTL_BAM);
	wr32(vf0, VTCTRL, CTRL_RST);
	CHECK_EQ(rd32(pf, VFRE) & 1, 0);
	CHECK_EQ(rd32(pf, VFTE) & 1, 0);
	CHECK_EQ(rd32(pf, VFLRE), 1);
	CHECK_EQ(rd32(vf0, VF_RXQ + Q_LEN), 0);
	CHECK(rd32(&r.vf[1], VF_RXQ + Q_DCTL) & DCTL_ENABLE); /* untouched */
	rig_close(&r);
}

/*
 * A VF's queue cause is set before the write-back it reports and held
 * back until it is made, as the PF's: a driver that sees TDH move and
 * clears VTEICR, then unmasks, gets no late message for that frame.
 */
static void test_vf_cause_held(void)
{
	struct rig r;
	struct fn *pf = &r.pf, *vf0 = &r.vf[0];
	unsigned int i, irqs;

	CHECK_EQ(rig_open(&r), 0);
	pools_up(&r, true);
	wr32(vf0, 0x1528, 0x7); /* VTEIMC */
	for (i = 0; i < 20; i++) {
		irqs = vec(vf0, 1);
		send_frame(vf0, pf_mac, 100, i);
		CHECK(wait_reg(vf0, VF_TXQ + Q_HEAD, i + 1));
		wr32(vf0, VTEICR, 0x2);
		usleep(2000);
		wr32(vf0, VTEIMS, 0x2);
		usleep(2000);
		CHECK_EQ(vec(vf0, 1), irqs);
		wr32(vf0, 0x1528, 0x2);
	}
	/* Unmasked, each write-back sends its vector. */
	irqs = vec(vf0, 1);
	wr32(vf0, VTEIMS, 0x2);
	send_frame(vf0, pf_mac, 100, 99);
	CHECK(wait_vec(vf0, 1, irqs));
	CHECK(wait_reg(pf, pf->rxq + Q_HEAD, 16)); /* its 16 buffers */
	rig_close(&r);
}

/* ---- everything at once ------------------------------------------------ */

struct resetter {
	struct fn *vf;
	unsigned int done, failed;
};

static void *resetter_thread(void *arg)
{
	struct resetter *t = arg;
	uint32_t reply[3];
	unsigned int i;

	for (i = 0; i < 40; i++) {
		if (vf_reset_handshake(t->vf, reply) &&
		    reply[0] == (VF_RESET | VT_MSGTYPE_ACK | VT_MSGTYPE_CTS))
			t->done++;
		else
			t->failed++;
	}
	return NULL;
}

/*
 * VF 0 resets itself over and over (each reset answered by the PF driver
 * thread) while the PF sends 200 frames to VF 1 and VF 1 sends 100 to
 * the PF: the PF's lock, both VFs' locks and the worker all busy at once.
 */
static void test_concurrent_mailbox_and_traffic(void)
{
	struct rig r;
	struct fn *pf = &r.pf, *vf1 = &r.vf[1];
	struct pf_driver d;
	struct resetter t = { .vf = &r.vf[0] };
	pthread_t pt, rt;
	unsigned int i;

	CHECK_EQ(rig_open(&r), 0);
	pools_up(&r, true);
	post_rx(vf1, 240 - 16);
	post_rx(pf, 120 - 16);
	memset(&d, 0, sizeof(d));
	d.pf = pf;
	CHECK_EQ(pthread_create(&pt, NULL, pf_driver_thread, &d), 0);
	CHECK_EQ(pthread_create(&rt, NULL, resetter_thread, &t), 0);
	for (i = 0; i < 200; i++) {
		send_frame(pf, vf_mac[1], 64 + i, i);
		if (i < 100)
			send_frame(vf1, pf_mac, 100 + i, i);
	}
	CHECK(wait_reg(vf1, VF_RXQ + Q_HEAD, 200));
	CHECK(wait_reg(pf, pf->rxq + Q_HEAD, 100));
	CHECK(got_frame(vf1, 199, vf_mac[1], 64 + 199, 199));
	CHECK(got_frame(pf, 99, pf_mac, 199, 99));
	pthread_join(rt, NULL);
	__atomic_store_n(&d.quit, 1, __ATOMIC_RELEASE);
	pthread_join(pt, NULL);
	CHECK_EQ(t.done, 40);
	CHECK_EQ(t.failed, 0);
	rig_close(&r);
}

/* ---- a VF destroyed while its queue runs --------------------------------- */

static void test_destroy_running_vf(void)
{
	struct rig r;
	struct fn *pf = &r.pf, *vf0 = &r.vf[0];
	unsigned int i;

	CHECK_EQ(rig_open(&r), 0);
	pools_up(&r, true);
	post_rx(&r.vf[1], RING - 17);
	/* A full ring of frames to VF 1, then VF 0 goes away at once. */
	for (i = 0; i < RING - 1; i++)
		send_frame(vf0, vf_mac[1], 1000, i);
	fn_close(vf0);
	/* The PF and the other VF work on. */
	send_frame(pf, vf_mac[1], 100, 9);
	CHECK(wait_reg(pf, pf->txq + Q_HEAD, 1));
	/* A VF made again starts from power-on values. */
	CHECK_EQ(fn_attach(&r, vf0, VF_IOVA), 0);
	CHECK_EQ(ufd_pci_vf_create(pf->pdev, 0, &host_ops, &vf0->host,
				   &vf0->pdev),
		 0);
	CHECK_EQ(ufd_pci_vf_create(pf->pdev, 0, &host_ops, &vf0->host,
				   &(struct ufd_pci_dev *){ NULL }),
		 -EBUSY);
	CHECK_EQ(rd32(vf0, VF_RXQ + Q_LEN), 0);
	CHECK_EQ(rd32(vf0, V2PMAILBOX) & V2P_RSTD, V2P_RSTD);
	rig_close(&r);
}

/* ---- random register traffic on both sides ---------------------------- */

static uint64_t rnd_state = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void test_garbage_both_sides(void)
{
	static const unsigned int sizes[] = { 1, 2, 4, 8 };
	struct rig r;
	unsigned int i;

	CHECK_EQ(rig_open(&r), 0);
	pools_up(&r, true);
	for (i = 0; i < 40000; i++) {
		struct fn *f = i % 3 == 0 ? &r.pf : &r.vf[i % 3 - 1];
		unsigned int size = sizes[rnd() % 4];
		uint64_t bar = f == &r.pf ? 0x20000 : 0x4000, off, v = rnd();

		/* Mostly the interesting registers, sometimes anywhere. */
		if (rnd() % 4) {
			static const uint32_t hot[] = {
				0x0c00, 0x0c40, 0x0c80, 0x0800, 0x2800, 0x3800,
				0x5ac0, 0x3500, 0x1520, 0x1700, 0xc000, 0xe000,
			};
			off = hot[rnd() % 12] + (rnd() % 64);
		} else {
			off = rnd() % bar;
		}
		if (off + size > bar)
			off = bar - size;
		if (f == &r.pf && off < 8 && (v & CTRL_RST) && rnd() % 8)
			v &= ~(uint64_t)CTRL_RST; /* resets, but not too many */
		if (rnd() % 2)
			CHECK_EQ(ufd_pci_bar_write(f->pdev, 0, off, size, v), 0);
		else
			CHECK_EQ(ufd_pci_bar_read(f->pdev, 0, off, size, &v), 0);
		if (i % 5000 == 0)
			ufd_pci_flr(r.vf[(i / 5000) % 2].pdev);
	}
	rig_close(&r);
}

int main(void)
{
	eng = ufd_engine_new();
	src = ufd_source_local();
	if (!eng || !src)
		return 1;
	RUN(test_mailbox_both_ways);
	RUN(test_vf_registers);
	RUN(test_reset_handshake);
	RUN(test_pool_frames);
	RUN(test_vfre_vfte_gating);
	RUN(test_vf_cause_held);
	RUN(test_concurrent_mailbox_and_traffic);
	RUN(test_destroy_running_vf);
	RUN(test_garbage_both_sides);
	ufd_source_put(src);
	ufd_engine_free(eng);
	HARNESS_EXIT();
}
