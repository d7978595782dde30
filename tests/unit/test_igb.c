/* SPDX-License-Identifier: MIT */
/*
 * The Intel 82576 (igb) model driven as a driver drives it: bound to an
 * engine device attached to an IOAS, its DMA going through the IO page
 * table, registers written and polled from this thread while the model's
 * worker moves frames.  Checks the function's identity and capabilities,
 * the power-on registers, the EEPROM, the PHY and the link, frames
 * through MAC and PHY loopback with legacy and advanced descriptors,
 * statistics, interrupt masking and auto-clear, DMA faults and FLR,
 * receive without descriptors, a timed storm, and random register
 * traffic.
 *
 * IOVA ranges here are [iova, iova + len).  The host ops count interrupts
 * per vector under a mutex: the model sends them from its worker thread.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "devices/pci.h"
#include "engine/engine.h" /* ufd_fail_nth */
#include "uiommufd.h"
#define HARNESS_MMAP
#include "harness.h"
#include "pci_host.h"

#define PS 4096ULL
#define MiB (1ULL << 20)

/* The registers as a driver knows them (BAR0 offsets). */
#define CTRL 0x0000
#define STATUS 0x0008
#define EECD 0x0010
#define EERD 0x0014
#define CTRL_EXT 0x0018
#define MDIC 0x0020
#define ICR 0x00c0
#define ICS 0x00c8
#define IMS 0x00d0
#define IMC 0x00d8
#define RCTL 0x0100
#define TCTL 0x0400
#define GPIE 0x1514
#define EICS 0x1520
#define EIMS 0x1524
#define EIMC 0x1528
#define EIAC 0x152c
#define EIAM 0x1530
#define EICR 0x1580
#define IVAR0 0x1700
#define MPC 0x4010
#define GPRC 0x4074
#define GPTC 0x4080
#define GORCL 0x4088
#define GORCH 0x408c
#define GOTCL 0x4090
#define GOTCH 0x4094
#define RNBC 0x40a0
#define TPR 0x40d0
#define TPT 0x40d4
#define MTA 0x5200
#define RAL0 0x5400
#define RAH0 0x5404
#define GCR 0x5b00
#define SWSM 0x5b50
#define RDBAL 0x2800 /* queue 0, the low alias */
#define RDBAH 0x2804
#define RDLEN 0x2808
#define SRRCTL 0x280c
#define RDH 0x2810
#define RDT 0x2818
#define RXDCTL 0x2828
#define TDBAL 0x3800
#define TDBAH 0x3804
#define TDLEN 0x3808
#define TDH 0x3810
#define TDT 0x3818
#define TXDCTL 0x3828
#define RDBAL0_HI 0xc000 /* queue 0's block in the 16-queue layout */
#define TDH5 0xe150

#define CTRL_FD 0x1
#define CTRL_SLU 0x40
#define CTRL_SPD_1000 0x200
#define CTRL_FRCSPD 0x800
#define CTRL_FRCDPX 0x1000
#define CTRL_RST 0x04000000
#define STATUS_LU 0x2
#define STATUS_SPEED_1000 0x80
#define EECD_PRES 0x100
#define EECD_AUTO_RD 0x200
#define MDIC_OP_WRITE 0x04000000
#define MDIC_OP_READ 0x08000000
#define MDIC_READY 0x10000000
#define MDIC_ERROR 0x40000000
#define ICR_TXDW 0x1
#define ICR_LSC 0x4
#define ICR_RXDW 0x80
#define RCTL_EN 0x2
#define RCTL_UPE 0x8
#define RCTL_MPE 0x10
#define RCTL_LBM_MAC 0x40
#define RCTL_BAM 0x8000
#define RCTL_SECRC 0x04000000
#define TCTL_EN 0x2
#define TCTL_PSP 0x8
#define DCTL_ENABLE 0x02000000
#define SRRCTL_ADV_ONEBUF 0x02000000
#define GPIE_MSIX 0x10
#define GPIE_EIAME 0x40000000
#define IVAR_VALID 0x80
#define BMCR_LOOPBACK 0x4000
#define BMCR_PDOWN 0x0800
#define BMCR_ANENABLE 0x1000
#define BMCR_ANRESTART 0x0200
#define BMCR_SPEED1000 0x0040
#define BMCR_FULLDPLX 0x0100
#define BMSR_LSTATUS 0x4
#define BMSR_ANEGCOMPLETE 0x20

#define TXD_EOP 0x01000000
#define TXD_IFCS 0x02000000
#define TXD_RS 0x08000000
#define TXD_DEXT 0x20000000
#define TXD_DTYP_DATA 0x00300000
#define TXD_DTYP_CTXT 0x00200000
#define TXD_TSE 0x80000000
#define TXD_VLE 0x40000000

/* Guest memory: one 16 MiB mapping at IOVA_BASE. */
#define IOVA_BASE (1ULL << 32)
#define IOVA_UNMAPPED (IOVA_BASE + (1ULL << 30))
#define TXR_OFF 0
#define RXR_OFF (1 * MiB)
#define SRC_OFF (2 * MiB)
#define DST_OFF (8 * MiB)
#define RING 4096

static struct ufd_engine *eng;
static struct ufd_source *src;
static uint8_t *mem;
static const size_t mem_len = 16 * MiB;

/* ---- the rig: engine device, IOAS, mapping, port, model instance -------- */

struct rig {
	struct ufd_ctx *ctx;
	uint32_t ioas, dev, pt;
	struct host host;
	struct ufd_pci_dev *pdev;
	unsigned int tx_tail, rx_tail;
};

static int rig_open(struct rig *r, const char *args)
{
	struct ufd_cred cred;
	int rc;

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->host.lock, NULL);
	ufd_cred_self(&cred);
	cred.cap_ipc_lock = true;
	rc = ufd_ctx_open(eng, &cred, &r->ctx);
	if (!rc)
		rc = host_attach(&r->host, r->ctx, src, mem, mem_len,
				 IOVA_BASE, 0, &r->ioas, &r->dev, &r->pt);
	if (!rc)
		rc = ufd_pci_dev_create(&ufd_pci_model_igb, args, &host_ops,
					&r->host, &r->pdev);
	return rc;
}

static void rig_close(struct rig *r)
{
	if (r->pdev)
		ufd_pci_dev_destroy(r->pdev);
	if (r->host.port)
		ufd_dma_close(r->host.port);
	if (r->ctx)
		ufd_ctx_close(r->ctx);
	pthread_mutex_destroy(&r->host.lock);
}

static uint64_t rd(struct rig *r, unsigned int off, unsigned int size)
{
	uint64_t v = 0xdeadbeef;

	CHECK_EQ(ufd_pci_bar_read(r->pdev, 0, off, size, &v), 0);
	return v;
}

static uint32_t rd32(struct rig *r, unsigned int off)
{
	return (uint32_t)rd(r, off, 4);
}

static void wr32(struct rig *r, unsigned int off, uint32_t v)
{
	CHECK_EQ(ufd_pci_bar_write(r->pdev, 0, off, 4, v), 0);
}

static uint32_t cfg_rd(struct rig *r, unsigned int off, unsigned int size)
{
	uint32_t v = 0xdeadbeef;

	CHECK_EQ(ufd_pci_cfg_read(r->pdev, off, size, &v), 0);
	return v;
}

static void cfg_wr(struct rig *r, unsigned int off, unsigned int size,
		   uint32_t v)
{
	CHECK_EQ(ufd_pci_cfg_write(r->pdev, off, size, v), 0);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Guest memory is read after a register (RDH, TDH: moved after the
 * write-back) or an interrupt said it was written, as a driver would
 * after its barrier; so the test needs no atomics on it.
 */
static uint32_t mem32(uint64_t off)
{
	uint32_t v;

	memcpy(&v, mem + off, 4);
	return v;
}

/* Wait until register @off reads @val, 5 s at most. */
static bool wait_reg(struct rig *r, unsigned int off, uint32_t val)
{
	double end = now() + 5;

	while (now() < end) {
		if (rd32(r, off) == val)
			return true;
		sched_yield();
	}
	return false;
}

static uint16_t phy_rd(struct rig *r, unsigned int reg)
{
	uint32_t v;

	wr32(r, MDIC, MDIC_OP_READ | 1u << 21 | reg << 16);
	v = rd32(r, MDIC);
	CHECK(v & MDIC_READY);
	CHECK(!(v & MDIC_ERROR));
	return (uint16_t)v;
}

static void phy_wr(struct rig *r, unsigned int reg, uint16_t val)
{
	uint32_t v;

	wr32(r, MDIC, MDIC_OP_WRITE | 1u << 21 | reg << 16 | val);
	v = rd32(r, MDIC);
	CHECK(v & MDIC_READY);
	CHECK(!(v & MDIC_ERROR));
}

static void fill_pattern(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 8));
}

/*
 * Reset, bus master on, rings at TXR_OFF and RXR_OFF of RING entries,
 * receive @rctl extra bits, advanced receive descriptors if @adv.
 */
static void bring_up(struct rig *r, uint32_t rctl, bool adv)
{
	cfg_wr(r, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	wr32(r, CTRL, rd32(r, CTRL) | CTRL_RST);
	CHECK_EQ(rd32(r, CTRL) & CTRL_RST, 0);
	CHECK(rd32(r, EECD) & EECD_AUTO_RD);
	wr32(r, IMC, 0xffffffff);
	memset(mem + TXR_OFF, 0, RING * 16);
	memset(mem + RXR_OFF, 0, RING * 16);
	wr32(r, TDBAL, (uint32_t)(IOVA_BASE + TXR_OFF));
	wr32(r, TDBAH, (uint32_t)((IOVA_BASE + TXR_OFF) >> 32));
	wr32(r, TDLEN, RING * 16);
	wr32(r, TDH, 0);
	wr32(r, TDT, 0);
	wr32(r, TXDCTL, DCTL_ENABLE);
	wr32(r, RDBAL, (uint32_t)(IOVA_BASE + RXR_OFF));
	wr32(r, RDBAH, (uint32_t)((IOVA_BASE + RXR_OFF) >> 32));
	wr32(r, RDLEN, RING * 16);
	wr32(r, RDH, 0);
	wr32(r, RDT, 0);
	wr32(r, SRRCTL, adv ? SRRCTL_ADV_ONEBUF : 0);
	wr32(r, RXDCTL, DCTL_ENABLE);
	wr32(r, RCTL, RCTL_EN | RCTL_BAM | rctl);
	wr32(r, TCTL, TCTL_EN | TCTL_PSP);
	r->tx_tail = r->rx_tail = 0;
}

/* Post a receive buffer at DST_OFF + @dst (16 bytes: address, 0). */
static void post_rx(struct rig *r, uint64_t dst_iova)
{
	uint8_t *d = mem + RXR_OFF + 16 * r->rx_tail;

	memset(d, 0, 16);
	memcpy(d, &dst_iova, 8);
	r->rx_tail = (r->rx_tail + 1) % RING;
}

/* Queue a transmit descriptor (not yet given to the device). */
static void queue_tx(struct rig *r, uint64_t buf_iova, uint32_t len,
		     uint32_t cmd, bool adv)
{
	uint8_t *d = mem + TXR_OFF + 16 * r->tx_tail;
	uint32_t ctl = len | cmd | (adv ? TXD_DEXT | TXD_DTYP_DATA : 0);
	uint32_t olinfo = adv ? len << 14 : 0;

	memcpy(d, &buf_iova, 8);
	memcpy(d + 8, &ctl, 4);
	memcpy(d + 12, &olinfo, 4);
	r->tx_tail = (r->tx_tail + 1) % RING;
}

/* A frame to a unicast address: dst, src 52:54:00:12:34:56, type, data. */
static void make_frame(uint8_t *p, size_t len, const uint8_t *da,
		       unsigned int seed)
{
	static const uint8_t sa[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	fill_pattern(p, len, seed);
	memcpy(p, da, 6);
	memcpy(p + 6, sa, 6);
	p[12] = 0x88;
	p[13] = 0xb5;
}

static const uint8_t own_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static uint32_t crc32_ref(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffff;
	size_t i;
	int k;

	for (i = 0; i < len; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1));
	}
	return ~c;
}

/* ---- identity, configuration space, power-on ---------------------------- */

static void test_igb_identity(void)
{
	struct ufd_pci_dev_info info;
	unsigned int at, caps[8], n = 0;
	struct rig r;

	CHECK(ufd_pci_model_find("igb") == &ufd_pci_model_igb);
	REQUIRE(rig_open(&r, NULL) == 0);
	CHECK_EQ(cfg_rd(&r, PCI_VENDOR_ID, 4), 0x10c98086);
	CHECK_EQ(cfg_rd(&r, PCI_SUBSYSTEM_VENDOR_ID, 4), 0xa03c8086);
	CHECK_EQ(cfg_rd(&r, PCI_CLASS_REVISION, 4), 0x02000001);
	CHECK_EQ(cfg_rd(&r, PCI_INTERRUPT_PIN, 1), 1);
	ufd_pci_dev_info(r.pdev, &info);
	CHECK_EQ(info.bar[0].size, 128 << 10);
	CHECK(info.bar[0].flags & UFD_PCI_BAR_MEM64);
	CHECK(info.bar[0].flags & UFD_PCI_BAR_MMAP);
	CHECK_EQ(info.bar[1].size, 0);
	CHECK_EQ(info.bar[2].size, 0);
	CHECK_EQ(info.bar[3].size, 16 << 10);
	CHECK_EQ(info.msix_vectors, 10);
	CHECK_EQ(info.msix_table_bar, 3);
	CHECK_EQ(info.msix_table_offset, 0);
	CHECK_EQ(info.msix_pba_bar, 3);
	CHECK_EQ(info.msix_pba_offset, 0x2000);
	CHECK_EQ(info.msi_vectors, 1);
	CHECK(info.flr);
	CHECK(info.pm);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_0, 4) & 7, 4); /* 64-bit memory */
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_3, 4) & 7, 4);
	for (at = cfg_rd(&r, PCI_CAPABILITY_LIST, 1); at && n < 8;
	     at = cfg_rd(&r, at + 1, 1))
		caps[n++] = at << 8 | cfg_rd(&r, at, 1);
	CHECK_EQ(n, 4);
	CHECK_EQ(caps[0], 0x40 << 8 | PCI_CAP_ID_PM);
	CHECK_EQ(caps[1], 0x50 << 8 | PCI_CAP_ID_MSI);
	CHECK_EQ(caps[2], 0x70 << 8 | PCI_CAP_ID_MSIX);
	CHECK_EQ(caps[3], 0xa0 << 8 | PCI_CAP_ID_EXP);
	/* Extended configuration space: SR-IOV (version 1) and no more. */
	CHECK_EQ(cfg_rd(&r, 0x100, 4), 0x00010000u | 0x0010u);
	CHECK_EQ(cfg_rd(&r, 0x100 + 0x0e, 2), 8u);     /* TotalVFs */
	CHECK_EQ(cfg_rd(&r, 0x100 + 0x1a, 2), 0x10cau); /* VF device ID */
	CHECK_EQ(cfg_rd(&r, 0x160, 4), 0);
	rig_close(&r);

	CHECK_EQ(rig_open(&r, "bogus=1"), -EINVAL);
	rig_close(&r);
	CHECK_EQ(rig_open(&r, "mac=01:00:00:00:00:01"), -EINVAL);
	rig_close(&r);
	CHECK_EQ(rig_open(&r, "backend=tap"), -EINVAL);
	rig_close(&r);
	CHECK(rig_open(&r, "pcap=/nonexistent-dir/x.pcap") != 0);
	rig_close(&r);
}

/* Every allocation of create failing in turn: -ENOMEM, nothing left. */
static void test_igb_create_failures(void)
{
	struct ufd_pci_dev *pdev = NULL;
	unsigned long nth;
	int rc = -1;

	for (nth = 1; nth < 200; nth++) {
		ufd_fail_nth(nth);
		rc = ufd_pci_dev_create(&ufd_pci_model_igb,
					"mac=02:00:00:00:00:07,pcap=/dev/null",
					NULL, NULL, &pdev);
		ufd_fail_nth(0);
		if (!rc)
			break;
		CHECK(rc == -ENOMEM || rc == -EAGAIN);
		CHECK(!pdev);
	}
	REQUIRE(rc == 0);
	CHECK(nth >= 20); /* pdev, state, 128 KiB, 16 frames, seg, ... */
	ufd_pci_dev_destroy(pdev);
}

static void test_igb_poweron_eeprom(void)
{
	uint32_t sum = 0, w[64];
	unsigned int i;
	struct rig r;

	REQUIRE(rig_open(&r, "mac=02:11:22:33:44:55") == 0);
	CHECK(rd32(&r, EECD) & EECD_PRES);
	CHECK(rd32(&r, EECD) & EECD_AUTO_RD);
	CHECK(rd32(&r, STATUS) & STATUS_LU); /* loopback plug, SLU */
	CHECK(rd32(&r, STATUS) & STATUS_SPEED_1000);
	CHECK_EQ(rd32(&r, RCTL), 0);
	CHECK_EQ(rd32(&r, EIMS), 0);
	CHECK_EQ(rd32(&r, IMS), 0);
	CHECK(rd32(&r, GCR) & 0x10000);
	for (i = 0; i < 64; i++) {
		wr32(&r, EERD, i << 2 | 1);
		w[i] = rd32(&r, EERD);
		CHECK(w[i] & 2); /* DONE */
		sum += w[i] >> 16;
	}
	CHECK_EQ(sum & 0xffff, 0xbaba);
	CHECK_EQ(w[0] >> 16, 0x1102);
	CHECK_EQ(w[1] >> 16, 0x3322);
	CHECK_EQ(w[2] >> 16, 0x5544);
	/* The receive address 0 comes from the EEPROM, valid. */
	CHECK_EQ(rd32(&r, RAL0), 0x33221102);
	CHECK_EQ(rd32(&r, RAH0), 0x80005544);
	/* Unknown offsets read 0 and ignore writes. */
	CHECK_EQ(rd32(&r, 0x1f000), 0);
	wr32(&r, 0x1f000, 0x12345678);
	CHECK_EQ(rd32(&r, 0x1f000), 0);
	/* Plain registers keep what is written, in any access size. */
	wr32(&r, MTA + 4, 0xa5a5a5a5);
	CHECK_EQ(rd(&r, MTA + 5, 1), 0xa5);
	CHECK_EQ(ufd_pci_bar_write(r.pdev, 0, MTA + 6, 2, 0x1234), 0);
	CHECK_EQ(rd32(&r, MTA + 4), 0x1234a5a5);
	CHECK_EQ(rd(&r, MTA, 8), 0x1234a5a500000000ULL);
	/* The software semaphore: a read takes it, a write frees it. */
	CHECK_EQ(rd32(&r, SWSM) & 1, 0);
	CHECK_EQ(rd32(&r, SWSM) & 1, 1);
	wr32(&r, SWSM, 0);
	CHECK_EQ(rd32(&r, SWSM) & 1, 0);
	/* Queue enables read 0 until the receiver/transmitter is on. */
	wr32(&r, RXDCTL, DCTL_ENABLE);
	wr32(&r, TXDCTL, DCTL_ENABLE);
	CHECK_EQ(rd32(&r, RXDCTL) & DCTL_ENABLE, 0);
	CHECK_EQ(rd32(&r, TXDCTL) & DCTL_ENABLE, 0);
	wr32(&r, RCTL, RCTL_EN);
	wr32(&r, TCTL, TCTL_EN);
	CHECK(rd32(&r, RXDCTL) & DCTL_ENABLE);
	CHECK(rd32(&r, TXDCTL) & DCTL_ENABLE);
	/* Queue 0 has two addresses: 0x2800 and 0xc000. */
	wr32(&r, RDBAL, 0x12345680);
	CHECK_EQ(rd32(&r, RDBAL0_HI), 0x12345680);
	wr32(&r, TDH5, 7);
	CHECK_EQ(rd32(&r, TDH5), 7);
	/* CTRL.RST: back to power-on values. */
	wr32(&r, CTRL, rd32(&r, CTRL) | CTRL_RST);
	CHECK_EQ(rd32(&r, RCTL), 0);
	CHECK_EQ(rd32(&r, MTA + 4), 0);
	CHECK_EQ(rd32(&r, RDBAL0_HI), 0);
	CHECK_EQ(rd32(&r, TDH5), 0);
	CHECK_EQ(rd32(&r, RAH0), 0x80005544);
	CHECK(rd32(&r, EECD) & EECD_AUTO_RD);
	rig_close(&r);
}

/* ---- the PHY and the link ------------------------------------------------ */

static void test_igb_phy_link(void)
{
	struct rig r;
	uint32_t v;

	REQUIRE(rig_open(&r, NULL) == 0);
	CHECK_EQ(phy_rd(&r, 2), 0x02a8);
	CHECK_EQ(phy_rd(&r, 3) & 0xfff0, 0x0390);
	CHECK(phy_rd(&r, 1) & BMSR_LSTATUS);
	CHECK(phy_rd(&r, 1) & BMSR_ANEGCOMPLETE);
	/* A PHY address with no PHY: ERROR. */
	wr32(&r, MDIC, MDIC_OP_READ | 2u << 21 | 1u << 16);
	v = rd32(&r, MDIC);
	CHECK(v & MDIC_READY);
	CHECK(v & MDIC_ERROR);
	/* Power the PHY down: link down, LSC. */
	(void)rd32(&r, ICR);
	phy_wr(&r, 0, BMCR_PDOWN);
	CHECK(!(phy_rd(&r, 1) & BMSR_LSTATUS));
	CHECK(!(rd32(&r, STATUS) & STATUS_LU));
	CHECK(rd32(&r, ICR) & ICR_LSC);
	CHECK_EQ(rd32(&r, ICR), 0); /* cleared by the read */
	phy_wr(&r, 0, BMCR_ANENABLE | BMCR_ANRESTART);
	CHECK_EQ(phy_rd(&r, 0) & BMCR_ANRESTART, 0); /* self-clearing */
	CHECK(rd32(&r, STATUS) & STATUS_LU);
	CHECK(rd32(&r, ICR) & ICR_LSC);
	/* CTRL.SLU off: the MAC has no link. */
	wr32(&r, CTRL, rd32(&r, CTRL) & ~CTRL_SLU);
	CHECK(!(rd32(&r, STATUS) & STATUS_LU));
	CHECK(phy_rd(&r, 1) & BMSR_LSTATUS);
	wr32(&r, CTRL, rd32(&r, CTRL) | CTRL_SLU);
	CHECK(rd32(&r, STATUS) & STATUS_LU);
	/* PHY reset through BMCR: back to autonegotiation. */
	phy_wr(&r, 0, 0x8000);
	CHECK_EQ(phy_rd(&r, 0), BMCR_ANENABLE | BMCR_FULLDPLX | BMCR_SPEED1000);
	rig_close(&r);

	/* No cable: no link until the PHY loops back. */
	REQUIRE(rig_open(&r, "backend=none") == 0);
	CHECK(!(rd32(&r, STATUS) & STATUS_LU));
	CHECK(!(phy_rd(&r, 1) & BMSR_LSTATUS));
	phy_wr(&r, 0, BMCR_LOOPBACK | BMCR_SPEED1000 | BMCR_FULLDPLX);
	CHECK(phy_rd(&r, 1) & BMSR_LSTATUS);
	CHECK(rd32(&r, STATUS) & STATUS_LU);
	rig_close(&r);
}

/* ---- frames ---------------------------------------------------------------- */

/* Send @n frames of @len through the rings, check what comes back. */
static void loop_frames(struct rig *r, unsigned int n, uint32_t len,
			bool adv_tx, bool adv_rx, bool secrc)
{
	unsigned int i, first_rx = r->rx_tail;
	uint32_t out = secrc ? len : len + 4;

	for (i = 0; i < n; i++) {
		uint64_t s = SRC_OFF + (uint64_t)i * 2048;

		make_frame(mem + s, len, own_mac, i);
		memset(mem + DST_OFF + (uint64_t)i * 2048, 0xee, 2048);
		post_rx(r, IOVA_BASE + DST_OFF + (uint64_t)i * 2048);
		queue_tx(r, IOVA_BASE + s, len, TXD_EOP | TXD_IFCS | TXD_RS,
			 adv_tx);
	}
	wr32(r, RDT, r->rx_tail);
	wr32(r, TDT, r->tx_tail);
	REQUIRE(wait_reg(r, RDH, r->rx_tail));
	REQUIRE(wait_reg(r, TDH, r->tx_tail));
	for (i = 0; i < n; i++) {
		uint64_t d = RXR_OFF + 16 * ((first_rx + i) % RING);
		uint64_t s = SRC_OFF + (uint64_t)i * 2048;
		uint8_t *dst = mem + DST_OFF + (uint64_t)i * 2048;

		if (adv_rx) {
			CHECK_EQ(mem32(d + 8) & 3, 3); /* DD, EOP */
			CHECK_EQ(mem32(d + 12) & 0xffff, out);
		} else {
			CHECK_EQ(mem[d + 12] & 3, 3);
			CHECK_EQ(mem32(d + 8) & 0xffff, out);
		}
		CHECK_EQ(memcmp(dst, mem + s, len), 0);
		if (!secrc) {
			uint32_t fcs;

			memcpy(&fcs, dst + len, 4);
			CHECK_EQ(fcs, crc32_ref(mem + s, len));
		}
		CHECK_EQ(dst[out], 0xee);
	}
	/* RS: transmit descriptors written back. */
	for (i = 0; i < n; i++)
		CHECK(mem32(TXR_OFF +
			    16 * ((r->tx_tail + RING - n + i) % RING) + 12) &
		      1);
}

static void test_igb_mac_loopback(void)
{
	struct rig r;

	REQUIRE(rig_open(&r, "backend=none") == 0);
	bring_up(&r, RCTL_LBM_MAC | RCTL_UPE | RCTL_SECRC, false);
	loop_frames(&r, 3, 100, false, false, true);
	/* FCS kept: 4 more bytes, the right CRC. */
	bring_up(&r, RCTL_LBM_MAC | RCTL_UPE, false);
	loop_frames(&r, 2, 1000, false, false, false);
	rig_close(&r);
}

static void test_igb_phy_loopback_advanced(void)
{
	struct rig r;

	REQUIRE(rig_open(&r, "backend=none") == 0);
	bring_up(&r, RCTL_SECRC, true);
	/* No link, no loopback: the transmitter waits. */
	wr32(&r, CTRL, rd32(&r, CTRL) | CTRL_SLU);
	CHECK(!(rd32(&r, STATUS) & STATUS_LU));
	make_frame(mem + SRC_OFF, 64, own_mac, 1);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 64, TXD_EOP | TXD_IFCS | TXD_RS,
		 true);
	post_rx(&r, IOVA_BASE + DST_OFF);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	usleep(20000);
	CHECK_EQ(rd32(&r, TDH), 0);
	/* The selftest's recipe: PHY loopback, forced 1000/full, SLU. */
	phy_wr(&r, 0, BMCR_LOOPBACK | BMCR_SPEED1000 | BMCR_FULLDPLX);
	wr32(&r, CTRL,
	     rd32(&r, CTRL) | CTRL_FRCSPD | CTRL_FRCDPX | CTRL_SPD_1000 |
		     CTRL_FD | CTRL_SLU);
	CHECK(rd32(&r, STATUS) & STATUS_LU);
	REQUIRE(wait_reg(&r, RDH, 1));
	CHECK(mem32(RXR_OFF + 8) & 1);
	CHECK_EQ(mem32(RXR_OFF + 12) & 0xffff, 64);
	CHECK_EQ(memcmp(mem + DST_OFF, mem + SRC_OFF, 64), 0);
	/* More, advanced on both sides, a context descriptor in front. */
	{
		uint8_t *c = mem + TXR_OFF + 16 * r.tx_tail;
		uint32_t ctl = TXD_DEXT | TXD_DTYP_CTXT;

		memset(c, 0, 16);
		memcpy(c + 8, &ctl, 4);
		r.tx_tail++;
	}
	loop_frames(&r, 8, 1024, true, true, true);
	rig_close(&r);
}

/* A frame in three buffers; a short frame padded to 60 bytes. */
static void test_igb_gather_and_pad(void)
{
	struct rig r;
	uint8_t frame[1500];

	REQUIRE(rig_open(&r, NULL) == 0); /* the loopback plug */
	bring_up(&r, RCTL_UPE | RCTL_SECRC, true);
	make_frame(frame, sizeof(frame), own_mac, 9);
	memcpy(mem + SRC_OFF, frame, 500);
	memcpy(mem + SRC_OFF + 8192, frame + 500, 700);
	memcpy(mem + SRC_OFF + 16384, frame + 1200, 300);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 500, TXD_IFCS, false);
	queue_tx(&r, IOVA_BASE + SRC_OFF + 8192, 700, 0, false);
	queue_tx(&r, IOVA_BASE + SRC_OFF + 16384, 300, TXD_EOP | TXD_RS, false);
	post_rx(&r, IOVA_BASE + DST_OFF);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	REQUIRE(wait_reg(&r, RDH, 1));
	REQUIRE(wait_reg(&r, TDH, 3));
	CHECK_EQ(mem32(RXR_OFF + 12) & 0xffff, 1500);
	CHECK_EQ(memcmp(mem + DST_OFF, frame, 1500), 0);
	/* Only the RS descriptor gets DD. */
	CHECK(mem32(TXR_OFF + 32 + 12) & 1);
	CHECK_EQ(mem[TXR_OFF + 12] & 1, 0);
	CHECK_EQ(mem[TXR_OFF + 16 + 12] & 1, 0);

	/* 20 bytes: padded to 60 (PSP), FCS stripped. */
	make_frame(mem + SRC_OFF, 20, own_mac, 3);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 20, TXD_EOP | TXD_IFCS, false);
	post_rx(&r, IOVA_BASE + DST_OFF + 4096);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	REQUIRE(wait_reg(&r, RDH, 2));
	CHECK_EQ(mem32(RXR_OFF + 16 + 12) & 0xffff, 60);
	CHECK_EQ(memcmp(mem + DST_OFF + 4096, mem + SRC_OFF, 20), 0);
	CHECK_EQ(mem[DST_OFF + 4096 + 40], 0);
	rig_close(&r);
}

/* The pcap backend: frames sent go to the file, nothing comes back. */
static void test_igb_pcap_backend(void)
{
	char path[] = "/tmp/test_igb_pcap_XXXXXX", args[64];
	uint32_t hdr[6], rec[4];
	uint8_t got[200];
	struct rig r;
	FILE *f;
	int fd;

	fd = mkstemp(path);
	REQUIRE(fd >= 0);
	close(fd);
	snprintf(args, sizeof(args), "pcap=%s", path);
	REQUIRE(rig_open(&r, args) == 0);
	CHECK(rd32(&r, STATUS) & STATUS_LU);
	bring_up(&r, RCTL_UPE | RCTL_SECRC, true);
	make_frame(mem + SRC_OFF, 150, own_mac, 4);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 150, TXD_EOP | TXD_IFCS | TXD_RS,
		 true);
	post_rx(&r, IOVA_BASE + DST_OFF);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	CHECK(wait_reg(&r, TDH, 1));
	usleep(10000);
	CHECK_EQ(rd32(&r, RDH), 0);
	rig_close(&r); /* closes the file */
	f = fopen(path, "rb");
	REQUIRE(f != NULL);
	CHECK_EQ(fread(hdr, sizeof(hdr), 1, f), 1);
	CHECK_EQ(hdr[0], 0xa1b2c3d4);
	CHECK_EQ(hdr[5], 1); /* Ethernet */
	CHECK_EQ(fread(rec, sizeof(rec), 1, f), 1);
	CHECK_EQ(rec[2], 150);
	CHECK_EQ(fread(got, 150, 1, f), 1);
	CHECK_EQ(memcmp(got, mem + SRC_OFF, 150), 0);
	CHECK_EQ(fread(got, 1, 1, f), 0);
	fclose(f);
	unlink(path);
}

/* ---- offloads: VLAN, checksums, TCP segmentation ------------------------ */

/*
 * The unix backend, a cable to this test: a frame the device sends
 * arrives at our socket with its bytes and no FCS; frames we send arrive
 * on receive (with the FCS the wire would have carried, SECRC clear);
 * with no receive descriptor a frame is missed; the device keeps working
 * after our socket is gone.
 */
static void test_igb_unix_backend(void)
{
	char dir[] = "/tmp/test_igb_unix_XXXXXX", dev[128], peer[128];
	char args[300];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	uint8_t frame[300], got[400];
	struct rig r;
	uint64_t d;
	int s, i;
	ssize_t n;

	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(dev, sizeof(dev), "%s/dev", dir);
	snprintf(peer, sizeof(peer), "%s/peer", dir);
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	REQUIRE(s >= 0);
	strcpy(a.sun_path, peer);
	REQUIRE(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	snprintf(args, sizeof(args), "unix=%s:%s", dev, peer);
	CHECK_EQ(rig_open(&r, "unix=nocolon"), -EINVAL);
	rig_close(&r);
	REQUIRE(rig_open(&r, args) == 0);
	CHECK(rd32(&r, STATUS) & STATUS_LU); /* a carrier */
	bring_up(&r, RCTL_UPE, true);

	/* Out: the frame's bytes, no FCS (IFCS adds it on the wire). */
	make_frame(mem + SRC_OFF, 150, own_mac, 9);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 150, TXD_EOP | TXD_IFCS | TXD_RS,
		 true);
	wr32(&r, TDT, r.tx_tail);
	CHECK(wait_reg(&r, TDH, 1));
	n = recv(s, got, sizeof(got), 0);
	CHECK_EQ(n, 150);
	CHECK_EQ(memcmp(got, mem + SRC_OFF, 150), 0);

	/* In: three frames, two descriptors: the third is missed. */
	CHECK_EQ(rd32(&r, MPC), 0); /* clears it */
	for (i = 0; i < 2; i++) {
		memset(mem + DST_OFF + (uint64_t)i * 2048, 0xee, 2048);
		post_rx(&r, IOVA_BASE + DST_OFF + (uint64_t)i * 2048);
	}
	wr32(&r, RDT, r.rx_tail);
	strcpy(a.sun_path, dev);
	for (i = 0; i < 3; i++) {
		make_frame(frame, 100 + (size_t)i, own_mac, 20 + (unsigned)i);
		CHECK_EQ(sendto(s, frame, 100 + (size_t)i, 0,
				(struct sockaddr *)&a, sizeof(a)),
			 100 + i);
		if (i < 2)
			CHECK(wait_reg(&r, RDH, (uint32_t)i + 1));
	}
	for (i = 0; i < 2; i++) {
		make_frame(frame, 100 + (size_t)i, own_mac, 20 + (unsigned)i);
		d = RXR_OFF + 16 * (uint64_t)i;
		CHECK_EQ(mem32(d + 8) & 3, 3); /* DD, EOP */
		CHECK_EQ(mem32(d + 12) & 0xffff, 104u + (unsigned)i);
		CHECK_EQ(memcmp(mem + DST_OFF + (uint64_t)i * 2048, frame,
				100 + (size_t)i),
			 0);
	}
	/* The third frame found no descriptor. */
	{
		double t0 = now();
		uint32_t missed = 0;

		while (!missed && now() - t0 < 5) {
			missed = rd32(&r, MPC);
			if (!missed)
				usleep(1000);
		}
		CHECK_EQ(missed, 1u);
	}
	/* Nobody at the other end: sent frames are dropped, nothing breaks. */
	close(s);
	unlink(peer);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 150, TXD_EOP | TXD_IFCS | TXD_RS,
		 true);
	wr32(&r, TDT, r.tx_tail);
	CHECK(wait_reg(&r, TDH, 2));
	rig_close(&r);
	unlink(dev);
	rmdir(dir);
}

/*
 * The tap backend, where this process may make a tap interface (root
 * with CAP_NET_ADMIN and /dev/net/tun): the device opens it; without
 * that, the open's errno comes back from the model's create.
 */
static void test_igb_tap_backend(void)
{
	struct rig r;
	int rc = rig_open(&r, "tap=uiommufd-t0");

	if (rc) {
		CHECK(rc == -EPERM || rc == -EACCES || rc == -ENOENT ||
		      rc == -ENODEV || rc == -EBUSY);
		printf("  tap: skipped (%s)\n", strerror(-rc));
		rig_close(&r);
		return;
	}
	CHECK(rd32(&r, STATUS) & STATUS_LU);
	bring_up(&r, RCTL_UPE, true);
	/* A frame out: a tap that is down takes none; the device goes on. */
	make_frame(mem + SRC_OFF, 64, own_mac, 3);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 64, TXD_EOP | TXD_IFCS | TXD_RS,
		 true);
	wr32(&r, TDT, r.tx_tail);
	CHECK(wait_reg(&r, TDH, 1));
	rig_close(&r);
	CHECK(rig_open(&r, "tap=") == -EINVAL);
	rig_close(&r);
}

static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold16(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The pseudo-header sum of the IPv4 header at @ip, for @l4len bytes. */
static uint32_t pseudo(const uint8_t *ip, uint8_t proto, uint32_t l4len)
{
	return sum16(0, ip + 12, 8) + proto + l4len;
}

/*
 * Ethernet + IPv4 (20) + TCP (20) + @pay bytes at @p; checksums seeded as
 * Linux seeds them for the hardware: the TCP one with the pseudo-header
 * (with the length unless @tso), the IP one zero.
 */
static size_t make_tcp(uint8_t *p, size_t pay, bool tso)
{
	size_t len = 14 + 20 + 20 + pay;
	uint8_t *ip = p + 14, *tcp = p + 34;

	make_frame(p, len, own_mac, 11);
	p[12] = 0x08;
	p[13] = 0x00;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((20 + 20 + pay) >> 8);
	ip[3] = (uint8_t)(20 + 20 + pay);
	ip[4] = 0x12; /* id 0x1234 */
	ip[5] = 0x34;
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	memset(tcp, 0, 20);
	tcp[0] = 0x30; /* ports 12345 -> 80 */
	tcp[1] = 0x39;
	tcp[3] = 80;
	memcpy(tcp + 4, "\x01\x02\x03\x04", 4); /* seq */
	tcp[12] = 0x50;
	tcp[13] = 0x18 | 0x01 | 0x80; /* PSH ACK FIN CWR */
	{
		uint16_t seed = fold16(pseudo(ip, 6, tso ? 0 : 20 + pay));

		tcp[16] = (uint8_t)(seed >> 8);
		tcp[17] = (uint8_t)seed;
	}
	return len;
}

static void queue_ctx(struct rig *r, uint32_t vlan_macip_lens, uint32_t tucmd,
		      uint32_t mss_l4len_idx)
{
	uint8_t *c = mem + TXR_OFF + 16 * r->tx_tail;
	uint32_t ctl = TXD_DEXT | TXD_DTYP_CTXT | tucmd;

	memset(c, 0, 16);
	memcpy(c, &vlan_macip_lens, 4);
	memcpy(c + 8, &ctl, 4);
	memcpy(c + 12, &mss_l4len_idx, 4);
	r->tx_tail = (r->tx_tail + 1) % RING;
}

static void test_igb_offloads(void)
{
	uint8_t *rx = mem + DST_OFF, *ip, *tcp;
	struct rig r;
	unsigned int i;
	size_t len;

	REQUIRE(rig_open(&r, NULL) == 0);
	bring_up(&r, RCTL_UPE | RCTL_SECRC, true);

	/* Legacy VLE: the tag from the special field, after the addresses. */
	make_frame(mem + SRC_OFF, 100, own_mac, 2);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 100, TXD_EOP | TXD_IFCS | TXD_VLE,
		 false);
	memcpy(mem + TXR_OFF + 14, "\x05\x20", 2); /* VLAN 0x2005 */
	post_rx(&r, IOVA_BASE + DST_OFF);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	REQUIRE(wait_reg(&r, RDH, 1));
	CHECK_EQ(mem32(RXR_OFF + 12) & 0xffff, 104);
	CHECK_EQ(memcmp(rx, mem + SRC_OFF, 12), 0);
	CHECK_EQ(memcmp(rx + 12, "\x81\x00\x20\x05", 4), 0);
	CHECK_EQ(memcmp(rx + 16, mem + SRC_OFF + 12, 88), 0);

	/* CTRL.VME strips it again into the descriptor, with VP. */
	wr32(&r, CTRL, rd32(&r, CTRL) | 0x40000000);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 100, TXD_EOP | TXD_IFCS | TXD_VLE,
		 false);
	memcpy(mem + TXR_OFF + 16 + 14, "\x07\x00", 2);
	post_rx(&r, IOVA_BASE + DST_OFF + 4096);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	REQUIRE(wait_reg(&r, RDH, 2));
	CHECK_EQ(mem32(RXR_OFF + 16 + 12), 0x0007u << 16 | 100);
	CHECK(mem32(RXR_OFF + 16 + 8) & 0x08);
	CHECK_EQ(memcmp(rx + 4096, mem + SRC_OFF, 100), 0);
	wr32(&r, CTRL, rd32(&r, CTRL) & ~0x40000000u);

	/* TXSM and IXSM with a context descriptor (IDX 1). */
	len = make_tcp(mem + SRC_OFF, 300, false);
	queue_ctx(&r, 20 | 14 << 9, 0x400 | 0x800, 1 << 4);
	queue_tx(&r, IOVA_BASE + SRC_OFF, (uint32_t)len, TXD_EOP | TXD_IFCS,
		 true);
	{
		uint32_t olinfo = (uint32_t)len << 14 | 0x300 | 1 << 4;

		memcpy(mem + TXR_OFF + 16 * (r.tx_tail - 1) + 12, &olinfo, 4);
	}
	post_rx(&r, IOVA_BASE + DST_OFF + 8192);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	REQUIRE(wait_reg(&r, RDH, 3));
	ip = rx + 8192 + 14;
	tcp = ip + 20;
	CHECK_EQ(mem32(RXR_OFF + 32 + 12) & 0xffff, len);
	CHECK_EQ(fold16(sum16(0, ip, 20)), 0xffff);
	CHECK_EQ(fold16(pseudo(ip, 6, 320) + sum16(0, tcp, 320)), 0xffff);

	/* TSO: 3000 bytes at MSS 1000, VLAN from the context. */
	len = make_tcp(mem + SRC_OFF, 3000, true);
	queue_ctx(&r, 20 | 14 << 9 | 0x0abcu << 16, 0x400 | 0x800,
		  1000u << 16 | 20 << 8);
	/* The frame in two buffers. */
	queue_tx(&r, IOVA_BASE + SRC_OFF, 1000, TXD_IFCS | TXD_TSE | TXD_VLE,
		 true);
	queue_tx(&r, IOVA_BASE + SRC_OFF + 1000, (uint32_t)len - 1000,
		 TXD_EOP | TXD_IFCS | TXD_RS | TXD_TSE | TXD_VLE, true);
	{
		uint32_t olinfo = 3000u << 14 | 0x300;

		memcpy(mem + TXR_OFF + 16 * (r.tx_tail - 2) + 12, &olinfo, 4);
	}
	for (i = 0; i < 3; i++)
		post_rx(&r, IOVA_BASE + DST_OFF + 12288 + 2048 * i);
	wr32(&r, CTRL, rd32(&r, CTRL) | 0x40000000); /* strip the tag */
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	REQUIRE(wait_reg(&r, RDH, 6));
	for (i = 0; i < 3; i++) {
		uint8_t *seg = rx + 12288 + 2048 * i;
		uint32_t seq = 0x01020304 + 1000 * i, got;
		uint8_t flags = seg[34 + 13];

		ip = seg + 14;
		tcp = ip + 20;
		CHECK_EQ(mem32(RXR_OFF + 48 + 16 * i + 12),
			 0x0abcu << 16 | 1054);
		CHECK_EQ(ip[2] << 8 | ip[3], 1040);
		CHECK_EQ(ip[4] << 8 | ip[5], 0x1234 + i);
		CHECK_EQ(fold16(sum16(0, ip, 20)), 0xffff);
		got = (uint32_t)tcp[4] << 24 | tcp[5] << 16 | tcp[6] << 8 |
		      tcp[7];
		CHECK_EQ(got, seq);
		CHECK_EQ(fold16(pseudo(ip, 6, 1020) + sum16(0, tcp, 1020)),
			 0xffff);
		CHECK_EQ(flags & 0x10, 0x10);	    /* ACK always */
		CHECK_EQ(!!(flags & 0x09), i == 2); /* FIN, PSH */
		CHECK_EQ(!!(flags & 0x80), i == 0); /* CWR */
		CHECK_EQ(memcmp(tcp + 20, mem + SRC_OFF + 54 + 1000 * i, 1000),
			 0);
	}
	CHECK(wait_reg(&r, TDH, r.tx_tail));
	rig_close(&r);
}

/* ---- filters, statistics, misses ----------------------------------------- */

static void test_igb_filter_and_stats(void)
{
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 9 };
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct rig r;
	uint64_t gotc;

	REQUIRE(rig_open(&r, NULL) == 0);
	bring_up(&r, RCTL_SECRC, true); /* no UPE/MPE: exact filter */
	(void)rd32(&r, GPRC);
	(void)rd32(&r, GPTC);
	/* To someone else: sent, not received. */
	make_frame(mem + SRC_OFF, 100, other, 1);
	make_frame(mem + SRC_OFF + 4096, 100, bcast, 2);
	make_frame(mem + SRC_OFF + 8192, 100, own_mac, 3);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 100, TXD_EOP | TXD_IFCS | TXD_RS,
		 false);
	queue_tx(&r, IOVA_BASE + SRC_OFF + 4096, 100,
		 TXD_EOP | TXD_IFCS | TXD_RS, false);
	queue_tx(&r, IOVA_BASE + SRC_OFF + 8192, 100,
		 TXD_EOP | TXD_IFCS | TXD_RS, false);
	post_rx(&r, IOVA_BASE + DST_OFF);
	post_rx(&r, IOVA_BASE + DST_OFF + 4096);
	post_rx(&r, IOVA_BASE + DST_OFF + 8192);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	CHECK(wait_reg(&r, TDH, 3));
	REQUIRE(wait_reg(&r, RDH, 2));
	/* Broadcast (BAM) first, then our own; the other one dropped. */
	CHECK_EQ(mem[DST_OFF], 0xff);
	CHECK_EQ(memcmp(mem + DST_OFF + 4096, own_mac, 6), 0);
	CHECK_EQ(mem32(RXR_OFF + 32 + 8), 0);
	CHECK_EQ(rd32(&r, GPTC), 3);
	CHECK_EQ(rd32(&r, GPTC), 0); /* cleared by the read */
	CHECK_EQ(rd32(&r, TPT), 3);
	CHECK_EQ(rd32(&r, GPRC), 2);
	CHECK_EQ(rd32(&r, TPR), 3);
	gotc = rd32(&r, GOTCL);
	gotc |= (uint64_t)rd32(&r, GOTCH) << 32;
	CHECK_EQ(gotc, 3 * 104);
	CHECK_EQ(rd32(&r, GOTCL), 0); /* the high half's read cleared both */
	CHECK_EQ(rd32(&r, GORCL), 2 * 104);
	CHECK_EQ(rd32(&r, GORCH), 0);

	/* Multicast through the MTA hash (MO 0: DA bits 47:36). */
	{
		uint8_t mc[6] = { 0x01, 0x00, 0x5e, 0x00, 0x12, 0x34 };
		uint32_t hash = ((mc[4] >> 4) | (mc[5] << 4)) & 0xfff;

		wr32(&r, MTA + 4 * (hash >> 5), 1u << (hash & 31));
		make_frame(mem + SRC_OFF, 80, mc, 4);
		queue_tx(&r, IOVA_BASE + SRC_OFF, 80, TXD_EOP | TXD_IFCS,
			 false);
		wr32(&r, TDT, r.tx_tail);
		REQUIRE(wait_reg(&r, RDH, 3));
		CHECK_EQ(memcmp(mem + DST_OFF + 8192, mc, 6), 0);
	}

	/* No descriptor left: missed, counted, nothing written. */
	(void)rd32(&r, RNBC);
	(void)rd32(&r, MPC);
	make_frame(mem + SRC_OFF, 100, own_mac, 5);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 100, TXD_EOP | TXD_IFCS | TXD_RS,
		 false);
	wr32(&r, TDT, r.tx_tail);
	CHECK(wait_reg(&r, TDH, r.tx_tail));
	CHECK(wait_reg(&r, RNBC, 1));
	CHECK_EQ(rd32(&r, MPC), 1);
	CHECK_EQ(mem32(RXR_OFF + 48 + 8), 0);
	CHECK_EQ(rd32(&r, RDH), 3);
	rig_close(&r);
}

/* ---- interrupts --------------------------------------------------------- */

static unsigned int vec0(struct rig *r)
{
	unsigned int n;

	pthread_mutex_lock(&r->host.lock);
	n = r->host.vec[0];
	pthread_mutex_unlock(&r->host.lock);
	return n;
}

static bool wait_vec0(struct rig *r, unsigned int n)
{
	double end = now() + 5;

	while (now() < end) {
		if (vec0(r) >= n)
			return true;
		sched_yield();
	}
	return false;
}

static void test_igb_msix_interrupts(void)
{
	struct rig r;
	unsigned int n;

	REQUIRE(rig_open(&r, NULL) == 0);
	bring_up(&r, RCTL_UPE | RCTL_SECRC, true);
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSIX, true), 0);
	wr32(&r, GPIE, GPIE_MSIX | GPIE_EIAME);
	wr32(&r, EIAC, 1);
	wr32(&r, EIAM, 1);
	wr32(&r, IVAR0, IVAR_VALID | 0); /* receive queue 0 -> vector 0 */
	wr32(&r, EIMS, 1);
	CHECK_EQ(rd32(&r, EIMS), 1);

	/* EICS: one message, EICR auto-cleared, EIMS auto-masked. */
	wr32(&r, EICS, 1);
	CHECK_EQ(vec0(&r), 1);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 1);
	CHECK_EQ(rd32(&r, EIMS), 0);
	CHECK_EQ(rd32(&r, EICR), 0);
	/* Masked: pending in EICR, sent at the unmask. */
	wr32(&r, EICS, 1);
	CHECK_EQ(vec0(&r), 1);
	wr32(&r, EIMS, 1);
	CHECK_EQ(vec0(&r), 2);
	/* EIMC masks; EICR write-1-to-clear drops what is pending. */
	wr32(&r, EIMC, 1);
	wr32(&r, EICS, 1);
	wr32(&r, EICR, 1);
	wr32(&r, EIMS, 1);
	CHECK_EQ(vec0(&r), 2);
	/* No auto-clear: the bit stays, one message per event. */
	wr32(&r, EIAC, 0);
	wr32(&r, EIAM, 0);
	wr32(&r, EICS, 1);
	CHECK_EQ(vec0(&r), 3);
	CHECK_EQ(rd32(&r, EIMS), 1);
	CHECK_EQ(rd32(&r, EICR), 1); /* read clears */
	CHECK_EQ(rd32(&r, EICR), 0);
	wr32(&r, EIAC, 1);
	wr32(&r, EIAM, 1);

	/* A received frame: vector 0, after the write-back. */
	n = vec0(&r);
	make_frame(mem + SRC_OFF, 200, own_mac, 1);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 200, TXD_EOP | TXD_IFCS, true);
	post_rx(&r, IOVA_BASE + DST_OFF);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	CHECK(wait_vec0(&r, n + 1));
	CHECK(mem32(RXR_OFF + 8) & 1);
	CHECK_EQ(rd32(&r, EIMS), 0); /* auto-masked */

	/*
	 * The selftest's order: masked, frame in, DD seen, EICR cleared,
	 * EIMS set: no message for that frame.
	 */
	wr32(&r, EIMS, 1);
	wr32(&r, EIMC, 1);
	n = vec0(&r);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 200, TXD_EOP | TXD_IFCS, true);
	post_rx(&r, IOVA_BASE + DST_OFF);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	REQUIRE(wait_reg(&r, RDH, 2));
	CHECK(mem32(RXR_OFF + 16 + 8) & 1);
	wr32(&r, EICR, 0xffffffff);
	wr32(&r, EIMS, 1);
	usleep(10000);
	CHECK_EQ(vec0(&r), n);
	/* The transmit queue maps nowhere: RS brings no message. */
	n = vec0(&r);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 200, TXD_EOP | TXD_IFCS | TXD_RS,
		 true);
	wr32(&r, TDT, r.tx_tail); /* no receive buffer: a miss */
	CHECK(wait_reg(&r, TDH, r.tx_tail));
	CHECK(mem32(TXR_OFF + 16 * (r.tx_tail - 1) + 12) & 1);
	usleep(10000);
	CHECK_EQ(vec0(&r), n);

	/* Other causes: ICR, and IVAR_MISC's vector (1) when in IMS. */
	wr32(&r, 0x1740, (IVAR_VALID | 1) << 8);
	wr32(&r, EIMS, 2);
	wr32(&r, ICS, ICR_LSC);
	pthread_mutex_lock(&r.host.lock);
	CHECK_EQ(r.host.vec[1], 0); /* LSC not in IMS */
	pthread_mutex_unlock(&r.host.lock);
	wr32(&r, IMS, ICR_LSC); /* unmasks the pending LSC */
	wr32(&r, ICS, ICR_LSC);
	pthread_mutex_lock(&r.host.lock);
	CHECK_EQ(r.host.vec[1], 2);
	pthread_mutex_unlock(&r.host.lock);
	CHECK(rd32(&r, ICR) & ICR_LSC);
	wr32(&r, EIMC, 2);

	/* The MSI-X vector masked in its table entry: pending bit, later. */
	{
		uint64_t ctrl = 0;

		CHECK_EQ(ufd_pci_bar_write(r.pdev, 3, 12, 4, 1), 0);
		wr32(&r, EIMS, 1);
		wr32(&r, EICS, 1);
		CHECK_EQ(vec0(&r), n);
		CHECK_EQ(ufd_pci_bar_read(r.pdev, 3, 0x2000, 8, &ctrl), 0);
		CHECK_EQ(ctrl & 1, 1);
		CHECK_EQ(ufd_pci_bar_write(r.pdev, 3, 12, 4, 0), 0);
		CHECK_EQ(vec0(&r), n + 1);
	}
	rig_close(&r);
}

static void test_igb_legacy_interrupts(void)
{
	struct rig r;

	REQUIRE(rig_open(&r, NULL) == 0);
	bring_up(&r, RCTL_UPE | RCTL_SECRC, false);
	/* INTx: ICR & IMS is the level; reading ICR lowers it. */
	wr32(&r, IMS, ICR_RXDW | ICR_LSC);
	CHECK(!ufd_pci_intx_asserted(r.pdev));
	wr32(&r, ICS, ICR_LSC);
	CHECK(ufd_pci_intx_asserted(r.pdev));
	CHECK_EQ(rd32(&r, ICR), 0x80000000u | ICR_LSC);
	CHECK(!ufd_pci_intx_asserted(r.pdev));
	/* A masked cause is recorded, not signalled. */
	wr32(&r, ICS, ICR_TXDW);
	CHECK(!ufd_pci_intx_asserted(r.pdev));
	CHECK_EQ(rd32(&r, ICR), ICR_TXDW);
	/* Receive: RXDW. */
	make_frame(mem + SRC_OFF, 300, own_mac, 2);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 300, TXD_EOP | TXD_IFCS, false);
	post_rx(&r, IOVA_BASE + DST_OFF);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	REQUIRE(wait_reg(&r, RDH, 1));
	{
		double end = now() + 5;

		while (!ufd_pci_intx_asserted(r.pdev) && now() < end)
			sched_yield();
	}
	CHECK(ufd_pci_intx_asserted(r.pdev));
	CHECK(rd32(&r, ICR) & ICR_RXDW);
	CHECK(!ufd_pci_intx_asserted(r.pdev));
	/* IMC masks; an MSI is one message per event. */
	wr32(&r, IMC, 0xffffffff);
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSI, true), 0);
	wr32(&r, IMS, ICR_LSC);
	wr32(&r, ICS, ICR_LSC);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSI), 1);
	wr32(&r, ICS, ICR_LSC);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSI), 2);
	(void)rd32(&r, ICR);
	wr32(&r, ICS, ICR_TXDW);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSI), 2);
	rig_close(&r);
}

/* ---- faults and FLR ------------------------------------------------------ */

static void test_igb_faults_and_flr(void)
{
	struct rig r;
	unsigned int n;

	REQUIRE(rig_open(&r, NULL) == 0);
	bring_up(&r, RCTL_UPE | RCTL_SECRC, true);
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSIX, true), 0);
	wr32(&r, GPIE, GPIE_MSIX);
	wr32(&r, IVAR0, IVAR_VALID | (IVAR_VALID << 8));
	wr32(&r, EIMS, 1);
	n = vec0(&r);

	/* Transmit from an unmapped IOVA: no write-back, no interrupt. */
	queue_tx(&r, IOVA_UNMAPPED, 1024, TXD_EOP | TXD_IFCS | TXD_RS, true);
	post_rx(&r, IOVA_BASE + DST_OFF);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	usleep(20000);
	CHECK_EQ(mem32(TXR_OFF + 12) & 1, 0);
	CHECK_EQ(mem32(RXR_OFF + 8), 0);
	CHECK_EQ(rd32(&r, TDH), 0);
	CHECK_EQ(vec0(&r), n);
	/* Wedged: a good frame behind it goes nowhere. */
	make_frame(mem + SRC_OFF, 100, own_mac, 1);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 100, TXD_EOP | TXD_IFCS | TXD_RS,
		 true);
	wr32(&r, TDT, r.tx_tail);
	usleep(20000);
	CHECK_EQ(mem32(RXR_OFF + 8), 0);
	CHECK_EQ(vec0(&r), n);

	/* FLR, reprogram: works again. */
	ufd_pci_flr(r.pdev);
	CHECK_EQ(rd32(&r, RCTL), 0);
	CHECK_EQ(rd32(&r, GPIE), 0);
	bring_up(&r, RCTL_UPE | RCTL_SECRC, true);
	loop_frames(&r, 4, 512, true, true, true);

	/* Receive into an unmapped buffer: wedged, nothing written back. */
	make_frame(mem + SRC_OFF, 100, own_mac, 1);
	post_rx(&r, IOVA_UNMAPPED);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 100, TXD_EOP | TXD_IFCS, true);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	CHECK(wait_reg(&r, TDH, r.tx_tail));
	usleep(10000);
	CHECK_EQ(mem32(RXR_OFF + 16 * 4 + 8), 0);
	CHECK_EQ(rd32(&r, RDH), 4);
	post_rx(&r, IOVA_BASE + DST_OFF);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 100, TXD_EOP | TXD_IFCS, true);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	CHECK(wait_reg(&r, TDH, r.tx_tail));
	usleep(10000);
	CHECK_EQ(mem32(RXR_OFF + 16 * 5 + 8), 0);

	/* Bus master off: DMA fails the same way. */
	ufd_pci_flr(r.pdev);
	bring_up(&r, RCTL_UPE | RCTL_SECRC, true);
	cfg_wr(&r, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	make_frame(mem + SRC_OFF, 100, own_mac, 1);
	queue_tx(&r, IOVA_BASE + SRC_OFF, 100, TXD_EOP | TXD_IFCS | TXD_RS,
		 true);
	post_rx(&r, IOVA_BASE + DST_OFF);
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	usleep(20000);
	CHECK_EQ(rd32(&r, TDH), 0);
	CHECK_EQ(mem32(RXR_OFF + 8), 0);
	/* CTRL.RST recovers too. */
	bring_up(&r, RCTL_UPE | RCTL_SECRC, true);
	loop_frames(&r, 2, 200, true, true, true);
	rig_close(&r);
}

/* ---- speed: the selftest's storm, 4095 frames of 1 KiB ----------------- */

static void test_igb_storm(void)
{
	const unsigned int n = RING - 1, len = 1024;
	struct rig r;
	unsigned int i;
	double t0, t;

	REQUIRE(rig_open(&r, NULL) == 0);
	bring_up(&r, RCTL_UPE | RCTL_SECRC | RCTL_LBM_MAC, true);
	make_frame(mem + SRC_OFF, len, own_mac, 7);
	for (i = 0; i < n; i++) {
		post_rx(&r, IOVA_BASE + DST_OFF + (uint64_t)(i % 1024) * len);
		queue_tx(&r, IOVA_BASE + SRC_OFF, len, TXD_EOP | TXD_IFCS,
			 true);
	}
	t0 = now();
	wr32(&r, RDT, r.rx_tail);
	wr32(&r, TDT, r.tx_tail);
	REQUIRE(wait_reg(&r, RDH, n));
	t = now() - t0;
	fprintf(stderr, "  storm: %u frames of %u bytes in %.1f ms\n", n, len,
		t * 1e3);
	CHECK(t < 2.0); /* sanitizers; unsanitized it is a few ms */
	CHECK_EQ(memcmp(mem + DST_OFF + 5 * len, mem + SRC_OFF, len), 0);
	CHECK_EQ(rd32(&r, GPRC), n);
	rig_close(&r);
}

/* ---- random register traffic ---------------------------------------------- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void test_igb_garbage(void)
{
	static const unsigned int sizes[4] = { 1, 2, 4, 8 };
	static const unsigned int hot[] = {
		CTRL,  EERD,  MDIC, ICR,  ICS,	  IMS,	  RCTL,	 TCTL, GPIE,
		EICS,  EIMS,  EIMC, EICR, IVAR0,  RDBAL,  RDLEN, RDH,  RDT,
		TDBAL, TDLEN, TDH,  TDT,  RXDCTL, TXDCTL, SRRCTL
	};
	struct rig r;
	unsigned int i;

	REQUIRE(rig_open(&r, NULL) == 0);
	bring_up(&r, RCTL_UPE, true);
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSIX, true), 0);
	for (i = 0; i < 200000; i++) {
		unsigned int size = sizes[rnd() % 4];
		uint64_t off, v = rnd();

		if (rnd() % 2)
			off = hot[rnd() % (sizeof(hot) / sizeof(hot[0]))] +
			      rnd() % 4;
		else
			off = rnd() % (128 << 10);
		if (off + size > (128 << 10))
			off = (128 << 10) - size;
		/* Rings pointed at memory the test owns, or unmapped. */
		if ((off & ~3ULL) == TDBAH || (off & ~3ULL) == RDBAH)
			v = rnd() % 2 ? 1 : 0;
		if (rnd() % 3) {
			uint64_t got;

			CHECK_EQ(ufd_pci_bar_read(r.pdev, 0, off, size, &got),
				 0);
		} else {
			CHECK_EQ(ufd_pci_bar_write(r.pdev, 0, off, size, v), 0);
		}
		if (i % 50000 == 0)
			ufd_pci_flr(r.pdev);
	}
	/* Still a NIC. */
	ufd_pci_flr(r.pdev);
	bring_up(&r, RCTL_UPE | RCTL_SECRC, true);
	loop_frames(&r, 4, 300, true, true, true);
	rig_close(&r);
}

int main(void)
{
	uint8_t *area;

	mem = harness_map_aligned(mem_len, &area);
	if (!mem)
		return 1;
	eng = ufd_engine_new();
	src = ufd_source_local();
	if (!eng || !src)
		return 1;
	RUN(test_igb_identity);
	RUN(test_igb_create_failures);
	RUN(test_igb_poweron_eeprom);
	RUN(test_igb_phy_link);
	RUN(test_igb_mac_loopback);
	RUN(test_igb_phy_loopback_advanced);
	RUN(test_igb_gather_and_pad);
	RUN(test_igb_pcap_backend);
	RUN(test_igb_unix_backend);
	RUN(test_igb_tap_backend);
	RUN(test_igb_offloads);
	RUN(test_igb_filter_and_stats);
	RUN(test_igb_msix_interrupts);
	RUN(test_igb_legacy_interrupts);
	RUN(test_igb_faults_and_flr);
	RUN(test_igb_storm);
	RUN(test_igb_garbage);
	ufd_source_put(src);
	ufd_engine_free(eng);
	munmap(area, mem_len + (2u << 20));
	HARNESS_EXIT();
}
